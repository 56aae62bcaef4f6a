// HearthStore: the data model (Lambda's, simplified).
import Foundation

/// The `$LATEST` configuration of a function (what `GetFunctionConfiguration` returns).
public struct FunctionConfiguration: Codable, Sendable, Equatable {
    public var name: String
    public var runtime: String            // "provided", "provided.al2023", ...
    public var handler: String?
    public var memoryMB: Int              // 128...10240
    public var timeoutSeconds: Int        // 1...900
    public var ephemeralStorageMB: Int    // 512...10240
    public var environment: [String: String]
    public var layers: [String]           // layer ARNs as given
    public var description: String
    public var codeSHA256: String         // hex sha256 of the zip
    public var codeSize: Int
    public var lastModified: Date
    public var revisionID: String         // new UUID on every change
    public var packageType: String        // "Zip" or "Image"
    /// The execution role ARN, as given (Hearth does not use IAM; kept for the API's sake).
    public var role: String
    /// PackageType Image: the ImageUri as given (a server-side path or `sha256:` image ID).
    public var imageURI: String = ""
    /// PackageType Image: Lambda's `ImageConfig` overrides.
    public var imageConfig: ImageConfigValues = ImageConfigValues()
    /// Lambda's `DeadLetterConfig.TargetArn`: the SQS queue that receives asynchronous events
    /// that exhausted their retries or expired ("" when none). Part of the version, as on Lambda.
    public var deadLetterTargetARN: String = ""

    public init(
        name: String,
        runtime: String = "provided.al2023",
        handler: String? = nil,
        memoryMB: Int = 128,
        timeoutSeconds: Int = 3,
        ephemeralStorageMB: Int = 512,
        environment: [String: String] = [:],
        layers: [String] = [],
        description: String = "",
        codeSHA256: String = "",
        codeSize: Int = 0,
        lastModified: Date = Date(),
        revisionID: String = UUID().uuidString.lowercased(),
        packageType: String = "Zip",
        role: String = ""
    ) {
        self.name = name
        self.runtime = runtime
        self.handler = handler
        self.memoryMB = memoryMB
        self.timeoutSeconds = timeoutSeconds
        self.ephemeralStorageMB = ephemeralStorageMB
        self.environment = environment
        self.layers = layers
        self.description = description
        self.codeSHA256 = codeSHA256
        self.codeSize = codeSize
        self.lastModified = lastModified
        self.revisionID = revisionID
        self.packageType = packageType
        self.role = role
    }

    public static let memoryRange = 128...10240
    public static let timeoutRange = 1...900
    public static let ephemeralStorageRange = 512...10240

    /// Equality of everything that defines the function's behaviour: all fields except the
    /// bookkeeping ones (`lastModified`, `revisionID`). Used to decide whether publishing
    /// would create a new version.
    public func hasSameContent(as other: FunctionConfiguration) -> Bool {
        var a = self, b = other
        a.lastModified = b.lastModified
        a.revisionID = b.revisionID
        return a == b
    }
}

/// Lambda's `ImageConfig`: overrides of a container image's ENTRYPOINT, CMD and WORKDIR.
public struct ImageConfigValues: Codable, Sendable, Equatable {
    public var entryPoint: [String]?
    public var command: [String]?
    public var workingDirectory: String?

    public init(entryPoint: [String]? = nil, command: [String]? = nil, workingDirectory: String? = nil) {
        self.entryPoint = entryPoint
        self.command = command
        self.workingDirectory = workingDirectory
    }

    public var isEmpty: Bool { entryPoint == nil && command == nil && workingDirectory == nil }
}

/// One published version of a Lambda layer: a zip extracted under `/opt`.
public struct LayerVersion: Codable, Sendable, Equatable {
    public var name: String
    public var version: Int
    public var codeSHA256: String
    public var codeSize: Int
    public var description: String
    public var compatibleRuntimes: [String]
    public var licenseInfo: String
    public var created: Date

    public init(name: String, version: Int, codeSHA256: String, codeSize: Int, description: String = "",
                compatibleRuntimes: [String] = [], licenseInfo: String = "", created: Date = Date()) {
        self.name = name
        self.version = version
        self.codeSHA256 = codeSHA256
        self.codeSize = codeSize
        self.description = description
        self.compatibleRuntimes = compatibleRuntimes
        self.licenseInfo = licenseInfo
        self.created = created
    }
}

/// A published, immutable version of a function.
public struct FunctionVersion: Codable, Sendable, Equatable {
    public var function: String
    /// 1, 2, ... per function, never reused even after deletion of later versions.
    public var version: Int
    /// Immutable snapshot of `$LATEST` at publish time (an exact copy, including its revisionID).
    public var configuration: FunctionConfiguration
    /// The description given to `publishVersion` (Lambda shows it instead of the function's).
    public var description: String
    public var created: Date

    public init(function: String, version: Int, configuration: FunctionConfiguration, description: String, created: Date) {
        self.function = function
        self.version = version
        self.configuration = configuration
        self.description = description
        self.created = created
    }
}

/// A named pointer to a version, optionally splitting traffic with one other version.
public struct FunctionAlias: Codable, Sendable, Equatable {
    public var function: String
    public var name: String
    public var functionVersion: String    // "1", "2" or "$LATEST"
    public var additionalVersionWeights: [String: Double]   // RoutingConfig.AdditionalVersionWeights
    public var description: String
    public var revisionID: String

    public init(
        function: String,
        name: String,
        functionVersion: String,
        additionalVersionWeights: [String: Double] = [:],
        description: String = "",
        revisionID: String = ""
    ) {
        self.function = function
        self.name = name
        self.functionVersion = functionVersion
        self.additionalVersionWeights = additionalVersionWeights
        self.description = description
        self.revisionID = revisionID
    }
}

public enum StoreError: Error, Equatable, Sendable {
    case notFound(String)            // what was not found (short description; callers build the Lambda message)
    case conflict(String)            // already exists
    case invalid(String)             // bad input or a reference to something that does not exist
    case preconditionFailed(String)  // revision id (or code hash) mismatch
}

extension StoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notFound(let s): return "not found: \(s)"
        case .conflict(let s): return "conflict: \(s)"
        case .invalid(let s): return "invalid: \(s)"
        case .preconditionFailed(let s): return "precondition failed: \(s)"
        }
    }
}
