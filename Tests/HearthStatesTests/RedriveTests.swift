import Testing
@testable import HearthStates

/// RedriveExecution in the interpreter (ADR 0029): a FAILED, TIMED_OUT or ABORTED execution
/// journals `redriven` and runs again from the states that did not succeed, with their original
/// inputs and fresh retry counters; a Parallel or Map runs only its unfinished branches or
/// iterations. Every run replays from its journal (the harness checks it).
@Suite struct RedriveTests {
    /// Fails with `Gate.Closed` while `open` is false; echoes its parameters otherwise.
    static func gate(_ open: Bool) -> (TaskInvocation) -> Result<JSON, StatesError> {
        { t in open || t.parameters["gate"] == nil ? .success(t.parameters) : .failure(StatesError("Gate.Closed", "closed")) }
    }

    static let linear = #"""
    {"StartAt":"Prepare","States":{
      "Prepare":{"Type":"Pass","Result":{"n":1},"ResultPath":"$.prep","Next":"Work"},
      "Work":{"Type":"Task","Resource":"\#(fn)","Parameters":{"gate":true,"rc.$":"$$.Execution.RedriveCount","retries.$":"$$.State.RetryCount"},
              "Retry":[{"ErrorEquals":["Gate.Closed"],"IntervalSeconds":1,"MaxAttempts":1}],"ResultPath":"$.work","Next":"Done"},
      "Done":{"Type":"Pass","End":true}}}
    """#

    @Test func failedTaskRunsAgainFromItsInput() throws {
        var h = try Harness(Self.linear)
        let first = h.run(input: #"{"id":7}"#, task: Self.gate(false))
        #expect(first?.status == "FAILED")
        #expect(first?.error == "Gate.Closed")
        #expect(h.execution.redrivable)
        #expect(h.runs(of: "Work") == 2, "the first attempt and its retry")
        let failedID = h.events("ExecutionFailed")[0].id
        let second = h.redrive(clientToken: "tok-1", task: Self.gate(true))
        #expect(second?.status == "SUCCEEDED")
        #expect(h.execution.redriveCount == 1)
        #expect(h.execution.redriveDate(clientToken: "tok-1") == h.events("ExecutionRedriven")[0].timestampMs)
        #expect(h.execution.redriveDate(clientToken: "other") == nil)
        let redriven = h.events("ExecutionRedriven")[0]
        #expect(redriven.details == .obj([("redriveCount", .int(1))]))
        #expect(redriven.detailsKey == "executionRedrivenEventDetails")
        #expect(redriven.previousEventId == failedID)
        // The failed state is entered again, after the redrive event, with its original input;
        // the Pass before it is not run again.
        let after = h.execution.history.drop { $0.type != "ExecutionRedriven" }.dropFirst()
        #expect(after.first?.type == "TaskStateEntered")
        #expect(after.first?.previousEventId == redriven.id)
        #expect(after.first?.details?["input"] == .string(#"{"id":7,"prep":{"n":1}}"#))
        #expect(h.events("PassStateEntered").count == 2, "Prepare once, Done once")
        // $$.Execution.RedriveCount reflects the redrive; the retry counter starts fresh.
        let last = try #require(h.invocations.last)
        #expect(last.parameters["rc"] == .int(1))
        #expect(last.parameters["retries"] == .int(0))
        #expect(h.invocations.first?.parameters["rc"] == .int(0))
        #expect(h.output == json(#"{"id":7,"prep":{"n":1},"work":{"gate":true,"rc":1,"retries":0}}"#))
        #expect(!h.execution.redrivable, "a SUCCEEDED execution is not redrivable")
        #expect(!h.execution.accepts(.redriven(clientToken: nil, at: h.now)))
    }

    @Test func retriesStartFreshAndARedriveCanFailAgain() throws {
        var h = try Harness(Self.linear)
        h.run(task: Self.gate(false))
        let second = h.redrive(task: Self.gate(false))
        #expect(second?.status == "FAILED")
        #expect(h.runs(of: "Work") == 4, "two attempts per run: the retrier's count starts again")
        #expect(h.execution.redrivable)
        h.redrive(task: Self.gate(true))
        #expect(h.execution.redriveCount == 2)
        #expect(h.events("ExecutionRedriven").map { $0.details?["redriveCount"] } == [.int(1), .int(2)])
        #expect(h.invocations.last?.parameters["rc"] == .int(2))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
    }

    @Test func notRedrivableWhileRunningOrSucceeded() throws {
        var h = try Harness(Self.linear)
        #expect(!h.execution.accepts(.redriven(clientToken: nil, at: t0)), "not started")
        h.apply(.started(input: "{}", at: t0))
        #expect(!h.execution.accepts(.redriven(clientToken: nil, at: t0)), "running")
        var ok = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#)
        ok.run()
        #expect(!ok.execution.redrivable)
    }

    @Test func failStateRunsAgain() throws {
        var h = try Harness(#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.go","BooleanEquals":true,"Next":"Ok"}],"Default":"No"},"No":{"Type":"Fail","Error":"Nope","Cause":"no"},"Ok":{"Type":"Succeed"}}}"#)
        h.run(input: #"{"go":false}"#)
        h.redrive()
        #expect(h.execution.outcome?.status == "FAILED")
        #expect(h.events("ChoiceStateEntered").count == 1, "the Choice succeeded: not run again")
        #expect(h.types.suffix(3) == ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"])
    }

    @Test func parallelRunsOnlyItsFailedBranch() throws {
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","ResultPath":"$.out","Next":"After","Branches":[
          {"StartAt":"A1","States":{"A1":{"Type":"Task","Resource":"\#(fn)","Parameters":{"branch":"a"},"Next":"A2"},"A2":{"Type":"Pass","End":true}}},
          {"StartAt":"B1","States":{"B1":{"Type":"Pass","Result":{"b":1},"Next":"B2"},
                                    "B2":{"Type":"Task","Resource":"\#(fn)","Parameters":{"branch":"b","gate":true},"End":true}}}]},
          "After":{"Type":"Pass","End":true}}}
        """#)
        h.taskMs = 10
        #expect(h.run(input: #"{"k":1}"#, task: Self.gate(false))?.status == "FAILED")
        h.redrive(task: Self.gate(true))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.invocations.filter { $0.parameters["branch"] == .string("a") }.count == 1, "branch a succeeded: not run again")
        #expect(h.invocations.filter { $0.parameters["branch"] == .string("b") }.count == 2)
        #expect(h.events("PassStateEntered").filter { $0.details?["name"] == .string("B1") }.count == 1, "B1 succeeded before B2 failed")
        #expect(h.output == json(#"{"k":1,"out":[{"branch":"a"},{"branch":"b","gate":true}]}"#))
        let after = Array(h.types.drop { $0 != "ExecutionRedriven" })
        #expect(after == ["ExecutionRedriven", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                          "TaskStateExited", "ParallelStateSucceeded", "ParallelStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
    }

    @Test func parallelBranchStillRunningWhenTheOtherFailedRunsAgain() throws {
        // Branch b fails at once; branch a's slow task was running: it was aborted, so it runs again.
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
          {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"\#(fn)","Parameters":{"branch":"a"},"End":true}}},
          {"StartAt":"B","States":{"B":{"Type":"Task","Resource":"\#(fn)","Parameters":{"branch":"b","gate":true},"End":true}}}]}}}
        """#)
        h.apply(.started(input: "{}", at: t0))
        let b = try #require(h.invocations.first { $0.parameters["branch"] == .string("b") })
        h.apply(.taskFailed(task: b.id, error: "Gate.Closed", cause: "", at: t0 + 5))
        #expect(h.execution.outcome?.status == "FAILED")
        h.running = []
        h.redrive(task: Self.gate(true))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.invocations.filter { $0.parameters["branch"] == .string("a") }.count == 2)
        #expect(h.output == json(#"[{"branch":"a"},{"branch":"b","gate":true}]"#))
    }

    @Test func mapRunsOnlyUnfinishedIterations() throws {
        var h = try Harness(#"""
        {"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"ItemSelector":{"v.$":"$$.Map.Item.Value"},
          "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}},"End":true}}}
        """#)
        // Item 2 fails the first time; item 3 was never started (MaxConcurrency 1).
        var failedOnce = false
        h.run(input: "[1,2,3]") { t in
            if t.parameters["v"] == .int(2), !failedOnce { failedOnce = true; return .failure(StatesError("Item.Bad", "")) }
            return .success(t.parameters)
        }
        #expect(h.execution.outcome?.status == "FAILED")
        #expect(h.invocations.map { $0.parameters["v"] } == [.int(1), .int(2)])
        h.redrive()
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.invocations.map { $0.parameters["v"] } == [.int(1), .int(2), .int(2), .int(3)], "item 1 is not run again")
        #expect(h.output == json(#"[{"v":1},{"v":2},{"v":3}]"#))
        let after = h.execution.history.drop { $0.type != "ExecutionRedriven" }
        #expect(after.filter { $0.type == "MapIterationStarted" }.map { $0.details?["index"] } == [.int(1), .int(2)])
        #expect(h.types.suffix(3) == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"])
    }

    @Test func abortedDuringAWaitWaitsAgain() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"W"},"W":{"Type":"Wait","Seconds":5,"Next":"B"},"B":{"Type":"Pass","End":true}}}"#)
        h.apply(.started(input: #"{"x":1}"#, at: t0))
        h.apply(.stopped(error: "Stop", cause: "by hand", at: t0 + 1000))
        #expect(h.execution.outcome?.status == "ABORTED")
        #expect(h.execution.redrivable)
        h.timers = [:]
        h.redrive(after: 0)
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.types == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered", "ExecutionAborted", "ExecutionRedriven",
                            "WaitStateEntered", "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
        let entered = h.events("WaitStateEntered")[1].timestampMs
        #expect(h.events("WaitStateExited")[0].timestampMs - entered == 5000, "the Wait starts again from the redrive")
    }

    @Test func timedOutExecutionGetsItsTimeoutAgain() throws {
        var h = try Harness(#"{"TimeoutSeconds":2,"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}"#)
        h.taskMs = 3000
        h.run()
        #expect(h.execution.outcome?.status == "TIMED_OUT")
        #expect(h.execution.redrivable)
        h.taskMs = 100
        h.redrive()
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.types.suffix(7) == ["ExecutionRedriven", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                                      "TaskStateExited", "ExecutionSucceeded"])
        var slow = try Harness(#"{"TimeoutSeconds":2,"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}"#)
        slow.taskMs = 3000
        slow.run()
        slow.redrive()
        #expect(slow.execution.outcome?.status == "TIMED_OUT", "the timeout runs from the redrive")
    }

    @Test func caughtThenFailedLaterResumesAtTheLaterState() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","Parameters":{"first":true},"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"U"}],"End":true},
          "U":{"Type":"Task","Resource":"\#(fn)","Parameters":{"gate":true},"End":true}}}
        """#)
        h.run { t in t.parameters["first"] != nil ? .failure(StatesError("E", "c")) : .failure(StatesError("Gate.Closed", "")) }
        h.redrive(task: Self.gate(true))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.invocations.filter { $0.parameters["first"] != nil }.count == 1, "T was caught: not run again")
    }

    @Test func nestedParallelKeepsWhatSucceededAtEveryLevel() throws {
        var h = try Harness(#"""
        {"StartAt":"Outer","States":{"Outer":{"Type":"Parallel","End":true,"Branches":[
          {"StartAt":"X","States":{"X":{"Type":"Task","Resource":"\#(fn)","Parameters":{"t":"x"},"End":true}}},
          {"StartAt":"Inner","States":{"Inner":{"Type":"Parallel","End":true,"Branches":[
            {"StartAt":"Y","States":{"Y":{"Type":"Task","Resource":"\#(fn)","Parameters":{"t":"y"},"End":true}}},
            {"StartAt":"Z","States":{"Z":{"Type":"Task","Resource":"\#(fn)","Parameters":{"t":"z","gate":true},"End":true}}}]}}}]}}}
        """#)
        h.taskMs = 10
        #expect(h.run(task: Self.gate(false))?.status == "FAILED")
        h.redrive(task: Self.gate(true))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.invocations.map { $0.parameters["t"] } == [.string("x"), .string("y"), .string("z"), .string("z")], "only z runs again")
        #expect(h.output == json(#"[{"t":"x"},[{"t":"y"},{"t":"z","gate":true}]]"#))
    }

    @Test func parallelFailingAfterItsBranchesEndsAgainFromTheirResults() throws {
        // Every branch succeeded; the ResultPath cannot apply to a string input: the state fails.
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","ResultPath":"$.out","End":true,"Branches":[
          {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"\#(fn)","Parameters":{"t":"a"},"End":true}}}]}}}
        """#)
        h.run(input: #""text""#)
        #expect(h.execution.outcome?.error == "States.ResultPathMatchFailure")
        h.redrive()
        #expect(h.execution.outcome?.error == "States.ResultPathMatchFailure", "the same input fails the same way")
        #expect(h.invocations.count == 1, "the branch is not run again")
        #expect(h.types.suffix(3) == ["ExecutionRedriven", "ParallelStateSucceeded", "ExecutionFailed"])
    }

    @Test func journalEntryRoundTrips() {
        for entry in [JournalEntry.redriven(clientToken: "abc", at: 5), .redriven(clientToken: nil, at: 6)] {
            #expect(JournalEntry(json: entry.json) == entry)
        }
    }
}

extension Harness {
    /// How many times a task of state `state` was run.
    func runs(of state: String) -> Int { invocations.filter { $0.stateName == state }.count }
}
