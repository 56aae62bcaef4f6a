import CHearthSpawn
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A sandbox set-up step that failed inside the child: which step, on what, and the errno.
public struct SandboxSetupError: Error, CustomStringConvertible, Sendable {
    public var step: Int32
    public var errno: Int32
    /// The path or value the step worked on, when there is one.
    public var subject: String?

    public var stepName: String { String(cString: hearth_step_name(step)) }
    public var isExec: Bool { step == Int32(HEARTH_STEP_EXEC.rawValue) }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let subject { return "sandbox setup failed: \(stepName) \(subject): \(reason) (errno \(errno))" }
        return "sandbox setup failed: \(stepName): \(reason) (errno \(errno))"
    }
}

/// How the function's process ended.
public enum SandboxExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Lambda's wording: "exit status 1", "signal: killed".
    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let sig): return "signal: \(Self.signalName(sig))"
        }
    }

    static func signalName(_ sig: Int32) -> String {
        switch sig {
        case SIGKILL: return "killed"
        case SIGSEGV: return "segmentation fault"
        case SIGABRT: return "aborted"
        case SIGTERM: return "terminated"
        case SIGBUS: return "bus error"
        case SIGILL: return "illegal instruction"
        case SIGFPE: return "floating point exception"
        case SIGPIPE: return "broken pipe"
        case SIGINT: return "interrupt"
        case SIGHUP: return "hangup"
        default: return "signal \(sig)"
        }
    }

    init(waitStatus status: Int32) {
        if status & 0x7f == 0 { self = .exited((status >> 8) & 0xff) } else { self = .signaled(status & 0x7f) }
    }
}

/// One running sandbox: its init process (pid 1 in its namespaces), cgroup and descriptors.
///
/// Created by `spawn`; the exit is watched by a monitor thread. Call `kill()` to end it and
/// `destroy()` once to release everything (it waits for the exit). Thread-safe.
///
/// A sandbox spawned with `hold: true` is a pre-forked shell: namespaces, cgroup (attached),
/// mounts, privileges and seccomp are all done, and its init waits for `launch()` to fork and
/// exec the function. Until then it runs nothing of the function's.
public final class Sandbox: @unchecked Sendable {
    /// Host pid of the sandbox's init.
    public let pid: pid_t
    public let cgroup: any CgroupInstance
    /// Whether the sandbox was born in its cgroup: `CLONE_INTO_CGROUP` (v2), or the spawning
    /// thread's move into the instance's groups for the clone (v1, ADR 0033); false when the
    /// supervisor attached it by pid after the clone.
    public let startedInCgroup: Bool
    private let pidfd: Int32
    private let syncFD: Int32
    private let rootMountPoint: String
    private let listener = Mutex<Int32?>(nil)
    private let unixListener = Mutex<Int32?>(nil)
    private let exitState = Mutex<(exit: SandboxExit?, waiters: [CheckedContinuation<SandboxExit, Never>])>((nil, []))
    private let destroyed = Mutex(false)
    /// The monitor thread reads the sync socket only once released: at once, or for a held
    /// shell after `launch()` (which reads the exec's report itself) or on `destroy()`.
    private let released = Mutex(false)
    private let monitorGate = DispatchSemaphore(value: 0)
    /// Names the path or value of a failed step (kept for a held shell's launch).
    private let describeFailure: @Sendable (hearth_msg) -> String?

    private init(pid: pid_t, pidfd: Int32, syncFD: Int32, cgroup: any CgroupInstance, startedInCgroup: Bool,
                 rootMountPoint: String, describeFailure: @escaping @Sendable (hearth_msg) -> String?) {
        self.describeFailure = describeFailure
        self.pid = pid
        self.pidfd = pidfd
        self.syncFD = syncFD
        self.cgroup = cgroup
        self.startedInCgroup = startedInCgroup
        self.rootMountPoint = rootMountPoint
    }

    /// Takes the 127.0.0.1 Runtime API listener created in the sandbox's network namespace
    /// (the caller owns it afterwards), or nil when none was asked for or it was taken.
    public func takeRuntimeListener() -> Int32? {
        listener.withLock { fd in
            defer { fd = nil }
            return fd
        }
    }

