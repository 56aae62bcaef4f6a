import Foundation

/// Turns what a function returned into the HTTP response the client gets, and the errors the
/// front end answers with, per payload version and product. Pure.
///
/// Payload 2.0 (Function URLs, HTTP APIs): a result that is valid JSON without `statusCode` is
/// sent as is, 200 `application/json` (a returned string keeps its JSON quotes, as the Function
/// URL documentation's `content-length: 15` for `"Hello, world!"` shows); otherwise
/// `statusCode`, `headers`, `cookies` (one `Set-Cookie` each), `body` and `isBase64Encoded`.
/// Payload 1.0 must be `{statusCode, headers, multiValueHeaders, body, isBase64Encoded}`.
/// Anything else is a malformed response.
public enum ProxyResponse {
    /// Why a response could not be mapped (logged by the daemon, not shown to the client).
    public struct Malformed: Error, Equatable, Sendable {
        public var reason: String
    }

    /// The product's answer for an integration failure.
    public enum Failure: Sendable, Equatable {
        /// The function failed (unhandled error, timeout, crash, oversized response).
        case functionError
        /// The function's result is not a valid proxy response.
        case malformed
        /// The pool refused the invocation (reserved concurrency, instance cap).
        case throttled
        /// The integration's `TimeoutInMillis` passed before the function answered.
        case integrationTimeout
        /// No Function URL, API, stage or route for the request.
        case notFound
        /// The request body exceeds what Lambda accepts (6 MB).
        case requestTooLarge
        /// AWS_IAM: unsigned or wrongly signed.
        case forbidden
    }

