import Foundation
import HearthSandbox
import Testing

/// Each isolation property, asserted from inside a real sandbox by the probe.
@Suite("Isolation, seen from inside the sandbox", .serialized, .requiresRoot)
struct IsolationTests {
    @Test("own pid namespace: only init and the function are visible")
    func pidNamespace() throws {
        let facts = try Harness.probe("facts")
        #expect(facts["pid"] as? Int == 2)
        #expect(facts["ppid"] as? Int == 1)
        #expect((facts["visible_pids"] as? Int ?? 99) <= 3)
    }

    @Test("own hostname, only lo, and lo is up")
    func utsAndNetwork() throws {
        let facts = try Harness.probe("facts")
        let hostname = try #require(facts["hostname"] as? String)
        #expect(hostname.hasPrefix("hearth-"))
        #expect(hostname != ProcessInfo.processInfo.hostName)
        #expect(facts["interfaces"] as? [String] == ["lo"])
        #expect(facts["lo_up"] as? Bool == true)
    }

    @Test("unprivileged user, no capabilities, no_new_privs, seccomp filter mode")
    func privileges() throws {
        let facts = try Harness.probe("facts")
        #expect(facts["uid"] as? Int == 993)
        #expect(facts["euid"] as? Int == 993)
        #expect(facts["gid"] as? Int == 990)
        for set in ["cap_eff", "cap_prm", "cap_bnd", "cap_amb"] {
            #expect(facts[set] as? String == "0000000000000000", "\(set) is \(facts[set] ?? "missing")")
        }
        #expect(facts["no_new_privs"] as? Int == 1)
        #expect(facts["seccomp"] as? Int == 2)
    }

    @Test("root, /var/task and /opt are read-only; /tmp is writable")
    func readOnlyRoot() throws {
        let facts = try Harness.probe("facts")
        #expect(facts["root_write_errno"] as? Int == Int(EROFS))
        #expect(facts["task_write_errno"] as? Int == Int(EROFS))
        #expect(facts["opt_write_errno"] as? Int == Int(EROFS))
        #expect(facts["tmp_write_errno"] as? Int == 0)
        #expect(facts["cwd"] as? String == "/var/task")
    }

    @Test("/tmp is a tmpfs of the ephemeral-storage size (filling it: HostileFunctionTests)")
    func tmpSize() throws {
        let facts = try Harness.probe("facts")
        #expect(facts["tmp_size_kb"] as? Int == 512 * 1024)
        let bigger = try Harness.probe("facts", ["--ephemeral-storage", "1024"])
        #expect(bigger["tmp_size_kb"] as? Int == 1024 * 1024)
    }

    @Test("rlimits: 1024 descriptors, no core dumps (/dev and /proc: HostileFunctionTests)")
    func rlimits() throws {
        let facts = try Harness.probe("facts")
        #expect(facts["rlimit_nofile"] as? Int == 1024)
        #expect(facts["rlimit_core"] as? Int == 0)
    }

    @Test("only stdin, stdout, stderr and the runtime client's own socket are open")
    func openDescriptors() throws {
        let facts = try Harness.probe("facts")
        let fds = try #require(facts["open_fds"] as? [String])
        #expect(fds.count <= 4, "\(fds)")
        #expect(fds.contains("0 -> /dev/null"))
        for fd in fds where !["0 ", "1 ", "2 "].contains(where: fd.hasPrefix) {
            #expect(fd.contains("socket:"), "unexpected descriptor \(fd)")
        }
    }

    @Test("user namespace mode keeps every property")
    func userNamespace() throws {
        let facts = try Harness.probe("facts", ["--userns"])
        #expect(facts["uid"] as? Int == 993)
        #expect(facts["cap_eff"] as? String == "0000000000000000")
        #expect(facts["seccomp"] as? Int == 2)
        #expect(facts["root_write_errno"] as? Int == Int(EROFS))
        #expect(facts["interfaces"] as? [String] == ["lo"])
    }

    @Test("memory under the limit is fine and reported")
    func memoryWithinLimit() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"memhog","mb":64}"#, ["--memory", "256"])
        #expect(result.status == 0, "\(result.stderr)")
        let used = Int(result.reports.first?["Max Memory Used"]?.split(separator: " ").first ?? "") ?? 0
        #expect(used >= 64 && used < 256, "Max Memory Used \(used) MB")
    }

    @Test("CPU quota follows memory (1769 MB = 1 vCPU); --cpu overrides it, --cpu 0 lifts it",
          .enabled(if: ["/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"]
                    .contains { FileManager.default.fileExists(atPath: $0) },
                   "reads cpu.cfs_quota_us of the cgroup v1 cpu controller; the v2 driver's cpu.max is covered by unit tests"),
          arguments: [(["--memory", "128"], "7236"), (["--memory", "1769"], "100000"), (["--cpu", "0.5"], "50000"),
                      (["--cpu", "0"], "-1")])
    func cpuQuota(flags: [String], expected: String) throws {
        // Read the instance's cgroup from outside while the function sleeps.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.hearth)
        process.arguments = ["run", Harness.probe, "--state-dir", Harness.stateDirectory,
                             "--event", #"{"cmd":"sleep","ms":1500}"#] + flags
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Harness.launched(process.processIdentifier)
        defer { process.waitUntilExit() }
        let cpuRoot = try #require(cgroupV1Directory("cpu"), "needs the cgroup v1 cpu controller")
        var quota: String?
        // During init the quota is lifted (-1, the init burst); it applies from the first /next.
        for _ in 0..<100 where quota == nil || (quota == "-1" && expected != "-1") {
            // The instance's group, inside its supervisor's parent group (hearth-<pid>-<n>-instances).
            let parents = ((try? FileManager.default.contentsOfDirectory(atPath: cpuRoot)) ?? [])
                .filter { $0.hasPrefix("hearth-\(process.processIdentifier)-") && $0.hasSuffix(CgroupHost.parentSuffix) }
            let names = parents.flatMap { parent in
                ((try? FileManager.default.contentsOfDirectory(atPath: cpuRoot + "/" + parent)) ?? []).filter { $0.hasPrefix("hearth-") }.map { parent + "/" + $0 }
            }
            if let name = names.first {
                quota = try? String(contentsOfFile: cpuRoot + "/" + name + "/cpu.cfs_quota_us", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            usleep(20_000)
        }
        #expect(quota == expected)
    }

    /// The supervisor-side directory of a v1 controller (this process's group in it), if v1.
    func cgroupV1Directory(_ controller: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, parts[1].split(separator: ",").contains(Substring(controller)) {
                let dir = "/sys/fs/cgroup/\(parts[1])" + (parts[2] == "/" ? "" : String(parts[2]))
                if FileManager.default.fileExists(atPath: dir) { return dir }
                let alt = "/sys/fs/cgroup/\(controller)" + (parts[2] == "/" ? "" : String(parts[2]))
                return FileManager.default.fileExists(atPath: alt) ? alt : nil
            }
        }
        return nil
    }
}
