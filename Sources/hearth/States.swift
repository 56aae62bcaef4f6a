import ArgumentParser
import Foundation
import HearthServer

/// `hearth states …`: Step Functions executions from the command line.
struct StatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "states",
        abstract: "Step Functions executions on the daemon.",
        subcommands: [History.self])

    /// `hearth states history EXECUTION_ARN`: the execution's history as a readable timeline.
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an execution's history: each state with its duration, attempts and errors, then the outcome.")
        @Argument(help: "The execution's ARN (arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME).") var executionArn: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            var api = try client.client()
            api.signer?.service = "states"
            var events: [[String: Any]] = []
            var token: String?
            repeat {
                var body: [String: Any] = ["executionArn": executionArn, "maxResults": 1000]
                if let token { body["nextToken"] = token }
                let response = try await api.send("POST", "/", headers: [("X-Amz-Target", "AWSStepFunctions.GetExecutionHistory"),
                                                                         ("Content-Type", "application/x-amz-json-1.0")],
                                                  body: try JSONSerialization.data(withJSONObject: body))
                guard response.status == 200, let json = response.json else {
                    let type = (response.json?["__type"] as? String)?.split(separator: "#").last.map(String.init) ?? "HTTP \(response.status)"
                    throw ValidationError("\(type): \(response.json?["message"] as? String ?? String(decoding: response.body, as: UTF8.self))")
                }
                events += json["events"] as? [[String: Any]] ?? []
                token = json["nextToken"] as? String
            } while token != nil
            if client.json {
                let data = try JSONSerialization.data(withJSONObject: ["events": events], options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            for line in Self.timeline(events) { print(line) }
        }

        static func details(_ event: [String: Any]) -> [String: Any] {
            event.first { $0.key.hasSuffix("EventDetails") }?.value as? [String: Any] ?? [:]
        }

        /// One line per state entered (offset from the start, state, type, duration, attempts,
        /// errors), then the outcome.
        static func timeline(_ events: [[String: Any]]) -> [String] {
            let time = { (e: [String: Any]) in (e["timestamp"] as? NSNumber)?.doubleValue ?? 0 }
            let start = events.first.map(time) ?? 0
            var lines: [String] = []
            var open: [String: (at: Double, type: String, attempts: Int, errors: [String])] = [:]
            var order: [String] = []
            func close(_ name: String, at: Double, ending: String) {
                guard let s = open.removeValue(forKey: name) else { return }
                var line = String(format: "+%8.3fs  %-28@ %-9@ %8.3fs", s.at - start, name as NSString, s.type as NSString, at - s.at)
                if s.attempts > 1 { line += "  \(s.attempts) attempts" }
                if !s.errors.isEmpty { line += "  errors: " + s.errors.joined(separator: ", ") }
                if !ending.isEmpty { line += "  " + ending }
                lines.append(line)
            }
            for e in events {
                let type = e["type"] as? String ?? ""
                let d = details(e)
                if type.hasSuffix("StateEntered"), let name = d["name"] as? String {
                    open[name] = (time(e), String(type.dropLast("StateEntered".count)), 0, [])
                    order.append(name)
                } else if type.hasSuffix("StateExited"), let name = d["name"] as? String {
                    close(name, at: time(e), ending: "")
                } else if ["LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"].contains(type), let name = order.last(where: { open[$0] != nil }) {
                    open[name]?.attempts += 1
                } else if type.hasSuffix("Failed") || type.hasSuffix("TimedOut"), !type.hasPrefix("Execution"), let error = d["error"] as? String,
                          let name = order.last(where: { open[$0] != nil }) {
                    open[name]?.errors.append(error)
                } else if type.hasPrefix("Execution") && type != "ExecutionStarted" {
                    for name in order where open[name] != nil { close(name, at: time(e), ending: "(did not exit)") }
                    var outcome = String(format: "+%8.3fs  %@", time(e) - start, type as NSString)
                    if let error = d["error"] as? String { outcome += "  \(error)" }
                    if let cause = d["cause"] as? String, !cause.isEmpty { outcome += ": \(cause.prefix(200))" }
                    if let output = d["output"] as? String { outcome += "  output \(output.prefix(200))" }
                    if let count = d["redriveCount"] as? NSNumber { outcome += "  redrive \(count)" }
                    lines.append(outcome)
                }
            }
            for name in order where open[name] != nil {
                let s = open[name]!
                lines.append(String(format: "+%8.3fs  %-28@ %-9@ (running)", s.at - start, name as NSString, s.type as NSString))
            }
            return lines
        }
    }
}
