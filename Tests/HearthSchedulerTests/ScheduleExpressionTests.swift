import Foundation
import HearthScheduler
import Testing

/// Parses an ISO-8601 UTC instant ("2025-01-01T00:00Z", seconds optional).
func instant(_ s: String) -> Date {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    var t = s
    if t.count == 10 { t += "T00:00:00Z" } else if t.count == 17 { t = String(t.dropLast()) + ":00Z" }
    return f.date(from: t)!
}

/// "2025-01-06T12:00Z" (seconds shown only when not zero).
func show(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    let s = f.string(from: d)
    return s.hasSuffix(":00Z") ? String(s.dropLast(4)) + "Z" : s
}

func next(_ expr: String, _ zone: String = "UTC", after: String, count: Int, start: String? = nil, end: String? = nil, created: String = "2025-01-01") throws -> [String] {
    let schedule = Schedule(expression: try ScheduleExpression(expr), zone: try Schedule.zone(named: zone),
                            start: start.map(instant), end: end.map(instant), created: instant(created))
    return schedule.occurrences(after: instant(after), count: count).map(show)
}

/// AWS cron vectors, hand-checked against a calendar (reference/scheduler.md §2.3).
@Suite("AWS cron evaluator")
struct CronVectorTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        let expr: String, after: String, expected: [String]
        /// Whether the schedule has no occurrence after the last expected one.
        var ends = false
        var testDescription: String { "\(expr) after \(after)" }
    }

    static let vectors: [Vector] = [
        .init(expr: "cron(0 12 ? * 2#1 *)", after: "2025-01-01T00:00Z", expected: ["2025-01-06T12:00Z", "2025-02-03T12:00Z", "2025-03-03T12:00Z", "2025-04-07T12:00Z"]),
        .init(expr: "cron(0 9 ? * 6L *)", after: "2025-01-01T00:00Z", expected: ["2025-01-31T09:00Z", "2025-02-28T09:00Z", "2025-03-28T09:00Z", "2025-04-25T09:00Z"]),
        .init(expr: "cron(0 0 L * ? *)", after: "2028-01-30T00:00Z", expected: ["2028-01-31T00:00Z", "2028-02-29T00:00Z", "2028-03-31T00:00Z"]),
        .init(expr: "cron(0 0 L 2 ? *)", after: "2025-01-01T00:00Z", expected: ["2025-02-28T00:00Z", "2026-02-28T00:00Z", "2027-02-28T00:00Z", "2028-02-29T00:00Z"]),
        .init(expr: "cron(0 0 1W * ? *)", after: "2025-01-15T00:00Z", expected: ["2025-02-03T00:00Z", "2025-03-03T00:00Z", "2025-04-01T00:00Z", "2025-05-01T00:00Z", "2025-06-02T00:00Z", "2025-07-01T00:00Z"]),
        .init(expr: "cron(0 0 15W * ? *)", after: "2025-05-01T00:00Z", expected: ["2025-05-15T00:00Z", "2025-06-16T00:00Z", "2025-07-15T00:00Z", "2025-08-15T00:00Z"]),
        .init(expr: "cron(0 0 31W * ? *)", after: "2025-05-01T00:00Z", expected: ["2025-05-30T00:00Z", "2025-07-31T00:00Z", "2025-08-29T00:00Z"]),
        .init(expr: "cron(0 0 ? * 1 *)", after: "2025-01-01T00:00Z", expected: ["2025-01-05T00:00Z", "2025-01-12T00:00Z"]),
        .init(expr: "cron(0 0 ? * 7 *)", after: "2025-01-01T00:00Z", expected: ["2025-01-04T00:00Z", "2025-01-11T00:00Z"]),
        .init(expr: "cron(0 0 ? * L *)", after: "2025-01-01T00:00Z", expected: ["2025-01-04T00:00Z", "2025-01-11T00:00Z"]),
        .init(expr: "cron(0 8 ? * 2#5 *)", after: "2025-01-01T00:00Z", expected: ["2025-03-31T08:00Z", "2025-06-30T08:00Z", "2025-09-29T08:00Z", "2025-12-29T08:00Z"]),
        .init(expr: "cron(5/20 * * * ? *)", after: "2025-01-01T10:00Z", expected: ["2025-01-01T10:05Z", "2025-01-01T10:25Z", "2025-01-01T10:45Z", "2025-01-01T11:05Z"]),
        .init(expr: "cron(0 8-17/3 ? * MON-FRI *)", after: "2025-01-03T09:00Z", expected: ["2025-01-03T11:00Z", "2025-01-03T14:00Z", "2025-01-03T17:00Z", "2025-01-06T08:00Z", "2025-01-06T11:00Z"]),
        .init(expr: "cron(0 0 29 2 ? *)", after: "2025-01-01T00:00Z", expected: ["2028-02-29T00:00Z", "2032-02-29T00:00Z"]),
        .init(expr: "cron(0 0 1 1 ? 2030-2032)", after: "2025-01-01T00:00Z", expected: ["2030-01-01T00:00Z", "2031-01-01T00:00Z", "2032-01-01T00:00Z"], ends: true),
        .init(expr: "cron(15 10 ? * 6L 2002-2025)", after: "2020-05-09T22:30:57Z", expected: ["2020-05-29T10:15Z", "2020-06-26T10:15Z", "2020-07-31T10:15Z"]),
        .init(expr: "cron(0 */3 */1 * ? *)", after: "2020-12-07T15:57:37Z", expected: ["2020-12-07T18:00Z", "2020-12-07T21:00Z", "2020-12-08T00:00Z", "2020-12-08T03:00Z"]),
        .init(expr: "cron(10 7/5 7 * ? 2020,2021)", after: "2020-12-07T15:57:37Z", expected: ["2020-12-07T17:10Z", "2020-12-07T22:10Z", "2021-01-07T07:10Z", "2021-01-07T12:10Z"]),
        .init(expr: "cron(9 8-20 ? 12 3#5 2019,2020)", after: "2020-05-09T22:30:57Z", expected: ["2020-12-29T08:09Z", "2020-12-29T09:09Z"]),
        .init(expr: "cron(19 4 5W 9 ? 2019,2020)", after: "2020-05-09T22:30:57Z", expected: ["2020-09-04T04:19Z"], ends: true),
        // Names are case-insensitive; lists of names and months.
        .init(expr: "cron(0 6 ? jan,Jul sun,SAT 2025)", after: "2025-01-01T00:00Z", expected: ["2025-01-04T06:00Z", "2025-01-05T06:00Z", "2025-01-11T06:00Z"]),
        // 29 February only in leap years; 30 February never; 1W on Saturday the 1st is Monday the 3rd.
        .init(expr: "cron(0 0 29 2 ? 2096-2104)", after: "2096-03-01T00:00Z", expected: ["2104-02-29T00:00Z"], ends: true),
        .init(expr: "cron(0 0 30 2 ? *)", after: "2025-01-01T00:00Z", expected: [], ends: true),
        .init(expr: "cron(0 0 1W 3 ? 2025)", after: "2025-01-01T00:00Z", expected: ["2025-03-03T00:00Z"]),
        // 5th Friday / last Sunday across a leap February (2032-02 has five Sundays).
        .init(expr: "cron(0 0 ? 2 1#5 *)", after: "2025-01-01T00:00Z", expected: ["2032-02-29T00:00Z", "2060-02-29T00:00Z"]),
        .init(expr: "cron(0 0 ? 2 1L 2032)", after: "2025-01-01T00:00Z", expected: ["2032-02-29T00:00Z"], ends: true),
        // An exact occurrence is not "after" itself.
        .init(expr: "cron(0 12 * * ? *)", after: "2025-01-01T12:00Z", expected: ["2025-01-02T12:00Z"]),
        // The year field ends the schedule.
        .init(expr: "cron(59 23 31 12 ? 2199)", after: "2199-12-31T23:59Z", expected: [], ends: true),
    ]

    @Test("next occurrences", arguments: vectors)
    func vector(_ v: Vector) throws {
        #expect(try next(v.expr, after: v.after, count: v.expected.count + (v.ends ? 1 : 0)) == v.expected)
    }
}

