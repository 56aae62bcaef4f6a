import Glibc
import Synchronization

/// What the thrash verdict reads of an instance's memory on every sample: its usage (v1
/// `memory.usage_in_bytes`, v2 `memory.current`) and, from `memory.stat`, its anonymous memory
/// (v1 `rss`, v2 `anon`), its file pages on the LRU lists and its cumulative file refaults.
struct MemorySample: Equatable, Sendable {
    var usage: UInt64
    var anon: UInt64
    var file: UInt64
    /// Pages evicted and faulted back in since the cgroup was made (`workingset_refault_file`,
    /// `workingset_refault` on kernels before 5.9).
    var refaults: UInt64

    /// Nil when `stat` lacks a field (a kernel without working-set accounting gets no verdict).
    static func parse(stat: String, usage: UInt64) -> MemorySample? {
        var anon: UInt64?, active: UInt64?, inactive: UInt64?, refaults: UInt64?, oldRefaults: UInt64?
        for line in stat.split(separator: "\n") {
            guard let space = line.firstIndex(of: " "), let value = UInt64(line[line.index(after: space)...]) else { continue }
            switch line[..<space] {
            case "anon", "rss": anon = value
            case "active_file": active = value
            case "inactive_file": inactive = value
            case "workingset_refault_file": refaults = value
            case "workingset_refault": oldRefaults = value
            default: continue
            }
        }
        guard let anon, let active, let inactive, let refaults = refaults ?? oldRefaults else { return nil }
        return MemorySample(usage: usage, anon: anon, file: active + inactive, refaults: refaults)
    }
}

/// Whether an instance at its memory limit is live-locked in reclaim (ADR 0034): its usage has
/// stayed at the limit for a whole window, its file pages are squeezed into the last
/// `margin` bytes, its anonymous memory has not grown (the allocation that brought it there
/// makes no progress), and it keeps faulting back the few file pages it has (its own code) at
/// least twice over. The kernel does not OOM-kill such a group, because each reclaim pass frees
/// a few pages; under a small CPU quota it stays there until the invocation times out.
struct ThrashVerdict: Sendable {
    static let interval: Duration = .milliseconds(100)
    /// Samples in a window: one second.
    static let window = 11
    /// Anonymous growth over the window that counts as progress.
    static let progressBytes: UInt64 = 1 << 20
    /// Refaults over the window below which nothing is thrashing (4 MiB of pages).
    static let minimumRefaults: UInt64 = 1024
    static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    /// Usage at or above this is at the limit (`MemoryLimitBoost.threshold`).
    let threshold: UInt64
    /// The room below the limit; file pages within it are squeezed.
    let margin: UInt64

    init(limitBytes: UInt64) {
        threshold = MemoryLimitBoost.threshold(limitBytes: limitBytes)
        margin = limitBytes - threshold
    }

    /// True when `samples` (oldest first, `interval` apart) span a whole window of thrashing.
    func outOfMemory(_ samples: [MemorySample]) -> Bool {
        guard samples.count >= Self.window, let first = samples.first, let last = samples.last else { return false }
        guard samples.allSatisfy({ $0.usage >= threshold && $0.file <= margin }) else { return false }
        guard last.anon <= first.anon + Self.progressBytes, last.refaults >= first.refaults else { return false }
        let filePages = (samples.map(\.file).max() ?? 0) / Self.pageSize
        return last.refaults - first.refaults >= max(Self.minimumRefaults, 2 * filePages)
    }
}

/// Samples one instance every `ThrashVerdict.interval` (on the `MemoryLimitWatcher` thread)
/// from the moment its usage reaches the limit until it falls below it, and calls
/// `outOfMemory` once if the verdict says it is live-locked. At its limit an instance costs two
/// reads of small cgroup files ten times a second; below it, nothing.
final class MemoryThrashWatch: Sendable {
    private struct State {
        var sampling = false
        var ended = false
        var samples: [MemorySample] = []
    }

    let verdict: ThrashVerdict
    private let state = Mutex(State())
    private let sample: @Sendable () -> MemorySample?
    private let outOfMemory: @Sendable () -> Void
    private let verdicts = Atomic<Int>(0)

    init(limitBytes: UInt64, sample: @escaping @Sendable () -> MemorySample?, outOfMemory: @escaping @Sendable () -> Void) {
        verdict = ThrashVerdict(limitBytes: limitBytes)
        self.sample = sample
        self.outOfMemory = outOfMemory
    }

    /// How many times the verdict was out of memory (0 or 1: the instance is killed).
    var count: Int { verdicts.load(ordering: .relaxed) }

    /// The usage reached the limit: start sampling unless already sampling.
    func limitReached() {
        let start = state.withLock { s in
            guard !s.sampling, !s.ended else { return false }
            s.sampling = true
            s.samples = []
            return true
        }
        if start { tick() }
    }

    /// The cgroup is going away, or the instance is being killed: no more samples or verdicts.
    func end() {
        state.withLock { $0.ended = true }
    }

    private enum Next { case stop, again, kill }

    private func tick() {
        let taken = sample()
        let next: Next = state.withLock { s in
            guard !s.ended, let taken, taken.usage >= verdict.threshold else {
                s.sampling = false
                return .stop
            }
            s.samples.append(taken)
            if s.samples.count > ThrashVerdict.window { s.samples.removeFirst(s.samples.count - ThrashVerdict.window) }
            guard verdict.outOfMemory(s.samples) else { return .again }
            s.ended = true
            s.sampling = false
            return .kill
        }
        switch next {
        case .stop: break
        case .again: MemoryLimitWatcher.shared.after(ThrashVerdict.interval) { [weak self] in self?.tick() }
        case .kill:
            // Counted before the kill: whoever sees the runtime die sees the verdict too.
            verdicts.add(1, ordering: .relaxed)
            outOfMemory()
        }
    }
}
