import Foundation
import HearthServer
import Testing

/// Step Functions activities end to end (ADR 0028): CreateActivity/Describe/List/Delete and
/// their tags through boto3 and the aws CLI against `hearth serve`, errors as AWS, and
/// activities that survive kill -9 of the supervisor.
@Suite("step functions activities end to end", .serialized, .requiresRoot)
struct StatesActivityTests {
    static let prelude = #"""
        import boto3, json, os, time, botocore.config
        c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'], config=botocore.config.Config(read_timeout=70, retries={'max_attempts': 1}))
        role = 'arn:aws:iam::000000000000:role/sfn'
        def wait(arn, n=300):
            for _ in range(n):
                d = c.describe_execution(executionArn=arn)
                if d['status'] != 'RUNNING':
                    return d
                time.sleep(0.1)
            return d
        def history(arn):
            return c.get_execution_history(executionArn=arn)['events']
        def machine(name, activity, **state):
            st = {"Type": "Task", "Resource": activity, "ResultPath": "$.answer", "End": True}
            st.update(state)
            return c.create_state_machine(name=name, roleArn=role, definition=json.dumps({"StartAt": "Work", "States": {"Work": st}}))['stateMachineArn']
        def err(f, **kw):
            try:
                f(**kw)
            except c.exceptions.ClientError as e:
                return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
            return 'no error'
        """#

    @Test("boto3: create_activity (idempotent by name, tags), describe, list with paging, tags, delete; ActivityDoesNotExist, InvalidArn, InvalidName")
    func boto3() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            a = c.create_activity(name='review', tags=[{'key': 'team', 'value': 'ops'}])
            again = c.create_activity(name='review', tags=[{'key': 'team', 'value': 'other'}])
            out['arn'] = a['activityArn']
            out['idempotent'] = [again['activityArn'] == a['activityArn'], again['creationDate'] == a['creationDate']]
            d = c.describe_activity(activityArn=a['activityArn'])
            out['describe'] = [d['name'], d['activityArn'], d['creationDate'] == a['creationDate'], d['encryptionConfiguration']['type']]
            out['tags'] = c.list_tags_for_resource(resourceArn=a['activityArn'])['tags']
            c.tag_resource(resourceArn=a['activityArn'], tags=[{'key': 'tier', 'value': 'gold'}])
            c.untag_resource(resourceArn=a['activityArn'], tagKeys=['team'])
            out['retagged'] = c.list_tags_for_resource(resourceArn=a['activityArn'])['tags']
            for n in ['b1', 'b2', 'b3']:
                c.create_activity(name=n)
            p1 = c.list_activities(maxResults=2)
            p2 = c.list_activities(maxResults=2, nextToken=p1['nextToken'])
            out['pages'] = [[x['name'] for x in p1['activities']], [x['name'] for x in p2['activities']], 'nextToken' in p2]
            out['item'] = sorted(p1['activities'][0].keys())
            out['badToken'] = err(c.list_activities, nextToken='garbage')
            out['badName'] = err(c.create_activity, name='has space')
            ghost = 'arn:aws:states:us-east-1:000000000000:activity:ghost'
            out['missing'] = err(c.describe_activity, activityArn=ghost)
            out['badArn'] = err(c.describe_activity, activityArn='arn:aws:states:us-east-1:000000000000:stateMachine:x')
            out['deleteMissing'] = c.delete_activity(activityArn=ghost)['ResponseMetadata']['HTTPStatusCode']
            c.delete_activity(activityArn=a['activityArn'])
            out['afterDelete'] = err(c.describe_activity, activityArn=a['activityArn'])
            out['left'] = [x['name'] for x in c.list_activities()['activities']]
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        let arn = "arn:aws:states:us-east-1:000000000000:activity:review"
        #expect(out["arn"] as? String == arn)
        #expect(out["idempotent"] as? [Bool] == [true, true])
        #expect(out["describe"] as? NSArray == ["review", arn, true, "AWS_OWNED_KEY"] as NSArray)
        #expect(out["tags"] as? NSArray == [["key": "team", "value": "ops"]] as NSArray)
        #expect(out["retagged"] as? NSArray == [["key": "tier", "value": "gold"]] as NSArray)
        #expect(out["pages"] as? NSArray == [["b1", "b2"], ["b3", "review"], false] as NSArray)
        #expect(out["item"] as? [String] == ["activityArn", "creationDate", "name"])
        #expect((out["badToken"] as? String)?.hasPrefix("InvalidToken: ") == true, "\(out["badToken"] ?? "")")
        #expect(out["badName"] as? String == "InvalidName: Invalid Name: 'has space'")
        #expect(out["missing"] as? String == "ActivityDoesNotExist: Activity Does Not Exist: 'arn:aws:states:us-east-1:000000000000:activity:ghost'")
        #expect((out["badArn"] as? String)?.hasPrefix("InvalidArn: ") == true, "\(out["badArn"] ?? "")")
        #expect(out["deleteMissing"] as? Int == 200)
        #expect((out["afterDelete"] as? String)?.hasPrefix("ActivityDoesNotExist: ") == true)
        #expect(out["left"] as? [String] == ["b1", "b2", "b3"])
    }

    @Test("aws CLI: create-activity, describe-activity, list-activities, get-activity-task + send-task-success, delete-activity")
    func awsCLI() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let created = daemon.aws(["stepfunctions", "create-activity", "--name", "cli"])
        #expect(created.status == 0, "\(created.stderr)")
        let arn = created.stdoutJSON?["activityArn"] as? String ?? ""
        #expect(arn == "arn:aws:states:us-east-1:000000000000:activity:cli")
        let described = daemon.aws(["stepfunctions", "describe-activity", "--activity-arn", arn])
        #expect(described.stdoutJSON?["name"] as? String == "cli", "\(described.stderr)")
        let listed = daemon.aws(["stepfunctions", "list-activities"])
        #expect((listed.stdoutJSON?["activities"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["cli"], "\(listed.stderr)")
        // A worker through the CLI: get-activity-task, send-task-success.
        let definition = #"{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"\#(arn)","End":true}}}"#
        let machine = daemon.aws(["stepfunctions", "create-state-machine", "--name", "cliwork", "--definition", definition,
                                  "--role-arn", "arn:aws:iam::000000000000:role/r"]).stdoutJSON?["stateMachineArn"] as? String ?? ""
        let execution = daemon.aws(["stepfunctions", "start-execution", "--state-machine-arn", machine, "--input", #"{"k":1}"#])
            .stdoutJSON?["executionArn"] as? String ?? ""
        let task = daemon.aws(["stepfunctions", "get-activity-task", "--activity-arn", arn, "--worker-name", "cli-worker"])
        #expect(task.stdoutJSON?["input"] as? String == #"{"k":1}"#, "\(task.stderr)")
        let done = daemon.aws(["stepfunctions", "send-task-success", "--task-token", task.stdoutJSON?["taskToken"] as? String ?? "", "--task-output", #"{"v":2}"#])
        #expect(done.status == 0, "\(done.stderr)")
        var status = "RUNNING"
        for _ in 0..<100 where status == "RUNNING" {
            status = daemon.aws(["stepfunctions", "describe-execution", "--execution-arn", execution]).stdoutJSON?["status"] as? String ?? "?"
            if status == "RUNNING" { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == "SUCCEEDED")
        #expect(daemon.aws(["stepfunctions", "delete-activity", "--activity-arn", arn]).status == 0)
        let gone = daemon.aws(["stepfunctions", "describe-activity", "--activity-arn", arn])
        #expect(gone.status != 0 && gone.stderr.contains("ActivityDoesNotExist"), "\(gone.stderr)")
    }

    @Test("kill -9: activities and their tags are still there after the restart")
    func crash() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-activity-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let first = daemon.python(Self.prelude + "\n" + #"""
            a = c.create_activity(name='durable', tags=[{'key': 'k', 'value': 'v'}])
            print(json.dumps({'arn': a['activityArn'], 'created': a['creationDate'].timestamp()}))
            """#)
        #expect(first.status == 0, "\(first.stderr)")
        guard let before = first.stdoutJSON, let created = before["created"] as? Double else { Issue.record("no output: \(first.stderr)"); return }
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let second = daemon.python(Self.prelude + "\n" + #"""
            arn = 'arn:aws:states:us-east-1:000000000000:activity:durable'
            d = c.describe_activity(activityArn=arn)
            print(json.dumps({'name': d['name'], 'created': d['creationDate'].timestamp(),
                              'tags': c.list_tags_for_resource(resourceArn=arn)['tags'],
                              'again': c.create_activity(name='durable')['creationDate'].timestamp()}))
            """#)
        #expect(second.status == 0, "\(second.stderr)")
        guard let out = second.stdoutJSON else { Issue.record("no output: \(second.stderr)"); return }
        #expect(out["name"] as? String == "durable")
        #expect(out["created"] as? Double == created)
        #expect(out["again"] as? Double == created)
        #expect(out["tags"] as? NSArray == [["key": "k", "value": "v"]] as NSArray)
    }

    @Test("boto3 worker: get_activity_task (long poll, empty when none), send_task_success/failure/heartbeat, heartbeat timeout, missing activity, Express refused")
    func worker() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            act = c.create_activity(name='review')['activityArn']
            t0 = time.time()
            empty = c.get_activity_task(activityArn=act, workerName='idle')
            out['empty'] = [empty.get('taskToken', ''), round(time.time() - t0)]
            m = machine('m', act, Parameters={"job.$": "$.job"}, TimeoutSeconds=60)
            e = c.start_execution(stateMachineArn=m, name='one', input='{"job": 1}')['executionArn']
            task = c.get_activity_task(activityArn=act, workerName='w1')
            out['input'] = json.loads(task['input'])
            c.send_task_heartbeat(taskToken=task['taskToken'])
            c.send_task_success(taskToken=task['taskToken'], output='{"ok": true}')
            d = wait(e)
            out['status'] = [d['status'], json.loads(d['output'])]
            h = history(e)
            out['types'] = [x['type'] for x in h]
            out['scheduled'] = [x['activityScheduledEventDetails'] for x in h if x['type'] == 'ActivityScheduled'][0]
            out['started'] = [x['activityStartedEventDetails'] for x in h if x['type'] == 'ActivityStarted'][0]
            out['again'] = err(c.send_task_success, taskToken=task['taskToken'], output='{}')
            # A long poll that is waiting when the task arrives gets it.
            import threading
            got = {}
            def poll():
                got['t'] = c.get_activity_task(activityArn=act, workerName='w2')
            th = threading.Thread(target=poll); th.start(); time.sleep(0.5)
            e2 = c.start_execution(stateMachineArn=m, name='two', input='{"job": 2}')['executionArn']
            th.join(10)
            out['polled'] = json.loads(got['t']['input'])
            c.send_task_failure(taskToken=got['t']['taskToken'], error='Worker.Refused', cause='busy')
            d2 = wait(e2)
            out['failed'] = [d2['status'], d2['error'], d2['cause'], [x['type'] for x in history(e2)][-2:]]
            # Heartbeat timeout after a worker took it.
            hb = machine('hb', act, HeartbeatSeconds=1, TimeoutSeconds=60)
            e3 = c.start_execution(stateMachineArn=hb, name='three')['executionArn']
            c.get_activity_task(activityArn=act, workerName='w3')
            d3 = wait(e3, 100)
            out['hb'] = [d3['status'], d3.get('error'), [x['type'] for x in history(e3)][-2:]]
            # An activity that is not there: the definition is accepted, the schedule fails.
            ghost = machine('ghost', 'arn:aws:states:us-east-1:000000000000:activity:ghost')
            d4 = wait(c.start_execution(stateMachineArn=ghost)['executionArn'])
            out['ghost'] = [d4['status'], d4['error']]
            out['pollGhost'] = err(c.get_activity_task, activityArn='arn:aws:states:us-east-1:000000000000:activity:ghost')
            out['express'] = err(c.create_state_machine, name='fast', type='EXPRESS', roleArn=role, definition=json.dumps(
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": act, "End": True}}}))
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        #expect(out["empty"] as? NSArray == ["", 60] as NSArray)
        #expect(out["input"] as? NSDictionary == ["job": 1] as NSDictionary)
        #expect(out["status"] as? NSArray == ["SUCCEEDED", ["job": 1, "answer": ["ok": true]]] as NSArray)
        #expect(out["types"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted", "ActivitySucceeded",
                                              "TaskStateExited", "ExecutionSucceeded"])
        #expect(out["scheduled"] as? NSDictionary == ["resource": "arn:aws:states:us-east-1:000000000000:activity:review", "input": #"{"job":1}"#,
                                                      "inputDetails": ["truncated": false], "timeoutInSeconds": 60] as NSDictionary)
        #expect(out["started"] as? NSDictionary == ["workerName": "w1"] as NSDictionary)
        #expect(out["again"] as? String == "TaskTimedOut: Task Timed Out: 'Provided task does not exist anymore'")
        #expect(out["polled"] as? NSDictionary == ["job": 2] as NSDictionary)
        #expect(out["failed"] as? NSArray == ["FAILED", "Worker.Refused", "busy", ["ActivityFailed", "ExecutionFailed"]] as NSArray)
        #expect(out["hb"] as? NSArray == ["FAILED", "States.HeartbeatTimeout", ["ActivityTimedOut", "ExecutionFailed"]] as NSArray)
        #expect(out["ghost"] as? [String] == ["FAILED", "States.Runtime"])
        #expect((out["pollGhost"] as? String)?.hasPrefix("ActivityDoesNotExist: ") == true, "\(out["pollGhost"] ?? "")")
        #expect((out["express"] as? String)?.contains("Express state machine does not support Activity ARN") == true, "\(out["express"] ?? "")")
    }

    @Test("kill -9: an activity task no worker took is delivered after the restart; a taken one's token still completes it")
    func crashWithPendingTasks() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-activity-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let first = daemon.python(Self.prelude + "\n" + #"""
            act = c.create_activity(name='jobs')['activityArn']
            m = machine('m', act)
            taken = c.start_execution(stateMachineArn=m, name='taken', input='{"n": 1}')['executionArn']
            t = c.get_activity_task(activityArn=act, workerName='before')
            waiting = c.start_execution(stateMachineArn=m, name='waiting', input='{"n": 2}')['executionArn']
            time.sleep(0.5)
            print(json.dumps({'token': t['taskToken'], 'input': json.loads(t['input'])}))
            """#)
        #expect(first.status == 0, "\(first.stderr)")
        guard let before = first.stdoutJSON, let token = before["token"] as? String else { Issue.record("no output: \(first.stderr)"); return }
        #expect(before["input"] as? NSDictionary == ["n": 1] as NSDictionary)
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let second = daemon.python(Self.prelude + "\n" + #"""
            act = 'arn:aws:states:us-east-1:000000000000:activity:jobs'
            ex = 'arn:aws:states:us-east-1:000000000000:execution:m:'
            out = {}
            t = c.get_activity_task(activityArn=act, workerName='after')
            out['delivered'] = json.loads(t['input'])
            c.send_task_success(taskToken=t['taskToken'], output='{"w": 2}')
            c.send_task_success(taskToken=os.environ.get('TOKEN', 'TOKEN_HERE'), output='{"w": 1}')
            out['taken'] = json.loads(wait(ex + 'taken')['output'])
            out['waiting'] = json.loads(wait(ex + 'waiting')['output'])
            out['workers'] = [x['activityStartedEventDetails']['workerName'] for x in history(ex + 'waiting') if x['type'] == 'ActivityStarted']
            print(json.dumps(out))
            """#.replacingOccurrences(of: "os.environ.get('TOKEN', 'TOKEN_HERE')", with: "'\(token)'"))
        #expect(second.status == 0, "\(second.stderr)")
        guard let out = second.stdoutJSON else { Issue.record("no output: \(second.stderr)"); return }
        #expect(out["delivered"] as? NSDictionary == ["n": 2] as NSDictionary)
        #expect(out["taken"] as? NSDictionary == ["n": 1, "answer": ["w": 1]] as NSDictionary)
        #expect(out["waiting"] as? NSDictionary == ["n": 2, "answer": ["w": 2]] as NSDictionary)
        #expect(out["workers"] as? [String] == ["after"])
    }
}
