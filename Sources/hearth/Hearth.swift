import ArgumentParser
import Foundation

/// The `hearth` command line. Commands parse flags and call into HearthCore; no logic here.
@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "A self-hosted, AWS-Lambda-compatible function runtime.",
        subcommands: [Run.self, Serve.self, Create.self, Update.self, Delete.self, List.self, Get.self, Publish.self, Alias.self, Layer.self, Invoke.self, Logs.self, Events.self, URLCommand.self, ScheduleCommand.self, StatesCommand.self, DeployCommand.self, StackCommand.self, Bench.self, PackageFunction.self])

    /// Exit status 2 for every usage error (ArgumentParser's default is 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode {
                exit(withError: error)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