/// Wall-clock schedules across DST: gaps skipped, overlaps fired once at the first instant (ADR 0011).
@Suite("time zones and DST")
struct ZoneTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        let expr: String, zone: String, after: String, expected: [String]
        var ends = false
        var testDescription: String { "\(expr) \(zone) after \(after)" }
    }

    static let vectors: [Vector] = [
        // New York springs forward 2026-03-08 02:00 -> 03:00: 02:30 does not exist that day.
        .init(expr: "cron(30 2 * * ? *)", zone: "America/New_York", after: "2026-03-06T12:00Z", expected: ["2026-03-07T07:30Z", "2026-03-09T06:30Z", "2026-03-10T06:30Z"]),
        // New York falls back 2026-11-01 02:00 -> 01:00: 01:30 happens twice, fires once (EDT).
        .init(expr: "cron(30 1 * * ? *)", zone: "America/New_York", after: "2026-10-30T12:00Z", expected: ["2026-10-31T05:30Z", "2026-11-01T05:30Z", "2026-11-02T06:30Z"]),
        // Every 30 minutes through the overlap: the repeated hour's second pass is silent.
        .init(expr: "cron(0/30 0-3 1 11 ? 2026)", zone: "America/New_York", after: "2026-11-01T03:00Z", expected: ["2026-11-01T04:00Z", "2026-11-01T04:30Z", "2026-11-01T05:00Z", "2026-11-01T05:30Z", "2026-11-01T07:00Z", "2026-11-01T07:30Z", "2026-11-01T08:00Z", "2026-11-01T08:30Z"], ends: true),
        // Asked from inside the second pass (01:15 EST = 06:15Z), the next is 02:00 EST.
        .init(expr: "cron(0/30 * * * ? *)", zone: "America/New_York", after: "2026-11-01T06:15Z", expected: ["2026-11-01T07:00Z"]),
        // Paris: weekday 09:00 moves from 08:00Z to 07:00Z on 2026-03-29.
        .init(expr: "cron(0 9 ? * MON-FRI *)", zone: "Europe/Paris", after: "2026-03-26T12:00Z", expected: ["2026-03-27T08:00Z", "2026-03-30T07:00Z", "2026-03-31T07:00Z"]),
        // Paris springs forward 2026-03-29 02:00 -> 03:00: Sunday 02:30 is skipped that week.
        .init(expr: "cron(30 2 ? * SUN *)", zone: "Europe/Paris", after: "2026-03-20T00:00Z", expected: ["2026-03-22T01:30Z", "2026-04-05T00:30Z"]),
        // Paris falls back 2026-10-25 03:00 -> 02:00: 02:30 fires once, at 00:30Z (CEST).
        .init(expr: "cron(30 2 ? * SUN *)", zone: "Europe/Paris", after: "2026-10-18T12:00Z", expected: ["2026-10-25T00:30Z", "2026-11-01T01:30Z"]),
        // Hourly through the Paris gap: 02:00 local is missing, 03:00 CEST follows 01:00 CET.
        .init(expr: "cron(0 * 29 3 ? 2026)", zone: "Europe/Paris", after: "2026-03-28T23:30Z", expected: ["2026-03-29T00:00Z", "2026-03-29T01:00Z", "2026-03-29T02:00Z"]),
        // Kolkata: +05:30, no DST.
        .init(expr: "cron(0 0 * * ? *)", zone: "Asia/Kolkata", after: "2026-01-01T00:00Z", expected: ["2026-01-01T18:30Z", "2026-01-02T18:30Z"]),
        // at() in a zone; in New York's gap it fires just after (02:30 -> 03:30 EDT = 07:30Z); in the overlap, EDT.
        .init(expr: "at(2026-07-01T09:00:00)", zone: "Europe/Paris", after: "2026-01-01T00:00Z", expected: ["2026-07-01T07:00Z"]),
        .init(expr: "at(2026-03-08T02:30:00)", zone: "America/New_York", after: "2026-01-01T00:00Z", expected: ["2026-03-08T07:30Z"]),
        .init(expr: "at(2026-11-01T01:30:00)", zone: "America/New_York", after: "2026-01-01T00:00Z", expected: ["2026-11-01T05:30Z"], ends: true),
    ]

    @Test("next occurrences", arguments: vectors)
    func vector(_ v: Vector) throws {
        #expect(try next(v.expr, v.zone, after: v.after, count: v.expected.count + (v.ends ? 1 : 0)) == v.expected)
    }

    @Test("an unknown zone is refused; UTC is the default")
    func zones() throws {
        #expect(throws: ScheduleError.self) { try Schedule.zone(named: "Europe/Pariss") }
        #expect(throws: ScheduleError.self) { try Schedule.zone(named: "") }
        #expect(try Schedule.zone(named: nil).secondsFromGMT(for: instant("2026-07-01")) == 0)
        #expect(try Schedule.zone(named: "Asia/Kolkata").secondsFromGMT(for: instant("2026-01-01")) == 19_800)
    }
}

