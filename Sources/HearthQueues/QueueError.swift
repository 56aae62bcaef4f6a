// HearthQueues: why a queue operation failed, in SQS's terms (the wire shapes are the handler's).

/// An SQS error: the engine's reason, named after SQS's error (the SQS handler maps each case to
/// its `__type`, query-compatible code and status in `SQSShapes`).
public enum QueueError: Error, Sendable, Equatable {
    /// `QueueDoesNotExist` (`AWS.SimpleQueueService.NonExistentQueue`).
    case queueDoesNotExist
    /// `QueueNameExists` (`QueueAlreadyExists`): same name, another value for `attribute`.
    case queueNameExists(attribute: String)
    case invalidParameterValue(String)
    case invalidAttributeName(String)
    case invalidAttributeValue(String)
    case missingParameter(String)
    case receiptHandleIsInvalid(String)
    /// `MessageNotInflight`: a visibility change for a message that is not in flight.
    case messageNotInflight
    case invalidMessageContents(String)
    /// `UnsupportedOperation`: what SQS (or Hearth) does not do.
    case unsupportedOperation(String)
    case purgeQueueInProgress(String)
    case invalidBatchEntryId(String)
    case batchEntryIdsNotDistinct(String)
    case emptyBatchRequest(String)
    case tooManyEntriesInBatchRequest(String)
    case batchRequestTooLong(String)
    /// `OverLimit` (403): for ReceiveMessage, the queue's in-flight limit is reached.
    case overLimit(String)
    case resourceNotFound(String)
    /// Storage failed (500).
    case internalError(String)

    /// SQS's message for a receive at the in-flight limit (as AWS answered in 2014; its line
    /// break is a space here).
    public static let inFlightMessage = "Too many messages have been received without being deleted. Please delete your received messages or let them timeout before receiving more."

    public var message: String {
        switch self {
        case .queueDoesNotExist: return "The specified queue does not exist."
        case .queueNameExists(let attribute): return "A queue already exists with the same name and a different value for attribute \(attribute)"
        case .messageNotInflight: return "Message does not exist or is not available for visibility timeout change."
        case .invalidParameterValue(let m), .invalidAttributeName(let m), .invalidAttributeValue(let m), .missingParameter(let m),
             .receiptHandleIsInvalid(let m), .invalidMessageContents(let m), .unsupportedOperation(let m), .purgeQueueInProgress(let m),
             .invalidBatchEntryId(let m), .batchEntryIdsNotDistinct(let m), .emptyBatchRequest(let m),
             .tooManyEntriesInBatchRequest(let m), .batchRequestTooLong(let m), .overLimit(let m), .resourceNotFound(let m),
             .internalError(let m):
            return m
        }
    }
}
