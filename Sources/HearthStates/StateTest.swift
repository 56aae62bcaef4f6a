// HearthStates: TestState (ADR 0029): one state run by the interpreter in a machine of its own. Pure.
import Foundation

/// What TestState reports about one state: its status, output or error, the state it would go
/// to, and (at DEBUG) its data flow.
public struct StateTestResult: Sendable, Equatable {
    /// SUCCEEDED, FAILED, RETRIABLE or CAUGHT_ERROR.
    public var status: String
    public var output: String?
    public var error: String?
    public var cause: String?
    public var nextState: String?
    /// `input`, `afterInputPath`, `afterParameters`, `result`, `afterResultSelector`,
    /// `afterResultPath`: JSON texts, those the state went through.
    public var inspection: [(String, String)]

    public static func == (a: StateTestResult, b: StateTestResult) -> Bool {
        (a.status, a.output, a.error, a.cause, a.nextState) == (b.status, b.output, b.error, b.cause, b.nextState)
            && a.inspection.map { $0.0 + "=" + $0.1 } == b.inspection.map { $0.0 + "=" + $0.1 }
    }
}

public enum StateTest {
    /// The tested state's name (`$$.State.Name`) in the machine made around it.
    public static let stateName = "TestState"

    /// The machine TestState runs: the state, with a Succeed state for each state it can go to
    /// (`Next`, `Default`, Choices' and Catchers' `Next`). Parallel, Map, activity tasks and the
    /// `.sync`/`.waitForTaskToken` patterns are refused, as AWS does without a mock.
    public static func machine(_ definition: String) throws(InvalidDefinition) -> StateMachine {
        func invalid(_ message: String, _ location: String = "/") -> InvalidDefinition {
            InvalidDefinition(diagnostics: [Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: message, location: location)])
        }
        guard let state = (try? JSON.parse(definition))?.objectValue else { throw invalid("Definition must be a valid JSON object") }
        let type = state["Type"]?.stringValue ?? ""
        if type == "Parallel" || type == "Map" { throw invalid("TestState does not support \(type) states", "/Type") }
        if let resource = state["Resource"]?.stringValue,
           resource.contains(":activity:") || resource.hasSuffix(".waitForTaskToken") || resource.contains(".sync") {
            throw invalid("TestState does not support Activity tasks, .sync or .waitForTaskToken service integration patterns", "/Resource")
        }
        var targets: [String] = []
        for key in ["Next", "Default"] { if let t = state[key]?.stringValue { targets.append(t) } }
        for list in ["Choices", "Catch"] {
            for item in state[list]?.arrayValue ?? [] { if let t = item["Next"]?.stringValue { targets.append(t) } }
        }
        var states = JSONObject([(stateName, .object(state))])
        for target in targets where states[target] == nil { states[target] = .obj([("Type", .string("Succeed"))]) }
        let text = JSON.obj([("StartAt", .string(stateName)), ("States", .object(states))]).text
        do { return try StateMachine.parse(text) } catch {
            // Locations relative to the state, as its definition was given.
            throw InvalidDefinition(diagnostics: error.diagnostics.map { d in
                var d = d
                d.location = d.location.replacingOccurrences(of: "/States/\(stateName)", with: "")
                if d.location.isEmpty { d.location = "/" }
                return d
            })
        }
    }

    /// Reads the result from an execution of `machine(_:)` that ended, or stopped at its first
    /// retry (RETRIABLE: TestState runs a state once).
    public static func result(_ execution: Execution) -> StateTestResult {
        let inspection = execution.inspection?.pairs.map { ($0.0, $0.1.text) } ?? []
        if execution.retrying, let failure = execution.lastFailure {
            return StateTestResult(status: "RETRIABLE", error: failure.error, cause: failure.cause, inspection: inspection)
        }
        let history = execution.history
        if let exited = history.firstIndex(where: { $0.type.hasSuffix("StateExited") && $0.details?["name"]?.stringValue == stateName }) {
            let output = history[exited].details?["output"]?.stringValue
            let next = history[(exited + 1)...].first { $0.type.hasSuffix("StateEntered") }?.details?["name"]?.stringValue
            if let failure = execution.lastFailure, failure.state == stateName {
                return StateTestResult(status: "CAUGHT_ERROR", output: output, error: failure.error, cause: failure.cause, nextState: next,
                                       inspection: inspection)
            }
            return StateTestResult(status: "SUCCEEDED", output: output, nextState: next, inspection: inspection)
        }
        let outcome = execution.outcome
        return StateTestResult(status: "FAILED", error: outcome?.error, cause: outcome?.cause, inspection: inspection)
    }
}
