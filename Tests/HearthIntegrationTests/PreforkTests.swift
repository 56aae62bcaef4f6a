import Foundation
import Testing

/// Pre-forked sandbox shells: an instance launched from a shell set up ahead keeps every
/// isolation property, and shells leave nothing behind however they end.
@Suite("Pre-forked sandbox shells", .serialized, .requiresRoot)
struct PreforkTests {
    @Test("an instance from a pre-forked shell passes the isolation probe checks")
    func isolation() throws {
        let facts = try Harness.probe("facts", ["--prefork"])
        #expect(facts["pid"] as? Int == 2)
        #expect(facts["ppid"] as? Int == 1)
        #expect((facts["visible_pids"] as? Int ?? 99) <= 3)
        #expect((facts["hostname"] as? String ?? "").hasPrefix("hearth-"))
        #expect(facts["interfaces"] as? [String] == ["lo"])
        #expect(facts["lo_up"] as? Bool == true)
        #expect(facts["uid"] as? Int == 993)
        #expect(facts["gid"] as? Int == 990)
        for set in ["cap_eff", "cap_prm", "cap_bnd", "cap_amb"] {
            #expect(facts[set] as? String == "0000000000000000", "\(set) is \(facts[set] ?? "missing")")
        }
        #expect(facts["no_new_privs"] as? Int == 1)
        #expect(facts["seccomp"] as? Int == 2)
        #expect(facts["root_write_errno"] as? Int == Int(EROFS))
        #expect(facts["task_write_errno"] as? Int == Int(EROFS))
        #expect(facts["tmp_write_errno"] as? Int == 0)
        #expect(facts["tmp_size_kb"] as? Int == 512 * 1024)
        #expect(facts["cwd"] as? String == "/var/task")
        #expect(Set(facts["dev_entries"] as? [String] ?? []) == ["fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"])
        #expect((facts["kcore_read"] as? Int ?? 1) <= 0)
        #expect(facts["rlimit_nofile"] as? Int == 1024)
        let fds = facts["open_fds"] as? [String] ?? []
        #expect(fds.count <= 4, "\(fds)")
        for fd in fds where !["0 ", "1 ", "2 "].contains(where: fd.hasPrefix) {
            #expect(fd.contains("socket:"), "unexpected descriptor \(fd)")
        }
        // In its own cgroup (namespaced: the root of its cgroup namespace), not the supervisor's.
        let cgroup = facts["cgroup"] as? String ?? ""
        #expect(cgroup.contains("memory:/\n") || cgroup.contains("0::/\n"), "\(cgroup)")
        #expect(!cgroup.contains("process_api"), "\(cgroup)")
    }

