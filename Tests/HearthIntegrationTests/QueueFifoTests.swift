import Foundation
import HearthServer
import Testing

/// SQS FIFO queues end to end (ADR 0027): boto3 and both aws CLIs through creation rules,
/// deduplication, content-based deduplication, sequence numbers, group order and locks and the
/// errors; a mapping feeding a real Python function several groups in order with a partial-batch
/// failure (and a mapping on a dead-letter queue seeing DeadLetterQueueSourceArn); and a kill -9
/// of the supervisor in the middle of a FIFO mapping's run.
@Suite("SQS FIFO queues end to end", .serialized, .requiresRoot)
struct QueueFifoTests {
    /// A Python function that logs each record (with the sandbox's clock, to order records across
    /// invocations) and reports a record whose body holds "fail" on its first receive.
    static let handler = """
        import json, time
        def handler(event, context):
            time.sleep(float(event['Records'][0]['messageAttributes'].get('sleep', {}).get('stringValue', '0')))
            failed = []
            for r in event['Records']:
                a = r['attributes']
                print('fifo-record ' + json.dumps({'t': time.time(), 'id': r['messageId'], 'body': r['body'], 'count': a['ApproximateReceiveCount'],
                                                   'group': a.get('MessageGroupId'), 'seq': a.get('SequenceNumber'), 'src': a.get('DeadLetterQueueSourceArn')}))
                if 'dump' in r['body']:
                    print('fifo-event ' + json.dumps(event))
                if 'fail' in r['body'] and a['ApproximateReceiveCount'] == '1':
                    failed.append({'itemIdentifier': r['messageId']})
            return {'batchItemFailures': failed}
        """

    struct Record {
        var t: Double, id: String, body: String, count: String, group: String?, seq: String?, src: String?
    }

    /// The records the function logged, in the order it saw them.
    static func records(state: String, function: String) -> [Record] {
        QueueTests.logText(state: state, function: function).compactMap { line -> Record? in
            guard let range = line.range(of: "fifo-record ") else { return nil }
            guard let o = try? JSONSerialization.jsonObject(with: Data(line[range.upperBound...].utf8)) as? [String: Any] else { return nil }
            return Record(t: o["t"] as? Double ?? 0, id: o["id"] as? String ?? "", body: o["body"] as? String ?? "", count: o["count"] as? String ?? "",
                          group: o["group"] as? String, seq: o["seq"] as? String, src: o["src"] as? String)
        }.sorted { $0.t < $1.t }
    }

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

    /// The bodies of each group in the order they were first processed.
    static func firstOrder(_ records: [Record]) -> [String: [String]] {
        var seen = Set<String>(), order: [String: [String]] = [:]
        for r in records where seen.insert(r.id).inserted { order[r.group ?? "", default: []].append(r.body) }
        return order
    }

