import Foundation
import HearthRuntimeAPI
import HearthCore
import HearthEvents
import HearthQueues
import HearthStore
import Synchronization

/// The Lambda REST API over the store, the code store and the instance pool.
///
/// Each request is parsed into a route, authenticated (SigV4, unless `verifier` is nil) and
/// answered with Lambda's JSON shapes and error format. Thread-safe; holds no HTTP framing.
public final class LambdaAPI: Sendable {
    /// Lambda's limit for a synchronous invocation's payload.
    public static let maxInvokePayload = 6 * 1024 * 1024
    /// Lambda's limit for an asynchronous invocation's payload (1 MB).
    public static let maxAsyncInvokePayload = 1024 * 1024

    let store: Store
    let code: CodeStore
    let pool: InstancePool
    let images: RuntimeImages
    let containerImages: ContainerImages?
    let logs: FunctionLogs
    let metrics: Metrics
    let verifier: SigV4Verifier?
    let region: String
    let account = "000000000000"
    let userNamespace: Bool
    /// What the pool runs, per function version, kept between invocations.
    let deployedVersions = DeployedVersions()
    /// EventBridge Scheduler, on the same listener and store.
    let scheduler: SchedulerAPI
    /// The port and IAM verifier of the HTTP triggers (Function URLs, HTTP APIs).
    public let triggerSettings = TriggerSettings()
    /// API Gateway HTTP APIs' control plane (`apigateway` signing name).
    let apiGateway: APIGatewayAPI
    private let asyncDispatcher = Mutex<LedgerDispatcher?>(nil)
    /// Step Functions (set once by the daemon, with its execution driver).
    private let statesBox = Mutex<StatesAPI?>(nil)
    var states: StatesAPI? { statesBox.withLock { $0 } }
    func attach(states: StatesAPI) { statesBox.withLock { $0 = states } }
    /// SQS and the event source mappings (set once by the daemon, on the ledger).
    private let queueServices = Mutex<(sqs: SQSAPI, mappings: EventSourceMappings)?>(nil)

    var sqs: SQSAPI? { queueServices.withLock { $0?.sqs } }
    var mappings: EventSourceMappings? { queueServices.withLock { $0?.mappings } }
    public var queues: QueueService? { sqs?.queues }

    /// Serves SQS on `queues` and runs the stored event source mappings from it.
    public func attach(queues: QueueService, log: @escaping @Sendable (String) -> Void) throws {
        let mappings = EventSourceMappings(store: store, queues: queues, invoker: MappingRunner(api: self), log: log)
        queueServices.withLock { $0 = (SQSAPI(queues: queues), mappings) }
        try mappings.start()
        Task { await queues.resumeMoveTasks() }
    }

    /// Stops the event source mappings' pollers, the message move tasks and the retention
    /// sweep (shutdown).
    public func stopMappings() async {
        await mappings?.stop()
        await queues?.stopMoveTasks()
        await queues?.stopSweeping()
    }

    /// The dispatcher of asynchronous invocations (set once by the daemon: it runs them
    /// through this API's `execute`).
    var events: LedgerDispatcher? { asyncDispatcher.withLock { $0 } }

    public func attach(events dispatcher: LedgerDispatcher) {
        asyncDispatcher.withLock { $0 = dispatcher }
    }

    public init(store: Store, code: CodeStore, pool: InstancePool, images: RuntimeImages, containerImages: ContainerImages? = nil,
                logs: FunctionLogs, metrics: Metrics, verifier: SigV4Verifier?, region: String, userNamespace: Bool = false) {
        self.store = store
        self.code = code
        self.pool = pool
        self.images = images
        self.containerImages = containerImages
        self.logs = logs
        self.metrics = metrics
        self.verifier = verifier
        self.region = region
        self.userNamespace = userNamespace
        self.scheduler = SchedulerAPI(store: store, region: region, account: account)
        self.apiGateway = APIGatewayAPI(store: store, region: region, account: account, settings: triggerSettings)
    }

    // MARK: entry point

    /// Answers unsigned requests before their bodies are buffered (when auth is on).
    public func preflight(_ request: HTTPRequest) -> HTTPResponse? {
        // --auth none: nothing to check here.
        guard verifier != nil else { return nil }
        // HTTP triggers authenticate (or not) by their own rules.
        if TriggerHost.parse(request.header("Host")) != nil { return nil }
        guard request.method != "GET" || (request.rawPath != "/" && request.rawPath != "/metrics") else { return nil }
        let signed = request.header("Authorization") != nil || request.rawQuery.contains("X-Amz-Algorithm=")
        if signed { return nil }
        let error = SigV4Error.missingAuthentication
        return LambdaError(status: error.httpStatus, type: error.errorType, message: error.message)
            .response(requestID: UUID().uuidString.lowercased())
    }