    @Test("from a pre-forked shell, dangerous syscalls still fail and the limits hold")
    func syscallsAndLimits() throws {
        let results = try Harness.probe("syscalls", ["--prefork"])
        for name in ["mount", "unshare", "setns", "bpf", "kexec_load", "init_module", "chroot", "clone_newuser"] {
            #expect(results[name] as? Int == Int(EPERM), "\(name) gave \(results[name] ?? "nothing")")
        }
        #expect(results["clone3"] as? Int == Int(ENOSYS))
        let oom = Harness.hearthRun(Harness.probe, event: #"{"cmd":"memhog","mb":400}"#, ["--memory", "128", "--prefork"])
        #expect(try oom.json()["errorType"] as? String == "Runtime.OutOfMemory")
        let bomb = try Harness.probe("forkbomb", ["--timeout", "60", "--cpu", "1", "--prefork"])
        #expect(bomb["errno"] as? Int == Int(EAGAIN))
        #expect(Self.orphans().isEmpty, "\(Self.orphans())")
    }

    @Test("hearth run --prefork: a fresh shell after a crash, Init Duration reported, nothing left over")
    func runRepeat() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"exit","code":3}"#, ["--prefork", "--repeat", "2"])
        #expect(result.status == 1)
        #expect(result.reports.count == 2)
        #expect(result.reports.allSatisfy { $0["Init Duration"] != nil }, "\(result.reports)")
        #expect(Self.orphans().isEmpty, "\(Self.orphans())")
    }

    /// Leftovers (`Harness.leftovers()`) of supervisors that have exited, i.e. leaks: other
    /// hearth processes on the machine may be running with live sandboxes of their own.
    /// With `supervisor`, only that supervisor's.
    static func orphans(of only: pid_t? = nil) -> [String] {
        func alive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }
        /// The supervisor pid in an instance cgroup name (`hearth-<pid>-<id>`).
        func supervisor(_ text: String) -> pid_t? {
            guard let range = text.range(of: #"hearth-[0-9]+-"#, options: .regularExpression) else { return nil }
            return pid_t(text[range].dropFirst("hearth-".count).dropLast())
        }
        return Harness.leftovers().filter { entry in
            if entry.hasPrefix("run folder ") {
                guard let pid = pid_t(entry.split(separator: "/").last ?? "") else { return only == nil }
                return !alive(pid) && (only == nil || only == pid)
            }
            var subject = entry
            if entry.hasPrefix("process ") {
                // Only processes in Hearth's instance cgroups (other tools' cgroups may say "hearth-" too).
                guard let cgroup = try? String(contentsOfFile: "/proc/\(entry.dropFirst(8))/cgroup", encoding: .utf8),
                      supervisor(cgroup) != nil else { return false }
                subject = cgroup
            }
            guard let pid = supervisor(subject) else { return only == nil }
            return !alive(pid) && (only == nil || only == pid)
        }
    }

    /// The daemon's shells, as its metrics report them.
    func shells(_ daemon: ServeDaemon, _ function: String) async throws -> Int? {
        let line = try await daemon.metrics().split(separator: "\n")
            .first { $0.hasPrefix("hearth_preforked_shells{function=\"\(function)\"}") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") }
    }

    func waitForShells(_ daemon: ServeDaemon, _ function: String, _ count: Int) async throws -> Bool {
        for _ in 0..<100 {
            if try await shells(daemon, function) == count { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test("serve --prefork 2: shells are kept after traffic, a cold start uses one, a code update and a delete discard them")
    func poolDrain() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "2"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("shells")
        #expect(try await daemon.invoke("shells", #"{"cmd":"sleep","ms":300}"#).status == 200)
        let filled = try await waitForShells(daemon, "shells", 2)
        let metrics = try await daemon.metrics()
        #expect(filled, "\(metrics)")
        // Two at once: one warm instance is busy, so the second is a cold start from a shell.
        async let a = daemon.invoke("shells", #"{"cmd":"sleep","ms":300}"#)
        async let b = daemon.invoke("shells", #"{"cmd":"sleep","ms":300}"#)
        let statuses = try await [a.status, b.status]
        #expect(statuses == [200, 200])
        #expect(try await waitForShells(daemon, "shells", 2))
        // A new code generation: old shells go; a delete: all go.
        let facts = try await daemon.invoke("shells", #"{"cmd":"facts"}"#)
        #expect(facts.json?["seccomp"] as? Int == 2)
        let deleted = try await daemon.client().send("DELETE", "/2015-03-31/functions/shells")
        #expect(deleted.status == 204)
        let remaining = try await shells(daemon, "shells")
        #expect(remaining == nil || remaining == 0, "shells left after delete: \(remaining ?? 0)")
        try await Task.sleep(for: .milliseconds(500))
        let pid = daemon.process.processIdentifier
        let left = Harness.leftovers().filter { $0.contains("hearth-\(pid)-") && ($0.hasPrefix("cgroup") || $0.hasPrefix("process")) }
        #expect(left.isEmpty, "\(left)")
    }

    @Test("serve --prefork: graceful shutdown removes the shells with everything else")
    func shutdown() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "3"])
        defer { daemon.removeState() }
        try await daemon.createProbe("shutdown-shells")
        #expect(try await daemon.invoke("shutdown-shells", #"{"cmd":"count"}"#).status == 200)
        #expect(try await waitForShells(daemon, "shutdown-shells", 3))
        let pid = daemon.process.processIdentifier
        daemon.stop()
        #expect(daemon.process.terminationStatus == 0)
        #expect(Self.orphans(of: pid).isEmpty, "\(Self.orphans(of: pid))")
    }

    @Test("serve --prefork: kill -9 of the supervisor takes its shells along; a restart finds nothing left")
    func crash() async throws {
        let first = try ServeDaemon(extra: ["--prefork", "2"])
        defer { first.removeState() }
        try await first.createProbe("crash-shells")
        #expect(try await first.invoke("crash-shells", #"{"cmd":"count"}"#).status == 200)
        #expect(try await waitForShells(first, "crash-shells", 2))
        let pid = first.process.processIdentifier
        first.crash()
        // A held shell's init blocks reading the sync socket: the supervisor's death is its EOF.
        // Poll up to 3 s: exit is prompt, but under a sanitizer or a loaded machine it can take longer than 300 ms.
        var processes = Self.orphans(of: pid).filter { $0.hasPrefix("process") }
        for _ in 0..<60 where !processes.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            processes = Self.orphans(of: pid).filter { $0.hasPrefix("process") }
        }
        #expect(processes.isEmpty, "\(processes)")
        let second = try ServeDaemon(extra: ["--prefork", "2"], stateDirectory: first.stateDirectory)
        defer { second.stop() }
        let left = Harness.leftovers().filter { $0.contains("hearth-\(pid)-") || $0.contains("/run/hearth/\(pid)") }
        #expect(left.isEmpty, "\(left)")
    }
}

/// Shells sized by demand (ADR 0019): after a burst of cold starts a version keeps as many
/// shells as the burst needed, up to `--prefork-max`, so the next burst starts from shells.
@Suite("Shells sized by demand", .serialized, .requiresRoot)
struct DemandShellTests {
    func shells(_ daemon: ServeDaemon, _ function: String) async throws -> Int {
        let line = try await daemon.metrics().split(separator: "\n")
            .first { $0.hasPrefix("hearth_preforked_shells{function=\"\(function)\"}") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// The shell count once it has stayed the same for half a second (at most 10 s).
    func settledShells(_ daemon: ServeDaemon, _ function: String) async throws -> Int {
        var last = -1, stable = 0
        for _ in 0..<200 {
            let now = try await shells(daemon, function)
            stable = now == last ? stable + 1 : 0
            last = now
            if stable >= 10 && now > 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return last
    }

    @Test("a burst of 3 cold starts leaves 2 shells (--prefork 1 --prefork-max 2); cold starts after it come from them")
    func burstSizesShells() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "1", "--prefork-max", "2"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("demand")
        let first = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 { group.addTask { try await daemon.invoke("demand", #"{"cmd":"sleep","ms":400}"#).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(first == Array(repeating: 200, count: 3))
        // Without demand sizing the pool keeps --prefork (1) shells.
        #expect(try await settledShells(daemon, "demand") == 2)
        // Three long invocations hold the three warm instances; two more are cold starts, from the
        // two shells, and their instances pass the probe's isolation checks (five requests: within
        // URLSession's six connections per host).
        async let held = withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<3 { group.addTask { try await daemon.invoke("demand", #"{"cmd":"sleep","ms":1500}"#).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await Task.sleep(for: .milliseconds(300))
        let isolated = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let facts = try await daemon.invoke("demand", #"{"cmd":"facts"}"#).json
                    return facts?["seccomp"] as? Int == 2 && facts?["uid"] as? Int == 993 && facts?["pid"] as? Int == 2
                        && facts?["no_new_privs"] as? Int == 1 && facts?["cap_eff"] as? String == "0000000000000000"
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(try await held == Array(repeating: 200, count: 3))
        #expect(isolated == [true, true])
        // Five cold starts in all (the metric is recorded as each invocation ends, after its answer).
        var cold = 0
        for _ in 0..<40 where cold != 5 {
            let line = try await daemon.metrics().split(separator: "\n").first { $0.hasPrefix("hearth_cold_starts_total") }
            cold = line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            if cold != 5 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(cold == 5)
        let pid = daemon.process.processIdentifier
        daemon.stop()
        #expect(daemon.process.terminationStatus == 0)
        #expect(PreforkTests.orphans(of: pid).isEmpty, "\(PreforkTests.orphans(of: pid))")
    }
}
