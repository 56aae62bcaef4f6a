import Foundation
import Synchronization

/// The load side of `hearth bench warm`: keep-alive HTTP/1.1 clients on loopback, one thread
/// each, blocking sockets and no allocation per request beyond the response buffer's growth,
/// so the client costs as little of the machine as it can. Not a general HTTP client: it
/// expects `Content-Length` framed responses (as Hearth's front door sends).
public enum HTTPLoad {
    /// One response: status, whether `X-Amz-Function-Error` was set, and the body.
    public struct Response: Sendable {
        public var status: Int
        public var functionError: Bool
        public var body: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// A connected keep-alive client.
    public final class Connection {
        private let fd: Int32
        private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

        public init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                let err = errno
                close(fd)
                throw Failure(description: "connect 127.0.0.1:\(port): errno \(err)")
            }
        }

        deinit { close(fd) }

        /// Sends `request` (a complete HTTP/1.1 request) and reads one response.
        public func exchange(_ request: [UInt8]) throws -> Response {
            var sent = 0
            while sent < request.count {
                let n = request.withUnsafeBytes { write(fd, $0.baseAddress! + sent, request.count - sent) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "write: errno \(errno)") }
                sent += n
            }
            var have = 0
            var headEnd = -1
            while headEnd < 0 {
                if have == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + have, $0.count - have) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "connection closed while reading a response") }
                let from = max(0, have - 3)
                have += n
                headEnd = Self.find(buffer, from: from, to: have)
            }
            let (status, length, functionError) = Self.parseHead(buffer[0..<headEnd])
            let total = headEnd + 4 + length
            while have < total {
                if total > buffer.count { buffer += [UInt8](repeating: 0, count: total - buffer.count) }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + have, total - have) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "connection closed while reading a body") }
                have += n
            }
            return Response(status: status, functionError: functionError, body: Array(buffer[(headEnd + 4)..<total]))
        }

        /// Index of "\r\n\r\n" in buffer[from..<to], or -1.
        static func find(_ b: [UInt8], from: Int, to: Int) -> Int {
            var i = from
            while i + 3 < to {
                if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
                i += 1
            }
            return -1
        }

        static func parseHead(_ head: ArraySlice<UInt8>) -> (status: Int, length: Int, functionError: Bool) {
            let text = String(decoding: head, as: UTF8.self)
            var status = 0, length = 0, functionError = false
            for (i, line) in text.split(separator: "\r\n").enumerated() {
                if i == 0 {
                    status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                    continue
                }
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "content-length" { length = Int(value) ?? 0 }
                if name == "x-amz-function-error" { functionError = true }
            }
            return (status, length, functionError)
        }
    }

    /// A complete HTTP/1.1 request with a body.
    public static func request(_ method: String, _ path: String, body: [UInt8], headers: [(String, String)] = []) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// Runs `clients` keep-alive clients sending `request` until `samples` requests each, or
    /// until `deadline`. Every response must be a 200 without a function error. Returns the
    /// latency histogram and the wall time the clients ran for.
    public static func run(port: Int, request: [UInt8], clients: Int, samples: Int, deadline: ContinuousClock.Instant?,
                           progress: @escaping @Sendable (Int) -> Void) throws -> (Benchmark.Series, Duration) {
        let connections = try (0..<clients).map { _ in try Connection(port: port) }
        let results = Mutex<(series: Benchmark.Series, failure: String?)>((Benchmark.Series(name: "invoke_to_response"), nil))
        let group = DispatchGroup()
        let started = ContinuousClock.now
        for (index, connection) in connections.enumerated() {
            nonisolated(unsafe) let connection = connection
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var mine = Benchmark.Series(name: "invoke_to_response")
                var failure: String?
                var done = 0
                while deadline.map({ ContinuousClock.now < $0 }) ?? (done < samples) {
                    let t = ContinuousClock.now
                    do {
                        let response = try connection.exchange(request)
                        mine.record(t.duration(to: .now))
                        if response.status != 200 || response.functionError {
                            failure = "HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
                            break
                        }
                    } catch {
                        failure = "\(error)"
                        break
                    }
                    done += 1
                    if index == 0 && done % 200 == 0 { progress(done * clients) }
                }
                results.withLock {
                    $0.series.histogram.add(mine.histogram)
                    if $0.failure == nil { $0.failure = failure }
                }
            }
            thread.name = "hearth-bench-client-\(index)"
            thread.start()
        }
        group.wait()
        let elapsed = started.duration(to: .now)
        let (series, failure) = results.withLock { ($0.series, $0.failure) }
        if let failure { throw Failure(description: "warm benchmark request failed: \(failure)") }
        return (series, elapsed)
    }
}
