import Foundation
import GRDB
import HearthEvents
@testable import HearthStore
import Testing

/// The lease counts SQS's in-flight limit reads (ADR 0024): the v8 migration fills them from the
/// leases a database already holds.
@Suite("Ledger lease counts")
struct LedgerLeaseCountTests {
    @Test("upgrading a v7 database counts the client-held leases it already has, per queue")
    func migrationCountsExistingLeases() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-lease-counts-\(UUID().uuidString.prefix(8)).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        do {
            let old = try DatabaseQueue(path: path)
            try Schema.migrator().migrate(old, upTo: "v7-function-dlq")
            try old.write { db in
                let rows: [(String, String, String, String?)] = [
                    ("q", "leased", "client:a", "sqs.message"), ("q", "leased", "client:b", "sqs.message"),
                    ("q", "available", "client:c", "sqs.message"), ("other", "leased", "client:d", "sqs.message"),
                    ("f", "leased", "supervisor", "lambda.invoke"),
                ]
                for (queue, state, owner, kind) in rows {
                    try db.execute(sql: """
                        INSERT INTO ledger_items (kind, queue, payload, state, due_at_ms, created_at_ms, lease_owner, lease_until_ms)
                        VALUES (?, ?, x'', ?, 0, 0, ?, ?)
                        """, arguments: [kind, queue, state, owner, state == "leased" ? 1000 : nil])
                }
            }
            try old.close()
        }
        let store = try Store(path: path)
        let ledger = SQLiteLedger(store: store)
        #expect(try ledger.leaseCount(kind: "sqs.message", queue: "q") == 2)
        #expect(try ledger.leaseCount(kind: "sqs.message", queue: "other") == 1)
        #expect(try ledger.leaseCount(kind: "lambda.invoke", queue: "f") == 0)
        try store.close()
    }
}
