import Foundation
import HearthRuntimeAPI
import HearthSandbox
import Synchronization

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
    /// The open log files by function, with their sizes: an append is one write(2), not an
    /// open, fstat, write and close (a tenth of the warm path's CPU when it was).
    private let files = Mutex<[String: OpenFile]>([:])
    /// Beyond this many functions written to, the open files are closed and opened again as used.
    static let maxOpenFiles = 128

    private struct OpenFile {
        var fd: Int32
        var size: Int
    }

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
        // JSONEncoder costs hundreds of allocations) to a file kept open, whose size is tracked
        // (FileManager's attributes also look up the owner's name in /etc/passwd and /etc/group).
        let timestamp = Int64(Date().timeIntervalSince1970 * 1000)
        var line = "{\"timestamp\":\(timestamp),\"requestID\":\(JSONString.quote(record.requestID)),"
            + "\"version\":\(JSONString.quote(version)),\"message\":\(JSONString.quote(Self.text(for: record, version: version)))}\n"
        let count = line.utf8.count
        files.withLock { files in
            guard var open = files[function] ?? openFile(function, closingAllOf: &files) else { return }
            if open.size + count > maxBytes {
                close(open.fd)
                files[function] = nil
                let path = file(function)
                rename(path, path + ".1")
                guard let reopened = openFile(function, closingAllOf: &files) else { return }
                open = reopened
            }
            let written = line.withUTF8 { write(open.fd, $0.baseAddress, $0.count) }
            open.size += max(0, written)
            files[function] = open
        }
    }

    /// Opens `function`'s log for appending (closing every cached file first when there are
    /// too many), nil if it cannot be opened.
    private func openFile(_ function: String, closingAllOf files: inout [String: OpenFile]) -> OpenFile? {
        if files.count >= Self.maxOpenFiles {
            for open in files.values { close(open.fd) }
            files.removeAll()
        }
        let fd = open(file(function), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        var st = stat()
        return OpenFile(fd: fd, size: fstat(fd, &st) == 0 ? Int(st.st_size) : 0)
    }

    /// Events at or after `since` (ms), optionally for one request id, oldest first.
    public func events(function: String, since: Int64 = 0, requestID: String? = nil) -> [LogEvent] {
        let path = file(function)
        let texts = files.withLock { _ in [path + ".1", path].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) } }
        let decoder = JSONDecoder()
        return texts.flatMap { $0.split(separator: "\n") }.compactMap { line in
            guard let event = try? decoder.decode(LogEvent.self, from: Data(line.utf8)) else { return nil }
            if event.timestamp < since { return nil }
            if let requestID, event.requestID != requestID { return nil }
            return event
        }
    }

    public func remove(function: String) {
        files.withLock { files in
            if let open = files.removeValue(forKey: function) { close(open.fd) }
            unlink(file(function))
            unlink(file(function) + ".1")
        }
    }

    deinit {
        files.withLock { files in for open in files.values { close(open.fd) } }
    }

    private func file(_ function: String) -> String {
        precondition(!function.contains("/"), "function names never contain /")
        return root + "/" + function + ".log"
    }
}
