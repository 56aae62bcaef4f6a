import Foundation
import HearthServer
import Testing

/// Step Functions end to end: the API through boto3 and the aws CLI against `hearth serve`,
/// Lambda tasks in real sandboxes (the probe: it echoes its event, sleeps on
/// `{"cmd":"sleep"}`, fails on `{"cmd":"error"}`, and logs events with a "mark"), and
/// executions that survive kill -9 of the supervisor.
@Suite("step functions end to end", .serialized, .requiresRoot)
struct StatesAPITests {
    static let fn = "arn:aws:lambda:us-east-1:000000000000:function:work"

    @Test("boto3: create/describe/update/list/delete machines, executions with Lambda tasks (both forms), history paging, idempotent names, errors as AWS, express sync")
    func boto3() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(#"""
            import boto3, json, os, time, botocore.config
            c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            role = 'arn:aws:iam::000000000000:role/sfn'
            fn = 'arn:aws:lambda:us-east-1:000000000000:function:work'
            def err(f, **kw):
                try:
                    f(**kw)
                except c.exceptions.ClientError as e:
                    return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
                return 'no error'
            def wait(arn):
                for _ in range(300):
                    d = c.describe_execution(executionArn=arn)
                    if d['status'] != 'RUNNING':
                        return d
                    time.sleep(0.1)
                return d
            definition = {
              "StartAt": "Prepare",
              "States": {
                "Prepare": {"Type": "Pass", "Parameters": {"cmd": "echo", "n.$": "$.n", "greeting.$": "States.Format('hello {}', $.who)"}, "Next": "Echo"},
                "Echo": {"Type": "Task", "Resource": fn, "ResultSelector": {"n.$": "$.n", "greeting.$": "$.greeting"}, "ResultPath": "$.echo", "Next": "Big?"},
                "Big?": {"Type": "Choice", "Choices": [{"Variable": "$.echo.n", "NumericGreaterThan": 10, "Next": "Invoke"}], "Default": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Invoke"},
                "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                           "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "from.$": "$$.State.Name"}},
                           "ResultSelector": {"payload.$": "$.Payload", "status.$": "$.StatusCode", "version.$": "$.ExecutedVersion"},
                           "ResultPath": "$.invoke", "Next": "Flaky"},
                "Flaky": {"Type": "Task", "Resource": fn, "Parameters": {"cmd": "error"},
                          "Retry": [{"ErrorEquals": ["Probe.Failure"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                          "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}], "End": True},
                "Done": {"Type": "Succeed"}
              }
            }
            out = {}
            m = c.create_state_machine(name='flow', definition=json.dumps(definition), roleArn=role, tags=[{'key': 'team', 'value': 'a'}])
            out['arn'] = m['stateMachineArn']
            out['again'] = c.create_state_machine(name='flow', definition=json.dumps(definition), roleArn=role)['stateMachineArn']
            out['exists'] = err(c.create_state_machine, name='flow', definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}), roleArn=role)
            out['invalid'] = err(c.create_state_machine, name='bad', definition=json.dumps({"StartAt": "A"}), roleArn=role)
            out['jsonata'] = err(c.create_state_machine, name='bad', definition=json.dumps({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}), roleArn=role)
            out['badname'] = err(c.create_state_machine, name='no spaces', definition=json.dumps(definition), roleArn=role)
            out['missingsm'] = err(c.describe_state_machine, stateMachineArn=m['stateMachineArn'] + 'x')
            out['badarn'] = err(c.describe_state_machine, stateMachineArn='arn:aws:lambda:us-east-1:000000000000:function:work')
            d = c.describe_state_machine(stateMachineArn=m['stateMachineArn'])
            out['describe'] = [d['name'], d['status'], d['type'], d['roleArn'], str(json.loads(d['definition']) == definition), d['loggingConfiguration']['level']]
            out['tags'] = c.list_tags_for_resource(resourceArn=m['stateMachineArn'])['tags']
            e = c.start_execution(stateMachineArn=m['stateMachineArn'], name='run-1', input=json.dumps({"n": 3, "who": "you"}))
            out['execArn'] = e['executionArn']
            out['sameName'] = c.start_execution(stateMachineArn=m['stateMachineArn'], name='run-1', input=json.dumps({"n": 3, "who": "you"}))['executionArn']
            out['otherInput'] = err(c.start_execution, stateMachineArn=m['stateMachineArn'], name='run-1', input='{"n": 4}')
            out['badInput'] = err(c.start_execution, stateMachineArn=m['stateMachineArn'], input='not json')
            d = wait(e['executionArn'])
            out['status'] = d['status']
            out['output'] = json.loads(d.get('output', 'null'))
            out['echo'] = json.dumps(out['output'].get('echo'), sort_keys=True)
            out['invoke'] = json.dumps(out['output'].get('invoke'), sort_keys=True)
            out['afterEnd'] = err(c.start_execution, stateMachineArn=m['stateMachineArn'], name='run-1', input=json.dumps({"n": 3, "who": "you"}))
            h = c.get_execution_history(executionArn=e['executionArn'], maxResults=1000)['events']
            out['types'] = [x['type'] for x in h]
            out['ids'] = [[x['id'], x['previousEventId']] for x in h[:4]]
            out['scheduled'] = json.dumps([x['lambdaFunctionScheduledEventDetails'] for x in h if x['type'] == 'LambdaFunctionScheduled'][0], sort_keys=True)
            out['taskScheduled'] = [x['taskScheduledEventDetails'] for x in h if x['type'] == 'TaskScheduled'][0]
            out['failed'] = [x['lambdaFunctionFailedEventDetails']['error'] for x in h if x['type'] == 'LambdaFunctionFailed']
            pages = list(c.get_paginator('get_execution_history').paginate(executionArn=e['executionArn'], PaginationConfig={'PageSize': 5}))
            out['paged'] = [x['id'] for p in pages for x in p['events']] == [x['id'] for x in h]
            rev = c.get_execution_history(executionArn=e['executionArn'], reverseOrder=True, maxResults=3)
            out['reverse'] = [x['id'] for x in rev['events']] + [1 if rev.get('nextToken') else 0]
            nodata = c.get_execution_history(executionArn=e['executionArn'], includeExecutionData=False)['events']
            out['nodata'] = 'input' in nodata[0]['executionStartedEventDetails']
            out['list'] = [(x['name'], x['status']) for x in c.list_executions(stateMachineArn=m['stateMachineArn'])['executions']]
            out['forExecution'] = c.describe_state_machine_for_execution(executionArn=e['executionArn'])['name']
            # A stopped execution, a failed one, a missing function.
            w = c.create_state_machine(name='waiter', roleArn=role, definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}))
            we = c.start_execution(stateMachineArn=w['stateMachineArn'], name='long')
            out['running'] = [x['name'] for x in c.list_executions(stateMachineArn=w['stateMachineArn'], statusFilter='RUNNING')['executions']]
            c.stop_execution(executionArn=we['executionArn'], error='Manual', cause='test')
            sd = c.describe_execution(executionArn=we['executionArn'])
            out['stopped'] = [sd['status'], sd['error'], sd['cause']]
            nf = c.create_state_machine(name='nofn', roleArn=role, definition=json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "ghost", "Payload.$": "$"}, "End": True}}}))
            nd = wait(c.start_execution(stateMachineArn=nf['stateMachineArn'])['executionArn'])
            out['notFound'] = [nd['status'], nd['error'], nd['cause'].split(' (Service')[0]]
            out['missingExec'] = err(c.describe_execution, executionArn=e['executionArn'] + 'x')
            c.update_state_machine(stateMachineArn=w['stateMachineArn'], definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}))
            out['updated'] = json.loads(c.describe_state_machine(stateMachineArn=w['stateMachineArn'])['definition'])['States']['W']['Seconds']
            out['updatedForExecution'] = json.loads(c.describe_state_machine_for_execution(executionArn=we['executionArn'])['definition'])['States']['W']['Seconds']
            v = c.validate_state_machine_definition(definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}))
            out['validate'] = json.dumps([v['result'], [(x['code'], x['message'], x['location']) for x in v['diagnostics']], v['truncated']])
            out['validateOK'] = c.validate_state_machine_definition(definition=json.dumps(definition))['result']
            # Express: StartSyncExecution (botocore adds a sync- host prefix: turned off for a local endpoint).
            sync = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'], config=botocore.config.Config(inject_host_prefix=False))
            x = c.create_state_machine(name='express', type='EXPRESS', roleArn=role, definition=json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": fn, "Parameters": {"cmd": "echo", "v.$": "$.v"}, "End": True}}}))
            s = sync.start_sync_execution(stateMachineArn=x['stateMachineArn'], input='{"v": 7}')
            out['sync'] = json.dumps([s['status'], json.loads(s['output']), s['executionArn'].split(':')[5]], sort_keys=True)
            out['syncStandard'] = err(sync.start_sync_execution, stateMachineArn=m['stateMachineArn'])
            c.delete_state_machine(stateMachineArn=nf['stateMachineArn'])
            out['names'] = [x['name'] for x in c.list_state_machines()['stateMachines']]
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        let arn = "arn:aws:states:us-east-1:000000000000:stateMachine:flow"
        #expect(out["arn"] as? String == arn)
        #expect(out["again"] as? String == arn)
        #expect(out["exists"] as? String == "StateMachineAlreadyExists: State Machine Already Exists: '\(arn)'")
        #expect(out["invalid"] as? String == "InvalidDefinition: Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'")
        #expect((out["jsonata"] as? String)?.hasPrefix("InvalidDefinition: Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The QueryLanguage 'JSONata' is not supported") == true)
        #expect(out["badname"] as? String == "InvalidName: Invalid Name: 'no spaces'")
        #expect(out["missingsm"] as? String == "StateMachineDoesNotExist: State Machine Does Not Exist: '\(arn)x'")
        #expect((out["badarn"] as? String)?.hasPrefix("InvalidArn: Invalid Arn:") == true)
        #expect(out["describe"] as? [String] == ["flow", "ACTIVE", "STANDARD", "arn:aws:iam::000000000000:role/sfn", "True", "OFF"])
        #expect(out["tags"] as? [[String: String]] == [["key": "team", "value": "a"]])
        let exec = "arn:aws:states:us-east-1:000000000000:execution:flow:run-1"
        #expect(out["execArn"] as? String == exec)
        #expect(out["sameName"] as? String == exec)
        #expect(out["otherInput"] as? String == "ExecutionAlreadyExists: Execution Already Exists: '\(exec)'")
        #expect((out["badInput"] as? String)?.hasPrefix("InvalidExecutionInput: Invalid State Machine Execution Input:") == true)
        #expect(out["status"] as? String == "SUCCEEDED")
        let output = out["output"] as? [String: Any]
        #expect(out["echo"] as? String == #"{"greeting": "hello you", "n": 3}"#)
        #expect(out["invoke"] as? String == #"{"payload": {"cmd": "echo", "from": "Invoke"}, "status": 200, "version": "$LATEST"}"#)
        let caught = output?["caught"] as? [String: String]
        #expect(caught?["Error"] == "Probe.Failure")
        #expect(caught?["Cause"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["errorMessage"] as? String == "requested failure")
        #expect(out["afterEnd"] as? String == "ExecutionAlreadyExists: Execution Already Exists: '\(exec)'")
        #expect(out["types"] as? [String] == [
            "ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
            "LambdaFunctionSucceeded", "TaskStateExited", "ChoiceStateEntered", "ChoiceStateExited", "WaitStateEntered", "WaitStateExited",
            "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
            "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed", "LambdaFunctionScheduled",
            "LambdaFunctionStarted", "LambdaFunctionFailed", "TaskStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded",
        ])
        #expect(out["ids"] as? [[Int]] == [[1, 0], [2, 0], [3, 2], [4, 3]])
        #expect(out["scheduled"] as? String == #"{"input": "{\"cmd\":\"echo\",\"n\":3,\"greeting\":\"hello you\"}", "inputDetails": {"truncated": false}, "resource": "\#(Self.fn)"}"#)
        #expect((out["taskScheduled"] as? [String: Any])?["resource"] as? String == "invoke")
        #expect((out["taskScheduled"] as? [String: Any])?["resourceType"] as? String == "lambda")
        #expect(out["failed"] as? [String] == ["Probe.Failure", "Probe.Failure"])
        #expect(out["paged"] as? Bool == true)
        #expect(out["reverse"] as? [Int] == [28, 27, 26, 1])
        #expect(out["nodata"] as? Bool == false)
        #expect(out["forExecution"] as? String == "flow")
        #expect(out["running"] as? [String] == ["long"])
        #expect(out["stopped"] as? [String] == ["ABORTED", "Manual", "test"])
        #expect(out["notFound"] as? [String] == ["FAILED", "Lambda.ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:ghost:$LATEST"])
        #expect((out["missingExec"] as? String)?.hasPrefix("ExecutionDoesNotExist: Execution Does Not Exist:") == true)
        #expect(out["updated"] as? Int == 1)
        #expect(out["updatedForExecution"] as? Int == 600)
        #expect(out["validate"] as? String == #"["FAIL", [["MISSING_TRANSITION_TARGET", "Missing 'Next' target: B", "/States/A/Next"]], false]"#)
        #expect(out["validateOK"] as? String == "OK")
        #expect(out["sync"] as? String == #"["SUCCEEDED", {"cmd": "echo", "v": 7}, "express"]"#)
        #expect(out["syncStandard"] as? String == "StateMachineTypeNotSupported: This operation is not supported by this type of state machine")
        #expect(out["names"] as? [String] == ["express", "flow", "waiter"])
    }

    @Test("aws CLI (v1 and v2): create-state-machine, start-execution, describe-execution, get-execution-history; hearth states history")
    func awsCLI() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let definition = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(Self.fn)","End":true}}}"#
        for (i, cli) in ServeDaemon.awsCLIs.enumerated() {
            let c = daemon.aws(cli: cli, ["stepfunctions", "create-state-machine", "--name", "cli\(i)", "--definition", definition,
                                          "--role-arn", "arn:aws:iam::000000000000:role/r"])
            #expect(c.status == 0, "\(c.stderr)")
            let machine = c.stdoutJSON?["stateMachineArn"] as? String ?? ""
            let s = daemon.aws(cli: cli, ["stepfunctions", "start-execution", "--state-machine-arn", machine, "--input", #"{"cmd":"echo","k":\#(i)}"#])
            #expect(s.status == 0, "\(s.stderr)")
            let execution = s.stdoutJSON?["executionArn"] as? String ?? ""
            var status = "RUNNING"
            var described: [String: Any] = [:]
            for _ in 0..<100 where status == "RUNNING" {
                described = daemon.aws(cli: cli, ["stepfunctions", "describe-execution", "--execution-arn", execution]).stdoutJSON ?? [:]
                status = described["status"] as? String ?? "?"
                if status == "RUNNING" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == "SUCCEEDED")
            #expect(described["output"] as? String == #"{"cmd":"echo","k":\#(i)}"#)
            let h = daemon.aws(cli: cli, ["stepfunctions", "get-execution-history", "--execution-arn", execution])
            #expect(h.status == 0, "\(h.stderr)")
            let types = (h.stdoutJSON?["events"] as? [[String: Any]])?.compactMap { $0["type"] as? String }
            #expect(types == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                              "TaskStateExited", "ExecutionSucceeded"])
        }
        // hearth states history: the same execution as a timeline.
        let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:retrying"
        let retrying = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"\#(Self.fn)","Parameters":{"cmd":"error"},"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":1}],"End":true}}}"#
        #expect(daemon.aws(["stepfunctions", "create-state-machine", "--name", "retrying", "--definition", retrying, "--role-arn", "arn:aws:iam::000000000000:role/r"]).status == 0)
        #expect(daemon.aws(["stepfunctions", "start-execution", "--state-machine-arn", machine, "--name", "x"]).status == 0)
        let execution = "arn:aws:states:us-east-1:000000000000:execution:retrying:x"
        for _ in 0..<100 where daemon.aws(["stepfunctions", "describe-execution", "--execution-arn", execution]).stdoutJSON?["status"] as? String == "RUNNING" {
            try await Task.sleep(for: .milliseconds(100))
        }
        let timeline = Harness.run(Harness.hearth, ["states", "history", execution, "--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath])
        #expect(timeline.status == 0, "\(timeline.stderr)")
        let lines = timeline.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(timeline.stdoutText)")
        #expect(lines.first?.contains("T ") == true && lines.first?.contains("Task") == true && lines.first?.contains("2 attempts  errors: Probe.Failure, Probe.Failure  (did not exit)") == true, "\(timeline.stdoutText)")
        #expect(lines.last?.contains("ExecutionFailed  Probe.Failure") == true, "\(timeline.stdoutText)")
        let missing = Harness.run(Harness.hearth, ["states", "history", execution + "nope", "--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath])
        #expect(missing.status != 0 && missing.stderr.contains("ExecutionDoesNotExist"), "\(missing.stderr)")
    }

    /// kill -9 with executions in a Lambda task (a 1.5 s sleep) and then in a Wait: after each
    /// restart every execution finishes with the right output and a history without a gap;
    /// a task that was running at the crash ran again at most once per crash.
    @Test("kill -9 mid-Task and mid-Wait: every execution resumes from its journal and finishes right")
    func crashRecovery() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-states-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let definition = #"""
        {"StartAt":"Slow","States":{
          "Slow":{"Type":"Task","Resource":"\#(Self.fn)","Parameters":{"cmd":"sleep","ms":1500,"mark.$":"States.Format('slow-{}', $.id)"},"ResultPath":"$.slow","Next":"Pause"},
          "Pause":{"Type":"Wait","Seconds":3,"Next":"Echo"},
          "Echo":{"Type":"Task","Resource":"\#(Self.fn)","Parameters":{"cmd":"echo","id.$":"$.id","mark.$":"States.Format('echo-{}', $.id)"},"ResultPath":"$.echo","End":true}}}
        """#
        let n = 6
        let start = daemon.python(#"""
            import boto3, json, os
            c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            m = c.create_state_machine(name='durable', roleArn='arn:aws:iam::000000000000:role/r', definition=os.environ['DEF'])
            for i in range(\#(n)):
                c.start_execution(stateMachineArn=m['stateMachineArn'], name='e%d' % i, input=json.dumps({"id": "e%d" % i}))
            print(json.dumps({"ok": True}))
            """#.replacingOccurrences(of: "os.environ['DEF']", with: "'''\(definition)'''"))
        #expect(start.status == 0, "\(start.stderr)")
        // First crash: while the slow tasks are running.
        try await Task.sleep(for: .milliseconds(700))
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        // Second crash: during the Wait (the slow tasks took 1.5 s; the Wait lasts 3 s).
        try await Task.sleep(for: .milliseconds(2500))
        daemon.crash()
        // The tasks that were running at the first crash ran again, once each, counted (the
        // ledger item's recovery); the log of the run that died is lost with its sandbox.
        let reran = daemon.log.components(separatedBy: "runs again after a crash (recovery 1)").count - 1
        #expect((1...n).contains(reran), "\(daemon.log)")
        #expect(!daemon.log.contains("(recovery 2)"))
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let check = daemon.python(#"""
            import boto3, json, os, time
            c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:durable'
            out = {}
            deadline = time.time() + 60
            while time.time() < deadline:
                ex = c.list_executions(stateMachineArn=arn)['executions']
                if all(e['status'] != 'RUNNING' for e in ex):
                    break
                time.sleep(0.2)
            for e in ex:
                d = c.describe_execution(executionArn=e['executionArn'])
                h = c.get_execution_history(executionArn=e['executionArn'], maxResults=1000)['events']
                out[e['name']] = {'status': d['status'], 'output': json.loads(d.get('output', 'null')),
                                  'types': [x['type'] for x in h], 'ids': [x['id'] for x in h],
                                  'linked': all(x['previousEventId'] < x['id'] for x in h),
                                  'wait': [x['timestamp'].timestamp() for x in h if x['type'] in ('WaitStateEntered', 'WaitStateExited')]}
            print(json.dumps(out))
            """#)
        #expect(check.status == 0, "\(check.stderr)")
        let results = check.stdoutJSON ?? [:]
        #expect(results.count == n)
        let logs = (try? String(contentsOfFile: state + "/logs/work.log", encoding: .utf8)) ?? ""
        for i in 0..<n {
            let r = results["e\(i)"] as? [String: Any]
            #expect(r?["status"] as? String == "SUCCEEDED", "e\(i): \(String(describing: r))")
            let output = r?["output"] as? [String: Any]
            #expect(output?["id"] as? String == "e\(i)")
            #expect(output?["slow"] as? [String: Int] == ["slept_ms": 1500])
            #expect(output?["echo"] as? [String: String] == ["cmd": "echo", "id": "e\(i)", "mark": "echo-e\(i)"])
            #expect(r?["types"] as? [String] == [
                "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
                "WaitStateEntered", "WaitStateExited", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                "TaskStateExited", "ExecutionSucceeded"])
            #expect(r?["ids"] as? [Int] == Array(1...14))
            #expect(r?["linked"] as? Bool == true)
            // The Wait kept its original deadline: 3 s, not 3 s after the restart.
            if let wait = r?["wait"] as? [Double], wait.count == 2 { #expect(wait[1] - wait[0] >= 2.9 && wait[1] - wait[0] < 6, "\(wait)") }
            // Completed runs in the function's log (a run killed with the supervisor logs nothing).
            let slowRuns = logs.components(separatedBy: #"mark\":\"slow-e\#(i)\""#).count - 1
            #expect((1...2).contains(slowRuns), "slow-e\(i) completed \(slowRuns) times")
            let echoRuns = logs.components(separatedBy: #"mark\":\"echo-e\#(i)\""#).count - 1
            #expect(echoRuns == 1, "echo-e\(i) ran \(echoRuns) times")
        }
        #expect(daemon.log.contains("resumed"), "\(daemon.log)")
        #expect(!daemon.log.contains("runs again after a crash"), "nothing was running at the second crash: \(daemon.log)")
        print("states crash test: \(reran) of \(n) slow tasks were running at the first crash and ran again once")
    }

    @Test("concurrent starts are group-committed: one execution per name (same input: the same ARN; other input: ExecutionAlreadyExists), every answered start survives kill -9")
    func concurrentStarts() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-states-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let start = daemon.python(#"""
            import boto3, json, os, botocore.config
            from concurrent.futures import ThreadPoolExecutor
            c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'], config=botocore.config.Config(max_pool_connections=16))
            role = 'arn:aws:iam::000000000000:role/r'
            p = c.create_state_machine(name='pass3', roleArn=role, definition=json.dumps({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"}, "C": {"Type": "Pass", "End": True}}}))['stateMachineArn']
            w = c.create_state_machine(name='parked', roleArn=role, definition=json.dumps({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 3, "End": True}}}))['stateMachineArn']
            def start(args):
                arn, name, data = args
                try:
                    return c.start_execution(stateMachineArn=arn, name=name, input=data)['executionArn']
                except c.exceptions.ClientError as e:
                    return e.response['Error']['Code']
            with ThreadPoolExecutor(16) as pool:
                passed = list(pool.map(start, [(p, 'p%d' % i, '{"i": %d}' % i) for i in range(200)]))
                same = list(pool.map(start, [(p, 'same', '{"k": 1}')] * 16 + [(p, 'same', '{"k": 2}')] * 4))
                parked = list(pool.map(start, [(w, 'w%d' % i, '{}') for i in range(100)]))
            out = {'passed': len(set(passed)), 'pass_arns': all(a.startswith('arn:') for a in passed),
                   'same': sorted(set(same)), 'parked': len(set(parked)),
                   'succeeded': len(c.list_executions(stateMachineArn=p, statusFilter='SUCCEEDED', maxResults=1000)['executions']),
                   'output': json.loads(c.describe_execution(executionArn=passed[7])['output'])}
            print(json.dumps(out))
            """#)
        #expect(start.status == 0, "\(start.stderr)")
        let out = start.stdoutJSON ?? [:]
        #expect(out["passed"] as? Int == 200)
        #expect(out["pass_arns"] as? Bool == true)
        #expect(out["same"] as? [String] == ["ExecutionAlreadyExists", "arn:aws:states:us-east-1:000000000000:execution:pass3:same"])
        #expect(out["parked"] as? Int == 100)
        #expect(out["succeeded"] as? Int == 201, "Pass machines end within their start")
        #expect(out["output"] as? [String: Int] == ["i": 7, "a": 1])
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let check = daemon.python(#"""
            import boto3, json, os, time
            c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:parked'
            deadline = time.time() + 60
            while time.time() < deadline:
                ex = c.list_executions(stateMachineArn=arn, maxResults=1000)['executions']
                if all(e['status'] != 'RUNNING' for e in ex):
                    break
                time.sleep(0.2)
            print(json.dumps({'parked': len(ex), 'statuses': sorted(set(e['status'] for e in ex)),
                              'passed': len(c.list_executions(stateMachineArn=arn.replace('parked', 'pass3'), maxResults=1000)['executions'])}))
            """#)
        #expect(check.status == 0, "\(check.stderr)")
        let after = check.stdoutJSON ?? [:]
        #expect(after["parked"] as? Int == 100)
        #expect(after["statuses"] as? [String] == ["SUCCEEDED"])
        #expect(after["passed"] as? Int == 201)
    }
}
