import ArgumentParser
import Foundation
import HearthServer

extension ScheduleCommand {
    /// `hearth schedule firings NAME [--group G]`: the schedule's pending, retrying, failed and
    /// missed occurrences, from the daemon's ledger.
    struct Firings: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a schedule's occurrences in the ledger: the next one pending, delivery retries, failed and missed ones.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The schedule's name.") var name: String
        @Option(help: "The schedule group.") var group: String = "default"

        func run() async throws {
            let path = "/hearth/schedules/" + APIClient.encode(group) + "/" + APIClient.encode(name) + "/firings"
            let response = try await client.client().send("GET", path).ok()
            if client.json {
                FileHandle.standardOutput.write(response.body)
                print()
                return
            }
            let firings = response.json?["Firings"] as? [[String: Any]] ?? []
            print(["SCHEDULED", "ACTION", "STATE", "DUE", "ATTEMPTS", "EXECUTION ID", "LAST ERROR"].joined(separator: "\t"))
            for firing in firings {
                let state = firing["State"] as? String ?? ""
                let due = state == "available" ? Events.time(firing["DueAt"]) : state == "leased" ? "running" : Events.time(firing["FinishedAt"])
                print([firing["ScheduledTime"] as? String ?? "", firing["Action"] as? String ?? "", state, due, "\(firing["Attempts"] ?? 0)",
                       firing["ExecutionId"] as? String ?? "", (firing["LastError"] as? String ?? "").replacingOccurrences(of: "\n", with: " ")]
                    .joined(separator: "\t"))
            }
        }
    }
}
