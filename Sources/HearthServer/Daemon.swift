import Foundation
import HearthCore
import HearthEvents
import HearthQueues
import HearthSandbox
import HearthStore
import NIOCore
import NIOPosix

/// `hearth serve`: the long-lived supervisor. Opens the state directory (SQLite store, code,
/// logs, credentials), cleans up what a crashed predecessor left, serves the Lambda API and
/// shuts down gracefully on SIGTERM/SIGINT.
public final class Daemon: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 9001
        public var stateDirectory = SandboxHost.defaultStateDirectory
        public var auth = true
        public var maxInstances: Int?
        public var idleTimeout: Duration = .seconds(600)
        public var maxAge: Duration = .seconds(7200)
        public var queueTimeout: Duration = .zero
        public var shutdownGrace: Duration = .seconds(10)
        public var region = "us-east-1"
        public var userNamespace = false
        /// Host uids/gids for instances (one each when the supervisor is root).
        public var uidRange = (start: HostIDRange.defaultStart, count: HostIDRange.defaultCount)
        public var freezeIdle = false
        /// Pre-forked shells kept per function version with recent traffic.
        public var prefork = InstancePool.Limits.defaultPrefork
        /// Shells sized by demand: the most a version keeps after a burst of cold starts.
        public var preforkMax = InstancePool.Limits.defaultPreforkMax
        /// Delays after a failed asynchronous attempt (Lambda: 60 s, then 120 s). Shorter values
        /// make retries testable; they change nothing else.
        public var asyncRetryDelays: [Duration] = [.seconds(60), .seconds(120)]
        /// The first delay after a throttle (doubling up to 5 minutes).
        public var asyncThrottleBase: Duration = .seconds(1)
        /// Asynchronous invocations running at once (default: 2 per CPU, at least 4).
        public var asyncConcurrency: Int?
        /// Tasks of all instances together (the parent cgroup's pids.max); nil: derived.
        public var maxTotalPids: Int?
        /// The first delay between EventBridge Scheduler delivery retries (doubling up to 5 minutes).
        public var schedulerRetryBase: Duration = .seconds(1)
        /// Multiplies Step Functions Wait and retry delays (as Step Functions Local's
        /// WAIT_TIME_SCALE; 0 runs them at once). 1: as written.
        public var statesTimeScale: Double = 1
        /// `--http-listen`: a second listener serving only HTTP triggers (Function URLs, HTTP APIs).
        public var httpListen: (host: String, port: Int)?
        /// SQS: the in-flight limit per queue (AWS: 120,000), how MessageRetentionPeriod is
        /// scaled where it applies (tests), the retention sweep's interval.
        public var sqsLimits = QueueService.Limits()

        public init() {}
    }

    public let options: Options
    public let api: LambdaAPI
    let server: HTTPServer
    /// The `--http-listen` listener (HTTP triggers only), if any.
    let dataServer: HTTPServer?
    let pool: InstancePool
    let host: SandboxHost
    let events: LedgerDispatcher
    /// Step Functions' tasks and timers (kind `states.execution`).
    let statesEvents: LedgerDispatcher
    let lock: StateLock
    public let credentialsPath: String

    public var boundPort: Int? { server.localAddress?.port }
    public var boundHTTPPort: Int? { dataServer?.localAddress?.port }

    private init(options: Options, api: LambdaAPI, server: HTTPServer, dataServer: HTTPServer?, pool: InstancePool, host: SandboxHost,
                 events: LedgerDispatcher, statesEvents: LedgerDispatcher, lock: StateLock, credentialsPath: String) {
        self.dataServer = dataServer
        self.events = events
        self.statesEvents = statesEvents
        self.lock = lock
        self.options = options
        self.api = api
        self.server = server
        self.pool = pool
        self.host = host
        self.credentialsPath = credentialsPath
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Default global instance cap: available memory / 128 MB, at most 1024.
    static func defaultMaxInstances() -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        let mb = pages > 0 && size > 0 ? Int(pages) * Int(size) / (1 << 20) : 4096
        return max(4, min(1024, mb / 128))
    }

    public static func start(_ options: Options, log: @escaping @Sendable (String) -> Void) async throws -> Daemon {
        if !options.auth && !isLoopback(options.host) {
            throw HearthError.usage("--auth none is only allowed when listening on loopback (not \(options.host))")
        }
        let state = options.stateDirectory
        try FileIO.makeDirectories(state, mode: 0o700)
        // One supervisor per state directory: the ledger's recovery relies on it.
        let lock = try StateLock(path: state + "/hearth.lock")
        let credentialsPath = state + "/credentials"
        if try CredentialsFile.createIfMissing(path: credentialsPath) {
            log("hearth: created credentials (aws CLI format, profile default) at \(credentialsPath)")
        }
        let verifier: SigV4Verifier?
        if options.auth {
            let credentials = try CredentialsFile.load(path: credentialsPath)
            if credentials.isEmpty { throw HearthError.setup("\(credentialsPath) holds no credentials") }
            verifier = SigV4Verifier(credentials: Array(credentials.values))
        } else {
            verifier = nil
            log("hearth: WARNING: --auth none: requests are not authenticated (allowed because \(options.host) is loopback)")
        }
        let maxInstances = options.maxInstances ?? defaultMaxInstances()
        let host = try SandboxHost(stateDirectory: state, userNamespace: options.userNamespace,
                                   totals: .forThisHost(maxInstances: maxInstances, maxTotalPids: options.maxTotalPids),
                                   uidRange: options.uidRange)
        let store = try Store(path: state + "/hearth.sqlite")
        let code = try CodeStore(root: state + "/code", fileSystems: host.fileSystems)
        code.collectGarbage(keep: try store.referencedCodeHashes())
        let logs = try FunctionLogs(root: state + "/logs")
        let limits = InstancePool.Limits(maxInstances: maxInstances, idleTimeout: options.idleTimeout,
                                         maxAge: options.maxAge, queueTimeout: options.queueTimeout, freezeIdle: options.freezeIdle,
                                         prefork: options.prefork, preforkMax: options.preforkMax)
        let pool = InstancePool(host: host, limits: limits)
        await pool.start()
        let metrics = Metrics(log: log)
        let api = LambdaAPI(store: store, code: code, pool: pool, images: host.images, containerImages: host.containerImages, logs: logs, metrics: metrics,
                            verifier: verifier, region: options.region, userNamespace: options.userNamespace)
        await api.restoreProvisionedConcurrency()
        let events = try await startEvents(options, store: store, api: api, metrics: metrics, log: log)
        let statesEvents = await startStates(options, store: store, api: api, ledger: events.ledger, log: log)
        let server = try await HTTPServer.start(host: options.host, port: options.port, group: MultiThreadedEventLoopGroup.singleton,
                                                maxBody: HearthServerLimits.maxRequestBytes,
                                                preflight: { api.preflight($0) }, onLoop: { api.runsOnEventLoop($0) }) { request in
            await api.handle(request)
        }
        // AWS_IAM Function URLs and routes check signatures even under --auth none (ADR 0013).
        let iamVerifier = (try? CredentialsFile.load(path: credentialsPath)).map { SigV4Verifier(credentials: Array($0.values)) }
        api.triggerSettings.configure(port: server.localAddress?.port ?? options.port, iamVerifier: iamVerifier)
        var dataServer: HTTPServer?
        if let listen = options.httpListen {
            dataServer = try await HTTPServer.start(host: listen.host, port: listen.port, group: MultiThreadedEventLoopGroup.singleton,
                                                    maxBody: LambdaAPI.maxTriggerPayload + 1,
                                                    onLoop: { _ in true }) { request in
                // Only Function URLs and HTTP APIs here: the trigger path, on the loop (ADR 0036).
                await api.handleDataPlane(request)
            }
            log("hearth: serving HTTP triggers only (Function URLs, HTTP APIs) on http://\(listen.host):\(dataServer?.localAddress?.port ?? listen.port)")
        }
        let daemon = Daemon(options: options, api: api, server: server, dataServer: dataServer, pool: pool, host: host, events: events,
                            statesEvents: statesEvents, lock: lock, credentialsPath: credentialsPath)
        log("hearth: serving the Lambda API on http://\(options.host):\(daemon.boundPort ?? options.port) (state \(state), auth \(options.auth ? "sigv4" : "none"), max instances \(limits.maxInstances), all instances together at most \(host.totals.pidsMax.map(String.init) ?? "unlimited") tasks and \(host.totals.memoryBytes.map { "\($0 >> 20) MB" } ?? "unlimited memory"))")
        return daemon
    }

    /// Graceful stop: no new connections, in-flight invocations get `shutdownGrace`, then every
    /// instance, cgroup, socket and run folder is removed.
    public func stop() async {
        await server.close()
        await dataServer?.close()
        // Running events get the grace; the pool's shutdown then ends what is left, and the
        // dispatcher releases those events (due again at the next start).
        // Pollers stop taking batches; one in flight ends with its invocation (or with the pool's
        // shutdown), and what it did not delete comes back after its visibility timeout.
        async let mappingsStopped: Void = api.stopMappings()
        async let drained: Void = events.stop(grace: options.shutdownGrace)
        async let fired: Void = api.scheduler.stopFiring(grace: options.shutdownGrace)
        async let statesDrained: Void = statesEvents.stop(grace: options.shutdownGrace)
        await pool.shutdown(grace: options.shutdownGrace)
        await drained
        await fired
        await statesDrained
        await mappingsStopped
        host.close()
        lock.unlock()
    }

    /// The event ledger and the asynchronous-invocation dispatcher: what a dead predecessor held
    /// is due again at once, failed events older than a day are pruned.
    static func startEvents(_ options: Options, store: Store, api: LambdaAPI, metrics: Metrics,
                            log: @escaping @Sendable (String) -> Void) async throws -> LedgerDispatcher {
        let ledger = Ledger(backend: SQLiteLedger(store: store))
        let now = ledger.clock.nowMs()
        let recovered = try await ledger.read { try $0.recoverAbandoned(keeping: "", now: now) }
        if recovered > 0 { log("hearth: recovered \(recovered) event(s) that a previous supervisor had running; they run again now") }
        _ = try await ledger.read { try $0.prune(failedBefore: now - 86_400_000) }
        let ms: (Duration) -> Int64 = { Int64($0.components.seconds) * 1000 + Int64($0.components.attoseconds / 1_000_000_000_000_000) }
        let policy = AsyncRetryPolicy(retryDelaysMs: options.asyncRetryDelays.map(ms), throttleBaseMs: max(1, ms(options.asyncThrottleBase)),
                                      throttleCapMs: 300_000)
        let queues = try QueueService(ledger: ledger, catalog: store, region: options.region, limits: options.sqsLimits)
        let engine = AsyncInvocations(runner: AsyncRunner(api: api), clock: ledger.clock, policy: policy, observer: metrics, queues: queues)
        let concurrency = options.asyncConcurrency ?? max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
        let dispatcher = LedgerDispatcher(ledger: ledger, kind: LedgerKind.lambdaInvoke, concurrency: concurrency, log: log) { item in
            await engine.handle(item)
        }
        api.attach(events: dispatcher)
        try api.attach(queues: queues, log: log)
        try await queues.startSweeping(log: log)
        dispatcher.start()
        try await api.scheduler.startFiring(ledger: ledger, lambda: api, queues: queues, retryBase: options.schedulerRetryBase, log: log)
        return dispatcher
    }
}

