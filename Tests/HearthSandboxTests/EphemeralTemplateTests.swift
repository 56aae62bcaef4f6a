import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HearthSandbox

/// ADR 0035: every sandbox's `/tmp` is a copy of one template per size, made by one mkfs. The
/// copies must be file systems of their own (what one holds, another does not see), each owned
/// by its own instance's uid, of the asked size, and leave nothing in the directory.
@Suite("Ephemeral storage from a template", .serialized,
       .enabled(if: EphemeralStorage.isAvailable, "needs root, loop devices and mkfs.ext4"))
struct EphemeralTemplateTests {
    @Test("two copies of one template: separate file systems, each owned by its uid, nothing left on disk")
    func copiesAreSeparate() throws {
        let dir = try TempDir()
        let a = try EphemeralStorage.prepare(sizeMB: 512, directory: dir.path, uid: 61_001, gid: 61_002)
        defer { a.close() }
        let b = try EphemeralStorage.prepare(sizeMB: 512, directory: dir.path, uid: 62_001, gid: 62_002)
        defer { b.close() }
        var sa = stat(), sb = stat()
        #expect(fstat(a.mountFD, &sa) == 0 && fstat(b.mountFD, &sb) == 0)
        #expect(sa.st_uid == 61_001 && sa.st_gid == 61_002, "\(sa.st_uid):\(sa.st_gid)")
        #expect(sb.st_uid == 62_001 && sb.st_gid == 62_002, "\(sb.st_uid):\(sb.st_gid)")
        #expect(sa.st_dev != sb.st_dev)
        var fs = statvfs()
        #expect(fstatvfs(a.mountFD, &fs) == 0)
        #expect(UInt64(fs.f_blocks) * UInt64(fs.f_frsize) == 512 << 20, "\(fs.f_blocks) × \(fs.f_frsize)")
        // A file in one is not in the other, nor in a third copy made after it was written.
        let fd = openat(a.mountFD, "marker", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        #expect(write(fd, "tenant a", 8) == 8)
        close(fd)
        #expect(faccessat(a.mountFD, "marker", F_OK, 0) == 0)
        #expect(faccessat(b.mountFD, "marker", F_OK, 0) != 0 && errno == ENOENT)
        let c = try EphemeralStorage.prepare(sizeMB: 512, directory: dir.path, uid: 63_001, gid: 63_002)
        defer { c.close() }
        #expect(faccessat(c.mountFD, "marker", F_OK, 0) != 0 && errno == ENOENT)
        // Only lost+found in a fresh copy.
        #expect(faccessat(c.mountFD, "lost+found", F_OK, 0) == 0)
        // The images and the template are unlinked: the directory is empty.
        #expect(FileIO.entries(dir.path).isEmpty, "\(FileIO.entries(dir.path))")
    }

    @Test("one template per size and directory, made once")
    func oneTemplatePerSize() throws {
        guard EphemeralStorage.templatesEnabled else { return }
        let dir = try TempDir()
        let first = try EphemeralStorage.template(sizeMB: 600, directory: dir.path)
        #expect(try EphemeralStorage.template(sizeMB: 600, directory: dir.path) == first)
        #expect(try EphemeralStorage.template(sizeMB: 700, directory: dir.path) != first)
        var st = stat()
        #expect(fstat(first, &st) == 0 && st.st_size == 600 << 20 && st.st_nlink == 0)
        // Sparse: the template holds only its metadata.
        #expect(st.st_blocks * 512 < 4 << 20, "\(st.st_blocks * 512) bytes allocated")
    }

    @Test("after the first of a size, file systems are made ahead and handed out once each, to their own uid")
    func madeAhead() async throws {
        guard EphemeralStorage.readyDepth > 0 else { return }
        let dir = try TempDir()
        let first = try EphemeralStorage.prepare(sizeMB: 520, directory: dir.path, uid: 64_001, gid: 64_002)
        defer { first.close() }
        let deadline = Date().addingTimeInterval(10)
        while EphemeralStorage.readyCount(sizeMB: 520, directory: dir.path) < EphemeralStorage.readyDepth, Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(EphemeralStorage.readyCount(sizeMB: 520, directory: dir.path) == EphemeralStorage.readyDepth)
        let taken = try EphemeralStorage.prepare(sizeMB: 520, directory: dir.path, uid: 65_001, gid: 65_002)
        defer { taken.close() }
        var st = stat()
        #expect(fstat(taken.mountFD, &st) == 0 && st.st_uid == 65_001 && st.st_gid == 65_002, "\(st.st_uid):\(st.st_gid)")
        #expect(taken.mountFD != first.mountFD)
        EphemeralStorage.dropReady()
        #expect(EphemeralStorage.readyCount(sizeMB: 520, directory: dir.path) == 0)
        #expect(FileIO.entries(dir.path).isEmpty, "\(FileIO.entries(dir.path))")
    }
}
