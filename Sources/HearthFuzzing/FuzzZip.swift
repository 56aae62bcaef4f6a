import Foundation
import HearthCore

/// Zip extraction (`CodeBundle.unzip`, used for uploads and `hearth run x.zip`): the input is
/// written as a zip file and extracted into a fresh folder.
///
/// Invariants: no crash; whatever happens, nothing is created next to the target folder (a
/// sibling sentinel folder stays empty), and every symlink extracted stays inside the target.
enum FuzzZip {
    static let root: String = {
        let path = NSTemporaryDirectory() + "/hearth-fuzz-zip-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(atPath: path + "/sentinel", withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "/hearth-fuzz-zip-\(getpid())") }
        return path
    }()

    static func run(_ data: [UInt8]) {
        let zip = root + "/input.zip", target = root + "/target"
        FileManager.default.createFile(atPath: zip, contents: Data(data))
        defer {
            try? FileManager.default.removeItem(atPath: target)
            try? FileManager.default.removeItem(atPath: zip)
        }
        _ = try? CodeBundle.unzip(zip, into: target)
        let siblings = Set((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
        FuzzCheck.require(siblings.isSubset(of: ["input.zip", "target", "sentinel"]), "extraction wrote next to the target: \(siblings.sorted())")
        let sentinel = (try? FileManager.default.contentsOfDirectory(atPath: root + "/sentinel")) ?? []
        FuzzCheck.require(sentinel.isEmpty, "extraction wrote into a sibling folder: \(sentinel)")
        guard let walker = FileManager.default.enumerator(atPath: target) else { return }
        let resolvedTarget = URL(fileURLWithPath: target).resolvingSymlinksInPath().path
        for case let relative as String in walker {
            let path = target + "/" + relative
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil else { continue }
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            // Dangling links resolve to themselves; links to real things must stay inside.
            if FileManager.default.fileExists(atPath: resolved) {
                FuzzCheck.require(resolved == resolvedTarget || resolved.hasPrefix(resolvedTarget + "/"),
                                  "symlink \(relative) leads outside the code folder to \(resolved)")
            }
        }
    }
}
