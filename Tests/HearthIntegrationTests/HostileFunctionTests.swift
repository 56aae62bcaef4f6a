import Foundation
import HearthServer
import Testing

/// The hostile-function suite: each case is attempted by the probe INSIDE a real sandbox and
/// must fail without changing anything outside. Every case is recorded in the security ledger
/// (SecurityLedger), from which scripts/security-table renders the table in docs/security.md.
@Suite("Hostile functions, attempted from inside real sandboxes", .serialized, .requiresRoot)
struct HostileFunctionTests {
    /// (probe key, ledger id, what is attempted, expected errno)
    static let syscallCases: [(String, String, String, Int32)] = {
        var cases: [(String, String, String, Int32)] = [
            ("mount", "fs.mount", "mount(2) a filesystem", EPERM),
            ("umount2", "fs.umount2", "umount2(2)", EPERM),
            ("pivot_root", "fs.pivot_root", "pivot_root(2)", EPERM),
            ("chroot", "fs.chroot", "chroot(2) into /tmp", EPERM),
            ("open_by_handle_at", "fs.open_by_handle_at", "open_by_handle_at(2) (the \"shocker\" escape)", EPERM),
            ("mknod", "dev.mknod", "mknod(2) a character device with /dev/null's numbers", EPERM),
            ("unshare", "ns.unshare_mnt", "unshare(CLONE_NEWNS)", EPERM),
            ("unshare_user", "ns.unshare_user", "unshare(CLONE_NEWUSER)", EPERM),
            ("unshare_uts", "ns.unshare_uts", "unshare(CLONE_NEWUTS)", EPERM),
            ("unshare_ipc", "ns.unshare_ipc", "unshare(CLONE_NEWIPC)", EPERM),
            ("unshare_pid", "ns.unshare_pid", "unshare(CLONE_NEWPID)", EPERM),
            ("unshare_net", "ns.unshare_net", "unshare(CLONE_NEWNET)", EPERM),
            ("unshare_cgroup", "ns.unshare_cgroup", "unshare(CLONE_NEWCGROUP)", EPERM),
            ("unshare_time", "ns.unshare_time", "unshare(CLONE_NEWTIME)", EPERM),
            ("clone_newuser", "ns.clone_newuser", "clone(2) with CLONE_NEWUSER", EPERM),
            ("clone3", "ns.clone3", "clone3(2) (flags out of BPF's sight): ENOSYS so runtimes fall back to clone", ENOSYS),
            ("setns_mnt", "ns.setns_mnt", "setns(2) into a mount namespace", EPERM),
            ("setns_uts", "ns.setns_uts", "setns(2) into a UTS namespace", EPERM),
            ("setns_ipc", "ns.setns_ipc", "setns(2) into an IPC namespace", EPERM),
            ("setns_user", "ns.setns_user", "setns(2) into a user namespace", EPERM),
            ("setns_pid", "ns.setns_pid", "setns(2) into a pid namespace", EPERM),
            ("setns_net", "ns.setns_net", "setns(2) into a network namespace", EPERM),
            ("setns_cgroup", "ns.setns_cgroup", "setns(2) into a cgroup namespace", EPERM),
            ("setns_time", "ns.setns_time", "setns(2) into a time namespace", EPERM),
            ("keyctl", "kernel.keyctl", "keyctl(2)", EPERM),
            ("add_key", "kernel.add_key", "add_key(2)", EPERM),
            ("request_key", "kernel.request_key", "request_key(2)", EPERM),
            ("bpf", "kernel.bpf", "bpf(2)", EPERM),
            ("perf_event_open", "kernel.perf_event_open", "perf_event_open(2)", EPERM),
            ("kexec_load", "kernel.kexec_load", "kexec_load(2)", EPERM),
            ("kexec_file_load", "kernel.kexec_file_load", "kexec_file_load(2)", EPERM),
            ("init_module", "kernel.init_module", "init_module(2)", EPERM),
            ("finit_module", "kernel.finit_module", "finit_module(2)", EPERM),
            ("delete_module", "kernel.delete_module", "delete_module(2)", EPERM),
            ("settimeofday", "kernel.settimeofday", "settimeofday(2)", EPERM),
            ("clock_settime", "kernel.clock_settime", "clock_settime(CLOCK_REALTIME)", EPERM),
            ("swapon", "kernel.swapon", "swapon(2)", EPERM),
            ("swapoff", "kernel.swapoff", "swapoff(2)", EPERM),
            ("reboot", "kernel.reboot", "reboot(2)", EPERM),
            ("acct", "kernel.acct", "acct(2)", EPERM),
            ("quotactl", "kernel.quotactl", "quotactl(2)", EPERM),
            ("userfaultfd", "kernel.userfaultfd", "userfaultfd(2)", EPERM),
            ("io_setup", "kernel.io_setup", "io_setup(2): an AIO context from the host-wide fs.aio-max-nr", EPERM),
            ("personality_no_aslr", "kernel.personality", "personality(ADDR_NO_RANDOMIZE)", EPERM),
            ("ptrace_attach_init", "proc.ptrace_init", "ptrace(PTRACE_ATTACH) of the sandbox's own init", EPERM),
            ("process_vm_readv_init", "proc.process_vm_readv_init", "process_vm_readv(2) of the sandbox's init", EPERM),
            ("socket_packet", "net.socket_packet", "socket(AF_PACKET, SOCK_RAW)", EPERM),
            ("socket_raw_inet", "net.socket_raw_inet", "socket(AF_INET, SOCK_RAW, ICMP)", EPERM),
            ("socket_raw_inet6", "net.socket_raw_inet6", "socket(AF_INET6, SOCK_RAW, ICMPV6)", EPERM),
            ("socket_netlink_audit", "net.socket_netlink_audit", "socket(AF_NETLINK, NETLINK_AUDIT)", EPERM),
        ]
        #if arch(x86_64)
        cases += [("iopl", "kernel.iopl", "iopl(2)", EPERM), ("ioperm", "kernel.ioperm", "ioperm(2)", EPERM)]
        #endif
        return cases
    }()

