import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HearthSandbox

/// cgroup v2 against a fake cgroupfs: a temp directory stands for the supervisor's group.
@Suite("CgroupV2Driver (fake cgroupfs)")
struct CgroupV2DriverTests {
    let tmp: TempDir
    let sup: String

    init() throws {
        tmp = try TempDir()
        sup = try tmp.dir("sup")
    }

    static let limits = CgroupLimits(memoryBytes: 128 << 20, pidsMax: 1024, cpuQuotaMicros: 7236, cpuPeriodMicros: 100_000)

    @Test("at the memory limit (memory.events max rises) the quota is one core for a moment, once per invocation")
    func cpuBoostAtTheMemoryLimit() async throws {
        let dir = try tmp.dir("sup/hearth-boost")
        try tmp.write("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", to: "sup/hearth-boost/memory.events")
        let instance = try CgroupV2Instance(dir: dir)
        defer { try? instance.remove() }
        try instance.apply(Self.limits)
        #expect(try tmp.read("sup/hearth-boost/cpu.max") == "7236 100000")
        // The kernel rewrites memory.events in place; inotify sees the modification.
        try tmp.write("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n", to: "sup/hearth-boost/memory.events")
        for _ in 0..<100 where instance.memoryLimitBoosts == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(instance.memoryLimitBoosts == 1)
        #expect(try tmp.read("sup/hearth-boost/cpu.max") == "100000 100000")
        try await Task.sleep(for: MemoryLimitBoost.duration + .milliseconds(300))
        // (A fake file is not truncated by an in-place write as cgroupfs replaces the value.)
        #expect(try tmp.read("sup/hearth-boost/cpu.max").hasPrefix("7236 100000"))
        try tmp.write("low 0\nhigh 0\nmax 9\noom 0\noom_kill 0\n", to: "sup/hearth-boost/memory.events")
        try await Task.sleep(for: .milliseconds(200))
        #expect(instance.memoryLimitBoosts == 1, "one boost per invocation")
        instance.rearmMemoryLimitBoost()
        try tmp.write("low 0\nhigh 0\nmax 12\noom 0\noom_kill 0\n", to: "sup/hearth-boost/memory.events")
        for _ in 0..<100 where instance.memoryLimitBoosts == 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(instance.memoryLimitBoosts == 2)
        // Killing lifts the quota whatever the boost was doing.
        instance.killAll()
        #expect(try tmp.read("sup/hearth-boost/cpu.max").hasPrefix("max"))
    }

