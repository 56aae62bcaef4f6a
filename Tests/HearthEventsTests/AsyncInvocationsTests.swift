import Foundation
import HearthEvents
import HearthStore
import Testing

/// A scripted platform: each attempt's outcome comes from `script`, in order.
final class ScriptedRunner: AsyncFunctionRunner, @unchecked Sendable {
    private let lock = NSLock()
    var settings = AsyncSettings()
    var script: [AttemptOutcome] = []
    var attempts: [(AsyncEvent, Int)] = []
    var destinationsMissing: Set<String> = []

    var settingsFailures = 0

    func settings(for event: AsyncEvent) async throws -> AsyncSettings? {
        try lock.withLock {
            if settingsFailures > 0 {
                settingsFailures -= 1
                throw DestinationError("database is locked")
            }
            return event.function == "gone" ? nil : settings
        }
    }

    func attempt(_ event: AsyncEvent, invokeCount: Int) async -> AttemptOutcome {
        lock.withLock {
            attempts.append((event, invokeCount))
            return script.isEmpty ? .response(Self.ok) : script.removeFirst()
        }
    }

    func functionARN(for event: AsyncEvent) -> String {
        "arn:aws:lambda:us-east-1:000000000000:function:\(event.function):\(event.qualifier ?? "$LATEST")"
    }

    func destinationEvent(arn: String, record: [UInt8], source: AsyncEvent) -> Result<AsyncEvent, DestinationError> {
        let name = String(arn.split(separator: ":")[6])
        if destinationsMissing.contains(name) { return .failure(DestinationError("function not found: \(arn)")) }
        return .success(AsyncEvent(requestID: "dest-\(source.requestID)", function: name, payload: String(decoding: record, as: UTF8.self)))
    }

