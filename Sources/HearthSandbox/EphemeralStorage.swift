import CHearthSpawn
import Foundation
import Synchronization

/// A sandbox's `/tmp` as Lambda's ephemeral storage (ADR 0016): an ext4 file system of exactly
/// the asked size on the state directory's disk (a sparse image, unlinked at once, on a loop
/// device that frees itself when the file system goes; copied from a template made once per
/// size, ADR 0035), mounted detached; `Sandbox.spawn`
/// moves the mount to `/tmp`. Unlike a tmpfs its pages are not memory the function cannot give
/// back: written data goes to disk under memory pressure, so `/tmp` does not count against
/// the function's memory limit, and writing past its size fails with ENOSPC.
///
/// Needs root, `/dev/loop-control` and `mkfs.ext4`; `prepare` returns nil where they are
/// missing (the sandbox then gets a tmpfs). `close()` once the sandbox has its mount.
public final class EphemeralStorage: Sendable {
    public let mountFD: Int32
    private let closed = Mutex(false)

    private init(mountFD: Int32) {
        self.mountFD = mountFD
    }

    /// Where mkfs.ext4 is, if anywhere.
    static let mkfs: String? = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"].first { access($0, X_OK) == 0 }

    /// Whether this host can make disk-backed ephemeral storage.
    public static var isAvailable: Bool {
        geteuid() == 0 && mkfs != nil && access("/dev/loop-control", R_OK | W_OK) == 0
    }

    /// Makes a file system of `sizeMB` MB in `directory` (on disk, not a tmpfs), its root owned
    /// by `uid`:`gid` as the host sees them: a copy of this process's template of that size
    /// (ADR 0035), made by mkfs.ext4 on first use.
    public static func prepare(sizeMB: Int, directory: String, uid: UInt32, gid: UInt32) throws -> EphemeralStorage {
        let key = key(sizeMB: sizeMB, directory: directory)
        defer { refill(key: key, sizeMB: sizeMB, directory: directory) }
        // One made ahead, if there is one: it only needs its owner.
        while let fd = ready.withLock({ $0.mounts[key]?.popLast() }) {
            if hearth_tmp_give(fd, uid, gid) == 0 { return EphemeralStorage(mountFD: fd) }
            Glibc.close(fd)
        }
        let template = try template(sizeMB: sizeMB, directory: directory)
        defer { if !templatesEnabled { Glibc.close(template) } }
        let fd = hearth_tmp_from_template(template, imagePath(directory), uid, gid)
        guard fd >= 0 else { throw SystemError("ephemeral storage of \(sizeMB) MB in \(directory)", errno: -fd) }
        return EphemeralStorage(mountFD: fd)
    }

    /// How many file systems of each size used so far are kept made ahead (mounted detached, owned
    /// by root until one is taken), so a start does not wait for the copy, the loop device and
    /// the mount (~2 ms): `HEARTH_TMP_READY`, default 2; 0 makes every one on the start path.
    static let readyDepth = getenv("HEARTH_TMP_READY").flatMap { Int(String(cString: $0)) }.map { max(0, min($0, 16)) } ?? 2

    /// File systems made ahead by key, and the keys a refill is running for.
    private static let ready = Mutex<(mounts: [String: [Int32]], refilling: Set<String>)>(([:], []))
    private static let refillQueue = DispatchQueue(label: "hearth.ephemeral-refill", qos: .utility)

    /// Tops the ready file systems of `key` up to `readyDepth`, on a background queue, once a
    /// size has been asked for (never ahead of the first use). Failures are left to the next
    /// start, which makes its own on the start path and reports the error.
    private static func refill(key: String, sizeMB: Int, directory: String) {
        guard readyDepth > 0, ready.withLock({ $0.refilling.insert(key).inserted }) else { return }
        refillQueue.async {
            while ready.withLock({ state in
                if state.mounts[key, default: []].count >= readyDepth { state.refilling.remove(key); return false }
                return true
            }) {
                guard let template = try? template(sizeMB: sizeMB, directory: directory) else { break }
                let fd = hearth_tmp_from_template(template, imagePath(directory), UInt32.max, UInt32.max)
                if !templatesEnabled { Glibc.close(template) }
                guard fd >= 0 else { break }
                ready.withLock { $0.mounts[key, default: []].append(fd) }
            }
            ready.withLock { _ = $0.refilling.remove(key) }
        }
    }

    /// Closes the file systems made ahead (their loop devices go with them) and waits for a
    /// refill under way; the next start makes its own again. For a host that closes.
    public static func dropReady() {
        refillQueue.sync {}
        let fds = ready.withLock { state in defer { state.mounts = [:] }; return state.mounts.values.flatMap { $0 } }
        for fd in fds { Glibc.close(fd) }
    }

    /// How many file systems of `sizeMB` in `directory` are made ahead now (tests).
    static func readyCount(sizeMB: Int, directory: String) -> Int {
        ready.withLock { $0.mounts[key(sizeMB: sizeMB, directory: directory)]?.count ?? 0 }
    }

    /// The key of a size in a directory, for the templates and the file systems made ahead.
    private static func key(sizeMB: Int, directory: String) -> String { "\(directory)\u{0}\(sizeMB)" }

    /// `HEARTH_TMP_TEMPLATE=0` makes a template for every /tmp and drops it after the copy: a
    /// file system made per instance, as before ADR 0035 (for comparison).
    static let templatesEnabled = getenv("HEARTH_TMP_TEMPLATE").map { String(cString: $0) != "0" } ?? true

    /// Templates by directory and size: unlinked images kept open for the process's life (each a
    /// few hundred KiB of metadata on disk, freed when the process ends, however it ends).
    private static let templates = Mutex<[String: Int32]>([:])

    private static func imagePath(_ directory: String) -> String {
        directory + "/tmp-\(UInt64.random(in: 0...UInt64.max)).img"
    }

    /// The template for `sizeMB` in `directory`, made under the lock on first use (one mkfs per
    /// size per process; a failure is not cached, so the next start tries again).
    static func template(sizeMB: Int, directory: String) throws -> Int32 {
        guard isAvailable, let mkfs else { throw SystemError("ephemeral storage: needs root, mkfs.ext4 and /dev/loop-control", errno: ENOTSUP) }
        let key = key(sizeMB: sizeMB, directory: directory)
        return try templates.withLock { templates in
            if let fd = templates[key] { return fd }
            let fd = hearth_tmp_template(imagePath(directory), UInt64(sizeMB) << 20, mkfs)
            guard fd >= 0 else { throw SystemError("ephemeral storage template of \(sizeMB) MB in \(directory)", errno: -fd) }
            if templatesEnabled { templates[key] = fd }
            return fd
        }
    }

    /// Removes images a crash left in `directory`: an image has a name only while its file
    /// system is made (it is unlinked before it is used), so a `tmp-*.img` older than
    /// `olderThan` seconds belongs to no running Hearth — younger ones may be another process's
    /// on the same state directory (`hearth run` beside `hearth serve`) and are left. Returns
    /// how many were removed. Called at start-up.
    @discardableResult
    public static func sweep(directory: String, olderThan seconds: Double = 60, now: Date = Date()) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix("tmp-") && name.hasSuffix(".img") {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            if now.timeIntervalSince1970 - modified >= seconds, unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Gives up the supervisor's reference (the sandbox's mount keeps the file system).
    public func close() {
        if closed.withLock({ c in defer { c = true }; return !c }) { Glibc.close(mountFD) }
    }

    deinit { close() }
}
