import Foundation
import HearthServer
import Testing

/// The distributed Map end to end (ADR 0030) with boto3 and the aws CLI against `hearth serve`:
/// children that run a real Lambda function (the probe; `{"cmd":"error"}` makes it fail),
/// tolerated failures passing and exceeded, ItemBatcher's shapes, DescribeMapRun's counts,
/// ListExecutions by mapRunArn, UpdateMapRun changing a running Map Run, a stopped parent,
/// the refusal of ItemReader/ResultWriter, and kill -9 of the supervisor during a Map Run.
@Suite("step functions distributed Map end to end", .serialized, .requiresRoot)
struct StatesDistributedMapTests {
    static let prelude = StatesCallbackTests.prelude + "\n" + #"""
        fn = 'arn:aws:lambda:us-east-1:000000000000:function:work'
        def dmap(name, processor, fields=None, config=None):
            m = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": dict(processor, ProcessorConfig=config or {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}), "End": True}
            m.update(fields or {})
            return machine(name, {"StartAt": "Fan", "States": {"Fan": m}})
        work = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": fn, "End": True}}}
        def map_run(arn, seconds=30):
            deadline = time.time() + seconds
            while time.time() < deadline:
                runs = c.list_map_runs(executionArn=arn)['mapRuns']
                if runs:
                    return runs[0]['mapRunArn']
                time.sleep(0.1)
        def children(run, **kw):
            return c.list_executions(mapRunArn=run, **kw)['executions']
        """#

    @Test("boto3 + aws CLI: Lambda children with tolerated failures passing and exceeded; ItemBatcher; DescribeMapRun; ListExecutions by mapRunArn; UpdateMapRun; stop; refusals")
    func distributedMap() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            items = [{"cmd": "error" if i in (1, 4) else "echo", "n": i} for i in range(6)]
            dm = dmap('dm', work, {"Label": "work", "MaxConcurrency": 3, "ToleratedFailureCountPath": "$.tol"})
            # 1. Two of six fail, two are tolerated: SUCCEEDED, the failures' places hold their errors.
            e = c.start_execution(stateMachineArn=dm, name='ok', input=json.dumps({"items": items, "tol": 2}))['executionArn']
            d = wait(e, 60)
            res = json.loads(d['output']) if 'output' in d else d
            out['tolerated'] = [d['status'], [x.get('n', x.get('Error')) for x in res] if isinstance(res, list) else res]
            run = map_run(e)
            out['runArn'] = run
            dr = c.describe_map_run(mapRunArn=run)
            out['describe'] = [dr['status'], dr['executionArn'] == e, dr['maxConcurrency'], dr['toleratedFailureCount'], dr['toleratedFailurePercentage'],
                               dr['itemCounts'], dr['executionCounts'], dr['redriveCount'], 'stopDate' in dr]
            kids = children(run)
            kid = c.describe_execution(executionArn=kids[0]['executionArn'])
            out['children'] = [len(kids), sorted(k['status'] for k in kids), [k['mapRunArn'] == run for k in kids].count(True), [k['itemCount'] for k in kids],
                               kid['mapRunArn'] == run, kid['stateMachineArn'], kid['executionArn'].split(':')[6]]
            out['failedKids'] = len(children(run, statusFilter='FAILED'))
            out['types'] = [x['type'] for x in history(e)]
            h = history(e)
            ids = {x['type']: x['id'] for x in h}
            out['links'] = [x['previousEventId'] == ids['MapRunSucceeded'] for x in h if x['type'] in ('MapStateSucceeded', 'MapStateExited')]
            out['started'] = [x['mapRunStartedEventDetails']['mapRunArn'] == run for x in h if x['type'] == 'MapRunStarted']
            # 2. Only one tolerated: FAILED with States.ExceedToleratedFailureThreshold.
            e2 = c.start_execution(stateMachineArn=dm, name='over', input=json.dumps({"items": items, "tol": 1}))['executionArn']
            d = wait(e2, 60)
            run2 = map_run(e2)
            out['exceeded'] = [d['status'], d.get('error'), c.describe_map_run(mapRunArn=run2)['status'],
                               [x['type'] for x in history(e2)][-4:], [x.get('mapRunFailedEventDetails', {}).get('error') for x in history(e2) if x['type'] == 'MapRunFailed']]
            # 3. ItemBatcher: {"Items": [...], "BatchInput": {...}} per child; counts by items and by executions.
            echo = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": fn,
                    "Parameters": {"cmd": "echo", "items.$": "$.Items", "batch.$": "$.BatchInput"}, "End": True}}}
            db = dmap('db', echo, {"ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"tag.$": "$.tag"}}})
            e3 = c.start_execution(stateMachineArn=db, input=json.dumps({"items": [1, 2, 3, 4, 5], "tag": "t1"}))['executionArn']
            d = wait(e3, 60)
            run3 = map_run(e3)
            dr = c.describe_map_run(mapRunArn=run3)
            out['batches'] = [d['status'], [[x['items'], x['batch']] for x in json.loads(d['output'])], dr['itemCounts']['total'], dr['executionCounts']['total'],
                              dr['itemCounts']['succeeded'], sorted(k['itemCount'] for k in children(run3))]
            # 4. UpdateMapRun raises a running Map Run's MaxConcurrency; its errors.
            slow = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": True}}}
            du = dmap('du', slow, {"MaxConcurrency": 1})
            e4 = c.start_execution(stateMachineArn=du, input=json.dumps({"items": list(range(6))}))['executionArn']
            run4 = map_run(e4)
            deadline = time.time() + 20
            while time.time() < deadline and len(children(run4, statusFilter='RUNNING')) < 1:
                time.sleep(0.05)
            before = c.describe_map_run(mapRunArn=run4)
            c.update_map_run(mapRunArn=run4, maxConcurrency=6, toleratedFailurePercentage=50.0)
            # More than one child runs at once now (before, one at a time for 3 s each).
            most, deadline = 0, time.time() + 6
            while time.time() < deadline and most < 3:
                after = c.describe_map_run(mapRunArn=run4)
                most = max(most, after['executionCounts']['running'])
                time.sleep(0.05)
            d = wait(e4, 60)
            out['update'] = [before['maxConcurrency'], before['executionCounts']['running'], after['maxConcurrency'], after['toleratedFailurePercentage'],
                             most >= 3, d['status'], c.describe_map_run(mapRunArn=run4)['executionCounts']['succeeded']]
            out['updateErrors'] = [err(c.update_map_run, mapRunArn=run4.replace(run4.split(':')[-1], '00000000-0000-0000-0000-000000000000'), maxConcurrency=2),
                                   err(c.update_map_run, mapRunArn=run4, toleratedFailurePercentage=101.0),
                                   err(c.update_map_run, mapRunArn=run4, maxConcurrency=2),
                                   err(c.describe_map_run, mapRunArn='arn:aws:states:us-east-1:000000000000:stateMachine:du')]
            # 5. Stopping the parent aborts the Map Run and its children.
            sw = dmap('sw', {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}})
            e5 = c.start_execution(stateMachineArn=sw, input=json.dumps({"items": [1, 2, 3]}))['executionArn']
            run5 = map_run(e5)
            deadline = time.time() + 20
            while time.time() < deadline and len(children(run5, statusFilter='RUNNING')) < 3:
                time.sleep(0.1)
            c.stop_execution(executionArn=e5)
            time.sleep(2)
            out['stopped'] = [wait(e5)['status'], c.describe_map_run(mapRunArn=run5)['status'], sorted(k['status'] for k in children(run5)),
                              [x['type'] for x in history(e5)][-2:]]
            # 6. Refused at create time.
            out['refused'] = [err(c.create_state_machine, name='r1', roleArn=role, definition=json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map",
                                  "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}},
                                  "ItemProcessor": dict(work, ProcessorConfig={"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}), "End": True}}})),
                              err(c.create_state_machine, name='r2', roleArn=role, definition=json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map",
                                  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b", "Prefix": "p"}},
                                  "ItemProcessor": dict(work, ProcessorConfig={"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}), "End": True}}})),
                              err(c.create_state_machine, name='r3', roleArn=role, definition=json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map",
                                  "ToleratedFailurePercentage": 150,
                                  "ItemProcessor": dict(work, ProcessorConfig={"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}), "End": True}}})),
                              err(c.create_state_machine, name='r4', roleArn=role, type='EXPRESS', definition=json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map",
                                  "ItemProcessor": dict(work, ProcessorConfig={"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}), "End": True}}}))]
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        #expect(out["tolerated"] as? NSArray == ["SUCCEEDED", [0, "Probe.Failure", 2, 3, "Probe.Failure", 5]] as NSArray, "\(out["tolerated"] ?? "")")
        let run = out["runArn"] as? String ?? ""
        #expect(run.hasPrefix("arn:aws:states:us-east-1:000000000000:mapRun:dm/work:"), "\(run)")
        let counts: NSDictionary = ["pending": 0, "running": 0, "succeeded": 4, "failed": 2, "timedOut": 0, "aborted": 0, "total": 6, "resultsWritten": 0,
                                    "failuresNotRedrivable": 0, "pendingRedrive": 0]
        #expect(out["describe"] as? NSArray == ["SUCCEEDED", true, 3, 2, 0, counts, counts, 0, true] as NSArray, "\(out["describe"] ?? "")")
        #expect(out["children"] as? NSArray == [6, ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"], 6, [1, 1, 1, 1, 1, 1], true,
                                                "arn:aws:states:us-east-1:000000000000:stateMachine:dm/work", "dm/work"] as NSArray, "\(out["children"] ?? "")")
        #expect(out["failedKids"] as? Int == 2)
        #expect(out["types"] as? [String] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded", "MapStateSucceeded",
                                              "MapStateExited", "ExecutionSucceeded"])
        #expect(out["links"] as? [Bool] == [true, true])
        #expect(out["started"] as? [Bool] == [true])
        #expect(out["exceeded"] as? NSArray == ["FAILED", "States.ExceedToleratedFailureThreshold", "FAILED",
                                                ["MapRunStarted", "MapRunFailed", "MapStateFailed", "ExecutionFailed"], ["States.ExceedToleratedFailureThreshold"]] as NSArray,
                "\(out["exceeded"] ?? "")")
        #expect(out["batches"] as? NSArray == ["SUCCEEDED", [[[1, 2], ["tag": "t1"]], [[3, 4], ["tag": "t1"]], [[5], ["tag": "t1"]]], 5, 3, 5, [1, 2, 2]] as NSArray,
                "\(out["batches"] ?? "")")
        #expect(out["update"] as? NSArray == [1, 1, 6, 50, true, "SUCCEEDED", 6] as NSArray, "\(out["update"] ?? "")")
        let errors = out["updateErrors"] as? [String] ?? []
        #expect(errors.count == 4 && errors[0].hasPrefix("ResourceNotFound: ") && errors[1].hasPrefix("ValidationException: ")
                && errors[2].hasPrefix("ValidationException: Map Run is not RUNNING") && errors[3].hasPrefix("InvalidArn: "), "\(errors)")
        #expect(out["stopped"] as? NSArray == ["ABORTED", "ABORTED", ["ABORTED", "ABORTED", "ABORTED"], ["MapRunAborted", "ExecutionAborted"]] as NSArray,
                "\(out["stopped"] ?? "")")
        let refused = out["refused"] as? [String] ?? []
        #expect(refused.count == 4, "\(refused)")
        if refused.count == 4 {
            #expect(refused[0].hasPrefix("InvalidDefinition: ") && refused[0].contains("ItemReader") && refused[0].contains("object store"), "\(refused[0])")
            #expect(refused[1].contains("ResultWriter") && refused[1].contains("object store"), "\(refused[1])")
            #expect(refused[2].contains("Expected value of type Number, between 0 and 100"), "\(refused[2])")
            #expect(refused[3].contains("Express state machine does not support a DISTRIBUTED Map state"), "\(refused[3])")
        }
        // The aws CLI reads the same shapes.
        for cli in ServeDaemon.awsCLIs {
            let d = daemon.aws(cli: cli, ["stepfunctions", "describe-map-run", "--map-run-arn", run])
            #expect(d.status == 0, "\(cli): \(d.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(d.stdoutText.utf8)) as? NSDictionary)?["status"] as? String == "SUCCEEDED", "\(cli): \(d.stdoutText)")
            let l = daemon.aws(cli: cli, ["stepfunctions", "list-executions", "--map-run-arn", run, "--status-filter", "FAILED"])
            let listed = (try? JSONSerialization.jsonObject(with: Data(l.stdoutText.utf8)) as? NSDictionary)?["executions"] as? [NSDictionary]
            #expect(listed?.count == 2, "\(cli): \(l.stdoutText) \(l.stderr)")
        }
    }

    /// kill -9 while a Map Run has children running: after the restart the Map Run finishes,
    /// each item's function ran once, no child was started twice.
    @Test("kill -9 during a distributed Map: after the restart the Map Run completes, each child ran once")
    func crashDuringMapRun() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-dmap-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let first = daemon.python(Self.prelude + "\n" + #"""
            child = {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 3, "Next": "Work"},
                     "Work": {"Type": "Task", "Resource": fn, "Parameters": {"cmd": "echo", "mark.$": "States.Format('dmap-{}', $.n)"}, "End": True}}}
            sm = dmap('crashy', child, {"MaxConcurrency": 2, "Label": "crashy"})
            e = c.start_execution(stateMachineArn=sm, name='p', input=json.dumps({"items": [{"n": i} for i in range(5)]}))['executionArn']
            run = map_run(e)
            deadline = time.time() + 20
            while time.time() < deadline and len(children(run, statusFilter='RUNNING')) < 2:
                time.sleep(0.1)
            print(json.dumps({"parent": e, "run": run, "running": len(children(run, statusFilter='RUNNING'))}))
            """#)
        #expect(first.status == 0, "\(first.stderr)")
        guard let before = first.stdoutJSON, let parent = before["parent"] as? String, let run = before["run"] as? String else {
            Issue.record("no output: \(first.stdoutText) \(first.stderr)")
            return
        }
        #expect(before["running"] as? Int == 2)
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let second = daemon.python(Self.prelude + "\n" + """
            p, run = '\(parent)', '\(run)'
            out = {'before': c.describe_map_run(mapRunArn=run)['status']}
            d = wait(p, 90)
            out['parent'] = [d['status'], [x['mark'] for x in json.loads(d['output'])] if 'output' in d else d.get('cause')]
            dr = c.describe_map_run(mapRunArn=run)
            out['run'] = [dr['status'], dr['executionCounts']['succeeded'], dr['executionCounts']['total']]
            out['children'] = len(children(run))
            print(json.dumps(out))
            """)
        #expect(second.status == 0, "\(second.stderr)")
        guard let out = second.stdoutJSON else { Issue.record("no output: \(second.stdoutText) \(second.stderr)"); return }
        #expect(out["before"] as? String == "RUNNING")
        #expect(out["parent"] as? NSArray == ["SUCCEEDED", ["dmap-0", "dmap-1", "dmap-2", "dmap-3", "dmap-4"]] as NSArray, "\(out["parent"] ?? "")")
        #expect(out["run"] as? NSArray == ["SUCCEEDED", 5, 5] as NSArray, "\(out["run"] ?? "")")
        #expect(out["children"] as? Int == 5, "no child was started twice")
        #expect(daemon.log.contains("resumed"), "\(daemon.log)")
        let logs = (try? String(contentsOfFile: state + "/logs/work.log", encoding: .utf8)) ?? ""
        for i in 0..<5 {
            #expect(logs.components(separatedBy: #"mark\":\"dmap-\#(i)\""#).count - 1 == 1, "item \(i)'s function ran once: \(logs.suffix(2000))")
        }
    }
}
