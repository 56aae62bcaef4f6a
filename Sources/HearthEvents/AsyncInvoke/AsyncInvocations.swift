// HearthEvents: Lambda's asynchronous-invocation semantics, as a ledger handler.
import Foundation

/// A function's asynchronous settings at the time of an attempt (its event invoke config for
/// the qualifier it was invoked with, and whether its reserved concurrency is 0).
public struct AsyncSettings: Sendable, Equatable {
    public var maximumRetryAttempts: Int
    public var maximumEventAgeSeconds: Int
    public var onSuccess: String?
    public var onFailure: String?
    public var reservedConcurrencyZero: Bool
    /// The version's `DeadLetterConfig.TargetArn` (an SQS queue ARN), nil when none.
    public var deadLetter: String?

    public static let defaultRetries = 2
    public static let defaultMaxAgeSeconds = 21_600

    public init(maximumRetryAttempts: Int = AsyncSettings.defaultRetries, maximumEventAgeSeconds: Int = AsyncSettings.defaultMaxAgeSeconds,
                onSuccess: String? = nil, onFailure: String? = nil, reservedConcurrencyZero: Bool = false, deadLetter: String? = nil) {
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeSeconds = maximumEventAgeSeconds
        self.onSuccess = onSuccess
        self.onFailure = onFailure
        self.reservedConcurrencyZero = reservedConcurrencyZero
        self.deadLetter = deadLetter
    }
}

/// How one attempt went.
public enum AttemptOutcome: Sendable, Equatable {
    /// The function answered (`functionError` nil) or failed (error, timeout, OOM, exit).
    case response(AttemptResponse)
    /// 429 from the pool: retried with backoff, not counted against retries.
    case throttled(reason: String)
    /// A Hearth-side failure (the sandbox could not start, …): as a throttle.
    case systemError(String)
    /// The function (or the qualifier) no longer exists: dropped.
    case gone(String)
}

/// What `AsyncInvocations` needs from the platform: settings, an attempt through the same path
/// as a synchronous Invoke, and where a destination ARN leads.
public protocol AsyncFunctionRunner: Sendable {
    /// The settings for `event`'s function and qualifier; nil if the function is gone. Throws
    /// for a transient failure (the event is retried with backoff).
    func settings(for event: AsyncEvent) async throws -> AsyncSettings?
    /// Runs one attempt (`invokeCount` is 1 for the first).
    func attempt(_ event: AsyncEvent, invokeCount: Int) async -> AttemptOutcome
    /// The qualified ARN of the function the event targets (for records of events that never ran).
    func functionARN(for event: AsyncEvent) -> String
    /// The event a destination ARN receives with `record` as its payload, or nil (with a reason)
    /// if the ARN cannot take deliveries.
    func destinationEvent(arn: String, record: [UInt8], source: AsyncEvent) -> Result<AsyncEvent, DestinationError>
}

public struct DestinationError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Observes the engine for metrics and logs. Every method has an empty default.
public protocol AsyncObserver: Sendable {
    func eventStarted(function: String, ageMs: Int64, redelivered: Bool)
    func eventDropped(function: String, reason: String)
    func destinationDelivered(function: String, condition: String)
    func destinationFailed(function: String, reason: String)
    /// An event could not be sent to the function's dead-letter queue (Lambda's DeadLetterErrors).
    func deadLetterFailed(function: String, reason: String)
    func log(_ line: String)
}

extension AsyncObserver {
    public func eventStarted(function: String, ageMs: Int64, redelivered: Bool) {}
    public func eventDropped(function: String, reason: String) {}
    public func destinationDelivered(function: String, condition: String) {}
    public func destinationFailed(function: String, reason: String) {}
    public func deadLetterFailed(function: String, reason: String) {}
    public func log(_ line: String) {}
}

public struct NoAsyncObserver: AsyncObserver {
    public init() {}
}

