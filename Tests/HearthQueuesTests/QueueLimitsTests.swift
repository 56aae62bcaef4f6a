import Foundation
import HearthEvents
import HearthQueues
import HearthStore
import Synchronization
import Testing

/// SQS's in-flight limit, retention without a receive, and what a message keeps when it moves
/// to a dead-letter queue (ADR 0024), on the real ledger (SQLite in memory) with an injected clock.
@Suite("SQS queue limits, retention sweep, dead-letter moves")
struct QueueLimitsTests {
    let clock = ManualLedgerClock()
    let store: Store
    let ledger: Ledger

    init() throws {
        store = try Store.inMemory()
        ledger = Ledger(backend: SQLiteLedger(store: store), clock: clock)
    }

    func service(_ limits: QueueService.Limits = QueueService.Limits()) throws -> QueueService {
        try QueueService(ledger: ledger, catalog: store, region: "us-east-1", limits: limits)
    }

    func send(_ queues: QueueService, _ queue: String, _ bodies: [String]) async throws {
        for body in bodies { _ = try await queues.send(queue, OutgoingMessage(body: body), senderId: "AKID") }
    }

    func leases(_ queue: String) async throws -> Int {
        try await ledger.read { try $0.leaseCount(kind: QueueLedgerKind.message, queue: queue) }
    }

