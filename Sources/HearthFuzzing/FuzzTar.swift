import Foundation
import HearthCore

/// Image-layer tar extraction (`ImageLayerApplier`, used when importing container images): the
/// input is written as a layer file (tar, or gzip'd tar) and applied to a fresh root.
///
/// Invariants: no crash; nothing is created next to the root (a sibling sentinel folder stays
/// empty); no device node and no setuid or setgid file ends up in the root.
enum FuzzTar {
    static let base: String = {
        let path = NSTemporaryDirectory() + "/hearth-fuzz-tar-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(atPath: path + "/sentinel", withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "/hearth-fuzz-tar-\(getpid())") }
        return path
    }()

    static func run(_ data: [UInt8]) {
        let layer = base + "/layer.tar", root = base + "/rootfs"
        FileManager.default.createFile(atPath: layer, contents: Data(data))
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: layer)
        }
        _ = try? applyImageLayer(file: layer, to: root)
        let siblings = Set((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
        FuzzCheck.require(siblings.isSubset(of: ["layer.tar", "rootfs", "sentinel"]), "layer wrote next to the root: \(siblings.sorted())")
        let sentinel = (try? FileManager.default.contentsOfDirectory(atPath: base + "/sentinel")) ?? []
        FuzzCheck.require(sentinel.isEmpty, "layer wrote into a sibling folder: \(sentinel)")
        guard let walker = FileManager.default.enumerator(atPath: root) else { return }
        for case let relative as String in walker {
            var info = stat()
            guard lstat(root + "/" + relative, &info) == 0 else { continue }
            let type = info.st_mode & S_IFMT
            FuzzCheck.require(type != S_IFCHR && type != S_IFBLK, "layer created a device node \(relative)")
            FuzzCheck.require(type == S_IFLNK || info.st_mode & (S_ISUID | S_ISGID) == 0, "layer created a setuid/setgid file \(relative)")
        }
    }
}
