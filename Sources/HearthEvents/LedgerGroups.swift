// HearthEvents: ordered groups of items with deduplication (SQS FIFO queues) on the ledger.

/// A backend that also keeps queues whose items belong to groups (SQS FIFO queues, ADR 0027):
/// items of one group are handed out in the order they were added, one run of them at a time
/// (a `receive` with `LedgerReceive.grouped` leases nothing of a group that holds a lease), and
/// each add carries a deduplication key remembered for a while, so a repeated add within that
/// time is answered with the first one's identity instead of adding again. Both the dedup record
/// and the per-queue sequence number are written in the add's own transaction: what was accepted
/// is durable, and a crash cannot leave one without the other.
public protocol GroupedLedgerBackend: LedgerBackend {
    /// In one transaction, in order: forgets `queue`'s dedup records that ended at or before
    /// `now`; then for each add, if an unexpired record holds its key, answers `.duplicate` with
    /// that record's message id and sequence; otherwise takes the queue's next sequence number
    /// (greater than any before it, at least `now` × 1000), inserts the item (due at its
    /// `dueAt`, in `group`) with `payload(sequence)` as its document, and remembers the key until
    /// `dedupUntil`. A later add in the same call sees an earlier one's record.
    func addGrouped(_ adds: [LedgerGroupedAdd], now: Int64) throws -> [LedgerGroupedAdd.Outcome]

    /// Forgets `queue`'s dedup records and sequence (its queue was deleted).
    func forgetGroups(kind: String, queue: String) throws
}

/// One item for a grouped queue (`GroupedLedgerBackend.addGrouped`).
public struct LedgerGroupedAdd: Sendable {
    public enum Outcome: Sendable, Equatable {
        case added(id: Int64, sequence: Int64)
        /// An earlier add within the dedup interval holds the key.
        case duplicate(messageId: String, sequence: Int64)
    }

    /// `payload` is ignored: `document(sequence)` makes the stored one.
    public var item: NewLedgerItem
    public var group: String
    public var dedupKey: String
    public var dedupUntil: Int64
    /// The id the engine gave the message, remembered with the key.
    public var messageId: String
    public var document: @Sendable (Int64) -> [UInt8]

    public init(item: NewLedgerItem, group: String, dedupKey: String, dedupUntil: Int64, messageId: String,
                document: @escaping @Sendable (Int64) -> [UInt8]) {
        self.item = item
        self.group = group
        self.dedupKey = dedupKey
        self.dedupUntil = dedupUntil
        self.messageId = messageId
        self.document = document
    }
}
