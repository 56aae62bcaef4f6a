import Foundation
import HearthCore
import HearthSandbox
import Testing

/// Host-wide limits and what a sandbox can learn about the host (issue 11, item 5): all of one
/// supervisor's instances share one parent cgroup that bounds their tasks, memory and CPU
/// weight together; the sandbox's cgroup view, its init and its mounts say nothing of the host.
@Suite("Host-wide limits and host leaks, from inside real sandboxes", .serialized, .requiresRoot)
struct HostWideLimitTests {
    /// The v1 directory of `controller` for the test process (the supervisor's own group).
    static func v1Group(_ controller: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains(Substring(controller)) else { continue }
            for mount in ["/sys/fs/cgroup/\(parts[1])", "/sys/fs/cgroup/\(controller)"] where FileManager.default.fileExists(atPath: mount) {
                return mount + (parts[2] == "/" ? "" : String(parts[2]))
            }
        }
        return nil
    }

    static var isV1: Bool { (try? CgroupHost.detect())?.version == .v1 }

    /// The parent group of `supervisor`'s instances under `group`, if it exists.
    static func parentGroup(in group: String, of supervisor: pid_t) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: group)) ?? []
        return names.first { $0.hasPrefix("hearth-\(supervisor)-") && $0.hasSuffix(CgroupHost.parentSuffix) }.map { group + "/" + $0 }
    }

    /// Whether the group's supervisor (its pid is in the name) is a `hearth run` of this suite.
    static func isOurs(_ group: String) -> Bool {
        guard let match = group.firstMatch(of: /hearth-([0-9]+)-/),
              let cmdline = try? String(contentsOfFile: "/proc/\(match.1)/cmdline", encoding: .utf8) else { return false }
        return cmdline.contains(Harness.stateDirectory) && cmdline.contains(Harness.probe)
    }

    static func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "unreadable").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("all instances together stop at the parent group's pids.max: a neighbour's fork bomb cannot take the host's pids")
    func totalPids() async throws {
        let total = 1200
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--max-total-pids", "\(total)"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("bomb-a", extra: ["Timeout": 60, "MemorySize": 1024])
        try await daemon.createProbe("bomb-b", extra: ["Timeout": 60, "MemorySize": 1024])
        // A forks up to its own pids.max (1024) and holds the children; B tries meanwhile.
        let first = Task { try await daemon.invoke("bomb-a", #"{"cmd":"forkbomb","hold_ms":6000}"#) }
        var parentTasks = "?"
        let supervisor = daemon.process.processIdentifier
        try await Task.sleep(for: .seconds(3))
        let second = try await daemon.invoke("bomb-b", #"{"cmd":"forkbomb"}"#)
        if Self.isV1, let pids = Self.v1Group("pids"), let parent = Self.parentGroup(in: pids, of: supervisor) {
            parentTasks = "parent pids.max \(Self.read(parent + "/pids.max"))"
        }
        let a = try await first.value
        let forkedA = a.json?["forked"] as? Int ?? 0, forkedB = second.json?["forked"] as? Int ?? 0
        let hostOK = Harness.run("/bin/true", []).status == 0
        SecurityLedger.check("res.total_pids", "two instances fork until it fails, the second while the first holds its children (serve --max-total-pids \(total))",
                             expected: "both together stop at the parent group's pids.max (\(total)); the second gets EAGAIN early; the host still forks",
                             observed: "first \(forkedA) forks (\(SecurityLedger.errnoName(a.json?["errno"] as? Int))), second \(forkedB) (\(SecurityLedger.errnoName(second.json?["errno"] as? Int))); \(parentTasks); host \(hostOK ? "forks" : "cannot fork")",
                             forkedA > 500 && forkedA + forkedB <= total && forkedB < total - 500 && second.json?["errno"] as? Int == Int(EAGAIN) && hostOK)
    }

    @Test("the instances' parent group: total memory below the host's, CPU weight below the supervisor's, minimal devices on v1",
          .enabled(if: HostWideLimitTests.isV1, "reads the cgroup v1 files from outside; the v2 driver's parent group is covered by the fake-cgroupfs unit tests"))
    func parentGroupLimits() async throws {
        let run = Task { Harness.hearthRun(Harness.probe, event: #"{"cmd":"sleep","ms":2000}"#) }
        var observed: [String] = [], devices = "", shares = 0, memoryLimit: UInt64 = 0, pidsMax = "", inside = false
        for _ in 0..<100 {
            try await Task.sleep(for: .milliseconds(50))
            guard let cpu = Self.v1Group("cpu"),
                  let parent = ((try? FileManager.default.contentsOfDirectory(atPath: cpu)) ?? [])
                    .first(where: { $0.hasPrefix("hearth-") && $0.hasSuffix(CgroupHost.parentSuffix) && Self.isOurs($0) }),
                  let instance = ((try? FileManager.default.contentsOfDirectory(atPath: cpu + "/" + parent)) ?? []).first(where: { $0.hasPrefix("hearth-") })
            else { continue }
            shares = Int(Self.read(cpu + "/" + parent + "/cpu.shares")) ?? 0
            pidsMax = Self.v1Group("pids").map { Self.read($0 + "/" + parent + "/pids.max") } ?? "?"
            memoryLimit = Self.v1Group("memory").flatMap { UInt64(Self.read($0 + "/" + parent + "/memory.limit_in_bytes")) } ?? 0
            devices = Self.v1Group("devices").map { Self.read($0 + "/" + parent + "/" + instance + "/devices.list") } ?? "no devices controller"
            inside = !Self.read(cpu + "/" + parent + "/" + instance + "/cgroup.procs").isEmpty
            if inside { break }
        }
        let result = await run.value
        #expect(result.status == 0, "\(result.stderr)")
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let hostMemory = UInt64(pages) * UInt64(size)
        observed.append("cpu.shares \(shares) (a nice-0 task: 1024)")
        observed.append("pids.max \(pidsMax)")
        observed.append("memory \(memoryLimit >> 20) MB of the host's \(hostMemory >> 20) MB")
        SecurityLedger.check("res.parent_group", "all instances of a supervisor in one parent cgroup (read from outside while one runs)",
                             expected: "instance inside the parent; cpu.shares below 1024; pids.max ≤ half of pid_max; memory below the host's",
                             observed: (inside ? "instance inside the parent; " : "no instance in a parent group; ") + observed.joined(separator: ", "),
                             inside && shares > 0 && shares < 1024 && (Int(pidsMax) ?? Int.max) <= 16384 && memoryLimit > 0 && memoryLimit < hostMemory)
        let allowed = CgroupV1Driver.allowedDevices.joined(separator: "\n")
        SecurityLedger.check("dev.cgroup_v1", "the instance's v1 devices cgroup (devices.list, read from outside)",
                             expected: "only /dev/null, zero, full, random, urandom (c 1:3,5,7,8,9)",
                             observed: devices.replacingOccurrences(of: "\n", with: ", "), devices == allowed)
    }

    @Test("/proc/self/cgroup, the init's signal handlers and dumpability, and the root's mount flags say nothing and allow nothing")
    func hostLeaks() throws {
        let cgroup = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"cat","path":"/proc/self/cgroup"}"#).json()["content"] as? String ?? "?"
        let paths = cgroup.split(separator: "\n").map { $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last.map(String.init) ?? "?" }
        SecurityLedger.check("proc.self_cgroup", "read /proc/self/cgroup (cgroup v\(Self.isV1 ? 1 : 2))",
                             expected: "every hierarchy at / (a cgroup namespace rooted at the instance's group): no instance id, supervisor pid or host path",
                             observed: cgroup.contains("hearth") ? "names a group: \(paths.filter { $0 != "/" }.joined(separator: " "))" : "all at /",
                             !paths.isEmpty && paths.allSatisfy { $0 == "/" })

        let status = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"cat","path":"/proc/1/status"}"#).json()["content"] as? String ?? ""
        func field(_ name: String) -> String {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        SecurityLedger.check("proc.init_signals", "the signal handlers of the sandbox's pid 1 (/proc/1/status SigCgt, SigIgn)",
                             expected: "none caught or ignored (glibc's reserved 32 and 33 reset too)",
                             observed: "SigCgt \(field("SigCgt")), SigIgn \(field("SigIgn"))",
                             field("SigCgt") == "0000000000000000" && field("SigIgn") == "0000000000000000")

        let environ = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"cat","path":"/proc/1/environ"}"#).json()
        SecurityLedger.check("proc.init_environ", "read /proc/1/environ (the init is not dumpable from its first step)",
                             expected: "EACCES", observed: SecurityLedger.errnoName(environ["errno"] as? Int), environ["errno"] as? Int == Int(EACCES))

        let mounts = try Harness.probe("facts")["mounts"] as? String ?? ""
        func options(_ target: String) -> [String] {
            let line = mounts.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first == Substring(target) }
            return line.map { $0.split(separator: " ")[3].split(separator: ",").map(String.init) } ?? []
        }
        let root = options("/"), task = options("/var/task")
        SecurityLedger.check("fs.root_task_nosuid", "mount options of / and /var/task",
                             expected: "both ro,nosuid,nodev", observed: "/ \(root.joined(separator: ",")); /var/task \(task.joined(separator: ","))",
                             [root, task].allSatisfy { Set(["ro", "nosuid", "nodev"]).isSubset(of: Set($0)) })
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("/proc/self/mountinfo and /proc/self/mounts name no supervisor pid, instance id, code hash, state or run directory")
    func mountTable() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("mounts")
        let answer = try #require(try await daemon.invoke("mounts", #"{"cmd":"mountinfo"}"#).json)
        let mountinfo = answer["mountinfo"] as? String ?? "", mounts = answer["mounts"] as? String ?? ""
        let pid = daemon.process.processIdentifier
        let run = "/run/hearth/\(pid)"
        // The instance is warm: its workspace is the one folder in the supervisor's run folder.
        let instances = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        let sha = CodeStore.sha256Hex(try Data(contentsOf: URL(fileURLWithPath: Harness.fixtures + "/probe.zip")))
        let shared = (Harness.stateDirectory as NSString).resolvingSymlinksInPath
        var secrets: [(what: String, text: String)] = [("the state directory", daemon.stateDirectory), ("the shared image cache", shared),
                                                       ("the run directory", run), ("the code's SHA-256", sha)]
        secrets += instances.map { ("the instance id", $0) }
        if let host = answer["hostname"] as? String, host.hasPrefix("hearth-") { secrets.append(("the instance id", String(host.dropFirst(7)))) }
        let table = mountinfo + "\n" + mounts
        // The supervisor's pid as a path component anywhere in a field.
        let fields = table.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "=" || $0 == ":" })
        let pidComponent = fields.contains { $0.contains("/") && $0.split(separator: "/").contains(Substring("\(pid)")) }
        var found = secrets.filter { !$0.text.isEmpty && table.contains($0.text) }.map(\.what)
        if pidComponent { found.append("the supervisor's pid") }
        let roots = mountinfo.split(separator: "\n").map { $0.split(separator: " ").dropFirst(3).first.map(String.init) ?? "?" }
        SecurityLedger.check("proc.mountinfo", "read /proc/self/mountinfo and /proc/self/mounts (every mount's source and root field)",
                             expected: "no supervisor pid, instance id, code SHA-256, state or run directory",
                             observed: found.isEmpty ? "none of them; roots \(Set(roots).sorted().joined(separator: " "))"
                                 : "names \(Set(found).sorted().joined(separator: ", ")); roots \(roots.joined(separator: " "))",
                             !mountinfo.isEmpty && !mounts.isEmpty && !instances.isEmpty && found.isEmpty)
    }
}

