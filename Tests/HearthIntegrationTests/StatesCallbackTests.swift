import Foundation
import HearthServer
import Testing

/// The callback pattern end to end, with boto3 as the external worker: `.waitForTaskToken`
/// tasks on a real Lambda function (the probe echoes its event, token included) and on an SQS
/// queue of the same daemon; SendTaskSuccess/Failure/Heartbeat and their errors; a heartbeat
/// timeout; tokens and timeouts that survive kill -9 of the supervisor.
@Suite("step functions callbacks end to end", .serialized, .requiresRoot)
struct StatesCallbackTests {
    /// Python helpers shared by the scripts: `err`, `wait` (until not RUNNING), `history`,
    /// `submitted` (waits for TaskSubmitted and returns its output).
    static let prelude = #"""
        import base64, boto3, hashlib, json, os, time
        c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
        sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
        role = 'arn:aws:iam::000000000000:role/sfn'
        def err(f, **kw):
            try:
                f(**kw)
            except c.exceptions.ClientError as e:
                return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
            return 'no error'
        def wait(arn, seconds=30):
            deadline = time.time() + seconds
            while time.time() < deadline:
                d = c.describe_execution(executionArn=arn)
                if d['status'] != 'RUNNING':
                    return d
                time.sleep(0.1)
            return d
        def history(arn):
            return c.get_execution_history(executionArn=arn, maxResults=1000)['events']
        def submitted(arn, seconds=30):
            deadline = time.time() + seconds
            while time.time() < deadline:
                for x in history(arn):
                    if x['type'] == 'TaskSubmitted':
                        return json.loads(x['taskSubmittedEventDetails']['output'])
                time.sleep(0.1)
            return None
        def machine(name, definition, **kw):
            return c.create_state_machine(name=name, roleArn=role, definition=json.dumps(definition), **kw)['stateMachineArn']
        """#

    @Test("boto3: lambda:invoke.waitForTaskToken + send_task_success; sqs:sendMessage.waitForTaskToken + send_task_failure caught; sqs:sendMessage; heartbeat timeout; errors as AWS")
    func callbacks() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(Self.prelude + "\n" + #"""
            out = {}
            # 1. A Lambda function gets the token (the probe echoes its event); the test is the worker.
            lam = machine('lam', {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "job.$": "$.job", "token.$": "$$.Task.Token"}},
                "ResultPath": "$.answer", "End": True}}})
            e = c.start_execution(stateMachineArn=lam, name='one', input='{"job": 1}')['executionArn']
            sub = submitted(e)
            token = sub['Payload']['token']
            out['functionGot'] = [sub['StatusCode'], sub['Payload']['job'], sub['Payload']['cmd']]
            sched = [x for x in history(e) if x['type'] == 'TaskScheduled'][0]['taskScheduledEventDetails']
            out['scheduled'] = [sched['resourceType'], sched['resource'], json.loads(sched['parameters'])['Payload']['token'] == token]
            time.sleep(0.5)
            out['stillRunning'] = c.describe_execution(executionArn=e)['status']
            out['heartbeat'] = c.send_task_heartbeat(taskToken=token)['ResponseMetadata']['HTTPStatusCode']
            out['badOutput'] = err(c.send_task_success, taskToken=token, output='not json')
            c.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
            d = wait(e)
            out['lamStatus'] = d['status']
            out['lamOutput'] = json.loads(d['output'])
            h = history(e)
            out['lamTypes'] = [x['type'] for x in h]
            out['succeeded'] = [x['taskSucceededEventDetails'] for x in h if x['type'] == 'TaskSucceeded'][0]
            out['again'] = err(c.send_task_success, taskToken=token, output='{}')
            out['againFailure'] = err(c.send_task_failure, taskToken=token, error='E')
            out['againHeartbeat'] = err(c.send_task_heartbeat, taskToken=token)
            out['garbage'] = err(c.send_task_success, taskToken='garbage', output='{}')
            forged = base64.b64encode(b'hearth-task-token-1\narn:aws:states:us-east-1:000000000000:execution:lam:nobody\ntask-1\n00').decode()
            out['unknown'] = err(c.send_task_success, taskToken=forged, output='{}')
            # 2. A message on a queue carries the token; the worker refuses; Catch routes it.
            q = sqs.create_queue(QueueName='jobs')['QueueUrl']
            sq = machine('sq', {"StartAt": "Send", "States": {
                "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                         "Parameters": {"QueueUrl": q, "MessageBody": {"job.$": "$.job", "token.$": "$$.Task.Token"},
                                        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "review"}}},
                         "Catch": [{"ErrorEquals": ["Worker.Refused"], "ResultPath": "$.refusal", "Next": "Refused"}], "End": True},
                "Refused": {"Type": "Pass", "End": True}}})
            e2 = c.start_execution(stateMachineArn=sq, name='two', input='{"job": 2}')['executionArn']
            msgs = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=10, MessageAttributeNames=['All']).get('Messages', [])
            body = json.loads(msgs[0]['Body'])
            out['message'] = [len(msgs), body['job'], msgs[0]['MessageAttributes']['kind']['StringValue']]
            c.send_task_failure(taskToken=body['token'], error='Worker.Refused', cause='no capacity')
            sqs.delete_message(QueueUrl=q, ReceiptHandle=msgs[0]['ReceiptHandle'])
            d2 = wait(e2)
            out['sqStatus'] = d2['status']
            out['sqOutput'] = json.loads(d2['output'])
            h2 = history(e2)
            out['sqTypes'] = [x['type'] for x in h2]
            subm = [json.loads(x['taskSubmittedEventDetails']['output']) for x in h2 if x['type'] == 'TaskSubmitted'][0]
            out['sqSubmitted'] = [subm['MessageId'] == msgs[0]['MessageId'], subm['MD5OfMessageBody'] == hashlib.md5(msgs[0]['Body'].encode()).hexdigest(),
                                  subm['SdkHttpMetadata']['HttpStatusCode'], 'RequestId' in subm['SdkResponseMetadata']]
            out['sqFailed'] = [x['taskFailedEventDetails'] for x in h2 if x['type'] == 'TaskFailed'][0]
            # 3. sqs:sendMessage, request-response: the state's result is SendMessage's response.
            plain = machine('plain', {"StartAt": "Send", "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": q, "MessageBody.$": "$.text"}, "End": True}}})
            d3 = wait(c.start_execution(stateMachineArn=plain, input='{"text": "hello"}')['executionArn'])
            res = json.loads(d3['output'])
            got = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)['Messages'][0]
            out['plain'] = [d3['status'], res['MessageId'] == got['MessageId'], res['MD5OfMessageBody'] == hashlib.md5(b'hello').hexdigest(), got['Body'],
                            res['SdkHttpMetadata']['HttpStatusCode']]
            nq = machine('noqueue', {"StartAt": "Send", "States": {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": q + "-missing", "MessageBody": "x"}, "End": True}}})
            d4 = wait(c.start_execution(stateMachineArn=nq)['executionArn'])
            out['noQueue'] = [d4['status'], d4['error']]
            # 4. Heartbeats keep a task alive; silence past HeartbeatSeconds times it out.
            hb = machine('hb', {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "token.$": "$$.Task.Token"}}, "HeartbeatSeconds": 2, "End": True}}})
            e5 = c.start_execution(stateMachineArn=hb, name='five')['executionArn']
            t5 = submitted(e5)['Payload']['token']
            started = time.time()
            for _ in range(6):
                time.sleep(0.7)
                c.send_task_heartbeat(taskToken=t5)
            out['aliveAfterHeartbeats'] = [c.describe_execution(executionArn=e5)['status'], round(time.time() - started)]
            d5 = wait(e5)
            out['hbStatus'] = [d5['status'], d5.get('error'), d5.get('cause')]
            h5 = history(e5)
            out['hbTypes'] = [x['type'] for x in h5][-3:]
            out['hbTimedOut'] = [x['taskTimedOutEventDetails'] for x in h5 if x['type'] == 'TaskTimedOut'][0]
            out['hbScheduled'] = [x['taskScheduledEventDetails'].get('heartbeatInSeconds') for x in h5 if x['type'] == 'TaskScheduled'][0]
            out['afterTimeout'] = err(c.send_task_success, taskToken=t5, output='{}')
            # 5. Definitions AWS refuses.
            out['noToken'] = err(c.create_state_machine, name='bad', roleArn=role, definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "work"}, "End": True}}}))
            out['express'] = err(c.create_state_machine, name='fast', type='EXPRESS', roleArn=role, definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "work", "Payload": {"t.$": "$$.Task.Token"}}, "End": True}}}))
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        guard let out = r.stdoutJSON else { Issue.record("no output: \(r.stdoutText) \(r.stderr)"); return }
        // 1. Lambda.
        #expect(out["functionGot"] as? [AnyHashable] == [200, 1, "echo"])
        #expect(out["scheduled"] as? NSArray == ["lambda", "invoke.waitForTaskToken", true] as NSArray)
        #expect(out["stillRunning"] as? String == "RUNNING")
        #expect(out["heartbeat"] as? Int == 200)
        #expect((out["badOutput"] as? String)?.hasPrefix("InvalidOutput: ") == true, "\(out["badOutput"] ?? "")")
        #expect(out["lamStatus"] as? String == "SUCCEEDED")
        #expect(out["lamOutput"] as? NSDictionary == ["job": 1, "answer": ["approved": true]] as NSDictionary)
        #expect(out["lamTypes"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                                                 "TaskStateExited", "ExecutionSucceeded"])
        #expect(out["succeeded"] as? NSDictionary == ["resourceType": "lambda", "resource": "invoke.waitForTaskToken", "output": #"{"approved":true}"#,
                                                      "outputDetails": ["truncated": false]] as NSDictionary)
        let timedOut = "TaskTimedOut: Task Timed Out: 'Provided task does not exist anymore'"
        #expect(out["again"] as? String == timedOut)
        #expect(out["againFailure"] as? String == timedOut)
        #expect(out["againHeartbeat"] as? String == timedOut)
        #expect(out["garbage"] as? String == "InvalidToken: Invalid Token: 'Invalid token'")
        #expect((out["unknown"] as? String)?.hasPrefix("TaskDoesNotExist: ") == true, "\(out["unknown"] ?? "")")
        // 2. SQS with a callback, failure caught.
        #expect(out["message"] as? [AnyHashable] == [1, 2, "review"])
        #expect(out["sqStatus"] as? String == "SUCCEEDED")
        #expect(out["sqOutput"] as? NSDictionary == ["job": 2, "refusal": ["Error": "Worker.Refused", "Cause": "no capacity"]] as NSDictionary)
        #expect(out["sqTypes"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed",
                                                "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"])
        #expect(out["sqSubmitted"] as? NSArray == [true, true, 200, true] as NSArray)
        #expect(out["sqFailed"] as? NSDictionary == ["resourceType": "sqs", "resource": "sendMessage.waitForTaskToken", "error": "Worker.Refused",
                                                     "cause": "no capacity"] as NSDictionary)
        // 3. Plain SQS.
        #expect(out["plain"] as? NSArray == ["SUCCEEDED", true, true, "hello", 200] as NSArray)
        #expect(out["noQueue"] as? [String] == ["FAILED", "SQS.QueueDoesNotExistException"])
        // 4. Heartbeats.
        #expect((out["aliveAfterHeartbeats"] as? [AnyHashable])?.first == "RUNNING" as AnyHashable, "\(out["aliveAfterHeartbeats"] ?? "")")
        #expect(out["hbStatus"] as? [String] == ["FAILED", "States.HeartbeatTimeout", ""])
        #expect(out["hbTypes"] as? [String] == ["TaskSubmitted", "TaskTimedOut", "ExecutionFailed"])
        #expect(out["hbTimedOut"] as? NSDictionary == ["resourceType": "lambda", "resource": "invoke.waitForTaskToken", "error": "States.HeartbeatTimeout",
                                                       "cause": ""] as NSDictionary)
        #expect(out["hbScheduled"] as? Int == 2)
        #expect(out["afterTimeout"] as? String == timedOut)
        // 5. Validation.
        #expect((out["noToken"] as? String)?.hasPrefix("InvalidDefinition: Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field 'Parameters' must reference the task token") == true,
                "\(out["noToken"] ?? "")")
        #expect(out["express"] as? String == "InvalidDefinition: Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support '.waitForTaskToken' service integration  at /States/A/Resource'")
    }

    /// kill -9 while two executions wait for their tokens: after the restart the first one's
    /// token still completes it, the second one's TimeoutSeconds still fires, and neither
    /// function ran again.
    @Test("kill -9 while waiting for a task token: send_task_success after the restart completes it; TimeoutSeconds still fires")
    func crashWhileWaiting() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-callback-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let first = daemon.python(Self.prelude + "\n" + #"""
            def ask(timeout):
                return {"StartAt": "Ask", "States": {"Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "work", "Payload": {"cmd": "echo", "mark.$": "$.mark", "token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": timeout, "ResultPath": "$.answer", "End": True}}}
            patient = machine('patient', ask(300))
            hasty = machine('hasty', ask(6))
            a = c.start_execution(stateMachineArn=patient, name='a', input='{"mark": "cb-a"}')['executionArn']
            b = c.start_execution(stateMachineArn=hasty, name='b', input='{"mark": "cb-b"}')['executionArn']
            ta = submitted(a)['Payload']['token']
            submitted(b)
            print(json.dumps({"a": a, "b": b, "token": ta, "started": time.time()}))
            """#)
        #expect(first.status == 0, "\(first.stderr)")
        guard let before = first.stdoutJSON, let token = before["token"] as? String, let started = before["started"] as? Double else {
            Issue.record("no output: \(first.stdoutText) \(first.stderr)")
            return
        }
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let second = daemon.python(Self.prelude + "\n" + #"""
            a, b, token = os.environ['A'], os.environ['B'], os.environ['TOKEN']
            out = {'aBefore': c.describe_execution(executionArn=a)['status']}
            c.send_task_success(taskToken=token, output=json.dumps({"after": "restart"}))
            da = wait(a)
            out['a'] = [da['status'], json.loads(da['output'])]
            out['aTypes'] = [x['type'] for x in history(a)]
            db = wait(b, 30)
            out['b'] = [db['status'], db.get('error'), db.get('cause')]
            out['bTypes'] = [x['type'] for x in history(b)][-3:]
            out['bStopped'] = db['stopDate'].timestamp()
            print(json.dumps(out))
            """#.replacingOccurrences(of: "os.environ['A'], os.environ['B'], os.environ['TOKEN']",
                                       with: "'\(before["a"] as? String ?? "")', '\(before["b"] as? String ?? "")', '\(token)'"))
        #expect(second.status == 0, "\(second.stderr)")
        guard let out = second.stdoutJSON else { Issue.record("no output: \(second.stdoutText) \(second.stderr)"); return }
        #expect(out["aBefore"] as? String == "RUNNING")
        #expect(out["a"] as? NSArray == ["SUCCEEDED", ["mark": "cb-a", "answer": ["after": "restart"]]] as NSArray)
        #expect(out["aTypes"] as? [String] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded",
                                               "TaskStateExited", "ExecutionSucceeded"])
        #expect(out["b"] as? [String] == ["FAILED", "States.Timeout", ""])
        #expect(out["bTypes"] as? [String] == ["TaskSubmitted", "TaskTimedOut", "ExecutionFailed"])
        // The timeout kept its deadline (6 s after the task started, not after the restart).
        if let stopped = out["bStopped"] as? Double { #expect(stopped - started < 12, "\(stopped - started)") }
        #expect(daemon.log.contains("resumed"), "\(daemon.log)")
        #expect(!daemon.log.contains("runs again after a crash"), "a submitted callback task is not run again: \(daemon.log)")
        // Each function ran once (its log has each mark once).
        let logs = (try? String(contentsOfFile: state + "/logs/work.log", encoding: .utf8)) ?? ""
        for mark in ["cb-a", "cb-b"] {
            #expect(logs.components(separatedBy: #"mark\":\"\#(mark)\""#).count - 1 == 1, "\(mark) in \(logs)")
        }
    }
}
