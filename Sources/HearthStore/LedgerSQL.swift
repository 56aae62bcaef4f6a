// HearthStore: the event ledger's storage (HearthEvents' `LedgerBackend`) on SQLite.
//
// This file is the only place the ledger's SQL lives, and it is kept portable: plain
// INSERT/UPDATE/DELETE with RETURNING and ON CONFLICT DO NOTHING, which PostgreSQL runs as
// written. The one difference a PostgreSQL backend needs is in `claimSQL`: its inner SELECT
// takes `FOR UPDATE SKIP LOCKED` so several nodes claim disjoint items (SQLite has one writer,
// so the transaction alone makes the claim exclusive).
import Foundation
import GRDB
import HearthEvents

/// `LedgerBackend` on the store's database (the same `hearth.sqlite`, its own tables).
public final class SQLiteLedger: LedgerBackend {
    let db: any DatabaseWriter

    public init(store: Store) {
        db = store.dbWriter
    }

    /// Appended to the claim's inner SELECT; `FOR UPDATE SKIP LOCKED` on PostgreSQL.
    static let claimLockClause = ""

    /// Leases that expired (their holder is gone or stuck) become due again, counted as a
    /// recovery. Scans only leased rows (the index's `(kind, state)` prefix): as many as run.
    static let expireSQL = """
        UPDATE ledger_items SET state = 'available', due_at_ms = lease_until_ms, recoveries = recoveries + 1,
            lease_owner = NULL, lease_until_ms = NULL
        WHERE kind = ? AND state = 'leased' AND lease_until_ms <= ?
        """

    /// Due items, earliest first, straight off the `(kind, state, due_at_ms)` index.
    static let claimSQL = """
        UPDATE ledger_items
        SET state = 'leased', lease_owner = ?, lease_until_ms = ?, claims = claims + 1
        WHERE id IN (
            SELECT id FROM ledger_items
            WHERE kind = ? AND state = 'available' AND due_at_ms <= ?
            ORDER BY due_at_ms, id
            LIMIT ? \(claimLockClause)
        )
        RETURNING \(itemColumns)
        """

    static let insertSQL = """
        INSERT INTO ledger_items (kind, queue, payload, state, due_at_ms, created_at_ms, claims, lease_owner, lease_until_ms, idempotency_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        """

    /// The lease condition every finish carries: nothing changes unless `owner` still holds it.
    static let heldBy = "id = ? AND state = 'leased' AND lease_owner = ?"

    public func commit(_ batch: LedgerBatch, now: Int64) throws -> LedgerBatch.Result {
        try db.write { db in
            var ids: [Int64?] = []
            for insert in batch.inserts { ids.append(try Self.insert(db, insert.item, lease: insert.lease, now: now)) }
            var finished: [Bool] = []
            var leases = LeaseDeltas()
            for finish in batch.finishes { finished.append(try Self.finish(db, finish, now: now, leases: &leases)) }
            // One lease-count update per queue for the batch's finishes (a batch of deletes
            // settles many of one queue), before the receives read the counts.
            try leases.apply(db)
            let received = try batch.receives.map { try Self.receive(db, $0, now: now) }
            return LedgerBatch.Result(ids: ids, finished: finished, received: received)
        }
    }

    static func insert(_ db: Database, _ item: NewLedgerItem, lease: LedgerLease?, now: Int64) throws -> Int64? {
        let id = try Int64.fetchOne(try db.cachedStatement(sql: insertSQL), arguments: [
            item.kind, item.queue, Data(item.payload), lease == nil ? "available" : "leased", item.dueAt, item.createdAt ?? now,
            lease == nil ? 0 : 1, lease?.owner, lease?.until, item.idempotencyKey,
        ])
        if id != nil, let lease, isClient(lease.owner) { try addLeases(db, kind: item.kind, queue: item.queue, 1) }
        return id
    }

    // MARK: lease counts (the leases of each queue read through a `LedgerReceive`, kept with them)

    static func isClient(_ owner: String) -> Bool { owner.hasPrefix(LedgerLease.clientPrefix) }

    static let addLeasesSQL = """
        INSERT INTO ledger_lease_counts (kind, queue, leased) VALUES (?, ?, ?)
        ON CONFLICT (kind, queue) DO UPDATE SET leased = ledger_lease_counts.leased + excluded.leased
        """

    static func addLeases(_ db: Database, kind: String, queue: String, _ n: Int) throws {
        guard n != 0 else { return }
        try db.cachedStatement(sql: addLeasesSQL).execute(arguments: [kind, queue, n])
    }

