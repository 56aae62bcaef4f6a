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
    /// Then each receive (`LedgerReceive`, which says what one does), in the same transaction.
    func commit(_ batch: LedgerBatch, now: Int64) throws -> LedgerBatch.Result

    /// Leases up to `limit` items of `kind` that are due (`available` with `dueAt <= now`),
    /// earliest due first, after making those whose lease expired (`leaseUntil <= now`) due
    /// again with a recovery counted; bumps `claims`.
    func claim(kind: String, owner: String, now: Int64, leaseUntil: Int64, limit: Int) throws -> [LedgerItem]

    /// Makes every lease not held by `owner` due now, counting a recovery on each: at start-up,
    /// what a dead supervisor held (one supervisor per state directory, which it locks). Leases
    /// held by clients (owners starting with `LedgerLease.clientPrefix`: SQS visibility timeouts)
    /// are not the supervisor's and are kept: they end on their own.
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

    // MARK: queues with client-held leases (SQS: a lease is a visibility timeout, a claim a receive)

    /// Retention without a receive: deletes up to `limit` items of `queue` (of `kind`), leased
    /// or not, created at or before `retainedAfter`, oldest first. Returns how many.
    func sweep(kind: String, queue: String, retainedAfter: Int64, limit: Int) throws -> Int

    /// The leases `queue` (of `kind`, read through `LedgerReceive`) holds, ended ones not yet
    /// returned by a receive included: the counter a `LedgerReceive` checks.
    func leaseCount(kind: String, queue: String) throws -> Int

    /// Moves the end of a lease `owner` still holds on item `id` (of `kind`) to `until`; at or
    /// before `now` the item is available again at once (keeping its owner). False if the item
    /// is gone, or not leased to `owner`, or its lease has already ended.
    func changeLease(kind: String, id: Int64, owner: String, until: Int64, now: Int64) throws -> Bool

    /// Deletes every item of `queue` (of `kind`), whatever its state. Returns how many.
    func removeAll(kind: String, queue: String) throws -> Int

    /// In one transaction: moves up to `limit` available, due items of `queue` (of `kind`), first
    /// due first, to `destination`, or, when it is nil, back to the queue each was redriven from
    /// (a `LedgerReceive`'s redrive records it in `lastError`) if that queue is one of `origins` (others
    /// stay); moved items are due now with their claims and first-claim time reset. Then item
    /// `task`'s payload becomes `progress(moved)`'s, and the task ends as history (`failed`
    /// state, finished now) when that says so. Returns the moved items' new queues. (SQS's
    /// StartMessageMoveTask.)
    func moveItems(kind: String, from queue: String, to destination: String?, origins: [String], limit: Int, now: Int64,
                   task: Int64, progress: (Int) -> (payload: [UInt8], finished: Bool)) throws -> [String]

    /// Counts of `queue`'s items as of `now`.
    func counts(kind: String, queue: String, now: Int64) throws -> LedgerQueueCounts
}

/// A receive on one queue of client-held leases, carried out in a `LedgerBatch`'s transaction
/// (`LedgerBackend.commit`), on that queue only: expired leases become available again (due
/// when they expired, keeping their last owner, counting no recovery: a visibility timeout
/// that ends is normal); up to `retentionBatch` items created at or before `retainedAfter`
/// are deleted (retention; the rest are never leased, and `sweep` deletes them); due items
/// claimed `redrive.maxClaims` times in this queue move to `redrive.queue` (due now; their
/// claims and first claim are kept, the claims so far remembered as earlier queues'); then,
/// unless the queue already holds `maxLeased` leases (`Result.overLimit`), up to `limit` due
/// items (no more than `maxLeased` allows) are leased to `owner` until `leaseUntil`, earliest
/// due first, bumping `claims` and setting `firstClaimedAt` on a first claim.
///
/// The number of leases a queue read this way holds is a counter kept in the same
/// transactions as the leases (receive, `changeLease`, a finish by a client owner,
/// retention, `removeAll`), so the limit costs one lookup, not a scan.
public struct LedgerReceive: Sendable, Equatable {
    public struct Redrive: Sendable, Equatable {
        public var maxClaims: Int
        public var queue: String
        public init(maxClaims: Int, queue: String) {
            self.maxClaims = maxClaims
            self.queue = queue
        }
    }
    public struct Result: Sendable, Equatable {
        public var items: [LedgerItem]
        /// How many were moved to the redrive queue.
        public var redriven: Int
        /// How many were deleted by retention.
        public var expired: Int
        /// True when nothing was leased because the queue holds `maxLeased` leases.
        public var overLimit: Bool
        public init(items: [LedgerItem], redriven: Int, expired: Int, overLimit: Bool = false) {
            self.items = items
            self.redriven = redriven
            self.expired = expired
            self.overLimit = overLimit
        }
    }

    public var kind: String
    public var queue: String
    public var owner: String
    public var leaseUntil: Int64
    public var limit: Int
    public var retainedAfter: Int64?
    public var redrive: Redrive?
    /// The most leases the queue may hold (SQS's in-flight limit); nil: no limit.
    public var maxLeased: Int?
    /// The most items one receive deletes by retention.
    public var retentionBatch: Int
    /// A grouped queue (`GroupedLedgerBackend`, SQS FIFO): lease only the first items of groups
    /// that hold no lease, in the order they were added (ADR 0027).
    public var grouped = false

    public init(kind: String, queue: String, owner: String, leaseUntil: Int64, limit: Int, retainedAfter: Int64? = nil, redrive: Redrive? = nil,
                maxLeased: Int? = nil, retentionBatch: Int = 1000) {
        self.kind = kind
        self.queue = queue
        self.owner = owner
        self.leaseUntil = leaseUntil
        self.limit = limit
        self.retainedAfter = retainedAfter
        self.redrive = redrive
        self.maxLeased = maxLeased
        self.retentionBatch = retentionBatch
    }
}

/// One queue's items by visibility.
public struct LedgerQueueCounts: Sendable, Equatable {
    /// Due and not leased (SQS: ApproximateNumberOfMessages).
    public var visible = 0
    /// Leased, lease not ended (ApproximateNumberOfMessagesNotVisible).
    public var leased = 0
    /// Available but not yet due (ApproximateNumberOfMessagesDelayed).
    public var delayed = 0
    public init(visible: Int = 0, leased: Int = 0, delayed: Int = 0) {
        self.visible = visible
        self.leased = leased
        self.delayed = delayed
    }
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
        public var received: [LedgerReceive.Result]
        public init(ids: [Int64?], finished: [Bool], received: [LedgerReceive.Result] = []) {
            self.ids = ids
            self.finished = finished
            self.received = received
        }
    }

    public var inserts: [Insert]
    public var finishes: [Finish]
    /// Receives on queues of client-held leases, after the inserts and finishes (so a delete
    /// in the same batch makes room under an in-flight limit first).
    public var receives: [LedgerReceive]

    public init(inserts: [Insert] = [], finishes: [Finish] = [], receives: [LedgerReceive] = []) {
        self.inserts = inserts
        self.finishes = finishes
        self.receives = receives
    }
}
