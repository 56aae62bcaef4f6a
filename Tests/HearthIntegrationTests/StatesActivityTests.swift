import Foundation
import HearthServer
import Testing

/// Step Functions activities end to end (ADR 0028): CreateActivity/Describe/List/Delete and
/// their tags through boto3 and the aws CLI against `hearth serve`, errors as AWS, and
/// activities that survive kill -9 of the supervisor.
@Suite("step functions activities end to end", .serialized, .requiresRoot)
struct StatesActivityTests {
    static let prelude = #"""
        import boto3, json, os, time
        c = boto3.client('stepfunctions', endpoint_url=os.environ['ENDPOINT'])
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

    @Test("aws CLI: create-activity, describe-activity, list-activities, delete-activity")
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
}
