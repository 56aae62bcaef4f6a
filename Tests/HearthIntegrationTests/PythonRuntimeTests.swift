import Foundation
import Testing

/// The python3.11 runtime image (Debian's Python 3.11 + the unmodified awslambdaric from PyPI),
/// built on first use, with the handlers in Tests/Fixtures/python: through `hearth run` (every
/// case of check.py, plus a few asserted here) and through `hearth serve` + the aws CLI.
@Suite("Python runtime (awslambdaric)", .serialized, .requiresRoot)
struct PythonRuntimeTests {
    static let fixtures = Harness.packageRoot + "/Tests/Fixtures/python"

    static func run(_ folder: String, handler: String, event: String, _ extra: [String] = []) -> Harness.Result {
        Harness.run(Harness.hearth, ["run", fixtures + "/" + folder, "--runtime", "python3.11", "--handler", handler,
                                     "--state-dir", Harness.stateDirectory, "--event", event] + extra, timeout: 900)
    }

    @Test("the image builds, and a dict handler runs from /var/task with LAMBDA_TASK_ROOT first on sys.path")
    func dict() throws {
        let result = Self.run("handlers", handler: "app.handler", event: #"{"a":1}"#)
        #expect(result.status == 0, "\(result.stderr)")
        let doc = try result.json()
        #expect(doc["event"] as? [String: Int] == ["a": 1])
        #expect(doc["cwd"] as? String == "/var/task")
        #expect(doc["sys_path_0"] as? String == "/var/task")
        #expect((doc["python"] as? String)?.hasPrefix("3.11") == true)
    }

    @Test("every check.py case passes through hearth run (values, bytes, errors with stackTrace, context, import errors, timeout, layers, warm reuse)")
    func checkScript() {
        let result = Harness.run("/usr/bin/env", ["python3", Self.fixtures + "/check.py", Harness.hearth, "--state-dir", Harness.stateDirectory],
                                 timeout: 1800)
        let lines = result.stdoutText.split(separator: "\n")
        #expect(result.status == 0, "\(result.stdoutText)\n\(result.stderr)")
        #expect(lines.filter { $0.hasPrefix("ok ") }.count >= 20, "\(result.stdoutText)")
        #expect(!lines.contains { $0.hasPrefix("FAIL") }, "\(result.stdoutText)")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("an exception reaches the caller as errorType, errorMessage and stackTrace; the remaining time decreases")
    func exceptionAndContext() throws {
        let failed = Self.run("handlers", handler: "app.raises", event: #"{"order":"A-17"}"#)
        #expect(failed.status == 1)
        let error = try failed.json()
        #expect(error["errorType"] as? String == "PaymentDeclined")
        #expect(error["errorMessage"] as? String == "card declined for order A-17")
        #expect(((error["stackTrace"] as? [String]) ?? []).contains { $0.contains("_check") })
        let context = try Self.run("handlers", handler: "app.context_fields", event: "{}", ["--memory", "256"]).json()
        #expect(context["memory_limit_in_mb"] as? Int == 256 || context["memory_limit_in_mb"] as? String == "256")
        let remaining = try #require(context["remaining_time_ms"] as? [Int])
        #expect(remaining.count == 2)
        #expect(remaining[1] <= remaining[0] - 150, "remaining time \(remaining) across a 200 ms sleep")
        #expect(remaining[0] <= 3000)
        #expect((context["invoked_function_arn"] as? String)?.hasSuffix(":function:handlers") == true)
        // Lambda sends a trace header with every invocation, and names streams with 32 hex digits.
        #expect((context["trace_id"] as? String)?.range(of: "^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$",
                                                          options: .regularExpression) != nil, "\(context["trace_id"] ?? "none")")
        #expect((context["log_stream_name"] as? String)?.range(of: "^[0-9]{4}/[0-9]{2}/[0-9]{2}/\\[\\$LATEST\\][0-9a-f]{32}$",
                                                                 options: .regularExpression) != nil, "\(context["log_stream_name"] ?? "none")")
    }

    @Test("through hearth serve and the aws CLI: handler, exception, context ARN, import error")
    func serve() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let zip = daemon.stateDirectory + "/handlers.zip"
        let zipped = Harness.run("/usr/bin/env", ["sh", "-c", "cd '\(Self.fixtures)/handlers' && zip -qr '\(zip)' ."])
        #expect(zipped.status == 0)
        let create = daemon.aws(["lambda", "create-function", "--function-name", "py", "--runtime", "python3.11",
                                 "--handler", "app.handler", "--role", "arn:aws:iam::000000000000:role/x", "--zip-file", "fileb://\(zip)"])
        #expect(create.status == 0, "\(create.stderr)")
        let out = daemon.stateDirectory + "/out.json"
        func read() throws -> [String: Any]? {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        }
        let invoke = daemon.aws(["lambda", "invoke", "--function-name", "py"] + daemon.payload(#"{"a":1}"#) + [out])
        #expect(invoke.status == 0, "\(invoke.stderr)")
        #expect(try read()?["event"] as? [String: Int] == ["a": 1])

        let update = daemon.aws(["lambda", "update-function-configuration", "--function-name", "py", "--handler", "app.raises"])
        #expect(update.status == 0, "\(update.stderr)")
        let raised = daemon.aws(["lambda", "invoke", "--function-name", "py"] + daemon.payload(#"{"order":"B-2"}"#) + [out])
        #expect(raised.stdoutJSON?["FunctionError"] as? String == "Unhandled")
        #expect(try read()?["errorType"] as? String == "PaymentDeclined")
        #expect((try read()?["stackTrace"] as? [String])?.isEmpty == false)

        _ = daemon.aws(["lambda", "update-function-configuration", "--function-name", "py", "--handler", "app.context_fields"])
        _ = daemon.aws(["lambda", "publish-version", "--function-name", "py"])
        _ = daemon.aws(["lambda", "create-alias", "--function-name", "py", "--name", "live", "--function-version", "1"])
        let context = daemon.aws(["lambda", "invoke", "--function-name", "py", "--qualifier", "live"] + daemon.payload("{}") + [out])
        #expect(context.status == 0, "\(context.stderr)")
        #expect((try read()?["invoked_function_arn"] as? String)?.hasSuffix(":function:py:live") == true)
        #expect(try read()?["function_version"] as? String == "1")

        _ = daemon.aws(["lambda", "update-function-configuration", "--function-name", "py", "--handler", "app.does_not_exist"])
        let missing = daemon.aws(["lambda", "invoke", "--function-name", "py"] + daemon.payload("{}") + [out])
        #expect(missing.stdoutJSON?["FunctionError"] as? String == "Unhandled")
        #expect(try read()?["errorType"] as? String == "Runtime.HandlerNotFound")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
