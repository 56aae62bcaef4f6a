import Testing
@testable import HearthStates

@Suite struct ValidationTests {
    /// The message recorded from AWS (LocalStack's test_sfn_api snapshot).
    @Test func missingStatesIsAWSsMessage() {
        do {
            _ = try StateMachine.parse(#"{"StartAt":"A"}"#)
            Issue.record("accepted")
        } catch {
            #expect(error.description == "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'")
        }
        #expect(diagnostics("{}") == [Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "These fields are required: [States, StartAt]", location: "/")])
        #expect(diagnostics("[]") == [Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "Definition must be a valid JSON object", location: "/")])
        #expect(diagnostics("not a definition").first?.code == "INVALID_JSON_DESCRIPTION")
    }

    @Test(arguments: [
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Foo":1}}}"#, "SCHEMA_VALIDATION_FAILED", "The field \"Foo\" is not supported by Step Functions", "/States/A"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#, "MISSING_TRANSITION_TARGET", "Missing 'Next' target: B", "/States/A/Next"),
        (#"{"StartAt":"X","States":{"A":{"Type":"Pass","End":true}}}"#, "MISSING_TRANSITION_TARGET", "Missing 'Next' target: X", "/StartAt"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Succeed"}}}"#, "UNREACHABLE_STATE", "State \"B\" is not reachable.", "/States/B"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "These fields are required: [Resource]", "/States/A"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#, "SCHEMA_VALIDATION_FAILED", "These fields are required: [Next or End]", "/States/A"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Bogus","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'Type' must be one of [Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map]", "/States/A/Type"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"nope"},"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function call", "/States/A/Parameters"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope()"},"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function call", "/States/A/Parameters"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1,"Timestamp":"2016-03-14T01:59:00Z","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "These fields are mutually exclusive: [Seconds, Timestamp]", "/States/A"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Wait","Timestamp":"2016-03-14 01:59:00Z","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'Timestamp' must be a valid RFC3339 timestamp", "/States/A/Timestamp"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":-1,"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "Expected value of type Integer, at least 0", "/States/A/Seconds"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Assign":{"x":1}}}}"#, "SCHEMA_VALIDATION_FAILED", "The field \"Assign\" is not supported by Hearth yet: JSONata and variables are not (JSONPath only)", "/States/A"),
        (#"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The QueryLanguage 'JSONata' is not supported by Hearth yet (JSONPath only)", "/QueryLanguage"),
        (#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{"Resource":"arn:aws:states:::s3:getObject"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The field \"ItemReader\" is not supported by Hearth yet: it needs an object store (S3)", "/States/M"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}],"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "States.ALL must appear alone in ErrorEquals, in the last retrier or catcher", "/States/A/Retry[0]/ErrorEquals"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","End":true}}}"#, "INVALID_RESOURCE", "The resource 'arn:aws:states:::sns:publish' is not supported by Hearth yet (a function ARN, an activity ARN, arn:aws:states:::lambda:invoke, arn:aws:states:::sqs:sendMessage or arn:aws:states:::states:startExecution, each also with .waitForTaskToken, and the last with .sync or .sync:2)", "/States/A/Resource"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The field 'FunctionName' is required but was missing", "/States/A/Parameters"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","Next":"A"}]}}}"#, "SCHEMA_VALIDATION_FAILED", "A choice rule needs exactly one comparison operator", "/States/A/Choices[0]"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":"1","Next":"A"}]}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'NumericEquals' must be of type Number", "/States/A/Choices[0]/NumericEquals"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.x","IsNull":true,"Next":"A"},"Next":"A"}]}}}"#, "SCHEMA_VALIDATION_FAILED", "The field \"Next\" is not supported in a nested choice rule", "/States/A/Choices[0]/Not"),
        (#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}],"End":true}}}"#, "DUPLICATE_STATE_NAME", "Duplicate State name: A (also at /States/P/Branches[0]/States/A)", "/States/P/Branches[1]/States/A"),
        (#"{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Out"}}}],"Next":"Out"},"Out":{"Type":"Succeed"}}}"#, "MISSING_TRANSITION_TARGET", "Missing 'Next' target: Out", "/States/P/Branches[0]/States/A/Next"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "HeartbeatSeconds must be smaller than TimeoutSeconds", "/States/A/HeartbeatSeconds"),
        (#"{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$.a[*]","End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "The value for the field 'ResultPath' must be a valid Reference Path", "/States/A/ResultPath"),
        (#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#, "SCHEMA_VALIDATION_FAILED", "These fields are required: [ExecutionType]", "/States/M/ItemProcessor/ProcessorConfig"),
    ])
    func refused(_ definition: String, _ code: String, _ message: String, _ location: String) {
        let found = diagnostics(definition)
        #expect(found.contains(Diagnostic(code: code, message: message, location: location)), "got \(found)")
    }

    @Test func acceptsEveryStateType() throws {
        let m = try machine(#"""
        {"Comment":"all","StartAt":"P","TimeoutSeconds":60,"States":{
          "P":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","Next":"T"},
          "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f:live","TimeoutSeconds":3,
               "Retry":[{"ErrorEquals":["States.Timeout"],"MaxAttempts":0},{"ErrorEquals":["States.ALL"],"JitterStrategy":"FULL","MaxDelaySeconds":5}],
               "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"F"}],"Next":"C"},
          "C":{"Type":"Choice","Choices":[{"And":[{"Variable":"$.r.x","NumericEqualsPath":"$.r.x"},{"Not":{"Variable":"$.y","IsPresent":true}}],"Next":"W"}],"Default":"F"},
          "W":{"Type":"Wait","SecondsPath":"$.r.x","Next":"Par"},
          "Par":{"Type":"Parallel","Branches":[{"StartAt":"B1","States":{"B1":{"Type":"Pass","End":true}}}],"Next":"M"},
          "M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,"Iterator":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"Next":"S"},
          "S":{"Type":"Succeed"},
          "F":{"Type":"Fail","ErrorPath":"$.err.Error","CausePath":"States.Format('x {}', $.err.Cause)"}}}
        """#)
        #expect(m.allStates.count == 10)
        #expect(m.timeoutSeconds == 60)
    }
}
