#if canImport(Glibc)
import CHearthSpawn
import Dispatch
import Glibc
#endif
import Synchronization

/// cgroup v1: one directory per controller (memory, pids, cpu; freezer and devices when
/// mounted), each created under the supervisor's own group in that hierarchy (or under the
/// parent group of its instances).
public struct CgroupV1Driver: CgroupDriver {
    /// The only devices an instance may open (devices.allow lines): /dev/null, zero, full,
    /// random and urandom, the nodes its /dev holds. Everything else is denied (`a` in devices.deny).
    public static let allowedDevices = ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm"]
    static let optionalControllers: Set<String> = ["freezer", "devices"]

    public var version: CgroupVersion { .v1 }
    /// Controller → the supervisor's group directory in that hierarchy.
    public let groups: [String: String]
    /// Controller → the group the supervisor's threads are in (`/proc/self/cgroup` when the
    /// driver was detected), where a spawning thread returns after the clone; nil: every child
    /// is attached by pid instead.
    public let home: [String: String]?

    public init(groups: [String: String], home: [String: String]? = nil) {
        self.groups = groups
        self.home = home
    }

    public func create(name: String, limits: CgroupLimits) throws -> any CgroupInstance {
        try makeGroups(name) { dirs in
            let instance = CgroupV1Instance(dirs: dirs, home: home)
            try instance.apply(limits)
            return instance
        }
    }

    public func makeParent(name: String, totals: CgroupTotals) throws -> any CgroupDriver {
        try makeGroups(name) { dirs in
            try Self.apply(totals, to: dirs)
            return CgroupV1Driver(groups: dirs, home: home)
        }
    }

    /// Makes `name` under each controller's group (optional controllers that are not mounted
    /// are skipped) and hands the folders to `configure`; if anything fails, removes them.
    private func makeGroups<T>(_ name: String, configure: ([String: String]) throws -> T) throws -> T {
        precondition(!name.contains("/") && !name.isEmpty, "cgroup name must be one path component")
        var dirs: [String: String] = [:]
        do {
            for controller in (CgroupHost.controllers + ["freezer", "devices"]) {
                guard let parent = groups[controller] else {
                    if Self.optionalControllers.contains(controller) { continue }
                    throw SystemError("cgroup v1 controller \(controller) is not mounted", errno: ENOENT)
                }
                let dir = parent + "/" + name
                if mkdir(dir, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
                dirs[controller] = dir
            }
            return try configure(dirs)
        } catch {
            for dir in dirs.values { rmdir(dir) }
            throw error
        }
    }

    static func apply(_ totals: CgroupTotals, to dirs: [String: String]) throws {
        if let memory = dirs["memory"], let bytes = totals.memoryBytes {
            // memsw (memory+swap) equal to memory: no swap, as for each instance.
            try FileIO.write("\(bytes)", to: memory + "/memory.limit_in_bytes")
            if FileIO.exists(memory + "/memory.memsw.limit_in_bytes") {
                try FileIO.write("\(bytes)", to: memory + "/memory.memsw.limit_in_bytes")
            }
        }
        if let pids = dirs["pids"], let max = totals.pidsMax { try FileIO.write("\(max)", to: pids + "/pids.max") }
        if let cpu = dirs["cpu"] {
            try FileIO.write("\(max(2, totals.cpuWeight * 1024 / 100))", to: cpu + "/cpu.shares")
        }
        if let devices = dirs["devices"] {
            // A new group inherits its parent's list; deny all, then allow the five nodes.
            try FileIO.write("a", to: devices + "/devices.deny", create: false)
            for rule in allowedDevices { try FileIO.write(rule, to: devices + "/devices.allow", create: false) }
        }
    }

    public func leftovers(prefix: String) -> [String] {
        guard let memory = groups["memory"] else { return [] }
        return CgroupFiles.leftovers(in: memory, prefix: prefix)
    }

    public func leftoverParents(prefix: String) -> [String] {
        guard let memory = groups["memory"] else { return [] }
        return CgroupFiles.parents(in: memory, prefix: prefix)
    }

    public func removeLeftover(name: String) throws {
        var dirs: [String: String] = [:]
        for (controller, parent) in groups where FileIO.isDirectory(parent + "/" + name) {
            dirs[controller] = parent + "/" + name
        }
        // A parent group: its instances first (frozen and killed as one).
        let children = dirs["memory"].map { FileIO.entries($0, type: Int32(DT_DIR)) } ?? []
        for child in children { try removeLeftover(name: name + "/" + child) }
        try CgroupV1Instance(dirs: dirs).remove()
    }
}

final class CgroupV1Instance: CgroupInstance {
    let dirs: [String: String]
    private let removed = Mutex(false)
    /// The limits whose quota `endCPUBurst()` applies, while the init burst lasts.
    private let steadyCPU = Mutex<CgroupLimits?>(nil)
    /// Reset and read (peak), and read (OOM kills), on every invocation.
    private let peak: CgroupFile?
    /// The peak of TCP socket buffers (memory.kmem.tcp), which v1 keeps apart from memory.
    private let tcpPeak: CgroupFile?
    private let oomControl: CgroupFile?
    /// The CPU boost and the thrash watch at the memory limit, and their usage-threshold eventfd.
    private let limitWatch = MemoryLimitSlot()

