import Foundation
import Testing

/// Issue 10 item 6: an ephemeral-storage image left in STATE/ephemeral by a crash while its
/// file system was being made (it has a name only then) is removed when Hearth next starts.
@Suite("Ephemeral storage: start-up sweep", .serialized, .requiresRoot)
struct EphemeralSweepTests {
    @Test("hearth run removes a stale tmp-*.img and leaves a fresh one and other files")
    func sweepAtStart() throws {
        let directory = Harness.stateDirectory + "/ephemeral"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stale = directory + "/tmp-1234.img", fresh = directory + "/tmp-5678.img", other = directory + "/keep.txt"
        for path in [stale, fresh, other] {
            #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0, count: 4096)))
        }
        // A crash two minutes ago: the image's mtime is from then.
        var times = [timeval(tv_sec: time(nil) - 120, tv_usec: 0), timeval(tv_sec: time(nil) - 120, tv_usec: 0)]
        #expect(utimes(stale, &times) == 0)
        defer { for path in [stale, fresh, other] { unlink(path) } }
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"echo"}"#)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale), "the stale image survived the start")
        #expect(FileManager.default.fileExists(atPath: fresh), "a fresh image may be another process's, mid-mkfs")
        #expect(FileManager.default.fileExists(atPath: other))
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }
}
