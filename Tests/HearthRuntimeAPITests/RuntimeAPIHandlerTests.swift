import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing
@testable import HearthRuntimeAPI

/// Servers are never released: their `initialized` / `initFailed` promises stay unfulfilled in
/// most tests, and NIO traps on a leaked promise in debug builds.
private let keepAlive = Mutex<[RuntimeAPIServer]>([])

final class OutcomeBox: @unchecked Sendable {
    var result: Result<RuntimeOutcome, any Error>?
    var outcome: RuntimeOutcome? { try? result?.get() }
}

struct Response {
    var head: HTTPResponseHead
    var body: String
    var status: HTTPResponseStatus { head.status }
    func header(_ name: String) -> [String] { head.headers[name] }
    /// `errorType` of an error document body.
    var errorType: String? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["errorType"] as? String
    }
}

/// A `RuntimeAPIHandler` on an `EmbeddedChannel`, fed `HTTPServerRequestPart`s directly (no codec).
final class Harness {
    let loop: EmbeddedEventLoop
    let server: RuntimeAPIServer
    let channel: EmbeddedChannel

    init() throws {
        loop = EmbeddedEventLoop()
        let server = RuntimeAPIServer(eventLoop: loop)
        keepAlive.withLock { $0.append(server) }
        self.server = server
        channel = try Self.connect(server: server, loop: loop)
    }

    /// Another runtime connection to the same server.
    static func connect(server: RuntimeAPIServer, loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(RuntimeAPIHandler(server: server))
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 9001), promise: nil)
        return channel
    }

    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
              trailers: HTTPHeaders? = nil, on channel: EmbeddedChannel? = nil) throws {
        let channel = channel ?? self.channel
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        if let body { try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: body))) }
        try channel.writeInbound(HTTPServerRequestPart.end(trailers))
        loop.run()
    }

    /// The next complete response written on `channel`, or nil when nothing was written.
    func response(on channel: EmbeddedChannel? = nil) throws -> Response? {
        let channel = channel ?? self.channel
        guard let first = try channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        guard case .head(let head) = first else { Issue.record("expected a head, got \(first)"); return nil }
        var body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head: Issue.record("second head before end")
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: Issue.record("unexpected file region")
            case .end: return Response(head: head, body: body)
            }
        }
        Issue.record("response without end")
        return nil
    }

    func invoke(_ invocation: Invocation) -> OutcomeBox {
        let box = OutcomeBox()
        server.invoke(invocation).whenComplete { box.result = $0 }
        loop.run()
        return box
    }

    /// GET /next (parks), then invoke; returns the delivered response and the outcome box.
    func parkAndInvoke(_ invocation: Invocation) throws -> (Response, OutcomeBox) {
        try send(.GET, nextPath)
        let box = invoke(invocation)
        return (try #require(try response()), box)
    }
}

let nextPath = "/2018-06-01/runtime/invocation/next"
func responsePath(_ id: String) -> String { "/2018-06-01/runtime/invocation/\(id)/response" }
func errorPath(_ id: String) -> String { "/2018-06-01/runtime/invocation/\(id)/error" }
let initErrorPath = "/2018-06-01/runtime/init/error"

@Suite("RuntimeAPIHandler (EmbeddedChannel)")
struct RuntimeAPIHandlerTests {
    @Test func nextParksThenInvokeDeliversWithLambdaHeaders() throws {
        let h = try Harness()
        let initialized = OutcomeBox()
        h.server.initialized.whenSuccess { initialized.result = .success(.response(body: [], streamed: false)) }
        try h.send(.GET, nextPath)
        #expect(try h.response() == nil)  // parked: nothing written yet
        #expect(initialized.result != nil)
        let box = h.invoke(invocation("req-1"))
        let r = try #require(try h.response())
        #expect(r.status == .ok)
        #expect(r.body == "{\"n\":1}")
        #expect(r.header("Content-Type") == ["application/json"])
        #expect(r.header("Lambda-Runtime-Aws-Request-Id") == ["req-1"])
        #expect(r.header("Lambda-Runtime-Deadline-Ms") == ["1700000000123"])
        #expect(r.header("Lambda-Runtime-Invoked-Function-Arn") == ["arn:aws:lambda:us-east-1:123456789012:function:echo"])
        #expect(r.header("Content-Length") == ["7"])
        #expect(r.header("Lambda-Runtime-Trace-Id").isEmpty)
        #expect(r.header("Lambda-Runtime-Client-Context").isEmpty)
        #expect(r.header("Lambda-Runtime-Cognito-Identity").isEmpty)
        #expect(box.result == nil)
    }

