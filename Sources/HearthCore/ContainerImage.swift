import Crypto
import Foundation
import HearthSandbox

/// What a container image says about how to run it (the OCI / Docker image config's
/// `config` object), plus Lambda's `ImageConfig` overrides applied on top.
public struct ContainerImageConfig: Sendable, Equatable, Codable {
    public var entrypoint: [String]
    public var cmd: [String]
    public var env: [String]
    public var workingDir: String?
    public var user: String?

    public init(entrypoint: [String] = [], cmd: [String] = [], env: [String] = [], workingDir: String? = nil, user: String? = nil) {
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
    }

    /// Lambda's `ImageConfig`: each given value replaces the image's.
    public func overridden(entrypoint: [String]?, command: [String]?, workingDirectory: String?) -> ContainerImageConfig {
        var copy = self
        if let entrypoint, !entrypoint.isEmpty { copy.entrypoint = entrypoint }
        if let command, !command.isEmpty { copy.cmd = command }
        if let workingDirectory, !workingDirectory.isEmpty { copy.workingDir = workingDirectory }
        return copy
    }
}

/// A container image unpacked into the state directory: `ROOT/<id>/rootfs` and its config.
public struct ImportedImage: Sendable, Equatable {
    /// `sha256:<hex>` of the image config (Docker's image ID).
    public var id: String
    public var rootfs: String
    public var config: ContainerImageConfig
    public var sizeBytes: Int64

    /// The image as a runtime image: its entrypoint and command, its environment, its working
    /// folder, and `/var/task` from the image itself. `handler` becomes `_HANDLER` (default:
    /// the command's first word, as Lambda's base images expect).
    public func runtimeImage(config override: ContainerImageConfig? = nil) throws -> RuntimeImage {
        let config = override ?? self.config
        let command = config.entrypoint + config.cmd
        guard let first = command.first, !first.isEmpty else {
            throw HearthError.usage("image \(id) has no ENTRYPOINT or CMD to run")
        }
        var env: [(String, String)] = config.env.compactMap { pair in
            guard let eq = pair.firstIndex(of: "=") else { return nil }
            return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
        }
        if !env.contains(where: { $0.0 == "PATH" }) {
            env.append(("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
        }
        let path = env.first { $0.0 == "PATH" }!.1
        let executable = try Self.resolveExecutable(first, path: path, rootfs: rootfs, image: id)
        var manifest = RuntimeImageManifest(name: "image@" + id, entrypoint: executable, environment: env)
        manifest.arguments = Array(command.dropFirst())
        manifest.workingDirectory = config.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        manifest.defaultHandler = config.cmd.first
        return RuntimeImage(manifest: manifest, rootfs: rootfs, taskRootInImage: true)
    }

    /// An absolute path inside the image for `name`: as given when it has a slash, else the
    /// first executable file of that name on the image's PATH.
    static func resolveExecutable(_ name: String, path: String, rootfs: String, image: String) throws -> String {
        if name.contains("/") {
            return name.hasPrefix("/") ? name : "/" + (ImageLayerApplier.components(name) ?? []).joined(separator: "/")
        }
        let applier = ImageLayerApplier(root: rootfs)
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            guard let components = ImageLayerApplier.components(String(dir)),
                  let hostDir = try? applier.resolve(components, what: image, create: false) else { continue }
            var st = stat()
            if stat(hostDir + "/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o111 != 0 {
                return String(dir) + "/" + name
            }
        }
        throw HearthError.usage("image \(image): \(name) is not an executable on the image's PATH (\(path))")
    }
}

/// Imports container images: a `docker save` archive, or an OCI image layout (a folder or a
/// tar of one), gzip-compressed or not. Layers are applied in order with `ImageLayerApplier`.
/// Imported images are cached by ID under `cache`; importing the same image again is free.
public struct ContainerImages: Sendable {
    public let cache: String
    /// Limits on the small JSON documents (manifest, index, config).
    static let maxDocumentBytes = 4 << 20

