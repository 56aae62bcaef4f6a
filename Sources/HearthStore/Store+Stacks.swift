// HearthStore: `hearth deploy`'s stack records.
import Foundation
import GRDB

extension Store {
    /// Stores (replacing) a stack's record, a JSON document HearthDeploy writes.
    public func putStack(name: String, record: Data) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO stacks (name, record, modified_ms) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET record = excluded.record, modified_ms = excluded.modified_ms
                """, arguments: [name, record, Schema.millis(Schema.now())])
        }
    }

    public func stack(name: String) throws -> Data? {
        try dbWriter.read { db in try Data.fetchOne(db, sql: "SELECT record FROM stacks WHERE name = ?", arguments: [name]) }
    }

    /// Every stack's record, by name.
    public func stacks() throws -> [(name: String, record: Data)] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: "SELECT name, record FROM stacks ORDER BY name").map { ($0["name"], $0["record"]) }
        }
    }

    /// True if there was one.
    @discardableResult
    public func deleteStack(name: String) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM stacks WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}