    /// What a hostile syscall could change on the host, read before and after.
    static func hostSnapshot() -> [String: String] {
        var snapshot: [String: String] = [:]
        for path in ["/proc/sys/kernel/hostname", "/proc/swaps", "/proc/modules", "/proc/self/mountinfo",
                     "/proc/sys/kernel/keys/maxkeys", "/proc/sys/kernel/sysrq"] {
            snapshot[path] = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "unreadable"
        }
        return snapshot
    }

    @Test("dangerous system calls fail (EPERM; clone3 ENOSYS) and the host is unchanged")
    func syscalls() throws {
        let before = Self.hostSnapshot()
        let wallBefore = Date()
        let results = try Harness.probe("syscalls")
        for (key, id, title, expected) in Self.syscallCases {
            let observed = results[key] as? Int
            SecurityLedger.check(id, title, expected: SecurityLedger.errnoName(Int(expected)),
                                 observed: SecurityLedger.errnoName(observed), observed == Int(expected))
        }
        let after = Self.hostSnapshot()
        let changed = before.keys.filter { before[$0] != after[$0] }.sorted()
        let clockDrift = abs(Date().timeIntervalSince(wallBefore))
        SecurityLedger.check("host.unchanged", "host state after all of the above: hostname, swaps, modules, mounts, keys, sysrq, clock",
                             expected: "unchanged", observed: changed.isEmpty && clockDrift < 60 ? "unchanged" : "changed: \(changed)",
                             changed.isEmpty && clockDrift < 60)
    }

