import Foundation
import HearthSandbox

/// Applies container image layers (tar streams) to a root folder on the host, safely:
///
/// - every path is resolved *inside* the root: `..` and absolute symlinks cannot leave it
///   (symlinks in the tree are followed as the sandbox would see them, scoped to the root);
/// - nothing is ever written through a symlink: the final component is replaced, not followed;
/// - whiteouts (`.wh.NAME`) remove NAME from lower layers, opaque whiteouts (`.wh..wh..opq`)
///   empty a folder of what lower layers put there;
/// - device nodes are skipped (the sandbox has its own minimal `/dev`), setuid/setgid bits are
///   dropped, and the unpacked size is bounded (Lambda's 10 GB image limit).
///
/// Runs as the supervisor (root); the tree it writes is later mounted read-only as a
/// sandbox's root. Not thread-safe: one applier per root.
struct ImageLayerApplier {
    static let maxUnpackedBytes: Int64 = 10 * 1024 * 1024 * 1024
    static let maxSymlinkHops = 40

    let root: String
    private(set) var unpackedBytes: Int64 = 0
    private(set) var skippedDevices = 0

    init(root: String) {
        self.root = root
    }

    /// Applies one layer. `what` names it in errors.
    mutating func apply(_ reader: TarReader, what: String) throws {
        // Paths this layer created: an opaque whiteout hides lower layers only.
        var createdHere = Set<String>()
        while let entry = try reader.next() {
            guard let components = Self.components(entry.path) else {
                throw HearthError.usage("\(what): entry escapes the image root: \(entry.path)")
            }
            if components.isEmpty { continue }
            let base = components.last!
            let parentComponents = Array(components.dropLast())
            if base.hasPrefix(".wh.") {
                let parent = try resolve(parentComponents, what: what, create: false)
                guard let parent else { continue }
                if base == ".wh..wh..opq" {
                    let parentRelative = relative(parent)
                    for name in FileIO.entries(parent) where !createdHere.contains(Self.join(parentRelative, name)) {
                        try FileIO.removeTree(parent + "/" + name)
                    }
                } else {
                    let name = String(base.dropFirst(4))
                    if name.isEmpty || name == "." || name == ".." || name.contains("/") {
                        throw HearthError.usage("\(what): bad whiteout \(entry.path)")
                    }
                    try FileIO.removeTree(parent + "/" + name)
                }
                continue
            }
            guard let parent = try resolve(parentComponents, what: what, create: true) else { continue }
            let destination = parent + "/" + base
            createdHere.insert(relative(destination))
            try place(entry, at: destination, reader: reader, what: what)
        }
    }

    private mutating func place(_ entry: TarEntry, at destination: String, reader: TarReader, what: String) throws {
        var existing = stat()
        let exists = lstat(destination, &existing) == 0
        let existingIsDir = exists && existing.st_mode & S_IFMT == S_IFDIR
        // Keep an existing folder when a folder comes again (its children stay); replace anything else.
        if exists && !(entry.kind == .directory && existingIsDir) {
            try FileIO.removeTree(destination)
        }
        let mode = mode_t(entry.mode & 0o1777)  // no setuid/setgid
        switch entry.kind {
        case .directory:
            if !(exists && existingIsDir) && mkdir(destination, 0o700) < 0 { throw SystemError("mkdir \(destination)") }
            chmod(destination, mode)
            lchown(destination, entry.uid, entry.gid)
        case .file:
            unpackedBytes += entry.size
            if unpackedBytes > Self.maxUnpackedBytes {
                throw HearthError.usage("\(what): unpacked image is over the 10 GB limit")
            }
            let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd < 0 { throw SystemError("create \(destination)") }
            defer { close(fd) }
            try reader.readData { chunk in
                var offset = 0
                while offset < chunk.count {
                    let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                    if n < 0 { if errno == EINTR { continue }; throw SystemError("write \(destination)") }
                    offset += n
                }
            }
            fchown(fd, entry.uid, entry.gid)
            fchmod(fd, mode)
        case .symlink:
            if entry.linkTarget.isEmpty || entry.linkTarget.contains("\0") {
                throw HearthError.usage("\(what): symlink \(entry.path) has no target")
            }
            // Any target is fine: it is resolved inside the sandbox's root, and here only
            // through `resolve`, which keeps it inside the image.
            if symlink(entry.linkTarget, destination) < 0 { throw SystemError("symlink \(destination)") }
            lchown(destination, entry.uid, entry.gid)
        case .hardLink:
            guard let targetComponents = Self.components(entry.linkTarget), !targetComponents.isEmpty,
                  let targetParent = try resolve(Array(targetComponents.dropLast()), what: what, create: false)
            else { throw HearthError.usage("\(what): hard link \(entry.path) points outside the image: \(entry.linkTarget)") }
            let source = targetParent + "/" + targetComponents.last!
            var st = stat()
            guard lstat(source, &st) == 0, st.st_mode & S_IFMT != S_IFDIR else {
                throw HearthError.usage("\(what): hard link \(entry.path) points to a missing file: \(entry.linkTarget)")
            }
            if link(source, destination) < 0 { throw SystemError("link \(destination)") }
        case .fifo:
            if mkfifo(destination, mode) < 0 { throw SystemError("mkfifo \(destination)") }
            lchown(destination, entry.uid, entry.gid)
        case .characterDevice, .blockDevice:
            skippedDevices += 1
        case .other:
            break  // unknown types (e.g. sparse-file extensions): data skipped by the reader
        }
    }