    /// The requests whose handler runs on its connection's event loop (ADR 0036): a synchronous
    /// Invoke and a Function URL or HTTP API request, the warm paths. Everything they do there
    /// is short and non-blocking (store reads, the pool's bookkeeping, the Runtime API exchange,
    /// a log append); what can block (a version's first preparation, an unprepared cold start)
    /// hops off the loop first. Every other operation (SQLite writes with their fsync, code
    /// uploads) runs on Swift's pool.
    public func runsOnEventLoop(_ request: HTTPRequest) -> Bool {
        InvokeRequest.isSynchronousInvoke(request) || TriggerHost.parse(request.header("Host")) != nil
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        // Function URLs and HTTP APIs are told apart by Host, before any SigV4 routing.
        if let target = TriggerHost.parse(request.header("Host")) {
            return await serveTrigger(request, target: target, path: request.rawPath)
        }
        let requestID = RequestID.make()
        let segments = request.rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map(\.percentDecodedSegment)
        // Unauthenticated: the health document and Prometheus metrics.
        if request.method == "GET" && (request.rawPath == "/" || request.rawPath.isEmpty) {
            return LambdaShapes.json(["service": "hearth", "status": "ok", "region": region], requestID: requestID)
        }
        if request.method == "GET" && request.rawPath == "/metrics" {
            let stats = await pool.stats()
            let depth = (try? await events?.ledger.read { try $0.depth(kind: LedgerKind.lambdaInvoke) }) ?? [:]
            var text = metrics.render(concurrent: stats.busy, idle: stats.idle, instances: stats.total, shells: stats.shells,
                                      asyncDepth: depth ?? [:])
            if let states { text += states.driver.metrics.render(open: await states.driver.engine.openCount) }
            if let queues { text += await SQSMetrics.render(queues) }
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8))
        }
        do {
            if request.bodyTooLarge {
                throw LambdaError.requestTooLarge("Request must be smaller than \(HearthServerLimits.maxRequestBytes) bytes")
            }
            if let verifier {
                do {
                    _ = try verifier.verify(method: request.method, path: request.rawPath, query: request.rawQuery,
                                            headers: request.headers, body: request.body)
                } catch {
                    throw LambdaError(status: error.httpStatus, type: error.errorType, message: error.message)
                }
            }
            // One listener, several AWS services: told apart by the signing name and X-Amz-Target.
            switch ServiceRouter.service(of: request) {
            case .unknown(let name): return ServiceRouter.unknownService(name, request: request, requestID: requestID)
            case .scheduler: return await scheduler.handle(request, requestID: requestID)
            case .states:
                guard let states else { return ServiceRouter.unknownService("states", request: request, requestID: requestID) }
                return await states.handle(request, requestID: requestID)
            case .apigateway: return await apiGateway.handle(request, requestID: requestID)
            case .sqs:
                guard let sqs else { return ServiceRouter.unknownService("sqs", request: request, requestID: requestID) }
                return await sqs.handle(request, requestID: requestID)
            case .lambda: break
            }
            return try await route(request, segments: segments, requestID: requestID)
        } catch let error as LambdaError {
            return error.response(requestID: requestID)
        } catch let error as StoreError {
            return Self.lambdaError(error).response(requestID: requestID)
        } catch let error as HearthError {
            return LambdaError.invalidParameter(error.description).response(requestID: requestID)
        } catch {
            return LambdaError.service("\(error)").response(requestID: requestID)
        }
    }

    static func lambdaError(_ error: StoreError) -> LambdaError {
        switch error {
        case .notFound(let what): return .notFound(what)
        case .conflict(let what): return .conflict(what)
        case .invalid(let what): return .invalidParameter(what)
        case .preconditionFailed(let what): return LambdaError(status: 412, type: "PreconditionFailedException", message: what)
        }
    }

    private func route(_ request: HTTPRequest, segments: [String], requestID: String) async throws -> HTTPResponse {
        let m = request.method
        switch (m, segments.count, segments.first) {
        case (_, _, "2015-03-31") where segments.count >= 2 && segments[1] == "functions":
            let rest = Array(segments.dropFirst(2))
            switch (m, rest.count) {
            case ("POST", 0): return try await createFunction(request, requestID: requestID)
            case ("GET", 0): return try listFunctions(request, requestID: requestID)
            case ("GET", 1) where rest[0].isEmpty: return try listFunctions(request, requestID: requestID)
            case ("GET", 1): return try getFunction(rest[0], request, requestID: requestID)
            case ("DELETE", 1): return try await deleteFunction(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "configuration": return try getConfiguration(rest[0], request, requestID: requestID)
            case ("PUT", 2) where rest[1] == "configuration": return try await updateConfiguration(rest[0], request, requestID: requestID)
            case ("PUT", 2) where rest[1] == "code": return try await updateCode(rest[0], request, requestID: requestID)
            case ("POST", 2) where rest[1] == "invocations": return try await invoke(rest[0], request, requestID: requestID)
            case ("POST", 2) where rest[1] == "versions": return try publishVersion(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "versions": return try listVersions(rest[0], requestID: requestID)
            case ("POST", 2) where rest[1] == "aliases": return try createAlias(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "aliases": return try listAliases(rest[0], requestID: requestID)
            case ("GET", 3) where rest[1] == "aliases": return try getAlias(rest[0], rest[2], requestID: requestID)
            case ("PUT", 3) where rest[1] == "aliases": return try await updateAlias(rest[0], rest[2], request, requestID: requestID)
            case ("DELETE", 3) where rest[1] == "aliases": return try deleteAlias(rest[0], rest[2], requestID: requestID)
            case ("POST", 2) where rest[1] == "policy": return try addPermission(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "policy": return try getPolicy(rest[0], request, requestID: requestID)
            case ("DELETE", 3) where rest[1] == "policy": return try removePermission(rest[0], rest[2], request, requestID: requestID)
            default: break
            }
        case (_, 4, "2021-10-31") where segments[1] == "functions" && segments[3] == "url":
            switch m {
            case "POST": return try createFunctionURL(segments[2], request, requestID: requestID)
            case "GET": return try getFunctionURL(segments[2], request, requestID: requestID)
            case "PUT": return try updateFunctionURL(segments[2], request, requestID: requestID)
            case "DELETE": return try deleteFunctionURL(segments[2], request, requestID: requestID)
            default: break
            }
        case ("GET", 4, "2021-10-31") where segments[1] == "functions" && segments[3] == "urls":
            return try listFunctionURLs(segments[2], request, requestID: requestID)
        case (_, _, "2015-03-31") where segments.count >= 2 && segments[1] == "event-source-mappings":
            if let response = try await eventSourceMappingsRoute(request, rest: Array(segments.dropFirst(2)), requestID: requestID) {
                return response
            }
        case ("POST", 4, "2021-11-15") where segments[1] == "functions" && segments[3] == "response-streaming-invocations":
            return try await invokeWithResponseStream(segments[2], request, requestID: requestID)
        case ("PUT", 4, "2017-10-31") where segments[1] == "functions" && segments[3] == "concurrency":
            return try await putConcurrency(segments[2], request, requestID: requestID)
        case ("DELETE", 4, "2017-10-31") where segments[1] == "functions" && segments[3] == "concurrency":
            return try await deleteConcurrency(segments[2], requestID: requestID)
        case ("GET", 4, "2019-09-30") where segments[1] == "functions" && segments[3] == "concurrency":
            return try getConcurrency(segments[2], requestID: requestID)
        case (_, 4, "2019-09-30") where segments[1] == "functions" && segments[3] == "provisioned-concurrency":
            return try await provisionedConcurrency(segments[2], request, requestID: requestID)
        case (_, _, "2018-10-31") where segments.count >= 2 && segments[1] == "layers":
            let rest = Array(segments.dropFirst(2))
            switch (m, rest.count) {
            case ("GET", 0): return try listLayers(requestID: requestID)
            case ("POST", 2) where rest[1] == "versions": return try publishLayerVersion(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "versions": return try listLayerVersions(rest[0], requestID: requestID)
            case ("GET", 3) where rest[1] == "versions": return try getLayerVersion(rest[0], rest[2], requestID: requestID)
            case ("DELETE", 3) where rest[1] == "versions": return try deleteLayerVersion(rest[0], rest[2], requestID: requestID)
            default: break
            }
        case (_, 2...3, "hearth") where segments[1] == "stacks":
            return try stacksRoute(m, segments, request, requestID: requestID)
        case ("GET", 4, "hearth") where segments[1] == "functions" && segments[3] == "logs":
            return try getLogs(segments[2], request, requestID: requestID)
        case ("GET", 4, "hearth") where segments[1] == "functions" && segments[3] == "events":
            return try await getEvents(segments[2], request, requestID: requestID)
        case ("GET", 5, "hearth") where segments[1] == "schedules" && segments[4] == "firings":
            return try await scheduler.firings(group: segments[2], name: segments[3], requestID: requestID)
        case ("POST", _, "2014-11-13") where (segments.count == 4 || (segments.count == 5 && segments[4].isEmpty))
                                            && segments[1] == "functions" && segments[3] == "invoke-async":
            return try await invokeAsync(segments[2], request, requestID: requestID)
        case (_, _, "2019-09-25") where segments.count >= 4 && segments[1] == "functions" && segments[3] == "event-invoke-config":
            switch (m, segments.count) {
            case ("GET", 5) where segments[4] == "list": return try listEventInvokeConfigs(segments[2], request, requestID: requestID)
            case ("PUT", 4): return try putEventInvokeConfig(segments[2], request, merge: false, requestID: requestID)
            case ("POST", 4): return try putEventInvokeConfig(segments[2], request, merge: true, requestID: requestID)
            case ("GET", 4): return try getEventInvokeConfig(segments[2], request, requestID: requestID)
            case ("DELETE", 4): return try deleteEventInvokeConfig(segments[2], request, requestID: requestID)
            default: break
            }
        default: break
        }
        throw LambdaError(status: 404, type: "UnknownOperationException", message: "Unknown operation \(m) \(request.rawPath)")
    }

}


/// Size limits of the front door.
public enum HearthServerLimits {
    /// A CreateFunction body carries a base64 zip of up to 50 MB.
    public static let maxRequestBytes = 75 * 1024 * 1024
}