    @Test("at the in-flight limit a receive fails with OverLimit; deletes, visibility 0 and ended visibility timeouts make room; the count survives a restart")
    func inFlightLimit() async throws {
        let queues = try service(QueueService.Limits(inFlight: 5))
        try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "10"])
        try await send(queues, "q", (1...8).map { "m\($0)" })
        let first = try await queues.receive("q", max: 3)
        // Only the room left is leased: 2 of the 3 asked for.
        let second = try await queues.receive("q", max: 3)
        #expect(first.count == 3 && second.count == 2)
        #expect(try await leases("q") == 5)
        await #expect(throws: QueueError.overLimit(QueueError.inFlightMessage)) { try await queues.receive("q", max: 1) }
        // A long poll fails at once too.
        await #expect(throws: QueueError.overLimit(QueueError.inFlightMessage)) { try await queues.receive("q", max: 1, waitSeconds: 20) }
        #expect(try await queues.counts("q") == LedgerQueueCounts(visible: 3, leased: 5, delayed: 0))

        try await queues.delete("q", receiptHandle: first[0].receiptHandle)
        // A stale or repeated delete frees nothing more.
        try await queues.delete("q", receiptHandle: first[0].receiptHandle)
        #expect(try await leases("q") == 4)
        #expect(try await queues.receive("q", max: 10).count == 1)
        await #expect(throws: QueueError.overLimit(QueueError.inFlightMessage)) { try await queues.receive("q", max: 1) }

        try await queues.changeVisibility("q", receiptHandle: first[1].receiptHandle, timeout: 0)
        #expect(try await leases("q") == 4)
        let again = try await queues.receive("q", max: 10)
        #expect(again.map(\.message.messageId) == [first[1].message.messageId] && again[0].receiveCount == 2)

        // Another supervisor on the same state sees the same count (it is kept in the ledger).
        let restarted = try service(QueueService.Limits(inFlight: 5))
        await #expect(throws: QueueError.overLimit(QueueError.inFlightMessage)) { try await restarted.receive("q", max: 1) }

        // Every visibility timeout ends: all 7 left are visible and receivable again, 5 at most.
        clock.advance(seconds: 10)
        let back = try await restarted.receive("q", max: 10)
        #expect(back.count == 5)
        #expect(try await leases("q") == 5)

        // PurgeQueue empties the count with the queue; nothing was lost before it.
        #expect(try await restarted.counts("q") == LedgerQueueCounts(visible: 2, leased: 5, delayed: 0))
        try await restarted.purge("q")
        #expect(try await leases("q") == 0)
        try await send(restarted, "q", ["after"])
        #expect(try await restarted.receive("q", max: 10).map(\.message.body) == ["after"])
    }

    @Test("the sweep deletes messages past retention with no receive, leased ones too, at most sweepBatch per queue a pass")
    func sweep() async throws {
        let queues = try service(QueueService.Limits(inFlight: 100, sweepBatch: 2))
        try queues.createQueue(name: "old", attributes: ["MessageRetentionPeriod": "60"])
        try queues.createQueue(name: "keep")
        try await send(queues, "old", ["a", "b", "c", "d"])
        try await send(queues, "keep", ["k"])
        clock.advance(seconds: 30)
        try await send(queues, "old", ["young"])
        let held = try await queues.receive("old", max: 1)
        #expect(held.map(\.message.body) == ["a"])
        #expect(try await queues.sweep() == QueueSweepResult(deleted: [:], more: false))

        clock.advance(seconds: 30)
        #expect(try await queues.sweep() == QueueSweepResult(deleted: ["old": 2], more: true))
        #expect(try await queues.sweep() == QueueSweepResult(deleted: ["old": 2], more: true))
        #expect(try await queues.sweep() == QueueSweepResult(deleted: [:], more: false))
        let attributes = try await queues.attributes(of: "old", names: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        #expect(attributes == ["ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "0"])
        // The in-flight message was deleted with its lease; its receipt no longer holds anything.
        #expect(try await leases("old") == 0)
        await #expect(throws: QueueError.messageNotInflight) { try await queues.changeVisibility("old", receiptHandle: held[0].receiptHandle, timeout: 5) }
        #expect(try await queues.counts("keep").visible == 1)
        #expect(queues.counters.snapshot()["old"]?["expired"] == 4)
    }

    @Test("a receive never returns a message past retention, even beyond what it deletes itself")
    func receiveSkipsExpired() async throws {
        let queues = try service(QueueService.Limits(sweepBatch: 1))
        try queues.createQueue(name: "q", attributes: ["MessageRetentionPeriod": "60"])
        try await send(queues, "q", ["x", "y", "z"])
        clock.advance(seconds: 60)
        try await send(queues, "q", ["new"])
        #expect(try await queues.receive("q", max: 10).map(\.message.body) == ["new"])
    }

    @Test("the background sweep runs on the ledger: messages past retention go with no receive")
    func backgroundSweep() async throws {
        let queues = try service(QueueService.Limits(sweepIntervalMs: 200))
        try queues.createQueue(name: "q", attributes: ["MessageRetentionPeriod": "60"])
        try await send(queues, "q", ["a", "b"])
        try await queues.startSweeping()
        // Starting twice (or again after a restart) keeps one sweep item.
        try await queues.startSweeping()
        clock.advance(seconds: 61)
        var visible = -1
        for _ in 0..<50 {
            visible = try await queues.counts("q").visible
            if visible == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
            // Time goes on: a pass that read the clock before the advance above and scheduled
            // its next run after it would otherwise wait for a manual clock that never moves.
            clock.advance(seconds: 0.2)
        }
        await queues.stopSweeping()
        #expect(visible == 0)
        #expect(try await ledger.read { try $0.depth(kind: QueueLedgerKind.sweep) }.values.map(\.available) == [1])
    }

    @Test("retentionScale shortens retention where it applies, not what clients set or see")
    func retentionScale() async throws {
        let queues = try service(QueueService.Limits(retentionScale: 0.05))
        #expect(throws: QueueError.invalidAttributeValue("Invalid value for the parameter MessageRetentionPeriod.")) {
            try queues.createQueue(name: "short", attributes: ["MessageRetentionPeriod": "59"])
        }
        try queues.createQueue(name: "q", attributes: ["MessageRetentionPeriod": "60"])
        try await send(queues, "q", ["a"])
        clock.advance(seconds: 2.9)
        #expect(try await queues.sweep().deleted.isEmpty)
        clock.advance(seconds: 0.1)
        #expect(try await queues.sweep().deleted == ["q": 1])
        #expect(try await queues.attributes(of: "q", names: ["MessageRetentionPeriod"]) == ["MessageRetentionPeriod": "60"])
    }

    @Test("in the dead-letter queue a message keeps its id, SentTimestamp, first receive and receive count (counting on), records its source, and is redriven again after the DLQ's own maxReceiveCount; DLQ retention counts from the original send")
    func deadLetterMove() async throws {
        let queues = try service()
        try queues.createQueue(name: "last")
        try queues.createQueue(name: "dlq", attributes: [
            "VisibilityTimeout": "1", "MessageRetentionPeriod": "120",
            "RedrivePolicy": #"{"deadLetterTargetArn":"\#(queues.arn("last"))","maxReceiveCount":"2"}"#,
        ])
        try queues.createQueue(name: "src", attributes: [
            "VisibilityTimeout": "1", "RedrivePolicy": #"{"deadLetterTargetArn":"\#(queues.arn("dlq"))","maxReceiveCount":"3"}"#,
        ])
        let sentAt = clock.nowMs()
        let sent = try await queues.send("src", OutgoingMessage(body: "poison"), senderId: "AKID")
        clock.advance(seconds: 5)
        var firstReceive: Int64 = 0
        for n in 1...3 {
            let got = try await queues.receive("src", max: 1)
            #expect(got.count == 1 && got[0].receiveCount == n && got[0].deadLetterSource == nil)
            if n == 1 { firstReceive = got[0].firstReceiveTimestamp }
            clock.advance(seconds: 1)
        }
        #expect(try await queues.receive("src", max: 1).isEmpty)
        // The DLQ's own maxReceiveCount (2) counts receives in the DLQ: two, then it moves on.
        for n in 4...5 {
            let dead = try await queues.receive("dlq", max: 10)
            #expect(dead.map(\.message.messageId) == [sent.messageId])
            #expect(dead.first?.receiveCount == n)
            #expect(dead.first?.message.sentTimestamp == sentAt)
            #expect(dead.first?.firstReceiveTimestamp == firstReceive)
            #expect(dead.first?.deadLetterSource == "src")
            clock.advance(seconds: 1)
        }
        #expect(try await queues.receive("dlq", max: 10).isEmpty)
        let last = try await queues.receive("last", max: 10)
        #expect(last.first?.receiveCount == 6 && last.first?.deadLetterSource == "dlq")
        #expect(try await leases("src") == 0)
        #expect(try await leases("dlq") == 0)
        #expect(try await leases("last") == 1)

        // Retention in a dead-letter queue counts from the original send (SQS, standard queues).
        try await queues.delete("last", receiptHandle: last[0].receiptHandle)
        let second = try await queues.send("src", OutgoingMessage(body: "poison 2"), senderId: "AKID")
        for _ in 1...3 {
            _ = try await queues.receive("src", max: 1)
            clock.advance(seconds: 1)
        }
        _ = try await queues.receive("src", max: 1)
        #expect(try await queues.counts("dlq").visible == 1)
        // Sent at t, moved at t + 3 s: gone at t + 120 s (the DLQ's retention from the send).
        clock.advance(seconds: 116)
        #expect(try await queues.sweep().deleted.isEmpty)
        clock.advance(seconds: 1)
        #expect(try await queues.sweep().deleted == ["dlq": 1])
        #expect(try await queues.counts("dlq") == LedgerQueueCounts())
        _ = second
    }

    /// A function that records what it was given and succeeds.
    final class RecordingInvoker: MappingInvoker {
        let bodies = Mutex<[String]>([])

        func invoke(_ mapping: EventSourceMapping, payload: [UInt8]) async -> MappingInvokeOutcome {
            let event = (try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]) ?? [:]
            let records = event["Records"] as? [[String: Any]] ?? []
            bodies.withLock { $0 += records.compactMap { $0["body"] as? String } }
            return .success(Array("{}".utf8))
        }

        func timeoutSeconds(_ mapping: EventSourceMapping) -> Int? { 3 }
    }

    @Test("a mapping's poller at the in-flight limit backs off and takes nothing; once room is made every message arrives, none lost")
    func pollerOverLimit() async throws {
        let queues = try QueueService(ledger: ledger, catalog: store, region: "us-east-1", limits: QueueService.Limits(inFlight: 3))
        try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "60"])
        try await send(queues, "q", ["held 1", "held 2", "held 3"])
        let held = try await queues.receive("q", max: 3)
        try await send(queues, "q", ["p1", "p2"])
        let invoker = RecordingInvoker()
        let mapping = EventSourceMapping(functionName: "f", eventSourceArn: queues.arn("q"), batchSize: 10, lastModified: clock.nowMs())
        let poller = MappingPoller(mapping: mapping, service: queues, invoker: invoker)
        poller.start()
        try await Task.sleep(for: .milliseconds(800))
        #expect(invoker.bodies.withLock { $0 }.isEmpty)
        #expect(poller.workerCount == 1)
        _ = try await queues.delete("q", receiptHandles: held.map(\.receiptHandle))
        var got: [String] = []
        for _ in 0..<100 {
            got = invoker.bodies.withLock { $0 }
            if got.count >= 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await poller.stop()
        #expect(got.sorted() == ["p1", "p2"])
        #expect(try await queues.counts("q") == LedgerQueueCounts())
        #expect(try await leases("q") == 0)
    }

    /// A function that takes a while and succeeds.
    final class SlowInvoker: MappingInvoker {
        let batches = Mutex<Int>(0)
        func invoke(_ mapping: EventSourceMapping, payload: [UInt8]) async -> MappingInvokeOutcome {
            try? await Task.sleep(for: .milliseconds(100))
            batches.withLock { $0 += 1 }
            return .success(Array("{}".utf8))
        }
        func timeoutSeconds(_ mapping: EventSourceMapping) -> Int? { 3 }
    }

    @Test("a backlog scales a mapping's poller as Lambda does: five batches at once, then one more worker a second, within MaximumConcurrency")
    func pollerScaling() async throws {
        let queues = try service()
        try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "60"])
        for _ in 0..<300 { _ = try await queues.send("q", (0..<10).map { OutgoingMessage(body: "m\($0)") }, senderId: "AKID") }
        let invoker = SlowInvoker()
        let mapping = EventSourceMapping(functionName: "f", eventSourceArn: queues.arn("q"), batchSize: 10, lastModified: clock.nowMs())
        let poller = MappingPoller(mapping: mapping, service: queues, invoker: invoker)
        poller.start()
        // Full batches, the clock standing still: five workers, and no more however many batches run.
        for _ in 0..<100 where poller.workerCount < 5 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(poller.workerCount == 5)
        let before = invoker.batches.withLock { $0 }
        for _ in 0..<100 where invoker.batches.withLock({ $0 }) < before + 10 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(invoker.batches.withLock { $0 } >= before + 10)
        #expect(poller.workerCount == 5)
        // A second later: one more, once.
        clock.advance(ms: 1000)
        for _ in 0..<100 where poller.workerCount < 6 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(poller.workerCount == 6)
        await poller.stop()

        // MaximumConcurrency 2 caps the start too.
        var capped = mapping
        capped.maximumConcurrency = 2
        let second = MappingPoller(mapping: capped, service: queues, invoker: invoker)
        second.start()
        try await Task.sleep(for: .milliseconds(300))
        #expect(second.workerCount == 2)
        await second.stop()
    }
}
