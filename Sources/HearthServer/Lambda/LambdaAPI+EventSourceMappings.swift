import Foundation
import HearthCore
import HearthQueues
import HearthStore

// Create/Get/Update/Delete/ListEventSourceMappings (`/2015-03-31/event-source-mappings`) for
// SQS queues.
extension LambdaAPI {
    func eventSourceMappingsRoute(_ request: HTTPRequest, rest: [String], requestID: String) async throws -> HTTPResponse? {
        let collection = rest.isEmpty || (rest.count == 1 && rest[0].isEmpty)
        switch request.method {
        case "POST" where collection: return try await createEventSourceMapping(request, requestID: requestID)
        case "GET" where collection: return try listEventSourceMappings(request, requestID: requestID)
        case "GET" where rest.count == 1: return try getEventSourceMapping(rest[0], requestID: requestID)
        case "PUT" where rest.count == 1: return try await updateEventSourceMapping(rest[0], request, requestID: requestID)
        case "DELETE" where rest.count == 1: return try await deleteEventSourceMapping(rest[0], requestID: requestID)
        default: return nil
        }
    }

    func requireMappings() throws -> EventSourceMappings {
        guard let mappings else { throw LambdaError.service("event source mappings are not running") }
        return mappings
    }

    func mappingShape(_ m: EventSourceMapping, state: String? = nil) -> [String: Any] {
        var object: [String: Any] = [
            "UUID": m.uuid,
            "BatchSize": m.batchSize,
            "MaximumBatchingWindowInSeconds": m.maximumBatchingWindowInSeconds,
            "EventSourceArn": m.eventSourceArn,
            "FunctionArn": arn(m.functionName, m.qualifier),
            "LastModified": Double(m.lastModified) / 1000,
            "State": state ?? m.state,
            "StateTransitionReason": m.stateTransitionReason,
            "FunctionResponseTypes": m.functionResponseTypes,
            "EventSourceMappingArn": "arn:aws:lambda:\(region):\(account):event-source-mapping:\(m.uuid)",
            "LastProcessingResult": mappings?.invoker.lastResult(m.uuid) ?? m.lastProcessingResult,
        ]
        if let max = m.maximumConcurrency { object["ScalingConfig"] = ["MaximumConcurrency": max] }
        if let patterns = m.filterPatterns { object["FilterCriteria"] = ["Filters": patterns.map { ["Pattern": $0] }] }
        return object
    }

    /// Applies the request's members to `mapping` (only those present on an update).
    func applyMapping(_ body: [String: Any], to mapping: inout EventSourceMapping, creating: Bool) throws {
        if let size = try Self.int(body, "BatchSize") { mapping.batchSize = size }
        if let window = try Self.int(body, "MaximumBatchingWindowInSeconds") { mapping.maximumBatchingWindowInSeconds = window }
        if let enabled = body["Enabled"] {
            guard let enabled = enabled as? Bool else { throw LambdaError.invalidParameter("Enabled must be a boolean") }
            mapping.enabled = enabled
        }
        if let types = body["FunctionResponseTypes"] {
            guard let types = types as? [String] else { throw LambdaError.invalidParameter("FunctionResponseTypes must be a list of strings") }
            mapping.functionResponseTypes = types
        }
        if let scaling = body["ScalingConfig"] {
            guard let scaling = scaling as? [String: Any] else { throw LambdaError.invalidParameter("ScalingConfig must be an object") }
            mapping.maximumConcurrency = try Self.int(scaling, "MaximumConcurrency")
        }
        if let filter = body["FilterCriteria"] {
            guard let filter = filter as? [String: Any] else { throw LambdaError.invalidParameter("FilterCriteria must be an object") }
            let filters = filter["Filters"] as? [[String: Any]] ?? []
            let patterns = filters.compactMap { $0["Pattern"] as? String }
            mapping.filterPatterns = patterns.isEmpty ? nil : patterns
        }
        for key in ["StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "BisectBatchOnFunctionError",
                    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds", "DestinationConfig"] where body[key] != nil {
            throw LambdaError.invalidParameter("Unsupported MaximumRetryAttempts, MaximumRecordAgeInSeconds, BisectBatchOnFunctionError, ParallelizationFactor, DestinationConfig, TumblingWindowInSeconds, StartingPosition or StartingPositionTimestamp for SQS event source (\(key) given).")
        }
        do { try mapping.validate() } catch let error as MappingError { throw LambdaError.invalidParameter(error.message) }
    }

