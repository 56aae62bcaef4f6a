import Foundation
import HearthServer
import Testing

/// Pre-initialised Python runtimes (ADR 0018): a pre-forked shell of a python3.11 function starts
/// the interpreter and imports awslambdaric inside its finished sandbox before the launch; the
/// launch only passes the go. Through `hearth serve` with real sandboxes: a function with a
/// sandbox per invocation, so that its second invocation is launched from a shell that has been
/// ready (and waiting) for a while.
@Suite("Pre-initialised Python runtimes", .serialized, .requiresRoot)
struct PythonPreinitTests {
    static let fixtures = Harness.packageRoot + "/Tests/Fixtures/python"
    /// How long a shell waits, ready, before the invocation that launches it.
    static let wait = 2.5

    /// Zips `folder` (plus `files`: name → source path) and creates a python3.11 function of it.
    static func create(_ daemon: ServeDaemon, _ name: String, folder: String, handler: String = "app.handler",
                       env: [String: String] = [:], files: [String: String] = [:]) async throws {
        let staging = daemon.stateDirectory + "/src-" + name
        try FileManager.default.copyItem(atPath: folder, toPath: staging)
        for (file, source) in files { try FileManager.default.copyItem(atPath: source, toPath: staging + "/" + file) }
        let zip = daemon.stateDirectory + "/" + name + ".zip"
        let zipped = Harness.run("/usr/bin/env", ["sh", "-c", "cd '\(staging)' && zip -qr '\(zip)' ."])
        #expect(zipped.status == 0, "\(zipped.stderr)")
        var variables = env
        variables["HEARTH_SANDBOX_PER_INVOCATION"] = "true"
        let body: [String: Any] = ["FunctionName": name, "Runtime": "python3.11", "Handler": handler, "Role": "arn:aws:iam::000000000000:role/x",
                                   "Environment": ["Variables": variables],
                                   "Code": ["ZipFile": try Data(contentsOf: URL(fileURLWithPath: zip)).base64EncodedString()]]
        let response = try await daemon.client().send("POST", "/2015-03-31/functions", body: JSONSerialization.data(withJSONObject: body))
        #expect(response.status == 201, "\(response.errorDescription)")
    }

    /// Invokes with the log tail: the answer (JSON), the function error header and the log.
    static func invoke(_ daemon: ServeDaemon, _ name: String, _ event: String = "{}") async throws -> ([String: Any], String?, String) {
        let response = try await daemon.client().send("POST", "/2015-03-31/functions/\(name)/invocations",
                                                      headers: [("X-Amz-Log-Type", "Tail")], body: Data(event.utf8))
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        let log = response.headers.first { $0.key.lowercased() == "x-amz-log-result" }
            .flatMap { Data(base64Encoded: $0.value) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let error = response.headers.first { $0.key.lowercased() == "x-amz-function-error" }?.value
        let doc = try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:]
        return (doc, error, log)
    }

