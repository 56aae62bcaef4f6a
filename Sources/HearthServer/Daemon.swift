import Foundation
import HearthCore
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
        public var freezeIdle = false
        /// Pre-forked shells kept per function version with recent traffic.
        public var prefork = InstancePool.Limits.defaultPrefork
        /// Tasks of all instances together (the parent cgroup's pids.max); nil: derived.
        public var maxTotalPids: Int?

        public init() {}
    }

    public let options: Options
    public let api: LambdaAPI
    let server: HTTPServer
    let pool: InstancePool
    let host: SandboxHost
    public let credentialsPath: String

    public var boundPort: Int? { server.localAddress?.port }

    private init(options: Options, api: LambdaAPI, server: HTTPServer, pool: InstancePool, host: SandboxHost, credentialsPath: String) {
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
                                   totals: .forThisHost(maxInstances: maxInstances, maxTotalPids: options.maxTotalPids))
        let store = try Store(path: state + "/hearth.sqlite")
        let code = try CodeStore(root: state + "/code")
        code.collectGarbage(keep: try store.referencedCodeHashes())
        let logs = try FunctionLogs(root: state + "/logs")
        let limits = InstancePool.Limits(maxInstances: maxInstances, idleTimeout: options.idleTimeout,
                                         maxAge: options.maxAge, queueTimeout: options.queueTimeout, freezeIdle: options.freezeIdle,
                                         prefork: options.prefork)
        let pool = InstancePool(host: host, limits: limits)
        await pool.start()
        let api = LambdaAPI(store: store, code: code, pool: pool, images: host.images, containerImages: host.containerImages, logs: logs, metrics: Metrics(),
                            verifier: verifier, region: options.region, userNamespace: options.userNamespace)
        await api.restoreProvisionedConcurrency()
        let server = try await HTTPServer.start(host: options.host, port: options.port, group: MultiThreadedEventLoopGroup.singleton,
                                                maxBody: HearthServerLimits.maxRequestBytes,
                                                preflight: { api.preflight($0) }) { request in
            await api.handle(request)
        }
        let daemon = Daemon(options: options, api: api, server: server, pool: pool, host: host, credentialsPath: credentialsPath)
        log("hearth: serving the Lambda API on http://\(options.host):\(daemon.boundPort ?? options.port) (state \(state), auth \(options.auth ? "sigv4" : "none"), max instances \(limits.maxInstances), all instances together at most \(host.totals.pidsMax.map(String.init) ?? "unlimited") tasks and \(host.totals.memoryBytes.map { "\($0 >> 20) MB" } ?? "unlimited memory"))")
        return daemon
    }

    /// Graceful stop: no new connections, in-flight invocations get `shutdownGrace`, then every
    /// instance, cgroup, socket and run folder is removed.
    public func stop() async {
        await server.close()
        await pool.shutdown(grace: options.shutdownGrace)
        host.close()
    }
}
