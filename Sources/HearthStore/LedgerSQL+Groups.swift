// HearthStore: grouped queues (SQS FIFO) on the ledger's SQLite tables: the grouped claim, adds
// with deduplication and sequence numbers (HearthEvents' `GroupedLedgerBackend`, ADR 0027).
//
// Kept beside LedgerSQL.swift (same portability rules: window-free aggregates, ON CONFLICT,
// RETURNING). On PostgreSQL the grouped claim's SELECT cannot take SKIP LOCKED (it aggregates):
// it would lock the queue's rows with FOR UPDATE or run under an advisory lock per queue.
import Foundation
import GRDB
import HearthEvents

extension SQLiteLedger: GroupedLedgerBackend {
    /// The leasable items of a grouped queue, in order: per group (`group_key`), the items before
    /// its first one that is not available and due (leased, delayed, or past retention), in groups
    /// holding no lease; groups oldest first, items in the order they were added (`id`).
    static let groupedCandidatesSQL = """
        WITH q AS (
            SELECT id, group_key, state, due_at_ms, created_at_ms FROM ledger_items
            WHERE kind = ? AND queue = ? AND state <> 'failed' AND group_key IS NOT NULL
        ),
        g AS (
            SELECT group_key, MIN(id) AS head,
                MIN(CASE WHEN state = 'available' AND due_at_ms <= ? AND created_at_ms > ? THEN NULL ELSE id END) AS stop,
                SUM(CASE WHEN state = 'leased' THEN 1 ELSE 0 END) AS leased
            FROM q GROUP BY group_key
        )
        SELECT q.id FROM q JOIN g ON g.group_key = q.group_key
        WHERE g.leased = 0 AND (g.stop IS NULL OR q.id < g.stop)
        ORDER BY g.head, q.id
        LIMIT ?
        """

    static func claimGrouped(_ db: Database, _ request: LedgerReceive, limit: Int, now: Int64) throws -> [LedgerItem] {
        let ids = try Int64.fetchAll(db, sql: groupedCandidatesSQL, arguments: [
            request.kind, request.queue, now, request.retainedAfter ?? Int64.min, limit,
        ])
        guard !ids.isEmpty else { return [] }
        let placeholders = ids.map { _ in "?" }.joined(separator: ", ")
        var arguments: [(any DatabaseValueConvertible)?] = [request.owner, request.leaseUntil, now]
        arguments += ids.map { $0 }
        let rows = try Row.fetchAll(db, sql: """
            UPDATE ledger_items
            SET state = 'leased', lease_owner = ?, lease_until_ms = ?, claims = claims + 1,
                first_claimed_at_ms = COALESCE(first_claimed_at_ms, ?)
            WHERE id IN (\(placeholders))
            RETURNING \(itemColumns)
            """, arguments: StatementArguments(arguments))
        let byId = Dictionary(rows.map(Self.decode).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        let items = ids.compactMap { byId[$0] }
        try addLeases(db, kind: request.kind, queue: request.queue, items.count)
        return items
    }

    public func addGrouped(_ adds: [LedgerGroupedAdd], now: Int64) throws -> [LedgerGroupedAdd.Outcome] {
        guard let first = adds.first else { return [] }
        return try db.write { db in
            try db.execute(sql: "DELETE FROM ledger_dedup WHERE kind = ? AND queue = ? AND expires_at_ms <= ?",
                           arguments: [first.item.kind, first.item.queue, now])
            var outcomes: [LedgerGroupedAdd.Outcome] = []
            for add in adds {
                let item = add.item
                if let row = try Row.fetchOne(db, sql: "SELECT message_id, sequence FROM ledger_dedup WHERE kind = ? AND queue = ? AND dedup_key = ?",
                                              arguments: [item.kind, item.queue, add.dedupKey]) {
                    outcomes.append(.duplicate(messageId: row["message_id"], sequence: row["sequence"]))
                    continue
                }
                let last = try Int64.fetchOne(db, sql: "SELECT last FROM ledger_sequences WHERE kind = ? AND queue = ?",
                                              arguments: [item.kind, item.queue]) ?? 0
                let sequence = max(last + 1, now * 1000)
                try db.execute(sql: """
                    INSERT INTO ledger_sequences (kind, queue, last) VALUES (?, ?, ?)
                    ON CONFLICT (kind, queue) DO UPDATE SET last = excluded.last
                    """, arguments: [item.kind, item.queue, sequence])
                let id = try Int64.fetchOne(db, sql: """
                    INSERT INTO ledger_items (kind, queue, payload, state, due_at_ms, created_at_ms, group_key)
                    VALUES (?, ?, ?, 'available', ?, ?, ?)
                    RETURNING id
                    """, arguments: [item.kind, item.queue, Data(add.document(sequence)), item.dueAt, item.createdAt ?? now, add.group])!
                try db.execute(sql: "INSERT INTO ledger_dedup (kind, queue, dedup_key, message_id, sequence, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [item.kind, item.queue, add.dedupKey, add.messageId, sequence, add.dedupUntil])
                outcomes.append(.added(id: id, sequence: sequence))
            }
            return outcomes
        }
    }

    public func forgetGroups(kind: String, queue: String) throws {
        try db.write { db in
            try db.execute(sql: "DELETE FROM ledger_dedup WHERE kind = ? AND queue = ?", arguments: [kind, queue])
            try db.execute(sql: "DELETE FROM ledger_sequences WHERE kind = ? AND queue = ?", arguments: [kind, queue])
        }
    }
}
