// HearthScheduler: AWS's six-field cron, parsed into a small AST.

/// `cron(Minutes Hours Day-of-month Month Day-of-week Year)` as EventBridge Scheduler reads it:
/// six fields, a mandatory year (1970-2199), day-of-week 1 = SUN … 7 = SAT, and exactly one of
/// day-of-month and day-of-week `?`. Minutes, hours, months and years are plain sets; the two
/// day fields carry AWS's `L`, `W` and `#` forms.
public struct CronExpression: Equatable, Sendable {
    public let minutes: [Int]
    public let hours: [Int]
    public let months: Set<Int>
    public let years: [Int]
    public let days: DaySpec

    /// Which days of a month fire. Exactly one day field is `?`; the other is this.
    public enum DaySpec: Equatable, Sendable {
        /// Day-of-month values (1-31); a value past the month's end never fires that month.
        case monthDays(Set<Int>)
        /// `L` in day-of-month: the month's last day.
        case lastDayOfMonth
        /// `nW`: the weekday (Mon-Fri) nearest day n, never crossing into another month.
        case nearestWeekday(Int)
        /// Day-of-week values, 1 = Sunday … 7 = Saturday.
        case weekDays(Set<Int>)
        /// `nL` in day-of-week (`L` alone is 7L's plain Saturday): the month's last n-day.
        case lastWeekday(Int)
        /// `d#k`: the k-th d-day of the month (k 1-5; a missing fifth one never fires).
        case nthWeekday(Int, Int)
    }

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Parses the inside of `cron(…)`; `text` is the whole expression, for the error message.
    public init(fields body: String, expression text: String) throws(ScheduleError) {
        func fail(_ reason: String) -> ScheduleError { .expression(text, reason) }
        let fields = body.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 6 else { throw fail("cron needs 6 fields (minutes hours day-of-month month day-of-week year), got \(fields.count)") }
        minutes = try Self.plain(fields[0], name: "minutes", 0...59, names: nil, text).sorted()
        hours = try Self.plain(fields[1], name: "hours", 0...23, names: nil, text).sorted()
        months = try Self.plain(fields[3], name: "month", 1...12, names: Self.monthNames, text)
        years = try Self.plain(fields[5], name: "year", 1970...2199, names: nil, text).sorted()
        let dom = fields[2].uppercased(), dow = fields[4].uppercased()
        switch (dom == "?", dow == "?") {
        case (true, true): throw fail("only one of day-of-month and day-of-week may be ?")
        case (false, false): throw fail("one of day-of-month and day-of-week must be ?")
        case (false, true): days = try Self.dayOfMonth(dom, text)
        case (true, false): days = try Self.dayOfWeek(dow, text)
        }
    }

    /// Day-of-month: values, ranges, lists, steps, `*`, or alone `L` or `nW`.
    static func dayOfMonth(_ f: String, _ text: String) throws(ScheduleError) -> DaySpec {
        if f == "L" { return .lastDayOfMonth }
        if f.hasSuffix("W") {
            let n = f.dropLast()
            guard let v = Int(n), String(v) == n, (1...31).contains(v) else {
                throw .expression(text, "day-of-month \(f): W takes one day 1-31 (nW); LW and lists with W are not supported")
            }
            return .nearestWeekday(v)
        }
        if f.contains("L") || f.contains("W") {
            throw .expression(text, "day-of-month \(f): L and W stand alone (L, nW); L-n, LW and lists with them are not AWS cron")
        }
        return .monthDays(try plain(f, name: "day-of-month", 1...31, names: nil, text))
    }

    /// Day-of-week: values or names, ranges, lists, steps, `*`, or alone `L`, `nL` or `d#k`.
    static func dayOfWeek(_ f: String, _ text: String) throws(ScheduleError) -> DaySpec {
        if f == "L" { return .weekDays([7]) }
        if f.contains("#") {
            let parts = f.split(separator: "#", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !f.contains(","), !f.contains("-"), !f.contains("/"),
                  let d = dayValue(parts[0]), let k = Int(parts[1]), String(k) == parts[1], (1...5).contains(k)
            else { throw .expression(text, "day-of-week \(f): # takes one day and an occurrence 1-5 (d#k), and only one # expression is allowed") }
            return .nthWeekday(d, k)
        }
        if f.hasSuffix("L") {
            guard let d = dayValue(String(f.dropLast())) else {
                throw .expression(text, "day-of-week \(f): L takes one day (nL), alone")
            }
            return .lastWeekday(d)
        }
        if f.contains("L") { throw .expression(text, "day-of-week \(f): L stands alone (L or nL)") }
        return .weekDays(try plain(f, name: "day-of-week", 1...7, names: dayNames, text))
    }

    static func dayValue(_ s: String) -> Int? {
        if let v = Int(s), String(v) == s, (1...7).contains(v) { return v }
        return dayNames.firstIndex(of: s).map { $0 + 1 }
    }

    /// A field of `*`, values, `a-b` ranges (no wrap-around), and `x/step` with x `*`, a value
    /// or a range, joined by commas.
    static func plain(_ raw: String, name: String, _ range: ClosedRange<Int>, names: [String]?, _ text: String) throws(ScheduleError) -> Set<Int> {
        func fail(_ why: String) -> ScheduleError { .expression(text, "\(name) \(raw): \(why)") }
        func value(_ s: Substring) throws(ScheduleError) -> Int {
            let u = s.uppercased()
            if !u.isEmpty, u.count <= 4, u.allSatisfy(\.isASCII), u.allSatisfy(\.isNumber), let v = Int(u) {
                guard range.contains(v) else { throw fail("\(v) is outside \(range.lowerBound)-\(range.upperBound)") }
                return v
            }
            if let names, let i = names.firstIndex(of: u) { return range.lowerBound + i }
            throw fail("'\(s)' is not a value")
        }
        var out = Set<Int>()
        for item in raw.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty list item") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw fail("more than one /") }
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]), s >= 1, s <= range.upperBound else { throw fail("'\(stepParts[1])' is not a step") }
                step = s
            }
            let base = stepParts[0]
            var low: Int, high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if base.contains("-") {
                let ends = base.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count == 2 else { throw fail("'\(base)' is not a range") }
                (low, high) = (try value(ends[0]), try value(ends[1]))
                guard low <= high else { throw fail("range \(base) runs backwards (wrap-around ranges are not AWS cron)") }
            } else {
                low = try value(base)
                high = stepParts.count == 2 ? range.upperBound : low
            }
            for v in stride(from: low, through: high, by: step) { out.insert(v) }
        }
        return out
    }
}
