import Foundation
import HearthServer
import Testing

/// `hearth deploy` end to end: Examples/sam deployed on `hearth serve` with real sandboxes, then
/// redeployed unchanged, with one function changed, with a resource removed, with a failing
/// resource (rolled back), and deleted.
@Suite("hearth deploy", .serialized, .requiresRoot)
struct DeployTests {
    /// A copy of Examples/sam to change freely.
    static func exampleCopy() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-sam-\(UUID().uuidString.prefix(8))").path
        let copied = Harness.run("/bin/cp", ["-r", Harness.packageRoot + "/Examples/sam", folder])
        guard copied.status == 0 else { throw ClientError("cp: \(copied.stderr)") }
        return folder
    }

    func hearth(_ daemon: ServeDaemon, _ arguments: [String], in folder: String) -> Harness.Result {
        Harness.run("/usr/bin/env", ["-C", folder, Harness.hearth] + arguments + ["--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath],
                    timeout: 180)
    }

    func invokeHello(_ daemon: ServeDaemon, folder: String) throws -> [String: Any] {
        let out = folder + "/out.json"
        let r = daemon.aws(["lambda", "invoke", "--function-name", "sam-demo-HelloFunction", "--qualifier", "live"] + daemon.payload(#"{"name":"hearth"}"#) + [out])
        guard r.status == 0 else { throw ClientError("invoke: \(r.stderr)") }
        let response = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any] ?? [:]
        let body = (response["body"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return body ?? ["raw": response]
    }

    func revision(_ daemon: ServeDaemon, _ name: String) -> String? {
        daemon.aws(["lambda", "get-function-configuration", "--function-name", name]).stdoutJSON?["RevisionId"] as? String
    }

    @Test("deploy, redeploy unchanged, change one function, remove a resource, roll back a failure, delete: nothing left")
    func lifecycle() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let folder = try Self.exampleCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let stack = ["--stack-name", "sam-demo"]

        // A dry run of a new stack adds everything and changes nothing.
        let dry = hearth(daemon, ["deploy", "--dry-run"] + stack, in: folder)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdoutText.contains("Add     HelloFunction AWS::Serverless::Function"), "\(dry.stdoutText)")
        #expect(daemon.aws(["lambda", "list-functions"]).stdoutJSON?["Functions"] as? [Any] == nil
                || (daemon.aws(["lambda", "list-functions"]).stdoutJSON?["Functions"] as? [Any])?.isEmpty == true)

        // First deploy: a layer, two functions, an alias, an event invoke config, a schedule, an HTTP
        // API route, a Function URL, two queues and a mapping, a state machine.
        let first = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(first.status == 0, "\(first.stdoutText)\n\(first.stderr)")
        #expect(first.stdoutText.contains("CREATE_COMPLETE"), "\(first.stdoutText)")
        #expect(first.stdoutText.contains("HelloAlias = arn:aws:lambda:us-east-1:000000000000:function:sam-demo-HelloFunction:live"), "\(first.stdoutText)")
        let hello = try invokeHello(daemon, folder: folder)
        #expect(hello["message"] as? String == "hello, hearth")
        #expect(hello["stage"] as? String == "dev")
        #expect(hello["worker"] as? String == "sam-demo-WorkerFunction")
        #expect(hello["version"] as? String == "1")
        let schedule = daemon.aws(["scheduler", "get-schedule", "--name", "sam-demo-WorkerFunctionTick"])
        #expect(schedule.status == 0, "\(schedule.stderr)")
        #expect((schedule.stdoutJSON?["Target"] as? [String: Any])?["Arn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:sam-demo-WorkerFunction")
        let nightly = daemon.aws(["scheduler", "get-schedule", "--name", "sam-demo-OrderFlowNightly"])
        #expect((nightly.stdoutJSON?["Target"] as? [String: Any])?["Arn"] as? String == "arn:aws:states:us-east-1:000000000000:stateMachine:sam-demo-OrderFlow",
                "a state machine's ScheduleV2 event: \(nightly.stdoutText) \(nightly.stderr)")
        let eic = daemon.aws(["lambda", "get-function-event-invoke-config", "--function-name", "sam-demo-WorkerFunction"])
        #expect(eic.stdoutJSON?["MaximumRetryAttempts"] as? Int == 0, "\(eic.stderr)")
        let workerConfig = daemon.aws(["lambda", "get-function-configuration", "--function-name", "sam-demo-WorkerFunction"]).stdoutJSON
        #expect((workerConfig?["DeadLetterConfig"] as? [String: Any])?["TargetArn"] as? String == "arn:aws:sqs:us-east-1:000000000000:sam-demo-FailedEventsQueue",
                "SAM's DeadLetterQueue is Lambda's DeadLetterConfig: \(workerConfig ?? [:])")
        let worker = daemon.aws(["lambda", "invoke", "--function-name", "sam-demo-WorkerFunction"] + daemon.payload(#"{"source":"test"}"#) + [folder + "/w.json"])
        #expect(worker.status == 0 && worker.stdoutJSON?["FunctionError"] == nil, "\(worker.stdoutText) \(worker.stderr)")
        let workerRevision = revision(daemon, "sam-demo-WorkerFunction")

        // Unchanged: nothing is touched.
        let again = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdoutText.contains("(0 changed"), "\(again.stdoutText)")

        // One function's code changes: only it changes, and the alias moves to a new version.
        let app = folder + "/hello/app.py"
        try String(contentsOfFile: app, encoding: .utf8).replacingOccurrences(of: "shared.greeting(", with: "\"v2 \" + shared.greeting(")
            .write(toFile: app, atomically: true, encoding: .utf8)
        let planned = hearth(daemon, ["deploy", "--dry-run"] + stack, in: folder)
        let modified = planned.stdoutText.split(separator: "\n").filter { $0.contains("Modify") }
        #expect(modified.count == 1 && modified.first?.contains("HelloFunction AWS::Serverless::Function (CodeUri content)") == true, "\(planned.stdoutText)")
        let second = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdoutText.contains("(1 changed"), "\(second.stdoutText)")
        let hello2 = try invokeHello(daemon, folder: folder)
        #expect(hello2["message"] as? String == "v2 hello, hearth")
        #expect(hello2["version"] as? String == "2")
        #expect(revision(daemon, "sam-demo-WorkerFunction") == workerRevision)

        // A failure on the last resource rolls the whole deploy back.
        let template = folder + "/template.yaml"
        let original = try String(contentsOfFile: template, encoding: .utf8)
        let broken = original.replacingOccurrences(of: "    Timeout: 10\n", with: "    Timeout: 20\n")
            .replacingOccurrences(of: "\nOutputs:", with: """

              Broken:
                Type: AWS::Scheduler::Schedule
                DependsOn: [WorkerFunction]
                Properties:
                  ScheduleExpression: cron(not valid)
                  FlexibleTimeWindow: {Mode: "OFF"}
                  Target: {Arn: !GetAtt WorkerFunction.Arn, RoleArn: arn:aws:iam::000000000000:role/r}

            Outputs:
            """)
        try broken.write(toFile: template, atomically: true, encoding: .utf8)
        let failed = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(failed.status == 1, "\(failed.stdoutText) \(failed.stderr)")
        #expect(failed.stderr.contains("Resource Broken failed: "), "\(failed.stderr)")
        #expect(failed.stderr.contains("ValidationException"), "\(failed.stderr)")
        let timeout = daemon.aws(["lambda", "get-function-configuration", "--function-name", "sam-demo-HelloFunction"]).stdoutJSON?["Timeout"] as? Int
        #expect(timeout == 10)
        let described = hearth(daemon, ["stack", "describe", "sam-demo"], in: folder)
        #expect(described.stdoutText.contains("UPDATE_ROLLBACK_COMPLETE"), "\(described.stdoutText)")
        #expect((try invokeHello(daemon, folder: folder))["version"] as? String == "2")

        // Removing a resource removes it; removing an event removes what it made (the schedule).
        let flowStart = try #require(original.range(of: "  # A workflow:"))
        let flowEnd = try #require(original.range(of: "\nOutputs:"))
        let tick = "        Tick:\n          Type: ScheduleV2\n          Properties:\n            ScheduleExpression: rate(1 minute)\n            Input: '{\"source\": \"schedule\"}'\n"
        #expect(original.contains(tick))
        let removed = (String(original[..<flowStart.lowerBound]) + String(original[flowEnd.lowerBound...]))
            .replacingOccurrences(of: tick, with: "")
            .replacingOccurrences(of: "  OrderFlowArn:\n    Value: !Ref OrderFlow\n", with: "")
        try removed.write(toFile: template, atomically: true, encoding: .utf8)
        let third = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(third.status == 0, "\(third.stdoutText) \(third.stderr)")
        #expect(third.stdoutText.contains("Remove  OrderFlow"), "\(third.stdoutText)")
        #expect(daemon.aws(["stepfunctions", "describe-state-machine", "--state-machine-arn",
                            "arn:aws:states:us-east-1:000000000000:stateMachine:sam-demo-OrderFlow"]).status != 0)
        #expect(daemon.aws(["scheduler", "get-schedule", "--name", "sam-demo-WorkerFunctionTick"]).status != 0)
        #expect(daemon.aws(["scheduler", "get-schedule", "--name", "sam-demo-OrderFlowNightly"]).status != 0, "the state machine's schedule goes with it")
        #expect((try invokeHello(daemon, folder: folder))["version"] as? String == "2")

        // Delete: nothing left.
        let deleted = hearth(daemon, ["stack", "delete", "sam-demo"], in: folder)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect((daemon.aws(["lambda", "list-functions"]).stdoutJSON?["Functions"] as? [Any])?.isEmpty == true)
        #expect((daemon.aws(["lambda", "list-layers"]).stdoutJSON?["Layers"] as? [Any])?.isEmpty == true)
        #expect((daemon.aws(["scheduler", "list-schedules"]).stdoutJSON?["Schedules"] as? [Any])?.isEmpty == true)
        #expect(!hearth(daemon, ["stack", "list"], in: folder).stdoutText.contains("sam-demo"))
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("unsupported resource types and bad templates are refused before anything changes, with CloudFormation's messages")
    func refusals() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let folder = try Self.exampleCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let template = folder + "/template.yaml"
        let original = try String(contentsOfFile: template, encoding: .utf8)
        try original.replacingOccurrences(of: "\nOutputs:", with: "\n  Table:\n    Type: AWS::DynamoDB::Table\n\nOutputs:")
            .write(toFile: template, atomically: true, encoding: .utf8)
        let refused = hearth(daemon, ["deploy", "--stack-name", "bad"], in: folder)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("Unrecognized resource types: [Table (AWS::DynamoDB::Table)]"), "\(refused.stderr)")
        #expect((daemon.aws(["lambda", "list-functions"]).stdoutJSON?["Functions"] as? [Any])?.isEmpty == true)

        try original.replacingOccurrences(of: "!Ref WorkerFunction\n", with: "!Ref NoSuchThing\n").write(toFile: template, atomically: true, encoding: .utf8)
        let dangling = hearth(daemon, ["deploy", "--stack-name", "bad"], in: folder)
        #expect(dangling.status == 2)
        #expect(dangling.stderr.contains("Unresolved resource dependencies [NoSuchThing] in the Resources block of the template"), "\(dangling.stderr)")

        try original.write(toFile: template, atomically: true, encoding: .utf8)
        let badParameter = hearth(daemon, ["deploy", "--stack-name", "bad", "--parameter-overrides", "Stage=qa"], in: folder)
        #expect(badParameter.stderr.contains("Parameter 'Stage' must be one of AllowedValues"), "\(badParameter.stderr)")
        #expect((daemon.aws(["lambda", "list-functions"]).stdoutJSON?["Functions"] as? [Any])?.isEmpty == true)

        // --skip-unsupported deploys the rest and says what it skipped; prod's MemorySize through the condition.
        try original.replacingOccurrences(of: "\nOutputs:", with: "\n  Table:\n    Type: AWS::DynamoDB::Table\n\nOutputs:")
            .write(toFile: template, atomically: true, encoding: .utf8)
        let skipped = hearth(daemon, ["deploy", "--stack-name", "skip", "--skip-unsupported", "--parameter-overrides", "Stage=prod"], in: folder)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("skipped (--skip-unsupported)"), "\(skipped.stderr)")
        let memory = daemon.aws(["lambda", "get-function-configuration", "--function-name", "skip-WorkerFunction"]).stdoutJSON?["MemorySize"] as? Int
        #expect(memory == 512)
        // Prod also provisions one instance of HelloFunction's alias (SAM's ProvisionedConcurrencyConfig).
        let provisioned = daemon.aws(["lambda", "get-provisioned-concurrency-config", "--function-name", "skip-HelloFunction", "--qualifier", "live"])
        #expect(provisioned.stdoutJSON?["RequestedProvisionedConcurrentExecutions"] as? Int == 1, "\(provisioned.stdoutText) \(provisioned.stderr)")
        let devProvisioned = daemon.aws(["lambda", "list-provisioned-concurrency-configs", "--function-name", "skip-HelloFunction"])
        #expect((devProvisioned.stdoutJSON?["ProvisionedConcurrencyConfigs"] as? [Any])?.count == 1)
        // Back to dev: the provisioned concurrency goes with the condition.
        let dev = hearth(daemon, ["deploy", "--stack-name", "skip", "--skip-unsupported"], in: folder)
        #expect(dev.status == 0, "\(dev.stderr)")
        let none = daemon.aws(["lambda", "list-provisioned-concurrency-configs", "--function-name", "skip-HelloFunction"])
        #expect((none.stdoutJSON?["ProvisionedConcurrencyConfigs"] as? [Any])?.isEmpty == true, "\(none.stdoutText)")
        #expect(hearth(daemon, ["stack", "delete", "skip"], in: folder).status == 0)
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("Examples/sam's triggers: the HTTP API route, the Function URL, the queue with its mapping and DLQ, the workflow calling two functions; each once, then delete")
    func triggers() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let folder = try Self.exampleCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let deployed = hearth(daemon, ["deploy", "--stack-name", "trig"], in: folder)
        #expect(deployed.status == 0, "\(deployed.stdoutText) \(deployed.stderr)")
        let outputs = try #require(hearth(daemon, ["stack", "outputs", "trig", "--json"], in: folder).stdoutJSON)
        let hello = try #require(outputs["HelloApi"] as? String)
        #expect(hello.hasPrefix("http://") && hello.hasSuffix(".execute-api.localhost:\(daemon.port)/hello/hearth"), "\(hello)")
        let functionURL = try #require(outputs["HelloFunctionUrl"] as? String)
        #expect(functionURL.contains(".lambda-url.us-east-1.localhost:\(daemon.port)"), "\(functionURL)")
        let r = daemon.python("""
            import boto3, json, os, time, urllib.parse, urllib.request
            def get(url):
                u = urllib.parse.urlparse(url)
                req = urllib.request.Request('http://127.0.0.1:%d%s' % (u.port, u.path or '/'), headers={'Host': u.netloc})
                return json.loads(urllib.request.urlopen(req, timeout=60).read())
            out = {'http': get('\(hello)'), 'url': get('\(functionURL)')}
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            sqs.send_message(QueueUrl='\(outputs["JobsQueueUrl"] as? String ?? "")', MessageBody='job-1')
            sqs.send_message(QueueUrl='\(outputs["JobsQueueUrl"] as? String ?? "")', MessageBody='fail')
            sfn = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            e = sfn.start_execution(stateMachineArn='\(outputs["OrderFlowArn"] as? String ?? "")', input=json.dumps({'order': 7, 'customer': 'ada'}))
            for _ in range(300):
                d = sfn.describe_execution(executionArn=e['executionArn'])
                if d['status'] != 'RUNNING': break
                time.sleep(0.1)
            out['flow'] = [d['status'], json.loads(d.get('output', 'null'))]
            # The failing message: received twice (reported as a failed item each time), then in the DLQ.
            dlq = sqs.get_queue_url(QueueName='trig-JobsDeadLetterQueue')['QueueUrl']
            out['dlq'] = []
            for _ in range(40):
                got = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=['All'], AttributeNames=['All'])
                if got.get('Messages'):
                    out['dlq'] = [m['Body'] for m in got['Messages']]
                    break
            # An asynchronous event that fails: no retries (EventInvokeConfig), then the function's DLQ.
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            lam.invoke(FunctionName='trig-WorkerFunction', InvocationType='Event', Payload=json.dumps({'fail': True}))
            failed = sqs.get_queue_url(QueueName='trig-FailedEventsQueue')['QueueUrl']
            out['failed'] = None
            for _ in range(30):
                got = sqs.receive_message(QueueUrl=failed, WaitTimeSeconds=1, MessageAttributeNames=['All'])
                if got.get('Messages'):
                    m = got['Messages'][0]
                    out['failed'] = [m['Body'], sorted(m.get('MessageAttributes', {}))]
                    break
            print(json.dumps(out))
            """)
        #expect(r.status == 0, "\(r.stdoutText) \(r.stderr)")
        let out = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        let failed = out["failed"] as? [Any]
        #expect(failed?.first as? String == #"{"fail": true}"#, "the failed event in the function's DLQ: \(out)")
        #expect(failed?.last as? [String] == ["ErrorCode", "ErrorMessage", "RequestID"], "\(out)")
        #expect((out["http"] as? [String: Any])?["message"] as? String == "hello, hearth")
        #expect((out["http"] as? [String: Any])?["path"] as? String == "/hello/hearth")
        #expect((out["url"] as? [String: Any])?["message"] as? String == "hello, world")
        #expect((out["url"] as? [String: Any])?["path"] as? String == "/")
        let flow = out["flow"] as? [Any]
        #expect(flow?.first as? String == "SUCCEEDED", "\(flow ?? [])")
        let greeting = (flow?.last as? [String: Any])?["greeting"] as? [String: Any]
        #expect(greeting?["message"] as? String == "hello, ada", "\(flow ?? [])")
        #expect(greeting?["version"] as? String == "1", "the workflow calls the alias")
        #expect(out["dlq"] as? [String] == ["fail"], "\(out)")
        let logs = hearth(daemon, ["logs", "trig-WorkerFunction"], in: folder).stdoutText
        #expect(logs.contains("worker-record job-1"), "the queue's message did not reach the worker through the mapping")
        #expect(logs.contains("worker-event {\"customer\": \"ada\", \"order\": 7}"), "the workflow's first step")
        #expect(logs.components(separatedBy: "worker-record fail").count - 1 == 2, "the failing message is received twice, then dead-lettered")

        let deleted = hearth(daemon, ["stack", "delete", "trig"], in: folder)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let left = daemon.python("""
            import boto3, json, os
            e = os.environ['ENDPOINT']
            print(json.dumps([len(boto3.client('sqs', endpoint_url=e).list_queues().get('QueueUrls', [])),
                              len(boto3.client('apigatewayv2', endpoint_url=e).get_apis()['Items']),
                              len(boto3.client('stepfunctions', endpoint_url=e).list_state_machines()['stateMachines']),
                              len(boto3.client('lambda', endpoint_url=e).list_event_source_mappings()['EventSourceMappings']),
                              len(boto3.client('lambda', endpoint_url=e).list_functions()['Functions']),
                              len(boto3.client('scheduler', endpoint_url=e).list_schedules()['Schedules'])]))
            """)
        #expect(left.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "[0, 0, 0, 0, 0, 0]", "\(left.stdoutText) \(left.stderr)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("building like sam build: requirements.txt installed by pip from a local wheel (offline), cached by its hash; BuildMethod makefile with ARTIFACTS_DIR; BuildMethod swift through hearth package")
    func builds() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-sam-build-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for sub in ["pip", "make", "wheels"] { try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true) }
        try """
            Transform: AWS::Serverless-2016-10-31
            Resources:
              PipFunction:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: pip/, Handler: app.handler, Runtime: python3.11}
              MadeFunction:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: make/, Handler: made.handler, Runtime: python3.11}
                Metadata: {BuildMethod: makefile}
              SwiftFunction:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: \(Harness.packageRoot)/Examples/swift, Handler: swift-echo, Runtime: provided.al2023}
                Metadata: {BuildMethod: swift}
            """.write(toFile: folder + "/template.yaml", atomically: true, encoding: .utf8)
        try "hearthtiny==1.0\n".write(toFile: folder + "/pip/requirements.txt", atomically: true, encoding: .utf8)
        try "import hearthtiny\n\ndef handler(event, context):\n    return {'tiny': hearthtiny.VALUE}\n"
            .write(toFile: folder + "/pip/app.py", atomically: true, encoding: .utf8)
        try "build-MadeFunction:\n\tprintf 'def handler(event, context):\\n    return {\"made\": \"by make\"}\\n' > $(ARTIFACTS_DIR)/made.py\n"
            .write(toFile: folder + "/make/Makefile", atomically: true, encoding: .utf8)
        // A wheel made here, so pip needs no index (the tests run offline).
        let wheel = Harness.run("/usr/bin/env", ["python3", "-c", """
            import zipfile, sys
            with zipfile.ZipFile(sys.argv[1] + '/hearthtiny-1.0-py3-none-any.whl', 'w') as z:
                z.writestr('hearthtiny/__init__.py', 'VALUE = "from a wheel"\\n')
                z.writestr('hearthtiny-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: hearthtiny\\nVersion: 1.0\\n')
                z.writestr('hearthtiny-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: hearth-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
                z.writestr('hearthtiny-1.0.dist-info/RECORD', '')
            """, folder + "/wheels"])
        #expect(wheel.status == 0, "\(wheel.stderr)")
        func deploy() -> Harness.Result {
            Harness.run("/usr/bin/env", ["-C", folder, "PIP_NO_INDEX=1", "PIP_FIND_LINKS=\(folder)/wheels", Harness.hearth, "deploy", "--stack-name", "built",
                                         "--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath], timeout: 900)
        }
        let first = deploy()
        #expect(first.status == 0, "\(first.stdoutText) \(first.stderr)")
        #expect(first.stderr.contains("with pip (cached as .hearth/deps/"), "\(first.stderr)")
        #expect(first.stderr.contains("make build-MadeFunction"), "\(first.stderr)")
        #expect(first.stderr.contains("swift package product swift-echo"), "\(first.stderr)")
        let echoed = daemon.aws(["lambda", "invoke", "--function-name", "built-SwiftFunction"] + daemon.payload(#"{"swift":"built"}"#) + [folder + "/swift.json"])
        #expect(echoed.status == 0 && echoed.stdoutJSON?["FunctionError"] == nil, "\(echoed.stdoutText) \(echoed.stderr)")
        #expect((try? String(contentsOfFile: folder + "/swift.json", encoding: .utf8)) == #"{"swift":"built"}"#)
        for (function, key, value) in [("built-PipFunction", "tiny", "from a wheel"), ("built-MadeFunction", "made", "by make")] {
            let out = folder + "/\(function).json"
            let r = daemon.aws(["lambda", "invoke", "--function-name", function, out])
            #expect(r.status == 0 && r.stdoutJSON?["FunctionError"] == nil, "\(function): \(r.stdoutText) \(r.stderr)")
            let result = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out)))) as? [String: Any]
            #expect(result?[key] as? String == value, "\(function): \(result ?? [:])")
        }
        // Changed code, same requirements: the dependencies come from the cache, not pip.
        try "import hearthtiny\n\ndef handler(event, context):\n    return {'tiny': hearthtiny.VALUE + ' again'}\n"
            .write(toFile: folder + "/pip/app.py", atomically: true, encoding: .utf8)
        let second = deploy()
        #expect(second.status == 0, "\(second.stdoutText) \(second.stderr)")
        #expect(!second.stderr.contains("with pip"), "the requirements' hash is cached: \(second.stderr)")
        #expect(second.stdoutText.contains("(1 changed"), "\(second.stdoutText)")
        let out = folder + "/again.json"
        #expect(daemon.aws(["lambda", "invoke", "--function-name", "built-PipFunction", out]).status == 0)
        #expect(((try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out)))) as? [String: Any])?["tiny"] as? String == "from a wheel again")
        // A failing make: the deploy stops with make's output and exit status.
        try "build-MadeFunction:\n\t@echo make-says-no >&2; exit 3\n".write(toFile: folder + "/make/Makefile", atomically: true, encoding: .utf8)
        try "# changed\n".write(toFile: folder + "/make/extra.txt", atomically: true, encoding: .utf8)
        let failed = deploy()
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("make-says-no") && failed.stderr.contains("exit 2"), "\(failed.stderr)")
        #expect(Harness.run("/usr/bin/env", ["-C", folder, Harness.hearth, "stack", "delete", "built", "--endpoint", daemon.endpoint,
                                             "--credentials", daemon.credentialsPath]).status == 0)
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
