import Foundation
import Testing
@testable import HearthStore

@Suite("activities in the store")
struct ActivityStoreTests {
    static func record(_ name: String, tags: [String: String] = [:]) -> ActivityRecord {
        ActivityRecord(arn: "arn:aws:states:us-east-1:000000000000:activity:\(name)", name: name, tags: tags,
                       created: Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test("create is idempotent by name (the first tags stay), the limit holds, pages follow names, tags merge, delete")
    func lifecycle() throws {
        let store = try Store.inMemory()
        let first = try store.createActivity(Self.record("a", tags: ["t": "1"]), limit: 3)
        let again = try store.createActivity(ActivityRecord(arn: first.arn, name: "a", tags: ["t": "2"]), limit: 3)
        #expect(again == first)
        _ = try store.createActivity(Self.record("b"), limit: 3)
        _ = try store.createActivity(Self.record("c"), limit: 3)
        #expect(throws: StoreError.self) { _ = try store.createActivity(Self.record("d"), limit: 3) }
        #expect(try store.createActivity(Self.record("c"), limit: 3).name == "c", "an existing name is no new activity")
        let page = try store.activities(after: nil, limit: 2)
        #expect(page.activities.map(\.name) == ["a", "b"])
        #expect(page.next == "b")
        #expect(try store.activities(after: page.next, limit: 2).activities.map(\.name) == ["c"])
        try store.tagActivity(arn: first.arn, add: ["u": "x"], remove: ["t"])
        #expect(try store.activity(arn: first.arn)?.tags == ["u": "x"])
        try store.deleteActivity(arn: first.arn)
        #expect(try store.activity(arn: first.arn) == nil)
        #expect(throws: StoreError.self) { try store.tagActivity(arn: first.arn, add: [:], remove: []) }
    }
}
