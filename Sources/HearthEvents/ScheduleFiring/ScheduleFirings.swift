// HearthEvents: EventBridge Scheduler's firing, as the handler of `scheduler.fire` items.
import Foundation

/// Why a delivery to a schedule's target failed.
public struct ScheduleDeliveryError: Error, Sendable, Equatable {
    /// Scheduler's error code for the dead-letter message (`ResourceNotFoundException`, …).
    public var code: String
    public var message: String
    /// Retried per the RetryPolicy (a missing function, a throttle) or not (a payload too
    /// large, a target type Hearth cannot reach): then straight to the dead-letter queue.
    public var retryable: Bool

    public init(code: String, message: String, retryable: Bool) {
        self.code = code
        self.message = message
        self.retryable = retryable
    }
}

/// What the engine needs from the platform: the schedules as stored now, their deletion after
/// completion, and the item that invokes a Lambda function asynchronously.
public protocol ScheduleSource: Sendable {
    /// The schedule as stored now, nil if it was deleted. Throws for a transient failure.
    func schedule(group: String, name: String) async throws -> FiringSchedule?
    /// Deletes the schedule if it is still at `revision` (with its pending items).
    func deleteCompleted(group: String, name: String, revision: Int64) async throws
    /// The `lambda.invoke` item of an asynchronous invocation of `functionARN` with `payload`
    /// (the Lambda async core then applies the function's own retries and destinations), or why not.
    func lambdaInvoke(functionARN: String, payload: String, now: Int64) -> Result<NewLedgerItem, ScheduleDeliveryError>
    /// Starts an execution of the state machine `stateMachineARN` named `name` with `input`.
    /// The name is the occurrence's execution id, the same on every attempt, so a start repeated
    /// after a crash finds the execution it made (Step Functions' names are idempotent) and
    /// reports success instead of starting a second one.
    func statesStart(stateMachineARN: String, name: String, input: String) async -> Result<Void, ScheduleDeliveryError>
}

extension ScheduleSource {
    public func statesStart(stateMachineARN: String, name: String, input: String) async -> Result<Void, ScheduleDeliveryError> {
        .failure(ScheduleDeliveryError(code: "ValidationException", message: "Hearth has no Step Functions service here: \(stateMachineARN) cannot be started", retryable: false))
    }
}

/// Delays between Scheduler's delivery retries: `min(base * 2^(n-1), cap)`, then never past
/// the event's `MaximumEventAgeInSeconds`.
public struct ScheduleRetryPolicy: Sendable, Equatable {
    public var baseMs: Int64
    public var capMs: Int64

    public static let scheduler = ScheduleRetryPolicy(baseMs: 1000, capMs: 300_000)

    public init(baseMs: Int64, capMs: Int64) {
        self.baseMs = baseMs
        self.capMs = capMs
    }

    /// The delay after failed delivery number `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Int64 {
        min(baseMs << Int64(min(max(attempt - 1, 0), 30)), capMs)
    }
}

/// EventBridge Scheduler's firing, on the ledger (ADR 0012). Nothing keeps a timer: each
/// schedule has one pending `scheduler.fire` item for its next occurrence, due at the
/// occurrence plus its flexible-window offset; the dispatcher runs it then.
///
/// Handling an occurrence commits, in one transaction: the delivery (a `lambda.invoke` item,
/// or a queue message through `QueueMessages`), the item of the following occurrence (or, after
/// the last, the deletion when `ActionAfterCompletion` is DELETE), and the occurrence's
/// removal. A crash before that commit leaves the occurrence leased; the next supervisor runs it
/// again, and since nothing was delivered, it is delivered once.
///
/// A failed delivery (the function is missing) is retried per the target's RetryPolicy as a
/// `retry` item of its own, so the next occurrence is not held up; when retries or the event's
/// age run out, or the failure is not retryable, the dead-letter message goes to
/// `DeadLetterConfig` through `queues`, or, without a queue service, the item is kept failed
/// with the reason.
///
/// Catch-up after downtime: an occurrence handled more than `MaximumEventAgeInSeconds` after it
/// was due is recorded as missed (a failed item naming it and how many more were skipped) and
/// the chain resumes at the first occurrence still young enough; those fire once each, in order.
public struct ScheduleFirings: Sendable {
    /// Occurrences counted one by one when recording a run of missed ones.
    public static let missedCountLimit = 10_000

    public let source: any ScheduleSource
    public let clock: any LedgerClock
    public let policy: ScheduleRetryPolicy
    public let queues: (any QueueMessages)?
    public let log: @Sendable (String) -> Void

