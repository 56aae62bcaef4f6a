// HearthEvents: a schedule's occurrence as the ledger holds it, and what its target receives.
import Foundation

/// The document of a `scheduler.fire` ledger item. Encoded as JSON in the item's payload.
public struct FireDocument: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        /// An occurrence: deliver it, and plant the next one (in the same transaction).
        case fire
        /// A delivery retry of an occurrence whose first attempt failed (the next occurrence was
        /// already planted then).
        case retry
        /// `ActionAfterCompletion: DELETE`: remove the schedule after its last occurrence.
        case delete
    }

    public var action: Action
    public var scheduleArn: String
    public var group: String
    public var name: String
    /// The schedule revision it was planned from (`FiringSchedule.revision`).
    public var revision: Int64
    /// The occurrence (ms): `<aws.scheduler.scheduled-time>` and the envelope's `time`.
    public var scheduledAt: Int64
    /// When it is due: the occurrence plus its flexible-window offset. Event age counts from here.
    public var fireAt: Int64
    /// `<aws.scheduler.execution-id>`: one per occurrence, the same on every attempt.
    public var executionID: String
    /// The default envelope's `id`.
    public var eventID: String
    /// Delivery attempts made so far (`<aws.scheduler.attempt-number>` is this plus one).
    public var attempts: Int
    /// The last delivery failure, for the dead-letter message.
    public var lastErrorCode: String?
    public var lastErrorMessage: String?

    public init(action: Action, scheduleArn: String, group: String, name: String, revision: Int64, scheduledAt: Int64, fireAt: Int64,
                executionID: String = FireDocument.newExecutionID(), eventID: String = UUID().uuidString.lowercased(), attempts: Int = 0) {
        self.action = action
        self.scheduleArn = scheduleArn
        self.group = group
        self.name = name
        self.revision = revision
        self.scheduledAt = scheduledAt
        self.fireAt = fireAt
        self.executionID = executionID
        self.eventID = eventID
        self.attempts = attempts
    }

    /// 16 characters of `[0-9a-z]`, like Scheduler's (`d32c5kddcf5bb8c3`).
    public static func newExecutionID() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        return String((0..<16).map { _ in alphabet.randomElement()! })
    }

    /// The item's idempotency key: the schedule ARN and the occurrence, so planting an
    /// occurrence twice (a retried request, start-up reconciliation) adds it once.
    public var idempotencyKey: String {
        switch action {
        case .fire: "\(scheduleArn)@\(scheduledAt)"
        case .retry: "\(scheduleArn)@\(scheduledAt)/retry"
        case .delete: "\(scheduleArn)/delete@\(revision)"
        }
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func decode(_ bytes: [UInt8]) throws -> FireDocument {
        try JSONDecoder().decode(FireDocument.self, from: Data(bytes))
    }

    public func ledgerItem(dueAt: Int64? = nil) -> NewLedgerItem {
        NewLedgerItem(kind: LedgerKind.schedulerFire, queue: FiringSchedule.queue(group: group, name: name), payload: encoded(),
                      dueAt: dueAt ?? fireAt, idempotencyKey: idempotencyKey)
    }

    // MARK: what the target receives

    /// The payload: the target's `Input` with the context attributes substituted, or without
    /// `Input` Scheduler's default envelope, whose `detail` is the string `"{}"` (not an object).
    public func payload(input: String?) -> String {
        let time = Self.iso8601Seconds(ms: scheduledAt)
        guard let input else {
            let parts = scheduleArn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let region = parts.count > 3 ? parts[3] : "", account = parts.count > 4 ? parts[4] : ""
            return "{\"version\":\"0\",\"id\":\(InvocationRecordDocument.string(eventID)),\"detail-type\":\"Scheduled Event\",\"source\":\"aws.scheduler\","
                + "\"account\":\(InvocationRecordDocument.string(account)),\"time\":\(InvocationRecordDocument.string(time)),\"region\":\(InvocationRecordDocument.string(region)),"
                + "\"resources\":[\(InvocationRecordDocument.string(scheduleArn))],\"detail\":\"{}\"}"
        }
        return input.replacingOccurrences(of: "<aws.scheduler.schedule-arn>", with: scheduleArn)
            .replacingOccurrences(of: "<aws.scheduler.scheduled-time>", with: time)
            .replacingOccurrences(of: "<aws.scheduler.execution-id>", with: executionID)
            .replacingOccurrences(of: "<aws.scheduler.attempt-number>", with: String(attempts + 1))
    }

    /// `2022-03-22T18:59:43Z`.
    public static func iso8601Seconds(ms: Int64) -> String {
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }
}