    @Test("/proc/sys, /proc/sysrq-trigger and /sys cannot be written; /proc/kcore and /proc/keys not read; /dev is minimal")
    func procSysDev() throws {
        let facts = try Harness.probe("facts")
        func errnoCase(_ key: String, _ id: String, _ title: String) {
            let value = facts[key] as? Int
            SecurityLedger.check(id, title, expected: "fails", observed: SecurityLedger.errnoName(value), (value ?? 0) != 0)
        }
        errnoCase("proc_sys_write_errno", "proc.write_proc_sys", "open /proc/sys/kernel/hostname for writing")
        errnoCase("sysrq_write_errno", "proc.write_sysrq", "open /proc/sysrq-trigger for writing")
        errnoCase("sys_write_errno", "proc.write_sys", "open /sys/kernel/uevent_helper for writing")
        errnoCase("sys_mkdir_errno", "proc.mkdir_sys_cgroup", "create a cgroup under /sys/fs/cgroup")
        let kcore = facts["kcore_read"] as? Int ?? 1
        SecurityLedger.check("proc.read_kcore", "read /proc/kcore", expected: "nothing read", observed: kcore > 0 ? "\(kcore) bytes" : "nothing read (\(kcore))", kcore <= 0)
        let keys = facts["keys_read"] as? Int ?? 1
        SecurityLedger.check("proc.read_keys", "read /proc/keys", expected: "nothing read", observed: keys > 0 ? "\(keys) bytes" : "nothing read (\(keys))", keys <= 0)
        let dev = Set(facts["dev_entries"] as? [String] ?? [])
        let minimal: Set<String> = ["fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"]
        SecurityLedger.check("dev.minimal", "list /dev", expected: minimal.sorted().joined(separator: " "),
                             observed: dev.sorted().joined(separator: " "), dev == minimal)
    }

