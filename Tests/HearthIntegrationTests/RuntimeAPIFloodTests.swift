import Foundation
import Testing

/// Issue 11 item 1 (and issue 10 item 6): a function floods its own Runtime API from inside a
/// real sandbox, the way the issue's attacker did (7 connections to 127.0.0.1:9001), and the
/// cost is measured from outside: the supervisor's RSS and CPU, and a neighbour's latency.
/// Each flood lasts at most a few seconds and stays inside the attacker's sandbox.
@Suite("Runtime API floods, from inside real sandboxes", .serialized, .requiresRoot)
struct RuntimeAPIFloodTests {
    /// CPU seconds (user + system) a process has used, from /proc/PID/stat.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    /// The supervisor's CPU share (1.0 = one core) while `body` runs.
    static func cpuShare(_ pid: Int32, _ body: () async throws -> Void) async rethrows -> Double {
        let (cpu0, t0) = (cpuSeconds(pid), ContinuousClock.now)
        try await body()
        return (cpuSeconds(pid) - cpu0) / max(0.001, seconds(ContinuousClock.now - t0))
    }

    static func flood(_ mode: String, ms: Int, detach: Bool = false) -> String {
        #"{"cmd":"apiflood","mode":"\#(mode)","conns":7,"ms":\#(ms),"detach":\#(detach ? 1 : 0)}"#
    }

    /// A 3 s flood in `mode` by the flooder function: the probe's report, and the supervisor's
    /// CPU share while it ran.
    static func measuredFlood(_ daemon: ServeDaemon, pid: Int32, _ mode: String) async throws -> (report: [String: Any], share: Double) {
        var report: [String: Any] = [:]
        let share = try await cpuShare(pid) {
            report = try await daemon.invoke("flooder", flood(mode, ms: 3000)).json ?? [:]
        }
        return (report, share)
    }

