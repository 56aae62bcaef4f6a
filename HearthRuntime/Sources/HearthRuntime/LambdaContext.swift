#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What Lambda tells a handler about its invocation and its function (the fields of the
/// Lambda context object every runtime exposes).
public struct LambdaContext: Sendable {
    /// `Lambda-Runtime-Aws-Request-Id`.
    public var requestID: String
    /// `Lambda-Runtime-Deadline-Ms`: milliseconds since the Unix epoch.
    public var deadlineMs: Int64
    /// `Lambda-Runtime-Invoked-Function-Arn` (includes the alias or version when invoked by one).
    public var invokedFunctionARN: String
    /// `Lambda-Runtime-Trace-Id`, if any.
    public var traceID: String?
    /// `Lambda-Runtime-Client-Context` (JSON), if any.
    public var clientContext: String?
    /// `Lambda-Runtime-Cognito-Identity` (JSON), if any.
    public var cognitoIdentity: String?

    public var functionName: String
    public var functionVersion: String
    public var memoryLimitInMB: Int
    public var logGroupName: String
    public var logStreamName: String

    /// Time left before the deadline, in milliseconds (negative once it passed).
    public var remainingTimeInMillis: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return deadlineMs - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
    }

    init(headers: [String: String], environment env: [String: String]) throws {
        guard let id = headers["lambda-runtime-aws-request-id"], !id.isEmpty else {
            throw RuntimeClientError.protocolError("/next answered without Lambda-Runtime-Aws-Request-Id")
        }
        requestID = id
        deadlineMs = Int64(headers["lambda-runtime-deadline-ms"] ?? "") ?? 0
        invokedFunctionARN = headers["lambda-runtime-invoked-function-arn"] ?? ""
        traceID = headers["lambda-runtime-trace-id"]
        clientContext = headers["lambda-runtime-client-context"]
        cognitoIdentity = headers["lambda-runtime-cognito-identity"]
        functionName = env["AWS_LAMBDA_FUNCTION_NAME"] ?? ""
        functionVersion = env["AWS_LAMBDA_FUNCTION_VERSION"] ?? "$LATEST"
        memoryLimitInMB = Int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] ?? "") ?? 0
        logGroupName = env["AWS_LAMBDA_LOG_GROUP_NAME"] ?? ""
        logStreamName = env["AWS_LAMBDA_LOG_STREAM_NAME"] ?? ""
    }
}