/// Socket buffers (issue 11, item 3): cgroup v1 charges TCP buffers only to memory.kmem.tcp,
/// which Hearth now limits per instance; v2 charges them to memory.max.
@Suite("Socket buffers are bounded by the instance's memory", .serialized, .requiresRoot)
struct SocketBufferTests {
    @Test("a 128 MB instance queues loopback TCP data without reading it: the kernel stops it near 128 MB")
    func tcpBuffers() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"tcpfill","max_mb":768}"#, ["--memory", "128", "--timeout", "30"])
        let answer = (try? result.json()) ?? [:]
        let queued = answer["queued_mb"] as? Int ?? -1
        let peak = result.reports.first?["Max Memory Used"] ?? "?"
        SecurityLedger.check("res.tcp_buffers", "queue up to 768 MB on loopback TCP connections inside a 128 MB instance without reading (cgroup \(HostWideLimitTests.isV1 ? "v1" : "v2"))",
                             expected: "the kernel refuses more at about the instance's 128 MB (v1 memory.kmem.tcp limit, v2 memory.max), not the host-global tcp_mem",
                             observed: "\(queued) MB queued on \(answer["pairs"] ?? "?") connections; Max Memory Used \(peak); hearth exit \(result.status)",
                             queued >= 0 && queued <= 160 && result.status == 0)
        #expect(Harness.leftovers().isEmpty)
    }

    /// Issue 11 item 3, the other socket buffers: loopback UDP (v1 charges it to memory.kmem.tcp,
    /// limited to the memory size by Hearth) and unix datagram and stream sockets (charged to
    /// memory). A 128 MB instance asks for 512 MB of each; the same probe at 512 MB queues
    /// 300 MB, so the bound is the instance's memory, not the probe's reach.
    @Test("UDP and unix socket buffers are charged to the instance: at 128 MB the kernel refuses or OOM-kills near 128 MB", arguments: ["udp", "unix_dgram", "unix_stream"])
    func otherSocketBuffersAreBounded(kind: String) throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"sockfill","kind":"\#(kind)","max_mb":512}"#, ["--memory", "128", "--timeout", "30"])
        let answer = (try? result.json()) ?? [:]
        let queued = answer["queued_mb"] as? Int ?? -1
        let errorType = answer["errorType"] as? String
        let peak = result.reports.first?["Max Memory Used"] ?? "?"
        let control = Harness.hearthRun(Harness.probe, event: #"{"cmd":"sockfill","kind":"\#(kind)","max_mb":300}"#, ["--memory", "512", "--timeout", "30"])
        let reach = ((try? control.json()) ?? [:])["queued_mb"] as? Int ?? -1
        SecurityLedger.check("res.\(kind)_buffers", "queue up to 512 MB in \(kind.replacingOccurrences(of: "_", with: " ")) socket buffers without reading inside a 128 MB instance (cgroup \(HostWideLimitTests.isV1 ? "v1" : "v2")); the same at 512 MB as a control",
                             expected: "refused at about 128 MB, or the instance is OOM-killed (Runtime.OutOfMemory); the control queues 300 MB",
                             observed: "\(errorType.map { "\($0) after queueing" } ?? "\(queued) MB queued on \(answer["sockets"] ?? "?") sockets"); Max Memory Used \(peak); control \(reach) MB",
                             ((queued >= 0 && queued <= 160 && result.status == 0) || errorType == "Runtime.OutOfMemory") && reach >= 290)
        #expect(Harness.leftovers().isEmpty)
    }
}

