import Foundation
import HearthCore
import HearthStore

/// The Lambda REST API over the store, the code store and the instance pool.
///
/// Each request is parsed into a route, authenticated (SigV4, unless `verifier` is nil) and
/// answered with Lambda's JSON shapes and error format. Thread-safe; holds no HTTP framing.
public final class LambdaAPI: Sendable {
    /// Lambda's limit for a synchronous invocation's payload.
    public static let maxInvokePayload = 6 * 1024 * 1024

    let store: Store
    let code: CodeStore
    let pool: InstancePool
    let images: RuntimeImages
    let containerImages: ContainerImages?
    let logs: FunctionLogs
    let metrics: Metrics
    let verifier: SigV4Verifier?
    let region: String
    let account = "000000000000"
    let userNamespace: Bool

    public init(store: Store, code: CodeStore, pool: InstancePool, images: RuntimeImages, containerImages: ContainerImages? = nil,
                logs: FunctionLogs, metrics: Metrics, verifier: SigV4Verifier?, region: String, userNamespace: Bool = false) {
        self.store = store
        self.code = code
        self.pool = pool
        self.images = images
        self.containerImages = containerImages
        self.logs = logs
        self.metrics = metrics
        self.verifier = verifier
        self.region = region
        self.userNamespace = userNamespace
    }

    // MARK: entry point

    /// Answers unsigned requests before their bodies are buffered (when auth is on).
    public func preflight(_ request: HTTPRequest) -> HTTPResponse? {
        guard verifier != nil, request.method != "GET" || (request.rawPath != "/" && request.rawPath != "/metrics") else { return nil }
        let signed = request.header("Authorization") != nil || request.rawQuery.contains("X-Amz-Algorithm=")
        if signed { return nil }
        let error = SigV4Error.missingAuthentication
        return LambdaError(status: error.httpStatus, type: error.errorType, message: error.message)
            .response(requestID: UUID().uuidString.lowercased())
    }

