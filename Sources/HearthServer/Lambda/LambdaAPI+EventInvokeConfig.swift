import Foundation
import HearthCore
import HearthStore

// Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s): a function's, version's or alias's
// asynchronous-invocation settings (`/2019-09-25/functions/{name}/event-invoke-config`).
extension LambdaAPI {
    /// The function and qualifier (`$LATEST` when none) a config request names; 404 if either is missing.
    func eventInvokeTarget(_ raw: String, _ request: HTTPRequest) throws -> (function: String, qualifier: String) {
        let ref = try parseRef(raw, qualifier: request.query["Qualifier"])
        _ = try resolve(ref)
        return (ref.name, ref.qualifier ?? "$LATEST")
    }

    func putEventInvokeConfig(_ raw: String, _ request: HTTPRequest, merge: Bool, requestID: String) throws -> HTTPResponse {
        let (function, qualifier) = try eventInvokeTarget(raw, request)
        let body = try jsonBody(request)
        var config = EventInvokeConfig(function: function, qualifier: qualifier)
        if merge {
            guard let existing = try store.eventInvokeConfig(function: function, qualifier: qualifier) else {
                throw LambdaError.notFound("The function \(arn(function, qualifier)) doesn't have an EventInvokeConfig")
            }
            config = existing
        }
        if let retries = try Self.int(body, "MaximumRetryAttempts") {
            try Self.checkRange(retries, 0...2, member: "maximumRetryAttempts")
            config.maximumRetryAttempts = retries
        } else if !merge {
            config.maximumRetryAttempts = nil
        }
        if let age = try Self.int(body, "MaximumEventAgeInSeconds") {
            try Self.checkRange(age, 60...21_600, member: "maximumEventAgeInSeconds")
            config.maximumEventAgeInSeconds = age
        } else if !merge {
            config.maximumEventAgeInSeconds = nil
        }
        let destinations = body["DestinationConfig"] as? [String: Any]
        if body["DestinationConfig"] != nil && destinations == nil {
            throw LambdaError.invalidParameter("DestinationConfig must be an object")
        }
        for (key, member, path) in [("OnSuccess", \EventInvokeConfig.onSuccess, "onSuccess"), ("OnFailure", \EventInvokeConfig.onFailure, "onFailure")] {
            if let target = destinations?[key] {
                guard let target = target as? [String: Any] else { throw LambdaError.invalidParameter("DestinationConfig.\(key) must be an object") }
                config[keyPath: member] = try Self.destination(target["Destination"], member: "destinationConfig.\(path).destination")
            } else if !merge {
                config[keyPath: member] = nil
            }
        }
        let stored = try store.putEventInvokeConfig(config)
        return LambdaShapes.json(LambdaShapes.eventInvokeConfig(stored, arn: arn(function, qualifier)), requestID: requestID)
    }

    func getEventInvokeConfig(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let (function, qualifier) = try eventInvokeTarget(raw, request)
        guard let config = try store.eventInvokeConfig(function: function, qualifier: qualifier) else {
            throw LambdaError.notFound("The function \(arn(function, qualifier)) doesn't have an EventInvokeConfig")
        }
        return LambdaShapes.json(LambdaShapes.eventInvokeConfig(config, arn: arn(function, qualifier)), requestID: requestID)
    }

    func deleteEventInvokeConfig(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let (function, qualifier) = try eventInvokeTarget(raw, request)
        do {
            try store.deleteEventInvokeConfig(function: function, qualifier: qualifier)
        } catch StoreError.notFound {
            throw LambdaError.notFound("The function \(arn(function, qualifier)) doesn't have an EventInvokeConfig")
        }
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)])
    }

    func listEventInvokeConfigs(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let query = request.query
        var limit = 50
        if let text = query["MaxItems"] {
            guard let n = Int(text) else { throw LambdaError.invalidParameter("MaxItems must be an integer") }
            try Self.checkRange(n, 1...50, member: "maxItems")
            limit = n
        }
        let marker = query["Marker"].flatMap { $0.isEmpty ? nil : $0 }
        let (configs, next) = try store.eventInvokeConfigs(function: ref.name, after: marker, limit: limit)
        var object: [String: Any] = [
            "FunctionEventInvokeConfigs": configs.map { LambdaShapes.eventInvokeConfig($0, arn: arn($0.function, $0.qualifier)) },
        ]
        if let next { object["NextMarker"] = next }
        return LambdaShapes.json(object, requestID: requestID)
    }

    static func checkRange(_ value: Int, _ range: ClosedRange<Int>, member: String) throws {
        if value < range.lowerBound {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(value)' at '\(member)' failed to satisfy constraint: Member must have value greater than or equal to \(range.lowerBound)")
        }
        if value > range.upperBound {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(value)' at '\(member)' failed to satisfy constraint: Member must have value less than or equal to \(range.upperBound)")
        }
    }

    /// A destination ARN as given: "" clears it; Lambda function and SQS queue ARNs are
    /// delivered to. Topic, bus and bucket ARNs are valid on AWS but have no service on Hearth yet.
    static func destination(_ value: Any?, member: String) throws -> String? {
        guard let value else { return nil }
        guard let arn = value as? String else { throw LambdaError.invalidParameter("\(member) must be a string") }
        if arn.isEmpty { return nil }
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let pattern = #"^$|kafka://([^.]([a-zA-Z0-9\-_.]{0,61}))?[^.]:[0-9]{1,5}|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)"#
        guard arn.count <= 350, parts.count >= 6, parts[0] == "arn", parts[1].hasPrefix("aws"), !parts[2].isEmpty else {
            throw LambdaError.invalidParameter("1 validation error detected: Value '\(arn)' at '\(member)' failed to satisfy constraint: Member must satisfy regular expression pattern: \(pattern)")
        }
        switch parts[2] {
        case "lambda":
            guard parts.count == 7 || parts.count == 8, parts[5] == "function", FunctionConfig.isValidName(parts[6]) else {
                throw LambdaError.invalidParameter("The destination ARN \(arn) is not a valid Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])")
            }
            return arn
        case "sqs":
            guard parts.count == 6, !parts[5].isEmpty else {
                throw LambdaError.invalidParameter("The destination ARN \(arn) is not a valid SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
            }
            return arn
        case "sns", "events", "s3":
            throw LambdaError.invalidParameter("The destination ARN \(arn) names an \(parts[2].uppercased()) resource: Hearth delivers destinations to Lambda functions only until its \(parts[2]) service exists")
        default:
            throw LambdaError.invalidParameter("The destination ARN \(arn) is not supported: destinations are Lambda functions, SQS queues, SNS topics, EventBridge buses or S3 buckets")
        }
    }
}
