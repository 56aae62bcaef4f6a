import Foundation
import HearthServer
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `hearth serve` process for a test: its own state directory and loopback port.
final class ServeDaemon: @unchecked Sendable {
    private(set) var process = Process()
    let stateDirectory: String
    private(set) var port: Int
    let stderrPath: String

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var credentialsPath: String { stateDirectory + "/credentials" }

    init(extra: [String] = [], stateDirectory: String? = nil) throws {
        self.stateDirectory = stateDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("hearth-tests-serve-\(UUID().uuidString.prefix(8))").path
        port = Int.random(in: 20000...45000)
        stderrPath = self.stateDirectory + ".stderr"
        try FileManager.default.createDirectory(atPath: self.stateDirectory, withIntermediateDirectories: true)
        // Share the runtime image cache with the other tests.
        let images = self.stateDirectory + "/images"
        if !FileManager.default.fileExists(atPath: images) {
            try? FileManager.default.createDirectory(atPath: Harness.stateDirectory + "/images", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: images, withDestinationPath: Harness.stateDirectory + "/images")
        }
        // A random port can be taken by something else on the host: try another one.
        for attempt in 0..<5 {
            if attempt > 0 { port = Int.random(in: 20000...45000); process = Process() }
            FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: Harness.hearth)
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--state-dir", self.stateDirectory] + extra
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            try process.run()
            Harness.launched(process.processIdentifier)
            for _ in 0..<300 {
                if ping() { return }
                if !process.isRunning { break }
                usleep(20_000)
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            if !log.contains("Address already in use") { break }
        }
        throw ClientError("hearth serve did not come up: \(log)")
    }

    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func ping() -> Bool {
        let result = Harness.run("/usr/bin/env", ["python3", "-c", "import urllib.request,sys; urllib.request.urlopen('\(endpoint)/', timeout=1)"], timeout: 5)
        return result.status == 0
    }

    /// SIGTERM and wait (graceful shutdown).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    /// kill -9: a crash.
    func crash() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func removeState() {
        try? FileManager.default.removeItem(atPath: stateDirectory)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    /// The aws CLI against this daemon, with its credentials. `cli` is a path or `aws`.
    func aws(cli: String = "aws", _ arguments: [String], stdin: Data? = nil) -> Harness.Result {
        Harness.run("/usr/bin/env", ["-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE=\(credentialsPath)", "AWS_CONFIG_FILE=/dev/null",
                                     "AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=",
                                     cli, "--endpoint-url", endpoint] + arguments, stdin: stdin, timeout: 120)
    }

    /// The aws CLIs on this machine: the one on PATH (pip's v1 here) and Debian's
    /// `/usr/bin/aws` (v2, from the awscli package) when it is a different one.
    static let awsCLIs: [String] = {
        var clis = ["aws"]
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/aws"),
           majorVersion(of: "aws") != majorVersion(of: "/usr/bin/aws") || Harness.run("/usr/bin/env", ["sh", "-c", "command -v aws"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) != "/usr/bin/aws" {
            clis.append("/usr/bin/aws")
        }
        return clis
    }()

    static func majorVersion(of cli: String) -> Int {
        let version = Harness.run("/usr/bin/env", [cli, "--version"])
        return (version.stdoutText + version.stderr).contains("aws-cli/2") ? 2 : 1
    }

    /// `--payload JSON` for an aws CLI: v2 wants `--cli-binary-format raw-in-base64-out`.
    func payload(cli: String = "aws", _ json: String) -> [String] {
        Self.majorVersion(of: cli) == 2 ? ["--payload", json, "--cli-binary-format", "raw-in-base64-out"] : ["--payload", json]
    }

    /// A Python script with boto3; `ENDPOINT` and `CREDENTIALS` are set in its environment.
    func python(_ script: String) -> Harness.Result {
        Harness.run("/usr/bin/env", ["-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "ENDPOINT=\(endpoint)", "AWS_SHARED_CREDENTIALS_FILE=\(credentialsPath)",
                                     "AWS_CONFIG_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1", "python3", "-c", script], timeout: 120)
    }

    func client() throws -> APIClient {
        let creds = try CredentialsFile.load(path: credentialsPath)["default"]
        return APIClient(endpoint: URL(string: endpoint)!, credentials: creds, region: "us-east-1")
    }

    func metrics() async throws -> String {
        let response = try await client().send("GET", "/metrics")
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Creates a function from the probe's zip (or another fixture zip).
    func createProbe(_ name: String, extra: [String: Any] = [:], zip: String = Harness.fixtures + "/probe.zip") async throws {
        var body: [String: Any] = ["FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x",
                                   "Code": ["ZipFile": try Data(contentsOf: URL(fileURLWithPath: zip)).base64EncodedString()]]
        body.merge(extra) { $1 }
        let response = try await client().send("POST", "/2015-03-31/functions", body: JSONSerialization.data(withJSONObject: body))
        #expect(response.status == 201, "\(response.errorDescription)")
    }

    func invoke(_ name: String, _ event: String) async throws -> APIClient.Response {
        try await client().send("POST", "/2015-03-31/functions/\(APIClient.encode(name))/invocations", body: Data(event.utf8))
    }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension Harness.Result {
    var stdoutJSON: [String: Any]? { try? JSONSerialization.jsonObject(with: stdout) as? [String: Any] }
}
