#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Which cgroup hierarchy a host uses for the controllers Hearth needs.
public enum CgroupVersion: String, Sendable {
    case v1, v2
}

/// Creates per-instance cgroups under one group: the supervisor's own cgroup (as detected), or
/// the parent group of all of one supervisor's instances (`makeParent`), which bounds them
/// together. One driver per hierarchy version; both have the same interface. Thread-safe:
/// drivers hold only immutable paths.
public protocol CgroupDriver: Sendable {
    var version: CgroupVersion { get }
    /// Creates the cgroup `name` (a single path component) with `limits` applied.
    func create(name: String, limits: CgroupLimits) throws -> any CgroupInstance
    /// Creates the group `name` (a single path component, ending in `CgroupHost.parentSuffix`)
    /// that holds all of one supervisor's instances, with `totals` applied, and returns a driver
    /// that creates instance groups inside it.
    func makeParent(name: String, totals: CgroupTotals) throws -> any CgroupDriver
    /// Instance cgroups (prefix `prefix`) under this driver's group, e.g. left by a crash: direct
    /// children, and the children of parent groups as `<parent>/<instance>`.
    func leftovers(prefix: String) -> [String]
    /// Parent groups (prefix `prefix`, suffix `CgroupHost.parentSuffix`) under this driver's group.
    func leftoverParents(prefix: String) -> [String]
    /// Removes a leftover cgroup (a name or path from `leftovers`/`leftoverParents`): kills what
    /// is in it and in the groups below it, then removes them, innermost first.
    func removeLeftover(name: String) throws
}

/// Limits on all of one supervisor's instances together, on their parent group. nil: no limit.
public struct CgroupTotals: Sendable, Equatable {
    /// Memory of all instances together (v1 memory.limit_in_bytes, v2 memory.max).
    public var memoryBytes: UInt64?
    /// Tasks of all instances together (pids.max).
    public var pidsMax: Int?
    /// CPU weight of all instances together against their siblings (the supervisor): v2
    /// cpu.weight (1–10000, default 100); v1 cpu.shares = weight × 1024 / 100.
    public var cpuWeight: Int

    public init(memoryBytes: UInt64?, pidsMax: Int?, cpuWeight: Int = CgroupTotals.defaultCPUWeight) {
        self.memoryBytes = memoryBytes
        self.pidsMax = pidsMax
        self.cpuWeight = cpuWeight
    }

    /// Half of a nice-0 task's (or the supervisor's leaf group's) weight.
    public static let defaultCPUWeight = 50
    /// Instances Lambda allows at most this much memory each.
    public static let maxInstanceMemoryBytes: UInt64 = 10240 << 20

    /// The totals for `maxInstances` instances (pre-forked shells ride on a slack of 4) on a host
    /// with `hostMemoryBytes` of RAM and `pidMax` (kernel.pid_max): tasks at most half of pid_max
    /// (so root and the host keep the rest), and memory at most the host's minus a reserve for
    /// the supervisor and the host (1/8, at least 512 MB), never more than the instances could use.
    public static func derived(maxInstances: Int, pidsPerInstance: Int = 1024, hostMemoryBytes: UInt64, pidMax: Int,
                               maxTotalPids: Int? = nil) -> CgroupTotals {
        let slots = UInt64(max(1, maxInstances) + 4)
        let reserve = max(UInt64(512) << 20, hostMemoryBytes / 8)
        let hostBound = hostMemoryBytes > reserve ? hostMemoryBytes - reserve : hostMemoryBytes / 2
        let memory = min(slots.multipliedReportingOverflow(by: maxInstanceMemoryBytes).overflow ? .max : slots * maxInstanceMemoryBytes,
                         hostBound)
        let pids = maxTotalPids ?? min(Int(slots) * pidsPerInstance, max(1024, pidMax / 2))
        return CgroupTotals(memoryBytes: memory, pidsMax: pids)
    }

