import NIOCore
import NIOHTTP1
import NIOPosix

/// One instance's Runtime API: listens on a Unix socket and (optionally) on a TCP listener
/// created inside the sandbox's network namespace, and drives a `RuntimeStateMachine`.
///
/// Confined to one `EventLoop`: both listeners, every connection and the state machine live
/// on `eventLoop`; the public methods may be called from anywhere.
public final class RuntimeAPIServer: @unchecked Sendable {
    /// Lambda's limit for a buffered response: 6 MB, which AWS enforces and reports as
    /// 6,291,556 bytes (6 MiB + 100: "… maximum allowed payload size (6291556 bytes).").
    public static let maxResponseBytes = 6 * 1024 * 1024 + 100
    /// Lambda's soft limit for a streamed response: 20 MB.
    public static let maxStreamedResponseBytes = 20 * 1024 * 1024

    public let eventLoop: any EventLoop
    private var machine = RuntimeStateMachine()
    private var listeners: [any Channel] = []
    private var connections: [RuntimeStateMachine.ConnectionID: any Channel] = [:]
    private var nextConnectionID = 0
    private var pending: EventLoopPromise<RuntimeOutcome>?
    /// Completes when the answered invocation ends: at the runtime's next `/next`.
    private var pendingEnd: (requestID: String, promise: EventLoopPromise<Void>)?
    /// Where the current invocation's streamed response goes, until its `/response` claims it.
    private var pendingStream: (requestID: String, stream: ResponseStream)?
    private let firstNextPromise: EventLoopPromise<Void>
    private let initErrorPromise: EventLoopPromise<RuntimeOutcome>
    private var closed = false
    /// The one connection allowed to buffer a request body right now (the instance's budget:
    /// one body of at most the response limit).
    private var bodyOwner: RuntimeStateMachine.ConnectionID?
    /// Refused requests and wasted connections the instance may still make (ADR 0020).
    private var budget = RequestBudget()
    /// Connections waiting for the gate to open (a held read or a held request).
    private var gateWaiters: [RuntimeStateMachine.ConnectionID: () -> Void] = [:]
    /// Listeners waiting for the gate to open before accepting.
    private var acceptWaiters: [() -> Void] = []
    private var refillScheduled = false

    /// Completes when the runtime first asks for work (the end of its initialisation).
    public var initialized: EventLoopFuture<Void> { firstNextPromise.futureResult }
    /// Completes if the runtime reports `/init/error`.
    public var initFailed: EventLoopFuture<RuntimeOutcome> { initErrorPromise.futureResult }

