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
    private let io = DispatchQueue(label: "hearth.ledger")
    private let pending = Mutex<Pending>(Pending())
    private let wakers = Mutex<[String: @Sendable () -> Void]>([:])

    private struct Pending {
        var inserts: [(LedgerBatch.Insert, Int)] = []   // (insert, waiter index)
        var finishes: [(LedgerBatch.Finish, Int)] = []
        var receives: [(LedgerReceive, Int)] = []
        var waiters: [CheckedContinuation<LedgerBatch.Result, any Error>] = []
        var shapes: [(inserts: Int, finishes: Int, receives: Int)] = []
        var flushing = false
    }

    public init(backend: any LedgerBackend, clock: any LedgerClock = SystemLedgerClock()) {
        self.backend = backend
        self.clock = clock
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
        try await withCheckedThrowingContinuation { continuation in
            let startFlush = pending.withLock { p -> Bool in
                let index = p.waiters.count
                p.waiters.append(continuation)
                p.shapes.append((batch.inserts.count, batch.finishes.count, batch.receives.count))
                p.inserts += batch.inserts.map { ($0, index) }
                p.finishes += batch.finishes.map { ($0, index) }
                p.receives += batch.receives.map { ($0, index) }
                if p.flushing { return false }
                p.flushing = true
                return true
            }
            if startFlush { io.async { self.flush() } }
        }
    }

    /// Runs on `io`: writes everything pending in one transaction, answers its callers, and
    /// goes on while more arrived meanwhile.
    private func flush() {
        while true {
            let taken = pending.withLock { p -> Pending? in
                if p.waiters.isEmpty {
                    p.flushing = false
                    return nil
                }
                let taken = p
                p = Pending()
                p.flushing = true
                return taken
            }
            guard let taken else { return }
            let batch = LedgerBatch(inserts: taken.inserts.map(\.0), finishes: taken.finishes.map(\.0), receives: taken.receives.map(\.0))
            do {
                let result = try backend.commit(batch, now: clock.nowMs())
                var ids = result.ids[...]
                var finished = result.finished[...]
                var received = result.received[...]
                for (index, waiter) in taken.waiters.enumerated() {
                    let shape = taken.shapes[index]
                    let mine = LedgerBatch.Result(ids: Array(ids.prefix(shape.inserts)), finished: Array(finished.prefix(shape.finishes)),
                                                  received: Array(received.prefix(shape.receives)))
                    ids = ids.dropFirst(shape.inserts)
                    finished = finished.dropFirst(shape.finishes)
                    received = received.dropFirst(shape.receives)
                    waiter.resume(returning: mine)
                }
            } catch {
                for waiter in taken.waiters { waiter.resume(throwing: error) }
            }
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
