// HearthEvents: the storage protocol the ledger runs on.

/// The ledger's storage: the only place its SQL lives (HearthStore's `SQLiteLedger`; a
/// PostgreSQL backend with `SELECT … FOR UPDATE SKIP LOCKED` claims will follow for several
/// nodes). Every method is one transaction. Engines never see this; they see `Ledger`.
///
/// Lease discipline: `finish` only takes effect while `owner` still holds the lease; it returns
/// false when the lease was lost (expired and claimed by someone else, who will run the item).
public protocol LedgerBackend: Sendable {
    /// Carries out a batch in one transaction (one fsync for all of it: group commit). Inserts
    /// first: an item whose idempotency key is already present is skipped (its id is nil); a
    /// lease, when given, hands the item out at once (state `leased`). Then each finish applies
    /// a dispatcher's decision for an item its owner leased; it is false if the lease was lost.
    func commit(_ batch: LedgerBatch, now: Int64) throws -> LedgerBatch.Result

    /// Leases up to `limit` items of `kind` that are due (`available` with `dueAt <= now`),
    /// earliest due first, after making those whose lease expired (`leaseUntil <= now`) due
    /// again with a recovery counted; bumps `claims`.
    func claim(kind: String, owner: String, now: Int64, leaseUntil: Int64, limit: Int) throws -> [LedgerItem]

    /// Makes every lease not held by `owner` due now, counting a recovery on each: at start-up,
    /// what a dead supervisor held (one supervisor per state directory, which it locks).
    func recoverAbandoned(keeping owner: String, now: Int64) throws -> Int

    /// Makes `owner`'s leases due now without counting a recovery (graceful shutdown: they did
    /// not run). Returns how many.
    func release(owner: String, now: Int64) throws -> Int

    /// The earliest `dueAt` of an available item of `kind`, or of a lease's expiry.
    func nextDue(kind: String) throws -> Int64?

    /// One item.
    func item(id: Int64) throws -> LedgerItem?

    /// A queue's items (available, leased and failed), due first.
    func items(kind: String, queue: String, limit: Int) throws -> [LedgerItem]

    /// Counts per queue of `kind`.
    func depth(kind: String) throws -> [String: LedgerDepth]

    /// Deletes failed items that finished before `before`.
    func prune(failedBefore before: Int64) throws -> Int
}

/// Writes committed together.
public struct LedgerBatch: Sendable {
    public struct Insert: Sendable {
        public var item: NewLedgerItem
        public var lease: LedgerLease?
        public init(_ item: NewLedgerItem, lease: LedgerLease? = nil) {
            self.item = item
            self.lease = lease
        }
    }
    public struct Finish: Sendable {
        public var id: Int64
        public var owner: String
        public var decision: LedgerDecision
        public init(id: Int64, owner: String, decision: LedgerDecision) {
            self.id = id
            self.owner = owner
            self.decision = decision
        }
    }
    public struct Result: Sendable, Equatable {
        public var ids: [Int64?]
        public var finished: [Bool]
        public init(ids: [Int64?], finished: [Bool]) {
            self.ids = ids
            self.finished = finished
        }
    }

    public var inserts: [Insert]
    public var finishes: [Finish]

    public init(inserts: [Insert] = [], finishes: [Finish] = []) {
        self.inserts = inserts
        self.finishes = finishes
    }
}
