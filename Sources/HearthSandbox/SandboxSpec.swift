/// A spec error: which value is wrong and why. Lower-case, names the value.
public enum SandboxSpecError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): return message
        }
    }
}

/// Everything that describes one sandbox, as plain values. Validated before any syscall.
///
/// The sandbox's root is `image` mounted read-only, with `code` read-only at `/var/task`,
/// `opt` read-only at `/opt`, a small tmpfs of its own holding the Runtime API socket
/// (`runtimeSocket`, made inside and handed to the supervisor), a tmpfs of `ephemeralStorageMB`
/// at `/tmp`, a minimal `/dev` and a fresh `/proc`.
public struct SandboxSpec: Sendable, Equatable {
    public static let memoryRange = 128...10240
    public static let ephemeralStorageRange = 512...10240
    /// Lambda gives one full vCPU at 1,769 MB.
    public static let megabytesPerVCPU = 1769.0
    public static let cpuPeriodMicros = 100_000

    /// Host path of the runtime image's root filesystem.
    public var image: String
    /// Host path of the function code, mounted at `/var/task`.
    public var code: String
    /// Host path of the merged layers, mounted at `/opt`, if any.
    public var opt: String?
    /// The Unix Runtime API socket, inside the sandbox (its folder becomes a tmpfs of the
    /// sandbox's own; the listener is passed to the supervisor), or nil for none.
    public var runtimeSocket: String? = "/run/hearth/runtime.sock"
    /// Empty host directory on which the root is assembled (in the sandbox's mount namespace).
    public var rootMountPoint: String

    public var memoryMB: Int = 128
    /// vCPUs; `nil` means proportional to memory, `0` means no quota.
    public var cpus: Double?
    /// Start with the CPU quota lifted (Lambda's init burst): the cgroup's
    /// `endCPUBurst()` applies the quota once the runtime has initialised.
    public var cpuInitBurst = false
    /// A pre-initialised runtime (ADR 0018): in a held sandbox (a shell) with hearth-init, the
    /// entrypoint is exec'd at once with the launch channel on fd 3 and initialises ahead of the
    /// launch (an interpreter importing its runtime client); the launch only passes it the go.
    public var preinitialize = false
    public var pidsMax: Int = 1024
    public var ephemeralStorageMB: Int = 512
    public var openFilesLimit: Int = 1024

    public var hostname: String = "hearth"
    public var uid: UInt32 = 993
    public var gid: UInt32 = 990
    /// Run in a new user namespace (required when the supervisor is not root).
    public var userNamespace: Bool = false
    /// Host uid/gid that sandbox uid/gid 0 maps to in a user namespace (a 65,536-id range).
    public var userNamespaceHostBase: UInt32 = 1_000_000_000
    /// The instance's own host uid/gid (from Hearth's range, `HostIDRange`), or nil. When set, the
    /// sandbox's processes run as these host ids, seen inside as `uid`/`gid` through a user namespace
    /// that the instance's uid creates and owns (so per-user kernel counters are the instance's own).
    /// Needs a root supervisor; excludes `userNamespace`.
    public var instanceIDs: (uid: UInt32, gid: UInt32)?
    /// TCP port the Runtime API listens on inside the sandbox (127.0.0.1), 0 for none.
    public var runtimeAPIPort: Int = 9001

    /// The executable, inside the sandbox.
    public var executable: String = "/var/task/bootstrap"
    public var arguments: [String] = []
    public var environment: [(String, String)] = []
    public var workingDirectory: String = "/var/task"

    public init(image: String, code: String, rootMountPoint: String) {
        self.image = image
        self.code = code
        self.rootMountPoint = rootMountPoint
    }

    public static func == (lhs: SandboxSpec, rhs: SandboxSpec) -> Bool {
        lhs.image == rhs.image && lhs.code == rhs.code && lhs.opt == rhs.opt
            && lhs.runtimeSocket == rhs.runtimeSocket && lhs.rootMountPoint == rhs.rootMountPoint
            && lhs.memoryMB == rhs.memoryMB && lhs.cpus == rhs.cpus && lhs.pidsMax == rhs.pidsMax
            && lhs.ephemeralStorageMB == rhs.ephemeralStorageMB && lhs.openFilesLimit == rhs.openFilesLimit
            && lhs.hostname == rhs.hostname && lhs.uid == rhs.uid && lhs.gid == rhs.gid
            && lhs.userNamespace == rhs.userNamespace && lhs.userNamespaceHostBase == rhs.userNamespaceHostBase
            && lhs.instanceIDs?.uid == rhs.instanceIDs?.uid && lhs.instanceIDs?.gid == rhs.instanceIDs?.gid
            && lhs.runtimeAPIPort == rhs.runtimeAPIPort
            && lhs.executable == rhs.executable && lhs.arguments == rhs.arguments
            && lhs.environment.map { "\($0.0)=\($0.1)" } == rhs.environment.map { "\($0.0)=\($0.1)" }
            && lhs.workingDirectory == rhs.workingDirectory
    }

