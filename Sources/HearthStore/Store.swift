// HearthStore: embedded state (functions, versions, aliases, reserved concurrency) in SQLite via GRDB.
import Foundation
import GRDB
import Synchronization

/// The embedded state store. Thread-safe: every method runs in its own SQLite transaction
/// (writes are serialised by GRDB; file-backed stores use a WAL-mode `DatabasePool`, so reads
/// run concurrently with writes).
public final class Store: Sendable {
    let dbWriter: any DatabaseWriter
    /// What every Invoke reads (a function's `$LATEST` and its reserved concurrency), kept in
    /// memory between writes: each write (all go through `write`) bumps the generation and
    /// empties it. A read only fills it if no write happened meanwhile, so it never holds a
    /// value older than the last write. The store is this process's alone. State machines (what
    /// every StartExecution reads) stay across other writes: their own writes forget them.
    private let hot = Mutex<HotReads>(HotReads())

    private struct HotReads {
        var generation: UInt64 = 0
        var functions: [String: FunctionConfiguration?] = [:]
        var reserved: [String: Int?] = [:]
        var machines: [String: StateMachineRecord?] = [:]
    }

    /// Opens (creating if needed, along with its parent directory) the database at `path`,
    /// in WAL mode, and runs migrations. `":memory:"` opens a private in-memory database.
    public init(path: String) throws {
        var config = Configuration()
        config.label = "HearthStore"
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        if path == ":memory:" {
            dbWriter = try DatabaseQueue(configuration: config)
        } else {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let pool = try DatabasePool(path: path, configuration: config)  // WAL mode
            // GRDB sets NORMAL for WAL, which survives a process crash but may lose the last
            // commits on power loss. A commit acknowledges accepted work (the event ledger), so
            // every commit is fsynced; group commit amortises it. Writes use this one connection.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            dbWriter = pool
        }
        try Schema.migrator().migrate(dbWriter)
    }

    /// A private in-memory store (for tests).
    public static func inMemory() throws -> Store {
        try Store(path: ":memory:")
    }

    /// Closes the database. Further calls throw. Optional: the database also closes on deinit.
    public func close() throws {
        try dbWriter.close()
    }

    // MARK: - Functions

    /// Stores a new function. Sets `revisionID` and `lastModified`; returns the stored configuration.
    /// Throws `conflict` if a function with that name exists, `invalid` for out-of-range settings.
    public func createFunction(_ config: FunctionConfiguration) throws -> FunctionConfiguration {
        let row = try Self.stamped(config)
        return try write { db in
            if try Self.fetchFunction(db, row.name) != nil {
                throw StoreError.conflict("function \(row.name) already exists")
            }
            let columns = ["name"] + Schema.configColumns
            try db.execute(
                sql: "INSERT INTO functions (\(columns.joined(separator: ", "))) VALUES (\(Self.placeholders(columns.count)))",
                arguments: StatementArguments([row.name] + (try Schema.configValues(row)))
            )
            return row
        }
    }

    /// `$LATEST` of a function, or nil.
    public func function(named name: String) throws -> FunctionConfiguration? {
        try cached(\.functions, name) { try dbWriter.read { db in try Self.fetchFunction(db, name) } }
    }

