#if canImport(Glibc)
import CHearthSpawn
import Glibc
#endif
import Synchronization

/// cgroup v2: instance groups are siblings under the supervisor's cgroup. Because of the
/// "no internal processes" rule, the supervisor first moves itself into a leaf
/// (`<its group>/supervisor`) and then enables memory, pids and cpu for its children.
/// Children are started directly in their group with `clone3(CLONE_INTO_CGROUP)`.
public struct CgroupV2Driver: CgroupDriver {
    public var version: CgroupVersion { .v2 }
    /// The supervisor's original cgroup directory (parent of the instance groups).
    public let parent: String

    /// Prepares `supervisorGroup` for instance children. `moveSelf` is false in unit tests.
    public init(supervisorGroup: String, moveSelf: Bool = true) throws {
        parent = supervisorGroup
        let enabled = (try? FileIO.read(parent + "/cgroup.subtree_control")) ?? ""
        let missing = CgroupHost.controllers.filter { !enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains(Substring($0)) }
        if missing.isEmpty { return }
        if moveSelf {
            let procs = CgroupFiles.pids(parent + "/cgroup.procs")
            if !procs.isEmpty && parent != "/sys/fs/cgroup" {
                let leaf = parent + "/supervisor"
                if mkdir(leaf, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(leaf)") }
                for pid in procs {
                    // Every process of the group must leave it; other processes of ours (e.g.
                    // a shell that started us) go along.
                    try? FileIO.write("\(pid)", to: leaf + "/cgroup.procs", create: false)
                }
            }
        }
        try FileIO.write(missing.map { "+" + $0 }.joined(separator: " "), to: parent + "/cgroup.subtree_control", create: !moveSelf)
    }

    public func create(name: String, limits: CgroupLimits) throws -> any CgroupInstance {
        precondition(!name.contains("/") && !name.isEmpty, "cgroup name must be one path component")
        let dir = parent + "/" + name
        if mkdir(dir, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
        do {
            let instance = try CgroupV2Instance(dir: dir)
            try instance.apply(limits)
            return instance
        } catch {
            rmdir(dir)
            throw error
        }
    }

    public func makeParent(name: String, totals: CgroupTotals) throws -> any CgroupDriver {
        precondition(!name.contains("/") && !name.isEmpty, "cgroup name must be one path component")
        let dir = parent + "/" + name
        if mkdir(dir, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(dir)") }
        do {
            if let bytes = totals.memoryBytes {
                try FileIO.write("\(bytes)", to: dir + "/memory.max")
                if FileIO.exists(dir + "/memory.swap.max") { try FileIO.write("0", to: dir + "/memory.swap.max") }
            }
            if let max = totals.pidsMax { try FileIO.write("\(max)", to: dir + "/pids.max") }
            try FileIO.write("\(min(10000, max(1, totals.cpuWeight)))", to: dir + "/cpu.weight")
            // Holds no process itself (instances are its children): enabling controllers for
            // them is allowed. No devices controller in v2 (BPF programs); see docs/security.md.
            return try CgroupV2Driver(supervisorGroup: dir, moveSelf: false)
        } catch {
            rmdir(dir)
            throw error
        }
    }

    public func leftovers(prefix: String) -> [String] {
        CgroupFiles.leftovers(in: parent, prefix: prefix)
    }

    public func leftoverParents(prefix: String) -> [String] {
        CgroupFiles.parents(in: parent, prefix: prefix)
    }

    public func removeLeftover(name: String) throws {
        let dir = parent + "/" + name
        for child in FileIO.entries(dir, type: Int32(DT_DIR)) { try removeLeftover(name: name + "/" + child) }
        try CgroupV2Instance(dir: dir).remove()
    }
}

final class CgroupV2Instance: CgroupInstance {
    let dir: String
    private let fd: Int32
    /// memory.peak opened once: on kernels >= 6.12 a write resets the peak seen through this fd.
    private let peakFD: Int32
    private let peakResettable = Mutex(true)
    /// memory.events, read on every invocation (OOM kills).
    private let events: CgroupFile
    private let removed = Mutex(false)
    /// The limits whose quota `endCPUBurst()` applies, while the init burst lasts.
    private let steadyCPU = Mutex<CgroupLimits?>(nil)
    /// The CPU boost and the thrash watch at the memory limit, and their inotify descriptor on
    /// memory.events.
    private let limitWatch = MemoryLimitSlot()

    init(dir: String) throws {
        self.dir = dir
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw SystemError("open \(dir)") }
        peakFD = open(dir + "/memory.peak", O_RDWR | O_CLOEXEC)
        events = CgroupFile(dir + "/memory.events")
    }

    deinit {
        close(fd)
        if peakFD >= 0 { close(peakFD) }
    }

    var cloneIntoFD: Int32? { fd }
    var selfMigration: (into: [String], home: [String])? { nil }

    func apply(_ limits: CgroupLimits) throws {
        try FileIO.write("\(limits.memoryBytes)", to: dir + "/memory.max")
        if FileIO.exists(dir + "/memory.swap.max") { try FileIO.write("0", to: dir + "/memory.swap.max") }
        try FileIO.write("\(limits.pidsMax)", to: dir + "/pids.max")
        // The burst first: the kernel refuses a burst above a finite quota, never one with "max".
        if let burst = CPUBandwidth.burst(limits), FileIO.exists(dir + "/cpu.max.burst") {
            try FileIO.write("\(burst)", to: dir + "/cpu.max.burst")
        }
        try FileIO.write("\(CPUBandwidth.initialQuota(limits).map(String.init) ?? "max") \(limits.cpuPeriodMicros)", to: dir + "/cpu.max")
        if limits.cpuInitBurst { steadyCPU.withLock { $0 = limits } }
        watchMemoryLimit(limits)
    }

    /// Watches memory.events (the kernel notifies at most every 10 ms): a rise of its `max`
    /// count (a charge met memory.max) raises the quota to one core for a moment where it is
    /// under one (`MemoryLimitBoost`), and starts the thrash watch (`MemoryThrashWatch`), which
    /// kills an instance live-locked at its limit. Best effort.
    private func watchMemoryLimit(_ limits: CgroupLimits) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return }
        guard inotify_add_watch(fd, dir + "/memory.events", UInt32(IN_MODIFY)) >= 0 else {
            close(fd)
            return
        }
        let dir = self.dir, period = limits.cpuPeriodMicros
        let boost = limits.cpuQuotaMicros.flatMap { quota in
            quota < period ? MemoryLimitBoost { [weak self] boosted in
                guard let self, self.steadyCPU.withLock({ $0 == nil }), !self.removed.withLock({ $0 }) else { return }
                let value = boosted ? max(quota, period) : quota
                try? FileIO.write("\(value) \(period)", to: dir + "/cpu.max", create: false)
            } : nil
        }
        let current = CgroupFile(dir + "/memory.current"), stat = CgroupFile(dir + "/memory.stat", capacity: 8192)
        let thrash = MemoryThrashWatch(limitBytes: limits.memoryBytes) {
            guard let usage = current.read().flatMap({ UInt64($0.trimmingWhitespace()) }), let stat = stat.read() else { return nil }
            return MemorySample.parse(stat: stat, usage: usage)
        } outOfMemory: { [weak self] in
            self?.killAll()
        }
        let events = self.events
        let seen = Mutex(events.read().flatMap { CgroupFiles.keyed(in: $0, "max") } ?? 0)
        let watch = MemoryLimitWatch(fd: fd, boost: boost, thrash: thrash) {
            guard let max = events.read().flatMap({ CgroupFiles.keyed(in: $0, "max") }) else { return false }
            return seen.withLock { s in
                defer { s = max }
                return max > s
            }
        }
        limitWatch.set(watch)
    }

