// HearthQueues: per-queue counters for the metrics endpoint.
import Synchronization

/// What happened to each queue's messages since the supervisor started: `sent`, `received`,
/// `deleted`, `redriven` (moved to the dead-letter queue by a receive), `expired` (retention),
/// `moved` (by a message move task, counted on the source queue), `deduplicated` (FIFO sends
/// answered as duplicates, not queued). Thread-safe.
public final class QueueCounters: Sendable {
    private let counts = Mutex<[String: [String: Int]]>([:])

    public init() {}

    func add(_ queue: String, _ event: String, _ n: Int) {
        guard n > 0 else { return }
        counts.withLock { $0[queue, default: [:]][event, default: 0] += n }
    }

    /// Queue → event → count.
    public func snapshot() -> [String: [String: Int]] { counts.withLock { $0 } }
}
