import Foundation
import HearthStates

// SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat: a worker answering a `.waitForTaskToken` task.
extension StatesAPI {
    /// `taskToken`: required, 1-2048 characters (the model's constraint).
    static func taskToken(_ body: JSON) throws -> String {
        let token = try Self.string(body, "taskToken")!
        guard (1...2048).contains(token.count) else {
            throw StatesAPIError.validation("1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length less than or equal to 2048")
        }
        return token
    }

    /// SendTaskSuccess (taskToken, output): the task succeeds with `output` (JSON text, ≤ 256 KiB) → `{}`.
    func sendTaskSuccess(_ body: JSON) async throws -> JSON {
        let token = try Self.taskToken(body)
        let output = try Self.string(body, "output")!
        do { _ = try JSON.parse(output) } catch { throw StatesAPIError.invalidOutput("\(error.message) at offset \(error.offset)") }
        guard output.utf8.count <= Execution.payloadLimit else {
            throw StatesAPIError.validation("1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to 262144")
        }
        try await driver.callback(token: token) { task, at in .taskSucceeded(task: task, output: output, at: at) }
        return .object(JSONObject())
    }

    /// SendTaskFailure (taskToken, error ≤ 256, cause ≤ 32768): the task fails with them
    /// (Retry and Catch apply) → `{}`.
    func sendTaskFailure(_ body: JSON) async throws -> JSON {
        let token = try Self.taskToken(body)
        let error = try Self.string(body, "error", required: false) ?? ""
        let cause = try Self.string(body, "cause", required: false) ?? ""
        guard error.count <= 256 else {
            throw StatesAPIError.validation("1 validation error detected: Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256")
        }
        guard cause.count <= 32_768 else {
            throw StatesAPIError.validation("1 validation error detected: Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768")
        }
        try await driver.callback(token: token) { task, at in .taskFailed(task: task, error: error, cause: cause, at: at) }
        return .object(JSONObject())
    }

    /// SendTaskHeartbeat (taskToken): the task's HeartbeatSeconds starts again → `{}`.
    func sendTaskHeartbeat(_ body: JSON) async throws -> JSON {
        let token = try Self.taskToken(body)
        try await driver.callback(token: token) { task, at in .taskHeartbeat(task: task, at: at) }
        return .object(JSONObject())
    }
}
