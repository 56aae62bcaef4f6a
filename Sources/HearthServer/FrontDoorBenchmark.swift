import Foundation
import HearthCore
import HearthSandbox

/// `hearth bench warm`: warm invocations through the front door, as callers see them. Starts
/// an in-process daemon on a loopback port (auth none, a throwaway state directory that shares
/// the runtime image cache), creates the function over the Lambda API, starts one instance per
/// client, then runs `concurrency` keep-alive clients (`HTTPLoad`) against Invoke.
public struct FrontDoorBenchmark: Sendable {
    public var zip: Data
    public var runs: Int
    public var concurrency: Int
    public var duration: Duration?
    public var memoryMB: Int
    /// Where the runtime images are cached (`STATE/images`); nothing else is written there.
    public var stateDirectory: String

    public init(zip: Data, runs: Int, concurrency: Int, duration: Duration?, memoryMB: Int, stateDirectory: String) {
        self.zip = zip
        self.runs = runs
        self.concurrency = concurrency
        self.duration = duration
        self.memoryMB = memoryMB
        self.stateDirectory = stateDirectory
    }

    /// Runs `body` on a thread of its own (blocking sockets must not hold Swift's few cooperative threads).
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    public func run() async throws -> [String: Any] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-bench-\(getpid())").path
        try FileIO.makeDirectories(stateDirectory + "/images", mode: 0o700)
        try FileIO.makeDirectories(scratch, mode: 0o700)
        defer { try? FileIO.removeTree(scratch) }
        try FileManager.default.createSymbolicLink(atPath: scratch + "/images", withDestinationPath: stateDirectory + "/images")
        var options = Daemon.Options()
        options.port = 0
        options.auth = false
        options.stateDirectory = scratch
        options.maxInstances = concurrency + 1
        // A request may find its instance still finishing (the invocation ends at the runtime's
        // next /next): wait for it instead of a 429 at the cap.
        options.queueTimeout = .seconds(10)
        options.prefork = 0
        let daemon = try await Daemon.start(options, log: { _ in })
        do {
            let result = try await measure(port: daemon.boundPort!, machine: Benchmark.machine(cgroups: daemon.host.cgroups))
            await daemon.stop()
            return result
        } catch {
            await daemon.stop()
            throw error
        }
    }

    func measure(port: Int, machine: [String: Any]) async throws -> [String: Any] {
        let create: [String: Any] = ["FunctionName": "bench", "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/bench",
                                     "MemorySize": memoryMB, "Timeout": 30, "Code": ["ZipFile": zip.base64EncodedString()]]
        let createRequest = HTTPLoad.request("POST", "/2015-03-31/functions", body: Array(try JSONSerialization.data(withJSONObject: create)))
        let created = try await Self.offPool { try HTTPLoad.Connection(port: port).exchange(createRequest) }
        guard created.status == 201 else {
            throw HTTPLoad.Failure(description: "creating the benchmark function: HTTP \(created.status): \(String(decoding: created.body, as: UTF8.self))")
        }
        let invoke = HTTPLoad.request("POST", "/2015-03-31/functions/bench/invocations", body: Array(#"{"bench":true}"#.utf8))
        let clients = concurrency
        // One instance per client: simultaneous first invocations, not timed.
        Benchmark.progress("warm: starting \(clients) instance(s)")
        _ = try await Self.offPool {
            try HTTPLoad.run(port: port, request: invoke, clients: clients, samples: 1, deadline: nil, progress: { _ in })
        }
        let deadline = duration.map { ContinuousClock.now + $0 }
        let perClient = max(1, runs / clients)
        let total = perClient * clients
        let (series, elapsed) = try await Self.offPool {
            try HTTPLoad.run(port: port, request: invoke, clients: clients, samples: perClient, deadline: deadline) { done in
                Benchmark.progress(deadline == nil ? "warm \(done)/\(total)" : "warm \(done) runs")
            }
        }
        Benchmark.progress("")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var result: [String: Any] = ["benchmark": "warm", "unit": "ms", "memory_mb": memoryMB, "machine": machine,
                                     "histogram": "hdr, 3 significant digits", "path": "front door (HTTP, keep-alive, auth none)",
                                     "headline": series.name, "series": [series.name: series.summary], "concurrency": clients,
                                     "throughput_per_second": Double(series.count) / seconds]
        for (key, value) in series.summary { result[key] = value }
        return result
    }
}
