// HearthStore: SQS queues (their messages are ledger items) and event source mappings.
import Foundation
import GRDB
import HearthQueues

extension Store: QueueCatalog {
    public func loadQueues() throws -> [QueueRecord] {
        try dbWriter.read { db in
            try Data.fetchAll(db, sql: "SELECT document FROM sqs_queues ORDER BY name").map { try JSONDecoder().decode(QueueRecord.self, from: $0) }
        }
    }

    public func saveQueue(_ queue: QueueRecord) throws {
        let document = try JSONEncoder().encode(queue)
        try dbWriter.write { db in
            try db.execute(sql: "INSERT INTO sqs_queues (name, document) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET document = excluded.document",
                           arguments: [queue.name, document])
        }
    }

    public func deleteQueue(named name: String) throws {
        try dbWriter.write { db in try db.execute(sql: "DELETE FROM sqs_queues WHERE name = ?", arguments: [name]) }
    }

    // MARK: event source mappings

    public func eventSourceMappings() throws -> [EventSourceMapping] {
        try dbWriter.read { db in
            try Data.fetchAll(db, sql: "SELECT document FROM event_source_mappings ORDER BY uuid")
                .map { try JSONDecoder().decode(EventSourceMapping.self, from: $0) }
        }
    }

    public func eventSourceMapping(_ uuid: String) throws -> EventSourceMapping? {
        try dbWriter.read { db in
            try Data.fetchOne(db, sql: "SELECT document FROM event_source_mappings WHERE uuid = ?", arguments: [uuid])
                .map { try JSONDecoder().decode(EventSourceMapping.self, from: $0) }
        }
    }

    public func saveEventSourceMapping(_ mapping: EventSourceMapping) throws {
        let document = try JSONEncoder().encode(mapping)
        try dbWriter.write { db in
            try db.execute(sql: """
                INSERT INTO event_source_mappings (uuid, function, event_source_arn, document) VALUES (?, ?, ?, ?)
                ON CONFLICT (uuid) DO UPDATE SET function = excluded.function, event_source_arn = excluded.event_source_arn,
                    document = excluded.document
                """, arguments: [mapping.uuid, mapping.functionName, mapping.eventSourceArn, document])
        }
    }

    public func deleteEventSourceMapping(_ uuid: String) throws {
        try dbWriter.write { db in try db.execute(sql: "DELETE FROM event_source_mappings WHERE uuid = ?", arguments: [uuid]) }
    }
}
