import Foundation

/// Payload format 1.0 (REST APIs, and HTTP APIs asked for `PayloadFormatVersion: 1.0`):
/// header names as sent, `headers` and `queryStringParameters` with the last value of a
/// repeated name and `multiValueHeaders`/`multiValueQueryStringParameters` with all of them,
/// `null` for what is absent, `requestContext.identity` with the caller's address. REST-style
/// events have no `version` key (sam-cli #6442). Pure.
public enum PayloadV1 {
    /// - Parameters:
    ///   - path: the request's path without the stage prefix (`path`); `requestContext.path` keeps it.
    ///   - binaryMediaTypes: for REST-style events, the content types whose bodies are base64 (REST
    ///     APIs pass everything else as text); HTTP APIs decide as for payload 2.0.
    public static func event(_ request: TriggerRequest, _ context: TriggerContext, kind: TriggerKind, path: String,
                             binaryMediaTypes: [String] = []) -> [String: Any] {
        var names: [String: String] = [:]  // lower-cased → first spelling seen
        var order: [String] = []
        var multi: [String: [String]] = [:]
        func add(_ name: String, _ value: String) {
            let key = name.lowercased()
            if names[key] == nil {
                names[key] = name
                order.append(key)
            }
            multi[key, default: []].append(value)
        }
        for (name, value) in request.headers { add(name, value) }
        // What AWS's front end adds, in the spelling REST APIs use (`X-Forwarded-For`…).
        for (key, value) in PayloadV2.forwardedHeaders(request) {
            if let existing = multi[key]?.last {
                multi[key] = key == "x-forwarded-for" ? Array(multi[key]!.dropLast()) + [existing + ", " + value] : [value]
            } else {
                add(key.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-"), value)
            }
        }
        var headers: [String: String] = [:]
        var multiValueHeaders: [String: [String]] = [:]
        for key in order {
            let name = names[key]!
            headers[name] = multi[key]!.last!
            multiValueHeaders[name] = multi[key]!
        }

        var query: [String: String] = [:]
        var multiQuery: [String: [String]] = [:]
        for (key, value) in request.queryItems {
            query[key] = value
            multiQuery[key, default: []].append(value)
        }
        let identity: [String: Any] = [
            "accessKey": context.iam.map { $0.accessKey as Any } ?? NSNull(),
            "accountId": context.iam.map { $0.accountID as Any } ?? NSNull(),
            "caller": context.iam.map { $0.accountID as Any } ?? NSNull(),
            "cognitoAuthenticationProvider": NSNull(),
            "cognitoAuthenticationType": NSNull(),
            "cognitoIdentityId": NSNull(),
            "cognitoIdentityPoolId": NSNull(),
            "principalOrgId": NSNull(),
            "sourceIp": request.sourceIP,
            "user": context.iam.map { $0.accountID as Any } ?? NSNull(),
            "userAgent": request.header("User-Agent") ?? "",
            "userArn": context.iam.map { "arn:aws:iam::\($0.accountID):root" as Any } ?? NSNull(),
        ]
        let requestContext: [String: Any] = [
            "accountId": context.accountID,
            "apiId": context.apiID,
            "domainName": context.domainName,
            "domainPrefix": context.domainPrefix,
            "extendedRequestId": request.requestID,
            "httpMethod": request.method,
            "identity": identity,
            "path": request.decodedPath,
            "protocol": request.protocolName,
            "requestId": request.requestID,
            "requestTime": request.timeText,
            "requestTimeEpoch": request.timeEpochMs,
            "resourceId": context.routeID.map { $0 as Any } ?? NSNull(),
            "resourcePath": context.resourcePath,
            "stage": context.stage,
        ]
        let binary: Bool
        if kind == .restAPI {
            let type = request.header("Content-Type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            binary = binaryMediaTypes.contains { pattern in
                pattern == "*/*" || pattern.lowercased() == type
                    || (pattern.hasSuffix("/*") && type?.hasPrefix(pattern.lowercased().dropLast()) == true)
            } || String(validatingUTF8Bytes: request.body) == nil
        } else {
            binary = false
        }
        let (body, base64) = kind == .restAPI && !binary
            ? (request.body.isEmpty ? nil : String(decoding: request.body, as: UTF8.self), false)
            : request.eventBody(binaryAlways: binary)
        var event: [String: Any] = [
            "resource": context.resourcePath,
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multiValueHeaders,
            "queryStringParameters": query.isEmpty ? NSNull() : query,
            "multiValueQueryStringParameters": multiQuery.isEmpty ? NSNull() : multiQuery,
            "requestContext": requestContext,
            "pathParameters": context.pathParameters.flatMap { $0.isEmpty ? nil : $0 } ?? NSNull(),
            "stageVariables": context.stageVariables.flatMap { $0.isEmpty ? nil : $0 } ?? NSNull(),
            "body": body.map { $0 as Any } ?? NSNull(),
            "isBase64Encoded": base64,
        ]
        if kind == .httpAPI { event["version"] = "1.0" }
        return event
    }
}
