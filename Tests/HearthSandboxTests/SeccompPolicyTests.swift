import Testing
@testable import HearthSandbox

@Suite("SeccompPolicy")
struct SeccompPolicyTests {
    @Test func defaultPolicyIsValidAndAllowsNothingForbidden() throws {
        let policy = SeccompPolicy.default
        try policy.validate()
        #expect(policy.allowed.filter { SeccompPolicy.forbidden.contains($0) }.isEmpty)
        #expect(Set(policy.allowed).count == policy.allowed.count)
        // The everyday syscalls a runtime needs are there.
        for name in ["read", "write", "openat", "mmap", "execve", "exit_group", "futex", "epoll_wait", "rt_sigreturn"] {
            #expect(policy.allowed.contains(name), "\(name)")
        }
    }

    @Test func defaultDropsForbiddenNamesFromDockersList() {
        // Docker allows these unconditionally; Hearth must not.
        for name in ["adjtimex", "clock_adjtime", "name_to_handle_at"] {
            #expect(SeccompPolicy.dockerDefaultAllowList.contains(name))
            #expect(!SeccompPolicy.default.allowed.contains(name))
        }
        #expect(SeccompPolicy.default.allowed.count == SeccompPolicy.dockerDefaultAllowList.count - 3)
    }

    @Test func dockerListMatchesItsDocumentation() {
        #expect(SeccompPolicy.dockerDefaultAllowList.count == 372)
        #expect(Set(SeccompPolicy.dockerDefaultAllowList).count == SeccompPolicy.dockerDefaultAllowList.count)
        for names in SeccompPolicy.dockerArchSpecificAllowList.values {
            for name in names { #expect(SeccompPolicy.dockerDefaultAllowList.contains(name), "\(name)") }
        }
        #expect(SeccompPolicy.default.personalityValues == [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff])
    }

    @Test func forbiddenCoversNamespaceAndMountSyscalls() {
        for name in ["mount", "umount2", "pivot_root", "unshare", "setns", "bpf", "clone", "clone3", "socket",
                     "personality", "chroot", "kexec_load", "init_module", "userfaultfd", "open_tree", "fsopen"] {
            #expect(SeccompPolicy.forbidden.contains(name), "\(name)")
        }
    }

    @Test func deniedCloneFlagsAreExactlyTheNamespaceFlags() {
        let expected: UInt64 = 0x0002_0000 /* NEWNS */ | 0x0400_0000 /* NEWUTS */ | 0x0800_0000 /* NEWIPC */
            | 0x1000_0000 /* NEWUSER */ | 0x2000_0000 /* NEWPID */ | 0x4000_0000 /* NEWNET */
            | 0x0200_0000 /* NEWCGROUP */ | 0x0000_0080 /* NEWTIME */
        #expect(SeccompPolicy.deniedCloneFlags == expected)
        // Threads (CLONE_VM|CLONE_THREAD|CLONE_SIGHAND…) stay allowed.
        #expect(SeccompPolicy.deniedCloneFlags & 0x0001_0f00 == 0)
    }

    @Test("validate rejects a forbidden syscall, naming it", arguments: ["mount", "unshare", "clone3", "socket"])
    func validateRejectsForbidden(_ name: String) {
        let policy = SeccompPolicy(allowed: ["read", name, "write"], personalityValues: [])
        #expect(throws: SandboxSpecError.invalid("seccomp policy allows forbidden syscalls: \(name)")) {
            try policy.validate()
        }
    }

    @Test func validateRejectsDuplicates() {
        let policy = SeccompPolicy(allowed: ["read", "write", "read"], personalityValues: [])
        #expect(throws: SandboxSpecError.invalid("seccomp policy lists a syscall twice")) { try policy.validate() }
    }

    @Test func compileChecksThePolicyFirst() {
        let policy = SeccompPolicy(allowed: ["read", "mount"], personalityValues: [])
        #expect(throws: SandboxSpecError.self) { try policy.compile() }
    }

    @Test func defaultCompilesToABPFProgram() throws {
        let program = try SeccompPolicy.default.compile()
        #expect(program.count > 200)
        #expect(program.count <= 4096)  // BPF_MAXINSNS: the kernel rejects longer filters
        let compiled = try SeccompPolicy.compiledDefault.get()
        #expect(compiled.count == program.count)
    }

    @Test func unknownSyscallNamesAreSkipped() throws {
        let small = try SeccompPolicy(allowed: ["read", "write"], personalityValues: [0]).compile()
        let withUnknown = try SeccompPolicy(allowed: ["read", "no_such_syscall_xyz", "write"], personalityValues: [0]).compile()
        #expect(withUnknown.count == small.count)
        let larger = try SeccompPolicy(allowed: ["read", "write", "getpid", "gettid"], personalityValues: [0]).compile()
        #expect(larger.count > small.count)
        #expect(small.count < (try SeccompPolicy.default.compile()).count)
    }
}
