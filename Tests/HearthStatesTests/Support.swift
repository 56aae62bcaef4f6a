import Testing
@testable import HearthStates

let testContext = ExecutionContext(
    executionArn: "arn:aws:states:us-east-1:000000000000:execution:sm:run1", executionName: "run1",
    stateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:sm", stateMachineName: "sm",
    roleArn: "arn:aws:iam::000000000000:role/sfn", region: "us-east-1")

/// The diagnostics a definition gets at create time (none when it parses).
func diagnostics(_ text: String) -> [Diagnostic] {
    do {
        _ = try StateMachine.parse(text)
        return []
    } catch {
        return error.diagnostics
    }
}

let t0: Int64 = 1_764_633_600_000  // 2025-12-02T00:00:00Z

func json(_ text: String) -> JSON {
    do { return try JSON.parse(text) } catch { fatalError("bad test JSON \(text): \(error)") }
}

func machine(_ text: String) throws -> StateMachine {
    try StateMachine.parse(text)
}

/// Drives an execution the way the driver does, with scripted task results: tasks complete
/// `taskMs` after they start, timers fire at their due time (the clock jumps), in due order.
/// Every run is replayed from its journal at the end and must reproduce the same history.
struct Harness {
    var execution: Execution
    var journal: [JournalEntry] = []
    var now: Int64 = t0
    var taskMs: Int64 = 0
    var invocations: [TaskInvocation] = []
    /// Tasks still running, and timers set (id → due).
    var running: [(TaskInvocation, Int64)] = []
    var timers: [String: Int64] = [:]

    init(_ definition: String) throws {
        execution = Execution(machine: try machine(definition), context: testContext)
    }

    mutating func apply(_ entry: JournalEntry) {
        guard execution.accepts(entry) else { return }
        journal.append(entry)
        for action in execution.apply(entry) {
            switch action {
            case .invoke(let t):
                invocations.append(t)
                running.append((t, now + taskMs))
            case .startTimer(let id, let due): timers[id] = due
            case .finish, .stopChildren: break
            }
        }
    }

    /// Runs to the end (or `maxSteps`) with `task` answering each invocation.
    @discardableResult
    mutating func run(input: String = "{}", maxSteps: Int = 100_000,
                      task: (TaskInvocation) -> Result<JSON, StatesError> = { .success($0.parameters) }) -> ExecutionOutcome? {
        apply(.started(input: input, at: now))
        return drive(maxSteps: maxSteps, task: task)
    }

    /// RedriveExecution (ADR 0029): journals `redriven` and runs on to the end as `run` does.
    @discardableResult
    mutating func redrive(clientToken: String? = nil, after ms: Int64 = 1000, maxSteps: Int = 100_000,
                          task: (TaskInvocation) -> Result<JSON, StatesError> = { .success($0.parameters) }) -> ExecutionOutcome? {
        now += ms
        running = []
        apply(.redriven(clientToken: clientToken, at: now))
        return drive(maxSteps: maxSteps, task: task)
    }

    /// Answers tasks and fires timers in due order until the execution ends (or `maxSteps`),
    /// then checks that replaying the journal reproduces the history and the outcome.
    @discardableResult
    mutating func drive(maxSteps: Int = 100_000,
                        task: (TaskInvocation) -> Result<JSON, StatesError> = { .success($0.parameters) }) -> ExecutionOutcome? {
        var steps = 0
        while execution.outcome == nil, steps < maxSteps {
            steps += 1
            let liveTimers = timers.filter { execution.outstandingTimers[$0.key] != nil }
            let nextTask = running.enumerated().min { $0.element.1 < $1.element.1 }
            let nextTimer = liveTimers.min { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }
            if let (k, (t, due)) = nextTask, nextTimer == nil || due <= nextTimer!.value {
                running.remove(at: k)
                now = max(now, due)
                switch task(t) {
                case .success(let v): apply(.taskSucceeded(task: t.id, output: v.text, at: now))
                case .failure(let e): apply(.taskFailed(task: t.id, error: e.error, cause: e.cause, at: now))
                }
            } else if let (id, due) = nextTimer {
                timers[id] = nil
                now = max(now, due)
                apply(.timerFired(timer: id, at: now))
            } else {
                break
            }
        }
        let replayed = Execution.replay(machine: execution.machine, context: testContext, journal: journal)
        #expect(replayed.history == execution.history, "replaying the journal must reproduce the history")
        #expect(replayed.outcome == execution.outcome)
        return execution.outcome
    }

    var types: [String] { execution.history.map(\.type) }
    var output: JSON? { execution.outcome?.output.map(json) }

    func events(_ type: String) -> [HistoryEvent] { execution.history.filter { $0.type == type } }
}
