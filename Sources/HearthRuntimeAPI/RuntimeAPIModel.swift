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

/// Minimal JSON string quoting (RFC 8259), without Foundation. On the warm path (every
/// invocation's log line and error documents): bytes are copied in runs between the few that
/// need escaping, not scalar by scalar.
public enum JSONString {
    public static func quote(_ s: String) -> String {
        var s = s
        return s.withUTF8 { src in
            var extra = 0
            for b in src where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                extra += b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") || b == UInt8(ascii: "\t") ? 1 : 5
            }
            return String(unsafeUninitializedCapacity: src.count + extra + 2) { out in
                var n = 0
                out[n] = UInt8(ascii: "\""); n += 1
                var run = 0
                func flush(_ upTo: Int) {
                    let len = upTo - run
                    if len > 0 {
                        (out.baseAddress! + n).update(from: src.baseAddress! + run, count: len)
                        n += len
                    }
                }
                for i in 0..<src.count {
                    let b = src[i]
                    guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                    flush(i)
                    run = i + 1
                    out[n] = UInt8(ascii: "\\"); n += 1
                    switch b {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"): out[n] = b; n += 1
                    case UInt8(ascii: "\n"): out[n] = UInt8(ascii: "n"); n += 1
                    case UInt8(ascii: "\r"): out[n] = UInt8(ascii: "r"); n += 1
                    case UInt8(ascii: "\t"): out[n] = UInt8(ascii: "t"); n += 1
                    default:
                        let hex: [UInt8] = Array("0123456789abcdef".utf8)
                        out[n] = UInt8(ascii: "u"); out[n + 1] = UInt8(ascii: "0"); out[n + 2] = UInt8(ascii: "0")
                        out[n + 3] = hex[Int(b >> 4)]; out[n + 4] = hex[Int(b & 15)]; n += 5
                    }
                }
                flush(src.count)
                out[n] = UInt8(ascii: "\""); n += 1
                return n
            }
        }
    }
}

/// Number formatting for what is written on every invocation (REPORT lines, trace ids):
/// Foundation's `String(format:)` costs microseconds per call on Linux.
public enum TextFormat {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `value` in lower-case hex, zero-padded to `width` digits (`%0*llx`).
    public static func hex(_ value: UInt64, width: Int) -> String {
        var v = value
        var count = 1
        while v >= 16 { v >>= 4; count += 1 }
        let total = max(width, count)
        return String(unsafeUninitializedCapacity: total) { out in
            var v = value
            for i in stride(from: total - 1, through: 0, by: -1) {
                out[i] = digits[Int(v & 15)]
                v >>= 4
            }
            return total
        }
    }

    /// `value` with two decimals, as printf's `%.2f` (ties to even), except where `value * 100`
    /// itself rounds onto or off a tie in binary: a hundredth either way, for durations.
    public static func fixed2(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return String(value) }
        let hundredths = Int64((abs(value) * 100).rounded(.toNearestOrEven))
        let frac = hundredths % 100
        return (value < 0 && hundredths > 0 ? "-" : "") + String(hundredths / 100) + (frac < 10 ? ".0" : ".") + String(frac)
    }
}
