// HearthStates: the interpreter. Journal entries in, history events and actions out. Pure.
import Foundation

/// One execution of a state machine, as a state machine of its own: `apply` takes a journal
/// entry (the start, a task's result, a timer firing, a stop), appends the history events it
/// causes to `history`, and returns the actions for the driver (run a task, start a timer,
/// finish). It calls nothing, reads no clock and draws randomness from a generator seeded by
/// the execution's ARN, so `replay` of the same journal reproduces the same history and the
/// same outstanding actions: that is crash recovery.
///
/// Value type; not thread-safe (the driver holds one per open execution under its lock).
public struct Execution: Sendable {
    public let machine: StateMachine
    public let context: ExecutionContext
    public private(set) var history: [HistoryEvent] = []
    public private(set) var outcome: ExecutionOutcome?
    /// Tasks running (by id), and timers set (by id, with their due time).
    public internal(set) var outstandingTasks: [String: TaskInvocation] = [:]
    public private(set) var outstandingTimers: [String: Int64] = [:]
    /// Callback tasks whose request was made (`taskSubmitted`): they wait for their token, and
    /// are not run again after a restart.
    public internal(set) var submittedTasks: Set<String> = []
    /// What each submitted task's request answered (the `taskSubmitted` output), by task id:
    /// a `.sync` task's child execution ARN is read from here after a restart.
    public internal(set) var submissions: [String: String] = [:]
    /// Every task token this execution issued → its task.
    var issuedTokens: [String: String] = [:]
    /// How many times the execution was redriven (`$$.Execution.RedriveCount`), and each
    /// redrive's client token and time (RedriveExecution is idempotent on the token).
    public private(set) var redriveCount = 0
    public private(set) var redrives: [(clientToken: String?, at: Int64)] = []
    /// Where a redrive would start again: set when the execution ends other than SUCCEEDED.
    var redrivePoint: Resume?
    /// TestState: the state whose data flow is recorded in `inspection` (the top-level frame's).
    public var inspectedState: String?
    public private(set) var inspection: JSONObject?
    /// Every Map Run a distributed Map state started, in order (kept after the end: DescribeMapRun
    /// and ListMapRuns read them).
    public internal(set) var mapRuns: [MapRunInfo] = []
    /// The last error a state failed with (before Retry or Catch took it).
    public private(set) var lastFailure: (state: String, error: String, cause: String)?

    var input: JSON = .null
    var startMs: Int64 = 0
    var random: StatesRandom
    var nextID = 0
    var frames: [Int: Frame] = [:]
    var tasks: [String: Int] = [:]             // task id → frame
    var timers: [String: TimerPurpose] = [:]
    var agenda: [Work] = []
    var actions: [ExecutionAction] = []
    /// The largest state input or output (bytes): 256 KiB, as AWS.
    public static let payloadLimit = 262_144

    enum TimerPurpose: Equatable {
        case wait(frame: Int)
        case retry(frame: Int)
        case taskTimeout(task: String)
        case heartbeat(task: String)
        case executionTimeout
    }

    enum Work {
        case enter(frame: Int, state: String, input: JSON)
    }

    struct Frame {
        var id: Int
        /// The frame running the Parallel or Map state this branch belongs to, and the slot.
        var parent: (frame: Int, slot: Int)?
        var branch: Branch
        var state: State
        var stateInput: JSON = .null
        var enteredEventId = 0
        var enteredAt: Int64 = 0
        var lastEventId: Int
        var phase: Phase = .idle
        var retryCounts: [Int] = []
        var generation = 0
        /// The token of the callback task being scheduled (`$$.Task.Token` while its Parameters are evaluated).
        var taskToken: String?
        /// The state this frame enters next (queued on the agenda, not yet entered).
        var next: (state: String, input: JSON)?
        /// What a Parallel or Map state that failed had done (its branches' results, where the
        /// others were): a redrive runs only what did not succeed.
        var captured: Resume.Inner?
    }

    /// Where a frame starts again when the execution is redriven: `state` entered again with
    /// its original `input`, or, for a Parallel or Map state (`inner`), the results it had and
    /// where each unfinished branch or iteration starts again.
    struct Resume: Sendable {
        var state: String
        var input: JSON
        var inner: Inner?

        enum Inner: Sendable {
            case parallel(results: [JSON?], branches: [Int: Resume])
            case map(items: [JSON], inputs: [JSON], results: [JSON?], next: Int, maxConcurrency: Int, iterations: [Int: Resume])
        }
    }

    enum Phase {
        case idle
        case task(id: String, effective: JSON)
        case retryDelay(timer: String)
        case waiting(timer: String, effective: JSON)
        case parallel(children: [Int], results: [JSON?], done: Int)
        case map(MapRun)
        case distributed(DistributedRun)
    }

    struct MapRun {
        var items: [JSON]
        var inputs: [JSON]
        var next = 0
        var running: [Int: Int] = [:]   // slot → child frame
        var results: [JSON?]
        var finished = 0
        var maxConcurrency: Int
        var pumping = false
        /// Iterations a redrive starts again (before those never started), by slot.
        var redo: [Int: Resume] = [:]
    }

    public init(machine: StateMachine, context: ExecutionContext) {
        self.machine = machine
        self.context = context
        random = StatesRandom(seed: context.executionArn)
    }

    /// Rebuilds an execution from its journal: the state it was in after the last entry.
    public static func replay(machine: StateMachine, context: ExecutionContext, journal: [JournalEntry]) -> Execution {
        var execution = Execution(machine: machine, context: context)
        for entry in journal { _ = execution.apply(entry) }
        return execution
    }

    /// The actions still to carry out (after a replay): every running task and set timer, or the finish.
    public var outstandingActions: [ExecutionAction] {
        if let outcome { return [.finish(outcome)] }
        return outstandingTasks.keys.sorted().filter { !submittedTasks.contains($0) }.map { .invoke(outstandingTasks[$0]!) }
            + outstandingTimers.keys.sorted().map { .startTimer(id: $0, dueMs: outstandingTimers[$0]!) }
    }

