// HearthEvents: the ledger engines use: group commit, claims, wake-ups.
import Dispatch
import Foundation
import Synchronization

/// The durable ledger of work, as engines and dispatchers see it.
///
/// Writes from concurrent callers are group-committed: while one transaction is being written
/// (and fsynced), the next callers' inserts and finishes collect, and go in the following
/// transaction together. A caller's `add` returns only once its items are committed: accepted
/// means durable. All storage calls run on one serial queue of their own, so blocking SQLite I/O
/// never occupies Swift's cooperative threads. Thread-safe.
public final class Ledger: Sendable {
    public let backend: any LedgerBackend
    public let clock: any LedgerClock
    private let io: DispatchQueue
    private let commits: GroupCommit<LedgerBatch, LedgerBatch.Result>
    private let wakers = Mutex<[String: @Sendable () -> Void]>([:])

    public init(backend: any LedgerBackend, clock: any LedgerClock = SystemLedgerClock()) {
        self.backend = backend
        self.clock = clock
        let io = DispatchQueue(label: "hearth.ledger")
        self.io = io
        commits = GroupCommit(queue: io) { batches in try Self.commit(batches, backend: backend, now: clock.nowMs()) }
    }

    /// Adds items durably (group-committed) and wakes the dispatchers of their kinds. Returns
    /// each item's id, nil where an idempotency key made it a duplicate.
    @discardableResult
    public func add(_ items: [NewLedgerItem], leases: [LedgerLease?]? = nil) async throws -> [Int64?] {
        let inserts = items.enumerated().map { LedgerBatch.Insert($1, lease: leases?[$0]) }
        let result = try await commit(LedgerBatch(inserts: inserts))
        for kind in Set(items.map(\.kind)) { wake(kind) }
        return result.ids
    }

    /// Commits a dispatcher's decision (group-committed with others). False if the lease was lost.
    public func finish(id: Int64, owner: String, decision: LedgerDecision) async throws -> Bool {
        let result = try await commit(LedgerBatch(finishes: [LedgerBatch.Finish(id: id, owner: owner, decision: decision)]))
        switch decision {
        case .complete(let followUps), .fail(_, _, let followUps):
            for kind in Set(followUps.map(\.kind)) { wake(kind) }
        case .retry: break
        }
        return result.finished.first ?? false
    }

    /// Commits `batch` together with whatever else is pending.
    public func commit(_ batch: LedgerBatch) async throws -> LedgerBatch.Result {
        try await commits.submit(batch)
    }

    /// One transaction for several callers' batches; each caller's share of the result.
    static func commit(_ batches: [LedgerBatch], backend: any LedgerBackend, now: Int64) throws -> [LedgerBatch.Result] {
        let batch = LedgerBatch(inserts: batches.flatMap(\.inserts), finishes: batches.flatMap(\.finishes),
                                receives: batches.flatMap(\.receives))
        let result = try backend.commit(batch, now: now)
        var ids = result.ids[...], finished = result.finished[...], received = result.received[...]
        return batches.map { mine in
            defer {
                ids = ids.dropFirst(mine.inserts.count)
                finished = finished.dropFirst(mine.finishes.count)
                received = received.dropFirst(mine.receives.count)
            }
            return LedgerBatch.Result(ids: Array(ids.prefix(mine.inserts.count)), finished: Array(finished.prefix(mine.finishes.count)),
                                      received: Array(received.prefix(mine.receives.count)))
        }
    }

    /// Runs a storage call on the ledger's queue.
    public func read<T: Sendable>(_ body: @escaping @Sendable (any LedgerBackend) throws -> T) async throws -> T {
        let backend = self.backend
        return try await withCheckedThrowingContinuation { continuation in
            io.async { continuation.resume(with: Result { try body(backend) }) }
        }
    }

    public func claim(kind: String, owner: String, leaseMs: Int64, limit: Int) async throws -> [LedgerItem] {
        let now = clock.nowMs()
        return try await read { try $0.claim(kind: kind, owner: owner, now: now, leaseUntil: now + leaseMs, limit: limit) }
    }

    // MARK: wake-ups

    /// Registers the function that wakes `kind`'s dispatcher or waiters (one per kind).
    public func onWake(_ kind: String, _ wake: @escaping @Sendable () -> Void) {
        wakers.withLock { $0[kind] = wake }
    }

    public func wake(_ kind: String) {
        let waker = wakers.withLock { $0[kind] }
        waker?()
    }
}
