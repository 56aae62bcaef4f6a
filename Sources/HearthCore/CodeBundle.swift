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
        var total: UInt64 = 0
        for entry in archive {
            let name = entry.path
            let components = name.split(separator: "/", omittingEmptySubsequences: true)
            if name.hasPrefix("/") || name.hasPrefix("\\") || components.contains("..") || name.contains("\0") {
                throw HearthError.usage("\(zipPath): entry escapes the code folder: \(name)")
            }
            if components.isEmpty { continue }
            total += entry.uncompressedSize
            if total > maxUnzippedBytes {
                throw HearthError.usage("\(zipPath): unzipped size is over the 250 MB limit")
            }
            let destination = target + "/" + components.joined(separator: "/")
            try ensureInside(target: target, path: parentPath(destination), zip: zipPath, entry: name)
            switch entry.type {
            case .directory:
                try FileIO.makeDirectories(destination, mode: 0o755)
            case .symlink:
                var linkTarget = Data()
                _ = try archive.extract(entry, skipCRC32: false) { linkTarget.append($0) }
                let link = String(decoding: linkTarget, as: UTF8.self)
                let resolvedBase = link.hasPrefix("/") ? "" : parentPath(destination) + "/"
                if link.hasPrefix("/") || !normalized(resolvedBase + link).hasPrefix(target + "/") {
                    throw HearthError.usage("\(zipPath): symlink \(name) points outside the code folder: \(link)")
                }
                try FileIO.makeDirectories(parentPath(destination))
                try FileManager.default.createSymbolicLink(atPath: destination, withDestinationPath: link)
            case .file:
                try FileIO.makeDirectories(parentPath(destination))
                if FileManager.default.fileExists(atPath: destination) {
                    throw HearthError.usage("\(zipPath): duplicate entry \(name)")
                }
                _ = try archive.extract(entry, to: URL(fileURLWithPath: destination), skipCRC32: false)
                // Keep the owner's execute bit (bootstrap!) but make everything world-readable,
                // so the unprivileged sandbox user can read it.
                let mode = (entry.fileAttributes[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o644
                let executable = mode & 0o100 != 0
                chmod(destination, executable ? 0o755 : 0o644)
            }
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
            if fromIsDir.boolValue && !isLink && fm.fileExists(atPath: to, isDirectory: &toIsDir) && toIsDir.boolValue {
                try merge(from: from, into: to)
            } else {
                if (try? fm.attributesOfItem(atPath: to)) != nil { try FileIO.removeTree(to) }
                try fm.copyItem(atPath: from, toPath: to)
            }
        }
    }

    private static func ensureInside(target: String, path: String, zip: String, entry: String) throws {
        // A symlinked parent created by an earlier entry must not lead outside.
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: target).resolvingSymlinksInPath().path
        if resolved != root && !resolved.hasPrefix(root + "/") && FileManager.default.fileExists(atPath: path) {
            throw HearthError.usage("\(zip): entry escapes the code folder through a symlink: \(entry)")
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