/// Delays between attempts.
public struct AsyncRetryPolicy: Sendable, Equatable {
    /// After the first and the second failed attempt (Lambda: 1 minute, then 2 minutes).
    public var retryDelaysMs: [Int64]
    /// Throttles and Hearth-side failures: `min(base * 2^n, cap)` (Lambda: 1 s doubling to 5 minutes).
    public var throttleBaseMs: Int64
    public var throttleCapMs: Int64

    public static let lambda = AsyncRetryPolicy(retryDelaysMs: [60_000, 120_000], throttleBaseMs: 1000, throttleCapMs: 300_000)

    public init(retryDelaysMs: [Int64], throttleBaseMs: Int64, throttleCapMs: Int64) {
        self.retryDelaysMs = retryDelaysMs
        self.throttleBaseMs = throttleBaseMs
        self.throttleCapMs = throttleCapMs
    }

    /// The delay after failed attempt number `attempt` (1-based).
    public func retryDelay(afterAttempt attempt: Int) -> Int64 {
        guard !retryDelaysMs.isEmpty else { return 0 }
        return retryDelaysMs[min(max(attempt, 1), retryDelaysMs.count) - 1]
    }

    /// The delay after the `n`th throttle (1-based).
    public func throttleDelay(afterThrottle n: Int) -> Int64 {
        let exponent = min(max(n - 1, 0), 30)
        return min(throttleBaseMs << Int64(exponent), throttleCapMs)
    }
}

/// Lambda's asynchronous invocation, as the handler of `lambda.invoke` ledger items.
///
/// Per attempt: an event older than `MaximumEventAgeInSeconds` fails with `EventAgeExceeded`;
/// reserved concurrency 0 fails it at once (`RetriesExhausted`, no attempt); a function error is
/// retried `MaximumRetryAttempts` times after the policy's delays, then fails with
/// `RetriesExhausted`; a throttle or Hearth-side failure is retried with exponential backoff
/// without using up retries. No retry is scheduled past the event's expiry: it is then due at
/// the expiry instant, where it fails as too old. Success and failure records go to the
/// destinations, added in the same transaction that finishes the event; a failed event also
/// goes, as it was sent, to the function's dead-letter queue (both fire when both are set); after
/// `maxDestinationHops` chained destinations the loop is stopped and the record dropped.
public struct AsyncInvocations: Sendable {
    public static let maxDestinationHops = 16

    public let runner: any AsyncFunctionRunner
    public let clock: any LedgerClock
    public let policy: AsyncRetryPolicy
    public let observer: any AsyncObserver
    /// Where SQS destination ARNs lead (nil: queues are undeliverable, with the reason recorded).
    public let queues: (any QueueMessages)?

    public init(runner: any AsyncFunctionRunner, clock: any LedgerClock, policy: AsyncRetryPolicy = .lambda,
                observer: any AsyncObserver = NoAsyncObserver(), queues: (any QueueMessages)? = nil) {
        self.runner = runner
        self.clock = clock
        self.policy = policy
        self.observer = observer
        self.queues = queues
    }

