import Foundation
import HearthServer
import Testing

/// The EventBridge Scheduler API through boto3's `scheduler` client and the aws CLI, against
/// `hearth serve` on the shared listener: shapes, validation messages and errors.
@Suite("scheduler API", .serialized, .requiresRoot)
struct SchedulerAPITests {
    @Test("boto3 scheduler: create/get/update/list/delete schedules, groups (default; deleting one deletes its schedules), tags, errors")
    func boto3() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let r = daemon.python(#"""
            import boto3, json, os
            c = boto3.client('scheduler', endpoint_url=os.environ['ENDPOINT'])
            fn = 'arn:aws:lambda:us-east-1:000000000000:function:work'
            role = 'arn:aws:iam::000000000000:role/r'
            def err(f, **kw):
                try:
                    f(**kw)
                except c.exceptions.ClientError as e:
                    return e.response['Error']['Code'] + ': ' + e.response['Error']['Message']
                return 'no error'
            out = {}
            a = c.create_schedule(Name='nightly', ScheduleExpression='cron(0 3 ? * MON-FRI *)', ScheduleExpressionTimezone='Europe/Paris',
                                  FlexibleTimeWindow={'Mode': 'OFF'}, StartDate=1893456000,
                                  Target={'Arn': fn, 'RoleArn': role, 'Input': '{"k":1}', 'RetryPolicy': {'MaximumRetryAttempts': 3, 'MaximumEventAgeInSeconds': 3600}})
            out['arn'] = a['ScheduleArn']
            g = c.get_schedule(Name='nightly')
            out['get'] = {k: (str(v) if k in ('StartDate', 'CreationDate', 'LastModificationDate') else v) for k, v in g.items() if k != 'ResponseMetadata'}
            out['startYear'] = g['StartDate'].year
            out['dup'] = err(c.create_schedule, Name='nightly', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            out['badcron'] = err(c.create_schedule, Name='bad', ScheduleExpression='cron(0 12 * * * *)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            out['badtz'] = err(c.create_schedule, Name='bad', ScheduleExpression='rate(5 minutes)', ScheduleExpressionTimezone='Mars/Olympus', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            out['sqs'] = err(c.create_schedule, Name='tosqs', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': 'arn:aws:sqs:us-east-1:000000000000:q', 'RoleArn': role})
            c.delete_schedule(Name='tosqs')
            out['dlq'] = [err(c.create_schedule, Name='withdlq', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role, 'DeadLetterConfig': {'Arn': 'arn:aws:sqs:us-east-1:000000000000:dlq'}}),
                          c.get_schedule(Name='withdlq')['Target'].get('DeadLetterConfig'), c.delete_schedule(Name='withdlq') and 'deleted']
            out['baddlq'] = err(c.create_schedule, Name='bad', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role, 'DeadLetterConfig': {'Arn': 'arn:aws:lambda:us-east-1:000000000000:function:work'}})
            out['nofn'] = err(c.create_schedule, Name='bad', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn + 'x', 'RoleArn': role})
            out['badinput'] = err(c.create_schedule, Name='bad', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role, 'Input': '{not json'})
            out['flex'] = err(c.create_schedule, Name='bad', ScheduleExpression='rate(5 minutes)', FlexibleTimeWindow={'Mode': 'FLEXIBLE'}, Target={'Arn': fn, 'RoleArn': role})
            out['missing'] = err(c.get_schedule, Name='nope')
            c.update_schedule(Name='nightly', ScheduleExpression='rate(1 hour)', FlexibleTimeWindow={'Mode': 'FLEXIBLE', 'MaximumWindowInMinutes': 5}, State='DISABLED', Target={'Arn': fn, 'RoleArn': role})
            u = c.get_schedule(Name='nightly')
            out['updated'] = [u['ScheduleExpression'], u['State'], u['FlexibleTimeWindow'], 'Input' in u['Target'], 'StartDate' in u, u['Target']['RetryPolicy']]
            out['updmissing'] = err(c.update_schedule, Name='nope', ScheduleExpression='rate(1 hour)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            c.create_schedule_group(Name='team', Tags=[{'Key': 'owner', 'Value': 'ops'}])
            out['groupdup'] = err(c.create_schedule_group, Name='team')
            for i in range(5):
                c.create_schedule(Name='job-%d' % i, GroupName='team', ScheduleExpression='at(2030-01-01T00:00:00)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            c.create_schedule(Name='other', GroupName='team', ScheduleExpression='rate(1 day)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            out['nogroup'] = err(c.create_schedule, Name='x', GroupName='ghost', ScheduleExpression='rate(1 day)', FlexibleTimeWindow={'Mode': 'OFF'}, Target={'Arn': fn, 'RoleArn': role})
            pages = [[s['Name'] for s in p['Schedules']] for p in c.get_paginator('list_schedules').paginate(GroupName='team', NamePrefix='job-', PaginationConfig={'PageSize': 2})]
            out['pages'] = pages
            out['disabled'] = [s['Name'] for s in c.list_schedules(State='DISABLED')['Schedules']]
            s0 = c.list_schedules(NamePrefix='other')['Schedules'][0]
            out['summary'] = sorted(s0.keys())
            out['summaryTarget'] = s0['Target']
            out['groups'] = [(x['Name'], x['State'], x['Arn']) for x in c.list_schedule_groups()['ScheduleGroups']]
            out['getgroup'] = c.get_schedule_group(Name='team')['Arn']
            garn = 'arn:aws:scheduler:us-east-1:000000000000:schedule-group/team'
            c.tag_resource(ResourceArn=garn, Tags=[{'Key': 'env', 'Value': 'dev'}])
            out['tags'] = c.list_tags_for_resource(ResourceArn=garn)['Tags']
            c.untag_resource(ResourceArn=garn, TagKeys=['owner', 'env'])
            out['untagged'] = c.list_tags_for_resource(ResourceArn=garn)['Tags']
            out['deldefault'] = err(c.delete_schedule_group, Name='default')
            c.delete_schedule_group(Name='team')
            out['aftergroup'] = [s['Name'] for s in c.list_schedules()['Schedules']]
            out['groupgone'] = err(c.get_schedule_group, Name='team')
            c.delete_schedule(Name='nightly')
            out['delmissing'] = err(c.delete_schedule, Name='nightly')
            print(json.dumps(out))
            """#)
        #expect(r.status == 0, "\(r.stderr)")
        let out = try #require(r.stdoutJSON, "\(r.stdoutText) \(r.stderr)")
        #expect(out["arn"] as? String == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly")
        let get = out["get"] as? [String: Any] ?? [:]
        #expect(get["Name"] as? String == "nightly" && get["GroupName"] as? String == "default" && get["State"] as? String == "ENABLED")
        #expect(get["ScheduleExpression"] as? String == "cron(0 3 ? * MON-FRI *)" && get["ScheduleExpressionTimezone"] as? String == "Europe/Paris")
        #expect(get["ActionAfterCompletion"] as? String == "NONE")
        let target = get["Target"] as? [String: Any] ?? [:]
        #expect(target["Input"] as? String == #"{"k":1}"# && (target["RetryPolicy"] as? [String: Any])?["MaximumRetryAttempts"] as? Int == 3)
        #expect(out["startYear"] as? Int == 2030)
        #expect(out["dup"] as? String == "ConflictException: Schedule nightly already exists.")
        #expect(out["badcron"] as? String == "ValidationException: Invalid Schedule Expression cron(0 12 * * * *).")
        #expect(out["badtz"] as? String == "ValidationException: Invalid ScheduleExpressionTimezone Mars/Olympus.")
        #expect(out["sqs"] as? String == "no error", "\(out["sqs"] ?? "")")
        let dlq = out["dlq"] as? [Any]
        #expect(dlq?.first as? String == "no error" && (dlq?[1] as? [String: String])?["Arn"] == "arn:aws:sqs:us-east-1:000000000000:dlq", "\(dlq ?? [])")
        #expect((out["baddlq"] as? String)?.hasPrefix("ValidationException: 1 validation error detected: Value at 'target.deadLetterConfig.arn'") == true)
        #expect((out["nofn"] as? String)?.contains("does not exist") == true)
        #expect((out["badinput"] as? String)?.hasPrefix("ValidationException: Invalid RequestJson") == true)
        #expect((out["flex"] as? String)?.hasPrefix("ValidationException:") == true)
        #expect(out["missing"] as? String == "ResourceNotFoundException: Schedule nope does not exist.")
        let updated = out["updated"] as? [Any] ?? []
        #expect(updated.count == 6)
        #expect(updated.first as? String == "rate(1 hour)" && updated.dropFirst().first as? String == "DISABLED")
        #expect((updated.dropFirst(2).first as? [String: Any])?["MaximumWindowInMinutes"] as? Int == 5)
        #expect(updated.dropFirst(3).first as? Bool == false && updated.dropFirst(4).first as? Bool == false, "full replace drops Input and StartDate")
        #expect((updated.last as? [String: Any])?["MaximumRetryAttempts"] as? Int == 185)
        #expect((out["updmissing"] as? String)?.hasPrefix("ResourceNotFoundException") == true)
        #expect((out["groupdup"] as? String)?.hasPrefix("ConflictException") == true)
        #expect((out["nogroup"] as? String)?.hasPrefix("ResourceNotFoundException") == true)
        #expect(out["pages"] as? [[String]] == [["job-0", "job-1"], ["job-2", "job-3"], ["job-4"]])
        #expect(out["disabled"] as? [String] == ["nightly"])
        #expect(out["summary"] as? [String] == ["Arn", "CreationDate", "GroupName", "LastModificationDate", "Name", "State", "Target"])
        #expect((out["summaryTarget"] as? [String: Any])?["Arn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:work")
        let groups = out["groups"] as? [[String]] ?? []
        #expect(groups.map { $0.first ?? "" } == ["default", "team"] && groups.allSatisfy { $0.dropFirst().first == "ACTIVE" })
        #expect(out["getgroup"] as? String == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/team")
        #expect((out["tags"] as? [[String: String]]) == [["Key": "env", "Value": "dev"], ["Key": "owner", "Value": "ops"]])
        #expect((out["untagged"] as? [[String: String]]) == [])
        #expect((out["deldefault"] as? String)?.hasPrefix("ValidationException") == true)
        #expect(out["aftergroup"] as? [String] == ["nightly"])
        #expect((out["groupgone"] as? String)?.hasPrefix("ResourceNotFoundException") == true)
        #expect((out["delmissing"] as? String)?.hasPrefix("ResourceNotFoundException") == true)
    }

    @Test("aws scheduler CLI: create-schedule, get-schedule, list-schedules, delete-schedule")
    func cli() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        for cli in ServeDaemon.awsCLIs {
            let create = daemon.aws(cli: cli, ["scheduler", "create-schedule", "--name", "every-five", "--schedule-expression", "rate(5 minutes)",
                                               "--flexible-time-window", "Mode=OFF",
                                               "--target", #"{"Arn":"arn:aws:lambda:us-east-1:000000000000:function:work","RoleArn":"arn:aws:iam::000000000000:role/r"}"#])
            #expect(create.status == 0, "\(cli): \(create.stderr)")
            #expect(create.stdoutJSON?["ScheduleArn"] as? String == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/every-five")
            let get = daemon.aws(cli: cli, ["scheduler", "get-schedule", "--name", "every-five"])
            #expect(get.stdoutJSON?["ScheduleExpression"] as? String == "rate(5 minutes)", "\(cli): \(get.stderr)")
            let list = daemon.aws(cli: cli, ["scheduler", "list-schedules"])
            #expect((list.stdoutJSON?["Schedules"] as? [[String: Any]])?.map { $0["Name"] as? String } == ["every-five"], "\(cli): \(list.stderr)")
            let bad = daemon.aws(cli: cli, ["scheduler", "create-schedule", "--name", "bad", "--schedule-expression", "rate(1 minutes)",
                                            "--flexible-time-window", "Mode=OFF",
                                            "--target", #"{"Arn":"arn:aws:lambda:us-east-1:000000000000:function:work","RoleArn":"arn:aws:iam::000000000000:role/r"}"#])
            #expect(bad.status != 0 && bad.stderr.contains("ValidationException") && bad.stderr.contains("Invalid Schedule Expression rate(1 minutes)."), "\(cli): \(bad.stderr)")
            let delete = daemon.aws(cli: cli, ["scheduler", "delete-schedule", "--name", "every-five"])
            #expect(delete.status == 0, "\(cli): \(delete.stderr)")
        }
    }
}