/// rate() and at() schedules, and StartDate/EndDate.
@Suite("rate, at and bounds")
struct RateAtTests {
    @Test("rate() without StartDate fires at creation and then every interval")
    func rateFromCreation() throws {
        #expect(try next("rate(5 minutes)", after: "2025-01-01T09:59:59Z", count: 3, created: "2025-01-01T10:00:07Z")
            == ["2025-01-01T10:00:07Z", "2025-01-01T10:05:07Z", "2025-01-01T10:10:07Z"])
        #expect(try next("rate(1 day)", after: "2025-01-01T10:00:07Z", count: 1, created: "2025-01-01T10:00:07Z") == ["2025-01-02T10:00:07Z"])
    }

    @Test("rate() with StartDate is aligned to it; a day is 24 hours even across DST")
    func rateFromStart() throws {
        #expect(try next("rate(2 hours)", "Europe/Paris", after: "2026-03-28T00:00Z", count: 3, start: "2026-03-28T22:00Z")
            == ["2026-03-28T22:00Z", "2026-03-29T00:00Z", "2026-03-29T02:00Z"])
        #expect(try next("rate(1 day)", "America/New_York", after: "2026-03-08T04:59Z", count: 2, start: "2026-03-07T05:00Z")
            == ["2026-03-08T05:00Z", "2026-03-09T05:00Z"])
        #expect(try next("rate(3 hours)", after: "2025-06-01T10:00Z", count: 1, start: "2025-06-01T00:00Z") == ["2025-06-01T12:00Z"])
    }

    @Test("StartDate and EndDate bound cron and rate, inclusively")
    func bounds() throws {
        #expect(try next("cron(0 12 * * ? *)", after: "2025-01-01T00:00Z", count: 5, start: "2025-01-03T12:00Z", end: "2025-01-05T12:00Z")
            == ["2025-01-03T12:00Z", "2025-01-04T12:00Z", "2025-01-05T12:00Z"])
        #expect(try next("rate(1 hour)", after: "2025-01-01T00:00Z", count: 5, start: "2025-01-01T00:30Z", end: "2025-01-01T02:00Z")
            == ["2025-01-01T00:30Z", "2025-01-01T01:30Z"])
    }

    @Test("at() fires once; in the past it has no occurrence; StartDate/EndDate are ignored for it")
    func at() throws {
        #expect(try next("at(2025-03-01T08:30:15)", after: "2025-01-01T00:00Z", count: 2) == ["2025-03-01T08:30:15Z"])
        #expect(try next("at(2025-03-01T08:30:15)", after: "2025-03-01T08:30:15Z", count: 1) == [])
        #expect(try next("at(2020-01-01T00:00:00)", after: "2025-01-01T00:00Z", count: 1) == [])
        #expect(try next("at(2025-03-01T08:30:00)", after: "2025-01-01T00:00Z", count: 1, start: "2026-01-01", end: "2024-01-01") == ["2025-03-01T08:30Z"])
        #expect(try next("at(2028-02-29T00:00:00)", after: "2025-01-01T00:00Z", count: 1) == ["2028-02-29T00:00Z"])
    }
}