    init(dirs: [String: String], home: [String: String]? = nil) {
        self.dirs = dirs
        self.home = home
        peak = dirs["memory"].map { CgroupFile($0 + "/memory.max_usage_in_bytes", writable: true) }
        tcpPeak = dirs["memory"].flatMap {
            FileIO.exists($0 + "/memory.kmem.tcp.max_usage_in_bytes") ? CgroupFile($0 + "/memory.kmem.tcp.max_usage_in_bytes", writable: true) : nil
        }
        oomControl = dirs["memory"].map { CgroupFile($0 + "/memory.oom_control") }
    }

    var cloneIntoFD: Int32? { nil }
    /// The supervisor's own groups, by controller (nil: attach by pid).
    private let home: [String: String]?
    var selfMigration: (into: [String], home: [String])? {
        guard let home else { return nil }
        let controllers = Self.attachOrder.filter { dirs[$0] != nil }
        guard controllers.allSatisfy({ home[$0] != nil }) else { return nil }
        return (controllers.map { dirs[$0]! + "/tasks" }, controllers.map { home[$0]! + "/tasks" })
    }
    static let attachOrder = ["memory", "pids", "cpu", "freezer", "devices"]

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
        // v1 charges socket buffers only to this separate counter, and only once it has a
        // limit (v2 charges them to memory.max): the function's memory size again, so TCP
        // buffers cannot grow past it into the host-global tcp_mem.
        if FileIO.exists(memory + "/memory.kmem.tcp.limit_in_bytes") {
            try FileIO.write("\(limits.memoryBytes)", to: memory + "/memory.kmem.tcp.limit_in_bytes")
        }
        try FileIO.write("\(limits.pidsMax)", to: pids + "/pids.max")
        try FileIO.write("\(limits.cpuPeriodMicros)", to: cpu + "/cpu.cfs_period_us")
        // The burst first: the kernel refuses a burst above a finite quota, never one with -1.
        if let burst = CPUBandwidth.burst(limits), FileIO.exists(cpu + "/cpu.cfs_burst_us") {
            try FileIO.write("\(burst)", to: cpu + "/cpu.cfs_burst_us")
        }
        try FileIO.write(CPUBandwidth.initialQuota(limits).map(String.init) ?? "-1", to: cpu + "/cpu.cfs_quota_us")
        if limits.cpuInitBurst { steadyCPU.withLock { $0 = limits } }
        watchMemoryLimit(memory: memory, cpu: cpu, limits: limits)
    }