    public init(cache: String) {
        self.cache = cache
    }

    /// The image at `path`, imported (or found in the cache). Progress on stderr when `progress`.
    public func importImage(_ path: String, progress: Bool = false) throws -> ImportedImage {
        let archive = try ImageArchive.open(path)
        defer { archive.close() }
        let (configBytes, layers) = try archive.configAndLayers()
        let id = "sha256:" + SHA256.hash(data: configBytes).map { String(format: "%02x", $0) }.joined()
        let folder = cache + "/" + String(id.dropFirst(7))
        let config = try Self.parseConfig(configBytes, what: path)
        let diffIDs = Self.diffIDs(configBytes)
        if !diffIDs.isEmpty && diffIDs.count != layers.count {
            throw HearthError.usage("\(path): the image config lists \(diffIDs.count) layers, the manifest \(layers.count)")
        }
        if FileIO.exists(folder + "/.hearth-image") {
            let size = Int64((try? FileIO.read(folder + "/size")) ?? "0") ?? 0
            return ImportedImage(id: id, rootfs: folder + "/rootfs", config: config, sizeBytes: size)
        }
        try FileIO.makeDirectories(cache, mode: 0o711)
        let partial = folder + ".partial-\(getpid())"
        try? FileIO.removeTree(partial)
        do {
            try FileIO.makeDirectories(partial + "/rootfs", mode: 0o755)
            var applier = ImageLayerApplier(root: partial + "/rootfs")
            for (index, layer) in layers.enumerated() {
                if progress {
                    FileHandle.standardError.write(Data("hearth: applying layer \(index + 1)/\(layers.count) of \(id.prefix(19))\n".utf8))
                }
                let what = "\(path): layer \(index + 1)"
                let source = try archive.layerSource(layer, what: what)
                // The uncompressed stream must match the config's diff ID (Docker's check).
                let uncompressed = HashingSource(source)
                try applier.apply(TarReader(uncompressed, what: what), what: what)
                let diffID = try uncompressed.drainAndDigest()
                if index < diffIDs.count, diffIDs[index] != diffID {
                    throw HearthError.usage("\(what): layer content does not match the image config's diff ID \(diffIDs[index]) (got \(diffID))")
                }
                try archive.finish(source, layer: layer, what: what)
            }
            try Self.makeMountPoints(rootfs: partial + "/rootfs", image: path)
            try FileIO.write(String(applier.unpackedBytes), to: partial + "/size")
            try FileIO.write(String(decoding: configBytes, as: UTF8.self), to: partial + "/config.json")
            try FileIO.write(id + "\n", to: partial + "/.hearth-image")
            if rename(partial, folder) < 0 {
                // Another process imported the same image meanwhile: use theirs.
                try? FileIO.removeTree(partial)
                if !FileIO.exists(folder + "/.hearth-image") { throw SystemError("rename \(partial)") }
            }
            return ImportedImage(id: id, rootfs: folder + "/rootfs", config: config, sizeBytes: applier.unpackedBytes)
        } catch {
            try? FileIO.removeTree(partial)
            throw error
        }
    }

    /// An already imported image by ID (`sha256:<hex>`), or nil.
    public func image(id: String) -> ImportedImage? {
        guard id.hasPrefix("sha256:"), id.count == 71, id.dropFirst(7).allSatisfy({ $0.isHexDigit }) else { return nil }
        let folder = cache + "/" + String(id.dropFirst(7))
        guard FileIO.exists(folder + "/.hearth-image"), let data = FileManager.default.contents(atPath: folder + "/config.json"),
              let config = try? Self.parseConfig([UInt8](data), what: id) else { return nil }
        let size = Int64((try? FileIO.read(folder + "/size")) ?? "0") ?? 0
        return ImportedImage(id: id, rootfs: folder + "/rootfs", config: config, sizeBytes: size)
    }

    /// Removes an imported image.
    public func remove(id: String) {
        guard image(id: id) != nil else { return }
        try? FileIO.removeTree(cache + "/" + String(id.dropFirst(7)))
    }