    @Test func optionalHeadersAreSentWhenSet() throws {
        let h = try Harness()
        var inv = invocation("req-1", traceID: "Root=1-5e1b4151-5ac6c58f5b5daa6532e4a4b2;Sampled=1")
        inv.clientContext = "{\"custom\":{}}"
        inv.cognitoIdentity = "{\"cognitoIdentityId\":\"x\"}"
        let (r, _) = try h.parkAndInvoke(inv)
        #expect(r.header("Lambda-Runtime-Trace-Id") == ["Root=1-5e1b4151-5ac6c58f5b5daa6532e4a4b2;Sampled=1"])
        #expect(r.header("Lambda-Runtime-Client-Context") == ["{\"custom\":{}}"])
        #expect(r.header("Lambda-Runtime-Cognito-Identity") == ["{\"cognitoIdentityId\":\"x\"}"])
    }

    @Test func invokeBeforeNextIsDeliveredOnNext() throws {
        let h = try Harness()
        let box = h.invoke(invocation("req-q"))
        #expect(try h.response() == nil)
        try h.send(.GET, nextPath)
        let r = try #require(try h.response())
        #expect(r.status == .ok)
        #expect(r.header("Lambda-Runtime-Aws-Request-Id") == ["req-q"])
        try h.send(.POST, responsePath("req-q"), body: Array("1".utf8))
        #expect(box.outcome == .response(body: Array("1".utf8), streamed: false))
    }

