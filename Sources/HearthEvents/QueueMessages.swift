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
}

/// Why a message could not be put on a queue.
public struct QueueMessageError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
