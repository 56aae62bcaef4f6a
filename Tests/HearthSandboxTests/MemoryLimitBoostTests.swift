import CHearthSpawn
import Foundation
import Synchronization
import Testing
@testable import HearthSandbox

/// The CPU boost at the memory limit (issue 10): once per invocation, ended after its duration,
/// never after the cgroup has gone.
@Suite("MemoryLimitBoost")
struct MemoryLimitBoostTests {
    final class Calls: Sendable {
        let values = Mutex<[Bool]>([])
        func record(_ value: Bool) { values.withLock { $0.append(value) } }
        var all: [Bool] { values.withLock { $0 } }
    }

    static func settle() async throws {
        try await Task.sleep(for: MemoryLimitBoost.duration + .milliseconds(300))
    }

    @Test("one boost per invocation, restored after its duration")
    func oncePerInvocation() async throws {
        let calls = Calls()
        let boost = MemoryLimitBoost { calls.record($0) }
        boost.limitReached()
        boost.limitReached()
        #expect(calls.all == [true])
        try await Self.settle()
        #expect(calls.all == [true, false])
        boost.limitReached()
        #expect(calls.all == [true, false], "no second boost in the same invocation")
        boost.rearm()
        boost.limitReached()
        try await Self.settle()
        #expect(calls.all == [true, false, true, false])
        #expect(boost.count == 2)
    }

    @Test("after end nothing is raised or restored")
    func endStopsEverything() async throws {
        let calls = Calls()
        let boost = MemoryLimitBoost { calls.record($0) }
        boost.limitReached()
        boost.end()
        try await Self.settle()
        boost.rearm()
        boost.limitReached()
        #expect(calls.all == [true])
    }

    @Test("the v1 threshold: 1/32 of the limit below it, 2 to 64 MiB")
    func threshold() {
        #expect(MemoryLimitBoost.threshold(limitBytes: 128 << 20) == 124 << 20)
        #expect(MemoryLimitBoost.threshold(limitBytes: 32 << 20) == 30 << 20)
        #expect(MemoryLimitBoost.threshold(limitBytes: 10_240 << 20) == (10_240 - 64) << 20)
    }

    @Test("the watcher calls a handler when its descriptor is readable, and not after unregister")
    func watcherDeliversEvents() async throws {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        defer { close(fd) }
        let count = Atomic<Int>(0)
        let token = MemoryLimitWatcher.shared.register(fd: fd) { count.add(1, ordering: .relaxed) }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
        for _ in 0..<100 where count.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(count.load(ordering: .relaxed) == 1, "drained once, called once")
        MemoryLimitWatcher.shared.unregister(token)
        _ = write(fd, &one, 8)
        try await Task.sleep(for: .milliseconds(100))
        #expect(count.load(ordering: .relaxed) == 1)
    }
}
