import Crypto
import Foundation
import HearthSandbox

/// Function code kept once per content: the uploaded zip under `blobs/<sha256>.zip` and its
/// unpacked, read-only tree under `trees/<sha256>/`. Unpacking is checked (no escaping paths
/// or symlinks, Lambda's size limits). Thread-safe.
public final class CodeStore: Sendable {
    public let root: String
    private let lock = NSLock()
    /// Hashes stored by `put` but not yet recorded by the caller: garbage collection keeps them.
    nonisolated(unsafe) private var pending: [String: Int] = [:]

    /// The sandboxes' file systems of code trees (ADR 0032): a tree's image is deleted with it.
    private let fileSystems: FileSystemImages?

    public init(root: String, fileSystems: FileSystemImages? = nil) throws {
        self.root = root
        self.fileSystems = fileSystems
        try FileIO.makeDirectories(root + "/blobs", mode: 0o700)
        try FileIO.makeDirectories(root + "/trees", mode: 0o711)
        // Half-finished unpacks from a crash.
        for name in FileIO.entries(root + "/trees") where name.hasPrefix(".partial-") {
            try? FileIO.removeTree(root + "/trees/" + name)
        }
    }

    /// Hex SHA-256 of `data`.
    public static func sha256Hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Stores a zip, validating it by unpacking; returns its hex SHA-256 and size.
    /// Throws `HearthError.usage` with a clear message for a bad or oversized zip.
    public func put(zip data: Data) throws -> (sha256: String, size: Int) {
        if data.count > Int(CodeBundle.maxZipBytes) {
            throw HearthError.usage("Unzipped size must be smaller than 262144000 bytes and zipped size smaller than 52428800 bytes (got \(data.count) bytes zipped)")
        }
        let sha = Self.sha256Hex(data)
        lock.lock()
        defer { lock.unlock() }
        pending[sha, default: 0] += 1
        let blob = root + "/blobs/" + sha + ".zip"
        if !FileManager.default.fileExists(atPath: blob) {
            let tmp = blob + ".tmp-\(getpid())"
            try data.write(to: URL(fileURLWithPath: tmp))
            rename(tmp, blob)
        }
        do {
            _ = try unpackedLocked(sha)
        } catch {
            unlink(blob)
            pending[sha, default: 1] -= 1
            if pending[sha] == 0 { pending[sha] = nil }
            throw error
        }
        return (sha, data.count)
    }

    /// Ends the protection `put` gave `sha` against garbage collection (once the caller has
    /// recorded it in the store, or given up).
    public func release(_ sha: String) {
        lock.lock()
        defer { lock.unlock() }
        pending[sha, default: 1] -= 1
        if pending[sha] == 0 { pending[sha] = nil }
    }

    /// The stored zip's bytes.
    public func zip(_ sha: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: root + "/blobs/" + sha + ".zip"))
    }

    /// The unpacked, read-only code folder for `sha` (unpacking it if needed).
    public func unpacked(_ sha: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        return try unpackedLocked(sha)
    }

    private func unpackedLocked(_ sha: String) throws -> String {
        precondition(sha.allSatisfy { $0.isHexDigit }, "code hash must be hex")
        let tree = root + "/trees/" + sha
        if FileManager.default.fileExists(atPath: tree) { return tree }
        let partial = root + "/trees/.partial-" + sha
        try? FileIO.removeTree(partial)
        do {
            try CodeBundle.unzip(root + "/blobs/" + sha + ".zip", into: partial)
            try Self.makeReadOnly(partial)
            rename(partial, tree)
        } catch {
            try? FileIO.removeTree(partial)
            throw error
        }
        return tree
    }

    /// The read-only `/opt` for these layers (zips by hash, in order: a later layer's files
    /// win), merged once and kept while every one of its layers is referenced.
    public func mergedLayers(_ shas: [String]) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = "layers-" + Self.sha256Hex(Data(shas.joined(separator: ",").utf8))
        let tree = root + "/trees/" + key
        if FileManager.default.fileExists(atPath: tree) { return tree }
        let sources = try shas.map { try unpackedLocked($0) }
        guard let merged = try CodeBundle.mergeLayers(sources, scratch: root + "/trees") else { return tree }
        do {
            try Self.makeReadOnly(merged.directory)
            try FileIO.write(shas.joined(separator: "\n"), to: tree + ".list")
            if rename(merged.directory, tree) < 0 { throw SystemError("rename \(merged.directory)") }
        } catch {
            Self.makeWritable(merged.directory)
            merged.remove()
            throw error
        }
        return tree
    }

    /// Files 0444 (0555 if executable), folders 0555: readable by the sandbox user, writable by none.
    static func makeReadOnly(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            for name in FileIO.entries(path) { try makeReadOnly(path + "/" + name) }
            chmod(path, 0o555)
        case S_IFREG:
            chmod(path, st.st_mode & 0o111 != 0 ? 0o555 : 0o444)
        default:
            break
        }
    }

    /// Deletes blobs and trees whose hash is not in `keep`.
    public func collectGarbage(keep referenced: Set<String>) {
        lock.lock()
        defer { lock.unlock() }
        let keep = referenced.union(pending.keys)
        for name in FileIO.entries(root + "/blobs") where name.hasSuffix(".zip") {
            let sha = String(name.dropLast(4))
            if !keep.contains(sha) { unlink(root + "/blobs/" + name) }
        }
        for name in FileIO.entries(root + "/trees") where !keep.contains(name) && !name.hasSuffix(".list") {
            let tree = root + "/trees/" + name
            if name.hasPrefix("layers-") {
                // Merged layers: kept while all of their layers are.
                let list = (try? FileIO.read(tree + ".list")) ?? ""
                let shas = list.split(separator: "\n").map(String.init)
                if !shas.isEmpty && shas.allSatisfy(keep.contains) { continue }
                unlink(tree + ".list")
            }
            fileSystems?.forget(folder: tree)
            Self.makeWritable(tree)
            try? FileIO.removeTree(tree)
        }
    }

    static func makeWritable(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        chmod(path, 0o755)
        for name in FileIO.entries(path) { makeWritable(path + "/" + name) }
    }
}
