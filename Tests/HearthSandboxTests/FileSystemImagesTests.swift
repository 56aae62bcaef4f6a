import Foundation
import Testing
@testable import HearthSandbox

/// The host-side bookkeeping of `FileSystemImages` (ADR 0032); the mounts themselves are shown
/// from inside real sandboxes (`proc.mountinfo`).
@Suite("File system images: sizing and names")
struct FileSystemImagesTests {
    @Test("usage counts every entry and each file's bytes in whole 4 KiB blocks, without following symlinks")
    func usage() throws {
        let folder = NSTemporaryDirectory() + "hearth-fsimages-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try Data(count: 1).write(to: URL(fileURLWithPath: folder + "/one"))
        try Data(count: 4097).write(to: URL(fileURLWithPath: folder + "/sub/two"))
        try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: "/usr")
        let (bytes, entries) = FileSystemImages.usage(of: folder)
        #expect(entries == 5)
        // The files: 4096 + 8192; the folders and the link as their sizes say, block-rounded.
        #expect(bytes >= 12288 && bytes % 4096 == 0)
    }

    @Test("image names depend on the whole key and carry no part of it")
    func names() {
        let a = FileSystemImages.name(of: "/var/lib/hearth/code/trees/abc\u{0}1\u{0}2\u{0}3.4")
        let b = FileSystemImages.name(of: "/var/lib/hearth/code/trees/abc\u{0}1\u{0}2\u{0}3.5")
        #expect(a != b)
        #expect(!a.contains("abc") && a.allSatisfy(\.isHexDigit))
    }

    @Test("a folder under the state directory keeps its image across uses; forgetting the folder deletes the image",
          .enabled(if: FileSystemImages.isAvailable, "needs root, loop devices and mkfs.ext4"))
    func forgetDeletesTheImage() throws {
        let state = NSTemporaryDirectory() + "hearth-fsimages-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: state + "/code/trees/abc", withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: state + "/code/trees/abc/file"))
        let images = try #require(FileSystemImages(directory: state + "/filesystems", persistentRoot: state))
        defer { images.close() }
        let kept = { FileIO.entries(state + "/filesystems").filter { $0.hasSuffix(".ext4") } }
        let first = try #require(images.clone(of: state + "/code/trees/abc"))
        close(first)
        #expect(kept().count == 1)
        let second = try #require(images.clone(of: state + "/code/trees/abc"))  // the same mount, cloned again
        close(second)
        #expect(kept().count == 1)
        images.forget(folder: state + "/code/trees/abc")
        #expect(kept().isEmpty)
    }
}