    /// A write transaction that then forgets the hot reads.
    func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer {
            hot.withLock { hot in
                hot.generation &+= 1
                hot.functions.removeAll(keepingCapacity: true)
                hot.reserved.removeAll(keepingCapacity: true)
            }
        }
        return try dbWriter.write(updates)
    }

    /// A state machine by ARN, from memory once read (until `forgetMachine`).
    func cachedMachine(_ arn: String, _ read: () throws -> StateMachineRecord?) throws -> StateMachineRecord? {
        try cached(\.machines, arn, read)
    }

    /// After a write to `state_machines`: the next read of `arn` goes to the database.
    func forgetMachine(_ arn: String) {
        hot.withLock { hot in
            hot.machines[arn] = nil
            if hot.machines.count > 10_000 { hot.machines.removeAll() }  // ARNs that named nothing, at most
        }
    }

    /// `read()`'s result for `key`, from `hot[keyPath]` when there; cached when no write ran meanwhile.
    private func cached<V: Sendable>(_ keyPath: WritableKeyPath<HotReads, [String: V]> & Sendable, _ key: String, _ read: () throws -> V) throws -> V {
        let (known, generation) = hot.withLock { ($0[keyPath: keyPath][key], $0.generation) }
        if let known { return known }
        let value = try read()
        hot.withLock { hot in
            if hot.generation == generation { hot[keyPath: keyPath][key] = value }
        }
        return value
    }

    /// Functions ordered by name, starting after `marker`. `nextMarker` is the last returned name
    /// when more remain, else nil. Throws `invalid` if `limit < 1`.
    public func listFunctions(after marker: String?, limit: Int) throws -> (functions: [FunctionConfiguration], nextMarker: String?) {
        guard limit >= 1 else { throw StoreError.invalid("limit must be at least 1") }
        return try dbWriter.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM functions WHERE (?1 IS NULL OR name > ?1) ORDER BY name LIMIT ?2",
                arguments: [marker, limit + 1]
            )
            var functions = try rows.map { try Schema.decodeConfig($0, nameColumn: "name") }
            var next: String?
            if functions.count > limit {
                functions.removeLast(functions.count - limit)
                next = functions.last?.name
            }
            return (functions, next)
        }
    }

    /// Replaces `$LATEST` of `config.name` with `config`, setting a new `revisionID` and `lastModified`.
    /// Throws `notFound` if missing; `preconditionFailed` if `expectedRevisionID` is given and differs.
    public func updateFunction(_ config: FunctionConfiguration, expectedRevisionID: String? = nil) throws -> FunctionConfiguration {
        let row = try Self.stamped(config)
        return try write { db in
            guard let current = try Self.fetchFunction(db, row.name) else {
                throw StoreError.notFound("function \(row.name)")
            }
            try Self.checkRevision(expectedRevisionID, current.revisionID, what: "function \(row.name)")
            let assignments = Schema.configColumns.map { "\($0) = ?" }.joined(separator: ", ")
            try db.execute(
                sql: "UPDATE functions SET \(assignments) WHERE name = ?",
                arguments: StatementArguments((try Schema.configValues(row)) + [row.name])
            )
            return row
        }
    }

    /// Deletes a function with its versions, aliases, reserved concurrency and version counter.
    public func deleteFunction(named name: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM functions WHERE name = ?", arguments: [name])
            if db.changesCount == 0 { throw StoreError.notFound("function \(name)") }
        }
    }

    // MARK: - Versions

    /// Publishes `$LATEST` as a new version numbered one past the highest ever used for the function.
    /// As in Lambda, if `$LATEST` (code and configuration, ignoring `lastModified`/`revisionID`) is
    /// unchanged since the latest existing version, that version is returned instead.
    /// Throws `notFound` if the function is missing; `preconditionFailed` if `expectedRevisionID` /
    /// `expectedCodeSHA256` are given and differ from `$LATEST`.
    public func publishVersion(
        function: String,
        description: String,
        expectedRevisionID: String? = nil,
        expectedCodeSHA256: String? = nil
    ) throws -> FunctionVersion {
        let now = Schema.now()
        return try write { db in
            guard let latest = try Self.fetchFunction(db, function) else {
                throw StoreError.notFound("function \(function)")
            }
            try Self.checkRevision(expectedRevisionID, latest.revisionID, what: "function \(function)")
            if let expectedCodeSHA256, expectedCodeSHA256 != latest.codeSHA256 {
                throw StoreError.preconditionFailed("code sha256 of function \(function) does not match")
            }
            if let last = try Row.fetchOne(
                db,
                sql: "SELECT * FROM function_versions WHERE function = ? ORDER BY version DESC LIMIT 1",
                arguments: [function]
            ).map(Schema.decodeVersion), last.configuration.hasSameContent(as: latest) {
                return last
            }
            let counter = try Int.fetchOne(
                db, sql: "SELECT last_version FROM function_version_counters WHERE function = ?", arguments: [function]
            ) ?? 0
            let maxExisting = try Int.fetchOne(
                db, sql: "SELECT MAX(version) FROM function_versions WHERE function = ?", arguments: [function]
            ) ?? 0
            let number = max(counter, maxExisting) + 1
            try db.execute(
                sql: "INSERT OR REPLACE INTO function_version_counters (function, last_version) VALUES (?, ?)",
                arguments: [function, number]
            )
            let columns = ["function", "version"] + Schema.configColumns + ["version_description", "created_ms"]
            let values: [(any DatabaseValueConvertible)?] =
                [function, number] + (try Schema.configValues(latest)) + [description, Schema.millis(now)]
            try db.execute(
                sql: "INSERT INTO function_versions (\(columns.joined(separator: ", "))) VALUES (\(Self.placeholders(columns.count)))",
                arguments: StatementArguments(values)
            )
            return FunctionVersion(function: function, version: number, configuration: latest, description: description, created: now)
        }
    }

    /// Published versions of a function, ascending. Throws `notFound` if the function is missing.
    public func versions(function: String) throws -> [FunctionVersion] {
        try dbWriter.read { db in
            try Self.requireFunction(db, function)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM function_versions WHERE function = ? ORDER BY version", arguments: [function]
            ).map(Schema.decodeVersion)
        }
    }

    /// One published version, or nil (also nil if the function is missing).
    public func version(function: String, number: Int) throws -> FunctionVersion? {
        try dbWriter.read { db in try Self.fetchVersion(db, function, number) }
    }

    /// Deletes a published version. Throws `notFound` if it (or the function) is missing, `invalid`
    /// if an alias routes to it (as primary or additional version). Its number is never reused.
    public func deleteVersion(function: String, number: Int) throws {
        try write { db in
            try Self.requireFunction(db, function)
            guard try Self.fetchVersion(db, function, number) != nil else {
                throw StoreError.notFound("version \(number) of function \(function)")
            }
            let key = String(number)
            let referencing = try Self.fetchAliases(db, function)
                .filter { $0.functionVersion == key || $0.additionalVersionWeights[key] != nil }
                .map(\.name)
            if !referencing.isEmpty {
                throw StoreError.invalid(
                    "version \(number) of function \(function) is referenced by aliases: \(referencing.joined(separator: ", "))"
                )
            }
            try db.execute(
                sql: "DELETE FROM function_versions WHERE function = ? AND version = ?", arguments: [function, number]
            )
            try db.execute(sql: "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", arguments: [function, key])
        }
    }

    // MARK: - Aliases

    /// Creates an alias, setting a new `revisionID`. Throws `notFound` if the function is missing,
    /// `conflict` if the alias exists, `invalid` if the name, version or routing weights are not valid.
    public func createAlias(_ alias: FunctionAlias) throws -> FunctionAlias {
        var stored = alias
        stored.revisionID = Schema.newRevisionID()
        let row = stored
        return try write { db in
            try Self.requireFunction(db, row.function)
            if try Self.fetchAlias(db, row.function, row.name) != nil {
                throw StoreError.conflict("alias \(row.name) of function \(row.function) already exists")
            }
            try Self.validate(db, row)
            try db.execute(
                sql: """
                    INSERT INTO aliases (function, name, function_version, additional_version_weights, description, revision_id)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [row.function, row.name, row.functionVersion,
                            try Schema.json(row.additionalVersionWeights), row.description, row.revisionID]
            )
            return row
        }
    }

    /// An alias, or nil (also nil if the function is missing).
    public func alias(function: String, name: String) throws -> FunctionAlias? {
        try dbWriter.read { db in try Self.fetchAlias(db, function, name) }
    }

    /// Aliases of a function ordered by name. Throws `notFound` if the function is missing.
    public func aliases(function: String) throws -> [FunctionAlias] {
        try dbWriter.read { db in
            try Self.requireFunction(db, function)
            return try Self.fetchAliases(db, function)
        }
    }

    /// Replaces an alias (matched by `function` and `name`), setting a new `revisionID`. Same
    /// validation as `createAlias`; `notFound` if missing; `preconditionFailed` on revision mismatch.
    public func updateAlias(_ alias: FunctionAlias, expectedRevisionID: String? = nil) throws -> FunctionAlias {
        var stored = alias
        stored.revisionID = Schema.newRevisionID()
        let row = stored
        return try write { db in
            try Self.requireFunction(db, row.function)
            guard let current = try Self.fetchAlias(db, row.function, row.name) else {
                throw StoreError.notFound("alias \(row.name) of function \(row.function)")
            }
            try Self.checkRevision(expectedRevisionID, current.revisionID, what: "alias \(row.name)")
            try Self.validate(db, row)
            try db.execute(
                sql: """
                    UPDATE aliases SET function_version = ?, additional_version_weights = ?, description = ?, revision_id = ?
                    WHERE function = ? AND name = ?
                    """,
                arguments: [row.functionVersion, try Schema.json(row.additionalVersionWeights), row.description,
                            row.revisionID, row.function, row.name]
            )
            return row
        }
    }

    /// Deletes an alias. Throws `notFound` if it (or the function) is missing.
    public func deleteAlias(function: String, name: String) throws {
        try write { db in
            try Self.requireFunction(db, function)
            try db.execute(sql: "DELETE FROM aliases WHERE function = ? AND name = ?", arguments: [function, name])
            if db.changesCount == 0 { throw StoreError.notFound("alias \(name) of function \(function)") }
            try db.execute(sql: "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?", arguments: [function, name])
        }
    }

    // MARK: - Reserved concurrency

    /// Sets (or with nil, removes) a function's reserved concurrency. Throws `notFound` if the
    /// function is missing, `invalid` if the value is negative.
    public func setReservedConcurrency(function: String, value: Int?) throws {
        if let value, value < 0 { throw StoreError.invalid("reserved concurrency must be >= 0") }
        try write { db in
            try Self.requireFunction(db, function)
            if let value {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO reserved_concurrency (function, value) VALUES (?, ?)",
                    arguments: [function, value]
                )
            } else {
                try db.execute(sql: "DELETE FROM reserved_concurrency WHERE function = ?", arguments: [function])
            }
        }
    }

    /// A function's reserved concurrency, or nil if unset. Throws `notFound` if the function is missing.
    public func reservedConcurrency(function: String) throws -> Int? {
        try cached(\.reserved, function) {
            try dbWriter.read { db in
                try Self.requireFunction(db, function)
                return try Int.fetchOne(db, sql: "SELECT value FROM reserved_concurrency WHERE function = ?", arguments: [function])
            }
        }
    }

    // MARK: - Provisioned concurrency

    /// Sets (or with nil removes) the provisioned concurrency of a version or alias.
    public func setProvisionedConcurrency(function: String, qualifier: String, value: Int?) throws {
        if let value, value < 1 { throw StoreError.invalid("provisioned concurrency must be >= 1") }
        try write { db in
            try Self.requireFunction(db, function)
            if let value {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO provisioned_concurrency (function, qualifier, value) VALUES (?, ?, ?)",
                    arguments: [function, qualifier, value])
            } else {
                try db.execute(sql: "DELETE FROM provisioned_concurrency WHERE function = ? AND qualifier = ?",
                               arguments: [function, qualifier])
            }
        }
    }

    public func provisionedConcurrency(function: String, qualifier: String) throws -> Int? {
        try dbWriter.read { db in
            try Int.fetchOne(db, sql: "SELECT value FROM provisioned_concurrency WHERE function = ? AND qualifier = ?",
                             arguments: [function, qualifier])
        }
    }

    /// Every provisioned-concurrency setting: (function, qualifier, value).
    public func allProvisionedConcurrency() throws -> [(function: String, qualifier: String, value: Int)] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: "SELECT function, qualifier, value FROM provisioned_concurrency ORDER BY function, qualifier")
                .map { ($0["function"], $0["qualifier"], $0["value"]) }
        }
    }

    // MARK: - Code references

    /// Every code hash still referenced by a function's `$LATEST`, a published version or a layer version.
    public func referencedCodeHashes() throws -> Set<String> {
        try dbWriter.read { db in
            Set(try String.fetchAll(
                db, sql: """
                    SELECT code_sha256 FROM functions UNION SELECT code_sha256 FROM function_versions
                    UNION SELECT code_sha256 FROM layer_versions
                    """
            ))
        }
    }

    // MARK: - Layers

    /// Publishes a new version of layer `name` (created on first publish). Numbers are never reused.
    public func publishLayerVersion(name: String, codeSHA256: String, codeSize: Int, description: String,
                                    compatibleRuntimes: [String], licenseInfo: String) throws -> LayerVersion {
        guard Self.isValidName(name, maxLength: 140) else {
            throw StoreError.invalid("layer name must be 1-140 characters of [A-Za-z0-9_-]")
        }
        return try dbWriter.write { db in
            let last = try Int.fetchOne(db, sql: "SELECT last_version FROM layer_version_counters WHERE name = ?", arguments: [name]) ?? 0
            let layer = LayerVersion(name: name, version: last + 1, codeSHA256: codeSHA256, codeSize: codeSize,
                                     description: description, compatibleRuntimes: compatibleRuntimes,
                                     licenseInfo: licenseInfo, created: Schema.now())
            try db.execute(sql: "INSERT OR REPLACE INTO layer_version_counters (name, last_version) VALUES (?, ?)",
                           arguments: [name, layer.version])
            try db.execute(
                sql: """
                    INSERT INTO layer_versions (name, version, code_sha256, code_size, description, compatible_runtimes,
                                                license_info, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [name, layer.version, codeSHA256, codeSize, description, try Schema.json(compatibleRuntimes),
                            licenseInfo, Schema.millis(layer.created)])
            return layer
        }
    }

    /// A layer version; with `includingDeleted`, also one deleted while functions still use it
    /// (Lambda keeps those working).
    public func layerVersion(name: String, version: Int, includingDeleted: Bool = false) throws -> LayerVersion? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM layer_versions WHERE name = ? AND version = ?"
                                 + (includingDeleted ? "" : " AND deleted = 0"), arguments: [name, version])
                .map(Schema.decodeLayer)
        }
    }

    /// Versions of one layer, newest first.
    public func layerVersions(name: String) throws -> [LayerVersion] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM layer_versions WHERE name = ? AND deleted = 0 ORDER BY version DESC", arguments: [name])
                .map(Schema.decodeLayer)
        }
    }

    /// The latest version of every layer, by name.
    public func latestLayerVersions() throws -> [LayerVersion] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: """
                SELECT l.* FROM layer_versions l
                JOIN (SELECT name, MAX(version) AS v FROM layer_versions WHERE deleted = 0 GROUP BY name) m ON l.name = m.name AND l.version = m.v
                ORDER BY l.name
                """).map(Schema.decodeLayer)
        }
    }

    /// Deletes a layer version. As on Lambda, functions already using it keep working: while a
    /// function's `$LATEST` or a version names it, the row is only marked deleted (hidden from
    /// the API, its zip kept); `purgeDeletedLayers` removes it once nothing uses it.
    public func deleteLayerVersion(name: String, version: Int) throws {
        try dbWriter.write { db in
            try db.execute(sql: "UPDATE layer_versions SET deleted = 1 WHERE name = ? AND version = ?", arguments: [name, version])
            try Self.purgeDeletedLayers(db)
        }
    }

    /// Removes deleted layer versions no function uses any more (after configuration changes).
    public func purgeDeletedLayers() throws {
        try dbWriter.write { db in try Self.purgeDeletedLayers(db) }
    }

    private static func purgeDeletedLayers(_ db: Database) throws {
        // Functions store layer ARNs as JSON strings: "...:layer:NAME:VERSION".
        try db.execute(sql: """
            DELETE FROM layer_versions WHERE deleted = 1 AND NOT EXISTS (
                SELECT 1 FROM functions f WHERE f.layers LIKE '%:layer:' || layer_versions.name || ':' || layer_versions.version || '"%'
                UNION ALL
                SELECT 1 FROM function_versions v WHERE v.layers LIKE '%:layer:' || layer_versions.name || ':' || layer_versions.version || '"%')
            """)
    }

    /// SQLite's journal mode ("wal" for file-backed stores). For diagnostics and tests.
    func journalMode() throws -> String {
        try dbWriter.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: - Helpers

    private static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    private static func fetchFunction(_ db: Database, _ name: String) throws -> FunctionConfiguration? {
        try Row.fetchOne(db, sql: "SELECT * FROM functions WHERE name = ?", arguments: [name])
            .map { try Schema.decodeConfig($0, nameColumn: "name") }
    }

    /// `config`, validated, with a fresh `lastModified` and `revisionID` (every create and update).
    private static func stamped(_ config: FunctionConfiguration) throws -> FunctionConfiguration {
        try validate(config)
        var stored = config
        stored.lastModified = Schema.now()
        stored.revisionID = Schema.newRevisionID()
        return stored
    }

    private static func requireFunction(_ db: Database, _ name: String) throws {
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM functions WHERE name = ?)", arguments: [name]) == true else {
            throw StoreError.notFound("function \(name)")
        }
    }

    private static func fetchVersion(_ db: Database, _ function: String, _ number: Int) throws -> FunctionVersion? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM function_versions WHERE function = ? AND version = ?", arguments: [function, number]
        ).map(Schema.decodeVersion)
    }

    private static func fetchAlias(_ db: Database, _ function: String, _ name: String) throws -> FunctionAlias? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM aliases WHERE function = ? AND name = ?", arguments: [function, name]
        ).map(Schema.decodeAlias)
    }

    private static func fetchAliases(_ db: Database, _ function: String) throws -> [FunctionAlias] {
        try Row.fetchAll(db, sql: "SELECT * FROM aliases WHERE function = ? ORDER BY name", arguments: [function])
            .map(Schema.decodeAlias)
    }

    private static func checkRevision(_ expected: String?, _ actual: String, what: String) throws {
        if let expected, expected != actual {
            throw StoreError.preconditionFailed("revision id of \(what) does not match")
        }
    }

    private static func isValidName(_ name: String, maxLength: Int) -> Bool {
        !name.isEmpty && name.count <= maxLength && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }

    /// Lambda's limits for a function configuration.
    private static func validate(_ c: FunctionConfiguration) throws {
        guard isValidName(c.name, maxLength: 64) else {
            throw StoreError.invalid("function name must be 1-64 characters of [A-Za-z0-9_-]")
        }
        guard FunctionConfiguration.memoryRange.contains(c.memoryMB) else {
            throw StoreError.invalid("memory size must be between 128 and 10240 MB")
        }
        guard FunctionConfiguration.timeoutRange.contains(c.timeoutSeconds) else {
            throw StoreError.invalid("timeout must be between 1 and 900 seconds")
        }
        guard FunctionConfiguration.ephemeralStorageRange.contains(c.ephemeralStorageMB) else {
            throw StoreError.invalid("ephemeral storage must be between 512 and 10240 MB")
        }
        guard c.codeSize >= 0 else { throw StoreError.invalid("code size must be >= 0") }
    }

    /// A canonical published version number ("1", "2", ...), or nil.
    private static func versionNumber(_ s: String) -> Int? {
        guard let n = Int(s), n >= 1, String(n) == s else { return nil }
        return n
    }

    /// Lambda's rules for an alias: a name that is not purely numeric; a primary version that is
    /// "$LATEST" or an existing published version; at most one additional version, which must be an
    /// existing published version other than the primary, with a weight in 0...1; and routing only
    /// between published versions (no "$LATEST" primary when weights are given).
    private static func validate(_ db: Database, _ alias: FunctionAlias) throws {
        guard isValidName(alias.name, maxLength: 128), alias.name.contains(where: { !$0.isNumber }) else {
            throw StoreError.invalid("alias name must be 1-128 characters of [A-Za-z0-9_-] and not only digits")
        }
        if alias.functionVersion != "$LATEST" {
            guard let n = versionNumber(alias.functionVersion), try fetchVersion(db, alias.function, n) != nil else {
                throw StoreError.invalid("version \(alias.functionVersion) of function \(alias.function) does not exist")
            }
        }
        let weights = alias.additionalVersionWeights
        guard weights.count <= 1 else {
            throw StoreError.invalid("at most one additional version may be given in the routing configuration")
        }
        for (version, weight) in weights {
            guard weight.isFinite, (0.0...1.0).contains(weight) else {
                throw StoreError.invalid("additional version weight must be between 0.0 and 1.0")
            }
            guard version != alias.functionVersion else {
                throw StoreError.invalid("additional version must differ from the alias's primary version")
            }
            guard alias.functionVersion != "$LATEST" else {
                throw StoreError.invalid("routing configuration requires a published primary version, not $LATEST")
            }
            guard let n = versionNumber(version), try fetchVersion(db, alias.function, n) != nil else {
                throw StoreError.invalid("additional version \(version) of function \(alias.function) does not exist")
            }
        }
    }
}
