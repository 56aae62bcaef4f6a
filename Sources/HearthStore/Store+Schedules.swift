// HearthStore: EventBridge Scheduler's schedule groups and schedules.
import Foundation
import GRDB
import HearthEvents

/// A schedule group (`default` always exists until deleted; Hearth recreates nothing).
public struct ScheduleGroupRecord: Sendable, Equatable {
    public var name: String
    public var tags: [String: String]
    public var created: Date
    public var modified: Date
}

/// A stored schedule: its identity, state and the validated definition document (JSON).
public struct ScheduleRecord: Sendable, Equatable {
    public var group: String
    public var name: String
    public var state: String
    /// The schedule's definition as the API returns it in GetSchedule (without dates and ARN).
    public var definition: [UInt8]
    public var clientToken: String?
    public var created: Date
    public var modified: Date

    public init(group: String, name: String, state: String, definition: [UInt8], clientToken: String?, created: Date = Date(), modified: Date = Date()) {
        (self.group, self.name, self.state, self.definition, self.clientToken, self.created, self.modified) =
            (group, name, state, definition, clientToken, created, modified)
    }

    /// The revision its firings are planned from: `modified` in stored milliseconds.
    public var revision: Int64 { Schema.millis(modified) }
}

extension Store {
    // MARK: groups