    @Test("the host's files, the state dir and other functions' code are out of reach")
    func hostFiles() throws {
        let cases = [("files.etc_shadow", "/etc/shadow"), ("files.state_dir", Harness.stateDirectory + "/images"),
                     ("files.default_state_dir", "/var/lib/hearth"), ("files.other_function_code", Harness.echo + "/bootstrap"),
                     ("files.root_home", "/root/.bash_history")]
        for (id, path) in cases {
            let answer = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"cat","path":"\#(path)"}"#).json()
            let err = answer["errno"] as? Int
            SecurityLedger.check(id, "read \(path.replacingOccurrences(of: Harness.packageRoot, with: "<repo>")) (a host path)",
                                 expected: "fails", observed: SecurityLedger.errnoName(err), (err ?? 0) != 0)
        }
    }

    @Test("processes outside the sandbox cannot be signalled, traced or read")
    func outsideProcesses() throws {
        let me = getpid()  // the test runner: root, on the host
        let result = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"outside","pid":\#(me)}"#).json()
        for (key, id, title) in [("kill0_errno", "proc.kill_outside", "kill(host pid, 0) of a process outside"),
                                 ("ptrace_errno", "proc.ptrace_outside", "ptrace(PTRACE_ATTACH) of a process outside"),
                                 ("process_vm_readv_errno", "proc.process_vm_readv_outside", "process_vm_readv(2) of a process outside")] {
            let err = result[key] as? Int
            SecurityLedger.check(id, title, expected: "ESRCH (3): not in the pid namespace", observed: SecurityLedger.errnoName(err), err == Int(ESRCH))
        }
        let facts = try Harness.probe("facts")
        let visible = facts["visible_pids"] as? Int ?? 99
        SecurityLedger.check("proc.visible_pids", "count the processes in /proc", expected: "at most 3 (init, the function, a child)",
                             observed: "\(visible)", visible <= 3)
    }

    @Test("no network: no egress, and the host's loopback services (the supervisor's API) are unreachable")
    func network() throws {
        let net = try Harness.probe("net")
        let values = net.values.compactMap { $0 as? Int }
        SecurityLedger.check("net.egress", "TCP and UDP to outside addresses (10.255.255.1:80, 1.1.1.1:53)",
                             expected: "ENETUNREACH (101) for all", observed: net.map { "\($0.key)=\(SecurityLedger.errnoName($0.value as? Int))" }.sorted().joined(separator: ", "),
                             values.count == 3 && values.allSatisfy { $0 == Int(ENETUNREACH) })
        // A listener on the host's 127.0.0.1, standing for the supervisor's API.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 8)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let answer = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"tcp","port":\#(port)}"#).json()
        let accepted = accept(listener, nil, nil)
        if accepted >= 0 { close(accepted) }
        let err = answer["errno"] as? Int
        SecurityLedger.check("net.host_loopback", "connect to a service on the host's 127.0.0.1 (like the supervisor's API)",
                             expected: "ECONNREFUSED (111) in the sandbox's own loopback; nothing accepted on the host",
                             observed: "\(SecurityLedger.errnoName(err)); host accepted \(accepted >= 0 ? "a connection" : "nothing")",
                             err == Int(ECONNREFUSED) && accepted < 0)
        let facts = try Harness.probe("facts")
        let interfaces = facts["interfaces"] as? [String] ?? []
        SecurityLedger.check("net.interfaces", "list network interfaces", expected: "lo", observed: interfaces.joined(separator: " "), interfaces == ["lo"])
    }

    @Test("a setuid-root binary in the code does not raise privileges (nosuid, no_new_privs)")
    func setuidBinary() throws {
        let code = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-suid-\(getpid())").path
        try? FileManager.default.removeItem(atPath: code)
        try FileManager.default.createDirectory(atPath: code, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: code) }
        try FileManager.default.copyItem(atPath: Harness.probe + "/bootstrap", toPath: code + "/bootstrap")
        try FileManager.default.copyItem(atPath: Harness.probe + "/bootstrap", toPath: code + "/suid-root")
        #expect(chown(code + "/suid-root", 0, 0) == 0)
        #expect(chmod(code + "/suid-root", 0o4755) == 0)
        let answer = try Harness.hearthRun(code, event: #"{"cmd":"suid","path":"/var/task/suid-root"}"#).json()
        let output = (answer["output"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        SecurityLedger.check("priv.setuid_binary", "exec a setuid-root binary shipped in the function's code",
                             expected: "euid stays 993", observed: output.isEmpty ? "no output (status \(answer["status"] ?? "?"))" : output,
                             output.hasPrefix("euid=993 "))
        let facts = try Harness.probe("facts")
        let caps = ["cap_eff", "cap_prm", "cap_bnd", "cap_amb"].map { facts[$0] as? String ?? "?" }
        SecurityLedger.check("priv.capabilities", "capability sets and no_new_privs of the function",
                             expected: "all empty, NoNewPrivs 1, uid 993",
                             observed: "\(caps.joined(separator: "/")), NoNewPrivs \(facts["no_new_privs"] ?? "?"), uid \(facts["uid"] ?? "?")",
                             caps.allSatisfy { $0 == "0000000000000000" } && facts["no_new_privs"] as? Int == 1 && facts["uid"] as? Int == 993)
    }

    @Test("resource bombs stop at the instance's limits: fork, memory, /tmp, descriptors")
    func resourceBombs() throws {
        let fork = try Harness.probe("forkbomb", ["--timeout", "60", "--cpu", "1"])
        let forked = fork["forked"] as? Int ?? 0
        let hostOK = Harness.run("/bin/true", []).status == 0
        SecurityLedger.check("res.fork_bomb", "fork until it fails", expected: "EAGAIN at pids.max (< 1024 processes); the host still forks",
                             observed: "\(forked) forks, then \(SecurityLedger.errnoName(fork["errno"] as? Int)); host \(hostOK ? "forks" : "cannot fork")",
                             forked > 10 && forked < 1024 && fork["errno"] as? Int == Int(EAGAIN) && hostOK)

        let oom = Harness.hearthRun(Harness.probe, event: #"{"cmd":"memhog","mb":400}"#, ["--memory", "128"])
        let error = (try? oom.json()) ?? [:]
        let peak = oom.reports.first?["Max Memory Used"] ?? "?"
        SecurityLedger.check("res.memory_bomb", "allocate 400 MB with a 128 MB limit",
                             expected: "Runtime.OutOfMemory for this instance; the supervisor reports it",
                             observed: "\(error["errorType"] ?? "no error"), peak \(peak), hearth exit \(oom.status)",
                             oom.status == 1 && error["errorType"] as? String == "Runtime.OutOfMemory")

        let fill = try Harness.probe("tmpfill", ["--memory", "1024", "--timeout", "30"])
        let written = fill["written_mb"] as? Int ?? 0
        SecurityLedger.check("res.tmp_fill", "write /tmp until it fails (512 MB ephemeral storage)",
                             expected: "ENOSPC at ≤ 512 MB", observed: "\(written) MB, then \(SecurityLedger.errnoName(fill["errno"] as? Int))",
                             fill["errno"] as? Int == Int(ENOSPC) && written <= 512)

        let fds = try Harness.probe("fdbomb")
        let opened = fds["opened"] as? Int ?? 0
        SecurityLedger.check("res.fd_exhaustion", "open descriptors until it fails", expected: "EMFILE near RLIMIT_NOFILE (1024)",
                             observed: "\(opened) opened, then \(SecurityLedger.errnoName(fds["errno"] as? Int))",
                             fds["errno"] as? Int == Int(EMFILE) && opened < 1024)
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("a runtime that never calls /next is stopped at the init limit; one that hoards connections is capped")
    func misbehavingRuntimes() throws {
        let started = Date()
        let silent = Harness.hearthRun(Harness.probe, event: #"{"cmd":"echo"}"#, ["--env", "PROBE_SLEEP_AT_INIT_MS=60000", "--timeout", "3"])
        let took = Date().timeIntervalSince(started)
        let error = (try? silent.json()) ?? [:]
        SecurityLedger.check("api.never_next", "a runtime that never asks for work (sleeps 60 s before /next)",
                             expected: "the invocation fails within the 10 s init limit + timeout; the instance is removed",
                             observed: "\(error["errorType"] ?? "no error") after \(String(format: "%.1f", took)) s",
                             silent.status != 0 && took < 20 && Harness.leftovers().isEmpty)

        let conns = try Harness.hearthRun(Harness.probe, event: #"{"cmd":"conns","n":64}"#).json()
        let opened = conns["opened"] as? Int ?? 0, closed = conns["closed_by_server"] as? Int ?? 0
        SecurityLedger.check("api.connection_hoard", "open and hold 64 connections to the Runtime API",
                             expected: "the supervisor keeps at most 8 per instance and closes the rest",
                             observed: "\(opened) opened, \(closed) closed by the supervisor, \(opened - closed) kept",
                             opened - closed <= 8 && closed > 0)
    }

    /// Latency of `count` sequential invocations of `name`, in milliseconds, sorted.
    static func latencies(_ daemon: ServeDaemon, _ name: String, count: Int) async throws -> [Double] {
        let client = try daemon.client()
        var samples: [Double] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            let response = try await client.send("POST", "/2015-03-31/functions/\(name)/invocations", body: Data(#"{"cmd":"echo"}"#.utf8))
            let elapsed = ContinuousClock.now - start
            #expect(response.status == 200)
            samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        }
        return samples.sorted()
    }

    static func p99(_ sorted: [Double]) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)] }

    /// One function spins a full vCPU (1769 MB) on a 2-core machine. Two such spinners take both
    /// cores, and then the neighbour's p99 exceeds 2x (observed 9.3 → 23.2 ms): nothing reserves
    /// CPU for the supervisor or weights instances below it; docs/security.md lists this.
    @Test("a CPU-spinning function does not starve a neighbour: its p99 stays within 2x of idle")
    func cpuSpinNeighbour() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("quiet")
        try await daemon.createProbe("spinner", extra: ["MemorySize": 1769, "Timeout": 30])
        _ = try await Self.latencies(daemon, "quiet", count: 20)  // warm
        _ = try await daemon.invoke("spinner", #"{"cmd":"spin","ms":10}"#)  // the spinner's instance, warm
        // Idle and loaded blocks interleaved, so that load from outside the test (other builds
        // on a shared machine) falls on both alike.
        try await SecurityLedger.checkMeasured("res.cpu_spin_neighbour", "a function spins a full vCPU (1769 MB) on 2 cores; a neighbour is invoked 500 times idle and 500 times while it spins, interleaved",
                                               expected: "neighbour p99 ≤ 2× its idle p99 (or within 5 ms of it: a few-ms p99 doubles from scheduler noise alone on a shared 2-core VM; starvation costs tens of ms)") {
            var idle: [Double] = [], loaded: [Double] = []
            for _ in 0..<10 {
                idle += try await Self.latencies(daemon, "quiet", count: 50)
                let spinner = Task { try? await daemon.invoke("spinner", #"{"cmd":"spin","ms":1200}"#) }
                try await Task.sleep(for: .milliseconds(100))
                loaded += try await Self.latencies(daemon, "quiet", count: 50)
                _ = await spinner.value
            }
            idle.sort()
            loaded.sort()
            let (idleP99, loadedP99) = (Self.p99(idle), Self.p99(loaded))
            return (String(format: "idle p50 %.1f / p99 %.1f ms; while spinning p50 %.1f / p99 %.1f ms (%.2fx)",
                           idle[idle.count / 2], idleP99, loaded[loaded.count / 2], loadedP99, loadedP99 / idleP99),
                    loadedP99 <= max(2 * idleP99, idleP99 + 5))
        }
    }

    /// The host uid an instance runs as, from its /proc/self/uid_map ("993 <host> 1").
    static func hostUID(_ daemon: ServeDaemon, _ name: String) async throws -> (UInt32?, String) {
        let map = try await daemon.invoke(name, #"{"cmd":"cat","path":"/proc/self/uid_map"}"#).json?["content"] as? String ?? ""
        let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, fields[0] == "993", fields[2] == "1" else { return (nil, map) }
        return (UInt32(fields[1]), map)
    }

    /// The owner (a host uid) of the user namespace of some process running as host uid `uid`,
    /// read from outside with NS_GET_OWNER_UID.
    static func userNamespaceOwner(ofProcessWithUID uid: UInt32) -> UInt32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
            guard let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                  status.split(separator: "\n").contains(where: { $0.hasPrefix("Uid:\t\(uid)\t") }) else { continue }
            let fd = open("/proc/\(entry)/ns/user", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var owner: UInt32 = 0
            if ioctl(fd, UInt(0xb704), &owner) == 0 { return owner }  // NS_GET_OWNER_UID
        }
        return nil
    }

    /// Issue 11 item 2: every sandbox ran as host uid 993, so per-user kernel counters were one
    /// pool for all tenants. Now each instance has a host uid of its own (Hearth's range) and a
    /// user namespace that uid owns, so one instance exhausting its inotify instances (128, the
    /// host's fs.inotify.max_user_instances) and queued signals (RLIMIT_SIGPENDING, at most 200,000
    /// here) leaves a neighbour's untouched. Bounded: 128 descriptors, a few MB of queued signals.
    @Test("each instance has its own host uid: one exhausting inotify instances and queued signals does not affect a neighbour")
    func perInstanceUIDs() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        // 200,000 sigqueue calls and 4,096 inotify_init1 take a few hundred ms of CPU: at 128 MB's
        // 7 % of a core that is seconds, so the hog gets a whole core's share and time to finish
        // (a loaded CI machine timed it out at the default 3 s).
        try await daemon.createProbe("hog", extra: ["MemorySize": 1769, "Timeout": 30])
        try await daemon.createProbe("neighbour", extra: ["Timeout": 30])
        let (hogUID, hogMap) = try await Self.hostUID(daemon, "hog")
        let (neighbourUID, neighbourMap) = try await Self.hostUID(daemon, "neighbour")
        let inRange = [hogUID, neighbourUID].allSatisfy { $0.map { $0 >= 2_147_000_000 && $0 < 2_147_065_536 } ?? false }
        let owner = hogUID.flatMap { Self.userNamespaceOwner(ofProcessWithUID: $0) }
        SecurityLedger.check("uid.per_instance", "the host uid of two instances (/proc/self/uid_map) and the owner of their user namespace (NS_GET_OWNER_UID from outside)",
                             expected: "993 inside; two different host uids of Hearth's range (default 2147000000:65536); the namespace owned by the instance's uid, not root",
                             observed: "uid_map \(hogMap.trimmingCharacters(in: .whitespacesAndNewlines)) / \(neighbourMap.trimmingCharacters(in: .whitespacesAndNewlines)); owner \(owner.map(String.init) ?? "?")",
                             inRange && hogUID != neighbourUID && owner != nil && owner == hogUID)

        let hogResponse = try await daemon.invoke("hog", #"{"cmd":"ucounts","hog":1}"#)
        let neighbourResponse = try await daemon.invoke("neighbour", #"{"cmd":"ucounts","hog":0}"#)
        let hog = hogResponse.json ?? [:], neighbour = neighbourResponse.json ?? [:]
        #expect(hog["inotify_held"] != nil, "the hog did not answer: \(hogResponse.status) \(String(decoding: hogResponse.body.prefix(500), as: UTF8.self))")
        #expect(neighbour["inotify_errno"] != nil, "the neighbour did not answer: \(neighbourResponse.status) \(String(decoding: neighbourResponse.body.prefix(500), as: UTF8.self))")
        let held = hog["inotify_held"] as? Int ?? -1, signals = hog["signals_held"] as? Int ?? -1
        SecurityLedger.check("uid.inotify_instances", "one instance takes every inotify instance it can (and keeps them); a neighbour then asks for one",
                             expected: "the hog stops at EMFILE (≤ 128, its own uid's fs.inotify.max_user_instances); the neighbour's inotify_init1 succeeds",
                             observed: "hog \(held), then \(SecurityLedger.errnoName(hog["inotify_errno"] as? Int)); neighbour \(SecurityLedger.errnoName(neighbour["inotify_errno"] as? Int))",
                             held > 0 && held <= 128 && hog["inotify_errno"] as? Int == Int(EMFILE) && neighbour["inotify_errno"] as? Int == 0)
        SecurityLedger.check("uid.queued_signals", "one instance queues signals until refused (and keeps them queued); a neighbour then queues one",
                             expected: "the hog stops at EAGAIN (RLIMIT_SIGPENDING of its own uid) or 200,000; the neighbour's sigqueue succeeds",
                             observed: "hog \(signals), then \(SecurityLedger.errnoName(hog["signal_errno"] as? Int)); neighbour \(SecurityLedger.errnoName(neighbour["signal_errno"] as? Int))",
                             signals > 0 && (hog["signal_errno"] as? Int == Int(EAGAIN) || signals == 200_000) && neighbour["signal_errno"] as? Int == 0)
        let queues = hog["mqueues_held"] as? Int ?? -1
        SecurityLedger.check("uid.mqueues", "one instance opens POSIX message queues (10 × 8 KB messages each) until refused, and keeps them; a neighbour then opens one",
                             expected: "the hog stops at EMFILE (its own uid's RLIMIT_MSGQUEUE, 819,200 bytes: about 9 queues); the neighbour's mq_open succeeds",
                             observed: "hog \(queues), then \(SecurityLedger.errnoName(hog["mqueue_errno"] as? Int)); neighbour \(SecurityLedger.errnoName(neighbour["mqueue_errno"] as? Int))",
                             queues > 0 && queues < 64 && hog["mqueue_errno"] as? Int == Int(EMFILE) && neighbour["mqueue_errno"] as? Int == 0)
        let pipeMB = hog["pipe_mb_held"] as? Int ?? -1
        SecurityLedger.check("uid.pipe_pages", "one instance sizes pipes to 1 MB each until refused (fs.pipe-user-pages-soft, 16,384 pages a uid), and keeps them; a neighbour then makes a pipe and sizes it to 1 MB",
                             expected: "the hog stops at EPERM after ~64 MB; the neighbour's pipe has the default 64 KB and takes 1 MB",
                             observed: "hog \(pipeMB) MB, then \(SecurityLedger.errnoName(hog["pipe_errno"] as? Int)); neighbour pipe \(neighbour["pipe_default_size"] ?? "?") bytes, resize \(SecurityLedger.errnoName(neighbour["pipe_errno"] as? Int))",
                             pipeMB > 0 && pipeMB < 200 && hog["pipe_errno"] as? Int == Int(EPERM) && neighbour["pipe_default_size"] as? Int == 65536 && neighbour["pipe_errno"] as? Int == 0)
    }

    @Test("invalid JSON and invalid UTF-8 payloads are refused with 400; the supervisor stays healthy")
    func invalidPayloads() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("target")
        let client = try daemon.client()
        let path = "/2015-03-31/functions/target/invocations"
        for (id, title, body) in [("api.invalid_json", "invoke with a payload that is not JSON", Data(#"{"unterminated": "#.utf8)),
                                  ("api.invalid_utf8", "invoke with a JSON string holding invalid UTF-8", Data([0x22, 0xff, 0xfe, 0xc3, 0x22]))] {
            let response = try await client.send("POST", path, body: body)
            let type = response.header("x-amzn-ErrorType") ?? response.json?["__type"] as? String ?? "?"
            SecurityLedger.check(id, title, expected: "400 InvalidRequestContentException, nothing invoked",
                                 observed: "\(response.status) \(type)", response.status == 400)
        }
        let ok = try await daemon.invoke("target", #"{"cmd":"count"}"#)
        SecurityLedger.check("api.after_bad_payloads", "a valid invocation after the bad ones", expected: "200, first invocation of the instance",
                             observed: "\(ok.status), count \(ok.json?["count"] ?? "?")", ok.status == 200 && ok.json?["count"] as? Int == 1)
    }
}
