import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HearthSandbox

@Suite("CgroupHost")
struct CgroupHostTests {
    /// This machine's layout: cgroup v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified.
    static let hybridMountinfo = """
        24 1 0:22 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

        """
    static let hybridSelfCgroup = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/4287ac284174945bbbe0098e0988c61e
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/

        """

    @Test func parseMountinfoReadsMountPointTypeAndSuperOptions() {
        let mounts = CgroupHost.parseMountinfo(Self.hybridMountinfo)
        #expect(mounts.count == 12)
        let memory = mounts.first { $0.mountPoint == "/sys/fs/cgroup/memory" }
        #expect(memory?.fsType == "cgroup")
        #expect(memory?.superOptions == ["rw", "memory"])
        #expect(mounts.last?.fsType == "cgroup2")
        #expect(mounts.last?.mountPoint == "/sys/fs/cgroup/unified")
    }

    @Test func parseMountinfoHandlesOptionalFieldsAndEscapes() {
        let text = "35 25 0:30 / /sys/fs/cgroup/my\\040mem rw,nosuid,nodev shared:15 master:3 - cgroup cgroup rw,memory,foo\n"
            + "garbage line\n"
        let mounts = CgroupHost.parseMountinfo(text)
        #expect(mounts.count == 1)
        #expect(mounts.first?.mountPoint == "/sys/fs/cgroup/my mem")
        #expect(mounts.first?.fsType == "cgroup")
        #expect(mounts.first?.superOptions == ["rw", "memory", "foo"])
    }

    @Test func unescapeMountPath() {
        #expect(CgroupHost.unescapeMountPath("/a\\040b\\011c\\134d\\012e") == "/a b\tc\\d\ne")
        #expect(CgroupHost.unescapeMountPath("/plain/path") == "/plain/path")
        #expect(CgroupHost.unescapeMountPath("/trailing\\04") == "/trailing\\04")
    }

    @Test func parseProcCgroup() {
        let members = CgroupHost.parseProcCgroup("4:cpu,cpuacct:/a/b\n0::/x:y\nbad\n")
        #expect(members.count == 2)
        #expect(members[0].hierarchyID == "4")
        #expect(members[0].controllers == ["cpu", "cpuacct"])
        #expect(members[0].path == "/a/b")
        #expect(members[1].hierarchyID == "0")
        #expect(members[1].controllers == [])
        #expect(members[1].path == "/x:y")
    }

    @Test func flatKeyedFiles() {
        let oomControl = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
        #expect(CgroupFiles.keyed(in: oomControl, "oom_kill") == 3)
        #expect(CgroupFiles.keyed(in: oomControl, "under_oom") == 0)
        #expect(CgroupFiles.keyed(in: oomControl, "oom") == nil)  // a whole key, not a prefix
        #expect(CgroupFiles.keyed(in: "oom_kill 12", "oom_kill") == 12)  // no final newline
        #expect(CgroupFiles.keyed(in: "oom_kill x\n", "oom_kill") == nil)
        #expect(CgroupFiles.keyed(in: "", "oom_kill") == nil)
        #expect(CgroupFiles.keyed(in: "\n\noom_kill 1\n", "oom_kill") == 1)
    }

    @Test func joinPath() {
        #expect(HearthSandbox.joinPath("/sys/fs/cgroup/memory", "/") == "/sys/fs/cgroup/memory")
        #expect(HearthSandbox.joinPath("/sys/fs/cgroup/memory", "/a/b") == "/sys/fs/cgroup/memory/a/b")
        #expect(HearthSandbox.joinPath("/sys/fs/cgroup/", "/a") == "/sys/fs/cgroup/a")
        #expect(HearthSandbox.joinPath("/m", "a") == "/m/a")
    }

    @Test func detectPicksV1OnAHybridHost() throws {
        let driver = try CgroupHost.detect(mountinfo: Self.hybridMountinfo, selfCgroup: Self.hybridSelfCgroup)
        #expect(driver.version == .v1)
        let v1 = try #require(driver as? CgroupV1Driver)
        #expect(v1.groups == [
            "memory": "/sys/fs/cgroup/memory/process_api/4287ac284174945bbbe0098e0988c61e",
            "pids": "/sys/fs/cgroup/pids",
            "cpu": "/sys/fs/cgroup/cpu",
            "freezer": "/sys/fs/cgroup/freezer",
            "devices": "/sys/fs/cgroup/devices",
        ])
    }

    @Test func detectV1WithCombinedCpuCpuacctHierarchy() throws {
        let mountinfo = """
            30 25 0:26 / /cg/cpu,cpuacct rw shared:1 - cgroup cgroup rw,cpu,cpuacct
            31 25 0:27 / /cg/memory rw shared:2 - cgroup cgroup rw,memory
            32 25 0:28 / /cg/pids rw shared:3 - cgroup cgroup rw,pids
            """
        let selfCgroup = "4:cpu,cpuacct:/svc\n3:memory:/svc\n2:pids:/svc\n"
        let v1 = try #require(try CgroupHost.detect(mountinfo: mountinfo, selfCgroup: selfCgroup) as? CgroupV1Driver)
        #expect(v1.groups == ["cpu": "/cg/cpu,cpuacct/svc", "memory": "/cg/memory/svc", "pids": "/cg/pids/svc"])
    }

    @Test func detectPicksV2WhenNoV1MemoryController() throws {
        // The cgroup2 mount point is a temp dir whose supervisor group already delegates every
        // controller, so the driver's init writes nothing and moves nothing.
        let tmp = try TempDir()
        try tmp.dir("svc")
        try tmp.write("cpuset cpu io memory hugetlb pids rdma\n", to: "svc/cgroup.subtree_control")
        let mountinfo = """
            40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
            41 31 0:38 / \(tmp.path) rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
            """
        let driver = try CgroupHost.detect(mountinfo: mountinfo, selfCgroup: "1:name=systemd:/\n0::/svc\n")
        #expect(driver.version == .v2)
        let v2 = try #require(driver as? CgroupV2Driver)
        #expect(v2.parent == tmp.path + "/svc")
        #expect(try tmp.read("svc/cgroup.subtree_control") == "cpuset cpu io memory hugetlb pids rdma\n")
    }

    @Test func detectV2ParsingOfAPureV2Host() {
        // For a real v2-only layout, only the parsing is checked: detect would prepare /sys/fs/cgroup.
        let mounts = CgroupHost.parseMountinfo("30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")
        #expect(mounts.count == 1)
        #expect(mounts[0].fsType == "cgroup2")
        #expect(mounts[0].mountPoint == "/sys/fs/cgroup")
        #expect(mounts.filter { $0.fsType == "cgroup" }.isEmpty)
        let membership = CgroupHost.parseProcCgroup("0::/user.slice/user-1000.slice/session-2.scope\n")
        #expect(membership.first { $0.hierarchyID == "0" }?.path == "/user.slice/user-1000.slice/session-2.scope")
    }

    @Test func detectFailsWithoutAMemoryHierarchy() {
        let mountinfo = "24 1 0:22 / / rw - ext4 /dev/sda1 rw\n40 31 0:37 / /cg/systemd rw - cgroup cgroup rw,name=systemd\n"
        #expect(throws: SystemError.self) { try CgroupHost.detect(mountinfo: mountinfo, selfCgroup: "1:name=systemd:/\n") }
        do {
            _ = try CgroupHost.detect(mountinfo: mountinfo, selfCgroup: "")
        } catch let error as SystemError {
            #expect(error.errno == ENOENT)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
