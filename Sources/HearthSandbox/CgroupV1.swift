#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// cgroup v1: one directory per controller (memory, pids, cpu; freezer when mounted), each
/// created under the supervisor's own group in that hierarchy.
public struct CgroupV1Driver: CgroupDriver {
    public var version: CgroupVersion { .v1 }
    /// Controller → the supervisor's group directory in that hierarchy.
    public let groups: [String: String]

    public init(groups: [String: String]) {
        self.groups = groups
    }

    public func create(name: String, limits: CgroupLimits) throws -> any CgroupInstance {
        precondition(!name.contains("/") && !name.isEmpty, "cgroup name must be one path component")
        var dirs: [String: String] = [:]
        do {
            for controller in (CgroupHost.controllers + ["freezer"]) {
                guard let parent = groups[controller] else {
                    if controller == "freezer" { continue }
                    throw SystemError("cgroup v1 controller \(controller) is not mounted", errno: ENOENT)
                }
                let dir = parent + "/" + name
                if mkdir(dir, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
                dirs[controller] = dir
            }
            let instance = CgroupV1Instance(dirs: dirs)
            try instance.apply(limits)
            return instance
        } catch {
            for dir in dirs.values { rmdir(dir) }
            throw error
        }
    }

    public func leftovers(prefix: String) -> [String] {
        guard let memory = groups["memory"] else { return [] }
        return FileIO.entries(memory, type: Int32(DT_DIR)).filter { $0.hasPrefix(prefix) }
    }

    public func removeLeftover(name: String) throws {
        var dirs: [String: String] = [:]
        for (controller, parent) in groups where FileIO.isDirectory(parent + "/" + name) {
            dirs[controller] = parent + "/" + name
        }
        try CgroupV1Instance(dirs: dirs).remove()
    }
}

final class CgroupV1Instance: CgroupInstance {
    let dirs: [String: String]
    private let removed = Mutex(false)
    /// Reset and read (peak), and read (OOM kills), on every invocation.
    private let peak: CgroupFile?
    private let oomControl: CgroupFile?

    init(dirs: [String: String]) {
        self.dirs = dirs
        peak = dirs["memory"].map { CgroupFile($0 + "/memory.max_usage_in_bytes", writable: true) }
        oomControl = dirs["memory"].map { CgroupFile($0 + "/memory.oom_control") }
    }

    var cloneIntoFD: Int32? { nil }

    func apply(_ limits: CgroupLimits) throws {
        guard let memory = dirs["memory"], let pids = dirs["pids"], let cpu = dirs["cpu"] else {
            throw SystemError("cgroup v1 instance is missing a controller", errno: ENOENT)
        }
        try FileIO.write("\(limits.memoryBytes)", to: memory + "/memory.limit_in_bytes")
        // No swap: memsw (memory+swap) equal to the memory limit, where swap accounting exists.
        if FileIO.exists(memory + "/memory.memsw.limit_in_bytes") {
            try FileIO.write("\(limits.memoryBytes)", to: memory + "/memory.memsw.limit_in_bytes")
        }
        if FileIO.exists(memory + "/memory.swappiness") {
            try? FileIO.write("0", to: memory + "/memory.swappiness")
        }
        try FileIO.write("\(limits.pidsMax)", to: pids + "/pids.max")
        try FileIO.write("\(limits.cpuPeriodMicros)", to: cpu + "/cpu.cfs_period_us")
        try FileIO.write(limits.cpuQuotaMicros.map(String.init) ?? "-1", to: cpu + "/cpu.cfs_quota_us")
    }

    func attach(pid: pid_t) throws {
        for controller in ["memory", "pids", "cpu", "freezer"] {
            guard let dir = dirs[controller] else { continue }
            try FileIO.write("\(pid)", to: dir + "/cgroup.procs", create: false)
        }
    }

    func resetPeakMemory() {
        peak?.write("0")
    }

    func peakMemoryBytes() -> UInt64? {
        peak?.read().flatMap { UInt64($0.trimmingWhitespace()) }
    }

    func oomKillCount() -> Int {
        oomControl?.read().flatMap { CgroupFiles.keyed(in: $0, "oom_kill") } ?? 0
    }

    func processes() -> [pid_t] {
        dirs["pids"].map { CgroupFiles.pids($0 + "/cgroup.procs") } ?? []
    }

    var canFreeze: Bool { dirs["freezer"] != nil }

    func setFrozen(_ frozen: Bool) throws {
        guard let freezer = dirs["freezer"] else { throw SystemError("freeze: no cgroup v1 freezer", errno: ENOTSUP) }
        let want = frozen ? "FROZEN" : "THAWED"
        try FileIO.write(want, to: freezer + "/freezer.state", create: false)
        // FREEZING is transient; wait until the kernel settles.
        for _ in 0..<1000 {
            if (try? FileIO.read(freezer + "/freezer.state"))?.trimmingWhitespace() == want { return }
            usleep(1000)
        }
    }

    func killAll() {
        // Freeze first where the freezer exists so nothing forks between listing and killing.
        let freezer = dirs["freezer"]
        if let freezer { try? FileIO.write("FROZEN", to: freezer + "/freezer.state", create: false) }
        for dir in dirs.values {
            for pid in CgroupFiles.pids(dir + "/cgroup.procs") { kill(pid, SIGKILL) }
        }
        if let freezer { try? FileIO.write("THAWED", to: freezer + "/freezer.state", create: false) }
    }

    func remove() throws {
        if removed.withLock({ $0 }) { return }
        killAll()
        var firstError: (any Error)?
        for dir in dirs.values {
            do { try CgroupFiles.removeDirectory(dir, killing: dir + "/cgroup.procs") } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
        removed.withLock { $0 = true }
    }
}
