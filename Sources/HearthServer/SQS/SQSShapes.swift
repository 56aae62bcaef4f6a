import Foundation
import HearthEvents
import HearthQueues

/// SQS's wire shapes for the JSON 1.0 protocol in one place: error types, their
/// query-compatible codes (`x-amzn-query-error`, which botocore reports as the error code) and
/// statuses, and the JSON answer.
enum SQSShapes {
    /// `(shape name for __type, query-compatible code, status)` for an engine error.
    static func wire(_ error: QueueError) -> (type: String, code: String, status: Int) {
        switch error {
        case .queueDoesNotExist: return ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400)
        case .queueNameExists: return ("QueueNameExists", "QueueAlreadyExists", 400)
        case .invalidParameterValue: return ("InvalidParameterValue", "InvalidParameterValue", 400)
        case .invalidAttributeName: return ("InvalidAttributeName", "InvalidAttributeName", 400)
        case .invalidAttributeValue: return ("InvalidAttributeValue", "InvalidAttributeValue", 400)
        case .missingParameter: return ("MissingParameter", "MissingParameter", 400)
        case .receiptHandleIsInvalid: return ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400)
        case .messageNotInflight: return ("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400)
        case .invalidMessageContents: return ("InvalidMessageContents", "InvalidMessageContents", 400)
        case .unsupportedOperation: return ("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400)
        case .purgeQueueInProgress: return ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
        case .invalidBatchEntryId: return ("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400)
        case .batchEntryIdsNotDistinct: return ("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)
        case .emptyBatchRequest: return ("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400)
        case .tooManyEntriesInBatchRequest: return ("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400)
        case .batchRequestTooLong: return ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400)
        case .overLimit: return ("OverLimit", "OverLimit", 403)
        case .resourceNotFound: return ("ResourceNotFoundException", "ResourceNotFoundException", 400)
        case .internalError: return ("InternalError", "InternalError", 500)
        }
    }

    static func error(_ error: QueueError, requestID: String) -> HTTPResponse {
        let (type, code, status) = wire(error)
        return errorResponse(type: "com.amazonaws.sqs#\(type)", code: code, status: status, message: error.message, requestID: requestID)
    }

    static func errorResponse(type: String, code: String, status: Int, message: String, requestID: String) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: ["__type": type, "message": message], options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "\(code);\(status >= 500 ? "Receiver" : "Sender")"),
            ("x-amzn-RequestId", requestID),
        ], body: [UInt8](body))
    }

    /// A batch entry's failure (`BatchResultErrorEntry`): the query-compatible code.
    static func failed(id: String, _ error: QueueError) -> [String: Any] {
        let (_, code, status) = wire(error)
        return ["Id": id, "SenderFault": status < 500, "Code": code, "Message": error.message]
    }

    static func json(_ object: [String: Any], requestID: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            ("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", requestID),
        ], body: JSONText.data(object, sortedKeys: true))
    }

    /// A message attribute as the JSON protocol carries it (binary as base64).
    static func attribute(_ value: MessageAttributeValue) -> [String: Any] {
        var object: [String: Any] = ["DataType": value.dataType]
        if let string = value.stringValue { object["StringValue"] = string }
        if let binary = value.binaryValue { object["BinaryValue"] = binary.base64EncodedString() }
        return object
    }
}