    @Test("boto3 and the aws CLIs: FIFO creation rules, deduplication, content-based deduplication, SequenceNumber, group order and locks, AWS's errors")
    func clients() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let script = #"""
            import boto3, hashlib, json, os
            from botocore.exceptions import ClientError
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            out = {}
            def code(f):
                try:
                    f(); return None
                except ClientError as e:
                    return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
            out['name_only'] = code(lambda: sqs.create_queue(QueueName='a.fifo'))
            out['attr_only'] = code(lambda: sqs.create_queue(QueueName='a', Attributes={'FifoQueue': 'true'}))
            out['std_attr'] = code(lambda: sqs.create_queue(QueueName='a', Attributes={'ContentBasedDeduplication': 'true'}))
            url = sqs.create_queue(QueueName='orders.fifo', Attributes={'FifoQueue': 'true', 'VisibilityTimeout': '30'})['QueueUrl']
            out['url'] = url
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']
            out['attrs'] = [attrs.get(k) for k in ['FifoQueue', 'ContentBasedDeduplication', 'DeduplicationScope', 'FifoThroughputLimit']]
            out['set_fifo'] = code(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={'FifoQueue': 'false'}))
            std = sqs.create_queue(QueueName='plain')['QueueUrl']
            out['std_get'] = code(lambda: sqs.get_queue_attributes(QueueUrl=std, AttributeNames=['FifoQueue']))
            out['std_group'] = code(lambda: sqs.send_message(QueueUrl=std, MessageBody='x', MessageGroupId='g'))
            std_arn = sqs.get_queue_attributes(QueueUrl=std, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            out['dlq_type'] = code(lambda: sqs.create_queue(QueueName='b.fifo', Attributes={'FifoQueue': 'true', 'RedrivePolicy': json.dumps({'deadLetterTargetArn': std_arn, 'maxReceiveCount': 3})}))
            out['no_group'] = code(lambda: sqs.send_message(QueueUrl=url, MessageBody='x', MessageDeduplicationId='d'))
            out['no_dedup'] = code(lambda: sqs.send_message(QueueUrl=url, MessageBody='x', MessageGroupId='g'))
            out['delay'] = code(lambda: sqs.send_message(QueueUrl=url, MessageBody='x', MessageGroupId='g', MessageDeduplicationId='d', DelaySeconds=5))
            # Deduplication: the same id within 5 minutes answers the first MessageId and SequenceNumber.
            first = sqs.send_message(QueueUrl=url, MessageBody='a0', MessageGroupId='A', MessageDeduplicationId='a0')
            dup = sqs.send_message(QueueUrl=url, MessageBody='a0', MessageGroupId='A', MessageDeduplicationId='a0')
            out['dup'] = [dup['MessageId'] == first['MessageId'], dup['SequenceNumber'] == first['SequenceNumber'], len(first['SequenceNumber'])]
            seqs = [int(first['SequenceNumber'])]
            for body, group in [('a1', 'A'), ('b0', 'B'), ('a2', 'A'), ('b1', 'B')]:
                seqs.append(int(sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)['SequenceNumber']))
            out['increasing'] = seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            batch = sqs.send_message_batch(QueueUrl=url, Entries=[
                {'Id': 'x', 'MessageBody': 'a3', 'MessageGroupId': 'A', 'MessageDeduplicationId': 'a3'},
                {'Id': 'y', 'MessageBody': 'a1', 'MessageGroupId': 'A', 'MessageDeduplicationId': 'a1'},
                {'Id': 'z', 'MessageBody': 'nogroup', 'MessageDeduplicationId': 'z'}])
            out['batch'] = [sorted(e['Id'] for e in batch['Successful']), [[e['Id'], e['Code']] for e in batch['Failed']], all('SequenceNumber' in e for e in batch['Successful'])]
            out['depth'] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['ApproximateNumberOfMessages'])['Attributes']['ApproximateNumberOfMessages']
            # Order and locks: A's run first (as many as fit), then B; A is locked while in flight.
            r1 = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, AttributeNames=['All'])['Messages']
            out['r1'] = [m['Body'] for m in r1]
            out['r1_attrs'] = [r1[0]['Attributes'].get(k) for k in ['MessageGroupId', 'MessageDeduplicationId']] + [r1[0]['Attributes'].get('SequenceNumber') == first['SequenceNumber']]
            r2 = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=['SequenceNumber'])['Messages']
            out['r2'] = [m['Body'] for m in r2]
            out['r2_attrs'] = sorted(r2[0]['Attributes'])
            out['r3'] = len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get('Messages', []))
            sqs.delete_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'ReceiptHandle': m['ReceiptHandle']} for i, m in enumerate(r1)])
            r4 = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId='attempt-1')['Messages']
            out['r4'] = [m['Body'] for m in r4]
            again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId='attempt-1')['Messages']
            out['attempt'] = [m['ReceiptHandle'] for m in again] == [m['ReceiptHandle'] for m in r4]
            # Content-based deduplication: the body's SHA-256.
            cb = sqs.create_queue(QueueName='cb.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
            c1 = sqs.send_message(QueueUrl=cb, MessageBody='same', MessageGroupId='g')
            c2 = sqs.send_message(QueueUrl=cb, MessageBody='same', MessageGroupId='h')
            c3 = sqs.send_message(QueueUrl=cb, MessageBody='other', MessageGroupId='g')
            got = sqs.receive_message(QueueUrl=cb, MaxNumberOfMessages=10, AttributeNames=['MessageDeduplicationId'])['Messages']
            out['cb'] = [c1['MessageId'] == c2['MessageId'], c3['MessageId'] != c1['MessageId'], len(got), got[0]['Attributes']['MessageDeduplicationId'] == hashlib.sha256(b'same').hexdigest()]
            # Mappings on FIFO queues: BatchSize at most 10, no batching window.
            buf = __import__('io').BytesIO()
            with __import__('zipfile').ZipFile(buf, 'w') as z: z.writestr('app.py', 'def handler(e, c): return None')
            lam.create_function(FunctionName='noop', Runtime='python3.11', Handler='app.handler', Role='arn:aws:iam::000000000000:role/x', Code={'ZipFile': buf.getvalue()})
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            out['esm_size'] = code(lambda: lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='noop', BatchSize=20, MaximumBatchingWindowInSeconds=1))
            out['esm_window'] = code(lambda: lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='noop', BatchSize=5, MaximumBatchingWindowInSeconds=2))
            print(json.dumps(out))
            """#
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try QueueTests.output(result)
        let j = QueueTests.j
        #expect(j(out["name_only"]) == j(["InvalidParameterValue", 400, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"]))
        #expect(j(out["attr_only"]) == j(["InvalidParameterValue", 400, "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."]))
        #expect(j(out["std_attr"]) == j(["InvalidAttributeName", 400, "Unknown Attribute ContentBasedDeduplication."]))
        #expect((out["url"] as? String)?.hasSuffix("/000000000000/orders.fifo") == true)
        #expect(j(out["attrs"]) == j(["true", "false", "queue", "perQueue"]))
        #expect(j(out["set_fifo"]) == j(["InvalidAttributeName", 400, "Unknown Attribute FifoQueue."]))
        #expect(j(out["std_get"]) == j(["InvalidAttributeName", 400, "Unknown Attribute FifoQueue."]))
        #expect((out["std_group"] as? [Any])?.first as? String == "InvalidParameterValue")
        #expect((out["dlq_type"] as? [Any])?.last as? String == "Value {\"deadLetterTargetArn\": \"arn:aws:sqs:us-east-1:000000000000:plain\", \"maxReceiveCount\": 3} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source..", "\(out["dlq_type"] ?? "")")
        #expect(j(out["no_group"]) == j(["MissingParameter", 400, "The request must contain the parameter MessageGroupId."]))
        #expect(j(out["no_dedup"]) == j(["InvalidParameterValue", 400, "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"]))
        #expect(j(out["delay"]) == j(["InvalidParameterValue", 400, "Value 5 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."]))
        #expect(j(out["dup"]) == j([true, true, 20]))
        #expect(out["increasing"] as? Bool == true)
        #expect(j(out["batch"]) == j([["x", "y"], [["z", "MissingParameter"]], true]))
        #expect(out["depth"] as? String == "6")
        #expect(j(out["r1"]) == j(["a0", "a1", "a2"]))
        #expect(j(out["r1_attrs"]) == j(["A", "a0", true]))
        #expect(j(out["r2"]) == j(["b0", "b1"]))
        #expect(j(out["r2_attrs"]) == j(["SequenceNumber"]))
        #expect(out["r3"] as? Int == 0)
        #expect(j(out["r4"]) == j(["a3"]))
        #expect(out["attempt"] as? Bool == true)
        #expect(j(out["cb"]) == j([true, true, 2, true]))
        #expect((out["esm_size"] as? [Any])?.first as? String == "InvalidParameterValueException", "\(out["esm_size"] ?? "")")
        #expect(j(out["esm_window"]) == j(["InvalidParameterValueException", 400, "Batching window is not supported for FIFO queues"]))

        // The aws CLI: pip's v1 (JSON protocol) and Debian's v2 (query protocol).
        for (i, cli) in ServeDaemon.awsCLIs.enumerated() {
            let create = daemon.aws(cli: cli, ["sqs", "create-queue", "--queue-name", "cli-\(i).fifo", "--attributes", "FifoQueue=true,ContentBasedDeduplication=true"])
            #expect(create.status == 0, "\(cli): \(create.stderr)")
            let url = try #require(create.stdoutJSON?["QueueUrl"] as? String, "\(cli): \(create.stderr)")
            let send = daemon.aws(cli: cli, ["sqs", "send-message", "--queue-url", url, "--message-body", "from the cli", "--message-group-id", "g1"])
            let sequence = send.stdoutJSON?["SequenceNumber"] as? String
            #expect(sequence?.count == 20, "\(cli): \(send.stdoutText) \(send.stderr)")
            let dup = daemon.aws(cli: cli, ["sqs", "send-message", "--queue-url", url, "--message-body", "from the cli", "--message-group-id", "g1"])
            #expect(dup.stdoutJSON?["MessageId"] as? String == send.stdoutJSON?["MessageId"] as? String && dup.stdoutJSON?["SequenceNumber"] as? String == sequence)
            let missing = daemon.aws(cli: cli, ["sqs", "send-message", "--queue-url", url, "--message-body", "no group"])
            #expect(missing.status != 0 && missing.stderr.contains("MissingParameter"), "\(cli): \(missing.stderr)")
            let receive = daemon.aws(cli: cli, ["sqs", "receive-message", "--queue-url", url, "--attribute-names", "All", "--max-number-of-messages", "10"])
            let messages = receive.stdoutJSON?["Messages"] as? [[String: Any]]
            #expect(messages?.count == 1 && messages?.first?["Body"] as? String == "from the cli", "\(cli): \(receive.stdoutText) \(receive.stderr)")
            let attributes = messages?.first?["Attributes"] as? [String: String]
            #expect(attributes?["MessageGroupId"] == "g1" && attributes?["SequenceNumber"] == sequence, "\(cli): \(receive.stdoutText)")
            #expect(daemon.aws(cli: cli, ["sqs", "delete-queue", "--queue-url", url]).status == 0)
        }
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("a mapping on a FIFO queue processes several groups, each in send order; a reported failure brings back it and the rest of its group's batch; Powertools parses the event; a mapping on a dead-letter queue sees DeadLetterQueueSourceArn")
    func mapping() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        let setup = daemon.python(Self.createFunction("ordered") + #"""

            import json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.create_queue(QueueName='jobs.fifo', Attributes={'FifoQueue': 'true', 'VisibilityTimeout': '20'})['QueueUrl']
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            ids = {}
            for i in range(6):
                for g in ['A', 'B', 'C']:
                    body = '%s%d' % (g, i) + (' fail' if (g, i) == ('A', 2) else '') + (' dump' if (g, i) == ('B', 0) else '')
                    ids[sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=g, MessageDeduplicationId=body.replace(' ', '_'))['MessageId']] = body
            m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='ordered', BatchSize=10, FunctionResponseTypes=['ReportBatchItemFailures'])
            # A standard queue whose poison message moves to a dead-letter queue with a mapping.
            dead = sqs.create_queue(QueueName='dead')['QueueUrl']
            dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            src = sqs.create_queue(QueueName='src', Attributes={'RedrivePolicy': json.dumps({'deadLetterTargetArn': dead_arn, 'maxReceiveCount': 1})})['QueueUrl']
            sqs.send_message(QueueUrl=src, MessageBody='poison')
            sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
            sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
            lam.create_event_source_mapping(EventSourceArn=dead_arn, FunctionName='ordered', BatchSize=1)
            print(json.dumps({'ids': ids, 'state': m['State'], 'src': sqs.get_queue_attributes(QueueUrl=src, AttributeNames=['QueueArn'])['Attributes']['QueueArn']}))
            """#)
        #expect(setup.status == 0, "\(setup.stderr)")
        let out = try QueueTests.output(setup)
        let ids = try #require(out["ids"] as? [String: String])
        #expect(ids.count == 18)
        let state = daemon.stateDirectory
        let done = try await AsyncInvokeTests.waitFor(120) {
            let records = Self.records(state: state, function: "ordered")
            return Set(records.map(\.id)).isSuperset(of: ids.keys) && records.contains { $0.body == "poison" }
                && records.filter { $0.body == "A2 fail" }.count >= 2
        }
        #expect(done, "\(daemon.log.suffix(2000))")
        let settled = try await QueueTests.drained(daemon, queue: "jobs.fifo", within: 30)
        #expect(settled)
        let records = Self.records(state: state, function: "ordered").filter { $0.group != nil }
        // Each group in send order, by first processing.
        let order = Self.firstOrder(records)
        for g in ["A", "B", "C"] {
            let expected = ids.values.filter { $0.hasPrefix(g) }.sorted { Int($0.dropFirst().prefix(1))! < Int($1.dropFirst().prefix(1))! }
            #expect(order[g] == expected, "group \(g): \(order[g] ?? [])")
        }
        // B and C ran once each; A0, A1 once; A2 failed once and ran again, and each later A of
        // A2's first batch came back with it, in order (never before A2's retry).
        for r in records where r.group != "A" { #expect(records.filter { $0.id == r.id }.count == 1, "\(r.body) ran more than once: \(records.map { ($0.body, $0.count, $0.t) })") }
        let a = records.filter { $0.group == "A" }.map { ($0.body, $0.count) }
        let retry = try #require(a.firstIndex { $0.0 == "A2 fail" && $0.1 == "2" }, "\(a)")
        let firstRun = a[..<retry].map(\.0), secondRun = a[retry...].map(\.0)
        #expect(firstRun.prefix(3) == ["A0", "A1", "A2 fail"], "\(a)")
        #expect(Array(secondRun.prefix(firstRun.count - 2)) == Array(firstRun.dropFirst(2)), "the rest of A2's batch comes back in order: \(a)")
        #expect(Set(a.map(\.0)).count == 6)
        // The event: FIFO attributes, and Powertools' SqsModel parses it.
        let eventLine = try #require(QueueTests.logText(state: state, function: "ordered").first { $0.contains("fifo-event ") })
        let event = String(eventLine[eventLine.range(of: "fifo-event ")!.upperBound...])
        let parsed = daemon.python("""
            import json
            from aws_lambda_powertools.utilities.parser.models import SqsModel
            m = SqsModel.model_validate(json.loads(r'''\(event)'''))
            r = [r for r in m.Records if 'dump' in r.body][0]
            print(json.dumps([r.attributes.MessageGroupId, r.attributes.MessageDeduplicationId, len(r.attributes.SequenceNumber or ''), r.eventSourceARN]))
            """)
        #expect(parsed.status == 0, "\(parsed.stderr)")
        #expect(parsed.stdoutText.contains(#"["B", "B0_dump", 20, "arn:aws:sqs:us-east-1:000000000000:jobs.fifo"]"#), "\(parsed.stdoutText)")
        let poison = Self.records(state: state, function: "ordered").first { $0.body == "poison" }
        #expect(poison?.src == out["src"] as? String && poison?.src == "arn:aws:sqs:us-east-1:000000000000:src", "\(String(describing: poison))")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("kill -9 of the supervisor during a FIFO mapping's run: nothing accepted is lost, each group stays in order, and deduplication still answers the first MessageIds after the restart")
    func crashKeepsOrderAndDeduplication() async throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-fifo-crash-\(UUID().uuidString.prefix(8))").path
        var daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { daemon.stop(); daemon.removeState() }
        let send = #"""

            import json
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            url = sqs.create_queue(QueueName='crash.fifo', Attributes={'FifoQueue': 'true', 'VisibilityTimeout': '5'})['QueueUrl']
            sent = {}
            for i in range(40):
                entries = [{'Id': g, 'MessageBody': '%s-%02d' % (g, i), 'MessageGroupId': g, 'MessageDeduplicationId': 'd-%s-%d' % (g, i),
                            'MessageAttributes': {'sleep': {'DataType': 'Number', 'StringValue': '1.0'}}} for g in 'ABCDE']
                for e in sqs.send_message_batch(QueueUrl=url, Entries=entries)['Successful']:
                    sent['%s-%02d' % (e['Id'], i)] = [e['MessageId'], e['SequenceNumber']]
            """#
        let setup = daemon.python(Self.createFunction("crashy") + send + #"""

            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
            lam.create_event_source_mapping(EventSourceArn=arn, FunctionName='crashy', BatchSize=10)
            print(json.dumps(sent))
            """#)
        #expect(setup.status == 0, "\(setup.stderr)")
        let sent = try #require(try QueueTests.output(setup) as? [String: [String]])
        #expect(sent.count == 200)
        let started = try await AsyncInvokeTests.waitFor(60) { Self.records(state: state, function: "crashy").count >= 30 }
        #expect(started)
        daemon.crash()
        let before = Set(Self.records(state: state, function: "crashy").map(\.id))
        #expect(before.count < 200, "the crash came too late to test anything (\(before.count) processed)")
        daemon = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        // The same sends again (well within 5 minutes): every one is a duplicate of the first.
        let resend = daemon.python("import boto3, os\n" + send + "\nprint(json.dumps(sent))")
        #expect(resend.status == 0, "\(resend.stderr)")
        let again = try #require(try QueueTests.output(resend) as? [String: [String]])
        #expect(again == sent, "deduplication forgot \(again.filter { sent[$0.key] != $0.value }.count) of 200 across the crash")
        let drained = try await AsyncInvokeTests.waitFor(120) {
            Set(Self.records(state: state, function: "crashy").map(\.id)).count >= 200
        }
        let records = Self.records(state: state, function: "crashy")
        #expect(drained, "processed \(Set(records.map(\.id)).count) of 200")
        #expect(Set(records.map(\.id)) == Set(sent.values.map { $0[0] }), "only the accepted messages, none enqueued twice")
        let order = Self.firstOrder(records)
        for g in ["A", "B", "C", "D", "E"] {
            #expect(order[g] == (0..<40).map { String(format: "%@-%02d", g, $0) }, "group \(g) out of order: \(order[g] ?? [])")
        }
        // A group is never ahead of itself: each record's sequence is above every earlier
        // first-processed one of its group unless it is a redelivery.
        var newest: [String: String] = [:], seen = Set<String>()
        for r in records {
            if seen.insert(r.id).inserted, let seq = r.seq, let g = r.group {
                #expect((newest[g] ?? "") < seq, "group \(g) went back to \(r.body)")
                newest[g] = seq
            }
        }
        let settled = try await QueueTests.drained(daemon, queue: "crash.fifo", within: 60)
        #expect(settled)
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