/// What AWS refuses, and what Hearth refuses because AWS does not document it.
@Suite("expression validation")
struct ValidationTests {
    static let invalid: [String] = [
        "", "cron(0 12 * * * *)", "cron(0 12 ? * ? *)", "cron(0 12 * * ?)", "cron(0 12 * * ? * *)",
        "cron(60 12 * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 0 * ? *)", "cron(0 0 * 13 ? *)",
        "cron(0 0 ? * 8 *)", "cron(0 0 ? * 0 *)", "cron(0 0 * * ? 1969)", "cron(0 0 * * ? 2200)",
        "cron(0 0 ? * 3#1,6#3 *)", "cron(0 0 ? * 2#6 *)", "cron(0 0 ? * 2#0 *)", "cron(0 0 L-2 * ? *)", "cron(0 0 LW * ? *)",
        "cron(0 0 ? * FRI-MON *)", "cron(0 22-2 * * ? *)", "cron(0 0 1,L * ? *)", "cron(0 0 15W,20 * ? *)", "cron(0 0 0W * ? *)",
        "cron(0 0 ? * 6L,7 *)", "cron(0 0 ? * 8L *)", "cron(? 0 * * ? *)", "cron(0 L * * ? *)", "cron(0 0 W * ? *)",
        "cron(*/0 * * * ? *)", "cron(0 0 * FOO ? *)", "cron(0,,5 0 * * ? *)", "cron(0 0 * * # *)", "cron(0 0 ? * 1#1#1 *)",
        "rate(0 minutes)", "rate(1 minutes)", "rate(5 minute)", "rate(-1 minutes)", "rate(1 second)", "rate(1 week)",
        "rate(5  minutes)", "rate(5)", "rate(1.5 hours)", "rate()",
        "at(2025-02-29T00:00:00)", "at(2025-13-01T00:00:00)", "at(2025-01-01T24:00:00)", "at(2025-01-01 00:00:00)",
        "at(2025-01-01T00:00)", "at(2025-01-01T00:00:00Z)", "every(5 minutes)", "cron 0 0 * * ? *",
        "cron(0 0 * * ? *", "CRON(0 0 * * ? *)",
    ]

