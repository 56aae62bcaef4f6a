import Foundation
import HearthSandbox
import ZIPFoundation

/// Function code ready to mount at `/var/task`: a folder, or a zip unpacked safely into a
/// private temporary folder that `remove()` deletes.
public struct CodeBundle: Sendable {
    /// Lambda's limits for a direct upload and for unzipped code.
    public static let maxZipBytes: UInt64 = 50 * 1024 * 1024
    public static let maxUnzippedBytes: UInt64 = 250 * 1024 * 1024

    public let directory: String
    public let isTemporary: Bool

    /// Opens `path`: a folder is used in place, a `.zip` is unpacked under `scratch`.
    public static func open(_ path: String, scratch: String) throws -> CodeBundle {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw HearthError.usage("no such file or folder: \(path)")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if isDir.boolValue { return CodeBundle(directory: absolute, isTemporary: false) }
        try FileIO.makeDirectories(scratch, mode: 0o711)
        let target = scratch + "/code-" + UUID().uuidString.lowercased().prefix(12)
        do {
            try unzip(absolute, into: target)
        } catch {
            try? FileIO.removeTree(target)
            throw error
        }
        return CodeBundle(directory: target, isTemporary: true)
    }

    /// The files of `folder` (relative paths, sorted); a file or folder named in `skipping` is
    /// left out with everything under it.
    public static func files(in folder: URL, skipping: Set<String> = []) -> [String] {
        var files: [String] = []
        guard let enumerator = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        while let relative = enumerator.nextObject() as? String {
            if skipping.contains((relative as NSString).lastPathComponent) { enumerator.skipDescendants(); continue }
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: folder.appendingPathComponent(relative).path, isDirectory: &isDir)
            if !isDir.boolValue { files.append(relative) }
        }
        return files.sorted()
    }

    /// Zips the files of `folder` in memory, keeping execute bits (`skipping` as `files(in:)`).
    public static func zip(folder: URL, skipping: Set<String> = []) throws -> Data {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-\(UUID().uuidString).zip")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let archive = try Archive(url: tmp, accessMode: .create)
        for relative in files(in: folder, skipping: skipping) {
            try archive.addEntry(with: relative, relativeTo: folder)
        }
        return try Data(contentsOf: tmp)
    }

    /// Unpacks `zipPath` into `target`, refusing entries that escape it (`..`, absolute paths,
    /// symlinks pointing outside), and archives over Lambda's size limits.
    public static func unzip(_ zipPath: String, into target: String) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: zipPath)[.size] as? UInt64) ?? 0
        if size > maxZipBytes { throw HearthError.usage("\(zipPath): zip is \(size) bytes, over the 50 MB limit") }
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: zipPath), accessMode: .read)
        } catch {
            throw HearthError.usage("\(zipPath): not a readable zip archive (\(error))")
        }
        try FileIO.makeDirectories(target, mode: 0o755)
        // Symlinks are created last, after every file and folder: nothing is ever written
        // through a link, so a link cannot redirect a later entry outside the folder.
        var links: [(destination: String, link: String, name: String)] = []
        var total: UInt64 = 0
        for entry in archive {
            let name = entry.path
            let components = name.split(separator: "/", omittingEmptySubsequences: true)
            if name.hasPrefix("/") || name.hasPrefix("\\") || components.contains("..") || name.contains("\0") {
                throw HearthError.usage("\(zipPath): entry escapes the code folder: \(name)")
            }
            if components.isEmpty || components == ["."] { continue }
            let destination = target + "/" + components.joined(separator: "/")
            switch entry.type {
            case .directory:
                try makeRealDirectories(target: target, relative: components.map(String.init), zip: zipPath, entry: name)
            case .symlink:
                var linkTarget = Data()
                _ = try archive.extract(entry, skipCRC32: false) { linkTarget.append($0) }
                let link = String(decoding: linkTarget, as: UTF8.self)
                if link.hasPrefix("/") || link.contains("\0") || !normalized(parentPath(destination) + "/" + link).hasPrefix(target + "/") {
                    throw HearthError.usage("\(zipPath): symlink \(name) points outside the code folder: \(link)")
                }
                links.append((destination, link, name))
            case .file:
                try makeRealDirectories(target: target, relative: components.dropLast().map(String.init), zip: zipPath, entry: name)
                // O_EXCL|O_NOFOLLOW: never overwrite, never follow a link.
                let fd = Glibc.open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                if fd < 0 {
                    throw HearthError.usage("\(zipPath): cannot create \(name) (duplicate entry?): \(String(cString: strerror(errno)))")
                }
                var failure: (any Error)?
                do {
                    // Count what is really inflated: declared sizes can lie (zip bombs).
                    // The consumer form of extract computes the CRC but does not check it.
                    let crc = try archive.extract(entry, skipCRC32: false) { chunk in
                        total += UInt64(chunk.count)
                        if total > maxUnzippedBytes { throw HearthError.usage("\(zipPath): unzipped size is over the 250 MB limit") }
                        try chunk.withUnsafeBytes { raw in
                            var offset = 0
                            while offset < raw.count {
                                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                                if n < 0 { if errno == EINTR { continue }; throw SystemError("write \(destination)") }
                                offset += n
                            }
                        }
                    }
                    if crc != entry.checksum {
                        throw HearthError.usage("\(zipPath): entry \(name) is corrupt (CRC-32 mismatch)")
                    }
                } catch {
                    failure = error
                }
                // Keep the owner's execute bit (bootstrap!) but make everything world-readable,
                // so the unprivileged sandbox user can read it.
                let mode = (entry.fileAttributes[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o644
                fchmod(fd, mode & 0o100 != 0 ? 0o755 : 0o644)
                close(fd)
                if let failure {
                    if failure is HearthError { throw failure }
                    throw HearthError.usage("\(zipPath): entry \(name) is corrupt (\(failure))")
                }
            }
        }
        for (destination, link, name) in links {
            let relative = destination.dropFirst(target.count + 1).split(separator: "/").map(String.init)
            try makeRealDirectories(target: target, relative: Array(relative.dropLast()), zip: zipPath, entry: name)
            if symlink(link, destination) < 0 {
                throw HearthError.usage("\(zipPath): cannot create symlink \(name) (duplicate entry?): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Creates `target/relative…` one component at a time, refusing any component that exists
    /// and is not a real directory (a symlink in particular).
    private static func makeRealDirectories(target: String, relative: [String], zip: String, entry: String) throws {
        var path = target
        for component in relative {
            path += "/" + component
            var st = stat()
            if lstat(path, &st) == 0 {
                if st.st_mode & S_IFMT != S_IFDIR {
                    throw HearthError.usage("\(zip): entry \(entry) goes through \(component), which is not a folder")
                }
                continue
            }
            if mkdir(path, 0o755) < 0 && errno != EEXIST { throw SystemError("mkdir \(path)") }
        }
    }

    /// Lambda's limit on layers per function.
    public static let maxLayers = 5

    /// Merges layers (folders or zips) into one folder for `/opt`, in order: a later layer's
    /// files replace an earlier one's, as Lambda extracts them.
    public static func mergeLayers(_ paths: [String], scratch: String) throws -> CodeBundle? {
        if paths.isEmpty { return nil }
        if paths.count > maxLayers { throw HearthError.usage("at most \(maxLayers) layers, got \(paths.count)") }
        let merged = scratch + "/layers-" + UUID().uuidString.lowercased().prefix(12)
        do {
            try FileIO.makeDirectories(merged, mode: 0o755)
            for path in paths {
                let layer = try open(path, scratch: scratch)
                defer { layer.remove() }
                try merge(from: layer.directory, into: merged)
            }
        } catch {
            try? FileIO.removeTree(merged)
            throw error
        }
        return CodeBundle(directory: merged, isTemporary: true)
    }

    private static func merge(from source: String, into target: String) throws {
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: source) {
            let from = source + "/" + name, to = target + "/" + name
            var fromIsDir: ObjCBool = false, toIsDir: ObjCBool = false
            _ = fm.fileExists(atPath: from, isDirectory: &fromIsDir)
            let attrs = try? fm.attributesOfItem(atPath: from)
            let isLink = (attrs?[.type] as? FileAttributeType) == .typeSymbolicLink
            let toIsLink = ((try? fm.attributesOfItem(atPath: to))?[.type] as? FileAttributeType) == .typeSymbolicLink
            if fromIsDir.boolValue && !isLink && !toIsLink && fm.fileExists(atPath: to, isDirectory: &toIsDir) && toIsDir.boolValue {
                try merge(from: from, into: to)
            } else {
                if (try? fm.attributesOfItem(atPath: to)) != nil { try FileIO.removeTree(to) }
                try fm.copyItem(atPath: from, toPath: to)
            }
        }
    }

    static func normalized(_ path: String) -> String {
        var out: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = out.popLast(); continue }
            out.append(part)
        }
        return "/" + out.joined(separator: "/")
    }

    public func remove() {
        if isTemporary { try? FileIO.removeTree(directory) }
    }
}
