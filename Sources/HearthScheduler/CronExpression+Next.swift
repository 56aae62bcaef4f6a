// HearthScheduler: the next wall-clock minute an AWS cron matches.

extension CronExpression {
    /// The days of `month` in `year` that fire, ascending.
    public func days(year: Int, month: Int) -> [Int] {
        let count = CivilCalendar.daysIn(year: year, month: month)
        switch days {
        case .monthDays(let set):
            return (1...count).filter(set.contains)
        case .lastDayOfMonth:
            return [count]
        case .nearestWeekday(let n):
            guard n <= count else { return [] }
            switch CivilCalendar.weekday(year: year, month: month, day: n) {
            case 7: return [n == 1 ? 3 : n - 1]          // Saturday: Friday, or Monday the 3rd
            case 1: return [n == count ? n - 2 : n + 1]  // Sunday: Monday, or Friday before a month-end Sunday
            default: return [n]
            }
        case .weekDays(let set):
            return (1...count).filter { set.contains(CivilCalendar.weekday(year: year, month: month, day: $0)) }
        case .lastWeekday(let d):
            let last = CivilCalendar.weekday(year: year, month: month, day: count)
            return [count - (last - d + 7) % 7]
        case .nthWeekday(let d, let k):
            let first = CivilCalendar.weekday(year: year, month: month, day: 1)
            let day = 1 + (d - first + 7) % 7 + (k - 1) * 7
            return day <= count ? [day] : []
        }
    }

    /// The first wall-clock minute at or after `start` (seconds ignored) that matches, or nil
    /// when none is left before 2200.
    public func next(atOrAfter start: LocalTime) -> LocalTime? {
        for year in years where year >= start.year {
            for month in 1...12 where months.contains(month) && (year > start.year || month >= start.month) {
                let inStartMonth = year == start.year && month == start.month
                for day in days(year: year, month: month) where !inStartMonth || day >= start.day {
                    let inStartDay = inStartMonth && day == start.day
                    for hour in hours where !inStartDay || hour >= start.hour {
                        let inStartHour = inStartDay && hour == start.hour
                        if let minute = minutes.first(where: { !inStartHour || $0 >= start.minute }) {
                            return LocalTime(year: year, month: month, day: day, hour: hour, minute: minute)
                        }
                    }
                }
            }
        }
        return nil
    }
}
