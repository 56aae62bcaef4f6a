import Foundation
import HearthEvents
import HearthStates
import HearthStore

// Workflow tasks: `arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]`,
// a child execution started through the same path as StartExecution.
extension StatesAPI {
    /// The child's name when the task gives none: a UUID made from the parent execution and the
    /// task id, so a task run again after a crash finds the child it started (not a second one).
    static func childName(parent: String, task: String) -> String { derivedUUID("hearth-child", parent, task) }

    /// Starts a Task state's child execution (Parameters `StateMachineArn`, `Input` — an object
    /// or a JSON string —, `Name`) and says how it went: request-response succeeds with
    /// StartExecution's response (`ExecutionArn`, `StartDate`); `.sync`/`.sync:2` and a callback
    /// task are only submitted (the driver journals the child's end for a `.sync` task). An API
    /// error is `StepFunctions.<Code>Exception` with the SDK's cause text.
    func runStartExecutionTask(_ task: TaskInvocation, parent: ExecutionContext, clock: any LedgerClock) async -> JournalEntry {
        let requestID = UUID().uuidString.lowercased()
        func failed(_ error: StatesAPIError) -> JournalEntry {
            .taskFailed(task: task.id, error: "StepFunctions.\(error.type)Exception",
                        cause: "\(error.message) (Service: AWSStepFunctions; Status Code: \(error.status); Error Code: \(error.type); Request ID: \(requestID); Proxy: null)",
                        at: clock.nowMs())
        }
        guard case .statesStartExecution(let pattern) = task.resource else { return failed(.validation("not a startExecution task")) }
        let record: ExecutionRecord
        do {
            guard case .string(let machineArn)? = task.parameters["StateMachineArn"] else {
                throw StatesAPIError.validation("The field 'StateMachineArn' must be a string")
            }
            let m = try machine(machineArn)
            if m.type == "EXPRESS", pattern != .requestResponse {
                throw StatesAPIError.validation("Express state machines cannot be started with the '\(pattern.rawValue)' integration pattern")
            }
            var name = Self.childName(parent: parent.executionArn, task: task.id)
            if let given = task.parameters["Name"], given != .null {
                guard case .string(let s) = given else { throw StatesAPIError.validation("The field 'Name' must be a string") }
                name = s
            }
            let isDerived = task.parameters["Name"] == nil || task.parameters["Name"] == .null
            try Self.checkName(name)
            let input: String
            switch task.parameters["Input"] {
            case nil, .null?: input = "{}"
            case .string(let s)?: input = s
            case let v?: input = v.text
            }
            try Self.checkInput(input)
            let arn = m.type == "EXPRESS"
                ? "arn:aws:states:\(region):\(account):express:\(m.name):\(name):\(Self.childName(parent: parent.executionArn, task: task.id + "#express"))"
                : executionArn(m.name, name)
            let new = ExecutionRecord(arn: arn, stateMachineArn: m.arn, name: name, input: input, definition: m.definition, roleArn: m.roleArn,
                                      startedMs: clock.nowMs())
            // Watch before starting: a child that ends at once still reaches its parent.
            if pattern != .requestResponse { driver.watch(child: arn, parent: parent.executionArn, task: task.id) }
            if let existing = try await driver.start(new) {
                // The same name: the same execution while it runs with the same input (AWS), or,
                // for a name Hearth made, the child this task started before a crash.
                guard existing.input == input, existing.stateMachineArn == m.arn, existing.status == "RUNNING" || isDerived else {
                    throw StatesAPIError(type: "ExecutionAlreadyExists", message: "Execution Already Exists: '\(existing.arn)'")
                }
                record = existing
            } else {
                record = new
            }
        } catch let error as StatesAPIError {
            return failed(error)
        } catch {
            return failed(StatesAPIError(type: "InternalError", message: "\(error)", status: 500))
        }
        let response = JSON.obj([("ExecutionArn", .string(record.arn)), ("StartDate", .int(record.startedMs))]).text
        if pattern == .requestResponse && !task.callback { return .taskSucceeded(task: task.id, output: response, at: clock.nowMs()) }
        if pattern != .requestResponse, record.status != "RUNNING" {
            return StatesDriver.childEnded(record, task: task, at: clock.nowMs())
        }
        return .taskSubmitted(task: task.id, output: response, at: clock.nowMs())
    }
}

extension StatesDriver {
    /// The entry that ends a `.sync`/`.sync:2` task whose child execution has ended: success
    /// with the child's DescribeExecution (as the SDK names its fields; `Input`/`Output` JSON
    /// text for `.sync`, parsed for `.sync:2`), else `States.TaskFailed` with that document
    /// (with `Error` and `Cause`) as the cause.
    static func childEnded(_ child: ExecutionRecord, task: TaskInvocation, at: Int64) -> JournalEntry {
        // A Map Run's child: its output, or its error and cause (ADR 0030).
        if task.resource.isMapRunChild {
            if child.status == "SUCCEEDED" { return .taskSucceeded(task: task.id, output: child.output ?? "null", at: at) }
            let error = child.error ?? (child.status == "TIMED_OUT" ? StatesError.timeout : child.status == "ABORTED" ? "States.Aborted" : StatesError.taskFailed)
            return .taskFailed(task: task.id, error: error, cause: child.cause ?? "", at: at)
        }
        let parsed: Bool
        if case .statesStartExecution(.sync2) = task.resource { parsed = true } else { parsed = false }
        func data(_ text: String) -> JSON { parsed ? ((try? JSON.parse(text)) ?? .string(text)) : .string(text) }
        var o = JSONObject()
        if let c = child.cause { o["Cause"] = .string(c) }
        if let e = child.error { o["Error"] = .string(e) }
        o["ExecutionArn"] = .string(child.arn)
        o["Input"] = data(child.input)
        o["InputDetails"] = .obj([("Included", .bool(true))])
        o["Name"] = .string(child.name)
        if let output = child.output {
            o["Output"] = data(output)
            o["OutputDetails"] = .obj([("Included", .bool(true))])
        }
        o["StartDate"] = .int(child.startedMs)
        o["StateMachineArn"] = .string(child.stateMachineArn)
        o["Status"] = .string(child.status)
        if let stop = child.stoppedMs { o["StopDate"] = .int(stop) }
        let document = JSON.object(o).text
        if child.status == "SUCCEEDED" { return .taskSucceeded(task: task.id, output: document, at: at) }
        return .taskFailed(task: task.id, error: "States.TaskFailed", cause: document, at: at)
    }
}
