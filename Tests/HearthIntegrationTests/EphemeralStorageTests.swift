import Foundation
import Testing

/// Issue 10 item 4: `/tmp` is ephemeral storage of exactly `--ephemeral-storage` MB on disk, not
/// the function's memory. The probe fills `/tmp` from inside the sandbox.
@Suite("Ephemeral storage (/tmp) end to end", .serialized, .requiresRoot)
struct EphemeralStorageTests {
    static let ext4Magic = 0xEF53

    @Test("a 128 MB function fills its 512 MB /tmp: ENOSPC near 512 MB, no Runtime.OutOfMemory")
    func fillAt128MB() throws {
        let fill = try Harness.probe("tmpfill", ["--memory", "128", "--timeout", "60"])
        let written = fill["written_mb"] as? Int ?? 0
        let total = fill["tmp_total_kb"] as? Int ?? 0
        SecurityLedger.check("res.tmp_not_memory", "write /tmp until it fails at 128 MB memory (512 MB ephemeral storage)",
                             expected: "ENOSPC at 480–512 MB, not Runtime.OutOfMemory; /tmp a disk file system (ext4)",
                             observed: "\(written) MB, then \(SecurityLedger.errnoName(fill["errno"] as? Int)); /tmp magic \(String(format: "0x%x", fill["tmp_fs_magic"] as? Int ?? 0)), \(total / 1024) MB",
                             fill["errno"] as? Int == Int(ENOSPC) && written > 480 && written <= 512 && fill["tmp_fs_magic"] as? Int == Self.ext4Magic)
        #expect(total == 512 * 1024, "\(total) KB")
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("--ephemeral-storage 1024: the size is what was asked for, and 700 MB fit at 128 MB memory")
    func sizeIsTheSetting() throws {
        let result = Harness.hearthRun(Harness.probe, event: #"{"cmd":"tmpfill","max_mb":700}"#,
                                       ["--memory", "128", "--ephemeral-storage", "1024", "--timeout", "60"])
        #expect(result.status == 0, "\(result.stdoutText) \(result.stderr)")
        let fill = try result.json()
        #expect(fill["written_mb"] as? Int == 700, "\(fill)")
        #expect(fill["errno"] as? Int == 0, "\(fill)")
        let total = fill["tmp_total_kb"] as? Int ?? 0
        #expect(total == 1024 * 1024, "\(total) KB")
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }
}
