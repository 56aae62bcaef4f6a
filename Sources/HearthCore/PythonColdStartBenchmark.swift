import Foundation
import Synchronization

/// `hearth bench python-cold-start`: Python cold starts (the python3.11 image, awslambdaric,
/// a handler `app.handler`) to the first response, three ways in each round, so that they are
/// compared under the same load: a full start without a shell (`hearth run`'s path: sandbox
/// set-up, interpreter, awslambdaric, handler), a launch from a pre-initialised shell (ADR 0018:
/// the interpreter and awslambdaric are ready in the held sandbox; prepared before the clock),
/// and a launch from a plain shell (the sandbox is ready, the interpreter starts at the launch).
extension Benchmark {
    /// A folder with `app.py`, a handler that answers at once; the caller removes it.
    public static func pythonHelloFunction() throws -> String {
        let folder = NSTemporaryDirectory() + "hearth-bench-python-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try Data("def handler(event, context):\n    return {\"hello\": \"world\"}\n".utf8)
            .write(to: URL(fileURLWithPath: folder + "/app.py"))
        return folder
    }

    func pythonColdStarts(_ setup: Setup, budget: Budget) async throws -> ([Series], [String: Any]) {
        var preinit = Series(name: "preinitialized_shell_to_first_response")
        var preinitInit = Series(name: "preinitialized_shell_init_duration")
        var plain = Series(name: "shell_to_first_response")
        var plainInit = Series(name: "shell_init_duration")
        var full = Series(name: "no_shell_to_first_response")
        var fullInit = Series(name: "no_shell_init_duration")
        var done = 0
        while budget.more(after: done) {
            Self.progress("python-cold-start \(budget.label(done))")
            var (response, initMs) = try await pythonColdStart(setup, shell: nil)
            full.record(response)
            fullInit.record(.nanoseconds(Int64(initMs * 1e6)))
            for preinitialize in [true, false] {
                let shell = try await Instance.Shell.prepare(config: setup.config, code: setup.bundle.directory, image: setup.image,
                                                             host: setup.host, logSink: nil, preinitialize: preinitialize)
                if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
                (response, initMs) = try await pythonColdStart(setup, shell: shell)
                if preinitialize {
                    preinit.record(response)
                    preinitInit.record(.nanoseconds(Int64(initMs * 1e6)))
                } else {
                    plain.record(response)
                    plainInit.record(.nanoseconds(Int64(initMs * 1e6)))
                }
            }
            done += 1
        }
        return ([preinit, preinitInit, plain, plainInit, full, fullInit], ["gap_ms": gapMs, "runtime": "python3.11"])
    }

    /// One Python cold start (from `shell` when given): the time to the first response, and the
    /// invocation's Init Duration as REPORT shows it.
    func pythonColdStart(_ setup: Setup, shell: Instance.Shell?) async throws -> (Duration, Double) {
        let start = ContinuousClock.now
        let instance = try await startInstance(setup, shell: shell, at: start)
        let responded = Mutex<Duration?>(nil)
        let record = await instance.invoke(payload: setup.payload, requestID: UUID().uuidString.lowercased()) { _ in
            responded.withLock { $0 = start.duration(to: .now) }
        }
        await instance.destroy()
        try setup.check(record)
        return (responded.withLock { $0 } ?? start.duration(to: .now), record.initDurationMs ?? 0)
    }
}
