import Foundation
import HearthCore
import HearthStore
import NIOPosix
import Synchronization

// The data plane of Function URLs and HTTP APIs: a request routed here by its Host (or, on
// `--http-listen`, its first path segment) becomes an event, runs through `execute` exactly
// as an Invoke does (pool, throttles, logs, metrics), and its result is mapped back to HTTP.
extension LambdaAPI {
    /// Lambda's synchronous payload limit applies to the event handed to the function.
    static let maxTriggerPayload = 6 * 1024 * 1024

    /// `--http-listen`'s handler: only triggers. Host first; else the first path segment names
    /// a Function URL's id or an HTTP API's id, and the rest of the path is the request's.
    public func handleDataPlane(_ request: HTTPRequest) async -> HTTPResponse {
        if let target = TriggerHost.parse(request.header("Host")) {
            return await serveTrigger(request, target: target, path: request.rawPath)
        }
        let segments = request.rawPath.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if segments.count >= 2, segments[0].isEmpty {
            let id = String(segments[1].prefix { $0 != "/" }).lowercased()
            let rest = segments[1].dropFirst(id.count)
            let path = rest.isEmpty ? "/" : String(rest)
            if id.count == 32, (try? store.functionURL(id: id)) != nil {
                return await serveTrigger(request, target: .functionURL(id: id, region: region), path: path)
            }
            if !id.isEmpty, (try? store.httpAPI(id)) != nil {
                return await serveTrigger(request, target: .httpAPI(id: id), path: path)
            }
        }
        let requestID = RequestID.make()
        let failure = ProxyResponse.failure(.notFound, kind: .httpAPI, requestID: requestID)
        return HTTPResponse(status: failure.status, headers: failure.headers, body: failure.body)
    }

