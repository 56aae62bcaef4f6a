import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A small Lambda API client for Hearth's CLI, signing requests like the aws CLI.
public struct APIClient: Sendable {
    public var endpoint: URL
    public var signer: SigV4Signer?
    public var region: String

    public init(endpoint: URL, credentials: AWSCredentials?, region: String) {
        self.endpoint = endpoint
        self.region = region
        signer = credentials.map { SigV4Signer(credentials: $0, region: region) }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        public init(status: Int, headers: [String: String], body: Data) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        public func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }

        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }

        /// "Type: message" for an error response.
        public var errorDescription: String {
            let type = header("x-amzn-ErrorType") ?? "HTTP \(status)"
            let message = (json?["message"] as? String) ?? (json?["Message"] as? String) ?? String(decoding: body, as: UTF8.self)
            return "\(type): \(message)"
        }
    }

    /// `path` is already percent-encoded where needed; `query` pairs are encoded here.
    public func send(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                     body: Data = Data()) async throws -> Response {
        let request = signedRequest(method, path, query: query, headers: headers, body: body)
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
        return Response(status: http.statusCode, headers: fields, body: data)
    }

    /// The request `send` and `stream` make: URL with the encoded query, a JSON content type
    /// when a body has none, SigV4 headers when the client has credentials.
    func signedRequest(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)], body: Data) -> URLRequest {
        var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)!
        components.percentEncodedPath = path
        if !query.isEmpty {
            components.percentEncodedQuery = query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        }
        let url = components.url!
        var request = URLRequest(url: url)
        request.httpMethod = method
        var all = headers
        if !body.isEmpty && !all.contains(where: { $0.0.lowercased() == "content-type" }) {
            all.append(("Content-Type", "application/json"))
        }
        if let signer { all += signer.sign(method: method, url: url, headers: all, body: [UInt8](body)) }
        for (name, value) in all where name.lowercased() != "host" { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body.isEmpty ? nil : body
        request.timeoutInterval = 960
        return request
    }

    /// RFC 3986 unreserved characters stay; everything else is percent-encoded.
    public static func encode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

extension APIClient {
    /// Like `send`, but hands the body to `onData` as it arrives (for streamed responses);
    /// returns the status and headers once the body has ended.
    public func stream(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data = Data(),
                       onData: @escaping @Sendable (Data) -> Void) async throws -> (status: Int, headers: [String: String]) {
        let request = signedRequest(method, path, headers: headers, body: body)
        let delegate = StreamingDelegate(onData: onData)
        let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            delegate.done = { continuation.resume(with: $0) }
            session.dataTask(with: request).resume()
        }
    }
}

/// Passes a data task's body on as it arrives.
private final class StreamingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let onData: @Sendable (Data) -> Void
    var done: ((Result<(status: Int, headers: [String: String]), any Error>) -> Void)?
    private var head: (status: Int, headers: [String: String])?

    init(onData: @escaping @Sendable (Data) -> Void) {
        self.onData = onData
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        if let http = response as? HTTPURLResponse {
            var fields: [String: String] = [:]
            for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
            head = (http.statusCode, fields)
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        onData(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let finish = done
        done = nil
        if let error { finish?(.failure(error)) } else { finish?(.success(head ?? (0, [:]))) }
    }
}