    /// Whether an entry would change anything (a result for a task still running, a timer
    /// still set, a start or stop while it makes sense). The driver journals only these.
    public func accepts(_ entry: JournalEntry) -> Bool {
        switch entry {
        case .started: return history.isEmpty
        case .taskSucceeded(let t, _, _), .taskFailed(let t, _, _, _): return outcome == nil && outstandingTasks[t] != nil
        case .taskSubmitted(let t, _, _):
            return outcome == nil && outstandingTasks[t]?.waitsAfterSubmission == true && !submittedTasks.contains(t)
        case .taskHeartbeat(let t, _): return outcome == nil && outstandingTasks[t]?.callback == true
        case .timerFired(let t, _): return outcome == nil && outstandingTimers[t] != nil
        case .stopped: return outcome == nil && !history.isEmpty
        case .redriven: return redrivable
        case .mapRunUpdated(let arn, _, _, _, _): return outcome == nil && distributedFrame(arn) != nil
        }
    }

    /// Whether the execution ended other than SUCCEEDED and knows where to start again
    /// (RedriveExecution's other conditions, its age and counts, are the API's).
    public var redrivable: Bool {
        guard let outcome else { return false }
        return outcome.status != "SUCCEEDED" && redrivePoint != nil
    }

    /// When the redrive with `clientToken` happened, if one did.
    public func redriveDate(clientToken: String) -> Int64? {
        redrives.last { $0.clientToken == clientToken }?.at
    }

    /// Where the task a token names is (SendTaskSuccess/Failure/Heartbeat look here).
    public func tokenState(_ token: String) -> TaskTokenState {
        guard let task = issuedTokens[token] else { return .unknown }
        return outcome == nil && outstandingTasks[task] != nil ? .waiting(task: task) : .over
    }

    // MARK: entry point

    public mutating func apply(_ entry: JournalEntry) -> [ExecutionAction] {
        guard accepts(entry) else { return [] }
        actions = []
        let at = entry.at
        switch entry {
        case .started(let text, let at):
            startMs = at
            input = (try? JSON.parse(text)) ?? .null
            _ = emit(nil, at, "ExecutionStarted", "executionStartedEventDetails",
                     .obj([("input", .string(input.text)), ("inputDetails", .obj([("truncated", .bool(false))])), ("roleArn", .string(context.roleArn))]))
            if let timeout = machine.timeoutSeconds {
                setTimer(.executionTimeout, due: at + Int64(timeout) * 1000)
            }
            let root = newFrame(parent: nil, branch: machine.root, lastEventId: 0)
            queue(root, machine.root.startAt, input)
        case .taskSucceeded(let id, let output, let at):
            let invocation = outstandingTasks.removeValue(forKey: id)!
            let fid = tasks.removeValue(forKey: id)!
            submittedTasks.remove(id)
            submissions[id] = nil
            clearTaskTimeout(id)
            let result = (try? JSON.parse(output)) ?? .string(output)
            if invocation.resource.isMapRunChild {
                mapChildEnded(fid, task: id, result: .success(result), at: at)
                break
            }
            if case .lambdaFunction = invocation.resource {
                _ = emit(fid, at, "LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails",
                         .obj([("output", .string(result.text)), ("outputDetails", .obj([("truncated", .bool(false))]))]))
            } else if invocation.resource.isActivity {
                _ = emit(fid, at, "ActivitySucceeded", "activitySucceededEventDetails",
                         .obj([("output", .string(result.text)), ("outputDetails", .obj([("truncated", .bool(false))]))]))
            } else {
                let names = invocation.resource.eventNames(callback: invocation.callback)
                _ = emit(fid, at, "TaskSucceeded", "taskSucceededEventDetails",
                         .obj([("resourceType", .string(names.type)), ("resource", .string(names.resource)), ("output", .string(result.text)),
                               ("outputDetails", .obj([("truncated", .bool(false))]))]))
            }
            guard case .task(_, _) = frames[fid]!.phase else { break }
            finishWithResult(fid, result: result, at: at)
        case .taskFailed(let id, let error, let cause, let at):
            let invocation = outstandingTasks.removeValue(forKey: id)!
            let fid = tasks.removeValue(forKey: id)!
            // An activity task that fails before a worker took it could not be scheduled.
            let taken = submittedTasks.remove(id) != nil
            submissions[id] = nil
            clearTaskTimeout(id)
            if invocation.resource.isMapRunChild {
                mapChildEnded(fid, task: id, result: .failure(StatesError(error, cause)), at: at)
                break
            }
            emitTaskFailure(fid, invocation, type: invocation.resource.isActivity && !taken ? "ScheduleFailed" : "Failed", error: error, cause: cause, at: at)
            stateFailed(fid, StatesError(error, cause), at: at)
        case .taskSubmitted(let id, let output, let at):
            let invocation = outstandingTasks[id]!
            submittedTasks.insert(id)
            submissions[id] = output
            // A Map Run's child started: the parent's history shows nothing of it.
            if invocation.resource.isMapRunChild { break }
            // An activity task's submission is a worker taking it; `output` is the worker's name.
            if invocation.resource.isActivity {
                emit(tasks[id]!, at, "ActivityStarted", "activityStartedEventDetails", .obj([("workerName", .string(output))]))
                break
            }
            let result = (try? JSON.parse(output)) ?? .string(output)
            let names = invocation.resource.eventNames(callback: invocation.callback)
            emit(tasks[id]!, at, "TaskSubmitted", "taskSubmittedEventDetails",
                 .obj([("resourceType", .string(names.type)), ("resource", .string(names.resource)), ("output", .string(result.text)),
                       ("outputDetails", .obj([("truncated", .bool(false))]))]))
        case .taskHeartbeat(let id, let at):
            // The heartbeat timeout starts again (the task's own timeout does not).
            for (timer, purpose) in timers where purpose == .heartbeat(task: id) {
                timers[timer] = nil
                outstandingTimers[timer] = nil
            }
            if let seconds = outstandingTasks[id]!.heartbeatSeconds { setTimer(.heartbeat(task: id), due: at + seconds * 1000) }
        case .timerFired(let id, let at):
            outstandingTimers[id] = nil
            let purpose = timers.removeValue(forKey: id)!
            switch purpose {
            case .executionTimeout:
                finish(status: "TIMED_OUT", type: "ExecutionTimedOut", key: "executionTimedOutEventDetails",
                       details: .obj([("error", .string(StatesError.timeout)), ("cause", .string("The execution timed out"))]),
                       error: StatesError.timeout, cause: "The execution timed out", output: nil, previous: lastEventId, at: at)
            case .taskTimeout(let task), .heartbeat(let task):
                guard let invocation = outstandingTasks.removeValue(forKey: task), let fid = tasks.removeValue(forKey: task) else { break }
                submittedTasks.remove(task)
                submissions[task] = nil
                clearTaskTimeout(task)
                let error = purpose == .heartbeat(task: task) ? StatesError.heartbeatTimeout : StatesError.timeout
                emitTaskFailure(fid, invocation, type: "TimedOut", error: error, cause: "", at: at)
                stateFailed(fid, StatesError(error, ""), at: at)
            case .wait(let fid):
                guard case .waiting(_, let effective) = frames[fid]?.phase else { break }
                frames[fid]!.phase = .idle
                complete(fid, output: effective, outputPathApplies: true, at: at)
            case .retry(let fid):
                guard frames[fid] != nil else { break }
                frames[fid]!.phase = .idle
                run(fid, at: at)
            }
        case .stopped(let error, let cause, let at):
            var details = JSONObject()
            if let error { details["error"] = .string(error) }
            if let cause { details["cause"] = .string(cause) }
            finish(status: "ABORTED", type: "ExecutionAborted", key: "executionAbortedEventDetails", details: .object(details),
                   error: error, cause: cause, output: nil, previous: lastEventId, at: at)
        case .redriven(let token, let at):
            // The states that did not succeed run again (with their original inputs, fresh retry
            // counters); what succeeded, including finished branches and iterations, is kept.
            let point = redrivePoint!
            redrivePoint = nil
            outcome = nil
            redriveCount += 1
            redrives.append((token, at))
            let redriven = emit(nil, at, "ExecutionRedriven", "executionRedrivenEventDetails", .obj([("redriveCount", .int(Int64(redriveCount)))]))
            if let timeout = machine.timeoutSeconds {
                setTimer(.executionTimeout, due: at + Int64(timeout) * 1000)
            }
            let root = newFrame(parent: nil, branch: machine.root, lastEventId: redriven)
            resume(root, point, at: at)
        case .mapRunUpdated(let arn, let maxConcurrency, let count, let percentage, let at):
            updateMapRun(arn, maxConcurrency: maxConcurrency, toleratedFailureCount: count, toleratedFailurePercentage: percentage, at: at)
        }
        drain(at: at)
        return actions
    }

