import Foundation
import HearthEvents
import HearthStore
import Testing

/// A queue service that records each message with its typed attributes, and knows only `known`.
final class RecordingQueues: QueueMessages, @unchecked Sendable {
    struct Sent { var queueARN: String; var body: String; var attributes: [String: QueueMessageAttribute] }
    private let lock = NSLock()
    let known: Set<String>
    private(set) var sent: [Sent] = []

    init(known: Set<String>) { self.known = known }

    func message(queueARN: String, body: String, attributes: [String: String], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        message(queueARN: queueARN, body: body, messageAttributes: attributes.mapValues { QueueMessageAttribute(dataType: "String", stringValue: $0) }, now: now)
    }

    func message(queueARN: String, body: String, messageAttributes: [String: QueueMessageAttribute], now: Int64) -> Result<NewLedgerItem, QueueMessageError> {
        guard known.contains(queueARN) else { return .failure(QueueMessageError("queue does not exist: \(queueARN)")) }
        lock.withLock { sent.append(Sent(queueARN: queueARN, body: body, attributes: messageAttributes)) }
        return .success(NewLedgerItem(kind: "sqs.message", queue: String(queueARN.split(separator: ":").last!), payload: Array(body.utf8), dueAt: now))
    }
}

final class DeadLetterObserver: AsyncObserver, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var failures: [String] = []
    func deadLetterFailed(function: String, reason: String) { lock.withLock { failures.append(reason) } }
}

/// A function's `DeadLetterConfig`: the failed event as sent, with Lambda's three message
/// attributes, added with the event's finish next to the OnFailure destination.
@Suite("asynchronous invocations: dead-letter queue")
struct DeadLetterTests {
    static let dlq = "arn:aws:sqs:us-east-1:000000000000:dlq"
    let clock = ManualLedgerClock()
    let ledger: Ledger
    let runner = ScriptedRunner()
    let queues = RecordingQueues(known: [DeadLetterTests.dlq, "arn:aws:sqs:us-east-1:000000000000:failures"])
    let observer = DeadLetterObserver()
    let engine: AsyncInvocations

    init() throws {
        ledger = Ledger(backend: SQLiteLedger(store: try Store.inMemory()), clock: clock)
        engine = AsyncInvocations(runner: runner, clock: clock, policy: .lambda, observer: observer, queues: queues)
    }

