// HearthEvents: claims due items of one kind and runs them.
import Foundation
import Synchronization

/// Runs one kind's items: claims due ones with a lease (at most `concurrency` at a time), hands
/// each to `handler`, and commits the decision. New items added through `submit` while a slot is
/// free are leased in their own insert and run at once (no claim round trip, so an idle
/// dispatcher starts work as soon as it is durable). A crash is a lease that is never finished:
/// the next supervisor recovers it at start-up (`Ledger.backend.recoverAbandoned`).
///
/// Thread-safe. `start()` once; `stop(grace:)` stops claiming, waits for running items, then
/// releases any still leased so the next start runs them at once.
public final class LedgerDispatcher: Sendable {
    public typealias Handler = @Sendable (LedgerItem) async -> LedgerDecision

    public let ledger: Ledger
    public let kind: String
    /// This process's lease owner id (unique per start).
    public let owner: String
    public let concurrency: Int
    /// How long a lease lasts: longer than any run (Lambda's longest timeout is 15 minutes).
    public let leaseMs: Int64
    private let handler: Handler
    private let state = Mutex<State>(State())
    private let log: @Sendable (String) -> Void

    private struct State {
        var running = 0
        var stopped = false
        var started = false
        /// A wake-up arrived while the loop was not waiting: do not sleep.
        var poked = false
        var sleeper: CheckedContinuation<Void, Never>?
        var idleWaiters: [UUID: CheckedContinuation<Void, Never>] = [:]
        var loop: Task<Void, Never>?
    }

    public init(ledger: Ledger, kind: String, owner: String = UUID().uuidString.lowercased(), concurrency: Int,
                leaseMs: Int64 = 16 * 60 * 1000, log: @escaping @Sendable (String) -> Void = { _ in }, handler: @escaping Handler) {
        self.ledger = ledger
        self.kind = kind
        self.owner = owner
        self.concurrency = max(1, concurrency)
        self.leaseMs = leaseMs
        self.handler = handler
        self.log = log
    }

    public var runningCount: Int { state.withLock { $0.running } }

    /// Starts the claim loop.
    public func start() {
        ledger.onWake(kind) { [weak self] in self?.poke() }
        let task = Task { [self] in await self.loop() }
        state.withLock {
            $0.started = true
            $0.loop = task
        }
    }

    /// Adds items durably; those that find a free slot are leased to this dispatcher in the same
    /// transaction and run at once. Returns once all are committed.
    @discardableResult
    public func submit(_ items: [NewLedgerItem]) async throws -> [Int64?] {
        let now = ledger.clock.nowMs()
        let direct = state.withLock { s -> Int in
            guard s.started, !s.stopped else { return 0 }
            let due = items.filter { $0.kind == kind && $0.dueAt <= now }.count
            let n = min(due, concurrency - s.running)
            s.running += max(0, n)
            return max(0, n)
        }
        var remaining = direct
        let lease = LedgerLease(owner: owner, until: now + leaseMs)
        let leases: [LedgerLease?] = items.map { item in
            guard remaining > 0, item.kind == kind, item.dueAt <= now else { return nil }
            remaining -= 1
            return lease
        }
        let ids: [Int64?]
        do {
            ids = try await ledger.add(items, leases: leases)
        } catch {
            slotsFreed(direct)
            throw error
        }
        var unused = direct
        for (i, item) in items.enumerated() where leases[i] != nil {
            guard let id = ids[i] else { continue }  // a duplicate by idempotency key
            unused -= 1
            let claimed = LedgerItem(id: id, kind: item.kind, queue: item.queue, payload: item.payload, state: .leased,
                                     dueAt: item.dueAt, createdAt: item.createdAt ?? now, claims: 1, leaseOwner: owner,
                                     leaseUntil: lease.until, idempotencyKey: item.idempotencyKey)
            Task { await self.run(claimed) }
        }
        slotsFreed(unused)
        return ids
    }

    private func slotsFreed(_ n: Int) {
        guard n > 0 else { return }
        state.withLock { $0.running -= n }
        poke()
    }

    private func run(_ item: LedgerItem) async {
        let decision = await handler(item)
        do {
            let kept = try await ledger.finish(id: item.id, owner: owner, decision: decision)
            if !kept { log("hearth: ledger item \(item.id) (\(kind)): lease lost before its outcome was committed; it will run again") }
        } catch {
            log("hearth: ledger item \(item.id) (\(kind)): could not commit its outcome (\(error)); it will run again after its lease")
        }
        let idle = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.running -= 1
            guard s.running == 0 else { return [] }
            defer { s.idleWaiters = [:] }
            return Array(s.idleWaiters.values)
        }
        for waiter in idle { waiter.resume() }
        poke()
    }

    private func poke() {
        let sleeper = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let sleeper = s.sleeper {
                s.sleeper = nil
                return sleeper
            }
            s.poked = true
            return nil
        }
        sleeper?.resume()
    }

    private func loop() async {
        while true {
            let free = state.withLock { s -> Int? in s.stopped ? nil : concurrency - s.running }
            guard let free else { return }
            var claimed: [LedgerItem] = []
            if free > 0 {
                do {
                    claimed = try await ledger.claim(kind: kind, owner: owner, leaseMs: leaseMs, limit: free)
                } catch {
                    log("hearth: ledger claim (\(kind)) failed: \(error)")
                }
                if !claimed.isEmpty {
                    state.withLock { $0.running += claimed.count }
                    for item in claimed { Task { await self.run(item) } }
                    if claimed.count == free { continue }
                }
            }
            // Sleep until the next item is due, a new one arrives or a slot frees (at most 1 s:
            // a lease that expires in another process is noticed within that).
            var delayMs: Int64 = 1000
            if free > 0, let next = try? await ledger.read({ [kind] in try $0.nextDue(kind: kind) }) {
                delayMs = max(0, min(delayMs, next - ledger.clock.nowMs()))
            }
            if delayMs == 0 && free > 0 { continue }
            await sleep(ms: delayMs)
        }
    }

    private func sleep(ms: Int64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let immediate = state.withLock { s -> Bool in
                if s.poked || s.stopped {
                    s.poked = false
                    return true
                }
                s.sleeper = continuation
                return false
            }
            if immediate {
                continuation.resume()
                return
            }
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(ms))
                self?.poke()
            }
        }
        state.withLock { $0.poked = false }
    }

    /// Stops claiming, gives running items up to `grace` to finish, then releases what this
    /// dispatcher still holds (due again at once, for the next start).
    public func stop(grace: Duration) async {
        let loop = state.withLock { s -> Task<Void, Never>? in
            s.stopped = true
            return s.loop
        }
        poke()
        await loop?.value
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = UUID()
            let idle = state.withLock { s -> Bool in
                if s.running == 0 { return true }
                s.idleWaiters[id] = continuation
                return false
            }
            if idle {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(for: grace)
                let waiter = state.withLock { $0.idleWaiters.removeValue(forKey: id) }
                waiter?.resume()
            }
        }
        let now = ledger.clock.nowMs()
        let released = (try? await ledger.read { [owner] in try $0.release(owner: owner, now: now) }) ?? 0
        if released > 0 { log("hearth: released \(released) \(kind) item(s) still running at shutdown; they run again on the next start") }
    }
}
