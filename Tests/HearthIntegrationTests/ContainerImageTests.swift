import Foundation
import Testing

/// Container-image functions (`hearth run --image`): a `docker save` archive, an OCI layout
/// folder (gzip layers, multi-platform index) and an OCI layout tar, all built by
/// Tests/Fixtures/images/make-images.py around a static probe. The probe reports what it sees
/// from inside the sandbox.
@Suite("Container images", .serialized, .requiresRoot)
struct ContainerImageTests {
    static var images: String { Harness.fixtures + "/images" }
    static let formats = ["docker-save.tar", "oci", "oci.tar"]

    static func runImage(_ image: String, event: String, _ extra: [String] = []) -> Harness.Result {
        Harness.run(Harness.hearth, ["run", "--image", images + "/" + image, "--state-dir", Harness.stateDirectory,
                                     "--event", event] + extra)
    }

    static func cat(_ image: String, _ path: String) throws -> [String: Any] {
        let result = runImage(image, event: "{\"cmd\":\"cat\",\"path\":\"\(path)\"}")
        #expect(result.status == 0, "\(result.stdoutText) \(result.stderr)")
        return try result.json()
    }

    @Test("each format runs: layers applied in order, whiteouts and opaque folders honoured", arguments: formats)
    func layers(format: String) throws {
        #expect(try Self.cat(format, "/etc/base.txt")["content"] as? String == "from the base layer\n")
        #expect(try Self.cat(format, "/etc/replaced.txt")["content"] as? String == "new\n")
        #expect(try Self.cat(format, "/etc/removed.txt")["errno"] as? Int == Int(ENOENT), ".wh.removed.txt must remove it")
        #expect(try Self.cat(format, "/data/old/gone.txt")["errno"] as? Int == Int(ENOENT), "opaque whiteout")
        #expect(try Self.cat(format, "/data/old/new.txt")["content"] as? String == "added after the opaque whiteout\n")
        #expect(try Self.cat(format, "/etc/link.txt")["content"] as? String == "from the base layer\n", "absolute symlink resolves in the image")
        #expect(try Self.cat(format, "/etc/hard.txt")["content"] as? String == "from the base layer\n")
        #expect(try Self.cat(format, "/srv/" + String(repeating: "d", count: 120) + "/long.txt")["content"] as? String == "long path\n")
        #expect(try Self.cat(format, "/var/task/marker.txt")["content"] as? String == "task root from the image\n",
                "/var/task comes from the image")
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("Entrypoint (found on the image's PATH), Cmd, Env and WorkingDir are honoured; _HANDLER is CMD")
    func config() throws {
        let cmdline = try #require(try Self.cat("docker-save.tar", "/proc/self/cmdline")["content"] as? String)
        #expect(cmdline == "/usr/local/bin/probe-fn\0app.handler\0")
        let environ = try #require(try Self.cat("docker-save.tar", "/proc/self/environ")["content"] as? String)
        let env = environ.split(separator: "\0").map(String.init)
        #expect(env.contains("IMAGE_VAR=from-the-image"))
        #expect(env.contains("PATH=/usr/local/bin:/usr/bin:/bin"))
        #expect(env.contains("_HANDLER=app.handler"))
        #expect(env.contains("AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"))
        let facts = try Self.runImage("docker-save.tar", event: "{\"cmd\":\"facts\"}").json()
        #expect(facts["cwd"] as? String == "/srv")
    }

    @Test("ImageConfig overrides: --command, --workdir, --entrypoint")
    func overrides() throws {
        let result = Self.runImage("oci", event: "{\"cmd\":\"cat\",\"path\":\"/proc/self/cmdline\"}",
                                   ["--command", "other.handler", "--command", "x", "--workdir", "/etc"])
        #expect(try result.json()["content"] as? String == "/usr/local/bin/probe-fn\0other.handler\0x\0")
        let facts = try Self.runImage("oci", event: "{\"cmd\":\"facts\"}", ["--workdir", "/etc"]).json()
        #expect(facts["cwd"] as? String == "/etc")
        let missing = Self.runImage("oci", event: "{}", ["--entrypoint", "no-such-program"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no-such-program is not an executable on the image's PATH"), "\(missing.stderr)")
    }

    @Test("the sandbox is as isolated as with code on a runtime image; setuid bits are dropped")
    func isolation() throws {
        let facts = try Self.runImage("oci.tar", event: "{\"cmd\":\"facts\"}").json()
        #expect(facts["uid"] as? Int == 993)
        #expect(facts["cap_eff"] as? String == "0000000000000000")
        #expect(facts["no_new_privs"] as? Int == 1)
        #expect(facts["seccomp"] as? Int == 2)
        #expect(facts["root_write_errno"] as? Int == Int(EROFS))
        #expect(facts["task_write_errno"] as? Int == Int(EROFS))
        let rootfs = try #require(Self.importedRootfs(containing: "usr/local/bin/suid"))
        var st = stat()
        #expect(stat(rootfs + "/usr/local/bin/suid", &st) == 0)
        #expect(st.st_mode & S_ISUID == 0, "setuid bit must be dropped on import")
    }

    @Test("hostile images: an entry escaping the root is refused; a symlink cannot redirect a later write")
    func hostile() throws {
        let escape = Self.runImage("escape.tar", event: "{}")
        #expect(escape.status == 2)
        #expect(escape.stderr.contains("entry escapes the image root: ../../escaped.txt"), "\(escape.stderr)")
        #expect(!FileManager.default.fileExists(atPath: Harness.stateDirectory + "/escaped.txt"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/hearth-image-escape"))
        let link = Self.runImage("through-link.tar", event: "{}")
        // The write through the symlink lands inside the image, not on the host; the image then
        // has no probe, which is Lambda's Runtime.InvalidEntrypoint.
        #expect(!FileManager.default.fileExists(atPath: "/tmp/hearth-image-escape/passwd"))
        #expect(try link.json()["errorType"] as? String == "Runtime.InvalidEntrypoint")
        let rootfs = try #require(Self.importedRootfs(containing: "tmp/hearth-image-escape/passwd"))
        #expect(FileManager.default.fileExists(atPath: rootfs + "/tmp/hearth-image-escape/passwd"))
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("broken archives get a clear error and exit status 2")
    func broken() throws {
        let dir = NSTemporaryDirectory() + "hearth-image-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a tar at all".utf8).write(to: URL(fileURLWithPath: dir + "/junk.tar"))
        let junk = Harness.run(Harness.hearth, ["run", "--image", dir + "/junk.tar", "--state-dir", Harness.stateDirectory])
        #expect(junk.status == 2)
        #expect(junk.stderr.contains("junk.tar"), "\(junk.stderr)")
        // A truncated docker save archive.
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.images + "/docker-save.tar"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir + "/half.tar"))
        let half = Harness.run(Harness.hearth, ["run", "--image", dir + "/half.tar", "--state-dir", Harness.stateDirectory])
        #expect(half.status == 2)
        #expect(half.stderr.contains("half.tar"), "\(half.stderr)")
        let none = Harness.run(Harness.hearth, ["run", "--image", dir + "/missing.tar", "--state-dir", Harness.stateDirectory])
        #expect(none.status == 2)
        #expect(none.stderr.contains("missing.tar"))
        #expect(Harness.leftovers().isEmpty)
    }

    static func importedRootfs(containing relative: String) -> String? {
        let cache = Harness.stateDirectory + "/images/container"
        for id in (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] {
            let rootfs = cache + "/" + id + "/rootfs"
            var st = stat()
            if lstat(rootfs + "/" + relative, &st) == 0 { return rootfs }
        }
        return nil
    }
}
