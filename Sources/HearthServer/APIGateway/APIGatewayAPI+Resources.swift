import Foundation
import HearthStore

// CreateApi (with quick create), GetApi(s), UpdateApi, DeleteApi; and Create/Get/Update/Delete
// of routes, integrations and stages, with API Gateway's shapes and checks.
extension APIGatewayAPI {
    // MARK: APIs

    func apiShape(_ api: HTTPAPIDocument) -> [String: Any] {
        var object = Self.decode(api.document)
        object["apiId"] = api.apiID
        object["apiEndpoint"] = settings.apiEndpoint(id: api.apiID)
        object["createdDate"] = Self.timestamp(api.created)
        return object
    }

    func createApi(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let body = try Self.body(request)
        guard let name = body["name"] as? String, (1...128).contains(name.count) else {
            throw APIGatewayError.badRequest("Invalid input: name is required (1 to 128 characters)")
        }
        guard let protocolType = body["protocolType"] as? String else { throw APIGatewayError.badRequest("Invalid input: protocolType is required") }
        guard protocolType == "HTTP" else {
            throw APIGatewayError.badRequest("Hearth offers HTTP APIs only (protocolType HTTP), not \(protocolType)")
        }
        let now = Date()
        let apiID = TriggerSettings.newID(10)
        var doc: [String: Any] = [
            "name": name, "protocolType": "HTTP", "apiKeySelectionExpression": body["apiKeySelectionExpression"] as? String ?? "$request.header.x-api-key",
            "routeSelectionExpression": body["routeSelectionExpression"] as? String ?? "$request.method $request.path",
            "disableExecuteApiEndpoint": body["disableExecuteApiEndpoint"] as? Bool ?? false,
            "tags": body["tags"] as? [String: String] ?? [String: String](), "ipAddressType": "ipv4",
        ]
        if let description = body["description"] as? String { doc["description"] = description }
        if let version = body["version"] as? String { doc["version"] = version }
        if let cors = try Self.cors(body["corsConfiguration"]) { doc["corsConfiguration"] = cors }
        var children: [HTTPAPIDocument] = []
        if let target = body["target"] as? String {
            // Quick create: a Lambda proxy integration (2.0), a route (`$default` unless routeKey
            // says otherwise) and the `$default` stage with automatic deployment.
            let integrationID = TriggerSettings.newID(7)
            var integration = try integrationDocument(["integrationType": "AWS_PROXY", "integrationUri": target, "payloadFormatVersion": "2.0"], existing: nil)
            integration["apiGatewayManaged"] = true
            children.append(HTTPAPIDocument(apiID: apiID, kind: Kind.integration.rawValue, id: integrationID, document: try Self.encode(integration),
                                            created: now, modified: now))
            var route = try routeDocument(["routeKey": body["routeKey"] as? String ?? "$default", "target": "integrations/\(integrationID)"],
                                          apiID: apiID, existing: nil, pending: children)
            route["apiGatewayManaged"] = true
            children.append(HTTPAPIDocument(apiID: apiID, kind: Kind.route.rawValue, id: TriggerSettings.newID(7), document: try Self.encode(route),
                                            created: now, modified: now))
            var stage = try stageDocument(["stageName": "$default", "autoDeploy": true], existing: nil)
            stage["apiGatewayManaged"] = true
            children.append(HTTPAPIDocument(apiID: apiID, kind: Kind.stage.rawValue, id: "$default", document: try Self.encode(stage),
                                            created: now, modified: now))
        } else if body["routeKey"] != nil {
            throw APIGatewayError.badRequest("routeKey is only used with target (quick create)")
        }
        let api = HTTPAPIDocument(apiID: apiID, kind: nil, id: apiID, document: try Self.encode(doc), created: now, modified: now)
        try store.createHTTPAPI(api, children: children)
        return Self.json(apiShape(api), status: 201, requestID: requestID)
    }

    func getApi(_ apiID: String, requestID: String) throws -> HTTPResponse {
        Self.json(apiShape(try requireAPI(apiID)), requestID: requestID)
    }

    func getApis(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let (limit, after) = try Self.page(request)
        let (apis, next) = try store.httpAPIs(after: after, limit: limit)
        var object: [String: Any] = ["items": apis.map(apiShape)]
        if let next { object["nextToken"] = next }
        return Self.json(object, requestID: requestID)
    }

    func updateApi(_ apiID: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        var api = try requireAPI(apiID)
        let body = try Self.body(request)
        var doc = Self.decode(api.document)
        if let name = body["name"] as? String {
            guard (1...128).contains(name.count) else { throw APIGatewayError.badRequest("Invalid input: name must have 1 to 128 characters") }
            doc["name"] = name
        }
        for key in ["description", "version"] { if let value = body[key] as? String { doc[key] = value } }
        if let flag = body["disableExecuteApiEndpoint"] as? Bool { doc["disableExecuteApiEndpoint"] = flag }
        if body["corsConfiguration"] != nil { doc["corsConfiguration"] = try Self.cors(body["corsConfiguration"]) }
        api.document = try Self.encode(doc)
        try store.updateHTTPAPI(api)
        return Self.json(apiShape(api), requestID: requestID)
    }