    /// The function a mapping request names (name, ARN or partial ARN, with a qualifier).
    func mappingFunction(_ raw: Any?) throws -> FunctionRef {
        guard let raw = raw as? String, !raw.isEmpty else { throw LambdaError.invalidParameter("FunctionName is required") }
        let ref = try parseRef(raw, qualifier: nil)
        _ = try resolve(ref)
        return ref
    }

    func createEventSourceMapping(_ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let manager = try requireMappings()
        let body = try jsonBody(request)
        guard let source = body["EventSourceArn"] as? String, !source.isEmpty else {
            throw LambdaError.invalidParameter("Unrecognized event source, must be kinesis, dynamodb stream, sqs, msk, mq or documentdb.")
        }
        let parts = source.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sqs" else {
            throw LambdaError.invalidParameter("Unrecognized event source, must be kinesis, dynamodb stream, sqs, msk, mq or documentdb. Hearth supports SQS queues.")
        }
        guard manager.queues.queue(arn: source) != nil else {
            throw LambdaError.invalidParameter("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist.")
        }
        let ref = try mappingFunction(body["FunctionName"])
        var mapping = EventSourceMapping(functionName: ref.name, qualifier: ref.qualifier, eventSourceArn: source,
                                         lastModified: Int64(Date().timeIntervalSince1970 * 1000))
        try applyMapping(body, to: &mapping, creating: true)
        let existing = try store.eventSourceMappings()
        if let same = existing.first(where: { $0.eventSourceArn == source && $0.functionName == ref.name && $0.qualifier == ref.qualifier }) {
            throw LambdaError.conflict("An event source mapping with SQS arn (\" \(source) \") and function (\" \(ref.name) \") already exists. Please update or delete the existing mapping with UUID \(same.uuid)")
        }
        try store.saveEventSourceMapping(mapping)
        await manager.apply(mapping)
        return LambdaShapes.json(mappingShape(mapping, state: "Creating"), status: 202, requestID: requestID)
    }

    func storedMapping(_ uuid: String) throws -> EventSourceMapping {
        guard let mapping = try store.eventSourceMapping(uuid) else {
            throw LambdaError.notFound("The resource you requested does not exist.")
        }
        return mapping
    }

    func getEventSourceMapping(_ uuid: String, requestID: String) throws -> HTTPResponse {
        LambdaShapes.json(mappingShape(try storedMapping(uuid)), requestID: requestID)
    }

    func updateEventSourceMapping(_ uuid: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let manager = try requireMappings()
        var mapping = try storedMapping(uuid)
        let body = try jsonBody(request)
        if let function = body["FunctionName"] {
            let ref = try mappingFunction(function)
            mapping.functionName = ref.name
            mapping.qualifier = ref.qualifier
        }
        try applyMapping(body, to: &mapping, creating: false)
        mapping.lastModified = Int64(Date().timeIntervalSince1970 * 1000)
        try store.saveEventSourceMapping(mapping)
        await manager.apply(mapping)
        return LambdaShapes.json(mappingShape(mapping, state: "Updating"), status: 202, requestID: requestID)
    }

    func deleteEventSourceMapping(_ uuid: String, requestID: String) async throws -> HTTPResponse {
        let manager = try requireMappings()
        let mapping = try storedMapping(uuid)
        await manager.stopPoller(uuid)
        try store.deleteEventSourceMapping(uuid)
        return LambdaShapes.json(mappingShape(mapping, state: "Deleting"), status: 202, requestID: requestID)
    }

    func listEventSourceMappings(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let query = request.query
        var all = try store.eventSourceMappings()
        if let source = query["EventSourceArn"], !source.isEmpty { all = all.filter { $0.eventSourceArn == source } }
        if let function = query["FunctionName"], !function.isEmpty {
            let ref = try parseRef(function, qualifier: nil)
            all = all.filter { $0.functionName == ref.name && (ref.qualifier == nil || $0.qualifier == ref.qualifier) }
        }
        var limit = 100
        if let text = query["MaxItems"] {
            guard let n = Int(text) else { throw LambdaError.invalidParameter("MaxItems must be an integer") }
            try Self.checkRange(n, 1...10_000, member: "maxItems")
            limit = n
        }
        if let marker = query["Marker"], !marker.isEmpty { all = all.filter { $0.uuid > marker } }
        let page = Array(all.prefix(limit))
        var object: [String: Any] = ["EventSourceMappings": page.map { mappingShape($0) }]
        if all.count > limit, let last = page.last { object["NextMarker"] = last.uuid }
        return LambdaShapes.json(object, requestID: requestID)
    }
}