    /// The same figures for this host (sysconf and /proc/sys/kernel/pid_max).
    public static func forThisHost(maxInstances: Int, maxTotalPids: Int? = nil) -> CgroupTotals {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let memory = pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : UInt64(4) << 30
        let pidMax = CgroupFiles.readInt("/proc/sys/kernel/pid_max").map(Int.init) ?? 32768
        return derived(maxInstances: maxInstances, hostMemoryBytes: memory, pidMax: pidMax, maxTotalPids: maxTotalPids)
    }
}

/// One instance's cgroup. Lives as long as the instance; `remove()` must be called.
public protocol CgroupInstance: AnyObject, Sendable {
    /// A directory fd for `clone3(CLONE_INTO_CGROUP)` (v2), or nil when the child must be attached.
    var cloneIntoFD: Int32? { get }
    /// cgroup v1: the `tasks` files of the instance's groups and of the supervisor's own, in the
    /// same controller order, for a spawning thread to move itself in for the clone and back
    /// (`hearth_spawn_clone`): the child is then born in its cgroup, as with CLONE_INTO_CGROUP,
    /// with no attach. Nil when the driver does not know the supervisor's own groups.
    var selfMigration: (into: [String], home: [String])? { get }
    /// Moves `pid` into the cgroup (every controller on v1).
    func attach(pid: pid_t) throws
    /// Starts a new per-invocation peak-memory window.
    func resetPeakMemory()
    /// Peak memory in bytes since the last reset (or since creation), if the kernel reports it.
    func peakMemoryBytes() -> UInt64?
    /// How many processes the kernel's OOM killer has killed in this cgroup.
    func oomKillCount() -> Int
    /// Pids in the cgroup.
    func processes() -> [pid_t]
    /// SIGKILLs every process in the cgroup.
    func killAll()
    /// Whether the cgroup can be frozen (v1 freezer controller mounted, or v2).
    var canFreeze: Bool { get }
    /// Freezes (true) or thaws (false) every process in the cgroup; returns once the kernel
    /// reports the new state (or after ~1 s).
    func setFrozen(_ frozen: Bool) throws
    /// Kills what is left and removes the cgroup directories. Idempotent.
    func remove() throws
    /// Applies the CPU quota of the limits the cgroup was created with, ending the init burst
    /// of a cgroup created with `cpuInitBurst` (v1 `cpu.cfs_quota_us`, v2 `cpu.max`). Once per
    /// instance, off the warm path.
    func endCPUBurst() throws
    /// A new invocation: if its memory usage reaches the limit, the CPU quota is raised to one
    /// core for a moment so reclaim or the OOM kill happens promptly (`MemoryLimitBoost`).
    func rearmMemoryLimitBoost()
    /// How many times the quota was raised at the memory limit.
    var memoryLimitBoosts: Int { get }
}

/// The CPU bandwidth files' contents for one instance's limits.
enum CPUBandwidth {
    /// The quota while the init burst lasts: none.
    static func initialQuota(_ limits: CgroupLimits) -> Int? {
        limits.cpuInitBurst ? nil : limits.cpuQuotaMicros
    }

    /// `cpu.cfs_burst_us` / `cpu.max.burst` where the kernel has it: one period's quota, so a
    /// function that was idle can run a short burst unthrottled (the average stays the quota;
    /// the kernel refuses a burst above the quota).
    static func burst(_ limits: CgroupLimits) -> Int? {
        limits.cpuQuotaMicros
    }
}

/// Finds the host's cgroup layout and the supervisor's place in it.
public enum CgroupHost {
    /// The controllers Hearth limits.
    public static let controllers = ["memory", "pids", "cpu"]
    /// How the parent group of one supervisor's instances ends (`hearth-<pid>-instances`).
    public static let parentSuffix = "-instances"

