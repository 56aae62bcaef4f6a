import Foundation
import Synchronization

/// The host uids/gids Hearth owns, one pair per instance (pre-forked shells included): instance
/// `n` runs as host uid and gid `start + n`, seen inside its sandbox as Lambda's 993/990.
///
/// Per-user kernel counters (inotify instances, queued signals, POSIX message queues, pipe pages,
/// epoll watches) are then one instance's own, not one pool for every tenant. The range must hold
/// no id of the host's `/etc/passwd` or `/etc/group` (checked by `validate`), so no host account
/// shares an instance's counters or owns its files.
///
/// Ids are handed out in turn around the range (starting at a random place, so two supervisors
/// given the same range rarely meet) and a released id goes to the back: it is reused only after
/// every other free id, and only once released, which the instance does after its sandbox and
/// cgroup are gone (no process of the previous holder can remain).
public final class HostIDRange: Sendable {
    public static let defaultStart: UInt32 = 2_147_000_000
    public static let defaultCount: UInt32 = 65_536

    public let start: UInt32
    public let count: UInt32
    private let state: Mutex<(free: [UInt32], head: Int, inUse: Set<UInt32>)>

    /// `START:COUNT`, e.g. `2147000000:65536`.
    public static func parse(_ text: String) throws -> (start: UInt32, count: UInt32) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = UInt32(parts[0]), let count = UInt32(parts[1]) else {
            throw HearthError.setup("--uid-range must be START:COUNT (e.g. \(defaultStart):\(defaultCount)), not \(text)")
        }
        return (start, count)
    }

    /// Checks the range against the host's accounts; throws naming the first clash.
    public init(start: UInt32 = defaultStart, count: UInt32 = defaultCount,
                passwd: String = "/etc/passwd", group: String = "/etc/group") throws {
        guard count >= 1 else { throw HearthError.setup("uid range \(start):\(count) is empty") }
        guard start >= 1, UInt64(start) + UInt64(count) <= UInt64(UInt32.max) else {
            throw HearthError.setup("uid range \(start):\(count) must lie within 1–\(UInt32.max - 1) (0 is root, \(UInt32.max) is no id)")
        }
        let end = UInt64(start) + UInt64(count)
        for (file, kind) in [(passwd, "user"), (group, "group")] {
            for (name, id) in Self.entries(file) where UInt64(id) >= UInt64(start) && UInt64(id) < end {
                throw HearthError.setup("uid range \(start):\(count) holds \(kind) \(name) (id \(id)) of \(file): choose a range with no host account (--uid-range START:COUNT)")
            }
        }
        self.start = start
        self.count = count
        let offset = UInt32.random(in: 0..<count)
        let order = (0..<count).map { start + (offset + $0) % count }
        state = Mutex((order, 0, []))
    }

    /// (name, id) of each line of a passwd or group file (the third field).
    static func entries(_ file: String) -> [(String, UInt32)] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 3, let id = UInt32(fields[2]) else { return nil }
            return (String(fields[0]), id)
        }
    }

    /// An id no one holds, or nil when every id of the range is in use.
    public func acquire() -> UInt32? {
        state.withLock { s in
            guard s.head < s.free.count else { return nil }
            let id = s.free[s.head]
            s.head += 1
            // Compact now and then so the queue does not grow without bound.
            if s.head > 4096 && s.head * 2 > s.free.count {
                s.free.removeFirst(s.head)
                s.head = 0
            }
            s.inUse.insert(id)
            return id
        }
    }

    /// Gives `id` back, after everything that ran as it has ended. It goes to the back of the queue.
    public func release(_ id: UInt32) {
        state.withLock { s in
            guard s.inUse.remove(id) != nil else { return }
            s.free.append(id)
        }
    }

    /// How many ids are held now.
    public var inUseCount: Int { state.withLock { $0.inUse.count } }
}