    func deleteApi(_ apiID: String, requestID: String) throws -> HTTPResponse {
        _ = try requireAPI(apiID)
        try store.deleteHTTPAPI(apiID)
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    // MARK: routes, integrations, stages

    func childShape(_ kind: Kind, _ child: HTTPAPIDocument) -> [String: Any] {
        var object = Self.decode(child.document)
        object[kind.idField] = child.id
        if kind == .stage {
            object["createdDate"] = Self.timestamp(child.created)
            object["lastUpdatedDate"] = Self.timestamp(child.modified)
        }
        return object
    }

    func create(_ kind: Kind, apiID: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        _ = try requireAPI(apiID)
        let body = try Self.body(request)
        let now = Date()
        let doc: [String: Any]
        let id: String
        switch kind {
        case .route:
            doc = try routeDocument(body, apiID: apiID, existing: nil)
            id = TriggerSettings.newID(7)
        case .integration:
            doc = try integrationDocument(body, existing: nil)
            id = TriggerSettings.newID(7)
        case .stage:
            doc = try stageDocument(body, existing: nil)
            id = doc["stageName"] as! String
        }
        let child = HTTPAPIDocument(apiID: apiID, kind: kind.rawValue, id: id, document: try Self.encode(doc), created: now, modified: now)
        do {
            try store.createHTTPAPIChild(child)
        } catch StoreError.conflict {
            throw APIGatewayError.conflict("Stage \(id) already exists")
        }
        return Self.json(childShape(kind, child), status: 201, requestID: requestID)
    }

    func list(_ kind: Kind, apiID: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        _ = try requireAPI(apiID)
        let (limit, after) = try Self.page(request)
        let all = try store.httpAPIChildren(apiID: apiID, kind: kind.rawValue).filter { after == nil || $0.id > after! }
        var object: [String: Any] = ["items": all.prefix(limit).map { childShape(kind, $0) }]
        if all.count > limit, let last = all.prefix(limit).last { object["nextToken"] = last.id }
        return Self.json(object, requestID: requestID)
    }

    func requireChild(_ kind: Kind, apiID: String, id: String) throws -> HTTPAPIDocument {
        _ = try requireAPI(apiID)
        guard let child = try store.httpAPIChildren(apiID: apiID, kind: kind.rawValue).first(where: { $0.id == id }) else {
            let label = kind.rawValue.prefix(1).uppercased() + kind.rawValue.dropFirst()
            throw APIGatewayError.notFound("Invalid \(label) identifier specified \(account):\(apiID):\(id)", resource: label)
        }
        return child
    }

    func get(_ kind: Kind, apiID: String, id: String, requestID: String) throws -> HTTPResponse {
        Self.json(childShape(kind, try requireChild(kind, apiID: apiID, id: id)), requestID: requestID)
    }

    func update(_ kind: Kind, apiID: String, id: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        var child = try requireChild(kind, apiID: apiID, id: id)
        let body = try Self.body(request)
        let existing = Self.decode(child.document)
        let doc: [String: Any]
        switch kind {
        case .route: doc = try routeDocument(body, apiID: apiID, existing: (id, existing))
        case .integration: doc = try integrationDocument(body, existing: existing)
        case .stage: doc = try stageDocument(body.merging(["stageName": id]) { $1 }, existing: existing)
        }
        child.document = try Self.encode(doc)
        child.modified = Date()
        try store.updateHTTPAPIChild(child)
        return Self.json(childShape(kind, child), requestID: requestID)
    }

    func delete(_ kind: Kind, apiID: String, id: String, requestID: String) throws -> HTTPResponse {
        _ = try requireChild(kind, apiID: apiID, id: id)
        try store.deleteHTTPAPIChild(apiID: apiID, kind: kind.rawValue, id: id)
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    // MARK: documents

    /// A route: `routeKey` (unique in the API), `target` (`integrations/<id>` of this API),
    /// `authorizationType` NONE or AWS_IAM.
    func routeDocument(_ body: [String: Any], apiID: String, existing: (id: String, doc: [String: Any])?,
                       pending: [HTTPAPIDocument] = []) throws -> [String: Any] {
        var doc = existing?.doc ?? ["apiKeyRequired": false, "authorizationType": "NONE"]
        if let key = body["routeKey"] as? String {
            do {
                _ = try RouteKey(parsing: key)
            } catch {
                throw APIGatewayError.badRequest(error.message)
            }
            let others = try store.httpAPIChildren(apiID: apiID, kind: Kind.route.rawValue).filter { $0.id != existing?.id }
            if others.contains(where: { Self.decode($0.document)["routeKey"] as? String == key }) {
                throw APIGatewayError.conflict("Route with key \(key) already exists for this API")
            }
            doc["routeKey"] = key
        } else if existing == nil {
            throw APIGatewayError.badRequest("Invalid input: routeKey is required")
        }
        if let target = body["target"] as? String {
            guard target.hasPrefix("integrations/") else {
                throw APIGatewayError.badRequest("Invalid target \(target): a route's target is integrations/INTEGRATION_ID")
            }
            let integrationID = String(target.dropFirst("integrations/".count))
            let stored = try store.httpAPIChildren(apiID: apiID, kind: Kind.integration.rawValue)
            let known = (pending + stored).contains { $0.kind == Kind.integration.rawValue && $0.id == integrationID }
            guard known else { throw APIGatewayError.badRequest("Invalid integration identifier specified \(integrationID)") }
            doc["target"] = target
        }
        if let auth = body["authorizationType"] as? String {
            guard auth == "NONE" || auth == "AWS_IAM" else {
                throw APIGatewayError.badRequest("authorizationType \(auth) is not supported by Hearth (NONE or AWS_IAM)")
            }
            doc["authorizationType"] = auth
        }
        if let required = body["apiKeyRequired"] as? Bool, required {
            throw APIGatewayError.badRequest("API keys are not supported for HTTP APIs")
        }
        return doc
    }

    /// A Lambda proxy integration: `integrationUri` is a function ARN (optionally qualified) or
    /// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations`.
    func integrationDocument(_ body: [String: Any], existing: [String: Any]?) throws -> [String: Any] {
        var doc = existing ?? ["connectionType": "INTERNET", "integrationMethod": "POST", "timeoutInMillis": 30000]
        if let type = body["integrationType"] as? String {
            guard type == "AWS_PROXY" else {
                throw APIGatewayError.badRequest("integrationType \(type) is not supported by Hearth: use AWS_PROXY with a Lambda function")
            }
            doc["integrationType"] = type
        } else if existing == nil {
            throw APIGatewayError.badRequest("Invalid input: integrationType is required")
        }
        if let uri = body["integrationUri"] as? String {
            guard Self.functionARN(inIntegrationURI: uri) != nil else {
                throw APIGatewayError.badRequest("Invalid integrationUri \(uri): a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]) is expected")
            }
            doc["integrationUri"] = uri
        } else if existing == nil {
            throw APIGatewayError.badRequest("Invalid input: integrationUri is required for AWS_PROXY integrations")
        }
        if let version = body["payloadFormatVersion"] as? String {
            guard version == "1.0" || version == "2.0" else {
                throw APIGatewayError.badRequest("Invalid payloadFormatVersion \(version): 1.0 or 2.0")
            }
            doc["payloadFormatVersion"] = version
        } else if existing == nil {
            throw APIGatewayError.badRequest("Invalid input: payloadFormatVersion is required for AWS_PROXY integrations (1.0 or 2.0)")
        }
        if let timeout = body["timeoutInMillis"] {
            guard let n = timeout as? NSNumber, !ProxyResponse.isBool(timeout), (50...30000).contains(n.intValue) else {
                throw APIGatewayError.badRequest("Invalid timeoutInMillis \(timeout): between 50 and 30000")
            }
            doc["timeoutInMillis"] = n.intValue
        }
        if let description = body["description"] as? String { doc["description"] = description }
        return doc
    }

    /// The function (name, qualifier) of an integration URI, or nil.
    static func functionARN(inIntegrationURI uri: String) -> FunctionRef? {
        var arn = uri
        if uri.hasPrefix("arn:aws:apigateway:"), let start = uri.range(of: "/functions/"), uri.hasSuffix("/invocations") {
            arn = String(uri[start.upperBound..<uri.index(uri.endIndex, offsetBy: -"/invocations".count)])
        }
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 7 || parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "function", !parts[6].isEmpty else {
            return nil
        }
        return FunctionRef(name: parts[6], qualifier: parts.count == 8 ? parts[7] : nil)
    }

    /// A stage: `$default` (served at the root) or a name served as the first path segment,
    /// with `autoDeploy` and `stageVariables`.
    func stageDocument(_ body: [String: Any], existing: [String: Any]?) throws -> [String: Any] {
        var doc = existing ?? ["autoDeploy": false, "defaultRouteSettings": ["detailedMetricsEnabled": false], "routeSettings": [String: Any](),
                               "stageVariables": [String: String](), "tags": [String: String]()]
        guard let name = body["stageName"] as? String else { throw APIGatewayError.badRequest("Invalid input: stageName is required") }
        let valid = name == "$default" || ((1...128).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) })
        guard valid else { throw APIGatewayError.badRequest("Stage name only allows a-zA-Z0-9._-~, or $default") }
        if existing == nil { doc["stageName"] = name }
        if let auto = body["autoDeploy"] as? Bool { doc["autoDeploy"] = auto }
        if let description = body["description"] as? String { doc["description"] = description }
        if let variables = body["stageVariables"] {
            guard let map = variables as? [String: String] else { throw APIGatewayError.badRequest("stageVariables must map names to strings") }
            for key in map.keys where !(1...64).contains(key.count) || !key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                throw APIGatewayError.badRequest("Stage variable name \(key) must match [A-Za-z0-9_]{1,64}")
            }
            doc["stageVariables"] = map
        }
        if let tags = body["tags"] as? [String: String] { doc["tags"] = tags }
        return doc
    }
}
