// HearthStore: Lambda's event invoke config (asynchronous invocation settings).
import Foundation
import GRDB

/// The asynchronous-invocation settings of a function, version or alias
/// (`PutFunctionEventInvokeConfig`). A nil field is unset (Lambda's default applies).
public struct EventInvokeConfig: Sendable, Equatable {
    public var function: String
    /// `$LATEST`, a version number or an alias name.
    public var qualifier: String
    public var maximumRetryAttempts: Int?
    public var maximumEventAgeInSeconds: Int?
    public var onSuccess: String?
    public var onFailure: String?
    public var lastModified: Date

    public init(function: String, qualifier: String, maximumRetryAttempts: Int? = nil, maximumEventAgeInSeconds: Int? = nil,
                onSuccess: String? = nil, onFailure: String? = nil, lastModified: Date = Date()) {
        self.function = function
        self.qualifier = qualifier
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeInSeconds = maximumEventAgeInSeconds
        self.onSuccess = onSuccess
        self.onFailure = onFailure
        self.lastModified = lastModified
    }
}

extension Store {
    /// Stores (replacing) a config; `lastModified` is set to now. Throws `notFound` if the function is missing.
    @discardableResult
    public func putEventInvokeConfig(_ config: EventInvokeConfig) throws -> EventInvokeConfig {
        var row = config
        row.lastModified = Schema.now()
        let stored = row
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM functions WHERE name = ?", arguments: [stored.function]) != nil else {
                throw StoreError.notFound("function \(stored.function)")
            }
            try db.execute(sql: """
                INSERT INTO event_invoke_configs (function, qualifier, max_retries, max_age_seconds, on_success, on_failure, last_modified_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (function, qualifier) DO UPDATE SET max_retries = excluded.max_retries,
                    max_age_seconds = excluded.max_age_seconds, on_success = excluded.on_success,
                    on_failure = excluded.on_failure, last_modified_ms = excluded.last_modified_ms
                """, arguments: [stored.function, stored.qualifier, stored.maximumRetryAttempts, stored.maximumEventAgeInSeconds,
                                 stored.onSuccess, stored.onFailure, Schema.millis(stored.lastModified)])
        }
        return stored
    }

    public func eventInvokeConfig(function: String, qualifier: String) throws -> EventInvokeConfig? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                             arguments: [function, qualifier]).map(Self.decodeEventInvokeConfig)
        }
    }

    /// A function's configs, by qualifier, starting after `marker`.
    public func eventInvokeConfigs(function: String, after marker: String?, limit: Int) throws -> (configs: [EventInvokeConfig], nextMarker: String?) {
        try dbWriter.read { db in
            var configs = try Row.fetchAll(db, sql: """
                SELECT * FROM event_invoke_configs WHERE function = ?1 AND (?2 IS NULL OR qualifier > ?2) ORDER BY qualifier LIMIT ?3
                """, arguments: [function, marker, limit + 1]).map(Self.decodeEventInvokeConfig)
            var next: String?
            if configs.count > limit {
                configs.removeLast(configs.count - limit)
                next = configs.last?.qualifier
            }
            return (configs, next)
        }
    }

    /// Throws `notFound` if there is none.
    public func deleteEventInvokeConfig(function: String, qualifier: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", arguments: [function, qualifier])
            if db.changesCount == 0 { throw StoreError.notFound("event invoke config \(function):\(qualifier)") }
        }
    }

    static func decodeEventInvokeConfig(_ row: Row) -> EventInvokeConfig {
        EventInvokeConfig(function: row["function"], qualifier: row["qualifier"], maximumRetryAttempts: row["max_retries"],
                          maximumEventAgeInSeconds: row["max_age_seconds"], onSuccess: row["on_success"], onFailure: row["on_failure"],
                          lastModified: Schema.date(millis: row["last_modified_ms"]))
    }
}