    func run(_ payload: String = #"{"order": 7}"#) async throws -> LedgerDecision? {
        let event = AsyncEvent(requestID: "req-1", function: "f", payload: payload)
        _ = try await ledger.add([event.ledgerItem(dueAt: clock.nowMs())])
        let items = try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "me", leaseMs: 960_000, limit: 10)
        guard let item = items.first else { return nil }
        let decision = await engine.handle(item)
        #expect(try await ledger.finish(id: item.id, owner: "me", decision: decision))
        return decision
    }

    @Test("retries exhausted: the event as sent goes to the DLQ with RequestID, ErrorCode 200 (Number), ErrorMessage; OnFailure fires too, in the same finish")
    func retriesExhausted() async throws {
        runner.settings = AsyncSettings(maximumRetryAttempts: 0, onFailure: "arn:aws:sqs:us-east-1:000000000000:failures", deadLetter: Self.dlq)
        runner.script = [.response(ScriptedRunner.failed)]
        let decision = try await run()
        guard case .fail("RetriesExhausted", 1, let followUps)? = decision else { Issue.record("\(String(describing: decision))"); return }
        #expect(followUps.count == 2)
        let dead = try #require(queues.sent.first { $0.queueARN == Self.dlq })
        #expect(dead.body == #"{"order": 7}"#, "the body is the event byte for byte, no envelope")
        #expect(dead.attributes == [
            "RequestID": QueueMessageAttribute(dataType: "String", stringValue: "req-1"),
            "ErrorCode": QueueMessageAttribute(dataType: "Number", stringValue: "200"),
            "ErrorMessage": QueueMessageAttribute(dataType: "String", stringValue: "boom"),
        ])
        let record = try #require(queues.sent.first { $0.queueARN.hasSuffix(":failures") })
        #expect(record.body.contains(#""condition":"RetriesExhausted""#))
        // Both messages were committed with the event's failure.
        let messages = try await ledger.read { try $0.items(kind: "sqs.message", queue: "dlq", limit: 10) }
        #expect(messages.count == 1)
    }

    @Test("success and a retry do not send to the DLQ")
    func notOnSuccessOrRetry() async throws {
        runner.settings = AsyncSettings(maximumRetryAttempts: 1, deadLetter: Self.dlq)
        runner.script = [.response(ScriptedRunner.failed)]
        guard case .retry? = try await run() else { Issue.record("expected a retry"); return }
        clock.advance(ms: 60_000)
        runner.script = [.response(ScriptedRunner.ok)]
        let items = try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "me", leaseMs: 960_000, limit: 10)
        let decision = await engine.handle(try #require(items.first))
        #expect(decision == .complete(followUps: []))
        #expect(queues.sent.isEmpty)
    }

    @Test("an event that expired without a response, and reserved concurrency 0, go to the DLQ with ErrorCode 429")
    func expiredAndThrottled() async throws {
        runner.settings = AsyncSettings(maximumEventAgeSeconds: 60, deadLetter: Self.dlq)
        let event = AsyncEvent(requestID: "req-2", function: "f", payload: "{}")
        _ = try await ledger.add([event.ledgerItem(dueAt: clock.nowMs())])
        clock.advance(ms: 60_000)
        let item = try #require(try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "me", leaseMs: 960_000, limit: 10).first)
        guard case .fail("EventAgeExceeded", 0, let followUps) = await engine.handle(item) else { Issue.record("expected EventAgeExceeded"); return }
        #expect(followUps.count == 1)
        #expect(queues.sent.last?.attributes["ErrorCode"]?.stringValue == "429")
        #expect(queues.sent.last?.attributes["RequestID"]?.stringValue == "req-2")

        runner.settings = AsyncSettings(reservedConcurrencyZero: true, deadLetter: Self.dlq)
        guard case .fail(_, 0, _)? = try await run() else { Issue.record("expected a failure"); return }
        #expect(queues.sent.count == 2 && queues.sent.last?.attributes["ErrorCode"]?.stringValue == "429")
        #expect(runner.attempts.isEmpty)
    }

    @Test("EventAgeExceeded after a function error keeps that error's code and message")
    func expiredAfterError() async throws {
        runner.settings = AsyncSettings(maximumRetryAttempts: 2, maximumEventAgeSeconds: 60, deadLetter: Self.dlq)
        runner.script = [.response(ScriptedRunner.failed)]
        guard case .retry? = try await run() else { Issue.record("expected a retry"); return }
        clock.advance(ms: 60_000)
        let item = try #require(try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "me", leaseMs: 960_000, limit: 10).first)
        guard case .fail("EventAgeExceeded", 1, _) = await engine.handle(item) else { Issue.record("expected EventAgeExceeded"); return }
        #expect(queues.sent.last?.attributes["ErrorCode"]?.stringValue == "200")
        #expect(queues.sent.last?.attributes["ErrorMessage"]?.stringValue == "boom")
    }

    @Test("a DLQ that no longer exists is a counted DeadLetterError; the OnFailure record still goes")
    func missingQueue() async throws {
        runner.settings = AsyncSettings(maximumRetryAttempts: 0, onFailure: "arn:aws:sqs:us-east-1:000000000000:failures",
                                        deadLetter: "arn:aws:sqs:us-east-1:000000000000:deleted")
        runner.script = [.response(ScriptedRunner.failed)]
        guard case .fail(_, 1, let followUps)? = try await run() else { Issue.record("expected a failure"); return }
        #expect(followUps.count == 1)
        #expect(observer.failures.count == 1 && observer.failures[0].contains("deleted"))
    }

    @Test("ErrorMessage is the error's errorMessage cut to its first 1 KB at a character boundary; a non-JSON error is taken as text")
    func errorMessage() {
        let long = String(repeating: "é", count: 700)  // 1400 bytes
        let payload = try! JSONSerialization.data(withJSONObject: ["errorMessage": long, "errorType": "Error"])
        let response = AttemptResponse(executedVersion: "$LATEST", functionARN: "x", payload: Array(payload), functionError: "Unhandled")
        let (code, message) = AsyncInvocations.deadLetterError(response, reason: nil)
        #expect(code == 200 && message.utf8.count == 1024 && message == String(repeating: "é", count: 512))
        let text = AttemptResponse(executedVersion: "$LATEST", functionARN: "x", payload: Array("Task timed out".utf8), functionError: "Unhandled")
        #expect(AsyncInvocations.deadLetterError(text, reason: nil) == (200, "Task timed out"))
    }
}