    /// Picks the driver for this host: v1 when the v1 memory controller is mounted (hybrid
    /// hosts with an empty cgroup2 tree included), v2 when cgroup2 has the controllers.
    /// `prefix` names the instance cgroups; the driver creates them under the supervisor's cgroup.
    public static func detect(mountinfo: String? = nil, selfCgroup: String? = nil) throws -> any CgroupDriver {
        let mountinfo = try mountinfo ?? FileIO.read("/proc/self/mountinfo")
        let selfCgroup = try selfCgroup ?? FileIO.read("/proc/self/cgroup")
        let mounts = parseMountinfo(mountinfo)
        let membership = parseProcCgroup(selfCgroup)

        var v1Roots: [String: String] = [:]
        for mount in mounts where mount.fsType == "cgroup" {
            for controller in mount.superOptions where controllers.contains(controller) || controller == "freezer" || controller == "devices" {
                if v1Roots[controller] == nil { v1Roots[controller] = mount.mountPoint }
            }
        }
        if v1Roots["memory"] != nil {
            var groups: [String: String] = [:]
            for (controller, mountPoint) in v1Roots {
                // A v1 line lists comma-separated controllers ("4:cpu,cpuacct:/x").
                let own = membership.first { $0.controllers.contains(controller) }?.path ?? "/"
                groups[controller] = joinPath(mountPoint, own)
            }
            return CgroupV1Driver(groups: groups, home: groups)
        }
        if let unified = mounts.first(where: { $0.fsType == "cgroup2" }) {
            let own = membership.first { $0.hierarchyID == "0" }?.path ?? "/"
            return try CgroupV2Driver(supervisorGroup: joinPath(unified.mountPoint, own))
        }
        throw SystemError("no cgroup hierarchy with the memory controller is mounted", errno: ENOENT)
    }

    struct Mount {
        var mountPoint: String
        var fsType: String
        var superOptions: [String]
    }

    struct Membership {
        var hierarchyID: String
        var controllers: [String]
        var path: String
    }

    static func parseMountinfo(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard let dash = parts.firstIndex(of: "-"), dash + 3 < parts.count + 1, parts.count > 4 else { return nil }
            let fsType = dash + 1 < parts.count ? String(parts[dash + 1]) : ""
            let superOptions = dash + 3 < parts.count ? parts[dash + 3].split(separator: ",").map(String.init) : []
            return Mount(mountPoint: unescapeMountPath(String(parts[4])), fsType: fsType, superOptions: superOptions)
        }
    }

    static func parseProcCgroup(_ text: String) -> [Membership] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return Membership(hierarchyID: String(parts[0]),
                              controllers: parts[1].split(separator: ",").map(String.init),
                              path: String(parts[2]))
        }
    }

    static func unescapeMountPath(_ path: String) -> String {
        // mountinfo escapes space, tab, newline and backslash as \ooo.
        var out = ""
        var chars = Array(path.utf8)[...]
        var bytes: [UInt8] = []
        while let c = chars.popFirst() {
            if c == UInt8(ascii: "\\"), chars.count >= 3,
               let v = UInt8(String(decoding: chars.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(v)
                chars = chars.dropFirst(3)
            } else {
                bytes.append(c)
            }
        }
        out = String(decoding: bytes, as: UTF8.self)
        return out
    }
}

func joinPath(_ base: String, _ rest: String) -> String {
    let trimmed = rest.drop { $0 == "/" }
    if trimmed.isEmpty { return base }
    return base.hasSuffix("/") ? base + trimmed : base + "/" + trimmed
}

/// A small cgroup file read or written on every invocation (peak memory, OOM kills): opened on
/// first use and kept open, then one pread or pwrite at offset 0 instead of open, read, read,
/// close. Thread-safe.
final class CgroupFile: Sendable {
    let path: String
    private let writable: Bool
    private let capacity: Int
    private let fd = Mutex<Int32>(-1)

    /// `capacity`: the most `read()` returns.
    init(_ path: String, writable: Bool = false, capacity: Int = 1024) {
        self.path = path
        self.writable = writable
        self.capacity = capacity
    }