    static func leases(_ db: Database, kind: String, queue: String) throws -> Int {
        try Int.fetchOne(try db.cachedStatement(sql: "SELECT leased FROM ledger_lease_counts WHERE kind = ? AND queue = ?"), arguments: [kind, queue]) ?? 0
    }

    /// Lease-count changes gathered over a transaction, applied once per queue.
    struct LeaseDeltas {
        private var deltas: [QueueKey: Int] = [:]
        private struct QueueKey: Hashable { var kind: String, queue: String }

        mutating func add(kind: String, queue: String, _ n: Int) { deltas[QueueKey(kind: kind, queue: queue), default: 0] += n }

        mutating func apply(_ db: Database) throws {
            for (key, n) in deltas { try addLeases(db, kind: key.kind, queue: key.queue, n) }
            deltas.removeAll()
        }
    }

    static func finish(_ db: Database, _ finish: LedgerBatch.Finish, now: Int64, leases: inout LeaseDeltas) throws -> Bool {
        // The finished item's kind and queue, when the lease was still held.
        let row: Row?
        switch finish.decision {
        case .complete(let followUps):
            row = try Row.fetchOne(try db.cachedStatement(sql: "DELETE FROM ledger_items WHERE \(heldBy) RETURNING kind, queue"), arguments: [finish.id, finish.owner])
            guard row != nil else { return false }
            for item in followUps { _ = try insert(db, item, lease: nil, now: now) }
        case .retry(let dueAt, let attempts, let payload, let error):
            row = try Row.fetchOne(try db.cachedStatement(sql: """
                UPDATE ledger_items SET state = 'available', due_at_ms = ?, attempts = ?, payload = ?, last_error = ?,
                    lease_owner = NULL, lease_until_ms = NULL
                WHERE \(heldBy)
                RETURNING kind, queue
                """), arguments: [dueAt, attempts, Data(payload), error, finish.id, finish.owner])
            guard row != nil else { return false }
        case .fail(let reason, let attempts, let followUps):
            row = try Row.fetchOne(try db.cachedStatement(sql: """
                UPDATE ledger_items SET state = 'failed', attempts = ?, last_error = ?, finished_at_ms = ?,
                    lease_owner = NULL, lease_until_ms = NULL
                WHERE \(heldBy)
                RETURNING kind, queue
                """), arguments: [attempts, reason, now, finish.id, finish.owner])
            guard row != nil else { return false }
            for item in followUps { _ = try insert(db, item, lease: nil, now: now) }
        }
        if let row, isClient(finish.owner) { leases.add(kind: row[0], queue: row[1], -1) }
        return true
    }

