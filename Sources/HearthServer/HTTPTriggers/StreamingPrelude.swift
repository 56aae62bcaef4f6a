import Foundation

/// The metadata prelude of a streamed HTTP response (`awslambda.HttpResponseStream.from`):
/// a runtime that streams with the content type `application/vnd.awslambda.http-integration-response`
/// writes the JSON `{"statusCode":…,"headers":{…},"cookies":[…]}`, then 8 NUL bytes, then the
/// body. A RESPONSE_STREAM Function URL takes the status and headers from the prelude and
/// streams the rest to the client. Pure.
public enum StreamingPrelude {
    public static let contentType = "application/vnd.awslambda.http-integration-response"
    public static let delimiterLength = 8
    /// More than this before the delimiter is a malformed response (the prelude is headers only).
    public static let maxLength = 1 << 20

    /// Whether a streamed response's `Content-Type` announces a prelude.
    public static func announced(by contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return type == Self.contentType
    }

    /// The status and headers of a prelude's JSON: `statusCode` (200 when absent), `headers`
    /// (strings, numbers or booleans) and `cookies` (each its own `Set-Cookie`).
    public static func head(_ json: [UInt8]) throws(ProxyResponse.Malformed) -> (status: Int, headers: [(String, String)]) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(json)), let object = value as? [String: Any] else {
            throw ProxyResponse.Malformed(reason: "the streaming response's metadata prelude is not a JSON object")
        }
        let status = object["statusCode"] == nil ? 200 : try ProxyResponse.statusCode(object)
        let headers = try ProxyResponse.stringMap(object["headers"], field: "headers").map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        return (status, headers + (try ProxyResponse.setCookies(object["cookies"])))
    }

    /// Finds the prelude in a stream's first bytes, fed chunk by chunk as they arrive.
    public struct Splitter: Sendable {
        /// What came so far, while the delimiter has not.
        private var pending: [UInt8] = []

        public init() {}

        /// The bytes held back so far (a stream that ends here had no complete prelude).
        public var held: Int { pending.count }

        /// Takes the next chunk: nil while the delimiter has not come yet, else the prelude's
        /// JSON and the body bytes after the delimiter. The prelude holds no NUL (JSON has
        /// none), so its first NUL starts the delimiter.
        public mutating func feed(_ bytes: [UInt8]) throws(ProxyResponse.Malformed) -> (prelude: [UInt8], rest: [UInt8])? {
            pending.append(contentsOf: bytes)
            guard let nul = pending.firstIndex(of: 0) else {
                if pending.count > StreamingPrelude.maxLength {
                    throw ProxyResponse.Malformed(reason: "the streaming response's metadata prelude exceeds \(StreamingPrelude.maxLength) bytes")
                }
                return nil
            }
            guard pending.count >= nul + StreamingPrelude.delimiterLength else { return nil }
            guard pending[nul..<(nul + StreamingPrelude.delimiterLength)].allSatisfy({ $0 == 0 }) else {
                throw ProxyResponse.Malformed(reason: "the streaming response's metadata prelude is not followed by 8 NUL bytes")
            }
            let prelude = Array(pending[..<nul])
            let rest = Array(pending[(nul + StreamingPrelude.delimiterLength)...])
            pending = []
            return (prelude, rest)
        }
    }
}
