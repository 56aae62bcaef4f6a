import Foundation
import HearthEvents
import HearthStates
import HearthStore
import Synchronization

/// Runs one task for the driver (a Lambda function through the same path as Invoke) and says
/// how it went, as the journal entry to record.
typealias StatesTaskRunner = @Sendable (TaskInvocation, ExecutionContext) async -> JournalEntry

/// The open executions: each one's interpreter (rebuilt from its journal when not in memory),
/// and the one place journal entries are written. An actor: entries of one execution are
/// applied one at a time, in the order they are journalled.
actor StatesEngine {
    let store: Store
    let region: String
    let tokenKey: String
    let starts: StatesStartWriter
    private var open: [String: (execution: Execution, entries: Int)] = [:]
    private var machines: [String: StateMachine] = [:]

    init(store: Store, region: String, tokenKey: String) {
        self.store = store
        self.region = region
        self.tokenKey = tokenKey
        self.starts = StatesStartWriter(store: store)
    }

    static func context(_ record: ExecutionRecord, region: String, tokenKey: String) -> ExecutionContext {
        let machineName = record.stateMachineArn.split(separator: ":").last.map(String.init) ?? ""
        return ExecutionContext(executionArn: record.arn, executionName: record.name, stateMachineArn: record.stateMachineArn,
                                stateMachineName: machineName, roleArn: record.roleArn, region: region, tokenKey: tokenKey)
    }

    func machine(_ definition: String) throws -> StateMachine {
        if let m = machines[definition] { return m }
        let m = try StateMachine.parse(definition)
        if machines.count > 256 { machines = [:] }
        machines[definition] = m
        return m
    }

    /// The execution's interpreter, replayed from its journal if it is not in memory.
    func load(_ arn: String) throws -> (execution: Execution, entries: Int)? {
        if let cached = open[arn] { return cached }
        guard let record = try store.execution(arn: arn) else { return nil }
        let entries = try store.journal(execution: arn).compactMap { text in (try? JSON.parse(text)).flatMap(JournalEntry.init(json:)) }
        let execution = Execution.replay(machine: try machine(record.definition), context: Self.context(record, region: region, tokenKey: tokenKey), journal: entries)
        if execution.outcome == nil { open[arn] = (execution, entries.count) }
        return (execution, entries.count)
    }

    /// Starts an execution (its record, first journal entry and history in one transaction,
    /// group-committed with other starts), or returns the one already holding the name. The
    /// engine takes other calls meanwhile: one that loaded the new execution from its journal
    /// in the meantime keeps its copy.
    func start(_ record: ExecutionRecord) async throws -> (existing: ExecutionRecord?, actions: [ExecutionAction]) {
        var execution = Execution(machine: try machine(record.definition), context: Self.context(record, region: region, tokenKey: tokenKey))
        let entry = JournalEntry.started(input: record.input, at: record.startedMs)
        let actions = execution.apply(entry)
        let events = execution.history.map { ($0.id, $0.json.text) }
        let end = execution.outcome.map { ExecutionEnd(status: $0.status, output: $0.output, error: $0.error, cause: $0.cause, stoppedMs: $0.stopMs) }
        if let existing = try await starts.create(NewExecution(record: record, journal: entry.json.text, events: events, end: end,
                                                               mapRuns: Self.mapRunsStarted(execution.history[...]))) { return (existing, []) }
        if execution.outcome == nil, open[record.arn] == nil { open[record.arn] = (execution, 1) }
        return (nil, actions)
    }

    /// Journals `entry` if the execution still waits for it, with the events it produced (and
    /// the end, if it ended); returns the new actions, nil if the entry was not wanted.
    func record(_ arn: String, _ entry: JournalEntry) throws -> [ExecutionAction]? {
        guard var (execution, entries) = try load(arn), execution.accepts(entry) else { return nil }
        // Not shared with the cache while it changes: a large Map's arrays are not copied per entry.
        open[arn] = nil
        let before = execution.history.count
        let actions = execution.apply(entry)
        let events = execution.history[before...].map { ($0.id, $0.json.text) }
        let end = execution.outcome.map { ExecutionEnd(status: $0.status, output: $0.output, error: $0.error, cause: $0.cause, stoppedMs: $0.stopMs) }
        var redrive: ExecutionRedrive?
        if case .redriven(_, let at) = entry { redrive = ExecutionRedrive(count: execution.redriveCount, atMs: at) }
        // On failure nothing is cached: the next load replays what the store holds.
        try store.appendJournal(execution: arn, seq: entries + 1, entry: entry.json.text, events: Array(events), end: end, redrive: redrive,
                                mapRuns: Self.mapRunsStarted(execution.history[before...]))
        entries += 1
        if execution.outcome == nil { open[arn] = (execution, entries) } else { open[arn] = nil }
        return actions
    }

    /// RedriveExecution: an earlier redrive with the same client token (within AWS's 15 minutes)
    /// answers again with its date and no actions; otherwise `check` may refuse it (throwing),
    /// or the redrive is journalled. nil when the execution does not take it (it is not over,
    /// or succeeded).
    func redrive(_ arn: String, clientToken: String?, now: Int64, check: @Sendable () throws -> Void) throws -> (date: Int64, actions: [ExecutionAction])? {
        guard let (execution, _) = try load(arn) else { return nil }
        if let clientToken, let at = execution.redriveDate(clientToken: clientToken), now - at <= 15 * 60_000 { return (at, []) }
        try check()
        guard let actions = try record(arn, .redriven(clientToken: clientToken, at: now)) else { return nil }
        return (now, actions)
    }

    /// A task still to run (a callback task already submitted waits for its token: not run again).
    func invocation(_ arn: String, task: String) throws -> (TaskInvocation, ExecutionContext)? {
        guard let (execution, _) = try load(arn), let t = execution.outstandingTasks[task], !execution.submittedTasks.contains(task) else { return nil }
        return (t, execution.context)
    }

    /// Journals what a worker said about a task token (`make` builds the entry for the task it
    /// names, at `now`); returns the new actions. Throws InvalidToken, TaskDoesNotExist or
    /// TaskTimedOut as AWS does.
    func callback(token: String, now: Int64, _ make: (String, Int64) -> JournalEntry) throws -> [ExecutionAction] {
        guard let parsed = TaskToken(parsing: token) else { throw StatesAPIError.invalidToken }
        guard let (execution, _) = try load(parsed.executionArn) else { throw StatesAPIError.taskDoesNotExist }
        switch execution.tokenState(token) {
        case .unknown: throw StatesAPIError.taskDoesNotExist
        case .over: throw StatesAPIError.taskTimedOut
        case .waiting(let task):
            guard let actions = try record(parsed.executionArn, make(task, now)) else { throw StatesAPIError.taskTimedOut }
            return actions
        }
    }

    /// A task still outstanding (submitted or not), and whether it is submitted.
    func outstanding(_ arn: String, task: String) throws -> (TaskInvocation, submitted: Bool)? {
        guard let (execution, _) = try load(arn), let t = execution.outstandingTasks[task] else { return nil }
        return (t, execution.submittedTasks.contains(task))
    }

    var openCount: Int { open.count }

    /// The Map Runs these events start (MapRunStarted), for the store's `map_runs`.
    static func mapRunsStarted(_ events: ArraySlice<HistoryEvent>) -> [MapRunStart] {
        events.filter { $0.type == "MapRunStarted" }.compactMap { e in
            e.details?["mapRunArn"]?.stringValue.map { MapRunStart(arn: $0, startedMs: e.timestampMs) }
        }
    }
}

