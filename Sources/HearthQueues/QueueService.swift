// HearthQueues: SQS's standard-queue semantics on the event ledger.
import Foundation
import HearthEvents
import Synchronization

/// Where queues (not their messages) are kept: HearthStore's `sqs_queues` table.
public protocol QueueCatalog: Sendable {
    func loadQueues() throws -> [QueueRecord]
    /// Inserts or replaces.
    func saveQueue(_ queue: QueueRecord) throws
    func deleteQueue(named name: String) throws
}

/// SQS standard queues: queues in a catalog, each message a ledger item of kind
/// `sqs.message` whose ledger queue is the queue's name. A receive is a claim with a
/// client-held lease (the visibility timeout; its owner is the receipt's token), the receive
/// count is the item's claims, a delay is its due time; deleting is finishing the lease.
/// So the ledger's group commit makes sends durable before they are acknowledged, its crash
/// recovery applies, and other producers add messages atomically (`QueueMessages`).
///
/// No wire format: the SQS handler turns JSON 1.0 into these calls. The clock is the ledger's.
/// Thread-safe; queues are cached in memory (one supervisor per state directory).
public final class QueueService: Sendable {
    public let ledger: Ledger
    public let catalog: any QueueCatalog
    public let region: String
    public let account: String
    let queues: Mutex<[String: QueueRecord]>
    private let waiters = Mutex<[UUID: Waiter]>([:])
    /// The message move tasks running here (QueueService+MoveTasks).
    let moveRunners = MoveTaskRunners()
    /// Recent FIFO receives by ReceiveRequestAttemptId (QueueService+Fifo).
    let receiveAttempts = Mutex<[String: ReceiveAttempt]>([:])
    /// Per-queue message counters (the metrics endpoint's `hearth_sqs_messages_total`).
    public let counters = QueueCounters()
    public let limits: Limits
    /// The background retention sweep (QueueService+Sweep), once started.
    let sweeper = Mutex<LedgerDispatcher?>(nil)

    /// SQS's quotas and timings as Hearth applies them; tests lower them (`hearth serve
    /// --sqs-in-flight-limit`, `--sqs-retention-scale`).
    public struct Limits: Sendable, Equatable {
        /// AWS's in-flight quota of a standard queue: messages received and neither deleted nor
        /// visible again. A receive beyond it fails with `OverLimit`.
        public static let defaultInFlight = 120_000

        public var inFlight: Int
        /// Multiplies MessageRetentionPeriod where it is applied (not where it is validated or
        /// shown: clients still see and must set 60-1209600 s). For tests; 1: as set.
        public var retentionScale: Double
        /// How often the background sweep deletes messages past retention.
        public var sweepIntervalMs: Int64
        /// The most messages one sweep pass (and one receive) deletes from one queue; a pass that
        /// reaches it on some queue runs again at once.
        public var sweepBatch: Int

        public init(inFlight: Int = Limits.defaultInFlight, retentionScale: Double = 1, sweepIntervalMs: Int64 = 1000, sweepBatch: Int = 1000) {
            self.inFlight = inFlight
            self.retentionScale = retentionScale
            self.sweepIntervalMs = sweepIntervalMs
            self.sweepBatch = sweepBatch
        }
    }

    private struct Waiter {
        var queue: String
        var continuation: CheckedContinuation<Void, Never>
    }

    public var clock: any LedgerClock { ledger.clock }

    public init(ledger: Ledger, catalog: any QueueCatalog, region: String, account: String = "000000000000", limits: Limits = Limits()) throws {
        self.ledger = ledger
        self.limits = limits
        self.catalog = catalog
        self.region = region
        self.account = account
        queues = Mutex(Dictionary(try catalog.loadQueues().map { ($0.name, $0) }, uniquingKeysWith: { $1 }))
        // Messages added by other producers (destinations, dead-letter queues) wake long polls.
        ledger.onWake(QueueLedgerKind.message) { [weak self] in self?.notify(queue: nil) }
    }

    // MARK: names

    public func arn(_ name: String) -> String { "arn:aws:sqs:\(region):\(account):\(name)" }

    /// The queue name an ARN of this region and account names, if it does.
    public func name(fromARN arn: String) -> String? {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sqs", parts[3] == region, parts[4] == account else { return nil }
        return String(parts[5])
    }

    public func queue(named name: String) throws -> QueueRecord {
        guard let queue = queues.withLock({ $0[name] }) else { throw QueueError.queueDoesNotExist }
        return queue
    }

