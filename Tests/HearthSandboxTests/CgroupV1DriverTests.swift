import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HearthSandbox

/// cgroup v1 against a fake cgroupfs: one temp directory per controller's supervisor group.
@Suite("CgroupV1Driver (fake cgroupfs)")
struct CgroupV1DriverTests {
    let tmp: TempDir
    let driver: CgroupV1Driver

    init() throws {
        tmp = try TempDir()
        var groups: [String: String] = [:]
        for controller in ["memory", "pids", "cpu", "freezer"] { groups[controller] = try tmp.dir("\(controller)/sup") }
        driver = CgroupV1Driver(groups: groups)
    }

    static let limits = CgroupLimits(memoryBytes: 256 << 20, pidsMax: 64, cpuQuotaMicros: 14_471, cpuPeriodMicros: 100_000)

    @Test func createMakesOneDirectoryPerControllerAndWritesLimits() throws {
        let instance = try driver.create(name: "hearth-a", limits: Self.limits)
        for controller in ["memory", "pids", "cpu", "freezer"] {
            #expect(tmp.isDirectory("\(controller)/sup/hearth-a"), "\(controller)")
        }
        #expect(try tmp.read("memory/sup/hearth-a/memory.limit_in_bytes") == "268435456")
        #expect(try tmp.read("pids/sup/hearth-a/pids.max") == "64")
        #expect(try tmp.read("cpu/sup/hearth-a/cpu.cfs_period_us") == "100000")
        #expect(try tmp.read("cpu/sup/hearth-a/cpu.cfs_quota_us") == "14471")
        #expect(instance.cloneIntoFD == nil)
        // No swap accounting files on this fake host: they are not invented.
        #expect(!tmp.exists("memory/sup/hearth-a/memory.memsw.limit_in_bytes"))
        #expect(!tmp.exists("memory/sup/hearth-a/memory.swappiness"))
    }

    @Test("init burst: quota -1 until endCPUBurst; cpu.cfs_burst_us of one quota where the kernel has it")
    func initBurst() throws {
        try tmp.dir("cpu/sup/hearth-burst")
        try tmp.write("0\n", to: "cpu/sup/hearth-burst/cpu.cfs_burst_us")
        var limits = Self.limits
        limits.cpuInitBurst = true
        let instance = try driver.create(name: "hearth-burst", limits: limits)
        #expect(try tmp.read("cpu/sup/hearth-burst/cpu.cfs_quota_us") == "-1")
        #expect(try tmp.read("cpu/sup/hearth-burst/cpu.cfs_burst_us") == "14471")
        try instance.endCPUBurst()
        #expect(try tmp.read("cpu/sup/hearth-burst/cpu.cfs_quota_us") == "14471")
    }

    @Test func nilQuotaWritesMinusOne() throws {
        var limits = Self.limits
        limits.cpuQuotaMicros = nil
        _ = try driver.create(name: "hearth-b", limits: limits)
        #expect(try tmp.read("cpu/sup/hearth-b/cpu.cfs_quota_us") == "-1")
        #expect(try tmp.read("cpu/sup/hearth-b/cpu.cfs_period_us") == "100000")
    }

    @Test func memswAndSwappinessAreWrittenWhenTheKernelHasThem() throws {
        try tmp.dir("memory/sup/hearth-c")
        try tmp.write("9223372036854771712\n", to: "memory/sup/hearth-c/memory.memsw.limit_in_bytes")
        try tmp.write("60\n", to: "memory/sup/hearth-c/memory.swappiness")
        _ = try driver.create(name: "hearth-c", limits: Self.limits)
        #expect(try tmp.read("memory/sup/hearth-c/memory.memsw.limit_in_bytes") == "268435456")
        #expect(try tmp.read("memory/sup/hearth-c/memory.swappiness") == "0")
    }

    @Test func freezerIsOptional() throws {
        let groups = driver.groups.filter { $0.key != "freezer" }
        let noFreezer = CgroupV1Driver(groups: groups)
        _ = try noFreezer.create(name: "hearth-d", limits: Self.limits)
        #expect(tmp.isDirectory("memory/sup/hearth-d"))
        #expect(!tmp.exists("freezer/sup/hearth-d"))
    }

