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
    static func invalidName(_ name: String) -> StatesAPIError { StatesAPIError(type: "InvalidName", message: "Invalid Name: '\(name)'") }
    static func validation(_ message: String) -> StatesAPIError { StatesAPIError(type: "ValidationException", message: message) }
    static func invalidDefinition(_ error: InvalidDefinition) -> StatesAPIError { StatesAPIError(type: "InvalidDefinition", message: error.description) }

    func response(requestID: String) -> HTTPResponse {
        let body = JSON.obj([("__type", .string("com.amazonaws.swf.service.v2.model#\(type)")), ("message", .string(message))])
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", requestID),
        ], body: body.bytes)
    }
}
