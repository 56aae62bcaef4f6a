import Foundation
import HearthServer
import Testing

/// Nested executions end to end with boto3: `states:startExecution` request-response, `.sync`
/// and `.sync:2` on a child whose Lambda task runs the probe, a failing child caught by the
/// parent, StartExecution's errors, and kill -9 of the supervisor while a parent waits.
@Suite("step functions nested executions end to end", .serialized, .requiresRoot)
struct StatesNestedTests {
    static let prelude = StatesCallbackTests.prelude + "\n" + #"""
        def executions(sm):
            return c.list_executions(stateMachineArn=sm)['executions']
        """#

    @Test("boto3: startExecution.sync:2 runs a child with a Lambda task; .sync with Output as text; a failing child caught; request-response; errors")
    func nested() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            child = machine('child', {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "n.$": "$.n", "by.$": "$.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}},
                "OutputPath": "$.Payload", "End": True}}})
            bad = machine('bad', {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Child.Broke", "Cause": "on purpose"}}})
            def parent(resource, target, extra=None):
                p = {"StateMachineArn": target, "Input": {"n.$": "$.n", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}}
                p.update(extra or {})
                return {"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": resource, "Parameters": p,
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
                    "Caught": {"Type": "Pass", "End": True}}}
            # 1. .sync:2: the parent waits; Output is JSON.
            p2 = machine('p2', parent("arn:aws:states:::states:startExecution.sync:2", child))
            e = c.start_execution(stateMachineArn=p2, name='one', input='{"n": 7}')['executionArn']
            d = wait(e)
            res = json.loads(d['output'])
            kids = executions(child)
            out['sync2'] = [d['status'], res['Status'], res['Output'], res['Input'], res['ExecutionArn'] == kids[0]['executionArn'], len(kids),
                            res['StateMachineArn'] == child, res['OutputDetails'], res['InputDetails'], type(res['StartDate']).__name__,
                            res['StopDate'] >= res['StartDate']]
            h = history(e)
            out['sync2Types'] = [x['type'] for x in h]
            out['sync2Resource'] = [x['taskSucceededEventDetails']['resource'] for x in h if x['type'] == 'TaskSucceeded'][0]
            sub = [json.loads(x['taskSubmittedEventDetails']['output']) for x in h if x['type'] == 'TaskSubmitted'][0]
            out['submitted'] = [sorted(sub.keys()), sub['ExecutionArn'] == res['ExecutionArn']]
            # 2. .sync: Output and Input are JSON text.
            p1 = machine('p1', parent("arn:aws:states:::states:startExecution.sync", child, {"Name": "named-child"}))
            d = wait(c.start_execution(stateMachineArn=p1, input='{"n": 8}')['executionArn'])
            res = json.loads(d['output'])
            out['sync'] = [d['status'], res['Name'], json.loads(res['Output']), type(res['Input']).__name__]
            # 3. A failing child: States.TaskFailed, the cause is the child's DescribeExecution; the parent's Catch takes it.
            pf = machine('pf', parent("arn:aws:states:::states:startExecution.sync:2", bad))
            d = wait(c.start_execution(stateMachineArn=pf, input='{"n": 1}')['executionArn'])
            caught = json.loads(d['output'])['caught']
            cause = json.loads(caught['Cause'])
            out['failed'] = [d['status'], caught['Error'], cause['Status'], cause['Error'], cause['Cause'], 'Output' in cause]
            # 4. Request-response: the task ends at once with ExecutionArn and StartDate.
            pr = machine('pr', parent("arn:aws:states:::states:startExecution", child))
            d = wait(c.start_execution(stateMachineArn=pr, input='{"n": 9}')['executionArn'])
            res = json.loads(d['output'])
            kid = wait(res['ExecutionArn'])
            out['requestResponse'] = [d['status'], sorted(res.keys()), kid['status'], json.loads(kid['output'])['n'], json.loads(kid['input'])['AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID'] == d['executionArn']]
            # 5. Errors: no such machine; the name taken by an ended execution.
            pm = machine('pm', parent("arn:aws:states:::states:startExecution", child.replace(':child', ':nothere')))
            d = wait(c.start_execution(stateMachineArn=pm, input='{"n": 1}')['executionArn'])
            out['missing'] = [d['status'], json.loads(d['output'])['caught']['Error'], json.loads(d['output'])['caught']['Cause'].split(' (Service')[0]]
            pt = machine('pt', parent("arn:aws:states:::states:startExecution", child, {"Name": "named-child"}))
            d = wait(c.start_execution(stateMachineArn=pt, input='{"n": 1}')['executionArn'])
            out['taken'] = [d['status'], json.loads(d['output'])['caught']['Error']]
            out['express'] = err(c.create_state_machine, name='fast', type='EXPRESS', roleArn=role,
                                 definition=json.dumps(parent("arn:aws:states:::states:startExecution.sync", child)))
            # 6. A child stopped by StopExecution (ABORTED) fails the parent's task too.
            slow = machine('slow', {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
            pa = machine('pa', parent("arn:aws:states:::states:startExecution.sync", slow))
            ea = c.start_execution(stateMachineArn=pa, input='{"n": 1}')['executionArn']
            kid = submitted(ea)['ExecutionArn']
            c.stop_execution(executionArn=kid, error='Op.Stop', cause='by hand')
            d = wait(ea)
            caught = json.loads(d['output'])['caught']
            out['aborted'] = [d['status'], caught['Error'], json.loads(caught['Cause'])['Status']]
            # 6b. Stopping the parent stops its .sync child.
            ep = c.start_execution(stateMachineArn=pa, input='{"n": 2}')['executionArn']
            kid = submitted(ep)['ExecutionArn']
            c.stop_execution(executionArn=ep)
            out['parentStopped'] = [wait(ep)['status'], wait(kid, 10)['status']]
            # 7. .waitForTaskToken: the child gets the token in its input; the worker answers for it.
            pw = machine('pw', {"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
                "Parameters": {"StateMachineArn": slow, "Input": {"token.$": "$$.Task.Token"}}, "End": True}}})
            ew = c.start_execution(stateMachineArn=pw)['executionArn']
            kid = submitted(ew)['ExecutionArn']
            token = json.loads(c.describe_execution(executionArn=kid)['input'])['token']
            c.send_task_success(taskToken=token, output='{"answered": true}')
            d = wait(ew)
            c.stop_execution(executionArn=kid)
            out['callback'] = [d['status'], json.loads(d['output']),
                               [x['taskSubmittedEventDetails']['resource'] for x in history(ew) if x['type'] == 'TaskSubmitted']]
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        #expect(out["aborted"] as? [String] == ["SUCCEEDED", "States.TaskFailed", "ABORTED"], "\(out["aborted"] ?? "")")
        #expect(out["parentStopped"] as? [String] == ["ABORTED", "ABORTED"], "\(out["parentStopped"] ?? "")")
        #expect(out["callback"] as? NSArray == ["SUCCEEDED", ["answered": true], ["startExecution.waitForTaskToken"]] as NSArray, "\(out["callback"] ?? "")")
        let sync2 = out["sync2"] as? [Any] ?? []
        #expect(sync2.count == 11, "\(out["sync2"] ?? "")")
        if sync2.count == 11 {
            #expect(sync2[0] as? String == "SUCCEEDED")
            #expect(sync2[1] as? String == "SUCCEEDED")
            let output = sync2[2] as? NSDictionary
            #expect(output?["cmd"] as? String == "echo")
            #expect(output?["n"] as? Int == 7, "the probe echoed the child's input: \(output ?? [:])")
            #expect((output?["by"] as? String)?.hasSuffix(":execution:p2:one") == true)
            #expect((sync2[3] as? NSDictionary)?["n"] as? Int == 7)
            #expect(sync2[4] as? Bool == true)
            #expect(sync2[5] as? Int == 1)
            #expect(sync2[6] as? Bool == true)
            #expect(sync2[7] as? NSDictionary == ["Included": true] as NSDictionary)
            #expect(sync2[8] as? NSDictionary == ["Included": true] as NSDictionary)
            #expect(sync2[9] as? String == "int")
            #expect(sync2[10] as? Bool == true)
        }
        #expect(out["sync2Types"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                                                   "TaskStateExited", "ExecutionSucceeded"])
        #expect(out["sync2Resource"] as? String == "startExecution.sync:2")
        #expect(out["submitted"] as? NSArray == [["ExecutionArn", "StartDate"], true] as NSArray)
        let sync = out["sync"] as? [Any] ?? []
        #expect(sync.first as? String == "SUCCEEDED", "\(out["sync"] ?? "")")
        #expect(sync.count == 4 && sync[1] as? String == "named-child" && (sync[2] as? NSDictionary)?["n"] as? Int == 8 && sync[3] as? String == "str",
                "\(sync)")
        #expect(out["failed"] as? NSArray == ["SUCCEEDED", "States.TaskFailed", "FAILED", "Child.Broke", "on purpose", false] as NSArray)
        #expect(out["requestResponse"] as? NSArray == ["SUCCEEDED", ["ExecutionArn", "StartDate"], "SUCCEEDED", 9, true] as NSArray)
        #expect(out["missing"] as? NSArray == ["SUCCEEDED", "StepFunctions.StateMachineDoesNotExistException",
                                               "State Machine Does Not Exist: 'arn:aws:states:us-east-1:000000000000:stateMachine:nothere'"] as NSArray,
                "\(out["missing"] ?? "")")
        #expect(out["taken"] as? NSArray == ["SUCCEEDED", "StepFunctions.ExecutionAlreadyExistsException"] as NSArray, "\(out["taken"] ?? "")")
        #expect((out["express"] as? String)?.contains("Express state machine does not support '.sync' service integration") == true, "\(out["express"] ?? "")")
    }

    /// kill -9 while the parent waits for a child that is in a Wait state: after the restart the
    /// child finishes (its Lambda task runs once), the parent completes with its output, and no
    /// second child is started.
    @Test("kill -9 while a parent waits on a .sync:2 child: after the restart both finish, the child ran once")
    func crashWhileWaiting() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-nested-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let first = daemon.python(Self.prelude + "\n" + #"""
            child = machine('slowchild', {"StartAt": "Pause", "States": {
                "Pause": {"Type": "Wait", "Seconds": 4, "Next": "Work"},
                "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "mark.$": "$.mark"}}, "OutputPath": "$.Payload", "End": True}}})
            par = machine('waiter', {"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Input": {"mark.$": "$.mark"}}, "ResultSelector": {"out.$": "$.Output"}, "End": True}}})
            p = c.start_execution(stateMachineArn=par, name='p', input='{"mark": "nested-once"}')['executionArn']
            sub = submitted(p)
            print(json.dumps({"parent": p, "child": sub['ExecutionArn'], "childMachine": child,
                              "childStatus": c.describe_execution(executionArn=sub['ExecutionArn'])['status']}))
            """#)
        #expect(first.status == 0, "\(first.stderr)")
        guard let before = first.stdoutJSON, let parent = before["parent"] as? String, let child = before["child"] as? String,
              let childMachine = before["childMachine"] as? String else {
            Issue.record("no output: \(first.stdoutText) \(first.stderr)")
            return
        }
        #expect(before["childStatus"] as? String == "RUNNING")
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let second = daemon.python(Self.prelude + "\n" + """
            p, child, sm = '\(parent)', '\(child)', '\(childMachine)'
            out = {'parentBefore': c.describe_execution(executionArn=p)['status']}
            d = wait(p, 60)
            out['parent'] = [d['status'], json.loads(d['output']) if 'output' in d else d.get('cause')]
            out['child'] = wait(child)['status']
            out['children'] = len(executions(sm))
            out['parentTypes'] = [x['type'] for x in history(p)]
            print(json.dumps(out))
            """)
        #expect(second.status == 0, "\(second.stderr)")
        guard let out = second.stdoutJSON else { Issue.record("no output: \(second.stdoutText) \(second.stderr)"); return }
        #expect(out["parentBefore"] as? String == "RUNNING")
        let p = out["parent"] as? [Any] ?? []
        #expect(p.first as? String == "SUCCEEDED", "\(p)")
        #expect(((p.last as? NSDictionary)?["out"] as? NSDictionary)?["mark"] as? String == "nested-once", "\(p)")
        #expect(out["child"] as? String == "SUCCEEDED")
        #expect(out["children"] as? Int == 1)
        #expect(out["parentTypes"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                                                    "TaskStateExited", "ExecutionSucceeded"])
        #expect(daemon.log.contains("resumed"), "\(daemon.log)")
        let logs = (try? String(contentsOfFile: state + "/logs/work.log", encoding: .utf8)) ?? ""
        #expect(logs.components(separatedBy: #"mark\":\"nested-once\""#).count - 1 == 1, "the child's function ran once: \(logs)")
    }
}
