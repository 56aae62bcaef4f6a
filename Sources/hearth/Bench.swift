import ArgumentParser
import Foundation
import HearthCore
import HearthSandbox
import HearthServer

/// `hearth bench`: cold-start, warm and burst numbers for real sandboxes on this machine.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure cold starts, warm invocations and bursts of real sandboxes.",
        discussion: """
            cold-start: sandbox start → the runtime's first /next, and → the first response; the same
              from pre-forked shells (set up before the timer starts) unless --no-prefork.
            warm: Invoke through the front door (HTTP on loopback, keep-alive) → response from warm
              instances, with --concurrency clients (and throughput); --in-process skips HTTP
              and calls the pool directly.
            burst: --runs simultaneous first invocations of each of --functions functions (time until each is
              answered, and until all are; failures such as Sandbox.Timedout are counted); --from-shells
              measures bursts after the first, from the shells sized by the first burst's demand.
            python-cold-start: python3.11 cold starts to the first response (and their Init Duration): without a
              shell, from a pre-initialised shell (interpreter and awslambdaric ready, ADR 0018) and from a plain
              shell, one of each per run; --function is a folder with app.py (default: a hello-world handler).
            Latencies go into HDR histograms; progress goes to stderr; --json prints one object on stdout.
            Uses a folder or zip with a bootstrap (--function; default: hearth-echo, the C echo example built next to hearth).
            """)

    @Argument(help: "cold-start, warm, burst or python-cold-start") var kind: String
    @Option(help: "Samples (burst: simultaneous invocations per function, at most 100).") var runs = 50
    @Option(help: "burst: functions invoked at once (--runs each).") var functions = 1
    @Flag(help: "burst: bursts after the first, from shells sized by demand.") var fromShells = false
    @Option var concurrency = 1
    @Option(help: "Run for S seconds instead of --runs samples (burst: repeated bursts).") var duration: Double?
    @Option(help: "Idle milliseconds between cold starts (a low start rate).") var gapMs = 0
    @Flag(inversion: .prefixedNo, help: "cold-start: also measure starts from pre-forked shells.") var prefork = true
    @Option(help: "Function folder or zip.") var function: String?
    @Option var memory = 128
    @Option var stateDir: String?
    @Flag(help: "Print one JSON object on stdout.") var json = false
    @Flag(help: "warm: call the instance pool directly instead of going through the front door.") var inProcess = false
    @Flag(help: "warm --in-process: a new sandbox per invocation (HEARTH_SANDBOX_PER_INVOCATION), from pre-forked shells.") var fresh = false
    @Flag(help: .hidden) var lockstep = false

    /// A folder whose `bootstrap` is `hearth-echo`, the echo example built and installed next to
    /// the hearth binary (whatever path the binary is run through); the caller removes it.
    static func defaultFunction() throws -> String {
        let binary = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0]).resolvingSymlinksInPath()
        let echo = binary.deletingLastPathComponent().appendingPathComponent("hearth-echo").path
        guard FileManager.default.isExecutableFile(atPath: echo) else {
            throw ValidationError("no hearth-echo next to \(binary.path) (swift build builds it; or give --function)")
        }
        let folder = NSTemporaryDirectory() + "hearth-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: echo, toPath: folder + "/bootstrap")
        chmod(folder + "/bootstrap", 0o755)
        return folder
    }

    func validate() throws {
        guard Benchmark.Kind(rawValue: kind) != nil else { throw ValidationError("kind must be cold-start, warm, burst or python-cold-start") }
        if runs < 1 || concurrency < 1 { throw ValidationError("--runs and --concurrency must be at least 1") }
        if kind == "burst" && runs > 100 { throw ValidationError("burst is limited to 100 simultaneous invocations per function") }
        if !(1...100).contains(functions) { throw ValidationError("--functions must be 1–100") }
        if (functions != 1 || fromShells) && kind != "burst" { throw ValidationError("--functions and --from-shells go with burst") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be more than 0 seconds") }
        if lockstep && kind != "cold-start" { throw ValidationError("--lockstep goes with cold-start") }
        if fresh && !(kind == "warm" && inProcess) { throw ValidationError("--fresh goes with warm --in-process") }
    }

    func run() async throws {
        var defaultFolder: String?
        defer { if let defaultFolder { try? FileManager.default.removeItem(atPath: defaultFolder) } }
        let code: String
        if let function {
            code = function
        } else {
            defaultFolder = kind == Benchmark.Kind.pythonColdStart.rawValue ? try Benchmark.pythonHelloFunction() : try Self.defaultFunction()
            code = defaultFolder!
        }
        guard FileManager.default.fileExists(atPath: code) else {
            throw ValidationError("no function at \(code): give --function (scripts/build-fixtures builds the echo example)")
        }
        var benchmark = Benchmark(kind: Benchmark.Kind(rawValue: kind)!, runs: runs, concurrency: concurrency, gapMs: gapMs,
                                  duration: duration.map { .milliseconds(Int64($0 * 1000)) }, code: code, memoryMB: memory,
                                  stateDirectory: stateDir ?? SandboxHost.defaultStateDirectory, prefork: prefork)
        benchmark.fresh = fresh
        benchmark.functions = functions
        benchmark.burstShells = fromShells
        if lockstep {
            try await benchmark.lockstep()
            return
        }
        let result: [String: Any]
        if kind == "warm" && !inProcess {
            let frontDoor = FrontDoorBenchmark(zip: try zipData(code), runs: runs, concurrency: concurrency,
                                               duration: benchmark.duration, memoryMB: memory, stateDirectory: benchmark.stateDirectory)
            result = try await frontDoor.run()
        } else {
            result = try await benchmark.run()
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        let machine = result["machine"] as? [String: Any] ?? [:]
        print("\(kind): \(result["runs"] ?? 0) runs, \(memory) MB, kernel \(machine["kernel"] ?? "?"), cgroup \(machine["cgroup"] ?? "?")")
        for (name, summary) in (result["series"] as? [String: [String: Any]] ?? [:]).sorted(by: { $0.key < $1.key }) {
            let f = { (k: String) in String(format: "%.3f", summary[k] as? Double ?? 0) }
            print("  \(name): n \(summary["runs"] ?? 0)  p50 \(f("p50")) ms  p90 \(f("p90")) ms  p99 \(f("p99")) ms  max \(f("max")) ms")
        }
        if let t = result["throughput_per_second"] as? Double { print(String(format: "  throughput: %.0f invocations/s", t)) }
        if let failed = result["failed"] as? Int { print("  failed: \(failed) \(result["errors"] ?? "")") }
    }
}
