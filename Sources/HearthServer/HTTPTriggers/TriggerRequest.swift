import Foundation

/// Which AWS product an HTTP trigger imitates: it decides the event's flavour, the response
/// mapping and the error bodies (the three differ in small, documented ways; ADR 0013).
public enum TriggerKind: Sendable, Equatable {
    /// A Lambda Function URL (payload 2.0 with placeholder route and stage).
    case functionURL
    /// An API Gateway HTTP API (payload 2.0 or 1.0 with `"version":"1.0"`).
    case httpAPI
    /// A REST-style route (payload 1.0 without `version`), as SAM's `Type: Api` events declare.
    case restAPI
}

/// One HTTP request as a trigger sees it: the request line and headers as received, the
/// client's address, and the identity Hearth gives the invocation. Plain values; the event
/// builders are pure functions of it.
public struct TriggerRequest: Sendable {
    public var method: String
    /// The path as received, still percent-encoded, without the stage prefix's removal.
    public var rawPath: String
    /// The query string as received, without `?`.
    public var rawQuery: String
    /// Header fields in arrival order, names as the client spelled them.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The client's IP address (no port).
    public var sourceIP: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var protocolName: String
    /// The listener's port (`x-forwarded-port`).
    public var port: Int
    /// When the request arrived, Unix epoch milliseconds.
    public var timeEpochMs: Int64
    public var requestID: String
    /// The `X-Amzn-Trace-Id` value given to the function (the client's, or a fresh one).
    public var traceID: String

    public init(method: String, rawPath: String, rawQuery: String, headers: [(String, String)], body: [UInt8], sourceIP: String,
                protocolName: String = "HTTP/1.1", port: Int, timeEpochMs: Int64, requestID: String, traceID: String) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        self.sourceIP = sourceIP
        self.protocolName = protocolName
        self.port = port
        self.timeEpochMs = timeEpochMs
        self.requestID = requestID
        self.traceID = traceID
    }

    public func header(_ name: String) -> String? {
        headers.first { HTTPRequest.sameFieldName($0.0, name) }?.1
    }

    /// The request's path, percent-decoded (`requestContext.http.path`, payload 1.0's `path`).
    public var decodedPath: String { rawPath.removingPercentEncoding ?? rawPath }

    /// Query parameters in order, keys and values percent-decoded and `+` read as a space
    /// (as API Gateway does); a key without `=` has the value "".
    public var queryItems: [(String, String)] {
        rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// `requestContext.time`: `dd/MMM/yyyy:HH:mm:ss +0000`.
    public var timeText: String { Self.clfTime(timeEpochMs) }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Common Log Format time in UTC, as API Gateway writes `time` and `requestTime`.
    public static func clfTime(_ epochMs: Int64) -> String {
        var seconds = time_t(epochMs / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(parts.tm_mday))/\(months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// Whether a request body of this content type reaches the function as text (else it is
    /// base64 with `isBase64Encoded: true`). AWS does not publish the list for Function URLs
    /// and HTTP APIs; Hearth's (ADR 0013): `text/*`, JSON, XML, JavaScript and their `+json`/`+xml`
    /// suffixes. A missing content type, forms and multipart bodies are binary, as on AWS.
    public static func isTextContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        let type = value.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type.hasPrefix("text/") { return true }
        let textual: Set<String> = ["application/json", "application/xml", "application/javascript", "application/ecmascript",
                                    "application/x-javascript", "application/graphql"]
        if textual.contains(type) { return true }
        return type.hasPrefix("application/") && (type.hasSuffix("+json") || type.hasSuffix("+xml"))
    }

    /// The body as the event carries it: absent when empty; text when the content type is
    /// text-like and the bytes are UTF-8; else base64.
    func eventBody(binaryAlways: Bool = false, textTypes: (String?) -> Bool = TriggerRequest.isTextContentType) -> (body: String?, isBase64: Bool) {
        if body.isEmpty { return (nil, false) }
        if !binaryAlways, textTypes(header("Content-Type")), let text = String(validatingUTF8Bytes: body) { return (text, false) }
        return (Data(body).base64EncodedString(), true)
    }
}

extension String {
    /// The bytes as a string when they are valid UTF-8.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// Where a request's Host header points: a Function URL, an HTTP API, or neither.
public enum TriggerHost: Equatable, Sendable {
    /// `<url-id>.lambda-url.<region>.localhost`
    case functionURL(id: String, region: String)
    /// `<api-id>.execute-api[.<region>].localhost`
    case httpAPI(id: String)

    /// The host name without its port and final dot, if it ends in `.localhost` (ASCII case
    /// ignored): the cheap test that turns away every API request (`127.0.0.1:9001`) before any
    /// String is made.
    static func localhostName(_ host: String) -> Substring? {
        var name = host.utf8[...]
        if let colon = name.lastIndex(of: UInt8(ascii: ":")) { name = name[..<colon] }
        if name.last == UInt8(ascii: ".") { name = name.dropLast() }
        let suffix = ".localhost".utf8
        guard name.count > suffix.count, zip(name.suffix(suffix.count), suffix).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        return Substring(name)
    }

    /// Parses a Host header (port, final dot and case ignored). Nil for any other host (the APIs' own).
    public static func parse(_ host: String?) -> TriggerHost? {
        // "[": an IPv6 literal.
        guard let host, !host.hasPrefix("["), let bare = localhostName(host) else { return nil }
        let name = bare.lowercased()
        let labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard labels.count >= 3, labels.last == "localhost", labels.allSatisfy({ !$0.isEmpty }) else { return nil }
        let id = labels[0]
        guard id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        if labels.count == 4, labels[1] == "lambda-url" { return .functionURL(id: id, region: labels[2]) }
        if labels[1] == "execute-api", labels.count == 3 || labels.count == 4 { return .httpAPI(id: id) }
        return nil
    }
}
