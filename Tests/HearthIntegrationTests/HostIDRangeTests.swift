import Foundation
import HearthCore
import Testing

/// The per-instance host uid range (issue 11 item 2): parsing, the check against the host's
/// accounts, and the order ids are handed out and reused in.
@Suite("Host uid range for instances")
struct HostIDRangeTests {
    static func files(passwd: String, group: String) throws -> (String, String, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-ids-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try passwd.write(toFile: dir + "/passwd", atomically: true, encoding: .utf8)
        try group.write(toFile: dir + "/group", atomically: true, encoding: .utf8)
        return (dir, dir + "/passwd", dir + "/group")
    }

    @Test("START:COUNT is parsed; anything else is refused with the expected form")
    func parse() throws {
        #expect(try HostIDRange.parse("2147000000:65536") == (2_147_000_000, 65_536))
        for bad in ["", "5", "a:b", "1:2:3", "-1:5", "5:"] {
            #expect(throws: HearthError.self) { try HostIDRange.parse(bad) }
        }
    }

    @Test("a range holding a host user or group is refused at start, naming it; root, empty and overflowing ranges too")
    func refusesHostAccounts() throws {
        let (dir, passwd, group) = try Self.files(passwd: "root:x:0:0::/root:/bin/sh\nalice:x:5000:5000::/home/alice:/bin/sh\n",
                                                  group: "root:x:0:\nstaff:x:7000:\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try HostIDRange(start: 4000, count: 2000, passwd: passwd, group: group)
            Issue.record("a range holding uid 5000 was accepted")
        } catch {
            #expect("\(error)".contains("alice") && "\(error)".contains("5000"), "\(error)")
        }
        do {
            _ = try HostIDRange(start: 6500, count: 1000, passwd: passwd, group: group)
            Issue.record("a range holding gid 7000 was accepted")
        } catch {
            #expect("\(error)".contains("group staff"), "\(error)")
        }
        #expect(throws: HearthError.self) { try HostIDRange(start: 0, count: 10, passwd: passwd, group: group) }
        #expect(throws: HearthError.self) { try HostIDRange(start: 10, count: 0, passwd: passwd, group: group) }
        #expect(throws: HearthError.self) { try HostIDRange(start: UInt32.max - 5, count: 10, passwd: passwd, group: group) }
        let ok = try HostIDRange(start: 5001, count: 1999, passwd: passwd, group: group)
        #expect(ok.start == 5001 && ok.count == 1999)
        // The default range is clear of this host's accounts.
        _ = try HostIDRange()
    }

    @Test("ids are unique while held, all of the range is used, and a released id is reused last")
    func allocation() throws {
        let (dir, passwd, group) = try Self.files(passwd: "", group: "")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let range = try HostIDRange(start: 100_000, count: 4, passwd: passwd, group: group)
        let held = (0..<4).compactMap { _ in range.acquire() }
        #expect(Set(held).count == 4 && held.allSatisfy { (100_000..<100_004).contains($0) })
        #expect(range.acquire() == nil, "a fifth id from a range of four")
        range.release(held[1])
        range.release(held[1])  // twice: once only
        #expect(range.inUseCount == 3)
        #expect(range.acquire() == held[1])
        #expect(range.acquire() == nil)
        // Round robin: after releasing two, the one released first comes back first.
        range.release(held[3])
        range.release(held[0])
        #expect(range.acquire() == held[3])
        #expect(range.acquire() == held[0])
    }
}
