import Testing
@testable import HearthStates

/// The callback pattern (`.waitForTaskToken`): the token in the context object, the wait for
/// SendTaskSuccess/Failure/Heartbeat (journal entries), heartbeats and timeouts, replay.
@Suite struct CallbackTests {
    static let lambdaCallback = #"""
    {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters":{"FunctionName":"worker","Payload":{"job.$":"$.job","token.$":"$$.Task.Token"}},"End":true}}}
    """#

    /// Starts `definition` and returns the harness with the one task it scheduled.
    func started(_ definition: String, input: String = #"{"job":7}"#) throws -> (Harness, TaskInvocation) {
        var h = try Harness(definition)
        h.apply(.started(input: input, at: t0))
        let task = try #require(h.invocations.first)
        return (h, task)
    }

    func replayed(_ h: Harness) -> Execution {
        Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal)
    }

    // MARK: validation

    @Test func parametersMustReferenceTheToken() throws {
        let missing = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{"token":"$$.Task.Token"}},"End":true}}}"#
        #expect(diagnostics(missing) == [Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: Validator.missingTaskTokenMessage, location: "/States/T/Parameters")])
        let none = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","End":true}}}"#
        #expect(diagnostics(none).map(\.message) == ["The field 'QueueUrl' is required but was missing", "The field 'MessageBody' is required but was missing",
                                                     Validator.missingTaskTokenMessage])
        // Nested anywhere, also inside an intrinsic.
        let nested = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken","Parameters":{"QueueUrl":"q","MessageBody":{"a":[{"t.$":"States.Format('{}', $$.Task.Token)"}]}},"End":true}}}"#
        #expect(diagnostics(nested) == [])
        #expect(diagnostics(Self.lambdaCallback) == [])
        #expect(try StateMachine.parse(Self.lambdaCallback).callbackStates == ["T"])
        // A plain sqs:sendMessage needs no token; other services have no callback form in Hearth.
        #expect(diagnostics(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{"QueueUrl":"q","MessageBody":"m"},"End":true}}}"#) == [])
        #expect(diagnostics(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sns:publish.waitForTaskToken","Parameters":{"t.$":"$$.Task.Token"},"End":true}}}"#).first?.code == "INVALID_RESOURCE")
        #expect(try StateMachine.parse(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}"#).callbackStates == [])
    }

    // MARK: success

    @Test func lambdaCallbackSucceedsWithSendTaskSuccess() throws {
        var (h, task) = try started(Self.lambdaCallback)
        #expect(task.callback)
        let token = try #require(task.taskToken)
        #expect(task.parameters == .obj([("FunctionName", .string("worker")), ("Payload", .obj([("job", .int(7)), ("token", .string(token))]))]))
        #expect(TaskToken(parsing: token)?.executionArn == testContext.executionArn)
        #expect(TaskToken(parsing: token)?.task == task.id)
        #expect(h.execution.tokenState(token) == .waiting(task: task.id))
        #expect(h.execution.tokenState(TaskToken(executionArn: testContext.executionArn, task: task.id, nonce: "0").text) == .unknown)

        h.now = t0 + 100
        h.apply(.taskSubmitted(task: task.id, output: #"{"StatusCode":200,"Payload":null}"#, at: h.now))
        // Submitted: still waiting, and not run again after a restart.
        #expect(h.execution.outcome == nil)
        #expect(h.execution.tokenState(token) == .waiting(task: task.id))
        let afterCrash = replayed(h)
        #expect(afterCrash.outstandingActions == [])
        #expect(afterCrash.tokenState(token) == .waiting(task: task.id), "the token is rebuilt by replaying the journal")
        #expect(!h.execution.accepts(.taskSubmitted(task: task.id, output: "{}", at: h.now)))

        h.now = t0 + 5000
        h.apply(.taskSucceeded(task: task.id, output: #"{"done":true}"#, at: h.now))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.execution.outcome?.output == #"{"done":true}"#)
        #expect(h.execution.tokenState(token) == .over)
        #expect(h.types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                            "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.execution.history.map(\.previousEventId) == [0, 0, 2, 3, 4, 5, 6, 7])
        let scheduled = h.events("TaskScheduled")[0].details
        #expect(scheduled?["resourceType"] == .string("lambda"))
        #expect(scheduled?["resource"] == .string("invoke.waitForTaskToken"))
        #expect(h.events("TaskSubmitted")[0].details == json(#"{"resourceType":"lambda","resource":"invoke.waitForTaskToken","output":"{\"StatusCode\":200,\"Payload\":null}","outputDetails":{"truncated":false}}"#))
        #expect(h.events("TaskSucceeded")[0].details == json(#"{"resourceType":"lambda","resource":"invoke.waitForTaskToken","output":"{\"done\":true}","outputDetails":{"truncated":false}}"#))
        #expect(h.events("TaskSucceeded")[0].timestampMs == t0 + 5000)
        #expect(replayed(h).history == h.execution.history)
    }

    /// A worker can answer before the request's own response is in (a function calling
    /// SendTaskSuccess before it returns): the later submission is not wanted.
    @Test func successBeforeSubmission() throws {
        var (h, task) = try started(Self.lambdaCallback)
        h.apply(.taskSucceeded(task: task.id, output: "42", at: t0 + 10))
        #expect(h.execution.outcome?.output == "42")
        #expect(!h.execution.accepts(.taskSubmitted(task: task.id, output: "{}", at: t0 + 20)))
        #expect(!h.types.contains("TaskSubmitted"))
    }

    /// The token appears only where a callback task's Parameters read it.
    @Test func tokenOnlyInCallbackTasks() throws {
        let text = #"{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"c.$":"$$"},"End":true}}}"#
        var h = try Harness(text)
        h.run()
        #expect(h.output?["c"]?["Task"] == nil)
    }

    // MARK: failure

    @Test func sqsCallbackFailureIsCaught() throws {
        var (h, task) = try started(#"""
        {"StartAt":"Send","States":{
          "Send":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters":{"QueueUrl":"http://localhost/000000000000/jobs","MessageBody":{"token.$":"$$.Task.Token","job.$":"$.job"}},
            "Catch":[{"ErrorEquals":["Worker.Refused"],"ResultPath":"$.error","Next":"Refused"}],"End":true},
          "Refused":{"Type":"Pass","End":true}}}
        """#)
        #expect(task.resource == .sqsSendMessage)
        #expect(task.parameters["MessageBody"]?["token"] == .string(task.taskToken!))
        h.apply(.taskSubmitted(task: task.id, output: #"{"MessageId":"m1"}"#, at: t0 + 1))
        h.apply(.taskFailed(task: task.id, error: "Worker.Refused", cause: "no capacity", at: t0 + 2))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.output == json(#"{"job":7,"error":{"Error":"Worker.Refused","Cause":"no capacity"}}"#))
        #expect(h.events("TaskFailed")[0].details == json(#"{"resourceType":"sqs","resource":"sendMessage.waitForTaskToken","error":"Worker.Refused","cause":"no capacity"}"#))
        #expect(h.types.suffix(5) == ["TaskFailed", "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
    }

    /// A retried callback task gets a new token; the old one is over.
    @Test func retryIssuesANewToken() throws {
        var (h, first) = try started(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
          "Parameters":{"FunctionName":"w","Payload":{"token.$":"$$.Task.Token"}},
          "Retry":[{"ErrorEquals":["Again"],"IntervalSeconds":1,"MaxAttempts":1}],"End":true}}}
        """#)
        h.apply(.taskFailed(task: first.id, error: "Again", cause: "", at: t0 + 1))
        let (timer, due) = try #require(h.execution.outstandingTimers.first)
        h.apply(.timerFired(timer: timer, at: due))
        let second = try #require(h.invocations.last)
        #expect(second.id != first.id)
        #expect(second.taskToken != first.taskToken)
        #expect(h.execution.tokenState(first.taskToken!) == .over)
        #expect(h.execution.tokenState(second.taskToken!) == .waiting(task: second.id))
        #expect(replayed(h).tokenState(second.taskToken!) == .waiting(task: second.id))
    }

    // MARK: heartbeats and timeouts

    static let heartbeat = #"""
    {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters":{"FunctionName":"w","Payload":{"token.$":"$$.Task.Token"}},"HeartbeatSeconds":5,"TimeoutSeconds":60,
      "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Caught"}],"End":true},
      "Caught":{"Type":"Pass","End":true}}}
    """#

    @Test func heartbeatTimeout() throws {
        var (h, task) = try started(Self.heartbeat)
        #expect(h.events("TaskScheduled")[0].details?["heartbeatInSeconds"] == .int(5))
        #expect(h.events("TaskScheduled")[0].details?["timeoutInSeconds"] == .int(60))
        #expect(task.heartbeatSeconds == 5)
        #expect(Set(h.execution.outstandingTimers.values) == [t0 + 5000, t0 + 60_000])
        // A heartbeat at +3 s moves the heartbeat deadline to +8 s; the old timer no longer counts.
        let old = h.execution.outstandingTimers.first { $0.value == t0 + 5000 }!.key
        h.apply(.taskHeartbeat(task: task.id, at: t0 + 3000))
        #expect(Set(h.execution.outstandingTimers.values) == [t0 + 8000, t0 + 60_000])
        #expect(!h.execution.accepts(.timerFired(timer: old, at: t0 + 5000)))
        let beat = h.execution.outstandingTimers.first { $0.value == t0 + 8000 }!.key
        h.apply(.timerFired(timer: beat, at: t0 + 8000))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.output == json(#"{"Error":"States.HeartbeatTimeout","Cause":""}"#))
        #expect(h.events("TaskTimedOut")[0].details == json(#"{"resourceType":"lambda","resource":"invoke.waitForTaskToken","error":"States.HeartbeatTimeout","cause":""}"#))
        #expect(h.events("TaskTimedOut")[0].timestampMs == t0 + 8000)
        #expect(h.execution.tokenState(task.taskToken!) == .over)
        #expect(h.execution.outstandingTimers.isEmpty)
        #expect(replayed(h).history == h.execution.history)
    }

    @Test func taskTimeoutDespiteHeartbeats() throws {
        var (h, task) = try started(Self.heartbeat)
        var at = t0
        while at + 4000 < t0 + 60_000 {
            at += 4000
            h.apply(.taskHeartbeat(task: task.id, at: at))
        }
        let timeout = h.execution.outstandingTimers.first { $0.value == t0 + 60_000 }!.key
        h.apply(.timerFired(timer: timeout, at: t0 + 60_000))
        #expect(h.output == json(#"{"Error":"States.Timeout","Cause":""}"#))
        #expect(h.events("TaskTimedOut")[0].details?["error"] == .string("States.Timeout"))
    }

    /// After a replay (a restart) the outstanding heartbeat and timeout timers are there again.
    @Test func replayKeepsTheTimers() throws {
        var (h, task) = try started(Self.heartbeat)
        h.apply(.taskSubmitted(task: task.id, output: "{}", at: t0 + 50))
        h.apply(.taskHeartbeat(task: task.id, at: t0 + 1000))
        let r = replayed(h)
        #expect(r.outstandingTimers == h.execution.outstandingTimers)
        #expect(Set(r.outstandingActions.compactMap { if case .startTimer(_, let due) = $0 { due } else { nil } }) == [t0 + 6000, t0 + 60_000])
    }

    // MARK: request-response SQS and the journal

    @Test func sqsSendMessageRequestResponse() throws {
        var h = try Harness(#"{"StartAt":"S","States":{"S":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{"QueueUrl":"q","MessageBody.$":"$"},"End":true}}}"#)
        let outcome = h.run(input: #"{"a":1}"#) { t in
            #expect(t.taskToken == nil)
            #expect(!t.callback)
            return .success(.obj([("MD5OfMessageBody", .string("x")), ("MessageId", .string("id"))]))
        }
        #expect(outcome?.output == #"{"MD5OfMessageBody":"x","MessageId":"id"}"#)
        #expect(h.types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.events("TaskScheduled")[0].details == json(#"{"resourceType":"sqs","resource":"sendMessage","region":"us-east-1","parameters":"{\"QueueUrl\":\"q\",\"MessageBody\":{\"a\":1}}"}"#))
    }

    /// Tokens are made with the context's key: the same journal replayed with another key issues
    /// other tokens, so a token cannot be made from the ARN alone.
    @Test func tokensNeedTheKey() throws {
        var keyed = testContext
        keyed.tokenKey = "secret-1"
        let m = try machine(Self.lambdaCallback)
        var e = Execution(machine: m, context: keyed)
        let journal = [JournalEntry.started(input: #"{"job":1}"#, at: t0)]
        let actions = e.apply(journal[0])
        guard case .invoke(let task)? = actions.first(where: { if case .invoke = $0 { true } else { false } }) else {
            Issue.record("no task: \(actions)")
            return
        }
        let token = try #require(task.taskToken)
        #expect(Execution.replay(machine: m, context: keyed, journal: journal).tokenState(token) == .waiting(task: task.id))
        var other = keyed
        other.tokenKey = "secret-2"
        #expect(Execution.replay(machine: m, context: other, journal: journal).tokenState(token) == .unknown)
        #expect(Execution.replay(machine: m, context: testContext, journal: journal).tokenState(token) == .unknown)
        #expect(TaskToken.issue(keyed, task: task.id).text == token)
    }

    @Test func journalEntriesRoundTrip() {
        for entry in [JournalEntry.taskSubmitted(task: "task-3", output: #"{"a":1}"#, at: 5), .taskHeartbeat(task: "task-3", at: 6)] {
            #expect(JournalEntry(json: entry.json) == entry)
        }
        let token = TaskToken(executionArn: testContext.executionArn, task: "task-9", nonce: "abc")
        #expect(TaskToken(parsing: token.text) == token)
        #expect(TaskToken(parsing: "not a token") == nil)
        #expect(TaskToken(parsing: "aGVsbG8=") == nil)
    }
}
