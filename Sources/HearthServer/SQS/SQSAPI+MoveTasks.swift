import Foundation
import HearthQueues

// StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask: dead-letter queue redrive.
extension SQSAPI {
    func startMessageMoveTask(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let source = try Self.string(body, "SourceArn", required: true)!
        let destination = try Self.string(body, "DestinationArn").flatMap { $0.isEmpty ? nil : $0 }
        let rate = try Self.int(body, "MaxNumberOfMessagesPerSecond")
        let handle = try await queues.startMoveTask(sourceArn: source, destinationArn: destination, maxPerSecond: rate)
        return context.json(["TaskHandle": handle])
    }

    func listMessageMoveTasks(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let source = try Self.string(body, "SourceArn", required: true)!
        let tasks = try await queues.listMoveTasks(sourceArn: source, maxResults: try Self.int(body, "MaxResults"))
        return context.json(["Results": tasks.map(Self.moveTask)])
    }

    func cancelMessageMoveTask(_ body: Body, _ context: Context) async throws -> HTTPResponse {
        let handle = try Self.string(body, "TaskHandle", required: true)!
        let moved = try await queues.cancelMoveTask(taskHandle: handle)
        return context.json(["ApproximateNumberOfMessagesMoved": moved])
    }

    /// `ListMessageMoveTasksResultEntry`: the handle only while the task runs.
    static func moveTask(_ task: MoveTask) -> [String: Any] {
        var entry: [String: Any] = [
            "Status": task.status.rawValue,
            "SourceArn": task.sourceArn,
            "ApproximateNumberOfMessagesMoved": task.approximateNumberOfMessagesMoved,
            "ApproximateNumberOfMessagesToMove": task.approximateNumberOfMessagesToMove,
            "StartedTimestamp": task.startedTimestamp,
        ]
        if task.status == .running { entry["TaskHandle"] = task.taskHandle }
        if let destination = task.destinationArn { entry["DestinationArn"] = destination }
        if let rate = task.maxNumberOfMessagesPerSecond { entry["MaxNumberOfMessagesPerSecond"] = rate }
        if let reason = task.failureReason { entry["FailureReason"] = reason }
        return entry
    }
}
