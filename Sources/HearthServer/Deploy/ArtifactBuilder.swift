import Foundation
import HearthCore
import HearthDeploy

/// Local artifacts of a template (CodeUri, ContentUri, DefinitionUri): their content hashes,
/// and the zips uploaded, built as `sam build` builds the common cases:
/// - a Python function folder with `requirements.txt` gets its dependencies installed with pip into
///   a staging folder, cached by the requirements' hash (offline: set `PIP_NO_INDEX=1` and
///   `PIP_FIND_LINKS=DIR` with local wheels);
/// - `Metadata: BuildMethod: makefile` runs `make build-<LogicalId>` with `ARTIFACTS_DIR`;
/// - `Metadata: BuildMethod: swift` builds the Swift package at CodeUri with `hearth package`'s
///   packager (release, static Swift stdlib, `bootstrap` at the zip's root); the product is
///   `Metadata.BuildProperties.Product`, else the function's Handler.
struct ArtifactBuilder {
    let base: URL
    let log: @Sendable (String) -> Void

    /// Folders and files that never belong to an artifact's content.
    static let skipped: Set<String> = [".hearth", ".aws-sam", ".git", "__pycache__", ".build"]

    /// The artifact properties of a kind.
    static func artifactProperties(_ kind: ResourceKind) -> [String] {
        switch kind {
        case .function: return ["CodeUri"]
        case .layer: return ["ContentUri"]
        case .stateMachine: return ["DefinitionUri"]
        default: return []
        }
    }

    /// A local path property (not `s3://`, not a map).
    func localPath(_ value: TemplateValue?) -> URL? {
        guard let text = value?.stringValue, !text.hasPrefix("s3://") else { return nil }
        return URL(fileURLWithPath: text, relativeTo: base).standardizedFileURL
    }

