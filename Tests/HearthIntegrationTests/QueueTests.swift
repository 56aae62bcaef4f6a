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
            out['fifo'] = code(lambda: sqs.create_queue(QueueName='x.fifo', Attributes={'FifoQueue': 'true'}))
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
        #expect((out["fifo"] as? [Any])?.first as? String == "AWS.SimpleQueueService.UnsupportedOperation")
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

        // The aws CLI: the pip-installed v1 speaks JSON; an older CLI whose model still says
        // "query" gets a clear refusal naming the protocol.
        for cli in ServeDaemon.awsCLIs {
            let create = daemon.aws(cli: cli, ["sqs", "create-queue", "--queue-name", "cli"])
            if create.status != 0 {
                #expect(create.stderr.contains("JSON protocol"), "\(cli): \(create.stderr)")
                continue
            }
            let url = try #require(create.stdoutJSON?["QueueUrl"] as? String)
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
        let settled = try await AsyncInvokeTests.waitFor(90) {
            daemon.python("""
                import boto3, os
                sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
                a = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName='crash')['QueueUrl'], AttributeNames=['All'])['Attributes']
                print(a['ApproximateNumberOfMessages'], a['ApproximateNumberOfMessagesNotVisible'])
                """).stdoutText.contains("0 0")
        }
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
}
