import Foundation
import HearthRuntimeAPI
import HearthSandbox

/// What the pool needs to start an instance of one function version.
public struct DeployedVersion: Sendable {
    public var config: FunctionConfig
    /// Unpacked read-only code folder.
    public var code: String
    public var opt: String?
    public var image: RuntimeImage
    /// Changes whenever code or configuration change; instances of an older generation drain.
    public var generation: String

    public init(config: FunctionConfig, code: String, opt: String? = nil, image: RuntimeImage, generation: String) {
        self.config = config
        self.code = code
        self.opt = opt
        self.image = image
        self.generation = generation
    }
}

/// Why the pool refused an invocation (429 TooManyRequestsException with this `Reason`).
public enum PoolThrottle: Error, Equatable, Sendable {
    case reservedConcurrencyExceeded
    case concurrencyLimitExceeded
    case shuttingDown

    public var reason: String {
        switch self {
        case .reservedConcurrencyExceeded: return "ReservedFunctionConcurrentInvocationLimitExceeded"
        case .concurrencyLimitExceeded: return "ConcurrentInvocationLimitExceeded"
        case .shuttingDown: return "ServiceShuttingDown"
        }
    }
}

/// The pool's figures for metrics.
public struct PoolStats: Sendable {
    public var busy: [String: Int]
    public var idle: [String: Int]
    public var total: Int
    /// Pre-forked shells ready, per function.
    public var shells: [String: Int] = [:]
}