    var memoryLimitBoosts: Int { limitWatch.boosts }

    func rearmMemoryLimitBoost() { limitWatch.rearm() }

    func endCPUBurst() throws {
        guard let limits = steadyCPU.withLock({ s in defer { s = nil }; return s }) else { return }
        try FileIO.write("\(limits.cpuQuotaMicros.map(String.init) ?? "max") \(limits.cpuPeriodMicros)", to: dir + "/cpu.max", create: false)
    }

    func attach(pid: pid_t) throws {
        try FileIO.write("\(pid)", to: dir + "/cgroup.procs", create: false)
    }

    func resetPeakMemory() {
        guard peakFD >= 0 else { return }
        let ok = "0\n".withCString { Glibc.write(peakFD, $0, 2) } == 2
        if !ok { peakResettable.withLock { $0 = false } }
    }

    func peakMemoryBytes() -> UInt64? {
        guard peakFD >= 0 else { return CgroupFiles.readInt(dir + "/memory.current") }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(peakFD, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return UInt64(String(decoding: buf[0..<n], as: UTF8.self).trimmingWhitespace())
    }

    /// The kernel's OOM kills plus the thrash verdict's (ADR 0034).
    func oomKillCount() -> Int {
        (events.read().flatMap { CgroupFiles.keyed(in: $0, "oom_kill") } ?? 0) + limitWatch.outOfMemoryVerdicts
    }

    func processes() -> [pid_t] {
        CgroupFiles.pids(dir + "/cgroup.procs")
    }

    var canFreeze: Bool { FileIO.exists(dir + "/cgroup.freeze") }

    func setFrozen(_ frozen: Bool) throws {
        try FileIO.write(frozen ? "1" : "0", to: dir + "/cgroup.freeze", create: false)
        for _ in 0..<1000 {
            if CgroupFiles.keyed(dir + "/cgroup.events", "frozen") == (frozen ? 1 : 0) { return }
            usleep(1000)
        }
    }

    func killAll() {
        // Dying processes run their exit (and whatever reclaim they are in) unthrottled.
        limitWatch.end()
        try? FileIO.write("max", to: dir + "/cpu.max", create: false)
        if FileIO.exists(dir + "/cgroup.kill"), (try? FileIO.write("1", to: dir + "/cgroup.kill", create: false)) != nil {
            return
        }
        for pid in processes() { kill(pid, SIGKILL) }
    }

    func remove() throws {
        if removed.withLock({ $0 }) { return }
        limitWatch.stop()
        killAll()
        try CgroupFiles.removeDirectory(dir, killing: dir + "/cgroup.procs")
        removed.withLock { $0 = true }
    }
}
