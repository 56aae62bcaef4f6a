import Foundation
import NIOCore
import NIOHTTP1

/// Parses Runtime API requests on one connection and hands them to the server.
/// Lives on the server's event loop.
///
/// Flow control, so that a runtime cannot make the supervisor hold more than a small bounded
/// amount for it: requests on a connection are served one at a time (NIO's pipelining handler
/// in front of this one stops reading while a response is pending); reading also stops while
/// the connection is not writable (a client that sends without reading its answers fills its
/// own socket, not the supervisor's memory); a body is buffered only for the request that can
/// use it (the current invocation's `/response` or `/error`, or `/init/error` during init),
/// by one connection of the instance at a time, and released when it has been dispatched.
/// A body nobody will use is not read past `maxDiscardedBodyBytes`: the request is answered
/// at once and the connection closed. Nothing is read or answered while the server's gate is
/// shut (the instance idle with its `/next` parked elsewhere, or its budget of refused requests
/// spent; ADR 0020): the request is held and answered when it opens, and every refused request
/// and every connection that closes without an accepted answer is charged to that budget.
/// After answering a request that carried `Connection: close`, or an HTTP/1.0 request
/// without keep-alive, the server closes the connection (RFC 9112 §9.6).
final class RuntimeAPIHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let prefix = "/2018-06-01/runtime/"

    enum Route: Equatable {
        case next
        case response(String)
        case error(String)
        case initError
    }

    private let server: RuntimeAPIServer
    private var connectionID: RuntimeStateMachine.ConnectionID?
    private var head: HTTPRequestHead?
    /// The route of `head`, parsed once at the head.
    private var route: Result<Route, RuntimeAPIError> = .failure(.notFound(""))
    private var body: [UInt8] = []
    private var limit = RuntimeAPIServer.maxResponseBytes
    private var tooLarge = false
    /// The current request's body is not buffered (no route can use it, or another connection
    /// holds the instance's body budget); `refusal` is the answer, if the route needs one.
    private var discardBody = false
    private var refusal: RuntimeAPIError?
    /// This connection holds the instance's body budget for the current request.
    private var holdsBodyBudget = false
    /// The request being answered asked for the connection to close afterwards.
    private var closeAfterResponse = false
    /// A `read` was held back while the channel was not writable, or the caller of a streamed
    /// response was behind.
    private var readPending = false
    /// The current request is a streamed `/response` passed on to the caller as it arrives.
    private var streaming: ResponseStream?
    private var streamedBytes = 0
    /// The caller of the streamed response is behind: reading waits for `whenDrained`.
    private var streamPaused = false
    /// Body bytes of the current request read and thrown away.
    private var discardedBytes = 0
    /// A complete request waiting for the server's gate to open.
    private var held: (head: HTTPRequestHead, trailers: HTTPHeaders?)?
    /// The server's gate is shut for this connection and it is registered to be woken.
    private var gated = false
    /// Some answer on this connection was not a refusal.
    private var accepted = false
    /// A request is being answered (NIO may deliver the next pipelined one meanwhile).
    private var answering = false

    /// The most body bytes read (and discarded) of a request whose body no route can use before
    /// it is answered and its connection closed.
    static let maxDiscardedBodyBytes = 64 * 1024

    init(server: RuntimeAPIServer) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let id = server.register(context.channel) else {
            context.close(promise: nil)
            return
        }
        connectionID = id
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseBodyBudget()
        body = []
        held = nil
        // Churn (connect, send nothing useful, close) costs the budget like a refused request.
        if !accepted { server.charge() }
        // A stream cut off here is ended by the supervisor with the invocation's error.
        streaming = nil
        streamPaused = false
        if let connectionID { server.unregister(connectionID) }
        context.fireChannelInactive()
    }

    // MARK: flow control

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable && !streamPaused && held == nil && gateOpen(channel: context.channel) {
            context.read()
        } else {
            readPending = true
        }
    }

    /// Whether the server's gate is open for this connection; if not, asks to be woken.
    private func gateOpen(channel: any Channel) -> Bool {
        if server.mayProceed(connectionID) { return true }
        if !gated, let connectionID {
            gated = true
            let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
            server.waitForGate(connectionID) { handler.value.gateOpened(channel: channel) }
        }
        return false
    }

    /// The gate may have opened: answer the held request, then read again if a read waits.
    private func gateOpened(channel: any Channel) {
        gated = false
        guard channel.isActive else { return }
        if let request = held {
            guard gateOpen(channel: channel) else { return }
            held = nil
            finish(head: request.head, trailers: request.trailers, channel: channel)
        }
        if readPending, held == nil, channel.isWritable, !streamPaused, gateOpen(channel: channel) {
            readPending = false
            channel.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !streamPaused, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data) {
            if head.status.code >= 400 { server.charge() } else { accepted = true }
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where closeAfterResponse:
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            let done = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: done)
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }

    private func releaseBodyBudget() {
        if holdsBodyBudget, let connectionID {
            holdsBodyBudget = false
            server.releaseBodyBudget(connectionID)
        }
    }

    /// Decides at the head whether the body will be buffered.
    private func admitBody(head: HTTPRequestHead) {
        discardBody = true
        refusal = nil
        guard case .success(let route) = route else { return }
        let wanted: Bool
        switch route {
        case .next: wanted = false
        case .response(let id), .error(let id): wanted = server.currentRequestID == id
        case .initError: wanted = !server.hasInitialized
        }
        // A post the state machine will reject anyway: its answer needs no body.
        guard wanted else { return }
        guard let connectionID, server.claimBodyBudget(connectionID) else {
            refusal = .invalidStateTransition("another connection is already posting a body for this instance")
            return
        }
        holdsBodyBudget = true
        discardBody = false
    }

    /// The request id in a path segment, percent-decoded.
    static func requestID(_ segment: Substring) -> String { segment.percentDecodedSegment }

    /// The route of a request target, compared byte by byte (three calls per invocation
    /// were splitting and re-indexing Strings: 5% of the supervisor's CPU on the warm path).
    static func parseRoute(method: HTTPMethod, uri: String) -> Result<Route, RuntimeAPIError> {
        let bytes = uri.utf8
        let path = uri[..<(bytes.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)]
        guard path.utf8.starts(with: prefix.utf8) else { return .failure(.notFound(String(path))) }
        let rest = path.utf8.dropFirst(prefix.utf8.count)
        let route: Route
        if rest.elementsEqual("invocation/next".utf8) {
            route = .next
        } else if rest.elementsEqual("init/error".utf8) {
            route = .initError
        } else if let (id, verb) = invocationSegments(rest), verb.elementsEqual("response".utf8) {
            route = .response(Self.requestID(id))
        } else if let (id, verb) = invocationSegments(rest), verb.elementsEqual("error".utf8) {
            route = .error(Self.requestID(id))
        } else {
            return .failure(.notFound(String(path)))
        }
        let expected: HTTPMethod = route == .next ? .GET : .POST
        if method != expected { return .failure(.methodNotAllowed("\(method) \(path)")) }
        return .success(route)
    }

    /// `invocation/{id}/{verb}` with a non-empty id and no further `/`: the id and the verb.
    private static func invocationSegments(_ rest: Substring.UTF8View) -> (id: Substring, verb: Substring.UTF8View)? {
        let head = "invocation/".utf8
        guard rest.starts(with: head) else { return nil }
        let idStart = rest.index(rest.startIndex, offsetBy: head.count)
        guard let slash = rest[idStart...].firstIndex(of: UInt8(ascii: "/")), slash > idStart else { return nil }
        let verb = rest[rest.index(after: slash)...]
        guard !verb.contains(UInt8(ascii: "/")) else { return nil }
        return (Substring(rest[idStart..<slash]), verb)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            route = Self.parseRoute(method: head.method, uri: head.uri)
            body = []
            discardedBytes = 0
            tooLarge = false
            closeAfterResponse = !head.isKeepAlive
            admitBody(head: head)
            let streamed = head.headers["Lambda-Runtime-Function-Response-Mode"].first?.lowercased() == "streaming"
            limit = streamed ? RuntimeAPIServer.maxStreamedResponseBytes : RuntimeAPIServer.maxResponseBytes
            // A streamed response whose caller reads a stream: passed on, not buffered.
            if streamed, !discardBody, case .success(.response(let id)) = route,
               let stream = server.claimStream(requestID: id) {
                streaming = stream
                streamedBytes = 0
                discardBody = true
                stream.begin(contentType: head.headers["Content-Type"].first)
            }
            if let length = head.headers["Content-Length"].first.flatMap(Int.init), length > limit { tooLarge = true }
        case .body(var chunk):
            if let stream = streaming, !tooLarge {
                streamedBytes += chunk.readableBytes
                if streamedBytes > limit {
                    tooLarge = true
                    stream.finish(.init(type: "Function.ResponseSizeTooLarge",
                                        body: Array(RuntimeAPIError.streamTooLarge(limit: limit).body.utf8)))
                    return
                }
                if !stream.write(chunk.readBytes(length: chunk.readableBytes) ?? []) {
                    streamPaused = true
                    let channel = context.channel
                    let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                    stream.whenDrained {
                        channel.eventLoop.execute { handler.value.resumeStream(channel: channel) }
                    }
                }
                return
            }
            if discardBody {
                // Nobody will use this body: past a small allowance, answer now and close
                // rather than read (and burn CPU on) whatever the function keeps sending.
                discardedBytes += chunk.readableBytes
                if discardedBytes > Self.maxDiscardedBodyBytes, let head {
                    self.head = nil
                    closeAfterResponse = true
                    complete(head: head, trailers: nil, channel: context.channel)
                }
                return
            }
            if tooLarge { return }
            if body.count + chunk.readableBytes > limit {
                tooLarge = true
                body = []
                return
            }
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        case .end(let trailers):
            guard let head else { return }
            self.head = nil
            complete(head: head, trailers: trailers, channel: context.channel)
        }
    }

    /// A request is complete: answer it now, or hold it until the server's gate opens.
    /// A pipelined request that NIO's pipeline handler delivers from inside the previous
    /// answer's write waits for the next turn of the event loop: one request per connection
    /// per turn, however many arrived in one read (and no recursion as deep as the read).
    private func complete(head: HTTPRequestHead, trailers: HTTPHeaders?, channel: any Channel) {
        if answering {
            held = (head, trailers)
            let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
            channel.eventLoop.execute { handler.value.gateOpened(channel: channel) }
            return
        }
        if gateOpen(channel: channel) {
            finish(head: head, trailers: trailers, channel: channel)
        } else {
            held = (head, trailers)
        }
    }

    private func finish(head: HTTPRequestHead, trailers: HTTPHeaders?, channel: any Channel) {
        answering = true
        defer { answering = false }
        if let refusal {
            self.refusal = nil
            RuntimeAPIServer.write(error: refusal, to: channel)
        } else {
            dispatch(head: head, trailers: trailers, channel: channel)
        }
        body = []
        streaming = nil
        releaseBodyBudget()
    }

    /// The caller of a streamed response caught up: read the runtime again.
    private func resumeStream(channel: any Channel) {
        guard streamPaused else { return }
        streamPaused = false
        if readPending {
            readPending = false
            channel.read()
        }
    }

    private func dispatch(head: HTTPRequestHead, trailers: HTTPHeaders?, channel: any Channel) {
        let route: Route
        switch self.route {
        case .failure(let error):
            RuntimeAPIServer.write(error: error, to: channel)
            return
        case .success(let r):
            route = r
        }
        switch route {
        case .next:
            server.next(on: connectionID ?? -1, channel: channel)
        case .response(let id):
            let streamed = head.headers["Lambda-Runtime-Function-Response-Mode"].first?.lowercased() == "streaming"
            let outcome: RuntimeOutcome
            if tooLarge {
                outcome = .responseTooLarge(limit: limit)
            } else if let trailers, let type = trailers["Lambda-Runtime-Function-Error-Type"].first {
                // A streamed response that failed midway: the error travels in trailers.
                let encoded = trailers["Lambda-Runtime-Function-Error-Body"].first ?? ""
                let errorBody = Data(base64Encoded: encoded).map { [UInt8]($0) } ?? Array(encoded.utf8)
                streaming?.finish(.init(type: type, body: errorBody))
                outcome = .functionError(type: type, body: errorBody)
            } else if let stream = streaming {
                // Passed on as it came; the caller has every byte.
                stream.finish()
                outcome = .response(body: [], streamed: true, contentType: head.headers["Content-Type"].first)
            } else {
                outcome = .response(body: body, streamed: streamed, contentType: head.headers["Content-Type"].first)
            }
            server.post(requestID: id, outcome: outcome, channel: channel)
        case .error(let id):
            let type = head.headers["Lambda-Runtime-Function-Error-Type"].first ?? Self.errorType(in: body) ?? "Unhandled"
            server.post(requestID: id, outcome: .functionError(type: type, body: tooLarge ? [] : body), channel: channel)
        case .initError:
            let type = head.headers["Lambda-Runtime-Function-Error-Type"].first ?? Self.errorType(in: body) ?? "Runtime.Unknown"
            server.initError(type: type, body: tooLarge ? [] : body, channel: channel)
        }
    }

    /// `errorType` of an error document, if the body is one.
    static func errorType(in body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["errorType"] as? String
    }
}

extension Substring {
    /// A URL path segment percent-decoded (kept as it is if its escapes are invalid), through
    /// Foundation only when it holds a `%`: request ids and function names seldom do, and the
    /// decoding costs on every request that carries them.
    public var percentDecodedSegment: String {
        utf8.contains(UInt8(ascii: "%")) ? (String(self).removingPercentEncoding ?? String(self)) : String(self)
    }
}
