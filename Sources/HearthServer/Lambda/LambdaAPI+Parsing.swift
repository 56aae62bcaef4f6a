import Foundation
import HearthCore
import HearthQueues
import HearthStore

// Request parsing shared by the operations: function references, bodies, configuration.
extension LambdaAPI {
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
        if let dlq = body["DeadLetterConfig"] {
            config.deadLetterTargetARN = try deadLetterTarget(dlq)
        }
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

    /// `DeadLetterConfig.TargetArn` as given: "" (or no TargetArn) clears it; an SQS queue that
    /// exists on this Hearth is kept. A queue that does not exist fails as Lambda fails when it
    /// cannot send to the target; SNS topics are valid on AWS but Hearth has no SNS.
    func deadLetterTarget(_ value: Any) throws -> String {
        guard let object = value as? [String: Any] else { throw LambdaError.invalidParameter("DeadLetterConfig must be an object") }
        guard let raw = object["TargetArn"] else { return "" }
        guard let arn = raw as? String else { throw LambdaError.invalidParameter("DeadLetterConfig.TargetArn must be a string") }
        if arn.isEmpty { return "" }
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 6, parts[0] == "arn", parts[1].hasPrefix("aws"), !parts[2].isEmpty else {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(arn)' at 'deadLetterConfig.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")
        }
        switch parts[2] {
        case "sqs":
            guard parts.count == 6, !parts[5].isEmpty, queues?.queue(arn: arn) != nil else {
                throw LambdaError.invalidParameter("The provided execution role does not have permissions to call SendMessage on SQS")
            }
            return arn
        case "sns":
            throw LambdaError.invalidParameter("DeadLetterConfig.TargetArn \(arn) is an SNS topic: Hearth has no SNS service, so dead-letter queues must be SQS queues (arn:aws:sqs:REGION:ACCOUNT:NAME)")
        default:
            throw LambdaError.invalidParameter("The target ARN \(arn) is not valid for a dead-letter queue: it must be an Amazon SQS queue or an Amazon SNS topic")
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

}
