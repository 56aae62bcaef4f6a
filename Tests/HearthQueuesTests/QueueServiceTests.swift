import Foundation
import HearthEvents
import HearthQueues
import HearthStore
import Testing

/// The queue engine on the real ledger (SQLite in memory) with an injected clock: visibility,
/// receipt handles, receive counts, redrive, delays, retention, purge, attributes, MD5s.
@Suite("SQS queue engine")
struct QueueServiceTests {
    let clock = ManualLedgerClock()
    let store: Store
    let ledger: Ledger
    let queues: QueueService

    init() throws {
        store = try Store.inMemory()
        ledger = Ledger(backend: SQLiteLedger(store: store), clock: clock)
        queues = try QueueService(ledger: ledger, catalog: store, region: "us-east-1")
    }

    func send(_ queue: String, _ body: String, delay: Int? = nil) async throws -> SentMessage {
        try await queues.send(queue, OutgoingMessage(body: body, delaySeconds: delay), senderId: "AKID")
    }

    @Test("a received message is hidden until its visibility timeout ends, then comes back with a new receipt and a higher count")
    func visibility() async throws {
        try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "10"])
        let sent = try await send("q", "hello")
        let first = try await queues.receive("q", max: 10)
        #expect(first.map(\.message.messageId) == [sent.messageId])
        #expect(first[0].receiveCount == 1 && first[0].firstReceiveTimestamp == clock.nowMs())
        #expect(try await queues.receive("q", max: 10).isEmpty)
        #expect(try await queues.counts("q") == LedgerQueueCounts(visible: 0, leased: 1, delayed: 0))
        clock.advance(seconds: 9.999)
        #expect(try await queues.receive("q", max: 10).isEmpty)
        let firstReceive = first[0].firstReceiveTimestamp
        clock.advance(ms: 1)
        let second = try await queues.receive("q", max: 10, visibilityTimeout: 5)
        #expect(second.count == 1 && second[0].receiveCount == 2 && second[0].receiptHandle != first[0].receiptHandle)
        #expect(second[0].firstReceiveTimestamp == firstReceive)
        // The old receipt no longer holds the message: deleting with it succeeds but deletes nothing.
        try await queues.delete("q", receiptHandle: first[0].receiptHandle)
        await #expect(throws: QueueError.messageNotInflight) { try await queues.changeVisibility("q", receiptHandle: first[0].receiptHandle, timeout: 0) }
        #expect(try await queues.counts("q").leased == 1)
        try await queues.delete("q", receiptHandle: second[0].receiptHandle)
        #expect(try await queues.counts("q") == LedgerQueueCounts())
        clock.advance(seconds: 60)
        #expect(try await queues.receive("q", max: 10).isEmpty)
        await #expect(throws: QueueError.receiptHandleIsInvalid("The input receipt handle \"garbage\" is not a valid receipt handle.")) {
            try await queues.delete("q", receiptHandle: "garbage")
        }
    }

    @Test("ChangeMessageVisibility extends the lease or (0) makes the message visible at once; the same receipt still deletes")
    func changeVisibility() async throws {
        try queues.createQueue(name: "q")
        _ = try await send("q", "a")
        let got = try await queues.receive("q", max: 1)
        try await queues.changeVisibility("q", receiptHandle: got[0].receiptHandle, timeout: 100)
        clock.advance(seconds: 99)
        #expect(try await queues.receive("q", max: 1).isEmpty)
        try await queues.changeVisibility("q", receiptHandle: got[0].receiptHandle, timeout: 0)
        let again = try await queues.receive("q", max: 1)
        #expect(again.count == 1 && again[0].receiveCount == 2)
        try await queues.changeVisibility("q", receiptHandle: again[0].receiptHandle, timeout: 30)
        try await queues.delete("q", receiptHandle: again[0].receiptHandle)
        #expect(try await queues.counts("q") == LedgerQueueCounts())
    }

    @Test("after maxReceiveCount receives a message moves to the dead-letter queue, keeping its id and body")
    func redrive() async throws {
        let dlq = try queues.createQueue(name: "dlq")
        #expect(throws: QueueError.self) {
            try queues.createQueue(name: "bad", attributes: ["RedrivePolicy": #"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:none","maxReceiveCount":"2"}"#])
        }
        try queues.createQueue(name: "src", attributes: [
            "VisibilityTimeout": "1", "RedrivePolicy": #"{"deadLetterTargetArn":"\#(queues.arn(dlq.name))","maxReceiveCount":"2"}"#,
        ])
        let sent = try await send("src", "poison")
        for n in 1...2 {
            let got = try await queues.receive("src", max: 1)
            #expect(got.count == 1 && got[0].receiveCount == n)
            clock.advance(seconds: 1)
        }
        #expect(try await queues.receive("src", max: 1).isEmpty)
        let dead = try await queues.receive("dlq", max: 10)
        #expect(dead.map(\.message.messageId) == [sent.messageId])
        // ApproximateReceiveCount counts receives across queues (ADR 0024): the DLQ's first is the third.
        #expect(dead[0].message.body == "poison" && dead[0].receiveCount == 3 && dead[0].deadLetterSource == "src")
        #expect(try queues.deadLetterSources(of: "dlq") == ["src"])
        let attributes = try await queues.attributes(of: "src", names: ["RedrivePolicy"])
        #expect(attributes["RedrivePolicy"] == #"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#)
    }

    @Test("delays (queue and per message) hold messages back and are counted as delayed; retention deletes old ones")
    func delaysAndRetention() async throws {
        try queues.createQueue(name: "q", attributes: ["DelaySeconds": "5", "MessageRetentionPeriod": "60"])
        _ = try await send("q", "queue delay")
        _ = try await send("q", "no delay", delay: 0)
        #expect(try await queues.counts("q") == LedgerQueueCounts(visible: 1, leased: 0, delayed: 1))
        let now = try await queues.receive("q", max: 10)
        #expect(now.map(\.message.body) == ["no delay"])
        clock.advance(seconds: 5)
        #expect(try await queues.receive("q", max: 10).map(\.message.body) == ["queue delay"])
        clock.advance(seconds: 56)
        #expect(try await queues.receive("q", max: 10).isEmpty)
        #expect(try await queues.counts("q") == LedgerQueueCounts())
    }

    @Test("CreateQueue is idempotent with equal attributes, QueueNameExists otherwise; a .fifo name and FifoQueue=true need each other; attributes validate")
    func createAndAttributes() async throws {
        let first = try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "45"])
        #expect(try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "45"]) == first)
        #expect(try queues.createQueue(name: "q") == first)
        #expect(throws: QueueError.queueNameExists(attribute: "VisibilityTimeout")) { try queues.createQueue(name: "q", attributes: ["VisibilityTimeout": "46"]) }
        #expect(throws: QueueError.self) { try queues.createQueue(name: "f.fifo") }
        #expect(throws: QueueError.self) { try queues.createQueue(name: "g", attributes: ["FifoQueue": "true"]) }
        #expect(throws: QueueError.invalidAttributeValue("Invalid value for the parameter VisibilityTimeout.")) {
            try queues.createQueue(name: "h", attributes: ["VisibilityTimeout": "43201"])
        }
        #expect(throws: QueueError.invalidAttributeName("Unknown Attribute Nope.")) { try queues.createQueue(name: "h", attributes: ["Nope": "1"]) }
        #expect(throws: QueueError.self) { try queues.createQueue(name: "bad name") }
        try queues.setAttributes(of: "q", ["DelaySeconds": "3"])
        let all = try await queues.attributes(of: "q", names: ["All"])
        #expect(all["VisibilityTimeout"] == "45" && all["DelaySeconds"] == "3" && all["MaximumMessageSize"] == "262144")
        #expect(all["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:q" && all["ApproximateNumberOfMessages"] == "0")
        #expect(all["CreatedTimestamp"] == String(clock.nowMs() / 1000))
        #expect(queues.listQueues(prefix: "q") == ["q"])
        // Queues survive a restart of the service (the catalog is the store).
        let again = try QueueService(ledger: ledger, catalog: store, region: "us-east-1")
        #expect(try again.queue(named: "q").visibilityTimeout == 45)
    }

    @Test("PurgeQueue deletes every message, once a minute; DeleteQueue removes queue and messages")
    func purgeAndDelete() async throws {
        try queues.createQueue(name: "q")
        for i in 0..<5 { _ = try await send("q", "m\(i)") }
        _ = try await queues.receive("q", max: 2)
        try await queues.purge("q")
        #expect(try await queues.counts("q") == LedgerQueueCounts())
        await #expect(throws: QueueError.self) { try await queues.purge("q") }
        clock.advance(seconds: 60)
        try await queues.purge("q")
        _ = try await send("q", "x")
        try await queues.deleteQueue("q")
        await #expect(throws: QueueError.queueDoesNotExist) { try await queues.receive("q", max: 1) }
        #expect(try await ledger.read { try $0.items(kind: QueueLedgerKind.message, queue: "q", limit: 10) }.isEmpty)
    }

    @Test("MD5s are SQS's: body MD5 and the length-prefixed attribute encoding (expected values from Python's hashlib)")
    func md5() throws {
        // The Lambda developer guide's example record: "Test message." has md5OfBody e4e68fb7….
        #expect(MessageMD5.body("Test message.") == "e4e68fb7bd0e697a0ae8f1bb342846b3")
        let attributes = ["Population": MessageAttributeValue(dataType: "Number", stringValue: "1250800"),
                          "City": MessageAttributeValue(dataType: "String", stringValue: "Any City")]
        #expect(MessageMD5.attributes(attributes) == "bf1eb494fecc925abadc71de4be9785c")
        #expect(MessageMD5.attributes(["b": MessageAttributeValue(dataType: "Binary", binaryValue: Data([1, 2, 3]))]) == "021a32e1d0c0389c8e1f0ae6830eb61a")
    }

    @Test("messages other producers add through QueueMessages arrive; a long poll returns as soon as one does")
    func queueMessagesAndLongPoll() async throws {
        try queues.createQueue(name: "q")
        let producer: any QueueMessages = queues
        let missing = producer.message(queueARN: "arn:aws:sqs:us-east-1:000000000000:none", body: "x", attributes: [:], now: 0)
        if case .success = missing { Issue.record("a message for a missing queue was accepted") }
        let waiting = Task { try await queues.receive("q", max: 1, waitSeconds: 20) }
        try await Task.sleep(for: .milliseconds(100))
        let item = try producer.message(queueARN: queues.arn("q"), body: "{\"record\":1}", attributes: ["k": "v"], now: clock.nowMs()).get()
        let started = Date()
        try await ledger.add([item])
        let got = try await waiting.value
        #expect(got.first?.message.body == "{\"record\":1}" && got.first?.message.attributes?["k"]?.stringValue == "v")
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("a supervisor's start-up recovery leaves client-held leases (visibility timeouts) alone")
    func recoveryKeepsVisibility() async throws {
        try queues.createQueue(name: "q")
        _ = try await send("q", "a")
        _ = try await queues.receive("q", max: 1)
        let now = clock.nowMs()
        let recovered = try await ledger.read { try $0.recoverAbandoned(keeping: "", now: now) }
        #expect(recovered == 0)
        #expect(try await queues.receive("q", max: 1).isEmpty)
    }

    @Test("the partial batch response: only listed ids fail; malformed or unknown ids fail the whole batch")
    func partialBatch() {
        let ids: Set<String> = ["a", "b"]
        #expect(SQSEvent.failedItems(response: Array(#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#.utf8), batchIds: ids) == ["b"])
        #expect(SQSEvent.failedItems(response: Array(#"{"batchItemFailures":[]}"#.utf8), batchIds: ids) == [])
        #expect(SQSEvent.failedItems(response: Array("null".utf8), batchIds: ids) == [])
        #expect(SQSEvent.failedItems(response: [], batchIds: ids) == [])
        #expect(SQSEvent.failedItems(response: Array(#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#.utf8), batchIds: ids) == nil)
        #expect(SQSEvent.failedItems(response: Array(#"{"batchItemFailures":[{"itemIdentifier":""}]}"#.utf8), batchIds: ids) == nil)
        #expect(SQSEvent.failedItems(response: Array(#"{"batchItemFailures":[{"id":"a"}]}"#.utf8), batchIds: ids) == nil)
        #expect(SQSEvent.failedItems(response: Array("{not json".utf8), batchIds: ids) == nil)
    }

    @Test("event patterns: exact, prefix, numeric, exists, anything-but on body and attributes")
    func patterns() throws {
        let record: [String: Any] = ["body": ["kind": "order", "amount": 12, "tags": ["a", "b"]], "attributes": ["SenderId": "X"]]
        #expect(try EventPattern(parsing: #"{"body":{"kind":["order"]}}"#).matches(record))
        #expect(try !EventPattern(parsing: #"{"body":{"kind":["refund"]}}"#).matches(record))
        #expect(try EventPattern(parsing: #"{"body":{"kind":[{"prefix":"ord"}],"amount":[{"numeric":[">",10,"<=",12]}]}}"#).matches(record))
        #expect(try EventPattern(parsing: #"{"body":{"missing":[{"exists":false}],"tags":["b"]}}"#).matches(record))
        #expect(try !EventPattern(parsing: #"{"body":{"kind":[{"anything-but":["order"]}]}}"#).matches(record))
        #expect(throws: MappingError.self) { try EventPattern(parsing: #"{"body":"x"}"#) }
    }
}