/// Carries out executions' actions through the ledger: a task is an item due now (run by the
/// dispatcher through the Lambda invoke path), a timer is an item due at its time (a Wait, a
/// retry's delay, a task's or the execution's timeout). Each outcome is journalled before the
/// item completes; the item's follow-ups (the next actions) are committed with its completion.
/// After a crash, `recover` replays every running execution and re-adds what is outstanding
/// (the ledger drops duplicates by key); a task that was running is run again, counted as the
/// item's recovery. Thread-safe.
final class StatesDriver: Sendable {
    let store: Store
    let engine: StatesEngine
    let runner: StatesTaskRunner
    /// Multiplies Wait and retry delays (`--states-time-scale`, as Step Functions Local's
    /// WAIT_TIME_SCALE); 1 by default.
    let timeScale: Double
    let clock: any LedgerClock
    let metrics: StatesMetrics
    private let dispatcherBox = Mutex<LedgerDispatcher?>(nil)
    /// Child executions a `.sync` task waits for: child ARN → the parent and its task. Kept in
    /// memory (rebuilt by `recover` from the parents' journals); the child's end puts a ledger
    /// item for the parent with the child's own last item, so the news survives a crash.
    private let waiters = Mutex<[String: (parent: String, task: String)]>([:])
    private let log: @Sendable (String) -> Void
    /// Activity tasks no worker has taken yet, by activity ARN, oldest first (ADR 0028). Kept in
    /// memory: the journal is the truth (a task is outstanding and not submitted), and `recover`
    /// parks every such task again after a crash.
    private let pending = Mutex<[String: [(execution: String, task: String)]]>([:])

