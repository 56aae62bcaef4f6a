import Foundation
import HearthSandbox
import Synchronization
import Testing

/// Runs the built `hearth` binary and the C fixtures (the probe, the echo example) end to end.
/// Privileged: CI runs as root; without root these tests are skipped (`requiresRoot`).
enum Harness {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var buildDirectory: String {
        ProcessInfo.processInfo.environment["HEARTH_BUILD_DIR"] ?? packageRoot + "/.build/debug"
    }

    static var hearth: String { buildDirectory + "/hearth" }

    /// Image cache shared by the tests (built once).
    static let stateDirectory = "/tmp/hearth-tests-state"

    static let isRoot = getuid() == 0

    /// The probe and echo fixtures, built with cc by scripts/build-fixtures once per run.
    static let fixtures: String = {
        let out = packageRoot + "/.build/fixtures"
        let result = run(packageRoot + "/scripts/build-fixtures", [out])
        precondition(result.status == 0, "building fixtures failed: \(result.stderr)")
        return out
    }()

    static var probe: String { fixtures + "/probe" }
    static var echo: String { fixtures + "/echo" }
    /// A runtime that uses Connection: close and reads every answer to EOF (Tests/Fixtures/fidelity).
    static var fidelity: String { fixtures + "/fidelity" }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

        func json() throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: stdout)
            return try #require(object as? [String: Any], "stdout is not a JSON object: \(stdoutText)")
        }

        /// REPORT lines as field dictionaries.
        var reports: [[String: String]] {
            stderr.split(separator: "\n").filter { $0.hasPrefix("REPORT RequestId: ") }.map { line in
                var fields: [String: String] = [:]
                for field in line.dropFirst("REPORT ".count).split(separator: "\t") {
                    let parts = field.split(separator: ":", maxSplits: 1)
                    if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
                }
                return fields
            }
        }
    }

    /// Runs a program to completion (killed after `timeout` seconds).
    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil, timeout: Double = 60) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        do { try process.run() } catch { return Result(status: -1, stdout: Data(), stderr: "\(error)") }
        launched(process.processIdentifier)
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return Result(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `hearth run PATH --event EVENT ARGS…` with the shared state directory.
    static func hearthRun(_ path: String, event: String? = nil, _ extra: [String] = [], stdin: Data? = nil) -> Result {
        var args = ["run", path, "--state-dir", stateDirectory]
        if let event { args += ["--event", event] }
        return run(hearth, args + extra, stdin: stdin)
    }

    /// The probe's answer to `{"cmd":…}` as JSON.
    static func probe(_ command: String, _ extra: [String] = []) throws -> [String: Any] {
        let result = hearthRun(probe, event: "{\"cmd\":\"\(command)\"}", extra)
        #expect(result.status == 0, "probe \(command) failed: \(result.stdoutText) \(result.stderr)")
        return try result.json()
    }

    /// Pids of the processes this test process started (hearth run, hearth serve, …).
    private static let launchedPids = Mutex<Set<Int32>>([])

    static func launched(_ pid: Int32) { launchedPids.withLock { _ = $0.insert(pid) } }

    /// What a finished instance must not leave behind: cgroups, processes in them, run folders.
    /// Instance names carry their supervisor's pid (`hearth-<pid>-<id>`, `/run/hearth/<pid>`);
    /// only supervisors this test process started are judged: on a shared machine, other
    /// checkouts' tests and benchmarks have instances of their own.
    static func leftovers() -> [String] {
        let ours = launchedPids.withLock { $0 }
        func foreign(_ supervisor: Int32) -> Bool { !ours.contains(supervisor) }
        func supervisor(in text: String) -> Int32? {
            guard let match = text.firstMatch(of: /hearth-([0-9]+)-/) else { return nil }
            return Int32(match.1)
        }
        var found: [String] = []
        if let driver = try? CgroupHost.detect() {
            found += driver.leftovers(prefix: "hearth-").filter { supervisor(in: $0).map(foreign) != true }.map { "cgroup \($0)" }
            // The parent group of a supervisor's instances lives as long as the supervisor.
            found += driver.leftoverParents(prefix: "hearth-").filter { name in
                guard let owner = supervisor(in: name), !foreign(owner) else { return false }
                return kill(owner, 0) != 0 && errno != EPERM
            }.map { "cgroup \($0)" }
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
            // Instance cgroups are hearth-<supervisor pid>-<id>; other cgroups may start with
            // "hearth-" too (a docker build named hearth-docker-smoke, for one).
            if let cgroup = try? String(contentsOfFile: "/proc/\(entry)/cgroup", encoding: .utf8),
               let owner = supervisor(in: cgroup), !foreign(owner) {
                found.append("process \(entry)")
            }
        }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/run/hearth")) ?? [] where Int32(entry).map(foreign) != true {
            found.append("run folder /run/hearth/\(entry)")
        }
        if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) {
            found += mounts.split(separator: "\n").filter { $0.contains("/run/hearth") || $0.contains("hearth-tests") }.map { "mount \($0)" }
        }
        return found
    }
}

extension Trait where Self == ConditionTrait {
    /// Sandboxes need root here (CI runs as root); other users get a skip with the reason.
    static var requiresRoot: Self {
        .enabled(if: Harness.isRoot, "creating sandboxes and cgroups needs root on this host")
    }
}