    /// The folders the sandbox mounts over must be real folders in the image.
    static func makeMountPoints(rootfs: String, image: String) throws {
        let applier = ImageLayerApplier(root: rootfs)
        for point in ["var/task", "opt", "tmp", "proc", "dev", "run/hearth"] {
            let components = point.split(separator: "/").map(String.init)
            var host = rootfs
            for component in components {
                host += "/" + component
                var st = stat()
                if lstat(host, &st) == 0 && st.st_mode & S_IFMT != S_IFDIR {
                    throw HearthError.usage("\(image): /\(point) must be a folder in the image, but \(host.dropFirst(rootfs.count)) is not")
                }
            }
            _ = try applier.resolve(components, what: image, create: true)
        }
        chmod(rootfs + "/tmp", 0o1777)
    }

    /// `rootfs.diff_ids`: the sha256 of each uncompressed layer, which makes the config's digest
    /// name the layers' content too.
    static func diffIDs(_ bytes: [UInt8]) -> [String] {
        let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        return (object?["rootfs"] as? [String: Any])?["diff_ids"] as? [String] ?? []
    }

    static func parseConfig(_ bytes: [UInt8], what: String) throws -> ContainerImageConfig {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw HearthError.usage("\(what): image config is not a JSON object")
        }
        if let os = object["os"] as? String, os != "linux" { throw HearthError.usage("\(what): image is for \(os), not linux") }
        if let arch = object["architecture"] as? String, arch != ImageArchive.hostArchitecture {
            throw HearthError.usage("\(what): image is for \(arch), this host is \(ImageArchive.hostArchitecture)")
        }
        let c = object["config"] as? [String: Any] ?? [:]
        return ContainerImageConfig(entrypoint: c["Entrypoint"] as? [String] ?? [], cmd: c["Cmd"] as? [String] ?? [],
                                    env: c["Env"] as? [String] ?? [], workingDir: c["WorkingDir"] as? String,
                                    user: c["User"] as? String)
    }
}

/// The files of an image archive: an OCI layout folder, or a tar (docker save or OCI layout).
final class ImageArchive {
    enum Storage {
        case folder(String)
        /// An open tar and where each member's data lies in it.
        case tar(fd: Int32, members: [String: (offset: Int64, size: Int64)])
    }

    struct Layer {
        var path: String
        var digest: String?
    }

    let path: String
    let storage: Storage
    /// A temporary uncompressed copy of a gzipped archive, removed on close.
    private let temporary: String?

    static var hostArchitecture: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    private init(path: String, storage: Storage, temporary: String?) {
        self.path = path
        self.storage = storage
        self.temporary = temporary
    }

