import Foundation
import HearthServer
import Testing

/// `hearth serve` with container-image functions (PackageType Image) and Lambda layers, driven
/// by the aws CLI and the hearth CLI as users drive them.
@Suite("Serve: container images and layers", .serialized, .requiresRoot)
struct ServeImagesAndLayersTests {
    static let role = "arn:aws:iam::000000000000:role/x"

    /// A layer zip holding `files` (name → content).
    static func layerZip(_ files: [String: String], in dir: String, name: String) throws -> String {
        let folder = dir + "/" + name
        for (path, content) in files {
            let full = folder + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(content.utf8).write(to: URL(fileURLWithPath: full))
        }
        let zip = dir + "/" + name + ".zip"
        let result = Harness.run("/usr/bin/env", ["sh", "-c", "cd '\(folder)' && zip -qr '\(zip)' ."])
        #expect(result.status == 0, "\(result.stderr)")
        return zip
    }

    static func catPayload(_ path: String) -> String { "{\"cmd\":\"cat\",\"path\":\"\(path)\"}" }

    @Test("an image function through the aws CLI: create, invoke, ImageConfig, update code, get-function")
    func imageFunction() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let images = Harness.fixtures + "/images"
        let create = daemon.aws(["lambda", "create-function", "--function-name", "img", "--package-type", "Image",
                                 "--code", "ImageUri=\(images)/oci.tar", "--role", Self.role])
        #expect(create.status == 0, "\(create.stdoutText) \(create.stderr)")
        #expect(create.stdoutJSON?["PackageType"] as? String == "Image")

        let out = daemon.stateDirectory + "/out.json"
        let invoke = daemon.aws(["lambda", "invoke", "--function-name", "img"] + daemon.payload(Self.catPayload("/var/task/marker.txt")) + [out])
        #expect(invoke.status == 0, "\(invoke.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect(answer?["content"] as? String == "task root from the image\n")

        // ImageConfig overrides CMD and WORKDIR; the next invocation runs on a new instance.
        let update = daemon.aws(["lambda", "update-function-configuration", "--function-name", "img",
                                 "--image-config", "Command=other.handler,WorkingDirectory=/etc"])
        #expect(update.status == 0, "\(update.stderr)")
        #expect(((update.stdoutJSON?["ImageConfigResponse"] as? [String: Any])?["ImageConfig"] as? [String: Any])?["Command"] as? [String] == ["other.handler"])
        let cmdline = try await daemon.invoke("img", Self.catPayload("/proc/self/cmdline"))
        #expect((cmdline.json?["content"] as? String) == "/usr/local/bin/probe-fn\u{0}other.handler\u{0}")
        let facts = try await daemon.invoke("img", "{\"cmd\":\"facts\"}")
        #expect(facts.json?["cwd"] as? String == "/etc")
        #expect(facts.json?["uid"] as? Int == 993)
        #expect(facts.json?["seccomp"] as? Int == 2)

        // New code from the other format; GetFunction reports the image.
        let code = daemon.aws(["lambda", "update-function-code", "--function-name", "img", "--image-uri", "\(images)/docker-save.tar"])
        #expect(code.status == 0, "\(code.stderr)")
        let get = daemon.aws(["lambda", "get-function", "--function-name", "img"])
        let codeInfo = get.stdoutJSON?["Code"] as? [String: Any]
        #expect(codeInfo?["RepositoryType"] as? String == "ECR")
        #expect(codeInfo?["ImageUri"] as? String == "\(images)/docker-save.tar")
        let after = try await daemon.invoke("img", Self.catPayload("/etc/base.txt"))
        #expect(after.json?["content"] as? String == "from the base layer\n")

        // Bad input: a relative path, a missing file, a Zip-only field.
        let relative = daemon.aws(["lambda", "create-function", "--function-name", "img2", "--package-type", "Image",
                                   "--code", "ImageUri=registry.example.com/x:latest", "--role", Self.role])
        #expect(relative.status != 0)
        #expect(relative.stderr.contains("InvalidParameterValueException"), "\(relative.stderr)")
        #expect(relative.stderr.contains("registries are not supported"))
        let missing = daemon.aws(["lambda", "create-function", "--function-name", "img2", "--package-type", "Image",
                                  "--code", "ImageUri=/nonexistent/image.tar", "--role", Self.role])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/image.tar"), "\(missing.stderr)")
        let list = daemon.aws(["lambda", "list-functions"])
        #expect((list.stdoutJSON?["Functions"] as? [[String: Any]])?.count == 1, "a failed create must store nothing")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("layers through the aws CLI: publish, merge in order under /opt, list, delete while in use")
    func layers() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let dir = daemon.stateDirectory + "/layer-src"
        let first = try Self.layerZip(["shared.txt": "layer one\n", "one.txt": "only in one\n"], in: dir, name: "one")
        let second = try Self.layerZip(["shared.txt": "layer two\n", "lib/two.txt": "only in two\n"], in: dir, name: "two")
        let p1 = daemon.aws(["lambda", "publish-layer-version", "--layer-name", "tools", "--zip-file", "fileb://\(first)",
                             "--compatible-runtimes", "provided.al2023", "--description", "first"])
        #expect(p1.status == 0, "\(p1.stderr)")
        let arn1 = try #require(p1.stdoutJSON?["LayerVersionArn"] as? String)
        #expect(arn1.hasSuffix(":layer:tools:1"))
        #expect(p1.stdoutJSON?["Version"] as? Int == 1)
        let p2 = daemon.aws(["lambda", "publish-layer-version", "--layer-name", "tools", "--zip-file", "fileb://\(second)"])
        let arn2 = try #require(p2.stdoutJSON?["LayerVersionArn"] as? String)
        #expect(arn2.hasSuffix(":layer:tools:2"))

