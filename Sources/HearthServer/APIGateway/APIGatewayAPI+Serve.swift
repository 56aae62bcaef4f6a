import Foundation
import HearthStore

// The data plane of HTTP APIs: stage by the first path segment (else `$default`), CORS
// preflight, route selection, the integration's payload version and timeout.
extension APIGatewayAPI {
    /// What serving a request needs of an API, read once per request.
    struct Deployment {
        var cors: CORSPolicy?
        var routes: [(RouteKey, [String: Any])]
        var integrations: [String: [String: Any]]
        var stages: [String: [String: Any]]
        /// `disableExecuteApiEndpoint`: the default endpoint answers 403.
        var disabled: Bool
    }

    func deployment(_ apiID: String) throws -> Deployment? {
        guard let api = try store.httpAPI(apiID) else { return nil }
        let doc = Self.decode(api.document)
        var deployment = Deployment(cors: (doc["corsConfiguration"] as? [String: Any]).map { CORSPolicy(json: $0, camelCase: true) },
                                    routes: [], integrations: [:], stages: [:], disabled: doc["disableExecuteApiEndpoint"] as? Bool ?? false)
        for child in try store.httpAPIChildren(apiID: apiID, kind: nil) {
            var object = Self.decode(child.document)
            switch child.kind {
            case Kind.route.rawValue:
                object["routeId"] = child.id
                if let text = object["routeKey"] as? String, let key = try? RouteKey(parsing: text) { deployment.routes.append((key, object)) }
            case Kind.integration.rawValue: deployment.integrations[child.id] = object
            case Kind.stage.rawValue: deployment.stages[child.id] = object
            default: break
            }
        }
        return deployment
    }

    /// The stage a path is for and the path within it: a named stage is the first segment;
    /// anything else goes to `$default` when it exists.
    static func stage(for rawPath: String, stages: [String: [String: Any]]) -> (name: String, path: String)? {
        let trimmed = rawPath.drop { $0 == "/" }
        let first = String(trimmed.prefix { $0 != "/" })
        let decoded = first.removingPercentEncoding ?? first
        if !decoded.isEmpty, decoded != "$default", stages[decoded] != nil {
            let rest = String(trimmed.dropFirst(first.count))
            return (decoded, rest.isEmpty ? "/" : rest)
        }
        if stages["$default"] != nil { return ("$default", rawPath) }
        return nil
    }

    /// Serves one request to API `apiID`; `matched` is set to the route key that matched.
    func serve(_ request: HTTPRequest, _ trigger: TriggerRequest, apiID: String, host: String?, api lambda: LambdaAPI,
               matched: inout String) async -> HTTPResponse {
        let requestID = trigger.requestID
        let origin = trigger.header("Origin")
        func fail(_ failure: ProxyResponse.Failure, _ cors: CORSPolicy? = nil) -> HTTPResponse {
            LambdaAPI.failure(failure, .httpAPI, requestID, cors: cors, origin: origin)
        }
        guard let deployment = (try? self.deployment(apiID)) ?? nil else { return fail(.notFound) }
        if deployment.disabled { return fail(.forbidden) }
        if TriggerLimits.requestLineAndHeaderValues(trigger) > TriggerLimits.httpAPIRequestLineAndHeaders { return fail(.requestTooLarge) }
        let cors = deployment.cors
        if let cors, CORSPolicy.isPreflight(trigger) {
            return HTTPResponse(status: 204, headers: cors.preflightHeaders(trigger) + [("apigw-requestid", requestID)])
        }
        guard let (stageName, path) = Self.stage(for: trigger.rawPath, stages: deployment.stages),
              let (route, routeDoc, parameters) = RouteKey.select(method: trigger.method, rawPath: path, among: deployment.routes) else {
            return fail(.notFound, cors)
        }
        matched = route.text
        guard let target = routeDoc["target"] as? String, let integration = deployment.integrations[String(target.dropFirst("integrations/".count))],
              let uri = integration["integrationUri"] as? String, let function = Self.functionARN(inIntegrationURI: uri) else {
            return fail(.notFound, cors)
        }
        var iam: IAMCaller?
        if routeDoc["authorizationType"] as? String == "AWS_IAM" {
            guard let caller = verifyExecuteAPI(request, lambda) else { return fail(.forbidden, cors) }
            iam = caller
        }
        if request.bodyTooLarge || request.body.count > LambdaAPI.maxTriggerPayload { return fail(.requestTooLarge, cors) }
        let hostName = (host ?? "").split(separator: ":").first.map { $0.lowercased() }.flatMap { TriggerHost.parse($0) != nil ? $0 : nil }
        let context = TriggerContext(
            apiID: apiID, accountID: account, domainName: hostName ?? "\(apiID).execute-api.localhost", domainPrefix: apiID,
            routeKey: route.text, stage: stageName, resourcePath: route.resourcePath, routeID: routeDoc["routeId"] as? String,
            pathParameters: parameters, stageVariables: deployment.stages[stageName]?["stageVariables"] as? [String: String], iam: iam)
        let version = integration["payloadFormatVersion"] as? String ?? "2.0"
        let event: [String: Any] = version == "1.0"
            ? PayloadV1.event(trigger, context, kind: .httpAPI, path: path.removingPercentEncoding ?? path)
            : PayloadV2.event(trigger, context)
        let timeout = (integration["timeoutInMillis"] as? NSNumber)?.intValue ?? 30000
        let outcome = await lambda.invokeForTrigger(function, event: PayloadV2.encode(event), trigger: trigger, timeoutMs: timeout)
        var response: HTTPResponse
        switch outcome {
        case .failed(let failure): response = fail(failure)
        case .answered(let payload):
            do {
                let mapped = version == "1.0" ? try ProxyResponse.mapV1(payload) : try ProxyResponse.mapV2(payload)
                response = HTTPResponse(status: mapped.status, headers: mapped.headers + [("apigw-requestid", requestID)], body: mapped.body)
            } catch {
                lambda.metrics.log("hearth: HTTP API \(apiID) route \(route.text): malformed response from \(function.name): \(error.reason)")
                response = fail(.malformed)
            }
        }
        if let cors { response.headers = cors.apply(to: response.headers, origin: origin) }
        return response
    }

    /// A route with `AWS_IAM`: SigV4 for the service `execute-api` by one of Hearth's credentials.
    func verifyExecuteAPI(_ request: HTTPRequest, _ lambda: LambdaAPI) -> IAMCaller? {
        guard let verifier = settings.iamVerifier ?? lambda.verifier, ServiceRouter.signingName(of: request) == "execute-api",
              let key = try? verifier.verify(method: request.method, path: request.rawPath, query: request.rawQuery,
                                             headers: request.headers, body: request.body) else { return nil }
        return IAMCaller(accessKey: key, accountID: account)
    }
}
