/// One invocation as the Runtime API hands it to a runtime on `/next`.
public struct Invocation: Sendable, Equatable {
    public var requestID: String
    public var payload: [UInt8]
    /// Deadline in milliseconds since the Unix epoch (`Lambda-Runtime-Deadline-Ms`).
    public var deadlineMs: Int64
    public var functionARN: String
    public var traceID: String?
    public var clientContext: String?
    public var cognitoIdentity: String?

    public init(requestID: String, payload: [UInt8], deadlineMs: Int64, functionARN: String,
                traceID: String? = nil, clientContext: String? = nil, cognitoIdentity: String? = nil) {
        self.requestID = requestID
        self.payload = payload
        self.deadlineMs = deadlineMs
        self.functionARN = functionARN
        self.traceID = traceID
        self.clientContext = clientContext
        self.cognitoIdentity = cognitoIdentity
    }
}

/// What the runtime made of an invocation (or of its initialisation).
public enum RuntimeOutcome: Sendable, Equatable {
    /// `POST …/response`; `streamed` for the chunked streaming mode; `contentType` as the
    /// runtime posted it (Invoke passes it on to the caller).
    case response(body: [UInt8], streamed: Bool, contentType: String? = nil)
    /// `POST …/error`, or a streamed response ending in error trailers; `body` is the
    /// runtime's error document, passed to the caller unchanged.
    case functionError(type: String, body: [UInt8])
    /// `POST /init/error` before the first `/next`.
    case initError(type: String, body: [UInt8])
    /// The response exceeded the payload limit (the runtime got 413).
    case responseTooLarge(limit: Int)
}

/// The Runtime API's error documents (`{"errorMessage","errorType"}`) and their statuses.
public enum RuntimeAPIError: Error, Equatable, Sendable {
    case invalidRequestID(String)
    case invalidStateTransition(String)
    case entityTooLarge(limit: Int)
    /// A streamed response past the streaming limit (the caller's stream ends with it).
    case streamTooLarge(limit: Int)
    case notFound(String)
    case methodNotAllowed(String)
    case badRequest(String)

    public var status: Int {
        switch self {
        case .invalidRequestID: return 400
        case .invalidStateTransition: return 403
        case .entityTooLarge, .streamTooLarge: return 413
        case .notFound: return 404
        case .methodNotAllowed: return 405
        case .badRequest: return 400
        }
    }

    public var errorType: String {
        switch self {
        case .invalidRequestID: return "InvalidRequestID"
        case .invalidStateTransition: return "InvalidStateTransition"
        case .entityTooLarge: return "RequestEntityTooLarge"
        case .streamTooLarge: return "Function.ResponseSizeTooLarge"
        case .notFound: return "NotFound"
        case .methodNotAllowed: return "MethodNotAllowed"
        case .badRequest: return "InvalidRequest"
        }
    }

    public var message: String {
        switch self {
        case .invalidRequestID(let id): return "Invalid request ID: \(id)"
        case .invalidStateTransition(let what): return "State transition failed: \(what)"
        case .entityTooLarge(let limit): return "Exceeded maximum allowed payload size (\(limit) bytes)."
        case .streamTooLarge(let limit): return "Response payload size exceeded maximum allowed payload size (\(limit) bytes)."
        case .notFound(let path): return "No such Runtime API endpoint: \(path)"
        case .methodNotAllowed(let what): return "Method not allowed: \(what)"
        case .badRequest(let what): return what
        }
    }

    public var body: String {
        "{\"errorMessage\":\(JSONString.quote(message)),\"errorType\":\(JSONString.quote(errorType))}"
    }
}

/// Minimal JSON string quoting (RFC 8259), without Foundation.
public enum JSONString {
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
