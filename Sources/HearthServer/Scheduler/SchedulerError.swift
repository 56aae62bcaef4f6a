import Foundation

/// An error as EventBridge Scheduler (rest-json) reports it: status, `x-amzn-ErrorType`, and a
/// body `{"Message": …}`.
struct SchedulerError: Error, Sendable {
    var status: Int
    var type: String
    var message: String

    static func validation(_ message: String) -> SchedulerError { SchedulerError(status: 400, type: "ValidationException", message: message) }
    static func notFound(_ message: String) -> SchedulerError { SchedulerError(status: 404, type: "ResourceNotFoundException", message: message) }
    static func conflict(_ message: String) -> SchedulerError { SchedulerError(status: 409, type: "ConflictException", message: message) }

    func response(requestID: String) -> HTTPResponse {
        let body = (try? JSONSerialization.data(withJSONObject: ["Message": message], options: [.sortedKeys])) ?? Data()
        return HTTPResponse(status: status, headers: [
            ("Content-Type", "application/json"), ("x-amzn-ErrorType", type), ("x-amzn-RequestId", requestID),
        ], body: [UInt8](body))
    }
}
