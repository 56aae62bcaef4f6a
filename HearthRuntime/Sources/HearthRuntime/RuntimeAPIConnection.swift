#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the Runtime API is: Hearth's Unix socket, or a TCP `host:port` (AWS Lambda, RIE).
public enum RuntimeAPIEndpoint: Sendable, Equatable {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// `HEARTH_RUNTIME_SOCKET` (when it exists) wins; else `AWS_LAMBDA_RUNTIME_API`.
    /// `HEARTH_RUNTIME_USE_TCP=1` forces the TCP endpoint (the path AWS Lambda takes).
    public static func fromEnvironment(_ env: [String: String]) throws -> RuntimeAPIEndpoint {
        if let path = env["HEARTH_RUNTIME_SOCKET"], !path.isEmpty, access(path, F_OK) == 0,
           (env["HEARTH_RUNTIME_USE_TCP"] ?? "").isEmpty || env["HEARTH_RUNTIME_USE_TCP"] == "0" {
            return .unix(path: path)
        }
        guard let api = env["AWS_LAMBDA_RUNTIME_API"], !api.isEmpty else {
            throw RuntimeClientError.configuration("neither HEARTH_RUNTIME_SOCKET nor AWS_LAMBDA_RUNTIME_API is set: not running under a Lambda runtime API")
        }
        return try parse(api)
    }

    /// `host:port` as in `AWS_LAMBDA_RUNTIME_API`.
    public static func parse(_ value: String) throws -> RuntimeAPIEndpoint {
        guard let colon = value.lastIndex(of: ":"), let port = UInt16(value[value.index(after: colon)...]) else {
            throw RuntimeClientError.configuration("AWS_LAMBDA_RUNTIME_API is not host:port: \(value)")
        }
        return .tcp(host: String(value[..<colon]), port: port)
    }
}

/// Errors of the runtime client itself (not the function's).
public enum RuntimeClientError: Error, CustomStringConvertible, Equatable {
    case configuration(String)
    case connection(String)
    case protocolError(String)
    case status(Int, String)

    public var description: String {
        switch self {
        case .configuration(let m): return m
        case .connection(let m): return "runtime API connection: \(m)"
        case .protocolError(let m): return "runtime API protocol: \(m)"
        case .status(let code, let body): return "runtime API answered \(code): \(body)"
        }
    }
}

/// One HTTP response from the Runtime API.
public struct RuntimeHTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]
}

/// A keep-alive HTTP/1.1 connection to the Runtime API, with blocking sockets: a runtime
/// handles one invocation at a time, so a plain request/response loop is all it needs.
/// Reconnects once when the peer closed an idle connection.
final class RuntimeAPIConnection {
    let endpoint: RuntimeAPIEndpoint
    private var fd: Int32 = -1
    private var buffer = HTTPReadBuffer()

    init(endpoint: RuntimeAPIEndpoint) {
        self.endpoint = endpoint
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    private func connectIfNeeded() throws {
        if fd >= 0 { return }
        switch endpoint {
        case .unix(let path):
            let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if s < 0 { throw RuntimeClientError.connection("socket: \(Self.lastError())") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(s)
                throw RuntimeClientError.configuration("socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
            }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc < 0 {
                let message = Self.lastError()
                close(s)
                throw RuntimeClientError.connection("connect \(path): \(message)")
            }
            fd = s
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &result)
            guard rc == 0, let first = result else {
                throw RuntimeClientError.connection("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(result) }
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            var lastError = "no address"
            while let info = cursor {
                let s = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
                if s >= 0 {
                    if Glibc.connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                        var one: Int32 = 1
                        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                        fd = s
                        return
                    }
                    lastError = Self.lastError()
                    close(s)
                }
                cursor = info.pointee.ai_next
            }
            throw RuntimeClientError.connection("connect \(host):\(port): \(lastError)")
        }
    }

    private func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer = HTTPReadBuffer()
    }

    /// Sends a request with a body (Content-Length) and reads the response.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> RuntimeHTTPResponse {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: runtime\r\nUser-Agent: hearth-runtime/1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if method != "GET" || !body.isEmpty { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return try exchange { conn in
            try conn.send(Array(head.utf8))
            if !body.isEmpty { try conn.send(body) }
        }
    }

    /// Sends a chunked request; `produce` writes the body through a `ChunkWriter`. When it
    /// throws, the request ends with the error in trailers (Lambda's streaming error format).
    func streamingRequest(_ path: String, headers: [(String, String)], produce: (ChunkWriter) async throws -> Void) async throws -> RuntimeHTTPResponse {
        var head = "POST \(path) HTTP/1.1\r\nHost: runtime\r\nUser-Agent: hearth-runtime/1\r\nTransfer-Encoding: chunked\r\n"
        head += "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        try connectIfNeeded()
        do {
            try send(Array(head.utf8))
            let writer = ChunkWriter(connection: self)
            var trailer = "0\r\n\r\n"
            do {
                try await produce(writer)
            } catch {
                let (type, document) = LambdaRuntime.errorDocument(for: error)
                trailer = "0\r\nLambda-Runtime-Function-Error-Type: \(type)\r\n"
                    + "Lambda-Runtime-Function-Error-Body: \(Base64.encode(document))\r\n\r\n"
            }
            try send(Array(trailer.utf8))
            return try readResponse()
        } catch {
            disconnect()
            throw error
        }
    }

    private func exchange(_ write: (RuntimeAPIConnection) throws -> Void) throws -> RuntimeHTTPResponse {
        for attempt in 0..<2 {
            do {
                try connectIfNeeded()
                try write(self)
                return try readResponse()
            } catch let error as RuntimeClientError {
                disconnect()
                // A keep-alive connection the server closed while idle: retry once on a new one.
                if attempt == 0, case .connection = error { continue }
                throw error
            }
        }
        throw RuntimeClientError.connection("unreachable")
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw RuntimeClientError.connection("send: \(Self.lastError())")
            }
            offset += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw RuntimeClientError.connection("recv: \(Self.lastError())")
            }
            if n == 0 { throw RuntimeClientError.connection("closed by the runtime API") }
            buffer.append(chunk[0..<n])
            return
        }
    }

    private func readResponse() throws -> RuntimeHTTPResponse {
        var head: HTTPHead?
        while head == nil {
            head = try buffer.takeHead()
            if head == nil { try fill() }
        }
        let (status, headers) = (head!.status, head!.headers)
        var body: [UInt8] = []
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                if let chunk = try buffer.takeChunk() {
                    if chunk.isEmpty { break }
                    body += chunk
                } else {
                    try fill()
                }
            }
        } else if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText.trimmingSpaces()), length >= 0 else {
                throw RuntimeClientError.protocolError("bad Content-Length \(lengthText)")
            }
            while buffer.count < length { try fill() }
            body = buffer.take(length)
        }
        if headers["connection"]?.lowercased() == "close" { disconnect() }
        return RuntimeHTTPResponse(status: status, headers: headers, body: body)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}