    /// `tokenKey`: the secret task tokens are made with (kept in the state directory, so tokens
    /// outlive a restart).
    init(store: Store, region: String, clock: any LedgerClock, timeScale: Double, metrics: StatesMetrics = StatesMetrics(), tokenKey: String = "",
         log: @escaping @Sendable (String) -> Void, runner: @escaping StatesTaskRunner) {
        self.store = store
        self.engine = StatesEngine(store: store, region: region, tokenKey: tokenKey)
        self.clock = clock
        self.timeScale = timeScale
        self.runner = runner
        self.metrics = metrics
        self.log = log
    }

    var dispatcher: LedgerDispatcher? { dispatcherBox.withLock { $0 } }

    func attach(_ dispatcher: LedgerDispatcher) { dispatcherBox.withLock { $0 = dispatcher } }

    /// Tells the parent's `task` when the execution `child` ends.
    func watch(child: String, parent: String, task: String) { waiters.withLock { $0[child] = (parent, task) } }

    /// The ledger item that tells a waiting parent its child ended.
    func childItem(child: String, parent: String, task: String, at: Int64) -> NewLedgerItem {
        let queue = parent.split(separator: ":").dropLast().last.map(String.init) ?? "states"
        let payload = JSON.obj([("execution", .string(parent)), ("task", .string(task)), ("child", .string(child))]).bytes
        return NewLedgerItem(kind: LedgerKind.statesExecution, queue: queue, payload: payload, dueAt: at, idempotencyKey: Self.key(parent, task + "#child"))
    }

    // MARK: actions → ledger items

    static func key(_ arn: String, _ id: String) -> String { "\(arn)#\(id)" }

    func items(_ arn: String, _ actions: [ExecutionAction], at: Int64) -> [NewLedgerItem] {
        let queue = arn.split(separator: ":").dropLast().last.map(String.init) ?? "states"
        var out: [NewLedgerItem] = []
        for action in actions {
            switch action {
            case .invoke(let t):
                let payload = JSON.obj([("execution", .string(arn)), ("task", .string(t.id))]).bytes
                out.append(NewLedgerItem(kind: LedgerKind.statesExecution, queue: queue, payload: payload, dueAt: at, idempotencyKey: Self.key(arn, t.id)))
            case .startTimer(let id, let due):
                let payload = JSON.obj([("execution", .string(arn)), ("timer", .string(id))]).bytes
                let scaled = at + Int64((Double(max(0, due - at)) * timeScale).rounded())
                out.append(NewLedgerItem(kind: LedgerKind.statesExecution, queue: queue, payload: payload, dueAt: scaled, idempotencyKey: Self.key(arn, id)))
            case .finish(let outcome):
                metrics.finished(machine: queue, status: outcome.status)
                if let w = waiters.withLock({ $0.removeValue(forKey: arn) }) {
                    out.append(childItem(child: arn, parent: w.parent, task: w.task, at: at))
                }
                // A parent that ends while it waits on children stops them (as AWS stops a `.sync` child).
                out += stopItems(parent: arn, at: at) { _ in true }
            case .stopChildren(let tasks):
                // A Map Run that ended early stops its running children.
                let ids = Set(tasks)
                out += stopItems(parent: arn, at: at, cause: "The Map Run of the parent execution \(arn) ended") { ids.contains($0) }
            }
        }
        return out
    }

