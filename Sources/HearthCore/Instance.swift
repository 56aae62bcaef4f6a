import Foundation
import HearthRuntimeAPI
import HearthSandbox
import NIOCore
import Synchronization

/// The result of one invocation, with what REPORT needs.
public struct InvocationRecord: Sendable {
    public var requestID: String
    /// The response payload, or the error document when `errorType` is set.
    public var payload: [UInt8]
    /// Set for a function error (`X-Amz-Function-Error: Unhandled`).
    public var errorType: String?
    /// Milliseconds from handing the event to the runtime until its answer.
    public var durationMs: Double
    /// Set on a cold start: milliseconds from starting the sandbox until the runtime's first `/next`.
    public var initDurationMs: Double?
    public var memorySizeMB: Int
    public var maxMemoryUsedMB: Int
    /// `timeout` or `error` for platform failures (as Lambda's REPORT `Status:`).
    public var status: String?
    /// This invocation's log output (bounded).
    public var log: [UInt8]
    /// Whether the instance survived and can take the next invocation.
    public var instanceReusable: Bool
    /// The `Content-Type` the runtime posted with its response, if any.
    public var contentType: String?
    /// Set when the runtime failed after it had answered, before its next `/next` (it exited,
    /// timed out or ran out of memory during work after the response): the error REPORT shows
    /// with `status`. The caller's response (`payload`, `errorType`) stands.
    public var failureAfterResponse: String?

    /// Set when the invocation timed out: the limit it ran into, in seconds.
    public var timedOutAfterSeconds: Double? = nil

    public var billedDurationMs: Int { max(1, Int(durationMs.rounded(.up))) }

    /// The line Lambda writes to the function's log stream after `REPORT` when an invocation
    /// times out: `2024-05-01T12:00:03.114Z <request id> Task timed out after 3.00 seconds`.
    public func timeoutLine(at date: Date = Date()) -> String? {
        guard let seconds = timedOutAfterSeconds else { return nil }
        return "\(Self.logTimestamp(date)) \(requestID) Task timed out after \(String(format: "%.2f", seconds)) seconds"
    }

    /// ISO 8601 in UTC with milliseconds, as Lambda stamps its own log lines.
    static func logTimestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(ms % 1000))
    }

    /// `REPORT RequestId: …` as Lambda prints it.
    public var reportLine: String {
        var line = "REPORT RequestId: \(requestID)\tDuration: \(TextFormat.fixed2(durationMs)) ms"
            + "\tBilled Duration: \(billedDurationMs) ms\tMemory Size: \(memorySizeMB) MB"
            + "\tMax Memory Used: \(maxMemoryUsedMB) MB"
        if let initDurationMs { line += "\tInit Duration: \(TextFormat.fixed2(initDurationMs)) ms" }
        if let status {
            line += "\tStatus: \(status)"
            if status == "error", let type = failureAfterResponse ?? errorType { line += "\tError Type: \(type)" }
        }
        return line
    }
}

extension InvocationRecord {
    /// The record of an invocation whose instance could not be started: the bootstrap could not
    /// be executed (`Runtime.InvalidEntrypoint`) or the sandbox failed (`Runtime.Unknown`).
    init(failedStart error: any Error, requestID: String, config: FunctionConfig) {
        var type = "Runtime.Unknown"
        if case .invalidEntrypoint? = error as? Instance.StartFailure { type = "Runtime.InvalidEntrypoint" }
        self.init(requestID: requestID,
                  payload: Instance.errorDocument(type: type, message: "RequestId: \(requestID) Error: \(error)"),
                  errorType: type, durationMs: 0, initDurationMs: 0, memorySizeMB: config.memoryMB, maxMemoryUsedMB: 0,
                  status: "error", log: [], instanceReusable: false)
    }
}

