import Foundation
import Testing

/// Issue 10 item 2, end to end through `hearth run` and `hearth serve` with the fidelity
/// fixture: an invocation ends at the runtime's next `/next`, not at its `/response`. The caller
/// gets the answer at `/response`; work after it, its log lines, and an exit or a timeout after
/// it belong to that invocation (its REPORT), and the next request never lands on a busy or
/// dying instance.
@Suite("Lambda fidelity: the invocation ends at /next", .serialized, .requiresRoot)
struct FidelityAfterResponseTests {
    /// Milliseconds in a REPORT field such as `Duration: 1234.56 ms`.
    static func ms(_ field: String?) -> Double { Double(field?.split(separator: " ").first ?? "") ?? -1 }

    /// The stderr lines of `hearth run`, and the index of the first line with `prefix`.
    static func index(_ lines: [String], _ prefix: String) -> Int? { lines.firstIndex { $0.hasPrefix(prefix) } }

    /// `hearth run --repeat 2` of the fidelity fixture with `event`: both answers are the event;
    /// returns the run and its two REPORTs.
    static func runTwice(_ event: String, timeout: Int) throws -> (Harness.Result, [[String: String]]) {
        let result = Harness.hearthRun(Harness.fidelity, event: event, ["--timeout", String(timeout), "--repeat", "2"])
        #expect(result.stdoutText.split(separator: "\n") == [Substring(event), Substring(event)], "\(result.stdoutText)")
        try #require(result.reports.count == 2, "\(result.stderr)")
        return (result, result.reports)
    }