    /// Takes the Unix Runtime API listener the sandbox made in its own tmpfs (`spec.runtimeSocket`;
    /// the caller owns it afterwards), or nil when none was asked for or it was taken.
    public func takeRuntimeUnixListener() -> Int32? {
        unixListener.withLock { fd in
            defer { fd = nil }
            return fd
        }
    }

    /// Starts a sandbox. `stdoutFD`/`stderrFD` receive the function's output (the caller keeps
    /// its copies). Blocks until the function's process has exec'd or a step failed; with
    /// `hold`, until the sandbox is set up and waits for `launch()` (a pre-forked shell).
    /// `initFD` (a descriptor of the hearth-init binary) makes pid 1 that small program, exec'd once
    /// the sandbox is set up; without it pid 1 stays the set-up child, a copy of the supervisor.
    /// `mounts` replaces bind mounts of the image, the code and the layers by detached mounts of
    /// file systems of their own (`FileSystemImages`); the caller closes them afterwards.
    public static func spawn(spec: SandboxSpec, cgroups: any CgroupDriver, cgroupName: String,
                             seccomp: SeccompProgram?, stdoutFD: Int32, stderrFD: Int32, hold: Bool = false,
                             initFD: Int32? = nil, tmp: EphemeralStorage? = nil, mounts: SandboxMounts = SandboxMounts()) throws -> Sandbox {
        try spec.validate()
        let cgroup = try cgroups.create(name: cgroupName, limits: spec.cgroupLimits)
        do {
            return try spawn(spec: spec, cgroup: cgroup, seccomp: seccomp, stdoutFD: stdoutFD, stderrFD: stderrFD, hold: hold,
                             initFD: initFD, tmp: tmp, mounts: mounts)
        } catch {
            try? cgroup.remove()
            throw error
        }
    }

