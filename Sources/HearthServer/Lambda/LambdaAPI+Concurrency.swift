import Foundation
import HearthCore
import HearthStore

// Reserved and provisioned concurrency.
extension LambdaAPI {
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

}
