import Foundation
import HearthSandbox

/// `hearth bench`: cold-start, warm and burst measurements of real sandboxes, in-process
/// (no HTTP front door in the path). Percentiles are exact (all samples kept).
public struct Benchmark: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case coldStart = "cold-start", warm, burst
    }

    public struct Series: Sendable {
        public var name: String
        public var samples: [Double]

        func percentile(_ p: Double) -> Double {
            let sorted = samples.sorted()
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }

        public var summary: [String: Any] {
            ["runs": samples.count, "p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99),
             "max": samples.max() ?? 0, "min": samples.min() ?? 0]
        }
    }

    public var kind: Kind
    public var runs: Int
    public var concurrency: Int
    public var gapMs: Int
    public var code: String
    public var memoryMB: Int
    public var stateDirectory: String

    public init(kind: Kind, runs: Int, concurrency: Int, gapMs: Int, code: String, memoryMB: Int, stateDirectory: String) {
        self.kind = kind
        self.runs = runs
        self.concurrency = concurrency
        self.gapMs = gapMs
        self.code = code
        self.memoryMB = memoryMB
        self.stateDirectory = stateDirectory
    }

    static func progress(_ text: String) {
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Facts about the machine the numbers come from.
    public static func machine(cgroups: any CgroupDriver) -> [String: Any] {
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        return ["kernel": release, "cgroup": cgroups.version.rawValue, "cpu": model,
                "cpus": ProcessInfo.processInfo.activeProcessorCount]
    }

    /// Runs the benchmark; returns the JSON object (`benchmark`, `unit`, `runs`, `p50`, `p90`,
    /// `p99`, `max` for the headline series, plus every series and the machine).
    public func run() async throws -> [String: Any] {
        let host = try SandboxHost(stateDirectory: stateDirectory)
        defer { host.close() }
        let bundle = try CodeBundle.open(code, scratch: host.runDirectory)
        defer { bundle.remove() }
        let image = try host.images.image(for: "provided")
        var config = FunctionConfig(name: "bench")
        config.memoryMB = memoryMB
        config.timeout = 30
        let payload = Array(#"{"bench":true}"#.utf8)
        var series: [Series] = []
        var extra: [String: Any] = [:]

        switch kind {
        case .coldStart:
            var initSeries = Series(name: "start_to_first_next", samples: [])
            var firstSeries = Series(name: "start_to_first_response", samples: [])
            for i in 0..<runs {
                Self.progress("cold-start \(i + 1)/\(runs)")
                let start = ContinuousClock.now
                let instance = try await Instance.start(config: config, code: bundle.directory, image: image, host: host, logSink: nil)
                guard await instance.initialize() else {
                    await instance.destroy()
                    throw HearthError.setup("the benchmark function failed to initialise")
                }
                initSeries.samples.append(Self.ms(start.duration(to: .now)))
                let record = await instance.invoke(payload: payload, requestID: UUID().uuidString.lowercased())
                firstSeries.samples.append(Self.ms(start.duration(to: .now)))
                await instance.destroy()
                if record.errorType != nil { throw HearthError.setup("benchmark invocation failed: \(record.errorType!)") }
                if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
            }
            series = [initSeries, firstSeries]
            extra["gap_ms"] = gapMs
        case .warm, .burst:
            let pool = InstancePool(host: host, limits: .init(maxInstances: max(concurrency, kind == .burst ? runs : 1)))
            let version = DeployedVersion(config: config, code: bundle.directory, image: image, generation: "bench")
            if kind == .warm {
                _ = try await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                          payload: payload, requestID: "warmup")
                var latency = Series(name: "invoke_to_response", samples: [])
                let perWorker = max(1, runs / concurrency)
                let started = ContinuousClock.now
                latency.samples = try await withThrowingTaskGroup(of: [Double].self) { group in
                    for _ in 0..<concurrency {
                        group.addTask {
                            var samples: [Double] = []
                            for _ in 0..<perWorker {
                                let t = ContinuousClock.now
                                _ = try await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                                          payload: payload, requestID: UUID().uuidString.lowercased())
                                samples.append(Self.ms(t.duration(to: .now)))
                            }
                            return samples
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                let elapsed = Self.ms(started.duration(to: .now))
                extra["throughput_per_second"] = Double(latency.samples.count) / (elapsed / 1000)
                extra["concurrency"] = concurrency
                series = [latency]
            } else {
                Self.progress("burst of \(runs)")
                let started = ContinuousClock.now
                let each = try await withThrowingTaskGroup(of: Double.self) { group in
                    for _ in 0..<runs {
                        group.addTask {
                            _ = try await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                                      payload: payload, requestID: UUID().uuidString.lowercased())
                            return Self.ms(started.duration(to: .now))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                extra["all_answered_ms"] = each.max() ?? 0
                series = [Series(name: "burst_first_invocations", samples: each)]
            }
            await pool.shutdown(grace: .seconds(5))
        }
        Self.progress("")
        var result: [String: Any] = ["benchmark": kind.rawValue, "unit": "ms", "memory_mb": memoryMB,
                                     "machine": Self.machine(cgroups: host.cgroups)]
        let headline = series.last!
        for (key, value) in headline.summary { result[key] = value }
        result["series"] = Dictionary(uniqueKeysWithValues: series.map { ($0.name, $0.summary) })
        for (key, value) in extra { result[key] = value }
        return result
    }
}