    private static func spawn(spec: SandboxSpec, cgroup: any CgroupInstance, seccomp: SeccompProgram?,
                              stdoutFD: Int32, stderrFD: Int32, hold: Bool, initFD: Int32?, tmp: EphemeralStorage?,
                              mounts: SandboxMounts) throws -> Sandbox {
        try FileIO.makeDirectories(spec.rootMountPoint, mode: 0o700)
        var pair: [Int32] = [-1, -1]
        try retryingOnInterrupt("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) }
        let (parentEnd, childEnd) = (pair[0], pair[1])
        var parentEndOwned = true
        defer { if parentEndOwned { close(parentEnd) } }

        let arena = CStringArena()
        defer { arena.free() }
        var c = hearth_spawn_spec()
        // No CLONE_NEWCGROUP here: the child unshares its cgroup namespace once it is in its
        // cgroup (attached after the clone when it could not be born there), so the namespace's
        // root is the instance's own.
        c.clone_flags = HEARTH_CLONE_NEWPID | HEARTH_CLONE_NEWNS | HEARTH_CLONE_NEWNET | HEARTH_CLONE_NEWIPC
            | HEARTH_CLONE_NEWUTS
        c.cgroup_ns_after_attach = 1
        if spec.userNamespace { c.clone_flags |= HEARTH_CLONE_NEWUSER }
        c.cgroup_fd = cgroup.cloneIntoFD ?? -1
        // v1: the spawning thread moves itself into the instance's groups for the clone (ADR 0033).
        let migration = c.cgroup_fd < 0 ? Self.openMigration(cgroup.selfMigration) : nil
        // The instance's `tasks` descriptors are this spawn's; the home ones are kept.
        defer { for fd in migration?.into ?? [] { close(fd) } }
        if let migration {
            Self.fill(&c.migrate_fds, with: migration.into)
            Self.fill(&c.home_fds, with: migration.home)
            c.nmigrate = Int32(migration.into.count)
        }
        c.sync_fd = childEnd
        c.stdout_fd = stdoutFD
        c.stderr_fd = stderrFD
        c.wait_for_parent = 1
        c.hold_before_exec = hold ? 1 : 0
        c.image = arena.add(spec.image)
        c.root_mount_fd = mounts.root ?? -1
        c.root = arena.add(spec.rootMountPoint)
        var binds: [(source: String, target: String, readonly: Bool, mount: Int32?)] = [(spec.code, "/var/task", true, mounts.code)]
        if let opt = spec.opt { binds.append((opt, "/opt", true, mounts.opt)) }
        let bindCount = binds.count
        withUnsafeMutableBytes(of: &c.binds) { raw in
            let typed = raw.bindMemory(to: hearth_bind.self)
            for (i, bind) in binds.enumerated() {
                typed[i] = hearth_bind(source: arena.add(bind.source), target: arena.add(joinPath(spec.rootMountPoint, bind.target)),
                                       readonly: bind.readonly ? 1 : 0, mount_fd: bind.mount ?? -1)
            }
        }
        c.nbinds = Int32(bindCount)
        c.tmp_size_bytes = UInt64(spec.ephemeralStorageMB) << 20
        c.tmp_mount_fd = tmp?.mountFD ?? -1
        c.hostname = arena.add(spec.hostname)
        c.listen_port = Int32(spec.runtimeAPIPort)
        if let socket = spec.runtimeSocket {
            c.runtime_socket = arena.add(socket)
            c.runtime_socket_dir = arena.add(String(socket[..<(socket.lastIndex(of: "/") ?? socket.endIndex)]))
        }
        let rlimits: [(Int32, UInt64)] = [
            (Int32(RLIMIT_NOFILE.rawValue), UInt64(spec.openFilesLimit)),
            (Int32(RLIMIT_CORE.rawValue), 0),
            // No RLIMIT_NPROC: it counts per uid across the host; pids.max bounds each sandbox.
        ]
        withUnsafeMutableBytes(of: &c.rlimits) { raw in
            let typed = raw.bindMemory(to: hearth_rlimit.self)
            for (i, (resource, value)) in rlimits.enumerated() {
                typed[i] = hearth_rlimit(resource: resource, limit: rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(value)))
            }
        }
        c.nrlimits = Int32(rlimits.count)
        c.uid = spec.uid
        c.gid = spec.gid
        if let ids = spec.instanceIDs {
            c.instance_ids = 1
            c.host_uid = ids.uid
            c.host_gid = ids.gid
        }
        if let seccomp {
            c.seccomp_filter = UnsafeRawPointer(seccomp.instructions)
            c.seccomp_len = seccomp.count
        }
        c.cwd = arena.add(spec.workingDirectory)
        c.path = arena.add(spec.executable)
        let argv = arena.addArray([spec.executable] + spec.arguments)
        let envp = arena.addArray(spec.environment.map { "\($0.0)=\($0.1)" })
        c.argv = UnsafePointer(argv)
        c.envp = UnsafePointer(envp)
        c.init_fd = -1
        if let initFD {
            c.exec_init = 1
            c.init_fd = initFD
            c.init_envp = UnsafePointer(arena.addArray(Self.initEnvironment(spec: spec, hold: hold)))
        }

        var pidfd: Int32 = -1
        var intoCgroup: Int32 = 0
        let pid = withExtendedLifetime(seccomp) { hearth_spawn_clone(&c, &pidfd, &intoCgroup) }
        let cloneErrno = errno
        close(childEnd)
        if pid < 0 { throw SystemError("clone sandbox", errno: cloneErrno) }

        func abort(_ error: any Error) -> any Error {
            _ = hearth_pidfd_kill(pidfd, pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            if pidfd >= 0 { close(pidfd) }
            return error
        }

        do {
            if spec.userNamespace {
                let base = spec.userNamespaceHostBase
                try FileIO.write("0 \(base) 65536\n", to: "/proc/\(pid)/uid_map", create: false)
                try FileIO.write("0 \(base) 65536\n", to: "/proc/\(pid)/gid_map", create: false)
            }
            if intoCgroup == 0 { try cgroup.attach(pid: pid) }
            var go: UInt8 = 1
            try retryingOnInterrupt("start sandbox") { send(parentEnd, &go, 1, Int32(MSG_NOSIGNAL)) }
        } catch {
            throw abort(error)
        }

        // Startup messages: the listeners (if asked), then exec success (or, held, ready) or a failed step.
        let described = binds.map { (source: $0.mount == nil ? $0.source : "its own file system of \($0.source)", target: $0.target) }
        let describe: @Sendable (hearth_msg) -> String? = { [spec, described] msg in subject(of: msg, spec: spec, binds: described) }
        var listenerFD: Int32?, unixListenerFD: Int32?
        let failure = awaitStartup(parentEnd, until: hold ? HEARTH_MSG_READY : HEARTH_MSG_EXEC_OK, describe: describe,
                                   onIDMaps: { try writeInstanceIDMaps(spec: spec, pid: pid, sync: parentEnd) },
                                   onUnixListener: { fd in
                                       if let old = unixListenerFD { close(old) }
                                       unixListenerFD = fd
                                   }) { fd in
            if let old = listenerFD { close(old) }
            listenerFD = fd
        }
        if let failure {
            if let listenerFD { close(listenerFD) }
            if let unixListenerFD { close(unixListenerFD) }
            throw abort(failure)
        }

        parentEndOwned = false
        let sandbox = Sandbox(pid: pid, pidfd: pidfd, syncFD: parentEnd, cgroup: cgroup, startedInCgroup: intoCgroup != 0,
                              rootMountPoint: spec.rootMountPoint, describeFailure: describe)
        sandbox.listener.withLock { $0 = listenerFD }
        sandbox.unixListener.withLock { $0 = unixListenerFD }
        // Started now even for a held shell, so that launching costs no thread creation.
        sandbox.startMonitor()
        if !hold { sandbox.releaseMonitor() }
        return sandbox
    }

    /// `HEARTH_CGROUP_SELF_MIGRATION=0` attaches every v1 child by pid instead (for comparison).
    static let selfMigrationEnabled = getenv("HEARTH_CGROUP_SELF_MIGRATION").map { String(cString: $0) != "0" } ?? true

    /// The `tasks` files of a v1 self-migration, opened for writing: the instance's groups (the
    /// caller closes them after the clone), then the supervisor's own in the same order (opened
    /// once per process and kept: they are the same for every spawn). Nil (the child is attached
    /// by pid) if any cannot be opened, for example by a supervisor that may not write its own
    /// groups.
    static func openMigration(_ paths: (into: [String], home: [String])?) -> (into: [Int32], home: [Int32])? {
        guard selfMigrationEnabled, let paths, !paths.into.isEmpty, paths.into.count == paths.home.count,
              paths.into.count <= Int(HEARTH_MAX_MIGRATE) else { return nil }
        let home: [Int32]? = homeTasks.withLock { kept in
            var fds: [Int32] = []
            for path in paths.home {
                if let fd = kept[path] { fds.append(fd); continue }
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { return nil }
                kept[path] = fd
                fds.append(fd)
            }
            return fds
        }
        guard let home else { return nil }
        var into: [Int32] = []
        for path in paths.into {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd < 0 {
                for fd in into { close(fd) }
                return nil
            }
            into.append(fd)
        }
        return (into, home)
    }

    /// The supervisor's own groups' `tasks` files, open for writing, by path, for the process's life.
    private static let homeTasks = Mutex<[String: Int32]>([:])

    /// Stores `values` at the start of a C array of `Int32` imported as a tuple.
    static func fill<Tuple>(_ tuple: inout Tuple, with values: [Int32]) {
        precondition(values.count * MemoryLayout<Int32>.stride <= MemoryLayout<Tuple>.size)
        withUnsafeMutableBytes(of: &tuple) { raw in
            for (i, value) in values.enumerated() { raw.storeBytes(of: value, toByteOffset: i * MemoryLayout<Int32>.stride, as: Int32.self) }
        }
    }

    /// hearth-init's environment: its inputs first (getenv finds the first entry of a name, so a
    /// function variable of the same name cannot shadow them; the init drops every HEARTH_INIT_
    /// entry before the function's exec), then the function's environment.
    static func initEnvironment(spec: SandboxSpec, hold: Bool) -> [String] {
        let argv = [spec.executable] + spec.arguments
        var env = ["HEARTH_INIT_PATH=\(spec.executable)", "HEARTH_INIT_CWD=\(spec.workingDirectory)",
                   "HEARTH_INIT_HOLD=\(hold ? 1 : 0)", "HEARTH_INIT_ARGC=\(argv.count)",
                   "HEARTH_INIT_STEP_WAIT_LAUNCH=\(HEARTH_STEP_WAIT_LAUNCH.rawValue)",
                   "HEARTH_INIT_STEP_FORK=\(HEARTH_STEP_FORK.rawValue)", "HEARTH_INIT_STEP_CHDIR=\(HEARTH_STEP_CHDIR.rawValue)",
                   "HEARTH_INIT_STEP_STDIO=\(HEARTH_STEP_STDIO.rawValue)", "HEARTH_INIT_STEP_EXEC=\(HEARTH_STEP_EXEC.rawValue)"]
        if hold && spec.preinitialize { env.append("HEARTH_INIT_PREINIT=1") }
        env += argv.enumerated().map { "HEARTH_INIT_ARG\($0.offset)=\($0.element)" }
        return env + spec.environment.map { "\($0.0)=\($0.1)" }
    }

    /// Maps the sandbox's uid/gid to the instance's host ids in the user namespace the child just
    /// created as that uid (one id each, nothing else: host root and every other id stay unmapped),
    /// then lets the child go on.
    private static func writeInstanceIDMaps(spec: SandboxSpec, pid: pid_t, sync: Int32) throws {
        guard let ids = spec.instanceIDs else { throw SystemError("unexpected id-map request", errno: EPROTO) }
        try FileIO.write("\(spec.uid) \(ids.uid) 1\n", to: "/proc/\(pid)/uid_map", create: false)
        try FileIO.write("\(spec.gid) \(ids.gid) 1\n", to: "/proc/\(pid)/gid_map", create: false)
        var go: UInt8 = 1
        try retryingOnInterrupt("id maps written") { send(sync, &go, 1, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads the child's startup messages until `until` arrives (nil) or a step fails or the
    /// child dies (the error). Passes a received TCP listener to `onListener`, the Unix one to
    /// `onUnixListener` (closed if it is not wanted). Waits up to 30 s.
    private static func awaitStartup(_ sock: Int32, until: hearth_msg_kind, describe: (hearth_msg) -> String?,
                                     onIDMaps: () throws -> Void = {}, onUnixListener: (Int32) -> Void = { close($0) },
                                     onListener: (Int32) -> Void) -> (any Error)? {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        defer {
            timeout = timeval(tv_sec: 0, tv_usec: 0)
            setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        while true {
            var msg = hearth_msg()
            var fd: Int32 = -1
            let rc = hearth_recv_msg(sock, &msg, &fd)
            if rc < 0 { return SystemError("waiting for the sandbox to start") }
            if rc == 0 { return SystemError("sandbox init exited during setup", errno: EPIPE) }
            switch UInt32(msg.kind) {
            case until.rawValue: return nil
            case HEARTH_MSG_LISTENER.rawValue: onListener(fd)
            case HEARTH_MSG_UNIX_LISTENER.rawValue: onUnixListener(fd)
            case HEARTH_MSG_ID_MAPS.rawValue:
                do { try onIDMaps() } catch { return error }
            case HEARTH_MSG_ERROR.rawValue:
                return SandboxSetupError(step: msg.step, errno: msg.err, subject: describe(msg))
            default:
                if fd >= 0 { close(fd) }
            }
        }
    }

    /// Launches a held sandbox (a pre-forked shell): its init forks and execs the function.
    /// Blocks until the exec succeeded or failed; on failure the sandbox is killed (call
    /// `destroy()` as usual). Call once.
    public func launch() throws {
        precondition(!released.withLock { $0 }, "launch() of a sandbox that is not held")
        var go: UInt8 = 1
        do {
            try retryingOnInterrupt("launch sandbox") { send(syncFD, &go, 1, Int32(MSG_NOSIGNAL)) }
        } catch {
            kill()
            throw error
        }
        if let failure = Self.awaitStartup(syncFD, until: HEARTH_MSG_EXEC_OK, describe: describeFailure, onListener: { close($0) }) {
            kill()
            releaseMonitor()
            throw failure
        }
        releaseMonitor()
    }

    /// Lets the monitor thread read the sync socket (once).
    private func releaseMonitor() {
        let first = released.withLock { done in
            defer { done = true }
            return !done
        }
        if first { monitorGate.signal() }
    }

    private static func subject(of msg: hearth_msg, spec: SandboxSpec, binds: [(source: String, target: String)]) -> String? {
        switch UInt32(msg.step) {
        case HEARTH_STEP_MOUNT_ROOT.rawValue: return spec.image
        case HEARTH_STEP_MOUNT_BIND.rawValue:
            guard binds.indices.contains(Int(msg.detail)) else { return nil }
            return "\(binds[Int(msg.detail)].source) on \(binds[Int(msg.detail)].target)"
        case HEARTH_STEP_MOUNT_TMP.rawValue: return "/tmp"
        case HEARTH_STEP_MOUNT_DEV.rawValue: return "/dev"
        case HEARTH_STEP_MOUNT_PROC.rawValue, HEARTH_STEP_MASK_PROC.rawValue: return "/proc"
        case HEARTH_STEP_EXEC.rawValue: return spec.executable
        case HEARTH_STEP_EXEC_INIT.rawValue: return "hearth-init"
        case HEARTH_STEP_CHDIR.rawValue: return spec.workingDirectory
        case HEARTH_STEP_LISTEN.rawValue: return "127.0.0.1:\(spec.runtimeAPIPort)"
        case HEARTH_STEP_MOUNT_RUN.rawValue:
            return spec.runtimeSocket.map { String($0[..<($0.lastIndex(of: "/") ?? $0.endIndex)]) }
        case HEARTH_STEP_RUNTIME_SOCKET.rawValue: return spec.runtimeSocket
        case HEARTH_STEP_HOSTNAME.rawValue: return spec.hostname
        case HEARTH_STEP_SETUID.rawValue, HEARTH_STEP_SETGID.rawValue: return "\(msg.detail)"
        default: return nil
        }
    }

    private func startMonitor() {
        let thread = Thread { [self] in
            monitorGate.wait()
            var exit: SandboxExit?
            while true {
                var msg = hearth_msg()
                var fd: Int32 = -1
                let rc = hearth_recv_msg(syncFD, &msg, &fd)
                if fd >= 0 { close(fd) }
                if rc <= 0 { break }
                if msg.kind == Int32(HEARTH_MSG_EXIT.rawValue) { exit = SandboxExit(waitStatus: msg.status) }
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            // The init ends right after reporting; if it was killed first, so was the function.
            let result = exit ?? SandboxExit(waitStatus: status)
            let waiters = exitState.withLock { state in
                state.exit = result
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume(returning: result) }
        }
        thread.name = "hearth-sandbox-\(pid)"
        thread.start()
    }

    /// The exit of the function's process, if it has ended.
    public var exitStatus: SandboxExit? { exitState.withLock { $0.exit } }

    /// Whether the sandbox's init has ended, seen without reaping it (the monitor reaps). A held
    /// shell's monitor reads nothing until the launch, so `exitStatus` stays nil for a shell
    /// whose init exited meanwhile (its pre-initialised runtime died, or it was killed).
    public var initHasEnded: Bool {
        if exitStatus != nil { return true }
        return destroyed.withLock { gone in
            if gone { return true }
            var info = siginfo_t()
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            // A child that has not changed state leaves si_pid 0.
            return rc == 0 && info._sifields._kill.si_pid == pid
        }
    }

    /// Waits until the function's process (and with it the sandbox) has ended.
    public func waitForExit() async -> SandboxExit {
        await withCheckedContinuation { continuation in
            let done = exitState.withLock { state -> SandboxExit? in
                if let exit = state.exit { return exit }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// SIGKILLs the sandbox's init (the kernel then kills every process in its pid namespace)
    /// and everything in its cgroup.
    public func kill() {
        // Signal under the lock: destroy() closes the pidfd, whose number could be reused.
        destroyed.withLock { gone in
            if !gone { _ = hearth_pidfd_kill(pidfd, pid, SIGKILL) }
        }
        cgroup.killAll()
    }

    /// Kills the sandbox if needed, waits for it, removes its cgroup and mount point and
    /// closes its descriptors. Idempotent.
    public func destroy() async throws {
        if exitStatus == nil { kill() }
        releaseMonitor()  // a held shell that was never launched
        _ = await waitForExit()
        let first = destroyed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if let fd = takeRuntimeListener() { close(fd) }
        if let fd = takeRuntimeUnixListener() { close(fd) }
        close(syncFD)
        if pidfd >= 0 { close(pidfd) }
        try cgroup.remove()
        rmdir(rootMountPoint)
    }
}

/// C strings and arrays that must live until the clone returns. Not thread-safe.
final class CStringArena {
    private var pointers: [UnsafeMutableRawPointer] = []

    func add(_ string: String) -> UnsafePointer<CChar> {
        let p = strdup(string)!
        pointers.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    /// A NULL-terminated array of C strings.
    func addArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { array[i] = UnsafeMutablePointer(mutating: add(s)) }
        array[strings.count] = nil
        pointers.append(UnsafeMutableRawPointer(array))
        return array
    }

    func free() {
        for p in pointers { Glibc.free(p) }
        pointers = []
    }
}
