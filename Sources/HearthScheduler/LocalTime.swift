// HearthScheduler: wall-clock times in a zone, and their instants across DST.
import Foundation

/// A wall-clock minute (or second, for `at()`) in some zone, without the zone: what a cron
/// field or an `at()` names. Ordered field by field.
public struct LocalTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// The wall time as if it were UTC, in seconds since the epoch (a proleptic Gregorian count
    /// with no zone): the arithmetic base for zone resolution.
    var naiveSeconds: Int64 {
        let days = CivilCalendar.daysFromCivil(year: year, month: month, day: day)
        return days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    init(naiveSeconds s: Int64) {
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let rest = Int(s - days * 86_400)
        let (y, m, d) = CivilCalendar.civilFromDays(days)
        self.init(year: y, month: m, day: d, hour: rest / 3600, minute: rest % 3600 / 60, second: rest % 60)
    }

    /// The wall time `instant` shows in `zone`.
    public init(_ instant: Date, in zone: TimeZone) {
        let t = Int64(instant.timeIntervalSince1970.rounded(.down))
        self.init(naiveSeconds: t + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))))
    }

    /// The instants at which `zone`'s clocks show this wall time, earliest first: none in a
    /// spring-forward gap, two in a fall-back overlap, otherwise one. Assumes at most one
    /// offset change within a day either side, which holds for every IANA zone.
    public func instants(in zone: TimeZone) -> [Date] {
        let naive = naiveSeconds
        var offsets = Set<Int>()
        for probe in [naive - 86_400, naive, naive + 86_400] {
            offsets.insert(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(probe))))
        }
        var found = Set<Int64>()
        for offset in offsets {
            let candidate = naive - Int64(offset)
            if Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(candidate)))) + candidate == naive {
                found.insert(candidate)
            }
        }
        return found.sorted().map { Date(timeIntervalSince1970: Double($0)) }
    }

    public static func < (a: LocalTime, b: LocalTime) -> Bool {
        (a.year, a.month, a.day, a.hour, a.minute, a.second) < (b.year, b.month, b.day, b.hour, b.minute, b.second)
    }

    public var description: String {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second))"
    }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's civil-date algorithms): no
/// Foundation calendar, so no locale or zone can leak in. The one copy: SigV4's timestamps and
/// Step Functions' context-object times use it too.
public enum CivilCalendar {
    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(month > 2 ? month - 3 : month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The (year, month, day) of a count of days since 1970-01-01.
    public static func civilFromDays(_ days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d))
    }

    /// 1 = Sunday … 7 = Saturday, AWS cron's numbering.
    static func weekday(year: Int, month: Int, day: Int) -> Int {
        let d = daysFromCivil(year: year, month: month, day: day)  // 1970-01-01 was a Thursday (5)
        return Int(((d % 7) + 7 + 4) % 7) + 1
    }
}
