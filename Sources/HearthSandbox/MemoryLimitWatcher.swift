import Foundation
import CHearthSpawn
import Glibc
import Synchronization

/// One thread for every instance's memory-limit notifications (cgroup v1 usage-threshold
/// eventfds, cgroup v2 `memory.events` inotify descriptors) and the timers that end a CPU boost
/// (`MemoryLimitBoost`). Started on first use; descriptors are level-triggered and drained here.
final class MemoryLimitWatcher: @unchecked Sendable {
    static let shared = MemoryLimitWatcher()

    private struct Registration {
        var fd: Int32
        var handler: @Sendable () -> Void
    }

    private struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 1
        var timers: [(deadline: ContinuousClock.Instant, work: @Sendable () -> Void)] = []
        var started = false
    }

    private let epoll: Int32
    /// Wakes the thread when a timer is added (token 0).
    private let wake: Int32
    private let state = Mutex(State())

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        add(fd: wake, token: 0)
    }

    private func add(fd: Int32, token: UInt64) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = token
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
    }

    /// Calls `handler` (on the watcher's thread) whenever `fd` becomes readable; `fd` must be
    /// non-blocking. Returns the token for `unregister`.
    func register(fd: Int32, handler: @escaping @Sendable () -> Void) -> UInt64 {
        let token = state.withLock { s in
            defer { s.nextToken += 1 }
            s.registrations[s.nextToken] = Registration(fd: fd, handler: handler)
            return s.nextToken
        }
        add(fd: fd, token: token)
        startIfNeeded()
        return token
    }

    /// After this returns the descriptor is no longer read and may be closed.
    func unregister(_ token: UInt64) {
        state.withLock { s in
            guard let registration = s.registrations.removeValue(forKey: token) else { return }
            _ = epoll_ctl(epoll, EPOLL_CTL_DEL, registration.fd, nil)
        }
    }

    /// Runs `work` on the watcher's thread once `delay` has passed.
    func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void) {
        state.withLock { $0.timers.append((.now + delay, work)) }
        startIfNeeded()
        var one: UInt64 = 1
        _ = Glibc.write(wake, &one, 8)
    }

    private func startIfNeeded() {
        let start = state.withLock { s in
            defer { s.started = true }
            return !s.started
        }
        guard start else { return }
        let thread = Thread { [self] in run() }
        thread.name = "hearth-memory-limits"
        thread.start()
    }

    private static func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 32)
        while true {
            let timeout: Int32 = state.withLock { s in
                guard let next = s.timers.map(\.deadline).min() else { return -1 }
                let left = ContinuousClock.now.duration(to: next)
                return left <= .zero ? 0 : Int32(min(60_000, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
            }
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, Int32($0.count), timeout) }
            var ready: [@Sendable () -> Void] = []
            if n > 0 {
                state.withLock { s in
                    for event in events[0..<Int(n)] {
                        let token = event.data.u64
                        if token == 0 { Self.drain(wake); continue }
                        // Drained under the lock: `unregister` cannot close it meanwhile.
                        guard let registration = s.registrations[token] else { continue }
                        Self.drain(registration.fd)
                        ready.append(registration.handler)
                    }
                }
            }
            let now = ContinuousClock.now
            let due: [@Sendable () -> Void] = state.withLock { s in
                let due = s.timers.filter { $0.deadline <= now }.map(\.work)
                s.timers.removeAll { $0.deadline <= now }
                return due
            }
            for handler in ready { handler() }
            for work in due { work() }
        }
    }
}

/// cgroup reclaim near the memory limit runs in the function's own context, so under a small
/// CPU quota (128 MB is 7 % of a core) a function that outgrows its memory spends seconds
/// refaulting its own file pages before the kernel's OOM killer gives up on reclaim, and the
/// invocation times out instead of failing with `Runtime.OutOfMemory` (issue 10). When usage
/// reaches the limit, the instance's quota is raised to one whole core for at most `duration`,
/// once per invocation: the kernel then reaches its verdict (reclaim succeeded, or OOM kill) in
/// a fraction of a second. A function hovering at its limit gains at most `duration` of CPU per
/// invocation (ADR 0025).
final class MemoryLimitBoost: Sendable {
    static let duration: Duration = .milliseconds(500)

    private struct State {
        var armed = true
        var active = false
        var ended = false
    }

    private let state = Mutex(State())
    /// Raises (true) or restores (false) the quota.
    private let setBoosted: @Sendable (Bool) -> Void
    private let boosts = Atomic<Int>(0)

