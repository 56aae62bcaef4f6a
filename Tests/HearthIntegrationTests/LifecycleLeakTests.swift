import Foundation
import HearthSandbox
import Testing

/// N instance lifecycles (start, invoke, then the instance is killed: exit, crash or timeout)
/// must return the supervisor's descriptors, memory and threads, and the host's processes,
/// cgroups, mounts and run folders, to their baseline (taken when only the pool's pre-forked
/// spare sandboxes exist). CI runs 60 cycles; `scripts/soak N`
/// runs the same test with HEARTH_SOAK_CYCLES=N (10,000 by default) and keeps the figures in
/// .build/soak-results.json.
@Suite("Lifecycle leaks", .serialized, .requiresRoot)
struct LifecycleLeakTests {
    struct Usage: Codable, CustomStringConvertible {
        var fds: Int
        var rssKB: Int
        var threads: Int
        var processes: Int
        var cgroups: Int
        var mounts: Int
        var runFolders: Int

        var description: String {
            "fds \(fds), RSS \(rssKB / 1024) MB, threads \(threads), sandbox processes \(processes), cgroups \(cgroups), mounts \(mounts), run folders \(runFolders)"
        }

        static func of(_ pid: Int32) -> Usage {
            let fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            func field(_ name: String) -> Int {
                let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
                return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
            }
            let marker = "/hearth-\(pid)-"
            var processes = 0
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
                if let cgroup = try? String(contentsOfFile: "/proc/\(entry)/cgroup", encoding: .utf8), cgroup.contains(marker) { processes += 1 }
            }
            let cgroups = (try? CgroupHost.detect())?.leftovers(prefix: "hearth-\(pid)-").count ?? -1
            var mounts = 0
            for table in ["/proc/self/mountinfo", "/proc/\(pid)/mountinfo"] {
                let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
                mounts += text.split(separator: "\n").filter { $0.contains("/run/hearth/\(pid)/") }.count
            }
            let runFolders = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/hearth/\(pid)")) ?? []).count
            return Usage(fds: fds, rssKB: field("VmRSS"), threads: field("Threads"), processes: processes, cgroups: cgroups,
                         mounts: mounts, runFolders: runFolders)
        }
    }

    /// The lifecycle of cycle `i`: how the instance ends.
    static func event(_ i: Int) -> (kind: String, body: String) {
        if i % 20 == 19 { return ("timeout", #"{"cmd":"sleep","ms":3000}"#) }
        return i % 2 == 0 ? ("exit", #"{"cmd":"exit","code":3}"#) : ("crash", #"{"cmd":"signal","sig":9}"#)
    }

    /// Waits until the counts stop changing (the last instance's removal and the pool's
    /// pre-forked spare sandboxes are asynchronous): three equal samples 100 ms apart.
    static func settled(_ pid: Int32) async throws -> Usage {
        var samples: [Usage] = [Usage.of(pid)]
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(100))
            samples.append(Usage.of(pid))
            let last = samples.suffix(3)
            if last.count == 3, Set(last.map { [$0.processes, $0.cgroups, $0.runFolders, $0.mounts] }).count == 1 { break }
        }
        return samples.last!
    }

    @Test("start, invoke and kill (exit, crash, timeout) N instances: nothing grows")
    func lifecycles() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["HEARTH_SOAK_CYCLES"] ?? "") ?? 60
        // No pre-forked shell: a kept shell is a sandbox by design, not a leak (PreforkTests covers shells).
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("cycle", extra: ["Timeout": 1])
        let client = try daemon.client()
        let path = "/2015-03-31/functions/cycle/invocations"
        func cycle(_ i: Int) async throws -> Int {
            let (_, body) = Self.event(i)
            return try await client.send("POST", path, body: Data(body.utf8)).status
        }
        // Warm-up: every kind once, so lazily made things are in the baseline.
        for i in [0, 1, 19, 2, 3] { _ = try await cycle(i) }
        let pid = daemon.process.processIdentifier
        let baseline = try await Self.settled(pid)
        let started = Date()
        var statuses: [String: [Int: Int]] = [:]
        for i in 0..<cycles {
            let status = try await cycle(i)
            statuses[Self.event(i).kind, default: [:]][status, default: 0] += 1
        }
        let elapsed = Date().timeIntervalSince(started)
        let after = try await Self.settled(pid)
        // HEARTH_RSS_SLACK_MB: scripts/sanitize widens it under ASan, whose quarantine keeps
        // freed memory resident by design.
        let rssSlack = Int(ProcessInfo.processInfo.environment["HEARTH_RSS_SLACK_MB"] ?? "").map { $0 * 1024 }
            ?? max(16 * 1024, baseline.rssKB / 10)
        let grew = after.fds > baseline.fds + 4 || after.rssKB > baseline.rssKB + rssSlack || after.threads > baseline.threads + 2
            || after.processes > baseline.processes || after.cgroups > baseline.cgroups || after.mounts > baseline.mounts
            || after.runFolders > baseline.runFolders
        let summary = "\(cycles) cycles in \(String(format: "%.0f", elapsed)) s (\(statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))"
        SecurityLedger.check("supervisor.lifecycle_leaks", "\(cycles) instance lifecycles: start, invoke, then exit, crash or timeout",
                             expected: "supervisor fds (+4), RSS (+\(rssSlack / 1024) MB), threads (+2) at baseline; sandbox processes, cgroups, mounts and run folders back to the baseline (the pool's pre-forked spares)",
                             observed: "before: \(baseline); after: \(after)", !grew)
        print("lifecycle leaks: \(summary)\n  before: \(baseline)\n  after:  \(after)")
        let report: [String: Any] = ["cycles": cycles, "seconds": elapsed, "statuses": statuses.mapValues { $0.mapKeys(String.init) },
                                     "before": try JSONSerialization.jsonObject(with: JSONEncoder().encode(baseline)),
                                     "after": try JSONSerialization.jsonObject(with: JSONEncoder().encode(after))]
        try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: Harness.packageRoot + "/.build/soak-results.json"))
        // Every invocation failed as its lifecycle says: exit and crash 200 with a function error, timeout too.
        #expect(statuses.values.allSatisfy { $0.keys.allSatisfy { $0 == 200 } }, "\(statuses)")
    }
}

extension Dictionary {
    func mapKeys<T: Hashable>(_ transform: (Key) -> T) -> [T: Value] {
        Dictionary<T, Value>(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