    /// Serves one trigger request; `path` is the request's path as the function sees it.
    func serveTrigger(_ request: HTTPRequest, target: TriggerHost, path: String) async -> HTTPResponse {
        let requestID = RequestID.make()
        var trigger = TriggerRequest(
            method: request.method, rawPath: path.isEmpty ? "/" : path, rawQuery: request.rawQuery, headers: request.headers, body: request.body,
            sourceIP: request.remoteIP ?? "127.0.0.1", protocolName: request.httpVersion, port: request.localPort ?? triggerSettings.port,
            timeEpochMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)), requestID: requestID,
            traceID: request.header("X-Amzn-Trace-Id") ?? Instance.newTraceID())
        trigger.headers.removeAll { $0.0.caseInsensitiveCompare("X-Amzn-Trace-Id") == .orderedSame }
        let started = ContinuousClock.now
        let response: HTTPResponse
        var api: String, route = "-"
        switch target {
        case .functionURL(let id, let urlRegion):
            (api, route) = (id, "$default")
            response = await serveFunctionURL(request, trigger, id: id, region: urlRegion)
        case .httpAPI(let id):
            api = id
            response = await apiGateway.serve(request, trigger, apiID: id, host: request.header("Host"), api: self, matched: &route)
        }
        recordTrigger(api: api, route: route, trigger: trigger, status: response.status, since: started)
        return response
    }

    /// Every trigger request in the metrics (`hearth_http_requests_total` and the duration
    /// histogram, by id and route key) and in the daemon's log, one line each, as an access log:
    /// `hearth: http <id> "<route key>" <method> <path> <status> <ms> ms <request id>`.
    func recordTrigger(api: String, route: String, trigger: TriggerRequest, status: Int, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        metrics.recordHTTPRequest(api: api, route: route, status: status, durationMs: ms)
        metrics.log("hearth: http \(api) \"\(route)\" \(trigger.method) \(trigger.rawPath) \(status) \(String(format: "%.1f", ms)) ms \(trigger.requestID)")
    }

    static func failure(_ failure: ProxyResponse.Failure, _ kind: TriggerKind, _ requestID: String, cors: CORSPolicy? = nil, origin: String? = nil) -> HTTPResponse {
        let answer = ProxyResponse.failure(failure, kind: kind, requestID: requestID)
        return HTTPResponse(status: answer.status, headers: cors?.apply(to: answer.headers, origin: origin) ?? answer.headers, body: answer.body)
    }

    func serveFunctionURL(_ request: HTTPRequest, _ trigger: TriggerRequest, id: String, region urlRegion: String) async -> HTTPResponse {
        let requestID = trigger.requestID
        guard urlRegion == region, let url = try? store.functionURL(id: id) else { return Self.failure(.notFound, .functionURL, requestID) }
        let cors = url.cors.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.map { CORSPolicy(json: $0, camelCase: false) }
        let origin = trigger.header("Origin")
        if let cors, CORSPolicy.isPreflight(trigger) {
            return HTTPResponse(status: 200, headers: cors.preflightHeaders(trigger) + [("x-amzn-RequestId", requestID)])
        }
        var iam: IAMCaller?
        if url.authType == "AWS_IAM" {
            guard let caller = verifyIAM(request) else { return Self.failure(.forbidden, .functionURL, requestID, cors: cors, origin: origin) }
            iam = caller
        }
        if request.bodyTooLarge || request.body.count > Self.maxTriggerPayload {
            return Self.failure(.requestTooLarge, .functionURL, requestID, cors: cors, origin: origin)
        }
        let host = (request.header("Host") ?? "").split(separator: ":").first.map(String.init)?.lowercased()
        let domain = host.flatMap { TriggerHost.parse($0) != nil ? $0 : nil } ?? "\(id).lambda-url.\(region).localhost"
        let context = TriggerContext(apiID: id, accountID: iam == nil ? "anonymous" : account, domainName: domain, domainPrefix: id, iam: iam)
        let event = PayloadV2.encode(PayloadV2.event(trigger, context))
        let ref = FunctionRef(name: url.function, qualifier: url.qualifier)
        if url.invokeMode == "RESPONSE_STREAM" {
            return await streamFunctionURL(ref, event: event, trigger: trigger, urlID: id, cors: cors, origin: origin)
        }
        let outcome = await invokeForTrigger(ref, event: event, trigger: trigger, timeoutMs: nil)
        var response: HTTPResponse
        switch outcome {
        case .failed(let failure): response = Self.failure(failure, .functionURL, requestID)
        case .answered(let payload):
            do {
                let mapped = try ProxyResponse.mapV2(payload)
                response = HTTPResponse(status: mapped.status, headers: mapped.headers + [("x-amzn-RequestId", requestID)], body: mapped.body)
            } catch {
                metrics.log("hearth: function URL \(id) (\(url.function)): malformed response: \(error.reason)")
                response = Self.failure(.malformed, .functionURL, requestID)
            }
        }
        if let cors { response.headers = cors.apply(to: response.headers, origin: origin) }
        return response
    }

    /// The caller of an AWS_IAM request: a valid SigV4 signature for the service `lambda` by one
    /// of Hearth's credentials. Nil when unsigned or wrongly signed.
    func verifyIAM(_ request: HTTPRequest) -> IAMCaller? {
        guard let verifier = triggerSettings.iamVerifier ?? self.verifier else { return nil }
        guard ServiceRouter.signingName(of: request) == "lambda" else { return nil }
        guard let key = try? verifier.verify(method: request.method, path: request.rawPath, query: request.rawQuery,
                                             headers: request.headers, body: request.body) else { return nil }
        return IAMCaller(accessKey: key, accountID: account)
    }

    /// What became of a trigger's invocation.
    enum TriggerOutcome: Sendable {
        case answered([UInt8])
        case failed(ProxyResponse.Failure)
    }

    /// Invokes `ref` with `event` through `execute` (the path every Invoke takes). The client
    /// is answered at the runtime's `/response`, as API Gateway and Function URLs answer when
    /// Invoke returns; the invocation goes on until its next `/next`. Within `timeoutMs` when
    /// the integration has one (the invocation then goes on, as on AWS, but the client is
    /// answered). The invocation's task prefers the calling event loop, if this is one (ADR 0036).
    func invokeForTrigger(_ ref: FunctionRef, event: [UInt8], trigger: TriggerRequest, timeoutMs: Int?) async -> TriggerOutcome {
        if event.count > Self.maxTriggerPayload { return .failed(.requestTooLarge) }
        let resolved: (config: FunctionConfiguration, version: String)
        do {
            resolved = try resolve(ref, weighted: true)
        } catch {
            metrics.log("hearth: HTTP trigger for \(ref.name): \(error)")
            return .failed(.functionError)
        }
        let race = Race<TriggerOutcome>()
        let loop = MultiThreadedEventLoopGroup.currentEventLoop.map(EventLoopTaskExecutor.of)
        return await withCheckedContinuation { continuation in
            race.start(continuation)
            let timer = timeoutMs.map { timeoutMs in
                Task {
                    try? await Task.sleep(for: .milliseconds(timeoutMs))
                    if !Task.isCancelled { race.finish(.failed(.integrationTimeout)) }
                }
            }
            Task(executorPreference: loop) { [self] in
                let outcome: TriggerOutcome
                do {
                    let record = try await execute(resolved.config, version: resolved.version, qualifier: ref.qualifier, payload: event,
                                                   requestID: trigger.requestID, traceID: trigger.traceID,
                                                   onResponse: { race.finish(TriggerOutcome(answer: $0)) })
                    outcome = TriggerOutcome(answer: record)
                } catch is PoolThrottle {
                    outcome = .failed(.throttled)
                } catch {
                    metrics.log("hearth: HTTP trigger for \(ref.name): \(error)")
                    outcome = .failed(.functionError)
                }
                timer?.cancel()
                race.finish(outcome)
            }
        }
    }
}

extension LambdaAPI.TriggerOutcome {
    /// The function's answer, or a function error.
    init(answer record: InvocationRecord) {
        self = record.errorType == nil ? .answered(record.payload) : .failed(.functionError)
    }
}

/// The first `finish` resumes the continuation `start` gave; later ones are dropped.
final class Race<T: Sendable>: Sendable {
    private let slot = Mutex<CheckedContinuation<T, Never>?>(nil)

    func start(_ continuation: CheckedContinuation<T, Never>) {
        slot.withLock { $0 = continuation }
    }

    func finish(_ value: T) {
        let pending = slot.withLock { slot -> CheckedContinuation<T, Never>? in
            defer { slot = nil }
            return slot
        }
        pending?.resume(returning: value)
    }
}