    @Test("refused with Invalid Schedule Expression …", arguments: invalid)
    func refused(_ text: String) {
        do {
            _ = try ScheduleExpression(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message == "Invalid Schedule Expression \(text).")
        }
    }

    static let valid: [String] = [
        "cron(0 12 * * ? *)", "cron(0 12 ? * * *)", "cron(0/15 10-16 ? * MON-FRI *)", "cron(0 0 L * ? *)", "cron(0 0 ? * L *)",
        "cron(0 0 ? * 6L *)", "cron(0 0 ? * 2#1 *)", "cron(0 0 ? * MON#2 *)", "cron(0 0 1W * ? *)", "cron(0 0 31W * ? *)",
        "cron(0 0 1,15 * ? 2025,2027-2030/2)", "cron(05 08 * * ? *)", "cron(0 0 ? * sun-sat *)",
        "rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(30 days)",
        "at(2030-12-31T23:59:59)", "at(2028-02-29T00:00:00)",
    ]

    @Test("accepted", arguments: valid)
    func accepted(_ text: String) throws {
        _ = try ScheduleExpression(text)
    }

    @Test("the message names the expression; the reason names the rule")
    func messages() {
        do {
            _ = try ScheduleExpression("cron(0 0 ? * 3#1,6#3 *)")
            Issue.record("accepted")
        } catch {
            #expect(error.message == "Invalid Schedule Expression cron(0 0 ? * 3#1,6#3 *).")
            #expect(error.reason.contains("only one # expression"))
        }
    }
}
