import Testing
@testable import HearthStates

/// Activity tasks (ADR 0028): a Task whose Resource is an activity ARN waits for a worker
/// (GetActivityTask journals `taskSubmitted` with the worker's name) and ends with the token's
/// SendTaskSuccess/Failure; heartbeats and timeouts as callback tasks; replay.
@Suite struct ActivityTests {
    static let arn = "arn:aws:states:us-east-1:000000000000:activity:review"
    static let definition = #"""
    {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(arn)","Parameters":{"job.$":"$.job"},
      "TimeoutSeconds":30,"HeartbeatSeconds":5,"ResultPath":"$.answer","End":true}}}
    """#

    func started(_ definition: String = Self.definition) throws -> (Harness, TaskInvocation) {
        var h = try Harness(definition)
        h.apply(.started(input: #"{"job":7}"#, at: t0))
        return (h, try #require(h.invocations.first))
    }

    @Test func parsesAsAnActivityTask() throws {
        let m = try machine(Self.definition)
        #expect(m.activityStates == ["T"])
        #expect(m.callbackStates == [], "not the .waitForTaskToken pattern: no Parameters need the token")
        #expect(diagnostics(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:us-east-1:000000000000:activity:","End":true}}}"#).first?.code == "INVALID_RESOURCE")
    }

    @Test func workerTakesAndSucceeds() throws {
        var (h, task) = try started()
        #expect(task.resource == .activity(arn: Self.arn))
        #expect(task.callback)
        let token = try #require(task.taskToken)
        #expect(task.parameters == .obj([("job", .int(7))]))
        #expect(h.execution.history.map(\.type) == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled"])
        #expect(h.events("ActivityScheduled").first?.details == .obj([
            ("resource", .string(Self.arn)), ("input", .string(#"{"job":7}"#)), ("inputDetails", .obj([("truncated", .bool(false))])),
            ("timeoutInSeconds", .int(30)), ("heartbeatInSeconds", .int(5)),
        ]))
        // Not taken: after a replay it is still to deliver; taken: it is not delivered again.
        #expect(Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal).outstandingActions.contains(.invoke(task)))
        h.apply(.taskSubmitted(task: task.id, output: "worker-1", at: t0 + 10))
        #expect(h.events("ActivityStarted").first?.details == .obj([("workerName", .string("worker-1"))]))
        let replayed = Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal)
        #expect(!replayed.outstandingActions.contains(.invoke(task)))
        #expect(replayed.tokenState(token) == .waiting(task: task.id))
        h.apply(.taskHeartbeat(task: task.id, at: t0 + 4000))
        h.apply(.taskSucceeded(task: task.id, output: #"{"ok":true}"#, at: t0 + 8000))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.execution.outcome?.output == #"{"job":7,"answer":{"ok":true}}"#)
        #expect(h.execution.history.map(\.type) == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted", "ActivitySucceeded",
                                                    "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.events("ActivitySucceeded").first?.details == .obj([("output", .string(#"{"ok":true}"#)), ("outputDetails", .obj([("truncated", .bool(false))]))]))
        #expect(h.execution.tokenState(token) == .over)
    }

    @Test func failureBeforeAndAfterTaking() throws {
        var (h, task) = try started()
        h.apply(.taskSubmitted(task: task.id, output: "w", at: t0 + 1))
        h.apply(.taskFailed(task: task.id, error: "Worker.Refused", cause: "no", at: t0 + 2))
        #expect(h.execution.outcome?.error == "Worker.Refused")
        #expect(h.events("ActivityFailed").first?.details == .obj([("error", .string("Worker.Refused")), ("cause", .string("no"))]))
        var (h2, task2) = try started()
        h2.apply(.taskFailed(task: task2.id, error: "States.Runtime", cause: "Activity does not exist", at: t0 + 2))
        #expect(h2.execution.history.map(\.type).suffix(2) == ["ActivityScheduleFailed", "ExecutionFailed"])
    }

    @Test func heartbeatTimeout() throws {
        var (h, task) = try started()
        h.apply(.taskSubmitted(task: task.id, output: "w", at: t0 + 1))
        let timer = try #require(h.timers.first { $0.value == t0 + 5000 }?.key)
        h.apply(.timerFired(timer: timer, at: t0 + 5000))
        #expect(h.execution.outcome?.error == "States.HeartbeatTimeout")
        #expect(h.execution.history.map(\.type).suffix(2) == ["ActivityTimedOut", "ExecutionFailed"])
        #expect(h.events("ActivityTimedOut").first?.details == .obj([("error", .string("States.HeartbeatTimeout")), ("cause", .string(""))]))
    }
}