    @Test func missingControllerFailsAndCleansUp() throws {
        let noCPU = CgroupV1Driver(groups: driver.groups.filter { $0.key != "cpu" })
        #expect(throws: SystemError("cgroup v1 controller cpu is not mounted", errno: ENOENT)) {
            _ = try noCPU.create(name: "hearth-e", limits: Self.limits)
        }
        #expect(!tmp.exists("memory/sup/hearth-e"))
        #expect(!tmp.exists("pids/sup/hearth-e"))
    }

    @Test func peakMemoryAndOOMKillsComeFromTheMemoryGroup() throws {
        let instance = try driver.create(name: "hearth-f", limits: Self.limits)
        #expect(instance.peakMemoryBytes() == nil)
        #expect(instance.oomKillCount() == 0)
        try tmp.write("123456789\n", to: "memory/sup/hearth-f/memory.max_usage_in_bytes")
        try tmp.write("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", to: "memory/sup/hearth-f/memory.oom_control")
        #expect(instance.peakMemoryBytes() == 123_456_789)
        #expect(instance.oomKillCount() == 2)
        try tmp.write("7\n", to: "memory/sup/hearth-f/memory.max_usage_in_bytes")
        instance.resetPeakMemory()
        #expect(try tmp.read("memory/sup/hearth-f/memory.max_usage_in_bytes") == "0\n")
        #expect(instance.peakMemoryBytes() == 0)
    }

    @Test func attachWritesThePidToEveryControllerAndProcessesReadsPids() throws {
        let instance = try driver.create(name: "hearth-g", limits: Self.limits)
        // Without the kernel's cgroup.procs files attach must fail (it never creates them).
        #expect(throws: SystemError.self) { try instance.attach(pid: 999_999_999) }
        for controller in ["memory", "pids", "cpu", "freezer"] {
            try tmp.write("", to: "\(controller)/sup/hearth-g/cgroup.procs")
        }
        // A pid that cannot exist (above pid_max), so nothing real is ever signalled.
        try instance.attach(pid: 999_999_999)
        for controller in ["memory", "pids", "cpu", "freezer"] {
            #expect(try tmp.read("\(controller)/sup/hearth-g/cgroup.procs") == "999999999", "\(controller)")
        }
        #expect(instance.processes() == [999_999_999])
        try tmp.write("999999998\n999999997\n", to: "pids/sup/hearth-g/cgroup.procs")
        #expect(instance.processes() == [999_999_998, 999_999_997])
    }

    @Test func selfMigrationPairsEachInstanceGroupWithTheSupervisorsOwnThroughParents() throws {
        // Without the supervisor's own groups the child is attached by pid.
        #expect(try driver.create(name: "hearth-n", limits: Self.limits).selfMigration == nil)
        let home = driver.groups
        let top = CgroupV1Driver(groups: driver.groups, home: home)
        let parent = try top.makeParent(name: "hearth-1-instances", totals: CgroupTotals(memoryBytes: nil, pidsMax: nil))
        let instance = try parent.create(name: "hearth-m", limits: Self.limits)
        let migration = try #require(instance.selfMigration)
        let order = ["memory", "pids", "cpu", "freezer"]
        #expect(migration.into == order.map { tmp.path + "/\($0)/sup/hearth-1-instances/hearth-m/tasks" })
        #expect(migration.home == order.map { tmp.path + "/\($0)/sup/tasks" })
        // A controller whose own group is unknown: no migration at all, never a partial one.
        let partial = CgroupV1Driver(groups: driver.groups, home: home.filter { $0.key != "pids" })
        #expect(try partial.create(name: "hearth-p", limits: Self.limits).selfMigration == nil)
        // Opening needs every file; the fake groups have no `tasks`, so nothing is opened.
        #expect(Sandbox.openMigration(migration) == nil)
    }

    @Test func leftoversListsOnlyPrefixedDirectories() throws {
        _ = try driver.create(name: "hearth-1", limits: Self.limits)
        _ = try driver.create(name: "hearth-2", limits: Self.limits)
        _ = try driver.create(name: "other", limits: Self.limits)
        try tmp.write("x", to: "memory/sup/hearth-file")
        #expect(Set(driver.leftovers(prefix: "hearth-")) == ["hearth-1", "hearth-2"])
        #expect(driver.leftovers(prefix: "nothing").isEmpty)
        #expect(CgroupV1Driver(groups: [:]).leftovers(prefix: "hearth-").isEmpty)
    }

    @Test func removeDeletesEveryControllerDirectory() throws {
        let instance = try driver.create(name: "hearth-h", limits: Self.limits)
        // rmdir works on a real cgroup directory with its control files; here they are regular
        // files, so empty the fake directories first.
        for controller in ["memory", "pids", "cpu", "freezer"] { try tmp.emptyDirectory("\(controller)/sup/hearth-h") }
        try instance.remove()
        for controller in ["memory", "pids", "cpu", "freezer"] {
            #expect(!tmp.exists("\(controller)/sup/hearth-h"), "\(controller)")
        }
        try instance.remove()  // idempotent
    }

    @Test func removeReportsANonEmptyDirectory() throws {
        let instance = try driver.create(name: "hearth-i", limits: Self.limits)
        #expect(throws: SystemError.self) { try instance.remove() }
        do {
            try CgroupV1Driver(groups: driver.groups).removeLeftover(name: "hearth-i")
            Issue.record("rmdir of a non-empty directory succeeded")
        } catch let error as SystemError {
            #expect(error.errno == ENOTEMPTY)
            #expect(error.operation.hasPrefix("rmdir "))
        }
    }

    @Test func removeLeftoverRemovesWhateverControllersHaveIt() throws {
        try tmp.dir("memory/sup/hearth-old")
        try tmp.dir("cpu/sup/hearth-old")
        try driver.removeLeftover(name: "hearth-old")
        #expect(!tmp.exists("memory/sup/hearth-old"))
        #expect(!tmp.exists("cpu/sup/hearth-old"))
        try driver.removeLeftover(name: "hearth-never-existed")
    }

    @Test func aFailedRemoveCanBeRetried() throws {
        let instance = try driver.create(name: "hearth-j", limits: Self.limits)
        #expect(throws: SystemError.self) { try instance.remove() }
        // The freezer group holds no files here, so that one went.
        #expect(!tmp.exists("freezer/sup/hearth-j"))
        for controller in ["memory", "pids", "cpu"] { try tmp.emptyDirectory("\(controller)/sup/hearth-j") }
        try instance.remove()
        #expect(!tmp.exists("memory/sup/hearth-j"))
    }

    @Test func makeParentWritesTotalsAndDevicesAndCreatesInstancesInside() throws {
        var groups = driver.groups
        groups["devices"] = try tmp.dir("devices/sup")
        let top = CgroupV1Driver(groups: groups)
        // The kernel's devices files exist in every new group; the fake needs them made.
        try tmp.dir("devices/sup/hearth-7-1-instances")
        try tmp.write("", to: "devices/sup/hearth-7-1-instances/devices.deny")
        try tmp.write("", to: "devices/sup/hearth-7-1-instances/devices.allow")
        let totals = CgroupTotals(memoryBytes: 8 << 30, pidsMax: 5000, cpuWeight: 50)
        let parent = try #require(try top.makeParent(name: "hearth-7-1-instances", totals: totals) as? CgroupV1Driver)
        #expect(try tmp.read("memory/sup/hearth-7-1-instances/memory.limit_in_bytes") == "\(UInt64(8) << 30)")
        #expect(try tmp.read("pids/sup/hearth-7-1-instances/pids.max") == "5000")
        #expect(try tmp.read("cpu/sup/hearth-7-1-instances/cpu.shares") == "512")
        // Each write replaces the fake file: the last allow rule is what is left.
        #expect(try tmp.read("devices/sup/hearth-7-1-instances/devices.deny") == "a")
        #expect(try tmp.read("devices/sup/hearth-7-1-instances/devices.allow") == "c 1:9 rwm")
        #expect(parent.groups["devices"] == groups["devices"]! + "/hearth-7-1-instances")
        _ = try parent.create(name: "hearth-7-x", limits: Self.limits)
        #expect(tmp.isDirectory("memory/sup/hearth-7-1-instances/hearth-7-x"))
        #expect(tmp.isDirectory("devices/sup/hearth-7-1-instances/hearth-7-x"))
        // From the supervisor's group: the instance is found inside its parent, the parent apart.
        #expect(top.leftovers(prefix: "hearth-7-") == ["hearth-7-1-instances/hearth-7-x"])
        #expect(top.leftoverParents(prefix: "hearth-") == ["hearth-7-1-instances"])
        for controller in ["memory", "pids", "cpu", "freezer", "devices"] {
            try tmp.emptyDirectory("\(controller)/sup/hearth-7-1-instances/hearth-7-x")
            try tmp.emptyDirectory("\(controller)/sup/hearth-7-1-instances")
        }
        try top.removeLeftover(name: "hearth-7-1-instances")
        for controller in ["memory", "pids", "cpu", "freezer", "devices"] {
            #expect(!tmp.exists("\(controller)/sup/hearth-7-1-instances"), "\(controller)")
        }
    }

    @Test func tcpBuffersAreLimitedAndCountedInThePeakWhereTheKernelHasTheCounter() throws {
        try tmp.dir("memory/sup/hearth-t")
        try tmp.write("9223372036854771712\n", to: "memory/sup/hearth-t/memory.kmem.tcp.limit_in_bytes")
        try tmp.write("1048576\n", to: "memory/sup/hearth-t/memory.kmem.tcp.max_usage_in_bytes")
        let instance = try driver.create(name: "hearth-t", limits: Self.limits)
        #expect(try tmp.read("memory/sup/hearth-t/memory.kmem.tcp.limit_in_bytes") == "268435456")
        try tmp.write("2097152\n", to: "memory/sup/hearth-t/memory.max_usage_in_bytes")
        #expect(instance.peakMemoryBytes() == 3 << 20)
        instance.resetPeakMemory()
        #expect(try tmp.read("memory/sup/hearth-t/memory.kmem.tcp.max_usage_in_bytes").hasPrefix("0"))
        // Without the counter (a fake host like the others here): no file is invented.
        _ = try driver.create(name: "hearth-u", limits: Self.limits)
        #expect(!tmp.exists("memory/sup/hearth-u/memory.kmem.tcp.limit_in_bytes"))
    }
}
