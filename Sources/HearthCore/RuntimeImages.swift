import Foundation
import HearthSandbox
import Synchronization

/// A runtime image's manifest (`runtime-images/NAME/manifest`, `key=value` lines).
public struct RuntimeImageManifest: Sendable, Equatable {
    public var name: String
    public var aliases: [String]
    public var buildScript: String
    public var entrypoint: String
    public var environment: [(String, String)]
    public var version: String
    /// Arguments after the entrypoint (container images: the rest of ENTRYPOINT + CMD).
    public var arguments: [String] = []
    /// The runtime's working folder; nil means `/var/task`.
    public var workingDirectory: String?
    /// `_HANDLER` when the function sets none (container images: CMD's first word).
    public var defaultHandler: String?
    /// The entrypoint initialises ahead of its launch in a pre-forked shell (`preinit=yes`,
    /// ADR 0018): it is started with the launch channel on fd 3 and waits there for the go.
    public var preinitialize = false
    /// Environment variables (a trailing `*` matches a prefix) whose presence in the function's
    /// environment turns pre-initialisation off (`preinit_unless=`): what would run the
    /// function's own code before the launch (a wrapper script, PYTHONSTARTUP, …).
    public var preinitializeUnless: [String] = []

    public init(name: String, entrypoint: String, environment: [(String, String)]) {
        self.name = name
        aliases = []
        buildScript = ""
        self.entrypoint = entrypoint
        self.environment = environment
        version = "1"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.aliases == b.aliases && a.buildScript == b.buildScript && a.entrypoint == b.entrypoint
            && a.version == b.version && a.arguments == b.arguments && a.workingDirectory == b.workingDirectory
            && a.defaultHandler == b.defaultHandler && a.preinitialize == b.preinitialize
            && a.preinitializeUnless == b.preinitializeUnless && a.environment.map { $0.0 + "=" + $0.1 } == b.environment.map { $0.0 + "=" + $0.1 }
    }

    public init(parsing text: String) throws {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq]).trimmingWhitespace()] = String(line[line.index(after: eq)...]).trimmingWhitespace()
        }
        guard let name = values["name"], !name.isEmpty else { throw HearthError.usage("runtime image manifest has no name") }
        self.name = name
        aliases = (values["aliases"] ?? "").split(separator: " ").map(String.init)
        buildScript = values["build"] ?? "build"
        entrypoint = values["entrypoint"] ?? "/var/task/bootstrap"
        version = values["version"] ?? "1"
        preinitialize = values["preinit"] == "yes"
        preinitializeUnless = (values["preinit_unless"] ?? "").split(separator: " ").map(String.init)
        environment = (values["env"] ?? "").split(separator: " ").compactMap { pair in
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
        }
    }
}

extension RuntimeImageManifest {
    /// Whether a shell of a function with `environment` starts this image's entrypoint ahead of
    /// its launch: the image supports it and no variable of `preinitializeUnless` is set.
    public func preinitializes(environment: [(String, String)]) -> Bool {
        guard preinitialize else { return false }
        return !environment.contains { name, _ in
            preinitializeUnless.contains { pattern in
                pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
            }
        }
    }
}

/// A built runtime image: its root filesystem on disk and its manifest.
public struct RuntimeImage: Sendable {
    public var manifest: RuntimeImageManifest
    public var rootfs: String
    /// Container images bring their own `/var/task`; the function has no separate code.
    public var taskRootInImage: Bool = false

    public init(manifest: RuntimeImageManifest, rootfs: String, taskRootInImage: Bool = false) {
        self.manifest = manifest
        self.rootfs = rootfs
        self.taskRootInImage = taskRootInImage
    }
}

/// Finds runtime image definitions and builds them on first use into the state directory.
/// Builds are serialised per process; a finished build is renamed into place atomically by the
/// build script, so concurrent processes never see a half-built image.
public final class RuntimeImages: Sendable {
    /// Folder holding `NAME/manifest` definitions.
    public let definitions: String
    /// Folder holding built images (`NAME-vVERSION`).
    public let cache: String

    public init(definitions: String, cache: String) {
        self.definitions = definitions
        self.cache = cache
    }

    /// Locates `runtime-images/`: `$HEARTH_RUNTIME_IMAGES`, then up from the executable
    /// (a checkout's `.build/debug/hearth`), then the install locations.
    public static func locateDefinitions() -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["HEARTH_RUNTIME_IMAGES"] { candidates.append(env) }
        var dir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            .deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("runtime-images").path)
            candidates.append(dir.appendingPathComponent("share/hearth/runtime-images").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates += ["/usr/local/share/hearth/runtime-images", "/usr/share/hearth/runtime-images"]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/provided/manifest") }
    }

    /// The manifest for `runtime` (a name or an alias such as `provided.al2023`).
    public func manifest(for runtime: String) throws -> (folder: String, manifest: RuntimeImageManifest) {
        // Every invocation asks (through the deployed version): the definitions ship with
        // hearth and do not change while it runs, so each runtime name is looked up once.
        if let known = known.withLock({ $0[runtime] }) { return known }
        let found = try lookUpManifest(for: runtime)
        known.withLock { $0[runtime] = found }
        return found
    }

    private let known = Mutex<[String: (folder: String, manifest: RuntimeImageManifest)]>([:])

    private func lookUpManifest(for runtime: String) throws -> (folder: String, manifest: RuntimeImageManifest) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: definitions)) ?? []
        for name in names.sorted() {
            let path = definitions + "/" + name + "/manifest"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let manifest = try RuntimeImageManifest(parsing: text)
            if manifest.name == runtime || manifest.aliases.contains(runtime) {
                return (definitions + "/" + name, manifest)
            }
        }
        throw HearthError.usage("unknown runtime \(runtime) (known: \(names.sorted().joined(separator: ", ")))")
    }

    /// The names of the defined runtime images.
    public func names() -> [String] {
        FileIO.entries(definitions).filter { FileIO.exists(definitions + "/" + $0 + "/manifest") }.sorted()
    }

    private static let buildLock = NSLock()

    /// The built image for `runtime`, building it first if needed (progress on stderr).
    public func image(for runtime: String) throws -> RuntimeImage {
        let (folder, manifest) = try manifest(for: runtime)
        let target = cache + "/" + manifest.name + "-v" + manifest.version
        Self.buildLock.lock()
        defer { Self.buildLock.unlock() }
        if FileManager.default.fileExists(atPath: target + "/.hearth-image") {
            return RuntimeImage(manifest: manifest, rootfs: target)
        }
        try FileIO.makeDirectories(cache)
        if FileManager.default.fileExists(atPath: target) { try FileIO.removeTree(target) }
        FileHandle.standardError.write(Data("hearth: building runtime image \(manifest.name) into \(target)\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: folder + "/" + manifest.buildScript)
        process.arguments = [target]
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: target + "/.hearth-image") else {
            throw HearthError.setup("building runtime image \(manifest.name) failed (exit status \(process.terminationStatus))")
        }
        return RuntimeImage(manifest: manifest, rootfs: target)
    }
}
