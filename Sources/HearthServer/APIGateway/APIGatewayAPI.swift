import Foundation
import HearthStore

/// API Gateway v2's control plane for HTTP APIs (rest-json, signing name `apigateway`, camelCase
/// members): APIs (with quick create), routes, Lambda proxy integrations and stages, stored in
/// the store as the API's documents. Reached through `ServiceRouter`; authentication is done by
/// the caller. The data plane is `APIGatewayAPI+Serve.swift`. Thread-safe; no HTTP framing.
final class APIGatewayAPI: Sendable {
    let store: Store
    let region: String
    let account: String
    let settings: TriggerSettings

    init(store: Store, region: String, account: String, settings: TriggerSettings) {
        self.store = store
        self.region = region
        self.account = account
        self.settings = settings
    }

    func handle(_ request: HTTPRequest, requestID: String) async -> HTTPResponse {
        let segments = request.rawPath.split(separator: "/", omittingEmptySubsequences: true)
            .map { String($0).removingPercentEncoding ?? String($0) }
        do {
            let m = request.method
            guard segments.count >= 2, segments[0] == "v2", segments[1] == "apis" else {
                throw APIGatewayError.notFound("Unknown operation \(m) \(request.rawPath): Hearth offers the HTTP API subset of API Gateway v2 (/v2/apis…)")
            }
            let rest = Array(segments.dropFirst(2))
            switch (m, rest.count) {
            case ("POST", 0): return try createApi(request, requestID: requestID)
            case ("GET", 0): return try getApis(request, requestID: requestID)
            case ("GET", 1): return try getApi(rest[0], requestID: requestID)
            case ("PATCH", 1): return try updateApi(rest[0], request, requestID: requestID)
            case ("DELETE", 1): return try deleteApi(rest[0], requestID: requestID)
            case (_, 2), (_, 3):
                guard let kind = Kind(collection: rest[1]) else { break }
                let id = rest.count == 3 ? rest[2] : nil
                switch (m, id) {
                case ("POST", nil): return try create(kind, apiID: rest[0], request, requestID: requestID)
                case ("GET", nil): return try list(kind, apiID: rest[0], request, requestID: requestID)
                case ("GET", let id?): return try get(kind, apiID: rest[0], id: id, requestID: requestID)
                case ("PATCH", let id?): return try update(kind, apiID: rest[0], id: id, request, requestID: requestID)
                case ("DELETE", let id?): return try delete(kind, apiID: rest[0], id: id, requestID: requestID)
                default: break
                }
            default: break
            }
            throw APIGatewayError.notFound("Unknown operation \(m) \(request.rawPath)")
        } catch let error as APIGatewayError {
            return error.response(requestID: requestID)
        } catch let error as StoreError {
            switch error {
            case .notFound(let what): return APIGatewayError.notFound(what).response(requestID: requestID)
            case .conflict(let what): return APIGatewayError.conflict(what).response(requestID: requestID)
            case .invalid(let what), .preconditionFailed(let what): return APIGatewayError.badRequest(what).response(requestID: requestID)
            }
        } catch {
            return APIGatewayError(status: 500, type: "InternalServerError", message: "\(error)").response(requestID: requestID)
        }
    }

    /// Routes, integrations and stages: the store's `kind` and the path's collection name.
    enum Kind: String {
        case route, integration, stage

        init?(collection: String) {
            switch collection {
            case "routes": self = .route
            case "integrations": self = .integration
            case "stages": self = .stage
            default: return nil
            }
        }

        var idField: String {
            switch self {
            case .route: "routeId"
            case .integration: "integrationId"
            case .stage: "stageName"
            }
        }
    }

    // MARK: helpers

    static func body(_ request: HTTPRequest) throws -> [String: Any] {
        if request.body.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
            throw APIGatewayError.badRequest("Could not parse request body into json")
        }
        return object
    }

    static func encode(_ object: [String: Any]) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    static func decode(_ bytes: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
    }

    static func json(_ object: Any, status: Int = 200, requestID: String) -> HTTPResponse {
        LambdaShapes.json(object, status: status, requestID: requestID)
    }

    /// `__timestampIso8601`: seconds, `Z`.
    static let isoFormatter = LambdaShapes.utcFormatter("yyyy-MM-dd'T'HH:mm:ss'Z'")

    static func timestamp(_ date: Date) -> String { isoFormatter.string(from: date) }

    /// `maxResults` (a string in the model) and `nextToken` (the last id of the previous page).
    static func page(_ request: HTTPRequest) throws -> (limit: Int, after: String?) {
        var limit = 100
        if let text = request.query["maxResults"] {
            guard let n = Int(text), n >= 1 else { throw APIGatewayError.badRequest("maxResults must be a positive integer") }
            limit = min(n, 500)
        }
        return (limit, request.query["nextToken"])
    }

    func requireAPI(_ apiID: String) throws -> HTTPAPIDocument {
        guard let api = try store.httpAPI(apiID) else { throw APIGatewayError.notFound("Invalid API identifier specified \(account):\(apiID)", resource: "Api") }
        return api
    }

    /// Validates a CORS configuration (camelCase) and returns it as stored.
    static func cors(_ value: Any?) throws -> [String: Any]? {
        guard let value else { return nil }
        guard let object = value as? [String: Any] else { throw APIGatewayError.badRequest("corsConfiguration must be an object") }
        for key in ["allowHeaders", "allowMethods", "allowOrigins", "exposeHeaders"] where object[key] != nil {
            guard object[key] is [String] else { throw APIGatewayError.badRequest("corsConfiguration.\(key) must be a list of strings") }
        }
        if let age = object["maxAge"] {
            guard let n = age as? NSNumber, !ProxyResponse.isBool(age), (-1...86400).contains(n.intValue) else {
                throw APIGatewayError.badRequest("corsConfiguration.maxAge must be between -1 and 86400")
            }
        }
        if let credentials = object["allowCredentials"], !ProxyResponse.isBool(credentials) {
            throw APIGatewayError.badRequest("corsConfiguration.allowCredentials must be a boolean")
        }
        if (object["allowCredentials"] as? Bool) == true, (object["allowOrigins"] as? [String])?.contains("*") == true {
            throw APIGatewayError.badRequest("allow-credentials is not supported when allow-origin is configured with a wildcard *")
        }
        return object
    }
}

/// An error as API Gateway v2 (rest-json) reports it: status, `x-amzn-ErrorType` and `{"message": …}`
/// (NotFoundException adds `resourceType`).
struct APIGatewayError: Error, Sendable {
    var status: Int
    var type: String
    var message: String
    var resourceType: String?

    static func badRequest(_ message: String) -> APIGatewayError { APIGatewayError(status: 400, type: "BadRequestException", message: message) }
    static func notFound(_ message: String, resource: String? = nil) -> APIGatewayError {
        APIGatewayError(status: 404, type: "NotFoundException", message: message, resourceType: resource)
    }
    static func conflict(_ message: String) -> APIGatewayError { APIGatewayError(status: 409, type: "ConflictException", message: message) }

    func response(requestID: String) -> HTTPResponse {
        var object: [String: Any] = ["message": message]
        if let resourceType { object["resourceType"] = resourceType }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/json"), ("x-amzn-ErrorType", type), ("x-amzn-RequestId", requestID),
        ], body: [UInt8](body))
    }
}