/// One sandbox running one function's runtime, with its Runtime API server and log capture.
/// Takes one invocation at a time (the caller serialises). `destroy()` must be called.
public final class Instance: Sendable {
    /// Whether shells start a runtime that supports it ahead of the launch (ADR 0018); off with
    /// `HEARTH_PREINIT=0` in the supervisor's environment.
    public static let preinitializeByDefault = ProcessInfo.processInfo.environment["HEARTH_PREINIT"] != "0"

    /// Where the Unix Runtime API socket is inside the sandbox.
    public static let runtimeSocketInSandbox = "/run/hearth/runtime.sock"
    /// Lambda's limit for the init phase.
    public static let initTimeoutSeconds = 10.0

    public let id: String
    public let config: FunctionConfig
    private let sandbox: Sandbox
    /// Whether the sandbox was born in its cgroup (no attach after the clone; ADR 0033).
    public var bornInCgroup: Bool { sandbox.startedInCgroup }
    private let server: RuntimeAPIServer
    private let logs: LogCapture
    private let workspace: String
    private let host: SandboxHost
    private let startedAt: ContinuousClock.Instant
    private let initDuration = Mutex<Double?>(nil)
    private let usedOnce = Mutex(false)
    /// The init phase's CPU burst is over (the quota applies).
    private let burstOver = Mutex(false)
    /// The waiting race's completion, told when the sandbox exits (one watcher per instance).
    private let onExit = Mutex<(@Sendable (SandboxExit) -> Void)?>(nil)
    private let releaseIDs: @Sendable () -> Void

    private init(id: String, config: FunctionConfig, sandbox: Sandbox, server: RuntimeAPIServer, logs: LogCapture,
                 workspace: String, host: SandboxHost, startedAt: ContinuousClock.Instant, releaseIDs: @escaping @Sendable () -> Void) {
        self.releaseIDs = releaseIDs
        self.id = id
        self.config = config
        self.sandbox = sandbox
        self.server = server
        self.logs = logs
        self.workspace = workspace
        self.host = host
        self.startedAt = startedAt
    }

    /// Why a cold start failed before the runtime ran; becomes a Lambda error for the invocation.
    public enum StartFailure: Error, CustomStringConvertible {
        /// The bootstrap could not be executed (`Runtime.InvalidEntrypoint`).
        case invalidEntrypoint(path: String, errno: Int32)
        case setup(String)

        public var description: String {
            switch self {
            case .invalidEntrypoint(let path, let err):
                return "fork/exec \(path): \(lowercasedStrerror(err))"
            case .setup(let message): return message
            }
        }
    }

    /// Cold-starts an instance: workspace, Runtime API listeners, sandbox. Returns once the
    /// bootstrap has exec'd; the runtime initialises concurrently. Init Duration counts from
    /// here (the whole sandbox set-up included).
    /// `eventLoop`: the loop of the instance's Runtime API server (by default the next of the
    /// host's group); the caller's own loop when it is one, so that a task running there
    /// exchanges invocations with the runtime without a hand-off between threads (ADR 0036).
    public static func start(config: FunctionConfig, code: String, opt: String? = nil, image: RuntimeImage,
                             host: SandboxHost, logSink: LogCapture.Sink?, eventLoop: (any EventLoop)? = nil) async throws -> Instance {
        let startedAt = ContinuousClock.now
        let shell = try await Shell.prepare(config: config, code: code, opt: opt, image: image, host: host, logSink: logSink,
                                            eventLoop: eventLoop)
        return try await shell.launch(startedAt: startedAt)
    }

    /// A pre-forked sandbox shell: an instance set up up to the exec (workspace, Runtime API
    /// server, log capture, namespaces, cgroup with its limits and the process attached, mounts,
    /// privileges dropped, seccomp loaded) whose init waits to fork and exec the bootstrap.
    /// `launch()` turns it into an `Instance` (a cold start of only exec + runtime init);
    /// `discard()` removes it. One of the two must be called, once. Thread-safe.
    public final class Shell: Sendable {
        public let id: String
        public let config: FunctionConfig
        let sandbox: Sandbox
        let server: RuntimeAPIServer
        let logs: LogCapture
        let workspace: String
        let host: SandboxHost
        let executable: String
        /// Lambda's first log line of an execution environment, written at launch.
        let initStartLine: String
        /// Gives the instance's host ids back; called once its sandbox and cgroup are gone.
        let releaseIDs: @Sendable () -> Void