    @Test func initEnablesAllControllersForChildren() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        #expect(driver.version == .v2)
        #expect(driver.parent == sup)
        #expect(try tmp.read("sup/cgroup.subtree_control") == "+memory +pids +cpu")
        #expect(!tmp.exists("sup/supervisor"))
    }

    @Test func initEnablesOnlyMissingControllers() throws {
        try tmp.write("cpuset memory io\n", to: "sup/cgroup.subtree_control")
        _ = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        #expect(try tmp.read("sup/cgroup.subtree_control") == "+pids +cpu")
    }

    @Test func initLeavesAFullyDelegatedGroupAlone() throws {
        // Without the trailing newline the kernel prints, nothing is missing.
        try tmp.write("cpu memory pids", to: "sup/cgroup.subtree_control")
        _ = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        #expect(try tmp.read("sup/cgroup.subtree_control") == "cpu memory pids")
        // As the kernel prints it: "…pids\n".
        try tmp.write("cpu memory pids\n", to: "sup/cgroup.subtree_control")
        _ = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let after = try tmp.read("sup/cgroup.subtree_control")
        #expect(after == "cpu memory pids\n")
        #expect(!tmp.exists("sup/supervisor"))
    }

    @Test func createWritesLimits() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let instance = try driver.create(name: "hearth-a", limits: Self.limits)
        #expect(tmp.isDirectory("sup/hearth-a"))
        #expect(try tmp.read("sup/hearth-a/memory.max") == "134217728")
        #expect(try tmp.read("sup/hearth-a/pids.max") == "1024")
        #expect(try tmp.read("sup/hearth-a/cpu.max") == "7236 100000")
        #expect(!tmp.exists("sup/hearth-a/memory.swap.max"))
        // The group's directory fd, for clone3(CLONE_INTO_CGROUP).
        let fd = try #require(instance.cloneIntoFD)
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFDIR)
    }

    @Test("init burst: no quota until endCPUBurst; cpu.max.burst of one quota where the kernel has it")
    func initBurst() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        try tmp.dir("sup/hearth-burst")
        try tmp.write("0\n", to: "sup/hearth-burst/cpu.max.burst")
        var limits = Self.limits
        limits.cpuInitBurst = true
        let instance = try driver.create(name: "hearth-burst", limits: limits)
        #expect(try tmp.read("sup/hearth-burst/cpu.max") == "max 100000")
        #expect(try tmp.read("sup/hearth-burst/cpu.max.burst") == "7236")
        try instance.endCPUBurst()
        #expect(try tmp.read("sup/hearth-burst/cpu.max") == "7236 100000")
        // Once: a later call writes nothing.
        try tmp.write("changed", to: "sup/hearth-burst/cpu.max")
        try instance.endCPUBurst()
        #expect(try tmp.read("sup/hearth-burst/cpu.max") == "changed")
    }

    @Test("without the init burst the quota applies at once; no burst file is invented")
    func noInitBurst() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let instance = try driver.create(name: "hearth-steady", limits: Self.limits)
        #expect(try tmp.read("sup/hearth-steady/cpu.max") == "7236 100000")
        #expect(!tmp.exists("sup/hearth-steady/cpu.max.burst"))
        try instance.endCPUBurst()
        #expect(try tmp.read("sup/hearth-steady/cpu.max") == "7236 100000")
    }

    @Test func nilQuotaWritesMax() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        var limits = Self.limits
        limits.cpuQuotaMicros = nil
        _ = try driver.create(name: "hearth-b", limits: limits)
        #expect(try tmp.read("sup/hearth-b/cpu.max") == "max 100000")
    }

    @Test func swapIsDisabledWhenTheKernelHasSwapAccounting() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        try tmp.dir("sup/hearth-c")
        try tmp.write("max\n", to: "sup/hearth-c/memory.swap.max")
        _ = try driver.create(name: "hearth-c", limits: Self.limits)
        #expect(try tmp.read("sup/hearth-c/memory.swap.max") == "0")
    }

    @Test func createFailsWhenTheParentIsMissing() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        try FileIO.removeTree(sup)
        #expect(throws: SystemError.self) { _ = try driver.create(name: "hearth-d", limits: Self.limits) }
    }

    @Test func peakMemoryFromMemoryPeakOrCurrent() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        // Without memory.peak (kernels < 5.19) the current usage stands in.
        let old = try driver.create(name: "hearth-e", limits: Self.limits)
        #expect(old.peakMemoryBytes() == nil)
        try tmp.write("4096\n", to: "sup/hearth-e/memory.current")
        #expect(old.peakMemoryBytes() == 4096)
        // With memory.peak (opened when the instance is made).
        try tmp.dir("sup/hearth-f")
        try tmp.write("5242880\n", to: "sup/hearth-f/memory.peak")
        try tmp.write("1\n", to: "sup/hearth-f/memory.current")
        let new = try driver.create(name: "hearth-f", limits: Self.limits)
        #expect(new.peakMemoryBytes() == 5_242_880)
    }

    @Test func oomKillsFromMemoryEvents() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let instance = try driver.create(name: "hearth-g", limits: Self.limits)
        #expect(instance.oomKillCount() == 0)
        try tmp.write("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n", to: "sup/hearth-g/memory.events")
        #expect(instance.oomKillCount() == 2)
    }

    @Test func attachAndProcesses() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let instance = try driver.create(name: "hearth-h", limits: Self.limits)
        #expect(throws: SystemError.self) { try instance.attach(pid: 999_999_999) }
        #expect(instance.processes().isEmpty)
        try tmp.write("", to: "sup/hearth-h/cgroup.procs")
        try instance.attach(pid: 999_999_999)  // above pid_max: nothing real
        #expect(try tmp.read("sup/hearth-h/cgroup.procs") == "999999999")
        #expect(instance.processes() == [999_999_999])
    }

    @Test func leftoversAndRemove() throws {
        let driver = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let a = try driver.create(name: "hearth-1", limits: Self.limits)
        _ = try driver.create(name: "hearth-2", limits: Self.limits)
        try tmp.dir("sup/supervisor")
        #expect(Set(driver.leftovers(prefix: "hearth-")) == ["hearth-1", "hearth-2"])
        // Control files are regular files here, so rmdir reports ENOTEMPTY.
        do {
            try a.remove()
            Issue.record("rmdir of a non-empty directory succeeded")
        } catch let error as SystemError {
            #expect(error.errno == ENOTEMPTY)
        }
        try tmp.emptyDirectory("sup/hearth-2")
        try driver.removeLeftover(name: "hearth-2")
        #expect(!tmp.exists("sup/hearth-2"))
        #expect(driver.leftovers(prefix: "hearth-") == ["hearth-1"])
    }

    @Test func makeParentWritesTotalsAndEnablesControllersForInstances() throws {
        let top = try CgroupV2Driver(supervisorGroup: sup, moveSelf: false)
        let totals = CgroupTotals(memoryBytes: 8 << 30, pidsMax: 5000, cpuWeight: 50)
        let parent = try #require(try top.makeParent(name: "hearth-7-1-instances", totals: totals) as? CgroupV2Driver)
        #expect(parent.parent == sup + "/hearth-7-1-instances")
        #expect(try tmp.read("sup/hearth-7-1-instances/memory.max") == "\(UInt64(8) << 30)")
        #expect(try tmp.read("sup/hearth-7-1-instances/pids.max") == "5000")
        #expect(try tmp.read("sup/hearth-7-1-instances/cpu.weight") == "50")
        #expect(try tmp.read("sup/hearth-7-1-instances/cgroup.subtree_control") == "+memory +pids +cpu")
        _ = try parent.create(name: "hearth-7-x", limits: Self.limits)
        #expect(try tmp.read("sup/hearth-7-1-instances/hearth-7-x/memory.max") == "134217728")
        #expect(top.leftovers(prefix: "hearth-7-") == ["hearth-7-1-instances/hearth-7-x"])
        #expect(top.leftoverParents(prefix: "hearth-") == ["hearth-7-1-instances"])
        try tmp.emptyDirectory("sup/hearth-7-1-instances/hearth-7-x")
        try tmp.emptyDirectory("sup/hearth-7-1-instances")
        try top.removeLeftover(name: "hearth-7-1-instances")
        #expect(!tmp.exists("sup/hearth-7-1-instances"))
    }

    @Test func derivedTotals() {
        // 24 GB host, pid_max 32768, 188 instances: half of pid_max, the host's memory minus 1/8.
        let host: UInt64 = 24 << 30
        let big = CgroupTotals.derived(maxInstances: 188, hostMemoryBytes: host, pidMax: 32768)
        #expect(big.pidsMax == 16384)
        #expect(big.memoryBytes == host - host / 8)
        #expect(big.cpuWeight == 50)
        // One instance (hearth run): 5 slots of 1024 tasks and of 10 GB, within the host's bound.
        let one = CgroupTotals.derived(maxInstances: 1, hostMemoryBytes: host, pidMax: 32768)
        #expect(one.pidsMax == 5 * 1024)
        #expect(one.memoryBytes == host - host / 8)
        let small = CgroupTotals.derived(maxInstances: 1, hostMemoryBytes: 2 << 30, pidMax: 4096, maxTotalPids: 300)
        #expect(small.pidsMax == 300)
        #expect(small.memoryBytes == (2 << 30) - (512 << 20))
    }
}
