// HearthEvents: an asynchronous invocation as the ledger holds it.
import Foundation

/// The document of a `lambda.invoke` ledger item: one asynchronous invocation, from its accept
/// to its last attempt. Encoded as JSON in the item's payload.
public struct AsyncEvent: Codable, Sendable, Equatable {
    /// The request id the caller got with its 202, and the function sees on every attempt.
    public var requestID: String
    public var function: String
    /// The alias or version the caller named (nil: `$LATEST`). Weighted aliases are resolved at
    /// each attempt, as Lambda does.
    public var qualifier: String?
    /// The event, JSON text.
    public var payload: String
    public var traceID: String?
    /// Destination hops that led here (0 for an event a caller sent): recursive-loop detection.
    public var hops: Int
    /// Throttles and Hearth-side failures so far (the backoff's exponent; they do not use up
    /// retries).
    public var throttles: Int
    /// The last function attempt's outcome, for the failure record if the event expires later.
    public var lastResponse: AttemptResponse?
    /// Set on a destination's event: the function whose outcome it carries (for its metrics).
    public var destinationOf: String?
    /// The ledger item's recovery count already reported (a higher one means this attempt is a
    /// redelivery after a crash or an expired lease: a possible duplicate).
    public var recoveriesSeen: Int?

    public init(requestID: String, function: String, qualifier: String? = nil, payload: String, traceID: String? = nil,
                hops: Int = 0, throttles: Int = 0, lastResponse: AttemptResponse? = nil, destinationOf: String? = nil) {
        self.requestID = requestID
        self.function = function
        self.qualifier = qualifier
        self.payload = payload
        self.traceID = traceID
        self.hops = hops
        self.throttles = throttles
        self.lastResponse = lastResponse
        self.destinationOf = destinationOf
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func decode(_ bytes: [UInt8]) throws -> AsyncEvent {
        try JSONDecoder().decode(AsyncEvent.self, from: Data(bytes))
    }

    /// The ledger item that queues it.
    public func ledgerItem(dueAt: Int64, createdAt: Int64? = nil) -> NewLedgerItem {
        NewLedgerItem(kind: LedgerKind.lambdaInvoke, queue: function, payload: encoded(), dueAt: dueAt, createdAt: createdAt)
    }
}

/// What a function attempt returned (success or function error).
public struct AttemptResponse: Codable, Sendable, Equatable {
    /// The version that ran (`$LATEST`, `1`, …).
    public var executedVersion: String
    /// The qualified ARN of what ran.
    public var functionARN: String
    /// The response, or the error document.
    public var payload: [UInt8]
    /// `Unhandled` for a function error, nil on success.
    public var functionError: String?

    public init(executedVersion: String, functionARN: String, payload: [UInt8], functionError: String?) {
        self.executedVersion = executedVersion
        self.functionARN = functionARN
        self.payload = payload
        self.functionError = functionError
    }
}