        try await daemon.createProbe("withlayers", extra: ["Layers": [arn1, arn2]])
        let shared = try await daemon.invoke("withlayers", Self.catPayload("/opt/shared.txt"))
        #expect(shared.json?["content"] as? String == "layer two\n", "a later layer wins")
        let one = try await daemon.invoke("withlayers", Self.catPayload("/opt/one.txt"))
        #expect(one.json?["content"] as? String == "only in one\n")
        let two = try await daemon.invoke("withlayers", Self.catPayload("/opt/lib/two.txt"))
        #expect(two.json?["content"] as? String == "only in two\n")
        let facts = try await daemon.invoke("withlayers", "{\"cmd\":\"facts\"}")
        #expect(facts.json?["opt_write_errno"] as? Int == Int(EROFS), "/opt is read-only")

        let listed = daemon.aws(["lambda", "list-layers"])
        let layers = listed.stdoutJSON?["Layers"] as? [[String: Any]] ?? []
        #expect(layers.map { $0["LayerName"] as? String } == ["tools"])
        let versions = daemon.aws(["lambda", "list-layer-versions", "--layer-name", "tools"])
        #expect((versions.stdoutJSON?["LayerVersions"] as? [[String: Any]])?.compactMap { $0["Version"] as? Int } == [2, 1])

        // Deleting a version in use: hidden from the API, the function keeps working (as on Lambda),
        // even on a new instance after a configuration change.
        let delete = daemon.aws(["lambda", "delete-layer-version", "--layer-name", "tools", "--version-number", "1"])
        #expect(delete.status == 0, "\(delete.stderr)")
        let gone = daemon.aws(["lambda", "get-layer-version", "--layer-name", "tools", "--version-number", "1"])
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("ResourceNotFoundException"), "\(gone.stderr)")
        let update = daemon.aws(["lambda", "update-function-configuration", "--function-name", "withlayers", "--memory-size", "256"])
        #expect(update.status == 0, "\(update.stderr)")
        let stillOne = try await daemon.invoke("withlayers", Self.catPayload("/opt/one.txt"))
        #expect(stillOne.json?["content"] as? String == "only in one\n")

        // Bad references are refused with Lambda's error.
        let bad = daemon.aws(["lambda", "update-function-configuration", "--function-name", "withlayers",
                              "--layers", "arn:aws:lambda:us-east-1:000000000000:layer:tools:9"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("InvalidParameterValueException"), "\(bad.stderr)")
        let six = daemon.aws(["lambda", "update-function-configuration", "--function-name", "withlayers",
                              "--layers"] + Array(repeating: arn2, count: 6))
        #expect(six.status != 0)
        #expect(six.stderr.contains("more than 5 layers"), "\(six.stderr)")
        let broken = dir + "/broken.zip"
        // A zip whose directory is intact (the aws CLI checks that) but whose data is corrupt:
        // one stored entry "a.txt" without extra fields, so its data starts at byte 30 + 5.
        try Data("hello hello hello hello\n".utf8).write(to: URL(fileURLWithPath: dir + "/a.txt"))
        let stored = Harness.run("/usr/bin/env", ["sh", "-c", "cd '\(dir)' && zip -q -X -0 '\(broken)' a.txt"])
        #expect(stored.status == 0, "\(stored.stderr)")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: broken)))
        for i in 36..<44 { bytes[i] ^= 0xff }
        try Data(bytes).write(to: URL(fileURLWithPath: broken))
        let badZip = daemon.aws(["lambda", "publish-layer-version", "--layer-name", "tools", "--zip-file", "fileb://\(broken)"])
        #expect(badZip.status != 0)
        #expect(badZip.stderr.contains("InvalidParameterValueException"), "\(badZip.stderr)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("the hearth CLI: layer publish/list/delete, create --image and --layer")
    func hearthCLI() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        func hearth(_ args: [String]) -> Harness.Result {
            Harness.run(Harness.hearth, args + ["--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath])
        }
        let dir = daemon.stateDirectory + "/layer-src"
        let zip = try Self.layerZip(["bin/tool.txt": "a tool\n"], in: dir, name: "tool")
        let publish = hearth(["layer", "publish", "tools", "--zip-file", zip, "--json"])
        #expect(publish.status == 0, "\(publish.stderr)")
        let arn = try #require(publish.stdoutJSON?["LayerVersionArn"] as? String)
        let list = hearth(["layer", "list"])
        #expect(list.stdoutText.contains("tools"), "\(list.stdoutText)")
        let create = hearth(["create", "probe", "--zip-file", Harness.probe, "--layer", arn])
        #expect(create.status == 0, "\(create.stderr)")
        let invoke = hearth(["invoke", "probe", "--event", Self.catPayload("/opt/bin/tool.txt")])
        #expect(invoke.status == 0, "\(invoke.stderr)")
        #expect(invoke.stdoutJSON?["content"] as? String == "a tool\n")
        let image = hearth(["create", "img", "--image", Harness.fixtures + "/images/docker-save.tar", "--command", "x.handler"])
        #expect(image.status == 0, "\(image.stderr)")
        let env = hearth(["invoke", "img", "--event", Self.catPayload("/proc/self/environ")])
        #expect((env.stdoutJSON?["content"] as? String ?? "").contains("_HANDLER=x.handler\u{0}"), "\(env.stdoutText)")
        let both = hearth(["create", "x", "--zip-file", Harness.probe, "--image", "/tmp/x.tar"])
        #expect(both.status == 2)
        let delete = hearth(["layer", "delete", "tools", "1"])
        #expect(delete.status == 0, "\(delete.stderr)")
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }
}
