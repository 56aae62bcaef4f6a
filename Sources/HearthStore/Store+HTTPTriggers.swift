// HearthStore: Lambda Function URLs, resource-policy statements, and API Gateway HTTP APIs.
import Foundation
import GRDB

/// A Function URL: its url-id (32 lowercase alphanumerics), the function and qualifier it
/// invokes (nil: unqualified, `$LATEST`), and its settings.
public struct FunctionURLRecord: Sendable, Equatable {
    public var urlID: String
    public var function: String
    public var qualifier: String?
    public var authType: String
    /// The `Cors` object as the API takes and returns it (JSON), or nil.
    public var cors: String?
    public var invokeMode: String
    public var created: Date
    public var modified: Date

    public init(urlID: String, function: String, qualifier: String?, authType: String, cors: String?, invokeMode: String,
                created: Date = Date(), modified: Date = Date()) {
        (self.urlID, self.function, self.qualifier, self.authType, self.cors, self.invokeMode, self.created, self.modified) =
            (urlID, function, qualifier, authType, cors, invokeMode, created, modified)
    }
}

/// An HTTP API or one of its routes, integrations or stages: the API document (JSON) as stored.
public struct HTTPAPIDocument: Sendable, Equatable {
    public var apiID: String
    /// `route`, `integration` or `stage` (nil for the API itself).
    public var kind: String?
    public var id: String
    public var document: [UInt8]
    public var created: Date
    public var modified: Date

    public init(apiID: String, kind: String?, id: String, document: [UInt8], created: Date = Date(), modified: Date = Date()) {
        (self.apiID, self.kind, self.id, self.document, self.created, self.modified) = (apiID, kind, id, document, created, modified)
    }
}

extension Store {
    // MARK: Function URLs

