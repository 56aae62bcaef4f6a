// HearthStore: schema, migrations and row <-> model coding.
import Foundation
import GRDB
import HearthEvents

enum Schema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // $LATEST of every function.
            try db.execute(sql: """
                CREATE TABLE functions (
                    name                 TEXT    NOT NULL PRIMARY KEY,
                    runtime              TEXT    NOT NULL,
                    handler              TEXT,
                    memory_mb            INTEGER NOT NULL,
                    timeout_seconds      INTEGER NOT NULL,
                    ephemeral_storage_mb INTEGER NOT NULL,
                    environment          TEXT    NOT NULL, -- JSON object of strings
                    layers               TEXT    NOT NULL, -- JSON array of strings
                    description          TEXT    NOT NULL,
                    code_sha256          TEXT    NOT NULL,
                    code_size            INTEGER NOT NULL,
                    last_modified_ms     INTEGER NOT NULL, -- Unix epoch milliseconds
                    revision_id          TEXT    NOT NULL,
                    package_type         TEXT    NOT NULL,
                    role                 TEXT    NOT NULL
                );
                """)
            // Highest version number ever published per function, so numbers are never reused.
            try db.execute(sql: """
                CREATE TABLE function_version_counters (
                    function     TEXT    NOT NULL PRIMARY KEY
                                 REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    last_version INTEGER NOT NULL
                );
                """)
            // Published versions: an immutable snapshot of the configuration columns.
            try db.execute(sql: """
                CREATE TABLE function_versions (
                    function             TEXT    NOT NULL
                                         REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    version              INTEGER NOT NULL,
                    runtime              TEXT    NOT NULL,
                    handler              TEXT,
                    memory_mb            INTEGER NOT NULL,
                    timeout_seconds      INTEGER NOT NULL,
                    ephemeral_storage_mb INTEGER NOT NULL,
                    environment          TEXT    NOT NULL,
                    layers               TEXT    NOT NULL,
                    description          TEXT    NOT NULL,
                    code_sha256          TEXT    NOT NULL,
                    code_size            INTEGER NOT NULL,
                    last_modified_ms     INTEGER NOT NULL,
                    revision_id          TEXT    NOT NULL,
                    package_type         TEXT    NOT NULL,
                    role                 TEXT    NOT NULL,
                    version_description  TEXT    NOT NULL,
                    created_ms           INTEGER NOT NULL,
                    PRIMARY KEY (function, version)
                );
                """)
            try db.execute(sql: "CREATE INDEX function_versions_code ON function_versions(code_sha256);")
            try db.execute(sql: """
                CREATE TABLE aliases (
                    function                   TEXT NOT NULL
                                               REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    name                       TEXT NOT NULL,
                    function_version           TEXT NOT NULL, -- "1", "2", ... or "$LATEST"
                    additional_version_weights TEXT NOT NULL, -- JSON object version -> weight
                    description                TEXT NOT NULL,
                    revision_id                TEXT NOT NULL,
                    PRIMARY KEY (function, name)
                );
                """)
            try db.execute(sql: """
                CREATE TABLE reserved_concurrency (
                    function TEXT    NOT NULL PRIMARY KEY
                             REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    value    INTEGER NOT NULL CHECK (value >= 0)
                );
                """)
        }
        migrator.registerMigration("v2-provisioned-concurrency") { db in
            // Provisioned concurrency per published version or alias (never $LATEST).
            try db.execute(sql: """
                CREATE TABLE provisioned_concurrency (
                    function  TEXT    NOT NULL
                              REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    qualifier TEXT    NOT NULL,
                    value     INTEGER NOT NULL CHECK (value >= 1),
                    PRIMARY KEY (function, qualifier)
                );
                """)
        }
        migrator.registerMigration("v3-images-and-layers") { db in
            // PackageType Image: the image reference and Lambda's ImageConfig overrides.
            for table in ["functions", "function_versions"] {
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN image_uri TEXT NOT NULL DEFAULT ''")
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN image_config TEXT NOT NULL DEFAULT '{}'")
            }
            // Published layer versions (PublishLayerVersion); numbers are never reused.
            try db.execute(sql: """
                CREATE TABLE layer_versions (
                    name                TEXT    NOT NULL,
                    version             INTEGER NOT NULL,
                    code_sha256         TEXT    NOT NULL,
                    code_size           INTEGER NOT NULL,
                    description         TEXT    NOT NULL,
                    compatible_runtimes TEXT    NOT NULL, -- JSON array of strings
                    license_info        TEXT    NOT NULL,
                    created_ms          INTEGER NOT NULL,
                    deleted             INTEGER NOT NULL DEFAULT 0, -- kept while functions use it
                    PRIMARY KEY (name, version)
                );
                """)
            try db.execute(sql: """
                CREATE TABLE layer_version_counters (
                    name         TEXT    NOT NULL PRIMARY KEY,
                    last_version INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-event-ledger") { db in
            // The durable ledger of work (HearthEvents): async invocations now; schedules, queues
            // and workflow steps later. Its SQL lives in LedgerSQL.swift only.
            try db.execute(sql: """
                CREATE TABLE ledger_items (
                    id              INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind            TEXT    NOT NULL,
                    queue           TEXT    NOT NULL,
                    payload         BLOB    NOT NULL,
                    state           TEXT    NOT NULL CHECK (state IN ('available', 'leased', 'failed')),
                    due_at_ms       INTEGER NOT NULL,
                    created_at_ms   INTEGER NOT NULL,
                    attempts        INTEGER NOT NULL DEFAULT 0,
                    claims          INTEGER NOT NULL DEFAULT 0,
                    recoveries      INTEGER NOT NULL DEFAULT 0,
                    lease_owner     TEXT,
                    lease_until_ms  INTEGER,
                    idempotency_key TEXT UNIQUE,
                    last_error      TEXT,
                    finished_at_ms  INTEGER
                );
                """)
            try db.execute(sql: "CREATE INDEX ledger_items_due ON ledger_items(kind, state, due_at_ms);")
            try db.execute(sql: "CREATE INDEX ledger_items_queue ON ledger_items(kind, queue, state);")
            // Lambda's event invoke config, per function and qualifier ($LATEST, a version or an alias).
            try db.execute(sql: """
                CREATE TABLE event_invoke_configs (
                    function          TEXT    NOT NULL
                                      REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    qualifier         TEXT    NOT NULL,
                    max_retries       INTEGER,
                    max_age_seconds   INTEGER,
                    on_success        TEXT,
                    on_failure        TEXT,
                    last_modified_ms  INTEGER NOT NULL,
                    PRIMARY KEY (function, qualifier)
                );
                """)
        }
        migrator.registerMigration("v5-schedules") { db in
            // EventBridge Scheduler: groups (with their tags) and schedules. A schedule's
            // definition (expression, zone, bounds, target…) is the validated API document as
            // JSON; the columns are what lists filter and page on.
            try db.execute(sql: """
                CREATE TABLE schedule_groups (
                    name         TEXT    PRIMARY KEY,
                    tags         TEXT    NOT NULL DEFAULT '{}',
                    created_ms   INTEGER NOT NULL,
                    modified_ms  INTEGER NOT NULL
                );
                """)
            try db.execute(sql: "INSERT INTO schedule_groups (name, created_ms, modified_ms) VALUES ('default', 0, 0);")
            try db.execute(sql: """
                CREATE TABLE schedules (
                    group_name    TEXT    NOT NULL REFERENCES schedule_groups(name) ON DELETE CASCADE,
                    name          TEXT    NOT NULL,
                    state         TEXT    NOT NULL CHECK (state IN ('ENABLED', 'DISABLED')),
                    definition    BLOB    NOT NULL,
                    client_token  TEXT,
                    created_ms    INTEGER NOT NULL,
                    modified_ms   INTEGER NOT NULL,
                    PRIMARY KEY (group_name, name)
                );
                """)
        }
        migrator.registerMigration("v6-states") { db in
            // Step Functions: state machines (the definition as given, its type and role) and
            // executions. An execution is its journal (HearthStates.JournalEntry, the durable
            // truth replayed after a crash) plus the history events that journal produced, kept
            // for GetExecutionHistory; the executions row holds what Describe/List read.
            try db.execute(sql: """
                CREATE TABLE state_machines (
                    arn          TEXT    PRIMARY KEY,
                    name         TEXT    NOT NULL UNIQUE,
                    type         TEXT    NOT NULL CHECK (type IN ('STANDARD', 'EXPRESS')),
                    definition   TEXT    NOT NULL,
                    role_arn     TEXT    NOT NULL,
                    settings     TEXT    NOT NULL DEFAULT '{}', -- loggingConfiguration, tracingConfiguration (JSON)
                    tags         TEXT    NOT NULL DEFAULT '{}',
                    revision_id  TEXT    NOT NULL,
                    created_ms   INTEGER NOT NULL,
                    updated_ms   INTEGER NOT NULL
                );
                """)
            try db.execute(sql: """
                CREATE TABLE executions (
                    arn               TEXT    PRIMARY KEY,
                    state_machine_arn TEXT    NOT NULL,
                    name              TEXT    NOT NULL,
                    status            TEXT    NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
                    input             TEXT    NOT NULL,
                    output            TEXT,
                    error             TEXT,
                    cause             TEXT,
                    definition        TEXT    NOT NULL, -- the machine's definition when it started
                    role_arn          TEXT    NOT NULL,
                    started_ms        INTEGER NOT NULL,
                    stopped_ms        INTEGER,
                    UNIQUE (state_machine_arn, name)
                );
                """)
            try db.execute(sql: "CREATE INDEX executions_machine ON executions(state_machine_arn, started_ms);")
            try db.execute(sql: "CREATE INDEX executions_status ON executions(status);")
            try db.execute(sql: """
                CREATE TABLE execution_journal (
                    execution_arn TEXT    NOT NULL REFERENCES executions(arn) ON DELETE CASCADE,
                    seq           INTEGER NOT NULL,
                    entry         TEXT    NOT NULL,
                    PRIMARY KEY (execution_arn, seq)
                );
                """)
            try db.execute(sql: """
                CREATE TABLE execution_history (
                    execution_arn TEXT    NOT NULL REFERENCES executions(arn) ON DELETE CASCADE,
                    id            INTEGER NOT NULL,
                    event         TEXT    NOT NULL,
                    PRIMARY KEY (execution_arn, id)
                );
                """)
        }
        migrator.registerMigration("v6-http-triggers") { db in
            // Lambda Function URLs: one per function and qualifier ('' = unqualified), found by
            // their url-id (the Host's first label) on every request. Cors is the API's JSON.
            try db.execute(sql: """
                CREATE TABLE function_urls (
                    url_id        TEXT    PRIMARY KEY,
                    function      TEXT    NOT NULL REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    qualifier     TEXT    NOT NULL,
                    auth_type     TEXT    NOT NULL CHECK (auth_type IN ('NONE', 'AWS_IAM')),
                    cors          TEXT,
                    invoke_mode   TEXT    NOT NULL,
                    created_ms    INTEGER NOT NULL,
                    modified_ms   INTEGER NOT NULL,
                    UNIQUE (function, qualifier)
                );
                """)
            // Resource-policy statements (AddPermission): stored and returned, not evaluated.
            try db.execute(sql: """
                CREATE TABLE function_policy_statements (
                    function      TEXT    NOT NULL REFERENCES functions(name) ON DELETE CASCADE ON UPDATE CASCADE,
                    qualifier     TEXT    NOT NULL,
                    sid           TEXT    NOT NULL,
                    statement     TEXT    NOT NULL,
                    created_ms    INTEGER NOT NULL,
                    PRIMARY KEY (function, qualifier, sid)
                );
                """)
            // API Gateway HTTP APIs and their routes, integrations and stages, each the
            // validated API document as JSON (the shapes live in HearthServer/APIGateway).
            try db.execute(sql: """
                CREATE TABLE http_apis (
                    api_id        TEXT    PRIMARY KEY,
                    document      BLOB    NOT NULL,
                    created_ms    INTEGER NOT NULL
                );
                """)
            try db.execute(sql: """
                CREATE TABLE http_api_resources (
                    api_id        TEXT    NOT NULL REFERENCES http_apis(api_id) ON DELETE CASCADE,
                    kind          TEXT    NOT NULL CHECK (kind IN ('route', 'integration', 'stage')),
                    id            TEXT    NOT NULL,
                    document      BLOB    NOT NULL,
                    created_ms    INTEGER NOT NULL,
                    modified_ms   INTEGER NOT NULL,
                    PRIMARY KEY (api_id, kind, id)
                );
                """)
        }
        migrator.registerMigration("v6-queues") { db in
            // SQS (HearthQueues): messages are ledger items (kind `sqs.message`, queue = the queue's
            // name); a receive is a claim, a visibility timeout a client-held lease. Queues and
            // event source mappings are documents keyed by name and UUID.
            try db.execute(sql: "ALTER TABLE ledger_items ADD COLUMN first_claimed_at_ms INTEGER;")
            try db.execute(sql: "CREATE INDEX ledger_items_queue_due ON ledger_items(kind, queue, state, due_at_ms);")
            try db.execute(sql: """
                CREATE TABLE sqs_queues (
                    name        TEXT    PRIMARY KEY,
                    document    BLOB    NOT NULL
                );
                """)
            try db.execute(sql: """
                CREATE TABLE event_source_mappings (
                    uuid              TEXT    PRIMARY KEY,
                    function          TEXT    NOT NULL,
                    event_source_arn  TEXT    NOT NULL,
                    document          BLOB    NOT NULL
                );
                """)
        }
        migrator.registerMigration("v6-stacks") { db in
            // `hearth deploy`'s stacks: the record of what each deployed (resources with their
            // physical ids, evaluated properties and artifact hashes; outputs) as JSON.
            try db.execute(sql: """
                CREATE TABLE stacks (
                    name         TEXT    PRIMARY KEY,
                    record       BLOB    NOT NULL,
                    modified_ms  INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v7-function-dlq") { db in
            // Lambda's DeadLetterConfig.TargetArn, per configuration ("" when none).
            for table in ["functions", "function_versions"] {
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN dead_letter_target TEXT NOT NULL DEFAULT ''")
            }
        }
        migrator.registerMigration("v8-queue-limits") { db in
            // SQS's in-flight limit, retention without a receive, receive counts across queues
            // (ADR 0024). `claims_before`: the receives an item had in the queues it was redriven
            // from (the redrive counts a queue's own). `ledger_lease_counts`: the leases each queue
            // read through `receive` holds, kept with them, so the limit is a lookup.
            try db.execute(sql: "ALTER TABLE ledger_items ADD COLUMN claims_before INTEGER NOT NULL DEFAULT 0;")
            try db.execute(sql: "CREATE INDEX ledger_items_queue_created ON ledger_items(kind, queue, created_at_ms);")
            try db.execute(sql: "CREATE INDEX ledger_items_queue_leases ON ledger_items(kind, queue, lease_until_ms) WHERE state = 'leased';")
            try db.execute(sql: """
                CREATE TABLE ledger_lease_counts (
                    kind    TEXT    NOT NULL,
                    queue   TEXT    NOT NULL,
                    leased  INTEGER NOT NULL,
                    PRIMARY KEY (kind, queue)
                );
                """)
            try db.execute(sql: """
                INSERT INTO ledger_lease_counts (kind, queue, leased)
                SELECT kind, queue, COUNT(*) FROM ledger_items WHERE state = 'leased' AND lease_owner LIKE ? GROUP BY kind, queue
                """, arguments: [LedgerLease.clientPrefix + "%"])
        }
        migrator.registerMigration("v10-sfn-activities") { db in
            // Step Functions activities (ADR 0028): a name, its tags and when it was made.
            try db.execute(sql: """
                CREATE TABLE activities (
                    arn        TEXT    PRIMARY KEY,
                    name       TEXT    NOT NULL UNIQUE,
                    tags       TEXT    NOT NULL DEFAULT '{}',
                    created_ms INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v11-sqs-fifo") { db in
            // SQS FIFO queues (ADR 0027): an item's message group (NULL outside FIFO queues), the
            // deduplication records of the last 5 minutes, and each queue's last sequence number,
            // written in the transaction that adds the message.
            try db.execute(sql: "ALTER TABLE ledger_items ADD COLUMN group_key TEXT;")
            try db.execute(sql: "CREATE INDEX ledger_items_queue_group ON ledger_items(kind, queue, group_key, id) WHERE group_key IS NOT NULL;")
            try db.execute(sql: """
                CREATE TABLE ledger_dedup (
                    kind          TEXT    NOT NULL,
                    queue         TEXT    NOT NULL,
                    dedup_key     TEXT    NOT NULL,
                    message_id    TEXT    NOT NULL,
                    sequence      INTEGER NOT NULL,
                    expires_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (kind, queue, dedup_key)
                );
                """)
            try db.execute(sql: "CREATE INDEX ledger_dedup_expiry ON ledger_dedup(kind, queue, expires_at_ms);")
            try db.execute(sql: """
                CREATE TABLE ledger_sequences (
                    kind  TEXT    NOT NULL,
                    queue TEXT    NOT NULL,
                    last  INTEGER NOT NULL,
                    PRIMARY KEY (kind, queue)
                );
                """)
        }
        migrator.registerMigration("v12-sfn-redrive") { db in
            // RedriveExecution (ADR 0029): how many times an execution was redriven, and when last.
            try db.execute(sql: "ALTER TABLE executions ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;")
            try db.execute(sql: "ALTER TABLE executions ADD COLUMN redrive_ms INTEGER;")
        }
        migrator.registerMigration("v13-sfn-maprun") { db in
            // Distributed Map (ADR 0030): each Map Run's parent execution, and each child's Map Run
            // and item count (a batch's size).
            try db.execute(sql: """
                CREATE TABLE map_runs (arn TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, started_ms INTEGER NOT NULL);
                CREATE INDEX map_runs_by_execution ON map_runs (execution_arn, started_ms);
                ALTER TABLE executions ADD COLUMN map_run_arn TEXT;
                ALTER TABLE executions ADD COLUMN map_items INTEGER NOT NULL DEFAULT 1;
                CREATE INDEX executions_by_map_run ON executions (map_run_arn, started_ms) WHERE map_run_arn IS NOT NULL;
                """)
        }
        migrator.registerMigration("v14-ledger-indexes") { db in
            // `(kind, queue, state)` is a prefix of `ledger_items_queue_due`, which answers every
            // query it did: one index fewer to update on each send, receive and delete.
            try db.execute(sql: "DROP INDEX IF EXISTS ledger_items_queue;")
        }
        return migrator
    }

    // MARK: Configuration columns (shared by `functions` and `function_versions`)

    /// Columns holding a configuration, in binding order (the function name is stored separately:
    /// `functions.name` / `function_versions.function`).
    static let configColumns = [
        "runtime", "handler", "memory_mb", "timeout_seconds", "ephemeral_storage_mb",
        "environment", "layers", "description", "code_sha256", "code_size",
        "last_modified_ms", "revision_id", "package_type", "role", "image_uri", "image_config",
        "dead_letter_target",
    ]

    static func configValues(_ c: FunctionConfiguration) throws -> [(any DatabaseValueConvertible)?] {
        [
            c.runtime, c.handler, c.memoryMB, c.timeoutSeconds, c.ephemeralStorageMB,
            try json(c.environment), try json(c.layers), c.description, c.codeSHA256, c.codeSize,
            millis(c.lastModified), c.revisionID, c.packageType, c.role, c.imageURI, try json(c.imageConfig),
            c.deadLetterTargetARN,
        ]
    }

    static func decodeConfig(_ row: Row, nameColumn: String) throws -> FunctionConfiguration {
        var config = FunctionConfiguration(
            name: row[nameColumn],
            runtime: row["runtime"],
            handler: row["handler"],
            memoryMB: row["memory_mb"],
            timeoutSeconds: row["timeout_seconds"],
            ephemeralStorageMB: row["ephemeral_storage_mb"],
            environment: try unjson([String: String].self, row["environment"]),
            layers: try unjson([String].self, row["layers"]),
            description: row["description"],
            codeSHA256: row["code_sha256"],
            codeSize: row["code_size"],
            lastModified: date(millis: row["last_modified_ms"]),
            revisionID: row["revision_id"],
            packageType: row["package_type"],
            role: row["role"]
        )
        config.imageURI = row["image_uri"]
        config.imageConfig = try unjson(ImageConfigValues.self, row["image_config"])
        config.deadLetterTargetARN = row["dead_letter_target"]
        return config
    }

    static func decodeLayer(_ row: Row) throws -> LayerVersion {
        LayerVersion(
            name: row["name"], version: row["version"], codeSHA256: row["code_sha256"], codeSize: row["code_size"],
            description: row["description"], compatibleRuntimes: try unjson([String].self, row["compatible_runtimes"]),
            licenseInfo: row["license_info"], created: date(millis: row["created_ms"]))
    }

    static func decodeVersion(_ row: Row) throws -> FunctionVersion {
        FunctionVersion(
            function: row["function"],
            version: row["version"],
            configuration: try decodeConfig(row, nameColumn: "function"),
            description: row["version_description"],
            created: date(millis: row["created_ms"])
        )
    }

    static func decodeAlias(_ row: Row) throws -> FunctionAlias {
        FunctionAlias(
            function: row["function"],
            name: row["name"],
            functionVersion: row["function_version"],
            additionalVersionWeights: try unjson([String: Double].self, row["additional_version_weights"]),
            description: row["description"],
            revisionID: row["revision_id"]
        )
    }

    // MARK: JSON and dates

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func unjson<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// Dates are stored as integer Unix milliseconds (Lambda's precision). `date(millis: millis(d))`
    /// is exact for any date produced by `now()`, so values round-trip `Equatable`.
    static func millis(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    /// The current time, truncated to the stored precision.
    static func now() -> Date {
        date(millis: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    static func newRevisionID() -> String {
        UUID().uuidString.lowercased()
    }
}
