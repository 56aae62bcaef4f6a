import Testing
@testable import HearthRuntimeAPI

func invocation(_ id: String, traceID: String? = nil) -> Invocation {
    Invocation(requestID: id, payload: Array("{\"n\":1}".utf8), deadlineMs: 1_700_000_000_123,
               functionARN: "arn:aws:lambda:us-east-1:123456789012:function:echo", traceID: traceID)
}

@Suite("RuntimeStateMachine")
struct RuntimeStateMachineTests {
    enum Step: Sendable {
        case next(Int, RuntimeStateMachine.NextAction)
        case invoke(Invocation, RuntimeStateMachine.InvokeAction)
        case post(String, RuntimeOutcome, RuntimeStateMachine.PostAction)
        case initError(String, RuntimeStateMachine.PostAction)
        case close(Int)
        case abandon
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var steps: [Step]
        var testDescription: String { name }
    }

    static let a = invocation("req-a")
    static let b = invocation("req-b")
    static let ok = RuntimeOutcome.response(body: Array("\"ok\"".utf8), streamed: false)
    static let crash = RuntimeOutcome.functionError(type: "Runtime.Crash", body: Array("{}".utf8))
    static let initFailure = RuntimeOutcome.initError(type: "Runtime.ExitError", body: [])

    static let scenarios: [Scenario] = [
        Scenario(name: "next before invoke parks; invoke delivers to the parked connection", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-a", ok, .accept(ok)),
            .next(1, .park(initCompleted: false)),
            .invoke(b, .deliver(b, to: 1)),
            .post("req-b", crash, .accept(crash)),
        ]),
        Scenario(name: "invoke before the first next queues; next delivers and completes init", steps: [
            .invoke(a, .queued),
            .next(7, .deliver(a, initCompleted: true)),
            .post("req-a", ok, .accept(ok)),
        ]),
        Scenario(name: "invoke while idle and unparked queues; the next /next delivers", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-a", ok, .accept(ok)),
            .invoke(b, .queued),
            .next(2, .deliver(b, initCompleted: false)),
            .post("req-b", ok, .accept(ok)),
        ]),
        Scenario(name: "wrong request id is rejected and the invocation stays current", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-z", ok, .reject(.invalidRequestID("req-z"))),
            .post("req-a", ok, .accept(ok)),
        ]),
        Scenario(name: "a second response for the same id is stale", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-a", ok, .accept(ok)),
            .post("req-a", crash, .reject(.invalidRequestID("req-a"))),
        ]),
        Scenario(name: "post before any invocation", steps: [
            .post("req-a", ok, .reject(.invalidRequestID("req-a"))),
            .next(1, .park(initCompleted: true)),
            .post("req-a", ok, .reject(.invalidRequestID("req-a"))),
        ]),
        Scenario(name: "next while invoking is an invalid transition", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .next(1, .reject(.invalidStateTransition("/next before a response or error for req-a"))),
            .post("req-a", ok, .accept(ok)),
        ]),
        Scenario(name: "a second parked next is an invalid transition", steps: [
            .next(1, .park(initCompleted: true)),
            .next(2, .reject(.invalidStateTransition("a /next request is already waiting"))),
            .invoke(a, .deliver(a, to: 1)),
        ]),
        Scenario(name: "closing the parked connection unparks; invoke then queues", steps: [
            .next(1, .park(initCompleted: true)),
            .close(1),
            .invoke(a, .queued),
            .next(2, .deliver(a, initCompleted: false)),
        ]),
        Scenario(name: "closing another connection keeps the parked one", steps: [
            .next(1, .park(initCompleted: true)),
            .close(2),
            .invoke(a, .deliver(a, to: 1)),
        ]),
        Scenario(name: "init error before the first next; later invokes fail with it", steps: [
            .initError("Runtime.ExitError", .accept(initFailure)),
            .invoke(a, .fail(initFailure)),
            .next(1, .reject(.invalidStateTransition("/next after /init/error"))),
            .initError("Runtime.ExitError", .reject(.invalidStateTransition("/init/error after initialization"))),
        ]),
        Scenario(name: "init error with a queued invocation", steps: [
            .invoke(a, .queued),
            .initError("Runtime.ExitError", .accept(initFailure)),
            .post("req-a", ok, .reject(.invalidRequestID("req-a"))),
        ]),
        Scenario(name: "init error after initialisation is an invalid transition", steps: [
            .next(1, .park(initCompleted: true)),
            .initError("Runtime.ExitError", .reject(.invalidStateTransition("/init/error after initialization"))),
            .invoke(a, .deliver(a, to: 1)),
            .initError("Runtime.ExitError", .reject(.invalidStateTransition("/init/error after initialization"))),
        ]),
        Scenario(name: "abandon, then the late post is rejected", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .abandon,
            .post("req-a", ok, .reject(.invalidRequestID("req-a"))),
            .next(1, .reject(.invalidStateTransition("/next after /init/error"))),
        ]),
    ]

    /// Issue 10 item 2: an answered invocation lasts until the runtime's next `/next`.
    static let afterResponse: [Scenario] = [
        Scenario(name: "after the answer, a repeated post is rejected and /next ends the invocation", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-a", ok, .accept(ok)),
            .post("req-a", ok, .reject(.invalidRequestID("req-a"))),
            .next(2, .park(initCompleted: false)),
            .invoke(b, .deliver(b, to: 2)),
        ]),
        Scenario(name: "abandoned after the answer (a timeout in post-response work): /next is refused", steps: [
            .next(1, .park(initCompleted: true)),
            .invoke(a, .deliver(a, to: 1)),
            .post("req-a", crash, .accept(crash)),
            .abandon,
            .next(1, .reject(.invalidStateTransition("/next after /init/error"))),
        ]),
    ]

    @Test("after the answer, the invocation lasts until /next", arguments: afterResponse)
    func runAfterResponse(_ scenario: Scenario) { run(scenario) }

    @Test func respondedRequestIDUntilNext() {
        var machine = RuntimeStateMachine()
        _ = machine.next(on: 1)
        _ = machine.invoke(Self.a)
        #expect(machine.respondedRequestID == nil)
        _ = machine.post(requestID: "req-a", outcome: Self.ok)
        #expect(machine.respondedRequestID == "req-a")
        #expect(machine.currentRequestID == nil)
        _ = machine.next(on: 1)
        #expect(machine.respondedRequestID == nil)
    }

    @Test("event sequence", arguments: scenarios)
    func run(_ scenario: Scenario) {
        var machine = RuntimeStateMachine()
        for (index, step) in scenario.steps.enumerated() {
            switch step {
            case .next(let connection, let expected):
                #expect(machine.next(on: connection) == expected, "step \(index)")
            case .invoke(let invocation, let expected):
                #expect(machine.invoke(invocation) == expected, "step \(index)")
            case .post(let id, let outcome, let expected):
                #expect(machine.post(requestID: id, outcome: outcome) == expected, "step \(index)")
            case .initError(let type, let expected):
                #expect(machine.initError(type: type, body: []) == expected, "step \(index)")
            case .close(let connection):
                machine.connectionClosed(connection)
            case .abandon:
                machine.abandon()
            }
        }
    }

    @Test func currentRequestIDAndHasInitialized() {
        var machine = RuntimeStateMachine()
        #expect(!machine.hasInitialized)
        #expect(machine.currentRequestID == nil)
        _ = machine.next(on: 1)
        #expect(machine.hasInitialized)
        _ = machine.invoke(Self.a)
        #expect(machine.currentRequestID == "req-a")
        _ = machine.post(requestID: "req-a", outcome: Self.ok)
        #expect(machine.currentRequestID == nil)
        #expect(machine.hasInitialized)
        machine.abandon()
        #expect(!machine.hasInitialized)
    }

    @Test func initErrorKeepsTypeAndBody() {
        var machine = RuntimeStateMachine()
        let body = Array("{\"errorMessage\":\"no handler\"}".utf8)
        let expected = RuntimeOutcome.initError(type: "Runtime.HandlerNotFound", body: body)
        #expect(machine.initError(type: "Runtime.HandlerNotFound", body: body) == .accept(expected))
        #expect(machine.invoke(Self.b) == .fail(expected))
        #expect(machine.invoke(Self.a) == .fail(expected))
    }
}

@Suite("RuntimeAPIError")
struct RuntimeAPIErrorTests {
    @Test("status and errorType", arguments: [
        (RuntimeAPIError.invalidRequestID("x"), 400, "InvalidRequestID"),
        (.invalidStateTransition("x"), 403, "InvalidStateTransition"),
        (.entityTooLarge(limit: 6_291_456), 413, "RequestEntityTooLarge"),
        (.notFound("/x"), 404, "NotFound"),
        (.methodNotAllowed("PUT /x"), 405, "MethodNotAllowed"),
        (.badRequest("bad"), 400, "InvalidRequest"),
    ])
    func statusAndType(error: RuntimeAPIError, status: Int, type: String) {
        #expect(error.status == status)
        #expect(error.errorType == type)
    }

    @Test func bodyIsAnErrorDocument() {
        #expect(RuntimeAPIError.invalidRequestID("a\"b").body
            == #"{"errorMessage":"Invalid request ID: a\"b","errorType":"InvalidRequestID"}"#)
        #expect(RuntimeAPIError.entityTooLarge(limit: 6_291_456).body
            == #"{"errorMessage":"Exceeded maximum allowed payload size (6291456 bytes).","errorType":"RequestEntityTooLarge"}"#)
    }
}
