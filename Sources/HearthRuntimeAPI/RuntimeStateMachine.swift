/// The per-instance Runtime API state machine: which calls are valid when, and what the
/// server must do. A value type; the server feeds it events and carries out the actions.
///
/// States: the runtime is initialising (no `/next` yet) → idle (waiting, maybe parked on a
/// long-polling `/next`) → invoking one request id → responded (its `/response` or `/error` is
/// in; the invocation goes on until the runtime's next `/next`, as on Lambda, so work after the
/// response belongs to it) → idle … ; `failed` after `/init/error`.
public struct RuntimeStateMachine: Sendable {
    public typealias ConnectionID = Int

    enum State: Sendable {
        case initializing(pending: Invocation?)
        case idle(parked: ConnectionID?, pending: Invocation?)
        case invoking(Invocation)
        /// The runtime answered; the invocation ends at its next `/next`. `pending` is one the
        /// supervisor handed over meanwhile (delivered at that `/next`).
        case responded(Invocation, pending: Invocation?)
        case failed
    }

    private var state: State = .initializing(pending: nil)
    private var initError: RuntimeOutcome?

    public init() {}

    public enum NextAction: Equatable, Sendable {
        /// Answer this connection's `/next` with the invocation.
        case deliver(Invocation, initCompleted: Bool)
        /// Keep the request open until an invocation arrives.
        case park(initCompleted: Bool)
        case reject(RuntimeAPIError)
    }

    public enum InvokeAction: Equatable, Sendable {
        /// Answer the parked `/next` on `connection`.
        case deliver(Invocation, to: ConnectionID)
        /// Hold it until the runtime asks.
        case queued
        /// The runtime already failed to initialise.
        case fail(RuntimeOutcome)
    }

    public enum PostAction: Equatable, Sendable {
        /// 202 to the runtime and complete the pending invocation (or the init) with the outcome.
        case accept(RuntimeOutcome)
        case reject(RuntimeAPIError)
    }

    /// The request id of the invocation the runtime is working on.
    public var currentRequestID: String? {
        if case .invoking(let invocation) = state { return invocation.requestID }
        return nil
    }

    /// The request id of an invocation that has its response but has not ended: the runtime
    /// has not asked for the next event yet.
    // Not inlined: Swift 6.3.1's -O CopyPropagation crashes ("Found outside of lifetime use")
    // on RuntimeAPIServer.next(on:channel:) with this getter inlined into it.
    @inline(never)
    public var respondedRequestID: String? {
        if case .responded(let invocation, _) = state { return invocation.requestID }
        return nil
    }

    /// The connection whose `/next` is parked while the instance has no work: the only request
    /// a well-behaved runtime has outstanding then (the server reads nothing else; ADR 0020).
    public var parkedWhileIdle: ConnectionID? {
        if case .idle(let parked?, nil) = state { return parked }
        return nil
    }

    /// The outcome of `/init/error`, once posted.
    public var reportedInitError: RuntimeOutcome? { initError }

    public var hasInitialized: Bool {
        switch state {
        case .initializing, .failed: return false
        default: return true
        }
    }

    /// `GET /next` arrived on `connection`.
    public mutating func next(on connection: ConnectionID) -> NextAction {
        switch state {
        case .initializing(let pending):
            if let pending {
                state = .invoking(pending)
                return .deliver(pending, initCompleted: true)
            }
            state = .idle(parked: connection, pending: nil)
            return .park(initCompleted: true)
        case .idle(let parked, let pending):
            if let pending {
                state = .invoking(pending)
                return .deliver(pending, initCompleted: false)
            }
            if parked != nil {
                return .reject(.invalidStateTransition("a /next request is already waiting"))
            }
            state = .idle(parked: connection, pending: nil)
            return .park(initCompleted: false)
        case .invoking(let invocation):
            return .reject(.invalidStateTransition("/next before a response or error for \(invocation.requestID)"))
        case .responded(_, let pending):
            // The answered invocation ends here.
            if let pending {
                state = .invoking(pending)
                return .deliver(pending, initCompleted: false)
            }
            state = .idle(parked: connection, pending: nil)
            return .park(initCompleted: false)
        case .failed:
            return .reject(.invalidStateTransition("/next after /init/error"))
        }
    }

    /// The supervisor has an invocation for this instance (at most one at a time).
    public mutating func invoke(_ invocation: Invocation) -> InvokeAction {
        switch state {
        case .initializing(nil):
            if let initError { return .fail(initError) }
            state = .initializing(pending: invocation)
            return .queued
        case .idle(let parked, nil):
            if let parked {
                state = .invoking(invocation)
                return .deliver(invocation, to: parked)
            }
            state = .idle(parked: nil, pending: invocation)
            return .queued
        case .responded(let answered, nil):
            state = .responded(answered, pending: invocation)
            return .queued
        case .failed:
            return .fail(initError ?? .initError(type: "Runtime.Unknown", body: []))
        case .initializing(.some), .idle(_, .some), .invoking, .responded(_, .some):
            preconditionFailure("an instance takes one invocation at a time")
        }
    }

    /// The parked `/next` connection went away.
    public mutating func connectionClosed(_ connection: ConnectionID) {
        if case .idle(let parked, let pending) = state, parked == connection {
            state = .idle(parked: nil, pending: pending)
        }
    }

    /// The supervisor gave up on the current invocation (timeout, instance killed).
    public mutating func abandon() {
        state = .failed
    }

    /// `POST /invocation/{id}/response` or `/error`: `outcome` is what the body amounts to.
    public mutating func post(requestID: String, outcome: RuntimeOutcome) -> PostAction {
        guard case .invoking(let invocation) = state, invocation.requestID == requestID else {
            return .reject(.invalidRequestID(requestID))
        }
        state = .responded(invocation, pending: nil)
        return .accept(outcome)
    }

    /// `POST /init/error`.
    public mutating func initError(type: String, body: [UInt8]) -> PostAction {
        switch state {
        case .initializing(let pending):
            let outcome = RuntimeOutcome.initError(type: type, body: body)
            initError = outcome
            state = .failed
            _ = pending
            return .accept(outcome)
        default:
            return .reject(.invalidStateTransition("/init/error after initialization"))
        }
    }
}
