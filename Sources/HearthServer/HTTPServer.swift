import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A whole HTTP request, as the API handlers see it.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target's path, still percent-encoded.
    public var rawPath: String
    /// The query string without `?`, still percent-encoded.
    public var rawQuery: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// True when the body exceeded the server's limit (the body is then empty).
    public var bodyTooLarge: Bool
    /// The client's IP address, when known (HTTP triggers' `sourceIp`).
    public var remoteIP: String?
    /// The port the request arrived on (`x-forwarded-port`).
    public var localPort: Int?
    /// `HTTP/1.1` or `HTTP/1.0`, as on the request line.
    public var httpVersion = "HTTP/1.1"

    public func header(_ name: String) -> String? {
        headers.first { Self.sameFieldName($0.0, name) }?.1
    }

    /// Header names are ASCII tokens (RFC 9110): compared ignoring ASCII case, byte by byte
    /// (Foundation's `caseInsensitiveCompare` was a dozen calls per lookup, several lookups per
    /// request); any other byte must match exactly.
    static func sameFieldName(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                guard x.count == y.count else { return false }
                for i in 0..<x.count where x[i] != y[i] {
                    let lower = x[i] | 0x20
                    guard lower == y[i] | 0x20, lower >= 0x61, lower <= 0x7A else { return false }
                }
                return true
            }
        }
    }

    /// Decoded query parameters (first value wins).
    public var query: [String: String] {
        var result: [String: String] = [:]
        for pair in rawQuery.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            if result[key] == nil { result[key] = value }
        }
        return result
    }

    public init(method: String, rawPath: String, rawQuery: String, headers: [(String, String)], body: [UInt8], bodyTooLarge: Bool = false) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// A body written as it is produced (chunked transfer encoding) instead of `body`: called
    /// once the head is sent; each write waits until the bytes are on the socket (so a slow
    /// caller holds the producer back) and throws once the caller has gone away.
    public var bodyStream: (@Sendable (HTTPBodyWriter) async -> Void)?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [],
                bodyStream: (@Sendable (HTTPBodyWriter) async -> Void)? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyStream = bodyStream
    }
}

/// Writes one streamed response body (see `HTTPResponse.bodyStream`).
public struct HTTPBodyWriter: Sendable {
    let send: @Sendable ([UInt8]) async throws -> Void

    public func write(_ bytes: [UInt8]) async throws {
        try await send(bytes)
    }
}

/// Serves HTTP/1.1 with keep-alive, collecting each request whole (up to `maxBody` bytes)
/// and answering with what `handler` returns. Handlers run as Swift tasks.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse
    /// Looks at a request's head (body empty) and may answer it at once, before its body is
    /// read and buffered: e.g. an unsigned request to an authenticated server.
    public typealias Preflight = @Sendable (HTTPRequest) -> HTTPResponse?
    /// Whether a request's handler runs on its connection's event loop (`EventLoopTaskExecutor`,
    /// ADR 0036) instead of Swift's cooperative pool: only handlers that never block, or that
    /// hop off the loop before they do.
    public typealias OnLoop = @Sendable (HTTPRequest) -> Bool
    private let channel: any Channel

    /// Sends a handler's response before the handler returns, when the rest of its work need not
    /// hold the caller (a synchronous Invoke answers at the runtime's `/response`; the invocation
    /// goes on until its next `/next`). The first call is the response; the handler's return
    /// value and later calls are then dropped. Set for every handler the server runs.
    public struct EarlyResponder: Sendable {
        let send: @Sendable (HTTPResponse) -> Void

        public func respond(_ response: HTTPResponse) {
            send(response)
        }
    }

    @TaskLocal public static var earlyResponder: EarlyResponder?

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// The bound address (useful with port 0).
    public var localAddress: SocketAddress? { channel.localAddress }

    public static func start(host: String, port: Int, group: any EventLoopGroup, maxBody: Int,
                             preflight: Preflight? = nil, onLoop: OnLoop? = nil, handler: @escaping Handler) async throws -> HTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestCollector(maxBody: maxBody, preflight: preflight, onLoop: onLoop, handler: handler))
                }
            }
            .bind(host: host, port: port).get()
        return HTTPServer(channel: channel)
    }

    /// Stops accepting connections.
    public func close() async {
        try? await channel.close()
    }
}