    public func createScheduleGroup(_ name: String, tags: [String: String]) throws -> ScheduleGroupRecord {
        let now = Schema.now()
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM schedule_groups WHERE name = ?", arguments: [name]) == nil else {
                throw StoreError.conflict("Schedule group \(name) already exists.")
            }
            try db.execute(sql: "INSERT INTO schedule_groups (name, tags, created_ms, modified_ms) VALUES (?, ?, ?, ?)",
                           arguments: [name, try Schema.json(tags), Schema.millis(now), Schema.millis(now)])
        }
        return ScheduleGroupRecord(name: name, tags: tags, created: now, modified: now)
    }

    public func scheduleGroup(_ name: String) throws -> ScheduleGroupRecord? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM schedule_groups WHERE name = ?", arguments: [name]).map(Self.decodeGroup)
        }
    }

    /// Deletes a group and every schedule in it; returns the deleted schedules' names.
    @discardableResult
    public func deleteScheduleGroup(_ name: String) throws -> [String] {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM schedule_groups WHERE name = ?", arguments: [name]) != nil else {
                throw StoreError.notFound("Schedule group \(name) does not exist.")
            }
            let names = try String.fetchAll(db, sql: "SELECT name FROM schedules WHERE group_name = ?", arguments: [name])
            for schedule in names {
                try SQLiteLedger.deletePending(db, kind: LedgerKind.schedulerFire, queue: FiringSchedule.queue(group: name, name: schedule))
            }
            try db.execute(sql: "DELETE FROM schedules WHERE group_name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM schedule_groups WHERE name = ?", arguments: [name])
            return names
        }
    }

    /// Groups by name, those starting with `prefix`, after `marker`.
    public func scheduleGroups(prefix: String?, after marker: String?, limit: Int) throws -> (groups: [ScheduleGroupRecord], next: String?) {
        try dbWriter.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM schedule_groups WHERE substr(name, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?
                """, arguments: [(prefix ?? "").count, prefix ?? "", marker ?? "", limit + 1])
            let groups = try rows.prefix(limit).map(Self.decodeGroup)
            return (groups, rows.count > limit ? groups.last?.name : nil)
        }
    }

    /// Adds (`remove` empty) or removes tags of a group.
    public func tagScheduleGroup(_ name: String, add: [String: String], remove: [String]) throws {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM schedule_groups WHERE name = ?", arguments: [name]) else {
                throw StoreError.notFound("Schedule group \(name) does not exist.")
            }
            var tags = try Self.decodeGroup(row).tags
            tags.merge(add) { $1 }
            for key in remove { tags[key] = nil }
            try db.execute(sql: "UPDATE schedule_groups SET tags = ?, modified_ms = ? WHERE name = ?",
                           arguments: [try Schema.json(tags), Schema.millis(Schema.now()), name])
        }
    }

    static func decodeGroup(_ row: Row) throws -> ScheduleGroupRecord {
        ScheduleGroupRecord(name: row["name"], tags: try Schema.unjson([String: String].self, row["tags"]),
                            created: Schema.date(millis: row["created_ms"]), modified: Schema.date(millis: row["modified_ms"]))
    }

    // MARK: schedules

    /// Inserts a schedule, and in the same transaction the `scheduler.fire` item `plan` makes
    /// of it (its first occurrence). `conflict` if the name exists in the group (unless it was
    /// created with the same client token, then the stored one is returned and nothing is
    /// planted); `notFound` for a missing group.
    public func createSchedule(_ record: ScheduleRecord, plan: (ScheduleRecord) throws -> NewLedgerItem? = { _ in nil }) throws -> ScheduleRecord {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM schedule_groups WHERE name = ?", arguments: [record.group]) != nil else {
                throw StoreError.notFound("Schedule group \(record.group) does not exist.")
            }
            if let existing = try Row.fetchOne(db, sql: "SELECT * FROM schedules WHERE group_name = ? AND name = ?",
                                               arguments: [record.group, record.name]).map(Self.decodeSchedule) {
                if let token = record.clientToken, existing.clientToken == token, existing.definition == record.definition { return existing }
                throw StoreError.conflict("Schedule \(record.name) already exists.")
            }
            try db.execute(sql: """
                INSERT INTO schedules (group_name, name, state, definition, client_token, created_ms, modified_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.group, record.name, record.state, Data(record.definition), record.clientToken,
                                 Schema.millis(record.created), Schema.millis(record.modified)])
            if let item = try plan(record) { try SQLiteLedger.insert(db, [item], now: Schema.millis(Schema.now())) }
            return record
        }
    }

    /// Replaces a schedule's state and definition (UpdateSchedule is a full replace); keeps its
    /// creation date. In the same transaction its pending `scheduler.fire` items are replaced by
    /// the one `plan` makes of the stored result (none while DISABLED).
    public func updateSchedule(_ record: ScheduleRecord, plan: (ScheduleRecord) throws -> NewLedgerItem? = { _ in nil }) throws -> ScheduleRecord {
        try write { db in
            guard var existing = try Row.fetchOne(db, sql: "SELECT * FROM schedules WHERE group_name = ? AND name = ?",
                                                  arguments: [record.group, record.name]).map(Self.decodeSchedule) else {
                throw StoreError.notFound("Schedule \(record.name) does not exist.")
            }
            existing.state = record.state
            existing.definition = record.definition
            existing.modified = record.modified
            try db.execute(sql: "UPDATE schedules SET state = ?, definition = ?, modified_ms = ? WHERE group_name = ? AND name = ?",
                           arguments: [existing.state, Data(existing.definition), Schema.millis(existing.modified), record.group, record.name])
            try SQLiteLedger.deletePending(db, kind: LedgerKind.schedulerFire, queue: FiringSchedule.queue(group: record.group, name: record.name))
            if let item = try plan(existing) { try SQLiteLedger.insert(db, [item], now: Schema.millis(Schema.now())) }
            return existing
        }
    }

    public func schedule(group: String, name: String) throws -> ScheduleRecord? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM schedules WHERE group_name = ? AND name = ?", arguments: [group, name]).map(Self.decodeSchedule)
        }
    }

    /// Deletes a schedule and its pending `scheduler.fire` items.
    public func deleteSchedule(group: String, name: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM schedules WHERE group_name = ? AND name = ?", arguments: [group, name])
            guard db.changesCount > 0 else { throw StoreError.notFound("Schedule \(name) does not exist.") }
            try SQLiteLedger.deletePending(db, kind: LedgerKind.schedulerFire, queue: FiringSchedule.queue(group: group, name: name))
        }
    }

    /// `ActionAfterCompletion: DELETE`: deletes the schedule (and its pending items) only if it
    /// is still the revision (`modified_ms`) whose last occurrence fired. Returns whether it did.
    @discardableResult
    public func deleteCompletedSchedule(group: String, name: String, revision: Int64) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM schedules WHERE group_name = ? AND name = ? AND modified_ms = ?", arguments: [group, name, revision])
            guard db.changesCount > 0 else { return false }
            try SQLiteLedger.deletePending(db, kind: LedgerKind.schedulerFire, queue: FiringSchedule.queue(group: group, name: name))
            return true
        }
    }

    /// Enabled schedules without a pending `scheduler.fire` item (start-up reconciliation: those
    /// stored before schedules fired, or whose chain ended).
    public func schedulesWithoutFirings() throws -> [ScheduleRecord] {
        // The queue is `group/name` (`FiringSchedule.queue`); only the schedules without one are read.
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM schedules
                WHERE state = 'ENABLED' AND NOT \(SQLiteLedger.hasPendingSQL(queueExpression: "schedules.group_name || '/' || schedules.name"))
                """, arguments: [LedgerKind.schedulerFire]).map(Self.decodeSchedule)
        }
    }

    /// Schedules ordered by (group, name), filtered, after the `marker` key ("group/name").
    public func schedules(group: String?, prefix: String?, state: String?, after marker: String?, limit: Int) throws -> (schedules: [ScheduleRecord], next: String?) {
        try dbWriter.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM schedules
                WHERE (? IS NULL OR group_name = ?) AND substr(name, 1, ?) = ? AND (? IS NULL OR state = ?)
                  AND group_name || '/' || name > ?
                ORDER BY group_name || '/' || name LIMIT ?
                """, arguments: [group, group, (prefix ?? "").count, prefix ?? "", state, state, marker ?? "", limit + 1])
            let page = try rows.prefix(limit).map(Self.decodeSchedule)
            return (page, rows.count > limit ? page.last.map { "\($0.group)/\($0.name)" } : nil)
        }
    }

    static func decodeSchedule(_ row: Row) throws -> ScheduleRecord {
        ScheduleRecord(group: row["group_name"], name: row["name"], state: row["state"], definition: [UInt8]((row["definition"] as Data)),
                       clientToken: row["client_token"], created: Schema.date(millis: row["created_ms"]),
                       modified: Schema.date(millis: row["modified_ms"]))
    }
}
