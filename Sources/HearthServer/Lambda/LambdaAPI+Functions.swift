import Foundation
import HearthCore
import HearthStore

// CreateFunction, ListFunctions, GetFunction, Get/UpdateFunctionConfiguration, UpdateFunctionCode, DeleteFunction.
extension LambdaAPI {
    // MARK: functions

    func createFunction(_ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let body = try jsonBody(request)
        guard let name = try Self.string(body, "FunctionName") else { throw LambdaError.invalidParameter("FunctionName is required") }
        let ref = try parseRef(name, qualifier: nil)
        if ref.qualifier != nil { throw LambdaError.invalidParameter("FunctionName must not have a qualifier") }
        let packageType = try Self.string(body, "PackageType") ?? "Zip"
        guard packageType == "Zip" || packageType == "Image" else {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(packageType)' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: [Image, Zip]")
        }
        if try store.function(named: ref.name) != nil {
            throw LambdaError.conflict("Function already exist: \(ref.name)")
        }
        guard let codeObject = body["Code"] as? [String: Any] else { throw LambdaError.invalidParameter("Code is required") }
        var config = FunctionConfiguration(
            name: ref.name, runtime: "provided", handler: nil, memoryMB: 128, timeoutSeconds: 3, ephemeralStorageMB: 512,
            environment: [:], layers: [], description: "", codeSHA256: "", codeSize: 0, lastModified: Date(),
            revisionID: UUID().uuidString.lowercased(), packageType: packageType, role: "")
        if packageType == "Image" {
            config.runtime = ""
            guard let uri = codeObject["ImageUri"] as? String else { throw LambdaError.invalidParameter("Code.ImageUri is required for PackageType Image") }
            if body["Runtime"] != nil || body["Handler"] != nil {
                throw LambdaError.invalidParameter("Runtime and Handler are not supported for PackageType Image (use ImageConfig)")
            }
            try apply(body, to: &config)
            try await setImage(uri, on: &config)
            config = try store.createFunction(config)
        } else {
            guard body["Runtime"] != nil else { throw LambdaError.invalidParameter("Runtime is required for a .zip deployment package") }
            try apply(body, to: &config)
            let (sha, size) = try storeZip(codeObject)
            defer { code.release(sha) }
            config.codeSHA256 = sha
            config.codeSize = size
            config = try store.createFunction(config)
        }
        var version = "$LATEST"
        if body["Publish"] as? Bool == true {
            let published = try store.publishVersion(function: config.name, description: "")
            version = String(published.version)
            config = published.configuration
        }
        return LambdaShapes.json(LambdaShapes.configuration(config, version: version, region: region, account: account),
                                 status: 201, requestID: requestID)
    }

    func listFunctions(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let query = request.query
        let limit = min(max(Int(query["MaxItems"] ?? "") ?? 50, 1), 10000)
        let page = try store.listFunctions(after: query["Marker"].flatMap { $0.isEmpty ? nil : $0 }, limit: limit)
        var object: [String: Any] = [
            "Functions": page.functions.map { LambdaShapes.configuration($0, version: "$LATEST", region: region, account: account) },
        ]
        if let next = page.nextMarker { object["NextMarker"] = next }
        return LambdaShapes.json(object, requestID: requestID)
    }

    func getFunction(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        let (config, version) = try resolve(ref)
        var object: [String: Any] = [
            "Configuration": LambdaShapes.configuration(config, version: version, region: region, account: account),
            "Code": config.packageType == "Image"
                ? ["RepositoryType": "ECR", "ImageUri": config.imageURI, "ResolvedImageUri": "sha256:" + config.codeSHA256]
                : ["RepositoryType": "S3", "Location": "hearth://code/\(config.codeSHA256).zip"],
            "Tags": [String: String](),
        ]
        if let reserved = try store.reservedConcurrency(function: ref.name) {
            object["Concurrency"] = ["ReservedConcurrentExecutions": reserved]
        }
        return LambdaShapes.json(object, requestID: requestID)
    }

    func getConfiguration(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        let (config, version) = try resolve(ref)
        return LambdaShapes.json(LambdaShapes.configuration(config, version: version, region: region, account: account), requestID: requestID)
    }

    func deleteFunction(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        _ = try requireFunction(ref.name)
        if let qualifier = ref.qualifier, qualifier != "$LATEST" {
            guard let number = Int(qualifier) else { throw LambdaError.invalidParameter("Deletion of aliases is not supported through DeleteFunction; use DeleteAlias") }
            try store.deleteVersion(function: ref.name, number: number)
            try store.setProvisionedConcurrency(function: ref.name, qualifier: qualifier, value: nil)
            await pool.drain(function: ref.name, version: qualifier)
        } else {
            try store.deleteFunction(named: ref.name)
            await pool.drain(function: ref.name)
            logs.remove(function: ref.name)
        }
        deployedVersions.forget(function: ref.name)
        code.collectGarbage(keep: try store.referencedCodeHashes())
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    func updateConfiguration(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        var config = try requireFunction(ref.name)
        let body = try jsonBody(request)
        try checkRevision(body, config.revisionID)
        try apply(body, to: &config)
        config = try store.updateFunction(config)
        try? store.purgeDeletedLayers()
        await pool.drain(function: ref.name, version: "$LATEST")
        return LambdaShapes.json(LambdaShapes.configuration(config, version: "$LATEST", region: region, account: account), requestID: requestID)
    }

    func checkRevision(_ body: [String: Any], _ current: String) throws {
        if let expected = body["RevisionId"] as? String, expected != current {
            throw LambdaError(status: 412, type: "PreconditionFailedException",
                              message: "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
        }
    }

    func updateCode(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        var config = try requireFunction(ref.name)
        let body = try jsonBody(request)
        try checkRevision(body, config.revisionID)
        if config.packageType == "Image" {
            guard let uri = body["ImageUri"] as? String else { throw LambdaError.invalidParameter("ImageUri is required for a function with PackageType Image") }
            try await setImage(uri, on: &config)
            config = try store.updateFunction(config)
        } else {
            if body["ImageUri"] != nil { throw LambdaError.invalidParameter("Please don't provide ImageUri when updating a function with packageType Zip.") }
            let (sha, size) = try storeZip(body)
            defer { code.release(sha) }
            config.codeSHA256 = sha
            config.codeSize = size
            config = try store.updateFunction(config)
        }
        await pool.drain(function: ref.name, version: "$LATEST")
        var version = "$LATEST"
        if body["Publish"] as? Bool == true {
            let published = try store.publishVersion(function: config.name, description: "")
            version = String(published.version)
            config = published.configuration
        }
        code.collectGarbage(keep: try store.referencedCodeHashes())
        return LambdaShapes.json(LambdaShapes.configuration(config, version: version, region: region, account: account), requestID: requestID)
    }

}
