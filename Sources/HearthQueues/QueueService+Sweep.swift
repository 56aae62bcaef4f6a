// HearthQueues: retention without a receive, as a ledger item that reschedules itself.
import Foundation
import HearthEvents

extension QueueLedgerKind {
    /// The retention sweep: one item (idempotency key `sqs.sweep`), run by its own dispatcher,
    /// due again after each pass. A crash is a lease the next start recovers, as for any item.
    public static let sweep = "sqs.sweep"
}

/// What one sweep pass did.
public struct QueueSweepResult: Sendable, Equatable {
    /// Messages deleted, by queue (queues with none left out).
    public var deleted: [String: Int]
    /// True when some queue had more past retention than one pass deletes.
    public var more: Bool

    public init(deleted: [String: Int], more: Bool) {
        self.deleted = deleted
        self.more = more
    }
}

extension QueueService {
    /// One bounded pass: on each queue, deletes up to `limits.sweepBatch` messages past the
    /// queue's retention (leased ones too: retention ends a message wherever it is), oldest
    /// first, each queue in its own transaction. Redrive is not swept: SQS moves a message to
    /// its dead-letter queue only when a receive finds it (ADR 0024).
    public func sweep() async throws -> QueueSweepResult {
        let all = queues.withLock { Array($0.values) }
        var result = QueueSweepResult(deleted: [:], more: false)
        for queue in all.sorted(by: { $0.name < $1.name }) {
            let retainedAfter = self.retainedAfter(queue, now: clock.nowMs())
            let batch = limits.sweepBatch
            let n: Int
            do {
                n = try await ledger.read { [name = queue.name] in
                    try $0.sweep(kind: QueueLedgerKind.message, queue: name, retainedAfter: retainedAfter, limit: batch)
                }
            } catch { throw QueueError.internalError("\(error)") }
            guard n > 0 else { continue }
            counters.add(queue.name, "expired", n)
            result.deleted[queue.name] = n
            if n >= batch { result.more = true }
        }
        return result
    }

    /// Starts the background sweep on the ledger: a dispatcher for `sqs.sweep` and its one item,
    /// which each pass makes due again `limits.sweepIntervalMs` later (at once when a pass was
    /// cut short by its bound).
    public func startSweeping(log: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let interval = limits.sweepIntervalMs, clock = self.clock
        let dispatcher = LedgerDispatcher(ledger: ledger, kind: QueueLedgerKind.sweep, concurrency: 1, leaseMs: 5 * 60 * 1000, log: log) { [weak self] item in
            var again = interval
            do {
                if let result = try await self?.sweep(), result.more { again = 0 }
            } catch {
                log("hearth: sqs retention sweep failed: \(error); it runs again in \(interval) ms")
            }
            return .retry(dueAt: clock.nowMs() + again, attempts: 0, payload: item.payload, error: "")
        }
        let started = sweeper.withLock { current -> Bool in
            guard current == nil else { return false }
            current = dispatcher
            return true
        }
        guard started else { return }
        dispatcher.start()
        let now = clock.nowMs()
        try await dispatcher.submit([NewLedgerItem(kind: QueueLedgerKind.sweep, queue: "sweep", payload: [], dueAt: now, idempotencyKey: QueueLedgerKind.sweep)])
    }

    /// Stops the sweep (a pass in progress finishes; the item is due at the next start).
    public func stopSweeping() async {
        let dispatcher = sweeper.withLock { current -> LedgerDispatcher? in
            defer { current = nil }
            return current
        }
        await dispatcher?.stop(grace: .seconds(5))
    }
}
