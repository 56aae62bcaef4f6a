import Foundation
import HearthSandbox
import HearthServer
import Testing

/// `hearth serve` end to end: the real aws CLI and boto3 against the front door, the pool,
/// SigV4, crash recovery.
@Suite("hearth serve end to end", .serialized, .requiresRoot)
struct ServeTests {
    @Test("aws CLI (v1 and v2): create from a zip, invoke with log tail, update code, publish, weighted alias, list, delete",
          arguments: ServeDaemon.awsCLIs)
    func awsCLI(cli: String) throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let zip = Harness.fixtures + "/echo.zip"
        let created = daemon.aws(cli: cli, ["lambda", "create-function", "--function-name", "echo", "--runtime", "provided.al2023",
                                  "--role", "arn:aws:iam::000000000000:role/lambda", "--handler", "bootstrap",
                                  "--zip-file", "fileb://" + zip, "--memory-size", "256", "--timeout", "5",
                                  "--environment", "Variables={GREETING=hello}"])
        #expect(created.status == 0, "\(created.stderr)")
        let config = try #require(created.stdoutJSON)
        #expect(config["FunctionName"] as? String == "echo")
        #expect(config["MemorySize"] as? Int == 256)
        #expect(config["Version"] as? String == "$LATEST")
        #expect((config["FunctionArn"] as? String)?.hasSuffix(":function:echo") == true)

