import NIOCore

/// One instance's budget of Runtime API requests that do no useful work: a token bucket.
///
/// A well-behaved runtime makes about two requests per invocation (`/next`, then `/response`
/// or `/error`), each of which the supervisor asked for by handing over an invocation, so those
/// are never charged. What is charged is what a runtime cannot need: a request that is refused
/// (any 4xx answer: unknown route, wrong method, foreign or stale request id, a second `/next`,
/// a second body) and a connection that closes without one accepted answer (connection churn,
/// a parked `/next` dropped and reopened, a malformed request the HTTP decoder rejects). While
/// the bucket is empty the instance's connections are not read, held requests are not answered
/// and its listeners accept nothing, until it refills: the supervisor spends at most
/// `capacity` refused requests at once and `refillPerSecond` a second on one instance, whatever
/// the instance sends (ADR 0020).
///
/// A value type; the server keeps one per instance on its event loop.
struct RequestBudget: Sendable {
    /// Refused requests an instance may make at once.
    static let capacity = 64.0
    /// Refused requests an instance may make a second, sustained.
    static let refillPerSecond = 32.0

    private var tokens = Self.capacity
    /// When `tokens` was last brought up to date (only meaningful while below capacity).
    private var updated = NIODeadline.uptimeNanoseconds(0)

    /// Whether a request may be served now. Costs no clock read while the bucket holds a token
    /// (the warm path of a well-behaved runtime never charges it).
    mutating func hasToken(now: @autoclosure () -> NIODeadline) -> Bool {
        if tokens >= 1 { return true }
        refill(now: now())
        return tokens >= 1
    }

    /// Charges one refused request or wasted connection.
    mutating func charge(now: NIODeadline) {
        refill(now: now)
        tokens -= 1
    }

    /// How long until a token is available again (zero if one is).
    func delayUntilToken() -> TimeAmount {
        if tokens >= 1 { return .zero }
        let seconds = (1 - tokens) / Self.refillPerSecond
        return .nanoseconds(Int64((seconds * 1e9).rounded(.up)))
    }

    private mutating func refill(now: NIODeadline) {
        if tokens < Self.capacity {
            let (a, b) = (now.uptimeNanoseconds, updated.uptimeNanoseconds)
            let elapsed = Double(a > b ? a - b : 0) / 1e9
            tokens = min(Self.capacity, tokens + elapsed * Self.refillPerSecond)
        }
        updated = now
    }
}
