import CHearthSpawn
import Foundation
import Synchronization

/// Read-only host folders (a runtime image's root, a code version, a set of merged layers) as
/// file systems of their own (ADR 0032). A bind mount's root field in `/proc/self/mountinfo` is
/// its path inside the source file system (the state directory, the code's SHA-256), wherever
/// it is bound; an ext4 image of the folder, on a self-clearing read-only loop device, mounted
/// detached here, shows as `/` of a file system of its own. Each sandbox gets a clone of the
/// mount (`open_tree`), moved into its namespace by the child: no mount ever exists in the
/// host's namespace, and when the supervisor goes (even by kill -9) its descriptors close and the
/// kernel frees the mounts and loop devices with the last sandbox.
///
/// One image and one mount per folder, made on first use and kept for the supervisor's life.
/// Folders under `persistentRoot` (the state directory: runtime images, code trees, merged
/// layers, all immutable once made) keep their image in `directory` across restarts, named by
/// the folder's path, inode and mtime; others are bind-mounted (`clone(of:)`). Thread-safe;
/// `mount(of:)` blocks (mkfs) on first use.
public final class FileSystemImages: Sendable {
    public let directory: String
    public let persistentRoot: String
    private let mkfs: String
    /// One entry per folder key, made once: its detached mount, or nil for a folder that failed
    /// (not retried). Entries have locks of their own, so a folder's mkfs holds up only the
    /// sandboxes that need that folder.
    private let entries = Mutex<[String: Entry]>([:])

    private final class Entry: Sendable {
        /// nil until made; then the mount, or .some(nil) after a failure.
        let mount = Mutex<Int32??>(nil)
    }

    /// Whether this host can make them: root, loop devices, mkfs.ext4 (as for `/tmp`).
    public static var isAvailable: Bool { EphemeralStorage.isAvailable }

    public init?(directory: String, persistentRoot: String) {
        guard Self.isAvailable, let mkfs = EphemeralStorage.mkfs,
              (try? FileIO.makeDirectories(directory, mode: 0o700)) != nil else { return nil }
        self.directory = directory
        self.persistentRoot = persistentRoot.hasSuffix("/") ? persistentRoot : persistentRoot + "/"
        self.mkfs = mkfs
        // Half-made images of a crashed supervisor (younger ones may be another process's).
        let now = Date().timeIntervalSince1970
        for name in FileIO.entries(directory) where name.hasPrefix(".tmp-") {
            var st = stat()
            if lstat(directory + "/" + name, &st) == 0, now - Double(st.st_mtim.tv_sec) > 600 { unlink(directory + "/" + name) }
        }
    }

    /// A new detached mount of `folder` (or of its subfolder `subpath`) for one sandbox, which
    /// the caller closes once the sandbox has it; nil when the folder cannot be made into a file
    /// system here (the sandbox then bind-mounts it, and a warning says so once).
    /// Only folders under `persistentRoot` (what `hearth serve` runs: runtime images, code trees,
    /// merged layers) are made into file systems. Any other folder (`hearth run`'s code: the
    /// user's own folder, or a zip unpacked under a random name) is bind-mounted: its image
    /// could not be kept (the folder may change) and would cost its mkfs on every run (0.2 s
    /// for a 50 MB bundle), and its path names no other tenant and no code hash (only the
    /// user's folder, or the `hearth run` process's own pid).
    public func clone(of folder: String, subpath: String = "") -> Int32? {
        guard folder.hasPrefix(persistentRoot), let mount = mount(of: folder) else { return nil }
        let fd = hearth_fsimage_clone(mount, subpath)
        if fd < 0 {
            warn("cannot clone the mount of \(folder)", errno: -fd)
            return nil
        }
        return fd
    }