        let out = daemon.stateDirectory + "/out.json"
        let invoked = daemon.aws(cli: cli, ["lambda", "invoke", "--function-name", "echo", "--log-type", "Tail"] + daemon.payload(cli: cli, #"{"hello":"cli"}"#) + [out])
        #expect(invoked.status == 0, "\(invoked.stderr)")
        let meta = try #require(invoked.stdoutJSON)
        #expect(meta["StatusCode"] as? Int == 200)
        #expect(meta["ExecutedVersion"] as? String == "$LATEST")
        let tail = String(decoding: Data(base64Encoded: meta["LogResult"] as? String ?? "") ?? Data(), as: UTF8.self)
        #expect(tail.contains("START RequestId:") && tail.contains("REPORT RequestId:") && tail.contains("echo: handling"))
        let response = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect((response?["event"] as? [String: Any])?["hello"] as? String == "cli")
        #expect(response?["memory_mb"] as? String == "256")

        // A function error: 200 with FunctionError.
        let failed = daemon.aws(cli: cli, ["lambda", "invoke", "--function-name", "echo", ] + daemon.payload(cli: cli, #"{"fail":true}"#) + [out])
        #expect(failed.stdoutJSON?["FunctionError"] as? String == "Unhandled")

        // Update the code (the probe), publish version 1, alias with weights.
        let updated = daemon.aws(cli: cli, ["lambda", "update-function-code", "--function-name", "echo", "--zip-file",
                                  "fileb://" + Harness.fixtures + "/probe.zip"])
        #expect(updated.status == 0, "\(updated.stderr)")
        let v1 = daemon.aws(cli: cli, ["lambda", "publish-version", "--function-name", "echo", "--description", "probe"])
        #expect(v1.stdoutJSON?["Version"] as? String == "1", "\(v1.stderr)")
        _ = daemon.aws(cli: cli, ["lambda", "update-function-code", "--function-name", "echo", "--zip-file", "fileb://" + zip])
        let v2 = daemon.aws(cli: cli, ["lambda", "publish-version", "--function-name", "echo"])
        #expect(v2.stdoutJSON?["Version"] as? String == "2", "\(v2.stderr)")
        let alias = daemon.aws(cli: cli, ["lambda", "create-alias", "--function-name", "echo", "--name", "live", "--function-version", "1",
                                "--routing-config", #"{"AdditionalVersionWeights":{"2":0.5}}"#])
        #expect(alias.status == 0, "\(alias.stderr)")
        #expect(((alias.stdoutJSON?["RoutingConfig"] as? [String: Any])?["AdditionalVersionWeights"] as? [String: Any])?["2"] as? Double == 0.5)
        var executed: Set<String> = []
        for _ in 0..<16 {
            let r = daemon.aws(cli: cli, ["lambda", "invoke", "--function-name", "echo:live", ] + daemon.payload(cli: cli, #"{"cmd":"echo"}"#) + [out])
            if let v = r.stdoutJSON?["ExecutedVersion"] as? String { executed.insert(v) }
        }
        #expect(executed == ["1", "2"], "a 50% weight should route to both versions in 16 calls: \(executed)")

        let listed = daemon.aws(cli: cli, ["lambda", "list-functions"])
        #expect((listed.stdoutJSON?["Functions"] as? [[String: Any]])?.map { $0["FunctionName"] as? String } == ["echo"])
        let versions = daemon.aws(cli: cli, ["lambda", "list-versions-by-function", "--function-name", "echo"])
        #expect((versions.stdoutJSON?["Versions"] as? [Any])?.count == 3)
        let got = daemon.aws(cli: cli, ["lambda", "get-function", "--function-name", "echo", "--qualifier", "1"])
        #expect((got.stdoutJSON?["Configuration"] as? [String: Any])?["Version"] as? String == "1")

        // Error shapes.
        let missing = daemon.aws(cli: cli, ["lambda", "invoke", "--function-name", "nope", out])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("ResourceNotFoundException"), "\(missing.stderr)")
        let bad = daemon.aws(cli: cli, ["lambda", "create-function", "--function-name", "bad", "--runtime", "cobol85", "--role", "r",
                              "--zip-file", "fileb://" + zip])
        #expect(bad.stderr.contains("InvalidParameterValueException"), "\(bad.stderr)")

        let deleted = daemon.aws(cli: cli, ["lambda", "delete-function", "--function-name", "echo"])
        #expect(deleted.status == 0)
        #expect(daemon.aws(cli: cli, ["lambda", "get-function", "--function-name", "echo"]).stderr.contains("ResourceNotFoundException"))
    }

    @Test("boto3: create, invoke, errors, concurrency API")
    func boto3() throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let script = """
        import boto3, json, os, base64
        c = boto3.client("lambda", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        code = open("\(Harness.fixtures)/probe.zip", "rb").read()
        r = c.create_function(FunctionName="p", Runtime="provided", Role="arn:aws:iam::000000000000:role/x",
                              Handler="x", Code={"ZipFile": code}, MemorySize=128, Timeout=3)
        assert r["FunctionName"] == "p", r
        r = c.invoke(FunctionName="p", Payload=json.dumps({"cmd": "count"}), LogType="Tail")
        assert r["StatusCode"] == 200 and json.loads(r["Payload"].read()) == {"count": 1}, r
        assert "REPORT RequestId" in base64.b64decode(r["LogResult"]).decode()
        r = c.invoke(FunctionName="p", Payload=json.dumps({"cmd": "count"}))
        assert json.loads(r["Payload"].read()) == {"count": 2}, "warm instance keeps its state"
        r = c.invoke(FunctionName="p", Payload=json.dumps({"cmd": "error"}))
        assert r["FunctionError"] == "Unhandled"
        body = json.loads(r["Payload"].read())
        assert body["errorType"] == "Probe.Failure", body
        r = c.invoke(FunctionName="p", Payload=json.dumps({"cmd": "sleep", "ms": 5000}))
        body = json.loads(r["Payload"].read())
        assert r["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout", body
        r = c.invoke(FunctionName="p", InvocationType="DryRun")
        assert r["StatusCode"] == 204
        try:
            c.invoke(FunctionName="p", Payload=b"{not json")
            raise SystemExit("invalid JSON accepted")
        except c.exceptions.InvalidRequestContentException:
            pass
        try:
            c.invoke(FunctionName="p", Payload=b"x" * (6 * 1024 * 1024 + 10))
            raise SystemExit("oversized payload accepted")
        except c.exceptions.RequestTooLargeException:
            pass
        try:
            c.get_function(FunctionName="missing")
            raise SystemExit("missing function found")
        except c.exceptions.ResourceNotFoundException as e:
            assert "Function not found" in str(e)
        for bad in [b"not a zip", open("\(Harness.fixtures)/slip.zip", "rb").read()]:
            try:
                c.create_function(FunctionName="bad", Runtime="provided", Role="r", Code={"ZipFile": bad})
                raise SystemExit("a bad zip was accepted")
            except c.exceptions.InvalidParameterValueException as e:
                assert "unzip" in str(e), e
        c.put_function_concurrency(FunctionName="p", ReservedConcurrentExecutions=0)
        try:
            c.invoke(FunctionName="p", Payload=b"{}")
            raise SystemExit("reserved concurrency 0 should throttle")
        except c.exceptions.TooManyRequestsException as e:
            assert e.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response
        c.delete_function_concurrency(FunctionName="p")
        c.update_function_configuration(FunctionName="p", MemorySize=256)
        assert c.get_function_configuration(FunctionName="p")["MemorySize"] == 256
        r = c.invoke(FunctionName="p", Payload=json.dumps({"cmd": "count"}))
        assert json.loads(r["Payload"].read()) == {"count": 1}, "a configuration change drains old instances"
        c.delete_function(FunctionName="p")
        print("boto3 ok")
        """
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("boto3 ok"))
    }

    @Test("SigV4: unsigned, wrong secret, unknown key and stale requests get 403")
    func sigv4Rejections() throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let script = """
        import boto3, botocore, os, datetime, urllib.request, urllib.error
        from botocore.config import Config
        e = os.environ["ENDPOINT"]
        def code(**kw):
            c = boto3.client("lambda", endpoint_url=e, region_name="us-east-1", **kw)
            try:
                c.list_functions()
                return "ok"
            except botocore.exceptions.ClientError as err:
                return err.response["Error"]["Code"] + ":" + str(err.response["ResponseMetadata"]["HTTPStatusCode"])
        good = code()
        wrong = code(aws_access_key_id=boto3.Session().get_credentials().access_key, aws_secret_access_key="x" * 40)
        unknown = code(aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="y" * 40)
        try:
            urllib.request.urlopen(e + "/2015-03-31/functions/")
            unsigned = "ok"
        except urllib.error.HTTPError as err:
            unsigned = err.headers.get("x-amzn-ErrorType") + ":" + str(err.code)
        try:
            req = urllib.request.Request(e + "/2015-03-31/functions", data=b"x" * (10 * 1024 * 1024), method="POST")
            urllib.request.urlopen(req)
            unsigned_big = "ok"
        except urllib.error.HTTPError as err:
            unsigned_big = err.headers.get("x-amzn-ErrorType") + ":" + str(err.code)
        assert unsigned_big == "MissingAuthenticationTokenException:403", unsigned_big
        import botocore.auth
        real = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=10)
        stale = code()
        botocore.auth.get_current_datetime = real
        print(good, wrong, unknown, unsigned, stale)
        """
        let result = daemon.python(script)
        #expect(result.status == 0, "\(result.stderr)")
        let parts = result.stdoutText.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(parts.count == 5)
        guard parts.count == 5 else { return }
        #expect(parts[0] == "ok")
        #expect(parts[1] == "InvalidSignatureException:403")
        #expect(parts[2] == "UnrecognizedClientException:403")
        #expect(parts[3].hasSuffix(":403") && parts[3] != "ok")
        #expect(parts[4] == "InvalidSignatureException:403")
    }

    @Test("pool: 20 concurrent 200 ms invocations all succeed on several instances; reserved concurrency 1 throttles the second")
    func pool() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("sleepy", extra: ["Timeout": 10])
        let statuses = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let r = try await daemon.invoke("sleepy", #"{"cmd":"sleep","ms":200}"#)
                    return (r.status, r.header("X-Amz-Function-Error") == nil)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 20)
        #expect(statuses.allSatisfy { $0 == (200, true) }, "\(statuses)")
        let metrics = try await daemon.metrics()
        let cold = metrics.split(separator: "\n").first { $0.hasPrefix("hearth_cold_starts_total{function=\"sleepy\"}") }
        let coldCount = Int(cold?.split(separator: " ").last ?? "") ?? 0
        #expect(coldCount > 1 && coldCount <= 20, "cold starts: \(coldCount)")

        // Reserved concurrency 1: of two concurrent calls one is throttled.
        let client = try daemon.client()
        let put = try await client.send("PUT", "/2017-10-31/functions/sleepy/concurrency",
                                        body: Data(#"{"ReservedConcurrentExecutions":1}"#.utf8))
        #expect(put.status == 200)
        async let a = daemon.invoke("sleepy", #"{"cmd":"sleep","ms":500}"#)
        async let b = daemon.invoke("sleepy", #"{"cmd":"sleep","ms":500}"#)
        let pair = try await [a, b]
        #expect(pair.map(\.status).sorted() == [200, 429], "\(pair.map(\.status))")
        let throttled = try #require(pair.first { $0.status == 429 })
        #expect(throttled.header("x-amzn-ErrorType") == "TooManyRequestsException")
        #expect(throttled.json?["Reason"] as? String == "ReservedFunctionConcurrentInvocationLimitExceeded")
    }

    @Test("idle instances are reaped after --idle-timeout, leaving nothing behind")
    func idleReaping() async throws {
        let daemon = try ServeDaemon(extra: ["--idle-timeout", "1"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("reaped")
        #expect(try await daemon.invoke("reaped", #"{"cmd":"count"}"#).status == 200)
        #expect(try await daemon.metrics().contains("hearth_idle_instances{function=\"reaped\"} 1"))
        try await Task.sleep(for: .seconds(3))
        let metrics = try await daemon.metrics()
        #expect(metrics.contains("hearth_instances 0"), "\(metrics)")
        #expect(Harness.leftovers().filter { $0.hasPrefix("cgroup") || $0.hasPrefix("process") }.isEmpty)
        // The next invocation is a cold one again: state is gone.
        let again = try await daemon.invoke("reaped", #"{"cmd":"count"}"#)
        #expect(again.json?["count"] as? Int == 1)
    }

    @Test("provisioned concurrency keeps N instances initialised: no Init Duration, not reaped while idle")
    func provisionedConcurrency() async throws {
        let daemon = try ServeDaemon(extra: ["--idle-timeout", "1"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("warmed")
        let client = try daemon.client()
        #expect(try await client.send("POST", "/2015-03-31/functions/warmed/versions").status == 201)
        let latest = try await client.send("PUT", "/2019-09-30/functions/warmed/provisioned-concurrency", query: [("Qualifier", "$LATEST")],
                                           body: Data(#"{"ProvisionedConcurrentExecutions":2}"#.utf8))
        #expect(latest.status == 400, "$LATEST cannot be provisioned")
        let put = try await client.send("PUT", "/2019-09-30/functions/warmed/provisioned-concurrency", query: [("Qualifier", "1")],
                                        body: Data(#"{"ProvisionedConcurrentExecutions":2}"#.utf8))
        #expect(put.status == 202, "\(put.errorDescription)")
        var status = ""
        for _ in 0..<100 where status != "READY" {
            let got = try await client.send("GET", "/2019-09-30/functions/warmed/provisioned-concurrency", query: [("Qualifier", "1")])
            status = got.json?["Status"] as? String ?? ""
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status == "READY")
        // Idle for longer than the idle timeout: still there.
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await daemon.metrics().contains("hearth_idle_instances{function=\"warmed\"} 2"))
        let invoked = try await client.send("POST", "/2015-03-31/functions/warmed/invocations", query: [("Qualifier", "1")],
                                            headers: [("X-Amz-Log-Type", "Tail")], body: Data(#"{"cmd":"count"}"#.utf8))
        #expect(invoked.status == 200)
        let tail = String(decoding: Data(base64Encoded: invoked.header("X-Amz-Log-Result") ?? "") ?? Data(), as: UTF8.self)
        #expect(tail.contains("REPORT RequestId:") && !tail.contains("Init Duration"), "\(tail)")
        // Removing the setting lets the reaper take them.
        #expect(try await client.send("DELETE", "/2019-09-30/functions/warmed/provisioned-concurrency", query: [("Qualifier", "1")]).status == 204)
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await daemon.metrics().contains("hearth_instances 0"))
    }

    @Test("--freeze-idle: idle instances are frozen, thawed on reuse with their state",
          .enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer/freezer.state") || FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer/tasks"),
                   "reads the cgroup v1 freezer's state; on cgroup v2 hosts the driver uses cgroup.freeze, untested here"))
    func freezeIdle() async throws {
        // No pre-forked shell: its cgroup (never frozen: a shell runs nothing) would be a second
        // hearth-<pid>- group next to the instance's.
        let daemon = try ServeDaemon(extra: ["--freeze-idle", "--prefork", "0"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("frozen")
        #expect(try await daemon.invoke("frozen", #"{"cmd":"count"}"#).json?["count"] as? Int == 1)
        let pid = daemon.process.processIdentifier
        let freezer = "/sys/fs/cgroup/freezer"
        // The instance's group, inside the supervisor's parent group.
        let group = try #require(CgroupV1Driver(groups: ["memory": freezer]).leftovers(prefix: "hearth-\(pid)-").first)
        // The instance goes back to the pool (and is frozen) at the runtime's next /next, just
        // after the caller has its answer: wait for it (up to 2 s) rather than race it.
        var state = ""
        for _ in 0..<100 {
            state = try String(contentsOfFile: "\(freezer)/\(group)/freezer.state", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            if state == "FROZEN" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(state == "FROZEN")
        #expect(try await daemon.invoke("frozen", #"{"cmd":"count"}"#).json?["count"] as? Int == 2)
    }

    @Test("cross-instance: another instance's socket is unreachable and foreign request ids get 400")
    func crossInstance() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("alpha")
        try await daemon.createProbe("beta")
        #expect(try await daemon.invoke("beta", #"{"cmd":"count"}"#).status == 200)
        let run = "/run/hearth/\(daemon.process.processIdentifier)"
        let instances = try FileManager.default.contentsOfDirectory(atPath: run)
        // Each socket is made inside its sandbox, in a tmpfs of its own (ADR 0032): no host path
        // leads to it. Where it used to be (the instance's workspace), alpha finds nothing.
        let hostSockets = instances.filter { FileManager.default.fileExists(atPath: "\(run)/\($0)/sock/runtime.sock") }
        #expect(hostSockets.isEmpty, "Runtime API sockets on the host: \(hostSockets)")
        let betaSocket = "\(run)/\(try #require(instances.first))/sock/runtime.sock"
        let foreign = try await daemon.invoke("alpha", #"{"cmd":"connect","path":"\#(betaSocket)"}"#)
        let foreignErrno = foreign.json?["errno"] as? Int
        SecurityLedger.check("api.other_instance_socket", "connect to another function's Runtime API socket (where its host path was)",
                             expected: "ENOENT (2): made in the other sandbox's own tmpfs, on no host path", observed: SecurityLedger.errnoName(foreignErrno),
                             foreignErrno == Int(ENOENT) && hostSockets.isEmpty)
        let own = try await daemon.invoke("alpha", #"{"cmd":"connect","path":"/run/hearth/runtime.sock"}"#)
        #expect(own.json?["errno"] as? Int == 0)
        let forged = try await daemon.invoke("alpha", #"{"cmd":"foreign","id":"00000000-0000-0000-0000-000000000000"}"#)
        let forgedStatus = forged.json?["status"] as? Int
        SecurityLedger.check("api.foreign_request_id", "answer an invocation id this instance was not given",
                             expected: "400 from its own Runtime API", observed: forgedStatus.map { "\($0)" } ?? "nothing", forgedStatus == 400)
        // The instance itself is unharmed and still the same one.
        #expect(try await daemon.invoke("alpha", #"{"cmd":"count"}"#).json?["count"] as? Int == 1)
        #expect(try await daemon.invoke("alpha", #"{"cmd":"count"}"#).json?["count"] as? Int == 2)
        // Two functions never share a sandbox: different hostnames and cgroups.
        let alphaFacts = try await daemon.invoke("alpha", #"{"cmd":"facts"}"#).json ?? [:]
        let betaFacts = try await daemon.invoke("beta", #"{"cmd":"facts"}"#).json ?? [:]
        let alphaHost = alphaFacts["hostname"] as? String ?? "?", betaHost = betaFacts["hostname"] as? String ?? "?"
        // Inside, every sandbox sees its cgroup as "/" (its own cgroup namespace): tell them apart
        // from outside, by the function named in the environment of each instance group's processes.
        func group(of function: String) -> String? {
            let driver = try? CgroupHost.detect()
            let base = (driver as? CgroupV1Driver)?.groups["pids"] ?? (driver as? CgroupV2Driver)?.parent ?? ""
            return driver?.leftovers(prefix: "hearth-\(daemon.process.processIdentifier)-").first { name in
                let procs = (try? String(contentsOfFile: base + "/" + name + "/cgroup.procs", encoding: .utf8)) ?? ""
                return procs.split(separator: "\n").contains { pid in
                    let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
                    return String(decoding: environ, as: UTF8.self).contains("AWS_LAMBDA_FUNCTION_NAME=\(function)\0")
                }
            }
        }
        let alphaGroup = group(of: "alpha") ?? "", betaGroup = group(of: "beta") ?? ""
        SecurityLedger.check("iso.separate_sandboxes", "two functions on one supervisor", expected: "separate sandboxes (hostname, cgroup)",
                             observed: "\(alphaHost) vs \(betaHost); cgroups \(alphaGroup == betaGroup ? "shared" : "separate")",
                             alphaHost != betaHost && !alphaGroup.isEmpty && alphaGroup != betaGroup)
    }

    @Test("a log flood is stored bounded, with a truncation marker, keeping the end")
    func logFlood() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("noisy", extra: ["Timeout": 30])
        #expect(try await daemon.invoke("noisy", #"{"cmd":"count"}"#).status == 200)
        let rssBefore = Self.residentKB(daemon.process.processIdentifier)
        let response = try await daemon.invoke("noisy", #"{"cmd":"log","lines":20000}"#)
        let rssAfter = Self.residentKB(daemon.process.processIdentifier)
        #expect(response.status == 200)
        let id = try #require(response.header("x-amzn-RequestId"))
        // The invocation (and its log) ends at the runtime's next /next, just after the answer.
        var events: [[String: Any]] = []
        for _ in 0..<100 {
            let logs = try await daemon.client().send("GET", "/hearth/functions/noisy/logs", query: [("requestId", id)])
            events = logs.json?["events"] as? [[String: Any]] ?? []
            if !events.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let message = try #require(events.first?["message"] as? String)
        #expect(message.contains("[hearth: log truncated,"))
        #expect(message.contains("probe err line 19999"))
        #expect(message.utf8.count < 300 * 1024, "stored log is bounded: \(message.utf8.count) bytes")
        // 40,000 lines, about 1 MB, written in one invocation.
        let grew = rssAfter - rssBefore
        SecurityLedger.check("res.log_flood", "write 40,000 log lines (≈1 MB) in one invocation",
                             expected: "stored log < 300 KB with a truncation marker; supervisor RSS grows < 32 MB",
                             observed: "stored \(message.utf8.count) bytes, marker \(message.contains("[hearth: log truncated,") ? "present" : "missing"); RSS \(rssBefore / 1024) → \(rssAfter / 1024) MB",
                             message.contains("[hearth: log truncated,") && message.utf8.count < 300 * 1024 && grew < 32 * 1024)
    }

    /// VmRSS of a process in KB (0 when unreadable).
    static func residentKB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test("kill -9 of the supervisor with instances running, one mid-invocation: every sandbox dies with it; the restart cleans up and keeps every function")
    func crashRecovery() async throws {
        // Counts instances by cgroup: no pre-forked shells (PreforkTests kills a supervisor with shells).
        let first = try ServeDaemon(extra: ["--prefork", "0"])
        defer { first.removeState() }
        for name in ["survivor", "second", "busy"] { try await first.createProbe(name, extra: ["Timeout": 60]) }
        #expect(try await first.invoke("survivor", #"{"cmd":"count"}"#).status == 200)
        #expect(try await first.invoke("second", #"{"cmd":"count"}"#).status == 200)
        let busy = Task { try? await first.invoke("busy", #"{"cmd":"sleep","ms":30000}"#) }
        let pid = first.process.processIdentifier
        // Three instances, plus the pool's pre-forked spare sandboxes.
        var running = 0
        for _ in 0..<100 where running < 3 {
            try await Task.sleep(for: .milliseconds(50))
            running = LifecycleLeakTests.Usage.of(pid).cgroups
        }
        #expect(running >= 3, "sandboxes before the crash: \(running)")
        first.crash()
        _ = await busy.value
        // The crashed supervisor's sandboxes die with it (their init has a parent-death signal),
        // before anything restarts.
        var processes = LifecycleLeakTests.Usage.of(pid).processes
        for _ in 0..<40 where processes > 0 {
            try await Task.sleep(for: .milliseconds(50))
            processes = LifecycleLeakTests.Usage.of(pid).processes
        }
        let second = try ServeDaemon(stateDirectory: first.stateDirectory)
        defer { second.stop() }
        let left = Harness.leftovers().filter { $0.contains("hearth-\(pid)-") || $0.contains("/run/hearth/\(pid)") }
        var answers: [String] = []
        for name in ["survivor", "second", "busy"] {
            let response = try await second.invoke(name, #"{"cmd":"count"}"#)
            answers.append("\(name) \(response.status)/\(response.json?["count"] ?? "?")")
        }
        SecurityLedger.check("supervisor.kill9", "kill -9 of the supervisor with 3 instances, one mid-invocation, then a restart",
                             expected: "sandbox processes gone before the restart; the restart leaves no cgroup or run folder; all 3 functions answer from fresh instances",
                             observed: "\(running) sandboxes (instances and pre-forked spares); \(processes) sandbox processes left within 2 s of the kill; \(left.isEmpty ? "no leftovers" : "leftovers: \(left)") after restart; \(answers.joined(separator: ", "))",
                             running >= 3 && processes == 0 && left.isEmpty && answers.allSatisfy { $0.hasSuffix(" 200/1") })
    }

    @Test("graceful shutdown removes every instance, cgroup and run folder")
    func gracefulShutdown() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.removeState() }
        try await daemon.createProbe("graceful")
        #expect(try await daemon.invoke("graceful", #"{"cmd":"count"}"#).status == 200)
        daemon.stop()
        #expect(daemon.process.terminationStatus == 0)
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }
}

@Suite("hearth CLI against the daemon", .serialized, .requiresRoot)
struct CLITests {
    @Test("create, list, invoke --log, publish, alias, update, logs, get, delete")
    func lifecycle() throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        func hearth(_ args: [String], stdin: Data? = nil) -> Harness.Result {
            Harness.run(Harness.hearth, args + ["--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath], stdin: stdin)
        }
        let created = hearth(["create", "echo", "--zip-file", Harness.echo, "--memory", "256", "--env", "A=b"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdoutText.contains("FunctionName: echo"))
        #expect(hearth(["list"]).stdoutText.contains("echo  provided  256"))
        let invoked = hearth(["invoke", "echo", "--event", #"{"x":1}"#, "--log"])
        #expect(invoked.status == 0)
        #expect((try invoked.json()["event"] as? [String: Any])?["x"] as? Int == 1)
        #expect(invoked.stderr.contains("REPORT RequestId:") && invoked.stderr.contains("Init Duration"))
        let fromStdin = hearth(["invoke", "echo", "--event", "-"], stdin: Data(#"{"fail":true}"#.utf8))
        #expect(fromStdin.status == 1, "a function error exits 1")
        #expect((try fromStdin.json())["errorType"] as? String == "Echo.Failure")
        #expect(hearth(["publish", "echo"]).stdoutText.contains("Version: 1"))
        #expect(hearth(["alias", "set", "echo", "live", "--version", "1"]).status == 0)
        #expect(hearth(["alias", "list", "echo"]).stdoutText.contains("live"))
        #expect(hearth(["invoke", "echo:live"]).status == 0)
        #expect(hearth(["update", "echo", "--timeout", "9"]).stdoutText.contains("Timeout: 9"))
        let logs = hearth(["logs", "echo", "--since", "5m"])
        #expect(logs.stdoutText.components(separatedBy: "REPORT RequestId:").count - 1 == 3, "\(logs.stdoutText)")
        let id = try #require(invoked.stderr.split(separator: "\n").first { $0.hasPrefix("START RequestId: ") }?
            .split(separator: " ")[2])
        let one = hearth(["logs", "echo", "--request-id", String(id)])
        #expect(one.stdoutText.contains("echo: handling \(id)") && one.stdoutText.components(separatedBy: "START RequestId:").count == 2, "\(one.stdoutText)")
        #expect(hearth(["get", "echo", "--json"]).stdoutText.contains("\"Timeout\" : 9"))
        let missing = hearth(["invoke", "nope"])
        #expect(missing.status != 0 && missing.stderr.contains("ResourceNotFoundException"))
        #expect(hearth(["delete", "echo"]).status == 0)
        #expect(!hearth(["list"]).stdoutText.contains("echo"))
    }
}
