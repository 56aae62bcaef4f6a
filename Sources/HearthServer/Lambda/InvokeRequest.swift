import Foundation
import HearthCore

/// A function reference as Lambda accepts it: `name`, `name:qualifier`, or an ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:name[:qualifier]`), with an optional `Qualifier`
/// query parameter that must agree.
package struct FunctionRef: Equatable, Sendable {
    package var name: String
    package var qualifier: String?

    package init(name: String, qualifier: String?) {
        self.name = name
        self.qualifier = qualifier
    }

    package init(parsing raw: String, qualifier query: String?) throws(LambdaError) {
        var name = raw
        var qualifier: String?
        if raw.hasPrefix("arn:") {
            let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 7, parts[2] == "lambda", parts[5] == "function" else {
                throw LambdaError.invalidParameter("Invalid function ARN: \(raw)")
            }
            name = parts[6]
            qualifier = parts.count > 7 ? parts[7] : nil
        } else if let colon = raw.firstIndex(of: ":") {
            name = String(raw[..<colon])
            qualifier = String(raw[raw.index(after: colon)...])
        }
        if let query, !query.isEmpty {
            if let qualifier, qualifier != query {
                throw LambdaError.invalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
            }
            qualifier = query
        }
        guard FunctionConfig.isValidName(name) else {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(name)' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}")
        }
        self.init(name: name, qualifier: qualifier?.isEmpty == true ? nil : qualifier)
    }
}

/// An Invoke request (`POST /2015-03-31/functions/{name}/invocations`) parsed and validated from
/// its path segment, query, headers and body, before anything is looked up. Pure: the fuzz
/// target `FuzzInvokeAPI` drives it with arbitrary requests.
package struct InvokeRequest: Equatable, Sendable {
    package var function: FunctionRef
    /// `X-Amz-Invocation-Type: DryRun`: check the function and permissions only.
    package var dryRun: Bool
    /// `X-Amz-Invocation-Type: Event`: queue it (durably) and answer 202.
    package var asynchronous = false
    /// `X-Amzn-Trace-Id` as sent.
    package var traceID: String?
    /// `X-Amz-Client-Context`, base64-decoded.
    package var clientContext: String?
    /// `X-Amz-Log-Type: Tail`: return the last 4 KB of the log.
    package var tailLog: Bool

    package init(path raw: String, request: HTTPRequest) throws(LambdaError) {
        function = try FunctionRef(parsing: raw, qualifier: request.query["Qualifier"])
        let invocationType = request.header("X-Amz-Invocation-Type") ?? "RequestResponse"
        switch invocationType {
        case "RequestResponse": dryRun = false
        case "DryRun": dryRun = true
        case "Event":
            dryRun = false
            asynchronous = true
        default:
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(invocationType)' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
        }
        if let encoded = request.header("X-Amz-Client-Context") {
            guard let data = Data(base64Encoded: encoded) else {
                throw LambdaError.invalidParameter("Client context must be a valid Base64-encoded JSON object.")
            }
            clientContext = String(decoding: data, as: UTF8.self)
        }
        tailLog = request.header("X-Amz-Log-Type") == "Tail"
        traceID = request.header("X-Amzn-Trace-Id")
        try Self.checkSize(request.body.count, asynchronous: asynchronous)
    }

    /// Whether `request` is a synchronous Invoke (`RequestResponse`, the default, or `DryRun`)
    /// to the Lambda API, told from its method, path, headers and Host alone (before routing).
    package static func isSynchronousInvoke(_ request: HTTPRequest) -> Bool {
        guard request.method == "POST", request.rawPath.hasPrefix("/2015-03-31/functions/"), request.rawPath.hasSuffix("/invocations")
        else { return false }
        let type = request.header("X-Amz-Invocation-Type")
        return type != "Event" && TriggerHost.parse(request.header("Host")) == nil
    }

    /// Lambda's payload limits: 6 MB synchronous, 1 MB asynchronous.
    package static func checkSize(_ count: Int, asynchronous: Bool) throws(LambdaError) {
        if asynchronous {
            if count > LambdaAPI.maxAsyncInvokePayload {
                throw LambdaError(status: 413, type: "RequestEntityTooLargeException",
                                  message: "Request must be smaller than \(LambdaAPI.maxAsyncInvokePayload) bytes for the InvokeFunction operation")
            }
        } else if count > LambdaAPI.maxInvokePayload {
            throw LambdaError.requestTooLarge("Request must be smaller than \(LambdaAPI.maxInvokePayload) bytes for the InvokeFunction operation")
        }
    }

    /// How many destination or invoke hops led to this request: the count in the trace header's
    /// `Lineage=…:N` field (Lambda's recursive-loop detection carries it there), else 0.
    package var hops: Int {
        guard let traceID else { return 0 }
        for field in traceID.split(separator: ";") {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "Lineage",
                  let count = parts[1].split(separator: ":").last.flatMap({ Int($0) }) else { continue }
            return max(0, count)
        }
        return 0
    }

    /// The payload to hand the function: `{}` when empty, otherwise it must be JSON (any value).
    package static func validatedPayload(_ body: [UInt8]) throws(LambdaError) -> [UInt8] {
        if body.isEmpty { return Array("{}".utf8) }
        if (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) == nil {
            throw LambdaError.invalidContent("Could not parse request body into json: Could not parse payload into json")
        }
        return body
    }
}
