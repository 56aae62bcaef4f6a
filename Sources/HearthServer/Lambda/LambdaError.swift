import Foundation

/// An error as the AWS Lambda API reports it: status, `x-amzn-ErrorType`, and a body
/// `{"Type":"User","message":…}` (plus e.g. `Reason` for throttles).
public struct LambdaError: Error, Sendable, Equatable {
    public var status: Int
    public var type: String
    public var message: String
    public var reason: String?

    public init(status: Int, type: String, message: String, reason: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.reason = reason
    }

    public static func notFound(_ message: String) -> LambdaError {
        LambdaError(status: 404, type: "ResourceNotFoundException", message: message)
    }

    public static func invalidParameter(_ message: String) -> LambdaError {
        LambdaError(status: 400, type: "InvalidParameterValueException", message: message)
    }

    public static func invalidContent(_ message: String) -> LambdaError {
        LambdaError(status: 400, type: "InvalidRequestContentException", message: message)
    }

    public static func conflict(_ message: String) -> LambdaError {
        LambdaError(status: 409, type: "ResourceConflictException", message: message)
    }

    public static func tooManyRequests(reason: String) -> LambdaError {
        LambdaError(status: 429, type: "TooManyRequestsException", message: "Rate Exceeded.", reason: reason)
    }

    public static func requestTooLarge(_ message: String) -> LambdaError {
        LambdaError(status: 413, type: "RequestTooLargeException", message: message)
    }

    public static func service(_ message: String) -> LambdaError {
        LambdaError(status: 500, type: "ServiceException", message: message)
    }

    public func response(requestID: String) -> HTTPResponse {
        var object: [String: Any] = ["Type": status >= 500 ? "Service" : "User", "message": message]
        if let reason { object["Reason"] = reason }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", type),
            ("x-amzn-RequestId", requestID),
        ], body: [UInt8](body))
    }
}
