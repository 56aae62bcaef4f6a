// HearthStore: Step Functions' state machines and executions (journal and history).
import Foundation
import GRDB

/// A stored state machine.
public struct StateMachineRecord: Sendable, Equatable {
    public var arn: String
    public var name: String
    public var type: String
    public var definition: String
    public var roleArn: String
    /// `loggingConfiguration` and `tracingConfiguration` as given (a JSON object).
    public var settings: String
    public var tags: [String: String]
    public var revisionID: String
    public var created: Date
    public var updated: Date

    public init(arn: String, name: String, type: String, definition: String, roleArn: String, settings: String = "{}",
                tags: [String: String] = [:], revisionID: String = UUID().uuidString.lowercased(), created: Date = Date(), updated: Date? = nil) {
        (self.arn, self.name, self.type, self.definition, self.roleArn, self.settings, self.tags, self.revisionID, self.created) =
            (arn, name, type, definition, roleArn, settings, tags, revisionID, created)
        self.updated = updated ?? created
    }
}

/// A stored execution (what Describe/List read; the journal and history are apart).
public struct ExecutionRecord: Sendable, Equatable {
    public var arn: String
    public var stateMachineArn: String
    public var name: String
    public var status: String
    public var input: String
    public var output: String?
    public var error: String?
    public var cause: String?
    public var definition: String
    public var roleArn: String
    public var startedMs: Int64
    public var stoppedMs: Int64?
    /// RedriveExecution: how many times it was redriven, and when last (ADR 0029).
    public var redriveCount: Int
    public var redriveMs: Int64?
    /// A distributed Map's child: its Map Run, and how many items it processes (ADR 0030).
    public var mapRunArn: String?
    public var mapItems: Int

    public init(arn: String, stateMachineArn: String, name: String, status: String = "RUNNING", input: String, output: String? = nil,
                error: String? = nil, cause: String? = nil, definition: String, roleArn: String, startedMs: Int64, stoppedMs: Int64? = nil,
                redriveCount: Int = 0, redriveMs: Int64? = nil, mapRunArn: String? = nil, mapItems: Int = 1) {
        (self.arn, self.stateMachineArn, self.name, self.status, self.input, self.output, self.error, self.cause) =
            (arn, stateMachineArn, name, status, input, output, error, cause)
        (self.definition, self.roleArn, self.startedMs, self.stoppedMs) = (definition, roleArn, startedMs, stoppedMs)
        (self.redriveCount, self.redriveMs, self.mapRunArn, self.mapItems) = (redriveCount, redriveMs, mapRunArn, mapItems)
    }
}

/// A redrive, written with its journal entry: the execution runs again (RUNNING, no outcome).
public struct ExecutionRedrive: Sendable, Equatable {
    public var count: Int
    public var atMs: Int64

    public init(count: Int, atMs: Int64) {
        (self.count, self.atMs) = (count, atMs)
    }
}

/// An execution to insert (`Store.createExecutions`): its record, first journal entry, history
/// events, the Map Runs that entry started, and its end when it ended at once.
public struct NewExecution: Sendable {
    public var record: ExecutionRecord
    public var journal: String
    public var events: [(Int, String)]
    public var end: ExecutionEnd?
    public var mapRuns: [MapRunStart]

    public init(record: ExecutionRecord, journal: String, events: [(Int, String)], end: ExecutionEnd?, mapRuns: [MapRunStart] = []) {
        (self.record, self.journal, self.events, self.end, self.mapRuns) = (record, journal, events, end, mapRuns)
    }
}

/// A Map Run a journal entry started (its MapRunStarted event), written with the entry.
public struct MapRunStart: Sendable, Equatable {
    public var arn: String
    public var startedMs: Int64

    public init(arn: String, startedMs: Int64) {
        (self.arn, self.startedMs) = (arn, startedMs)
    }
}

/// How an execution ended, written with its last journal entry.
public struct ExecutionEnd: Sendable, Equatable {
    public var status: String
    public var output: String?
    public var error: String?
    public var cause: String?
    public var stoppedMs: Int64

    public init(status: String, output: String?, error: String?, cause: String?, stoppedMs: Int64) {
        (self.status, self.output, self.error, self.cause, self.stoppedMs) = (status, output, error, cause, stoppedMs)
    }
}

extension Store {
    // MARK: state machines

