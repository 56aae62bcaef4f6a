import Foundation
import HearthStates

/// An error as Step Functions (AWS JSON 1.0) reports it: 400, `{"__type": …, "message": …}`.
struct StatesAPIError: Error, Sendable {
    var type: String
    var message: String
    var status = 400

    static func doesNotExist(_ arn: String) -> StatesAPIError { StatesAPIError(type: "StateMachineDoesNotExist", message: "State Machine Does Not Exist: '\(arn)'") }
    static func executionDoesNotExist(_ arn: String) -> StatesAPIError { StatesAPIError(type: "ExecutionDoesNotExist", message: "Execution Does Not Exist: '\(arn)'") }
    static func invalidArn(_ arn: String) -> StatesAPIError { StatesAPIError(type: "InvalidArn", message: "Invalid Arn: 'Resource type not valid in this context: \(arn)'") }
    static func activityDoesNotExist(_ arn: String) -> StatesAPIError { StatesAPIError(type: "ActivityDoesNotExist", message: "Activity Does Not Exist: '\(arn)'") }
    /// CreateActivity past the quota (*unverified* message).
    static func activityLimitExceeded(_ name: String) -> StatesAPIError { StatesAPIError(type: "ActivityLimitExceeded", message: "Activity Limit Exceeded: '\(name)'") }
    static func invalidName(_ name: String) -> StatesAPIError { StatesAPIError(type: "InvalidName", message: "Invalid Name: '\(name)'") }
    /// SendTask*: a token Hearth did not issue.
    static let invalidToken = StatesAPIError(type: "InvalidToken", message: "Invalid Token: 'Invalid token'")
    /// SendTask*: a well-formed token no execution issued (the execution is gone, or never was).
    static let taskDoesNotExist = StatesAPIError(type: "TaskDoesNotExist", message: "Task Does Not Exist: 'Provided task does not exist'")
    /// SendTask*: the token's task is over (it succeeded, failed or timed out, or its execution ended).
    static let taskTimedOut = StatesAPIError(type: "TaskTimedOut", message: "Task Timed Out: 'Provided task does not exist anymore'")
    static func invalidOutput(_ detail: String) -> StatesAPIError { StatesAPIError(type: "InvalidOutput", message: "Invalid Output: '\(detail)'") }
    /// DescribeMapRun/UpdateMapRun of a Map Run that never was (*unverified* message).
    static func mapRunDoesNotExist(_ arn: String) -> StatesAPIError { StatesAPIError(type: "ResourceNotFound", message: "Resource not found: '\(arn)'") }
    static func validation(_ message: String) -> StatesAPIError { StatesAPIError(type: "ValidationException", message: message) }
    static func invalidDefinition(_ error: InvalidDefinition) -> StatesAPIError { StatesAPIError(type: "InvalidDefinition", message: error.description) }

    func response(requestID: String) -> HTTPResponse {
        let body = JSON.obj([("__type", .string("com.amazonaws.swf.service.v2.model#\(type)")), ("message", .string(message))])
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", requestID),
        ], body: body.bytes)
    }
}
