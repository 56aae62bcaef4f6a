import Foundation
import HearthEvents

/// The caller a signed (AWS_IAM) request proves, for `requestContext.authorizer.iam`.
public struct IAMCaller: Sendable, Equatable {
    public var accessKey: String
    public var accountID: String

    public init(accessKey: String, accountID: String) {
        self.accessKey = accessKey
        self.accountID = accountID
    }
}

/// What the event says about where the request landed: the API (or URL) and its route and stage.
public struct TriggerContext: Sendable {
    public var apiID: String
    /// `requestContext.accountId`: the owner, or `anonymous` for a Function URL with AuthType NONE.
    public var accountID: String
    public var domainName: String
    public var domainPrefix: String
    public var routeKey: String
    public var stage: String
    /// The route's path (`/items/{id}`) for payload 1.0's `resource`; the route key for `$default`.
    public var resourcePath: String
    public var routeID: String?
    public var pathParameters: [String: String]?
    public var stageVariables: [String: String]?
    public var iam: IAMCaller?

    public init(apiID: String, accountID: String, domainName: String, domainPrefix: String, routeKey: String = "$default",
                stage: String = "$default", resourcePath: String? = nil, routeID: String? = nil, pathParameters: [String: String]? = nil,
                stageVariables: [String: String]? = nil, iam: IAMCaller? = nil) {
        self.apiID = apiID
        self.accountID = accountID
        self.domainName = domainName
        self.domainPrefix = domainPrefix
        self.routeKey = routeKey
        self.stage = stage
        self.resourcePath = resourcePath ?? routeKey
        self.routeID = routeID
        self.pathParameters = pathParameters
        self.stageVariables = stageVariables
        self.iam = iam
    }
}

/// Payload format 2.0 (HTTP APIs and Function URLs), exactly as AWS builds it: header names
/// lower-cased and duplicates joined with commas, `cookie` headers moved to `cookies`, repeated
/// query parameters joined with commas in `queryStringParameters` while `rawQueryString` keeps
/// the raw form, `body` absent when empty, binary bodies base64. Pure.
public enum PayloadV2 {
    public static func event(_ request: TriggerRequest, _ context: TriggerContext) -> [String: Any] {
        var headers: [String: String] = [:]
        var cookies: [String] = []
        for (name, value) in request.headers {
            let key = name.lowercased()
            if key == "cookie" {
                cookies += value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                continue
            }
            headers[key] = headers[key].map { $0 + "," + value } ?? value
        }
        for (key, value) in forwardedHeaders(request) {
            headers[key] = key == "x-forwarded-for" ? headers[key].map { $0 + ", " + value } ?? value : value
        }
        var query: [String: String] = [:]
        for (key, value) in request.queryItems {
            query[key] = query[key].map { $0 + "," + value } ?? value
        }
        let http: [String: Any] = [
            "method": request.method,
            "path": request.decodedPath,
            "protocol": request.protocolName,
            "sourceIp": request.sourceIP,
            "userAgent": request.header("User-Agent") ?? "",
        ]
        var requestContext: [String: Any] = [
            "accountId": context.accountID,
            "apiId": context.apiID,
            "domainName": context.domainName,
            "domainPrefix": context.domainPrefix,
            "http": http,
            "requestId": request.requestID,
            "routeKey": context.routeKey,
            "stage": context.stage,
            "time": request.timeText,
            "timeEpoch": request.timeEpochMs,
        ]
        if let iam = context.iam {
            requestContext["authorizer"] = ["iam": [
                "accessKey": iam.accessKey,
                "accountId": iam.accountID,
                "callerId": iam.accountID,
                "cognitoIdentity": NSNull(),
                "principalOrgId": NSNull(),
                // Hearth's credentials act as the account's root user (ADR 0013).
                "userArn": "arn:aws:iam::\(iam.accountID):root",
                "userId": iam.accountID,
            ] as [String: Any]]
        }
        var event: [String: Any] = [
            "version": "2.0",
            "routeKey": context.routeKey,
            "rawPath": request.rawPath,
            "rawQueryString": request.rawQuery,
            "headers": headers,
            "requestContext": requestContext,
        ]
        if !cookies.isEmpty { event["cookies"] = cookies }
        if !query.isEmpty { event["queryStringParameters"] = query }
        if let parameters = context.pathParameters, !parameters.isEmpty { event["pathParameters"] = parameters }
        if let variables = context.stageVariables, !variables.isEmpty { event["stageVariables"] = variables }
        let (body, base64) = request.eventBody()
        if let body { event["body"] = body }
        event["isBase64Encoded"] = base64
        return event
    }

    /// What AWS's front end adds to every request (lower-case for 2.0).
    static func forwardedHeaders(_ request: TriggerRequest) -> [(String, String)] {
        [("x-forwarded-for", request.sourceIP), ("x-forwarded-port", String(request.port)), ("x-forwarded-proto", "http"),
         ("x-amzn-trace-id", request.traceID)]
    }

    /// The event as the bytes handed to the function: `JSONText`, as `JSONSerialization` writes
    /// it with sorted keys and unescaped slashes (which was 35% of the supervisor's CPU for a
    /// Function URL request on Linux).
    public static func encode(_ event: [String: Any]) -> [UInt8] {
        JSONText.data(event, sortedKeys: true)
    }
}
