// HearthQueues: SQS's message move tasks (dead-letter queue redrive), on the ledger.
import Foundation
import HearthEvents
import Synchronization

extension QueueLedgerKind {
    /// One StartMessageMoveTask; its ledger queue is the source (dead-letter) queue's name. It is
    /// `available` (never due: no dispatcher claims it) while it runs, and history (`failed`
    /// state) once it completed, was cancelled or failed; its payload is the `MoveTask`.
    public static let moveTask = "sqs.move-task"
}

/// A message move task as ListMessageMoveTasks shows it, and as its ledger item holds it.
public struct MoveTask: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case running = "RUNNING", completed = "COMPLETED", cancelling = "CANCELLING", cancelled = "CANCELLED", failed = "FAILED" }

    public var taskHandle: String
    public var sourceArn: String
    /// nil: each message goes back to the queue it was redriven from.
    public var destinationArn: String?
    public var maxNumberOfMessagesPerSecond: Int?
    public var approximateNumberOfMessagesMoved: Int
    public var approximateNumberOfMessagesToMove: Int
    public var status: Status
    public var failureReason: String?
    public var startedTimestamp: Int64

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? [UInt8](encoder.encode(self))) ?? []
    }
}

/// The move tasks running in this supervisor: their runner tasks, by ledger item id.
final class MoveTaskRunners: Sendable {
    let running = Mutex<[Int64: Task<Void, Never>]>([:])
}

extension QueueService {
    /// Messages moved per step when the task sets no rate (SQS: "system optimized").
    static let moveStep = 500

    /// StartMessageMoveTask: moves the available messages of `sourceArn` (a dead-letter queue of
    /// at least one queue) to `destinationArn`, or back to the queues they were redriven from.
    /// One running task per source. The task is a ledger item, so it survives a restart and
    /// resumes (`resumeMoveTasks`); each step's moves and the task's progress commit together.
    public func startMoveTask(sourceArn: String, destinationArn: String?, maxPerSecond: Int?) async throws -> String {
        guard let source = queue(arn: sourceArn) else {
            throw QueueError.resourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
        }
        let sources = try deadLetterSources(of: source.name)
        guard !sources.isEmpty else {
            throw QueueError.invalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        }
        if let destinationArn {
            guard let destination = queue(arn: destinationArn) else {
                throw QueueError.resourceNotFound("The resource that you specified for the DestinationArn parameter doesn't exist.")
            }
            if destination.name == source.name {
                throw QueueError.invalidParameterValue("Source queue and destination queue cannot be the same.")
            }
        }
        if let maxPerSecond, !(1...500).contains(maxPerSecond) {
            throw QueueError.invalidParameterValue("Value \(maxPerSecond) for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and 500.")
        }
        let items = try await moveTaskItems(source.name)
        if items.contains(where: { $0.1.status == .running }) {
            throw QueueError.unsupportedOperation("There is already a task running. Only one active task is allowed for a source queue at a time.")
        }
        let now = clock.nowMs()
        let counts: LedgerQueueCounts
        do {
            counts = try await ledger.read { [name = source.name] in try $0.counts(kind: QueueLedgerKind.message, queue: name, now: now) }
        } catch { throw QueueError.internalError("\(error)") }
        let handleDocument = #"{"taskId":"\#(UUID().uuidString.lowercased())","sourceArn":"\#(sourceArn)"}"#
        let task = MoveTask(taskHandle: Data(handleDocument.utf8).base64EncodedString(), sourceArn: sourceArn, destinationArn: destinationArn,
                            maxNumberOfMessagesPerSecond: maxPerSecond, approximateNumberOfMessagesMoved: 0,
                            approximateNumberOfMessagesToMove: counts.visible, status: .running, failureReason: nil, startedTimestamp: now)
        // Never due: the item is the task's durable record, run by `runMoveTask`, not a dispatcher.
        let item = NewLedgerItem(kind: QueueLedgerKind.moveTask, queue: source.name, payload: task.encoded(), dueAt: Int64.max / 2)
        let id: Int64
        do {
            guard let added = try await ledger.add([item]).first ?? nil else { throw QueueError.internalError("the move task was not recorded") }
            id = added
        } catch let error as QueueError { throw error } catch { throw QueueError.internalError("\(error)") }
        launch(id: id, task: task)
        return task.taskHandle
    }

    /// ListMessageMoveTasks: the most recent tasks of a source queue, newest first (1-10).
    public func listMoveTasks(sourceArn: String, maxResults: Int?) async throws -> [MoveTask] {
        guard let source = queue(arn: sourceArn) else {
            throw QueueError.resourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
        }
        let limit = maxResults ?? 1
        guard (1...10).contains(limit) else {
            throw QueueError.invalidParameterValue("Value \(limit) for parameter MaxResults is invalid. Reason: must be between 1 and 10.")
        }
        return Array(try await moveTaskItems(source.name).map(\.1).sorted { $0.startedTimestamp > $1.startedTimestamp }.prefix(limit))
    }

