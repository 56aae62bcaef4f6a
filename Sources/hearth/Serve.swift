import ArgumentParser
import Foundation
import HearthCore
import HearthQueues
import HearthServer

/// `hearth serve`: the supervisor daemon.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the supervisor: the Lambda API, warm instances, state in SQLite.")

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:9001"

    @Option(name: .customLong("http-listen"), help: "Also serve HTTP triggers only (Function URLs, HTTP APIs; no control plane) on HOST:PORT. Routed by Host, else by the first path segment (the url-id or api-id).")
    var httpListen: String?

    @Option(help: "State directory (default /var/lib/hearth as root, $XDG_STATE_HOME/hearth otherwise).")
    var stateDir: String?

    @Option(help: "sigv4 (verify AWS Signature V4 against STATE_DIR/credentials) or none (loopback only).")
    var auth: String = "sigv4"

    @Option(help: "Global cap on instances (default: memory / 128 MB).")
    var maxInstances: Int?

    @Option(help: "Seconds before an idle instance is reaped.")
    var idleTimeout: Double = 600

    @Option(help: "Seconds to wait for a free slot at the instance cap before 429.")
    var queueTimeout: Double = 0

    @Option(help: "Seconds in-flight invocations get on shutdown.")
    var shutdownGrace: Double = 10

    @Option(help: "Region reported in ARNs and AWS_REGION.")
    var region: String = "us-east-1"

    @Option(help: "Host uids/gids Hearth owns, START:COUNT: each instance runs as one of them (seen inside as 993/990), in a user namespace that id owns. No id of /etc/passwd or /etc/group may be in it.")
    var uidRange: String = "\(HostIDRange.defaultStart):\(HostIDRange.defaultCount)"

    @Flag(help: "Unprivileged supervisors only: a user namespace of the supervisor's own (as root every sandbox already has one, owned by its instance's uid).")
    var userns = false

    @Flag(help: "Freeze idle instances with the cgroup freezer (no CPU while idle; thawed on reuse).")
    var freezeIdle = false

    @Option(help: "Tasks of all instances together (default: (max instances + 4) × 1024, at most half of kernel.pid_max).")
    var maxTotalPids: Int?

    @Option(help: "Pre-forked sandbox shells kept per function version with recent traffic (0: none).")
    var prefork: Int = 1

    @Option(help: "Shells sized by demand: after a burst of cold starts a version keeps up to this many shells (as many as the burst needed), falling back to --prefork as the demand decays.")
    var preforkMax: Int = 64

    @Option(help: "Seconds to wait after a failed asynchronous attempt, comma-separated: after the first, after the second (Lambda: 60,120).")
    var asyncRetryDelays: String = "60,120"

    @Option(help: "Seconds before the first retry of a throttled asynchronous event (doubling up to 300).")
    var asyncThrottleDelay: Double = 1

    @Option(help: "Asynchronous invocations run at once (default: 2 per CPU, at least 4).")
    var asyncConcurrency: Int?

    @Option(help: "Multiply Step Functions Wait and Retry delays by this (as Step Functions Local's WAIT_TIME_SCALE; 0: at once). For tests; default 1.")
    var statesTimeScale: Double = 1

    @Option(name: .customLong("sqs-in-flight-limit"), help: "SQS: the most in-flight messages (received, not deleted, visibility not ended) a queue may hold; a receive beyond it fails with OverLimit. AWS: 120000.")
    var sqsInFlightLimit: Int = QueueService.Limits.defaultInFlight

    @Option(name: .customLong("sqs-retention-scale"), help: "SQS: multiply MessageRetentionPeriod by this where it applies (clients still set 60-1209600 s). For tests; default 1.")
    var sqsRetentionScale: Double = 1

    /// glibc gives memory back as soon as 128 KiB at the top of an arena is free (`madvise`,
    /// then a TLB shootdown on every core) and maps every allocation of 128 KiB or more afresh
    /// (page faults to zero it again): a busy supervisor paid for both on each ledger commit,
    /// about a tenth of its CPU on the queue path. Kept: up to 64 MiB free per arena; mapped:
    /// allocations of 4 MiB or more. Idle memory is unchanged (nothing is kept that was not used).
    /// (`mallopt` is looked up at run time: `<malloc.h>` is not in Swift's Glibc module.)
    static func tuneMalloc() {
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(trimThreshold, 64 << 20)
        _ = mallopt(mmapThreshold, 4 << 20)
    }

    static func parseDelays(_ text: String) throws -> [Duration] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 && $0! <= 21_600 }) else {
            throw ValidationError("--async-retry-delays must be comma-separated seconds (0–21600), e.g. 60,120")
        }
        return values.map { .milliseconds(Int64($0! * 1000)) }
    }

    /// `HOST:PORT` (IPv6 in brackets) split.
    static func hostPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func validate() throws {
        _ = try Self.parseDelays(asyncRetryDelays)
        if let asyncConcurrency, asyncConcurrency < 1 || asyncConcurrency > 4096 { throw ValidationError("--async-concurrency must be 1–4096") }
        if sqsInFlightLimit < 1 { throw ValidationError("--sqs-in-flight-limit must be at least 1") }
        if !(sqsRetentionScale > 0 && sqsRetentionScale <= 1) { throw ValidationError("--sqs-retention-scale must be more than 0 and at most 1") }
        if !(0...1000).contains(statesTimeScale) { throw ValidationError("--states-time-scale must be 0–1000") }
        if asyncThrottleDelay <= 0 || asyncThrottleDelay > 300 { throw ValidationError("--async-throttle-delay must be more than 0 and at most 300") }
        if prefork < 0 || prefork > 64 { throw ValidationError("--prefork must be 0–64") }
        if preforkMax < 0 || preforkMax > 1000 { throw ValidationError("--prefork-max must be 0–1000") }
        if let maxTotalPids, maxTotalPids < 16 { throw ValidationError("--max-total-pids must be at least 16") }
        guard ["sigv4", "none"].contains(auth) else { throw ValidationError("--auth must be sigv4 or none") }
        guard let colon = listen.lastIndex(of: ":"), Int(listen[listen.index(after: colon)...]) != nil else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        if let httpListen, Self.hostPort(httpListen) == nil { throw ValidationError("--http-listen must be HOST:PORT") }
    }

    func run() async throws {
        Self.tuneMalloc()
        var options = Daemon.Options()
        let colon = listen.lastIndex(of: ":")!
        options.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        options.port = Int(listen[listen.index(after: colon)...])!
        if let stateDir { options.stateDirectory = stateDir }
        options.auth = auth == "sigv4"
        options.maxInstances = maxInstances
        options.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        options.queueTimeout = .milliseconds(Int64(queueTimeout * 1000))
        options.shutdownGrace = .milliseconds(Int64(shutdownGrace * 1000))
        options.region = region
        options.userNamespace = userns
        options.uidRange = try HostIDRange.parse(uidRange)
        options.freezeIdle = freezeIdle
        options.prefork = prefork
        options.preforkMax = preforkMax
        options.asyncRetryDelays = try Self.parseDelays(asyncRetryDelays)
        options.asyncThrottleBase = .milliseconds(Int64(asyncThrottleDelay * 1000))
        options.asyncConcurrency = asyncConcurrency
        options.statesTimeScale = statesTimeScale
        options.sqsLimits.inFlight = sqsInFlightLimit
        options.sqsLimits.retentionScale = sqsRetentionScale
        options.maxTotalPids = maxTotalPids
        options.httpListen = httpListen.flatMap(Self.hostPort)
        let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let daemon: Daemon
        do {
            daemon = try await Daemon.start(options, log: log)
        } catch {
            log("hearth: \(error)")
            throw ExitCode(2)
        }
        // Wait for SIGTERM or SIGINT, then stop gracefully.
        let signal = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let once = OnceBox(continuation)
            for sig in [SIGINT, SIGTERM] {
                Foundation.signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { once.resume(sig) }
                source.resume()
                SignalSources.keep(source)
            }
        }
        log("hearth: received signal \(signal), shutting down")
        await daemon.stop()
        log("hearth: stopped")
    }
}

final class OnceBox: @unchecked Sendable {
    private var continuation: CheckedContinuation<Int32, Never>?
    private let lock = NSLock()

    init(_ continuation: CheckedContinuation<Int32, Never>) { self.continuation = continuation }

    func resume(_ value: Int32) {
        lock.lock()
        let c = continuation
        continuation = nil
        lock.unlock()
        c?.resume(returning: value)
    }
}

enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ source: any DispatchSourceSignal) { sources.append(source) }
}