    /// The v1 usage threshold: a thirty-second of the limit below it, 2 to 64 MiB.
    static func threshold(limitBytes: UInt64) -> UInt64 {
        let margin = min(max(limitBytes / 32, 2 << 20), 64 << 20)
        return limitBytes > margin ? limitBytes - margin : limitBytes
    }

    init(setBoosted: @escaping @Sendable (Bool) -> Void) {
        self.setBoosted = setBoosted
    }

    /// How many times the quota was raised (tests, metrics).
    var count: Int { boosts.load(ordering: .relaxed) }

    /// The usage reached the limit: raise the quota if this invocation has not had its boost.
    func limitReached() {
        let boost = state.withLock { s in
            guard s.armed, !s.active, !s.ended else { return false }
            s.armed = false
            s.active = true
            return true
        }
        guard boost else { return }
        boosts.add(1, ordering: .relaxed)
        setBoosted(true)
        MemoryLimitWatcher.shared.after(Self.duration) { [weak self] in self?.restore() }
    }

    private func restore() {
        let restore = state.withLock { s in
            defer { s.active = false }
            return s.active && !s.ended
        }
        if restore { setBoosted(false) }
    }

    /// A new invocation: one more boost allowed.
    func rearm() {
        state.withLock { $0.armed = true }
    }

    /// The cgroup is going away: nothing is raised or restored any more.
    func end() {
        state.withLock { $0.ended = true }
    }
}

/// One instance's registration: its boost, its thrash watch and the descriptor the watcher
/// reads for them.
final class MemoryLimitWatch: Sendable {
    /// Where v1's threshold registrations run: a write to `cgroup.event_control` waits for an
    /// RCU grace period (6–22 ms measured here, as long as the whole rest of a shell's
    /// preparation), so it is done off the path that prepares sandboxes.
    static let registrations = DispatchQueue(label: "hearth-memory-limit-registrations")

    /// Nil where the quota is a whole core or more: there is nothing to raise.
    let boost: MemoryLimitBoost?
    let thrash: MemoryThrashWatch
    private let token: UInt64
    private let fd: Int32
    /// True once `stop()` closed the descriptor; `whileOpen` holds it so a registration never
    /// names a closed (or reused) descriptor number.
    private let closed = Mutex(false)

    /// Registers `fd` (non-blocking) with the shared watcher; when it is readable, `reached`
    /// decides whether the usage reached the limit, and if so the boost and the thrash watch
    /// are told.
    init(fd: Int32, boost: MemoryLimitBoost?, thrash: MemoryThrashWatch, reached: @escaping @Sendable () -> Bool) {
        self.boost = boost
        self.thrash = thrash
        self.fd = fd
        token = MemoryLimitWatcher.shared.register(fd: fd) { [weak boost, weak thrash] in
            guard reached() else { return }
            boost?.limitReached()
            thrash?.limitReached()
        }
    }

    /// Runs `body` with the descriptor unless `stop()` has closed it; `stop()` waits meanwhile.
    func whileOpen(_ body: (Int32) -> Void) {
        closed.withLock { closed in
            if !closed { body(fd) }
        }
    }

    /// Ends the boost and the thrash watch, unregisters and closes the descriptor. Once.
    func stop() {
        boost?.end()
        thrash.end()
        MemoryLimitWatcher.shared.unregister(token)
        closed.withLock { closed in
            guard !closed else { return }
            closed = true
            close(fd)
        }
    }
}

/// The watch of one cgroup instance, set once at creation.
final class MemoryLimitSlot: Sendable {
    private let watch = Mutex<MemoryLimitWatch?>(nil)

    func set(_ new: MemoryLimitWatch) { watch.withLock { $0 = new } }
    /// Ends the boost and the thrash watch for good (the instance is being killed); the
    /// descriptor stays registered.
    func end() {
        watch.withLock { w in
            w?.boost?.end()
            w?.thrash.end()
        }
    }
    func stop() { watch.withLock { w in defer { w = nil }; return w }?.stop() }
    func rearm() { watch.withLock { $0?.boost?.rearm() } }
    var boosts: Int { watch.withLock { $0?.boost?.count } ?? 0 }
    /// Kills on the thrash verdict, counted with the kernel's OOM kills.
    var outOfMemoryVerdicts: Int { watch.withLock { $0?.thrash.count } ?? 0 }
}
