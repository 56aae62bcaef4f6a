import Testing
@testable import HearthStates

let fn = "arn:aws:lambda:us-east-1:000000000000:function:echo"

@Suite struct DataFlowTests {
    /// AWS's Parameters example (input-output-inputpath-params): static and `.$` fields.
    @Test func parametersExample() throws {
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"comment":"Selecting what I care about.",
          "MyDetails":{"size.$":"$.product.details.size","exists.$":"$.product.availability","StaticValue":"foo"}},"End":true}}}
        """#)
        h.run(input: #"{"comment":"Example for Parameters.","product":{"details":{"color":"blue","size":"small","material":"cotton"},"availability":"in stock","sku":"2317","cost":"$23"}}"#)
        #expect(h.output == json(#"{"comment":"Selecting what I care about.","MyDetails":{"size":"small","exists":"in stock","StaticValue":"foo"}}"#))
    }

    /// AWS's ResultPath example: the task's result placed into the input.
    @Test func resultPathExample() throws {
        var h = try Harness(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","ResultPath":"$.taskresult","End":true}}}"#)
        h.run(input: #"{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions"}"#) { _ in
            .success(.string("Hello, AWS Step Functions!"))
        }
        #expect(h.output == json(#"{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions","taskresult":"Hello, AWS Step Functions!"}"#))
    }

    /// AWS's ResultSelector example (an EMR result reduced, then put under $.EMROutput).
    @Test func resultSelectorExample() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","ResultSelector":{"ClusterId.$":"$.output.ClusterId","ResourceType.$":"$.resourceType"},
         "ResultPath":"$.EMROutput","End":true}}}
        """#)
        h.run(input: #"{"foo":"bar"}"#) { _ in
            .success(json(#"{"resourceType":"elasticmapreduce","resource":"createCluster.sync","output":{"SdkHttpMetadata":{"HttpStatusCode":200},"ClusterId":"AKIAIOSFODNN7EXAMPLE"}}"#))
        }
        #expect(h.output == json(#"{"foo":"bar","EMROutput":{"ClusterId":"AKIAIOSFODNN7EXAMPLE","ResourceType":"elasticmapreduce"}}"#))
    }

    @Test func inputPathOutputPathAndNulls() throws {
        var h = try Harness(#"""
        {"StartAt":"A","States":{
          "A":{"Type":"Pass","InputPath":"$.dataset2","ResultPath":"$.copy","OutputPath":"$.copy","Next":"B"},
          "B":{"Type":"Pass","Result":"ignored","ResultPath":null,"Next":"C"},
          "C":{"Type":"Pass","OutputPath":null,"End":true}}}
        """#)
        h.run(input: #"{"dataset1":{"val1":1},"dataset2":{"val1":"a","val2":"b"}}"#)
        #expect(h.execution.history.first { $0.type == "PassStateExited" }?.details?["output"] == .string(#"{"val1":"a","val2":"b"}"#))
        #expect(h.output == json("{}"))
    }

    /// `Result` is a literal: `.$` keys in it are not evaluated (recorded by AWS).
    @Test func resultIsLiteral() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"TestResult.$":"ConditionTrue"},"End":true}}}"#)
        h.run()
        #expect(h.output == json(#"{"TestResult.$":"ConditionTrue"}"#))
    }

    @Test func contextObject() throws {
        var h = try Harness(#"""
        {"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"id.$":"$$.Execution.Id","name.$":"$$.Execution.Name","sm.$":"$$.StateMachine.Name",
          "state.$":"$$.State.Name","entered.$":"$$.State.EnteredTime","start.$":"$$.Execution.StartTime","input.$":"$$.Execution.Input","retries.$":"$$.State.RetryCount"},"End":true}}}
        """#)
        h.run(input: #"{"k":1}"#)
        #expect(h.output == json(#"{"id":"\#(testContext.executionArn)","name":"run1","sm":"sm","state":"A","entered":"2025-12-02T00:00:00.000Z","start":"2025-12-02T00:00:00.000Z","input":{"k":1},"retries":0}"#))
    }

    @Test func missingParameterPathIsStatesRuntime() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"$.nope"},"End":true}}}"#)
        let outcome = h.run(input: #"{"a":1}"#)
        #expect(outcome?.status == "FAILED")
        #expect(outcome?.error == "States.Runtime")
        #expect(outcome?.cause == "An error occurred while executing the state 'A' (entered at the event id #2). The JSONPath '$.nope' specified for the field 'x.$' could not be found in the input '{\"a\":1}'")
    }

    @Test func missingInputPathIsStatesRuntime() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.no.such","End":true}}}"#)
        let outcome = h.run(input: #"{"a":1}"#)
        #expect(outcome?.cause == "An error occurred while executing the state 'A' (entered at the event id #2). Invalid path '$.no.such' : Missing property in path $['no']")
    }

    @Test func resultPathOnANonObjectFails() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"ResultPath":"$.x","End":true}}}"#)
        let outcome = h.run(input: #""just a string""#)
        #expect(outcome?.error == "States.ResultPathMatchFailure")
    }

    @Test func intrinsicsInParametersAndUUIDReplays() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"u.$":"States.UUID()","greeting.$":"States.Format('hi {}', $.who)"},"End":true}}}"#)
        h.run(input: #"{"who":"you"}"#)
        #expect(h.output?["greeting"] == .string("hi you"))
        #expect(h.output?["u"]?.stringValue?.count == 36)
    }

    @Test func oversizeOutputIsDataLimitExceeded() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"\#(fn)","End":true}}}"#)
        let outcome = h.run { _ in .success(.string(String(repeating: "x", count: 262_144))) }
        #expect(outcome?.error == "States.DataLimitExceeded")
    }
}

@Suite struct TaskTests {
    /// A bare function ARN: LambdaFunction* events, linked as AWS links them.
    @Test func lambdaFunctionHistory() throws {
        var h = try Harness(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","TimeoutSeconds":30,"End":true}}}"#)
        h.taskMs = 1500
        let outcome = h.run(input: #"{"n":1}"#) { .success(.obj([("echo", $0.parameters)])) }
        #expect(outcome?.status == "SUCCEEDED")
        #expect(outcome?.output == #"{"echo":{"n":1}}"#)
        #expect(h.types == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                            "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.execution.history.map(\.previousEventId) == [0, 0, 2, 3, 4, 5, 6])
        let scheduled = h.events("LambdaFunctionScheduled")[0]
        #expect(scheduled.detailsKey == "lambdaFunctionScheduledEventDetails")
        #expect(scheduled.details == json(#"{"resource":"\#(fn)","input":"{\"n\":1}","inputDetails":{"truncated":false},"timeoutInSeconds":30}"#))
        #expect(h.events("ExecutionSucceeded")[0].timestampMs == t0 + 1500)
        #expect(h.invocations.count == 1)
        #expect(h.invocations[0].timeoutSeconds == 30)
    }

    /// `arn:aws:states:::lambda:invoke`: Task* events with resourceType lambda, resource invoke.
    @Test func lambdaInvokeHistory() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
          "Parameters":{"FunctionName":"echo","Payload.$":"$"},"OutputPath":"$.Payload","End":true}}}
        """#)
        let outcome = h.run(input: #"{"n":2}"#) { t in .success(.obj([("ExecutedVersion", .string("$LATEST")), ("Payload", t.parameters["Payload"]!), ("StatusCode", .int(200))])) }
        #expect(outcome?.output == #"{"n":2}"#)
        #expect(h.types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"])
        #expect(h.events("TaskScheduled")[0].details == json(#"{"resourceType":"lambda","resource":"invoke","region":"us-east-1","parameters":"{\"FunctionName\":\"echo\",\"Payload\":{\"n\":2}}"}"#))
        #expect(h.events("TaskStarted")[0].details == json(#"{"resourceType":"lambda","resource":"invoke"}"#))
    }

    @Test func functionErrorFailsTheExecution() throws {
        var h = try Harness(#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}"#)
        let cause = #"{"errorMessage":"boom","errorType":"ValueError","requestId":"r","stackTrace":[]}"#
        let outcome = h.run { _ in .failure(StatesError("ValueError", cause)) }
        #expect(outcome == ExecutionOutcome(status: "FAILED", output: nil, error: "ValueError", cause: cause, stopMs: t0))
        #expect(h.types.suffix(2) == ["LambdaFunctionFailed", "ExecutionFailed"])
        #expect(h.events("LambdaFunctionFailed")[0].details == json(#"{"error":"ValueError","cause":\#(JSON.string(cause).text)}"#))
    }

    /// The worked example of concepts-error-handling: intervals 1 s, backoff 2 → 1, 2, 4 s.
    @Test func retryIntervalsAndBackoff() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)",
          "Retry":[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":1,"MaxAttempts":3,"BackoffRate":2}],"End":true}}}
        """#)
        var attempt = 0
        var times: [Int64] = []
        var now: Int64 { t0 }
        let outcome = h.run { _ in
            attempt += 1
            return .failure(StatesError("Boom", "x"))
        }
        _ = now
        times = h.events("LambdaFunctionScheduled").map(\.timestampMs)
        #expect(attempt == 4)
        #expect(times.map { $0 - t0 } == [0, 1000, 3000, 7000])
        #expect(outcome?.error == "Boom")
    }

    @Test func retrySucceedsAndCountsRetries() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","Parameters":{"retry.$":"$$.State.RetryCount"},
          "Retry":[{"ErrorEquals":["Lambda.TooManyRequestsException"],"IntervalSeconds":2}],"End":true}}}
        """#)
        var n = 0
        let outcome = h.run { t in
            n += 1
            return n < 3 ? .failure(StatesError("Lambda.TooManyRequestsException", "Rate Exceeded.")) : .success(t.parameters)
        }
        #expect(outcome?.output == #"{"retry":2}"#)
        #expect(h.types.filter { $0 == "TaskStateEntered" }.count == 1)
    }

    @Test func maxAttemptsZeroMaxDelayAndSeparateCounters() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","Retry":[
          {"ErrorEquals":["A"],"MaxAttempts":0},
          {"ErrorEquals":["B"],"IntervalSeconds":10,"BackoffRate":3,"MaxAttempts":4,"MaxDelaySeconds":20},
          {"ErrorEquals":["C"],"IntervalSeconds":1,"MaxAttempts":1}],"End":true}}}
        """#)
        let script = ["B", "C", "B", "B", "B", "A"]
        var k = 0
        let outcome = h.run { _ in
            defer { k += 1 }
            return .failure(StatesError(script[k], ""))
        }
        let delays = zip(h.events("LambdaFunctionScheduled").dropFirst(), h.events("LambdaFunctionFailed")).map { $0.timestampMs - $1.timestampMs }
        // B: 10; C: 1; B: 30 capped at 20; B: 90 → 20; B: the 4th B retry, 270 → 20; then A is never retried.
        #expect(delays == [10_000, 1_000, 20_000, 20_000, 20_000])
        #expect(outcome?.error == "A")
    }

    @Test func jitterIsWithinTheDelayAndDeterministic() throws {
        let def = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"MaxAttempts":5,"JitterStrategy":"FULL"}],"End":true}}}"#
        var a = try Harness(def), b = try Harness(def)
        a.run { _ in .failure(StatesError("X", "")) }
        b.run { _ in .failure(StatesError("X", "")) }
        let times = a.events("LambdaFunctionScheduled").map(\.timestampMs)
        #expect(times == b.events("LambdaFunctionScheduled").map(\.timestampMs))
        for (k, pair) in zip(times, times.dropFirst()).enumerated() {
            #expect(pair.1 - pair.0 <= Int64(10_000 * 1 << k))
        }
    }

    @Test func catchWithResultPathThenRuntimeIsNotCaught() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{
          "T":{"Type":"Task","Resource":"\#(fn)","Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.error","Next":"Recover"}],"End":true},
          "Recover":{"Type":"Pass","Parameters":{"bad.$":"$.nope"},"End":true}}}
        """#)
        var h2 = h
        let outcome = h.run(input: #"{"keep":1}"#) { _ in .failure(StatesError("CustomError", "why")) }
        #expect(h.execution.history.first { $0.type == "TaskStateExited" }?.details?["output"] == .string(#"{"keep":1,"error":{"Error":"CustomError","Cause":"why"}}"#))
        #expect(outcome?.error == "States.Runtime")
        // And States.Runtime inside a Task is not caught even when named.
        h2 = try Harness(#"""
        {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","Parameters":{"x.$":"$.missing"},
          "Catch":[{"ErrorEquals":["States.Runtime"],"Next":"S"}],"End":true},"S":{"Type":"Succeed"}}}
        """#)
        #expect(h2.run()?.error == "States.Runtime")
        #expect(h2.invocations.isEmpty)
    }

    @Test func taskTimeoutIsStatesTimeoutNotMatchedByTaskFailed() throws {
        var h = try Harness(#"""
        {"StartAt":"T","States":{
          "T":{"Type":"Task","Resource":"\#(fn)","TimeoutSeconds":2,"Retry":[{"ErrorEquals":["States.TaskFailed"]}],
               "Catch":[{"ErrorEquals":["States.Timeout"],"Next":"Late"}],"End":true},
          "Late":{"Type":"Pass","End":true}}}
        """#)
        h.taskMs = 5000
        let outcome = h.run()
        #expect(outcome?.status == "SUCCEEDED")
        #expect(outcome?.output == #"{"Error":"States.Timeout","Cause":""}"#)
        #expect(h.types.contains("LambdaFunctionTimedOut"))
        #expect(h.events("LambdaFunctionTimedOut")[0].timestampMs == t0 + 2000)
        #expect(h.invocations.count == 1)
    }

    @Test func statesAllCatchesAnythingButRuntime() {
        #expect(StatesError("Lambda.Unknown", "").matches(["States.ALL"]))
        #expect(StatesError("States.Timeout", "").matches(["States.ALL"]))
        #expect(!StatesError("States.Timeout", "").matches(["States.TaskFailed"]))
        #expect(StatesError("Sandbox.Timedout", "").matches(["States.TaskFailed"]))
        #expect(!StatesError("States.Runtime", "").matches(["States.ALL", "States.Runtime"]))
        #expect(!StatesError("A", "").matches(["B"]))
    }
}

@Suite struct ChoiceTests {
    static let input = #"{"s":"apple","n":5,"f":2.5,"b":true,"t":"2016-03-14T01:59:00Z","nul":null,"other":5,"arr":[1]}"#

    func choose(_ rule: String) throws -> String {
        var h = try Harness(#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[\#(rule)],"Default":"No"},"Yes":{"Type":"Succeed"},"No":{"Type":"Succeed"}}}"#)
        h.run(input: Self.input)
        return h.execution.history.last { $0.type == "SucceedStateEntered" }?.details?["name"]?.stringValue ?? "?"
    }

    @Test(arguments: [
        (#""Variable":"$.s","StringEquals":"apple""#, true), (#""Variable":"$.s","StringEquals":"pear""#, false),
        (#""Variable":"$.s","StringLessThan":"banana""#, true), (#""Variable":"$.s","StringGreaterThanEquals":"apple""#, true),
        (#""Variable":"$.s","StringLessThanEquals":"aaa""#, false), (#""Variable":"$.s","StringGreaterThan":"a""#, true),
        (#""Variable":"$.s","StringMatches":"a*e""#, true), (#""Variable":"$.s","StringMatches":"*pl*""#, true),
        (#""Variable":"$.s","StringMatches":"b*""#, false), (#""Variable":"$.s","StringMatches":"apple\\*""#, false),
        (#""Variable":"$.n","NumericEquals":5"#, true), (#""Variable":"$.n","NumericEquals":5.0"#, true),
        (#""Variable":"$.f","NumericLessThan":3"#, true), (#""Variable":"$.f","NumericGreaterThan":3"#, false),
        (#""Variable":"$.n","NumericLessThanEquals":5"#, true), (#""Variable":"$.n","NumericGreaterThanEquals":6"#, false),
        (#""Variable":"$.s","NumericEquals":5"#, false),
        (#""Variable":"$.b","BooleanEquals":true"#, true), (#""Variable":"$.b","BooleanEquals":false"#, false),
        (#""Variable":"$.t","TimestampEquals":"2016-03-14T01:59:00Z""#, true),
        (#""Variable":"$.t","TimestampLessThan":"2016-03-14T02:00:00Z""#, true),
        (#""Variable":"$.t","TimestampGreaterThan":"2016-03-14T03:59:00+02:00""#, false),
        (#""Variable":"$.t","TimestampLessThanEquals":"2016-03-14T03:59:00+02:00""#, true),
        (#""Variable":"$.t","TimestampGreaterThanEquals":"2017-01-01T00:00:00Z""#, false),
        (#""Variable":"$.n","NumericEqualsPath":"$.other""#, true), (#""Variable":"$.s","StringEqualsPath":"$.s""#, true),
        (#""Variable":"$.b","BooleanEqualsPath":"$.b""#, true), (#""Variable":"$.t","TimestampEqualsPath":"$.t""#, true),
        (#""Variable":"$.n","NumericGreaterThanPath":"$.f""#, true),
        (#""Variable":"$.nul","IsNull":true"#, true), (#""Variable":"$.s","IsNull":true"#, false),
        (#""Variable":"$.missing","IsPresent":false"#, true), (#""Variable":"$.s","IsPresent":true"#, true),
        (#""Variable":"$.n","IsNumeric":true"#, true), (#""Variable":"$.s","IsNumeric":false"#, true),
        (#""Variable":"$.s","IsString":true"#, true), (#""Variable":"$.b","IsBoolean":true"#, true),
        (#""Variable":"$.t","IsTimestamp":true"#, true), (#""Variable":"$.s","IsTimestamp":true"#, false),
        (#""And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":true}]"#, true),
        (#""And":[{"Variable":"$.n","NumericEquals":5},{"Variable":"$.b","BooleanEquals":false}]"#, false),
        (#""Or":[{"Variable":"$.n","NumericEquals":6},{"Variable":"$.b","BooleanEquals":true}]"#, true),
        (#""Not":{"Variable":"$.s","StringEquals":"apple"}"#, false),
        (#""Not":{"Or":[{"Variable":"$.n","NumericEquals":1},{"Variable":"$.arr[0]","NumericEquals":2}]}"#, true),
    ])
    func operators(_ rule: String, _ matches: Bool) throws {
        #expect(try choose(#"{\#(rule),"Next":"Yes"}"#) == (matches ? "Yes" : "No"))
    }

    @Test func firstMatchingRuleWins() throws {
        var h = try Harness(#"""
        {"StartAt":"C","States":{"C":{"Type":"Choice","OutputPath":"$.v","Choices":[
          {"Variable":"$.v","NumericGreaterThan":1,"Next":"A"},{"Variable":"$.v","NumericGreaterThan":0,"Next":"B"}]},
          "A":{"Type":"Pass","Result":"A","End":true},"B":{"Type":"Pass","Result":"B","End":true}}}
        """#)
        h.run(input: #"{"v":2}"#)
        #expect(h.output == .string("A"))
        #expect(h.types == ["ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
        #expect(h.execution.history[2].details?["output"] == .string("2"))
    }

    @Test func noMatchWithoutDefault() throws {
        var h = try Harness(#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.v","NumericEquals":1,"Next":"S"}]},"S":{"Type":"Succeed"}}}"#)
        #expect(h.run(input: #"{"v":2}"#)?.error == "States.NoChoiceMatched")
    }

    @Test func missingVariableIsRuntime() throws {
        var h = try Harness(#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.v","NumericEquals":1,"Next":"S"}],"Default":"S"},"S":{"Type":"Succeed"}}}"#)
        #expect(h.run(input: "{}")?.error == "States.Runtime")
    }

    /// A loop of 5,000 iterations through Choice and Pass (an intrinsic counter) runs without deepening the stack.
    @Test func longLoop() throws {
        var h = try Harness(#"""
        {"StartAt":"Check","States":{
          "Check":{"Type":"Choice","Choices":[{"Variable":"$.i","NumericGreaterThanEquals":5000,"Next":"Done"}],"Default":"Inc"},
          "Inc":{"Type":"Pass","Parameters":{"i.$":"States.MathAdd($.i, 1)"},"Next":"Check"},
          "Done":{"Type":"Succeed"}}}
        """#)
        #expect(h.run(input: #"{"i":0}"#)?.output == #"{"i":5000}"#)
        #expect(h.execution.history.count == 1 + 4 * 5000 + 2 + 2 + 1)
    }
}

@Suite struct WaitTests {
    func waited(_ field: String, input: String = "{}") throws -> (Int64, Harness) {
        var h = try Harness(#"{"StartAt":"W","States":{"W":{"Type":"Wait",\#(field),"Next":"S"},"S":{"Type":"Succeed"}}}"#)
        h.run(input: input)
        let entered = h.events("WaitStateEntered")[0].timestampMs, exited = h.events("WaitStateExited")[0].timestampMs
        return (exited - entered, h)
    }

    @Test func allFourForms() throws {
        #expect(try waited(#""Seconds":10"#).0 == 10_000)
        #expect(try waited(#""Timestamp":"2025-12-02T00:01:00Z""#).0 == 60_000)
        #expect(try waited(#""SecondsPath":"$.s""#, input: #"{"s":3}"#).0 == 3_000)
        #expect(try waited(#""TimestampPath":"$.t""#, input: #"{"t":"2025-12-02T02:00:00+02:00"}"#).0 == 0)
        #expect(try waited(#""TimestampPath":"$.t""#, input: #"{"t":"2025-12-02T00:00:02.500Z"}"#).0 == 2_500)
        #expect(try waited(#""Timestamp":"2016-03-14T01:59:00Z""#).0 == 0)  // in the past: at once
    }

    @Test func invalidPathValuesAreRuntime() throws {
        for (field, input) in [(#""SecondsPath":"$.s""#, #"{"s":-1}"#), (#""SecondsPath":"$.s""#, #"{"s":"3"}"#),
                               (#""TimestampPath":"$.t""#, #"{"t":"2016-12-05 21:29:29Z"}"#), (#""SecondsPath":"$.none""#, "{}")] {
            var h = try Harness(#"{"StartAt":"W","States":{"W":{"Type":"Wait",\#(field),"End":true}}}"#)
            #expect(h.run(input: input)?.error == "States.Runtime", "\(field) \(input)")
        }
    }

    @Test func waitPassesItsInputThrough() throws {
        let (_, h) = try waited(#""Seconds":1"#, input: #"{"x":[1,2]}"#)
        #expect(h.output == json(#"{"x":[1,2]}"#))
        #expect(h.execution.history.map(\.previousEventId) == [0, 0, 2, 3, 4, 5])
    }
}

@Suite struct FailSucceedTests {
    @Test func failWithErrorAndCause() throws {
        var h = try Harness(#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"MyError","Cause":"because"}}}"#)
        #expect(h.run() == ExecutionOutcome(status: "FAILED", output: nil, error: "MyError", cause: "because", stopMs: t0))
        #expect(h.types == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"])
    }

    @Test func failWithPathsAndIntrinsic() throws {
        var h = try Harness(#"{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('code {} in {}', $.code, $$.State.Name)"}}}"#)
        let outcome = h.run(input: #"{"e":"Bad","code":42}"#)
        #expect(outcome?.error == "Bad")
        #expect(outcome?.cause == "code 42 in F")
    }

    @Test func failWithoutErrorHasNoFields() throws {
        var h = try Harness(#"{"StartAt":"F","States":{"F":{"Type":"Fail"}}}"#)
        let outcome = h.run()
        #expect(outcome?.error == nil && outcome?.cause == nil)
        #expect(h.events("ExecutionFailed")[0].details == json("{}"))
    }

    @Test func succeedAppliesPaths() throws {
        var h = try Harness(#"{"StartAt":"S","States":{"S":{"Type":"Succeed","InputPath":"$.a","OutputPath":"$.b"}}}"#)
        #expect(h.run(input: #"{"a":{"b":7}}"#)?.output == "7")
        #expect(h.types == ["ExecutionStarted", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"])
    }
}

@Suite struct ParallelMapTests {
    @Test func parallelOutputsInBranchOrder() throws {
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","ResultPath":"$.out","Branches":[
          {"StartAt":"Slow","States":{"Slow":{"Type":"Wait","Seconds":5,"Next":"SlowDone"},"SlowDone":{"Type":"Pass","Result":"slow","End":true}}},
          {"StartAt":"Fast","States":{"Fast":{"Type":"Task","Resource":"\#(fn)","End":true}}}],"End":true}}}
        """#)
        let outcome = h.run(input: #"{"in":1}"#)
        #expect(outcome?.output == #"{"in":1,"out":["slow",{"in":1}]}"#)
        #expect(h.types.first { $0.hasPrefix("Parallel") } == "ParallelStateEntered")
        let started = h.events("ParallelStateStarted")[0]
        // Each branch's first state follows ParallelStateStarted.
        #expect(h.events("WaitStateEntered")[0].previousEventId == started.id)
        #expect(h.events("TaskStateEntered")[0].previousEventId == started.id)
        #expect(h.types.suffix(3) == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"])
        // ParallelStateSucceeded follows the last branch event (the slow branch, which ended last).
        #expect(h.events("ParallelStateSucceeded")[0].previousEventId == h.events("PassStateExited")[0].id)
    }

    @Test func parallelBranchFailureIsCaughtAndOthersAbort() throws {
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
          {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"End":true}}},
          {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}],
          "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Handled"}],"End":true},
          "Handled":{"Type":"Pass","End":true}}}
        """#)
        let outcome = h.run { _ in .failure(StatesError("Oops", "c")) }
        #expect(outcome?.output == #"{"Error":"Oops","Cause":"c"}"#)
        #expect(h.events("ExecutionSucceeded")[0].timestampMs == t0)  // did not wait for the aborted Wait
        #expect(h.types.contains("ParallelStateFailed"))
    }

    @Test func parallelRetryRerunsEveryBranch() throws {
        var h = try Harness(#"""
        {"StartAt":"P","States":{"P":{"Type":"Parallel","Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":1}],"Branches":[
          {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}],"End":true}}}
        """#)
        var n = 0
        let outcome = h.run { t in n += 1; return n == 1 ? .failure(StatesError("Once", "")) : .success(.int(1)) }
        #expect(outcome?.output == "[1]")
        #expect(h.events("ParallelStateStarted").count == 2)
    }

    @Test func mapWithItemsPathSelectorAndContext() throws {
        var h = try Harness(#"""
        {"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.detail.items","MaxConcurrency":0,
          "ItemSelector":{"index.$":"$$.Map.Item.Index","value.$":"$$.Map.Item.Value","shipping.$":"$.detail.shipping"},
          "ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}},
          "ResultPath":"$.detail.results","End":true}}}
        """#)
        let outcome = h.run(input: #"{"detail":{"shipping":"fast","items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}}"#) { .success($0.parameters["index"]!) }
        #expect(outcome?.output == #"{"detail":{"shipping":"fast","items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}],"results":[0,1,2]}}"#)
        #expect(h.events("MapStateStarted")[0].details == json(#"{"length":3}"#))
        #expect(h.events("MapIterationStarted").map { $0.details?["index"] } == [.int(0), .int(1), .int(2)])
        #expect(h.invocations[1].parameters == json(#"{"index":1,"value":{"sku":"b"},"shipping":"fast"}"#))
        #expect(h.types.suffix(3) == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"])
    }

    @Test func mapMaxConcurrencyOneRunsInOrder() throws {
        var h = try Harness(#"""
        {"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"Iterator":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}},"End":true}}}
        """#)
        h.taskMs = 1000
        let outcome = h.run(input: "[1,2,3]")
        #expect(outcome?.output == "[1,2,3]")
        // One at a time: each starts when the previous ends.
        #expect(h.events("LambdaFunctionScheduled").map { $0.timestampMs - t0 } == [0, 1000, 2000])
        var wide = try Harness(#"{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,"Iterator":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(fn)","End":true}}},"End":true}}}"#)
        wide.taskMs = 1000
        wide.run(input: "[1,2,3]")
        #expect(wide.events("LambdaFunctionScheduled").map { $0.timestampMs - t0 } == [0, 0, 1000])
    }

    @Test func mapEmptyAndLegacyParameters() throws {
        var h = try Harness(#"{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},"Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#)
        #expect(h.run(input: "[]")?.output == "[]")
        var h2 = try Harness(#"{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},"Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#)
        #expect(h2.run(input: #"["a","b"]"#)?.output == #"[{"v":"a"},{"v":"b"}]"#)
    }

    @Test func mapOverANonArrayIsRuntime() throws {
        var h = try Harness(#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.x","Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#)
        #expect(h.run(input: #"{"x":1}"#)?.error == "States.Runtime")
    }

    @Test func mapIterationFailureFailsTheMap() throws {
        var h = try Harness(#"""
        {"StartAt":"M","States":{"M":{"Type":"Map","Iterator":{"StartAt":"C","States":{
          "C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"Bad"}],"Default":"Ok"},
          "Bad":{"Type":"Fail","Error":"Two","Cause":"no twos"},"Ok":{"Type":"Succeed"}}},"End":true}}}
        """#)
        let outcome = h.run(input: "[1,2,3]")
        #expect(outcome?.error == "Two")
        #expect(h.types.contains("MapIterationFailed"))
        #expect(h.types.suffix(2) == ["MapStateFailed", "ExecutionFailed"])
    }
}

@Suite struct ExecutionLifecycleTests {
    @Test func executionTimeout() throws {
        var h = try Harness(#"{"TimeoutSeconds":5,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#)
        let outcome = h.run()
        #expect(outcome?.status == "TIMED_OUT")
        #expect(outcome?.stopMs == t0 + 5000)
        #expect(h.types.last == "ExecutionTimedOut")
    }

    @Test func stopAborts() throws {
        var e = Execution(machine: try machine(#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#), context: testContext)
        let actions = e.apply(.started(input: "{}", at: t0))
        #expect(actions.count == 1)
        guard case .startTimer(let id, let due) = actions[0] else { Issue.record("expected a timer"); return }
        #expect(due == t0 + 60_000)
        let stop = e.apply(.stopped(error: "Why", cause: "user", at: t0 + 10))
        #expect(stop == [.finish(ExecutionOutcome(status: "ABORTED", output: nil, error: "Why", cause: "user", stopMs: t0 + 10))])
        #expect(!e.accepts(.timerFired(timer: id, at: t0 + 60_000)))
        #expect(e.history.last?.type == "ExecutionAborted")
    }

    /// Replay from a journal prefix gives the outstanding work a driver must resume after a crash.
    @Test func replayRestoresOutstandingWork() throws {
        let m = try machine(#"""
        {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"Next":"T"},"T":{"Type":"Task","Resource":"\#(fn)","End":true}}}
        """#)
        var e = Execution(machine: m, context: testContext)
        var journal: [JournalEntry] = [.started(input: #"{"a":1}"#, at: t0)]
        let first = e.apply(journal[0])
        guard case .startTimer(let timer, let due)? = first.first else { Issue.record("no timer"); return }
        var replayed = Execution.replay(machine: m, context: testContext, journal: journal)
        #expect(replayed.outstandingActions == [.startTimer(id: timer, dueMs: due)])
        journal.append(.timerFired(timer: timer, at: due))
        let second = e.apply(journal[1])
        guard case .invoke(let task)? = second.first else { Issue.record("no invoke"); return }
        replayed = Execution.replay(machine: m, context: testContext, journal: journal)
        #expect(replayed.outstandingActions == [.invoke(task)])
        #expect(replayed.history == e.history)
        // A duplicate result (a task re-run after a crash) is not accepted twice.
        let done = JournalEntry.taskSucceeded(task: task.id, output: "1", at: due + 5)
        _ = replayed.apply(done)
        #expect(!replayed.accepts(done))
        #expect(replayed.outcome?.output == "1")
    }

    @Test func journalEntriesRoundTrip() {
        let entries: [JournalEntry] = [.started(input: "{}", at: 1), .taskSucceeded(task: "t", output: "\"x\"", at: 2),
                                       .taskFailed(task: "t", error: "E", cause: "C", at: 3), .timerFired(timer: "w", at: 4),
                                       .stopped(error: nil, cause: "c", at: 5)]
        for e in entries { #expect(JournalEntry(json: json(e.json.text)) == e) }
    }

    @Test func historyEventJSONRoundTrips() throws {
        var h = try Harness(#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#)
        h.run()
        for event in h.execution.history { #expect(HistoryEvent(json: json(event.json.text)) == event) }
    }
}
