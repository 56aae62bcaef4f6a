import Foundation
import Testing
@testable import HearthSandbox

@Suite("SeccompPolicy: the data files, their parser and the compiled programs")
struct SeccompPolicyTests {
    static let policyDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/HearthSandbox/seccomp").standardized.path

    static func dataFile(_ arch: SeccompPolicy.Architecture) throws -> String {
        try String(contentsOfFile: policyDirectory + "/\(arch.rawValue).policy", encoding: .utf8)
    }

    @Test("the embedded copy matches the data files (run scripts/embed-seccomp after editing them)",
          arguments: SeccompPolicy.Architecture.allCases)
    func embeddedCopyMatchesTheDataFiles(_ arch: SeccompPolicy.Architecture) throws {
        let embedded = try #require(SeccompPolicy.embeddedPolicies[arch.rawValue])
        #expect(embedded + "\n" == (try Self.dataFile(arch)))
        #expect(SeccompPolicy.embeddedPolicies.count == SeccompPolicy.Architecture.allCases.count)
    }

    @Test("each shipped policy parses, validates and says its architecture", arguments: SeccompPolicy.Architecture.allCases)
    func shippedPolicyParses(_ arch: SeccompPolicy.Architecture) throws {
        let policy = try SeccompPolicy.shipped(for: arch)
        #expect(policy.architecture == arch)
        #expect(policy.defaultErrno == EPERM)
        #expect(policy.newerErrno == ENOSYS)
        try policy.validate()
        #expect(policy.rules.count > 250)
        for rule in policy.rules { #expect(!rule.reason.isEmpty, "\(rule.name) has no reason") }
        for name in ["read", "write", "openat", "mmap", "execve", "exit_group", "futex", "epoll_pwait", "rt_sigreturn"] {
            #expect(policy.unconditionallyAllowed.contains(name), "\(name)")
        }
        #expect(policy.rules.first { $0.name == "clone3" }?.action == .errno(ENOSYS))
    }

    @Test("every number agrees with libseccomp's tables where libseccomp knows the name",
          arguments: SeccompPolicy.Architecture.allCases)
    func numbersMatchLibseccomp(_ arch: SeccompPolicy.Architecture) throws {
        let policy = try SeccompPolicy.shipped(for: arch)
        var checked = 0
        for rule in policy.rules {
            guard let known = arch.libseccompNumber(of: rule.name) else { continue }
            #expect(known == rule.number, "\(arch) \(rule.name): policy \(rule.number), libseccomp \(known)")
            checked += 1
        }
        #expect(checked > policy.rules.count * 9 / 10)
    }

    @Test("at least as strict as Docker's default: everything allowed is allowed by Docker, and every Docker name is accounted for",
          arguments: SeccompPolicy.Architecture.allCases)
    func atLeastAsStrictAsDocker(_ arch: SeccompPolicy.Architecture) throws {
        let policy = try SeccompPolicy.shipped(for: arch)
        let docker = Set(DockerDefaultProfile.allowList)
        let allowed = Set(policy.rules.filter { $0.action == .allow }.map(\.name))
        #expect(allowed.subtracting(docker).subtracting(SeccompPolicy.conditional).isEmpty,
                "allowed beyond Docker: \(allowed.subtracting(docker).subtracting(SeccompPolicy.conditional).sorted())")
        let mentioned = Set(policy.rules.map(\.name))
        let missing = docker.filter { arch.libseccompNumber(of: $0) != nil && !mentioned.contains($0) && $0 != "clone3" }
        #expect(missing.isEmpty, "Docker names on \(arch) not in the policy: \(missing.sorted())")
        let deniedFromDocker = docker.intersection(mentioned).subtracting(allowed).subtracting(["clone3"])
        // io_setup and io_submit: fs.aio-max-nr is one host-wide pool (issue 11).
        #expect(deniedFromDocker == ["adjtimex", "clock_adjtime", "name_to_handle_at", "io_setup", "io_submit"])
        let personality = policy.rules.filter { $0.name == "personality" }.flatMap(\.conditions).map(\.value)
        #expect(personality == DockerDefaultProfile.personalityValues)
        for name in SeccompPolicy.forbidden { #expect(!allowed.contains(name), "\(name)") }
    }

    @Test("compiles with libseccomp for each architecture, within the kernel's 4096 instructions",
          arguments: SeccompPolicy.Architecture.allCases)
    func compiles(_ arch: SeccompPolicy.Architecture) throws {
        let program = try SeccompPolicy.shipped(for: arch).compile()
        #expect(program.count > 200 && program.count <= 4096, "\(program.count) instructions")
        if arch == .native {
            #expect(program.skippedRules == 0)
            #expect(try SeccompPolicy.compiledDefault.get().count == program.count)
        } else {
            // Only names newer than the installed libseccomp may be left out of a cross-compile.
            #expect(program.skippedRules < 20, "\(program.skippedRules) rules skipped")
        }
    }

    // MARK: - What the compiled programs answer, run through a classic BPF interpreter

    static let allow: UInt32 = 0x7fff_0000
    static func errno(_ value: Int32) -> UInt32 { 0x0005_0000 | UInt32(value) }

    func verdicts(_ arch: SeccompPolicy.Architecture) throws -> (SeccompPolicy, (String, [UInt64]) -> UInt32, SeccompProgram) {
        let policy = try SeccompPolicy.shipped(for: arch)
        let program = try policy.compile()
        let number = { (name: String) in policy.rules.first { $0.name == name }!.number }
        return (policy, { name, args in BPF.run(program.filter, nr: UInt32(number(name)), arch: arch.auditArch, args: args) }, program)
    }

    @Test("unconditional rules: allowed calls allowed, denied ones EPERM, clone3 ENOSYS", arguments: SeccompPolicy.Architecture.allCases)
    func unconditionalVerdicts(_ arch: SeccompPolicy.Architecture) throws {
        let (policy, verdict, program) = try verdicts(arch)
        for rule in policy.rules where rule.conditions.isEmpty {
            // A cross-compile leaves out names libseccomp does not know: those get the default.
            if arch != .native, arch.libseccompNumber(of: rule.name) == nil { continue }
            let expected = switch rule.action {
            case .allow: Self.allow
            case .deny: Self.errno(EPERM)
            case .errno(let value): Self.errno(value)
            }
            #expect(verdict(rule.name, []) == expected, "\(arch) \(rule.name)")
        }
        _ = program
    }

    @Test("numbers above the list get ENOSYS, gaps below it EPERM, other ABIs are killed", arguments: SeccompPolicy.Architecture.allCases)
    func newerAndForeign(_ arch: SeccompPolicy.Architecture) throws {
        let (policy, _, program) = try verdicts(arch)
        let highest = UInt32(policy.highestNumber)
        #expect(BPF.run(program.filter, nr: highest + 1, arch: arch.auditArch) == Self.errno(ENOSYS))
        #expect(BPF.run(program.filter, nr: 1000, arch: arch.auditArch) == Self.errno(ENOSYS))
        let used = Set(policy.rules.map { UInt32($0.number) })
        let gap = try #require((0..<highest).first { !used.contains($0) })
        #expect(BPF.run(program.filter, nr: gap, arch: arch.auditArch) == Self.errno(EPERM), "unlisted \(gap)")
        // Another architecture's calling convention (i386 on x86_64, arm on aarch64) is killed.
        let kill = BPF.run(program.filter, nr: 0, arch: arch == .x86_64 ? 0x4000_0003 : 0x4000_0028)
        #expect(kill & 0x7fff_0000 == 0, "foreign ABI gave \(String(kill, radix: 16))")
        if arch == .x86_64 {
            #expect(BPF.run(program.filter, nr: 0x4000_0000, arch: arch.auditArch) & 0x7fff_0000 == 0, "x32 read")
        }
    }

    @Test("argument filters: clone without namespaces, socket families and types, personality values",
          arguments: SeccompPolicy.Architecture.allCases)
    func argumentFilters(_ arch: SeccompPolicy.Architecture) throws {
        let (_, verdict, _) = try verdicts(arch)
        let thread: UInt64 = 0x003d_0f00  // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
        #expect(verdict("clone", [thread]) == Self.allow)
        #expect(verdict("clone", [17]) == Self.allow)  // fork: SIGCHLD
        for flag in [0x0002_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000, 0x0200_0000, 0x80] as [UInt64] {
            #expect(verdict("clone", [flag | 17]) == Self.errno(EPERM), "clone flag \(String(flag, radix: 16))")
        }
        let cloexec: UInt64 = 0o2000000, nonblock: UInt64 = 0o4000
        #expect(verdict("socket", [1, 1]) == Self.allow)                       // AF_UNIX stream
        #expect(verdict("socket", [1, 5 | cloexec]) == Self.allow)             // AF_UNIX seqpacket
        #expect(verdict("socket", [2, 1 | cloexec | nonblock]) == Self.allow)  // TCP
        #expect(verdict("socket", [2, 2, 1]) == Self.allow)                    // ICMP echo socket
        #expect(verdict("socket", [10, 1]) == Self.allow)
        #expect(verdict("socket", [10, 2 | cloexec]) == Self.allow)
        #expect(verdict("socket", [16, 3, 0]) == Self.allow)                   // NETLINK_ROUTE
        #expect(verdict("socket", [16, 3, 9]) == Self.errno(EPERM))            // NETLINK_AUDIT
        #expect(verdict("socket", [2, 3, 1]) == Self.errno(EPERM))             // raw IPv4
        #expect(verdict("socket", [10, 3 | cloexec, 58]) == Self.errno(EPERM)) // raw IPv6
        #expect(verdict("socket", [2, 10]) == Self.errno(EPERM))               // SOCK_PACKET
        #expect(verdict("socket", [17, 3]) == Self.errno(EPERM))               // AF_PACKET
        #expect(verdict("socket", [38, 5]) == Self.errno(EPERM))               // AF_ALG
        #expect(verdict("socket", [40, 1]) == Self.errno(EPERM))               // AF_VSOCK
        for value in DockerDefaultProfile.personalityValues { #expect(verdict("personality", [value]) == Self.allow) }
        #expect(verdict("personality", [0x0040000]) == Self.errno(EPERM))      // ADDR_NO_RANDOMIZE
    }

    // MARK: - Parser and invariants

    static let header = "arch x86_64\ndefault EPERM\nnewer ENOSYS\nenosys clone3 435 # fallback\n"

    @Test("the parser reads actions, numbers, conditions and reasons")
    func parses() throws {
        let policy = try SeccompPolicy(parsing: Self.header + """
            # a comment line

            allow read 0   # read files
            allow socket 41 if arg0 == 2 and arg1 & 0xf == 1  # tcp
            deny mount 165 # never
            """)
        #expect(policy.architecture == .x86_64)
        #expect(policy.rules.count == 4)
        #expect(policy.rules[1] == .init(name: "read", number: 0, action: .allow, reason: "read files"))
        #expect(policy.rules[2].conditions == [.init(argument: 0, op: .eq, value: 2), .init(argument: 1, op: .eq, mask: 0xf, value: 1)])
        #expect(policy.rules[3].action == .deny)
        #expect(policy.highestNumber == 435)
    }

    @Test("parse errors name the line and what is wrong", arguments: [
        ("allow read 0", "seccomp policy line 5: allow read needs a comment saying why"),
        ("alow read 0 # x", "seccomp policy line 5: unknown keyword \"alow\""),
        ("allow read zero # x", "seccomp policy line 5: bad system call number \"zero\" for read"),
        ("allow socket 41 if arg7 == 1 # x", "seccomp policy line 5: expected arg0…arg5, got \"arg7\""),
        ("allow socket 41 if arg0 = 1 # x", "seccomp policy line 5: expected `arg0 OP VALUE`, got \"arg0 = 1\""),
        ("allow socket 41 if arg0 == 1 or arg1 == 2 # x", "seccomp policy line 5: expected `and CONDITION`, got \"or arg1 == 2\""),
        ("allow clone 56 if arg0 & 0xf == 0x10 # x", "seccomp policy line 5: value 0x10 has bits outside mask 0xf"),
        ("default EBUSY", "seccomp policy line 5: expected `default ERRNO` (EACCES, EINVAL, ENOSYS, EPERM), got \"default EBUSY\""),
    ])
    func parseErrors(line: String, message: String) {
        #expect { try SeccompPolicy(parsing: Self.header + line) } throws: { "\($0)" == message }
    }

    @Test("a policy without arch, default or newer is refused")
    func missingHeader() {
        #expect(throws: SeccompPolicyError.invalid("no `arch` line")) { try SeccompPolicy(parsing: "default EPERM\nnewer ENOSYS\n") }
        #expect(throws: SeccompPolicyError.invalid("no `newer` line")) { try SeccompPolicy(parsing: "arch aarch64\ndefault EPERM\n") }
    }

    @Test("validate refuses what would open the sandbox", arguments: [
        ("allow mount 165 # x", "seccomp policy: mount is forbidden but allowed"),
        ("allow socket 41 # x", "seccomp policy: socket is allowed without conditions"),
        ("allow clone 56 if arg0 & 0x10000000 == 0 # x", "seccomp policy: clone is allowed without excluding every namespace flag"),
        ("allow read 0 # x\nallow read 0 # y", "seccomp policy: read is allowed twice"),
        ("allow read 0 # x\ndeny read 1 # y", "seccomp policy: read has two numbers: 0 and 1"),
        ("allow socket 41 if arg0 == 1 and arg0 == 2 # x", "seccomp policy: socket compares one argument twice in one rule"),
    ])
    func validateRefuses(line: String, message: String) throws {
        let policy = try SeccompPolicy(parsing: Self.header + line)
        #expect { try policy.validate() } throws: { "\($0)" == message }
        #expect(throws: SeccompPolicyError.self) { try policy.compile() }
    }

    @Test("clone3 must be present and fail with ENOSYS")
    func clone3Required() throws {
        let policy = try SeccompPolicy(parsing: "arch x86_64\ndefault EPERM\nnewer ENOSYS\nallow read 0 # x\n")
        #expect(throws: SeccompPolicyError.invalid("clone3 is missing: it must fail with ENOSYS")) { try policy.validate() }
    }

    @Test("compiling refuses a number libseccomp knows differently")
    func wrongNumberRefused() throws {
        let policy = try SeccompPolicy(parsing: Self.header.replacingOccurrences(of: "x86_64", with: SeccompPolicy.Architecture.native.rawValue)
            + "allow read 4000 # wrong\n")
        #expect(throws: SystemError.self) { try policy.compile() }
    }
}

/// A classic BPF interpreter for seccomp programs (struct seccomp_data input), enough for what
/// libseccomp emits and Hearth's ENOSYS stub.
enum BPF {
    static func run(_ program: [(code: UInt16, jt: UInt8, jf: UInt8, k: UInt32)], nr: UInt32, arch: UInt32,
                    args: [UInt64] = []) -> UInt32 {
        var data = [UInt8](repeating: 0, count: 64)
        func put32(_ value: UInt32, at offset: Int) {
            for i in 0..<4 { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        put32(nr, at: 0)
        put32(arch, at: 4)
        for (i, arg) in args.enumerated() {
            put32(UInt32(truncatingIfNeeded: arg), at: 16 + 8 * i)
            put32(UInt32(truncatingIfNeeded: arg >> 32), at: 20 + 8 * i)
        }
        var a: UInt32 = 0, x: UInt32 = 0, memory = [UInt32](repeating: 0, count: 16), pc = 0
        while pc < program.count {
            let (code, jt, jf, k) = program[pc]
            pc += 1
            let source = code & 0x08 != 0 ? x : k
            switch code & 0x07 {
            case 0x00:  // LD
                switch code & 0xe0 {
                case 0x20: a = UInt32(data[Int(k)]) | UInt32(data[Int(k) + 1]) << 8 | UInt32(data[Int(k) + 2]) << 16 | UInt32(data[Int(k) + 3]) << 24
                case 0x00: a = k
                case 0x60: a = memory[Int(k)]
                default: preconditionFailure("unsupported ld \(code)")
                }
            case 0x01: x = code & 0xe0 == 0x60 ? memory[Int(k)] : k  // LDX
            case 0x02: memory[Int(k)] = a  // ST
            case 0x03: memory[Int(k)] = x  // STX
            case 0x04:  // ALU
                switch code & 0xf0 {
                case 0x00: a &+= source
                case 0x10: a &-= source
                case 0x40: a |= source
                case 0x50: a &= source
                case 0x60: a <<= source
                case 0x70: a >>= source
                case 0xa0: a ^= source
                default: preconditionFailure("unsupported alu \(code)")
                }
            case 0x05:  // JMP
                let taken: Bool
                switch code & 0xf0 {
                case 0x00: pc += Int(k); continue
                case 0x10: taken = a == source
                case 0x20: taken = a > source
                case 0x30: taken = a >= source
                case 0x40: taken = a & source != 0
                default: preconditionFailure("unsupported jmp \(code)")
                }
                pc += Int(taken ? jt : jf)
            case 0x06: return code & 0x18 == 0x10 ? a : k  // RET
            default:
                if code & 0xf8 == 0x80 { a = x } else { x = a }  // MISC: TXA / TAX
            }
        }
        preconditionFailure("fell off the end of the program")
    }
}
