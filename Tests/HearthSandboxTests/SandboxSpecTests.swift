import Testing
@testable import HearthSandbox

@Suite("SandboxSpec")
struct SandboxSpecTests {
    struct Mutation: Sendable, CustomTestStringConvertible {
        var name: String
        var apply: @Sendable (inout SandboxSpec) -> Void
        /// A fragment the error message must contain (it names the wrong value).
        var message: String
        var testDescription: String { name }
    }

    static let invalid: [Mutation] = [
        Mutation(name: "memory below range", apply: { $0.memoryMB = 127 }, message: "memory 127 MB"),
        Mutation(name: "memory above range", apply: { $0.memoryMB = 10241 }, message: "memory 10241 MB"),
        Mutation(name: "ephemeral below range", apply: { $0.ephemeralStorageMB = 511 }, message: "ephemeral storage 511 MB"),
        Mutation(name: "ephemeral above range", apply: { $0.ephemeralStorageMB = 10241 }, message: "ephemeral storage 10241"),
        Mutation(name: "negative cpus", apply: { $0.cpus = -0.5 }, message: "cpu -0.5"),
        Mutation(name: "too many cpus", apply: { $0.cpus = 64.5 }, message: "cpu 64.5"),
        Mutation(name: "NaN cpus", apply: { $0.cpus = .nan }, message: "cpu nan"),
        Mutation(name: "pids 0", apply: { $0.pidsMax = 0 }, message: "pids limit 0"),
        Mutation(name: "open files 15", apply: { $0.openFilesLimit = 15 }, message: "open files limit 15"),
        Mutation(name: "uid 0", apply: { $0.uid = 0 }, message: "uid/gid must not be 0"),
        Mutation(name: "gid 0", apply: { $0.gid = 0 }, message: "uid/gid must not be 0"),
        Mutation(name: "uid too big for userns", apply: { $0.userNamespace = true; $0.uid = 65536 }, message: "below 65536"),
        Mutation(name: "gid too big for userns", apply: { $0.userNamespace = true; $0.gid = 70000 }, message: "below 65536"),
        Mutation(name: "port 65536", apply: { $0.runtimeAPIPort = 65536 }, message: "runtime API port 65536"),
        Mutation(name: "port -1", apply: { $0.runtimeAPIPort = -1 }, message: "runtime API port -1"),
        Mutation(name: "relative image", apply: { $0.image = "images/x" }, message: "image path must be absolute"),
        Mutation(name: "relative code", apply: { $0.code = "code" }, message: "code path must be absolute"),
        Mutation(name: "relative socket", apply: { $0.runtimeSocket = "run/runtime.sock" }, message: "runtime socket"),
        Mutation(name: "socket in /", apply: { $0.runtimeSocket = "/runtime.sock" }, message: "runtime socket"),
        Mutation(name: "relative root", apply: { $0.rootMountPoint = "root" }, message: "root mount point"),
        Mutation(name: "relative opt", apply: { $0.opt = "layers" }, message: "opt path must be absolute"),
        Mutation(name: "relative executable", apply: { $0.executable = "bootstrap" }, message: "executable must be an absolute"),
        Mutation(name: "relative working dir", apply: { $0.workingDirectory = "var/task" }, message: "working directory"),
        Mutation(name: "empty hostname", apply: { $0.hostname = "" }, message: "hostname"),
        Mutation(name: "hostname with space", apply: { $0.hostname = "a b" }, message: "hostname"),
        Mutation(name: "hostname with slash", apply: { $0.hostname = "a/b" }, message: "hostname"),
        Mutation(name: "hostname non-ASCII", apply: { $0.hostname = "hé" }, message: "hostname"),
        Mutation(name: "hostname 65 bytes", apply: { $0.hostname = String(repeating: "h", count: 65) }, message: "hostname"),
        Mutation(name: "empty env name", apply: { $0.environment = [("", "x")] }, message: "environment variable"),
        Mutation(name: "env name with =", apply: { $0.environment = [("A=B", "x")] }, message: "A=B"),
        Mutation(name: "env value with NUL", apply: { $0.environment = [("A", "x\0y")] }, message: "environment variable"),
        Mutation(name: "argument with NUL", apply: { $0.arguments = ["a\0b"] }, message: "NUL"),
    ]

