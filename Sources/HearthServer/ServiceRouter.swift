import Foundation

/// Tells apart the AWS services sharing one listener, so one `--endpoint-url` serves them all.
///
/// A request names its service in the SigV4 credential scope
/// (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`, in the Authorization header or the
/// presigned query) and, for the JSON 1.0/1.1 protocols, in `X-Amz-Target` (`AmazonSQS.SendMessage`,
/// `AWSStepFunctions.StartExecution`). Requests that say neither (unsigned, with `--auth none`)
/// are Lambda's, as are Hearth's own endpoints. Pure: no I/O.
public enum ServiceRouter {
    /// The services Hearth knows by their SigV4 signing names.
    public enum Service: Equatable, Sendable {
        case lambda
        /// EventBridge Scheduler (rest-json; told apart only by the signing name `scheduler`).
        case scheduler
        /// Step Functions (JSON 1.0; signing name `states`, `X-Amz-Target: AWSStepFunctions.*`).
        case states
        /// API Gateway v2 (HTTP APIs; rest-json, signing name `apigateway`).
        case apigateway
        /// Amazon SQS (AWS JSON 1.0, `X-Amz-Target: AmazonSQS.*`; signing name `sqs`).
        case sqs
        /// Signed for (or targeted at) a service Hearth does not have.
        case unknown(String)
    }

    /// `X-Amz-Target` prefixes of the JSON-protocol services, and their signing names.
    static let targetPrefixes: [(String, String)] = [
        ("AmazonSQS", "sqs"), ("AWSStepFunctions", "states"), ("AWSEvents", "events"), ("AmazonEventBridge", "events"),
        ("DynamoDB_", "dynamodb"), ("Kinesis_", "kinesis"), ("AWSLambda", "lambda"),
    ]

    public static func service(of request: HTTPRequest) -> Service {
        let name = signingName(of: request) ?? targetService(of: request) ?? "lambda"
        switch name {
        case "lambda": return .lambda
        case "scheduler": return .scheduler
        case "states": return .states
        case "apigateway": return .apigateway
        case "sqs": return .sqs
        default: return .unknown(name)
        }
    }

    /// The service in the credential scope, if the request is signed.
    static func signingName(of request: HTTPRequest) -> String? {
        var credential: Substring?
        if let authorization = request.header("Authorization"), let range = authorization.range(of: "Credential=") {
            credential = authorization[range.upperBound...].prefix { $0 != "," && $0 != " " }
        } else if let item = request.rawQuery.split(separator: "&").first(where: { $0.hasPrefix("X-Amz-Credential=") }) {
            let value = item.dropFirst("X-Amz-Credential=".count)
            credential = Substring(String(value).removingPercentEncoding ?? String(value))
        }
        guard let credential else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard scope.count == 5 else { return nil }
        return String(scope[3])
    }

    static func targetService(of request: HTTPRequest) -> String? {
        guard let target = request.header("X-Amz-Target") else { return nil }
        let prefix = target.prefix { $0 != "." }
        for (known, service) in targetPrefixes where prefix.hasPrefix(known) { return service }
        return String(prefix).lowercased()
    }

    /// AWS's answer for an operation of a service that is not here: `UnknownOperationException`,
    /// with both the rest-json header and the JSON protocols' `__type`, so every client parses it.
    public static func unknownService(_ name: String, request: HTTPRequest, requestID: String) -> HTTPResponse {
        let operation = request.header("X-Amz-Target") ?? "\(request.method) \(request.rawPath)"
        let object: [String: Any] = [
            "__type": "com.amazon.coral.service#UnknownOperationException",
            "message": "Hearth does not provide the \(name) service (operation \(operation))",
        ]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: 400, headers: [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", "UnknownOperationException"),
            ("x-amzn-RequestId", requestID),
        ], body: [UInt8](body))
    }
}
