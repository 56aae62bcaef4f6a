// HearthEvents: a stored schedule as the firing engine sees it, and the items it plans.
import Foundation
import HearthScheduler

/// What a schedule fires at: EventBridge Scheduler's `Target`, as stored.
public struct FiringTarget: Sendable, Equatable {
    public var arn: String
    /// The `Input` JSON text; nil: the default envelope is sent.
    public var input: String?
    public var maximumRetryAttempts: Int
    public var maximumEventAgeSeconds: Int
    /// `DeadLetterConfig.Arn` (an SQS queue ARN).
    public var deadLetterArn: String?

    /// Scheduler's defaults: 185 retries within 24 hours.
    public init(arn: String, input: String? = nil, maximumRetryAttempts: Int = 185, maximumEventAgeSeconds: Int = 86_400,
                deadLetterArn: String? = nil) {
        self.arn = arn
        self.input = input
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeSeconds = maximumEventAgeSeconds
        self.deadLetterArn = deadLetterArn
    }
}

/// A schedule, decoded from its stored definition, with what the engine plans from it: its
/// occurrences (HearthScheduler's `next(after:)`), the flexible-window offset of each, and
/// the `scheduler.fire` ledger items that carry them.
///
/// Pure: every instant is passed in (Unix epoch milliseconds).
public struct FiringSchedule: Sendable, Equatable {
    public var arn: String
    public var group: String
    public var name: String
    public var enabled: Bool
    /// The stored schedule's last modification (ms). An item planned from another revision is
    /// stale (UpdateSchedule removes them in its own transaction; this is the second fence).
    public var revision: Int64
    public var schedule: Schedule
    /// `FlexibleTimeWindow.MaximumWindowInMinutes` in ms; 0 for `OFF`.
    public var flexibleWindowMs: Int64
    public var target: FiringTarget
    /// `ActionAfterCompletion: DELETE`.
    public var deleteAfterCompletion: Bool

    public init(arn: String, group: String, name: String, enabled: Bool, revision: Int64, schedule: Schedule,
                flexibleWindowMs: Int64 = 0, target: FiringTarget, deleteAfterCompletion: Bool = false) {
        self.arn = arn
        self.group = group
        self.name = name
        self.enabled = enabled
        self.revision = revision
        self.schedule = schedule
        self.flexibleWindowMs = flexibleWindowMs
        self.target = target
        self.deleteAfterCompletion = deleteAfterCompletion
    }

    /// Decodes the definition document the Scheduler API stores (GetSchedule's fields:
    /// `ScheduleExpression`, `ScheduleExpressionTimezone`, `StartDate`/`EndDate` in epoch
    /// seconds, `FlexibleTimeWindow`, `ActionAfterCompletion`, `Target`).
    public init(arn: String, group: String, name: String, enabled: Bool, revision: Int64, created: Date, definition: [UInt8]) throws {
        guard let doc = try JSONSerialization.jsonObject(with: Data(definition)) as? [String: Any],
              let text = doc["ScheduleExpression"] as? String,
              let target = doc["Target"] as? [String: Any], let targetArn = target["Arn"] as? String
        else { throw FiringError("the schedule's stored definition cannot be read") }
        let expression: ScheduleExpression
        let zone: TimeZone
        do {
            expression = try ScheduleExpression(text)
            zone = try Schedule.zone(named: doc["ScheduleExpressionTimezone"] as? String)
        } catch {
            throw FiringError("the stored expression \(text) no longer parses: \(error.message)")
        }
        func date(_ key: String) -> Date? { (doc[key] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) } }
        let window = doc["FlexibleTimeWindow"] as? [String: Any]
        let minutes = window?["Mode"] as? String == "FLEXIBLE" ? (window?["MaximumWindowInMinutes"] as? NSNumber)?.int64Value ?? 0 : 0
        let retry = target["RetryPolicy"] as? [String: Any]
        self.init(arn: arn, group: group, name: name, enabled: enabled, revision: revision,
                  schedule: Schedule(expression: expression, zone: zone, start: date("StartDate"), end: date("EndDate"), created: created),
                  flexibleWindowMs: minutes * 60_000,
                  target: FiringTarget(arn: targetArn, input: target["Input"] as? String,
                                       maximumRetryAttempts: (retry?["MaximumRetryAttempts"] as? NSNumber)?.intValue ?? 185,
                                       maximumEventAgeSeconds: (retry?["MaximumEventAgeInSeconds"] as? NSNumber)?.intValue ?? 86_400,
                                       deadLetterArn: (target["DeadLetterConfig"] as? [String: Any])?["Arn"] as? String),
                  deleteAfterCompletion: doc["ActionAfterCompletion"] as? String == "DELETE")
    }

    /// The ledger queue of this schedule's items: `group/name`.
    public var queue: String { Self.queue(group: group, name: name) }

    public static func queue(group: String, name: String) -> String { "\(group)/\(name)" }

    /// The first occurrence strictly after `ms`.
    public func occurrence(after ms: Int64) -> Int64? {
        schedule.next(after: Date(timeIntervalSince1970: Double(ms) / 1000)).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// Where in the flexible window an occurrence fires: a pseudo-random offset in
    /// `[0, window)`, drawn from the schedule ARN and the occurrence (FNV-1a), so it is spread
    /// like Scheduler's and yet the same on every node and after every restart (ADR 0012).
    public func flexibleOffset(_ occurrence: Int64) -> Int64 {
        guard flexibleWindowMs > 0 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(arn)@\(occurrence)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int64(hash % UInt64(flexibleWindowMs))
    }

    /// The `scheduler.fire` item for one occurrence (idempotency key: schedule ARN and occurrence).
    public func fireItem(_ occurrence: Int64) -> NewLedgerItem {
        let doc = FireDocument(action: .fire, scheduleArn: arn, group: group, name: name, revision: revision, scheduledAt: occurrence,
                               fireAt: occurrence + flexibleOffset(occurrence))
        return doc.ledgerItem()
    }

    /// The item of the first occurrence at or after `from` (ms), nil when the schedule is
    /// disabled or has none left: what CreateSchedule, UpdateSchedule and start-up plant.
    public func firstItem(from: Int64) -> NewLedgerItem? {
        guard enabled, let first = occurrence(after: from - 1) else { return nil }
        return fireItem(first)
    }

    /// The item that deletes the schedule after its last occurrence (`ActionAfterCompletion: DELETE`).
    public func deleteItem(dueAt: Int64) -> NewLedgerItem {
        FireDocument(action: .delete, scheduleArn: arn, group: group, name: name, revision: revision, scheduledAt: dueAt, fireAt: dueAt)
            .ledgerItem()
    }
}

/// A schedule that cannot be planned from (its stored definition is unreadable).
public struct FiringError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
