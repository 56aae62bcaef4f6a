// HearthQueues: the pollers that carry a queue's messages to a function.
import Foundation
import Synchronization

/// How one synchronous invocation of a mapping's function went.
public enum MappingInvokeOutcome: Sendable, Equatable {
    /// The function returned (its response payload).
    case success([UInt8])
    /// The function failed (error, timeout, out of memory, exit): the batch comes back.
    case functionError(String)
    /// Throttled (reserved concurrency or the pool): retried within the batch's visibility.
    case throttled
    /// Could not run at all (the function is gone, its code cannot be prepared).
    case failed(String)
}

/// What a poller needs from the platform: invoke the function through the same path as a
/// synchronous Invoke, and know its timeout (for the batch's effective visibility).
public protocol MappingInvoker: Sendable {
    func invoke(_ mapping: EventSourceMapping, payload: [UInt8]) async -> MappingInvokeOutcome
    /// The function's timeout in seconds, nil if it does not exist.
    func timeoutSeconds(_ mapping: EventSourceMapping) -> Int?
    /// The mapping's last processing result changed (for GetEventSourceMapping).
    func processed(_ mapping: EventSourceMapping, result: String)
}

extension MappingInvoker {
    public func processed(_ mapping: EventSourceMapping, result: String) {}
}

/// Polls one enabled mapping's queue and invokes its function with batches, as Lambda does:
/// receive up to BatchSize messages (gathering for MaximumBatchingWindowInSeconds when the
/// batch is not full), hidden for the queue's visibility timeout (or window + function
/// timeout + 30 s when that is longer); drop (delete) the ones the filter rejects; invoke
/// synchronously; on success delete the batch, or with ReportBatchItemFailures all but the
/// reported items; on a function error leave it to come back (and to the queue's dead-letter
/// queue after maxReceiveCount). Workers scale as Lambda's do: while batches come full, up to
/// five at once, then by one a second (Lambda adds up to 60 pollers a minute), never beyond
/// MaximumConcurrency; down to one when the queue is empty or the function throttles. (Adding
/// one per full batch, as Hearth did first, started hundreds of sandboxes for a backlog a few
/// warm ones drain faster.)
///
/// Every message stays in the ledger until deleted, leased to the receive that holds it: a
/// crashed supervisor loses nothing, its batches reappear when their visibility ends.
/// Thread-safe.
public final class MappingPoller: Sendable {
    public let mapping: EventSourceMapping
    let service: QueueService
    let invoker: any MappingInvoker
    let log: @Sendable (String) -> Void
    private let state = Mutex<State>(State())
    /// How long an idle receive waits (SQS's longest long poll).
    static let pollSeconds = 20
    /// Lambda's synchronous payload limit.
    static let maxPayload = 6 * 1024 * 1024

    private struct State {
        var workers: [UUID: Task<Void, Never>] = [:]
        var stopped = false
        /// When a worker was last added for a full batch.
        var lastScaleUpMs: Int64?
    }

    /// Lambda's concurrent batches at the start of a backlog.
    static let initialWorkers = 5
    /// Beyond them, one more worker at most this often (60 a minute).
    static let scaleUpIntervalMs: Int64 = 1000

    public init(mapping: EventSourceMapping, service: QueueService, invoker: any MappingInvoker, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.mapping = mapping
        self.service = service
        self.invoker = invoker
        self.log = log
    }

    public var maxWorkers: Int { mapping.maximumConcurrency ?? 1000 }

    public var workerCount: Int { state.withLock { $0.workers.count } }

    public func start() { spawn() }

