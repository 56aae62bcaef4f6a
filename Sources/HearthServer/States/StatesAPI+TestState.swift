import Foundation
import HearthStates

// TestState (ADR 0029): one state run by the same interpreter and task runner as executions
// (a Task state really invokes its function), in memory.
extension StatesAPI {
    func testState(_ body: JSON) async throws -> JSON {
        let definition = try Self.string(body, "definition")!
        let level = try Self.string(body, "inspectionLevel", required: false) ?? "INFO"
        guard ["INFO", "DEBUG", "TRACE"].contains(level) else {
            throw StatesAPIError.validation("1 validation error detected: Value '\(level)' at 'inspectionLevel' failed to satisfy constraint: Member must satisfy enum value set: [INFO, DEBUG, TRACE]")
        }
        let roleArn = try Self.string(body, "roleArn", required: false) ?? "arn:aws:iam::\(account):role/TestState"
        let input = try Self.string(body, "input", required: false) ?? "{}"
        try Self.checkInput(input)
        // `variables` and `revealSecrets` change nothing here: definitions with variables are
        // refused, and there are no HTTP tasks whose secrets could be revealed.
        _ = try Self.string(body, "variables", required: false)
        let machine: StateMachine
        do { machine = try StateTest.machine(definition) } catch { throw StatesAPIError.invalidDefinition(error) }
        let id = UUID().uuidString.lowercased()
        let context = ExecutionContext(executionArn: "arn:aws:states:\(region):\(account):execution:TestState:\(id)", executionName: id,
                                       stateMachineArn: machineArn("TestState"), stateMachineName: "TestState", roleArn: roleArn, region: region)
        // AWS's limit: five minutes, then States.Timeout.
        let execution = await driver.runSync(machine: machine, context: context, input: input, deadlineMs: driver.clock.nowMs() + 300_000, test: true)
        let result = StateTest.result(execution)
        var o = JSONObject([("status", .string(result.status))])
        if let output = result.output { o["output"] = .string(output) }
        if let error = result.error { o["error"] = .string(error) }
        if let cause = result.cause { o["cause"] = .string(cause) }
        if let next = result.nextState { o["nextState"] = .string(next) }
        if level != "INFO" { o["inspectionData"] = .object(JSONObject(result.inspection.map { ($0.0, JSON.string($0.1)) })) }
        return .object(o)
    }
}
