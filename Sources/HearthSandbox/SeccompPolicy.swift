import CHearthSpawn
#if canImport(Glibc)
import Glibc
#endif

/// The sandbox's system-call policy: an allow-list (default action EPERM), compiled with
/// libseccomp into a BPF program once per process, before any fork.
///
/// Invariants: never allows `clone` with namespace flags, `clone3` always fails with ENOSYS,
/// `socket` only for AF_UNIX, AF_INET, AF_INET6 and non-audit netlink.
public struct SeccompPolicy: Sendable, Equatable {
    /// Syscall names allowed without conditions. Names unknown on this architecture are skipped.
    public var allowed: [String]
    /// `personality(2)` values allowed.
    public var personalityValues: [UInt64]

    /// `clone` flags that make `clone` fail (namespace creation).
    public static let deniedCloneFlags: UInt64 =
        HEARTH_CLONE_NEWNS | HEARTH_CLONE_NEWUTS | HEARTH_CLONE_NEWIPC | HEARTH_CLONE_NEWUSER | HEARTH_CLONE_NEWPID
        | HEARTH_CLONE_NEWNET | HEARTH_CLONE_NEWCGROUP | HEARTH_CLONE_NEWTIME

    /// Syscalls that must never appear in `allowed` (Docker blocks them without CAP_SYS_ADMIN
    /// and friends, which sandboxes never hold).
    public static let forbidden: Set<String> = [
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "add_key", "request_key",
        "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
        "delete_module", "open_by_handle_at", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
        "stime", "swapon", "swapoff", "reboot", "iopl", "ioperm", "acct", "quotactl", "lookup_dcookie",
        "syslog", "vhangup", "nfsservctl", "create_module", "get_kernel_syms", "query_module", "uselib",
        "userfaultfd", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        "chroot", "name_to_handle_at", "clone3", "clone", "personality", "socket",
    ]

    /// Docker's default profile, plus the conditional rules in `hearth_seccomp_compile`.
    public static let `default` = SeccompPolicy(
        allowed: dockerDefaultAllowList.filter { !forbidden.contains($0) },
        personalityValues: dockerPersonalityValues)

    public init(allowed: [String], personalityValues: [UInt64]) {
        self.allowed = allowed
        self.personalityValues = personalityValues
    }

    /// Checks the policy itself: no forbidden syscall allowed, no duplicates.
    public func validate() throws(SandboxSpecError) {
        let bad = allowed.filter { Self.forbidden.contains($0) }
        if !bad.isEmpty { throw .invalid("seccomp policy allows forbidden syscalls: \(bad.joined(separator: ", "))") }
        if Set(allowed).count != allowed.count { throw .invalid("seccomp policy lists a syscall twice") }
    }

    /// Compiles the policy to BPF for the native architecture.
    public func compile() throws -> SeccompProgram {
        try validate()
        var cStrings = allowed.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var out: UnsafeMutableRawPointer?
        var count = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = cStrings.withUnsafeMutableBufferPointer { names in
            names.withMemoryRebound(to: UnsafePointer<CChar>.self) { constNames in
                personalityValues.withUnsafeBufferPointer { pers in
                    hearth_seccomp_compile(
                        constNames.baseAddress!, constNames.count, pers.baseAddress, pers.count,
                        Self.deniedCloneFlags, &out, &count, &message, message.count)
                }
            }
        }
        guard rc == 0, let out else {
            throw SystemError("compile seccomp policy: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))", errno: -rc)
        }
        return SeccompProgram(instructions: out, count: count)
    }

    /// The process-wide compiled default policy.
    public static let compiledDefault: Result<SeccompProgram, any Error> = Result { try SeccompPolicy.default.compile() }
}

/// A compiled BPF program (struct sock_filter[]), immutable once made; freed on deinit.
public final class SeccompProgram: Sendable {
    nonisolated(unsafe) let instructions: UnsafeMutableRawPointer
    /// Number of BPF instructions.
    public let count: Int

    init(instructions: UnsafeMutableRawPointer, count: Int) {
        self.instructions = instructions
        self.count = count
    }

    deinit { free(instructions) }
}