        private init(id: String, config: FunctionConfig, sandbox: Sandbox, server: RuntimeAPIServer, logs: LogCapture,
                     workspace: String, host: SandboxHost, executable: String, initStartLine: String,
                     releaseIDs: @escaping @Sendable () -> Void) {
            self.releaseIDs = releaseIDs
            self.id = id
            self.config = config
            self.sandbox = sandbox
            self.server = server
            self.logs = logs
            self.workspace = workspace
            self.host = host
            self.executable = executable
            self.initStartLine = initStartLine
        }

        /// Sets a sandbox up for `config`, held before the exec. With `preinitialize` (and an
        /// image that supports it, and hearth-init as pid 1), the runtime is started in the held
        /// sandbox and initialises ahead (ADR 0018); this returns once it is ready.
        public static func prepare(config: FunctionConfig, code: String, opt: String? = nil, image: RuntimeImage,
                                   host: SandboxHost, logSink: LogCapture.Sink?, preinitialize: Bool = Instance.preinitializeByDefault,
                                   eventLoop: (any EventLoop)? = nil) async throws -> Shell {
            let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let workspace = host.runDirectory + "/" + id
            let userNamespace = config.userNamespace || host.userNamespace
            // Container images bring their own /var/task.
            let taskRoot = image.taskRootInImage ? image.rootfs + "/var/task" : code
            var spec = SandboxSpec(image: image.rootfs, code: taskRoot, rootMountPoint: workspace + "/root")
            spec.runtimeSocket = Instance.runtimeSocketInSandbox
            spec.opt = opt
            spec.memoryMB = config.memoryMB
            spec.cpus = config.cpus
            // Lambda's init burst: no CPU quota until the runtime's first /next (or 10 s).
            spec.cpuInitBurst = true
            spec.ephemeralStorageMB = config.ephemeralStorageMB
            spec.hostname = "hearth-" + String(id.prefix(8))
            // A root supervisor gives every instance its own host ids, in a user namespace that id
            // owns (`--userns` asks for nothing more); an unprivileged one maps a range of its own.
            let instanceIDs: UInt32?
            if let range = host.ids {
                guard let id = range.acquire() else {
                    throw StartFailure.setup("every host uid of the range \(range.start):\(range.count) is in use (--uid-range)")
                }
                instanceIDs = id
                spec.instanceIDs = (id, id)
            } else {
                instanceIDs = nil
                spec.userNamespace = userNamespace
            }
            let releaseIDs: @Sendable () -> Void = { [host] in if let instanceIDs { host.ids?.release(instanceIDs) } }
            spec.executable = image.manifest.entrypoint
            spec.arguments = image.manifest.arguments
            if let dir = image.manifest.workingDirectory { spec.workingDirectory = dir }
            let logStream = Instance.logStreamName(version: config.version, id: id)
            spec.environment = config.lambdaEnvironment(image: image.manifest, logStream: logStream)
            // A pre-initialised runtime: only with hearth-init, which holds the launch channel.
            spec.preinitialize = preinitialize && host.initFD != nil && image.manifest.preinitializes(environment: spec.environment)
            do {
                try spec.validate()
            } catch {
                releaseIDs()
                throw StartFailure.setup("\(error)")
            }

            let hostUID = spec.instanceIDs?.uid ?? (spec.userNamespace ? spec.userNamespaceHostBase + spec.uid : spec.uid)
            let hostGID = spec.instanceIDs?.gid ?? (spec.userNamespace ? spec.userNamespaceHostBase + spec.gid : spec.gid)
            var server: RuntimeAPIServer?
            var logs: LogCapture?
            do {
                try FileIO.makeDirectories(workspace, mode: 0o711)
                chown(workspace, 0, 0)
                chmod(workspace, 0o711)
                // Both listeners are made inside the sandbox (the Unix socket in a tmpfs of its own,
                // owned by the sandbox user; the TCP one in its network namespace) and adopted once
                // it is up; connections queue in their backlogs meanwhile.
                let s = try await RuntimeAPIServer.start(on: eventLoop ?? host.group.next(), unixSocketPath: nil, tcpListener: nil)
                server = s
                let capture = try LogCapture(sink: logSink)
                logs = capture
                let (cgroups, cgroupName, seccomp, logFD, initFD) = (host.cgroups, host.cgroupName(instanceID: id), host.seccomp, capture.writeFD, host.initFD)
                let ephemeral = host.ephemeralDirectory
                let fileSystems = host.fileSystems
                let inImage = image.taskRootInImage
                let sandbox = try await host.blocking.runIfActive { [spec] in
                    // /tmp: disk-backed ephemeral storage of exactly its size, not the function's memory.
                    let tmp = try ephemeral.map {
                        try EphemeralStorage.prepare(sizeMB: spec.ephemeralStorageMB, directory: $0, uid: hostUID, gid: hostGID)
                    }
                    defer { tmp?.close() }
                    // The image, the code and the layers as file systems of their own: the sandbox's
                    // mount table names no host path (ADR 0032).
                    var mounts = SandboxMounts()
                    if let fileSystems {
                        mounts.root = fileSystems.clone(of: spec.image)
                        mounts.code = inImage ? mounts.root.flatMap { _ in fileSystems.clone(of: spec.image, subpath: "var/task") }
                            : fileSystems.clone(of: spec.code)
                        mounts.opt = spec.opt.flatMap { fileSystems.clone(of: $0) }
                    }
                    defer { mounts.close() }
                    return try Sandbox.spawn(spec: spec, cgroups: cgroups, cgroupName: cgroupName, seccomp: seccomp, stdoutFD: logFD,
                                             stderrFD: logFD, hold: true, initFD: initFD, tmp: tmp, mounts: mounts)
                }
                capture.closeWriteEnd()
                // Unix first, then TCP; on a failure the ones not adopted yet (the failed one too) are closed.
                let listeners = [sandbox.takeRuntimeUnixListener(), sandbox.takeRuntimeListener()]
                var adopted = 0
                do {
                    if let unix = listeners[0] { try await s.adopt(unixListener: unix) }
                    adopted = 1
                    if let tcp = listeners[1] { try await s.adopt(tcpListener: tcp) }
                    adopted = 2
                } catch {
                    for case let fd? in listeners.dropFirst(adopted) { close(fd) }
                    try? await sandbox.destroy()
                    throw error
                }
                return Shell(id: id, config: config, sandbox: sandbox, server: s, logs: capture, workspace: workspace,
                             host: host, executable: spec.executable, initStartLine: Instance.initStartLine(config: config, image: image.manifest),
                             releaseIDs: releaseIDs)
            } catch {
                logs?.closeWriteEnd()
                if let server { await server.close() }
                try? FileIO.removeTree(workspace)
                // Sandbox.spawn has killed and reaped a child that failed: nothing runs as the id.
                releaseIDs()
                if let failure = error as? StartFailure { throw failure }
                throw StartFailure.setup("\(error)")
            }
        }

