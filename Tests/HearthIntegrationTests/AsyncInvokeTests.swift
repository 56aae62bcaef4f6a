import Foundation
import HearthServer
import Testing

/// Asynchronous invocation end to end: real sandboxes, the aws CLIs and boto3, retries with
/// their delays, destinations, reserved concurrency 0, the payload limit, and a kill -9 with
/// hundreds of events queued and in flight.
@Suite("asynchronous invocation end to end", .serialized, .requiresRoot)
struct AsyncInvokeTests {
    /// The function's own log entries: (timestamp ms, request id, message).
    static func logs(_ daemon: ServeDaemon, _ function: String) async throws -> [(Int64, String, String)] {
        let response = try await daemon.client().send("GET", "/hearth/functions/\(function)/logs")
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        return (object?["events"] as? [[String: Any]] ?? []).map {
            (($0["timestamp"] as? NSNumber)?.int64Value ?? 0, $0["requestId"] as? String ?? "", $0["message"] as? String ?? "")
        }
    }

    /// The `probe-event` documents the probe logged (one per run of an event with a "mark").
    static func events(_ daemon: ServeDaemon, _ function: String) async throws -> [(requestID: String, at: Int64, event: [String: Any])] {
        try await logs(daemon, function).flatMap { entry in
            entry.2.split(separator: "\n").compactMap { line -> (String, Int64, [String: Any])? in
                guard line.hasPrefix("probe-event ") else { return nil }
                let json = Data(line.dropFirst("probe-event ".count).utf8)
                guard let event = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else { return nil }
                return (entry.1, entry.0, event)
            }
        }
    }

    /// `probe-event` lines in a function's log file, read with no daemon running.
    static func loggedRuns(state: String, function: String) -> Int {
        let text = (try? String(contentsOfFile: state + "/logs/\(function).log", encoding: .utf8)) ?? ""
        return text.components(separatedBy: "probe-event ").count - 1
    }

