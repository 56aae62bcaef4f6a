// HearthStore: Step Functions' activities (ADR 0028).
import Foundation
import GRDB

/// A stored activity.
public struct ActivityRecord: Sendable, Equatable {
    public var arn: String
    public var name: String
    public var tags: [String: String]
    public var created: Date

    public init(arn: String, name: String, tags: [String: String] = [:], created: Date = Date()) {
        (self.arn, self.name, self.tags, self.created) = (arn, name, tags, created)
    }
}

extension Store {
    /// Inserts an activity, or returns the one already holding that name (CreateActivity is
    /// idempotent by name; the new tags are ignored then, as AWS). `limit`: the most activities
    /// there may be; `conflict` when a new one would pass it.
    public func createActivity(_ record: ActivityRecord, limit: Int) throws -> ActivityRecord {
        try write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM activities WHERE name = ?", arguments: [record.name]) {
                return try Self.decodeActivity(row)
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activities") ?? 0
            guard count < limit else { throw StoreError.conflict(record.arn) }
            try db.execute(sql: "INSERT INTO activities (arn, name, tags, created_ms) VALUES (?, ?, ?, ?)",
                           arguments: [record.arn, record.name, try Schema.json(record.tags), Schema.millis(record.created)])
            return record
        }
    }

    public func activity(arn: String) throws -> ActivityRecord? {
        try dbWriter.read { db in try Row.fetchOne(db, sql: "SELECT * FROM activities WHERE arn = ?", arguments: [arn]).map(Self.decodeActivity) }
    }

    public func deleteActivity(arn: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM activities WHERE arn = ?", arguments: [arn]) }
    }

    /// A page of activities by name after `marker`, and the marker of the next page.
    public func activities(after marker: String?, limit: Int) throws -> (activities: [ActivityRecord], next: String?) {
        try dbWriter.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM activities WHERE name > ? ORDER BY name LIMIT ?", arguments: [marker ?? "", limit + 1])
            let page = try rows.prefix(limit).map(Self.decodeActivity)
            return (page, rows.count > limit ? page.last?.name : nil)
        }
    }

    public func tagActivity(arn: String, add: [String: String], remove: [String]) throws {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM activities WHERE arn = ?", arguments: [arn]) else { throw StoreError.notFound(arn) }
            var tags = try Self.decodeActivity(row).tags
            tags.merge(add) { $1 }
            for key in remove { tags[key] = nil }
            try db.execute(sql: "UPDATE activities SET tags = ? WHERE arn = ?", arguments: [try Schema.json(tags), arn])
        }
    }

    static func decodeActivity(_ row: Row) throws -> ActivityRecord {
        ActivityRecord(arn: row["arn"], name: row["name"], tags: try Schema.unjson([String: String].self, row["tags"]),
                       created: Schema.date(millis: row["created_ms"]))
    }
}
