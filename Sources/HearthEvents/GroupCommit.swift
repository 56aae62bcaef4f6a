// HearthEvents: group commit, the write pattern of the ledger and of Step Functions' starts.
import Dispatch
import Synchronization

/// Group commit: while one write runs (a transaction, written and fsynced), the requests that
/// arrive meanwhile collect and go in the next write together. A request's caller resumes once
/// the write holding it returned. Writes run on `queue` (serial, shared with the owner's other
/// storage calls), so blocking I/O never holds a cooperative thread. Thread-safe.
public final class GroupCommit<Request: Sendable, Response: Sendable>: Sendable {
    /// Writes the requests in one go; one response per request, in order.
    public typealias Write = @Sendable ([Request]) throws -> [Response]

    private let queue: DispatchQueue
    private let write: Write
    private let pending = Mutex<Pending>(Pending())

    private struct Pending {
        var requests: [Request] = []
        var waiters: [CheckedContinuation<Response, any Error>] = []
        var flushing = false
    }

    public init(queue: DispatchQueue, write: @escaping Write) {
        self.queue = queue
        self.write = write
    }

    /// Writes `request` with whatever else is pending; its response, or the write's error.
    public func submit(_ request: Request) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let startFlush = pending.withLock { p -> Bool in
                p.requests.append(request)
                p.waiters.append(continuation)
                if p.flushing { return false }
                p.flushing = true
                return true
            }
            if startFlush { queue.async { self.flush() } }
        }
    }

    /// On `queue`: everything pending in one write, until nothing more arrived.
    private func flush() {
        while true {
            let taken = pending.withLock { p -> (requests: [Request], waiters: [CheckedContinuation<Response, any Error>])? in
                if p.requests.isEmpty {
                    p.flushing = false
                    return nil
                }
                defer { (p.requests, p.waiters) = ([], []) }
                return (p.requests, p.waiters)
            }
            guard let taken else { return }
            do {
                let responses = try write(taken.requests)
                precondition(responses.count == taken.requests.count, "a group write answers each request")
                for (waiter, response) in zip(taken.waiters, responses) { waiter.resume(returning: response) }
            } catch {
                for waiter in taken.waiters { waiter.resume(throwing: error) }
            }
        }
    }
}
