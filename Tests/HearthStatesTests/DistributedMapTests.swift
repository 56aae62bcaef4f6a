import Testing
@testable import HearthStates

/// The distributed Map (ADR 0030) in the interpreter: validation, the Map Run's events and
/// ARNs, children as tasks (their inputs, batches, the concurrency bound), tolerated failures,
/// UpdateMapRun and aborts, each run replayed from its journal by the harness.
@Suite struct DistributedMapTests {
    static func definition(_ fields: String = "", processor: String = #"{"StartAt":"W","States":{"W":{"Type":"Pass","End":true}}}"#,
                           config: String = #"{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"}"#) -> String {
        let p = processor.dropLast() + #","ProcessorConfig":"# + config + "}"
        return #"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":\#(p)\#(fields.isEmpty ? "" : "," + fields),"End":true}}}"#
    }

    static func items(_ n: Int) -> String { #"{"items":[\#((0..<n).map(String.init).joined(separator: ","))]}"# }

    @Test(arguments: [
        ("", nil),
        (#""Label":"chunks","MaxConcurrency":5,"ToleratedFailureCount":2,"ToleratedFailurePercentage":12.5"#, nil),
        (#""ItemBatcher":{"MaxItemsPerBatch":3,"BatchInput":{"k.$":"$.k"}}"#, nil),
        (#""ToleratedFailureCountPath":"$.c","ToleratedFailurePercentagePath":"$.p","MaxConcurrencyPath":"$.m""#, nil),
        (#""ToleratedFailurePercentage":101"#, "Expected value of type Number, between 0 and 100"),
        (#""ToleratedFailurePercentage":-1"#, "Expected value of type Number, between 0 and 100"),
        (#""ToleratedFailureCount":-1"#, "Expected value of type Integer, at least 0"),
        (#""ItemBatcher":{"MaxItemsPerBatch":0}"#, "Expected value of type Integer, at least 1"),
        (#""ItemBatcher":{"MaxInputBytesPerBatch":300000}"#, "The value for the field 'MaxInputBytesPerBatch' must be at most 262144"),
        (#""ItemBatcher":{"BatchInput":{}}"#, "At least one of these fields is required: [MaxItemsPerBatch, MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath]"),
        (#""ItemBatcher":{"MaxItemsPerBatch":2,"Size":1}"#, #"The field "Size" is not supported by Step Functions"#),
        (#""Label":"this-label-is-much-too-long-for-a-map-run-arn""#, "The value for the field 'Label' must be a string of 1 to 40 characters, without whitespace, brackets, wildcards, special or control characters"),
        (#""Label":"a b""#, "The value for the field 'Label' must be a string of 1 to 40 characters, without whitespace, brackets, wildcards, special or control characters"),
        (#""ItemReader":{"Resource":"arn:aws:states:::s3:getObject"}"#, #"The field "ItemReader" is not supported by Hearth yet: it needs an object store (S3)"#),
        (#""ResultWriter":{"Resource":"arn:aws:states:::s3:putObject"}"#, #"The field "ResultWriter" is not supported by Hearth yet: it needs an object store (S3)"#),
    ] as [(String, String?)])
    func validation(fields: String, message: String?) {
        #expect(diagnostics(Self.definition(fields)).map(\.message) == (message.map { [$0] } ?? []))
    }

    @Test func configValidation() {
        #expect(diagnostics(Self.definition(config: #"{"Mode":"DISTRIBUTED"}"#)).map(\.message) == ["These fields are required: [ExecutionType]"])
        #expect(diagnostics(Self.definition(config: #"{"Mode":"DISTRIBUTED","ExecutionType":"FAST"}"#)).map(\.message) == ["Value is not one of [STANDARD, EXPRESS]"])
        #expect(diagnostics(Self.definition(#""ToleratedFailureCount":1"#, config: #"{"Mode":"INLINE"}"#)).map(\.message)
                == [#"The field "ToleratedFailureCount" is only supported for a DISTRIBUTED Map (ItemProcessor.ProcessorConfig.Mode)"#])
        #expect(diagnostics(Self.definition(config: #"{"Mode":"INLINE","ExecutionType":"STANDARD"}"#)).map(\.message)
                == [#"The field "ExecutionType" is only supported for a DISTRIBUTED Map"#])
        // An EXPRESS child runs no callback task.
        let callback = #"{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f","Payload":{"t.$":"$$.Task.Token"}},"End":true}}}"#
        #expect(diagnostics(Self.definition(processor: callback, config: #"{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"}"#)).map(\.message)
                == ["An EXPRESS child workflow does not support the resource 'invoke.waitForTaskToken'"])
        #expect(diagnostics(Self.definition(processor: callback)) == [])
        // Labels are unique in a definition.
        let two = #"{"StartAt":"A","States":{"A":{"Type":"Map","Label":"L","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"X","States":{"X":{"Type":"Pass","End":true}}},"Next":"B"},"B":{"Type":"Map","Label":"L","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"Y","States":{"Y":{"Type":"Pass","End":true}}},"End":true}}}"#
        #expect(diagnostics(two).map(\.message) == ["Duplicate Label: L (also at /States/A)"])
    }

    @Test func childrenRunAsTasksAndTheOutputIsInItemOrder() throws {
        var h = try Harness(Self.definition(#""Label":"chunks","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"}"#))
        h.taskMs = 10
        let outcome = h.run(input: Self.items(3)) { t in .success(.obj([("done", t.parameters["i"]!)])) }
        #expect(outcome?.status == "SUCCEEDED")
        #expect(h.output == json(#"[{"done":0},{"done":1},{"done":2}]"#))
        #expect(h.types == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded", "MapStateSucceeded",
                            "MapStateExited", "ExecutionSucceeded"])
        // MapStateSucceeded and MapStateExited both point at MapRunSucceeded.
        let run = h.events("MapRunSucceeded")[0]
        #expect(h.events("MapStateSucceeded")[0].previousEventId == run.id)
        #expect(h.events("MapStateExited")[0].previousEventId == run.id)
        let arn = try #require(h.events("MapRunStarted")[0].details?["mapRunArn"]?.stringValue)
        #expect(arn.hasPrefix("arn:aws:states:us-east-1:000000000000:mapRun:sm/chunks:"))
        #expect(arn.split(separator: ":").count == 8)
        let child = try #require(h.invocations.first)
        guard case .mapRunChild(let c) = child.resource else { Issue.record("not a Map Run child"); return }
        #expect(c.mapRunArn == arn)
        #expect(c.stateMachineArn == "arn:aws:states:us-east-1:000000000000:stateMachine:sm/chunks")
        #expect(try StateMachine.parse(c.definition).root.startAt == "W", "the child's definition is the ItemProcessor")
        #expect(h.invocations.map(\.parameters) == [json(#"{"i":0,"v":0}"#), json(#"{"i":1,"v":1}"#), json(#"{"i":2,"v":2}"#)])
        #expect(h.execution.mapRuns.map(\.status) == ["SUCCEEDED"])
        #expect(h.execution.mapRuns.first?.totalItems == 3)
        #expect(h.execution.mapRuns.first?.stopMs == t0 + 10)
    }

    @Test func aMapWithoutLabelGetsAUUIDLabelAndNoItemsSucceedAtOnce() throws {
        var h = try Harness(Self.definition())
        #expect(h.run(input: #"{"items":[]}"#)?.status == "SUCCEEDED")
        #expect(h.output == json("[]"))
        let arn = try #require(h.events("MapRunStarted").first?.details?["mapRunArn"]?.stringValue)
        let label = arn.split(separator: ":")[6].split(separator: "/")[1]
        #expect(label.count == 36, "no Label: a UUID stands for it, as AWS: \(arn)")
    }

    @Test func maxConcurrencyBoundsRunningChildren() throws {
        var h = try Harness(Self.definition(#""MaxConcurrency":2"#))
        h.apply(.started(input: Self.items(5), at: t0))
        #expect(h.invocations.count == 2)
        h.apply(.taskSucceeded(task: h.invocations[0].id, output: "1", at: t0 + 1))
        #expect(h.invocations.count == 3, "one ended, one more starts")
        // MaxConcurrency 0 (or none): Hearth's cap.
        var u = try Harness(Self.definition())
        u.apply(.started(input: Self.items(Execution.mapRunConcurrencyCap + 5), at: t0))
        #expect(u.invocations.count == Execution.mapRunConcurrencyCap)
    }

    /// Ten items, the first `failing` of them fail: the Map Run passes while it tolerates them.
    @Test(arguments: [
        ("", 0, "SUCCEEDED"), ("", 1, "FAILED"),
        (#""ToleratedFailureCount":2"#, 2, "SUCCEEDED"), (#""ToleratedFailureCount":2"#, 3, "FAILED"),
        (#""ToleratedFailurePercentage":30"#, 3, "SUCCEEDED"), (#""ToleratedFailurePercentage":30"#, 4, "FAILED"),
        (#""ToleratedFailurePercentage":100"#, 10, "SUCCEEDED"),
        (#""ToleratedFailureCount":5,"ToleratedFailurePercentage":10"#, 2, "FAILED"),
        (#""ToleratedFailureCountPath":"$.c""#, 4, "SUCCEEDED"), (#""ToleratedFailureCountPath":"$.c""#, 5, "FAILED"),
        (#""ToleratedFailurePercentagePath":"$.p""#, 2, "SUCCEEDED"), (#""ToleratedFailurePercentagePath":"$.p""#, 3, "FAILED"),
    ])
    func toleratedFailures(fields: String, failing: Int, status: String) throws {
        var h = try Harness(Self.definition(fields + (fields.isEmpty ? "" : ",") + #""MaxConcurrency":1"#))
        let outcome = h.run(input: #"{"c":4,"p":25.5,"items":[0,1,2,3,4,5,6,7,8,9]}"#) { t in
            (t.parameters.intValue ?? 0) < failing ? .failure(StatesError("Item.Broke", "item \(t.parameters.text)")) : .success(t.parameters)
        }
        #expect(outcome?.status == status)
        if status == "FAILED" {
            #expect(outcome?.error == "States.ExceedToleratedFailureThreshold")
            #expect(h.types.suffix(4) == ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"])
            #expect(h.execution.mapRuns.first?.status == "FAILED")
        } else if failing > 0 {
            #expect(h.output?.arrayValue?.first == json(#"{"Error":"Item.Broke","Cause":"item 0"}"#), "a tolerated failure's place holds its error")
            #expect(h.output?.arrayValue?.last == (failing < 10 ? .int(9) : json(#"{"Error":"Item.Broke","Cause":"item 9"}"#)))
        }
    }

    @Test func exceedingTheThresholdStopsTheRunningChildrenAndIsCaught() throws {
        let text = Self.definition(#""Catch":[{"ErrorEquals":["States.ExceedToleratedFailureThreshold"],"ResultPath":"$.err","Next":"C"}]"#)
            .replacingOccurrences(of: #","End":true}}}"#, with: #","End":true},"C":{"Type":"Pass","End":true}}}"#)
        var h = try Harness(text)
        var actions: [ExecutionAction] = []
        actions = h.execution.apply(.started(input: Self.items(3), at: t0))
        let ids = actions.compactMap { if case .invoke(let t) = $0 { t.id } else { nil } }
        #expect(ids.count == 3)
        let after = h.execution.apply(.taskFailed(task: ids[1], error: "Boom", cause: "", at: t0 + 1))
        #expect(after.contains(.stopChildren(tasks: [ids[0], ids[2]].sorted())))
        #expect(h.execution.outcome?.status == "SUCCEEDED")
        #expect(h.execution.outcome?.output.map(json)?["err"]?["Error"] == .string("States.ExceedToleratedFailureThreshold"))
        #expect(!h.execution.accepts(.taskSucceeded(task: ids[0], output: "1", at: t0 + 2)), "a stopped child's late end is not wanted")
    }

    @Test func itemBatcherShapesTheChildrensInput() throws {
        var h = try Harness(Self.definition(#""ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"run.$":"$.run"}}"#))
        #expect(h.run(input: #"{"run":"r1","items":[1,2,3,4,5]}"#) { t in .success(.int(Int64(t.parameters["Items"]?.arrayValue?.count ?? 0))) }?.status == "SUCCEEDED")
        #expect(h.invocations.map(\.parameters) == [json(#"{"Items":[1,2],"BatchInput":{"run":"r1"}}"#), json(#"{"Items":[3,4],"BatchInput":{"run":"r1"}}"#),
                                                    json(#"{"Items":[5],"BatchInput":{"run":"r1"}}"#)])
        #expect(h.output == json("[2,2,1]"), "one result per batch")
        #expect(h.execution.mapRuns.first.map { ($0.totalItems, $0.totalExecutions) }! == (5, 3))
        // By bytes: {"Items":[]} is 12 bytes; "aaaa" items are 6 bytes and a comma.
        var b = try Harness(Self.definition(#""ItemBatcher":{"MaxInputBytesPerBatch":25}"#))
        b.run(input: #"{"items":["aaaa","bbbb","cccc","dddd"]}"#)
        #expect(b.invocations.map(\.parameters) == [json(#"{"Items":["aaaa","bbbb"]}"#), json(#"{"Items":["cccc","dddd"]}"#)])
        // The bounds may come from the input; a bad one is States.Runtime.
        var p = try Harness(Self.definition(#""ItemBatcher":{"MaxItemsPerBatchPath":"$.size"}"#))
        p.run(input: #"{"size":3,"items":[1,2,3,4]}"#)
        #expect(p.invocations.map(\.parameters) == [json(#"{"Items":[1,2,3]}"#), json(#"{"Items":[4]}"#)])
        var bad = try Harness(Self.definition(#""ItemBatcher":{"MaxItemsPerBatchPath":"$.size"}"#))
        #expect(bad.run(input: #"{"size":0,"items":[1]}"#)?.error == "States.Runtime")
        var badPercentage = try Harness(Self.definition(#""ToleratedFailurePercentagePath":"$.p""#))
        #expect(badPercentage.run(input: #"{"p":"lots","items":[1]}"#)?.error == "States.Runtime")
        // A failed batch counts all its items.
        var f = try Harness(Self.definition(#""ItemBatcher":{"MaxItemsPerBatch":3},"ToleratedFailureCount":2"#))
        #expect(f.run(input: Self.items(6)) { t in t.parameters["Items"]?.arrayValue?.first == .int(0) ? .failure(StatesError("X", "")) : .success(.null) }?.error
                == "States.ExceedToleratedFailureThreshold")
    }

    @Test func updateMapRunChangesTheRunningLimits() throws {
        var h = try Harness(Self.definition(#""MaxConcurrency":1"#))
        h.apply(.started(input: Self.items(4), at: t0))
        let arn = try #require(h.execution.mapRuns.first?.arn)
        #expect(h.invocations.count == 1)
        h.apply(.mapRunUpdated(mapRun: arn, maxConcurrency: 3, toleratedFailureCount: 1, toleratedFailurePercentage: nil, at: t0 + 1))
        #expect(h.invocations.count == 3, "a raised MaxConcurrency starts more children at once")
        #expect(h.execution.mapRuns.first?.limits == MapRunLimits(maxConcurrency: 3, toleratedFailureCount: 1, toleratedFailurePercentage: nil))
        // One failure is now tolerated; then lowering the tolerance to 0 fails the run.
        h.apply(.taskFailed(task: h.invocations[0].id, error: "X", cause: "", at: t0 + 2))
        #expect(h.execution.outcome == nil)
        h.apply(.mapRunUpdated(mapRun: arn, maxConcurrency: nil, toleratedFailureCount: 0, toleratedFailurePercentage: nil, at: t0 + 3))
        #expect(h.execution.outcome?.error == "States.ExceedToleratedFailureThreshold")
        #expect(!h.execution.accepts(.mapRunUpdated(mapRun: arn, maxConcurrency: 5, toleratedFailureCount: nil, toleratedFailurePercentage: nil, at: t0 + 4)))
        let entry = JournalEntry.mapRunUpdated(mapRun: arn, maxConcurrency: 3, toleratedFailureCount: nil, toleratedFailurePercentage: 12.5, at: t0)
        #expect(JournalEntry(json: entry.json) == entry)
        h.drive()
    }

    @Test func stoppingTheExecutionAbortsTheMapRun() throws {
        var h = try Harness(Self.definition())
        h.apply(.started(input: Self.items(2), at: t0))
        h.apply(.taskSubmitted(task: h.invocations[0].id, output: #"{"ExecutionArn":"arn:c","StartDate":1}"#, at: t0 + 1))
        #expect(h.types.last == "MapRunStarted", "a child's start shows nothing in the parent's history")
        h.apply(.stopped(error: nil, cause: nil, at: t0 + 2))
        #expect(h.types.suffix(2) == ["MapRunAborted", "ExecutionAborted"])
        #expect(h.execution.mapRuns.first?.status == "ABORTED")
        let replayed = Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal)
        #expect(replayed.mapRuns == h.execution.mapRuns)
    }

    @Test func aSubmittedChildIsNotStartedAgainAfterAReplay() throws {
        var h = try Harness(Self.definition())
        h.apply(.started(input: Self.items(2), at: t0))
        h.apply(.taskSubmitted(task: h.invocations[0].id, output: #"{"ExecutionArn":"arn:c0","StartDate":1}"#, at: t0 + 1))
        let replayed = Execution.replay(machine: h.execution.machine, context: testContext, journal: h.journal)
        #expect(replayed.outstandingActions.count == 1, "only the child not yet started runs again")
        #expect(replayed.submissions[h.invocations[0].id] != nil)
    }
}
