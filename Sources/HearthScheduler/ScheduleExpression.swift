// HearthScheduler: rate(…), cron(…) and at(…), parsed and validated.
import Foundation

/// An EventBridge Scheduler `ScheduleExpression`.
public enum ScheduleExpression: Equatable, Sendable {
    /// `rate(value unit)`: a fixed duration (a day is 24 hours, not a wall-clock day).
    case rate(seconds: Int64)
    /// `cron(…)`: wall-clock minutes in the schedule's zone.
    case cron(CronExpression)
    /// `at(yyyy-mm-ddThh:mm:ss)`: one wall-clock second in the schedule's zone.
    case at(LocalTime)

    /// Longest expression AWS accepts.
    public static let maxLength = 256

    /// Parses `text` exactly as Scheduler does: no whitespace around the parentheses' content
    /// beyond single spaces between fields, units singular for 1 and plural otherwise.
    public init(_ text: String) throws(ScheduleError) {
        guard !text.isEmpty, text.count <= Self.maxLength else { throw .expression(text, "length must be 1-256") }
        guard text.hasSuffix(")"), let open = text.firstIndex(of: "(") else {
            throw .expression(text, "expected rate(…), cron(…) or at(…)")
        }
        let kind = text[..<open]
        let body = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        switch kind {
        case "rate": self = .rate(seconds: try Self.rate(body, text))
        case "cron": self = .cron(try CronExpression(fields: body, expression: text))
        case "at": self = .at(try Self.at(body, text))
        default: throw .expression(text, "expected rate(…), cron(…) or at(…)")
        }
    }

    static func rate(_ body: String, _ text: String) throws(ScheduleError) -> Int64 {
        let parts = body.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int64(parts[0]), value >= 1
        else { throw .expression(text, "rate takes a positive whole number and a unit: rate(5 minutes)") }
        let unit = String(parts[1])
        let seconds: Int64
        switch unit {
        case "minute", "minutes": seconds = 60
        case "hour", "hours": seconds = 3600
        case "day", "days": seconds = 86_400
        default: throw .expression(text, "rate unit must be minute(s), hour(s) or day(s)")
        }
        guard (value == 1) == !unit.hasSuffix("s") else {
            throw .expression(text, value == 1 ? "rate(1 …) takes a singular unit" : "a rate above 1 takes a plural unit")
        }
        let (total, overflow) = value.multipliedReportingOverflow(by: seconds)
        guard !overflow, total <= 1_000_000_000 * 86_400 else { throw .expression(text, "rate is too large") }
        return total
    }

    static func at(_ body: String, _ text: String) throws(ScheduleError) -> LocalTime {
        let b = Array(body.utf8)
        func num(_ r: Range<Int>) -> Int? {
            let s = b[r]
            guard s.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int(String(decoding: s, as: UTF8.self))
        }
        guard b.count == 19, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58,
              let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10),
              let h = num(11..<13), let mi = num(14..<16), let s = num(17..<19)
        else { throw .expression(text, "at takes yyyy-mm-ddThh:mm:ss") }
        guard (1...12).contains(mo), d >= 1, d <= CivilCalendar.daysIn(year: y, month: mo), h <= 23, mi <= 59, s <= 59 else {
            throw .expression(text, "\(body) is not a date and time")
        }
        return LocalTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
    }

    /// Whether this is a one-time (`at()`) schedule, for which StartDate and EndDate are ignored.
    public var isOneTime: Bool { if case .at = self { true } else { false } }
}
