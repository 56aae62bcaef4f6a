import Foundation
import HearthCore
import HearthStore

// Function URLs (Create/Get/Update/Delete/ListFunctionUrlConfigs) and the resource policy
// (AddPermission, RemovePermission, GetPolicy: stored and returned, never evaluated).
extension LambdaAPI {
    // MARK: Function URL configs

    /// Function URL configs' `CreationTime`/`LastModifiedTime` (ISO 8601, microseconds, `Z`).
    static let urlTimestampFormatter = LambdaShapes.utcFormatter("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")

    /// The function and qualifier of a URL request: the qualifier must name an alias (never a
    /// version number or `$LATEST`), and the alias must exist.
    func urlTarget(_ raw: String, _ request: HTTPRequest) throws -> FunctionRef {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        if let qualifier = ref.qualifier {
            let valid = !qualifier.isEmpty && qualifier.count <= 128 && Int(qualifier) == nil
                && qualifier.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            guard valid else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(qualifier)' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)")
            }
        }
        _ = try resolve(ref)
        return ref
    }

    /// Validates `AuthType`, `InvokeMode` and `Cors` of a Create/Update body into the record.
    func applyURLSettings(_ body: [String: Any], to record: inout FunctionURLRecord, creating: Bool) throws {
        if let auth = body["AuthType"] {
            guard let auth = auth as? String, auth == "NONE" || auth == "AWS_IAM" else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(body["AuthType"] ?? "")' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
            }
            record.authType = auth
        } else if creating {
            throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null")
        }
        if let mode = body["InvokeMode"] {
            guard let mode = mode as? String, mode == "BUFFERED" || mode == "RESPONSE_STREAM" else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(body["InvokeMode"] ?? "")' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]")
            }
            record.invokeMode = mode
        }
        if let cors = body["Cors"] {
            guard let object = cors as? [String: Any] else { throw LambdaError.invalidParameter("Cors must be an object") }
            try Self.checkCors(object)
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            record.cors = String(decoding: data, as: UTF8.self)
        }
    }

    static func checkCors(_ cors: [String: Any]) throws {
        let known: Set<String> = ["AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders", "MaxAge"]
        for key in cors.keys where !known.contains(key) {
            throw LambdaError.invalidParameter("Unknown field \(key) in Cors")
        }
        for (key, limit) in [("AllowHeaders", 100), ("AllowMethods", 6), ("AllowOrigins", 100), ("ExposeHeaders", 100)] {
            guard let value = cors[key] else { continue }
            guard let list = value as? [String] else { throw LambdaError.invalidParameter("Cors.\(key) must be a list of strings") }
            if list.count > limit {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value at 'cors.\(key.prefix(1).lowercased() + key.dropFirst())' failed to satisfy constraint: Member must have length less than or equal to \(limit)")
            }
            if key == "AllowMethods" {
                let methods: Set<String> = ["*", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
                for method in list where !methods.contains(method.uppercased()) {
                    throw LambdaError.invalidParameter("Cors.AllowMethods: \(method) is not an HTTP method")
                }
            }
        }
        if let age = cors["MaxAge"] {
            guard let number = age as? NSNumber, !ProxyResponse.isBool(age), (0...86400).contains(number.intValue) else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(age)' at 'cors.maxAge' failed to satisfy constraint: Member must have value less than or equal to 86400")
            }
        }
        if let credentials = cors["AllowCredentials"], !ProxyResponse.isBool(credentials) {
            throw LambdaError.invalidParameter("Cors.AllowCredentials must be a boolean")
        }
    }

    func urlConfigShape(_ record: FunctionURLRecord, includeModified: Bool = true) -> [String: Any] {
        var object: [String: Any] = [
            "FunctionUrl": triggerSettings.functionURL(id: record.urlID, region: region),
            "FunctionArn": arn(record.function, record.qualifier),
            "AuthType": record.authType,
            "CreationTime": Self.urlTimestampFormatter.string(from: record.created),
            "InvokeMode": record.invokeMode,
        ]
        if includeModified { object["LastModifiedTime"] = Self.urlTimestampFormatter.string(from: record.modified) }
        if let cors = record.cors, let parsed = try? JSONSerialization.jsonObject(with: Data(cors.utf8)) { object["Cors"] = parsed }
        return object
    }

    static let urlNotFound = LambdaError.notFound("The resource you requested does not exist.")

    /// `POST /2021-10-31/functions/{name}/url`: 201 with the new URL.
    func createFunctionURL(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try urlTarget(raw, request)
        let body = try jsonBody(request)
        let now = Date()
        var record = FunctionURLRecord(urlID: TriggerSettings.newID(32), function: ref.name, qualifier: ref.qualifier, authType: "NONE",
                                       cors: nil, invokeMode: "BUFFERED", created: now, modified: now)
        try applyURLSettings(body, to: &record, creating: true)
        do {
            record = try store.createFunctionURL(record)
        } catch StoreError.conflict {
            throw LambdaError.conflict("Failed to create function url config for [functionArn = \(arn(ref.name, ref.qualifier))]. Error message:  FunctionUrlConfig exists for this Lambda function")
        }
        return LambdaShapes.json(urlConfigShape(record, includeModified: false), status: 201, requestID: requestID)
    }

    func getFunctionURL(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try urlTarget(raw, request)
        guard let record = try store.functionURL(function: ref.name, qualifier: ref.qualifier) else { throw Self.urlNotFound }
        return LambdaShapes.json(urlConfigShape(record), requestID: requestID)
    }

    /// `PUT …/url`: the fields given replace the stored ones.
    func updateFunctionURL(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try urlTarget(raw, request)
        guard var record = try store.functionURL(function: ref.name, qualifier: ref.qualifier) else { throw Self.urlNotFound }
        try applyURLSettings(try jsonBody(request), to: &record, creating: false)
        record.modified = Date()
        try store.updateFunctionURL(record)
        return LambdaShapes.json(urlConfigShape(record), requestID: requestID)
    }

    func deleteFunctionURL(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try urlTarget(raw, request)
        do {
            try store.deleteFunctionURL(function: ref.name, qualifier: ref.qualifier)
        } catch StoreError.notFound {
            throw Self.urlNotFound
        }
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    /// `GET /2021-10-31/functions/{name}/urls?Marker&MaxItems` (1–50).
    func listFunctionURLs(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        var limit = 50
        if let text = request.query["MaxItems"] {
            guard let n = Int(text), (1...50).contains(n) else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(text)' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50")
            }
            limit = n
        }
        let (urls, next) = try store.functionURLs(function: ref.name, after: request.query["Marker"], limit: limit)
        var object: [String: Any] = ["FunctionUrlConfigs": urls.map { urlConfigShape($0) }]
        if let next { object["NextMarker"] = next }
        return LambdaShapes.json(object, requestID: requestID)
    }

    // MARK: resource policy

    /// `POST /2015-03-31/functions/{name}/policy`: 201 `{"Statement": "<statement JSON>"}`.
    func addPermission(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        _ = try resolve(ref)
        let body = try jsonBody(request)
        func required(_ key: String) throws -> String {
            guard let value = body[key] as? String, !value.isEmpty else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value null at '\(key.prefix(1).lowercased() + key.dropFirst())' failed to satisfy constraint: Member must not be null")
            }
            return value
        }
        let sid = try required("StatementId")
        let action = try required("Action")
        let principal = try required("Principal")
        guard sid.count <= 100, sid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(sid)' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)")
        }
        let principalValue: Any
        if principal == "*" {
            principalValue = "*"
        } else if principal.allSatisfy(\.isNumber) {
            principalValue = ["AWS": "arn:aws:iam::\(principal):root"]
        } else if principal.hasPrefix("arn:") {
            principalValue = ["AWS": principal]
        } else {
            principalValue = ["Service": principal]
        }
        var conditions: [String: [String: String]] = [:]
        if let source = body["SourceArn"] as? String { conditions["ArnLike", default: [:]]["AWS:SourceArn"] = source }
        if let account = body["SourceAccount"] as? String { conditions["StringEquals", default: [:]]["AWS:SourceAccount"] = account }
        if let org = body["PrincipalOrgID"] as? String { conditions["StringEquals", default: [:]]["aws:PrincipalOrgID"] = org }
        if let token = body["EventSourceToken"] as? String { conditions["StringEquals", default: [:]]["lambda:EventSourceToken"] = token }
        if let auth = body["FunctionUrlAuthType"] as? String {
            guard auth == "NONE" || auth == "AWS_IAM" else {
                throw LambdaError(status: 400, type: "ValidationException", message: "1 validation error detected: Value '\(auth)' at 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
            }
            conditions["StringEquals", default: [:]]["lambda:FunctionUrlAuthType"] = auth
        }
        if let via = body["InvokedViaFunctionUrl"], ProxyResponse.isBool(via), (via as? Bool) == true {
            conditions["Bool", default: [:]]["lambda:InvokedViaFunctionUrl"] = "true"
        }
        var statement: [String: Any] = [
            "Sid": sid, "Effect": "Allow", "Principal": principalValue, "Action": action, "Resource": arn(ref.name, ref.qualifier),
        ]
        if !conditions.isEmpty { statement["Condition"] = conditions }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: statement, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        do {
            try store.addPolicyStatement(function: ref.name, qualifier: ref.qualifier, sid: sid, statement: text)
        } catch StoreError.conflict(let message) {
            throw LambdaError.conflict(message)
        }
        return LambdaShapes.json(["Statement": text], status: 201, requestID: requestID)
    }

    func removePermission(_ raw: String, _ sid: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        _ = try resolve(ref)
        do {
            try store.removePolicyStatement(function: ref.name, qualifier: ref.qualifier, sid: sid)
        } catch StoreError.notFound(let message) {
            throw LambdaError.notFound(message)
        }
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    /// `GET /2015-03-31/functions/{name}/policy`: the policy document as a JSON string.
    func getPolicy(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        let (config, _) = try resolve(ref)
        let statements = try store.policyStatements(function: ref.name, qualifier: ref.qualifier)
        guard !statements.isEmpty else { throw LambdaError.notFound("The resource you requested does not exist.") }
        let policy = #"{"Version":"2012-10-17","Id":"default","Statement":["# + statements.joined(separator: ",") + "]}"
        return LambdaShapes.json(["Policy": policy, "RevisionId": config.revisionID], requestID: requestID)
    }
}