    var lastEventId: Int { history.last?.id ?? 0 }

    /// Whether a state waits for a retry (TestState stops there: RETRIABLE).
    public var retrying: Bool {
        frames.values.contains { if case .retryDelay = $0.phase { true } else { false } }
    }

    /// Records a step of the inspected state's data flow (TestState at DEBUG).
    mutating func inspect(_ fid: Int, _ key: String, _ value: JSON) {
        guard let inspectedState, let f = frames[fid], f.parent == nil, f.state.name == inspectedState else { return }
        if inspection == nil { inspection = JSONObject() }
        inspection![key] = value
    }

    // MARK: the agenda (transitions run iteratively: a loop of Pass and Choice states never deepens the stack)

    mutating func drain(at: Int64) {
        var i = 0
        while i < agenda.count {
            let work = agenda[i]
            i += 1
            guard outcome == nil else { break }
            switch work {
            case .enter(let fid, let name, let input):
                guard frames[fid] != nil else { continue }
                enter(fid, name, input: input, at: at)
            }
        }
        agenda = []
    }

    /// The frame enters `state` with `input` when the agenda reaches it.
    mutating func queue(_ fid: Int, _ state: String, _ input: JSON) {
        frames[fid]!.next = (state, input)
        agenda.append(.enter(frame: fid, state: state, input: input))
    }

    mutating func newFrame(parent: (frame: Int, slot: Int)?, branch: Branch, lastEventId: Int) -> Int {
        nextID += 1
        let start = branch.states[branch.startAt]!
        frames[nextID] = Frame(id: nextID, parent: parent, branch: branch, state: start, lastEventId: lastEventId)
        return nextID
    }

    mutating func newID(_ prefix: String) -> String {
        nextID += 1
        return "\(prefix)-\(nextID)"
    }

    @discardableResult
    mutating func emit(_ fid: Int?, _ at: Int64, _ type: String, _ key: String?, _ details: JSON?, previous: Int? = nil) -> Int {
        let id = history.count + 1
        let prev = previous ?? fid.flatMap { frames[$0]?.lastEventId } ?? (history.last?.id ?? 0)
        history.append(HistoryEvent(id: id, previousEventId: prev, timestampMs: at, type: type, detailsKey: key, details: details))
        if let fid, frames[fid] != nil { frames[fid]!.lastEventId = id }
        return id
    }

    mutating func setTimer(_ purpose: TimerPurpose, due: Int64) {
        let id = newID("timer")
        timers[id] = purpose
        outstandingTimers[id] = due
        actions.append(.startTimer(id: id, dueMs: due))
    }

    mutating func clearTaskTimeout(_ task: String) {
        for (id, purpose) in timers where purpose == .taskTimeout(task: task) || purpose == .heartbeat(task: task) {
            timers[id] = nil
            outstandingTimers[id] = nil
        }
    }

    // MARK: context object

    func contextObject(_ fid: Int, mapItem: (Int, JSON)? = nil) -> JSON {
        let f = frames[fid]!
        var o = JSONObject([
            ("Execution", .obj([("Id", .string(context.executionArn)), ("Input", input), ("Name", .string(context.executionName)),
                                ("RoleArn", .string(context.roleArn)), ("StartTime", .string(Timestamp.format(startMs))),
                                ("RedriveCount", .int(Int64(redriveCount)))])),
            ("StateMachine", .obj([("Id", .string(context.stateMachineArn)), ("Name", .string(context.stateMachineName))])),
            ("State", .obj([("EnteredTime", .string(Timestamp.format(f.enteredAt))), ("Name", .string(f.state.name)),
                            ("RetryCount", .int(Int64(f.retryCounts.reduce(0, +))))])),
        ])
        if let token = f.taskToken { o["Task"] = .obj([("Token", .string(token))]) }
        if let (index, value) = mapItem {
            o["Map"] = .obj([("Item", .obj([("Index", .int(Int64(index))), ("Value", value)]))])
        }
        return .object(o)
    }

