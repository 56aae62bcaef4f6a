import CHearthSpawn
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: what was being done, on which path or value, and the errno.
/// Messages are lower-case with the path or value involved, no trailing period.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs `body` until it does not fail with EINTR; throws `SystemError` on -1.
@discardableResult
func retryingOnInterrupt<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemError(operation(), errno: err)
    }
}

/// A close-on-exec pipe: (read end, write end).
public func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    if hearth_pipe_cloexec(&fds) < 0 { throw SystemError("pipe2") }
    return (fds[0], fds[1])
}

/// Small file helpers for control files (cgroupfs, /proc) and state files.
public enum FileIO {
    /// Writes `contents` to `path` (truncating, creating it when `create`); one write call, as
    /// cgroupfs expects.
    public static func write(_ contents: String, to path: String, create: Bool = true) throws {
        let flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0)
        let fd = try retryingOnInterrupt("open \(path)") { open(path, flags, 0o644) }
        defer { close(fd) }
        var bytes = Array(contents.utf8)
        let count = bytes.count
        let written = try bytes.withUnsafeMutableBytes { buf in
            try retryingOnInterrupt("write \(path)") { Glibc.write(fd, buf.baseAddress, count) }
        }
        if written != count { throw SystemError("short write to \(path)", errno: EIO) }
    }

    /// Reads a whole (small) file as UTF-8.
    public static func read(_ path: String) throws -> String {
        let fd = try retryingOnInterrupt("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var result = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try chunk.withUnsafeMutableBytes { buf in
                try retryingOnInterrupt("read \(path)") { Glibc.read(fd, buf.baseAddress, buf.count) }
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: result, as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates a directory and its missing parents.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = parentPath(path)
        if !parent.isEmpty && parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) < 0 && Glibc.errno != EEXIST {
            throw SystemError("mkdir \(path)")
        }
    }

    /// Names in a directory of the given `d_type` (all types when nil), without "." and "..".
    public static func entries(_ path: String, type: Int32? = nil) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            if let type, Int32(entry.pointee.d_type) != type { continue }
            names.append(name)
        }
        return names
    }

    /// Removes a file tree without following symlinks; mount points fail with EBUSY.
    public static func removeTree(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) < 0 {
            if Glibc.errno == ENOENT { return }
            throw SystemError("lstat \(path)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in entries(path) { try removeTree(path + "/" + name) }
            if rmdir(path) < 0 { throw SystemError("rmdir \(path)") }
        } else if unlink(path) < 0 && Glibc.errno != ENOENT {
            throw SystemError("unlink \(path)")
        }
    }
}

/// The directory part of a path ("/a/b" -> "/a", "/a" -> "/", "a" -> "").
public func parentPath(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "" }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}
