// HearthEvents: the seam through which the event core puts messages on queues.

/// Turns "send this body to the queue with this ARN" into the ledger item that holds the message,
/// so producers inside the event core (asynchronous-invocation destinations and dead-letter queues,
/// Scheduler dead-letter queues, workflow tasks) add it as a follow-up in the same transaction that
/// finishes their own item: nothing is sent twice or lost between the two.
///
/// The queue service (HearthQueues) implements it; until it is wired, producers are given `nil`
/// and treat an SQS ARN as undeliverable, recording why.
public protocol QueueMessages: Sendable {
    /// The item for one message, or a failure naming why it cannot be sent (no such queue, too large).
    func message(queueARN: String, body: String, attributes: [String: String], now: Int64) -> Result<NewLedgerItem, QueueMessageError>
    /// The same with typed message attributes (a `Number` among them: Lambda's dead-letter
    /// `ErrorCode`).
    func message(queueARN: String, body: String, messageAttributes: [String: QueueMessageAttribute], now: Int64) -> Result<NewLedgerItem, QueueMessageError>
}

extension QueueMessages {
    /// Producers that only know String attributes (test doubles) get them as strings.
    public func message(queueARN: String, body: String, messageAttributes: [String: QueueMessageAttribute], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        message(queueARN: queueARN, body: body, attributes: messageAttributes.mapValues(\.stringValue), now: now)
    }
}

/// One SQS message attribute with a string value (`String` or `Number`, optionally with a
/// custom type suffix such as `Number.int`).
public struct QueueMessageAttribute: Sendable, Equatable {
    public var dataType: String
    public var stringValue: String
    public init(dataType: String, stringValue: String) {
        self.dataType = dataType
        self.stringValue = stringValue
    }
}

/// Why a message could not be put on a queue.
public struct QueueMessageError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
