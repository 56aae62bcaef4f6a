import Foundation
import Testing

/// `hearth run` end to end: results, every Lambda error path, reuse, logs and exit statuses.
@Suite("hearth run: Lambda semantics end to end", .serialized, .requiresRoot)
struct LambdaSemanticsTests {
    @Test("echo: the payload goes to stdout byte for byte, START/END/REPORT to stderr")
    func echo() throws {
        let event = #"{"key": "välue", "n": [1, 2, 3]}"#
        let result = Harness.hearthRun(Harness.probe, event: event)
        #expect(result.status == 0)
        #expect(result.stdout == Data(event.utf8))
        #expect(result.stderr.contains("START RequestId: "))
        #expect(result.stderr.contains("Version: $LATEST"))
        #expect(result.stderr.contains("END RequestId: "))
        let report = try #require(result.reports.first)
        #expect(report["Memory Size"] == "128 MB")
        #expect(report["Init Duration"] != nil)
        #expect(report["Billed Duration"] != nil)
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("the echo example from a zip, and the event from stdin")
    func zipAndStdin() throws {
        let result = Harness.hearthRun(Harness.fixtures + "/echo.zip", event: nil, ["-"], stdin: Data(#"{"from":"stdin"}"#.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let response = try result.json()
        #expect(response["message"] as? String == "hello from hearth")
        #expect((response["event"] as? [String: Any])?["from"] as? String == "stdin")
        #expect(response["function"] as? String == "echo")
    }

    @Test("the Runtime API over 127.0.0.1:9001 in the sandbox's network namespace")
    func tcpRuntimeAPI() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"context"}"#, ["--env", "PROBE_USE_TCP=1", "--timeout", "7"])
        #expect(result.status == 0, "\(result.stderr)")
        let context = try result.json()
        #expect(context["content_type"] as? String == "application/json")
        #expect((context["function_arn"] as? String ?? "").hasSuffix(":function:probe"))
        let remaining = context["remaining_ms"] as? Int ?? 0
        #expect(remaining > 5000 && remaining <= 7000, "remaining \(remaining) ms")
    }

    @Test("Lambda's environment and the user's --env")
    func environment() throws {
        let facts = try Harness.probe("facts", ["--env", "GREETING=hi there", "--memory", "256", "--handler", "my.handler"])
        let env = try #require(facts["env"] as? [String: String])
        #expect(env["AWS_LAMBDA_FUNCTION_NAME"] == "probe")
        #expect(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256")
        #expect(env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST")
        #expect(env["AWS_REGION"] == "us-east-1")
        #expect(env["_HANDLER"] == "my.handler")
        #expect(env["LAMBDA_TASK_ROOT"] == "/var/task")
        #expect(env["LAMBDA_RUNTIME_DIR"] == "/var/runtime")
        #expect(env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe")
        #expect(env["AWS_LAMBDA_LOG_STREAM_NAME"]?.contains("[$LATEST]") == true)
        #expect(env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001")
        #expect(env["HEARTH_RUNTIME_SOCKET"] == "/run/hearth/runtime.sock")
        #expect(env["TZ"] != nil && env["LANG"] != nil && env["PATH"] != nil && env["LD_LIBRARY_PATH"] != nil)
        #expect(env["GREETING"] == "hi there")
    }

    @Test("--repeat reuses the warm instance: Init Duration only on the first REPORT")
    func warmReuse() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"facts"}"#, ["--repeat", "3"])
        #expect(result.status == 0)
        let reports = result.reports
        #expect(reports.count == 3)
        #expect(reports[0]["Init Duration"] != nil)
        #expect(reports[1]["Init Duration"] == nil)
        #expect(reports[2]["Init Duration"] == nil)
        // Same sandbox each time: the same hostname three times.
        let hostnames = result.stdoutText.split(separator: "\n").compactMap { line -> String? in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["hostname"] as? String
        }
        #expect(hostnames.count == 3 && Set(hostnames).count == 1)
    }

    @Test("function error: the error JSON on stdout, exit status 1, instance stays warm")
    func functionError() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"error"}"#, ["--repeat", "2"])
        #expect(result.status == 1)
        let first = try #require(result.stdoutText.split(separator: "\n").first)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(error["errorType"] as? String == "Probe.Failure")
        #expect(error["errorMessage"] as? String == "requested failure")
        #expect(result.reports.count == 2)
        #expect(result.reports[1]["Init Duration"] == nil)
    }

    @Test("timeout: Sandbox.Timedout, enforced within 100 ms of the deadline, next invocation cold")
    func timeout() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"sleep","ms":10000}"#, ["--timeout", "1", "--repeat", "2"])
        #expect(result.status == 1)
        let first = try #require(result.stdoutText.split(separator: "\n").first)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(error["errorType"] as? String == "Sandbox.Timedout")
        let message = error["errorMessage"] as? String ?? ""
        #expect(message.hasPrefix("RequestId: ") && message.hasSuffix("Error: Task timed out after 1.00 seconds"))
        let reports = result.reports
        #expect(reports.count == 2)
        let duration = Double(reports[0]["Duration"]?.split(separator: " ").first ?? "") ?? 0
        #expect(duration >= 1000 && duration < 1100, "timed out after \(duration) ms")
        #expect(reports[0]["Status"] == "timeout")
        // Lambda's own line after REPORT: `<ISO 8601 ms>Z <request id> Task timed out after 1.00 seconds`.
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let report = try #require(lines.firstIndex { $0.hasPrefix("REPORT RequestId: ") })
        let requestID = lines[report].dropFirst("REPORT RequestId: ".count).prefix { $0 != "\t" }
        let line = report + 1 < lines.count ? lines[report + 1] : ""
        #expect(line.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \S+ Task timed out after 1\.00 seconds/) != nil, "\(line)")
        #expect(line.contains(" \(requestID) "), "\(line)")
        // One such line per timed-out invocation (both of the two), none elsewhere.
        #expect(lines.filter { $0.contains("Task timed out") }.count == 2, "\(result.stderr)")
        #expect(!result.stderr.contains("Task timed out after 1.00 seconds\nREPORT"))
        #expect(reports[1]["Init Duration"] != nil, "after a timeout the next invocation cold-starts")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("runtime exit: Runtime.ExitError with the exit status; a crash with the signal")
    func runtimeExit() throws {
        let exited = Harness.hearthRun(Harness.probe, event: #"{"cmd":"exit","code":7}"#)
        #expect(exited.status == 1)
        let error = try exited.json()
        #expect(error["errorType"] as? String == "Runtime.ExitError")
        #expect((error["errorMessage"] as? String ?? "").hasSuffix("Runtime exited with error: exit status 7"))

        let killed = Harness.hearthRun(Harness.probe, event: #"{"cmd":"signal","sig":9}"#)
        let killedError = try killed.json()
        #expect(killedError["errorType"] as? String == "Runtime.ExitError")
        #expect((killedError["errorMessage"] as? String ?? "").hasSuffix("Runtime exited with error: signal: killed"))

        let atInit = Harness.hearthRun(Harness.probe, event: "{}", ["--env", "PROBE_EXIT_AT_INIT=3"])
        #expect((try atInit.json())["errorType"] as? String == "Runtime.ExitError")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("after a crash the next invocation cold-starts a fresh instance")
    func crashThenCold() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"exit","code":1}"#, ["--repeat", "2"])
        #expect(result.reports.count == 2)
        #expect(result.reports.allSatisfy { $0["Init Duration"] != nil })
    }

    @Test("/init/error fails the invocation at once with the runtime's error")
    func initError() throws {
        let result = Harness.hearthRun(Harness.probe, event: "{}", ["--env", "PROBE_INIT_ERROR=cannot load config"])
        #expect(result.status == 1)
        let error = try result.json()
        #expect(error["errorType"] as? String == "Probe.InitError")
        #expect(error["errorMessage"] as? String == "cannot load config")
    }

    @Test("missing or non-executable bootstrap: Runtime.InvalidEntrypoint")
    func invalidEntrypoint() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        chmod(empty, 0o755)
        let missing = Harness.hearthRun(empty, event: "{}")
        #expect(missing.status == 1)
        let error = try missing.json()
        #expect(error["errorType"] as? String == "Runtime.InvalidEntrypoint")
        #expect((error["errorMessage"] as? String ?? "").contains("fork/exec /var/task/bootstrap: no such file or directory"))

        let bootstrap = empty + "/bootstrap"
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: bootstrap))
        chmod(bootstrap, 0o644)
        let notExecutable = Harness.hearthRun(empty, event: "{}")
        let error2 = try notExecutable.json()
        #expect(error2["errorType"] as? String == "Runtime.InvalidEntrypoint")
        #expect((error2["errorMessage"] as? String ?? "").contains("permission denied"))
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("a response over 6 MB: Function.ResponseSizeTooLarge, the runtime got 413")
    func responseTooLarge() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"big","bytes":7000000}"#)
        #expect(result.status == 1)
        let error = try result.json()
        #expect(error["errorType"] as? String == "Function.ResponseSizeTooLarge")
        #expect(error["errorMessage"] as? String == "Response payload size exceeded maximum allowed payload size (6291556 bytes).")
        let ok = Harness.hearthRun(Harness.probe, event: #"{"cmd":"big","bytes":6000000}"#)
        #expect(ok.status == 0)
        #expect(ok.stdout.count == 6_000_000)
        SecurityLedger.check("api.response_over_6mb", "a function answers with a 7,000,000-byte response",
                             expected: "Function.ResponseSizeTooLarge (the runtime gets 413); 6,000,000 bytes still pass",
                             observed: "\(error["errorType"] ?? "no error"); 6 MB response \(ok.stdout.count) bytes",
                             result.status == 1 && error["errorType"] as? String == "Function.ResponseSizeTooLarge" && ok.stdout.count == 6_000_000)
    }

    @Test("layers are merged in order, read-only, at /opt")
    func layers() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-layers-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        for (layer, content) in [("one", "first"), ("two", "second")] {
            try FileManager.default.createDirectory(atPath: "\(base)/\(layer)/lib", withIntermediateDirectories: true)
            try Data(content.utf8).write(to: URL(fileURLWithPath: "\(base)/\(layer)/lib/shared.txt"))
            try Data(content.utf8).write(to: URL(fileURLWithPath: "\(base)/\(layer)/\(layer).txt"))
        }
        let zip = Harness.run("/usr/bin/env", ["sh", "-c", "cd \(base)/two && zip -qr ../two.zip ."])
        #expect(zip.status == 0)
        let flags = ["--layer", base + "/one", "--layer", base + "/two.zip"]
        func cat(_ path: String) throws -> [String: Any] {
            try Harness.hearthRun(Harness.probe, event: #"{"cmd":"cat","path":"\#(path)"}"#, flags).json()
        }
        #expect(try cat("/opt/lib/shared.txt")["content"] as? String == "second")
        #expect(try cat("/opt/one.txt")["content"] as? String == "first")
        #expect(try cat("/opt/two.txt")["content"] as? String == "second")
        #expect(try Harness.probe("facts", flags)["opt_write_errno"] as? Int == Int(EROFS))
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("hearth bench prints one JSON object with the percentiles and the machine", arguments: ["cold-start", "warm", "burst"])
    func bench(kind: String) throws {
        let result = Harness.run(Harness.hearth, ["bench", kind, "--runs", "4", "--concurrency", "2", "--json",
                                                  "--function", Harness.echo, "--state-dir", Harness.stateDirectory])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try result.json()
        #expect(object["benchmark"] as? String == kind)
        #expect(object["unit"] as? String == "ms")
        for key in ["runs", "p50", "p90", "p99", "max"] { #expect(object[key] != nil, "missing \(key)") }
        let p50 = object["p50"] as? Double ?? 0, max = object["max"] as? Double ?? 0
        #expect(p50 > 0 && p50 <= max)
        let machine = try #require(object["machine"] as? [String: Any])
        #expect(machine["kernel"] != nil && machine["cgroup"] != nil && machine["cpu"] != nil)
        if kind == "cold-start" {
            // As root every sandbox is born in its cgroup: CLONE_INTO_CGROUP on v2, the spawning
            // thread's move into the instance's groups on v1 (ADR 0033); none is attached by pid.
            let born = try #require(object["born_in_cgroup"] as? [String: Int])
            #expect((born["started"] ?? 0) >= 4, "\(born)")
            if getuid() == 0 { #expect(born["born"] == born["started"], "\(born)") }
        }
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("the function's logs reach stderr, before END")
    func logs() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"log","lines":3}"#)
        #expect(result.status == 0)
        let end = try #require(result.stderr.range(of: "END RequestId"))
        let log = try #require(result.stderr.range(of: "probe err line 2"))
        #expect(log.lowerBound < end.lowerBound)
        #expect(result.stderr.contains("probe log line 0"))
    }

    @Test("usage errors exit 2 with a message naming what is wrong",
          arguments: [
            (["--memory", "64"], "memory"),
            (["--timeout", "0"], "timeout"),
            (["--ephemeral-storage", "100"], "ephemeral-storage"),
            (["--env", "AWS_REGION=x"], "reserved"),
            (["--env", "NOEQUALS"], "KEY=VALUE"),
            (["--runtime", "cobol"], "unknown runtime"),
          ])
    func usageErrors(flags: [String], mention: String) {
        let result = Harness.hearthRun(Harness.probe, event: "{}", flags)
        #expect(result.status == 2)
        #expect(result.stderr.contains(mention), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("a path that does not exist, and a broken zip, are usage errors")
    func badCode() throws {
        let missing = Harness.hearthRun("/nonexistent/function", event: "{}")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/function"))
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-broken-\(getpid()).zip").path
        try Data("this is not a zip".utf8).write(to: URL(fileURLWithPath: broken))
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let result = Harness.hearthRun(broken, event: "{}")
        #expect(result.status == 2)
        #expect(result.stderr.contains("zip"))
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("a zip that chains symlinks to write outside the code folder writes nothing outside")
    func zipSymlinkChain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-zipchain-\(getpid())").path
        let victim = "/tmp/hearth-tests-pwned-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir); unlink(victim) }
        // a1/…/a20/s -> ../×20 + f (lands on f); a1/…/a20/t -> s/ + ../×21 + victim, which reads as
        // inside the folder but resolves outside through s; then a regular file named a1/…/a20/t.
        let script = """
        import zipfile, stat
        deep = "/".join("a%d" % i for i in range(1, 21))
        def link(z, name, target):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
        with zipfile.ZipFile("\(dir)/chain.zip", "w") as z:
            z.writestr("f/", "")
            link(z, deep + "/s", "../" * 20 + "f")
            link(z, deep + "/t", "s/" + "../" * 21 + "\(victim.dropFirst())")
            z.writestr(deep + "/t", "owned")
            z.writestr("bootstrap", "#!/bin/sh")
        """
        let made = Harness.run("/usr/bin/env", ["python3", "-c", script])
        #expect(made.status == 0, "\(made.stderr)")
        let result = Harness.hearthRun(dir + "/chain.zip", event: "{}")
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: victim), "the zip wrote \(victim)")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("a zip entry escaping the code folder is refused")
    func zipSlip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-tests-zipslip-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/evil"))
        // zip stores "../evil" when given that relative path from a subfolder.
        let zip = Harness.run("/usr/bin/env", ["sh", "-c", "cd \(dir)/a && zip -q ../slip.zip ../evil"])
        #expect(zip.status == 0, "\(zip.stderr)")
        let result = Harness.hearthRun(dir + "/slip.zip", event: "{}")
        #expect(result.status == 2)
        #expect(result.stderr.contains("escapes"), "\(result.stderr)")
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }
}
