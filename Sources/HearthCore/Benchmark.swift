import Foundation
import HearthSandbox
import Histogram
import Synchronization

/// `hearth bench`: cold-start, warm and burst measurements of real sandboxes, in-process
/// (no HTTP front door in the path). Latencies go into HDR histograms (nanoseconds, three
/// significant digits), reported in milliseconds.
public struct Benchmark: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case coldStart = "cold-start", warm, burst
        case pythonColdStart = "python-cold-start"
    }

    /// One measured quantity: an HDR histogram of nanoseconds.
    public struct Series: Sendable {
        public var name: String
        public var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)

        public init(name: String) { self.name = name }

        public mutating func record(_ duration: Duration) {
            let ns = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
            _ = histogram.record(UInt64(max(ns, 0)))
        }

        /// The value at `percentile` (0–100) in milliseconds.
        public func ms(atPercentile percentile: Double) -> Double {
            Double(histogram.valueAtPercentile(percentile)) / 1e6
        }

        public var count: Int { Int(histogram.totalCount) }

        public var summary: [String: Any] {
            ["runs": count, "p50": ms(atPercentile: 50), "p90": ms(atPercentile: 90), "p99": ms(atPercentile: 99),
             "max": Double(histogram.maxRecorded) / 1e6, "min": Double(histogram.min) / 1e6]
        }
    }

    public var kind: Kind
    public var runs: Int
    public var concurrency: Int
    public var gapMs: Int
    /// When set, run for this long instead of `runs` samples (burst: repeated bursts of `runs`).
    public var duration: Duration?
    public var code: String
    public var memoryMB: Int
    public var stateDirectory: String
    /// Whether cold-start also measures starts from pre-forked shells.
    public var prefork: Bool
    /// warm: the function asks for a sandbox per invocation (ADR 0008); the pool keeps one
    /// pre-forked shell per caller, so each invocation is a shell launch plus the runtime's init.
    public var fresh = false
    /// burst: functions invoked at once, `runs` first invocations each.
    public var functions = 1
    /// burst: measure bursts after the first, from the shells the first one's demand sized
    /// (one pool for every round; between rounds the warm instances go, the shells stay).
    public var burstShells = false

    public init(kind: Kind, runs: Int, concurrency: Int, gapMs: Int, duration: Duration? = nil, code: String, memoryMB: Int,
                stateDirectory: String, prefork: Bool = true) {
        self.kind = kind
        self.runs = runs
        self.concurrency = concurrency
        self.gapMs = gapMs
        self.duration = duration
        self.code = code
        self.memoryMB = memoryMB
        self.stateDirectory = stateDirectory
        self.prefork = prefork
    }

    /// One progress line on stderr (overwritten in place).
    public static func progress(_ text: String) {
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
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

    /// Whether another sample is due: `runs` samples, or until the duration has passed.
    struct Budget: Sendable {
        let runs: Int
        let deadline: ContinuousClock.Instant?

        func more(after done: Int) -> Bool {
            if let deadline { return ContinuousClock.now < deadline }
            return done < runs
        }

        func label(_ done: Int) -> String {
            if let deadline {
                let left = max(0, Double(ContinuousClock.now.duration(to: deadline).components.seconds))
                return "\(done) runs, \(Int(left)) s left"
            }
            return "\(done)/\(runs)"
        }
    }

    /// The function and host every benchmark kind uses.
    struct Setup: Sendable {
        let host: SandboxHost
        let bundle: CodeBundle
        let image: RuntimeImage
        let config: FunctionConfig
        let payload = Array(#"{"bench":true}"#.utf8)

        init(code: String, memoryMB: Int, stateDirectory: String, runtime: String = "provided", handler: String? = nil) throws {
            host = try SandboxHost(stateDirectory: stateDirectory)
            do {
                bundle = try CodeBundle.open(code, scratch: host.runDirectory)
                image = try host.images.image(for: runtime)
            } catch {
                host.close()
                throw error
            }
            var config = FunctionConfig(name: "bench")
            config.memoryMB = memoryMB
            config.timeout = 30
            config.runtime = runtime
            if let handler { config.handler = handler }
            self.config = config
        }

        func close() {
            bundle.remove()
            host.close()
        }

        var version: DeployedVersion { DeployedVersion(config: config, code: bundle.directory, image: image, generation: "bench") }

        func check(_ record: InvocationRecord) throws {
            if let type = record.errorType {
                throw HearthError.setup("benchmark invocation failed: \(type): \(String(decoding: record.payload, as: UTF8.self))")
            }
        }
    }

    /// Runs the benchmark; returns the JSON object (`benchmark`, `unit`, `runs`, `p50`, `p90`,
    /// `p99`, `max` for the headline series, plus every series and the machine).
    public func run() async throws -> [String: Any] {
        let setup = kind == .pythonColdStart
            ? try Setup(code: code, memoryMB: memoryMB, stateDirectory: stateDirectory, runtime: "python3.11", handler: "app.handler")
            : try Setup(code: code, memoryMB: memoryMB, stateDirectory: stateDirectory)
        defer { setup.close() }
        let budget = Budget(runs: runs, deadline: duration.map { ContinuousClock.now + $0 })
        var series: [Series]
        var extra: [String: Any] = [:]
        switch kind {
        case .coldStart:
            let born = Mutex((born: 0, started: 0))
            series = try await coldStarts(setup, budget: budget) { instance in
                born.withLock { $0.started += 1; if instance.bornInCgroup { $0.born += 1 } }
            }
            extra["gap_ms"] = gapMs
            // How many sandboxes (unprepared and shells) were born in their cgroup, with no attach.
            extra["born_in_cgroup"] = born.withLock { ["born": $0.born, "started": $0.started] }
        case .warm:
            (series, extra) = try await warm(setup, budget: budget)
        case .burst:
            (series, extra) = try await bursts(setup, budget: budget)
        case .pythonColdStart:
            (series, extra) = try await pythonColdStarts(setup, budget: budget)
        }
        Self.progress("")
        var result: [String: Any] = ["benchmark": kind.rawValue, "unit": "ms", "memory_mb": memoryMB,
                                     "machine": Self.machine(cgroups: setup.host.cgroups),
                                     "histogram": "hdr, 3 significant digits"]
        for (key, value) in series[0].summary { result[key] = value }
        result["headline"] = series[0].name
        result["series"] = Dictionary(uniqueKeysWithValues: series.map { ($0.name, $0.summary) })
        for (key, value) in extra { result[key] = value }
        return result
    }

    /// Cold starts, one at a time: start → first `/next` (the headline) and → first response;
    /// with `prefork`, the same from a shell prepared before the timer starts.
    func coldStarts(_ setup: Setup, budget: Budget, started: @Sendable (Instance) -> Void = { _ in }) async throws -> [Series] {
        var toNext = Series(name: "start_to_first_next"), toResponse = Series(name: "start_to_first_response")
        var shellToNext = Series(name: "prefork_start_to_first_next")
        var shellToResponse = Series(name: "prefork_start_to_first_response")
        var done = 0
        while budget.more(after: done) {
            Self.progress("cold-start \(budget.label(done))")
            var (next, response) = try await coldStart(setup, shell: nil, started: started)
            toNext.record(next)
            toResponse.record(response)
            if prefork {
                let shell = try await Instance.Shell.prepare(config: setup.config, code: setup.bundle.directory, image: setup.image,
                                                             host: setup.host, logSink: nil)
                if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
                (next, response) = try await coldStart(setup, shell: shell, started: started)
                shellToNext.record(next)
                shellToResponse.record(response)
            }
            done += 1
            if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
        }
        return prefork ? [toNext, toResponse, shellToNext, shellToResponse] : [toNext, toResponse]
    }

    /// An instance launched from `shell` when given, else started from nothing; timed from `start`.
    func startInstance(_ setup: Setup, shell: Instance.Shell?, at start: ContinuousClock.Instant) async throws -> Instance {
        if let shell { return try await shell.launch(startedAt: start) }
        return try await Instance.start(config: setup.config, code: setup.bundle.directory, image: setup.image,
                                        host: setup.host, logSink: nil)
    }

    /// One cold start (from `shell` when given): durations to the first `/next` and the first response.
    func coldStart(_ setup: Setup, shell: Instance.Shell?, started: @Sendable (Instance) -> Void = { _ in }) async throws -> (Duration, Duration) {
        let start = ContinuousClock.now
        let instance = try await startInstance(setup, shell: shell, at: start)
        started(instance)
        guard await instance.initialize() else {
            await instance.destroy()
            throw HearthError.setup("the benchmark function failed to initialise")
        }
        let next = start.duration(to: .now)
        let record = await instance.invoke(payload: setup.payload, requestID: UUID().uuidString.lowercased())
        let response = start.duration(to: .now)
        await instance.destroy()
        try setup.check(record)
        return (next, response)
    }

    /// Warm invocations through the pool from `concurrency` callers: latency and throughput.
    func warm(_ setup: Setup, budget: Budget) async throws -> ([Series], [String: Any]) {
        // An invocation ends at the runtime's next /next, a moment after the caller has its
        // answer: a caller's next request may find its instance still finishing, so it waits for
        // it (up to the queue timeout) instead of being throttled at the cap.
        let pool = InstancePool(host: setup.host, limits: .init(maxInstances: concurrency, queueTimeout: .seconds(10), prefork: fresh ? concurrency : 0))
        let version = { [fresh] in
            var version = setup.version
            version.config.freshSandbox = fresh
            return version
        }()
        let payload = setup.payload
        // One instance per caller, started before the clock.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    try setup.check(await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                                      payload: payload, requestID: "warmup"))
                }
            }
            try await group.waitForAll()
        }
        let started = ContinuousClock.now
        let perWorker = max(1, runs / concurrency)
        let latency = try await withThrowingTaskGroup(of: Series.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var samples = Series(name: "invoke_to_response")
                    var done = 0
                    let mine = Budget(runs: perWorker, deadline: budget.deadline)
                    while mine.more(after: done) {
                        let t = ContinuousClock.now
                        let record = try await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                                       payload: payload, requestID: UUID().uuidString.lowercased())
                        samples.record(t.duration(to: .now))
                        try setup.check(record)
                        done += 1
                        if worker == 0 && done % 100 == 0 { Self.progress("warm \(budget.label(done * concurrency))") }
                    }
                    return samples
                }
            }
            var all = Series(name: "invoke_to_response")
            for try await part in group { all.histogram.add(part.histogram) }
            return all
        }
        let elapsed = started.duration(to: .now)
        await pool.shutdown(grace: .seconds(5))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return ([latency], ["throughput_per_second": Double(latency.count) / seconds, "concurrency": concurrency,
                            "sandbox_per_invocation": fresh])
    }

    /// `runs` simultaneous first invocations of each of `functions` functions (repeated while
    /// `duration` lasts): each one's time to its answer, and the time until all were answered.
    /// Failed invocations (e.g. `Sandbox.Timedout` past Lambda's 10 s init limit) are counted,
    /// not thrown. With `burstShells` one pool serves every round: a first, unrecorded burst sizes
    /// each function's shells by its demand, and each recorded round waits for those shells,
    /// retires the warm instances and bursts again (every invocation a cold start from a shell).
    func bursts(_ setup: Setup, budget: Budget) async throws -> ([Series], [String: Any]) {
        var each = Series(name: "burst_first_invocations"), all = Series(name: "burst_all_answered")
        var rounds = 0, failed = 0
        var errors: [String: Int] = [:]
        let names = (0..<functions).map { functions == 1 ? "bench" : "bench-\($0)" }
        let limits = InstancePool.Limits(maxInstances: runs * functions, prefork: burstShells ? 1 : 0, preforkMax: runs)
        var shared: InstancePool?
        if burstShells {
            let pool = InstancePool(host: setup.host, limits: limits)
            Self.progress("burst: sizing shells")
            _ = try await burst(pool, setup, names)
            shared = pool
        }
        while rounds == 0 || (budget.deadline != nil && budget.more(after: rounds)) {
            Self.progress("burst of \(runs) × \(functions), round \(rounds + 1)")
            let pool = shared ?? InstancePool(host: setup.host, limits: limits)
            if shared != nil {
                for name in names { await pool.retireIdle(function: name) }
                for _ in 0..<600 {
                    var ready = 0
                    for name in names { ready += await pool.shellCount(function: name, versionName: "$LATEST") }
                    if ready >= runs * functions { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let answered = try await burst(pool, setup, names)
            if shared == nil { await pool.shutdown(grace: .seconds(5)) }
            for (duration, error) in answered {
                each.record(duration)
                if let error {
                    failed += 1
                    errors[error, default: 0] += 1
                }
            }
            all.record(answered.map(\.0).max() ?? .zero)
            rounds += 1
        }
        if let shared { await shared.shutdown(grace: .seconds(5)) }
        return ([each, all], ["all_answered_ms": all.summary["max"] ?? 0, "rounds": rounds, "functions": functions,
                              "failed": failed, "errors": errors, "from_shells": burstShells])
    }

    /// One burst: `runs` invocations of each function at once; each one's time and error type.
    private func burst(_ pool: InstancePool, _ setup: Setup, _ names: [String]) async throws -> [(Duration, String?)] {
        let version = setup.version
        let payload = setup.payload
        let runs = self.runs
        let started = ContinuousClock.now
        return await withTaskGroup(of: (Duration, String?).self) { group in
            for name in names {
                for _ in 0..<runs {
                    group.addTask {
                        let record = try? await pool.invoke(function: name, versionName: "$LATEST", version: version, reserved: nil,
                                                            payload: payload, requestID: UUID().uuidString.lowercased())
                        return (started.duration(to: .now), record == nil ? "Throttled" : record!.errorType)
                    }
                }
            }
            return await group.reduce(into: [(Duration, String?)]()) { $0.append($1) }
        }
    }

    /// `hearth bench cold-start --lockstep`: one sample per line read from stdin, for a driver
    /// that interleaves Hearth with other tools (scripts/bench-peers). Prints `ready STEP…`,
    /// then for each line `cold`, `prefork` or `warm` the sample in milliseconds: cold and
    /// prefork from sandbox start to the runtime's first `/next` (prefork: from a shell prepared
    /// after the previous sample), warm from invoke to response on a warm instance.
    public func lockstep() async throws {
        let setup = try Setup(code: code, memoryMB: memoryMB, stateDirectory: stateDirectory)
        defer { setup.close() }
        let pool = InstancePool(host: setup.host, limits: .init(maxInstances: 1, prefork: 0))
        let version = setup.version
        try setup.check(await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                          payload: setup.payload, requestID: "warmup"))
        var shell: Instance.Shell?
        func prepareShell() async throws {
            shell = try await Instance.Shell.prepare(config: setup.config, code: setup.bundle.directory, image: setup.image,
                                                     host: setup.host, logSink: nil)
        }
        try await prepareShell()
        func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        say("ready cold prefork warm")
        func emit(_ d: Duration) {
            say(String(format: "%.4f", Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15))
        }
        do {
            while let line = readLine() {
                switch line.trimmingWhitespace() {
                case "cold":
                    let start = ContinuousClock.now
                    let instance = try await Instance.start(config: setup.config, code: setup.bundle.directory, image: setup.image,
                                                            host: setup.host, logSink: nil)
                    let ok = await instance.initialize()
                    emit(start.duration(to: .now))
                    await instance.destroy()
                    if !ok { throw HearthError.setup("the benchmark function failed to initialise") }
                case "prefork":
                    let start = ContinuousClock.now
                    let instance = try await shell!.launch(startedAt: start)
                    shell = nil
                    let ok = await instance.initialize()
                    emit(start.duration(to: .now))
                    await instance.destroy()
                    if !ok { throw HearthError.setup("the benchmark function failed to initialise") }
                    try await prepareShell()
                case "warm":
                    let start = ContinuousClock.now
                    let record = try await pool.invoke(function: "bench", versionName: "$LATEST", version: version, reserved: nil,
                                                   payload: setup.payload, requestID: UUID().uuidString.lowercased())
                    emit(start.duration(to: .now))
                    try setup.check(record)
                case let other:
                    throw HearthError.setup("lockstep: unknown step \(other) (cold, prefork or warm)")
                }
            }
        } catch {
            await shell?.discard()
            await pool.shutdown(grace: .seconds(5))
            throw error
        }
        await shell?.discard()
        await pool.shutdown(grace: .seconds(5))
    }
}
