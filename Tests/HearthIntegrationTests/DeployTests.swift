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

        // First deploy: a layer, two functions, an alias, an event invoke config and a schedule.
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
        let eic = daemon.aws(["lambda", "get-function-event-invoke-config", "--function-name", "sam-demo-WorkerFunction"])
        #expect(eic.stdoutJSON?["MaximumRetryAttempts"] as? Int == 0, "\(eic.stderr)")
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
        let timeout = daemon.aws(["lambda", "get-function-configuration", "--function-name", "sam-demo-WorkerFunction"]).stdoutJSON?["Timeout"] as? Int
        #expect(timeout == 10)
        let described = hearth(daemon, ["stack", "describe", "sam-demo"], in: folder)
        #expect(described.stdoutText.contains("UPDATE_ROLLBACK_COMPLETE"), "\(described.stdoutText)")
        #expect((try invokeHello(daemon, folder: folder))["version"] as? String == "2")

        // Removing a resource removes it (and its schedule).
        let removed = original.replacingOccurrences(of: "          WORKER: !Ref WorkerFunction\n", with: "")
            .replacingOccurrences(of: "  WorkerName:\n    Value: !Ref WorkerFunction\n", with: "")
        let workerStart = try #require(removed.range(of: "  WorkerFunction:\n"))
        let workerEnd = try #require(removed.range(of: "\nOutputs:"))
        try (String(removed[..<workerStart.lowerBound]) + String(removed[workerEnd.lowerBound...])).write(toFile: template, atomically: true, encoding: .utf8)
        let third = hearth(daemon, ["deploy"] + stack, in: folder)
        #expect(third.status == 0, "\(third.stdoutText) \(third.stderr)")
        #expect(third.stdoutText.contains("Remove  WorkerFunction"), "\(third.stdoutText)")
        #expect(daemon.aws(["lambda", "get-function", "--function-name", "sam-demo-WorkerFunction"]).status != 0)
        #expect(daemon.aws(["scheduler", "get-schedule", "--name", "sam-demo-WorkerFunctionTick"]).status != 0)

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
        #expect(hearth(daemon, ["stack", "delete", "skip"], in: folder).status == 0)
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("triggers: an HTTP API route, a Function URL, a queue with a mapping and a DLQ, a state machine calling two functions; each once, then delete")
    func triggers() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-sam-\(UUID().uuidString.prefix(8))").path
        #expect(Harness.run("/bin/cp", ["-r", Harness.packageRoot + "/Tests/Fixtures/sam-triggers", folder]).status == 0)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let deployed = hearth(daemon, ["deploy", "--stack-name", "trig"], in: folder)
        #expect(deployed.status == 0, "\(deployed.stdoutText) \(deployed.stderr)")
        let outputs = try #require(hearth(daemon, ["stack", "outputs", "trig", "--json"], in: folder).stdoutJSON)
        let hello = try #require(outputs["HelloUrl"] as? String)
        #expect(hello.hasPrefix("http://") && hello.hasSuffix(".execute-api.localhost:\(daemon.port)/hello/hearth"), "\(hello)")
        let functionURL = try #require(outputs["ApiFunctionUrl"] as? String)
        #expect(functionURL.contains(".lambda-url.us-east-1.localhost:\(daemon.port)"), "\(functionURL)")
        let r = daemon.python("""
            import boto3, json, os, time, urllib.parse, urllib.request
            def get(url):
                u = urllib.parse.urlparse(url)
                req = urllib.request.Request('http://127.0.0.1:%d%s' % (u.port, u.path or '/'), headers={'Host': u.netloc})
                return json.loads(urllib.request.urlopen(req, timeout=60).read())
            out = {'http': get('\(hello)'), 'url': get('\(functionURL)')}
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            sqs.send_message(QueueUrl='\(outputs["QueueUrl"] as? String ?? "")', MessageBody='job-1')
            sfn = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            e = sfn.start_execution(stateMachineArn='\(outputs["FlowArn"] as? String ?? "")', input=json.dumps({'order': 7}))
            for _ in range(300):
                d = sfn.describe_execution(executionArn=e['executionArn'])
                if d['status'] != 'RUNNING': break
                time.sleep(0.1)
            out['flow'] = [d['status'], json.loads(d.get('output', 'null'))]
            print(json.dumps(out))
            """)
        #expect(r.status == 0, "\(r.stdoutText) \(r.stderr)")
        let out = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        #expect((out["http"] as? [String: Any])?["name"] as? String == "hearth")
        #expect((out["http"] as? [String: Any])?["path"] as? String == "/hello/hearth")
        #expect((out["url"] as? [String: Any])?["path"] as? String == "/")
        let flow = out["flow"] as? [Any]
        #expect(flow?.first as? String == "SUCCEEDED", "\(flow ?? [])")
        let flowOutput = flow?.last as? [String: Any]
        #expect(flowOutput?["step"] as? String == "api")
        #expect((flowOutput?["input"] as? [String: Any])?["step"] as? String == "worker")
        var consumed = false
        for _ in 0..<100 {
            if hearth(daemon, ["logs", "trig-Worker"], in: folder).stdoutText.contains("worker-record job-1") { consumed = true; break }
            usleep(100_000)
        }
        #expect(consumed, "the queue's message did not reach the Worker through the mapping")

        let deleted = hearth(daemon, ["stack", "delete", "trig"], in: folder)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let left = daemon.python("""
            import boto3, json, os
            e = os.environ['ENDPOINT']
            print(json.dumps([len(boto3.client('sqs', endpoint_url=e).list_queues().get('QueueUrls', [])),
                              len(boto3.client('apigatewayv2', endpoint_url=e).get_apis()['Items']),
                              len(boto3.client('stepfunctions', endpoint_url=e).list_state_machines()['stateMachines']),
                              len(boto3.client('lambda', endpoint_url=e).list_event_source_mappings()['EventSourceMappings']),
                              len(boto3.client('lambda', endpoint_url=e).list_functions()['Functions'])]))
            """)
        #expect(left.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "[0, 0, 0, 0, 0]", "\(left.stdoutText) \(left.stderr)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