/// Writes one chunk of a streamed response per call.
public final class ChunkWriter: @unchecked Sendable {
    private let connection: RuntimeAPIConnection

    init(connection: RuntimeAPIConnection) {
        self.connection = connection
    }

    /// Sends `bytes` to the caller now (empty writes are skipped: an empty chunk ends the body).
    public func write(_ bytes: [UInt8]) throws {
        if bytes.isEmpty { return }
        try connection.send(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10])
    }

    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }
}

struct HTTPHead {
    var status: Int
    var headers: [String: String]
}

/// Bytes received and not yet parsed.
struct HTTPReadBuffer {
    private var bytes: [UInt8] = []
    private var start = 0

    var count: Int { bytes.count - start }

    mutating func append(_ more: ArraySlice<UInt8>) {
        if start > 0 && start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        }
        bytes.append(contentsOf: more)
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let out = Array(bytes[start..<(start + n)])
        start += n
        return out
    }

    private func find(_ pattern: [UInt8], from: Int) -> Int? {
        guard bytes.count - from >= pattern.count else { return nil }
        var i = from
        while i + pattern.count <= bytes.count {
            if bytes[i] == pattern[0] && Array(bytes[i..<(i + pattern.count)]) == pattern { return i }
            i += 1
        }
        return nil
    }

    /// A complete status line and headers, or nil when more bytes are needed.
    mutating func takeHead() throws -> HTTPHead? {
        guard let end = find([13, 10, 13, 10], from: start) else {
            if count > 64 * 1024 { throw RuntimeClientError.protocolError("response head over 64 KiB") }
            return nil
        }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        start = end + 4
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw RuntimeClientError.protocolError("bad status line: \(statusLine)")
        }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw RuntimeClientError.protocolError("bad header line: \(line)") }
            headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...]).trimmingSpaces()
        }
        return HTTPHead(status: status, headers: headers)
    }

    /// One chunk of a chunked body ([] for the last one, after its trailers), or nil when more bytes are needed.
    mutating func takeChunk() throws -> [UInt8]? {
        guard let lineEnd = find([13, 10], from: start) else { return nil }
        let sizeText = String(decoding: bytes[start..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
        guard let size = Int(sizeText.trimmingSpaces(), radix: 16), size >= 0 else {
            throw RuntimeClientError.protocolError("bad chunk size \(sizeText)")
        }
        if size == 0 {
            // Trailers end with an empty line.
            guard let end = find([13, 10, 13, 10], from: lineEnd) else { return nil }
            start = end + 4
            return []
        }
        guard bytes.count >= lineEnd + 2 + size + 2 else { return nil }
        let chunk = Array(bytes[(lineEnd + 2)..<(lineEnd + 2 + size)])
        start = lineEnd + 2 + size + 2
        return chunk
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Base64 without Foundation (error bodies in trailers).
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3f)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
