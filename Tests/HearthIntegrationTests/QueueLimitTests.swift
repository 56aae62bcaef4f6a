import Foundation
import HearthServer
import Testing

/// SQS's in-flight limit, retention with no receive and dead-letter moves through real clients
/// (boto3 on the JSON protocol, the aws CLIs on JSON and query), with the limit lowered to 50
/// and retention scaled by 0.05 (`--sqs-in-flight-limit`, `--sqs-retention-scale`; ADR 0024).
@Suite("SQS limits end to end", .serialized, .requiresRoot)
struct QueueLimitTests {
    @Test("boto3: the 51st receive at a limit of 50 fails with OverLimit (403); deletes and ended visibility timeouts make room; retention deletes with no receive; a DLQ message's count, SentTimestamp and source")
    func limits() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--sqs-in-flight-limit", "50", "--sqs-retention-scale", "0.05"])
        defer { daemon.stop(); daemon.removeState() }
        let script = #"""
            import boto3, json, os, time
            from botocore.exceptions import ClientError
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            out = {}
            def code(f):
                try:
                    f(); return None
                except ClientError as e:
                    return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
            url = sqs.create_queue(QueueName='limited', Attributes={'VisibilityTimeout': '4'})['QueueUrl']
            for b in range(6):
                sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'm%d-%d' % (b, i)} for i in range(10)])
            held = []
            for i in range(5):
                held += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)['Messages']
            out['held'] = len(held)
            out['over'] = code(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1))
            out['over_longpoll'] = code(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5))
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']
            out['counts'] = [a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible']]
            sqs.delete_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'ReceiptHandle': m['ReceiptHandle']} for i, m in enumerate(held[:5])])
            out['after_delete'] = len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', []))
            out['over_again'] = code(lambda: sqs.receive_message(QueueUrl=url))[0]
            time.sleep(4.5)
            out['after_expiry'] = len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120).get('Messages', []))
            for i in range(4):
                sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120)
            out['full'] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['ApproximateNumberOfMessagesNotVisible'])['Attributes']['ApproximateNumberOfMessagesNotVisible']

            # Retention: 60 s (the least a client may set) is 3 s here; nobody receives from 'short'.
            out['bad_retention'] = code(lambda: sqs.create_queue(QueueName='x', Attributes={'MessageRetentionPeriod': '59'}))[:2]
            short = sqs.create_queue(QueueName='short', Attributes={'MessageRetentionPeriod': '60'})['QueueUrl']
            for i in range(3): sqs.send_message(QueueUrl=short, MessageBody='old %d' % i)
            out['retained'] = sqs.get_queue_attributes(QueueUrl=short, AttributeNames=['ApproximateNumberOfMessages'])['Attributes']['ApproximateNumberOfMessages']
            time.sleep(5.5)
            a = sqs.get_queue_attributes(QueueUrl=short, AttributeNames=['All'])['Attributes']
            out['expired'] = [a['ApproximateNumberOfMessages'], a['MessageRetentionPeriod']]

            # A dead-letter move (maxReceiveCount 1, as AWS's recorded run in LocalStack's tests).
            dl = sqs.create_queue(QueueName='dl')['QueueUrl']
            dl_arn = sqs.get_queue_attributes(QueueUrl=dl, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            src = sqs.create_queue(QueueName='src', Attributes={'RedrivePolicy': json.dumps({'deadLetterTargetArn': dl_arn, 'maxReceiveCount': 1})})['QueueUrl']
            src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            sent = sqs.send_message(QueueUrl=src, MessageBody='poison')['MessageId']
            time.sleep(0.05)
            first = sqs.receive_message(QueueUrl=src, VisibilityTimeout=0, MessageSystemAttributeNames=['All'])['Messages'][0]
            out['second_src'] = 'Messages' in sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
            d = sqs.receive_message(QueueUrl=dl, WaitTimeSeconds=2, MessageSystemAttributeNames=['All'])['Messages'][0]
            out['dlq'] = [d['MessageId'] == sent, d['Attributes']['ApproximateReceiveCount'],
                          d['Attributes']['SentTimestamp'] == first['Attributes']['SentTimestamp'],
                          d['Attributes']['ApproximateFirstReceiveTimestamp'] == first['Attributes']['ApproximateFirstReceiveTimestamp'],
                          d['Attributes'].get('DeadLetterQueueSourceArn') == src_arn, 'DeadLetterQueueSourceArn' in first['Attributes']]
            out['url'] = url
            print(json.dumps(out))
            """#
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try QueueTests.output(result)
        let message = "Too many messages have been received without being deleted. Please delete your received messages or let them timeout before receiving more."
        #expect(out["held"] as? Int == 50)
        #expect(QueueTests.j(out["over"]) == QueueTests.j(["OverLimit", 403, message]))
        #expect(QueueTests.j(out["over_longpoll"]) == QueueTests.j(["OverLimit", 403, message]))
        #expect(out["counts"] as? [String] == ["10", "50"])
        #expect(out["after_delete"] as? Int == 5)
        #expect(out["over_again"] as? String == "OverLimit")
        #expect(out["after_expiry"] as? Int == 10)
        #expect(out["full"] as? String == "50")
        #expect(QueueTests.j(out["bad_retention"]) == QueueTests.j(["InvalidAttributeValue", 400]))
        #expect(out["retained"] as? String == "3")
        #expect(out["expired"] as? [String] == ["0", "60"])
        #expect(out["second_src"] as? Bool == false)
        #expect(QueueTests.j(out["dlq"]) == QueueTests.j([true, "2", true, true, true, false]))

        // The aws CLIs (v1 on JSON, Debian's v2 on the query protocol) see OverLimit too: the
        // queue still holds 50 messages in flight for 120 s.
        let url = try #require(out["url"] as? String)
        for cli in ServeDaemon.awsCLIs {
            let receive = daemon.aws(cli: cli, ["sqs", "receive-message", "--queue-url", url])
            #expect(receive.status != 0 && receive.stderr.contains("(OverLimit)"), "\(cli): \(receive.stdoutText) \(receive.stderr)")
        }
    }

    @Test("a mapping on a queue at its in-flight limit invokes nothing and backs off; once the holder deletes, every message is processed once")
    func mappingAtLimit() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--sqs-in-flight-limit", "5"])
        defer { daemon.stop(); daemon.removeState() }
        let setup = daemon.python(QueueTests.createFunction("batch") + #"""

            import json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.create_queue(QueueName='busy', Attributes={'VisibilityTimeout': '60'})['QueueUrl']
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'held %d' % i} for i in range(5)])
            held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)['Messages']
            try:
                sqs.receive_message(QueueUrl=url)
            except sqs.exceptions.OverLimit:
                pass  # botocore's modeled exception
            sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'new %d' % i} for i in range(5)])
            lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='batch', BatchSize=10)
            print(json.dumps({'held': [m['ReceiptHandle'] for m in held]}))
            """#)
        #expect(setup.status == 0, "\(setup.stderr)")
        let held = try #require(try QueueTests.output(setup)["held"] as? [String])
        #expect(held.count == 5)
        try await Task.sleep(for: .seconds(3))
        #expect(QueueTests.records(state: daemon.stateDirectory, function: "batch").isEmpty, "nothing is received at the limit")
        #expect(daemon.log.contains("is at its in-flight limit (OverLimit)"), "\(daemon.log.suffix(2000))")
        let deleted = daemon.python("""
            import boto3, os
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.get_queue_url(QueueName='busy')['QueueUrl']
            r = sqs.delete_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'ReceiptHandle': h} for i, h in enumerate(\(QueueTests.j(held).dropFirst().dropLast()))])
            assert len(r['Successful']) == 5, r
            """)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let done = try await AsyncInvokeTests.waitFor(60) {
            let r = daemon.python("""
                import boto3, os, json
                sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
                a = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName='busy')['QueueUrl'], AttributeNames=['All'])['Attributes']
                print(json.dumps([a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible']]))
                """)
            return r.stdoutText.contains(#"["0", "0"]"#)
        }
        #expect(done, "\(daemon.log.suffix(2000))")
        let records = QueueTests.records(state: daemon.stateDirectory, function: "batch")
        #expect(records.map(\.body).sorted() == (0..<5).map { "new \($0)" }, "\(records)")
        #expect(records.allSatisfy { $0.count == "1" }, "\(records)")
    }
}
