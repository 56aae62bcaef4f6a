import Foundation
import HearthSandbox

/// A function's configuration, as Lambda has it. Plain values; `validate()` before use.
public struct FunctionConfig: Sendable {
    public static let timeoutRange = 1.0...900.0
    /// Variables Lambda sets itself; a user may not override them.
    public static let reservedEnvironment: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "HEARTH_RUNTIME_SOCKET",
    ]

    public var name: String
    public var version: String = "$LATEST"
    public var runtime: String = "provided"
    public var handler: String?
    public var memoryMB: Int = 128
    /// Seconds.
    public var timeout: Double = 3
    public var ephemeralStorageMB: Int = 512
    public var cpus: Double?
    public var environment: [(String, String)] = []
    public var region: String = "us-east-1"
    public var accountID: String = "000000000000"
    public var userNamespace: Bool = false
    /// A new sandbox for every invocation (`hearth run --fresh`); see `sandboxPerInvocation`.
    public var freshSandbox: Bool = false

    /// The Hearth extension that asks for a new sandbox per invocation through the Lambda API
    /// (and so from the aws CLI or any SDK): this environment variable set to `true` (ADR 0008).
    public static let sandboxPerInvocationVariable = "HEARTH_SANDBOX_PER_INVOCATION"

    /// Whether every invocation gets a new sandbox, destroyed after it answers: nothing of one
    /// invocation (files in /tmp, processes, memory, a changed runtime) is seen by the next.
    public var sandboxPerInvocation: Bool {
        freshSandbox || environment.contains { $0.0 == Self.sandboxPerInvocationVariable && $0.1.lowercased() == "true" }
    }

    public init(name: String) {
        self.name = name
    }

    /// Lambda's function names: 1–64 ASCII letters, digits, hyphens or underscores.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Environment variable names: ASCII letters, digits and underscores, not starting with a digit.
    public static func isValidEnvironmentName(_ key: String) -> Bool {
        guard let first = key.first, first.isLetter || first == "_" else { return false }
        return key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    public var arn: String { "arn:aws:lambda:\(region):\(accountID):function:\(name)" }

    public func validate() throws {
        if !Self.isValidName(name) {
            throw HearthError.usage("function name must be 1–64 letters, digits, hyphens or underscores: \(name)")
        }
        if !SandboxSpec.memoryRange.contains(memoryMB) {
            throw HearthError.usage("--memory \(memoryMB) is outside \(SandboxSpec.memoryRange.lowerBound)–\(SandboxSpec.memoryRange.upperBound) MB")
        }
        if !Self.timeoutRange.contains(timeout) || timeout.isNaN {
            throw HearthError.usage("--timeout \(timeout) is outside 1–900 seconds")
        }
        if !SandboxSpec.ephemeralStorageRange.contains(ephemeralStorageMB) {
            throw HearthError.usage("--ephemeral-storage \(ephemeralStorageMB) is outside 512–10240 MB")
        }
        if let cpus, cpus < 0 || cpus > 64 { throw HearthError.usage("--cpu \(cpus) is outside 0–64") }
        for (key, _) in environment {
            if Self.reservedEnvironment.contains(key) {
                throw HearthError.usage("environment variable \(key) is reserved by Lambda and cannot be set")
            }
            if !Self.isValidEnvironmentName(key) {
                throw HearthError.usage("environment variable name is not valid: \(key)")
            }
        }
    }

    /// The environment the runtime sees: Lambda's variables, the image's, then the user's.
    public func lambdaEnvironment(image: RuntimeImageManifest, logStream: String) -> [(String, String)] {
        var env: [(String, String)] = [
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", String(memoryMB)),
            ("AWS_LAMBDA_FUNCTION_VERSION", version),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_REGION", region),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/\(name)"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", logStream),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("HEARTH_RUNTIME_SOCKET", Instance.runtimeSocketInSandbox),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
            ("_HANDLER", handler ?? image.defaultHandler ?? ""),
        ]
        let defaults: [(String, String)] = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin"),
            ("LD_LIBRARY_PATH", "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"),
            ("LANG", "en_US.UTF-8"),
            ("TZ", ":UTC"),
        ]
        var imageEnv = image.environment
        for (key, value) in defaults where !imageEnv.contains(where: { $0.0 == key }) { imageEnv.append((key, value)) }
        env += imageEnv
        for (key, value) in environment {
            if let i = env.firstIndex(where: { $0.0 == key }) { env[i].1 = value } else { env.append((key, value)) }
        }
        return env
    }
}