    @Test("hearth run: output before and after /response is in its invocation; REPORT Duration covers the work")
    func runPostResponseWork() throws {
        let (result, reports) = try Self.runTwice(#"{"before":1,"after_ms":1200}"#, timeout: 5)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        for report in reports {
            let id = try #require(report["RequestId"])
            let start = try #require(Self.index(lines, "START RequestId: \(id)"), "\(result.stderr)")
            let end = try #require(Self.index(lines, "END RequestId: \(id)"), "\(result.stderr)")
            for mark in ["before-response \(id)", "after-start \(id)", "after-done \(id)"] {
                let at = try #require(lines.firstIndex(of: mark), "\(mark) missing: \(result.stderr)")
                #expect(start < at && at < end, "\(mark) is not in its own invocation: \(result.stderr)")
            }
            #expect(Self.ms(report["Duration"]) >= 1200, "REPORT Duration does not cover the post-response work: \(report)")
            #expect(report["Status"] == nil, "\(report)")
        }
        #expect(!result.stderr.contains("Timedout"), "\(result.stderr)")
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("hearth run: a runtime that exits after responding is charged with it, and the next request gets a fresh instance")
    func runExitAfterResponse() throws {
        let (result, reports) = try Self.runTwice(#"{"after_ms":300,"exit_after":1}"#, timeout: 5)
        #expect(result.status == 0, "\(result.stderr)")
        for report in reports {
            #expect(report["Status"] == "error" && report["Error Type"] == "Runtime.ExitError", "\(report)")
            // Each request cold-started its own instance.
            #expect(report["Init Duration"] != nil, "\(report)")
        }
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("hearth run: the timeout keeps running after /response; a timeout in post-response work is charged to that invocation")
    func runTimeoutAfterResponse() throws {
        // The caller's answers stand.
        let (_, reports) = try Self.runTwice(#"{"after_ms":4000}"#, timeout: 1)
        for report in reports {
            #expect(report["Status"] == "timeout", "\(report)")
            #expect(Self.ms(report["Duration"]) >= 1000, "\(report)")
            #expect(report["Init Duration"] != nil, "a timed-out instance was reused: \(report)")
        }
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    /// The stored log message of one invocation, once it has ended (nil if it has not).
    static func logMessage(_ daemon: ServeDaemon, function: String, requestID: String) async throws -> String? {
        let logs = try await daemon.client().send("GET", "/hearth/functions/\(function)/logs", query: [("requestId", requestID)])
        let events = logs.json?["events"] as? [[String: Any]] ?? []
        return events.first?["message"] as? String
    }

    static func waitForLog(_ daemon: ServeDaemon, function: String, requestID: String) async throws -> String? {
        for _ in 0..<200 {
            if let message = try await logMessage(daemon, function: function, requestID: requestID) { return message }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Creates `name` from the fidelity fixture and invokes it with `event`, which it echoes;
    /// returns the request id.
    static func createAndInvoke(_ daemon: ServeDaemon, _ name: String, timeout: Int, event: String) async throws -> String {
        try await daemon.createProbe(name, extra: ["Timeout": timeout], zip: Harness.fixtures + "/fidelity.zip")
        let first = try await daemon.invoke(name, event)
        #expect(first.status == 200 && String(decoding: first.body, as: UTF8.self) == event)
        #expect(first.header("X-Amz-Function-Error") == nil)
        return try #require(first.header("x-amzn-RequestId"))
    }

    @Test("hearth serve: the caller gets the answer at /response; the instance stays busy and the log and REPORT come at /next")
    func servePostResponseWork() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let id1 = try await Self.createAndInvoke(daemon, "bg", timeout: 10, event: #"{"before":1,"after_ms":1500}"#)
        // Answered, not ended: the invocation's log is written when the runtime asks for /next.
        #expect(try await Self.logMessage(daemon, function: "bg", requestID: id1) == nil, "the invocation ended at /response")
        // The busy instance is not handed the next request.
        let second = try await daemon.invoke("bg", #"{"second":1}"#)
        #expect(second.status == 200 && second.header("X-Amz-Function-Error") == nil, "\(second.errorDescription)")
        let id2 = try #require(second.header("x-amzn-RequestId"))
        let log1 = try #require(try await Self.waitForLog(daemon, function: "bg", requestID: id1), "no log for \(id1): \(daemon.log)")
        for mark in ["before-response \(id1)", "after-start \(id1)", "after-done \(id1)"] {
            #expect(log1.contains(mark), "\(mark) missing: \(log1)")
        }
        let report = try #require(log1.split(separator: "\n").first { $0.hasPrefix("REPORT ") })
        let duration = report.split(separator: "\t").first { $0.hasPrefix("Duration: ") }.map { Self.ms(String($0.dropFirst("Duration: ".count))) }
        #expect((duration ?? 0) >= 1500, "\(report)")
        let log2 = try #require(try await Self.waitForLog(daemon, function: "bg", requestID: id2))
        #expect(!log2.contains(id1), "the first invocation's output is in the second's log: \(log2)")
    }

    @Test("hearth serve: a Function URL answers at /response too; the invocation goes on to /next")
    func functionURLAnswersAtResponse() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("bgurl", extra: ["Timeout": 10], zip: Harness.fixtures + "/fidelity.zip")
        let created = try await daemon.client().send("POST", "/2021-10-31/functions/bgurl/url",
                                                     body: JSONSerialization.data(withJSONObject: ["AuthType": "NONE"]))
        let url = try #require(created.json?["FunctionUrl"] as? String, "\(created.errorDescription)")
        let host = try #require(URL(string: url)?.host)
        // The fixture finds "after_ms" in the event's body string: 1.5 s of work after /response.
        let answer = Harness.run("/usr/bin/curl", ["-s", "-D", "-", "-H", "Host: \(host)", "-H", "Content-Type: application/json", "--data", #"{"before":1,"after_ms":1500}"#,
                                                   "http://127.0.0.1:\(daemon.port)/"], timeout: 60)
        #expect(answer.status == 0 && answer.stdoutText.hasPrefix("HTTP/1.1 200"), "\(answer.stdoutText)")
        let requestID = try #require(answer.stdoutText.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-amzn-requestid:") }
            .map { $0.dropFirst("x-amzn-requestid:".count).trimmingCharacters(in: .whitespaces) }, "\(answer.stdoutText)")
        // Answered, not ended: the log is written when the runtime asks for /next.
        #expect(try await Self.logMessage(daemon, function: "bgurl", requestID: requestID) == nil, "the Function URL answered at /next")
        let log = try #require(try await Self.waitForLog(daemon, function: "bgurl", requestID: requestID), "no log: \(daemon.log)")
        #expect(log.contains("after-done \(requestID)"), "\(log)")
    }

    @Test("hearth serve: after a runtime exits post-response the next request is served by another instance")
    func serveExitAfterResponse() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let id1 = try await Self.createAndInvoke(daemon, "exiter", timeout: 5, event: #"{"after_ms":300,"exit_after":1}"#)
        let second = try await daemon.invoke("exiter", #"{"second":1}"#)
        #expect(second.status == 200 && second.header("X-Amz-Function-Error") == nil,
                "the next request landed on the dying instance: \(String(decoding: second.body, as: UTF8.self))")
        let log1 = try #require(try await Self.waitForLog(daemon, function: "exiter", requestID: id1))
        #expect(log1.contains("Status: error\tError Type: Runtime.ExitError"), "\(log1)")
    }
}

/// Issue 10 item 3, end to end through `hearth run` at 128 MB: the init phase runs without the
/// CPU quota (Lambda's init burst), the invocation with it. The fixture spins for a stretch of
/// wall time and reports the CPU time it got: throttled to 128/1769 of a vCPU it gets about
/// 7 % of the stretch; with the burst, as much as the host gives it.
@Suite("Lambda fidelity: init CPU burst", .serialized, .requiresRoot)
struct FidelityInitBurstTests {
    static func cpuMs(_ lines: [String], _ prefix: String) -> Int? {
        lines.first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    @Test("hearth run at 128 MB: init spins unthrottled, the invocation at the memory-proportional quota")
    func initBurstThenQuota() throws {
        let result = Harness.hearthRun(Harness.fidelity, event: #"{"spin_ms":600}"#,
                                       ["--memory", "128", "--env", "FIDELITY_INIT_SPIN_MS=600"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let initCPU = try #require(Self.cpuMs(lines, "init-cpu-ms "), "\(result.stderr)")
        let invokeCPU = try #require(Self.cpuMs(lines, "invoke-cpu-ms "), "\(result.stderr)")
        // The quota is 7.2 ms per 100 ms: about 45 ms of 600 (cfs_burst may add one period's quota).
        #expect(initCPU > 150, "init was throttled: \(initCPU) ms of CPU in 600 ms")
        #expect(invokeCPU < 110, "the invocation was not throttled: \(invokeCPU) ms of CPU in 600 ms")
        #expect(result.reports.first?["Init Duration"] != nil)
    }
}

/// Issue 10 item 6: `hearth bench` without `--function`, run through the architecture path of
/// the binary, uses the echo function built next to it (no fixture build).
@Suite("hearth bench default function", .serialized, .requiresRoot)
struct BenchDefaultFunctionTests {
    @Test func benchWithoutFunctionThroughTheArchitecturePath() throws {
        let binary = URL(fileURLWithPath: Harness.hearth).resolvingSymlinksInPath().path
        let state = NSTemporaryDirectory() + "hearth-bench-default-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // Share the runtime image cache of the other tests.
        try? FileManager.default.createSymbolicLink(atPath: state + "/images", withDestinationPath: Harness.stateDirectory + "/images")
        let result = Harness.run(binary, ["bench", "cold-start", "--runs", "2", "--no-prefork", "--state-dir", state, "--json"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try result.json()
        #expect((json["series"] as? [String: Any])?.isEmpty == false, "\(json)")
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }
}
