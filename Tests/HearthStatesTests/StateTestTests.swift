import Testing
@testable import HearthStates

/// TestState (ADR 0029): one state in a machine of its own (Succeed states stand for where it
/// goes), run by the interpreter; the result and the DEBUG data flow read from the execution.
@Suite struct StateTestTests {
    /// Runs `definition` as TestState does: tasks answered by `task`, timers fired at once, stopping at a retry.
    func test(_ definition: String, input: String = "{}",
              task: (TaskInvocation) -> Result<JSON, StatesError> = { .success($0.parameters) }) throws -> StateTestResult {
        var execution = Execution(machine: try StateTest.machine(definition), context: testContext)
        execution.inspectedState = StateTest.stateName
        var pending = execution.apply(.started(input: input, at: t0))
        while execution.outcome == nil, !execution.retrying, let action = pending.first {
            pending.removeFirst()
            switch action {
            case .invoke(let t):
                switch task(t) {
                case .success(let v): pending += execution.apply(.taskSucceeded(task: t.id, output: v.text, at: t0 + 1))
                case .failure(let e): pending += execution.apply(.taskFailed(task: t.id, error: e.error, cause: e.cause, at: t0 + 1))
                }
            case .startTimer(let id, _): pending += execution.apply(.timerFired(timer: id, at: t0 + 2))
            case .finish, .stopChildren: break
            }
        }
        return StateTest.result(execution)
    }

    @Test func taskDataFlowAtDebug() throws {
        let r = try test(#"""
        {"Type":"Task","Resource":"\#(fn)","InputPath":"$.in","Parameters":{"v.$":"$.v","name.$":"$$.State.Name"},
         "ResultSelector":{"got.$":"$.v"},"ResultPath":"$.res","Next":"After"}
        """#, input: #"{"in":{"v":3},"keep":1}"#)
        #expect(r.status == "SUCCEEDED")
        #expect(r.output == #"{"in":{"v":3},"keep":1,"res":{"got":3}}"#)
        #expect(r.nextState == "After")
        #expect(r.error == nil)
        #expect(r.inspection.map(\.0) == ["input", "afterInputPath", "afterParameters", "result", "afterResultSelector", "afterResultPath"])
        #expect(r.inspection.map(\.1) == [#"{"in":{"v":3},"keep":1}"#, #"{"v":3}"#, #"{"v":3,"name":"TestState"}"#, #"{"v":3,"name":"TestState"}"#,
                                          #"{"got":3}"#, #"{"in":{"v":3},"keep":1,"res":{"got":3}}"#])
    }

    @Test func retryCatchAndFailure() throws {
        let boom: (TaskInvocation) -> Result<JSON, StatesError> = { _ in .failure(StatesError("Boom", "it broke")) }
        let retriable = try test(#"{"Type":"Task","Resource":"\#(fn)","Retry":[{"ErrorEquals":["Boom"]}],"End":true}"#, task: boom)
        #expect(retriable == StateTestResult(status: "RETRIABLE", error: "Boom", cause: "it broke", inspection: retriable.inspection))
        let caught = try test(#"{"Type":"Task","Resource":"\#(fn)","Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Handle"}],"End":true}"#,
                              input: #"{"a":1}"#, task: boom)
        #expect(caught.status == "CAUGHT_ERROR")
        #expect(caught.output == #"{"a":1,"err":{"Error":"Boom","Cause":"it broke"}}"#)
        #expect(caught.nextState == "Handle")
        #expect(caught.error == "Boom")
        let failed = try test(#"{"Type":"Task","Resource":"\#(fn)","End":true}"#, task: boom)
        #expect(failed.status == "FAILED")
        #expect(failed.error == "Boom" && failed.cause == "it broke" && failed.nextState == nil && failed.output == nil)
    }

    @Test func otherStates() throws {
        let choice = try test(#"{"Type":"Choice","Choices":[{"Variable":"$.n","NumericGreaterThan":1,"Next":"Big"}],"Default":"Small"}"#, input: #"{"n":5}"#)
        #expect(choice.status == "SUCCEEDED" && choice.nextState == "Big" && choice.output == #"{"n":5}"#)
        let fail = try test(#"{"Type":"Fail","Error":"Nope","Cause":"no"}"#)
        #expect(fail.status == "FAILED" && fail.error == "Nope" && fail.cause == "no")
        let wait = try test(#"{"Type":"Wait","Seconds":3600,"Next":"Go"}"#, input: #"{"w":1}"#)
        #expect(wait.status == "SUCCEEDED" && wait.nextState == "Go" && wait.output == #"{"w":1}"#)
        let succeed = try test(#"{"Type":"Succeed","OutputPath":"$.x"}"#, input: #"{"x":2}"#)
        #expect(succeed.status == "SUCCEEDED" && succeed.output == "2" && succeed.nextState == nil)
        let pass = try test(#"{"Type":"Pass","Result":{"r":1},"End":true}"#)
        #expect(pass.status == "SUCCEEDED" && pass.output == #"{"r":1}"# && pass.nextState == nil)
        let noMatch = try test(#"{"Type":"Choice","Choices":[{"Variable":"$.n","NumericGreaterThan":1,"Next":"Big"}]}"#, input: #"{"n":0}"#)
        #expect(noMatch.status == "FAILED" && noMatch.error == "States.NoChoiceMatched")
    }

    @Test func refusedDefinitions() {
        func refusal(_ definition: String) -> String? {
            do { _ = try StateTest.machine(definition); return nil } catch { return error.description }
        }
        #expect(refusal(#"{"Type":"Parallel","Branches":[],"End":true}"#)?.contains("Parallel") == true)
        #expect(refusal(#"{"Type":"Map","ItemProcessor":{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},"End":true}"#)?.contains("Map") == true)
        #expect(refusal(#"{"Type":"Task","Resource":"arn:aws:states:us-east-1:000000000000:activity:a","End":true}"#)?.contains("Activity") == true)
        #expect(refusal(#"{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{"t.$":"$$.Task.Token"}},"End":true}"#) != nil)
        #expect(refusal("not json") == "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object at /'")
        let missing = refusal(#"{"Type":"Task","End":true}"#)
        #expect(missing != nil && missing?.contains("/States/TestState") == false, "\(missing ?? "")")
    }
}
