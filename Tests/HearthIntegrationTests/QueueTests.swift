import Foundation
import HearthServer
import Testing

/// SQS and event source mappings end to end: boto3 and the aws CLI through every queue
/// operation (MD5s checked independently with hashlib), long polling, visibility, redrive; a
/// mapping feeding a real Python function that fails some items with ReportBatchItemFailures;
/// and a kill -9 of the supervisor in the middle of a mapping's run.
@Suite("SQS and event source mappings end to end", .serialized, .requiresRoot)
struct QueueTests {
    /// A Python function that logs each record and reports the ones whose body holds "fail".
    static let handler = """
        import json, time
        def handler(event, context):
            time.sleep(0.1)
            failed = []
            for r in event['Records']:
                print('sqs-record ' + json.dumps({'id': r['messageId'], 'body': r['body'], 'count': r['attributes']['ApproximateReceiveCount']}))
                if 'fail' in r['body']:
                    failed.append({'itemIdentifier': r['messageId']})
            if 'dump' in event['Records'][0]['body']:
                print('sqs-event ' + json.dumps(event))
            return {'batchItemFailures': failed}
        """

    /// Python that makes the function `name` (python3.11) from `handler`.
    static func createFunction(_ name: String) -> String {
        """
        import boto3, io, os, zipfile
        lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w') as z:
            z.writestr('app.py', '''\(handler)''')
        lam.create_function(FunctionName='\(name)', Runtime='python3.11', Handler='app.handler', Role='arn:aws:iam::000000000000:role/x',
                            Code={'ZipFile': buf.getvalue()}, Timeout=3)
        """
    }

    /// True once `queue` holds no message, visible or in flight, within `seconds`.
    static func drained(_ daemon: ServeDaemon, queue: String, within seconds: Double) async throws -> Bool {
        try await AsyncInvokeTests.waitFor(seconds) {
            daemon.python("""
                import boto3, os
                sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
                a = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName='\(queue)')['QueueUrl'], AttributeNames=['All'])['Attributes']
                print(a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible'])
                """).stdoutText.contains("0 0")
        }
    }

    /// The function's log text (its log file holds one JSON document an invocation), readable
    /// with no daemon running.
    static func logText(state: String, function: String) -> [String] {
        let path = state + "/logs/\(function).log"
        let files = [path + ".1", path].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        return files.flatMap { $0.split(separator: "\n") }.flatMap { line -> [String] in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let message = object["message"] as? String else { return [] }
            return message.split(separator: "\n").map(String.init)
        }
    }

