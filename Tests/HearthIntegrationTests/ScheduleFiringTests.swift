import Foundation
import HearthServer
import Testing

/// Schedules firing end to end: `hearth serve` with real sandboxes, boto3 and the aws CLI,
/// the probe function counting its runs, and a kill -9 with occurrences pending and running.
@Suite("schedule firing end to end", .serialized, .requiresRoot)
struct ScheduleFiringTests {
    static let fn = "arn:aws:lambda:us-east-1:000000000000:function:work"
    static let role = "arn:aws:iam::000000000000:role/r"

    /// The schedule's firings (`GET /hearth/schedules/{group}/{name}/firings`).
    static func firings(_ daemon: ServeDaemon, _ name: String, group: String = "default") async throws -> [[String: Any]] {
        let response = try await daemon.client().send("GET", "/hearth/schedules/\(group)/\(name)/firings")
        return (try JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["Firings"] as? [[String: Any]] ?? []
    }

    static func marks(_ daemon: ServeDaemon) async throws -> [String] {
        try await AsyncInvokeTests.events(daemon, "work").compactMap { $0.event["mark"] as? String }
    }

    @Test("boto3: an at() a few seconds ahead fires the function once, at its time, with Input's context attributes substituted, then deletes itself")
    func atFiresOnce() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(#"""
            import boto3, json, os, time, datetime
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=3)
            inp = '{"mark":"once","arn":"<aws.scheduler.schedule-arn>","t":"<aws.scheduler.scheduled-time>","n":"<aws.scheduler.attempt-number>","id":"<aws.scheduler.execution-id>"}'
            arn = c.create_schedule(Name='soon', ScheduleExpression='at(%s)' % at.strftime('%Y-%m-%dT%H:%M:%S'), FlexibleTimeWindow={'Mode': 'OFF'},
                                    ActionAfterCompletion='DELETE', Target={'Arn': '\#(Self.fn)', 'RoleArn': '\#(Self.role)', 'Input': inp})['ScheduleArn']
            print(json.dumps({'arn': arn, 'at': at.strftime('%Y-%m-%dT%H:%M:%SZ'), 'atMs': int(at.timestamp() * 1000)}))
            """#)
        let created = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        #expect(try await Self.firings(daemon, "soon").count == 1, "the occurrence is planted at creation")
        let fired = try await AsyncInvokeTests.waitFor(20) { try await Self.marks(daemon).contains("once") }
        #expect(fired)
        try await Task.sleep(for: .seconds(2))
        let runs = try await AsyncInvokeTests.events(daemon, "work").filter { $0.event["mark"] as? String == "once" }
        #expect(runs.count == 1, "fired once: \(runs.count)")
        let event = try #require(runs.first)
        #expect(event.event["arn"] as? String == created["arn"] as? String)
        #expect(event.event["t"] as? String == created["at"] as? String && event.event["n"] as? String == "1")
        #expect((event.event["id"] as? String)?.count == 16)
        #expect(event.at >= (created["atMs"] as? NSNumber)?.int64Value ?? .max, "not before its time")
        let gone = daemon.python("""
            import boto3, os
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            try:
                c.get_schedule(Name='soon'); print('still there')
            except c.exceptions.ResourceNotFoundException:
                print('deleted')
            """)
        #expect(gone.stdoutText.contains("deleted"), "ActionAfterCompletion DELETE: \(gone.stdoutText) \(gone.stderr)")
        #expect(try await Self.firings(daemon, "soon").isEmpty)

        let group = daemon.python(#"""
            import boto3, os
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            c.create_schedule_group(Name='team')
            c.create_schedule(Name='daily', GroupName='team', ScheduleExpression='rate(1 day)', StartDate=2000000000, FlexibleTimeWindow={'Mode': 'OFF'},
                              Target={'Arn': '\#(Self.fn)', 'RoleArn': '\#(Self.role)'})
            """#)
        #expect(group.status == 0, "\(group.stderr)")
        let planted = try await Self.firings(daemon, "daily", group: "team")
        #expect((planted.first?["DueAt"] as? NSNumber)?.int64Value == 2_000_000_000_000, "the first occurrence is StartDate: \(planted)")
        let deleted = daemon.python("""
            import boto3, os
            boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT']).delete_schedule_group(Name='team')
            """)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try await Self.firings(daemon, "daily", group: "team").isEmpty, "DeleteScheduleGroup removes its schedules' pending occurrences")
    }

    @Test("boto3: an at() schedule whose target is a state machine starts one execution, named by the occurrence's execution id, with Input as its input")
    func stateMachineTarget() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(#"""
            import boto3, json, os, time, datetime
            e = os.environ['ENDPOINT']
            sfn = boto3.client('stepfunctions', endpoint_url=e)
            m = sfn.create_state_machine(name='nightly', roleArn='\#(Self.role)', definition=json.dumps(
                {'StartAt': 'Work', 'States': {'Work': {'Type': 'Task', 'Resource': '\#(Self.fn)', 'End': True}}}))['stateMachineArn']
            c = boto3.client('scheduler', endpoint_url=e)
            try:
                c.create_schedule(Name='bad', ScheduleExpression='rate(1 hour)', FlexibleTimeWindow={'Mode': 'OFF'},
                                  Target={'Arn': 'arn:aws:states:us-east-1:000000000000:activity:x', 'RoleArn': '\#(Self.role)'})
                bad = 'accepted'
            except c.exceptions.ValidationException as error:
                bad = str(error)
            at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=3)
            c.create_schedule(Name='flow', ScheduleExpression='at(%s)' % at.strftime('%Y-%m-%dT%H:%M:%S'), FlexibleTimeWindow={'Mode': 'OFF'},
                              Target={'Arn': m, 'RoleArn': '\#(Self.role)', 'Input': '{"mark":"flow","id":"<aws.scheduler.execution-id>"}'})
            runs = []
            for _ in range(200):
                runs = sfn.list_executions(stateMachineArn=m)['executions']
                if runs and runs[0]['status'] != 'RUNNING':
                    break
                time.sleep(0.1)
            time.sleep(1.5)
            runs = sfn.list_executions(stateMachineArn=m)['executions']
            d = sfn.describe_execution(executionArn=runs[0]['executionArn']) if runs else {}
            print(json.dumps({'bad': bad, 'count': len(runs), 'name': runs[0]['name'] if runs else None, 'status': d.get('status'),
                              'input': json.loads(d.get('input', 'null')), 'output': json.loads(d.get('output', 'null'))}))
            """#)
        let out = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        #expect((out["bad"] as? String)?.contains("not a state machine ARN") == true, "\(out)")
        #expect(out["count"] as? Int == 1, "one execution per occurrence: \(out)")
        #expect(out["status"] as? String == "SUCCEEDED", "\(out)")
        let input = out["input"] as? [String: Any]
        #expect(input?["mark"] as? String == "flow")
        #expect(input?["id"] as? String == out["name"] as? String, "the execution is named by the occurrence's execution id: \(out)")
        #expect((out["name"] as? String)?.count == 16)
        #expect(try await Self.marks(daemon).contains("flow"), "the workflow's task ran the function")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("aws CLI: rate() fires at creation and plants the next minute; disable removes it, enable plants it, delete removes it")
    func rateFromCLI() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let target = #"{"Arn":"\#(Self.fn)","RoleArn":"\#(Self.role)","Input":"{\"mark\":\"tick-<aws.scheduler.scheduled-time>\"}"}"#
        let create = daemon.aws(["scheduler", "create-schedule", "--name", "every", "--schedule-expression", "rate(1 minute)",
                                 "--flexible-time-window", #"{"Mode":"OFF"}"#, "--target", target])
        #expect(create.status == 0, "\(create.stderr)")
        let fired = try await AsyncInvokeTests.waitFor(20) { try await Self.marks(daemon).contains { $0.hasPrefix("tick-") } }
        #expect(fired, "rate() without StartDate fires at creation")
        let pending = try await Self.firings(daemon, "every")
        #expect(pending.count == 1 && pending.first?["State"] as? String == "available", "\(pending)")
        let first = try #require(try await Self.marks(daemon).first { $0.hasPrefix("tick-") })
        let firstMs = try #require(ISO8601DateFormatter().date(from: String(first.dropFirst(5)))).timeIntervalSince1970 * 1000
        #expect((pending.first?["DueAt"] as? NSNumber)?.doubleValue == firstMs + 60_000, "the next minute: \(pending)")

        let disable = daemon.aws(["scheduler", "update-schedule", "--name", "every", "--schedule-expression", "rate(1 minute)",
                                  "--flexible-time-window", #"{"Mode":"OFF"}"#, "--target", target, "--state", "DISABLED"])
        #expect(disable.status == 0, "\(disable.stderr)")
        #expect(try await Self.firings(daemon, "every").isEmpty, "DISABLED: nothing pending")
        let enable = daemon.aws(["scheduler", "update-schedule", "--name", "every", "--schedule-expression", "rate(1 minute)",
                                 "--flexible-time-window", #"{"Mode":"OFF"}"#, "--target", target, "--state", "ENABLED"])
        #expect(enable.status == 0, "\(enable.stderr)")
        #expect(try await Self.firings(daemon, "every").count == 1, "enabling plants the next occurrence")
        let delete = daemon.aws(["scheduler", "delete-schedule", "--name", "every"])
        #expect(delete.status == 0, "\(delete.stderr)")
        #expect(try await Self.firings(daemon, "every").isEmpty, "DeleteSchedule removes pending occurrences")
        #expect(try await Self.marks(daemon).filter { $0.hasPrefix("tick-") }.count == 1)

        let old = daemon.aws(["scheduler", "create-schedule", "--name", "late", "--schedule-expression", "rate(1 hour)",
                              "--start-date", "2020-01-01T00:00:00Z", "--flexible-time-window", #"{"Mode":"OFF"}"#, "--target", target])
        #expect(old.status != 0 && old.stderr.contains("The StartDate you specify cannot be earlier than 5 minutes ago."), "\(old.stderr)")
    }

    @Test("kill -9 with occurrences pending and running: after a restart every occurrence fired; only those running at the kill may run twice")
    func crashAndRestart() async throws {
        let first = try ServeDaemon(extra: ["--prefork", "0"])
        let state = first.stateDirectory
        defer { first.crash() }
        try await first.createProbe("work")
        let r = first.python(#"""
            import boto3, json, os, datetime
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=2)
            for i in range(6):
                at = base + datetime.timedelta(seconds=i)
                c.create_schedule(Name='job-%d' % i, ScheduleExpression='at(%s)' % at.strftime('%Y-%m-%dT%H:%M:%S'), FlexibleTimeWindow={'Mode': 'OFF'},
                                  Target={'Arn': '\#(Self.fn)', 'RoleArn': '\#(Self.role)', 'Input': json.dumps({'cmd': 'sleep', 'ms': 1500, 'mark': 'job-%d' % i})})
            print(json.dumps({'last': int((base + datetime.timedelta(seconds=5)).timestamp() * 1000)}))
            """#)
        let last = try #require((r.stdoutJSON?["last"] as? NSNumber)?.doubleValue, "\(r.stdoutText) \(r.stderr)")
        // Kill once job-0 has finished (its log is written when a run ends): job-1 is running then.
        let running = try await AsyncInvokeTests.waitFor(20) { try await Self.marks(first).contains("job-0") }
        #expect(running)
        first.crash()
        let before = AsyncInvokeTests.loggedRuns(state: state, function: "work")
        #expect(before < 6, "the kill must come with occurrences still pending (\(before) had run)")
        // Stay down past the last occurrence: those missed are younger than MaximumEventAgeInSeconds.
        let wait = last / 1000 - Date().timeIntervalSince1970 + 1
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }

        let second = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { second.stop(); second.removeState() }
        let all = try await AsyncInvokeTests.waitFor(30) { Set(try await Self.marks(second)).count == 6 }
        try await Task.sleep(for: .seconds(2))
        let marks = try await Self.marks(second)
        #expect(all, "every occurrence fired: \(Set(marks).sorted())")
        var counts: [String: Int] = [:]
        for mark in marks { counts[mark, default: 0] += 1 }
        let twice = counts.filter { $0.value > 1 }.map(\.key).sorted()
        // What the dead supervisor held (occurrences and invocations running at the kill) is
        // recovered, and only those can run twice.
        let recovered = second.log.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: "hearth: recovered ") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }.reduce(0, +)
        #expect(counts.values.allSatisfy { $0 <= 2 })
        #expect(twice.count <= recovered, "a duplicate only for what was running at the kill (at-least-once): twice \(twice), recovered \(recovered)")
        for name in (0..<6).map({ "job-\($0)" }) {
            #expect(try await Self.firings(second, name).isEmpty, "\(name) has nothing pending")
        }
        print("schedule crash: \(before) run(s) had finished before kill -9, \(recovered) item(s) recovered; after restart all 6 fired, \(twice.count) twice")
    }

    @Test("kill -9 while occurrences start state machine executions: after a restart each occurrence has exactly one execution, and all succeed")
    func stateMachineTargetCrash() async throws {
        let first = try ServeDaemon(extra: ["--prefork", "0"])
        let state = first.stateDirectory
        defer { first.crash() }
        try await first.createProbe("work")
        let r = first.python(#"""
            import boto3, json, os, datetime
            e = os.environ['ENDPOINT']
            sfn = boto3.client('stepfunctions', endpoint_url=e)
            m = sfn.create_state_machine(name='flow', roleArn='\#(Self.role)', definition=json.dumps(
                {'StartAt': 'Work', 'States': {'Work': {'Type': 'Task', 'Resource': '\#(Self.fn)', 'End': True}}}))['stateMachineArn']
            c = boto3.client('scheduler', endpoint_url=e)
            base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=2)
            for i in range(6):
                at = base + datetime.timedelta(seconds=i)
                c.create_schedule(Name='flow-%d' % i, ScheduleExpression='at(%s)' % at.strftime('%Y-%m-%dT%H:%M:%S'), FlexibleTimeWindow={'Mode': 'OFF'},
                                  Target={'Arn': m, 'RoleArn': '\#(Self.role)',
                                          'Input': json.dumps({'cmd': 'sleep', 'ms': 1500, 'mark': 'flow-%d' % i, 'id': '<aws.scheduler.execution-id>'})})
            print(json.dumps({'arn': m, 'last': int((base + datetime.timedelta(seconds=5)).timestamp() * 1000)}))
            """#)
        let created = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        let machine = try #require(created["arn"] as? String)
        let last = try #require((created["last"] as? NSNumber)?.doubleValue)
        // Kill once the first execution's task has finished: the next occurrences are starting
        // executions or running them then.
        let running = try await AsyncInvokeTests.waitFor(20) { try await Self.marks(first).contains("flow-0") }
        #expect(running)
        first.crash()
        let wait = last / 1000 - Date().timeIntervalSince1970 + 1
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }

        let second = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { second.stop(); second.removeState() }
        let out = second.python(#"""
            import boto3, json, os, time
            sfn = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
            runs = []
            for _ in range(300):
                runs = sfn.list_executions(stateMachineArn='\#(machine)')['executions']
                if len(runs) >= 6 and all(x['status'] != 'RUNNING' for x in runs):
                    break
                time.sleep(0.1)
            time.sleep(1)
            runs = sfn.list_executions(stateMachineArn='\#(machine)')['executions']
            inputs = [json.loads(sfn.describe_execution(executionArn=x['executionArn'])['input']) for x in runs]
            print(json.dumps({'names': [x['name'] for x in runs], 'statuses': [x['status'] for x in runs],
                              'marks': [i['mark'] for i in inputs], 'ids': [i['id'] for i in inputs]}))
            """#)
        let result = try #require(out.stdoutJSON, "\(out.stdoutText) \(out.stderr)")
        let marks = (result["marks"] as? [String] ?? []).sorted()
        #expect(marks == (0..<6).map { "flow-\($0)" }, "exactly one execution per occurrence: \(result)")
        #expect((result["statuses"] as? [String] ?? []).allSatisfy { $0 == "SUCCEEDED" }, "\(result)")
        #expect(result["names"] as? [String] == result["ids"] as? [String], "each execution is named by its occurrence: \(result)")
        for name in (0..<6).map({ "flow-\($0)" }) {
            #expect(try await Self.firings(second, name).isEmpty, "\(name) has nothing pending")
        }
        #expect(Set(try await Self.marks(second)) == Set((0..<6).map { "flow-\($0)" }), "every execution's task ran the function")
    }

    @Test("a deleted function: retried per RetryPolicy, then sent to the DeadLetterConfig queue with Scheduler's attributes; the next occurrence stays planted")
    func retryThenDeadLetter() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        // The first occurrence is StartDate, 3 s ahead; the function is deleted before it.
        let r = daemon.python(#"""
            import boto3, json, os, datetime
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            boto3.client('sqs', endpoint_url=os.environ['ENDPOINT']).create_queue(QueueName='dlq')
            start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
            c.create_schedule(Name='orphan', ScheduleExpression='rate(1 hour)', StartDate=start, FlexibleTimeWindow={'Mode': 'OFF'},
                              Target={'Arn': '\#(Self.fn)', 'RoleArn': '\#(Self.role)', 'RetryPolicy': {'MaximumRetryAttempts': 1, 'MaximumEventAgeInSeconds': 60},
                                      'DeadLetterConfig': {'Arn': 'arn:aws:sqs:us-east-1:000000000000:dlq'}})
            print(json.dumps({'ok': True}))
            """#)
        #expect(r.stdoutJSON?["ok"] as? Bool == true, "\(r.stdoutText) \(r.stderr)")
        #expect(try await daemon.client().send("DELETE", "/2015-03-31/functions/work").status == 204)
        let failed = try await AsyncInvokeTests.waitFor(20) {
            try await Self.firings(daemon, "orphan").contains { $0["State"] as? String == "failed" }
        }
        #expect(failed)
        let firings = try await Self.firings(daemon, "orphan")
        let record = try #require(firings.first { $0["State"] as? String == "failed" })
        let reason = record["LastError"] as? String ?? ""
        #expect(reason.hasPrefix("ResourceNotFoundException: Function not found: \(Self.fn) (after 2 attempt(s); MaximumRetryAttempts exhausted)"), "\(reason)")
        #expect(reason.hasSuffix("; sent to the dead-letter queue arn:aws:sqs:us-east-1:000000000000:dlq"), "\(reason)")
        #expect(firings.filter { $0["State"] as? String == "available" && $0["Action"] as? String == "fire" }.count == 1, "the next hour is planted: \(firings)")
        let dead = daemon.python(#"""
            import boto3, json, os
            q = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = q.get_queue_url(QueueName='dlq')['QueueUrl']
            m = q.receive_message(QueueUrl=url, MessageAttributeNames=['All'], WaitTimeSeconds=5)['Messages'][0]
            print(json.dumps({k: v['StringValue'] for k, v in m['MessageAttributes'].items()}))
            """#)
        let attributes = try #require(dead.stdoutJSON, "\(dead.stdoutText) \(dead.stderr)")
        #expect(attributes["ERROR_CODE"] as? String == "ResourceNotFoundException", "\(attributes)")
        #expect(attributes["TARGET_ARN"] as? String == Self.fn)
        #expect(attributes["SCHEDULE_ARN"] as? String == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/orphan")
    }
}