    /// Ledger items that stop the children `parent` watches whose task `which` picks (each
    /// is forgotten: its end tells no one).
    func stopItems(parent arn: String, at: Int64, cause: String? = nil, which: (String) -> Bool) -> [NewLedgerItem] {
        let children = waiters.withLock { all in
            let picked = all.filter { $0.value.parent == arn && which($0.value.task) }.map(\.key)
            for child in picked { all[child] = nil }
            return picked
        }
        return children.sorted().map { child in
            var fields: [(String, JSON)] = [("execution", .string(child)), ("stopBy", .string(arn))]
            if let cause { fields.append(("cause", .string(cause))) }
            let payload = JSON.obj(fields).bytes
            let childQueue = child.split(separator: ":").dropLast().last.map(String.init) ?? "states"
            return NewLedgerItem(kind: LedgerKind.statesExecution, queue: childQueue, payload: payload, dueAt: at, idempotencyKey: Self.key(child, "stop"))
        }
    }

    func submit(_ arn: String, _ actions: [ExecutionAction], at: Int64) async throws {
        let new = items(arn, actions, at: at)
        guard !new.isEmpty else { return }
        guard let dispatcher else { throw StatesAPIError(type: "ServiceUnavailable", message: "the execution driver is not running", status: 500) }
        try await dispatcher.submit(new)
    }

    // MARK: the API's calls

    /// Starts an execution; returns the existing one if the name is taken on that machine.
    func start(_ record: ExecutionRecord) async throws -> ExecutionRecord? {
        let (existing, actions) = try await engine.start(record)
        if let existing { return existing }
        metrics.started(machine: record.stateMachineArn.split(separator: ":").last.map(String.init) ?? "")
        try await submit(record.arn, actions, at: record.startedMs)
        return nil
    }

    /// Stops a running execution (`ExecutionAborted`). False if it was not running.
    func stop(_ arn: String, error: String?, cause: String?) async throws -> Bool {
        let now = clock.nowMs()
        guard let actions = try await engine.record(arn, .stopped(error: error, cause: cause, at: now)) else { return false }
        // The actions are the finish: nothing to run, but a parent waiting on this child is told.
        let new = items(arn, actions, at: now)
        if !new.isEmpty, let dispatcher { try await dispatcher.submit(new) }
        return true
    }

    /// Journals an entry from the API (UpdateMapRun's) and puts what follows on the ledger;
    /// false if the execution did not take it.
    func record(_ arn: String, _ entry: JournalEntry) async throws -> Bool {
        guard let actions = try await engine.record(arn, entry) else { return false }
        metrics.transitions(1)
        try await submit(arn, actions, at: entry.at)
        return true
    }

    /// RedriveExecution: journals the redrive (or finds the one made with the same client token)
    /// and puts the states that run again on the ledger; the redrive's date, nil if the
    /// execution did not take it.
    func redrive(_ arn: String, clientToken: String?, check: @escaping @Sendable () throws -> Void) async throws -> Int64? {
        let now = clock.nowMs()
        guard let (date, actions) = try await engine.redrive(arn, clientToken: clientToken, now: now, check: check) else { return nil }
        if !actions.isEmpty { metrics.transitions(1) }
        try await submit(arn, actions, at: now)
        return date
    }

    /// SendTaskSuccess/Failure/Heartbeat: journals the worker's answer for the token's task and
    /// puts what follows on the ledger.
    func callback(token: String, _ make: @Sendable (String, Int64) -> JournalEntry) async throws {
        let now = clock.nowMs()
        guard let arn = TaskToken(parsing: token)?.executionArn else { throw StatesAPIError.invalidToken }
        let actions = try await engine.callback(token: token, now: now, make)
        metrics.transitions(1)
        try await submit(arn, actions, at: now)
    }

    // MARK: activities

    /// Puts an activity task in its activity's line (once).
    func park(activity: String, execution: String, task: String) {
        pending.withLock { all in
            if !(all[activity] ?? []).contains(where: { $0.execution == execution && $0.task == task }) {
                all[activity, default: []].append((execution, task))
            }
        }
    }

