import Foundation
import NIOPosix
import Synchronization
import Testing
@testable import HearthServer

/// Where `HTTPServer` runs its handlers and when it answers (ADR 0036): on the connection's
/// event loop for the requests `onLoop` picks, and with `EarlyResponder` before the handler ends.
@Suite("HTTP server: handlers on the event loop, early responses")
struct HTTPServerExecutionTests {
    @Test func earlyResponseReachesTheCallerWhileTheHandlerGoesOn() async throws {
        let gate = Gate()
        let returned = Gate()
        let server = try await HTTPServer.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, maxBody: 1024) { request in
            if request.rawPath == "/slow" {
                HTTPServer.earlyResponder?.respond(HTTPResponse(status: 200, body: Array("early".utf8)))
                HTTPServer.earlyResponder?.respond(HTTPResponse(status: 500, body: Array("twice".utf8)))
                await gate.wait()
                defer { returned.open() }
                return HTTPResponse(status: 200, body: Array("late".utf8))
            }
            return HTTPResponse(status: 200, body: Array("second".utf8))
        }
        defer { Task { await server.close() } }
        let client = try BlockingClient(port: try #require(server.localAddress?.port))
        defer { client.close() }
        // The handler is still waiting on the gate: only an early answer can arrive.
        #expect(try client.exchange("/slow") == "early")
        gate.open()
        await returned.wait()
        // The handler's own return value (and the second early answer) were dropped: the next
        // answer on the connection is the next request's.
        #expect(try client.exchange("/next") == "second")
    }

    @Test func requestsPickedByOnLoopRunOnTheirEventLoop() async throws {
        let server = try await HTTPServer.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton, maxBody: 1024,
                                                onLoop: { $0.rawPath == "/loop" }) { _ in
            let handler = MultiThreadedEventLoopGroup.currentEventLoop != nil
            let actor = await Probe().onLoop()
            let hopped = await withTaskExecutorPreference(globalConcurrentExecutor) { MultiThreadedEventLoopGroup.currentEventLoop != nil }
            return HTTPResponse(status: 200, body: Array("handler=\(handler) actor=\(actor) hopped=\(hopped)".utf8))
        }
        defer { Task { await server.close() } }
        let client = try BlockingClient(port: try #require(server.localAddress?.port))
        defer { client.close() }
        #expect(try client.exchange("/loop") == "handler=true actor=true hopped=false")
        #expect(try client.exchange("/pool") == "handler=false actor=false hopped=false")
    }
}

private actor Probe {
    func onLoop() -> Bool { MultiThreadedEventLoopGroup.currentEventLoop != nil }
}

/// Opened once; `wait()` returns at once after `open()`.
private final class Gate: Sendable {
    private let state = Mutex<(opened: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.opened = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let opened = state.withLock { state in
                if !state.opened { state.waiters.append(c) }
                return state.opened
            }
            if opened { c.resume() }
        }
    }
}

/// One keep-alive HTTP/1.1 connection with blocking reads (10 s receive timeout).
private final class BlockingClient: @unchecked Sendable {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    /// Sends a GET of `path` and returns the response's body (by its Content-Length).
    func exchange(_ path: String) throws -> String {
        let request = Array("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw POSIXError(.EIO) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count - end.upperBound >= length {
                    return String(decoding: received[end.upperBound..<end.upperBound + length], as: UTF8.self)
                }
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw POSIXError(.ETIMEDOUT) }
            received += buffer[..<n]
        }
    }

    func close() {
        Glibc.close(fd)
    }
}
