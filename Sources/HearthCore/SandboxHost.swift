import Foundation
import HearthSandbox
import Synchronization
import NIOCore
import NIOPosix

/// What every instance of one supervisor process shares: the cgroup driver, the compiled
/// seccomp program, the event loops, the runtime images and the run directory.
///
/// Instance cgroups and run folders carry the supervisor's pid (`hearth-<pid>-<id>`), so a
/// new supervisor can tell a crashed one's leftovers from a live one's and remove them.
///
/// All of one supervisor's instances live in one parent group, `hearth-<pid>-instances` under
/// the supervisor's own cgroup, which bounds them together (`totals`: tasks, memory, and a CPU
/// weight below the supervisor's), so that no number of instances exhausts the host's pids or
/// memory or starves the supervisor.
public final class SandboxHost: Sendable {
    /// Creates instance cgroups inside the parent group.
    public let cgroups: any CgroupDriver
    /// The supervisor's own cgroup(s), where the parent group lives.
    public let supervisorCgroups: any CgroupDriver
    /// The parent group's name and limits.
    public let parentCgroupName: String
    public let totals: CgroupTotals
    /// A read-only descriptor of hearth-init (the sandbox's pid 1), or nil when it is not
    /// installed next to this binary (then pid 1 is a copy of the supervisor; a warning says so).
    public let initFD: Int32?
    public let seccomp: SeccompProgram
    public let group: MultiThreadedEventLoopGroup

    /// The loop of `group` the calling thread runs, if it runs one.
    public var callingLoop: (any EventLoop)? {
        guard let current = MultiThreadedEventLoopGroup.currentEventLoop else { return nil }
        return group.makeIterator().contains { $0 === current } ? current : nil
    }
    /// Threads for the blocking parts of starting and removing sandboxes (waiting for the child's
    /// setup, cgroup writes and removal), so they never hold Swift's cooperative threads.
    public let blocking: NIOThreadPool
    public let images: RuntimeImages
    /// Imported container images (`STATE/images/container/<id>`).
    public let containerImages: ContainerImages
    /// This process's folder for instance workspaces (`<run>/<pid>`).
    public let runDirectory: String
    /// Where instances' `/tmp` file systems are made (on the state directory's disk), when the
    /// host can make them (root, loop devices, mkfs.ext4); nil: each `/tmp` is a tmpfs.
    public let ephemeralDirectory: String?
    /// The runtime images, code and layers as read-only file systems of their own, cloned into
    /// each sandbox so that its mount table names no host path (ADR 0032; images kept in
    /// `STATE/filesystems`); nil where the host cannot make them (then sandboxes bind-mount the
    /// folders), or with `HEARTH_FS_IMAGES=0` in the supervisor's environment.
    public let fileSystems: FileSystemImages?
    public let userNamespace: Bool
    /// The host uids/gids of instances (one pair each), when the supervisor is root; nil for an
    /// unprivileged supervisor, whose sandboxes use a user namespace of its own (`userNamespace`).
    public let ids: HostIDRange?

    private static let hostCount = Atomic<Int>(0)