    @Test("an invalid value is rejected, naming it", arguments: invalid)
    func rejects(_ mutation: Mutation) {
        var spec = SandboxSpec.sample()
        mutation.apply(&spec)
        #expect(throws: SandboxSpecError.self) { try spec.validate() }
        do {
            try spec.validate()
        } catch {
            #expect(error.description.contains(mutation.message), "\(error.description)")
        }
    }

    static let validEdges: [Mutation] = [
        Mutation(name: "defaults", apply: { _ in }, message: ""),
        Mutation(name: "memory 128", apply: { $0.memoryMB = 128 }, message: ""),
        Mutation(name: "memory 10240", apply: { $0.memoryMB = 10240 }, message: ""),
        Mutation(name: "ephemeral 10240", apply: { $0.ephemeralStorageMB = 10240 }, message: ""),
        Mutation(name: "cpus 0", apply: { $0.cpus = 0 }, message: ""),
        Mutation(name: "cpus 64", apply: { $0.cpus = 64 }, message: ""),
        Mutation(name: "pids 1 open files 16", apply: { $0.pidsMax = 1; $0.openFilesLimit = 16 }, message: ""),
        Mutation(name: "port 0 and 65535", apply: { $0.runtimeAPIPort = 65535 }, message: ""),
        Mutation(name: "userns uid 65535", apply: { $0.userNamespace = true; $0.uid = 65535; $0.gid = 65535 }, message: ""),
        Mutation(name: "hostname 64 bytes", apply: { $0.hostname = String(repeating: "h", count: 64) }, message: ""),
        Mutation(name: "absolute opt and env", apply: { $0.opt = "/opt/l"; $0.environment = [("A", "=b c")] }, message: ""),
    ]

    @Test("values at the edges of their ranges are accepted", arguments: validEdges)
    func accepts(_ mutation: Mutation) throws {
        var spec = SandboxSpec.sample()
        mutation.apply(&spec)
        try spec.validate()
    }

    @Test("cpu quota: proportional to memory, explicit vCPUs, 0 means none, at least 1 ms",
          arguments: [
            (128, nil, 7236), (1769, nil, 100_000), (10240, nil, 578_858), (3538, nil, 200_000),
            (128, 2.0, 200_000), (10240, 0.25, 25_000), (128, 0.001, 1000), (128, 64.0, 6_400_000),
          ] as [(Int, Double?, Int)])
    func cpuQuota(memoryMB: Int, cpus: Double?, expected: Int) {
        var spec = SandboxSpec.sample()
        spec.memoryMB = memoryMB
        spec.cpus = cpus
        #expect(spec.cpuQuotaMicros == expected)
    }

    @Test func zeroCPUsMeansNoQuota() {
        var spec = SandboxSpec.sample()
        spec.cpus = 0
        #expect(spec.cpuQuotaMicros == nil)
        #expect(spec.cgroupLimits.cpuQuotaMicros == nil)
    }

    @Test func cgroupLimitsFromSpec() {
        var spec = SandboxSpec.sample()
        spec.memoryMB = 512
        spec.pidsMax = 77
        spec.cpus = 1.5
        #expect(spec.cgroupLimits == CgroupLimits(memoryBytes: 512 * 1024 * 1024, pidsMax: 77,
                                                  cpuQuotaMicros: 150_000, cpuPeriodMicros: 100_000))
    }

    @Test func equalityComparesValuesIncludingEnvironment() {
        var a = SandboxSpec.sample()
        var b = SandboxSpec.sample()
        a.environment = [("A", "1")]
        b.environment = [("A", "1")]
        #expect(a == b)
        b.environment = [("A", "2")]
        #expect(a != b)
        b = a
        b.memoryMB = 256
        #expect(a != b)
    }

    @Test func equalityIncludesUserNamespaceHostBase() {
        var a = SandboxSpec.sample()
        var b = SandboxSpec.sample()
        a.userNamespaceHostBase = 100_000
        b.userNamespaceHostBase = 200_000
        #expect(a != b)
    }
}