    /// Inserts a machine; `conflict` if the name is taken.
    public func createStateMachine(_ record: StateMachineRecord) throws {
        defer { forgetMachine(record.arn) }
        try write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM state_machines WHERE name = ?", arguments: [record.name]) != nil {
                throw StoreError.conflict(record.arn)
            }
            try db.execute(sql: """
                INSERT INTO state_machines (arn, name, type, definition, role_arn, settings, tags, revision_id, created_ms, updated_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.arn, record.name, record.type, record.definition, record.roleArn, record.settings,
                                 try Schema.json(record.tags), record.revisionID, Schema.millis(record.created), Schema.millis(record.updated)])
        }
    }

    /// A machine by ARN (kept in memory between reads; this file's writes forget it).
    public func stateMachine(arn: String) throws -> StateMachineRecord? {
        try cachedMachine(arn) {
            try dbWriter.read { db in try Row.fetchOne(db, sql: "SELECT * FROM state_machines WHERE arn = ?", arguments: [arn]).map(Self.decodeMachine) }
        }
    }

    /// Replaces a machine's definition, role and settings (UpdateStateMachine); `notFound` if gone.
    public func updateStateMachine(_ record: StateMachineRecord) throws {
        defer { forgetMachine(record.arn) }
        try write { db in
            try db.execute(sql: """
                UPDATE state_machines SET definition = ?, role_arn = ?, settings = ?, revision_id = ?, updated_ms = ? WHERE arn = ?
                """, arguments: [record.definition, record.roleArn, record.settings, record.revisionID, Schema.millis(record.updated), record.arn])
            guard db.changesCount > 0 else { throw StoreError.notFound(record.arn) }
        }
    }

    /// Deletes a machine (its executions stay, with the definitions they ran).
    public func deleteStateMachine(arn: String) throws {
        defer { forgetMachine(arn) }
        try write { db in try db.execute(sql: "DELETE FROM state_machines WHERE arn = ?", arguments: [arn]) }
    }

    public func stateMachines(after marker: String?, limit: Int) throws -> (machines: [StateMachineRecord], next: String?) {
        try dbWriter.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM state_machines WHERE name > ? ORDER BY name LIMIT ?",
                                        arguments: [marker ?? "", limit + 1])
            let page = try rows.prefix(limit).map(Self.decodeMachine)
            return (page, rows.count > limit ? page.last?.name : nil)
        }
    }

    public func tagStateMachine(arn: String, add: [String: String], remove: [String]) throws {
        defer { forgetMachine(arn) }
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM state_machines WHERE arn = ?", arguments: [arn]) else {
                throw StoreError.notFound(arn)
            }
            var tags = try Self.decodeMachine(row).tags
            tags.merge(add) { $1 }
            for key in remove { tags[key] = nil }
            try db.execute(sql: "UPDATE state_machines SET tags = ? WHERE arn = ?", arguments: [try Schema.json(tags), arn])
        }
    }

    static func decodeMachine(_ row: Row) throws -> StateMachineRecord {
        StateMachineRecord(arn: row["arn"], name: row["name"], type: row["type"], definition: row["definition"], roleArn: row["role_arn"],
                           settings: row["settings"], tags: try Schema.unjson([String: String].self, row["tags"]), revisionID: row["revision_id"],
                           created: Schema.date(millis: row["created_ms"]), updated: Schema.date(millis: row["updated_ms"]))
    }

    // MARK: executions

    /// Inserts an execution with its first journal entry and history events, or returns the
    /// execution already holding that name on that machine (nothing is written then).
    public func createExecution(_ record: ExecutionRecord, journal entry: String, events: [(Int, String)], end: ExecutionEnd? = nil,
                                mapRuns: [MapRunStart] = []) throws -> ExecutionRecord? {
        try createExecutions([NewExecution(record: record, journal: entry, events: events, end: end, mapRuns: mapRuns)])[0]
    }

    /// `createExecution` for several executions in one transaction (one fsync), in order: for
    /// each, the execution already holding its name (an earlier one of the batch included), or nil.
    public func createExecutions(_ batch: [NewExecution]) throws -> [ExecutionRecord?] {
        try write { db in
            try batch.map { new in
                let record = new.record
                if let existing = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM executions WHERE state_machine_arn = ? AND name = ?"),
                                                   arguments: [record.stateMachineArn, record.name]) {
                    return Self.decodeExecution(existing)
                }
                try db.cachedStatement(sql: """
                    INSERT INTO executions (arn, state_machine_arn, name, status, input, definition, role_arn, started_ms, map_run_arn, map_items)
                    VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [record.arn, record.stateMachineArn, record.name, record.input, record.definition, record.roleArn, record.startedMs,
                                             record.mapRunArn, record.mapItems])
                try Self.insert(new.mapRuns, execution: record.arn, db)
                try db.cachedStatement(sql: "INSERT INTO execution_journal (execution_arn, seq, entry) VALUES (?, 1, ?)").execute(arguments: [record.arn, new.journal])
                try Self.insertHistory(db, record.arn, new.events)
                if let end = new.end { try Self.writeEnd(db, record.arn, end) }
                return nil
            }
        }
    }

    static func insertHistory(_ db: Database, _ arn: String, _ events: [(Int, String)]) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO execution_history (execution_arn, id, event) VALUES (?, ?, ?)")
        for (id, event) in events { try insert.execute(arguments: [arn, id, event]) }
    }

    static func writeEnd(_ db: Database, _ arn: String, _ end: ExecutionEnd) throws {
        try db.cachedStatement(sql: "UPDATE executions SET status = ?, output = ?, error = ?, cause = ?, stopped_ms = ? WHERE arn = ?")
            .execute(arguments: [end.status, end.output, end.error, end.cause, end.stoppedMs, arn])
    }

    /// Appends a journal entry (number `seq`) and the history events it produced, the redrive
    /// when it was one, and the end when it ended the execution: one transaction.
    public func appendJournal(execution arn: String, seq: Int, entry: String, events: [(Int, String)], end: ExecutionEnd?,
                              redrive: ExecutionRedrive? = nil, mapRuns: [MapRunStart] = []) throws {
        try write { db in
            try Self.insert(mapRuns, execution: arn, db)
            try db.cachedStatement(sql: "INSERT INTO execution_journal (execution_arn, seq, entry) VALUES (?, ?, ?)").execute(arguments: [arn, seq, entry])
            try Self.insertHistory(db, arn, events)
            if let redrive {
                try db.execute(sql: """
                    UPDATE executions SET status = 'RUNNING', output = NULL, error = NULL, cause = NULL, stopped_ms = NULL,
                    redrive_count = ?, redrive_ms = ? WHERE arn = ?
                    """, arguments: [redrive.count, redrive.atMs, arn])
            }
            if let end { try Self.writeEnd(db, arn, end) }
        }
    }

    public func execution(arn: String) throws -> ExecutionRecord? {
        try dbWriter.read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM executions WHERE arn = ?"), arguments: [arn]).map(Self.decodeExecution) }
    }

    /// A machine's executions, newest first, optionally of one status, redriven or not, from `offset`.
    public func executions(stateMachine arn: String, status: String?, redriven: Bool? = nil, offset: Int, limit: Int) throws -> [ExecutionRecord] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM executions WHERE state_machine_arn = ? AND (? IS NULL OR status = ?)
                AND (? IS NULL OR (redrive_count > 0) = ?)
                ORDER BY started_ms DESC, arn DESC LIMIT ? OFFSET ?
                """, arguments: [arn, status, status, redriven, redriven, limit, offset]).map(Self.decodeExecution)
        }
    }

    /// The ARNs of executions still running (to resume after a restart).
    public func runningExecutions() throws -> [String] {
        try dbWriter.read { db in try String.fetchAll(db, sql: "SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY started_ms") }
    }

    /// An execution's journal entries in order.
    public func journal(execution arn: String) throws -> [String] {
        try dbWriter.read { db in
            try String.fetchAll(db, sql: "SELECT entry FROM execution_journal WHERE execution_arn = ? ORDER BY seq", arguments: [arn])
        }
    }

    /// History events with ids in `ids`, in order (or reverse order).
    public func history(execution arn: String, from: Int, limit: Int, reverse: Bool) throws -> [String] {
        try dbWriter.read { db in
            let sql = reverse
                ? "SELECT event FROM execution_history WHERE execution_arn = ? AND id <= ? ORDER BY id DESC LIMIT ?"
                : "SELECT event FROM execution_history WHERE execution_arn = ? AND id >= ? ORDER BY id LIMIT ?"
            return try String.fetchAll(db, sql: sql, arguments: [arn, from, limit])
        }
    }

    public func historyCount(execution arn: String) throws -> Int {
        try dbWriter.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM execution_history WHERE execution_arn = ?", arguments: [arn]) ?? 0
        }
    }

    static func insert(_ mapRuns: [MapRunStart], execution arn: String, _ db: Database) throws {
        for run in mapRuns {
            try db.execute(sql: "INSERT OR IGNORE INTO map_runs (arn, execution_arn, started_ms) VALUES (?, ?, ?)", arguments: [run.arn, arn, run.startedMs])
        }
    }

    // MARK: Map Runs (ADR 0030)

    /// The execution that started a Map Run.
    public func mapRunExecution(arn: String) throws -> String? {
        try dbWriter.read { db in try String.fetchOne(db, sql: "SELECT execution_arn FROM map_runs WHERE arn = ?", arguments: [arn]) }
    }

    /// A Map Run's children, oldest first, optionally of one status, from `offset`.
    public func executions(mapRun arn: String, status: String?, offset: Int, limit: Int) throws -> [ExecutionRecord] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM executions WHERE map_run_arn = ? AND (? IS NULL OR status = ?)
                ORDER BY started_ms, arn LIMIT ? OFFSET ?
                """, arguments: [arn, status, status, limit, offset]).map(Self.decodeExecution)
        }
    }

    /// A Map Run's children by status: how many executions, and how many items they process.
    public func mapRunCounts(arn: String) throws -> [String: (executions: Int, items: Int)] {
        try dbWriter.read { db in
            var out: [String: (executions: Int, items: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n, SUM(map_items) AS items FROM executions WHERE map_run_arn = ? GROUP BY status",
                                        arguments: [arn]) {
                out[row["status"]] = (row["n"], row["items"])
            }
            return out
        }
    }

    static func decodeExecution(_ row: Row) -> ExecutionRecord {
        ExecutionRecord(arn: row["arn"], stateMachineArn: row["state_machine_arn"], name: row["name"], status: row["status"], input: row["input"],
                        output: row["output"], error: row["error"], cause: row["cause"], definition: row["definition"], roleArn: row["role_arn"],
                        startedMs: row["started_ms"], stoppedMs: row["stopped_ms"], redriveCount: row["redrive_count"], redriveMs: row["redrive_ms"],
                        mapRunArn: row["map_run_arn"], mapItems: row["map_items"])
    }
}
