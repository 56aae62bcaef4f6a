import Foundation
import HearthStore

/// JSON shapes of the Lambda API (PascalCase, as AWS sends them).
enum LambdaShapes {
    static let timestampFormatter = utcFormatter("yyyy-MM-dd'T'HH:mm:ss.SSSZ")

    /// A POSIX-locale UTC formatter for `format` (the APIs' timestamp shapes).
    static func utcFormatter(_ format: String) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = format
        return f
    }

    static func timestamp(_ date: Date) -> String { timestampFormatter.string(from: date) }

    /// Lambda reports CodeSha256 as the base64 of the digest.
    static func codeSha256(_ hex: String) -> String {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return Data(bytes).base64EncodedString()
    }

    static func functionARN(region: String, account: String, name: String, qualifier: String? = nil) -> String {
        "arn:aws:lambda:\(region):\(account):function:\(name)" + (qualifier.map { ":" + $0 } ?? "")
    }

    static func configuration(_ c: FunctionConfiguration, version: String, region: String, account: String,
                              layerSizes: [String: Int] = [:]) -> [String: Any] {
        var object: [String: Any] = [
            "FunctionName": c.name,
            "FunctionArn": functionARN(region: region, account: account, name: c.name, qualifier: version == "$LATEST" ? nil : version),
            "Runtime": c.runtime,
            "Role": c.role,
            "CodeSize": c.codeSize,
            "Description": c.description,
            "Timeout": c.timeoutSeconds,
            "MemorySize": c.memoryMB,
            "LastModified": timestamp(c.lastModified),
            "CodeSha256": codeSha256(c.codeSHA256),
            "Version": version,
            "Environment": ["Variables": c.environment],
            "TracingConfig": ["Mode": "PassThrough"],
            "RevisionId": c.revisionID,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": c.packageType,
            "Architectures": [architecture],
            "EphemeralStorage": ["Size": c.ephemeralStorageMB],
            "Layers": c.layers.map { ["Arn": $0, "CodeSize": layerSizes[$0] ?? 0] },
        ]
        if let handler = c.handler { object["Handler"] = handler }
        if !c.deadLetterTargetARN.isEmpty { object["DeadLetterConfig"] = ["TargetArn": c.deadLetterTargetARN] }
        if c.packageType == "Image" {
            object["Runtime"] = nil
            var imageConfig: [String: Any] = [:]
            if let entryPoint = c.imageConfig.entryPoint { imageConfig["EntryPoint"] = entryPoint }
            if let command = c.imageConfig.command { imageConfig["Command"] = command }
            if let dir = c.imageConfig.workingDirectory { imageConfig["WorkingDirectory"] = dir }
            if !imageConfig.isEmpty { object["ImageConfigResponse"] = ["ImageConfig": imageConfig] }
        }
        return object
    }

    static func layerARN(region: String, account: String, name: String, version: Int? = nil) -> String {
        "arn:aws:lambda:\(region):\(account):layer:\(name)" + (version.map { ":\($0)" } ?? "")
    }

    static func layerVersion(_ l: LayerVersion, region: String, account: String) -> [String: Any] {
        [
            "Content": ["Location": "hearth://layers/\(l.codeSHA256).zip", "CodeSha256": codeSha256(l.codeSHA256), "CodeSize": l.codeSize],
            "LayerArn": layerARN(region: region, account: account, name: l.name),
            "LayerVersionArn": layerARN(region: region, account: account, name: l.name, version: l.version),
            "Description": l.description,
            "CreatedDate": timestamp(l.created),
            "Version": l.version,
            "CompatibleRuntimes": l.compatibleRuntimes,
            "CompatibleArchitectures": [architecture],
            "LicenseInfo": l.licenseInfo,
        ]
    }

    static var architecture: String {
        #if arch(arm64)
        return "arm64"
        #else
        return "x86_64"
        #endif
    }

    static func alias(_ a: FunctionAlias, region: String, account: String) -> [String: Any] {
        var object: [String: Any] = [
            "AliasArn": functionARN(region: region, account: account, name: a.function, qualifier: a.name),
            "Name": a.name,
            "FunctionVersion": a.functionVersion,
            "Description": a.description,
            "RevisionId": a.revisionID,
        ]
        if !a.additionalVersionWeights.isEmpty {
            object["RoutingConfig"] = ["AdditionalVersionWeights": a.additionalVersionWeights]
        }
        return object
    }

    /// `FunctionEventInvokeConfig`: `LastModified` in epoch seconds (rest-json's timestamp),
    /// the qualified ARN, unset numbers absent, and both destinations always echoed.
    static func eventInvokeConfig(_ c: EventInvokeConfig, arn: String) -> [String: Any] {
        var object: [String: Any] = [
            "LastModified": (c.lastModified.timeIntervalSince1970 * 1000).rounded() / 1000,
            "FunctionArn": arn,
            "DestinationConfig": [
                "OnSuccess": c.onSuccess.map { ["Destination": $0] } ?? [String: String](),
                "OnFailure": c.onFailure.map { ["Destination": $0] } ?? [String: String](),
            ],
        ]
        if let retries = c.maximumRetryAttempts { object["MaximumRetryAttempts"] = retries }
        if let age = c.maximumEventAgeInSeconds { object["MaximumEventAgeInSeconds"] = age }
        return object
    }

    static func json(_ object: Any, status: Int = 200, requestID: String) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json"), ("x-amzn-RequestId", requestID)],
                            body: [UInt8](body))
    }
}