    @Test func responseIsAcceptedAndCompletesTheInvocation() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, responsePath("req-1"), headers: [("Content-Type", "application/json")], body: Array("{\"ok\":true}".utf8))
        let r = try #require(try h.response())
        #expect(r.status == .accepted)
        #expect(r.body == "{\"status\":\"OK\"}")
        #expect(r.header("Content-Type") == ["application/json"])
        #expect(box.outcome == .response(body: Array("{\"ok\":true}".utf8), streamed: false, contentType: "application/json"))
        // Back to idle: the next /next parks again.
        try h.send(.GET, nextPath)
        #expect(try h.response() == nil)
    }

    @Test("the invocation ends at the runtime's next /next, not at its /response")
    func invocationEndsAtNextNotAtResponse() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        let ended = Mutex<Result<Void, any Error>?>(nil)
        let submitted = h.server.submit(invocation("req-1"))
        submitted.ended.whenComplete { result in ended.withLock { $0 = result } }
        h.loop.run()
        _ = try #require(try h.response())
        try h.send(.POST, responsePath("req-1"), body: Array("1".utf8))
        _ = try #require(try h.response())
        #expect(ended.withLock { $0 } == nil, "ended at /response")
        try h.send(.GET, nextPath)
        #expect((try? ended.withLock { $0 }?.get()) != nil, "not ended at /next")
    }

    @Test("abandoning after the answer fails the end (a post-response timeout)")
    func abandonAfterResponseFailsTheEnd() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        let ended = Mutex<Result<Void, any Error>?>(nil)
        h.server.submit(invocation("req-1")).ended.whenComplete { result in ended.withLock { $0 = result } }
        h.loop.run()
        _ = try h.response()
        try h.send(.POST, responsePath("req-1"), body: Array("1".utf8))
        h.server.abandon()
        h.loop.run()
        let result = try #require(ended.withLock { $0 })
        #expect((try? result.get()) == nil)
    }

    @Test func emptyResponseBody() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, responsePath("req-1"))
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .response(body: [], streamed: false))
    }

    @Test func errorWithTypeHeaderIsAFunctionError() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        let doc = Array("{\"errorMessage\":\"boom\",\"errorType\":\"InBody\"}".utf8)
        try h.send(.POST, errorPath("req-1"), headers: [("Lambda-Runtime-Function-Error-Type", "Handled.Boom")], body: doc)
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .functionError(type: "Handled.Boom", body: doc))
    }

    @Test("error type falls back to the body's errorType, then Unhandled", arguments: [
        ("{\"errorMessage\":\"x\",\"errorType\":\"TypeError\"}", "TypeError"),
        ("not json", "Unhandled"),
        ("{\"errorMessage\":\"x\"}", "Unhandled"),
    ])
    func errorTypeFallback(body: String, expected: String) throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, errorPath("req-1"), body: Array(body.utf8))
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .functionError(type: expected, body: Array(body.utf8)))
    }

    @Test func wrongRequestIDIs400AndTheInvocationContinues() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, responsePath("req-other"), body: Array("x".utf8))
        let r = try #require(try h.response())
        #expect(r.status == .badRequest)
        #expect(r.errorType == "InvalidRequestID")
        #expect(r.header("Lambda-Runtime-Function-Error-Type") == ["InvalidRequestID"])
        #expect(box.result == nil)
        try h.send(.POST, responsePath("req-1"), body: Array("y".utf8))
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .response(body: Array("y".utf8), streamed: false))
        // Stale: the same id again.
        try h.send(.POST, responsePath("req-1"), body: Array("z".utf8))
        #expect(try h.response()?.errorType == "InvalidRequestID")
    }

    @Test func nextWhileInvokingIs403() throws {
        let h = try Harness()
        _ = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.GET, nextPath)
        let r = try #require(try h.response())
        #expect(r.status == .forbidden)
        #expect(r.errorType == "InvalidStateTransition")
    }

    @Test func secondParkedNextOnAnotherConnectionIs403() throws {
        let h = try Harness()
        let other = try Harness.connect(server: h.server, loop: h.loop)
        try h.send(.GET, nextPath)
        try h.send(.GET, nextPath, on: other)
        // Held while the instance is idle with the first /next parked (ADR 0020), refused once
        // the invocation has gone to the first.
        #expect(try h.response(on: other) == nil)
        #expect(try h.response() == nil)
        _ = h.invoke(invocation("req-1"))
        #expect(try h.response()?.status == .ok)
        let r = try #require(try h.response(on: other))
        #expect(r.status == .forbidden)
        #expect(r.errorType == "InvalidStateTransition")
    }

    @Test func bufferedBodyOver6MBIs413() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, responsePath("req-1"), body: [UInt8](repeating: 0x61, count: RuntimeAPIServer.maxResponseBytes + 1))
        let r = try #require(try h.response())
        #expect(r.status == .payloadTooLarge)
        #expect(r.errorType == "RequestEntityTooLarge")
        #expect(box.outcome == .responseTooLarge(limit: 6_291_556))
    }

    @Test func contentLengthOver6MBIs413WithoutReadingTheBody() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        try h.send(.POST, responsePath("req-1"), headers: [("Content-Length", "\(RuntimeAPIServer.maxResponseBytes + 1)")],
                   body: Array("short".utf8))
        #expect(try h.response()?.status == .payloadTooLarge)
        #expect(box.outcome == .responseTooLarge(limit: RuntimeAPIServer.maxResponseBytes))
    }

    @Test func bodyOfExactly6MBIsAccepted() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        let body = [UInt8](repeating: 0x61, count: RuntimeAPIServer.maxResponseBytes)
        try h.send(.POST, responsePath("req-1"), body: body)
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .response(body: body, streamed: false))
    }

    @Test func streamedResponseAboveTheBufferedLimitIsAccepted() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        let body = [UInt8](repeating: 0x62, count: RuntimeAPIServer.maxResponseBytes + 10)
        try h.send(.POST, responsePath("req-1"), headers: [("Lambda-Runtime-Function-Response-Mode", "streaming"),
                                                          ("Transfer-Encoding", "chunked")], body: body)
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .response(body: body, streamed: true))
    }

    @Test func streamedResponseWithErrorTrailersIsAFunctionError() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        let doc = "{\"errorMessage\":\"died midway\",\"errorType\":\"Stream.Fail\"}"
        var trailers = HTTPHeaders()
        trailers.add(name: "Lambda-Runtime-Function-Error-Type", value: "Stream.Fail")
        trailers.add(name: "Lambda-Runtime-Function-Error-Body", value: Data(doc.utf8).base64EncodedString())
        try h.send(.POST, responsePath("req-1"), headers: [("Lambda-Runtime-Function-Response-Mode", "streaming")],
                   body: Array("partial".utf8), trailers: trailers)
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .functionError(type: "Stream.Fail", body: Array(doc.utf8)))
    }

    @Test func initErrorIs202AndLaterInvokesFailWithIt() throws {
        let h = try Harness()
        let failed = OutcomeBox()
        h.server.initFailed.whenComplete { failed.result = $0 }
        let doc = Array("{\"errorMessage\":\"no bootstrap\",\"errorType\":\"Runtime.NoBootstrap\"}".utf8)
        try h.send(.POST, initErrorPath, headers: [("Lambda-Runtime-Function-Error-Type", "Runtime.Init")], body: doc)
        let r = try #require(try h.response())
        #expect(r.status == .accepted)
        #expect(failed.outcome == .initError(type: "Runtime.Init", body: doc))
        let box = h.invoke(invocation("req-1"))
        #expect(box.outcome == .initError(type: "Runtime.Init", body: doc))
        try h.send(.GET, nextPath)
        #expect(try h.response()?.status == .forbidden)
    }

    @Test func initErrorCompletesAQueuedInvocation() throws {
        let h = try Harness()
        let box = h.invoke(invocation("req-1"))
        try h.send(.POST, initErrorPath, body: Array("{\"errorType\":\"Runtime.FromBody\"}".utf8))
        #expect(try h.response()?.status == .accepted)
        #expect(box.outcome == .initError(type: "Runtime.FromBody", body: Array("{\"errorType\":\"Runtime.FromBody\"}".utf8)))
    }

    @Test func initErrorAfterInitIs403() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        try h.send(.POST, initErrorPath, body: [])
        let r = try #require(try h.response())
        #expect(r.status == .forbidden)
        #expect(r.errorType == "InvalidStateTransition")
    }

    @Test func closingTheParkedConnectionUnparksIt() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        h.channel.close(promise: nil)
        h.loop.run()
        let box = h.invoke(invocation("req-1"))
        let other = try Harness.connect(server: h.server, loop: h.loop)
        try h.send(.GET, nextPath, on: other)
        let r = try #require(try h.response(on: other))
        #expect(r.header("Lambda-Runtime-Aws-Request-Id") == ["req-1"])
        try h.send(.POST, responsePath("req-1"), body: Array("done".utf8), on: other)
        #expect(box.outcome == .response(body: Array("done".utf8), streamed: false))
    }

    @Test func abandonFailsTheInvocationAndRejectsLatePosts() throws {
        let h = try Harness()
        let (_, box) = try h.parkAndInvoke(invocation("req-1"))
        h.server.abandon()
        h.loop.run()
        #expect(throws: ChannelError.self) { try box.result?.get() }
        try h.send(.POST, responsePath("req-1"), body: Array("late".utf8))
        let r = try #require(try h.response())
        #expect(r.status == .badRequest)
        #expect(r.errorType == "InvalidRequestID")
    }

    @Test("unknown paths are 404, wrong methods 405", arguments: [
        (HTTPMethod.GET, "/2018-06-01/runtime/invocation/nex", HTTPResponseStatus.notFound, "NotFound"),
        (.GET, "/", .notFound, "NotFound"),
        (.POST, "/2020-01-01/extension/register", .notFound, "NotFound"),
        (.POST, nextPath, .methodNotAllowed, "MethodNotAllowed"),
        (.GET, responsePath("req-1"), .methodNotAllowed, "MethodNotAllowed"),
        (.PUT, initErrorPath, .methodNotAllowed, "MethodNotAllowed"),
    ])
    func routingErrors(method: HTTPMethod, path: String, status: HTTPResponseStatus, type: String) throws {
        let h = try Harness()
        try h.send(method, path)
        let r = try #require(try h.response())
        #expect(r.status == status)
        #expect(r.errorType == type)
        #expect(r.header("Content-Type") == ["application/json"])
    }

    @Test("parseRoute", arguments: [
        (HTTPMethod.GET, nextPath, Result<RuntimeAPIHandler.Route, RuntimeAPIError>.success(.next)),
        (.GET, nextPath + "?timeout=1", .success(.next)),
        (.POST, responsePath("8476a536-e9f4-11e8-9739-2dfe598c3fcd"), .success(.response("8476a536-e9f4-11e8-9739-2dfe598c3fcd"))),
        (.POST, responsePath("a%20b"), .success(.response("a b"))),
        (.POST, errorPath("abc"), .success(.error("abc"))),
        (.POST, initErrorPath, .success(.initError)),
        (.POST, "/2018-06-01/runtime/invocation//response", .failure(.notFound("/2018-06-01/runtime/invocation//response"))),
        (.GET, nextPath + "/", .failure(.notFound(nextPath + "/"))),
        (.GET, "/2018-06-01/runtime/invocation/x/y/response", .failure(.notFound("/2018-06-01/runtime/invocation/x/y/response"))),
        (.GET, "/other?q", .failure(.notFound("/other"))),
        (.POST, nextPath, .failure(.methodNotAllowed("POST \(nextPath)"))),
        (.GET, errorPath("abc"), .failure(.methodNotAllowed("GET \(errorPath("abc"))"))),
    ])
    func parseRoute(method: HTTPMethod, uri: String, expected: Result<RuntimeAPIHandler.Route, RuntimeAPIError>) {
        #expect(RuntimeAPIHandler.parseRoute(method: method, uri: uri) == expected)
    }
}