    static let ok = AttemptResponse(executedVersion: "$LATEST", functionARN: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                                    payload: Array(#"{"ok":true}"#.utf8), functionError: nil)
    static let failed = AttemptResponse(executedVersion: "$LATEST", functionARN: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                                        payload: Array(#"{"errorMessage":"boom","errorType":"Error"}"#.utf8), functionError: "Unhandled")
}

final class RecordingObserver: AsyncObserver, @unchecked Sendable {
    private let lock = NSLock()
    var dropped: [String] = []
    var lines: [String] = []
    var redelivered = 0
    func eventDropped(function: String, reason: String) { lock.lock(); dropped.append(reason); lock.unlock() }
    func log(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    func eventStarted(function: String, ageMs: Int64, redelivered: Bool) { if redelivered { lock.lock(); self.redelivered += 1; lock.unlock() } }
}

/// Lambda's asynchronous semantics driven through the real ledger with a manual clock: no sleeping.
@Suite("asynchronous invocations")
struct AsyncInvocationsTests {
    let clock = ManualLedgerClock()
    let ledger: Ledger
    let runner = ScriptedRunner()
    let observer = RecordingObserver()
    let engine: AsyncInvocations

    init() throws {
        ledger = Ledger(backend: SQLiteLedger(store: try Store.inMemory()), clock: clock)
        engine = AsyncInvocations(runner: runner, clock: clock, policy: .lambda, observer: observer)
    }

    func accept(_ event: AsyncEvent = AsyncEvent(requestID: "r1", function: "f", payload: #"{"n":1}"#)) async throws -> Int64 {
        try #require(try await ledger.add([event.ledgerItem(dueAt: clock.nowMs())]).first ?? nil)
    }

    /// Claims what is due and runs it through the engine; returns the decisions.
    @discardableResult
    func step() async throws -> [LedgerDecision] {
        var decisions: [LedgerDecision] = []
        for item in try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "me", leaseMs: 960_000, limit: 10) {
            let decision = await engine.handle(item)
            #expect(try await ledger.finish(id: item.id, owner: "me", decision: decision))
            decisions.append(decision)
        }
        return decisions
    }

    func pending(_ queue: String) async throws -> [LedgerItem] {
        try await ledger.read { try $0.items(kind: LedgerKind.lambdaInvoke, queue: queue, limit: 100) }
    }

    @Test("a function error is retried twice, 1 minute then 2 minutes later, then its record goes to OnFailure")
    func retriesThenFailure() async throws {
        runner.settings.onFailure = "arn:aws:lambda:us-east-1:000000000000:function:dlq"
        runner.script = [.response(ScriptedRunner.failed), .response(ScriptedRunner.failed), .response(ScriptedRunner.failed)]
        let id = try await accept()
        try await step()
        var item = try #require(try await ledger.read { try $0.item(id: id) })
        #expect(item.attempts == 1 && item.dueAt == clock.nowMs() + 60_000)
        clock.advance(ms: 59_999)
        #expect(try await step().isEmpty)
        clock.advance(ms: 1)
        try await step()
        item = try #require(try await ledger.read { try $0.item(id: id) })
        #expect(item.attempts == 2 && item.dueAt == clock.nowMs() + 120_000)
        clock.advance(ms: 120_000)
        let last = try await step()
        guard case .fail(let reason, let attempts, let followUps)? = last.first else { Issue.record("expected a failure: \(last)"); return }
        #expect(reason == "RetriesExhausted" && attempts == 3)
        #expect(runner.attempts.map(\.1) == [1, 2, 3])
        #expect(runner.attempts.allSatisfy { $0.0.requestID == "r1" })
        let destination = try #require(followUps.first)
        #expect(destination.queue == "dlq")
        let event = try AsyncEvent.decode(destination.payload)
        #expect(event.hops == 1 && event.destinationOf == "f")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any])
        let context = try #require(record["requestContext"] as? [String: Any])
        #expect(context["condition"] as? String == "RetriesExhausted" && context["approximateInvokeCount"] as? Int == 3)
        #expect(context["requestId"] as? String == "r1")
        #expect((record["responseContext"] as? [String: Any])?["functionError"] as? String == "Unhandled")
        #expect((record["requestPayload"] as? [String: Any])?["n"] as? Int == 1)
        #expect(try await pending("dlq").count == 1)
    }

    @Test("MaximumRetryAttempts 0: the first failure is final")
    func noRetries() async throws {
        runner.settings.maximumRetryAttempts = 0
        runner.script = [.response(ScriptedRunner.failed)]
        _ = try await accept()
        let decisions = try await step()
        guard case .fail(let reason, 1, let followUps)? = decisions.first else { Issue.record("\(decisions)"); return }
        #expect(reason == "RetriesExhausted" && followUps.isEmpty)
    }

    @Test("throttles back off 1 s, 2 s, 4 s … up to 5 minutes without using up retries")
    func throttleBackoff() async throws {
        runner.script = Array(repeating: .throttled(reason: "ConcurrentInvocationLimitExceeded"), count: 12) + [.response(ScriptedRunner.ok)]
        let id = try await accept()
        var delays: [Int64] = []
        for _ in 0..<12 {
            try await step()
            let item = try #require(try await ledger.read { try $0.item(id: id) })
            #expect(item.attempts == 0)
            delays.append(item.dueAt - clock.nowMs())
            clock.advance(ms: item.dueAt - clock.nowMs())
        }
        #expect(delays == [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000])
        let done = try await step()
        #expect(done == [.complete(followUps: [])])
        #expect(try await ledger.read { try $0.item(id: id) } == nil)
        #expect(runner.attempts.last?.1 == 1)
    }

    @Test("no retry waits past MaximumEventAgeInSeconds: the event is due at its expiry and fails EventAgeExceeded there")
    func eventAge() async throws {
        runner.settings.maximumEventAgeSeconds = 90
        runner.settings.onFailure = "arn:aws:lambda:us-east-1:000000000000:function:dlq"
        runner.script = [.response(ScriptedRunner.failed), .response(ScriptedRunner.failed)]
        let id = try await accept()
        let accepted = clock.nowMs()
        try await step()  // attempt 1 fails; retry due at +60 s
        clock.advance(ms: 60_000)
        try await step()  // attempt 2 fails; the retry would be at +180 s, past the expiry at +90 s
        let item = try #require(try await ledger.read { try $0.item(id: id) })
        #expect(item.dueAt == accepted + 90_000)
        clock.advance(ms: 30_000)
        let decisions = try await step()
        guard case .fail(let reason, 2, let followUps)? = decisions.first else { Issue.record("\(decisions)"); return }
        #expect(reason == "EventAgeExceeded")
        #expect(runner.attempts.count == 2)
        let record = try JSONSerialization.jsonObject(with: Data(try AsyncEvent.decode(followUps[0].payload).payload.utf8)) as? [String: Any]
        let context = record?["requestContext"] as? [String: Any]
        #expect(context?["condition"] as? String == "EventAgeExceeded" && context?["approximateInvokeCount"] as? Int == 2)
        #expect(record?["responsePayload"] != nil, "the last attempt's response is kept")
    }

    @Test("an event that never ran and expired has no responseContext")
    func expiredWithoutAttempt() async throws {
        runner.settings.maximumEventAgeSeconds = 60
        runner.settings.onFailure = "arn:aws:lambda:us-east-1:000000000000:function:dlq"
        _ = try await accept()
        clock.advance(ms: 60_000)
        let decisions = try await step()
        guard case .fail("EventAgeExceeded", 0, let followUps)? = decisions.first else { Issue.record("\(decisions)"); return }
        let text = try AsyncEvent.decode(followUps[0].payload).payload
        #expect(!text.contains("responseContext") && !text.contains("responsePayload") && text.contains(#""approximateInvokeCount":0"#))
        #expect(runner.attempts.isEmpty)
    }

    @Test("reserved concurrency 0 sends the event straight to the failure path, with no attempt")
    func reservedZero() async throws {
        runner.settings.reservedConcurrencyZero = true
        runner.settings.onFailure = "arn:aws:lambda:us-east-1:000000000000:function:dlq"
        _ = try await accept()
        let decisions = try await step()
        guard case .fail(_, 0, let followUps)? = decisions.first else { Issue.record("\(decisions)"); return }
        #expect(followUps.count == 1 && runner.attempts.isEmpty)
        #expect(observer.dropped == ["ReservedConcurrencyZero"])
    }

    @Test("success sends a record without functionError to OnSuccess")
    func success() async throws {
        runner.settings.onSuccess = "arn:aws:lambda:us-east-1:000000000000:function:audit:live"
        _ = try await accept()
        let decisions = try await step()
        guard case .complete(let followUps)? = decisions.first, let next = followUps.first else { Issue.record("\(decisions)"); return }
        let event = try AsyncEvent.decode(next.payload)
        #expect(event.function == "audit")
        #expect(event.payload.contains(#""condition":"Success","approximateInvokeCount":1}"#))
        #expect(event.payload.contains(#""responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"responsePayload":{"ok":true}}"#))
    }

    @Test("a destination chain that loops is stopped after 16 hops, logged and counted")
    func recursiveLoop() async throws {
        runner.settings.onSuccess = "arn:aws:lambda:us-east-1:000000000000:function:f"
        _ = try await accept(AsyncEvent(requestID: "loop", function: "f", payload: "{}"))
        var rounds = 0
        while try await !pending("f").isEmpty, rounds < 40 {
            try await step()
            rounds += 1
        }
        #expect(runner.attempts.count == AsyncInvocations.maxDestinationHops)
        #expect(runner.attempts.map(\.0.hops) == Array(0..<16))
        #expect(observer.dropped == ["RecursiveInvocationLoop"])
        #expect(observer.lines.count == 1 && observer.lines[0].contains("recursive invocation loop"))
    }

    @Test("a deleted function's events are dropped; a missing destination is counted, not retried")
    func goneAndUndeliverable() async throws {
        _ = try await accept(AsyncEvent(requestID: "x", function: "gone", payload: "{}"))
        guard case .fail(let reason, 0, [])? = try await step().first else { Issue.record("not dropped"); return }
        #expect(reason.hasPrefix("FunctionNotFound"))
        runner.settings.onSuccess = "arn:aws:lambda:us-east-1:000000000000:function:nowhere"
        runner.destinationsMissing = ["nowhere"]
        _ = try await accept()
        #expect(try await step() == [.complete(followUps: [])])
        #expect(observer.lines.last?.contains("not delivered") == true)
    }

    @Test("settings that cannot be read are a transient failure: retried with backoff, not dropped")
    func settingsUnavailable() async throws {
        runner.settingsFailures = 1
        let id = try await accept()
        let decisions = try await step()
        guard case .retry(let due, 0, _, let error)? = decisions.first else { Issue.record("\(decisions)"); return }
        #expect(due == clock.nowMs() + 1000 && error.contains("database is locked"))
        clock.advance(ms: 1000)
        #expect(try await step() == [.complete(followUps: [])])
        #expect(try await ledger.read { try $0.item(id: id) } == nil)
    }

    @Test("a redelivery after a crash is reported once")
    func redelivery() async throws {
        runner.script = [.throttled(reason: "x")]
        let id = try await accept()
        _ = try await ledger.claim(kind: LedgerKind.lambdaInvoke, owner: "dead", leaseMs: 960_000, limit: 1)
        let now = clock.nowMs()
        _ = try await ledger.read { try $0.recoverAbandoned(keeping: "me", now: now) }
        try await step()
        clock.advance(ms: 1000)
        try await step()
        #expect(observer.redelivered == 1)
        #expect(try await ledger.read { try $0.item(id: id) } == nil)
    }
}

@Suite("invocation record")
struct InvocationRecordTests {
    @Test("the failure record, byte for byte (AWS's documented example, compact)")
    func failureRecord() {
        let response = AttemptResponse(executedVersion: "$LATEST", functionARN: "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
                                       payload: Array(#"{"errorMessage":"RequestId: e4b46cbf-b738-xmpl-8880-a18cdf61200e Process exited before completing request"}"#.utf8),
                                       functionError: "Unhandled")
        let json = InvocationRecordDocument.json(
            requestID: "e4b46cbf-b738-xmpl-8880-a18cdf61200e", functionARN: response.functionARN, condition: .retriesExhausted,
            approximateInvokeCount: 3, requestPayload: Array(#"{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}"#.utf8),
            response: response, timestampMs: 1_573_755_365_568)
        let expected = #"{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","requestContext":{"requestId":"e4b46cbf-b738-xmpl-8880-a18cdf61200e","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3},"requestPayload":{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"responsePayload":{"errorMessage":"RequestId: e4b46cbf-b738-xmpl-8880-a18cdf61200e Process exited before completing request"}}"#
        #expect(String(decoding: json, as: UTF8.self) == expected)
    }

    @Test("the success record, byte for byte; a non-JSON response is embedded as a string")
    func successRecord() {
        let response = AttemptResponse(executedVersion: "$LATEST", functionARN: "arn:aws:lambda:sa-east-1:123456789123:function:event-destinations:$LATEST",
                                       payload: Array("<data returned by the function here>".utf8), functionError: nil)
        let json = InvocationRecordDocument.json(
            requestID: "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2", functionARN: response.functionARN, condition: .success,
            approximateInvokeCount: 1, requestPayload: Array(#"{"Success": true}"#.utf8), response: response, timestampMs: 1_574_636_905_651)
        let expected = #"{"version":"1.0","timestamp":"2019-11-24T23:08:25.651Z","requestContext":{"requestId":"c2a6f2ae-7dbb-4d22-8782-d0485c9877e2","functionArn":"arn:aws:lambda:sa-east-1:123456789123:function:event-destinations:$LATEST","condition":"Success","approximateInvokeCount":1},"requestPayload":{"Success": true},"responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"responsePayload":"<data returned by the function here>"}"#
        #expect(String(decoding: json, as: UTF8.self) == expected)
    }

    @Test("retry delays and throttle backoff follow the policy")
    func policy() {
        let p = AsyncRetryPolicy.lambda
        #expect(p.retryDelay(afterAttempt: 1) == 60_000 && p.retryDelay(afterAttempt: 2) == 120_000)
        #expect((1...10).map(p.throttleDelay(afterThrottle:)) == [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000])
        #expect(p.throttleDelay(afterThrottle: 500) == 300_000)
    }
}