    static func initDuration(_ log: String) -> Double? {
        guard let range = log.range(of: #"Init Duration: [0-9.]+ ms"#, options: .regularExpression) else { return nil }
        return Double(log[range].dropFirst("Init Duration: ".count).dropLast(3))
    }

    @Test("a launch from a ready shell runs a pre-initialised interpreter: the handler sees the same environment, no launch channel, no privileges; Init Duration counts from the launch; import errors keep Lambda's shape")
    func launchFromReadyShell() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await Self.create(daemon, "pre", folder: Self.fixtures + "/preinit", env: ["GREETING": "hello world"])
        // The first invocation starts without a shell (and leaves one prepared behind it).
        let (first, _, _) = try await Self.invoke(daemon, "pre")
        try await Task.sleep(for: .seconds(Self.wait))
        let (second, error, log) = try await Self.invoke(daemon, "pre")
        #expect(error == nil, "\(second)")

        // The interpreter had been running, ready, for the whole wait when the launch imported the handler.
        let age = try #require(second["age_at_import"] as? Double)
        #expect(age >= Self.wait - 0.5, "process age at the handler's import: \(age) s")
        #expect((first["age_at_import"] as? Double ?? 99) < Self.wait - 0.5)
        // Init Duration is the launch's (handler import + awslambdaric's first /next), not the wait.
        let initMs = try #require(Self.initDuration(log), "no Init Duration in \(log)")
        #expect(initMs < (age - 1.0) * 1000, "Init Duration \(initMs) ms, process age \(age) s")
        #expect(log.range(of: "INIT_START") != nil && log.range(of: "INIT_START")!.lowerBound < log.range(of: "START RequestId")!.lowerBound)

        // Exactly the environment of the instance that started without a shell (its own stream name).
        var env = try #require(second["env"] as? [String: String])
        var firstEnv = try #require(first["env"] as? [String: String])
        #expect(env["AWS_LAMBDA_LOG_STREAM_NAME"] != firstEnv["AWS_LAMBDA_LOG_STREAM_NAME"])
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = nil
        firstEnv["AWS_LAMBDA_LOG_STREAM_NAME"] = nil
        #expect(env == firstEnv)
        #expect(env["_HANDLER"] == "app.handler")
        #expect(env["GREETING"] == "hello world")
        #expect(env["AWS_LAMBDA_FUNCTION_NAME"] == "pre")
        #expect(env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11")
        #expect(env["PYTHONPATH"] == "/var/runtime")
        #expect(!env.keys.contains { $0.hasPrefix("HEARTH_INIT") })
        #expect(second["fd3_open_at_import"] as? Bool == false)
        #expect(second["cmdline"] as? [String] == ["/var/lang/bin/python3.11", "/var/runtime/bootstrap.py"])
        #expect((second["sys_path"] as? [String])?.prefix(4) == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python", "/var/runtime"])
        // The sandbox: pid 2 under hearth-init, uid 993, no capabilities, no_new_privs, seccomp filter.
        #expect(second["pid"] as? Int == 2)
        #expect(second["visible_pids"] as? [Int] == [1, 2])
        let status = try #require(second["status"] as? [String: [String]])
        #expect(status["Uid"] == ["993", "993", "993", "993"])
        #expect(status["CapEff"] == ["0000000000000000"] && status["CapPrm"] == ["0000000000000000"])
        #expect(status["CapBnd"] == ["0000000000000000"])
        #expect(status["NoNewPrivs"] == ["1"])
        #expect(status["Seccomp"] == ["2"])

        // A handler that cannot be imported: Lambda's Runtime.ImportModuleError, from a shell too.
        let update = try await daemon.client().send("PUT", "/2015-03-31/functions/pre/configuration",
                                                    body: JSONSerialization.data(withJSONObject: ["Handler": "missing_module.handler"]))
        #expect(update.status == 200)
        for attempt in 0..<2 {
            if attempt == 1 { try await Task.sleep(for: .seconds(Self.wait)) }
            let (failed, failure, _) = try await Self.invoke(daemon, "pre")
            #expect(failure == "Unhandled")
            #expect(failed["errorType"] as? String == "Runtime.ImportModuleError")
            #expect(failed["errorMessage"] as? String == "Unable to import module 'missing_module': No module named 'missing_module'")
        }
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    /// The host pids of processes under `root` (by PPid) whose command line contains `needle`.
    static func descendants(of root: pid_t, matching needle: String) -> [pid_t] {
        var parent: [pid_t: pid_t] = [:]
        var command: [pid_t: String] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                  let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }),
                  let ppid = pid_t(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) else { continue }
            parent[pid] = ppid
            command[pid] = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")))
                .map { String(decoding: $0, as: UTF8.self).replacingOccurrences(of: "\0", with: " ") } ?? ""
        }
        return command.filter { pid, line in
            guard line.contains(needle) else { return false }
            var p = parent[pid]
            while let up = p, up > 1 {
                if up == root { return true }
                p = parent[up]
            }
            return false
        }.map(\.key)
    }

    @Test("a held shell whose pre-initialised interpreter died is not handed out: the next invocation is served, not failed with Runtime.ExitError")
    func deadInterpreterNotHandedOut() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await Self.create(daemon, "pre", folder: Self.fixtures + "/preinit")
        _ = try await Self.invoke(daemon, "pre")
        try await Task.sleep(for: .seconds(Self.wait))
        // Per-invocation sandboxes: the only interpreter left is the held shell's, which the
        // daemon (our process) started.
        let held = Self.descendants(of: daemon.process.processIdentifier, matching: "/var/runtime/bootstrap.py")
        #expect(held.count == 1, "one held interpreter: \(held)")
        for pid in held { kill(pid, SIGKILL) }
        try await Task.sleep(for: .milliseconds(300))
        let (answer, error, log) = try await Self.invoke(daemon, "pre")
        #expect(error == nil, "served by another instance: \(answer) \(log)")
        #expect(answer["pid"] as? Int == 2, "\(answer)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("a module the function ships under a name awslambdaric imports (simplejson) is the function's and is imported only after the launch")
    func functionCodeNotImportedAhead() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await Self.create(daemon, "shadow", folder: Self.fixtures + "/preinit-shadow")
        _ = try await Self.invoke(daemon, "shadow")
        try await Task.sleep(for: .seconds(Self.wait))
        let (doc, error, _) = try await Self.invoke(daemon, "shadow")
        #expect(error == nil, "\(doc)")
        // The function's simplejson ran (it loads the runtime's copy under its name) …
        let age = try #require(doc["shadow_age"] as? Double, "the function's simplejson was not used: \(doc)")
        // … at the launch, not while the shell waited.
        #expect(age >= Self.wait - 0.5, "the function's simplejson was imported \(age) s into the process")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("the hostile probe, exec'd by a handler module imported in a pre-initialised interpreter, finds the same sandbox as the probe started directly")
    func hostileProbeFromPreinitializedInterpreter() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await Self.create(daemon, "hostile", folder: Self.fixtures + "/preinit", env: ["PREINIT_EXEC_PROBE": "1"],
                              files: ["probe": Harness.fixtures + "/probe-static"])
        _ = try await Self.invoke(daemon, "hostile", #"{"cmd":"echo"}"#)
        try await Task.sleep(for: .seconds(Self.wait))
        let (syscalls, syscallsError, _) = try await Self.invoke(daemon, "hostile", #"{"cmd":"syscalls"}"#)
        #expect(syscallsError == nil, "\(syscalls)")
        try await Task.sleep(for: .seconds(Self.wait))
        let (facts, factsError, _) = try await Self.invoke(daemon, "hostile", #"{"cmd":"facts"}"#)
        #expect(factsError == nil, "\(facts)")

        let direct = try Harness.probe("syscalls")
        #expect(NSDictionary(dictionary: syscalls).isEqual(to: direct), "\(syscalls)\nagainst\n\(direct)")
        let directFacts = try Harness.probe("facts")
        for key in ["pid", "ppid", "uid", "gid", "euid", "egid", "visible_pids", "interfaces", "lo_up", "cap_eff", "cap_prm", "cap_bnd",
                    "cap_amb", "no_new_privs", "seccomp", "root_write_errno", "task_write_errno", "opt_write_errno", "tmp_write_errno",
                    "proc_sys_write_errno", "kcore_read", "keys_read", "sysrq_write_errno", "sys_write_errno", "sys_mkdir_errno",
                    "dev_entries", "rlimit_nofile", "rlimit_core", "cwd", "tmp_size_kb", "cgroup"] {
            #expect(facts[key].map { "\($0)" } == directFacts[key].map { "\($0)" }, "\(key): \(facts[key] ?? "none") against \(directFacts[key] ?? "none")")
        }
        // The same descriptors (0-2 and the probe's Runtime API socket): nothing of the launch channel.
        let kinds = { (doc: [String: Any]) in ((doc["open_fds"] as? [String]) ?? []).map { $0.replacingOccurrences(of: #"\[[0-9]+\]"#, with: "", options: .regularExpression) } }
        #expect(kinds(facts) == kinds(directFacts), "\(facts["open_fds"] ?? "none")")
        // It ran through the python runtime's bootstrap.
        #expect((facts["env"] as? [String: String])?["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11")
        // `hearth run` (the direct probe) bind-mounts its code where `hearth serve` gives it a file
        // system of its own (ADR 0032): /var/task's source and options differ, nothing else.
        let mounts = { (doc: [String: Any]) in
            ((doc["mounts"] as? String) ?? "").replacingOccurrences(of: #"/dev/loop[0-9]+"#, with: "LOOP", options: .regularExpression)
                .replacingOccurrences(of: #"(?m)^\S+ /var/task .*$"#, with: "CODE /var/task", options: .regularExpression)
        }
        #expect(mounts(facts) == mounts(directFacts))
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("hearth run: the handler's environment, argv and sys.path are the same with pre-initialisation and without (HEARTH_PREINIT=0)")
    func sameAsWithoutPreinit() throws {
        func run(_ preinit: Bool) throws -> [String: Any] {
            let result = Harness.run("/usr/bin/env", ["HEARTH_PREINIT=\(preinit ? 1 : 0)", Harness.hearth, "run", Self.fixtures + "/preinit",
                                                      "--runtime", "python3.11", "--handler", "app.handler", "--env", "GREETING=hi",
                                                      "--state-dir", Harness.stateDirectory, "--event", "{}"], timeout: 900)
            #expect(result.status == 0, "\(result.stderr)")
            return try result.json()
        }
        let with = try run(true), without = try run(false)
        var a = try #require(with["env"] as? [String: String]), b = try #require(without["env"] as? [String: String])
        a["AWS_LAMBDA_LOG_STREAM_NAME"] = nil
        b["AWS_LAMBDA_LOG_STREAM_NAME"] = nil
        #expect(a == b)
        #expect(with["cmdline"] as? [String] == without["cmdline"] as? [String])
        #expect(with["argv"] as? [String] == without["argv"] as? [String])
        #expect(with["sys_path"] as? [String] == without["sys_path"] as? [String])
        #expect(with["fd3_open_at_import"] as? Bool == false && without["fd3_open_at_import"] as? Bool == false)
        #expect(Harness.leftovers().isEmpty)
    }
}