extension Daemon {
    /// Step Functions: the execution driver, its dispatcher on the shared ledger, and the API;
    /// running executions resume from their journals.
    static func startStates(_ options: Options, store: Store, api: LambdaAPI, ledger: Ledger,
                            log: @escaping @Sendable (String) -> Void) async -> LedgerDispatcher {
        let clock = ledger.clock
        let tokenKey: String
        do { tokenKey = try statesTokenKey(path: options.stateDirectory + "/states-token-key") } catch {
            log("hearth: states: cannot keep a task token key (\(error)); task tokens are made without one")
            tokenKey = ""
        }
        let driver = StatesDriver(store: store, region: options.region, clock: clock, timeScale: options.statesTimeScale, tokenKey: tokenKey,
                                  log: log) { task, context in
            await api.runStatesTask(task, context: context, clock: clock)
        }
        let concurrency = max(16, 8 * ProcessInfo.processInfo.activeProcessorCount)
        let dispatcher = LedgerDispatcher(ledger: ledger, kind: LedgerKind.statesExecution, concurrency: concurrency, log: log) { item in
            await driver.handle(item)
        }
        driver.attach(dispatcher)
        api.attach(states: StatesAPI(store: store, region: options.region, account: api.account, driver: driver))
        dispatcher.start()
        await driver.recover()
        return dispatcher
    }

    /// The secret Step Functions task tokens are made with: read from `path`, or created there
    /// (32 random bytes as hex, mode 0600) the first time.
    static func statesTokenKey(path: String) throws -> String {
        if let text = try? String(contentsOfFile: path, encoding: .utf8), text.count >= 32 {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw HearthError.setup("cannot write \(path)")
        }
        return key
    }
}

/// An exclusive `flock` on the state directory's lock file, held for the daemon's life: a
/// second supervisor on the same state directory is refused (it would recover the first one's
/// running events as abandoned).
final class StateLock: Sendable {
    private let fd: Int32

    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HearthError.setup("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw HearthError.setup("another hearth serve is using this state directory (\(path) is locked)")
        }
        self.fd = fd
    }

    func unlock() {
        flock(fd, LOCK_UN)
    }

    deinit {
        close(fd)
    }
}