    public init(source: any ScheduleSource, clock: any LedgerClock, policy: ScheduleRetryPolicy = .scheduler,
                queues: (any QueueMessages)? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.source = source
        self.clock = clock
        self.policy = policy
        self.queues = queues
        self.log = log
    }

    /// Decides what becomes of `item` (one claim of it).
    public func handle(_ item: LedgerItem) async -> LedgerDecision {
        guard var doc = try? FireDocument.decode(item.payload) else {
            return .fail(reason: "Malformed: the ledger item's document could not be read", attempts: item.attempts, followUps: [])
        }
        if doc.action == .delete {
            do {
                try await source.deleteCompleted(group: doc.group, name: doc.name, revision: doc.revision)
                log("hearth: schedule \(doc.group)/\(doc.name) deleted after its last occurrence (ActionAfterCompletion DELETE)")
                return .complete(followUps: [])
            } catch {
                return .retry(dueAt: clock.nowMs() + policy.delay(afterAttempt: item.attempts + 1), attempts: item.attempts + 1,
                              payload: item.payload, error: "could not delete the schedule: \(error)")
            }
        }
        let found: FiringSchedule?
        do {
            found = try await source.schedule(group: doc.group, name: doc.name)
        } catch {
            return .retry(dueAt: clock.nowMs() + policy.delay(afterAttempt: item.attempts + 1), attempts: item.attempts + 1,
                          payload: item.payload, error: "the schedule could not be read: \(error)")
        }
        // Deleted, replaced or disabled since it was planned: nothing to do (UpdateSchedule and
        // DeleteSchedule remove pending items themselves; this covers a race with a lease).
        guard let schedule = found, schedule.revision == doc.revision, schedule.enabled else { return .complete(followUps: []) }
        let now = clock.nowMs()
        let maxAgeMs = Int64(schedule.target.maximumEventAgeSeconds) * 1000

        if doc.action == .fire && now - doc.fireAt > maxAgeMs {
            let (chain, skipped, last) = successors(schedule, after: doc.scheduledAt, now: now, skipOlderThan: maxAgeMs)
            var reason = "Missed: the occurrence at \(FireDocument.iso8601Seconds(ms: doc.scheduledAt)) was handled \((now - doc.fireAt) / 1000) s late (Hearth was not running), past the target's MaximumEventAgeInSeconds (\(schedule.target.maximumEventAgeSeconds)); not delivered"
            if skipped > 0 {
                reason += "; \(skipped >= Self.missedCountLimit ? "at least " : "")\(skipped) later occurrence(s) through \(FireDocument.iso8601Seconds(ms: last)) were missed too"
            }
            log("hearth: schedule \(doc.group)/\(doc.name): \(reason)")
            return .fail(reason: reason, attempts: item.attempts, followUps: chain)
        }
        if doc.action == .retry && now - doc.fireAt >= maxAgeMs {
            // A retry that came due only after the event's age (Hearth was not running meanwhile).
            let error = ScheduleDeliveryError(code: doc.lastErrorCode ?? "EventAgeExceeded", message: doc.lastErrorMessage ?? "the event is too old",
                                              retryable: true)
            return deadLetter(schedule, doc, error: error, condition: "MaximumEventAgeInSeconds", now: now, chain: [])
        }
        let chain = doc.action == .fire ? successors(schedule, after: doc.scheduledAt, now: now, skipOlderThan: maxAgeMs).items : []

        switch await deliver(schedule, doc, now: now) {
        case .success(let delivery):
            return .complete(followUps: (delivery.map { [$0] } ?? []) + chain)
        case .failure(let error):
            doc.attempts += 1
            doc.lastErrorCode = error.code
            doc.lastErrorMessage = error.message
            let due = now + policy.delay(afterAttempt: doc.attempts)
            let retriesLeft = doc.attempts <= schedule.target.maximumRetryAttempts
            let young = due < doc.fireAt + maxAgeMs
            guard error.retryable, retriesLeft, young else {
                let condition = !error.retryable ? nil : !retriesLeft ? "MaximumRetryAttempts" : "MaximumEventAgeInSeconds"
                return deadLetter(schedule, doc, error: error, condition: condition, now: now, chain: chain)
            }
            if doc.action == .fire {
                var retry = doc
                retry.action = .retry
                return .complete(followUps: [retry.ledgerItem(dueAt: due)] + chain)
            }
            return .retry(dueAt: due, attempts: doc.attempts, payload: doc.encoded(), error: "\(error.code): \(error.message)")
        }
    }