    /// Decides what becomes of `item` (one claim of it).
    public func handle(_ item: LedgerItem) async -> LedgerDecision {
        guard var event = try? AsyncEvent.decode(item.payload) else {
            observer.eventDropped(function: item.queue, reason: "Malformed")
            return .fail(reason: "Malformed: the ledger item's document could not be read", attempts: item.attempts, followUps: [])
        }
        let found: AsyncSettings?
        do {
            found = try await runner.settings(for: event)
        } catch {
            return backOff(event, item: item, error: "settings unavailable: \(error)", notAfter: .max)
        }
        guard let settings = found else {
            return drop(event, item: item, reason: "FunctionNotFound", detail: "the function or qualifier no longer exists")
        }
        let now = clock.nowMs()
        let expiresAt = item.createdAt + Int64(settings.maximumEventAgeSeconds) * 1000
        if now >= expiresAt {
            return failure(event, item: item, settings: settings, condition: .eventAgeExceeded, invokeCount: item.attempts)
        }
        if settings.reservedConcurrencyZero {
            return failure(event, item: item, settings: settings, condition: .retriesExhausted, invokeCount: item.attempts,
                           reason: "ReservedConcurrencyZero")
        }
        let redelivered = item.recoveries > (event.recoveriesSeen ?? 0)
        if redelivered { event.recoveriesSeen = item.recoveries }
        observer.eventStarted(function: event.function, ageMs: now - item.createdAt, redelivered: redelivered)
        let attempt = item.attempts + 1
        switch await runner.attempt(event, invokeCount: attempt) {
        case .response(let response) where response.functionError == nil:
            let record = record(event, condition: .success, invokeCount: attempt, response: response)
            return .complete(followUps: destination(settings.onSuccess, record: record, event: event, condition: .success))
        case .response(let response):
            event.lastResponse = response
            if attempt <= settings.maximumRetryAttempts {
                let due = min(clock.nowMs() + policy.retryDelay(afterAttempt: attempt), expiresAt)
                return .retry(dueAt: due, attempts: attempt, payload: event.encoded(), error: "function error (attempt \(attempt))")
            }
            var finished = item
            finished.attempts = attempt
            return failure(event, item: finished, settings: settings, condition: .retriesExhausted, invokeCount: attempt)
        case .throttled(let reason), .systemError(let reason):
            return backOff(event, item: item, error: reason, notAfter: expiresAt)
        case .gone(let detail):
            return drop(event, item: item, reason: "FunctionNotFound", detail: detail)
        }
    }

    /// A throttle or transient failure: due again after the next backoff step (not after
    /// `notAfter`), without using up a retry.
    private func backOff(_ event: AsyncEvent, item: LedgerItem, error: String, notAfter: Int64) -> LedgerDecision {
        var event = event
        event.throttles += 1
        let due = min(clock.nowMs() + policy.throttleDelay(afterThrottle: event.throttles), notAfter)
        return .retry(dueAt: due, attempts: item.attempts, payload: event.encoded(), error: error)
    }

    private func drop(_ event: AsyncEvent, item: LedgerItem, reason: String, detail: String) -> LedgerDecision {
        observer.eventDropped(function: event.function, reason: reason)
        if let source = event.destinationOf { observer.destinationFailed(function: source, reason: reason) }
        return .fail(reason: "\(reason): \(detail)", attempts: item.attempts, followUps: [])
    }

    private func failure(_ event: AsyncEvent, item: LedgerItem, settings: AsyncSettings, condition: InvocationRecordDocument.Condition,
                         invokeCount: Int, reason: String? = nil) -> LedgerDecision {
        let why = reason ?? condition.rawValue
        observer.eventDropped(function: event.function, reason: why)
        let record = record(event, condition: condition, invokeCount: invokeCount, response: event.lastResponse)
        let followUps = destination(settings.onFailure, record: record, event: event, condition: condition)
            + deadLetter(settings.deadLetter, event: event, reason: reason)
        return .fail(reason: why, attempts: invokeCount, followUps: followUps)
    }

    /// The first kilobyte of a dead-letter `ErrorMessage` (cut at a character boundary).
    public static let deadLetterMessageLimit = 1024

    /// The failed event, as it was sent, for the function's dead-letter queue, with Lambda's
    /// message attributes: `RequestID`, `ErrorCode` (Number: the HTTP status, 200 for a function
    /// error) and `ErrorMessage` (the error's `errorMessage`, its first 1 KB). An event that never
    /// got a response (throttled until it expired, reserved concurrency 0) has ErrorCode 429.
    private func deadLetter(_ arn: String?, event: AsyncEvent, reason: String?) -> [NewLedgerItem] {
        guard let arn, !arn.isEmpty else { return [] }
        let (code, message) = Self.deadLetterError(event.lastResponse, reason: reason)
        let attributes = [
            "RequestID": QueueMessageAttribute(dataType: "String", stringValue: event.requestID),
            "ErrorCode": QueueMessageAttribute(dataType: "Number", stringValue: String(code)),
            "ErrorMessage": QueueMessageAttribute(dataType: "String", stringValue: message),
        ]
        let result = queues.map { $0.message(queueARN: arn, body: event.payload, messageAttributes: attributes, now: clock.nowMs()) }
            ?? .failure(QueueMessageError("no queue service"))
        switch result {
        case .success(let item):
            return [item]
        case .failure(let error):
            observer.deadLetterFailed(function: event.function, reason: error.message)
            observer.log("hearth: \(event.function) request \(event.requestID): not sent to the dead-letter queue \(arn): \(error.message)")
            return []
        }
    }

