import Foundation
import Testing
@testable import HearthCore

/// The per-function log files: appends through the kept-open file, rotation at `maxBytes`,
/// removal, and many functions (more than stay open at once).
@Suite("FunctionLogs")
struct FunctionLogsTests {
    static func record(_ id: String, log: String = "hello\n") -> InvocationRecord {
        InvocationRecord(requestID: id, payload: [], errorType: nil, durationMs: 1.234, initDurationMs: nil, memorySizeMB: 128,
                         maxMemoryUsedMB: 20, status: nil, log: Array(log.utf8), instanceReusable: true)
    }

    static func withRoot(_ body: (String) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-logs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try body(root)
    }

    @Test func appendsReadBackInOrderWithLambdasLines() throws {
        try Self.withRoot { root in
            let logs = try FunctionLogs(root: root)
            for i in 0..<5 { logs.append(function: "f", record: Self.record("r\(i)", log: "line \"\(i)\"\n"), version: "$LATEST") }
            let events = logs.events(function: "f")
            #expect(events.map(\.requestID) == ["r0", "r1", "r2", "r3", "r4"])
            #expect(events[2].message.contains("START RequestId: r2 Version: $LATEST\nline \"2\"\nEND RequestId: r2\nREPORT RequestId: r2\tDuration: 1.23 ms"))
            #expect(logs.events(function: "f", requestID: "r3").count == 1)
        }
    }

    @Test func rotatesAtMaxBytesKeepingOneOlderFile() throws {
        try Self.withRoot { root in
            let logs = try FunctionLogs(root: root, maxBytes: 4096)
            let big = String(repeating: "x", count: 300) + "\n"
            for i in 0..<100 { logs.append(function: "f", record: Self.record("r\(i)", log: big), version: "1") }
            let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }
            #expect(size(root + "/f.log") <= 4096)
            #expect(size(root + "/f.log.1") <= 4096 && size(root + "/f.log.1") > 3000)
            let ids = logs.events(function: "f").map(\.requestID)
            // The newest ones survive, oldest first, none lost between the two files.
            #expect(ids.last == "r99")
            #expect(ids == (100 - ids.count..<100).map { "r\($0)" })
        }
    }

    @Test func removeDeletesAndAFunctionOfTheSameNameStartsAfresh() throws {
        try Self.withRoot { root in
            let logs = try FunctionLogs(root: root)
            logs.append(function: "f", record: Self.record("old"), version: "$LATEST")
            logs.remove(function: "f")
            #expect(!FileManager.default.fileExists(atPath: root + "/f.log"))
            logs.append(function: "f", record: Self.record("new"), version: "$LATEST")
            #expect(logs.events(function: "f").map(\.requestID) == ["new"])
        }
    }

    @Test func manyFunctionsBeyondTheOpenFilesKept() throws {
        try Self.withRoot { root in
            let logs = try FunctionLogs(root: root)
            let n = FunctionLogs.maxOpenFiles * 2 + 3
            for round in 0..<2 {
                for f in 0..<n { logs.append(function: "f\(f)", record: Self.record("r\(round)"), version: "$LATEST") }
            }
            for f in [0, n / 2, n - 1] { #expect(logs.events(function: "f\(f)").map(\.requestID) == ["r0", "r1"]) }
            // At most maxOpenFiles descriptors are held.
            let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
            #expect(fds.filter { $0.hasPrefix(root) }.count <= FunctionLogs.maxOpenFiles)
        }
    }
}