    /// The error response of `kind` for `failure` (ADR 0013 lists the sources of each).
    public static func failure(_ failure: Failure, kind: TriggerKind, requestID: String) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        let status: Int
        let body: String
        switch (failure, kind) {
        case (.functionError, .functionURL), (.malformed, .functionURL): (status, body) = (502, #"{"message":"Internal Server Error"}"#)
        case (.functionError, .httpAPI), (.malformed, .httpAPI): (status, body) = (500, #"{"message":"Internal Server Error"}"#)
        case (.functionError, .restAPI), (.malformed, .restAPI): (status, body) = (502, #"{"message": "Internal server error"}"#)
        case (.throttled, _): (status, body) = (429, #"{"message":"Too Many Requests"}"#)
        case (.integrationTimeout, .restAPI): (status, body) = (504, #"{"message": "Endpoint request timed out"}"#)
        case (.integrationTimeout, _): (status, body) = (503, #"{"message":"Service Unavailable"}"#)
        case (.notFound, _): (status, body) = (404, #"{"message":"Not Found"}"#)
        case (.requestTooLarge, _): (status, body) = (413, #"{"message":"Request Entity Too Large"}"#)
        case (.forbidden, .functionURL): (status, body) = (403, #"{"Message":"Forbidden"}"#)
        case (.forbidden, _): (status, body) = (403, #"{"message":"Forbidden"}"#)
        }
        return (status, [("Content-Type", "application/json")] + requestIDHeader(kind, requestID), Array(body.utf8))
    }

    /// `x-amzn-RequestId` (Function URLs) or `apigw-requestid` (API Gateway) on every response.
    static func requestIDHeader(_ kind: TriggerKind, _ requestID: String) -> [(String, String)] {
        kind == .functionURL ? [("x-amzn-RequestId", requestID)] : [("apigw-requestid", requestID)]
    }

    /// Maps a payload 2.0 result.
    public static func mapV2(_ payload: [UInt8]) throws(Malformed) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed]) else {
            throw Malformed(reason: "the function's response is not valid JSON")
        }
        guard let object = value as? [String: Any], object["statusCode"] != nil else {
            return (200, [("Content-Type", "application/json")], payload)
        }
        let status = try statusCode(object)
        let headers = try stringMap(object["headers"], field: "headers").map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        return (status, headers + (try setCookies(object["cookies"])), try body(object))
    }

    /// Payload 2.0's `cookies` (absent, null, or a list of strings): one `Set-Cookie` each.
    static func setCookies(_ value: Any?) throws(Malformed) -> [(String, String)] {
        guard let value, !(value is NSNull) else { return [] }
        guard let list = value as? [Any] else { throw Malformed(reason: "cookies must be a list of strings") }
        return try list.map { cookie throws(Malformed) -> (String, String) in
            guard let text = cookie as? String else { throw Malformed(reason: "cookies must be a list of strings") }
            return ("Set-Cookie", text)
        }
    }

    /// Maps a payload 1.0 result: `headers` and `multiValueHeaders` merged (a name in both takes
    /// the `multiValueHeaders` values, as API Gateway does).
    public static func mapV1(_ payload: [UInt8]) throws(Malformed) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed]),
              let object = value as? [String: Any] else {
            throw Malformed(reason: "the function's response is not a JSON object")
        }
        guard object["statusCode"] != nil else { throw Malformed(reason: "statusCode is missing") }
        let status = try statusCode(object)
        let single = try stringMap(object["headers"], field: "headers")
        var multi: [String: [String]] = [:]
        if let raw = object["multiValueHeaders"], !(raw is NSNull) {
            guard let map = raw as? [String: Any] else { throw Malformed(reason: "multiValueHeaders must map names to lists of strings") }
            for (name, values) in map {
                guard let list = values as? [Any] else { throw Malformed(reason: "multiValueHeaders must map names to lists of strings") }
                multi[name] = try list.map { item throws(Malformed) -> String in try scalar(item, field: "multiValueHeaders") }
            }
        }
        var headers: [(String, String)] = []
        for (name, value) in single.sorted(by: { $0.key < $1.key }) where !multi.keys.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) {
            headers.append((name, value))
        }
        for (name, values) in multi.sorted(by: { $0.key < $1.key }) {
            for value in values { headers.append((name, value)) }
        }
        return (status, headers, try body(object))
    }

    static func statusCode(_ object: [String: Any]) throws(Malformed) -> Int {
        guard let raw = object["statusCode"], !isBool(raw), let number = raw as? NSNumber,
              number.doubleValue == number.doubleValue.rounded(), (100...599).contains(number.intValue) else {
            throw Malformed(reason: "statusCode must be an integer between 100 and 599")
        }
        return number.intValue
    }

    /// A header value: a string, or a number or boolean written as JSON writes it.
    static func scalar(_ value: Any, field: String) throws(Malformed) -> String {
        if let text = value as? String { return text }
        if isBool(value), let flag = value as? Bool { return flag ? "true" : "false" }
        if let number = value as? NSNumber { return number.stringValue }
        throw Malformed(reason: "\(field) values must be strings")
    }

    /// Whether a decoded JSON value is `true`/`false` (not 1/0).
    static func isBool(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        if let number = value as? NSNumber { return String(cString: number.objCType) == "c" }
        return false
    }

    static func stringMap(_ value: Any?, field: String) throws(Malformed) -> [String: String] {
        guard let value, !(value is NSNull) else { return [:] }
        guard let map = value as? [String: Any] else { throw Malformed(reason: "\(field) must be an object") }
        var result: [String: String] = [:]
        for (name, item) in map { result[name] = try scalar(item, field: field) }
        return result
    }

    static func body(_ object: [String: Any]) throws(Malformed) -> [UInt8] {
        var base64 = false
        if let flag = object["isBase64Encoded"], !(flag is NSNull) {
            guard isBool(flag) else { throw Malformed(reason: "isBase64Encoded must be a boolean") }
            base64 = (flag as? Bool) ?? false
        }
        guard let raw = object["body"], !(raw is NSNull) else { return [] }
        guard let text = raw as? String else { throw Malformed(reason: "body must be a string") }
        if !base64 { return Array(text.utf8) }
        guard let data = Data(base64Encoded: text, options: [.ignoreUnknownCharacters]) else {
            throw Malformed(reason: "body is not valid base64 although isBase64Encoded is true")
        }
        return [UInt8](data)
    }
}