    /// `ErrorCode` and `ErrorMessage` for a failed event.
    public static func deadLetterError(_ response: AttemptResponse?, reason: String?) -> (Int, String) {
        guard let response else {
            let message = reason == "ReservedConcurrencyZero"
                ? "Rate Exceeded. The function's reserved concurrency is 0." : "Rate Exceeded."
            return (429, message)
        }
        var text = String(decoding: response.payload, as: UTF8.self)
        if let object = try? JSONSerialization.jsonObject(with: Data(response.payload)) as? [String: Any],
           let message = object["errorMessage"] as? String {
            text = message
        }
        var cut = ""
        var bytes = 0
        for character in text {
            bytes += character.utf8.count
            if bytes > deadLetterMessageLimit { break }
            cut.append(character)
        }
        return (200, cut)
    }

    private func record(_ event: AsyncEvent, condition: InvocationRecordDocument.Condition, invokeCount: Int,
                        response: AttemptResponse?) -> [UInt8] {
        InvocationRecordDocument.json(requestID: event.requestID, functionARN: response?.functionARN ?? runner.functionARN(for: event),
                                      condition: condition, approximateInvokeCount: invokeCount,
                                      requestPayload: Array(event.payload.utf8), response: response, timestampMs: clock.nowMs())
    }

    private func destination(_ arn: String?, record: [UInt8], event: AsyncEvent, condition: InvocationRecordDocument.Condition) -> [NewLedgerItem] {
        guard let arn, !arn.isEmpty else { return [] }
        if event.hops + 1 >= Self.maxDestinationHops {
            observer.eventDropped(function: event.function, reason: "RecursiveInvocationLoop")
            observer.destinationFailed(function: event.function, reason: "RecursiveInvocationLoop")
            observer.log("hearth: recursive invocation loop detected: \(event.function) request \(event.requestID) would reach destination \(arn) after \(event.hops + 1) hops (limit \(Self.maxDestinationHops)); the \(condition.rawValue) record is dropped")
            return []
        }
        if arn.hasPrefix("arn:aws:sqs:") || arn.split(separator: ":").dropFirst(2).first == "sqs" {
            // The record becomes a message on the queue, added with this event's finish.
            let result = queues.map { $0.message(queueARN: arn, body: String(decoding: record, as: UTF8.self), attributes: [:], now: clock.nowMs()) }
                ?? .failure(QueueMessageError("no queue service"))
            switch result {
            case .success(let item):
                observer.destinationDelivered(function: event.function, condition: condition.rawValue)
                return [item]
            case .failure(let error):
                observer.destinationFailed(function: event.function, reason: error.message)
                observer.log("hearth: \(event.function) request \(event.requestID): \(condition.rawValue) record not delivered to \(arn): \(error.message)")
                return []
            }
        }
        switch runner.destinationEvent(arn: arn, record: record, source: event) {
        case .success(var next):
            next.hops = event.hops + 1
            next.destinationOf = event.function
            observer.destinationDelivered(function: event.function, condition: condition.rawValue)
            return [next.ledgerItem(dueAt: clock.nowMs())]
        case .failure(let error):
            observer.destinationFailed(function: event.function, reason: error.message)
            observer.log("hearth: \(event.function) request \(event.requestID): \(condition.rawValue) record not delivered to \(arn): \(error.message)")
            return []
        }
    }
}