    func runtimeCause(_ fid: Int, _ message: String) -> String {
        let f = frames[fid]!
        return "An error occurred while executing the state '\(f.state.name)' (entered at the event id #\(f.enteredEventId)). \(message)"
    }

    // MARK: entering and running states

    static func eventPrefix(_ type: String) -> String { type }

    mutating func enter(_ fid: Int, _ name: String, input: JSON, at: Int64) {
        let state = frames[fid]!.branch.states[name]!
        frames[fid]!.state = state
        frames[fid]!.stateInput = input
        frames[fid]!.enteredAt = at
        frames[fid]!.retryCounts = Array(repeating: 0, count: state.retry.count)
        frames[fid]!.generation += 1
        frames[fid]!.phase = .idle
        frames[fid]!.taskToken = nil
        frames[fid]!.next = nil
        frames[fid]!.captured = nil
        let id = emit(fid, at, "\(state.type)StateEntered", "stateEnteredEventDetails",
                      .obj([("name", .string(name)), ("input", .string(input.text)), ("inputDetails", .obj([("truncated", .bool(false))]))]))
        frames[fid]!.enteredEventId = id
        inspect(fid, "input", input)
        if input.text.utf8.count > Self.payloadLimit {
            failExecution(fid, StatesError(StatesError.dataLimitExceeded, "The state/task '\(name)' returned a result with a size exceeding the maximum number of bytes service limit."), at: at)
            return
        }
        run(fid, at: at)
    }

