import Testing
@testable import HearthStates

/// Nested executions (`arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]`):
/// validation, the events' names, and a `.sync` task's wait (submitted, then ended by the
/// driver with the child's outcome), across a replay.
@Suite struct NestedTests {
    static let child = "arn:aws:states:us-east-1:000000000000:stateMachine:child"

    static func definition(_ resource: String, parameters: String = #"{"StateMachineArn":"\#(child)","Input":{"n.$":"$.n","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$":"$$.Execution.Id"}}"#) -> String {
        #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(resource)","Parameters":\#(parameters),"End":true}}}"#
    }

    @Test func resourcesAndValidation() throws {
        let base = "arn:aws:states:::states:startExecution"
        for (suffix, pattern) in [("", StartExecutionPattern.requestResponse), (".sync", .sync), (".sync:2", .sync2)] {
            let m = try StateMachine.parse(Self.definition(base + suffix))
            guard case .task(let resource, let callback, _, _, _)? = m.allStates["T"]?.kind else { Issue.record("not a task"); continue }
            #expect(resource == .statesStartExecution(pattern))
            #expect(!callback)
            #expect(resource.eventNames(callback: false) == ("states", "startExecution" + suffix))
            #expect(m.syncStates == (pattern == .requestResponse ? [] : ["T"]))
        }
        let callback = try StateMachine.parse(Self.definition(base + ".waitForTaskToken", parameters: #"{"StateMachineArn":"\#(Self.child)","Input":{"token.$":"$$.Task.Token"}}"#))
        #expect(callback.callbackStates == ["T"])
        // StateMachineArn is required; a callback needs the token; unknown suffixes are refused.
        #expect(diagnostics(Self.definition(base, parameters: #"{"Input":{}}"#)).map(\.message) == ["The field 'StateMachineArn' is required but was missing"])
        #expect(diagnostics(Self.definition(base + ".waitForTaskToken")).map(\.message) == [Validator.missingTaskTokenMessage])
        #expect(diagnostics(Self.definition(base + ".sync:3")).first?.code == "INVALID_RESOURCE")
        #expect(diagnostics(Self.definition(base + ".sync.waitForTaskToken")).first?.code == "INVALID_RESOURCE")
        #expect(diagnostics(Self.definition(base + ".sync", parameters: #"{"StateMachineArn.$":"$.arn"}"#)) == [])
    }

    @Test func requestResponseSucceedsWithTheResponse() throws {
        var h = try Harness(Self.definition("arn:aws:states:::states:startExecution"))
        h.apply(.started(input: #"{"n":3}"#, at: t0))
        let task = try #require(h.invocations.first)
        #expect(task.resource == .statesStartExecution(.requestResponse))
        #expect(!task.waitsAfterSubmission)
        #expect(task.parameters["Input"] == .obj([("n", .int(3)), ("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID", .string(testContext.executionArn))]))
        #expect(!h.execution.accepts(.taskSubmitted(task: task.id, output: "{}", at: t0)), "request-response does not wait")
        h.apply(.taskSucceeded(task: task.id, output: #"{"ExecutionArn":"arn:x","StartDate":1}"#, at: t0 + 5))
        #expect(h.output == json(#"{"ExecutionArn":"arn:x","StartDate":1}"#))
        #expect(h.events("TaskScheduled").first?.details?["resource"] == .string("startExecution"))
        #expect(h.events("TaskScheduled").first?.details?["resourceType"] == .string("states"))
    }

    @Test func syncWaitsForTheChildAcrossAReplay() throws {
        var h = try Harness(Self.definition("arn:aws:states:::states:startExecution.sync:2"))
        h.apply(.started(input: #"{"n":3}"#, at: t0))
        let task = try #require(h.invocations.first)
        #expect(task.waitsAfterSubmission)
        let response = #"{"ExecutionArn":"arn:aws:states:us-east-1:000000000000:execution:child:c1","StartDate":1764633600010}"#
        h.apply(.taskSubmitted(task: task.id, output: response, at: t0 + 10))
        #expect(h.execution.outcome == nil)
        #expect(h.execution.submissions[task.id] == response)
        let afterCrash = Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal)
        #expect(afterCrash.outstandingActions == [], "a submitted .sync task does not start its child again")
        #expect(afterCrash.submissions[task.id] == response, "the child's ARN is found again after a restart")
        #expect(afterCrash.outstandingTasks[task.id] != nil)
        h.apply(.taskSucceeded(task: task.id, output: #"{"Status":"SUCCEEDED","Output":{"r":6}}"#, at: t0 + 50))
        #expect(h.output == json(#"{"Status":"SUCCEEDED","Output":{"r":6}}"#))
        #expect(h.types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                            "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.events("TaskSubmitted").first?.details?["resource"] == .string("startExecution.sync:2"))
        #expect(h.events("TaskSucceeded").first?.details?["resource"] == .string("startExecution.sync:2"))
    }

    @Test func aFailedChildIsCaught() throws {
        let text = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync","Parameters":{"StateMachineArn":"\#(Self.child)"},"Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}"#
        var h = try Harness(text)
        h.apply(.started(input: "{}", at: t0))
        let task = try #require(h.invocations.first)
        h.apply(.taskSubmitted(task: task.id, output: #"{"ExecutionArn":"arn:c","StartDate":1}"#, at: t0 + 1))
        h.apply(.taskFailed(task: task.id, error: "States.TaskFailed", cause: #"{"Error":"Boom","Status":"FAILED"}"#, at: t0 + 2))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.output?["err"] == .obj([("Error", .string("States.TaskFailed")), ("Cause", .string(#"{"Error":"Boom","Status":"FAILED"}"#))]))
        #expect(h.events("TaskFailed").first?.details?["resource"] == .string("startExecution.sync"))
    }
}
