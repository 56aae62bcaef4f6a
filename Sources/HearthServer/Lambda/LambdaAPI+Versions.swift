import Foundation
import HearthCore
import HearthStore

// PublishVersion, ListVersionsByFunction, and the alias operations.
extension LambdaAPI {
    // MARK: versions and aliases

    func publishVersion(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        let config = try requireFunction(ref.name)
        let body = try jsonBody(request)
        if let sha = body["CodeSha256"] as? String, sha != LambdaShapes.codeSha256(config.codeSHA256) {
            throw LambdaError(status: 412, type: "PreconditionFailedException", message: "CodeSha256 (\(sha)) is different from current CodeSha256 in $LATEST. Please try again with the CodeSha256 in $LATEST.")
        }
        try checkRevision(body, config.revisionID)
        let version = try store.publishVersion(function: ref.name, description: (try Self.string(body, "Description")) ?? "")
        var shape = LambdaShapes.configuration(version.configuration, version: String(version.version), region: region, account: account)
        shape["Description"] = version.description
        return LambdaShapes.json(shape, status: 201, requestID: requestID)
    }

    func listVersions(_ raw: String, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        let latest = try requireFunction(ref.name)
        var versions = [LambdaShapes.configuration(latest, version: "$LATEST", region: region, account: account)]
        for v in try store.versions(function: ref.name) {
            var shape = LambdaShapes.configuration(v.configuration, version: String(v.version), region: region, account: account)
            shape["Description"] = v.description
            versions.append(shape)
        }
        return LambdaShapes.json(["Versions": versions], requestID: requestID)
    }

    func aliasFromBody(_ body: [String: Any], function: String, name: String, existing: FunctionAlias?) throws -> FunctionAlias {
        var alias = existing ?? FunctionAlias(function: function, name: name, functionVersion: "", additionalVersionWeights: [:],
                                              description: "", revisionID: UUID().uuidString.lowercased())
        if let version = try Self.string(body, "FunctionVersion") { alias.functionVersion = version }
        if let description = try Self.string(body, "Description") { alias.description = description }
        if let routing = body["RoutingConfig"] as? [String: Any] {
            var weights: [String: Double] = [:]
            for (version, weight) in routing["AdditionalVersionWeights"] as? [String: Any] ?? [:] {
                guard let w = (weight as? NSNumber)?.doubleValue else { throw LambdaError.invalidParameter("weights must be numbers") }
                weights[version] = w
            }
            alias.additionalVersionWeights = weights
        }
        if alias.functionVersion.isEmpty { throw LambdaError.invalidParameter("FunctionVersion is required") }
        return alias
    }

    func createAlias(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let body = try jsonBody(request)
        guard let name = try Self.string(body, "Name"), !name.isEmpty, Int(name) == nil, name != "$LATEST" else {
            throw LambdaError.invalidParameter("Name must be a non-numeric alias name")
        }
        if try store.alias(function: ref.name, name: name) != nil {
            throw LambdaError.conflict("Alias already exists: \(arn(ref.name, name))")
        }
        let alias = try store.createAlias(aliasFromBody(body, function: ref.name, name: name, existing: nil))
        return LambdaShapes.json(LambdaShapes.alias(alias, region: region, account: account), status: 201, requestID: requestID)
    }

    func listAliases(_ raw: String, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let aliases = try store.aliases(function: ref.name).map { LambdaShapes.alias($0, region: region, account: account) }
        return LambdaShapes.json(["Aliases": aliases], requestID: requestID)
    }

    func requireAlias(_ function: String, _ name: String) throws -> FunctionAlias {
        _ = try requireFunction(function)
        guard let alias = try store.alias(function: function, name: name) else {
            throw LambdaError.notFound("Alias not found: \(arn(function, name))")
        }
        return alias
    }

    func getAlias(_ raw: String, _ name: String, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        return LambdaShapes.json(LambdaShapes.alias(try requireAlias(ref.name, name), region: region, account: account), requestID: requestID)
    }

    func updateAlias(_ raw: String, _ name: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        let existing = try requireAlias(ref.name, name)
        let body = try jsonBody(request)
        try checkRevision(body, existing.revisionID)
        var alias = try aliasFromBody(body, function: ref.name, name: name, existing: existing)
        alias.revisionID = UUID().uuidString.lowercased()
        alias = try store.updateAlias(alias)
        return LambdaShapes.json(LambdaShapes.alias(alias, region: region, account: account), requestID: requestID)
    }

    func deleteAlias(_ raw: String, _ name: String, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireAlias(ref.name, name)
        try store.deleteAlias(function: ref.name, name: name)
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

}