    @Test("a Runtime API flood (not reading, draining, bodies, churn, and from an idle instance) costs the supervisor a small bound and a neighbour little latency")
    func floods() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("flooder", extra: ["Timeout": 30])
        try await daemon.createProbe("quiet")
        let pid = daemon.process.processIdentifier
        _ = try await HostileFunctionTests.latencies(daemon, "quiet", count: 30)
        _ = try await daemon.invoke("flooder", #"{"cmd":"echo"}"#)

        // 1. Pipelined requests, answers never read: the supervisor stops reading.
        let rss0 = ServeTests.residentKB(pid)
        let noread = try await daemon.invoke("flooder", Self.flood("noread", ms: 3000)).json ?? [:]
        let rss1 = ServeTests.residentKB(pid)
        let sentNoRead = noread["sent"] as? Int ?? -1
        SecurityLedger.check("api.flood_noread", "7 connections pipeline 28-byte requests to 127.0.0.1:9001 for 3 s without reading the answers",
                             expected: "the supervisor stops reading: what it takes stays in the kernel's TCP buffers of the 7 connections (< 64 MB, charged to the attacker's memory.kmem.tcp on its side), not its own memory: RSS grows < 16 MB",
                             observed: "\(sentNoRead / 1024) KB taken; supervisor RSS \(rss0 / 1024) → \(rss1 / 1024) MB",
                             sentNoRead >= 0 && sentNoRead < 64 << 20 && rss1 - rss0 < 16 * 1024)

        // 2. Pipelined requests with every answer read: the supervisor's CPU.
        try await SecurityLedger.checkMeasured("api.flood_drain", "7 connections pipeline requests for 3 s and read every answer (each a refusal)",
                                               expected: "answers limited by the instance's budget (64 at once, 32/s: ≤ 300 in 3 s); supervisor CPU < 15 % of a core") {
            let (drain, drainShare) = try await Self.measuredFlood(daemon, pid: pid, "drain")
            let answers = drain["answers"] as? Int ?? -1
            return ("\(answers) answers to \((drain["sent"] as? Int ?? 0) / 1024) KB sent; supervisor CPU \(String(format: "%.1f", drainShare * 100)) %",
                    answers >= 0 && answers <= 300 && drainShare < 0.15)
        }

        // 3. A neighbour's latency while the flooder drains (idle and loaded blocks interleaved).
        var idleP99 = 0.0
        try await SecurityLedger.checkMeasured("api.flood_neighbour", "a neighbour is invoked 180 times idle and 180 times while another instance floods its Runtime API (draining), interleaved",
                                               expected: "neighbour p99 ≤ 2× its idle p99 (or within 5 ms of it)") {
            var idle: [Double] = [], loaded: [Double] = []
            for _ in 0..<3 {
                idle += try await HostileFunctionTests.latencies(daemon, "quiet", count: 60)
                let attacker = Task { try? await daemon.invoke("flooder", Self.flood("drain", ms: 2500)) }
                try await Task.sleep(for: .milliseconds(200))
                loaded += try await HostileFunctionTests.latencies(daemon, "quiet", count: 60)
                _ = await attacker.value
            }
            idle.sort()
            loaded.sort()
            let loadedP99 = HostileFunctionTests.p99(loaded)
            idleP99 = HostileFunctionTests.p99(idle)
            return (String(format: "idle p50 %.1f / p99 %.1f ms; during the flood p50 %.1f / p99 %.1f ms", idle[idle.count / 2], idleP99, loaded[loaded.count / 2], loadedP99),
                    loadedP99 <= max(2 * idleP99, idleP99 + 5))
        }

        // 4. A detached child floods after the invocation answered: the instance is idle.
        try await SecurityLedger.checkMeasured("api.flood_idle", "after answering, a detached child of the function floods its Runtime API (draining) for 4 s while the instance is idle",
                                               expected: "the idle instance's connections are not read: supervisor CPU < 5 % of a core; a neighbour's p99 within 2× (or 5 ms) of idle") {
            let detached = try await daemon.invoke("flooder", Self.flood("drain", ms: 4000, detach: true))
            try await Task.sleep(for: .milliseconds(300))
            let idleShare = try await Self.cpuShare(pid) {
                try await Task.sleep(for: .seconds(2))
            }
            let idleFlood = try await HostileFunctionTests.latencies(daemon, "quiet", count: 60)
            try await Task.sleep(for: .seconds(2))  // the child's flood is over
            let idleFloodP99 = HostileFunctionTests.p99(idleFlood)
            return (String(format: "supervisor CPU %.1f %%; neighbour p99 %.1f ms (idle %.1f ms)", idleShare * 100, idleFloodP99, idleP99),
                    detached.status == 200 && idleShare < 0.05 && idleFloodP99 <= max(2 * idleP99, idleP99 + 5))
        }

        // 5. Bodies nobody will use: 7 unfinished 19 MB POSTs for an unknown request id.
        try await SecurityLedger.checkMeasured("api.flood_bodies", "7 connections each start a 19 MB POST for a request id that does not exist and keep sending for 3 s",
                                               expected: "each answered and closed after ≤ 64 KB of body (7 closed); supervisor RSS grows < 16 MB, CPU < 15 %") {
            let rss2 = ServeTests.residentKB(pid)
            let (bodies, bodyShare) = try await Self.measuredFlood(daemon, pid: pid, "body")
            let rss3 = ServeTests.residentKB(pid)
            let closedBodies = bodies["closed_by_server"] as? Int ?? -1
            return ("\(closedBodies) closed by the supervisor after \((bodies["sent"] as? Int ?? 0) / 1024) KB sent; RSS \(rss2 / 1024) → \(rss3 / 1024) MB; CPU \(String(format: "%.1f", bodyShare * 100)) %",
                    closedBodies == 7 && rss3 - rss2 < 16 * 1024 && bodyShare < 0.15)
        }

        // 6. Connection churn: connect, one malformed request, close, again.
        try await SecurityLedger.checkMeasured("api.flood_churn", "for 3 s: connect to the Runtime API, send a malformed request, close, again",
                                               expected: "connections accepted at the budget's rate (≤ 300 answered in 3 s); supervisor CPU < 15 %") {
            let (churn, churnShare) = try await Self.measuredFlood(daemon, pid: pid, "churn")
            let churnAnswers = churn["answers"] as? Int ?? -1
            return ("\(churnAnswers) answered of \(churn["closed_by_server"] ?? "?") tried; CPU \(String(format: "%.1f", churnShare * 100)) %",
                    churnAnswers >= 0 && churnAnswers <= 300 && churnShare < 0.15)
        }

        // The attacker's instance still works, and so does the neighbour.
        let after = try await daemon.invoke("flooder", #"{"cmd":"echo"}"#)
        #expect(after.status == 200)
    }
}
