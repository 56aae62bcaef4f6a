import ArgumentParser
import Foundation
import HearthScheduler

/// `hearth schedule …`: tools for EventBridge Scheduler expressions.
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Check EventBridge Scheduler expressions before deploying them.",
        subcommands: [Next.self, Firings.self])

    /// `hearth schedule next EXPR`: the next fire times, ISO-8601 UTC, one a line.
    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next fire times of a rate(), cron() or at() expression, as ISO-8601 UTC instants.")
        @Argument(help: "The ScheduleExpression, e.g. 'cron(0 9 ? * MON-FRI *)'.") var expression: String
        @Option(help: "The ScheduleExpressionTimezone (an IANA name).") var timezone: String = "UTC"
        @Option(help: "Start after this instant (ISO-8601, e.g. 2026-03-26T12:00:00Z); default now.") var after: String?
        @Option(help: "How many fire times to print.") var count: Int = 10
        @Option(help: "StartDate (ISO-8601); for rate(), occurrences are counted from it.") var start: String?
        @Option(help: "EndDate (ISO-8601).") var end: String?

        static func instant(_ text: String, _ name: String) throws -> Date {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime]
            let g = ISO8601DateFormatter()
            g.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let d = f.date(from: text) ?? g.date(from: text) else {
                throw ValidationError("--\(name) \(text) is not an ISO-8601 instant (2026-03-26T12:00:00Z)")
            }
            return d
        }

        func run() throws {
            guard (1...10_000).contains(count) else { throw ValidationError("--count must be 1-10000") }
            let from = try after.map { try Self.instant($0, "after") } ?? Date()
            let schedule: Schedule
            do {
                schedule = Schedule(expression: try ScheduleExpression(expression), zone: try Schedule.zone(named: timezone),
                                    start: try start.map { try Self.instant($0, "start") },
                                    end: try end.map { try Self.instant($0, "end") }, created: from)
            } catch let error as ScheduleError {
                throw ValidationError("\(error.message) \(error.reason)")
            }
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime]
            // rate() without StartDate fires at creation: here, at --after (or now), then every interval.
            let isRate = if case .rate = schedule.expression { true } else { false }
            for t in schedule.occurrences(after: isRate && schedule.start == nil ? schedule.created.addingTimeInterval(-0.001) : from, count: count) {
                print(f.string(from: t))
            }
        }
    }
}