    /// CancelMessageMoveTask: stops a running task after its current step; returns how many
    /// messages it had moved.
    public func cancelMoveTask(taskHandle: String) async throws -> Int {
        guard let data = Data(base64Encoded: taskHandle),
              let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let sourceArn = document["sourceArn"] as? String, let source = queue(arn: sourceArn) else {
            throw QueueError.resourceNotFound("The resource that you specified for the TaskHandle parameter doesn't exist.")
        }
        guard case let (id, task)? = try await moveTaskItems(source.name).first(where: { $0.1.taskHandle == taskHandle }) else {
            throw QueueError.resourceNotFound("The resource that you specified for the TaskHandle parameter doesn't exist.")
        }
        guard task.status == .running else {
            throw QueueError.invalidParameterValue("Only active tasks can be cancelled.")
        }
        let runner = moveRunners.running.withLock { $0[id] }
        runner?.cancel()
        await runner?.value
        // The runner wrote CANCELLED when it stopped; without one (it ended meanwhile), write it.
        var final = try await moveTaskItems(source.name).first { $0.0 == id }?.1 ?? task
        if final.status == .running {
            final.status = .cancelled
            try await finishMoveTask(id: id, final)
        }
        return final.approximateNumberOfMessagesMoved
    }

    /// Resumes the tasks a previous supervisor left running (their progress is in the ledger).
    public func resumeMoveTasks() async {
        for name in listQueues(prefix: nil) {
            for (id, task) in (try? await moveTaskItems(name)) ?? [] where task.status == .running {
                launch(id: id, task: task)
            }
        }
    }

    /// Stops the runners (shutdown): their tasks stay RUNNING and resume at the next start.
    public func stopMoveTasks() async {
        let runners = moveRunners.running.withLock { all -> [Task<Void, Never>] in
            defer { all.removeAll() }
            return Array(all.values)
        }
        for runner in runners { runner.cancel() }
        for runner in runners { await runner.value }
    }

    // MARK: running

    func moveTaskItems(_ source: String) async throws -> [(Int64, MoveTask)] {
        do {
            let items = try await ledger.read { try $0.items(kind: QueueLedgerKind.moveTask, queue: source, limit: 1000) }
            return items.compactMap { item in (try? JSONDecoder().decode(MoveTask.self, from: Data(item.payload))).map { (item.id, $0) } }
        } catch { throw QueueError.internalError("\(error)") }
    }

    private func launch(id: Int64, task: MoveTask) {
        // Registered before it can end, so its own removal comes after.
        moveRunners.running.withLock { running in
            running[id] = Task { [weak self] in
                guard let self else { return }
                await self.runMoveTask(id: id, task)
            }
        }
    }

    private func finishMoveTask(id: Int64, _ task: MoveTask) async throws {
        let payload = task.encoded()
        let now = clock.nowMs()
        _ = try await ledger.read { backend in
            try backend.moveItems(kind: QueueLedgerKind.message, from: "", to: nil, origins: [], limit: 0, now: now, task: id) { _ in (payload, true) }
        }
    }

    /// Steps of at most the rate (or `moveStep`) messages, one a second when rate-limited, each
    /// step one transaction with the task's progress, until a step finds nothing left to move.
    private func runMoveTask(id: Int64, _ start: MoveTask) async {
        var task = start
        defer { _ = moveRunners.running.withLock { $0.removeValue(forKey: id) } }
        guard let source = name(fromARN: task.sourceArn) else { return }
        while true {
            if Task.isCancelled {
                // A cancel (not a shutdown, which leaves the runner map empty first) ends the task.
                break
            }
            let destination = task.destinationArn.flatMap { name(fromARN: $0) }
            if task.destinationArn != nil && (destination.flatMap { try? queue(named: $0) }) == nil {
                task.status = .failed
                task.failureReason = "The destination queue \(task.destinationArn ?? "") no longer exists."
                try? await finishMoveTask(id: id, task)
                return
            }
            guard (try? queue(named: source)) != nil else {
                task.status = .failed
                task.failureReason = "The source queue no longer exists."
                try? await finishMoveTask(id: id, task)
                return
            }
            let origins = destination == nil ? listQueues(prefix: nil).filter { $0 != source } : []
            let limit = task.maxNumberOfMessagesPerSecond ?? Self.moveStep
            let stepStarted = ContinuousClock.now
            let now = clock.nowMs()
            let before = task
            let moved: [String]
            do {
                moved = try await ledger.read { backend in
                    try backend.moveItems(kind: QueueLedgerKind.message, from: source, to: destination, origins: origins, limit: limit,
                                          now: now, task: id) { count in
                        var next = before
                        next.approximateNumberOfMessagesMoved += count
                        if count < limit { next.status = .completed }
                        return (next.encoded(), count < limit)
                    }
                }
            } catch {
                // A storage failure: tried again after a pause.
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            task.approximateNumberOfMessagesMoved += moved.count
            counters.add(source, "moved", moved.count)
            for queue in Set(moved) { notify(queue: queue) }
            if moved.count < limit { return }
            if task.maxNumberOfMessagesPerSecond != nil {
                try? await Task.sleep(until: stepStarted + .seconds(1), clock: .continuous)
            }
        }
        // Cancelled: a shutdown removed this runner from the map before cancelling it (the task
        // stays RUNNING for the next start); a CancelMessageMoveTask did not.
        let cancelled = moveRunners.running.withLock { $0[id] != nil }
        if cancelled {
            task.status = .cancelled
            try? await finishMoveTask(id: id, task)
        }
    }
}