/// Warm instances per function version: the most recently used idle instance first, a cold
/// start when none is idle and the limits allow, throttling beyond them. One invocation per
/// instance at a time. An instance that timed out, ran out of memory or crashed is never reused.
/// Idle instances are reaped after `idleTimeout` and recycled after `maxAge`.
///
/// Pre-forked shells: for every function version invoked within `idleTimeout`, the pool keeps
/// `prefork` sandboxes set up ahead (`Instance.Shell`: namespaces, cgroup with limits and the
/// process attached, mounts, seccomp), so a cold start is only exec + runtime init. Shells do
/// not count against `maxInstances` (they run no function code); they are discarded with their
/// version's traffic (idle timeout), on drain, on a generation change and on shutdown.
public actor InstancePool {
    public struct Limits: Sendable {
        public var maxInstances: Int
        public var idleTimeout: Duration
        public var maxAge: Duration
        public var queueTimeout: Duration
        /// Freeze idle instances with the cgroup freezer (no CPU while idle); thawed on reuse.
        public var freezeIdle: Bool
        /// Pre-forked shells kept per function version with recent traffic (0: none).
        public var prefork: Int
        /// Shells sized by demand: after a burst of cold starts, a version keeps up to this many
        /// shells (as many as the burst needed, at least `prefork`), so the next burst starts
        /// from shells; the demand halves every `demandDecay` without a cold start. At most
        /// `prefork` when below it (0 turns shells off altogether).
        public var preforkMax: Int
        public var demandDecay: Duration

        public static let defaultPrefork = 1
        public static let defaultPreforkMax = 64

        public init(maxInstances: Int, idleTimeout: Duration = .seconds(600), maxAge: Duration = .seconds(7200),
                    queueTimeout: Duration = .zero, freezeIdle: Bool = false, prefork: Int = Limits.defaultPrefork,
                    preforkMax: Int = Limits.defaultPreforkMax, demandDecay: Duration = .seconds(30)) {
            self.prefork = prefork
            self.preforkMax = max(prefork, preforkMax)
            self.demandDecay = demandDecay
            self.maxInstances = maxInstances
            self.idleTimeout = idleTimeout
            self.maxAge = maxAge
            self.queueTimeout = queueTimeout
            self.freezeIdle = freezeIdle
        }
    }

    struct Key: Hashable {
        var function: String
        var version: String
    }

    struct Idle {
        var instance: Instance
        var generation: String
        var lastUsed: ContinuousClock.Instant
        var started: ContinuousClock.Instant
    }

    public let host: SandboxHost
    private let limits: Limits
    private var idle: [Key: [Idle]] = [:]
    private var busyByFunction: [String: Int] = [:]
    private var busyByKey: [Key: Int] = [:]
    /// Instances alive or starting, across all functions.
    private var total = 0
    private var closing = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var busyInstances: [ObjectIdentifier: Instance] = [:]
    /// Retired instances still being destroyed.
    private var destroying = 0
    /// Instances alive or starting, per function version.
    private var aliveByKey: [Key: Int] = [:]
    /// Provisioned concurrency: instances kept initialised per function version.
    private var provisioned: [Key: (count: Int, version: DeployedVersion)] = [:]
    private var reaper: Task<Void, Never>?
    /// Pre-forked shells ready per function version, with the generation they were made for.
    private var shells: [Key: [(shell: Instance.Shell, generation: String)]] = [:]
    /// Shells being prepared per function version.
    private var shellsStarting: [Key: Int] = [:]
    /// When each version was last invoked, and what to prepare its shells from.
    private var traffic: [Key: (last: ContinuousClock.Instant, version: DeployedVersion)] = [:]
    /// Cold starts under way per version, and the demand for shells they showed.
    private var demand: [Key: ShellDemand] = [:]

    public init(host: SandboxHost, limits: Limits) {
        self.host = host
        self.limits = limits
    }

    /// Starts the idle reaper.
    public func start() {
        guard reaper == nil else { return }
        reaper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                await self?.reapIdle()
            }
        }
    }

    /// A cold start or a warm instance for `version`; nil when throttled.
    private enum Lease {
        case warm(Instance, ContinuousClock.Instant)
        case cold
    }

    private func acquire(_ key: Key, version: DeployedVersion, reserved: Int?) async throws(PoolThrottle) -> Lease {
        if closing { throw .shuttingDown }
        let deadline = ContinuousClock.now + limits.queueTimeout
        while true {
            if let reserved, busyByFunction[key.function, default: 0] >= reserved { throw .reservedConcurrencyExceeded }
            // Most recently used first, but among the few most recent one whose Runtime API
            // server runs on this thread's event loop before it (the task that prefers the loop
            // then needs no hand-off between threads, ADR 0036); instances of an old generation
            // are drained.
            while var stack = idle[key], let last = stack.indices.last {
                let index = stack.indices.reversed().prefix(8).first { stack[$0].instance.servesOnCallingThread } ?? last
                let entry = stack.remove(at: index)
                idle[key] = stack
                if entry.generation == version.generation && entry.instance.isAlive {
                    markBusy(key)
                    if limits.freezeIdle { entry.instance.thaw() }
                    return .warm(entry.instance, entry.started)
                }
                retire(entry.instance, key: key)
            }
            if total < limits.maxInstances {
                total += 1
                aliveByKey[key, default: 0] += 1
                markBusy(key)
                return .cold
            }
            // At the cap: give up an idle instance of another function, the least recently used.
            if let (victimKey, victim) = leastRecentlyUsedIdle() {
                retire(victim, key: victimKey)
                continue
            }
            if ContinuousClock.now >= deadline { throw .concurrencyLimitExceeded }
            await waitForRelease(until: deadline)
            if closing { throw .shuttingDown }
        }
    }

    private func markBusy(_ key: Key) {
        busyByFunction[key.function, default: 0] += 1
        busyByKey[key, default: 0] += 1
    }

    private func markIdle(_ key: Key) {
        busyByFunction[key.function, default: 0] -= 1
        busyByKey[key, default: 0] -= 1
    }

    private func leastRecentlyUsedIdle() -> (Key, Instance)? {
        var best: (Key, Int, ContinuousClock.Instant)?
        for (key, stack) in idle {
            for (i, entry) in stack.enumerated() where best == nil || entry.lastUsed < best!.2 {
                best = (key, i, entry.lastUsed)
            }
        }
        guard let (key, index, _) = best else { return nil }
        return (key, idle[key]!.remove(at: index).instance)
    }

    /// Frees an instance's slot at once and destroys it in the background (shutdown waits
    /// for those destructions).
    private func retire(_ instance: Instance, key: Key) {
        instanceGone(key)
        destroying += 1
        Task {
            await instance.destroy()
            self.destroyed()
        }
    }

    private func destroyed() {
        destroying -= 1
    }

    private func instanceGone(_ key: Key) {
        total -= 1
        aliveByKey[key, default: 1] -= 1
        if aliveByKey[key] == 0 { aliveByKey[key] = nil }
        wakeWaiters()
    }

    private func wakeWaiters() {
        let pending = waiters
        waiters = []
        pending.forEach { $0.resume() }
    }

    private func waitForRelease(until deadline: ContinuousClock.Instant) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters.append(c)
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.wakeWaiters()
            }
        }
    }

    /// Invokes `version` of a function: a warm instance when one is idle, else a cold start.
    /// `onResponse` gets the caller's answer as soon as there is one (see `Instance.invoke`);
    /// the instance stays busy until the invocation ends at the runtime's next `/next`, and the
    /// record returned then covers the whole invocation.
    public func invoke(function: String, versionName: String, version: DeployedVersion, reserved: Int?,
                       payload: [UInt8], requestID: String, invokedARN: String? = nil, traceID: String? = nil,
                       clientContext: String? = nil, stream: ResponseStream? = nil,
                       onResponse: (@Sendable (InvocationRecord) -> Void)? = nil) async throws(PoolThrottle) -> InvocationRecord {
        let key = Key(function: function, version: versionName)
        let lease = try await acquire(key, version: version, reserved: reserved)
        traffic[key] = (.now, version)
        if case .cold = lease {} else { fillShells(key) }
        var instance: Instance
        var startedAt: ContinuousClock.Instant
        switch lease {
        case .warm(let warm, let at):
            instance = warm
            startedAt = at
        case .cold:
            // Counted until its first invocation ends: the burst's size is how many overlap.
            demand[key, default: ShellDemand()].coldStartBegan(at: .now)
            do {
                let coldStart = ContinuousClock.now
                if let shell = takeShell(key, generation: version.generation) {
                    instance = try await shell.launch(startedAt: coldStart)
                } else {
                    // Workspace, cgroup, clone, mounts: milliseconds of blocking system calls,
                    // kept off the event loop a warm invocation's task may prefer (ADR 0036).
                    let host = self.host
                    let loop = host.callingLoop
                    instance = try await withTaskExecutorPreference(globalConcurrentExecutor) {
                        try await Instance.start(config: version.config, code: version.code, opt: version.opt,
                                                 image: version.image, host: host, logSink: nil, eventLoop: loop)
                    }
                }
                startedAt = .now
            } catch {
                markIdle(key)
                instanceGone(key)
                coldStartEnded(key)
                let record = InvocationRecord(failedStart: error, requestID: requestID, config: version.config)
                stream?.finish(.init(type: record.errorType ?? "Runtime.Unknown", body: record.payload))
                onResponse?(record)
                return record
            }
        }
        busyInstances[ObjectIdentifier(instance)] = instance
        if case .cold = lease { fillShells(key) }
        let record = await instance.invoke(payload: payload, requestID: requestID, invokedARN: invokedARN, traceID: traceID,
                                           clientContext: clientContext, stream: stream, onResponse: onResponse)
        busyInstances[ObjectIdentifier(instance)] = nil
        if case .cold = lease { coldStartEnded(key) }
        // A function that asked for a sandbox per invocation never gets this one again.
        release(key, instance: instance, generation: version.generation, started: startedAt,
                reusable: record.instanceReusable && !version.config.sandboxPerInvocation)
        return record
    }

    private func release(_ key: Key, instance: Instance, generation: String, started: ContinuousClock.Instant, reusable: Bool) {
        markIdle(key)
        let tooOld = started.duration(to: .now) > limits.maxAge
        if reusable && !closing && !tooOld {
            if limits.freezeIdle { instance.freeze() }
            idle[key, default: []].append(Idle(instance: instance, generation: generation, lastUsed: .now, started: started))
            wakeWaiters()
        } else {
            retire(instance, key: key)
        }
    }

    /// Destroys idle instances of `function` (all versions, or one) and makes busy ones retire
    /// when they finish: after a code or configuration change, or a delete.
    public func drain(function: String, version: String? = nil) {
        for key in idle.keys where key.function == function && (version == nil || key.version == version) {
            for entry in idle.removeValue(forKey: key) ?? [] { retire(entry.instance, key: key) }
        }
        for key in provisioned.keys where key.function == function && (version == nil || key.version == version) {
            provisioned[key] = nil
        }
        for key in Array(shells.keys) + Array(traffic.keys) where key.function == function && (version == nil || key.version == version) {
            traffic[key] = nil
            discardShells(key)
        }
        for key in demand.keys where key.function == function && (version == nil || key.version == version) && demand[key]!.inFlight == 0 {
            demand[key] = nil
        }
    }

    // MARK: pre-forked shells

    /// A ready shell of the current generation, if any (shells of an older one are discarded).
    private func takeShell(_ key: Key, generation: String) -> Instance.Shell? {
        while var stack = shells[key], let top = stack.popLast() {
            shells[key] = stack.isEmpty ? nil : stack
            if top.generation == generation && top.shell.isAlive { return top.shell }
            discard(top.shell)
        }
        return nil
    }

    /// How many shells `key` should have: `prefork`, or what its last burst of cold starts
    /// needed (at most `preforkMax`). While cold starts are under way only `prefork`: shells
    /// prepared during a burst would compete with its starts for the kernel's cgroup attach.
    private func shellTarget(_ key: Key) -> Int {
        guard limits.prefork > 0 else { return 0 }
        let d = demand[key] ?? ShellDemand()
        if d.inFlight > 0 { return limits.prefork }
        return min(limits.preforkMax, max(limits.prefork, d.peak))
    }

    private func coldStartEnded(_ key: Key) {
        demand[key, default: ShellDemand()].coldStartEnded()
        if demand[key]?.inFlight == 0 { fillShells(key) }
    }

    /// Prepares shells in the background until `key` has its target of them (ready or starting).
    private func fillShells(_ key: Key) {
        guard !closing, let version = traffic[key]?.version else { return }
        let have = (shells[key]?.count ?? 0) + shellsStarting[key, default: 0]
        let target = shellTarget(key)
        guard have < target else { return }
        let host = self.host
        for _ in have..<target {
            shellsStarting[key, default: 0] += 1
            Task {
                let shell = try? await Instance.Shell.prepare(config: version.config, code: version.code, opt: version.opt,
                                                              image: version.image, host: host, logSink: nil)
                await self.shellReady(shell, key: key, generation: version.generation)
            }
        }
    }

    private func shellReady(_ shell: Instance.Shell?, key: Key, generation: String) {
        shellsStarting[key, default: 1] -= 1
        if shellsStarting[key] == 0 { shellsStarting[key] = nil }
        guard let shell else { return }
        // Keep it only while the version still has traffic and the generation is current.
        if closing || traffic[key]?.version.generation != generation || (shells[key]?.count ?? 0) >= max(limits.prefork, shellTarget(key)) {
            discard(shell)
            return
        }
        shells[key, default: []].append((shell, generation))
    }

    private func discardShells(_ key: Key) {
        for entry in shells.removeValue(forKey: key) ?? [] { discard(entry.shell) }
    }

    /// Removes a shell in the background (shutdown waits for it).
    private func discard(_ shell: Instance.Shell) {
        destroying += 1
        Task {
            await shell.discard()
            self.destroyed()
        }
    }

    /// Retires the idle instances of `function` but keeps its shells and traffic (the next
    /// invocations are cold starts from shells): for benchmarks of bursts after the first.
    public func retireIdle(function: String) {
        for key in idle.keys where key.function == function {
            for entry in idle.removeValue(forKey: key) ?? [] { retire(entry.instance, key: key) }
        }
    }

    /// Ready shells per function version (for metrics and tests).
    public func shellCount(function: String, versionName: String) -> Int {
        shells[Key(function: function, version: versionName)]?.count ?? 0
    }

    // MARK: provisioned concurrency

    /// Keeps `count` instances of a published version initialised (0 removes the setting).
    public func setProvisioned(function: String, versionName: String, version: DeployedVersion, count: Int) {
        let key = Key(function: function, version: versionName)
        provisioned[key] = count > 0 ? (count, version) : nil
        fillProvisioned()
    }

    /// (requested, ready) for a version's provisioned concurrency.
    public func provisionedStatus(function: String, versionName: String) -> (requested: Int, ready: Int) {
        let key = Key(function: function, version: versionName)
        let requested = provisioned[key]?.count ?? 0
        let ready = (idle[key]?.count ?? 0) + busyByKey[key, default: 0]
        return (requested, min(requested, ready))
    }

    /// Starts instances for every provisioned version below its count, initialising each
    /// before it joins the idle stack.
    private func fillProvisioned() {
        guard !closing else { return }
        for (key, target) in provisioned {
            while aliveByKey[key, default: 0] < target.count && total < limits.maxInstances {
                total += 1
                aliveByKey[key, default: 0] += 1
                let version = target.version
                let host = self.host
                Task {
                    do {
                        let instance = try await Instance.start(config: version.config, code: version.code, opt: version.opt,
                                                                image: version.image, host: host, logSink: nil)
                        if await instance.initialize() {
                            self.addProvisioned(instance, key: key, generation: version.generation)
                        } else {
                            self.retire(instance, key: key)
                        }
                    } catch {
                        self.instanceGone(key)
                    }
                }
            }
        }
    }

    private func addProvisioned(_ instance: Instance, key: Key, generation: String) {
        if closing {
            retire(instance, key: key)
            return
        }
        if limits.freezeIdle { instance.freeze() }
        idle[key, default: []].append(Idle(instance: instance, generation: generation, lastUsed: .now, started: .now))
        wakeWaiters()
    }

    /// Reaps instances idle for longer than the idle timeout (keeping provisioned ones), and
    /// tops provisioned versions back up.
    public func reapIdle() {
        let now = ContinuousClock.now
        for (key, stack) in idle {
            var keep = stack.filter { $0.lastUsed.duration(to: now) < limits.idleTimeout }
            var old = stack.filter { $0.lastUsed.duration(to: now) >= limits.idleTimeout }
            // Provisioned concurrency: never reap below the provisioned count.
            let floor = (provisioned[key]?.count ?? 0) - busyByKey[key, default: 0] - keep.count
            if floor > 0 {
                keep += old.suffix(floor)
                old.removeLast(min(floor, old.count))
            }
            idle[key] = keep.isEmpty ? nil : keep
            old.forEach { retire($0.instance, key: key) }
        }
        // Shells live as long as their version has traffic; demand decays without cold starts,
        // and shells above the target go.
        for (key, entry) in traffic where entry.last.duration(to: now) >= limits.idleTimeout {
            traffic[key] = nil
            demand[key] = nil
            discardShells(key)
        }
        for key in Array(demand.keys) {
            demand[key]!.decay(now: now, every: limits.demandDecay)
            if demand[key]!.isEmpty { demand[key] = nil }
            let target = shellTarget(key)
            while let count = shells[key]?.count, count > target, let extra = shells[key]?.removeFirst() {
                if shells[key]?.isEmpty == true { shells[key] = nil }
                discard(extra.shell)
            }
        }
        fillProvisioned()
    }

    public func stats() -> PoolStats {
        PoolStats(busy: busyByFunction.filter { $0.value > 0 },
                  idle: idle.reduce(into: [:]) { $0[$1.key.function, default: 0] += $1.value.count },
                  total: total,
                  shells: shells.reduce(into: [:]) { $0[$1.key.function, default: 0] += $1.value.count })
    }

    /// Stops taking invocations, waits up to `grace` for busy ones, destroys every instance.
    public func shutdown(grace: Duration) async {
        closing = true
        reaper?.cancel()
        wakeWaiters()
        let deadline = ContinuousClock.now + grace
        while busyByFunction.values.contains(where: { $0 > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let all = idle.values.flatMap { $0.map(\.instance) }
        idle = [:]
        traffic = [:]
        for key in Array(shells.keys) { discardShells(key) }
        for instance in all {
            await instance.destroy()
            total -= 1
        }

        // Busy instances that outlived the grace period are killed; their invocations end with
        // an error and release them, which retires them.
        for instance in busyInstances.values { await instance.destroy() }
        while (total > 0 || destroying > 0 || !shellsStarting.isEmpty) && ContinuousClock.now < deadline + .seconds(5) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