    /// The CPU quota per period in microseconds, or nil for no quota.
    public var cpuQuotaMicros: Int? {
        let vcpus = cpus ?? Double(memoryMB) / Self.megabytesPerVCPU
        if vcpus <= 0 { return nil }
        return max(1000, Int((vcpus * Double(Self.cpuPeriodMicros)).rounded()))
    }

    public var cgroupLimits: CgroupLimits {
        var limits = CgroupLimits(memoryBytes: UInt64(memoryMB) << 20, pidsMax: pidsMax,
                                  cpuQuotaMicros: cpuQuotaMicros, cpuPeriodMicros: Self.cpuPeriodMicros)
        limits.cpuInitBurst = cpuInitBurst
        return limits
    }

    /// Checks every value; throws naming the first wrong one.
    public func validate() throws(SandboxSpecError) {
        if !Self.memoryRange.contains(memoryMB) {
            throw .invalid("memory \(memoryMB) MB is outside \(Self.memoryRange.lowerBound)–\(Self.memoryRange.upperBound) MB")
        }
        if !Self.ephemeralStorageRange.contains(ephemeralStorageMB) {
            throw .invalid("ephemeral storage \(ephemeralStorageMB) MB is outside \(Self.ephemeralStorageRange.lowerBound)–\(Self.ephemeralStorageRange.upperBound) MB")
        }
        if let cpus, cpus < 0 || cpus > 64 || cpus.isNaN { throw .invalid("cpu \(cpus) is outside 0–64 vCPUs") }
        if pidsMax < 1 { throw .invalid("pids limit \(pidsMax) must be at least 1") }
        if openFilesLimit < 16 { throw .invalid("open files limit \(openFilesLimit) must be at least 16") }
        if uid == 0 || gid == 0 { throw .invalid("sandbox uid/gid must not be 0 (uid \(uid), gid \(gid))") }
        if userNamespace && (uid >= 65536 || gid >= 65536) {
            throw .invalid("uid/gid \(uid)/\(gid) must be below 65536 in a user namespace")
        }
        if let ids = instanceIDs {
            if userNamespace { throw .invalid("instance ids and a supervisor-owned user namespace exclude each other") }
            if ids.uid == 0 || ids.gid == 0 || ids.uid == UInt32.max || ids.gid == UInt32.max {
                throw .invalid("instance host uid/gid \(ids.uid)/\(ids.gid) is not valid")
            }
        }
        if !(0...65535).contains(runtimeAPIPort) { throw .invalid("runtime API port \(runtimeAPIPort) is out of range") }
        for (name, path) in [("image", image), ("code", code), ("root mount point", rootMountPoint)] + (opt.map { [("opt", $0)] } ?? []) {
            if !path.hasPrefix("/") { throw .invalid("\(name) path must be absolute: \(path)") }
        }
        if let socket = runtimeSocket {
            // sun_path holds 107 bytes; the folder is a tmpfs of its own, so not / itself.
            let folder = socket.split(separator: "/").dropLast()
            if !socket.hasPrefix("/") || folder.isEmpty || socket.hasSuffix("/") || socket.utf8.count > 107 || socket.contains("\0") {
                throw .invalid("runtime socket must be an absolute path below a folder, at most 107 bytes: \(socket)")
            }
        }
        if !executable.hasPrefix("/") { throw .invalid("executable must be an absolute path in the sandbox: \(executable)") }
        if !workingDirectory.hasPrefix("/") { throw .invalid("working directory must be absolute: \(workingDirectory)") }
        if hostname.isEmpty || hostname.utf8.count > 64 || hostname.contains(where: { !$0.isASCII || $0 == "/" || $0.isWhitespace }) {
            throw .invalid("hostname is not valid: \(hostname)")
        }
        for (key, value) in environment {
            if key.isEmpty || key.contains("=") || key.contains("\0") {
                throw .invalid("environment variable name is not valid: \(key)")
            }
            if value.contains("\0") { throw .invalid("environment variable \(key) contains a NUL byte") }
        }
        if ([executable, workingDirectory, image, code] + arguments).contains(where: { $0.contains("\0") }) {
            throw .invalid("paths and arguments must not contain NUL bytes")
        }
    }
}

/// The limits a cgroup driver applies to one instance.
public struct CgroupLimits: Sendable, Equatable {
    public var memoryBytes: UInt64
    public var pidsMax: Int
    /// nil: no CPU quota.
    public var cpuQuotaMicros: Int?
    public var cpuPeriodMicros: Int
    /// Created with the quota lifted until `CgroupInstance.endCPUBurst()` (the init phase).
    public var cpuInitBurst = false

    public init(memoryBytes: UInt64, pidsMax: Int, cpuQuotaMicros: Int?, cpuPeriodMicros: Int) {
        self.memoryBytes = memoryBytes
        self.pidsMax = pidsMax
        self.cpuQuotaMicros = cpuQuotaMicros
        self.cpuPeriodMicros = cpuPeriodMicros
    }
}
