// HearthEvents: the durable ledger's model. Pure values; no storage, no clock.

/// Where an item is in its life. Completed items are deleted; failed ones are kept (for
/// `hearth events`) until pruned.
public enum LedgerState: String, Sendable, Codable {
    /// Waiting for its due time (or due now).
    case available
    /// Claimed by a dispatcher (`leaseOwner`) until `leaseUntil`; an expired lease makes it due again.
    case leased
    /// Given up: retries exhausted, too old, or undeliverable. Kept with its `lastError`.
    case failed
}

/// One unit of durable work: an asynchronous invocation, a schedule's occurrence, a workflow step.
///
/// Times are Unix epoch milliseconds from the ledger's injected clock.
public struct LedgerItem: Sendable, Equatable {
    public var id: Int64
    /// What handles it (`LedgerKind`); each kind has its own dispatcher.
    public var kind: String
    /// A grouping key within the kind (for async invocations, the function name): depth metrics
    /// and listings are per queue.
    public var queue: String
    /// The engine's own document (JSON); the ledger never looks inside.
    public var payload: [UInt8]
    public var state: LedgerState
    public var dueAt: Int64
    public var createdAt: Int64
    /// Attempts the engine counts (for async invocations: function attempts, not throttles).
    public var attempts: Int
    /// Times the item was claimed (every delivery, throttled or not).
    public var claims: Int
    /// Times a lease on it was abandoned (its supervisor died) or expired and it was handed out
    /// again: each may have produced a duplicate run.
    public var recoveries: Int
    public var leaseOwner: String?
    public var leaseUntil: Int64?
    public var idempotencyKey: String?
    public var lastError: String?
    /// When it reached `failed`.
    public var finishedAt: Int64?
    /// When it was first claimed by a receive (`LedgerBackend.receive`; SQS's
    /// ApproximateFirstReceiveTimestamp). Dispatcher claims do not set it.
    public var firstClaimedAt: Int64?

    public init(id: Int64, kind: String, queue: String, payload: [UInt8], state: LedgerState, dueAt: Int64, createdAt: Int64,
                attempts: Int = 0, claims: Int = 0, recoveries: Int = 0, leaseOwner: String? = nil, leaseUntil: Int64? = nil,
                idempotencyKey: String? = nil, lastError: String? = nil, finishedAt: Int64? = nil, firstClaimedAt: Int64? = nil) {
        self.id = id
        self.kind = kind
        self.queue = queue
        self.payload = payload
        self.state = state
        self.dueAt = dueAt
        self.createdAt = createdAt
        self.attempts = attempts
        self.claims = claims
        self.recoveries = recoveries
        self.leaseOwner = leaseOwner
        self.leaseUntil = leaseUntil
        self.idempotencyKey = idempotencyKey
        self.lastError = lastError
        self.finishedAt = finishedAt
        self.firstClaimedAt = firstClaimedAt
    }
}

/// An item to add. With `idempotencyKey`, adding it again (while the first is still in the
/// ledger) is a no-op.
public struct NewLedgerItem: Sendable, Equatable {
    public var kind: String
    public var queue: String
    public var payload: [UInt8]
    public var dueAt: Int64
    /// Defaults to the time it is committed.
    public var createdAt: Int64?
    public var idempotencyKey: String?

    public init(kind: String, queue: String, payload: [UInt8], dueAt: Int64, createdAt: Int64? = nil, idempotencyKey: String? = nil) {
        self.kind = kind
        self.queue = queue
        self.payload = payload
        self.dueAt = dueAt
        self.createdAt = createdAt
        self.idempotencyKey = idempotencyKey
    }
}

/// A lease to hand an item out with at insert time (direct dispatch: the accepting process runs
/// it at once, without a claim round trip).
public struct LedgerLease: Sendable, Equatable {
    /// Owners of leases held by clients outside the supervisor (SQS visibility timeouts):
    /// start-up recovery leaves them alone (`LedgerBackend.recoverAbandoned`).
    public static let clientPrefix = "client:"

    public var owner: String
    public var until: Int64

    public init(owner: String, until: Int64) {
        self.owner = owner
        self.until = until
    }
}

/// What a dispatcher does with an item it ran: the engine's decision, committed atomically with
/// any follow-up items (a destination's event is added in the same transaction that completes
/// its source, so neither is lost nor doubled by a crash between the two).
public enum LedgerDecision: Sendable, Equatable {
    /// Done: the item is deleted and `followUps` added.
    case complete(followUps: [NewLedgerItem])
    /// Run it again at `dueAt`, with the engine's new attempt count and document.
    case retry(dueAt: Int64, attempts: Int, payload: [UInt8], error: String)
    /// Give up: kept as `failed` with `reason` and the final attempt count; `followUps` added.
    case fail(reason: String, attempts: Int, followUps: [NewLedgerItem])
}

/// Per-queue counts for metrics and listings.
public struct LedgerDepth: Sendable, Equatable {
    public var available = 0
    public var leased = 0
    public var failed = 0

    public init(available: Int = 0, leased: Int = 0, failed: Int = 0) {
        self.available = available
        self.leased = leased
        self.failed = failed
    }
}

/// The kinds of work the ledger holds.
public enum LedgerKind {
    /// An asynchronous Lambda invocation (`InvocationType: Event`, destinations).
    public static let lambdaInvoke = "lambda.invoke"
    /// One EventBridge Scheduler occurrence (or its delivery retry, or the deletion after the last).
    public static let schedulerFire = "scheduler.fire"
    /// A Step Functions execution's pending work: a task to run or a timer to fire (HearthStates' driver).
    public static let statesExecution = "states.execution"
}