    /// The `sqs-record` lines the function logged: (message id, body, receive count).
    static func records(state: String, function: String) -> [(id: String, body: String, count: String)] {
        logText(state: state, function: function).compactMap { line in
            guard let range = line.range(of: "sqs-record ") else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line[range.upperBound...].utf8)) as? [String: String] else { return nil }
            return (object["id"] ?? "", object["body"] ?? "", object["count"] ?? "")
        }
    }

    /// A value as sorted JSON, to compare nested documents.
    static func j(_ value: Any?) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: [value ?? NSNull()], options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    static func output(_ result: Harness.Result) throws -> [String: Any] {
        let last = result.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(result.stdoutText)\n\(result.stderr)")
    }

    @Test("boto3: every queue operation with AWS's shapes, MD5s, errors, long polling, visibility and redrive; the aws CLI too")
    func clients() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let script = #"""
            import boto3, hashlib, json, os, struct, threading, time
            from botocore.exceptions import ClientError
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            out = {}
            def code(f):
                try:
                    f(); return None
                except ClientError as e:
                    return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
            def md5_attrs(attrs):
                b = b''
                for name in sorted(attrs):
                    v = attrs[name]; f = lambda x: struct.pack('>I', len(x)) + x
                    b += f(name.encode()) + f(v['DataType'].encode())
                    if 'BinaryValue' in v: b += b'\x02' + f(v['BinaryValue'])
                    else: b += b'\x01' + f(v['StringValue'].encode())
                return hashlib.md5(b).hexdigest()
            dlq = sqs.create_queue(QueueName='dead')['QueueUrl']
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            url = sqs.create_queue(QueueName='work', Attributes={'VisibilityTimeout': '2', 'RedrivePolicy': json.dumps({'deadLetterTargetArn': dlq_arn, 'maxReceiveCount': '2'})}, tags={'team': 'a'})['QueueUrl']
            out['url'] = url
            out['idempotent'] = sqs.create_queue(QueueName='work', Attributes={'VisibilityTimeout': '2'})['QueueUrl'] == url
            out['exists'] = code(lambda: sqs.create_queue(QueueName='work', Attributes={'VisibilityTimeout': '3'}))
            out['missing'] = code(lambda: sqs.get_queue_url(QueueName='nope'))
            try:
                sqs.get_queue_url(QueueName='nope')
            except sqs.exceptions.QueueDoesNotExist:
                out['modeled'] = True
            out['fifo'] = code(lambda: sqs.create_queue(QueueName='x.fifo'))
            out['badattr'] = code(lambda: sqs.create_queue(QueueName='y', Attributes={'VisibilityTimeout': '99999'}))
            out['geturl'] = sqs.get_queue_url(QueueName='work')['QueueUrl'] == url
            for i in range(3): sqs.create_queue(QueueName='page-%d' % i)
            p1 = sqs.list_queues(QueueNamePrefix='page-', MaxResults=2)
            p2 = sqs.list_queues(QueueNamePrefix='page-', MaxResults=2, NextToken=p1['NextToken'])
            out['pages'] = [[u.rsplit('/', 1)[1] for u in p1['QueueUrls']], [u.rsplit('/', 1)[1] for u in p2['QueueUrls']], 'NextToken' in p2]
            attrs = {'City': {'DataType': 'String', 'StringValue': 'Any City'}, 'Population': {'DataType': 'Number', 'StringValue': '1250800'},
                     'Blob': {'DataType': 'Binary', 'BinaryValue': b'\x00\x01\xff'}}
            body = 'héllo wörld'
            r = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
            out['md5body'] = r['MD5OfMessageBody'] == hashlib.md5(body.encode()).hexdigest()
            out['md5attrs'] = r['MD5OfMessageAttributes'] == md5_attrs(attrs)
            sent_id = r['MessageId']
            m = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=['All'], MessageSystemAttributeNames=['All'])['Messages']
            out['received'] = [len(m), m[0]['MessageId'] == sent_id, m[0]['Body'] == body, m[0]['MD5OfBody'] == hashlib.md5(body.encode()).hexdigest(),
                               m[0]['MD5OfMessageAttributes'] == md5_attrs(m[0]['MessageAttributes']), m[0]['MessageAttributes']['Blob']['BinaryValue'] == b'\x00\x01\xff',
                               m[0]['Attributes']['ApproximateReceiveCount'], sorted(m[0]['Attributes'])]
            first = m[0]['ReceiptHandle']
            out['hidden'] = 'Messages' not in sqs.receive_message(QueueUrl=url)
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']
            out['counts'] = [counts['ApproximateNumberOfMessages'], counts['ApproximateNumberOfMessagesNotVisible'], counts['VisibilityTimeout'], counts['QueueArn']]
            time.sleep(2.2)
            m2 = sqs.receive_message(QueueUrl=url, AttributeNames=['ApproximateReceiveCount'], VisibilityTimeout=30)['Messages'][0]
            out['second'] = [m2['Attributes']['ApproximateReceiveCount'], m2['ReceiptHandle'] != first]
            out['stale'] = code(lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first, VisibilityTimeout=10))
            out['invalid'] = code(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle='nonsense'))
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m2['ReceiptHandle'], VisibilityTimeout=0)
            # Third receive attempt: the message was received maxReceiveCount (2) times, so it moves to the DLQ.
            out['third'] = 'Messages' in sqs.receive_message(QueueUrl=url)
            d = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get('Messages', [])
            out['dlq'] = [x['MessageId'] for x in d] == [sent_id]
            out['sources'] = sqs.list_dead_letter_source_queues(QueueUrl=dlq)['queueUrls'] == [url]
            b = sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': 'a', 'MessageBody': 'one'}, {'Id': 'b', 'MessageBody': 'two', 'DelaySeconds': 1000}, {'Id': 'c', 'MessageBody': 'three'}])
            out['batch'] = [sorted(e['Id'] for e in b['Successful']), [(e['Id'], e['Code'], e['SenderFault']) for e in b['Failed']]]
            out['dup'] = code(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': 'a', 'MessageBody': 'x'}, {'Id': 'a', 'MessageBody': 'y'}]))
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)['Messages']
            dele = sqs.delete_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'ReceiptHandle': x['ReceiptHandle']} for i, x in enumerate(got)] + [{'Id': 'bad', 'ReceiptHandle': 'zz'}])
            out['deleted'] = [len(got), len(dele['Successful']), [e['Code'] for e in dele['Failed']]]
            # Long polling: a receive waiting 10 s returns as soon as a message is sent.
            threading.Timer(1.0, lambda: sqs.send_message(QueueUrl=url, MessageBody='late')).start()
            t = time.time()
            lp = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get('Messages', [])
            out['longpoll'] = [len(lp), round(time.time() - t, 1)]
            t = time.time()
            empty = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2)
            out['emptypoll'] = ['Messages' not in empty, round(time.time() - t, 1)]
            out['tags'] = sqs.list_queue_tags(QueueUrl=url)['Tags']
            sqs.tag_queue(QueueUrl=url, Tags={'env': 'test'}); sqs.untag_queue(QueueUrl=url, TagKeys=['team'])
            out['tags2'] = sqs.list_queue_tags(QueueUrl=url)['Tags']
            sqs.send_message(QueueUrl=url, MessageBody='purge me')
            sqs.purge_queue(QueueUrl=url)
            out['purged'] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'])['Attributes']
            out['purge_again'] = code(lambda: sqs.purge_queue(QueueUrl=url))
            out['toolong'] = code(lambda: sqs.send_message(QueueUrl=url, MessageBody='x' * 262145))
            sqs.delete_queue(QueueUrl=url)
            out['gone'] = code(lambda: sqs.send_message(QueueUrl=url, MessageBody='x'))
            print(json.dumps(out))
            """#
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try Self.output(result)
        #expect(out["url"] as? String == "\(daemon.endpoint)/000000000000/work")
        #expect(out["idempotent"] as? Bool == true)
        #expect(Self.j(out["exists"]) == Self.j(["QueueAlreadyExists", 400]))
        #expect(Self.j(out["missing"]) == Self.j(["AWS.SimpleQueueService.NonExistentQueue", 400]))
        #expect(out["modeled"] as? Bool == true)
        #expect((out["fifo"] as? [Any])?.first as? String == "InvalidParameterValue")
        #expect(Self.j(out["badattr"]) == Self.j(["InvalidAttributeValue", 400]))
        #expect(out["geturl"] as? Bool == true)
        #expect(Self.j(out["pages"]) == Self.j([["page-0", "page-1"], ["page-2"], false]))
        #expect(out["md5body"] as? Bool == true && out["md5attrs"] as? Bool == true)
        #expect(Self.j(out["received"]) == Self.j([1, true, true, true, true, true, "1",
                                                   ["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"]]))
        #expect(out["hidden"] as? Bool == true)
        #expect(out["counts"] as? [String] == ["0", "1", "2", "arn:aws:sqs:us-east-1:000000000000:work"])
        #expect(Self.j(out["second"]) == Self.j(["2", true]))
        #expect(Self.j(out["stale"]) == Self.j(["AWS.SimpleQueueService.MessageNotInflight", 400]))
        #expect(Self.j(out["invalid"]) == Self.j(["ReceiptHandleIsInvalid", 400]))
        #expect(out["third"] as? Bool == false)
        #expect(out["dlq"] as? Bool == true && out["sources"] as? Bool == true)
        #expect(Self.j(out["batch"]) == Self.j([["a", "c"], [["b", "InvalidParameterValue", true]]]))
        #expect(Self.j(out["dup"]) == Self.j(["AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400]))
        #expect(Self.j(out["deleted"]) == Self.j([2, 2, ["ReceiptHandleIsInvalid"]]))
        let longpoll = try #require(out["longpoll"] as? [Double])
        #expect(longpoll[0] == 1 && longpoll[1] < 5, "long poll \(longpoll)")
        let empty = try #require(out["emptypoll"] as? [Any])
        #expect(empty[0] as? Bool == true && ((empty[1] as? Double) ?? 0) >= 1.9, "empty poll \(empty)")
        #expect(out["tags"] as? [String: String] == ["team": "a"] && out["tags2"] as? [String: String] == ["env": "test"])
        #expect(out["purged"] as? [String: String] == ["ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"])
        #expect(Self.j(out["purge_again"]) == Self.j(["AWS.SimpleQueueService.PurgeQueueInProgress", 403]))
        #expect(Self.j(out["toolong"]) == Self.j(["InvalidParameterValue", 400]))
        #expect(Self.j(out["gone"]) == Self.j(["AWS.SimpleQueueService.NonExistentQueue", 400]))

        // The aws CLI: the pip-installed v1 speaks JSON; Debian's v2 (2.9) the query protocol.
        for (i, cli) in ServeDaemon.awsCLIs.enumerated() {
            let create = daemon.aws(cli: cli, ["sqs", "create-queue", "--queue-name", "cli-\(i)"])
            #expect(create.status == 0, "\(cli): \(create.stderr)")
            let url = try #require(create.stdoutJSON?["QueueUrl"] as? String, "\(cli): \(create.stderr)")
            let send = daemon.aws(cli: cli, ["sqs", "send-message", "--queue-url", url, "--message-body", "from the cli"])
            #expect(send.stdoutJSON?["MD5OfMessageBody"] as? String == "c3b2a6c8e8cdcd1fd27df4b75bd4c0a1" || send.status == 0, "\(send.stderr)")
            let receive = daemon.aws(cli: cli, ["sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1"])
            let messages = receive.stdoutJSON?["Messages"] as? [[String: Any]]
            #expect(messages?.first?["Body"] as? String == "from the cli", "\(receive.stdoutText) \(receive.stderr)")
            #expect(daemon.aws(cli: cli, ["sqs", "delete-queue", "--queue-url", url]).status == 0)
        }
    }

    @Test("a mapping (BatchSize 10, ReportBatchItemFailures) processes every good message once; reported ones come back and land in the DLQ; Powertools parses the event")
    func mapping() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let setup = daemon.python(Self.createFunction("batch") + #"""

            import json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            dlq = sqs.create_queue(QueueName='dead')['QueueUrl']
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            url = sqs.create_queue(QueueName='jobs', Attributes={'VisibilityTimeout': '1', 'RedrivePolicy': json.dumps({'deadLetterTargetArn': dlq_arn, 'maxReceiveCount': 2})})['QueueUrl']
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            out = {}
            try:
                lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='batch', BatchSize=50)
            except lam.exceptions.InvalidParameterValueException as e:
                out['window'] = str(e)
            ids = {}
            for start in range(0, 1000, 10):
                entries = [{'Id': str(i), 'MessageBody': json.dumps({'n': i, 'fail': True} if i % 50 == 7 else {'n': i, 'dump': True} if i == 0 else {'n': i}), 'MessageAttributes': {'n': {'DataType': 'Number', 'StringValue': str(i)}}} for i in range(start, start + 10)]
                for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)['Successful']:
                    ids[e['MessageId']] = int(e['Id'])
            m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='batch', BatchSize=10, FunctionResponseTypes=['ReportBatchItemFailures'],
                                                ScalingConfig={'MaximumConcurrency': 2})
            out['created'] = [m['State'], m['BatchSize'], m['EventSourceArn'] == arn, m['FunctionArn'], m['ResponseMetadata']['HTTPStatusCode']]
            out['uuid'] = m['UUID']
            out['ids'] = ids
            print(json.dumps(out))
            """#)
        #expect(setup.status == 0, "\(setup.stderr)")
        let out = try Self.output(setup)
        #expect((out["window"] as? String)?.contains("Maximum batch window in seconds must be greater than 0") == true, "\(out)")
        #expect(Self.j(out["created"]) == Self.j(["Creating", 10, true, "arn:aws:lambda:us-east-1:000000000000:function:batch", 202]))
        let ids = try #require(out["ids"] as? [String: Int])
        #expect(ids.count == 1000)
        let failing = Set(ids.filter { $0.value % 50 == 7 }.map(\.key))
        // Done when the 20 failing messages are in the DLQ and the source is empty. The batch's
        // effective visibility is the function's timeout + 30 s (3 + 30 > the queue's 1 s), as
        // Lambda does, so each failing message comes back twice about 33 s apart.
        let done = try await AsyncInvokeTests.waitFor(180) {
            let r = daemon.python("""
                import boto3, os, json
                sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
                a = lambda n: sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=n)['QueueUrl'], AttributeNames=['All'])['Attributes']
                print(json.dumps([a('jobs')['ApproximateNumberOfMessages'], a('jobs')['ApproximateNumberOfMessagesNotVisible'], a('dead')['ApproximateNumberOfMessages']]))
                """)
            return r.stdoutText.contains(#"["0", "0", "20"]"#)
        }
        #expect(done, "\(daemon.log.suffix(2000))")
        let records = Self.records(state: daemon.stateDirectory, function: "batch")
        var runs: [String: [String]] = [:]
        for r in records { runs[r.id, default: []].append(r.count) }
        #expect(Set(runs.keys) == Set(ids.keys))
        for (id, counts) in runs {
            if failing.contains(id) {
                #expect(counts == ["1", "2"], "failing \(id): \(counts)")
            } else {
                #expect(counts == ["1"], "good \(id) ran \(counts)")
            }
        }
        let dead = daemon.python("""
            import boto3, os, json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.get_queue_url(QueueName='dead')['QueueUrl']
            seen = set()
            for _ in range(10):
                for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get('Messages', []): seen.add(m['MessageId'])
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            g = lam.get_event_source_mapping(UUID='\(out["uuid"] as? String ?? "")')
            l = lam.list_event_source_mappings(FunctionName='batch')['EventSourceMappings']
            u = lam.update_event_source_mapping(UUID=g['UUID'], Enabled=False)
            d = lam.delete_event_source_mapping(UUID=g['UUID'])
            try:
                lam.get_event_source_mapping(UUID=g['UUID']); missing = None
            except lam.exceptions.ResourceNotFoundException:
                missing = True
            print(json.dumps({'dead': sorted(seen), 'get': [g['State'], g['LastProcessingResult'], g['ScalingConfig'], g['FunctionResponseTypes']], 'list': len(l), 'update': [u['State'], u['ResponseMetadata']['HTTPStatusCode']], 'delete': d['State'], 'missing': missing}))
            """)
        let deadOut = try Self.output(dead)
        #expect(Set(deadOut["dead"] as? [String] ?? []) == failing)
        #expect(Self.j(deadOut["get"]) == Self.j(["Enabled", "OK", ["MaximumConcurrency": 2], ["ReportBatchItemFailures"]]))
        #expect(deadOut["list"] as? Int == 1 && Self.j(deadOut["update"]) == Self.j(["Updating", 202]) && deadOut["delete"] as? String == "Deleting")
        #expect(deadOut["missing"] as? Bool == true)
        // The event as the function received it parses with aws-lambda-powertools' SqsModel.
        let eventLine = try #require(Self.logText(state: daemon.stateDirectory, function: "batch").first { $0.contains("sqs-event ") })
        let event = String(eventLine[eventLine.range(of: "sqs-event ")!.upperBound...])
        let parsed = daemon.python("""
            import json, sys
            from aws_lambda_powertools.utilities.parser.models import SqsModel
            m = SqsModel.model_validate(json.loads(r'''\(event)'''))
            r = m.Records[0]
            print(json.dumps([len(m.Records), r.eventSource, r.awsRegion, r.attributes.ApproximateReceiveCount, r.messageAttributes['n'].dataType, r.md5OfBody == __import__('hashlib').md5(r.body.encode()).hexdigest()]))
            """)
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let model = try #require(try JSONSerialization.jsonObject(with: Data((parsed.stdoutText.split(separator: "\n").last ?? "").utf8)) as? [Any])
        #expect(Self.j(model) == Self.j([1, "aws:sqs", "us-east-1", "1", "Number", true]) || (model.count == 6 && model[1] as? String == "aws:sqs" && model[5] as? Bool == true), "\(model)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("kill -9 of the supervisor while a mapping works through 300 messages loses none: each is processed or still queued")
    func crashLosesNothing() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-sqs-crash-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let setup = daemon.python(Self.createFunction("crashy") + #"""

            import json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.create_queue(QueueName='crash', Attributes={'VisibilityTimeout': '3'})['QueueUrl']
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            bodies = []
            for start in range(0, 300, 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'm%d' % i} for i in range(start, start + 10)])
                bodies += ['m%d' % i for i in range(start, start + 10)]
            lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='crashy', BatchSize=5)
            print(json.dumps({'bodies': bodies}))
            """#)
        #expect(setup.status == 0, "\(setup.stderr)")
        let bodies = Set(try Self.output(setup)["bodies"] as? [String] ?? [])
        #expect(bodies.count == 300)
        let started = try await AsyncInvokeTests.waitFor(60) { Self.records(state: state, function: "crashy").count >= 20 }
        #expect(started)
        daemon.crash()
        let before = Set(Self.records(state: state, function: "crashy").map(\.body))
        #expect(before.count < 300, "the crash came too late to test anything (\(before.count) processed)")
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        // The batches the dead supervisor had in flight are still hidden (their visibility
        // timeout outlives it); they come back when it ends.
        let hidden = daemon.python("""
            import boto3, os
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            a = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName='crash')['QueueUrl'], AttributeNames=['All'])['Attributes']
            print(a['ApproximateNumberOfMessagesNotVisible'])
            """)
        #expect((Int(hidden.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0, "in flight at the crash: \(hidden.stdoutText)")
        let drained = try await AsyncInvokeTests.waitFor(120) {
            Set(Self.records(state: state, function: "crashy").map(\.body)).count == 300
        }
        #expect(drained, "processed \(Set(Self.records(state: state, function: "crashy").map(\.body)).count) of 300")
        #expect(Set(Self.records(state: state, function: "crashy").map(\.body)) == bodies)
        let left = daemon.python("""
            import boto3, os, json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            a = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName='crash')['QueueUrl'], AttributeNames=['All'])['Attributes']
            print(json.dumps([a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible']]))
            """)
        let settled = try await QueueTests.drained(daemon, queue: "crash", within: 90)
        #expect(settled, "\(left.stdoutText)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("an asynchronous invocation's OnSuccess and OnFailure records arrive as messages on SQS queues")
    func destinations() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--async-retry-delays", "1,1"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        let result = daemon.python("""
            import boto3, json, os
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            arns = {}
            for n in ['ok', 'bad']:
                u = sqs.create_queue(QueueName=n)['QueueUrl']
                arns[n] = (u, sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn'])
            lam.put_function_event_invoke_config(FunctionName='work', MaximumRetryAttempts=0,
                DestinationConfig={'OnSuccess': {'Destination': arns['ok'][1]}, 'OnFailure': {'Destination': arns['bad'][1]}})
            lam.invoke(FunctionName='work', InvocationType='Event', Payload=json.dumps({'mark': 'fine'}))
            lam.invoke(FunctionName='work', InvocationType='Event', Payload=json.dumps({'cmd': 'error', 'mark': 'broken'}))
            out = {}
            for n in ['ok', 'bad']:
                m = sqs.receive_message(QueueUrl=arns[n][0], WaitTimeSeconds=20).get('Messages', [])
                out[n] = json.loads(m[0]['Body']) if m else None
            print(json.dumps(out))
            """)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try Self.output(result)
        let ok = try #require(out["ok"] as? [String: Any], "\(out) \(daemon.log.suffix(1500))")
        let bad = try #require(out["bad"] as? [String: Any], "\(out)")
        #expect((ok["requestContext"] as? [String: Any])?["condition"] as? String == "Success")
        #expect((ok["requestPayload"] as? [String: Any])?["mark"] as? String == "fine")
        #expect((bad["requestContext"] as? [String: Any])?["condition"] as? String == "RetriesExhausted")
        #expect((bad["responseContext"] as? [String: Any])?["functionError"] as? String == "Unhandled")
    }

    @Test("DeadLetterConfig: boto3 sets and reads it; a failed asynchronous event arrives on the queue as sent, with RequestID, ErrorCode and ErrorMessage, and OnFailure fires too")
    func functionDeadLetterQueue() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let result = daemon.python("""
            import boto3, io, json, os, zipfile
            from botocore.exceptions import ClientError
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            arns = {}
            for n in ['fn-dlq', 'failures']:
                u = sqs.create_queue(QueueName=n)['QueueUrl']
                arns[n] = (u, sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn'])
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, 'w') as z:
                z.writestr('app.py', 'def handler(event, context):\\n    raise Exception("order " + str(event["order"]) + " failed" + "x" * event.get("pad", 0))\\n')
            code = {'ZipFile': buf.getvalue()}
            def err(f, **kw):
                try:
                    f(**kw)
                    return 'accepted'
                except ClientError as e:
                    return [e.response['Error']['Code'], e.response['Error']['Message']]
            base = dict(Runtime='python3.11', Handler='app.handler', Role='arn:aws:iam::000000000000:role/x', Code=code)
            out = {}
            out['missing'] = err(lam.create_function, FunctionName='m', DeadLetterConfig={'TargetArn': 'arn:aws:sqs:us-east-1:000000000000:nope'}, **base)
            out['sns'] = err(lam.create_function, FunctionName='s', DeadLetterConfig={'TargetArn': 'arn:aws:sns:us-east-1:000000000000:topic'}, **base)
            out['created'] = lam.create_function(FunctionName='fails', DeadLetterConfig={'TargetArn': arns['fn-dlq'][1]}, **base).get('DeadLetterConfig')
            out['config'] = lam.get_function_configuration(FunctionName='fails').get('DeadLetterConfig')
            out['function'] = lam.get_function(FunctionName='fails')['Configuration'].get('DeadLetterConfig')
            lam.put_function_event_invoke_config(FunctionName='fails', MaximumRetryAttempts=0,
                DestinationConfig={'OnFailure': {'Destination': arns['failures'][1]}})
            payload = json.dumps({'order': 7})
            r = lam.invoke(FunctionName='fails', InvocationType='Event', Payload=payload)
            out['request'] = r['ResponseMetadata']['RequestId']
            out['payload'] = payload
            m = sqs.receive_message(QueueUrl=arns['fn-dlq'][0], WaitTimeSeconds=20, MessageAttributeNames=['All']).get('Messages', [])
            out['dlq'] = m[0] if m else None
            m = sqs.receive_message(QueueUrl=arns['failures'][0], WaitTimeSeconds=20).get('Messages', [])
            out['record'] = json.loads(m[0]['Body']) if m else None
            lam.invoke(FunctionName='fails', InvocationType='Event', Payload=json.dumps({'order': 8, 'pad': 3000}))
            m = sqs.receive_message(QueueUrl=arns['fn-dlq'][0], WaitTimeSeconds=20, MessageAttributeNames=['All']).get('Messages', [])
            out['long'] = len(m[0]['MessageAttributes']['ErrorMessage']['StringValue']) if m else None
            out['cleared'] = lam.update_function_configuration(FunctionName='fails', DeadLetterConfig={'TargetArn': ''}).get('DeadLetterConfig')
            out['after'] = lam.get_function_configuration(FunctionName='fails').get('DeadLetterConfig')
            out['set'] = lam.update_function_configuration(FunctionName='fails', DeadLetterConfig={'TargetArn': arns['fn-dlq'][1]}).get('DeadLetterConfig')
            out['version'] = lam.publish_version(FunctionName='fails').get('DeadLetterConfig')
            print(json.dumps(out))
            """)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try Self.output(result)
        let dlqARN = "arn:aws:sqs:us-east-1:000000000000:fn-dlq"
        #expect(out["missing"] as? [String] == ["InvalidParameterValueException", "The provided execution role does not have permissions to call SendMessage on SQS"])
        #expect((out["sns"] as? [String])?.first == "InvalidParameterValueException")
        for key in ["created", "config", "function", "set", "version"] {
            #expect((out[key] as? [String: String]) == ["TargetArn": dlqARN], "\(key): \(out[key] ?? "nil")")
        }
        #expect(out["cleared"] is NSNull && out["after"] is NSNull, "an empty TargetArn clears it: \(out["cleared"] ?? "-")")
        let message = try #require(out["dlq"] as? [String: Any], "\(out) \(daemon.log.suffix(2000))")
        #expect(message["Body"] as? String == out["payload"] as? String, "the event as sent")
        let attributes = try #require(message["MessageAttributes"] as? [String: [String: String]])
        #expect(attributes["RequestID"] == ["DataType": "String", "StringValue": out["request"] as? String ?? "?"])
        #expect(attributes["ErrorCode"] == ["DataType": "Number", "StringValue": "200"])
        #expect(attributes["ErrorMessage"] == ["DataType": "String", "StringValue": "order 7 failed"])
        #expect(message["MD5OfMessageAttributes"] != nil, "boto3 checked it")
        let record = try #require(out["record"] as? [String: Any])
        #expect((record["requestContext"] as? [String: Any])?["condition"] as? String == "RetriesExhausted")
        #expect(out["long"] as? Int == 1024, "ErrorMessage is the first 1 KB")
    }

    @Test("the query protocol: Debian's aws CLI v2 (2.9) through every queue operation, XML answers its botocore parses and MD5-checks, ErrorResponse errors")
    func queryProtocol() async throws {
        let cli = "/usr/bin/aws"
        guard FileManager.default.isExecutableFile(atPath: cli), ServeDaemon.majorVersion(of: cli) == 2 else {
            Issue.record("Debian's aws CLI v2 is not installed (apt-get install awscli)")
            return
        }
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        func run(_ arguments: [String]) throws -> [String: Any] {
            let r = daemon.aws(cli: cli, ["sqs"] + arguments)
            #expect(r.status == 0, "\(arguments): \(r.stderr)")
            return r.stdoutText.isEmpty ? [:] : try #require(r.stdoutJSON, "\(arguments): \(r.stdoutText) \(r.stderr)")
        }
        let dlqURL = try #require(try run(["create-queue", "--queue-name", "q-dlq"])["QueueUrl"] as? String)
        let dlqARN = "arn:aws:sqs:us-east-1:000000000000:q-dlq"
        let redrive = #"{"deadLetterTargetArn":"\#(dlqARN)","maxReceiveCount":"2"}"#
        let url = try #require(try run(["create-queue", "--queue-name", "q", "--attributes", "VisibilityTimeout=40", "--tags", "team=a"])["QueueUrl"] as? String)
        #expect(url.hasSuffix("/000000000000/q"))
        #expect(try run(["get-queue-url", "--queue-name", "q"])["QueueUrl"] as? String == url)
        #expect(try run(["list-queues", "--queue-name-prefix", "q"])["QueueUrls"] as? [String] == [url, dlqURL])
        let redriveAttributes = String(decoding: try JSONSerialization.data(withJSONObject: ["RedrivePolicy": redrive]), as: UTF8.self)
        _ = try run(["set-queue-attributes", "--queue-url", url, "--attributes", redriveAttributes])
        let attributes = try #require(try run(["get-queue-attributes", "--queue-url", url, "--attribute-names", "All"])["Attributes"] as? [String: String])
        #expect(attributes["VisibilityTimeout"] == "40" && attributes["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:q")
        #expect(attributes["RedrivePolicy"]?.contains("q-dlq") == true, "\(attributes)")
        #expect(try run(["list-dead-letter-source-queues", "--queue-url", dlqURL])["queueUrls"] as? [String] == [url])
        _ = try run(["tag-queue", "--queue-url", url, "--tags", "env=test"])
        _ = try run(["untag-queue", "--queue-url", url, "--tag-keys", "team"])
        #expect(try run(["list-queue-tags", "--queue-url", url])["Tags"] as? [String: String] == ["env": "test"])
        // The CLI's botocore checks MD5OfMessageBody and MD5OfMessageAttributes of sends and receives.
        let sent = try run(["send-message", "--queue-url", url, "--message-body", "<hello & 'world'>\r\n",
                            "--message-attributes", #"{"k":{"DataType":"String","StringValue":"v <1>"},"n":{"DataType":"Number","StringValue":"42"},"b":{"DataType":"Binary","BinaryValue":"aGk="}}"#])
        #expect(sent["MD5OfMessageBody"] as? String != nil && sent["MD5OfMessageAttributes"] as? String != nil && sent["MessageId"] as? String != nil)
        let batch = try run(["send-message-batch", "--queue-url", url, "--entries",
                             #"[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two","DelaySeconds":0}]"#])
        #expect((batch["Successful"] as? [[String: Any]])?.compactMap { $0["Id"] as? String }.sorted() == ["a", "b"], "\(batch)")
        let failed = daemon.aws(cli: cli, ["sqs", "send-message-batch", "--queue-url", url, "--entries", #"[{"Id":"bad id","MessageBody":"x"}]"#])
        #expect(failed.status != 0 && failed.stderr.contains("AWS.SimpleQueueService.InvalidBatchEntryId"), "\(failed.stderr)")
        let received = try run(["receive-message", "--queue-url", url, "--max-number-of-messages", "10", "--wait-time-seconds", "2",
                                "--attribute-names", "All", "--message-attribute-names", "All"])
        let messages = try #require(received["Messages"] as? [[String: Any]])
        #expect(messages.count == 3, "\(received)")
        let first = try #require(messages.first { ($0["Body"] as? String)?.hasPrefix("<hello") == true })
        #expect(first["Body"] as? String == "<hello & 'world'>\r\n", "the body survives XML escaping, CR included")
        let values = try #require(first["MessageAttributes"] as? [String: [String: Any]])
        #expect(values["k"]?["StringValue"] as? String == "v <1>" && values["n"]?["DataType"] as? String == "Number")
        #expect(values["b"]?["BinaryValue"] as? String == "aGk=")
        #expect((first["Attributes"] as? [String: String])?["ApproximateReceiveCount"] == "1")
        let handles = messages.compactMap { $0["ReceiptHandle"] as? String }
        _ = try run(["change-message-visibility", "--queue-url", url, "--receipt-handle", handles[0], "--visibility-timeout", "100"])
        let changed = try run(["change-message-visibility-batch", "--queue-url", url, "--entries",
                               "[{\"Id\":\"x\",\"ReceiptHandle\":\"\(handles[1])\",\"VisibilityTimeout\":100}]"])
        #expect((changed["Successful"] as? [[String: Any]])?.first?["Id"] as? String == "x", "\(changed)")
        _ = try run(["delete-message", "--queue-url", url, "--receipt-handle", handles[0]])
        let deleted = try run(["delete-message-batch", "--queue-url", url, "--entries",
                               "[{\"Id\":\"d1\",\"ReceiptHandle\":\"\(handles[1])\"},{\"Id\":\"d2\",\"ReceiptHandle\":\"garbage\"}]"])
        #expect((deleted["Successful"] as? [[String: Any]])?.first?["Id"] as? String == "d1", "\(deleted)")
        let deleteFailure = (deleted["Failed"] as? [[String: Any]])?.first
        #expect(deleteFailure?["Code"] as? String == "ReceiptHandleIsInvalid" && deleteFailure?["SenderFault"] as? Bool == true, "\(deleted)")
        _ = try run(["purge-queue", "--queue-url", url])
        let counts = try #require(try run(["get-queue-attributes", "--queue-url", url, "--attribute-names", "ApproximateNumberOfMessages"])["Attributes"] as? [String: String])
        #expect(counts["ApproximateNumberOfMessages"] == "0")
        _ = try run(["delete-queue", "--queue-url", url])
        let gone = daemon.aws(cli: cli, ["sqs", "get-queue-url", "--queue-name", "q"])
        #expect(gone.status != 0 && gone.stderr.contains("AWS.SimpleQueueService.NonExistentQueue"), "\(gone.stderr)")
        let empty = try run(["receive-message", "--queue-url", dlqURL, "--wait-time-seconds", "0"])
        #expect(empty["Messages"] == nil)
    }

    /// Python that fills `src`'s dead-letter queue `src-dlq` with `n` messages by redrive
    /// (maxReceiveCount 1: the second receive moves them), and defines `sqs`, `url`, `arn`.
    static func redriven(_ n: Int) -> String {
        """
        import boto3, json, os, time
        from botocore.exceptions import ClientError
        sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
        url, arn = {}, {}
        for q in ['src-dlq', 'src', 'other']:
            attrs = {'RedrivePolicy': json.dumps({'deadLetterTargetArn': arn['src-dlq'], 'maxReceiveCount': '1'})} if q == 'src' else {}
            url[q] = sqs.create_queue(QueueName=q, Attributes=attrs)['QueueUrl']
            arn[q] = sqs.get_queue_attributes(QueueUrl=url[q], AttributeNames=['QueueArn'])['Attributes']['QueueArn']
        for i in range(\(n)):
            sqs.send_message(QueueUrl=url['src'], MessageBody='m%d' % i)
        got = 0
        while got < \(n):
            got += len(sqs.receive_message(QueueUrl=url['src'], MaxNumberOfMessages=10, VisibilityTimeout=0).get('Messages', []))
        assert sqs.receive_message(QueueUrl=url['src'], MaxNumberOfMessages=10).get('Messages') is None
        def count(q):
            a = sqs.get_queue_attributes(QueueUrl=url[q], AttributeNames=['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'])['Attributes']
            return int(a['ApproximateNumberOfMessages']) + int(a['ApproximateNumberOfMessagesNotVisible'])
        assert count('src-dlq') == \(n), count('src-dlq')
        def err(f, **kw):
            try:
                f(**kw)
                return 'accepted'
            except ClientError as e:
                return [e.response['Error']['Code'], e.response['Error']['Message']]
        def tasks(q='src-dlq', n=10):
            return sqs.list_message_move_tasks(SourceArn=arn[q], MaxResults=n)['Results']
        """
    }

    @Test("StartMessageMoveTask moves a dead-letter queue's messages back to their source (or to DestinationArn); List shows progress; Cancel stops it; errors as SQS's")
    func messageMoveTasks() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let result = daemon.python(Self.redriven(25) + "\n" + """
            out = {}
            out['notdlq'] = err(sqs.start_message_move_task, SourceArn=arn['src'])
            out['missing'] = err(sqs.start_message_move_task, SourceArn='arn:aws:sqs:us-east-1:000000000000:nope')
            out['badrate'] = err(sqs.start_message_move_task, SourceArn=arn['src-dlq'], MaxNumberOfMessagesPerSecond=501)
            handle = sqs.start_message_move_task(SourceArn=arn['src-dlq'])['TaskHandle']
            deadline = time.time() + 20
            while tasks()[0]['Status'] == 'RUNNING' and time.time() < deadline: time.sleep(0.1)
            done = tasks()[0]
            out['done'] = {k: done.get(k) for k in ['Status', 'SourceArn', 'ApproximateNumberOfMessagesMoved', 'ApproximateNumberOfMessagesToMove', 'TaskHandle', 'DestinationArn']}
            out['started'] = done['StartedTimestamp']
            out['counts'] = [count('src'), count('src-dlq')]
            bodies = []
            while True:
                m = sqs.receive_message(QueueUrl=url['src'], MaxNumberOfMessages=10).get('Messages', [])
                if not m: break
                bodies += [x['Body'] for x in m]
                sqs.delete_message_batch(QueueUrl=url['src'], Entries=[{'Id': str(i), 'ReceiptHandle': x['ReceiptHandle']} for i, x in enumerate(m)])
            out['bodies'] = sorted(bodies)
            out['cancel_done'] = err(sqs.cancel_message_move_task, TaskHandle=handle)
            # Fill the DLQ again; a rate-limited task to another queue, cancelled while it runs.
            for i in range(5):
                sqs.send_message(QueueUrl=url['src'], MessageBody='again%d' % i)
            got = 0
            while got < 5:
                got += len(sqs.receive_message(QueueUrl=url['src'], MaxNumberOfMessages=10, VisibilityTimeout=0).get('Messages', []))
            sqs.receive_message(QueueUrl=url['src'], MaxNumberOfMessages=10)
            slow = sqs.start_message_move_task(SourceArn=arn['src-dlq'], DestinationArn=arn['other'], MaxNumberOfMessagesPerSecond=1)['TaskHandle']
            out['running'] = {k: tasks()[0].get(k) for k in ['Status', 'TaskHandle', 'DestinationArn', 'MaxNumberOfMessagesPerSecond']}
            out['running']['handle_matches'] = out['running'].pop('TaskHandle') == slow
            out['second'] = err(sqs.start_message_move_task, SourceArn=arn['src-dlq'])
            time.sleep(1.5)
            out['cancelled_moved'] = sqs.cancel_message_move_task(TaskHandle=slow)['ApproximateNumberOfMessagesMoved']
            out['after_cancel'] = [t['Status'] for t in tasks()]
            out['other'] = count('other')
            out['left'] = count('src-dlq')
            out['one'] = len(sqs.list_message_move_tasks(SourceArn=arn['src-dlq'])['Results'])
            print(json.dumps(out))
            """)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try Self.output(result)
        #expect((out["notdlq"] as? [String]) == ["InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue."])
        #expect((out["missing"] as? [String])?.first == "ResourceNotFoundException")
        #expect((out["badrate"] as? [String])?.first == "InvalidParameterValue")
        let done = try #require(out["done"] as? [String: Any], "\(out)")
        #expect(done["Status"] as? String == "COMPLETED", "\(done)")
        #expect(done["ApproximateNumberOfMessagesMoved"] as? Int == 25 && done["ApproximateNumberOfMessagesToMove"] as? Int == 25)
        #expect(done["TaskHandle"] is NSNull && done["DestinationArn"] is NSNull, "no handle once finished, no destination when moved back: \(done)")
        #expect(out["counts"] as? [Int] == [25, 0])
        #expect(out["bodies"] as? [String] == (0..<25).map { "m\($0)" }.sorted())
        #expect((out["cancel_done"] as? [String])?.first == "InvalidParameterValue")
        let running = try #require(out["running"] as? [String: Any])
        #expect(running["Status"] as? String == "RUNNING" && running["handle_matches"] as? Bool == true)
        #expect(running["DestinationArn"] as? String == "arn:aws:sqs:us-east-1:000000000000:other" && running["MaxNumberOfMessagesPerSecond"] as? Int == 1)
        #expect((out["second"] as? [String])?.first == "AWS.SimpleQueueService.UnsupportedOperation")
        let moved = try #require(out["cancelled_moved"] as? Int)
        #expect((1...3).contains(moved), "one a second for ~1.5 s: \(moved)")
        #expect(out["other"] as? Int == moved && out["left"] as? Int == 5 - moved)
        #expect(out["after_cancel"] as? [String] == ["CANCELLED", "COMPLETED"])
        #expect(out["one"] as? Int == 1, "MaxResults defaults to 1")
        // The queue metrics: gauges by state, counters by event.
        let metrics = try await daemon.metrics()
        #expect(metrics.contains(#"hearth_sqs_messages{queue="src-dlq",state="visible"} \#(5 - moved)"#), "\(metrics)")
        #expect(metrics.contains(#"hearth_sqs_messages{queue="other",state="visible"} \#(moved)"#))
        #expect(metrics.contains(#"hearth_sqs_messages_total{queue="src-dlq",event="moved"} \#(25 + moved)"#))
        #expect(metrics.contains(#"hearth_sqs_messages_total{queue="src",event="sent"} 30"#))
        #expect(metrics.contains(#"hearth_sqs_messages_total{queue="src",event="redriven"} 30"#))
        #expect(metrics.contains(#"hearth_sqs_messages_total{queue="src",event="deleted"} 25"#))
    }

    @Test("a message move task survives kill -9 of the supervisor: it resumes from the ledger and completes, nothing lost or doubled")
    func messageMoveTaskSurvivesCrash() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-sqs-move-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let start = daemon.python(Self.redriven(6) + "\n" + """
            sqs.start_message_move_task(SourceArn=arn['src-dlq'], DestinationArn=arn['other'], MaxNumberOfMessagesPerSecond=1)
            time.sleep(1.5)
            print(json.dumps({'moved': count('other')}))
            """)
        #expect(start.status == 0, "\(start.stderr)")
        let before = try #require(try Self.output(start)["moved"] as? Int)
        #expect(before >= 1 && before < 6, "\(before)")
        daemon.crash()
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        let after = daemon.python("""
            import boto3, json, os, time
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            u = {q: sqs.get_queue_url(QueueName=q)['QueueUrl'] for q in ['src-dlq', 'other']}
            dlq = sqs.get_queue_attributes(QueueUrl=u['src-dlq'], AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            deadline = time.time() + 30
            while sqs.list_message_move_tasks(SourceArn=dlq)['Results'][0]['Status'] == 'RUNNING' and time.time() < deadline: time.sleep(0.2)
            t = sqs.list_message_move_tasks(SourceArn=dlq)['Results'][0]
            bodies = []
            while True:
                m = sqs.receive_message(QueueUrl=u['other'], MaxNumberOfMessages=10).get('Messages', [])
                if not m: break
                bodies += [x['Body'] for x in m]
            left = sqs.get_queue_attributes(QueueUrl=u['src-dlq'], AttributeNames=['ApproximateNumberOfMessages'])['Attributes']['ApproximateNumberOfMessages']
            print(json.dumps({'status': t['Status'], 'moved': t['ApproximateNumberOfMessagesMoved'], 'bodies': sorted(bodies), 'left': left}))
            """)
        #expect(after.status == 0, "\(after.stderr)")
        let out = try Self.output(after)
        #expect(out["status"] as? String == "COMPLETED", "\(out)")
        #expect(out["bodies"] as? [String] == (0..<6).map { "m\($0)" }, "every message once")
        #expect(out["left"] as? String == "0")
        #expect((out["moved"] as? Int ?? 0) >= 6 - before, "progress kept across the restart: \(out)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
