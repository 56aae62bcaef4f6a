import Foundation
import HearthEvents
import HearthStore
import Testing

/// The ledger on its SQLite backend, with an injected clock: claims, leases, expiry, recovery,
/// idempotency, atomic follow-ups and group commit.
@Suite("event ledger")
struct LedgerTests {
    let clock = ManualLedgerClock()
    let ledger: Ledger

    init() throws {
        ledger = Ledger(backend: SQLiteLedger(store: try Store.inMemory()), clock: clock)
    }

    func item(_ queue: String = "f", due: Int64? = nil, key: String? = nil) -> NewLedgerItem {
        NewLedgerItem(kind: "test", queue: queue, payload: Array("{}".utf8), dueAt: due ?? clock.nowMs(), idempotencyKey: key)
    }

    @Test("only due items are claimed, earliest first; a future item becomes due when the clock reaches it")
    func dueTimes() async throws {
        let now = clock.nowMs()
        let ids = try await ledger.add([item(due: now + 5000), item(due: now), item(due: now - 10)])
        let first = try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 10)
        #expect(first.map(\.id) == [ids[2]!, ids[1]!])
        #expect(first.allSatisfy { $0.state == .leased && $0.leaseOwner == "a" && $0.claims == 1 })
        #expect(try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 10).isEmpty)
        #expect(try await ledger.read { try $0.nextDue(kind: "test") } == now + 5000)
        clock.advance(ms: 5000)
        #expect(try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 10).map(\.id) == [ids[0]!])
        #expect(try await ledger.claim(kind: "other", owner: "a", leaseMs: 60_000, limit: 10).isEmpty)
    }

    @Test("an expired lease makes the item due again, counted as a recovery; the old owner's outcome is then refused")
    func leaseExpiry() async throws {
        let id = try #require(try await ledger.add([item()]).first ?? nil)
        _ = try await ledger.claim(kind: "test", owner: "a", leaseMs: 1000, limit: 1)
        clock.advance(ms: 999)
        #expect(try await ledger.claim(kind: "test", owner: "b", leaseMs: 1000, limit: 1).isEmpty)
        clock.advance(ms: 1)
        let again = try await ledger.claim(kind: "test", owner: "b", leaseMs: 1000, limit: 1)
        #expect(again.map(\.id) == [id])
        #expect(again.first?.recoveries == 1 && again.first?.claims == 2)
        #expect(try await ledger.finish(id: id, owner: "a", decision: .complete(followUps: [])) == false)
        #expect(try await ledger.finish(id: id, owner: "b", decision: .complete(followUps: [])) == true)
        #expect(try await ledger.read { try $0.item(id: id) } == nil)
    }

    @Test("a dead supervisor's leases are recovered at start-up; a graceful release is not a recovery")
    func recovery() async throws {
        let ids = try await ledger.add([item(), item()])
        _ = try await ledger.claim(kind: "test", owner: "dead", leaseMs: 3_600_000, limit: 1)
        _ = try await ledger.claim(kind: "test", owner: "me", leaseMs: 3_600_000, limit: 1)
        let now = clock.nowMs()
        let counted = try await ledger.read { try $0.recoverAbandoned(keeping: "me", now: now) }
        #expect(counted == 1)
        let recovered = try await ledger.read { try $0.item(id: ids[0]!) }
        #expect(recovered?.state == .available && recovered?.recoveries == 1 && recovered?.leaseOwner == nil)
        let releasedCount = try await ledger.read { try $0.release(owner: "me", now: now) }
        #expect(releasedCount == 1)
        let released = try await ledger.read { try $0.item(id: ids[1]!) }
        #expect(released?.state == .available && released?.recoveries == 0 && released?.claims == 0)
    }

    @Test("retry reschedules with the engine's attempts and document; fail keeps the item with its reason")
    func retryAndFail() async throws {
        let id = try #require(try await ledger.add([item()]).first ?? nil)
        _ = try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 1)
        let due = clock.nowMs() + 60_000
        #expect(try await ledger.finish(id: id, owner: "a", decision: .retry(dueAt: due, attempts: 1, payload: Array("[1]".utf8), error: "boom")))
        var stored = try #require(try await ledger.read { try $0.item(id: id) })
        #expect(stored.state == .available && stored.dueAt == due && stored.attempts == 1 && stored.payload == Array("[1]".utf8) && stored.lastError == "boom")
        clock.advance(ms: 60_000)
        _ = try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 1)
        #expect(try await ledger.finish(id: id, owner: "a", decision: .fail(reason: "RetriesExhausted", attempts: 3, followUps: [])))
        stored = try #require(try await ledger.read { try $0.item(id: id) })
        #expect(stored.state == .failed && stored.attempts == 3 && stored.lastError == "RetriesExhausted" && stored.finishedAt == clock.nowMs())
        #expect(try await ledger.read { try $0.depth(kind: "test") } == ["f": LedgerDepth(failed: 1)])
        clock.advance(ms: 1)
        let now = clock.nowMs()
        let counted = try await ledger.read { try $0.prune(failedBefore: now) }
        #expect(counted == 1)
    }

    @Test("follow-ups are added in the transaction that finishes their source, and only if it still holds the lease")
    func followUps() async throws {
        let id = try #require(try await ledger.add([item()]).first ?? nil)
        _ = try await ledger.claim(kind: "test", owner: "a", leaseMs: 60_000, limit: 1)
        let next = item("destination")
        #expect(try await ledger.finish(id: id, owner: "other", decision: .complete(followUps: [next])) == false)
        #expect(try await ledger.read { try $0.depth(kind: "test") }["destination"] == nil)
        #expect(try await ledger.finish(id: id, owner: "a", decision: .complete(followUps: [next])))
        #expect(try await ledger.read { try $0.depth(kind: "test") } == ["destination": LedgerDepth(available: 1)])
    }

    @Test("an idempotency key makes a second add a no-op")
    func idempotency() async throws {
        let first = try await ledger.add([item(key: "occurrence-1")])
        let second = try await ledger.add([item(key: "occurrence-1"), item(key: "occurrence-2")])
        #expect(first[0] != nil && second[0] == nil && second[1] != nil)
        #expect(try await ledger.read { try $0.depth(kind: "test") }["f"]?.available == 2)
    }

    @Test("concurrent adds are group-committed: every caller gets its own ids back, all durable")
    func groupCommit() async throws {
        let ids = try await withThrowingTaskGroup(of: [Int64?].self) { group in
            for i in 0..<200 { group.addTask { try await ledger.add([item("q\(i % 3)"), item("q\(i % 3)")]) } }
            var all: [Int64?] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(ids.count == 400 && Set(ids.compactMap { $0 }).count == 400)
        let depth = try await ledger.read { try $0.depth(kind: "test") }
        #expect(depth.values.map(\.available).reduce(0, +) == 400)
    }

    @Test("concurrent receives are group-committed with sends and deletes: each receiver leases its own items, none twice, and a delete in the same batch makes room first")
    func groupCommittedReceives() async throws {
        let ids = try await ledger.add((0..<100).map { _ in item("r") })
        let now = clock.nowMs()
        func receive(_ owner: String, limit: Int, maxLeased: Int? = nil) -> LedgerReceive {
            LedgerReceive(kind: "test", queue: "r", owner: LedgerLease.clientPrefix + owner, leaseUntil: now + 60_000, limit: limit, maxLeased: maxLeased)
        }
        let got = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for i in 0..<20 {
                group.addTask {
                    let result = try await ledger.commit(LedgerBatch(inserts: [LedgerBatch.Insert(item("other"))], receives: [receive("c\(i)", limit: 10)]))
                    #expect(result.ids.count == 1 && result.finished.isEmpty && result.received.count == 1)
                    return result.received[0].items.map(\.id)
                }
            }
            var all: [Int64] = []
            for try await leased in group { all += leased }
            return all
        }
        #expect(got.count == 100 && Set(got) == Set(ids.compactMap { $0 }))
        // A full queue (100 leases of at most 100): a delete and a receive in one batch.
        let first = try #require(try await ledger.read { try $0.item(id: ids[0]!) })
        let batch = LedgerBatch(finishes: [LedgerBatch.Finish(id: first.id, owner: try #require(first.leaseOwner), decision: .complete(followUps: []))],
                                receives: [receive("late", limit: 10, maxLeased: 100)])
        _ = try await ledger.add([item("r")])
        let result = try await ledger.commit(batch)
        #expect(result.finished == [true])
        #expect(result.received.first?.overLimit == false && result.received.first?.items.count == 1)
    }

    @Test("the dispatcher runs submitted items at once and claimed ones when due, and commits their decisions")
    func dispatcher() async throws {
        let ran = RanBox()
        let dispatcher = LedgerDispatcher(ledger: ledger, kind: "test", concurrency: 2) { item in
            ran.add(item.queue)
            return .complete(followUps: [])
        }
        dispatcher.start()
        try await dispatcher.submit((0..<5).map { item("s\($0)") })
        try await ledger.add([item("later", due: clock.nowMs() + 200)])
        for _ in 0..<100 where ran.count < 5 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(ran.count == 5)
        clock.advance(ms: 200)
        ledger.wake("test")
        for _ in 0..<100 where ran.count < 6 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(ran.count == 6)
        await dispatcher.stop(grace: .seconds(1))
        #expect(try await ledger.read { try $0.depth(kind: "test") }.isEmpty)
    }
}

final class RanBox: @unchecked Sendable {
    private let lock = NSLock()
    private var queues: [String] = []
    func add(_ q: String) { lock.lock(); queues.append(q); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return queues.count }
}
