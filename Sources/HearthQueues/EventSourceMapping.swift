// HearthQueues: a Lambda event source mapping from a queue, as stored and validated.
import Foundation

/// An SQS event source mapping (Lambda's `EventSourceMappingConfiguration`, the members that
/// apply to queues). Times are Unix epoch milliseconds.
public struct EventSourceMapping: Sendable, Codable, Equatable {
    public var uuid: String
    /// The function's name and the qualifier it was given (a version or alias), if any.
    public var functionName: String
    public var qualifier: String?
    public var eventSourceArn: String
    public var batchSize: Int
    public var maximumBatchingWindowInSeconds: Int
    public var enabled: Bool
    /// `["ReportBatchItemFailures"]` or empty.
    public var functionResponseTypes: [String]
    /// ScalingConfig.MaximumConcurrency (2-1000), nil when not set.
    public var maximumConcurrency: Int?
    /// FilterCriteria.Filters[].Pattern, as given (nil when not set).
    public var filterPatterns: [String]?
    public var lastModified: Int64
    public var lastProcessingResult: String
    public var stateTransitionReason: String

    public init(uuid: String = UUID().uuidString.lowercased(), functionName: String, qualifier: String? = nil, eventSourceArn: String,
                batchSize: Int = 10, maximumBatchingWindowInSeconds: Int = 0, enabled: Bool = true, functionResponseTypes: [String] = [],
                maximumConcurrency: Int? = nil, filterPatterns: [String]? = nil, lastModified: Int64,
                lastProcessingResult: String = "No records processed", stateTransitionReason: String = "USER_INITIATED") {
        self.uuid = uuid
        self.functionName = functionName
        self.qualifier = qualifier
        self.eventSourceArn = eventSourceArn
        self.batchSize = batchSize
        self.maximumBatchingWindowInSeconds = maximumBatchingWindowInSeconds
        self.enabled = enabled
        self.functionResponseTypes = functionResponseTypes
        self.maximumConcurrency = maximumConcurrency
        self.filterPatterns = filterPatterns
        self.lastModified = lastModified
        self.lastProcessingResult = lastProcessingResult
        self.stateTransitionReason = stateTransitionReason
    }

    public var reportsBatchItemFailures: Bool { functionResponseTypes.contains("ReportBatchItemFailures") }

    /// The settled state (the API answers Creating/Updating/Deleting while it changes).
    public var state: String { enabled ? "Enabled" : "Disabled" }

    /// Lambda's rules for queue mappings; each message is Lambda's.
    public func validate() throws {
        func range(_ value: Int, _ r: ClosedRange<Int>, _ member: String) throws {
            if value < r.lowerBound {
                throw MappingError("1 validation error detected: Value '\(value)' at '\(member)' failed to satisfy constraint: Member must have value greater than or equal to \(r.lowerBound)")
            }
            if value > r.upperBound {
                throw MappingError("1 validation error detected: Value '\(value)' at '\(member)' failed to satisfy constraint: Member must have value less than or equal to \(r.upperBound)")
            }
        }
        try range(batchSize, 1...10_000, "batchSize")
        try range(maximumBatchingWindowInSeconds, 0...300, "maximumBatchingWindowInSeconds")
        if let maximumConcurrency { try range(maximumConcurrency, 2...1000, "scalingConfig.maximumConcurrency") }
        if eventSourceArn.hasSuffix(".fifo") {
            // FIFO queues (Lambda's limits; the messages are Hearth's, ADR 0027).
            if batchSize > 10 { throw MappingError("Invalid batch size: \(batchSize). The maximum BatchSize for FIFO queues is 10") }
            if maximumBatchingWindowInSeconds > 0 { throw MappingError("Batching window is not supported for FIFO queues") }
        }
        if batchSize > 10 && maximumBatchingWindowInSeconds < 1 {
            throw MappingError("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
        }
        for type in functionResponseTypes where type != "ReportBatchItemFailures" {
            throw MappingError("1 validation error detected: Value '[\(type)]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]")
        }
        for pattern in filterPatterns ?? [] {
            guard pattern.count <= 4096 else { throw MappingError("Filter pattern must be at most 4096 characters") }
            _ = try EventPattern(parsing: pattern)
        }
        if (filterPatterns?.count ?? 0) > 5 { throw MappingError("Too many filters: at most 5 filters are allowed per event source mapping") }
    }
}

/// A mapping request Lambda refuses (InvalidParameterValueException).
public struct MappingError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
