import Foundation
import HearthRuntimeAPI
import HearthSandbox

/// One invocation's log as stored: Lambda's START, the function's output, END and REPORT.
public struct LogEvent: Codable, Sendable, Equatable {
    /// Milliseconds since the epoch, at the end of the invocation.
    public var timestamp: Int64
    public var requestID: String
    public var version: String
    public var message: String
}

/// Per-function log files (`<root>/<function>.log`, JSON lines), rotated at `maxBytes`
/// (one older file kept), so a log flood costs bounded disk. Thread-safe.
public final class FunctionLogs: Sendable {
    public let root: String
    public let maxBytes: Int
    private let lock = NSLock()

    public init(root: String, maxBytes: Int = 4 * 1024 * 1024) throws {
        self.root = root
        self.maxBytes = maxBytes
        try FileIO.makeDirectories(root, mode: 0o700)
    }

    /// The text of an invocation's log as Lambda shows it. An instance's log already holds
    /// `INIT_START` (cold starts) and `START`; an invocation that never reached an instance
    /// (a failed start) gets its `START` here.
    public static func text(for record: InvocationRecord, version: String) -> String {
        var log = String(decoding: record.log, as: UTF8.self)
        if !log.isEmpty && !log.hasSuffix("\n") { log += "\n" }
        if !log.hasPrefix("START RequestId: ") && !log.hasPrefix("INIT_START ") {
            log = "START RequestId: \(record.requestID) Version: \(version)\n" + log
        }
        return log
            + "END RequestId: \(record.requestID)\n" + record.reportLine + "\n"
            + (record.timeoutLine().map { $0 + "\n" } ?? "")
    }

    public func append(function: String, record: InvocationRecord, version: String) {
        // One line per invocation, on the warm path: the JSON is written out by hand (a
        // JSONEncoder costs hundreds of allocations) and the size comes from fstat (FileManager's
        // attributes also look up the owner's name in /etc/passwd and /etc/group).
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        let json = "{\"timestamp\":\(timestamp),\"requestID\":\(JSONString.quote(record.requestID)),"
            + "\"version\":\(JSONString.quote(version)),\"message\":\(JSONString.quote(Self.text(for: record, version: version)))}\n"
        let path = file(function)
        lock.lock()
        defer { lock.unlock() }
        var fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        var st = stat()
        if fstat(fd, &st) == 0 && Int(st.st_size) + json.utf8.count > maxBytes {
            close(fd)
            rename(path, path + ".1")
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
        }
        defer { close(fd) }
        var line = json
        _ = line.withUTF8 { write(fd, $0.baseAddress, $0.count) }
    }

    /// Events at or after `since` (ms), optionally for one request id, oldest first.
    public func events(function: String, since: Int64 = 0, requestID: String? = nil) -> [LogEvent] {
        let path = file(function)
        lock.lock()
        let texts = [path + ".1", path].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        lock.unlock()
        let decoder = JSONDecoder()
        return texts.flatMap { $0.split(separator: "\n") }.compactMap { line in
            guard let event = try? decoder.decode(LogEvent.self, from: Data(line.utf8)) else { return nil }
            if event.timestamp < since { return nil }
            if let requestID, event.requestID != requestID { return nil }
            return event
        }
    }

    public func remove(function: String) {
        lock.lock()
        defer { lock.unlock() }
        unlink(file(function))
        unlink(file(function) + ".1")
    }

    private func file(_ function: String) -> String {
        precondition(!function.contains("/"), "function names never contain /")
        return root + "/" + function + ".log"
    }
}