    deinit {
        fd.withLock { if $0 >= 0 { close($0) } }
    }

    private func descriptor() -> Int32 {
        fd.withLock { fd in
            if fd < 0 { fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC) }
            return fd
        }
    }

    /// The file's contents (up to `capacity` bytes), or nil if it cannot be read.
    func read() -> String? {
        let fd = descriptor()
        guard fd >= 0 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 1) { buf -> String? in
            let n = pread(fd, buf.baseAddress, buf.count, 0)
            guard n > 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: buf[0..<n]), as: UTF8.self)
        }
    }

    /// Writes `text` at offset 0; false if the file cannot be written.
    @discardableResult
    func write(_ text: String) -> Bool {
        let fd = descriptor()
        guard fd >= 0 else { return false }
        var text = text
        return text.withUTF8 { pwrite(fd, $0.baseAddress, $0.count, 0) == $0.count }
    }
}

/// Shared helpers of both drivers.
enum CgroupFiles {
    static func readInt(_ path: String) -> UInt64? {
        guard let text = try? FileIO.read(path) else { return nil }
        return UInt64(text.trimmingWhitespace())
    }

    /// Value of `key` in a flat-keyed file ("oom_kill 3").
    static func keyed(_ path: String, _ key: String) -> Int? {
        guard let text = try? FileIO.read(path) else { return nil }
        return keyed(in: text, key)
    }

    /// The value of `key` in a flat-keyed file ("oom_kill 3").
    /// Byte by byte (read twice per invocation: no line or field Strings made).
    static func keyed(in text: String, _ key: String) -> Int? {
        let bytes = text.utf8
        var lineStart = bytes.startIndex
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let line = bytes[lineStart..<lineEnd]
            if let space = line.firstIndex(of: UInt8(ascii: " ")), line[..<space].elementsEqual(key.utf8) {
                let value = line[line.index(after: space)...]
                return value.contains(UInt8(ascii: " ")) ? nil : Int(Substring(value))
            }
            lineStart = lineEnd < bytes.endIndex ? bytes.index(after: lineEnd) : lineEnd
        }
        return nil
    }

    static func pids(_ path: String) -> [pid_t] {
        guard let text = try? FileIO.read(path) else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Instance groups under `dir` (see `CgroupDriver.leftovers`).
    static func leftovers(in dir: String, prefix: String) -> [String] {
        var found: [String] = []
        for name in FileIO.entries(dir, type: Int32(DT_DIR)) {
            if name.hasSuffix(CgroupHost.parentSuffix) {
                found += FileIO.entries(dir + "/" + name, type: Int32(DT_DIR)).filter { $0.hasPrefix(prefix) }.map { name + "/" + $0 }
            } else if name.hasPrefix(prefix) {
                found.append(name)
            }
        }
        return found
    }

    static func parents(in dir: String, prefix: String) -> [String] {
        FileIO.entries(dir, type: Int32(DT_DIR)).filter { $0.hasPrefix(prefix) && $0.hasSuffix(CgroupHost.parentSuffix) }
    }

    /// Removes `path` and every group below it, innermost first, killing what is in them.
    static func removeTree(_ path: String) throws {
        for child in FileIO.entries(path, type: Int32(DT_DIR)) { try removeTree(path + "/" + child) }
        for pid in pids(path + "/cgroup.procs") { kill(pid, SIGKILL) }
        try removeDirectory(path, killing: path + "/cgroup.procs")
    }

    /// rmdir, retrying while the kernel still counts exiting processes (EBUSY), up to ~2 s.
    static func removeDirectory(_ path: String, killing procs: String) throws {
        for attempt in 0..<200 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            let err = errno
            if err != EBUSY { throw SystemError("rmdir \(path)", errno: err) }
            if attempt % 10 == 0 { for pid in pids(procs) { kill(pid, SIGKILL) } }
            usleep(10_000)
        }
        throw SystemError("rmdir \(path)", errno: EBUSY)
    }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
