import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import HearthRuntimeAPI

/// The server's gate (ADR 0020): what an instance's connections may make the supervisor do.
@Suite("RuntimeAPIServer: the gate (idle instances, the budget of refused requests, unused bodies)")
struct RuntimeAPIGateTests {
    @Test("while the instance is idle with /next parked, another connection's request waits for the next invocation")
    func idleInstanceIsNotServed() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        #expect(try h.response() == nil)
        let other = try Harness.connect(server: h.server, loop: h.loop)
        try h.send(.GET, "/2018-06-01/runtime/nope", on: other)
        #expect(try h.response(on: other) == nil, "an idle instance's second connection was served")
        _ = h.invoke(invocation("req-1"))
        #expect(try h.response()?.status == .ok)
        #expect(try h.response(on: other)?.status == .notFound)
    }

    @Test("when the parked /next connection goes away, the others are served again")
    func parkedConnectionClosing() throws {
        let h = try Harness()
        try h.send(.GET, nextPath)
        let other = try Harness.connect(server: h.server, loop: h.loop)
        try h.send(.GET, "/2018-06-01/runtime/nope", on: other)
        #expect(try h.response(on: other) == nil)
        _ = try h.channel.finish()
        h.loop.run()
        #expect(try h.response(on: other)?.status == .notFound)
    }

    @Test("refused requests beyond the budget (64 at once, then 32/s) wait for it to refill")
    func budgetOfRefusals() throws {
        let h = try Harness()
        for i in 0..<Int(RequestBudget.capacity) {
            try h.send(.GET, "/2018-06-01/runtime/nope-\(i)")
            #expect(try h.response()?.status == .notFound)
        }
        try h.send(.GET, "/2018-06-01/runtime/one-too-many")
        #expect(try h.response() == nil, "a refusal beyond the budget was answered at once")
        h.loop.advanceTime(by: .milliseconds(20))
        #expect(try h.response() == nil)
        h.loop.advanceTime(by: .milliseconds(20))
        #expect(try h.response()?.status == .notFound)
    }

    @Test("accepted requests are never charged: a thousand invocations in a row are served at once")
    func acceptedRequestsAreFree() throws {
        let h = try Harness()
        for i in 0..<1000 {
            try h.send(.GET, nextPath)
            _ = h.invoke(invocation("req-\(i)"))
            #expect(try h.response()?.status == .ok)
            try h.send(.POST, responsePath("req-\(i)"), body: Array("ok".utf8))
            #expect(try h.response()?.status == .accepted)
        }
    }

    @Test("a body nobody will use is answered after 64 KB and its connection closed, not read to its end")
    func unusedBodyIsCutShort() throws {
        let h = try Harness()
        _ = try h.parkAndInvoke(invocation("req-1"))
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: responsePath("no-such-request"))
        head.headers.add(name: "Content-Length", value: "19000000")
        try h.channel.writeInbound(HTTPServerRequestPart.head(head))
        for _ in 0..<2 { try h.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(repeating: 0x6a, count: 48 * 1024))) }
        h.loop.run()
        #expect(try h.response()?.status == .badRequest)
        #expect(!h.channel.isActive, "the connection stayed open for the rest of the body")
    }
}