    public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let requestID = RequestID.make()
        let segments = request.rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map { String($0).removingPercentEncoding ?? String($0) }
        // Unauthenticated: the health document and Prometheus metrics.
        if request.method == "GET" && (request.rawPath == "/" || request.rawPath.isEmpty) {
            return LambdaShapes.json(["service": "hearth", "status": "ok", "region": region], requestID: requestID)
        }
        if request.method == "GET" && request.rawPath == "/metrics" {
            let stats = await pool.stats()
            let text = metrics.render(concurrent: stats.busy, idle: stats.idle, instances: stats.total, shells: stats.shells)
            return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8))
        }
        do {
            if request.bodyTooLarge {
                throw LambdaError.requestTooLarge("Request must be smaller than \(HearthServerLimits.maxRequestBytes) bytes")
            }
            if let verifier {
                do {
                    _ = try verifier.verify(method: request.method, path: request.rawPath, query: request.rawQuery,
                                            headers: request.headers, body: request.body)
                } catch {
                    throw LambdaError(status: error.httpStatus, type: error.errorType, message: error.message)
                }
            }
            return try await route(request, segments: segments, requestID: requestID)
        } catch let error as LambdaError {
            return error.response(requestID: requestID)
        } catch let error as StoreError {
            return Self.lambdaError(error).response(requestID: requestID)
        } catch let error as HearthError {
            return LambdaError.invalidParameter(error.description).response(requestID: requestID)
        } catch {
            return LambdaError.service("\(error)").response(requestID: requestID)
        }
    }

    static func lambdaError(_ error: StoreError) -> LambdaError {
        switch error {
        case .notFound(let what): return .notFound(what)
        case .conflict(let what): return .conflict(what)
        case .invalid(let what): return .invalidParameter(what)
        case .preconditionFailed(let what): return LambdaError(status: 412, type: "PreconditionFailedException", message: what)
        }
    }

    private func route(_ request: HTTPRequest, segments: [String], requestID: String) async throws -> HTTPResponse {
        let m = request.method
        switch (m, segments.count, segments.first) {
        case (_, _, "2015-03-31") where segments.count >= 2 && segments[1] == "functions":
            let rest = Array(segments.dropFirst(2))
            switch (m, rest.count) {
            case ("POST", 0): return try await createFunction(request, requestID: requestID)
            case ("GET", 0): return try listFunctions(request, requestID: requestID)
            case ("GET", 1) where rest[0].isEmpty: return try listFunctions(request, requestID: requestID)
            case ("GET", 1): return try getFunction(rest[0], request, requestID: requestID)
            case ("DELETE", 1): return try await deleteFunction(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "configuration": return try getConfiguration(rest[0], request, requestID: requestID)
            case ("PUT", 2) where rest[1] == "configuration": return try await updateConfiguration(rest[0], request, requestID: requestID)
            case ("PUT", 2) where rest[1] == "code": return try await updateCode(rest[0], request, requestID: requestID)
            case ("POST", 2) where rest[1] == "invocations": return try await invoke(rest[0], request, requestID: requestID)
            case ("POST", 2) where rest[1] == "versions": return try publishVersion(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "versions": return try listVersions(rest[0], requestID: requestID)
            case ("POST", 2) where rest[1] == "aliases": return try createAlias(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "aliases": return try listAliases(rest[0], requestID: requestID)
            case ("GET", 3) where rest[1] == "aliases": return try getAlias(rest[0], rest[2], requestID: requestID)
            case ("PUT", 3) where rest[1] == "aliases": return try await updateAlias(rest[0], rest[2], request, requestID: requestID)
            case ("DELETE", 3) where rest[1] == "aliases": return try deleteAlias(rest[0], rest[2], requestID: requestID)
            default: break
            }
        case ("PUT", 4, "2017-10-31") where segments[1] == "functions" && segments[3] == "concurrency":
            return try await putConcurrency(segments[2], request, requestID: requestID)
        case ("DELETE", 4, "2017-10-31") where segments[1] == "functions" && segments[3] == "concurrency":
            return try await deleteConcurrency(segments[2], requestID: requestID)
        case ("GET", 4, "2019-09-30") where segments[1] == "functions" && segments[3] == "concurrency":
            return try getConcurrency(segments[2], requestID: requestID)
        case (_, 4, "2019-09-30") where segments[1] == "functions" && segments[3] == "provisioned-concurrency":
            return try await provisionedConcurrency(segments[2], request, requestID: requestID)
        case (_, _, "2018-10-31") where segments.count >= 2 && segments[1] == "layers":
            let rest = Array(segments.dropFirst(2))
            switch (m, rest.count) {
            case ("GET", 0): return try listLayers(requestID: requestID)
            case ("POST", 2) where rest[1] == "versions": return try publishLayerVersion(rest[0], request, requestID: requestID)
            case ("GET", 2) where rest[1] == "versions": return try listLayerVersions(rest[0], requestID: requestID)
            case ("GET", 3) where rest[1] == "versions": return try getLayerVersion(rest[0], rest[2], requestID: requestID)
            case ("DELETE", 3) where rest[1] == "versions": return try deleteLayerVersion(rest[0], rest[2], requestID: requestID)
            default: break
            }
        case ("GET", 4, "hearth") where segments[1] == "functions" && segments[3] == "logs":
            return try getLogs(segments[2], request, requestID: requestID)
        default: break
        }
        throw LambdaError(status: 404, type: "UnknownOperationException", message: "Unknown operation \(m) \(request.rawPath)")
    }

    // MARK: function references

    func parseRef(_ raw: String, qualifier query: String?) throws -> FunctionRef {
        try FunctionRef(parsing: raw, qualifier: query)
    }

    func arn(_ name: String, _ qualifier: String? = nil) -> String {
        LambdaShapes.functionARN(region: region, account: account, name: name, qualifier: qualifier)
    }

    func requireFunction(_ name: String) throws -> FunctionConfiguration {
        guard let config = try store.function(named: name) else {
            throw LambdaError.notFound("Function not found: \(arn(name))")
        }
        return config
    }

    /// The configuration a qualifier names, and the version it resolves to.
    func resolve(_ ref: FunctionRef, weighted: Bool = false) throws -> (config: FunctionConfiguration, version: String) {
        let latest = try requireFunction(ref.name)
        guard let qualifier = ref.qualifier, qualifier != "$LATEST" else { return (latest, "$LATEST") }
        if let number = Int(qualifier) {
            guard let version = try store.version(function: ref.name, number: number) else {
                throw LambdaError.notFound("Function not found: \(arn(ref.name, qualifier))")
            }
            return (version.configuration, String(number))
        }
        guard let alias = try store.alias(function: ref.name, name: qualifier) else {
            throw LambdaError.notFound("Function not found: \(arn(ref.name, qualifier))")
        }
        var target = alias.functionVersion
        if weighted, let (extra, weight) = alias.additionalVersionWeights.first, Double.random(in: 0..<1) < weight {
            target = extra
        }
        return try resolve(FunctionRef(name: ref.name, qualifier: target))
    }

    // MARK: bodies

    func jsonBody(_ request: HTTPRequest) throws -> [String: Any] {
        if request.body.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
            throw LambdaError(status: 400, type: "SerializationException", message: "Could not parse request body into json")
        }
        return object
    }

    static func int(_ object: [String: Any], _ key: String) throws -> Int? {
        guard let value = object[key] else { return nil }
        if type(of: value) != Bool.self, let n = value as? NSNumber, n.doubleValue.rounded() == n.doubleValue {
            return n.intValue
        }
        throw LambdaError.invalidParameter("\(key) must be an integer")
    }

    static func string(_ object: [String: Any], _ key: String) throws -> String? {
        guard let value = object[key] else { return nil }
        guard let s = value as? String else { throw LambdaError.invalidParameter("\(key) must be a string") }
        return s
    }

    /// Applies configuration fields from a CreateFunction / UpdateFunctionConfiguration body.
    func apply(_ body: [String: Any], to config: inout FunctionConfiguration) throws {
        if let runtime = try Self.string(body, "Runtime"), config.packageType == "Zip" {
            do {
                _ = try images.manifest(for: runtime)
            } catch {
                let known = images.names().joined(separator: ", ")
                throw LambdaError.invalidParameter("The runtime parameter of \(runtime) is not supported by this Hearth (supported: \(known); aliases such as provided.al2023 too).")
            }
            config.runtime = runtime
        }
        if let handler = try Self.string(body, "Handler") { config.handler = handler }
        if let role = try Self.string(body, "Role") { config.role = role }
        if let description = try Self.string(body, "Description") { config.description = description }
        if let memory = try Self.int(body, "MemorySize") {
            guard (128...10240).contains(memory) else {
                throw LambdaError.invalidParameter("1 validation error detected: Value '\(memory)' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240")
            }
            config.memoryMB = memory
        }
        if let timeout = try Self.int(body, "Timeout") {
            guard (1...900).contains(timeout) else {
                throw LambdaError.invalidParameter("1 validation error detected: Value '\(timeout)' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900")
            }
            config.timeoutSeconds = timeout
        }
        if let storage = body["EphemeralStorage"] as? [String: Any], let size = try Self.int(storage, "Size") {
            guard (512...10240).contains(size) else {
                throw LambdaError.invalidParameter("EphemeralStorage.Size must be between 512 and 10240 MB")
            }
            config.ephemeralStorageMB = size
        }
        if let environment = body["Environment"] as? [String: Any] {
            let variables = environment["Variables"] as? [String: Any] ?? [:]
            var env: [String: String] = [:]
            for (key, value) in variables {
                guard let value = value as? String else { throw LambdaError.invalidParameter("Environment variable \(key) must be a string") }
                if !FunctionConfig.isValidEnvironmentName(key) {
                    throw LambdaError.invalidParameter("Environment variable name \(key) is not valid: use letters, digits and underscores, not starting with a digit")
                }
                if value.contains("\0") { throw LambdaError.invalidParameter("Environment variable \(key) contains a NUL byte") }
                if FunctionConfig.reservedEnvironment.contains(key) {
                    throw LambdaError.invalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: \(key)")
                }
                env[key] = value
            }
            config.environment = env
        }
        if let layers = body["Layers"] as? [Any] {
            guard layers.count <= CodeBundle.maxLayers else {
                throw LambdaError.invalidParameter("Cannot reference more than \(CodeBundle.maxLayers) layers.")
            }
            if config.packageType == "Image" && !layers.isEmpty {
                throw LambdaError.invalidParameter("Layers are not supported for functions with PackageType Image.")
            }
            var arns: [String] = []
            for raw in layers {
                guard let arn = raw as? String else { throw LambdaError.invalidParameter("Layers must be a list of layer version ARNs") }
                _ = try layer(arn: arn)
                arns.append(arn)
            }
            config.layers = arns
        }
        if let imageConfig = body["ImageConfig"] as? [String: Any] {
            guard config.packageType == "Image" else {
                throw LambdaError.invalidParameter("ImageConfig applies to functions with PackageType Image only.")
            }
            func words(_ key: String) throws -> [String]? {
                guard let value = imageConfig[key] else { return nil }
                guard let list = value as? [String] else { throw LambdaError.invalidParameter("ImageConfig.\(key) must be a list of strings") }
                return list.isEmpty ? nil : list
            }
            config.imageConfig = ImageConfigValues(entryPoint: try words("EntryPoint"), command: try words("Command"),
                                                   workingDirectory: (imageConfig["WorkingDirectory"] as? String).flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// The layer version an ARN (`arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`) names.
    func layer(arn: String, includingDeleted: Bool = false) throws -> LayerVersion {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "layer", let number = Int(parts[7]) else {
            throw LambdaError.invalidParameter("\(arn) is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)")
        }
        guard let layer = try store.layerVersion(name: String(parts[6]), version: number, includingDeleted: includingDeleted) else {
            throw LambdaError.invalidParameter("Layer version \(arn) does not exist.")
        }
        return layer
    }

    /// Imports the image and points the configuration at it (its ID stands in the code hash).
    func setImage(_ uri: String, on config: inout FunctionConfiguration) async throws {
        let image = try await importImage(uri)
        config.imageURI = uri
        config.codeSHA256 = String(image.id.dropFirst(7))
        config.codeSize = Int(image.sizeBytes)
    }

    /// Imports the image an `ImageUri` names: a path on this server (a `docker save` archive or
    /// an OCI layout, tar or folder) or the `sha256:` ID of an image imported before.
    func importImage(_ uri: String) async throws -> ImportedImage {
        guard let containerImages else { throw LambdaError.invalidParameter("Container images are not enabled on this server") }
        if uri.hasPrefix("sha256:") {
            guard let image = containerImages.image(id: uri) else {
                throw LambdaError.invalidParameter("Image \(uri) has not been imported into this Hearth; give the path of its archive instead")
            }
            return image
        }
        let path = uri.hasPrefix("file://") ? String(uri.dropFirst(7)) : uri
        guard path.hasPrefix("/") else {
            throw LambdaError.invalidParameter("ImageUri must be an absolute path on the Hearth server to a docker save archive or OCI image layout, or an imported image ID (sha256:...); registries are not supported: \(uri)")
        }
        do {
            return try await pool.host.blocking.runIfActive { try containerImages.importImage(path) }
        } catch let error as HearthError {
            throw LambdaError.invalidParameter("Could not import the container image: \(error.description)")
        }
    }

    func storeZip(_ body: [String: Any], key: String = "ZipFile") throws -> (sha256: String, size: Int) {
        guard let encoded = body[key] as? String else {
            if body["S3Bucket"] != nil {
                throw LambdaError.invalidParameter("S3 code locations are not supported by this Hearth; upload the zip as ZipFile")
            }
            if body["ImageUri"] != nil {
                throw LambdaError.invalidParameter("ImageUri is for functions with PackageType Image")
            }
            throw LambdaError.invalidParameter("\(key) is required")
        }
        guard let data = Data(base64Encoded: encoded) else {
            throw LambdaError.invalidParameter("Could not decode \(key) (not base64)")
        }
        do {
            return try code.put(zip: data)
        } catch let error as HearthError {
            throw LambdaError.invalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again. (\(error.description))")
        }
    }

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

    // MARK: concurrency

    func putConcurrency(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let body = try jsonBody(request)
        guard let value = try Self.int(body, "ReservedConcurrentExecutions"), value >= 0 else {
            throw LambdaError.invalidParameter("ReservedConcurrentExecutions must be a non-negative integer")
        }
        try store.setReservedConcurrency(function: ref.name, value: value)
        return LambdaShapes.json(["ReservedConcurrentExecutions": value], requestID: requestID)
    }

    func getConcurrency(_ raw: String, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        if let value = try store.reservedConcurrency(function: ref.name) {
            return LambdaShapes.json(["ReservedConcurrentExecutions": value], requestID: requestID)
        }
        return LambdaShapes.json([String: Any](), requestID: requestID)
    }

    func deleteConcurrency(_ raw: String, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        try store.setReservedConcurrency(function: ref.name, value: nil)
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    // MARK: provisioned concurrency

    /// The published version a provisioned-concurrency qualifier (version or alias) runs.
    func provisionedTarget(_ function: String, _ qualifier: String?) throws -> (qualifier: String, config: FunctionConfiguration, version: String) {
        guard let qualifier, !qualifier.isEmpty else { throw LambdaError.invalidParameter("Qualifier is required (a version or an alias)") }
        if qualifier == "$LATEST" {
            throw LambdaError.invalidParameter("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        }
        let (config, version) = try resolve(FunctionRef(name: function, qualifier: qualifier))
        if version == "$LATEST" {
            throw LambdaError.invalidParameter("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        }
        return (qualifier, config, version)
    }

    func provisionedShape(function: String, qualifier: String, version: String) async -> [String: Any] {
        let status = await pool.provisionedStatus(function: function, versionName: version)
        return [
            "FunctionArn": arn(function, qualifier),
            "RequestedProvisionedConcurrentExecutions": status.requested,
            "AllocatedProvisionedConcurrentExecutions": status.ready,
            "AvailableProvisionedConcurrentExecutions": status.ready,
            "Status": status.ready >= status.requested ? "READY" : "IN_PROGRESS",
            "LastModified": LambdaShapes.timestamp(Date()),
        ]
    }

    func provisionedConcurrency(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let query = request.query
        if request.method == "GET" && query["List"] == "ALL" {
            var configs: [[String: Any]] = []
            for entry in try store.allProvisionedConcurrency() where entry.function == ref.name {
                if let target = try? provisionedTarget(ref.name, entry.qualifier) {
                    configs.append(await provisionedShape(function: ref.name, qualifier: entry.qualifier, version: target.version))
                }
            }
            return LambdaShapes.json(["ProvisionedConcurrencyConfigs": configs], requestID: requestID)
        }
        let target = try provisionedTarget(ref.name, query["Qualifier"])
        switch request.method {
        case "PUT":
            let body = try jsonBody(request)
            guard let count = try Self.int(body, "ProvisionedConcurrentExecutions"), count >= 1 else {
                throw LambdaError.invalidParameter("ProvisionedConcurrentExecutions must be at least 1")
            }
            try store.setProvisionedConcurrency(function: ref.name, qualifier: target.qualifier, value: count)
            await pool.setProvisioned(function: ref.name, versionName: target.version,
                                      version: try deployedVersion(target.config, version: target.version), count: count)
            var shape = await provisionedShape(function: ref.name, qualifier: target.qualifier, version: target.version)
            shape["FunctionArn"] = nil
            return LambdaShapes.json(shape, status: 202, requestID: requestID)
        case "GET":
            guard try store.provisionedConcurrency(function: ref.name, qualifier: target.qualifier) != nil else {
                throw LambdaError(status: 404, type: "ProvisionedConcurrencyConfigNotFoundException",
                                  message: "No Provisioned Concurrency Config found for this function")
            }
            var shape = await provisionedShape(function: ref.name, qualifier: target.qualifier, version: target.version)
            shape["FunctionArn"] = nil
            return LambdaShapes.json(shape, requestID: requestID)
        case "DELETE":
            try store.setProvisionedConcurrency(function: ref.name, qualifier: target.qualifier, value: nil)
            await pool.setProvisioned(function: ref.name, versionName: target.version,
                                      version: try deployedVersion(target.config, version: target.version), count: 0)
            return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
        default:
            throw LambdaError(status: 405, type: "UnknownOperationException", message: "Unknown operation \(request.method) \(request.rawPath)")
        }
    }

    /// Re-applies stored provisioned concurrency (at daemon start).
    public func restoreProvisionedConcurrency() async {
        for entry in (try? store.allProvisionedConcurrency()) ?? [] {
            guard let target = try? provisionedTarget(entry.function, entry.qualifier),
                  let deployed = try? deployedVersion(target.config, version: target.version) else { continue }
            await pool.setProvisioned(function: entry.function, versionName: target.version, version: deployed, count: entry.value)
        }
    }

    // MARK: logs (Hearth's own endpoint; Lambda keeps logs in CloudWatch)

    func getLogs(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let query = request.query
        let events = logs.events(function: ref.name, since: Int64(query["since"] ?? "") ?? 0, requestID: query["requestId"])
        let shaped = events.map { ["timestamp": $0.timestamp, "requestId": $0.requestID, "version": $0.version, "message": $0.message] as [String: Any] }
        return LambdaShapes.json(["events": shaped], requestID: requestID)
    }

    // MARK: invoke

    func invoke(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let invocation = try InvokeRequest(path: raw, request: request)
        let (config, version) = try resolve(invocation.function, weighted: true)
        if invocation.dryRun {
            return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID), ("X-Amz-Executed-Version", version)])
        }
        let payload = try InvokeRequest.validatedPayload(request.body)
        let clientContext = invocation.clientContext
        let deployed = try deployedVersion(config, version: version)
        let reserved = try store.reservedConcurrency(function: config.name)
        if reserved == 0 {
            metrics.recordThrottle(function: config.name)
            throw LambdaError.tooManyRequests(reason: PoolThrottle.reservedConcurrencyExceeded.reason)
        }
        let record: InvocationRecord
        do {
            // The function sees the ARN it was invoked by (with the alias or version asked for).
            let invokedARN = arn(config.name, invocation.function.qualifier)
            let traceID = request.header("X-Amzn-Trace-Id")
            record = try await pool.invoke(function: config.name, versionName: version, version: deployed, reserved: reserved,
                                           payload: payload, requestID: requestID, invokedARN: invokedARN, traceID: traceID,
                                           clientContext: clientContext)
        } catch {
            metrics.recordThrottle(function: config.name)
            throw LambdaError.tooManyRequests(reason: error.reason)
        }
        logs.append(function: config.name, record: record, version: version)
        metrics.recordInvocation(function: config.name, durationMs: record.durationMs, initDurationMs: record.initDurationMs,
                                 errorType: record.errorType)
        var headers: [(String, String)] = [
            // The runtime's Content-Type when it posted one (errors are JSON documents).
            ("Content-Type", record.errorType == nil ? record.contentType ?? "application/json" : "application/json"),
            ("x-amzn-RequestId", requestID),
            ("X-Amz-Executed-Version", version),
        ]
        if record.errorType != nil { headers.append(("X-Amz-Function-Error", "Unhandled")) }
        if invocation.tailLog {
            let text = Array(FunctionLogs.text(for: record, version: version).utf8)
            headers.append(("X-Amz-Log-Result", Data(text.suffix(4096)).base64EncodedString()))
        }
        return HTTPResponse(status: 200, headers: headers, body: record.payload)
    }

    // MARK: layers

    func publishLayerVersion(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let body = try jsonBody(request)
        guard let content = body["Content"] as? [String: Any] else { throw LambdaError.invalidParameter("Content is required") }
        let (sha, size) = try storeZip(content)
        defer { code.release(sha) }
        let runtimes = body["CompatibleRuntimes"] as? [String] ?? []
        let layer: LayerVersion
        do {
            layer = try store.publishLayerVersion(name: name, codeSHA256: sha, codeSize: size,
                                                  description: try Self.string(body, "Description") ?? "",
                                                  compatibleRuntimes: runtimes, licenseInfo: try Self.string(body, "LicenseInfo") ?? "")
        } catch let error as StoreError {
            throw Self.lambdaError(error)
        }
        return LambdaShapes.json(LambdaShapes.layerVersion(layer, region: region, account: account), status: 201, requestID: requestID)
    }

    func layerNumber(_ name: String, _ raw: String) throws -> LayerVersion {
        guard let number = Int(raw), let layer = try store.layerVersion(name: name, version: number) else {
            throw LambdaError(status: 404, type: "ResourceNotFoundException",
                              message: "The resource you requested does not exist. (layer \(name) version \(raw))")
        }
        return layer
    }

    func getLayerVersion(_ name: String, _ raw: String, requestID: String) throws -> HTTPResponse {
        LambdaShapes.json(LambdaShapes.layerVersion(try layerNumber(name, raw), region: region, account: account), requestID: requestID)
    }

    func listLayerVersions(_ name: String, requestID: String) throws -> HTTPResponse {
        let versions = try store.layerVersions(name: name).map { LambdaShapes.layerVersion($0, region: region, account: account) }
        return LambdaShapes.json(["LayerVersions": versions], requestID: requestID)
    }

    func listLayers(requestID: String) throws -> HTTPResponse {
        let layers = try store.latestLayerVersions().map { latest -> [String: Any] in
            ["LayerName": latest.name, "LayerArn": LambdaShapes.layerARN(region: region, account: account, name: latest.name),
             "LatestMatchingVersion": LambdaShapes.layerVersion(latest, region: region, account: account)]
        }
        return LambdaShapes.json(["Layers": layers], requestID: requestID)
    }

    func deleteLayerVersion(_ name: String, _ raw: String, requestID: String) throws -> HTTPResponse {
        if let number = Int(raw) { try store.deleteLayerVersion(name: name, version: number) }
        code.collectGarbage(keep: try store.referencedCodeHashes())
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)], body: [])
    }

    func deployedVersion(_ config: FunctionConfiguration, version: String) throws -> DeployedVersion {
        var fc = FunctionConfig(name: config.name)
        fc.version = version
        fc.runtime = config.runtime
        fc.handler = config.handler
        fc.memoryMB = config.memoryMB
        fc.timeout = Double(config.timeoutSeconds)
        fc.ephemeralStorageMB = config.ephemeralStorageMB
        fc.environment = config.environment.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        fc.region = region
        fc.accountID = account
        fc.userNamespace = userNamespace
        let generation = version == "$LATEST" ? config.revisionID : "v\(version)-\(config.revisionID)"
        if config.packageType == "Image" {
            guard let imported = containerImages?.image(id: "sha256:" + config.codeSHA256) else {
                throw LambdaError.service("container image sha256:\(config.codeSHA256) of \(config.name) is missing from the image store")
            }
            let overridden = imported.config.overridden(entrypoint: config.imageConfig.entryPoint, command: config.imageConfig.command,
                                                        workingDirectory: config.imageConfig.workingDirectory)
            let image: RuntimeImage
            do {
                image = try imported.runtimeImage(config: overridden)
            } catch {
                throw LambdaError.invalidParameter("\(error)")
            }
            return DeployedVersion(config: fc, code: imported.rootfs + "/var/task", image: image, generation: generation)
        }
        let image: RuntimeImage
        do {
            image = try images.image(for: config.runtime)
        } catch {
            throw LambdaError.service("runtime image \(config.runtime): \(error)")
        }
        var opt: String?
        if !config.layers.isEmpty {
            let shas = try config.layers.map { try layer(arn: $0, includingDeleted: true).codeSHA256 }
            opt = try code.mergedLayers(shas)
        }
        // A version's generation includes its snapshot's revision: a function deleted and created
        // again publishes "1" again, and must not meet the old "1"'s instances.
        return DeployedVersion(config: fc, code: try code.unpacked(config.codeSHA256), opt: opt, image: image, generation: generation)
    }
}

/// Size limits of the front door.
public enum HearthServerLimits {
    /// A CreateFunction body carries a base64 zip of up to 50 MB.
    public static let maxRequestBytes = 75 * 1024 * 1024
}
