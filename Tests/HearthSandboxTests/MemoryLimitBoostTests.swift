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

    // MARK: the thrash verdict (ADR 0034)

    static let limit: UInt64 = 128 << 20

    /// A window like the one measured on the live-locked Python function: usage flat at the
    /// limit, 132 MB of anonymous memory (rss counts the swap cache too), 0.6 MB of file pages,
    /// 750 refaults every 100 ms.
    static func thrashing(_ count: Int = ThrashVerdict.window, anonGrowth: UInt64 = 0, file: UInt64 = 600 << 10,
                          refaultsPerSample: UInt64 = 750, usage: UInt64 = limit) -> [MemorySample] {
        (0..<count).map { i in
            MemorySample(usage: usage, anon: (120 << 20) + UInt64(i) * anonGrowth / UInt64(max(count - 1, 1)),
                         file: file, refaults: 5_000 + UInt64(i) * refaultsPerSample)
        }
    }

    @Test("a whole window at the limit, no progress, its few file pages refaulted over and over: out of memory")
    func thrashIsOutOfMemory() {
        let verdict = ThrashVerdict(limitBytes: Self.limit)
        #expect(verdict.outOfMemory(Self.thrashing()))
        #expect(verdict.outOfMemory(Self.thrashing(anonGrowth: 1 << 19)), "half a MiB in a second is no progress")
        #expect(!verdict.outOfMemory(Self.thrashing(ThrashVerdict.window - 1)), "less than a window: no verdict yet")
    }

    @Test("growing, idle at the limit, holding page cache, below the limit, or refaulting little: not out of memory")
    func notThrash() {
        let verdict = ThrashVerdict(limitBytes: Self.limit)
        #expect(!verdict.outOfMemory(Self.thrashing(anonGrowth: 8 << 20)), "anonymous memory grows: progress")
        #expect(!verdict.outOfMemory(Self.thrashing(refaultsPerSample: 0)), "idle at the limit")
        #expect(!verdict.outOfMemory(Self.thrashing(refaultsPerSample: 50)), "500 refaults a second: below the floor")
        #expect(!verdict.outOfMemory(Self.thrashing(file: 20 << 20)), "20 MB of page cache left to reclaim")
        #expect(!verdict.outOfMemory(Self.thrashing(usage: 100 << 20)), "below the threshold")
        var dipped = Self.thrashing()
        dipped[5].usage = 110 << 20
        #expect(!verdict.outOfMemory(dipped), "one sample below the limit: reclaim succeeded meanwhile")
        // 4 MiB of file pages (1,024) need 2,048 refaults in the window.
        #expect(!verdict.outOfMemory(Self.thrashing(file: 4 << 20, refaultsPerSample: 200)))
        #expect(verdict.outOfMemory(Self.thrashing(file: 4 << 20, refaultsPerSample: 210)))
    }

    @Test("memory.stat of v1 and v2, and of kernels before 5.9")
    func parseStat() {
        let v1 = "cache 622592\nrss 139116544\nrss_huge 0\nshmem 0\nmapped_file 401408\nworkingset_refault_anon 0\n"
            + "workingset_refault_file 81234\ninactive_anon 0\nactive_anon 139116544\ninactive_file 307200\nactive_file 315392\n"
            + "total_rss 1\ntotal_inactive_file 2\ntotal_active_file 3\ntotal_workingset_refault_file 4\n"
        #expect(MemorySample.parse(stat: v1, usage: 134_000_000)
                == MemorySample(usage: 134_000_000, anon: 139_116_544, file: 622_592, refaults: 81_234))
        let v2 = "anon 120586240\nfile 1048576\nkernel 4096000\nshmem 0\nactive_anon 0\ninactive_anon 120586240\n"
            + "active_file 524288\ninactive_file 524288\nworkingset_refault_anon 0\nworkingset_refault_file 99\n"
        #expect(MemorySample.parse(stat: v2, usage: 125_000_000)
                == MemorySample(usage: 125_000_000, anon: 120_586_240, file: 1_048_576, refaults: 99))
        let old = "rss 10\ninactive_file 1\nactive_file 2\nworkingset_refault 7\n"
        #expect(MemorySample.parse(stat: old, usage: 1)?.refaults == 7)
        #expect(MemorySample.parse(stat: "rss 10\ninactive_file 1\nactive_file 2\n", usage: 1) == nil, "no working-set accounting: no samples")
    }

    final class Samples: Sendable {
        let next: Mutex<[MemorySample]>
        let taken = Atomic<Int>(0)
        let kills = Atomic<Int>(0)
        init(_ samples: [MemorySample]) { next = Mutex(samples) }
        func take() -> MemorySample? {
            taken.add(1, ordering: .relaxed)
            return next.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        }
    }

    @Test("the watch samples from the limit on, kills once on the verdict, and stops below the limit or when ended")
    func thrashWatch() async throws {
        let source = Samples(Self.thrashing(30))
        let watch = MemoryThrashWatch(limitBytes: Self.limit) { source.take() } outOfMemory: { source.kills.add(1, ordering: .relaxed) }
        watch.limitReached()
        watch.limitReached()
        for _ in 0..<300 where source.kills.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(source.kills.load(ordering: .relaxed) == 1)
        #expect(watch.count == 1)
        #expect(source.taken.load(ordering: .relaxed) == ThrashVerdict.window, "a window of samples, one sampler")
        watch.limitReached()
        try await Task.sleep(for: .milliseconds(300))
        #expect(source.taken.load(ordering: .relaxed) == ThrashVerdict.window, "nothing after the verdict")

        let below = Samples(Self.thrashing(3) + Self.thrashing(30, usage: 64 << 20))
        let stops = MemoryThrashWatch(limitBytes: Self.limit) { below.take() } outOfMemory: { below.kills.add(1, ordering: .relaxed) }
        stops.limitReached()
        try await Task.sleep(for: .milliseconds(700))
        #expect(below.taken.load(ordering: .relaxed) == 4, "stopped at the first sample below the limit")
        #expect(below.kills.load(ordering: .relaxed) == 0)

        let ended = Samples(Self.thrashing(30))
        let ends = MemoryThrashWatch(limitBytes: Self.limit) { ended.take() } outOfMemory: { ended.kills.add(1, ordering: .relaxed) }
        ends.limitReached()
        try await Task.sleep(for: .milliseconds(250))
        ends.end()
        try await Task.sleep(for: .milliseconds(1_300))
        #expect(ended.kills.load(ordering: .relaxed) == 0, "ended before a whole window")
        #expect(ended.taken.load(ordering: .relaxed) <= 5)
    }
}