        /// Forks and execs the bootstrap in the shell. Init Duration counts from `startedAt`.
        /// On failure the shell is removed.
        public func launch(startedAt: ContinuousClock.Instant = .now) async throws -> Instance {
            // Before the exec: nothing the runtime writes can come before it.
            logs.mark(initStartLine)
            do {
                // Only a fork, an exec and a message: short enough for the calling thread.
                try sandbox.launch()
            } catch {
                await discard()
                if let setup = error as? SandboxSetupError, setup.isExec {
                    throw StartFailure.invalidEntrypoint(path: executable, errno: setup.errno)
                }
                throw StartFailure.setup("\(error)")
            }
            let instance = Instance(id: id, config: config, sandbox: sandbox, server: server, logs: logs,
                                    workspace: workspace, host: host, startedAt: startedAt, releaseIDs: releaseIDs)
            instance.watchExit()
            instance.capInitBurst()
            return instance
        }

        /// Whether the held sandbox is still there: not killed while waiting, and its
        /// pre-initialised runtime (if any) still running (hearth-init exits when it dies).
        public var isAlive: Bool { !sandbox.initHasEnded }

        /// Kills the held sandbox and removes everything it made: cgroup, sockets, folders.
        public func discard() async {
            await Instance.remove(sandbox: sandbox, server: server, logs: logs, workspace: workspace, id: id, releaseIDs: releaseIDs)
        }
    }