    static func open(_ path: String) throws -> ImageArchive {
        if FileIO.isDirectory(path) {
            guard FileIO.exists(path + "/index.json") || FileIO.exists(path + "/manifest.json") else {
                throw HearthError.usage("\(path): not an OCI image layout (no index.json)")
            }
            return ImageArchive(path: path, storage: .folder(path), temporary: nil)
        }
        var fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw HearthError.usage("cannot open image archive \(path): \(String(cString: strerror(errno)))") }
        var temporary: String?
        var magic = [UInt8](repeating: 0, count: 2)
        if pread(fd, &magic, 2, 0) == 2 && magic == [0x1f, 0x8b] {
            // A gzipped archive (`docker save | gzip`): members need random access, so inflate it once.
            let tmp = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/hearth-image-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tar"
            do {
                try inflate(fd: fd, to: tmp, what: path)
            } catch {
                Glibc.close(fd)
                unlink(tmp)
                throw error
            }
            Glibc.close(fd)
            fd = Glibc.open(tmp, O_RDONLY | O_CLOEXEC)
            if fd < 0 { unlink(tmp); throw SystemError("open \(tmp)") }
            temporary = tmp
        }
        var st = stat()
        fstat(fd, &st)
        do {
            let reader = TarReader(FileRangeSource(fd: fd, offset: 0, length: Int64(st.st_size)), what: path)
            var members: [String: (Int64, Int64)] = [:]
            while let entry = try reader.next() {
                if entry.kind == .file, let components = ImageLayerApplier.components(entry.path) {
                    members[components.joined(separator: "/")] = (reader.offset, entry.size)
                }
            }
            return ImageArchive(path: path, storage: .tar(fd: fd, members: members), temporary: temporary)
        } catch {
            Glibc.close(fd)
            if let temporary { unlink(temporary) }
            throw error
        }
    }

    private static func inflate(fd: Int32, to target: String, what: String) throws {
        var st = stat()
        fstat(fd, &st)
        let source = try GzipSource(FileRangeSource(fd: fd, offset: 0, length: Int64(st.st_size)), what: what)
        let out = Glibc.open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if out < 0 { throw SystemError("create \(target)") }
        defer { Glibc.close(out) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 17, alignment: 8)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try source.read(into: buffer, count: 1 << 17)
            if n == 0 { break }
            total += Int64(n)
            if total > ImageLayerApplier.maxUnpackedBytes { throw HearthError.usage("\(what): archive is over the 10 GB limit") }
            var offset = 0
            while offset < n {
                let w = write(out, buffer + offset, n - offset)
                if w < 0 { if errno == EINTR { continue }; throw SystemError("write \(target)") }
                offset += w
            }
        }
    }

    func close() {
        if case .tar(let fd, _) = storage { Glibc.close(fd) }
        if let temporary { unlink(temporary) }
    }

    func exists(_ member: String) -> Bool {
        switch storage {
        case .folder(let root): return FileIO.exists(root + "/" + member)
        case .tar(_, let members): return members[member] != nil
        }
    }

    /// A member's bytes as a source of its own (a file of the folder, or its range of the tar).
    func member(_ path: String, what: String) throws -> FileRangeSource {
        guard let components = ImageLayerApplier.components(path), !components.isEmpty else {
            throw HearthError.usage("\(what): bad member name \(path)")
        }
        let name = components.joined(separator: "/")
        switch storage {
        case .folder(let root):
            let fd = Glibc.open(root + "/" + name, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw HearthError.usage("\(what): missing \(name)") }
            var st = stat()
            fstat(fd, &st)
            return FileRangeSource(fd: fd, offset: 0, length: Int64(st.st_size), owning: true)
        case .tar(let fd, let members):
            guard let member = members[name] else { throw HearthError.usage("\(what): missing \(name)") }
            return FileRangeSource(fd: dup(fd), offset: member.offset, length: member.size, owning: true)
        }
    }

    /// A member's bytes (small JSON documents only).
    func read(_ path: String) throws -> [UInt8] {
        let source = try member(path, what: self.path)
        if source.length > Int64(ContainerImages.maxDocumentBytes) { throw HearthError.usage("\(self.path): \(path) is too large") }
        return try source.readExactly(Int(source.length), what: self.path)
    }

    func json(_ member: String) throws -> Any {
        guard let object = try? JSONSerialization.jsonObject(with: Data(read(member))) else {
            throw HearthError.usage("\(path): \(member) is not valid JSON")
        }
        return object
    }

    static func blobPath(_ digest: String) throws -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0].allSatisfy({ $0.isLetter || $0.isNumber }), parts[1].allSatisfy({ $0.isHexDigit }) else {
            throw HearthError.usage("bad digest \(digest)")
        }
        return "blobs/\(parts[0])/\(parts[1])"
    }

    /// The config document and the layers, in order. `docker save`'s manifest.json is used when
    /// present, else the OCI index (picking this host's platform from a multi-platform index).
    func configAndLayers() throws -> ([UInt8], [Layer]) {
        if exists("manifest.json") {
            guard let list = try json("manifest.json") as? [[String: Any]], let first = list.first,
                  let config = first["Config"] as? String, let layers = first["Layers"] as? [String] else {
                throw HearthError.usage("\(path): manifest.json is not a docker save manifest")
            }
            if list.count > 1 { FileHandle.standardError.write(Data("hearth: \(path) holds \(list.count) images; using the first\n".utf8)) }
            let configBytes = try read(config)
            return (configBytes, layers.map { Layer(path: $0, digest: nil) })
        }
        guard exists("index.json") else { throw HearthError.usage("\(path): neither a docker save archive nor an OCI image layout") }
        var document = try json("index.json") as? [String: Any] ?? [:]
        for _ in 0..<4 {
            if let manifests = document["manifests"] as? [[String: Any]] {
                let usable = manifests.filter { m in
                    guard let platform = m["platform"] as? [String: Any] else { return true }
                    return (platform["os"] as? String ?? "linux") == "linux"
                        && (platform["architecture"] as? String ?? Self.hostArchitecture) == Self.hostArchitecture
                }
                guard let chosen = usable.first, let digest = chosen["digest"] as? String else {
                    throw HearthError.usage("\(path): no image for linux/\(Self.hostArchitecture) in the index")
                }
                document = try json(Self.blobPath(digest)) as? [String: Any] ?? [:]
                continue
            }
            guard let config = document["config"] as? [String: Any], let configDigest = config["digest"] as? String,
                  let layers = document["layers"] as? [[String: Any]] else {
                throw HearthError.usage("\(path): image manifest has no config or layers")
            }
            let configBytes = try read(Self.blobPath(configDigest))
            try Self.verify(configBytes, digest: configDigest, what: path)
            return (configBytes, try layers.map { layer in
                guard let digest = layer["digest"] as? String else { throw HearthError.usage("\(path): layer without digest") }
                let mediaType = layer["mediaType"] as? String ?? ""
                if mediaType.hasSuffix("zstd") { throw HearthError.usage("\(path): zstd-compressed layers are not supported (\(digest)); save the image with gzip or uncompressed layers") }
                return Layer(path: try Self.blobPath(digest), digest: digest)
            })
        }
        throw HearthError.usage("\(path): image index nests too deeply")
    }

    static func verify(_ bytes: [UInt8], digest: String, what: String) throws {
        guard digest.hasPrefix("sha256:") else { return }
        let actual = "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        if actual != digest { throw HearthError.usage("\(what): blob \(digest) does not match its digest (\(actual))") }
    }

    /// A layer's tar stream, inflated when gzipped, hashed when its digest is known.
    func layerSource(_ layer: Layer, what: String) throws -> any ByteSource {
        let raw = try member(layer.path, what: what)
        let magic = raw.peek(4)
        if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            throw HearthError.usage("\(what): zstd-compressed layers are not supported")
        }
        let hashed = HashingSource(raw)
        if magic.starts(with: [0x1f, 0x8b]) { return try GzipSource(hashed, what: what) }
        return hashed
    }

    /// Reads what the tar reader left of a layer (padding, trailing blocks) and checks its
    /// digest (of the stored blob) when the layout names one.
    func finish(_ source: any ByteSource, layer: Layer, what: String) throws {
        let hashed = (source as? HashingSource) ?? (source as? GzipSource)?.innerHashing
        guard let hashed else { return }
        let actual = try hashed.drainAndDigest()
        if let digest = layer.digest, digest.hasPrefix("sha256:"), actual != digest {
            throw HearthError.usage("\(what): layer does not match its digest \(digest) (got \(actual))")
        }
    }
}

/// Passes bytes through while hashing them (layer digests and diff IDs).
final class HashingSource: ByteSource {
    let inner: any ByteSource
    var hasher = SHA256()

    init(_ inner: any ByteSource) {
        self.inner = inner
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let n = try inner.read(into: buffer, count: count)
        if n > 0 { hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: n)) }
        return n
    }

    /// Reads what is left and returns `sha256:<hex>` of everything read.
    func drainAndDigest() throws -> String {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 8)
        defer { scratch.deallocate() }
        while try read(into: scratch, count: 65536) > 0 {}
        return "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