    /// Applies InputPath or OutputPath (`null`: `{}`; a path that matches nothing: States.Runtime).
    func applyInputPath(_ field: PathField, _ value: JSON, fid: Int, name: String) throws(StatesError) -> JSON {
        switch field {
        case .absent: return value
        case .null: return .object(JSONObject())
        case .path(let p):
            do { return try p.read(p.root == .context ? contextObject(fid) : value) } catch {
                if case .notFound(let m) = error { throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(p)' : \(m)")) }
                return .null
            }
        }
    }

    /// The state's work, from its (raw) input: everything after StateEntered (also after a retry's delay).
    mutating func run(_ fid: Int, at: Int64) {
        frames[fid]!.captured = nil
        let f = frames[fid]!
        let state = f.state
        do throws(StatesError) {
            let afterInput = try applyInputPath(state.inputPath, f.stateInput, fid: fid, name: state.name)
            inspect(fid, "afterInputPath", afterInput)
            switch state.kind {
            case .pass(let result):
                let effective = try parameters(fid, afterInput)
                finishWithResult(fid, result: result ?? effective, at: at)
            case .succeed:
                complete(fid, output: afterInput, outputPathApplies: true, at: at)
            case .fail(let error, let cause, let errorPath, let causePath):
                var random = self.random
                let ctx = contextObject(fid)
                func dynamic(_ t: Template?) throws(StatesError) -> String? {
                    guard let t else { return nil }
                    let v = try t.evaluate(input: afterInput, context: ctx, random: &random)
                    guard case .string(let s) = v else {
                        throw StatesError.runtime(runtimeCause(fid, "The value of the ErrorPath/CausePath must be a string, not \(v.typeName)"))
                    }
                    return s
                }
                let e = try dynamic(errorPath) ?? error
                let c = try dynamic(causePath) ?? cause
                self.random = random
                var details = JSONObject()
                if let e { details["error"] = .string(e) }
                if let c { details["cause"] = .string(c) }
                // A Fail state ends its frame: an execution, or a branch (the Parallel/Map fails).
                frameFailed(fid, StatesError(e ?? "", c ?? ""), at: at, fromFailState: (e, c))
            case .choice(let choices, let dflt):
                var next: String?
                for choice in choices {
                    if try evaluate(choice.rule, afterInput, fid: fid) {
                        next = choice.next
                        break
                    }
                }
                guard let target = next ?? dflt else {
                    throw StatesError(StatesError.noChoiceMatched, "No Matches!")
                }
                let output = try applyOutputPath(fid, afterInput)
                emitExited(fid, output, at: at)
                queue(fid, target, output)
            case .wait(let spec):
                let due: Int64
                switch spec {
                case .seconds(let s): due = at + s * 1000
                case .timestamp(let ms): due = max(at, ms)
                case .secondsPath(let p):
                    let v: JSON
                    do { v = try p.read(p.root == .context ? contextObject(fid) : afterInput) } catch {
                        throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(p)' : \(error)"))
                    }
                    guard let s = v.intValue, v.isNumber, s >= 0 else {
                        throw StatesError.runtime(runtimeCause(fid, "The SecondsPath parameter does not reference a valid integer value: \(v.text)"))
                    }
                    due = at + s * 1000
                case .timestampPath(let p):
                    let v: JSON
                    do { v = try p.read(p.root == .context ? contextObject(fid) : afterInput) } catch {
                        throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(p)' : \(error)"))
                    }
                    guard case .string(let s) = v, let ms = Timestamp.parse(s) else {
                        throw StatesError.runtime(runtimeCause(fid, "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: \(v.text)"))
                    }
                    due = max(at, ms)
                }
                let id = newID("timer")
                timers[id] = .wait(frame: fid)
                outstandingTimers[id] = due
                actions.append(.startTimer(id: id, dueMs: due))
                frames[fid]!.phase = .waiting(timer: id, effective: afterInput)
            case .task(let resource, let callback, let text, let timeout, let heartbeat):
                // A callback task's id and token come first: its Parameters read `$$.Task.Token`.
                var id: String?
                var token: String?
                // An activity task has a token too (its worker answers with it), read by no Parameters.
                let tokenBearing = callback || resource.isActivity
                if tokenBearing {
                    id = newID("task")
                    token = TaskToken.issue(context, task: id!).text
                    issuedTokens[token!] = id!
                    frames[fid]!.taskToken = token
                }
                let effective = try parameters(fid, afterInput)
                frames[fid]!.taskToken = nil
                func seconds(_ source: IntSource?, _ field: String) throws(StatesError) -> Int64? {
                    switch source {
                    case .value(let n): return n
                    case .path(let p):
                        let v = try? p.read(p.root == .context ? contextObject(fid) : afterInput)
                        guard let n = v?.intValue, n > 0 else {
                            throw StatesError.runtime(runtimeCause(fid, "The \(field) parameter does not reference a valid positive integer value"))
                        }
                        return n
                    case nil: return nil
                    }
                }
                let timeoutSeconds = try seconds(timeout, "TimeoutSecondsPath")
                let heartbeatSeconds = tokenBearing ? try seconds(heartbeat, "HeartbeatSecondsPath") : nil
                schedule(fid, resource: resource, text: text, effective: effective, timeout: timeoutSeconds, at: at,
                         callback: (id, token, heartbeatSeconds))
            case .parallel(let branches):
                let effective = try parameters(fid, afterInput)
                let started = emit(fid, at, "ParallelStateStarted", nil, nil)
                var children: [Int] = []
                for (slot, branch) in branches.enumerated() {
                    children.append(newFrame(parent: (fid, slot), branch: branch, lastEventId: started))
                }
                frames[fid]!.phase = .parallel(children: children, results: Array(repeating: nil, count: branches.count), done: 0)
                for (slot, child) in children.enumerated() {
                    queue(child, branches[slot].startAt, effective)
                }
                if branches.isEmpty { parallelDone(fid, at: at) }
            case .map(let processor, let itemsPath, let selector, let maxConcurrency):
                let itemsValue: JSON
                if let itemsPath {
                    do { itemsValue = try itemsPath.read(itemsPath.root == .context ? contextObject(fid) : afterInput) } catch {
                        if case .notFound(let m) = error { throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(itemsPath)' : \(m)")) }
                        itemsValue = .null
                    }
                } else {
                    itemsValue = afterInput
                }
                guard case .array(let items) = itemsValue else {
                    throw StatesError.runtime(runtimeCause(fid, "Item list must be a JSON array; got \(itemsValue.typeName)"))
                }
                var inputs: [JSON] = []
                var random = self.random
                for (index, item) in items.enumerated() {
                    if let selector {
                        inputs.append(try selector.evaluate(input: afterInput, context: contextObject(fid, mapItem: (index, item)), random: &random))
                    } else {
                        inputs.append(item)
                    }
                }
                self.random = random
                var limit = 0
                switch maxConcurrency {
                case .value(let n): limit = Int(n)
                case .path(let p):
                    guard let n = (try? p.read(p.root == .context ? contextObject(fid) : afterInput))?.intValue, n >= 0 else {
                        throw StatesError.runtime(runtimeCause(fid, "The MaxConcurrencyPath parameter does not reference a valid non-negative integer value"))
                    }
                    limit = Int(n)
                case nil: limit = 0
                }
                emit(fid, at, "MapStateStarted", "mapStateStartedEventDetails", .obj([("length", .int(Int64(items.count)))]))
                if let distributed = state.distributed {
                    try startMapRun(fid, distributed, inputs: inputs, afterInput: afterInput, maxConcurrency: limit, at: at)
                    return
                }
                _ = processor
                frames[fid]!.phase = .map(MapRun(items: items, inputs: inputs, results: Array(repeating: nil, count: items.count),
                                                 maxConcurrency: limit == 0 ? Int.max : limit))
                mapPump(fid, at: at)
            }
        } catch {
            stateFailed(fid, error, at: at)
        }
    }

    mutating func parameters(_ fid: Int, _ afterInput: JSON) throws(StatesError) -> JSON {
        guard let template = frames[fid]!.state.parameters else {
            inspect(fid, "afterParameters", afterInput)
            return afterInput
        }
        var random = self.random
        defer { self.random = random }
        do {
            let effective = try template.evaluate(input: afterInput, context: contextObject(fid), random: &random)
            inspect(fid, "afterParameters", effective)
            return effective
        } catch {
            throw StatesError(error.error, error.error == "States.Runtime" || error.error == "States.IntrinsicFailure" ? runtimeCause(fid, error.cause) : error.cause)
        }
    }

    mutating func schedule(_ fid: Int, resource: TaskResource, text: String, effective: JSON, timeout: Int64?, at: Int64,
                           callback: (id: String?, token: String?, heartbeat: Int64?)) {
        let id = callback.id ?? newID("task")
        let isCallback = callback.token != nil
        let invocation = TaskInvocation(id: id, resource: resource, resourceText: text, parameters: effective, timeoutSeconds: timeout,
                                        stateName: frames[fid]!.state.name, callback: isCallback, taskToken: callback.token,
                                        heartbeatSeconds: callback.heartbeat)
        switch resource {
        case .lambdaFunction(let arn):
            var details = JSONObject([("resource", .string(arn)), ("input", .string(effective.text)), ("inputDetails", .obj([("truncated", .bool(false))]))])
            if let timeout { details["timeoutInSeconds"] = .int(timeout) }
            emit(fid, at, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", .object(details))
            emit(fid, at, "LambdaFunctionStarted", nil, nil)
        case .activity(let arn):
            var details = JSONObject([("resource", .string(arn)), ("input", .string(effective.text)), ("inputDetails", .obj([("truncated", .bool(false))]))])
            if let timeout { details["timeoutInSeconds"] = .int(timeout) }
            if let heartbeat = callback.heartbeat { details["heartbeatInSeconds"] = .int(heartbeat) }
            emit(fid, at, "ActivityScheduled", "activityScheduledEventDetails", .object(details))
        case .lambdaInvoke, .sqsSendMessage, .statesStartExecution, .mapRunChild:
            let names = resource.eventNames(callback: isCallback)
            var details = JSONObject([("resourceType", .string(names.type)), ("resource", .string(names.resource)), ("region", .string(context.region)),
                                      ("parameters", .string(effective.text))])
            if let timeout { details["timeoutInSeconds"] = .int(timeout) }
            if let heartbeat = callback.heartbeat { details["heartbeatInSeconds"] = .int(heartbeat) }
            emit(fid, at, "TaskScheduled", "taskScheduledEventDetails", .object(details))
            emit(fid, at, "TaskStarted", "taskStartedEventDetails", .obj([("resourceType", .string(names.type)), ("resource", .string(names.resource))]))
        }
        outstandingTasks[id] = invocation
        tasks[id] = fid
        frames[fid]!.phase = .task(id: id, effective: effective)
        actions.append(.invoke(invocation))
        if let timeout { setTimer(.taskTimeout(task: id), due: at + timeout * 1000) }
        if let heartbeat = callback.heartbeat { setTimer(.heartbeat(task: id), due: at + heartbeat * 1000) }
    }

    mutating func emitTaskFailure(_ fid: Int, _ invocation: TaskInvocation, type: String, error: String, cause: String, at: Int64) {
        switch invocation.resource {
        case .lambdaFunction:
            emit(fid, at, "LambdaFunction\(type)", "lambdaFunction\(type)EventDetails", .obj([("error", .string(error)), ("cause", .string(cause))]))
        case .activity:
            emit(fid, at, "Activity\(type)", "activity\(type)EventDetails", .obj([("error", .string(error)), ("cause", .string(cause))]))
        case .lambdaInvoke, .sqsSendMessage, .statesStartExecution, .mapRunChild:
            let names = invocation.resource.eventNames(callback: invocation.callback)
            emit(fid, at, "Task\(type)", "task\(type)EventDetails",
                 .obj([("resourceType", .string(names.type)), ("resource", .string(names.resource)), ("error", .string(error)), ("cause", .string(cause))]))
        }
    }

    // MARK: results

    /// ResultSelector → ResultPath → OutputPath on a Pass, Task, Parallel or Map result, then on.
    mutating func finishWithResult(_ fid: Int, result: JSON, at: Int64) {
        let f = frames[fid]!
        inspect(fid, "result", result)
        do throws(StatesError) {
            var selected = result
            if let selector = f.state.resultSelector {
                var random = self.random
                do { selected = try selector.evaluate(input: result, context: contextObject(fid), random: &random) } catch {
                    throw StatesError(error.error, runtimeCause(fid, error.cause))
                }
                self.random = random
            }
            inspect(fid, "afterResultSelector", selected)
            let merged = try applyResultPath(fid, f.state.resultPath, input: f.stateInput, result: selected)
            inspect(fid, "afterResultPath", merged)
            frames[fid]!.phase = .idle
            complete(fid, output: merged, outputPathApplies: true, at: at)
        } catch {
            stateFailed(fid, error, at: at)
        }
    }

    func applyResultPath(_ fid: Int, _ field: PathField, input: JSON, result: JSON) throws(StatesError) -> JSON {
        switch field {
        case .absent: return result
        case .null: return input
        case .path(let p):
            guard let steps = p.definiteSteps else { return result }
            if steps.isEmpty { return result }
            guard let merged = input.setting(steps[...], to: result) else {
                throw StatesError(StatesError.resultPathMatchFailure,
                                  runtimeCause(fid, "Unable to apply ResultPath \"\(p)\" to input \"\(input.text)\""))
            }
            return merged
        }
    }

    func applyOutputPath(_ fid: Int, _ value: JSON) throws(StatesError) -> JSON {
        try applyInputPath(frames[fid]!.state.outputPath, value, fid: fid, name: frames[fid]!.state.name)
    }

    mutating func emitExited(_ fid: Int, _ output: JSON, at: Int64) {
        let f = frames[fid]!
        emit(fid, at, "\(f.state.type)StateExited", "stateExitedEventDetails",
             .obj([("name", .string(f.state.name)), ("output", .string(output.text)), ("outputDetails", .obj([("truncated", .bool(false))]))]))
    }

    /// OutputPath, StateExited, then the transition (or the end of the frame).
    mutating func complete(_ fid: Int, output raw: JSON, outputPathApplies: Bool, at: Int64) {
        let output: JSON
        do { output = outputPathApplies ? try applyOutputPath(fid, raw) : raw } catch {
            stateFailed(fid, error, at: at)
            return
        }
        if output.text.utf8.count > Self.payloadLimit {
            failExecution(fid, StatesError(StatesError.dataLimitExceeded, "The state/task '\(frames[fid]!.state.name)' returned a result with a size exceeding the maximum number of bytes service limit."), at: at)
            return
        }
        emitExited(fid, output, at: at)
        let state = frames[fid]!.state
        if case .succeed = state.kind {
            frameEnded(fid, output: output, at: at)
            return
        }
        switch state.transition {
        case .next(let n)?: queue(fid, n, output)
        default: frameEnded(fid, output: output, at: at)
        }
    }

    /// A branch reached its end: the execution succeeds, or the parent's Parallel/Map collects it.
    mutating func frameEnded(_ fid: Int, output: JSON, at: Int64) {
        let f = frames.removeValue(forKey: fid)!
        guard let (pid, slot) = f.parent else {
            finish(status: "SUCCEEDED", type: "ExecutionSucceeded", key: "executionSucceededEventDetails",
                   details: .obj([("output", .string(output.text)), ("outputDetails", .obj([("truncated", .bool(false))]))]),
                   error: nil, cause: nil, output: output.text, previous: f.lastEventId, at: at)
            return
        }
        guard frames[pid] != nil else { return }
        frames[pid]!.lastEventId = f.lastEventId
        switch frames[pid]!.phase {
        case .parallel(let children, var results, let done):
            results[slot] = output
            frames[pid]!.phase = .parallel(children: children, results: results, done: done + 1)
            if done + 1 == children.count { parallelDone(pid, at: at) }
        case .map(var run):
            emit(pid, at, "MapIterationSucceeded", "mapIterationSucceededEventDetails",
                 .obj([("name", .string(frames[pid]!.state.name)), ("index", .int(Int64(slot)))]))
            run.results[slot] = output
            run.running[slot] = nil
            run.finished += 1
            frames[pid]!.phase = .map(run)
            mapPump(pid, at: at)
        default: break
        }
    }

    mutating func parallelDone(_ fid: Int, at: Int64) {
        guard case .parallel(_, let results, _) = frames[fid]!.phase else { return }
        emit(fid, at, "ParallelStateSucceeded", nil, nil)
        finishWithResult(fid, result: .array(results.map { $0 ?? .null }), at: at)
    }

    mutating func mapPump(_ fid: Int, at: Int64) {
        guard case .map(var run) = frames[fid]?.phase, !run.pumping else { return }
        let generation = frames[fid]!.generation
        run.pumping = true
        frames[fid]!.phase = .map(run)
        while true {
            guard frames[fid]?.generation == generation, case .map(var run) = frames[fid]!.phase else { return }
            if run.finished == run.items.count {
                run.pumping = false
                frames[fid]!.phase = .map(run)
                emit(fid, at, "MapStateSucceeded", nil, nil)
                finishWithResult(fid, result: .array(run.results.map { $0 ?? .null }), at: at)
                return
            }
            guard run.running.count < run.maxConcurrency, run.next < run.items.count || !run.redo.isEmpty else {
                run.pumping = false
                frames[fid]!.phase = .map(run)
                return
            }
            // A redrive's iterations first (they were running or failed), then those never started.
            let slot = run.redo.keys.min() ?? run.next
            let again = run.redo.removeValue(forKey: slot)
            if again == nil { run.next += 1 }
            guard case .map(let processor, _, _, _) = frames[fid]!.state.kind else { return }
            let started = emit(fid, at, "MapIterationStarted", "mapIterationStartedEventDetails",
                               .obj([("name", .string(frames[fid]!.state.name)), ("index", .int(Int64(slot)))]))
            let child = newFrame(parent: (fid, slot), branch: processor, lastEventId: started)
            run.running[slot] = child
            frames[fid]!.phase = .map(run)
            if let again { resume(child, again, at: at) } else { queue(child, processor.startAt, run.inputs[slot]) }
        }
    }

    // MARK: failures

    /// A state failed: retry it, catch the error, or fail its frame.
    /// `failedChild`: the branch or iteration whose failure this is, and where it would start again.
    mutating func stateFailed(_ fid: Int, _ error: StatesError, at: Int64, failedChild: (slot: Int, resume: Resume)? = nil) {
        guard frames[fid] != nil else { return }
        lastFailure = (frames[fid]!.state.name, error.error, error.cause)
        abortChildren(fid, failedChild: failedChild, at: at)
        let state = frames[fid]!.state
        if let k = state.retry.firstIndex(where: { error.matches($0.errorEquals) }) {
            let retrier = state.retry[k]
            let count = frames[fid]!.retryCounts[k]
            if count < retrier.maxAttempts {
                frames[fid]!.retryCounts[k] = count + 1
                var delay = retrier.intervalSeconds * pow(retrier.backoffRate, Double(count))
                if let cap = retrier.maxDelaySeconds { delay = min(delay, cap) }
                if retrier.jitterFull { delay *= random.unit() }
                let id = newID("timer")
                timers[id] = .retry(frame: fid)
                let due = at + Int64((delay * 1000).rounded())
                outstandingTimers[id] = due
                actions.append(.startTimer(id: id, dueMs: due))
                frames[fid]!.phase = .retryDelay(timer: id)
                frames[fid]!.generation += 1
                return
            }
        }
        if let catcher = state.catchers.first(where: { error.matches($0.errorEquals) }) {
            let errorOutput = JSON.obj([("Error", .string(error.error)), ("Cause", .string(error.cause))])
            do {
                let output = try applyResultPath(fid, catcher.resultPath, input: frames[fid]!.stateInput, result: errorOutput)
                frames[fid]!.phase = .idle
                emitExited(fid, output, at: at)
                queue(fid, catcher.next, output)
            } catch {
                frameFailed(fid, error, at: at)
            }
            return
        }
        frameFailed(fid, error, at: at)
    }

    /// Ends a Parallel's or Map's running branches (their tasks and timers are forgotten), and
    /// keeps what the state had done for a redrive.
    mutating func abortChildren(_ fid: Int, failedChild: (slot: Int, resume: Resume)? = nil, at: Int64) {
        var children: [Int] = []
        switch frames[fid]!.phase {
        case .parallel(let c, _, _): children = c
        case .map(let run): children = Array(run.running.values)
        default: return
        }
        frames[fid]!.captured = innerPoint(fid, failedChild: failedChild)
        frames[fid]!.phase = .idle
        frames[fid]!.generation += 1
        var stack = children
        while let child = stack.popLast() {
            guard let frame = frames.removeValue(forKey: child) else { continue }
            switch frame.phase {
            case .parallel(let c, _, _): stack += c
            case .map(let run): stack += run.running.values
            case .distributed:
                // A distributed Map inside an aborted branch: its Map Run is aborted, its children stopped.
                frames[child] = frame
                abortMapRun(child, at: at)
                frames[child] = nil
            default: break
            }
            for (task, owner) in tasks where owner == child {
                tasks[task] = nil
                outstandingTasks[task] = nil
                submittedTasks.remove(task)
                submissions[task] = nil
                clearTaskTimeout(task)
            }
            for (timer, purpose) in timers {
                switch purpose {
                case .wait(let f) where f == child, .retry(let f) where f == child:
                    timers[timer] = nil
                    outstandingTimers[timer] = nil
                default: break
                }
            }
        }
    }

    /// A frame failed (no retry or catch took the error): the execution fails, or the
    /// enclosing Parallel/Map state does.
    mutating func frameFailed(_ fid: Int, _ error: StatesError, at: Int64, fromFailState: (String?, String?)? = nil) {
        let point = resumePoint(fid)
        let f = frames.removeValue(forKey: fid)!
        guard let (pid, slot) = f.parent else {
            var details = JSONObject()
            if fromFailState?.0 != nil || fromFailState == nil { details["error"] = .string(error.error) }
            if fromFailState?.1 != nil || fromFailState == nil { details["cause"] = .string(error.cause) }
            finish(status: "FAILED", type: "ExecutionFailed", key: "executionFailedEventDetails", details: .object(details),
                   error: fromFailState == nil || fromFailState?.0 != nil ? error.error : nil,
                   cause: fromFailState == nil || fromFailState?.1 != nil ? error.cause : nil, output: nil, previous: f.lastEventId, at: at,
                   point: point)
            return
        }
        guard frames[pid] != nil else { return }
        frames[pid]!.lastEventId = f.lastEventId
        switch frames[pid]!.phase {
        case .parallel:
            emit(pid, at, "ParallelStateFailed", nil, nil)
        case .map:
            emit(pid, at, "MapIterationFailed", "mapIterationFailedEventDetails",
                 .obj([("name", .string(frames[pid]!.state.name)), ("index", .int(Int64(slot)))]))
            emit(pid, at, "MapStateFailed", nil, nil)
        default: return
        }
        stateFailed(pid, error, at: at, failedChild: (slot, point))
    }

    /// A terminal failure (States.DataLimitExceeded on a state's input or output): not retried or caught.
    mutating func failExecution(_ fid: Int, _ error: StatesError, at: Int64) {
        finish(status: "FAILED", type: "ExecutionFailed", key: "executionFailedEventDetails",
               details: .obj([("error", .string(error.error)), ("cause", .string(error.cause))]),
               error: error.error, cause: error.cause, output: nil, previous: frames[fid]?.lastEventId ?? lastEventId, at: at)
    }

    /// `point`: where a redrive starts (the failed root frame's, which is gone); otherwise it is
    /// read from the frames still running (a timeout, a stop, a terminal failure).
    mutating func finish(status: String, type: String, key: String, details: JSON, error: String?, cause: String?, output: String?,
                         previous: Int, at: Int64, point: Resume? = nil) {
        if status != "SUCCEEDED" {
            for fid in frames.keys.sorted() { abortMapRun(fid, at: at) }
        }
        emit(nil, at, type, key, details, previous: previous)
        redrivePoint = status == "SUCCEEDED" ? nil : point ?? frames.values.first { $0.parent == nil }.map { resumePoint($0.id) }
        let result = ExecutionOutcome(status: status, output: output, error: error, cause: cause, stopMs: at)
        outcome = result
        frames = [:]
        tasks = [:]
        timers = [:]
        outstandingTasks = [:]
        outstandingTimers = [:]
        submittedTasks = []
        submissions = [:]
        agenda = []
        // Children a Map Run stopped earlier in this step are still to be stopped.
        actions = actions.filter { if case .stopChildren = $0 { true } else { false } } + [.finish(result)]
    }
}

// MARK: redrive

extension Execution {
    /// Where the frame starts again: the state it was about to enter, or the one it is in (a
    /// Parallel or Map with what its branches or iterations had done).
    func resumePoint(_ fid: Int) -> Resume {
        let f = frames[fid]!
        if let next = f.next { return Resume(state: next.state, input: next.input) }
        return Resume(state: f.state.name, input: f.stateInput, inner: f.captured ?? innerPoint(fid, failedChild: nil))
    }

    /// A running Parallel's or Map's results and where each unfinished branch or iteration
    /// starts again; nil when it is not one (or it cannot tell: the whole state runs again).
    func innerPoint(_ fid: Int, failedChild: (slot: Int, resume: Resume)?) -> Resume.Inner? {
        func point(_ slot: Int, _ child: Int) -> Resume? {
            if frames[child] != nil { return resumePoint(child) }
            if let failedChild, failedChild.slot == slot { return failedChild.resume }
            return nil
        }
        switch frames[fid]!.phase {
        case .parallel(let children, let results, _):
            var branches: [Int: Resume] = [:]
            for (slot, child) in children.enumerated() where results[slot] == nil {
                guard let p = point(slot, child) else { return nil }
                branches[slot] = p
            }
            return .parallel(results: results, branches: branches)
        case .map(let run):
            var iterations = run.redo
            for (slot, child) in run.running {
                guard let p = point(slot, child) else { return nil }
                iterations[slot] = p
            }
            return .map(items: run.items, inputs: run.inputs, results: run.results, next: run.next, maxConcurrency: run.maxConcurrency,
                        iterations: iterations)
        default: return nil
        }
    }

    /// Starts the frame again at `point`: a state is entered again; a Parallel or Map state
    /// takes its kept results and runs only the branches or iterations that had not finished.
    mutating func resume(_ fid: Int, _ point: Resume, at: Int64) {
        guard let inner = point.inner, let state = frames[fid]!.branch.states[point.state] else {
            queue(fid, point.state, point.input)
            return
        }
        frames[fid]!.state = state
        frames[fid]!.stateInput = point.input
        frames[fid]!.enteredAt = at
        frames[fid]!.enteredEventId = frames[fid]!.lastEventId
        frames[fid]!.retryCounts = Array(repeating: 0, count: state.retry.count)
        frames[fid]!.generation += 1
        frames[fid]!.next = nil
        frames[fid]!.captured = nil
        frames[fid]!.taskToken = nil
        switch (inner, state.kind) {
        case (.parallel(let results, let branches), .parallel(let definitions)) where results.count == definitions.count:
            var children = Array(repeating: 0, count: results.count)
            for slot in branches.keys.sorted() {
                children[slot] = newFrame(parent: (fid, slot), branch: definitions[slot], lastEventId: frames[fid]!.lastEventId)
            }
            frames[fid]!.phase = .parallel(children: children, results: results, done: results.count - branches.count)
            for slot in branches.keys.sorted() where frames[children[slot]] != nil {
                resume(children[slot], branches[slot]!, at: at)
            }
            if branches.isEmpty { parallelDone(fid, at: at) }
        case (.map(let items, let inputs, let results, let next, let maxConcurrency, let iterations), .map):
            frames[fid]!.phase = .map(MapRun(items: items, inputs: inputs, next: next, results: results,
                                             finished: results.filter { $0 != nil }.count, maxConcurrency: maxConcurrency, redo: iterations))
            mapPump(fid, at: at)
        default:
            queue(fid, point.state, point.input)
        }
    }
}