    /// Messages of `queue` created at or before this time are past its retention now.
    func retainedAfter(_ queue: QueueRecord, now: Int64) -> Int64 {
        now - Int64((Double(queue.retentionSeconds) * 1000 * limits.retentionScale).rounded())
    }

    public func queue(arn: String) -> QueueRecord? {
        guard let name = name(fromARN: arn) else { return nil }
        return queues.withLock { $0[name] }
    }

    func exists(arn: String) -> Bool { queue(arn: arn) != nil }

    // MARK: queues

    /// CreateQueue: idempotent when every given attribute equals the existing queue's.
    @discardableResult
    public func createQueue(name: String, attributes: [String: String] = [:], tags: [String: String] = [:]) throws -> QueueRecord {
        try QueueAttributes.checkName(name, fifoAttribute: attributes[QueueAttributes.fifoQueue])
        let fifo = attributes[QueueAttributes.fifoQueue] == "true"
        var normalised: [String: String] = fifo ? [QueueAttributes.fifoQueue: "true"] : [:]
        for (key, value) in attributes where key != QueueAttributes.fifoQueue {
            let value = try QueueAttributes.validate(key, value, fifo: fifo, queueExists: exists(arn:))
            if !value.isEmpty || QueueAttributes.passive.contains(key) { normalised[key] = value }
        }
        try QueueAttributes.checkThroughput(normalised)
        try checkTags(tags)
        let now = clock.nowMs()
        return try queues.withLock { all in
            if let existing = all[name] {
                for key in attributes.keys.sorted() where existing.attribute(key) != normalised[key] && !(normalised[key] == nil && existing.attribute(key) == nil) {
                    throw QueueError.queueNameExists(attribute: key)
                }
                return existing
            }
            let queue = QueueRecord(name: name, attributes: normalised, tags: tags, createdAt: now, modifiedAt: now)
            do { try catalog.saveQueue(queue) } catch { throw QueueError.internalError("\(error)") }
            all[name] = queue
            return queue
        }
    }

    /// ListQueues: names with `prefix`, sorted.
    public func listQueues(prefix: String? = nil) -> [String] {
        queues.withLock { all in all.keys.filter { prefix == nil || $0.hasPrefix(prefix!) }.sorted() }
    }

    /// ListDeadLetterSourceQueues: queues whose RedrivePolicy targets `name`.
    public func deadLetterSources(of name: String) throws -> [String] {
        _ = try queue(named: name)
        let target = arn(name)
        return queues.withLock { all in all.values.filter { $0.redrivePolicy?.deadLetterTargetArn == target }.map(\.name).sorted() }
    }