    /// The host path of a folder inside the image, following symlinks as the sandbox would
    /// (absolute targets from the image root, `..` stopping at the root). With `create`,
    /// missing folders are made; without, a missing one returns nil.
    func resolve(_ components: [String], what: String, create: Bool) throws -> String? {
        var resolved: [String] = []
        var pending = components[...]
        var hops = 0
        while let component = pending.first {
            pending = pending.dropFirst()
            if component.isEmpty || component == "." { continue }
            if component == ".." { _ = resolved.popLast(); continue }
            let path = root + "/" + (resolved + [component]).joined(separator: "/")
            var st = stat()
            if lstat(path, &st) < 0 {
                guard errno == ENOENT else { throw SystemError("lstat \(path)") }
                guard create else { return nil }
                if mkdir(path, 0o755) < 0 { throw SystemError("mkdir \(path)") }
                resolved.append(component)
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                resolved.append(component)
            case S_IFLNK:
                hops += 1
                if hops > Self.maxSymlinkHops { throw HearthError.usage("\(what): too many symlinks resolving \(components.joined(separator: "/"))") }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &buffer, Int(PATH_MAX))
                if n < 0 { throw SystemError("readlink \(path)") }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { resolved = [] }
                pending = (target.split(separator: "/").map(String.init) + pending)[...]
            default:
                throw HearthError.usage("\(what): \((resolved + [component]).joined(separator: "/")) is not a folder")
            }
        }
        return resolved.isEmpty ? root : root + "/" + resolved.joined(separator: "/")
    }

    private func relative(_ hostPath: String) -> String {
        hostPath == root ? "" : String(hostPath.dropFirst(root.count + 1))
    }

    private static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : a + "/" + b }

    /// The path's components relative to the root, or nil when it contains `..` or NUL.
    /// Leading `/` and `./` are accepted (some tools write them).
    static func components(_ path: String) -> [String]? {
        if path.contains("\0") { return nil }
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { return nil }
            out.append(String(part))
        }
        return out
    }
}

/// Applies one layer file (a tar, gzip-compressed when it starts with gzip's magic) to `root`:
/// what image import does per layer, without the archive around it. For the Tar fuzz target.
package func applyImageLayer(file path: String, to root: String) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw SystemError("open \(path)") }
    var info = stat()
    if fstat(fd, &info) < 0 {
        let error = SystemError("stat \(path)")
        close(fd)
        throw error
    }
    let file = FileRangeSource(fd: fd, offset: 0, length: Int64(info.st_size), owning: true)
    var magic = [UInt8](repeating: 0, count: 2)
    let gzip = pread(fd, &magic, 2, 0) == 2 && magic == [0x1f, 0x8b]
    let source: any ByteSource = gzip ? try GzipSource(file, what: path) : file
    var applier = ImageLayerApplier(root: root)
    try applier.apply(TarReader(source, what: path), what: path)
}