    /// Registers a memory.usage_in_bytes threshold just below the limit (cgroup.event_control);
    /// crossing it upwards raises the quota to one core for a moment where it is under one
    /// (`MemoryLimitBoost`), and starts the thrash watch (`MemoryThrashWatch`), which kills an
    /// instance live-locked at its limit. Best effort: a kernel without v1 events gets neither.
    private func watchMemoryLimit(memory: String, cpu: String, limits: CgroupLimits) {
        let threshold = MemoryLimitBoost.threshold(limitBytes: limits.memoryBytes)
        let efd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard efd >= 0 else { return }
        let boost = limits.cpuQuotaMicros.flatMap { quota in
            quota < limits.cpuPeriodMicros ? MemoryLimitBoost { [weak self] boosted in
                guard let self, self.steadyCPU.withLock({ $0 == nil }), !self.removed.withLock({ $0 }) else { return }
                // During the init burst there is no quota to raise or restore.
                let value = boosted ? max(quota, limits.cpuPeriodMicros) : quota
                try? FileIO.write("\(value)", to: cpu + "/cpu.cfs_quota_us", create: false)
            } : nil
        }
        let usage = memory + "/memory.usage_in_bytes"
        let usageFile = CgroupFile(usage), stat = CgroupFile(memory + "/memory.stat", capacity: 4096)
        let thrash = MemoryThrashWatch(limitBytes: limits.memoryBytes) {
            guard let usage = usageFile.read().flatMap({ UInt64($0.trimmingWhitespace()) }), let stat = stat.read() else { return nil }
            return MemorySample.parse(stat: stat, usage: usage)
        } outOfMemory: { [weak self] in
            self?.killAll()
        }
        // The threshold fires when usage crosses it either way: act only on the way up.
        let watch = MemoryLimitWatch(fd: efd, boost: boost, thrash: thrash) {
            (usageFile.read().flatMap { UInt64($0.trimmingWhitespace()) } ?? 0) >= threshold
        }
        limitWatch.set(watch)
        // The kernel's registration waits for an RCU grace period: not on the preparing thread.
        // Until it is done (milliseconds) the instance has no watch; a cgroup removed meanwhile
        // fails the open, and a stopped watch is skipped.
        MemoryLimitWatch.registrations.async { [weak watch] in
            watch?.whileOpen { efd in
                let usageFD = open(usage, O_RDONLY | O_CLOEXEC)
                guard usageFD >= 0 else { return }
                defer { close(usageFD) }
                _ = try? FileIO.write("\(efd) \(usageFD) \(threshold)", to: memory + "/cgroup.event_control", create: false)
            }
        }
    }

    var memoryLimitBoosts: Int { limitWatch.boosts }

    func rearmMemoryLimitBoost() { limitWatch.rearm() }

    func endCPUBurst() throws {
        guard let cpu = dirs["cpu"], let limits = steadyCPU.withLock({ s in defer { s = nil }; return s }) else { return }
        try FileIO.write(limits.cpuQuotaMicros.map(String.init) ?? "-1", to: cpu + "/cpu.cfs_quota_us", create: false)
    }

    func attach(pid: pid_t) throws {
        for controller in Self.attachOrder {
            guard let dir = dirs[controller] else { continue }
            try FileIO.write("\(pid)", to: dir + "/cgroup.procs", create: false)
        }
    }

    func resetPeakMemory() {
        peak?.write("0")
        tcpPeak?.write("0")
    }

    /// Memory's peak plus the TCP buffers' peak, as v2's memory.peak counts both (the sum of
    /// two peaks: at most the two at their highest, never less than the true peak).
    func peakMemoryBytes() -> UInt64? {
        guard let memory = peak?.read().flatMap({ UInt64($0.trimmingWhitespace()) }) else { return nil }
        return memory + (tcpPeak?.read().flatMap { UInt64($0.trimmingWhitespace()) } ?? 0)
    }

    /// The kernel's OOM kills plus the thrash verdict's (ADR 0034).
    func oomKillCount() -> Int {
        (oomControl?.read().flatMap { CgroupFiles.keyed(in: $0, "oom_kill") } ?? 0) + limitWatch.outOfMemoryVerdicts
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
        // Dying processes run their exit (and whatever reclaim they are in) unthrottled: under
        // a 7 % quota a process stuck near its memory limit took seconds to die.
        limitWatch.end()
        if let cpu = dirs["cpu"] { try? FileIO.write("-1", to: cpu + "/cpu.cfs_quota_us", create: false) }
        for dir in dirs.values {
            for pid in CgroupFiles.pids(dir + "/cgroup.procs") { kill(pid, SIGKILL) }
        }
        if let freezer { try? FileIO.write("THAWED", to: freezer + "/freezer.state", create: false) }
    }

    func remove() throws {
        if removed.withLock({ $0 }) { return }
        limitWatch.stop()
        killAll()
        var firstError: (any Error)?
        for dir in dirs.values {
            do { try CgroupFiles.removeDirectory(dir, killing: dir + "/cgroup.procs") } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
        removed.withLock { $0 = true }
    }
}
