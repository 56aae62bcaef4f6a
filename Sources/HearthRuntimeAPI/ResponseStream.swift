import Synchronization

/// A streamed response on its way from the runtime (`Lambda-Runtime-Function-Response-Mode:
/// streaming`) to the caller of `InvokeWithResponseStream`, as the runtime writes it.
///
/// Bounded: at most about `highWater` bytes wait for the caller. A write that takes the buffer
/// to the mark returns false and the runtime's connection stops being read until the caller has
/// taken half of it (`whenDrained`), so a 100 MB stream never sits in the supervisor. When the
/// caller goes away (`cancel()`), what follows is dropped and the runtime is read freely.
/// The first `finish` wins; parts after it are ignored. Thread-safe.
public final class ResponseStream: Sendable {
    public static let highWater = 256 * 1024

    /// How a stream ended badly: Lambda's error type and the error document or message.
    public struct Failure: Sendable, Equatable {
        public var type: String
        public var body: [UInt8]

        public init(type: String, body: [UInt8]) {
            self.type = type
            self.body = body
        }
    }

    public enum Part: Sendable, Equatable {
        /// The response begins; the runtime's `Content-Type`, if it sent one.
        case begin(contentType: String?)
        case chunk([UInt8])
        /// The response is complete (`nil`) or ended in error; bytes already sent stand.
        case end(Failure?)
    }

    struct State {
        var parts: [Part] = []
        var head = 0
        var buffered = 0
        var begun = false
        var finished = false
        /// The consumer has taken `.end`, or gave up.
        var done = false
        var cancelled = false
        /// The producer gave up before the response began (the invocation never ran).
        var aborted = false
        var waiter: CheckedContinuation<Part?, Never>?
        var onDrained: (@Sendable () -> Void)?

        mutating func pop() -> Part? {
            guard head < parts.count else { return nil }
            let part = parts[head]
            head += 1
            if head > 64 && head * 2 > parts.count {
                parts.removeFirst(head)
                head = 0
            }
            if case .chunk(let bytes) = part { buffered -= bytes.count }
            if case .end = part { done = true }
            return part
        }
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: producer (the runtime's side)

    /// The response begins (once; later calls are ignored).
    public func begin(contentType: String?) {
        push { s in
            if s.begun || s.finished { return nil }
            s.begun = true
            return .begin(contentType: contentType)
        }
    }

    /// Passes `bytes` on. False when the caller is behind: stop reading the runtime until `whenDrained`.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        var keepReading = true
        push { s in
            if s.finished || s.cancelled { return nil }
            var parts: [Part] = []
            if !s.begun {
                s.begun = true
                parts.append(.begin(contentType: nil))
            }
            if s.waiter == nil {
                s.buffered += bytes.count
                keepReading = s.buffered < Self.highWater
            }
            parts.append(.chunk(bytes))
            return parts
        }
        return keepReading
    }

    /// Ends the stream (once): complete, or with `failure`.
    public func finish(_ failure: Failure? = nil) {
        push { s in
            if s.finished { return nil }
            s.finished = true
            var parts: [Part] = []
            if !s.begun {
                s.begun = true
                parts.append(.begin(contentType: nil))
            }
            parts.append(.end(failure))
            return parts
        }
    }

    /// The invocation never started (throttled, not found): the consumer's `next()` returns nil.
    public func abort() {
        let waiter: CheckedContinuation<Part?, Never>? = state.withLock { s in
            if s.begun { return nil }
            s.aborted = true
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Calls `resume` once the caller has taken half the buffer (at once if it already has, or
    /// has gone away).
    public func whenDrained(_ resume: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { s in
            if s.buffered < Self.highWater / 2 || s.cancelled || s.done { return true }
            s.onDrained = resume
            return false
        }
        if now { resume() }
    }

    private func push(_ make: (inout State) -> Part?) {
        push { s in make(&s).map { [$0] } }
    }

    private func push(_ make: (inout State) -> [Part]?) {
        let waiter: (CheckedContinuation<Part?, Never>, Part)? = state.withLock { s in
            guard let new = make(&s), !new.isEmpty else { return nil }
            if let waiter = s.waiter {
                s.waiter = nil
                // The first part goes straight to the waiting consumer; the rest wait.
                for part in new.dropFirst() {
                    if case .chunk(let bytes) = part { s.buffered += bytes.count }
                    s.parts.append(part)
                }
                if case .end = new[0] { s.done = true }
                return (waiter, new[0])
            }
            for part in new {
                // A chunk's bytes were counted by write() when nobody was waiting.
                s.parts.append(part)
            }
            return nil
        }
        if let (continuation, part) = waiter { continuation.resume(returning: part) }
    }

    // MARK: consumer (the caller's side)

    /// The next part, waiting for it; nil after `.end` (or when the invocation never started).
    public func next() async -> Part? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Part?, Never>) in
            let (ready, drained): (Part??, (@Sendable () -> Void)?) = state.withLock { s in
                if let part = s.pop() {
                    var drained: (@Sendable () -> Void)?
                    if s.buffered < Self.highWater / 2, let resume = s.onDrained {
                        s.onDrained = nil
                        drained = resume
                    }
                    return (.some(part), drained)
                }
                if s.done || s.aborted { return (.some(nil), nil) }
                s.waiter = continuation
                return (nil, nil)
            }
            drained?()
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The caller went away: drop what is buffered and what comes; let the runtime write on.
    public func cancel() {
        let (drained, waiter): ((@Sendable () -> Void)?, CheckedContinuation<Part?, Never>?) = state.withLock { s in
            s.cancelled = true
            s.done = true
            s.parts = []
            s.head = 0
            s.buffered = 0
            defer { s.onDrained = nil; s.waiter = nil }
            return (s.onDrained, s.waiter)
        }
        drained?()
        waiter?.resume(returning: nil)
    }
}
