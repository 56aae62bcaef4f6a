import Testing
@testable import HearthSandbox

/// The sandbox's init keeps running under the seccomp filter it loads (spawn.c): every call
/// it makes afterwards must stay allowed, or every start fails.
@Suite("What the sandbox init needs after its seccomp filter")
struct SpawnSeccompNeedsTests {
    @Test func defaultPolicyAllowsTheInitsCalls() throws {
        let allowed = try SeccompPolicy.shipped(for: .native).unconditionallyAllowed
        // wait_for_launch, the function's vfork + execve, the exec report, the reaping loop.
        for name in ["read", "write", "close", "close_range", "sendmsg", "vfork", "execve", "dup2", "dup3", "openat", "chdir",
                     "setsid", "rt_sigprocmask", "prctl", "poll", "ppoll", "wait4", "signalfd4", "exit_group"] {
            #expect(allowed.contains(name), "\(name)")
        }
    }
}