    /// Inserts a Function URL; `conflict` if the function and qualifier already have one,
    /// `notFound` if the function is missing.
    public func createFunctionURL(_ record: FunctionURLRecord) throws -> FunctionURLRecord {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM functions WHERE name = ?", arguments: [record.function]) != nil else { throw StoreError.notFound("function \(record.function)") }
            if try Int.fetchOne(db, sql: "SELECT 1 FROM function_urls WHERE function = ? AND qualifier = ?",
                                arguments: [record.function, record.qualifier ?? ""]) != nil {
                throw StoreError.conflict("Failed to create function url config for [functionArn = \(record.function)]. Error message:  FunctionUrlConfig exists for this Lambda function")
            }
            try db.execute(sql: """
                INSERT INTO function_urls (url_id, function, qualifier, auth_type, cors, invoke_mode, created_ms, modified_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.urlID, record.function, record.qualifier ?? "", record.authType, record.cors, record.invokeMode,
                                 Schema.millis(record.created), Schema.millis(record.modified)])
            return record
        }
    }

    public func functionURL(function: String, qualifier: String?) throws -> FunctionURLRecord? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM function_urls WHERE function = ? AND qualifier = ?",
                             arguments: [function, qualifier ?? ""]).map(Self.decodeFunctionURL)
        }
    }

    /// The Function URL a request's Host names.
    public func functionURL(id: String) throws -> FunctionURLRecord? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM function_urls WHERE url_id = ?", arguments: [id]).map(Self.decodeFunctionURL)
        }
    }

    /// Replaces a Function URL's settings (the caller merged them); keeps its id and creation time.
    public func updateFunctionURL(_ record: FunctionURLRecord) throws {
        try write { db in
            try db.execute(sql: "UPDATE function_urls SET auth_type = ?, cors = ?, invoke_mode = ?, modified_ms = ? WHERE url_id = ?",
                           arguments: [record.authType, record.cors, record.invokeMode, Schema.millis(record.modified), record.urlID])
            guard db.changesCount > 0 else { throw StoreError.notFound("function url \(record.urlID)") }
        }
    }

    public func deleteFunctionURL(function: String, qualifier: String?) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM function_urls WHERE function = ? AND qualifier = ?", arguments: [function, qualifier ?? ""])
            guard db.changesCount > 0 else { throw StoreError.notFound("function url of \(function)") }
        }
    }

    /// A function's URLs ordered by qualifier ('' first), after `marker` (a url-id).
    public func functionURLs(function: String, after marker: String?, limit: Int) throws -> (urls: [FunctionURLRecord], next: String?) {
        try dbWriter.read { db in
            let start = try marker.flatMap { try String.fetchOne(db, sql: "SELECT qualifier FROM function_urls WHERE url_id = ?", arguments: [$0]) }
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM function_urls WHERE function = ? AND (? IS NULL OR qualifier > ?) ORDER BY qualifier LIMIT ?
                """, arguments: [function, start, start, limit + 1])
            let page = try rows.prefix(limit).map(Self.decodeFunctionURL)
            return (page, rows.count > limit ? page.last?.urlID : nil)
        }
    }

    static func decodeFunctionURL(_ row: Row) throws -> FunctionURLRecord {
        let qualifier: String = row["qualifier"]
        return FunctionURLRecord(urlID: row["url_id"], function: row["function"], qualifier: qualifier.isEmpty ? nil : qualifier,
                                 authType: row["auth_type"], cors: row["cors"], invokeMode: row["invoke_mode"],
                                 created: Schema.date(millis: row["created_ms"]), modified: Schema.date(millis: row["modified_ms"]))
    }

    // MARK: resource-policy statements

    /// Adds a statement; `conflict` if the statement id is taken for this function and qualifier.
    public func addPolicyStatement(function: String, qualifier: String?, sid: String, statement: String) throws {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM functions WHERE name = ?", arguments: [function]) != nil else { throw StoreError.notFound("function \(function)") }
            if try Int.fetchOne(db, sql: "SELECT 1 FROM function_policy_statements WHERE function = ? AND qualifier = ? AND sid = ?",
                                arguments: [function, qualifier ?? "", sid]) != nil {
                throw StoreError.conflict("The statement id (\(sid)) provided already exists. Please provide a new statement id, or remove the existing statement.")
            }
            try db.execute(sql: "INSERT INTO function_policy_statements (function, qualifier, sid, statement, created_ms) VALUES (?, ?, ?, ?, ?)",
                           arguments: [function, qualifier ?? "", sid, statement, Schema.millis(Schema.now())])
        }
    }

    public func removePolicyStatement(function: String, qualifier: String?, sid: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM function_policy_statements WHERE function = ? AND qualifier = ? AND sid = ?",
                           arguments: [function, qualifier ?? "", sid])
            guard db.changesCount > 0 else { throw StoreError.notFound("Statement \(sid) is not found in resource policy.") }
        }
    }

    /// A function's (and qualifier's) statements in the order they were added.
    public func policyStatements(function: String, qualifier: String?) throws -> [String] {
        try dbWriter.read { db in
            try String.fetchAll(db, sql: "SELECT statement FROM function_policy_statements WHERE function = ? AND qualifier = ? ORDER BY created_ms, sid",
                                arguments: [function, qualifier ?? ""])
        }
    }

    // MARK: HTTP APIs

    public func createHTTPAPI(_ api: HTTPAPIDocument, children: [HTTPAPIDocument] = []) throws {
        try write { db in
            try db.execute(sql: "INSERT INTO http_apis (api_id, document, created_ms) VALUES (?, ?, ?)",
                           arguments: [api.apiID, Data(api.document), Schema.millis(api.created)])
            for child in children { try Self.insertChild(db, child) }
        }
    }

    public func httpAPI(_ apiID: String) throws -> HTTPAPIDocument? {
        try dbWriter.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM http_apis WHERE api_id = ?", arguments: [apiID]).map(Self.decodeAPI)
        }
    }

    public func httpAPIs(after marker: String?, limit: Int) throws -> (apis: [HTTPAPIDocument], next: String?) {
        try dbWriter.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM http_apis WHERE api_id > ? ORDER BY api_id LIMIT ?",
                                        arguments: [marker ?? "", limit + 1])
            let page = try rows.prefix(limit).map(Self.decodeAPI)
            return (page, rows.count > limit ? page.last?.apiID : nil)
        }
    }

    public func updateHTTPAPI(_ api: HTTPAPIDocument) throws {
        try write { db in
            try db.execute(sql: "UPDATE http_apis SET document = ? WHERE api_id = ?", arguments: [Data(api.document), api.apiID])
            guard db.changesCount > 0 else { throw StoreError.notFound("Invalid API identifier specified \(api.apiID)") }
        }
    }

    /// Deletes an API with its routes, integrations and stages.
    public func deleteHTTPAPI(_ apiID: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM http_apis WHERE api_id = ?", arguments: [apiID])
            guard db.changesCount > 0 else { throw StoreError.notFound("Invalid API identifier specified \(apiID)") }
        }
    }

    /// Inserts a route, integration or stage; `conflict` if its id exists, `notFound` without the API.
    public func createHTTPAPIChild(_ child: HTTPAPIDocument) throws {
        try write { db in try Self.insertChild(db, child) }
    }

    static func insertChild(_ db: Database, _ child: HTTPAPIDocument) throws {
        guard try Int.fetchOne(db, sql: "SELECT 1 FROM http_apis WHERE api_id = ?", arguments: [child.apiID]) != nil else {
            throw StoreError.notFound("Invalid API identifier specified \(child.apiID)")
        }
        if try Int.fetchOne(db, sql: "SELECT 1 FROM http_api_resources WHERE api_id = ? AND kind = ? AND id = ?",
                            arguments: [child.apiID, child.kind, child.id]) != nil {
            throw StoreError.conflict("\(child.kind ?? "resource") \(child.id) already exists")
        }
        try db.execute(sql: "INSERT INTO http_api_resources (api_id, kind, id, document, created_ms, modified_ms) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [child.apiID, child.kind, child.id, Data(child.document), Schema.millis(child.created), Schema.millis(child.modified)])
    }

    public func updateHTTPAPIChild(_ child: HTTPAPIDocument) throws {
        try write { db in
            try db.execute(sql: "UPDATE http_api_resources SET document = ?, modified_ms = ? WHERE api_id = ? AND kind = ? AND id = ?",
                           arguments: [Data(child.document), Schema.millis(child.modified), child.apiID, child.kind, child.id])
            guard db.changesCount > 0 else { throw StoreError.notFound("Invalid \(child.kind ?? "resource") identifier specified \(child.id)") }
        }
    }

    public func deleteHTTPAPIChild(apiID: String, kind: String, id: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM http_api_resources WHERE api_id = ? AND kind = ? AND id = ?", arguments: [apiID, kind, id])
            guard db.changesCount > 0 else { throw StoreError.notFound("Invalid \(kind) identifier specified \(id)") }
        }
    }

    /// An API's routes, integrations or stages (all kinds when `kind` is nil), ordered by id.
    public func httpAPIChildren(apiID: String, kind: String?) throws -> [HTTPAPIDocument] {
        try dbWriter.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM http_api_resources WHERE api_id = ? AND (? IS NULL OR kind = ?) ORDER BY kind, id",
                             arguments: [apiID, kind, kind]).map { row in
                HTTPAPIDocument(apiID: row["api_id"], kind: row["kind"], id: row["id"], document: [UInt8]((row["document"] as Data)),
                                created: Schema.date(millis: row["created_ms"]), modified: Schema.date(millis: row["modified_ms"]))
            }
        }
    }

    static func decodeAPI(_ row: Row) throws -> HTTPAPIDocument {
        let created = Schema.date(millis: row["created_ms"])
        return HTTPAPIDocument(apiID: row["api_id"], kind: nil, id: row["api_id"], document: [UInt8]((row["document"] as Data)),
                               created: created, modified: created)
    }
}