    public static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/hearth" }
        let env = ProcessInfo.processInfo.environment
        return (env["XDG_STATE_HOME"] ?? (env["HOME"] ?? "/tmp") + "/.local/state") + "/hearth"
    }

    public static var defaultRunDirectory: String {
        if getuid() == 0 { return "/run/hearth" }
        return (ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? "/tmp") + "/hearth-\(getuid())"
    }

    public init(stateDirectory: String, runBase: String = SandboxHost.defaultRunDirectory,
                imageDefinitions: String? = nil, userNamespace: Bool = false,
                totals: CgroupTotals = .forThisHost(maxInstances: 1024),
                uidRange: (start: UInt32, count: UInt32) = (HostIDRange.defaultStart, HostIDRange.defaultCount)) throws {
        ids = getuid() == 0 ? try HostIDRange(start: uidRange.start, count: uidRange.count) : nil
        guard let definitions = imageDefinitions ?? RuntimeImages.locateDefinitions() else {
            throw HearthError.setup("cannot find the runtime-images folder; set HEARTH_RUNTIME_IMAGES")
        }
        images = RuntimeImages(definitions: definitions, cache: stateDirectory + "/images")
        if EphemeralStorage.isAvailable, (try? FileIO.makeDirectories(stateDirectory + "/ephemeral", mode: 0o700)) != nil {
            ephemeralDirectory = stateDirectory + "/ephemeral"
            EphemeralStorage.sweep(directory: stateDirectory + "/ephemeral")
        } else {
            ephemeralDirectory = nil
        }
        containerImages = ContainerImages(cache: stateDirectory + "/images/container")
        let fileSystemsOff = ProcessInfo.processInfo.environment["HEARTH_FS_IMAGES"] == "0"
        fileSystems = fileSystemsOff ? nil : FileSystemImages(directory: stateDirectory + "/filesystems", persistentRoot: stateDirectory)
        if fileSystems == nil && !fileSystemsOff {
            FileHandle.standardError.write(Data("hearth: WARNING: cannot make file systems for the runtime images and code (needs root, /dev/loop-control and mkfs.ext4): sandboxes bind-mount them, and their mount table shows host paths\n".utf8))
        }
        let detected: any CgroupDriver
        do {
            detected = try CgroupHost.detect()
        } catch {
            throw HearthError.setup("cgroups: \(error)")
        }
        supervisorCgroups = detected
        initFD = Self.locateInit().flatMap { path in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            return fd >= 0 ? fd : nil
        }
        if initFD == nil {
            FileHandle.standardError.write(Data("hearth: WARNING: hearth-init not found next to the hearth binary (or in HEARTH_INIT): each sandbox's pid 1 is a copy of the supervisor\n".utf8))
        }
        // Numbered: one process may hold several hosts (tests, benchmarks), each its own parent.
        parentCgroupName = "hearth-\(getpid())-\(Self.hostCount.add(1, ordering: .relaxed).newValue)\(CgroupHost.parentSuffix)"
        self.totals = totals
        seccomp = try SeccompPolicy.compiledDefault.get()
        group = MultiThreadedEventLoopGroup.singleton
        blocking = NIOThreadPool(numberOfThreads: 8)
        blocking.start()
        self.userNamespace = userNamespace || getuid() != 0
        try FileIO.makeDirectories(runBase, mode: 0o711)
        chmod(runBase, 0o711)
        runDirectory = runBase + "/\(getpid())"
        Self.removeLeftovers(runBase: runBase, cgroups: detected)
        try FileIO.makeDirectories(runDirectory, mode: 0o711)
        chmod(runDirectory, 0o711)
        do {
            cgroups = try detected.makeParent(name: parentCgroupName, totals: totals)
        } catch {
            throw HearthError.setup("cgroups: the instances' parent group \(parentCgroupName): \(error)")
        }
    }

    /// hearth-init: `HEARTH_INIT`, else next to this process's executable.
    static func locateInit() -> String? {
        if let path = ProcessInfo.processInfo.environment["HEARTH_INIT"], !path.isEmpty { return path }
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hearth-init").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// The cgroup name for an instance of this process.
    func cgroupName(instanceID: String) -> String { "hearth-\(getpid())-\(instanceID)" }

    /// Removes run folders and cgroups left by supervisors that are gone (crashed, killed -9).
    static func removeLeftovers(runBase: String, cgroups: any CgroupDriver) {
        func alive(_ pid: pid_t) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }
        func deadSupervisor(_ name: String) -> Bool {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = pid_t(parts[1]) else { return false }
            return !alive(pid)
        }
        // Instances of older versions directly under the supervisor's group, then parent groups.
        for name in cgroups.leftovers(prefix: "hearth-") where !name.contains("/") && deadSupervisor(name) {
            try? cgroups.removeLeftover(name: name)
        }
        for name in cgroups.leftoverParents(prefix: "hearth-") where deadSupervisor(name) {
            try? cgroups.removeLeftover(name: name)
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: runBase)) ?? [] {
            guard let pid = pid_t(entry), !alive(pid) else { continue }
            try? FileIO.removeTree(runBase + "/" + entry)
        }
    }

    /// Removes this process's run folder and the instances' parent group (after every instance
    /// is destroyed).
    public func close() {
        fileSystems?.close()
        EphemeralStorage.dropReady()
        try? supervisorCgroups.removeLeftover(name: parentCgroupName)
        try? FileIO.removeTree(runDirectory)
    }
}
