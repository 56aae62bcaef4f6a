import Foundation
import Testing

/// ADR 0033: on cgroup v1 a spawning supervisor thread moves itself into the instance's groups
/// for the clone and back after it, so the sandbox is born in its cgroup. Checked from outside:
/// after concurrent cold starts (unprepared and from shells) every thread of the supervisor is
/// back in the supervisor's own groups, no instance group lists the supervisor, and each
/// sandbox is in its own groups (its cgroup namespace is rooted there).
@Suite("Sandboxes born in their cgroup", .serialized, .requiresRoot)
struct CgroupBirthTests {
    /// `/proc/PID/task/TID/cgroup` of every thread of `pid`, by thread.
    static func threadCgroups(_ pid: Int32) -> [String: String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var result: [String: String] = [:]
        for tid in tasks {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/cgroup", encoding: .utf8) { result[tid] = text }
        }
        return result
    }

    @Test("after concurrent cold starts every supervisor thread is home, no instance group holds it")
    func threadsComeHome() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "1"])
        defer { daemon.stop(); daemon.removeState() }
        let pid = daemon.process.processIdentifier
        let home = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        for i in 0..<3 { try await daemon.createProbe("birth\(i)") }
        // 3 functions × 4 at once: unprepared starts beside the shells, on several blocking threads.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<12 {
                group.addTask {
                    let response = try await daemon.invoke("birth\(i % 3)", #"{"cmd":"facts"}"#)
                    #expect(response.status == 200, "\(response.errorDescription)")
                    let facts = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
                    // Its cgroup namespace is rooted at its own groups: every line ends in "/".
                    let lines = (facts?["cgroup"] as? String ?? "").split(separator: "\n")
                    #expect(!lines.isEmpty && lines.allSatisfy { $0.hasSuffix(":/") }, "\(lines)")
                }
            }
            try await group.waitForAll()
        }
        // A pool refill may be mid-clone right now, its thread rightly in the new instance's
        // groups for that moment: the property is that every thread comes back, so look until
        // one look finds them all home (a thread stuck outside fails after 10 s).
        var strays: [String] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            strays = Self.strays(pid: pid, home: home)
            if strays.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        } while Date() < deadline
        #expect(strays.isEmpty, "\(strays.joined(separator: "\n"))")
        #expect(Self.threadCgroups(pid).count > 4)
        #expect(!Self.instanceGroups(pid: pid, home: home).isEmpty, "no instance groups of \(pid)")
    }

    /// The supervisor's instance groups in the v1 memory hierarchy.
    static func instanceGroups(pid: Int32, home: String) -> [String] {
        guard let memory = home.split(separator: "\n").first(where: { $0.split(separator: ":").dropFirst().first == "memory" }) else { return [] }
        let own = String(memory.split(separator: ":", maxSplits: 2)[2])
        let base = "/sys/fs/cgroup/memory" + (own == "/" ? "" : own)
        let parents = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .filter { $0.hasPrefix("hearth-\(pid)-") && $0.hasSuffix("-instances") }
        var groups: [String] = []
        for parent in parents {
            groups += ((try? FileManager.default.contentsOfDirectory(atPath: base + "/" + parent)) ?? [])
                .filter { $0.hasPrefix("hearth-") }.map { base + "/" + parent + "/" + $0 }
        }
        return groups
    }

    /// What is not home now: threads of `pid` outside its own groups, and instance groups
    /// whose `cgroup.procs` lists the supervisor.
    static func strays(pid: Int32, home: String) -> [String] {
        var strays: [String] = []
        for (tid, text) in threadCgroups(pid) where text != home {
            strays.append("thread \(tid) of the supervisor is in \(text), not \(home)")
        }
        for group in instanceGroups(pid: pid, home: home) {
            let procs = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
            if procs.split(separator: "\n").contains(Substring("\(pid)")) { strays.append("\(group) lists the supervisor") }
        }
        return strays
    }
}