    func hashes(_ resource: StackResource, properties: TemplateMap) throws -> [String: String] {
        var result: [String: String] = [:]
        for key in Self.artifactProperties(resource.kind) {
            guard let value = properties[key] else { continue }
            if value.stringValue?.hasPrefix("s3://") == true || value.mapValue != nil {
                throw DeployError("\(resource.logicalID): \(key) \(value.canonicalJSON) is in S3, which Hearth does not have; give a local folder or file")
            }
            guard let url = localPath(value) else { continue }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw DeployError("\(resource.logicalID): \(key) \(url.path) does not exist")
            }
            result[key] = try Self.contentHash(url)
        }
        if resource.kind == .function, let inline = properties["InlineCode"]?.stringValue {
            result["InlineCode"] = PhysicalName.sha256(Array(inline.utf8))
        }
        return result
    }

    /// SHA-256 over every file's relative path, mode and bytes, in sorted order.
    static func contentHash(_ url: URL) throws -> String {
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
        if !isDir.boolValue { return PhysicalName.sha256(try Data(contentsOf: url)) }
        var digestInput = Data()
        for relative in try files(in: url) {
            let path = url.appendingPathComponent(relative).path
            let mode = ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? 0
            digestInput += Data("\(relative)\0\(mode & 0o111 != 0 ? "x" : "-")\0".utf8)
            digestInput += Data(PhysicalName.sha256(try Data(contentsOf: URL(fileURLWithPath: path))).utf8)
        }
        return PhysicalName.sha256(digestInput)
    }

    static func files(in url: URL) throws -> [String] {
        CodeBundle.files(in: url, skipping: skipped)
    }

    /// The zip to upload for an artifact: built (pip / make) when asked, zipped when a folder.
    func zip(_ resource: StackResource, key: String, properties: TemplateMap, build: Bool) throws -> Data {
        if key == "InlineCode", let inline = properties["InlineCode"]?.stringValue {
            let runtime = properties["Runtime"]?.stringValue ?? ""
            let file = runtime.hasPrefix("python") ? "index.py" : runtime.hasPrefix("nodejs") ? "index.js" : "bootstrap"
            let staging = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: staging) }
            try Data(inline.utf8).write(to: staging.appendingPathComponent(file))
            return try Self.zipFolder(staging)
        }
        guard let source = localPath(properties[key]) else { throw DeployError("\(resource.logicalID): \(key) is missing") }
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: source.path, isDirectory: &isDir)
        if !isDir.boolValue { return try Data(contentsOf: source) }
        guard build else { return try Self.zipFolder(source) }
        let method = resource.metadata["BuildMethod"]?.stringValue?.lowercased()
        if method == "makefile" {
            let artifactsDir = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: artifactsDir) }
            log("building \(resource.logicalID): make build-\(resource.logicalID)")
            try Self.run("/usr/bin/env", ["make", "build-\(resource.logicalID)", "ARTIFACTS_DIR=\(artifactsDir.path)"], in: source)
            return try Self.zipFolder(artifactsDir)
        }
        if method == "swift" {
            guard let product = resource.metadata["BuildProperties"]?["Product"]?.stringValue ?? properties["Handler"]?.stringValue else {
                throw DeployError("\(resource.logicalID): BuildMethod swift needs Metadata.BuildProperties.Product (or a Handler naming the executable product)")
            }
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-deploy-\(UUID().uuidString).zip")
            defer { try? FileManager.default.removeItem(at: output) }
            log("building \(resource.logicalID): swift package product \(product) (release, static Swift stdlib)")
            do {
                _ = try FunctionPackager(product: product, packagePath: source.path, output: output.path).run()
            } catch let error as HearthError {
                throw DeployError("\(resource.logicalID): \(error)")
            }
            return try Data(contentsOf: output)
        }
        let requirements = source.appendingPathComponent("requirements.txt")
        let runtime = properties["Runtime"]?.stringValue ?? properties["CompatibleRuntimes"]?.listValue?.first?.stringValue ?? ""
        if FileManager.default.fileExists(atPath: requirements.path) && (runtime.hasPrefix("python") || resource.kind == .layer) {
            let deps = try pythonDependencies(requirements, layer: resource.kind == .layer)
            let staging = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: staging) }
            try Self.copyContents(of: source, to: staging)
            try Self.copyContents(of: deps, to: staging)
            return try Self.zipFolder(staging)
        }
        return try Self.zipFolder(source)
    }

    /// `pip install -r requirements.txt -t DIR`, cached under `.hearth/deps/<hash>`; a layer's
    /// packages go under `python/` as Lambda layers expect.
    func pythonDependencies(_ requirements: URL, layer: Bool) throws -> URL {
        let hash = PhysicalName.sha256(try Data(contentsOf: requirements)).prefix(16)
        let cache = base.appendingPathComponent(".hearth/deps/\(hash)\(layer ? "-layer" : "")")
        if FileManager.default.fileExists(atPath: cache.appendingPathComponent(".complete").path) { return cache }
        try? FileManager.default.removeItem(at: cache)
        let target = layer ? cache.appendingPathComponent("python") : cache
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        log("installing \(requirements.path) with pip (cached as .hearth/deps/\(hash))")
        try Self.run("/usr/bin/env", ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements.path,
                                      "-t", target.path], in: requirements.deletingLastPathComponent())
        FileManager.default.createFile(atPath: cache.appendingPathComponent(".complete").path, contents: Data())
        return cache
    }

    static func run(_ tool: String, _ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DeployError("\(arguments.prefix(2).joined(separator: " ")) failed (exit \(process.terminationStatus)): \(String(decoding: data.suffix(2000), as: UTF8.self))")
        }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-deploy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func copyContents(of source: URL, to destination: URL) throws {
        for item in try FileManager.default.contentsOfDirectory(atPath: source.path) where !skipped.contains(item) && item != ".complete" {
            let target = destination.appendingPathComponent(item)
            if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
            try FileManager.default.copyItem(at: source.appendingPathComponent(item), to: target)
        }
    }

    /// Zips a folder in memory, keeping execute bits, skipping `.hearth` and the like.
    static func zipFolder(_ folder: URL) throws -> Data {
        try CodeBundle.zip(folder: folder, skipping: skipped)
    }
}