    package init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        firstNextPromise = eventLoop.makePromise()
        initErrorPromise = eventLoop.makePromise()
    }

    /// A handler for one runtime connection to this server, after an HTTP server pipeline (for
    /// fuzzing the request handling on an EmbeddedChannel).
    package func makeConnectionHandler() -> any ChannelHandler { RuntimeAPIHandler(server: self) }

    /// Starts listening on `unixSocketPath` and, if given, on the already bound and listening
    /// TCP socket `tcpListener` (ownership passes to the server).
    public static func start(on eventLoop: any EventLoop, unixSocketPath: String?, tcpListener: Int32?) async throws -> RuntimeAPIServer {
        let server = RuntimeAPIServer(eventLoop: eventLoop)
        let bootstrap = server.bootstrap()
        var listeners: [any Channel] = []
        do {
            if let unixSocketPath {
                listeners.append(try await bootstrap.bind(unixDomainSocketPath: unixSocketPath, cleanupExistingSocketFile: true).get())
            }
            if let tcpListener {
                listeners.append(try await bootstrap.withBoundSocket(tcpListener).get())
            }
        } catch {
            for channel in listeners { try? await channel.close() }
            throw error
        }
        let bound = listeners
        try await eventLoop.submit { server.listeners = bound }.get()
        return server
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: eventLoop, childGroup: eventLoop)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RuntimeAPIAcceptGate(server: self))
                }
            }
            // Bounded buffers per connection: what one read can decode at once, and how much
            // unread output may queue before the connection stops being read. One read per
            // readiness (NIO's default is 4): whatever a read brings is decoded at once, and a
            // flood of pipelined requests is parsed, then mostly refused, in 16 KB steps, not 64.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 4096, maximum: Self.maxReadBytes))
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: Self.maxQueuedOutputBytes / 2, high: Self.maxQueuedOutputBytes))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RuntimeAPIHandler(server: self))
                }
            }
    }

    /// Also serves on `tcpListener`, a bound and listening socket (ownership passes to the
    /// server), e.g. the one created inside the sandbox's network namespace.
    public func adopt(tcpListener: Int32) async throws {
        try await adopt(listener: tcpListener)
    }

    /// Also serves on `unixListener`, a bound and listening Unix socket (ownership passes to the
    /// server), e.g. the one a sandbox made in a tmpfs of its own (ADR 0032).
    public func adopt(unixListener: Int32) async throws {
        try await adopt(listener: unixListener)
    }

    private func adopt(listener: Int32) async throws {
        let channel = try await bootstrap().withBoundSocket(listener).get()
        let isClosed = try await eventLoop.submit { () -> Bool in
            if !self.closed { self.listeners.append(channel) }
            return self.closed
        }.get()
        if isClosed { try? await channel.close() }
    }

    /// An invocation handed to the runtime: what it made of it, and when it ended.
    public struct Submitted: Sendable {
        /// The runtime's answer (`/response`, `/error`, `/init/error`), for the caller.
        public let outcome: EventLoopFuture<RuntimeOutcome>
        /// Succeeds at the runtime's next `/next` after its answer: the end of the invocation
        /// (on Lambda, work after the response belongs to the invocation). Fails if the
        /// invocation is abandoned or the server closes first, and at once after an init error.
        public let ended: EventLoopFuture<Void>
    }

    /// Hands `invocation` to the runtime; the future completes with what the runtime made of it.
    public func invoke(_ invocation: Invocation) -> EventLoopFuture<RuntimeOutcome> {
        submit(invocation).outcome
    }

    /// Hands `invocation` to the runtime (the previous one must have ended). A `stream` gets a
    /// streamed response as the runtime writes it (a buffered one is left to the caller).
    public func submit(_ invocation: Invocation, stream: ResponseStream? = nil) -> Submitted {
        let outcome = eventLoop.makePromise(of: RuntimeOutcome.self)
        let ended = eventLoop.makePromise(of: Void.self)
        eventLoop.execute {
            self.pendingStream = stream.map { (invocation.requestID, $0) }
            switch self.machine.invoke(invocation) {
            case .fail(let result):
                outcome.succeed(result)
                ended.fail(ChannelError.ioOnClosedChannel)
            case .queued:
                // Handed over before the previous one's /next: the supervisor is done with that one.
                self.endAnswered()
                self.pending = outcome
                self.pendingEnd = (invocation.requestID, ended)
            case .deliver(let invocation, let connection):
                self.endAnswered()
                self.pending = outcome
                self.pendingEnd = (invocation.requestID, ended)
                if let channel = self.connections[connection] { Self.writeNext(invocation, to: channel) }
            }
            self.wakeGate()
        }
        return Submitted(outcome: outcome.futureResult, ended: ended.futureResult)
    }

    /// The `/init/error` the runtime reported, if it did (asked after the runtime exited, so that
    /// an init error posted just before the exit is not mistaken for a plain exit).
    public func reportedInitError() async -> RuntimeOutcome? {
        try? await eventLoop.submit { self.machine.reportedInitError }.get()
    }

    /// Gives up on the current invocation: later posts for it are rejected.
    public func abandon() {
        eventLoop.execute {
            self.machine.abandon()
            self.pending?.fail(ChannelError.ioOnClosedChannel)
            self.pending = nil
            self.pendingEnd?.promise.fail(ChannelError.ioOnClosedChannel)
            self.pendingEnd = nil
            self.wakeGate()
        }
    }

    /// Closes the listeners and every open connection.
    public func close() async {
        let channels: [any Channel] = (try? await eventLoop.submit { self.shutDownOnLoop() }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    /// `close()` for a caller already on the event loop (fuzzing on an EmbeddedEventLoop).
    package func closeOnLoop() {
        for channel in shutDownOnLoop() { channel.close(promise: nil) }
    }

    /// Fails everything pending; returns the channels to close.
    private func shutDownOnLoop() -> [any Channel] {
        eventLoop.preconditionInEventLoop()
        closed = true
        machine.abandon()
        pending?.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        pendingEnd?.promise.fail(ChannelError.ioOnClosedChannel)
        pendingEnd = nil
        firstNextPromise.fail(ChannelError.ioOnClosedChannel)
        initErrorPromise.fail(ChannelError.ioOnClosedChannel)
        wakeGate()
        return listeners + Array(connections.values)
    }

    // MARK: called by RuntimeAPIHandler on the event loop

    /// A runtime needs one or two connections; more is a function trying to exhaust the
    /// supervisor's descriptors or memory (each connection may buffer a response).
    public static let maxConnections = 8

    /// The most one read of a runtime connection takes in (and so the most pipelined requests
    /// decoded and held at once).
    public static let maxReadBytes = 16 * 1024
    /// Unread answers queued on a connection before the server stops reading it.
    public static let maxQueuedOutputBytes = 64 * 1024

    var currentRequestID: String? { machine.currentRequestID }
    var hasInitialized: Bool { machine.hasInitialized }

    /// The stream for `requestID`'s streamed `/response` (once: a second post is not streamed).
    func claimStream(requestID: String) -> ResponseStream? {
        eventLoop.preconditionInEventLoop()
        guard let pending = pendingStream, pending.requestID == requestID, machine.currentRequestID == requestID else { return nil }
        pendingStream = nil
        return pending.stream
    }

    /// Lets `id` buffer one request body if no other connection is doing so.
    func claimBodyBudget(_ id: RuntimeStateMachine.ConnectionID) -> Bool {
        eventLoop.preconditionInEventLoop()
        if let bodyOwner, bodyOwner != id { return false }
        bodyOwner = id
        return true
    }

    func releaseBodyBudget(_ id: RuntimeStateMachine.ConnectionID) {
        if bodyOwner == id { bodyOwner = nil }
    }

    func register(_ channel: any Channel) -> RuntimeStateMachine.ConnectionID? {
        eventLoop.preconditionInEventLoop()
        if connections.count >= Self.maxConnections || closed { return nil }
        nextConnectionID += 1
        connections[nextConnectionID] = channel
        return nextConnectionID
    }

    func unregister(_ id: RuntimeStateMachine.ConnectionID) {
        connections[id] = nil
        gateWaiters[id] = nil
        machine.connectionClosed(id)
        wakeGate()
    }

    // MARK: the gate: what an instance's connections may make the supervisor do (ADR 0020)

    /// Whether connection `id` may be read, or have its request answered, now: not while the
    /// instance is idle with its `/next` parked on another connection (a runtime has nothing
    /// else to ask then, so an idle instance's other traffic costs the supervisor nothing), and
    /// not while the instance's budget of refused requests is spent.
    func mayProceed(_ id: RuntimeStateMachine.ConnectionID?) -> Bool {
        eventLoop.preconditionInEventLoop()
        if closed { return true }
        if let parked = machine.parkedWhileIdle, parked != id { return false }
        if !budget.hasToken(now: eventLoop.now) {
            scheduleRefill()
            return false
        }
        return true
    }

    /// Whether a listener may accept a connection now (as `mayProceed` for a new connection).
    func mayAccept() -> Bool { mayProceed(nil) }

    /// Calls `resume` (once) when the gate may have opened for connection `id`.
    func waitForGate(_ id: RuntimeStateMachine.ConnectionID, _ resume: @escaping () -> Void) {
        gateWaiters[id] = resume
    }

    /// Calls `resume` (once) when the gate may have opened for a listener.
    func waitForGateToAccept(_ resume: @escaping () -> Void) {
        acceptWaiters.append(resume)
    }

    /// Charges the instance's budget: a refused request, or a connection that closed without
    /// one accepted answer.
    func charge() {
        eventLoop.preconditionInEventLoop()
        budget.charge(now: eventLoop.now)
    }

    /// Lets every waiter re-check the gate (each waits again if it is still shut).
    private func wakeGate() {
        guard !gateWaiters.isEmpty || !acceptWaiters.isEmpty else { return }
        let waiters = gateWaiters.values
        let accepts = acceptWaiters
        gateWaiters = [:]
        acceptWaiters = []
        for resume in waiters { resume() }
        for resume in accepts { resume() }
    }

    private func scheduleRefill() {
        guard !refillScheduled else { return }
        refillScheduled = true
        eventLoop.scheduleTask(in: budget.delayUntilToken()) {
            self.refillScheduled = false
            self.wakeGate()
        }
    }

    func next(on id: RuntimeStateMachine.ConnectionID, channel: any Channel) {
        eventLoop.preconditionInEventLoop()
        let answered = machine.respondedRequestID
        let action = machine.next(on: id)
        if let answered, machine.respondedRequestID == nil {
            // The answered invocation ends with this /next.
            endAnswered(answered)
        }
        switch action {
        case .deliver(let invocation, let initCompleted):
            if initCompleted { firstNextPromise.succeed(()) }
            Self.writeNext(invocation, to: channel)
        case .park(let initCompleted):
            if initCompleted { firstNextPromise.succeed(()) }
        case .reject(let error):
            Self.write(error: error, to: channel)
        }
        wakeGate()
    }

    /// Ends the answered invocation (`requestID`, or whichever is waiting for its `/next`).
    private func endAnswered(_ requestID: String? = nil) {
        guard let end = pendingEnd, requestID == nil || end.requestID == requestID else { return }
        pendingEnd = nil
        end.promise.succeed(())
    }

    func post(requestID: String, outcome: RuntimeOutcome, channel: any Channel) {
        eventLoop.preconditionInEventLoop()
        switch machine.post(requestID: requestID, outcome: outcome) {
        case .accept(let outcome):
            // Record the outcome before answering: a runtime may exit as soon as it has its 202.
            let promise = pending
            pending = nil
            promise?.succeed(outcome)
            if case .responseTooLarge(let limit) = outcome {
                Self.write(error: .entityTooLarge(limit: limit), to: channel)
            } else {
                Self.writeAccepted(to: channel)
            }
        case .reject(let error):
            Self.write(error: error, to: channel)
        }
        wakeGate()
    }

    func initError(type: String, body: [UInt8], channel: any Channel) {
        eventLoop.preconditionInEventLoop()
        switch machine.initError(type: type, body: body) {
        case .accept(let outcome):
            initErrorPromise.succeed(outcome)
            let promise = pending
            pending = nil
            promise?.succeed(outcome)
            pendingEnd?.promise.fail(ChannelError.ioOnClosedChannel)
            pendingEnd = nil
            Self.writeAccepted(to: channel)
        case .reject(let error):
            Self.write(error: error, to: channel)
        }
    }

    // MARK: responses

    static func writeNext(_ invocation: Invocation, to channel: any Channel) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Lambda-Runtime-Aws-Request-Id", value: invocation.requestID)
        headers.add(name: "Lambda-Runtime-Deadline-Ms", value: String(invocation.deadlineMs))
        headers.add(name: "Lambda-Runtime-Invoked-Function-Arn", value: invocation.functionARN)
        if let trace = invocation.traceID { headers.add(name: "Lambda-Runtime-Trace-Id", value: trace) }
        if let context = invocation.clientContext { headers.add(name: "Lambda-Runtime-Client-Context", value: context) }
        if let identity = invocation.cognitoIdentity { headers.add(name: "Lambda-Runtime-Cognito-Identity", value: identity) }
        var body = channel.allocator.buffer(capacity: invocation.payload.count)
        body.writeBytes(invocation.payload)
        write(status: .ok, headers: headers, body: body, to: channel)
    }

    static func writeAccepted(to channel: any Channel) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        write(status: .accepted, headers: headers, body: channel.allocator.buffer(string: "{\"status\":\"OK\"}"), to: channel)
    }

    static func write(error: RuntimeAPIError, to channel: any Channel) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Lambda-Runtime-Function-Error-Type", value: error.errorType)
        write(status: HTTPResponseStatus(statusCode: error.status), headers: headers,
              body: channel.allocator.buffer(string: error.body), to: channel)
    }

    static func write(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, to channel: any Channel) {
        var headers = headers
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
    }
}