    /// The key of `folder` as it is now (its path, inode and mtime), or nil if it is not a folder.
    private static func key(of folder: String) -> String? {
        var st = stat()
        guard lstat(folder, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return "\(folder)\0\(st.st_dev)\0\(st.st_ino)\0\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// `folder` is about to be removed (a code version or merged layers nobody references any
    /// more, `CodeStore.collectGarbage`): closes its mount (sandboxes keep their clones) and
    /// deletes its kept image, so images do not outlive their folders on disk.
    public func forget(folder: String) {
        guard let key = Self.key(of: folder) else { return }
        let entry = entries.withLock { $0.removeValue(forKey: key) }
        entry?.mount.withLock { state in
            if case let fd?? = state { Glibc.close(fd) }
            state = .some(nil)
        }
        unlink(directory + "/" + Self.name(of: key) + ".ext4")
    }

    /// The supervisor's detached mount of `folder`, made on first use.
    private func mount(of folder: String) -> Int32? {
        guard let key = Self.key(of: folder) else { return nil }
        let entry = entries.withLock { table -> Entry in
            if let known = table[key] { return known }
            let new = Entry()
            table[key] = new
            return new
        }
        return entry.mount.withLock { state -> Int32? in
            if let made = state { return made }
            let made = make(folder: folder, key: key)
            state = .some(made)
            return made
        }
    }

    private func make(folder: String, key: String) -> Int32? {
        let final = directory + "/" + Self.name(of: key) + ".ext4"
        if access(final, R_OK) == 0 {
            let fd = hearth_fsimage_mount(final, 0)
            if fd >= 0 { return fd }
            unlink(final)  // damaged: made again below
        }
        let temporary = directory + "/.tmp-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).ext4"
        let (bytes, entries) = Self.usage(of: folder)
        // Room for every block of every file and folder, a quarter more, and the metadata; sparse.
        let size = bytes + bytes / 4 + entries * 8192 + (32 << 20)
        let rc = hearth_fsimage_make(temporary, folder, size, entries + 128, mkfs)
        guard rc == 0 else {
            warn("cannot make a file system of \(folder) (mkfs.ext4 -d)", errno: -rc)
            return nil
        }
        var image = temporary
        if rename(temporary, final) == 0 { image = final }
        let fd = hearth_fsimage_mount(image, image == temporary ? 1 : 0)
        guard fd >= 0 else {
            if image == temporary { unlink(temporary) }
            warn("cannot mount the file system of \(folder)", errno: -fd)
            return nil
        }
        return fd
    }

    /// Bytes in 4 KiB blocks and entries under `folder`, without following symlinks.
    static func usage(of folder: String) -> (bytes: UInt64, entries: UInt64) {
        var bytes: UInt64 = 0, entries: UInt64 = 0
        var pending = [folder]
        while let path = pending.popLast() {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            entries += 1
            bytes += (UInt64(max(st.st_size, 0)) + 4095) & ~4095
            if (st.st_mode & S_IFMT) == S_IFDIR { pending += FileIO.entries(path).map { path + "/" + $0 } }
        }
        return (bytes, entries)
    }

    /// A file name for `key` (FNV-1a, 64 bits, hex): host-side only, never seen in a sandbox.
    static func name(of key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    private func warn(_ what: String, errno: Int32) {
        FileHandle.standardError.write(Data("hearth: WARNING: \(what): \(String(cString: strerror(errno))); sandboxes bind-mount it, and their mount table shows its host path\n".utf8))
    }

    /// Closes every mount (sandboxes keep theirs); for the end of the supervisor.
    public func close() {
        let all = entries.withLock { table in
            defer { table = [:] }
            return Array(table.values)
        }
        for entry in all {
            entry.mount.withLock { state in
                if case let fd?? = state { Glibc.close(fd) }
                state = .some(nil)
            }
        }
    }

    deinit { close() }
}

/// The detached mounts one sandbox is given instead of bind mounts (`FileSystemImages.clone`);
/// the caller closes them after `Sandbox.spawn` (the child has moved its copies).
public struct SandboxMounts: Sendable {
    /// The runtime image, at `/`.
    public var root: Int32?
    /// The code, at `/var/task`.
    public var code: Int32?
    /// The layers, at `/opt`.
    public var opt: Int32?

    public init(root: Int32? = nil, code: Int32? = nil, opt: Int32? = nil) {
        self.root = root
        self.code = code
        self.opt = opt
    }

    public func close() {
        for fd in [root, code, opt] { if let fd { Glibc.close(fd) } }
    }
}