    static func waitFor(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    func queued(_ daemon: ServeDaemon, _ function: String) async throws -> [[String: Any]] {
        let response = try await daemon.client().send("GET", "/hearth/functions/\(function)/events")
        return (try JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["Events"] as? [[String: Any]] ?? []
    }

    @Test("aws CLI (v1 and v2) and boto3: 202 with the request id the function sees, InvokeAsync, 1 MB limit, event invoke config shapes")
    func clients() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        for (i, cli) in ServeDaemon.awsCLIs.enumerated() {
            let out = daemon.stateDirectory + "/out.json"
            let r = daemon.aws(cli: cli, ["lambda", "invoke", "--function-name", "work", "--invocation-type", "Event"]
                               + daemon.payload(cli: cli, #"{"mark":"cli-\#(i)"}"#) + [out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdoutJSON?["StatusCode"] as? Int == 202, "\(r.stdoutText)")
        }
        let script = """
            import boto3, json, os, botocore.config
            from botocore.exceptions import ClientError
            c = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            r = c.invoke(FunctionName='work', InvocationType='Event', Payload=json.dumps({'mark': 'boto3'}))
            out = {'status': r['StatusCode'], 'id': r['ResponseMetadata']['RequestId'], 'body': r['Payload'].read().decode()}
            out['legacy'] = c.invoke_async(FunctionName='work', InvokeArgs=json.dumps({'mark': 'legacy'}))['Status']
            try:
                c.invoke(FunctionName='work', InvocationType='Event', Payload=json.dumps({'mark': 'x' * (1024 * 1024)}))
            except ClientError as e:
                out['big'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
            try:
                c.invoke(FunctionName='nope', InvocationType='Event', Payload=b'{}')
            except ClientError as e:
                out['missing'] = e.response['Error']['Code']
            try:
                c.invoke(FunctionName='work', InvocationType='Event', Payload=b'not json')
            except ClientError as e:
                out['badjson'] = e.response['Error']['Code']
            put = c.put_function_event_invoke_config(FunctionName='work', MaximumRetryAttempts=1,
                DestinationConfig={'OnFailure': {'Destination': 'arn:aws:lambda:us-east-1:000000000000:function:work'}})
            out['put'] = {k: v for k, v in put.items() if k != 'ResponseMetadata'}
            out['put']['LastModified'] = str(out['put']['LastModified'])
            upd = c.update_function_event_invoke_config(FunctionName='work', MaximumEventAgeInSeconds=120)
            out['updated'] = [upd.get('MaximumRetryAttempts'), upd.get('MaximumEventAgeInSeconds'), upd['DestinationConfig']]
            got = c.get_function_event_invoke_config(FunctionName='work')
            out['got'] = [got.get('MaximumRetryAttempts'), got.get('MaximumEventAgeInSeconds')]
            over = c.put_function_event_invoke_config(FunctionName='work', MaximumEventAgeInSeconds=60)
            out['overwritten'] = [over.get('MaximumRetryAttempts'), over.get('MaximumEventAgeInSeconds'), over['DestinationConfig']]
            out['list'] = [x['FunctionArn'] for x in c.list_function_event_invoke_configs(FunctionName='work')['FunctionEventInvokeConfigs']]
            raw = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'], config=botocore.config.Config(parameter_validation=False))
            for name, kwargs in [('retries', {'MaximumRetryAttempts': 3}), ('age', {'MaximumEventAgeInSeconds': 59}),
                                 ('sqs', {'DestinationConfig': {'OnFailure': {'Destination': 'arn:aws:sqs:us-east-1:000000000000:q'}}}),
                                 ('garbage', {'DestinationConfig': {'OnSuccess': {'Destination': 'not-an-arn'}}})]:
                try:
                    raw.put_function_event_invoke_config(FunctionName='work', **kwargs)
                    out[name] = 'accepted'
                except ClientError as e:
                    out[name] = [e.response['Error']['Code'], e.response['Error']['Message']]
            c.delete_function_event_invoke_config(FunctionName='work')
            try:
                c.get_function_event_invoke_config(FunctionName='work')
            except ClientError as e:
                out['deleted'] = [e.response['Error']['Code'], e.response['Error']['Message']]
            try:
                c.get_function_event_invoke_config(FunctionName='work', Qualifier='nope')
            except ClientError as e:
                out['badqualifier'] = e.response['Error']['Code']
            try:
                c.update_function_configuration(FunctionName='work', DeadLetterConfig={'TargetArn': 'arn:aws:sqs:us-east-1:000000000000:dlq'})
                out['dlq'] = 'accepted'
            except ClientError as e:
                out['dlq'] = e.response['Error']['Code']
            sqs = boto3.client('sqs', endpoint_url=os.environ['ENDPOINT'])
            sqs.list_queues()
            out['sqs_service'] = 'served'
            print(json.dumps(out))
            """
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        let out = try #require(result.stdoutJSON, "\(result.stdoutText) \(result.stderr)")
        #expect(out["status"] as? Int == 202 && out["body"] as? String == "")
        #expect(out["legacy"] as? Int == 202)
        #expect((out["big"] as? [Any])?.first as? String == "RequestEntityTooLargeException")
        #expect((out["big"] as? [Any])?[1] as? Int == 413)
        #expect(out["missing"] as? String == "ResourceNotFoundException")
        #expect(out["badjson"] as? String == "InvalidRequestContentException")
        let put = try #require(out["put"] as? [String: Any])
        #expect(put["FunctionArn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:work:$LATEST")
        #expect(put["MaximumRetryAttempts"] as? Int == 1 && put["MaximumEventAgeInSeconds"] == nil)
        #expect((put["DestinationConfig"] as? [String: Any])?["OnSuccess"] as? [String: Any] != nil, "OnSuccess {} is echoed")
        let updated = try #require(out["updated"] as? [Any])
        #expect(updated[0] as? Int == 1 && updated[1] as? Int == 120, "Update merges: \(updated)")
        #expect(((updated[2] as? [String: Any])?["OnFailure"] as? [String: Any])?["Destination"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:work")
        let overwritten = try #require(out["overwritten"] as? [Any])
        #expect(overwritten[0] is NSNull && overwritten[1] as? Int == 60, "Put overwrites: \(overwritten)")
        #expect(((overwritten[2] as? [String: Any])?["OnFailure"] as? [String: Any])?.isEmpty == true)
        #expect(out["list"] as? [String] == ["arn:aws:lambda:us-east-1:000000000000:function:work:$LATEST"])
        #expect(((out["retries"] as? [String])?[1] ?? "").contains("Member must have value less than or equal to 2"), "\(out["retries"] ?? "")")
        #expect(((out["age"] as? [String])?[1] ?? "").contains("Member must have value greater than or equal to 60"))
        #expect(out["sqs"] as? String == "accepted", "queue ARNs are destinations now")
        #expect((out["garbage"] as? [String])?.first == "InvalidParameterValueException")
        #expect((out["deleted"] as? [String])?.first == "ResourceNotFoundException")
        #expect(((out["deleted"] as? [String])?[1] ?? "").contains("doesn't have an EventInvokeConfig"))
        #expect(out["badqualifier"] as? String == "ResourceNotFoundException")
        #expect(out["sqs_service"] as? String == "served")
        #expect(out["dlq"] as? String == "InvalidParameterValueException")

        // Every accepted event ran, and the function saw the request id the caller was given.
        let expected = Set(ServeDaemon.awsCLIs.indices.map { "cli-\($0)" } + ["boto3", "legacy"])
        let ran = try await Self.waitFor(20) { Set(try await Self.events(daemon, "work").compactMap { $0.event["mark"] as? String }) == expected }
        let seen = try await Self.events(daemon, "work").map(\.event)
        #expect(ran, "\(seen)")
        let boto = try await Self.events(daemon, "work").first { $0.event["mark"] as? String == "boto3" }
        #expect(boto?.requestID == out["id"] as? String)
        let metrics = try await daemon.metrics()
        #expect(metrics.contains(#"hearth_async_events_received_total{function="work"} \#(expected.count)"#), "\(metrics)")
    }

    @Test("a failing function is retried with the configured delays and its record reaches OnFailure; success reaches OnSuccess; reserved concurrency 0 fails at once")
    func retriesAndDestinations() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--async-retry-delays", "1,2"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        try await daemon.createProbe("sink")
        try await daemon.createProbe("blocked")
        let client = try daemon.client()
        let sink = "arn:aws:lambda:us-east-1:000000000000:function:sink"
        for function in ["work", "blocked"] {
            let config = try JSONSerialization.data(withJSONObject: ["DestinationConfig": ["OnFailure": ["Destination": sink], "OnSuccess": ["Destination": sink]]])
            let put = try await client.send("PUT", "/2019-09-25/functions/\(function)/event-invoke-config", body: config)
            #expect(put.status == 200, "\(put.errorDescription)")
        }
        // The sink's own failures (its records carry "cmd":"error" too) are not retried.
        _ = try await client.send("PUT", "/2019-09-25/functions/sink/event-invoke-config", body: Data(#"{"MaximumRetryAttempts":0}"#.utf8))
        _ = try await client.send("PUT", "/2017-10-31/functions/blocked/concurrency", body: Data(#"{"ReservedConcurrentExecutions":0}"#.utf8))

        func send(_ function: String, _ event: String) async throws -> String {
            let r = try await client.send("POST", "/2015-03-31/functions/\(function)/invocations", headers: [("X-Amz-Invocation-Type", "Event")], body: Data(event.utf8))
            #expect(r.status == 202, "\(r.errorDescription)")
            return r.header("x-amzn-RequestId") ?? ""
        }
        let failing = try await send("work", #"{"cmd":"error","mark":"fails"}"#)
        let succeeding = try await send("work", #"{"mark":"works"}"#)
        let blocked = try await send("blocked", #"{"mark":"blocked"}"#)

        let done = try await Self.waitFor(30) { try await Self.events(daemon, "sink").count >= 3 }
        let sunk = try await Self.events(daemon, "sink").map(\.event)
        #expect(done, "\(sunk)")
        // Three attempts of the failing event, with its request id, 1 s then 2 s apart.
        let attempts = try await Self.events(daemon, "work").filter { $0.event["mark"] as? String == "fails" }
        #expect(attempts.count == 3 && attempts.allSatisfy { $0.requestID == failing })
        if attempts.count == 3 {
            let gaps = zip(attempts.dropFirst(), attempts).map { $0.at - $1.at }
            #expect(gaps[0] >= 950 && gaps[1] >= 1950, "retry gaps \(gaps) ms")
        }
        #expect(try await Self.events(daemon, "blocked").isEmpty, "reserved concurrency 0: no attempt")

        let records = try await Self.events(daemon, "sink").map(\.event)
        func record(_ id: String) -> [String: Any]? {
            records.first { ($0["requestContext"] as? [String: Any])?["requestId"] as? String == id }
        }
        let failure = try #require(record(failing))
        #expect(failure["version"] as? String == "1.0")
        let fc = failure["requestContext"] as? [String: Any]
        #expect(fc?["condition"] as? String == "RetriesExhausted" && fc?["approximateInvokeCount"] as? Int == 3)
        #expect(fc?["functionArn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:work:$LATEST")
        #expect((failure["requestPayload"] as? [String: Any])?["mark"] as? String == "fails")
        let frc = failure["responseContext"] as? [String: Any]
        #expect(frc?["statusCode"] as? Int == 200 && frc?["executedVersion"] as? String == "$LATEST" && frc?["functionError"] as? String == "Unhandled")
        #expect((failure["responsePayload"] as? [String: Any])?["errorType"] as? String == "Probe.Failure")
        #expect((failure["timestamp"] as? String)?.hasSuffix("Z") == true)

        let success = try #require(record(succeeding))
        #expect((success["requestContext"] as? [String: Any])?["condition"] as? String == "Success")
        #expect((success["responseContext"] as? [String: Any])?["functionError"] == nil)
        #expect((success["responsePayload"] as? [String: Any])?["mark"] as? String == "works", "the probe echoes its event")

        let zero = try #require(record(blocked))
        #expect((zero["requestContext"] as? [String: Any])?["approximateInvokeCount"] as? Int == 0)

        // hearth events: the failed ones are listed with their attempt counts.
        let listed = try await queued(daemon, "work")
        #expect(listed.contains { $0["RequestId"] as? String == failing && $0["State"] as? String == "failed" && $0["Attempts"] as? Int == 3 })
        let cli = Harness.run(Harness.hearth, ["events", "work", "--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath])
        #expect(cli.status == 0 && cli.stdoutText.contains(failing) && cli.stdoutText.contains("RetriesExhausted"), "\(cli.stdoutText) \(cli.stderr)")
        let metrics = try await daemon.metrics()
        #expect(metrics.contains(#"hearth_async_events_dropped_total{function="work",reason="RetriesExhausted"} 1"#))
        #expect(metrics.contains(#"hearth_async_destination_deliveries_total{function="work",condition="Success"} 1"#))
        #expect(metrics.contains(#"hearth_async_event_age_seconds_count{function="work"} 4"#), "\(metrics)")
    }

    @Test("kill -9 with 500 events accepted, some running: after a restart every one has run at least once; duplicates are counted")
    func crashRecovery() async throws {
        let first = try ServeDaemon(extra: ["--prefork", "0", "--async-concurrency", "4"])
        let state = first.stateDirectory
        defer { first.crash() }
        try await first.createProbe("work")
        let script = """
            import boto3, json, os
            from concurrent.futures import ThreadPoolExecutor
            c = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            def send(i):
                r = c.invoke(FunctionName='work', InvocationType='Event', Payload=json.dumps({'cmd': 'sleep', 'ms': 20, 'mark': 'e%d' % i}))
                return r['StatusCode']
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(send, range(500)))
            print(json.dumps({'accepted': sum(1 for s in codes if s == 202)}))
            """
        let sent = first.python(script)
        #expect(sent.stdoutJSON?["accepted"] as? Int == 500, "\(sent.stdoutText) \(sent.stderr)")
        let before = try await Self.events(first, "work").count
        first.crash()
        #expect(before < 500, "the crash must come while events are still queued (\(before) had run)")

        let second = try ServeDaemon(extra: ["--prefork", "0", "--async-concurrency", "4"], stateDirectory: state)
        defer { second.stop(); second.removeState() }
        #expect(second.log.contains("recovered") || before == 0, "\(second.log)")
        let drained = try await Self.waitFor(120) { try await queued(second, "work").isEmpty }
        let left = try await queued(second, "work").count
        #expect(drained, "\(left) events still queued")
        let marks = try await Self.events(second, "work").compactMap { $0.event["mark"] as? String }
        let distinct = Set(marks)
        #expect(distinct.count == 500, "every accepted event ran: \(distinct.count) of 500")
        let duplicates = marks.count - distinct.count
        print("crash recovery: \(before) events had run before kill -9; after restart all 500 ran, \(duplicates) ran twice")
        #expect(duplicates <= 4, "duplicates only for events in flight at the crash (concurrency 4): \(duplicates)")
    }

    @Test("a graceful stop with a backlog releases what is left; the next start runs every event, none twice")
    func gracefulRestart() async throws {
        let first = try ServeDaemon(extra: ["--prefork", "0", "--async-concurrency", "2", "--shutdown-grace", "2"])
        let state = first.stateDirectory
        try await first.createProbe("work")
        let client = try first.client()
        for i in 0..<60 {
            let r = try await client.send("POST", "/2015-03-31/functions/work/invocations", headers: [("X-Amz-Invocation-Type", "Event")],
                                          body: Data(#"{"cmd":"sleep","ms":100,"mark":"g\#(i)"}"#.utf8))
            #expect(r.status == 202)
        }
        first.stop()
        let before = Self.loggedRuns(state: state, function: "work")
        #expect(before < 60, "the stop must come with events still queued")
        let second = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: state)
        defer { second.stop(); second.removeState() }
        #expect(!second.log.contains("recovered"), "released leases are not recoveries: \(second.log)")
        let drained = try await Self.waitFor(60) { try await queued(second, "work").isEmpty }
        #expect(drained)
        let marks = try await Self.events(second, "work").compactMap { $0.event["mark"] as? String }
        #expect(Set(marks).count == 60 && marks.count == 60, "\(marks.count) runs of \(Set(marks).count) events")
    }

    @Test("MaximumEventAgeInSeconds: an event still failing at 60 s is given up as EventAgeExceeded, its record delivered")
    func eventAge() async throws {
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--async-retry-delays", "30,30"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("work")
        try await daemon.createProbe("sink")
        let client = try daemon.client()
        let config = #"{"MaximumEventAgeInSeconds":60,"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:lambda:us-east-1:000000000000:function:sink"}}}"#
        #expect(try await client.send("PUT", "/2019-09-25/functions/work/event-invoke-config", body: Data(config.utf8)).status == 200)
        _ = try await client.send("PUT", "/2019-09-25/functions/sink/event-invoke-config", body: Data(#"{"MaximumRetryAttempts":0}"#.utf8))
        let accepted = Date()
        let r = try await client.send("POST", "/2015-03-31/functions/work/invocations", headers: [("X-Amz-Invocation-Type", "Event")],
                                      body: Data(#"{"cmd":"error","mark":"old"}"#.utf8))
        let id = r.header("x-amzn-RequestId") ?? ""
        let delivered = try await Self.waitFor(90) { !(try await Self.events(daemon, "sink").isEmpty) }
        #expect(delivered)
        let waited = Date().timeIntervalSince(accepted)
        #expect(waited >= 59, "given up at the expiry, not before: \(waited) s")
        let record = try await Self.events(daemon, "sink").first?.event
        let context = record?["requestContext"] as? [String: Any]
        #expect(context?["condition"] as? String == "EventAgeExceeded" && context?["requestId"] as? String == id)
        #expect(context?["approximateInvokeCount"] as? Int == 2, "attempts at 0 s and 30 s; the third would fall past 60 s")
        #expect((record?["responseContext"] as? [String: Any])?["functionError"] as? String == "Unhandled")
        #expect(try await Self.events(daemon, "work").count == 2)
    }
}