    /// GetActivityTask: the oldest task of `activity` still waiting for a worker, taken by
    /// `worker` (journalled as the task's submission: `ActivityStarted`), or nil if none came
    /// within `waitMs`. Pollers look every 50 ms; whoever looks first after a task arrives gets it.
    func takeActivityTask(activity: String, worker: String, waitMs: Int64) async throws -> (token: String, input: String)? {
        let deadline = clock.nowMs() + waitMs
        while true {
            while let next = pending.withLock({ all -> (execution: String, task: String)? in
                guard var line = all[activity], !line.isEmpty else { return nil }
                let first = line.removeFirst()
                all[activity] = line.isEmpty ? nil : line
                return first
            }) {
                guard let (invocation, _) = try await engine.invocation(next.execution, task: next.task), let token = invocation.taskToken else { continue }
                let now = clock.nowMs()
                guard let actions = try await engine.record(next.execution, .taskSubmitted(task: next.task, output: worker, at: now)) else { continue }
                metrics.transitions(1)
                try await submit(next.execution, actions, at: now)
                return (token, invocation.parameters.text)
            }
            if clock.nowMs() >= deadline || Task.isCancelled { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: the dispatcher's handler

    func handle(_ item: LedgerItem) async -> LedgerDecision {
        guard let payload = try? JSON.parse(item.payload), let arn = payload["execution"]?.stringValue else {
            return .fail(reason: "unreadable states item", attempts: item.attempts, followUps: [])
        }
        do {
            var entry: JournalEntry
            if let child = payload["child"]?.stringValue, let task = payload["task"]?.stringValue {
                // A `.sync` task's child ended: the parent's task ends with the child's outcome.
                guard let (invocation, _) = try await engine.outstanding(arn, task: task),
                      let record = try store.execution(arn: child), record.status != "RUNNING" else { return .complete(followUps: []) }
                entry = Self.childEnded(record, task: invocation, at: clock.nowMs())
            } else if let parent = payload["stopBy"]?.stringValue {
                // The parent ended: its `.sync` child is stopped (ABORTED), telling no one.
                entry = .stopped(error: nil, cause: payload["cause"]?.stringValue ?? "The parent execution \(parent) ended", at: clock.nowMs())
            } else if let timer = payload["timer"]?.stringValue {
                entry = .timerFired(timer: timer, at: clock.nowMs())
            } else if let task = payload["task"]?.stringValue {
                guard let (invocation, context) = try await engine.invocation(arn, task: task) else { return .complete(followUps: []) }
                if case .activity(let activity) = invocation.resource {
                    // Waits for a worker; an activity that is not there fails the schedule.
                    if try store.activity(arn: activity) == nil {
                        entry = .taskFailed(task: task, error: "States.Runtime", cause: "Activity does not exist: '\(activity)'", at: clock.nowMs())
                    } else {
                        park(activity: activity, execution: arn, task: task)
                        return .complete(followUps: [])
                    }
                } else {
                if item.recoveries > 0 {
                    log("hearth: states: task \(task) of \(arn) (state \(invocation.stateName)) runs again after a crash (recovery \(item.recoveries))")
                }
                entry = await runner(invocation, context)
                }
            } else {
                return .fail(reason: "states item names neither a task nor a timer", attempts: item.attempts, followUps: [])
            }
            guard let actions = try await engine.record(arn, entry) else { return .complete(followUps: []) }
            metrics.transitions(1)
            return .complete(followUps: items(arn, actions, at: entry.at))
        } catch {
            log("hearth: states: \(arn): \(error); retrying in 1 s")
            return .retry(dueAt: clock.nowMs() + 1000, attempts: item.attempts + 1, payload: item.payload, error: "\(error)")
        }
    }

    /// At start-up: every running execution's outstanding tasks and timers are put back on the
    /// ledger (those still there are kept: the ledger skips duplicate keys).
    func recover() async {
        let running: [String]
        do { running = try store.runningExecutions() } catch {
            log("hearth: states: cannot list running executions: \(error)")
            return
        }
        var resumed = 0
        for arn in running {
            do {
                guard let (execution, _) = try await engine.load(arn) else { continue }
                let lastAt = execution.history.last?.timestampMs ?? clock.nowMs()
                var new = items(arn, execution.outstandingActions, at: lastAt)
                // `.sync` tasks already submitted wait for their child again (told at once if it ended).
                for (task, invocation) in execution.outstandingTasks where invocation.resource.isSync && execution.submittedTasks.contains(task) {
                    guard let response = execution.submissions[task].flatMap({ try? JSON.parse($0) }),
                          let child = response["ExecutionArn"]?.stringValue else { continue }
                    watch(child: child, parent: arn, task: task)
                    if let record = try store.execution(arn: child), record.status != "RUNNING" {
                        waiters.withLock { $0[child] = nil }
                        new.append(childItem(child: child, parent: arn, task: task, at: clock.nowMs()))
                    }
                }
                if !new.isEmpty, let dispatcher { try await dispatcher.ledger.add(new) }
                // Activity tasks no worker took wait for one again (their ledger item may be done).
                for (task, invocation) in execution.outstandingTasks.sorted(by: { $0.key < $1.key }) where !execution.submittedTasks.contains(task) {
                    if case .activity(let activity) = invocation.resource { park(activity: activity, execution: arn, task: task) }
                }
                resumed += 1
            } catch {
                log("hearth: states: cannot resume \(arn): \(error)")
            }
        }
        if resumed > 0 { log("hearth: states: resumed \(resumed) running execution(s) from their journals") }
    }

    // MARK: express, synchronously (StartSyncExecution)

    /// Runs an execution in memory to its end: tasks at once (concurrently within a step),
    /// timers by sleeping (scaled). Nothing is journalled: Express executions are not durable.
    /// TestState (`test`): the state's data flow is recorded, a Wait does not wait, and the run
    /// stops at the first retry.
    func runSync(machine: StateMachine, context: ExecutionContext, input: String, deadlineMs: Int64, test: Bool = false) async -> Execution {
        var execution = Execution(machine: machine, context: context)
        if test { execution.inspectedState = StateTest.stateName }
        var pending = execution.apply(.started(input: input, at: clock.nowMs()))
        var timers: [String: Int64] = [:]
        while execution.outcome == nil && !(test && execution.retrying) {
            var invokes: [TaskInvocation] = []
            for action in pending {
                switch action {
                case .invoke(let t): invokes.append(t)
                case .startTimer(let id, let due): timers[id] = due
                case .finish, .stopChildren: break
                }
            }
            pending = []
            if !invokes.isEmpty {
                let results = await withTaskGroup(of: JournalEntry.self) { group -> [JournalEntry] in
                    for t in invokes { group.addTask { await self.runner(t, context) } }
                    var out: [JournalEntry] = []
                    for await r in group { out.append(r) }
                    return out
                }
                for r in results { pending += execution.apply(r) }
                continue
            }
            timers = timers.filter { execution.outstandingTimers[$0.key] != nil }
            guard let (id, due) = timers.min(by: { $0.value < $1.value }) else { break }
            let now = clock.nowMs()
            if now >= deadlineMs {
                pending = execution.apply(.stopped(error: "States.Timeout", cause: "The execution exceeded the Express limit of 5 minutes", at: now))
                break
            }
            let wait = test ? 0 : Double(max(0, due - now)) * timeScale
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait))) }
            timers[id] = nil
            pending = execution.apply(.timerFired(timer: id, at: clock.nowMs()))
        }
        return execution
    }
}

