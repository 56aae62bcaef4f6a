import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// The `hearth` command line. Commands parse flags and call into HearthCore; no logic here.
@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "A self-hosted, AWS-Lambda-compatible function runtime.",
        subcommands: [Run.self, Serve.self, Create.self, Update.self, Delete.self, List.self, Get.self, Publish.self, Alias.self, Layer.self, Invoke.self, Logs.self, Events.self, URLCommand.self, ScheduleCommand.self, StatesCommand.self, DeployCommand.self, StackCommand.self, Bench.self, PackageFunction.self])

    /// Exit status 2 for every usage error (ArgumentParser's default is 64).
    static func main() async {
        // HEARTH_NIO_EXECUTOR=1: Swift concurrency's tasks run on NIO's event loops (the threads
        // the HTTP server, the Runtime API and the sandboxes' sockets already use), so a warm
        // invocation hands off between threads less. Measured +6% warm invocations/s at 64
        // clients (docs/benchmarks.md); not the default until every blocking call reachable
        // from a task (SQLite writes, sandbox set-up) is known to be off the event loops. The
        // warm path itself no longer needs it: a synchronous Invoke prefers its connection's
        // loop by itself (ADR 0036).
        if ProcessInfo.processInfo.environment["HEARTH_NIO_EXECUTOR"] == "1" {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
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
