import Foundation
import Testing

/// Issue 10 item 6: on cgroup v1 a function that outgrows its memory near the limit spent
/// seconds refaulting its own file pages under its 7 % CPU quota before the OOM killer acted,
/// so a Python function allocating 512 MB at 128 MB timed out (`Sandbox.Timedout`) in two runs
/// of three at 3 s, and took 2.4–4.2 s to die otherwise. Now the quota is raised to one core for
/// at most 500 ms when usage reaches the limit (ADR 0025). Since the runtime image is a file
/// system of its own (ADR 0032) its page cache is charged to the instance, and one run in three
/// live-locked at the limit anyway (no OOM kill, refaulting its code); the thrash verdict kills
/// such an instance as out of memory (ADR 0034).
@Suite("Out of memory near the limit", .serialized, .requiresRoot)
struct MemoryLimitTests {
    static func pythonFunction() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-oom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        import time
        def handler(event, context):
            start = time.monotonic()
            chunks = []
            for i in range(event["mb"]):
                chunks.append(b"x" * (1 << 20))
                if i % 4 == 3:
                    print("allocated %d MB at %.0f ms" % (i + 1, (time.monotonic() - start) * 1000), flush=True)
            end = time.monotonic() + event.get("compute_s", 0)
            loops = 0
            while time.monotonic() < end:
                loops += sum(range(1000)) > 0
            return {"allocated": len(chunks), "loops": loops}
        """.write(to: dir.appendingPathComponent("app.py"), atomically: true, encoding: .utf8)
        return dir.path
    }

    /// How long the instance lived after its last progress (the last 4 MB it allocated, which it
    /// logs): the time it spent at its limit before it died.
    static func timeAtTheLimit(_ run: Harness.Result, duration: Double) -> Double? {
        let progress = run.stderr.matches(of: /allocated [0-9]+ MB at ([0-9]+) ms/).compactMap { Double($0.1) }
        return progress.last.map { duration - $0 }
    }

    /// Reaching the limit is the function's own work under its 7 % quota, and its cost is the
    /// host's: on this VM 120 MB of first-touch page faults take 72–166 ms of CPU, 1.0–2.3 s at
    /// 7 %, so a 3 s timeout (issue 10's) measured the host as much as Hearth. The timeout is 10 s
    /// and what is asserted is Hearth's part: out of memory, never a timeout, and dead within 2 s
    /// of its last progress (the 0.5 s boost and the 1 s thrash window, ADR 0025 and 0034).
    @Test("Python allocating 512 MB at 128 MB: Runtime.OutOfMemory within 2 s of reaching the limit, every time")
    func pythonOutgrowsItsMemory() throws {
        let function = try Self.pythonFunction()
        defer { try? FileManager.default.removeItem(atPath: function) }
        var observed: [String] = []
        var allOOM = true
        for _ in 0..<5 {
            let run = Harness.hearthRun(function, event: #"{"mb":512}"#,
                                        ["--runtime", "python3.11", "--handler", "app.handler", "--memory", "128", "--timeout", "10"])
            let error = (try? run.json()) ?? [:]
            let type = error["errorType"] as? String ?? "no error"
            let report = run.reports.first ?? [:]
            let duration = (report["Duration"]?.split(separator: " ").first).flatMap { Double($0) } ?? .infinity
            let atLimit = Self.timeAtTheLimit(run, duration: duration) ?? .infinity
            observed.append("\(type) after \(report["Duration"] ?? "?"), \(Int(atLimit)) ms after its last progress, peak \(report["Max Memory Used"] ?? "?")")
            allOOM = allOOM && run.status == 1 && type == "Runtime.OutOfMemory"
                && (error["errorMessage"] as? String)?.hasSuffix("Runtime exited with error: signal: killed") == true
                && report["Error Type"] == "Runtime.OutOfMemory"
                && atLimit <= 2000
        }
        SecurityLedger.check("res.memory_oom_prompt", "a Python function at 128 MB allocates 512 MB in 1 MB pieces (10 s timeout), five times",
                             expected: "Runtime.OutOfMemory (signal: killed) each time, within 2 s of its last progress",
                             observed: observed.joined(separator: "; "), allOOM)
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("a function that stays below its limit is not boosted into an error: 80 MB at 128 MB succeeds")
    func belowTheLimit() throws {
        let function = try Self.pythonFunction()
        defer { try? FileManager.default.removeItem(atPath: function) }
        let run = Harness.hearthRun(function, event: #"{"mb":80}"#,
                                    ["--runtime", "python3.11", "--handler", "app.handler", "--memory", "128", "--timeout", "30"])
        #expect(run.status == 0, "\(run.stdoutText) \(run.stderr.suffix(500))")
        #expect((try? run.json())?["allocated"] as? Int == 80)
    }

    /// The thrash verdict (ADR 0034) must not take a function that works at its limit for one
    /// that is live-locked there: 100 MB held at 128 MB (with the runtime image's page cache the
    /// group is at its limit) while the interpreter computes for 2 s at its 7 % quota.
    @Test("a function that computes at its limit without growing is not judged out of memory")
    func computesAtTheLimit() throws {
        let function = try Self.pythonFunction()
        defer { try? FileManager.default.removeItem(atPath: function) }
        let run = Harness.hearthRun(function, event: #"{"mb":100,"compute_s":2}"#,
                                    ["--runtime", "python3.11", "--handler", "app.handler", "--memory", "128", "--timeout", "30"])
        #expect(run.status == 0, "\(run.stdoutText) \(run.stderr.suffix(500))")
        let result = (try? run.json()) ?? [:]
        #expect(result["allocated"] as? Int == 100)
        #expect((result["loops"] as? Int ?? 0) > 0)
    }
}