final class RequestCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBody: Int
    private let preflight: HTTPServer.Preflight?
    private let onLoop: HTTPServer.OnLoop?
    private let handler: HTTPServer.Handler
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    /// The preflight's answer: the body is skipped and this is sent at the end of the request.
    private var earlyResponse: HTTPResponse?

    init(maxBody: Int, preflight: HTTPServer.Preflight?, onLoop: HTTPServer.OnLoop? = nil, handler: @escaping HTTPServer.Handler) {
        self.maxBody = maxBody
        self.preflight = preflight
        self.onLoop = onLoop
        self.handler = handler
    }

    static func split(_ target: String) -> (path: String, query: String) {
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<q]), String(target[target.index(after: q)...]))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
            if let length = head.headers["Content-Length"].first.flatMap(Int.init), length > maxBody { tooLarge = true }
            let (path, query) = Self.split(head.uri)
            earlyResponse = preflight?(HTTPRequest(method: head.method.rawValue, rawPath: path, rawQuery: query,
                                                   headers: head.headers.map { ($0.name, $0.value) }, body: []))
        case .body(var chunk):
            if tooLarge || earlyResponse != nil { return }
            if body.count + chunk.readableBytes > maxBody {
                tooLarge = true
                body = []
                return
            }
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            self.head = nil
            if let early = earlyResponse {
                earlyResponse = nil
                Self.write(early, keepAlive: head.isKeepAlive, version: head.version, context: context)
                return
            }
            let (path, query) = Self.split(head.uri)
            var request = HTTPRequest(method: head.method.rawValue, rawPath: path, rawQuery: query,
                                      headers: head.headers.map { ($0.name, $0.value) }, body: body, bodyTooLarge: tooLarge)
            request.remoteIP = context.channel.remoteAddress?.ipAddress
            request.localPort = context.channel.localAddress?.port
            request.httpVersion = "HTTP/\(head.version.major).\(head.version.minor)"
            body = []
            let keepAlive = head.isKeepAlive
            let version = head.version
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            let handler = self.handler
            let answered = Once()
            let early = HTTPServer.EarlyResponder { response in
                guard answered.claim() else { return }
                if loop.inEventLoop {
                    Self.write(response, keepAlive: keepAlive, version: version, context: bound.value)
                } else {
                    loop.execute { Self.write(response, keepAlive: keepAlive, version: version, context: bound.value) }
                }
            }
            let whole = request
            let run: @Sendable () async -> Void = {
                let response = await HTTPServer.$earlyResponder.withValue(early) { await handler(whole) }
                if let produce = response.bodyStream, answered.claim() {
                    await Self.stream(response, produce: produce, keepAlive: keepAlive, version: version, loop: loop, context: bound)
                    return
                }
                early.respond(response)
            }
            if let onLoop, onLoop(whole) {
                Task(executorPreference: EventLoopTaskExecutor.of(loop), operation: run)
            } else {
                Task(operation: run)
            }
        }
    }

    /// Sends the head, then the producer's chunks as they come (each flushed before the next is
    /// asked for), then the end.
    static func stream(_ response: HTTPResponse, produce: @Sendable (HTTPBodyWriter) async -> Void, keepAlive: Bool,
                       version: HTTPVersion, loop: any EventLoop, context: NIOLoopBound<ChannelHandlerContext>) async {
        // Chunked framing needs HTTP/1.1; an HTTP/1.0 caller reads to the close.
        let keepAlive = keepAlive && version == .http1_1
        loop.execute {
            var headers = HTTPHeaders(response.headers)
            headers.remove(name: "Content-Length")
            if version == .http1_1 { headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked") }
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
            context.value.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        }
        let writer = HTTPBodyWriter { bytes in
            try await loop.flatSubmit { () -> EventLoopFuture<Void> in
                let context = context.value
                guard context.channel.isActive else { return loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
                var buffer = context.channel.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                return context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))))
            }.get()
        }
        await produce(writer)
        loop.execute {
            let context = context.value
            let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    static func write(_ response: HTTPResponse, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// True for the first `claim()` only.
private final class Once: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