    /// The items that follow the occurrence at `after`: the next occurrence's (skipping and
    /// counting those already older than the event age), or after the last the deletion when
    /// `ActionAfterCompletion` is DELETE.
    func successors(_ schedule: FiringSchedule, after: Int64, now: Int64, skipOlderThan maxAgeMs: Int64)
        -> (items: [NewLedgerItem], skipped: Int, last: Int64) {
        var t = after, skipped = 0, last = after
        while let next = schedule.occurrence(after: t) {
            let fireAt = next + schedule.flexibleOffset(next)
            guard now - fireAt > maxAgeMs else { return ([schedule.fireItem(next)], skipped, last) }
            skipped += 1
            last = next
            t = next
            if skipped >= Self.missedCountLimit {
                // Jump to the young ones without counting the rest.
                t = max(t, now - maxAgeMs - schedule.flexibleWindowMs - 1)
            }
        }
        return (schedule.deleteAfterCompletion ? [schedule.deleteItem(dueAt: now)] : [], skipped, last)
    }

    /// One delivery attempt: the follow-up item that carries the payload to the target (a
    /// Lambda invoke, an SQS message), or none when the delivery is already done (a Step
    /// Functions execution, started idempotently under the occurrence's execution id).
    func deliver(_ schedule: FiringSchedule, _ doc: FireDocument, now: Int64) async -> Result<NewLedgerItem?, ScheduleDeliveryError> {
        let payload = doc.payload(input: schedule.target.input)
        let arn = schedule.target.arn
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        let service = parts.count > 2 ? String(parts[2]) : ""
        switch service {
        case "lambda":
            return source.lambdaInvoke(functionARN: arn, payload: payload, now: now).map { Optional($0) }
        case "states":
            return await source.statesStart(stateMachineARN: arn, name: doc.executionID, input: payload).map { nil }
        case "sqs":
            guard let queues else {
                return .failure(ScheduleDeliveryError(code: "ServiceUnavailable", message: "Hearth has no queue service yet: \(arn) cannot take messages", retryable: false))
            }
            return queues.message(queueARN: arn, body: payload, attributes: [:], now: now)
                .map { Optional($0) }
                .mapError { ScheduleDeliveryError(code: "ResourceNotFoundException", message: $0.message, retryable: true) }
        default:
            return .failure(ScheduleDeliveryError(code: "ValidationException", message: "Hearth cannot deliver to \(arn)", retryable: false))
        }
    }

    /// Retries are over: the dead-letter message (Scheduler's attributes) through `queues`, or
    /// the item kept failed with why.
    func deadLetter(_ schedule: FiringSchedule, _ doc: FireDocument, error: ScheduleDeliveryError, condition: String?, now: Int64,
                    chain: [NewLedgerItem]) -> LedgerDecision {
        var reason = "\(error.code): \(error.message) (after \(doc.attempts) attempt(s)\(condition.map { "; \($0) exhausted" } ?? "; not retryable"))"
        guard let dlq = schedule.target.deadLetterArn else {
            log("hearth: schedule \(doc.group)/\(doc.name) occurrence \(FireDocument.iso8601Seconds(ms: doc.scheduledAt)) not delivered: \(reason)")
            return .fail(reason: reason, attempts: doc.attempts, followUps: chain)
        }
        guard let queues else {
            reason += "; dead-letter queue \(dlq) not reached: Hearth has no queue service yet"
            log("hearth: schedule \(doc.group)/\(doc.name) occurrence \(FireDocument.iso8601Seconds(ms: doc.scheduledAt)) not delivered: \(reason)")
            return .fail(reason: reason, attempts: doc.attempts, followUps: chain)
        }
        var attributes = [
            "ERROR_CODE": error.code, "ERROR_MESSAGE": error.message, "EXECUTION_ID": doc.executionID,
            "RETRY_ATTEMPTS": String(max(0, doc.attempts - 1)), "SCHEDULE_ARN": doc.scheduleArn, "TARGET_ARN": schedule.target.arn,
        ]
        if let condition { attributes["EXHAUSTED_RETRY_CONDITION"] = condition }
        var sent = doc  // the payload of the last attempt
        sent.attempts = max(0, doc.attempts - 1)
        switch queues.message(queueARN: dlq, body: sent.payload(input: schedule.target.input), attributes: attributes, now: now) {
        case .success(let message):
            return .fail(reason: reason + "; sent to the dead-letter queue \(dlq)", attempts: doc.attempts, followUps: [message] + chain)
        case .failure(let sendError):
            reason += "; dead-letter queue \(dlq) not reached: \(sendError.message)"
            log("hearth: schedule \(doc.group)/\(doc.name): \(reason)")
            return .fail(reason: reason, attempts: doc.attempts, followUps: chain)
        }
    }
}
