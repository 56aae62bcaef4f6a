import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import HearthRuntimeAPI

/// A real `RuntimeAPIServer` on a Unix socket, spoken to with plain sockets: `Connection: close`,
/// HTTP/1.0, keep-alive, and a client that floods without reading.
@Suite("RuntimeAPIServer: connection handling and flow control (real sockets)", .serialized)
struct RuntimeAPIFlowControlTests {
    /// A started server on a fresh socket path; closed by `stop()`.
    final class Live {
        let server: RuntimeAPIServer
        let path: String

        init() async throws {
            path = NSTemporaryDirectory() + "hearth-rapi-\(UUID().uuidString.prefix(8)).sock"
            server = try await RuntimeAPIServer.start(on: MultiThreadedEventLoopGroup.singleton.next(), unixSocketPath: path, tcpListener: nil)
        }

        func stop() async {
            await server.close()
            unlink(path)
        }

        /// A connected blocking client socket (5 s receive timeout, so a test cannot hang).
        func connect() throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(rc == 0, "connect: \(errno)")
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads until the server closes (nil if it did not within the receive timeout).
    static func readToEOF(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return String(decoding: data, as: UTF8.self) }
            if n < 0 { return nil }
            data += buffer[0..<n]
        }
    }

    static let invocation = Invocation(requestID: "req-1", payload: Array(#"{"hello":"eof"}"#.utf8),
                                       deadlineMs: Int64(Date().timeIntervalSince1970 * 1000) + 60_000, functionARN: "arn:aws:lambda:us-east-1:000000000000:function:f")

    @Test("Connection: close: /next and /response are answered, then the server closes", arguments: ["HTTP/1.1", "HTTP/1.0"])
    func connectionClose(version: String) async throws {
        let live = try await Live()
        let outcome = live.server.invoke(Self.invocation)
        let closing = version == "HTTP/1.1" ? "Connection: close\r\n" : ""

        let next = try live.connect()
        Self.send(next, "GET /2018-06-01/runtime/invocation/next \(version)\r\nHost: x\r\n\(closing)\r\n")
        let nextAnswer = try #require(Self.readToEOF(next), "the server kept the /next connection open")
        close(next)
        #expect(nextAnswer.hasPrefix("HTTP/1.1 200"))
        #expect(nextAnswer.lowercased().contains("connection: close"))
        #expect(nextAnswer.hasSuffix(#"{"hello":"eof"}"#))

        let post = try live.connect()
        Self.send(post, "POST /2018-06-01/runtime/invocation/req-1/response \(version)\r\nHost: x\r\n\(closing)Content-Length: 2\r\n\r\nok")
        let postAnswer = try #require(Self.readToEOF(post), "the server kept the /response connection open")
        close(post)
        #expect(postAnswer.hasPrefix("HTTP/1.1 202"))
        #expect(try await outcome.get() == .response(body: Array("ok".utf8), streamed: false))
        await live.stop()
    }

    @Test("keep-alive stays the default: two requests on one connection, no close")
    func keepAlive() async throws {
        let live = try await Live()
        let fd = try live.connect()
        defer { close(fd) }
        // Two 404s on the same connection, answered in order; the connection stays open.
        Self.send(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /nope2 HTTP/1.1\r\nHost: x\r\n\r\n")
        var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #expect(Self.readToEOF(fd) == nil, "the server closed a keep-alive connection")
        await live.stop()
    }

    @Test("a client that pipelines requests without reading stops being read: its own socket fills")
    func floodWithoutReading() async throws {
        let live = try await Live()
        let fd = try live.connect()
        defer { close(fd) }
        var size: Int32 = 64 * 1024
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Each request is answered with a ~150-byte 404: a server that keeps reading queues
        // 5× what it is sent in its own memory.
        let request = Array("GET /x HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let block = Array((0..<1000).map { _ in request }.joined())
        var accepted = 0
        var stalls = 0
        while accepted < 16 * 1024 * 1024, stalls < 20 {
            let n = block.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                accepted += n
                stalls = 0
            } else {
                stalls += 1
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        // Kernel socket buffers both ways plus the server's bounded read and output queue.
        #expect(accepted < 4 * 1024 * 1024, "the server took \(accepted) bytes from a client that reads nothing")
        await live.stop()
    }

    @Test("one body at a time per instance: a second connection posting for the same invocation is refused")
    func bodyBudget() throws {
        let harness = try Harness()
        let (_, box) = try harness.parkAndInvoke(Self.invocation)
        // Connection A starts posting the response and has not finished.
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: responsePath("req-1"))
        head.headers.add(name: "Content-Length", value: "4")
        try harness.channel.writeInbound(HTTPServerRequestPart.head(head))
        try harness.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "fi")))
        // Connection B posts for the same invocation meanwhile: refused, nothing buffered.
        let other = try Harness.connect(server: harness.server, loop: harness.loop)
        try harness.send(.POST, responsePath("req-1"), body: Array("other".utf8), on: other)
        let refused = try #require(try harness.response(on: other))
        #expect(refused.status == .forbidden)
        #expect(box.result == nil)
        // A finishes: its body is the response.
        try harness.channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "rst")))
        try harness.channel.writeInbound(HTTPServerRequestPart.end(nil))
        harness.loop.run()
        #expect(try harness.response()?.status == .accepted)
        #expect(box.outcome == .response(body: Array("first".utf8), streamed: false))
    }

    @Test("a post for another request id is answered 400 without buffering its body")
    func wrongIDBodyIsNotBuffered() throws {
        let harness = try Harness()
        let (_, box) = try harness.parkAndInvoke(Self.invocation)
        try harness.send(.POST, responsePath("someone-else"), body: [UInt8](repeating: 65, count: 1 << 20))
        #expect(try harness.response()?.status == .badRequest)
        // Past 64 KB of a body nobody uses, the connection is closed (ADR 0020); the budget is
        // free again: the right post, on a new connection, goes through.
        #expect(!harness.channel.isActive)
        let other = try Harness.connect(server: harness.server, loop: harness.loop)
        try harness.send(.POST, responsePath("req-1"), body: Array("ok".utf8), on: other)
        #expect(try harness.response(on: other)?.status == .accepted)
        #expect(box.outcome == .response(body: Array("ok".utf8), streamed: false))
    }
}
