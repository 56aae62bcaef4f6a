// HearthEvents: time, injected.
import Foundation
import Synchronization

/// The ledger's and engines' notion of now, in Unix epoch milliseconds. Injected so retry,
/// backoff and event-age logic is tested without sleeping.
public protocol LedgerClock: Sendable {
    func nowMs() -> Int64
}

/// Wall-clock time.
public struct SystemLedgerClock: LedgerClock {
    public init() {}
    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock tests move by hand. Thread-safe.
public final class ManualLedgerClock: LedgerClock {
    private let now: Mutex<Int64>

    public init(_ start: Int64 = 1_700_000_000_000) {
        now = Mutex(start)
    }

    public func nowMs() -> Int64 { now.withLock { $0 } }

    public func advance(ms: Int64) {
        now.withLock { $0 += ms }
    }

    public func advance(seconds: Double) {
        advance(ms: Int64(seconds * 1000))
    }
}