/// The sandbox's pid 1 (issue 11, item 4): hearth-init, a small static program exec'd once the
/// sandbox is set up, not a copy of the supervisor.
@Suite("The sandbox's pid 1 is hearth-init, not a copy of the supervisor", .serialized, .requiresRoot)
struct SandboxInitTests {
    static func field(_ status: String, _ name: String) -> String {
        status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
    }

    static func kilobytes(_ value: String) -> Int { Int(value.split(separator: " ").first ?? "") ?? -1 }

    @Test("hearth serve (a pre-forked shell's init, then a cold start's): /proc/1/cmdline names only hearth-init and its memory is its own")
    func initIsSmall() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("pid1")
        let cmdline = try await daemon.invoke("pid1", #"{"cmd":"cat","path":"/proc/1/cmdline"}"#).json?["content"] as? String ?? "?"
        let status = try await daemon.invoke("pid1", #"{"cmd":"cat","path":"/proc/1/status"}"#).json?["content"] as? String ?? ""
        let supervisorStatus = (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let initRSS = Self.kilobytes(Self.field(status, "VmRSS")), supervisorRSS = Self.kilobytes(Self.field(supervisorStatus, "VmRSS"))
        SecurityLedger.check("proc.init_cmdline", "read /proc/1/cmdline (under hearth serve)",
                             expected: "hearth-init only: none of the supervisor's argv", observed: cmdline.replacingOccurrences(of: "\0", with: " ").trimmingCharacters(in: .whitespaces),
                             cmdline == "hearth-init\0")
        SecurityLedger.check("proc.init_memory", "the RSS of the sandbox's pid 1 (/proc/1/status), against the supervisor's (read from outside)",
                             expected: "a few MB of its own (≤ 4 MB), none of the supervisor's pages",
                             observed: "pid 1 \(Self.field(status, "Name")) \(initRSS) kB; supervisor \(supervisorRSS) kB",
                             initRSS > 0 && initRSS <= 4096 && Self.field(status, "Name") == "hearth-init")
        // The function still runs as pid 2 under it, warm reuse intact.
        let facts = try await daemon.invoke("pid1", #"{"cmd":"facts"}"#).json ?? [:]
        #expect(facts["pid"] as? Int == 2 && facts["ppid"] as? Int == 1, "\(facts["pid"] ?? "?")/\(facts["ppid"] ?? "?")")
        #expect(try await daemon.invoke("pid1", #"{"cmd":"count"}"#).json?["count"] as? Int == 1)
        #expect(try await daemon.invoke("pid1", #"{"cmd":"count"}"#).json?["count"] as? Int == 2)
    }
}
