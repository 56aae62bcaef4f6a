import Foundation
import HearthServer
import Testing

/// RedriveExecution end to end (ADR 0029): through boto3 and the aws CLI against `hearth
/// serve`, with a Lambda task that fails until its function is fixed (the probe with
/// `PROBE_INIT_ERROR` set fails every invocation; UpdateFunctionConfiguration clears it), then
/// the execution redriven to success; not-redrivable cases per status; the history event; the
/// redrive fields of DescribeExecution and ListExecutions; and a redriven execution that
/// survives kill -9 of the supervisor. TestState through boto3 and the CLI (a Task state
/// really invokes its function).
@Suite("step functions redrive and TestState end to end", .serialized, .requiresRoot)
struct StatesRedriveTests {
    static let prelude = #"""
        import boto3, json, os, time, botocore.config
        cfg = botocore.config.Config(retries={'max_attempts': 1})
        c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'], config=cfg)
        lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'], config=cfg)
        role = 'arn:aws:iam::000000000000:role/sfn'
        work = 'arn:aws:lambda:us-east-1:000000000000:function:work'
        gate = 'arn:aws:lambda:us-east-1:000000000000:function:gate'
        def wait(arn, n=300):
            for _ in range(n):
                d = c.describe_execution(executionArn=arn)
                if d['status'] != 'RUNNING':
                    return d
                time.sleep(0.1)
            return d
        def history(arn):
            return c.get_execution_history(executionArn=arn, maxResults=1000)['events']
        def err(f, **kw):
            try:
                f(**kw)
            except c.exceptions.ClientError as e:
                return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
            return 'no error'
        def machine(name, definition, **kw):
            return c.create_state_machine(name=name, roleArn=role, definition=json.dumps(definition), **kw)['stateMachineArn']
        def open_gate():
            lam.update_function_configuration(FunctionName='gate', Environment={'Variables': {}})
        """#

    /// The gate: the probe, failing every invocation until its environment is cleared.
    static var closed: [String: Any] { ["Environment": ["Variables": ["PROBE_INIT_ERROR": "the gate is closed"]]] }

    @Test("boto3: a failed Parallel redriven to success (only the failed branch runs again), idempotent clientToken, ExecutionRedriven, redrive fields, redriveFilter, not redrivable per status")
    func boto3() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        try await daemon.createProbe("gate", extra: Self.closed)
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            flow = machine('flow', {"StartAt": "Prepare", "States": {
              "Prepare": {"Type": "Pass", "Result": {"cmd": "echo"}, "ResultPath": "$.prep", "Next": "Both"},
              "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Final", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": work, "Parameters": {"cmd": "echo", "mark": "branch-a"}, "End": True}}},
                {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": gate, "Parameters": {"cmd": "echo", "branch": "b"},
                  "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}], "End": True}}}]},
              "Final": {"Type": "Task", "Resource": work, "Parameters": {"cmd": "echo", "rc.$": "$$.Execution.RedriveCount", "mark": "final"},
                        "ResultPath": "$.final", "End": True}}})
            e = c.start_execution(stateMachineArn=flow, name='one', input='{"id": 1}')['executionArn']
            d = wait(e)
            out['failed'] = [d['status'], d.get('error', ''), d['redriveCount'], d['redriveStatus'], 'redriveStatusReason' in d, 'redriveDate' in d]
            out['notYet'] = [[x['name'] for x in c.list_executions(stateMachineArn=flow, redriveFilter=f)['executions']] for f in ['REDRIVEN', 'NOT_REDRIVEN']]
            open_gate()
            r1 = c.redrive_execution(executionArn=e, clientToken='tok-1')
            r2 = c.redrive_execution(executionArn=e, clientToken='tok-1')
            out['idempotent'] = r1['redriveDate'] == r2['redriveDate']
            d = wait(e)
            out['succeeded'] = [d['status'], json.loads(d['output']), d['redriveCount'], d['redriveDate'] == r1['redriveDate'],
                                d['redriveStatus'], d['redriveStatusReason'], 'error' in d]
            h = history(e)
            types = [x['type'] for x in h]
            out['types'] = types
            red = [x for x in h if x['type'] == 'ExecutionRedriven'][0]
            failed = [x for x in h if x['type'] == 'ExecutionFailed'][0]
            out['event'] = [red['executionRedrivenEventDetails'], red['previousEventId'] == failed['id'], [x['id'] for x in h] == list(range(1, len(h) + 1))]
            out['after'] = types[types.index('ExecutionRedriven'):]
            out['again'] = err(c.redrive_execution, executionArn=e)
            items = c.list_executions(stateMachineArn=flow, redriveFilter='REDRIVEN')['executions']
            out['listed'] = [[x['name'], x['redriveCount'], x['redriveDate'] == r1['redriveDate']] for x in items]
            out['listedNot'] = [x['name'] for x in c.list_executions(stateMachineArn=flow, redriveFilter='NOT_REDRIVEN')['executions']]
            out['badFilter'] = err(c.list_executions, stateMachineArn=flow, redriveFilter='SOMETIMES')
            out['missing'] = err(c.redrive_execution, executionArn=e + 'x')
            out['badArn'] = err(c.redrive_execution, executionArn='arn:aws:states:us-east-1:000000000000:stateMachine:flow')
            # Not redrivable: SUCCEEDED, RUNNING; ABORTED and TIMED_OUT are, and run again.
            ok = machine('ok', {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
            s = c.start_execution(stateMachineArn=ok)['executionArn']
            wait(s)
            out['succeededErr'] = err(c.redrive_execution, executionArn=s)
            slow = machine('slow', {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
            w = c.start_execution(stateMachineArn=slow, name='w')['executionArn']
            d = c.describe_execution(executionArn=w)
            out['runningDescribe'] = [d['redriveStatus'], d['redriveStatusReason']]
            out['runningErr'] = err(c.redrive_execution, executionArn=w)
            c.stop_execution(executionArn=w, error='Stop', cause='by hand')
            d = c.describe_execution(executionArn=w)
            out['aborted'] = [d['status'], d['redriveStatus']]
            c.redrive_execution(executionArn=w)
            d = c.describe_execution(executionArn=w)
            out['abortedRedriven'] = [d['status'], d['redriveCount'], [x['type'] for x in history(w)][-3:]]
            c.stop_execution(executionArn=w)
            timed = machine('timed', {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
            t = c.start_execution(stateMachineArn=timed)['executionArn']
            d = wait(t, 50)
            out['timedOut'] = [d['status'], d['redriveStatus']]
            c.redrive_execution(executionArn=t)
            d = wait(t, 50)
            out['timedOutAgain'] = [d['status'], d['redriveCount'], [x['type'] for x in history(t)].count('ExecutionTimedOut')]
            fast = machine('fast', {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}, type='EXPRESS')
            x = c.start_execution(stateMachineArn=fast)['executionArn']
            for _ in range(50):
                if c.list_executions(stateMachineArn=fast)['executions'][0]['status'] != 'RUNNING':
                    break
                time.sleep(0.1)
            out['express'] = [c.list_executions(stateMachineArn=fast)['executions'][0]['status'], err(c.redrive_execution, executionArn=x)]
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        let failed = out["failed"] as? [Any]
        #expect(failed?.first as? String == "FAILED", "\(String(describing: failed))")
        #expect(failed?.dropFirst(2).map { "\($0)" } == ["0", "REDRIVABLE", "0", "0"], "no reason, no redriveDate before a redrive: \(String(describing: failed))")
        #expect(out["notYet"] as? NSArray == [[], ["one"]] as NSArray)
        #expect(out["idempotent"] as? Bool == true)
        let succeeded = out["succeeded"] as? [Any]
        #expect(succeeded?.first as? String == "SUCCEEDED", "\(String(describing: succeeded))")
        let output = succeeded?[1] as? [String: Any]
        #expect(output?["final"] as? NSDictionary == ["cmd": "echo", "rc": 1, "mark": "final"] as NSDictionary, "$$.Execution.RedriveCount is 1: \(String(describing: output))")
        #expect(output?["both"] as? NSArray == [["cmd": "echo", "mark": "branch-a"], ["cmd": "echo", "branch": "b"]] as NSArray)
        #expect(succeeded?.dropFirst(2).map { "\($0)" } == ["1", "1", "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven", "0"])
        #expect(out["event"] as? NSArray == [["redriveCount": 1], true, true] as NSArray)
        #expect(out["after"] as? [String] == ["ExecutionRedriven", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                                             "TaskStateExited", "ParallelStateSucceeded", "ParallelStateExited",
                                             "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
                                             "ExecutionSucceeded"])
        let types = out["types"] as? [String] ?? []
        #expect(types.filter { $0 == "LambdaFunctionFailed" }.count == 2, "the gate failed twice (a retry) before the redrive: \(types)")
        #expect(types.filter { $0 == "PassStateEntered" }.count == 1, "Prepare ran once")
        // Branch a succeeded the first time: it is not run again.
        let logs = (try? String(contentsOfFile: daemon.stateDirectory + "/logs/work.log", encoding: .utf8)) ?? ""
        #expect(logs.components(separatedBy: #"mark\":\"branch-a\""#).count - 1 == 1, "\(logs)")
        #expect(logs.components(separatedBy: #"mark\":\"final\""#).count - 1 == 1)
        #expect(out["again"] as? String == "ExecutionNotRedrivable: Execution is SUCCEEDED and cannot be redriven")
        #expect(out["listed"] as? NSArray == [["one", 1, true]] as NSArray)
        #expect(out["listedNot"] as? [String] == [])
        #expect((out["badFilter"] as? String)?.hasPrefix("ValidationException: ") == true, "\(out["badFilter"] ?? "")")
        #expect(out["missing"] as? String == "ExecutionDoesNotExist: Execution Does Not Exist: 'arn:aws:states:us-east-1:000000000000:execution:flow:onex'")
        #expect((out["badArn"] as? String)?.hasPrefix("InvalidArn: ") == true, "\(out["badArn"] ?? "")")
        #expect(out["succeededErr"] as? String == "ExecutionNotRedrivable: Execution is SUCCEEDED and cannot be redriven")
        #expect(out["runningDescribe"] as? [String] == ["NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"])
        #expect(out["runningErr"] as? String == "ExecutionNotRedrivable: Execution is RUNNING and cannot be redriven")
        #expect(out["aborted"] as? [String] == ["ABORTED", "REDRIVABLE"])
        #expect(out["abortedRedriven"] as? NSArray == ["RUNNING", 1, ["ExecutionAborted", "ExecutionRedriven", "WaitStateEntered"]] as NSArray)
        #expect(out["timedOut"] as? [String] == ["TIMED_OUT", "REDRIVABLE"])
        #expect(out["timedOutAgain"] as? NSArray == ["TIMED_OUT", 1, 2] as NSArray, "the execution's TimeoutSeconds runs again from the redrive")
        let express = out["express"] as? [String]
        #expect(express?.first == "FAILED")
        #expect(express?.last?.hasPrefix("ExecutionNotRedrivable: ") == true, "\(String(describing: express))")
    }

    @Test("boto3 TestState: a Task really invokes its function (DEBUG inspectionData), RETRIABLE, CAUGHT_ERROR, FAILED, Choice's nextState, refusals")
    func testState() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(Self.prelude + "\n" + #"""
            # botocore puts a sync- prefix on the host for TestState: turned off for a local endpoint.
            t = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'], config=botocore.config.Config(inject_host_prefix=False, retries={'max_attempts': 1}))
            def test(state, **kw):
                r = t.test_state(definition=json.dumps(state), roleArn=role, **kw)
                r.pop('ResponseMetadata')
                return r
            def terr(**kw):
                try:
                    t.test_state(roleArn=role, **kw)
                except t.exceptions.ClientError as e:
                    return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
                return 'no error'
            out = {}
            out['debug'] = test({"Type": "Task", "Resource": work, "Parameters": {"cmd": "echo", "v.$": "$.v", "mark": "tested"},
                                 "ResultSelector": {"v.$": "$.v"}, "ResultPath": "$.res", "Next": "After"},
                                input='{"v": 5}', inspectionLevel='DEBUG')
            out['info'] = test({"Type": "Pass", "Result": {"r": 1}, "End": True})
            failing = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "work", "Payload": {"cmd": "error"}}}
            out['retriable'] = test(dict(failing, Retry=[{"ErrorEquals": ["States.ALL"]}], End=True))
            out['caught'] = test(dict(failing, Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}], End=True), input='{"a": 1}')
            out['failed'] = test(dict(failing, End=True))
            out['choice'] = test({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}], "Default": "Small"}, input='{"n": 3}')
            out['parallel'] = terr(definition=json.dumps({"Type": "Parallel", "Branches": [], "End": True}))
            out['badLevel'] = terr(definition=json.dumps({"Type": "Pass", "End": True}), inspectionLevel='LOUD')
            out['badInput'] = terr(definition=json.dumps({"Type": "Pass", "End": True}), input='nope')
            print(json.dumps(out, default=str))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        let debug = out["debug"] as? [String: Any] ?? [:]
        #expect(debug["status"] as? String == "SUCCEEDED", "\(debug)")
        #expect(debug["output"] as? String == #"{"v":5,"res":{"v":5}}"#)
        #expect(debug["nextState"] as? String == "After")
        let data = debug["inspectionData"] as? [String: String] ?? [:]
        #expect(data["input"] == #"{"v": 5}"# || data["input"] == #"{"v":5}"#, "\(data)")
        #expect(data["afterParameters"] == #"{"cmd":"echo","v":5,"mark":"tested"}"#)
        #expect(data["result"] == #"{"cmd":"echo","v":5,"mark":"tested"}"#, "the function really ran: \(data)")
        #expect(data["afterResultSelector"] == #"{"v":5}"#)
        #expect(data["afterResultPath"] == #"{"v":5,"res":{"v":5}}"#)
        let logs = (try? String(contentsOfFile: daemon.stateDirectory + "/logs/work.log", encoding: .utf8)) ?? ""
        #expect(logs.contains(#"mark\":\"tested\""#), "\(logs)")
        #expect(out["info"] as? NSDictionary == ["status": "SUCCEEDED", "output": #"{"r":1}"#] as NSDictionary)
        let retriable = out["retriable"] as? [String: Any] ?? [:]
        #expect(retriable["status"] as? String == "RETRIABLE", "\(retriable)")
        #expect(retriable["error"] as? String == "Probe.Failure")
        #expect(retriable["nextState"] == nil && retriable["output"] == nil)
        let caught = out["caught"] as? [String: Any] ?? [:]
        #expect(caught["status"] as? String == "CAUGHT_ERROR", "\(caught)")
        #expect(caught["nextState"] as? String == "Handle")
        #expect((caught["output"] as? String)?.hasPrefix(#"{"a":1,"err":{"Error":"Probe.Failure","Cause":"#) == true, "\(caught)")
        let failed = out["failed"] as? [String: Any] ?? [:]
        #expect(failed["status"] as? String == "FAILED" && failed["error"] as? String == "Probe.Failure", "\(failed)")
        #expect((failed["cause"] as? String)?.contains("requested failure") == true)
        let choice = out["choice"] as? [String: Any] ?? [:]
        #expect(choice["status"] as? String == "SUCCEEDED" && choice["nextState"] as? String == "Big", "\(choice)")
        #expect((out["parallel"] as? String)?.hasPrefix("InvalidDefinition: ") == true, "\(out["parallel"] ?? "")")
        #expect((out["badLevel"] as? String)?.hasPrefix("ValidationException: ") == true, "\(out["badLevel"] ?? "")")
        #expect((out["badInput"] as? String)?.hasPrefix("InvalidExecutionInput: ") == true, "\(out["badInput"] ?? "")")
    }

    /// The aws CLI on PATH (pip's v1); Debian's v2 here (2.9.19) predates RedriveExecution
    /// (it has no `redrive-execution` and its model has no redrive fields).
    @Test("aws CLI: redrive-execution, describe-execution's redrive fields, list-executions --redrive-filter; hearth states history; test-state")
    func awsCLI() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("gate", extra: Self.closed)
        let definition = #"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:gate","End":true}}}"#
        #expect(daemon.aws(["stepfunctions", "create-state-machine", "--name", "cli", "--definition", definition, "--role-arn", "arn:aws:iam::000000000000:role/r"]).status == 0)
        let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:cli"
        let s = daemon.aws(["stepfunctions", "start-execution", "--state-machine-arn", machine, "--name", "e", "--input", #"{"cmd":"echo","k":1}"#])
        #expect(s.status == 0, "\(s.stderr)")
        let execution = s.stdoutJSON?["executionArn"] as? String ?? ""
        func described() async throws -> [String: Any] {
            var d: [String: Any] = [:]
            for _ in 0..<100 {
                d = daemon.aws(["stepfunctions", "describe-execution", "--execution-arn", execution]).stdoutJSON ?? [:]
                if d["status"] as? String != "RUNNING" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return d
        }
        let failed = try await described()
        #expect(failed["status"] as? String == "FAILED")
        #expect(failed["redriveStatus"] as? String == "REDRIVABLE", "\(failed)")
        #expect(failed["redriveCount"] as? Int == 0)
        let opened = daemon.aws(["lambda", "update-function-configuration", "--function-name", "gate", "--environment", "Variables={}"])
        #expect(opened.status == 0, "\(opened.stderr)")
        let r = daemon.aws(["stepfunctions", "redrive-execution", "--execution-arn", execution])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutJSON?["redriveDate"] != nil, "\(r.stdoutText)")
        let d = try await described()
        #expect(d["status"] as? String == "SUCCEEDED", "\(d)")
        #expect(d["output"] as? String == #"{"cmd":"echo","k":1}"#)
        #expect(d["redriveCount"] as? Int == 1)
        #expect(d["redriveDate"] as? String == r.stdoutJSON?["redriveDate"] as? String)
        #expect(d["redriveStatus"] as? String == "NOT_REDRIVABLE")
        #expect(d["redriveStatusReason"] as? String == "Execution is SUCCEEDED and cannot be redriven")
        let again = daemon.aws(["stepfunctions", "redrive-execution", "--execution-arn", execution])
        #expect(again.status != 0 && again.stderr.contains("ExecutionNotRedrivable") && again.stderr.contains("Execution is SUCCEEDED and cannot be redriven"), "\(again.stderr)")
        for (filter, names) in [("REDRIVEN", ["e"]), ("NOT_REDRIVEN", [])] {
            let listed = daemon.aws(["stepfunctions", "list-executions", "--state-machine-arn", machine, "--redrive-filter", filter])
            let items = listed.stdoutJSON?["executions"] as? [[String: Any]] ?? []
            #expect(items.compactMap { $0["name"] as? String } == names, "\(listed.stdoutText) \(listed.stderr)")
            #expect(items.allSatisfy { $0["redriveCount"] as? Int == 1 && $0["redriveDate"] != nil })
        }
        let timeline = Harness.run(Harness.hearth, ["states", "history", execution, "--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath])
        #expect(timeline.stdoutText.contains("ExecutionRedriven  redrive 1"), "\(timeline.stdoutText)")
        // test-state: the CLI's botocore puts a sync- prefix on the host unless told not to.
        let tested = Harness.run("/usr/bin/env", ["-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE=\(daemon.credentialsPath)",
                                                  "AWS_CONFIG_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_DISABLE_HOST_PREFIX_INJECTION=true",
                                                  "aws", "--endpoint-url", daemon.endpoint, "stepfunctions", "test-state", "--role-arn", "arn:aws:iam::000000000000:role/r",
                                                  "--definition", #"{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:gate","Next":"N"}"#,
                                                  "--input", #"{"cmd":"echo","t":1}"#, "--inspection-level", "DEBUG"], timeout: 120)
        #expect(tested.status == 0, "\(tested.stderr)")
        #expect(tested.stdoutJSON?["output"] as? String == #"{"cmd":"echo","t":1}"#, "\(tested.stdoutText)")
        #expect(tested.stdoutJSON?["nextState"] as? String == "N")
        #expect((tested.stdoutJSON?["inspectionData"] as? [String: Any])?["afterParameters"] as? String == #"{"cmd":"echo","t":1}"#)
    }

    /// kill -9 while a redriven execution's task runs, and again during its Wait: after the
    /// restarts it finishes SUCCEEDED, redriven once, with one ExecutionRedriven and no gap.
    @Test("kill -9 mid-Task and mid-Wait after a redrive: the redriven execution resumes from its journal and finishes")
    func crash() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-redrive-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("gate", extra: Self.closed)
        let start = daemon.python(Self.prelude + "\n" + #"""
            m = machine('durable', {"StartAt": "Slow", "States": {
              "Slow": {"Type": "Task", "Resource": gate, "Parameters": {"cmd": "sleep", "ms": 1500}, "ResultPath": "$.slow", "Next": "Pause"},
              "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Echo"},
              "Echo": {"Type": "Task", "Resource": gate, "Parameters": {"cmd": "echo", "rc.$": "$$.Execution.RedriveCount"}, "ResultPath": "$.echo", "End": True}}})
            e = c.start_execution(stateMachineArn=m, name='r', input='{"id": "r"}')['executionArn']
            d = wait(e)
            open_gate()
            c.redrive_execution(executionArn=e)
            print(json.dumps({'first': d['status'], 'now': c.describe_execution(executionArn=e)['status']}))
            """#)
        #expect(start.status == 0, "\(start.stderr)")
        #expect(start.stdoutJSON?["first"] as? String == "FAILED")
        #expect(start.stdoutJSON?["now"] as? String == "RUNNING")
        // First crash: while the redriven task sleeps.
        try await Task.sleep(for: .milliseconds(700))
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        // Second crash: during the Wait (the task took 1.5 s; the Wait lasts 3 s).
        try await Task.sleep(for: .milliseconds(2500))
        daemon.crash()
        #expect(daemon.log.contains("runs again after a crash (recovery 1)"), "\(daemon.log)")
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let check = daemon.python(Self.prelude + "\n" + #"""
            e = 'arn:aws:states:us-east-1:000000000000:execution:durable:r'
            d = wait(e, 600)
            h = history(e)
            print(json.dumps({'status': d['status'], 'output': json.loads(d.get('output', 'null')), 'count': d['redriveCount'],
                              'types': [x['type'] for x in h], 'ids': [x['id'] for x in h] == list(range(1, len(h) + 1)),
                              'linked': all(x['previousEventId'] < x['id'] for x in h)}))
            """#)
        #expect(check.status == 0, "\(check.stderr)")
        let out = check.stdoutJSON ?? [:]
        #expect(out["status"] as? String == "SUCCEEDED", "\(out)")
        #expect(out["count"] as? Int == 1)
        #expect((out["output"] as? [String: Any])?["echo"] as? NSDictionary == ["cmd": "echo", "rc": 1] as NSDictionary, "\(out)")
        #expect((out["output"] as? [String: Any])?["slow"] as? NSDictionary == ["slept_ms": 1500] as NSDictionary)
        let types = out["types"] as? [String] ?? []
        #expect(types.filter { $0 == "ExecutionRedriven" }.count == 1)
        #expect(Array(types.drop { $0 != "ExecutionRedriven" }) == [
            "ExecutionRedriven", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
            "WaitStateEntered", "WaitStateExited", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
            "TaskStateExited", "ExecutionSucceeded"], "\(types)")
        #expect(out["ids"] as? Bool == true)
        #expect(out["linked"] as? Bool == true)
        #expect(daemon.log.contains("resumed"), "\(daemon.log)")
    }
}
