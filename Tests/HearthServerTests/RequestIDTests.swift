import Foundation
import HearthCore
import Testing

@Suite("Request ids")
struct RequestIDTests {
    @Test("random version-4 UUIDs in lower case, as Lambda prints them")
    func shape() throws {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = RequestID.make()
            let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
            #expect(id == uuid.uuidString.lowercased())
            let chars = Array(id)
            #expect(chars[14] == "4", "version nibble of \(id)")
            #expect("89ab".contains(chars[19]), "variant of \(id)")
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }
}