    public func claim(kind: String, owner: String, now: Int64, leaseUntil: Int64, limit: Int) throws -> [LedgerItem] {
        guard limit > 0 else { return [] }
        return try db.write { db in
            try db.cachedStatement(sql: Self.expireSQL).execute(arguments: [kind, now])
            return try Row.fetchAll(try db.cachedStatement(sql: Self.claimSQL), arguments: [owner, leaseUntil, kind, now, limit]).map(Self.decode)
                .sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }
        }
    }

    public func recoverAbandoned(keeping owner: String, now: Int64) throws -> Int {
        try db.write { db in
            try db.execute(sql: """
                UPDATE ledger_items SET state = 'available', due_at_ms = ?, recoveries = recoveries + 1,
                    lease_owner = NULL, lease_until_ms = NULL
                WHERE state = 'leased' AND lease_owner <> ? AND lease_owner NOT LIKE ?
                """, arguments: [now, owner, LedgerLease.clientPrefix + "%"])
            return db.changesCount
        }
    }

    public func release(owner: String, now: Int64) throws -> Int {
        try db.write { db in
            try db.execute(sql: """
                UPDATE ledger_items SET state = 'available', due_at_ms = ?, claims = claims - 1, lease_owner = NULL, lease_until_ms = NULL
                WHERE state = 'leased' AND lease_owner = ?
                """, arguments: [now, owner])
            return db.changesCount
        }
    }

    public func nextDue(kind: String) throws -> Int64? {
        try db.read { db in
            try Int64.fetchOne(try db.cachedStatement(sql: """
                SELECT MIN(t) FROM (
                    SELECT MIN(due_at_ms) AS t FROM ledger_items WHERE kind = ? AND state = 'available'
                    UNION ALL
                    SELECT MIN(lease_until_ms) AS t FROM ledger_items WHERE kind = ? AND state = 'leased'
                ) AS due
                """), arguments: [kind, kind])
        }
    }

    public func item(id: Int64) throws -> LedgerItem? {
        try db.read { db in try Row.fetchOne(db, sql: "SELECT \(Self.itemColumns) FROM ledger_items WHERE id = ?", arguments: [id]).map(Self.decode) }
    }

    public func items(kind: String, queue: String, limit: Int) throws -> [LedgerItem] {
        try db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.itemColumns) FROM ledger_items WHERE kind = ? AND queue = ?
                ORDER BY CASE state WHEN 'leased' THEN 0 WHEN 'available' THEN 1 ELSE 2 END, due_at_ms, id
                LIMIT ?
                """, arguments: [kind, queue, limit]).map(Self.decode)
        }
    }

    public func depth(kind: String) throws -> [String: LedgerDepth] {
        try db.read { db in
            var result: [String: LedgerDepth] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT queue, state, COUNT(*) AS n FROM ledger_items WHERE kind = ? GROUP BY queue, state",
                                        arguments: [kind]) {
                let queue: String = row["queue"], n: Int = row["n"]
                switch LedgerState(rawValue: row["state"]) {
                case .available: result[queue, default: LedgerDepth()].available = n
                case .leased: result[queue, default: LedgerDepth()].leased = n
                case .failed: result[queue, default: LedgerDepth()].failed = n
                case nil: break
                }
            }
            return result
        }
    }

    public func prune(failedBefore before: Int64) throws -> Int {
        try db.write { db in
            try db.execute(sql: "DELETE FROM ledger_items WHERE state = 'failed' AND finished_at_ms < ?", arguments: [before])
            return db.changesCount
        }
    }

    // MARK: queues with client-held leases

    /// A queue's ended leases become available again, due when they ended, keeping their owner
    /// (so a stale receipt can be told from a deleted item), without counting a recovery.
    static let queueExpireSQL = """
        UPDATE ledger_items SET state = 'available', due_at_ms = lease_until_ms, lease_until_ms = NULL
        WHERE kind = ? AND queue = ? AND state = 'leased' AND lease_until_ms <= ?
        """

    /// The oldest items past retention, off the `(kind, queue, created_at_ms)` index; returns
    /// each one's state (a leased one's lease leaves the queue's count).
    static let queueRetentionSQL = """
        DELETE FROM ledger_items
        WHERE id IN (
            SELECT id FROM ledger_items
            WHERE kind = ? AND queue = ? AND created_at_ms <= ? AND state <> 'failed'
            ORDER BY created_at_ms
            LIMIT ? \(claimLockClause)
        )
        RETURNING state
        """

    /// Items received `maxClaims` times in this queue move on; their claims (SQS's
    /// ApproximateReceiveCount counts receives across queues) and first claim are kept, the
    /// claims so far become `claims_before`, and `last_error` records where they came from.
    static let queueRedriveSQL = """
        UPDATE ledger_items SET queue = ?, claims_before = claims, lease_owner = NULL, due_at_ms = ?, last_error = queue
        WHERE id IN (
            SELECT id FROM ledger_items
            WHERE kind = ? AND queue = ? AND state = 'available' AND due_at_ms <= ? AND claims - claims_before >= ? \(claimLockClause)
        )
        """

    /// Due items of one queue, earliest first, off the `(kind, queue, state, due_at_ms)` index.
    static let queueClaimSQL = """
        UPDATE ledger_items
        SET state = 'leased', lease_owner = ?, lease_until_ms = ?, claims = claims + 1,
            first_claimed_at_ms = COALESCE(first_claimed_at_ms, ?)
        WHERE id IN (
            SELECT id FROM ledger_items
            WHERE kind = ? AND queue = ? AND state = 'available' AND due_at_ms <= ? AND created_at_ms > ?
            ORDER BY due_at_ms, id
            LIMIT ? \(claimLockClause)
        )
        RETURNING \(itemColumns)
        """

    static func deleteRetained(_ db: Database, kind: String, queue: String, retainedAfter: Int64, limit: Int) throws -> Int {
        guard limit > 0 else { return 0 }
        let states = try String.fetchAll(try db.cachedStatement(sql: queueRetentionSQL), arguments: [kind, queue, retainedAfter, limit])
        try addLeases(db, kind: kind, queue: queue, -states.filter { $0 == LedgerState.leased.rawValue }.count)
        return states.count
    }

    /// One `LedgerReceive`, inside a batch's transaction (`commit`).
    static func receive(_ db: Database, _ request: LedgerReceive, now: Int64) throws -> LedgerReceive.Result {
        try db.cachedStatement(sql: Self.queueExpireSQL).execute(arguments: [request.kind, request.queue, now])
        try Self.addLeases(db, kind: request.kind, queue: request.queue, -db.changesCount)
        var expired = 0, redriven = 0
        if let retainedAfter = request.retainedAfter {
            expired = try Self.deleteRetained(db, kind: request.kind, queue: request.queue, retainedAfter: retainedAfter,
                                              limit: request.retentionBatch)
        }
        if let redrive = request.redrive {
            try db.cachedStatement(sql: Self.queueRedriveSQL).execute(arguments: [redrive.queue, now, request.kind, request.queue, now, redrive.maxClaims])
            redriven = db.changesCount
        }
        var limit = request.limit
        if let maxLeased = request.maxLeased {
            let room = maxLeased - (try Self.leases(db, kind: request.kind, queue: request.queue))
            if room <= 0 { return LedgerReceive.Result(items: [], redriven: redriven, expired: expired, overLimit: true) }
            limit = min(limit, room)
        }
        var items: [LedgerItem] = []
        if limit > 0 && request.grouped {
            items = try Self.claimGrouped(db, request, limit: limit, now: now)
        } else if limit > 0 {
            items = try Row.fetchAll(try db.cachedStatement(sql: Self.queueClaimSQL), arguments: [
                request.owner, request.leaseUntil, now, request.kind, request.queue, now, request.retainedAfter ?? Int64.min, limit,
            ]).map(Self.decode).sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }
            try Self.addLeases(db, kind: request.kind, queue: request.queue, items.count)
        }
        return LedgerReceive.Result(items: items, redriven: redriven, expired: expired)
    }

    public func sweep(kind: String, queue: String, retainedAfter: Int64, limit: Int) throws -> Int {
        try db.write { db in try Self.deleteRetained(db, kind: kind, queue: queue, retainedAfter: retainedAfter, limit: limit) }
    }

    public func leaseCount(kind: String, queue: String) throws -> Int {
        try db.read { db in try Self.leases(db, kind: kind, queue: queue) }
    }

    public func changeLease(kind: String, id: Int64, owner: String, until: Int64, now: Int64) throws -> Bool {
        try db.write { db in
            let held = "id = ? AND kind = ? AND state = 'leased' AND lease_owner = ? AND lease_until_ms > ?"
            if until > now {
                try db.cachedStatement(sql: "UPDATE ledger_items SET lease_until_ms = ? WHERE \(held)").execute(arguments: [until, id, kind, owner, now])
            } else {
                // Visible at once: the lease leaves its queue's count.
                let queue = try String.fetchOne(try db.cachedStatement(sql: "UPDATE ledger_items SET state = 'available', due_at_ms = ?, lease_until_ms = NULL WHERE \(held) RETURNING queue"),
                                                arguments: [now, id, kind, owner, now])
                guard let queue else { return false }
                if Self.isClient(owner) { try Self.addLeases(db, kind: kind, queue: queue, -1) }
                return true
            }
            return db.changesCount == 1
        }
    }

    public func removeAll(kind: String, queue: String) throws -> Int {
        try db.write { db in
            try db.execute(sql: "DELETE FROM ledger_items WHERE kind = ? AND queue = ?", arguments: [kind, queue])
            let n = db.changesCount
            try db.execute(sql: "DELETE FROM ledger_lease_counts WHERE kind = ? AND queue = ?", arguments: [kind, queue])
            return n
        }
    }

    public func moveItems(kind: String, from queue: String, to destination: String?, origins: [String], limit: Int, now: Int64,
                          task: Int64, progress: (Int) -> (payload: [UInt8], finished: Bool)) throws -> [String] {
        try db.write { db in
            var moved: [String] = []
            if limit > 0 && (destination != nil || !origins.isEmpty) {
                // The redrive recorded each item's source queue in last_error; an explicit
                // destination takes every item.
                let origin = destination == nil ? "AND last_error IN (\(origins.map { _ in "?" }.joined(separator: ", ")))" : ""
                let target = destination == nil ? "last_error" : "?"
                var arguments: [(any DatabaseValueConvertible)?] = []
                if let destination { arguments.append(destination) }
                arguments += [now, kind, queue, now]
                if destination == nil { for name in origins { arguments.append(name) } }
                arguments.append(limit)
                moved = try String.fetchAll(db, sql: """
                    UPDATE ledger_items SET queue = \(target), claims = 0, claims_before = 0, first_claimed_at_ms = NULL, lease_owner = NULL,
                        due_at_ms = ?, last_error = NULL
                    WHERE id IN (
                        SELECT id FROM ledger_items
                        WHERE kind = ? AND queue = ? AND state = 'available' AND due_at_ms <= ? \(origin)
                        ORDER BY due_at_ms, id
                        LIMIT ? \(Self.claimLockClause)
                    )
                    RETURNING queue
                    """, arguments: StatementArguments(arguments))
            }
            let (payload, finished) = progress(moved.count)
            if finished {
                try db.execute(sql: "UPDATE ledger_items SET payload = ?, state = 'failed', finished_at_ms = ?, lease_owner = NULL, lease_until_ms = NULL WHERE id = ?",
                               arguments: [Data(payload), now, task])
            } else {
                try db.execute(sql: "UPDATE ledger_items SET payload = ? WHERE id = ?", arguments: [Data(payload), task])
            }
            return moved
        }
    }

    /// Counted off the `(kind, queue, state, due_at_ms)` index without reading rows (a leased
    /// row's lease end is not in it, so only the expired leases, which count as visible and are
    /// few, are read). GetQueueAttributes on a deep queue used to read every row.
    public func counts(kind: String, queue: String, now: Int64) throws -> LedgerQueueCounts {
        try db.read { db in
            let row = try Row.fetchOne(try db.cachedStatement(sql: """
                SELECT
                    (SELECT COUNT(*) FROM ledger_items WHERE kind = ?1 AND queue = ?2 AND state = 'leased'),
                    (SELECT COUNT(*) FROM ledger_items WHERE kind = ?1 AND queue = ?2 AND state = 'leased' AND lease_until_ms <= ?3),
                    (SELECT COUNT(*) FROM ledger_items WHERE kind = ?1 AND queue = ?2 AND state = 'available' AND due_at_ms > ?3),
                    (SELECT COUNT(*) FROM ledger_items WHERE kind = ?1 AND queue = ?2 AND state = 'available')
                """), arguments: [kind, queue, now])
            let leased: Int = row?[0] ?? 0, expired: Int = row?[1] ?? 0, delayed: Int = row?[2] ?? 0, available: Int = row?[3] ?? 0
            return LedgerQueueCounts(visible: available - delayed + expired, leased: leased - expired, delayed: delayed)
        }
    }

    /// The columns `decode` reads, in its order: every query that decodes items selects or
    /// returns exactly these (by index: GRDB looks a column up by name case-insensitively,
    /// lower-casing it, which cost more than the rest of the decoding on the queues' hot path).
    static let itemColumns = """
        id, kind, queue, payload, state, due_at_ms, created_at_ms, attempts, claims, recoveries, lease_owner, \
        lease_until_ms, idempotency_key, last_error, finished_at_ms, first_claimed_at_ms
        """

    static func decode(_ row: Row) -> LedgerItem {
        LedgerItem(id: row[0], kind: row[1], queue: row[2], payload: [UInt8](row[3] as Data),
                   state: LedgerState(rawValue: row[4]) ?? .failed, dueAt: row[5], createdAt: row[6],
                   attempts: row[7], claims: row[8], recoveries: row[9], leaseOwner: row[10],
                   leaseUntil: row[11], idempotencyKey: row[12], lastError: row[13],
                   finishedAt: row[14], firstClaimedAt: row[15])
    }
}

// MARK: items of one queue, in a caller's transaction (schedules plant and remove their own)

extension SQLiteLedger {
    /// Removes a queue's pending (available or leased) items; failed ones stay as history. A
    /// removed leased item's finish then finds no lease: its outcome is dropped.
    static let deletePendingSQL = "DELETE FROM ledger_items WHERE kind = ? AND queue = ? AND state <> 'failed'"

    /// A condition true when the queue `queueExpression` (SQL over the caller's row) has a
    /// pending item of the kind bound to its one `?`: an index probe of `(kind, queue, state, due_at_ms)`.
    static func hasPendingSQL(queueExpression: String) -> String {
        "EXISTS (SELECT 1 FROM ledger_items WHERE kind = ? AND queue = \(queueExpression) AND state <> 'failed')"
    }

    /// Adds `items` inside the caller's transaction (idempotency keys apply as in `commit`).
    public static func insert(_ db: Database, _ items: [NewLedgerItem], now: Int64) throws {
        for item in items { _ = try insert(db, item, lease: nil, now: now) }
    }

    /// Deletes `queue`'s pending items of `kind` inside the caller's transaction; returns how many.
    @discardableResult
    public static func deletePending(_ db: Database, kind: String, queue: String) throws -> Int {
        try db.execute(sql: deletePendingSQL, arguments: [kind, queue])
        return db.changesCount
    }
}