    /// GetQueueAttributes: the named attributes (`All` for every one), computed ones included.
    public func attributes(of name: String, names: [String]) async throws -> [String: String] {
        let queue = try queue(named: name)
        var wanted = Set<String>()
        let known = QueueAttributes.all + (queue.isFifo ? QueueAttributes.fifoOnly : [])
        for n in names {
            if n == "All" { wanted.formUnion(known); continue }
            guard known.contains(n) else { throw QueueError.invalidAttributeName("Unknown Attribute \(n).") }
            wanted.insert(n)
        }
        var result: [String: String] = [:]
        if !wanted.isDisjoint(with: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]) {
            let counts = try await self.counts(name)
            result["ApproximateNumberOfMessages"] = String(counts.visible)
            result["ApproximateNumberOfMessagesNotVisible"] = String(counts.leased)
            result["ApproximateNumberOfMessagesDelayed"] = String(counts.delayed)
        }
        result["CreatedTimestamp"] = String(queue.createdAt / 1000)
        result["LastModifiedTimestamp"] = String(queue.modifiedAt / 1000)
        result["QueueArn"] = arn(name)
        for n in known where result[n] == nil {
            if let value = queue.attribute(n) { result[n] = value }
        }
        return result.filter { wanted.contains($0.key) }
    }

    /// The queue's message counts now.
    public func counts(_ name: String) async throws -> LedgerQueueCounts {
        let now = clock.nowMs()
        do {
            return try await ledger.read { try $0.counts(kind: QueueLedgerKind.message, queue: name, now: now) }
        } catch { throw QueueError.internalError("\(error)") }
    }

    /// SetQueueAttributes ("" clears RedrivePolicy and RedriveAllowPolicy).
    public func setAttributes(of name: String, _ attributes: [String: String]) throws {
        let fifo = try queue(named: name).isFifo
        var normalised: [String: String] = [:]
        for (key, value) in attributes { normalised[key] = try QueueAttributes.validate(key, value, fifo: fifo, queueExists: exists(arn:)) }
        let now = clock.nowMs()
        try queues.withLock { all in
            guard var queue = all[name] else { throw QueueError.queueDoesNotExist }
            for (key, value) in normalised {
                if value.isEmpty && !QueueAttributes.passive.contains(key) { queue.attributes[key] = nil } else { queue.attributes[key] = value }
            }
            if fifo {
                try QueueAttributes.checkThroughput(QueueAttributes.fifoOnly.reduce(into: [:]) { $0[$1] = queue.attribute($1) })
            }
            queue.modifiedAt = now
            do { try catalog.saveQueue(queue) } catch { throw QueueError.internalError("\(error)") }
            all[name] = queue
        }
    }

    /// DeleteQueue: the queue and every message in it, at once.
    public func deleteQueue(_ name: String) async throws {
        try queues.withLock { all in
            guard all[name] != nil else { throw QueueError.queueDoesNotExist }
            do { try catalog.deleteQueue(named: name) } catch { throw QueueError.internalError("\(error)") }
            all[name] = nil
        }
        _ = try? await ledger.read { try $0.removeAll(kind: QueueLedgerKind.message, queue: name) }
        _ = try? await ledger.read { try ($0 as? any GroupedLedgerBackend)?.forgetGroups(kind: QueueLedgerKind.message, queue: name) }
        notify(queue: name)
    }

    /// PurgeQueue: deletes every message; once per 60 seconds, as SQS allows.
    public func purge(_ name: String) async throws {
        let now = clock.nowMs()
        try queues.withLock { all in
            guard var queue = all[name] else { throw QueueError.queueDoesNotExist }
            if let last = queue.purgedAt, now - last < 60_000 {
                throw QueueError.purgeQueueInProgress("Only one PurgeQueue operation on \(name) is allowed every 60 seconds.")
            }
            queue.purgedAt = now
            do { try catalog.saveQueue(queue) } catch { throw QueueError.internalError("\(error)") }
            all[name] = queue
        }
        do {
            _ = try await ledger.read { try $0.removeAll(kind: QueueLedgerKind.message, queue: name) }
        } catch { throw QueueError.internalError("\(error)") }
    }

    // MARK: tags

    func checkTags(_ tags: [String: String]) throws {
        for (key, value) in tags where key.isEmpty || key.count > 128 || value.count > 256 {
            throw QueueError.invalidParameterValue("Tag keys must be 1-128 characters and values at most 256 characters.")
        }
    }

    public func tags(of name: String) throws -> [String: String] { try queue(named: name).tags }

    public func tag(_ name: String, _ tags: [String: String]) throws {
        try checkTags(tags)
        try update(name) { $0.tags.merge(tags) { $1 } }
        if try queue(named: name).tags.count > 50 { throw QueueError.invalidParameterValue("Too many tags added for queue \(name).") }
    }

    public func untag(_ name: String, _ keys: [String]) throws {
        try update(name) { queue in for key in keys { queue.tags[key] = nil } }
    }

    private func update(_ name: String, _ change: (inout QueueRecord) -> Void) throws {
        try queues.withLock { all in
            guard var queue = all[name] else { throw QueueError.queueDoesNotExist }
            change(&queue)
            do { try catalog.saveQueue(queue) } catch { throw QueueError.internalError("\(error)") }
            all[name] = queue
        }
    }

    // MARK: long-poll wake-ups

    /// Wakes the receives waiting on `queue` (all of them when nil).
    func notify(queue: String?) {
        let woken = waiters.withLock { all -> [CheckedContinuation<Void, Never>] in
            let ids = all.filter { queue == nil || $0.value.queue == queue }.map(\.key)
            return ids.compactMap { all.removeValue(forKey: $0)?.continuation }
        }
        for continuation in woken { continuation.resume() }
    }

    /// Waits until a message may have arrived on `queue`, or `ms` of wall time passed.
    func waitForMessages(on queue: String, upToMs ms: Int64) async {
        let id = UUID()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters.withLock { $0[id] = Waiter(queue: queue, continuation: continuation) }
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(max(1, ms)))
                let waiter = self?.waiters.withLock { $0.removeValue(forKey: id) }
                waiter?.continuation.resume()
            }
        }
    }
}
