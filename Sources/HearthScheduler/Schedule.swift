// HearthScheduler: an expression in a zone between bounds, and its occurrences.
import Foundation

/// What fires when: an expression, its `ScheduleExpressionTimezone`, and the StartDate/EndDate
/// bounds. Pure: the caller supplies every instant (no clock is read here).
///
/// DST (ADR 0011): a cron or `at()` wall time that a spring-forward gap skips does not exist;
/// recurring schedules skip it, and an `at()` in a gap fires at the first instant after the gap.
/// A wall time repeated by a fall-back overlap fires once, at its first (daylight-time) instant.
public struct Schedule: Equatable, Sendable {
    public let expression: ScheduleExpression
    public let zone: TimeZone
    /// Inclusive lower bound; for `rate()`, the anchor occurrences are counted from.
    public let start: Date?
    /// Inclusive upper bound.
    public let end: Date?
    /// For `rate()` without a StartDate: when the schedule was created (it fires then, and
    /// every interval after). Ignored otherwise.
    public let created: Date

    public init(expression: ScheduleExpression, zone: TimeZone = TimeZone(identifier: "UTC")!, start: Date? = nil, end: Date? = nil, created: Date) {
        self.expression = expression
        self.zone = zone
        // "EventBridge Scheduler ignores StartDate/EndDate for one-time schedules".
        self.start = expression.isOneTime ? nil : start
        self.end = expression.isOneTime ? nil : end
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
    }

    /// Resolves an IANA zone name (`ScheduleExpressionTimezone`, 1-50 characters; UTC when absent).
    public static func zone(named name: String?) throws(ScheduleError) -> TimeZone {
        guard let name else { return TimeZone(identifier: "UTC")! }
        guard (1...50).contains(name.count), let zone = TimeZone(identifier: name), name.contains("/") || name == "UTC" || name == zone.identifier else {
            throw ScheduleError(message: "Invalid ScheduleExpressionTimezone \(name).", reason: "not an IANA time zone name")
        }
        return zone
    }

    /// The first occurrence strictly after `instant`, or nil when there is none (an `at()`
    /// already past, an EndDate reached, a cron's last year gone).
    public func next(after instant: Date) -> Date? {
        var after = instant
        if let start, start.timeIntervalSince1970 - 0.001 > after.timeIntervalSince1970 {
            after = Date(timeIntervalSince1970: start.timeIntervalSince1970 - 0.001)
        }
        let found: Date?
        switch expression {
        case .rate(let seconds):
            let anchor = (start ?? created).timeIntervalSince1970
            let t = after.timeIntervalSince1970
            let k = t < anchor ? 0 : ((t - anchor) / Double(seconds)).rounded(.down) + 1
            found = Date(timeIntervalSince1970: anchor + k * Double(seconds))
        case .at(let local):
            let when = local.instants(in: zone).first ?? Self.afterGap(local, zone)
            found = when > after ? when : nil
        case .cron(let cron):
            found = Self.cronNext(cron, after: after, zone)
        }
        guard let found else { return nil }
        if let end, found > end { return nil }
        return found
    }

    /// Up to `count` occurrences after `instant`, in order.
    public func occurrences(after instant: Date, count: Int) -> [Date] {
        var out: [Date] = []
        var t = instant
        while out.count < count, let n = next(after: t) {
            out.append(n)
            t = n
        }
        return out
    }

    static func cronNext(_ cron: CronExpression, after: Date, _ zone: TimeZone) -> Date? {
        // Start at the minute after `after`'s wall minute; walk wall minutes, skipping gaps and
        // the second pass of an overlap (its first instants are already behind `after`).
        var local = LocalTime(after, in: zone)
        local.second = 0
        var candidate = LocalTime(naiveSeconds: local.naiveSeconds + 60)
        // A wall clock can lag `after` by at most the largest DST shift; bound the walk.
        for _ in 0..<10_000 {
            guard let match = cron.next(atOrAfter: candidate) else { return nil }
            if let first = match.instants(in: zone).first, first > after { return first }
            candidate = LocalTime(naiveSeconds: match.naiveSeconds + 60)
        }
        return nil
    }

    /// The instant a wall time inside a gap would have had without the jump: the local time
    /// read with the offset in force just before the gap (02:30 in New York's spring-forward
    /// gap is 03:30 EDT).
    static func afterGap(_ local: LocalTime, _ zone: TimeZone) -> Date {
        let naive = local.naiveSeconds
        let before = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive - 86_400)))
        return Date(timeIntervalSince1970: Double(naive - Int64(before)))
    }
}
