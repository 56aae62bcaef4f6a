import Foundation
import HearthEvents
import HearthQueues
import HearthStore
import Testing

/// SQS FIFO queues (ADR 0027) on the real ledger (SQLite in memory) with an injected clock:
/// creation rules and attributes, deduplication (explicit, content-based, per group), sequence
/// numbers, group order and locks, redrive to a FIFO dead-letter queue, ReceiveRequestAttemptId,
/// and what a mapping sees (event attributes, partial-batch failures, its limits).
@Suite("SQS FIFO queues")
struct FifoQueueTests {
    let clock = ManualLedgerClock()
    let store: Store
    let ledger: Ledger
    let queues: QueueService

    init() throws {
        store = try Store.inMemory()
        ledger = Ledger(backend: SQLiteLedger(store: store), clock: clock)
        queues = try QueueService(ledger: ledger, catalog: store, region: "us-east-1")
    }

    @discardableResult
    func send(_ queue: String, _ body: String, group: String, dedup: String? = nil) async throws -> SentMessage {
        try await queues.send(queue, OutgoingMessage(body: body, groupId: group, deduplicationId: dedup ?? body), senderId: "AKID")
    }

    func bodies(_ got: [ReceivedMessage]) -> [String] { got.map(\.message.body) }

    @Test("CreateQueue: a .fifo name and FifoQueue=true need each other; FIFO attributes default, validate and are fixed or settable as on SQS")
    func create() async throws {
        #expect(throws: QueueError.invalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")) {
            try queues.createQueue(name: "a.fifo")
        }
        #expect(throws: QueueError.invalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")) {
            try queues.createQueue(name: "a", attributes: ["FifoQueue": "true"])
        }
        #expect(throws: QueueError.invalidAttributeName("Unknown Attribute FifoQueue.")) { try queues.createQueue(name: "a", attributes: ["FifoQueue": "false"]) }
        #expect(throws: QueueError.invalidAttributeName("Unknown Attribute ContentBasedDeduplication.")) {
            try queues.createQueue(name: "a", attributes: ["ContentBasedDeduplication": "true"])
        }
        #expect(throws: QueueError.self) { try queues.createQueue(name: String(repeating: "x", count: 76) + ".fifo", attributes: ["FifoQueue": "true"]) }
        #expect(throws: QueueError.invalidAttributeValue("Invalid value for the parameter DeduplicationScope.")) {
            try queues.createQueue(name: "a.fifo", attributes: ["FifoQueue": "true", "DeduplicationScope": "group"])
        }
        #expect(throws: QueueError.self) { try queues.createQueue(name: "a.fifo", attributes: ["FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"]) }
        try queues.createQueue(name: String(repeating: "x", count: 75) + ".fifo", attributes: ["FifoQueue": "true"])

        let queue = try queues.createQueue(name: "a.fifo", attributes: ["FifoQueue": "true"])
        #expect(queue.isFifo)
        let all = try await queues.attributes(of: "a.fifo", names: ["All"])
        #expect(all["FifoQueue"] == "true" && all["ContentBasedDeduplication"] == "false" && all["DeduplicationScope"] == "queue"
                && all["FifoThroughputLimit"] == "perQueue" && all["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:a.fifo")
        try queues.setAttributes(of: "a.fifo", ["ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"])
        #expect(try await queues.attributes(of: "a.fifo", names: ["ContentBasedDeduplication", "FifoThroughputLimit"])
                == ["ContentBasedDeduplication": "true", "FifoThroughputLimit": "perMessageGroupId"])
        #expect(throws: QueueError.invalidAttributeName("Unknown Attribute FifoQueue.")) { try queues.setAttributes(of: "a.fifo", ["FifoQueue": "false"]) }
        #expect(throws: QueueError.self) { try queues.setAttributes(of: "a.fifo", ["DeduplicationScope": "queue"]) }
        // The same attributes again is the same queue; another value is QueueNameExists.
        #expect(try queues.createQueue(name: "a.fifo", attributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"]).createdAt == queue.createdAt)
        #expect(throws: QueueError.queueNameExists(attribute: "ContentBasedDeduplication")) {
            try queues.createQueue(name: "a.fifo", attributes: ["FifoQueue": "true", "ContentBasedDeduplication": "false"])
        }
        // A standard queue knows none of them.
        try queues.createQueue(name: "std")
        await #expect(throws: QueueError.invalidAttributeName("Unknown Attribute FifoQueue.")) { try await queues.attributes(of: "std", names: ["FifoQueue"]) }
        #expect(try await queues.attributes(of: "std", names: ["All"])["FifoQueue"] == nil)
        #expect(throws: QueueError.invalidAttributeName("Unknown Attribute DeduplicationScope.")) { try queues.setAttributes(of: "std", ["DeduplicationScope": "queue"]) }
    }

    @Test("a FIFO queue's dead-letter queue must be FIFO, and a standard queue's standard")
    func deadLetterType() throws {
        let fifoDLQ = try queues.createQueue(name: "dlq.fifo", attributes: ["FifoQueue": "true"])
        let standardDLQ = try queues.createQueue(name: "dlq")
        func policy(_ q: QueueRecord) -> String { #"{"deadLetterTargetArn":"\#(queues.arn(q.name))","maxReceiveCount":"3"}"# }
        let same = "Reason: Dead-letter queue must be same type of queue as the source.."
        #expect(throws: QueueError.invalidParameterValue("Value \(policy(standardDLQ)) for parameter RedrivePolicy is invalid. \(same)")) {
            try queues.createQueue(name: "src.fifo", attributes: ["FifoQueue": "true", "RedrivePolicy": policy(standardDLQ)])
        }
        #expect(throws: QueueError.invalidParameterValue("Value \(policy(fifoDLQ)) for parameter RedrivePolicy is invalid. \(same)")) {
            try queues.createQueue(name: "src", attributes: ["RedrivePolicy": policy(fifoDLQ)])
        }
        try queues.createQueue(name: "src.fifo", attributes: ["FifoQueue": "true", "RedrivePolicy": policy(fifoDLQ)])
        try queues.createQueue(name: "src", attributes: ["RedrivePolicy": policy(standardDLQ)])
        #expect(throws: QueueError.self) { try queues.setAttributes(of: "src", ["RedrivePolicy": policy(fifoDLQ)]) }
    }

    @Test("sends need a group, a deduplication id (or content-based deduplication) and no delay of their own")
    func sendRules() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true", "DelaySeconds": "2"])
        await #expect(throws: QueueError.missingParameter("The request must contain the parameter MessageGroupId.")) {
            try await queues.send("q.fifo", OutgoingMessage(body: "x", deduplicationId: "d"), senderId: "AKID")
        }
        await #expect(throws: QueueError.invalidParameterValue("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")) {
            try await queues.send("q.fifo", OutgoingMessage(body: "x", groupId: "g"), senderId: "AKID")
        }
        await #expect(throws: QueueError.invalidParameterValue("Value 5 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")) {
            try await queues.send("q.fifo", OutgoingMessage(body: "x", delaySeconds: 5, groupId: "g", deduplicationId: "d"), senderId: "AKID")
        }
        await #expect(throws: QueueError.self) { try await send("q.fifo", "x", group: "has space") }
        await #expect(throws: QueueError.self) { try await send("q.fifo", "x", group: String(repeating: "g", count: 129)) }
        // In a batch, each message on its own; the queue's delay applies.
        let results = try await queues.send("q.fifo", [OutgoingMessage(body: "ok", groupId: "g", deduplicationId: "1"),
                                                       OutgoingMessage(body: "no group", deduplicationId: "2")], senderId: "AKID")
        #expect((try? results[0].get()) != nil && (try? results[1].get()) == nil)
        #expect(try await queues.receive("q.fifo", max: 10).isEmpty)
        clock.advance(seconds: 2)
        #expect(bodies(try await queues.receive("q.fifo", max: 10)) == ["ok"])
    }

    @Test("a duplicate within 5 minutes answers the first MessageId and SequenceNumber and is not queued; after 5 minutes it is new; even a deleted message deduplicates")
    func deduplication() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true"])
        let first = try await send("q.fifo", "a", group: "g", dedup: "d1")
        let again = try await send("q.fifo", "a changed", group: "other", dedup: "d1")
        #expect(again.messageId == first.messageId && again.sequenceNumber == first.sequenceNumber)
        #expect(again.md5OfMessageBody == MessageMD5.body("a changed"))
        let got = try await queues.receive("q.fifo", max: 10)
        #expect(bodies(got) == ["a"])
        try await queues.delete("q.fifo", receiptHandle: got[0].receiptHandle)
        clock.advance(seconds: 299)
        #expect(try await send("q.fifo", "a", group: "g", dedup: "d1").messageId == first.messageId)
        #expect(try await queues.counts("q.fifo") == LedgerQueueCounts())
        clock.advance(seconds: 1)
        let later = try await send("q.fifo", "a", group: "g", dedup: "d1")
        #expect(later.messageId != first.messageId)
        #expect(bodies(try await queues.receive("q.fifo", max: 10)) == ["a"])
        // Within one batch, the second of two equal ids is the first's duplicate.
        let batch = try await queues.send("q.fifo", [OutgoingMessage(body: "x", groupId: "g", deduplicationId: "same"),
                                                     OutgoingMessage(body: "y", groupId: "g", deduplicationId: "same")], senderId: "AKID")
        #expect(try batch[0].get().messageId == batch[1].get().messageId)
    }

    @Test("content-based deduplication is the body's SHA-256; DeduplicationScope messageGroup deduplicates per group")
    func contentBasedAndScope() async throws {
        try queues.createQueue(name: "c.fifo", attributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
        let a = try await queues.send("c.fifo", OutgoingMessage(body: "hello", groupId: "g"), senderId: "AKID")
        let b = try await queues.send("c.fifo", OutgoingMessage(body: "hello", groupId: "h"), senderId: "AKID")
        let c = try await queues.send("c.fifo", OutgoingMessage(body: "hello", groupId: "g", deduplicationId: "explicit"), senderId: "AKID")
        #expect(a.messageId == b.messageId && c.messageId != a.messageId)
        let got = try await queues.receive("c.fifo", max: 10)
        #expect(got.count == 2)
        #expect(got[0].message.deduplicationId == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(got[1].message.deduplicationId == "explicit")

        try queues.createQueue(name: "s.fifo", attributes: ["FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"])
        let x = try await send("s.fifo", "1", group: "g", dedup: "d")
        let y = try await send("s.fifo", "2", group: "h", dedup: "d")
        let z = try await send("s.fifo", "3", group: "g", dedup: "d")
        #expect(x.messageId != y.messageId && z.messageId == x.messageId)
        #expect(try await queues.counts("s.fifo").visible == 2)
    }

    @Test("SequenceNumber: 20 decimal digits, increasing per queue, carried by the received message")
    func sequenceNumbers() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true"])
        var last: Decimal = 0
        for i in 0..<5 {
            let sent = try await send("q.fifo", "m\(i)", group: i % 2 == 0 ? "a" : "b")
            let sequence = try #require(sent.sequenceNumber)
            #expect(sequence.count == 20 && sequence.allSatisfy(\.isNumber))
            let value = try #require(Decimal(string: sequence))
            #expect(value > last)
            last = value
        }
        let got = try await queues.receive("q.fifo", max: 10)
        #expect(got.allSatisfy { $0.message.sequenceNumber != nil && $0.message.groupId != nil })
        try queues.createQueue(name: "std")
        #expect(try await queues.send("std", OutgoingMessage(body: "x"), senderId: "AKID").sequenceNumber == nil)
    }

    @Test("a group's messages come in send order; a group with a message in flight is locked until it is deleted or visible again; several groups in one receive")
    func groupOrderAndLocks() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true", "VisibilityTimeout": "10"])
        for i in 0..<4 { try await send("q.fifo", "a\(i)", group: "A") }
        for i in 0..<2 { try await send("q.fifo", "b\(i)", group: "B") }
        try await send("q.fifo", "a4", group: "A")
        // As many of the oldest group as fit, then the next group.
        let first = try await queues.receive("q.fifo", max: 3)
        #expect(bodies(first) == ["a0", "a1", "a2"])
        // A is locked while a0-a2 are in flight; B is free.
        let second = try await queues.receive("q.fifo", max: 10)
        #expect(bodies(second) == ["b0", "b1"])
        #expect(try await queues.receive("q.fifo", max: 10).isEmpty)
        // Deleting part of A's run keeps the lock; deleting all of it frees a3, a4 in order.
        try await queues.delete("q.fifo", receiptHandle: first[0].receiptHandle)
        try await queues.delete("q.fifo", receiptHandle: first[1].receiptHandle)
        #expect(try await queues.receive("q.fifo", max: 10).isEmpty)
        try await queues.delete("q.fifo", receiptHandle: first[2].receiptHandle)
        let third = try await queues.receive("q.fifo", max: 10)
        #expect(bodies(third) == ["a3", "a4"])
        // Made visible again (or the visibility ends), a message comes back first in its group.
        try await queues.changeVisibility("q.fifo", receiptHandle: third[1].receiptHandle, timeout: 0)
        #expect(try await queues.receive("q.fifo", max: 10).isEmpty, "a3 is still in flight: A stays locked")
        clock.advance(seconds: 10)
        let fourth = try await queues.receive("q.fifo", max: 10)
        #expect(bodies(fourth) == ["a3", "a4", "b0", "b1"])
        #expect(fourth[0].receiveCount == 2)
    }

    @Test("after maxReceiveCount the group's first message moves to the FIFO dead-letter queue, keeping group and sequence; the next one is free")
    func redrive() async throws {
        let dlq = try queues.createQueue(name: "dlq.fifo", attributes: ["FifoQueue": "true"])
        try queues.createQueue(name: "q.fifo", attributes: [
            "FifoQueue": "true", "VisibilityTimeout": "1",
            "RedrivePolicy": #"{"deadLetterTargetArn":"\#(queues.arn(dlq.name))","maxReceiveCount":"2"}"#,
        ])
        let poison = try await send("q.fifo", "poison", group: "g")
        try await send("q.fifo", "next", group: "g")
        for _ in 0..<2 {
            #expect(bodies(try await queues.receive("q.fifo", max: 1)) == ["poison"])
            clock.advance(seconds: 1)
        }
        #expect(bodies(try await queues.receive("q.fifo", max: 10)) == ["next"])
        let dead = try await queues.receive("dlq.fifo", max: 10)
        #expect(dead.map(\.message.messageId) == [poison.messageId])
        #expect(dead[0].message.groupId == "g" && dead[0].message.sequenceNumber == poison.sequenceNumber && dead[0].deadLetterSource == "q.fifo")
        let record = SQSEvent.record(dead[0], queueARN: queues.arn("dlq.fifo"), region: "us-east-1")
        let attributes = try #require(record["attributes"] as? [String: Any])
        #expect(attributes["DeadLetterQueueSourceArn"] as? String == queues.arn("q.fifo"))
    }

    @Test("ReceiveRequestAttemptId: a retry within 5 minutes gets the same messages and receipts while they are held; otherwise a new receive")
    func receiveAttempt() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true", "VisibilityTimeout": "30"])
        for i in 0..<3 { try await send("q.fifo", "m\(i)", group: "g\(i)") }
        let first = try await queues.receive("q.fifo", max: 2, attemptId: "try-1")
        #expect(bodies(first) == ["m0", "m1"])
        clock.advance(seconds: 20)
        let retry = try await queues.receive("q.fifo", max: 2, attemptId: "try-1")
        #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
        // The retry restarted their visibility: 20 s later they are still hidden.
        clock.advance(seconds: 20)
        #expect(bodies(try await queues.receive("q.fifo", max: 10)) == ["m2"])
        try await queues.delete("q.fifo", receiptHandles: first.map(\.receiptHandle))
        #expect(try await queues.receive("q.fifo", max: 2, attemptId: "try-1").isEmpty)
        await #expect(throws: QueueError.self) { try await queues.receive("q.fifo", max: 1, attemptId: String(repeating: "x", count: 129)) }
    }

    @Test("the SQS event of a FIFO message carries SequenceNumber, MessageGroupId and MessageDeduplicationId; a reported failure keeps the rest of its group")
    func mappingEvent() async throws {
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true"])
        for i in 0..<3 { try await send("q.fifo", "a\(i)", group: "A") }
        for i in 0..<2 { try await send("q.fifo", "b\(i)", group: "B") }
        let batch = try await queues.receive("q.fifo", max: 10)
        #expect(bodies(batch) == ["a0", "a1", "a2", "b0", "b1"])
        let record = SQSEvent.record(batch[0], queueARN: queues.arn("q.fifo"), region: "us-east-1")
        let attributes = try #require(record["attributes"] as? [String: String])
        #expect(attributes["MessageGroupId"] == "A" && attributes["MessageDeduplicationId"] == "a0" && attributes["SequenceNumber"] == batch[0].message.sequenceNumber)
        #expect(attributes["DeadLetterQueueSourceArn"] == nil)
        let ids = batch.map(\.message.messageId)
        #expect(SQSEvent.kept(batch, failed: [ids[1]]) == Set([ids[1], ids[2]]))
        #expect(SQSEvent.kept(batch, failed: [ids[3], ids[0]]) == Set([ids[0], ids[1], ids[2], ids[3], ids[4]]))
        // Mappings on FIFO queues: BatchSize at most 10, no batching window.
        let arn = queues.arn("q.fifo")
        #expect(throws: MappingError.self) { try EventSourceMapping(functionName: "f", eventSourceArn: arn, batchSize: 11, maximumBatchingWindowInSeconds: 1, lastModified: 0).validate() }
        #expect(throws: MappingError("Batching window is not supported for FIFO queues")) {
            try EventSourceMapping(functionName: "f", eventSourceArn: arn, batchSize: 10, maximumBatchingWindowInSeconds: 1, lastModified: 0).validate()
        }
        try EventSourceMapping(functionName: "f", eventSourceArn: arn, batchSize: 10, lastModified: 0).validate()
    }

    @Test("deduplication and order survive reopening the store's file; DeleteQueue forgets the queue's deduplication")
    func durableAcrossReopen() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-fifo-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("hearth.sqlite").path
        var first: SentMessage
        do {
            let store = try Store(path: path)
            let queues = try QueueService(ledger: Ledger(backend: SQLiteLedger(store: store), clock: clock), catalog: store, region: "us-east-1")
            try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true"])
            first = try await queues.send("q.fifo", OutgoingMessage(body: "1", groupId: "g", deduplicationId: "d1"), senderId: "AKID")
            _ = try await queues.send("q.fifo", OutgoingMessage(body: "2", groupId: "g", deduplicationId: "d2"), senderId: "AKID")
        }
        let store = try Store(path: path)
        let queues = try QueueService(ledger: Ledger(backend: SQLiteLedger(store: store), clock: clock), catalog: store, region: "us-east-1")
        let again = try await queues.send("q.fifo", OutgoingMessage(body: "1", groupId: "g", deduplicationId: "d1"), senderId: "AKID")
        #expect(again.messageId == first.messageId)
        let third = try await queues.send("q.fifo", OutgoingMessage(body: "3", groupId: "g", deduplicationId: "d3"), senderId: "AKID")
        #expect(Decimal(string: third.sequenceNumber!)! > Decimal(string: first.sequenceNumber!)!)
        #expect(bodies(try await queues.receive("q.fifo", max: 10)) == ["1", "2", "3"])
        try await queues.deleteQueue("q.fifo")
        try queues.createQueue(name: "q.fifo", attributes: ["FifoQueue": "true"])
        #expect(try await queues.send("q.fifo", OutgoingMessage(body: "1", groupId: "g", deduplicationId: "d1"), senderId: "AKID").messageId != first.messageId)
    }
}