    /// Stops every worker (an invocation in flight finishes first; its batch, if not deleted,
    /// comes back after its visibility timeout).
    public func stop() async {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.stopped = true
            return Array(s.workers.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// A batch came full: one more worker if the scaling rate allows it.
    private func scaleUp() {
        let now = service.clock.nowMs()
        let allowed = state.withLock { s -> Bool in
            if s.workers.count < Self.initialWorkers {
                s.lastScaleUpMs = now
                return true
            }
            if let last = s.lastScaleUpMs, now - last < Self.scaleUpIntervalMs { return false }
            s.lastScaleUpMs = now
            return true
        }
        if allowed { spawn() }
    }

    @discardableResult
    private func spawn() -> Bool {
        let id = UUID()
        return state.withLock { s -> Bool in
            guard !s.stopped, s.workers.count < maxWorkers else { return false }
            s.workers[id] = Task { [self] in
                await self.work()
                self.state.withLock { _ = $0.workers.removeValue(forKey: id) }
            }
            return true
        }
    }

    /// True when this worker should end: stopped, or more than one worker and `idle`.
    private func shouldExit(idle: Bool) -> Bool {
        state.withLock { s in s.stopped || (idle && s.workers.count > 1) }
    }

    /// The longest pause between receives while the queue is at its in-flight limit.
    static let overLimitPauseCapMs: Int64 = 5000

    private func work() async {
        // A batch's delete is not awaited before the next receive: the two go to the ledger
        // together, one transaction and one fsync for both (a crash before it commits brings the
        // batch back, at least once, as a crash before any delete does). One delete at most is
        // outstanding per worker, and the last is awaited before the worker ends.
        var pendingDelete: Task<Void, Never>?
        await poll(&pendingDelete)
        await pendingDelete?.value
    }

    private func poll(_ pendingDelete: inout Task<Void, Never>?) async {
        var overLimit = 0
        while !Task.isCancelled && !shouldExit(idle: false) {
            guard let queue = service.queue(arn: mapping.eventSourceArn) else {
                invoker.processed(mapping, result: "PROBLEM: Queue does not exist")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            guard let timeout = invoker.timeoutSeconds(mapping) else {
                invoker.processed(mapping, result: "PROBLEM: Function does not exist")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            let window = mapping.maximumBatchingWindowInSeconds
            var visibility = queue.visibilityTimeout
            if window + timeout > visibility { visibility = window + timeout + 30 }
            var batch: [ReceivedMessage]
            do {
                batch = try await service.receive(queue.name, max: min(10, mapping.batchSize), visibilityTimeout: visibility,
                                                  waitSeconds: Self.pollSeconds)
            } catch QueueError.overLimit {
                // The queue holds as many in-flight messages as it may (other consumers, or our
                // own batches): nothing was received, so nothing can be lost. Back off (doubling
                // from 100 ms up to 5 s), with one worker only, until deletes or ended
                // visibility timeouts make room.
                overLimit += 1
                if overLimit == 1 {
                    log("hearth: event source mapping \(mapping.uuid): \(queue.name) is at its in-flight limit (OverLimit); receiving again as messages are deleted or become visible")
                }
                if shouldExit(idle: true) { return }
                try? await Task.sleep(for: .milliseconds(min(Int64(100) << Int64(min(overLimit - 1, 6)), Self.overLimitPauseCapMs)))
                continue
            } catch {
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            overLimit = 0
            if batch.isEmpty {
                if shouldExit(idle: true) { return }
                continue
            }
            await gather(&batch, queue: queue.name, visibility: visibility, window: window)
            if batch.count >= mapping.batchSize { scaleUp() }
            if await process(batch, queueARN: service.arn(queue.name), queue: queue.name, visibility: visibility,
                             pendingDelete: &pendingDelete) { return }
        }
    }

    /// Fills `batch` up to BatchSize while the batching window lasts (and the payload fits).
    private func gather(_ batch: inout [ReceivedMessage], queue: String, visibility: Int, window: Int) async {
        guard window > 0, batch.count < mapping.batchSize else { return }
        let deadline = service.clock.nowMs() + Int64(window) * 1000
        var bytes = batch.reduce(0) { $0 + $1.message.body.utf8.count + 1024 }
        while batch.count < mapping.batchSize && bytes < Self.maxPayload - 300_000 && !Task.isCancelled {
            let now = service.clock.nowMs()
            if now >= deadline { return }
            let more = (try? await service.receiveNow(queue, max: min(10, mapping.batchSize - batch.count), visibilityTimeout: visibility)) ?? []
            if more.isEmpty {
                await service.waitForMessages(on: queue, upToMs: min(deadline - now, 1000))
                continue
            }
            batch += more
            bytes += more.reduce(0) { $0 + $1.message.body.utf8.count + 1024 }
        }
    }

    /// Filters, invokes and settles one batch; true when this worker should end (throttled
    /// while others run).
    private func process(_ received: [ReceivedMessage], queueARN: String, queue: String, visibility: Int,
                         pendingDelete: inout Task<Void, Never>?) async -> Bool {
        var batch = received
        if let filters = mapping.filterPatterns, !filters.isEmpty {
            let patterns = filters.compactMap { try? EventPattern(parsing: $0) }
            var dropped: [String] = []
            batch = received.filter { message in
                var record = SQSEvent.record(message, queueARN: queueARN, region: service.region)
                if let data = message.message.body.data(using: .utf8),
                   let parsed = try? JSONSerialization.jsonObject(with: data), parsed is [String: Any] || parsed is [Any] {
                    record["body"] = parsed
                }
                let keep = patterns.contains { $0.matches(record) }
                if !keep { dropped.append(message.receiptHandle) }
                return keep
            }
            if !dropped.isEmpty { _ = try? await service.delete(queue, receiptHandles: dropped) }
            if batch.isEmpty { return false }
        }
        let payload = SQSEvent.event(batch, queueARN: queueARN, region: service.region)
        var throttles = 0
        let deadline = service.clock.nowMs() + Int64(visibility) * 1000
        while true {
            switch await invoker.invoke(mapping, payload: payload) {
            case .success(let response):
                var keep = Set<String>()
                if mapping.reportsBatchItemFailures {
                    guard let failed = SQSEvent.failedItems(response: response, batchIds: Set(batch.map(\.message.messageId))) else {
                        invoker.processed(mapping, result: "PROBLEM: Function call failed")
                        log("hearth: event source mapping \(mapping.uuid): the function's partial batch response is invalid; the whole batch of \(batch.count) will be retried")
                        return false
                    }
                    keep = SQSEvent.kept(batch, failed: failed)
                }
                let done = batch.filter { !keep.contains($0.message.messageId) }.map(\.receiptHandle)
                await pendingDelete?.value
                pendingDelete = done.isEmpty ? nil : Task { [service] in _ = try? await service.delete(queue, receiptHandles: done) }
                invoker.processed(mapping, result: "OK")
                return false
            case .functionError:
                invoker.processed(mapping, result: "PROBLEM: Function call failed")
                return false
            case .failed(let reason):
                invoker.processed(mapping, result: "PROBLEM: \(reason)")
                return false
            case .throttled:
                // The batch stays hidden while it waits for room: no receive is counted for a
                // throttle, and the extra workers stop.
                throttles += 1
                let pause = min(Int64(50) << Int64(min(throttles, 5)), 1000)
                if Task.isCancelled || service.clock.nowMs() + pause >= deadline - 1000 { return false }
                try? await Task.sleep(for: .milliseconds(pause))
                if shouldExit(idle: true) {
                    // Another worker keeps going; hand the batch back at once for it.
                    let entries = batch.map { (receiptHandle: $0.receiptHandle, timeout: 0) }
                    _ = try? await service.changeVisibility(queue, entries: entries)
                    return true
                }
            }
        }
    }
}
