#if canImport(Glibc)
import Glibc
#endif
@testable import HearthSandbox

/// A private temporary directory standing in for cgroupfs; removed on deinit.
final class TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/hearth-sandbox-tests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw SystemError("mkdtemp") }
        path = String(cString: template)
    }

    deinit { try? FileIO.removeTree(path) }

    /// Creates `relative` (and its parents) under the temp dir; returns the absolute path.
    @discardableResult
    func dir(_ relative: String) throws -> String {
        let full = path + "/" + relative
        try FileIO.makeDirectories(full)
        return full
    }

    func write(_ contents: String, to relative: String) throws {
        try FileIO.write(contents, to: path + "/" + relative)
    }

    func read(_ relative: String) throws -> String {
        try FileIO.read(path + "/" + relative)
    }

    func exists(_ relative: String) -> Bool {
        FileIO.exists(path + "/" + relative)
    }

    func isDirectory(_ relative: String) -> Bool {
        FileIO.isDirectory(path + "/" + relative)
    }

    /// Deletes every regular file directly inside `relative`, leaving an empty directory
    /// (what a real cgroup directory looks like to rmdir).
    func emptyDirectory(_ relative: String) throws {
        let full = path + "/" + relative
        guard let dir = opendir(full) else { throw SystemError("opendir \(full)") }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if entry.pointee.d_type == UInt8(DT_REG) { names.append(name) }
        }
        closedir(dir)
        for name in names { unlink(full + "/" + name) }
    }
}

extension SandboxSpec {
    static func sample() -> SandboxSpec {
        SandboxSpec(image: "/images/provided", code: "/code/fn", rootMountPoint: "/run/hearth/i1/root")
    }
}
