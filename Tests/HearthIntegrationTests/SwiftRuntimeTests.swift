import Foundation
import Testing

/// Swift functions on the HearthRuntime library, packaged by `hearth package` (release build,
/// static Swift stdlib, `bootstrap` at the zip's root) and run through `hearth run` and
/// `hearth serve` + the aws CLI.
@Suite("Swift functions: HearthRuntime and hearth package", .serialized, .requiresRoot)
struct SwiftRuntimeTests {
    static let examples = Harness.packageRoot + "/Examples/swift"
    static let output = Harness.packageRoot + "/.build/swift-functions"

    /// Packages each example once per test run.
    static let zips: [String: String] = {
        try? FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var zips: [String: String] = [:]
        for product in ["swift-echo", "wordstats", "stream-lines"] {
            let zip = output + "/" + product + ".zip"
            let result = Harness.run(Harness.hearth, ["package", product, "--package-path", examples, "--output", zip], timeout: 900)
            precondition(result.status == 0, "hearth package \(product) failed: \(result.stderr)")
            zips[product] = zip
        }
        return zips
    }()

    @Test("hearth package writes a zip with an executable bootstrap at its root and reports progress")
    func package() throws {
        let zip = try #require(Self.zips["wordstats"])
        let list = Harness.run("/usr/bin/env", ["unzip", "-Z", zip])
        #expect(list.status == 0)
        let bootstrap = list.stdoutText.split(separator: "\n").first { $0.hasSuffix(" bootstrap") }
        #expect(bootstrap?.hasPrefix("-rwxr-xr-x") == true, "\(list.stdoutText)")
        let again = Harness.run(Harness.hearth, ["package", "wordstats", "--package-path", Self.examples, "--output", Self.output + "/again.zip"], timeout: 900)
        #expect(again.status == 0)
        #expect(again.stderr.contains("hearth package: building wordstats"))
        #expect(again.stderr.contains("needs glibc"))
        let missing = Harness.run(Harness.hearth, ["package", "no-such-product", "--package-path", Self.examples, "--output", Self.output + "/x.zip"], timeout: 900)
        #expect(missing.status == 2)
        let notAPackage = Harness.run(Harness.hearth, ["package", "x", "--package-path", "/tmp"])
        #expect(notAPackage.status == 2)
        #expect(notAPackage.stderr.contains("no Package.swift in /tmp"))
    }

    @Test("a Codable handler: real work on the event, the context, warm reuse, a typed error", arguments: ["0", "1"])
    func wordstats(useTCP: String) throws {
        let zip = try #require(Self.zips["wordstats"])
        let result = Harness.hearthRun(zip, event: #"{"text":"the cat and the hat\nthe end","top":2}"#,
                                       ["--repeat", "2", "--memory", "256", "--env", "HEARTH_RUNTIME_USE_TCP=\(useTCP)", "--name", "stats"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["words"] as? Int == 7)
        #expect(first["lines"] as? Int == 2)
        #expect(first["uniqueWords"] as? Int == 5)
        let top = first["top"] as? [[String: Any]]
        #expect(top?.first?["word"] as? String == "the")
        #expect(top?.first?["count"] as? Int == 3)
        #expect(first["functionName"] as? String == "stats")
        #expect(first["memoryLimitInMB"] as? Int == 256)
        let reports = result.reports
        #expect(reports.count == 2)
        #expect(reports[0]["Init Duration"] != nil)
        #expect(reports[1]["Init Duration"] == nil, "the second invocation is warm")
        #expect(first["requestId"] as? String == reports[0]["RequestId"])
        #expect(result.stderr.contains("wordstats: 7 words in request"), "stdout of the function reaches the log")

        let failure = Harness.hearthRun(zip, event: "{}", ["--env", "HEARTH_RUNTIME_USE_TCP=\(useTCP)"])
        #expect(failure.status == 1)
        let error = try failure.json()
        #expect(error["errorType"] as? String == "MissingText")
        #expect(error["errorMessage"] as? String == "the event has no \"text\" to count")
        let bad = Harness.hearthRun(zip, event: "[1,2]")
        #expect(try bad.json()["errorType"] as? String == "Runtime.EventDecodingError")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("raw bytes handler: the event comes back byte for byte")
    func echo() throws {
        let zip = try #require(Self.zips["swift-echo"])
        let event = #"{"hello":"wörld","n":[1,2,3]}"#
        let result = Harness.hearthRun(zip, event: event)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText == event)
    }

    @Test("response streaming: chunks are delivered, an error midway ends the stream with Lambda's error")
    func streaming() throws {
        let zip = try #require(Self.zips["stream-lines"])
        let result = Harness.hearthRun(zip, event: #"{"count":3}"#)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.hasPrefix("line 1 of request ") == true)
        let failed = Harness.hearthRun(zip, event: #"{"count":5,"failAt":2}"#)
        #expect(failed.status == 1)
        let error = try failed.json()
        #expect(error["errorType"] as? String == "StreamFailure")
        #expect(error["errorMessage"] as? String == "failed after line 2")
    }

    @Test("through hearth serve and the aws CLI")
    func serve() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let zip = try #require(Self.zips["wordstats"])
        let create = daemon.aws(["lambda", "create-function", "--function-name", "wordstats", "--runtime", "provided.al2023",
                                 "--handler", "bootstrap", "--role", "arn:aws:iam::000000000000:role/x", "--zip-file", "fileb://\(zip)"])
        #expect(create.status == 0, "\(create.stderr)")
        let out = daemon.stateDirectory + "/out.json"
        let invoke = daemon.aws(["lambda", "invoke", "--function-name", "wordstats"] + daemon.payload(#"{"text":"one two two"}"#) + [out])
        #expect(invoke.status == 0, "\(invoke.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect(answer?["words"] as? Int == 3)
        #expect(answer?["functionName"] as? String == "wordstats")
        let failed = daemon.aws(["lambda", "invoke", "--function-name", "wordstats"] + daemon.payload("{}") + [out])
        #expect(failed.stdoutJSON?["FunctionError"] as? String == "Unhandled")
        let error = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect(error?["errorType"] as? String == "MissingText")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