    /// `INIT_START Runtime Version: python:3.11.v1\tRuntime Version ARN: arn:aws:lambda:…::runtime:<64 hex>`,
    /// Lambda's shape: the runtime family, its variant and the image definition's version; the
    /// ARN's id is the SHA-256 of that name (stable for one image definition).
    static func initStartLine(config: FunctionConfig, image: RuntimeImageManifest) -> String {
        let runtime = config.runtime.isEmpty ? image.name : config.runtime
        let family = String(runtime.prefix { $0.isLetter })
        var variant = String(runtime.dropFirst(family.count))
        if variant.hasPrefix(".") { variant.removeFirst() }
        let version = (variant.isEmpty ? family : family + ":" + variant) + ".v" + image.version
        let id = CodeStore.sha256Hex(Data((image.name + "-v" + image.version).utf8))
        return "INIT_START Runtime Version: \(version)\tRuntime Version ARN: arn:aws:lambda:\(config.region)::runtime:\(id)\n"
    }

    /// `START RequestId: … Version: …`.
    static func startLine(requestID: String, version: String) -> String {
        "START RequestId: \(requestID) Version: \(version)\n"
    }

    static func logStreamName(version: String, id: String) -> String {
        let now = Date()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: now)
        // Lambda's streams end in 32 hex digits, one stream per execution environment.
        let padded = String(repeating: "0", count: max(0, 16 - id.count)) + id
        let suffix = padded + String(format: "%016llx", UInt64.random(in: 0...UInt64.max))
        return String(format: "%04d/%02d/%02d/[%@]%@", c.year!, c.month!, c.day!, version, suffix)
    }

    /// A new X-Ray trace header, as Lambda sends one with every invocation:
    /// `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0`.
    public static func newTraceID() -> String {
        let epoch = TextFormat.hex(UInt64(UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))), width: 8)
        let root = TextFormat.hex(UInt64.random(in: 0...UInt64.max), width: 16) + TextFormat.hex(UInt64(UInt32.random(in: 0...UInt32.max)), width: 8)
        return "Root=1-\(epoch)-\(root);Parent=\(TextFormat.hex(UInt64.random(in: 0...UInt64.max), width: 16));Sampled=0"
    }

    typealias Event = WaitEvent

    /// What ends a wait on the runtime.
    enum WaitEvent: Sendable {
        case initialized
        case outcome(RuntimeOutcome)
        /// The runtime asked for the next event after answering: the invocation is over.
        case ended
        case exited(SandboxExit)
        case timedOut
        case abandoned
    }

    /// Waits for the first of: `register`'s sources, the sandbox's exit, or `deadline`.
    private func race(deadline: ContinuousClock.Instant, _ register: (@escaping @Sendable (Event) -> Void) -> Void) async -> Event {
        let event = await withCheckedContinuation { (continuation: CheckedContinuation<Event, Never>) in
            let once = Mutex<CheckedContinuation<Event, Never>?>(continuation)
            let finish: @Sendable (Event) -> Void = { event in
                once.withLock { c in
                    c?.resume(returning: event)
                    c = nil
                }
            }
            let now = ContinuousClock.now
            let delay = now < deadline ? now.duration(to: deadline) : .zero
            let nanos = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
            let timer = server.eventLoop.scheduleTask(in: .nanoseconds(nanos)) { finish(.timedOut) }
            onExit.withLock { $0 = { finish(.exited($0)) } }
            if let exit = sandbox.exitStatus { finish(.exited(exit)) }
            register { event in
                timer.cancel()
                finish(event)
            }
        }
        onExit.withLock { $0 = nil }
        return event
    }

    /// Starts the instance's single exit watcher, which ends whatever race is waiting.
    private func watchExit() {
        let sandbox = self.sandbox
        Task { [weak self] in
            let exit = await sandbox.waitForExit()
            self?.onExit.withLock { $0 }?(exit)
        }
    }

    /// Applies the memory-proportional CPU quota, ending the init burst (once).
    private func endInitBurst() {
        let first = burstOver.withLock { over in
            defer { over = true }
            return !over
        }
        if first { try? sandbox.cgroup.endCPUBurst() }
    }

    /// The burst lasts at most `initTimeoutSeconds`, whatever the runtime does meanwhile.
    private func capInitBurst() {
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(Self.initTimeoutSeconds))
            self?.endInitBurst()
        }
    }

    /// Waits for the runtime's first `/next` (or its failure, or the init timeout). Returns the
    /// event that ended the wait when it was not a successful initialisation, and the init time.
    private func awaitInitialization() async -> (Event?, Double) {
        let server = self.server
        let event = await race(deadline: startedAt + .seconds(Self.initTimeoutSeconds)) { finish in
            server.initialized.whenSuccess { finish(.initialized) }
            server.initFailed.whenSuccess { finish(.outcome($0)) }
        }
        let initMs = Self.milliseconds(startedAt.duration(to: .now))
        // Init is over, however it ended: the quota applies from here.
        endInitBurst()
        if case .initialized = event { return (nil, initMs) }
        if case .exited = event, let initError = await server.reportedInitError() {
            return (.outcome(initError), initMs)
        }
        return (event, initMs)
    }

    /// Initialises the runtime ahead of any invocation (provisioned concurrency): afterwards the
    /// instance is warm and its first REPORT has no Init Duration. False if the runtime failed.
    public func initialize() async -> Bool {
        let first = usedOnce.withLock { used in
            defer { used = true }
            return !used
        }
        guard first else { return true }
        let (event, _) = await awaitInitialization()
        return event == nil
    }

    /// Sends one event to the runtime and waits for its answer, the deadline or its death; then,
    /// as on Lambda, for the end of the invocation: the runtime's next `/next`. `onResponse` is
    /// called once, before this returns, with the caller's answer as soon as there is one (at
    /// `/response` or `/error`, or when the invocation failed); the record returned covers the
    /// whole invocation (Duration, log and REPORT status including work after the response).
    /// With `stream`, a streamed response reaches the caller as the runtime writes it (and a
    /// buffered answer or a failure is put on the stream whole); the stream always ends.
    /// `invokedARN` is the ARN as the caller named the function (with its alias or version);
    /// a trace header is made up when the caller sent none.
    public func invoke(payload: [UInt8], requestID: String, invokedARN: String? = nil, traceID: String? = nil,
                       clientContext: String? = nil, cognitoIdentity: String? = nil, stream: ResponseStream? = nil,
                       onResponse: (@Sendable (InvocationRecord) -> Void)? = nil) async -> InvocationRecord {
        let coldStart = usedOnce.withLock { used in
            defer { used = true }
            return !used
        }
        sandbox.cgroup.resetPeakMemory()
        sandbox.cgroup.rearmMemoryLimitBoost()
        let oomBefore = sandbox.cgroup.oomKillCount()
        // A cold start's log keeps INIT_START and the init output before START.
        if !coldStart { logs.begin() }

        var record = InvocationRecord(requestID: requestID, payload: [], errorType: nil, durationMs: 0, initDurationMs: nil,
                                      memorySizeMB: config.memoryMB, maxMemoryUsedMB: 0, status: nil, log: [],
                                      instanceReusable: true)
        // Init phase (cold start only): until the runtime's first /next.
        var early: Event?
        if coldStart {
            let (event, initMs) = await awaitInitialization()
            record.initDurationMs = initMs
            early = event
        }
        logs.mark(Self.startLine(requestID: requestID, version: config.version))

        let invokeStart = ContinuousClock.now
        let deadline = invokeStart + .milliseconds(Int64(config.timeout * 1000))
        let deadlineMs = Int64(Date().timeIntervalSince1970 * 1000) + Int64(config.timeout * 1000)
        let invocation = Invocation(requestID: requestID, payload: payload, deadlineMs: deadlineMs, functionARN: invokedARN ?? config.arn,
                                    traceID: traceID ?? Self.newTraceID(), clientContext: clientContext, cognitoIdentity: cognitoIdentity)
        let event: Event
        var ended: EventLoopFuture<Void>?
        if let early {
            event = early
        } else {
            let submitted = server.submit(invocation, stream: stream)
            ended = submitted.ended
            event = await race(deadline: deadline) { finish in
                submitted.outcome.whenComplete { result in
                    switch result {
                    case .success(let outcome): finish(.outcome(outcome))
                    case .failure: finish(.abandoned)
                    }
                }
            }
        }
        record.durationMs = Self.milliseconds(invokeStart.duration(to: .now))
        record.apply(event: event, early: early != nil, config: config) {
            sandbox.cgroup.oomKillCount() > oomBefore
        }
        if let stream {
            // A streamed response has ended the stream already; anything else goes on it whole.
            if let type = record.errorType {
                stream.finish(.init(type: type, body: record.payload))
            } else {
                stream.begin(contentType: record.contentType)
                stream.write(record.payload)
                stream.finish()
            }
        }

        if record.instanceReusable, let ended {
            // The caller has its answer; the invocation goes on until the runtime's next /next.
            logs.drain()
            var response = record
            response.log = logs.current()
            onResponse?(response)
            let end = await race(deadline: deadline) { finish in
                ended.whenComplete { result in
                    switch result {
                    case .success: finish(.ended)
                    case .failure: finish(.abandoned)
                    }
                }
            }
            record.durationMs = Self.milliseconds(invokeStart.duration(to: .now))
            record.applyAfterResponse(event: end, config: config) { sandbox.cgroup.oomKillCount() > oomBefore }
        }
        if !record.instanceReusable {
            server.abandon()
            sandbox.kill()
        }
        record.maxMemoryUsedMB = Int(((sandbox.cgroup.peakMemoryBytes() ?? 0) + (1 << 20) - 1) >> 20)
        logs.drain()
        record.log = logs.current()
        if ended == nil || !record.instanceReusable && record.failureAfterResponse == nil {
            // Failed before answering: the caller's answer is the failure.
            onResponse?(record)
        }
        return record
    }

    /// Whether the calling thread is the event loop of this instance's Runtime API server.
    public var servesOnCallingThread: Bool { server.eventLoop.inEventLoop }

    /// False once the sandbox has exited (a warm instance whose runtime died while idle).
    public var isAlive: Bool { sandbox.exitStatus == nil }

    /// Freezes an idle instance (cgroup freezer) so it uses no CPU; `thaw()` before use.
    /// Returns false where the host cannot freeze.
    @discardableResult
    public func freeze() -> Bool {
        guard sandbox.cgroup.canFreeze else { return false }
        return (try? sandbox.cgroup.setFrozen(true)) != nil
    }

    public func thaw() {
        try? sandbox.cgroup.setFrozen(false)
    }

    /// Kills the sandbox and removes everything the instance made: cgroup, sockets, folders.
    public func destroy() async {
        await Self.remove(sandbox: sandbox, server: server, logs: logs, workspace: workspace, id: id, releaseIDs: releaseIDs)
    }

    static func remove(sandbox: Sandbox, server: RuntimeAPIServer, logs: LogCapture, workspace: String, id: String,
                       releaseIDs: @Sendable () -> Void) async {
        sandbox.kill()
        do {
            try await sandbox.destroy()
            // The init is reaped and the cgroup removed (which needs it empty): nothing of the
            // instance runs as its ids any more.
            releaseIDs()
        } catch {
            // Kept out of the range: a process of the instance may survive the failed removal.
            FileHandle.standardError.write(Data("hearth: cleaning up instance \(id): \(error)\n".utf8))
        }
        await server.close()
        logs.drain()
        try? FileIO.removeTree(workspace)
    }

    /// `{"errorType":…,"errorMessage":…}`.
    public static func errorDocument(type: String, message: String) -> [UInt8] {
        Array("{\"errorType\":\(JSONString.quote(type)),\"errorMessage\":\(JSONString.quote(message))}".utf8)
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

extension InvocationRecord {
    /// Fills the caller's answer in from what ended the wait for the runtime's answer.
    fileprivate mutating func apply(event: Instance.WaitEvent, early: Bool, config: FunctionConfig, oomKilled: () -> Bool) {
        let requestID = self.requestID
        switch event {
        case .outcome(.response(let body, _, let contentType)):
            payload = body
            self.contentType = contentType
        case .outcome(.functionError(let type, let body)):
            errorType = type
            payload = body.isEmpty ? Instance.errorDocument(type: type, message: "Unhandled error") : body
        case .outcome(.responseTooLarge(let limit)):
            errorType = "Function.ResponseSizeTooLarge"
            payload = Instance.errorDocument(type: "Function.ResponseSizeTooLarge",
                message: "Response payload size exceeded maximum allowed payload size (\(limit) bytes).")
        case .outcome(.initError(let type, let body)):
            errorType = type
            status = "error"
            payload = body.isEmpty ? Instance.errorDocument(type: type, message: "RequestId: \(requestID) Error: init failed") : body
            instanceReusable = false
        case .exited(let exit):
            let type = oomKilled() ? "Runtime.OutOfMemory" : "Runtime.ExitError"
            errorType = type
            status = "error"
            payload = Instance.errorDocument(type: type, message: "RequestId: \(requestID) Error: Runtime exited with error: \(exit)")
            instanceReusable = false
        case .timedOut:
            let limit = early ? Instance.initTimeoutSeconds : config.timeout
            errorType = "Sandbox.Timedout"
            status = "timeout"
            timedOutAfterSeconds = Double(limit)
            payload = Instance.errorDocument(type: "Sandbox.Timedout",
                message: "RequestId: \(requestID) Error: Task timed out after \(String(format: "%.2f", limit)) seconds")
            instanceReusable = false
        case .abandoned, .initialized, .ended:
            errorType = "Runtime.Unknown"
            status = "error"
            payload = Instance.errorDocument(type: "Runtime.Unknown", message: "RequestId: \(requestID) Error: instance closed")
            instanceReusable = false
        }
    }

    /// Records what ended the invocation after the runtime answered: its next `/next` (the
    /// instance is reusable), or an exit, a timeout or an out-of-memory kill, charged to this
    /// invocation's REPORT (the caller's answer is not changed; the instance is not reused).
    fileprivate mutating func applyAfterResponse(event: Instance.WaitEvent, config: FunctionConfig, oomKilled: () -> Bool) {
        switch event {
        case .ended:
            return
        case .exited:
            failureAfterResponse = oomKilled() ? "Runtime.OutOfMemory" : "Runtime.ExitError"
            status = "error"
        case .timedOut:
            failureAfterResponse = "Sandbox.Timedout"
            status = "timeout"
            timedOutAfterSeconds = Double(config.timeout)
        case .abandoned, .initialized, .outcome:
            failureAfterResponse = "Runtime.Unknown"
            status = "error"
        }
        instanceReusable = false
    }
}

/// strerror, lower-cased like Go's errors ("no such file or directory").
func lowercasedStrerror(_ err: Int32) -> String {
    let text = String(cString: strerror(err))
    guard let first = text.first else { return text }
    return first.lowercased() + text.dropFirst()
}