/// Counts for /metrics: executions started and ended per machine and status, transitions.
final class StatesMetrics: Sendable {
    private let counts = Mutex<(started: [String: Int], ended: [String: Int], transitions: Int)>(([:], [:], 0))

    init() {}

    func started(machine: String) { counts.withLock { $0.started[machine, default: 0] += 1 } }
    func finished(machine: String, status: String) { counts.withLock { $0.ended["\(machine)|\(status)", default: 0] += 1 } }
    func transitions(_ n: Int) { counts.withLock { $0.transitions += n } }

    /// Prometheus text lines.
    func render(open: Int) -> String {
        let c = counts.withLock { $0 }
        var lines = ["# TYPE hearth_states_executions_started_total counter"]
        for (m, n) in c.started.sorted(by: { $0.key < $1.key }) { lines.append("hearth_states_executions_started_total{state_machine=\"\(m)\"} \(n)") }
        lines.append("# TYPE hearth_states_executions_ended_total counter")
        for (k, n) in c.ended.sorted(by: { $0.key < $1.key }) {
            let parts = k.split(separator: "|")
            lines.append("hearth_states_executions_ended_total{state_machine=\"\(parts[0])\",status=\"\(parts.count > 1 ? parts[1] : "")\"} \(n)")
        }
        lines.append("# TYPE hearth_states_steps_total counter")
        lines.append("hearth_states_steps_total \(c.transitions)")
        lines.append("# TYPE hearth_states_open_executions gauge")
        lines.append("hearth_states_open_executions \(open)")
        return lines.joined(separator: "\n") + "\n"
    }
}
