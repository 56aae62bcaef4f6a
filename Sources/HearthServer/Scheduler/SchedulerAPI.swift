import Foundation
import HearthScheduler
import HearthStore
import Synchronization

/// EventBridge Scheduler's API (rest-json, signing name `scheduler`) over the store: schedules,
/// schedule groups and group tags, with Scheduler's shapes, validation and errors. Reached
/// through `ServiceRouter` on the shared listener; authentication is done by the caller.
/// Thread-safe; holds no HTTP framing.
final class SchedulerAPI: Sendable {
    let store: Store
    let region: String
    let account: String
    /// Set once the daemon starts firing (`startFiring`); nil: schedules are stored, not fired.
    let firingState = Mutex<ScheduleFiringService?>(nil)
    var firingService: ScheduleFiringService? { firingState.withLock { $0 } }

    init(store: Store, region: String, account: String) {
        self.store = store
        self.region = region
        self.account = account
    }

    func scheduleArn(_ group: String, _ name: String) -> String { "arn:aws:scheduler:\(region):\(account):schedule/\(group)/\(name)" }
    func groupArn(_ group: String) -> String { "arn:aws:scheduler:\(region):\(account):schedule-group/\(group)" }

    func handle(_ request: HTTPRequest, requestID: String) async -> HTTPResponse {
        let segments = request.rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .map { String($0).removingPercentEncoding ?? String($0) }
        do {
            let m = request.method
            switch (m, segments.count, segments.first) {
            case ("GET", 1, "schedules"): return try listSchedules(request, requestID: requestID)
            case ("POST", 2, "schedules"): return try createSchedule(segments[1], request, requestID: requestID)
            case ("PUT", 2, "schedules"): return try updateSchedule(segments[1], request, requestID: requestID)
            case ("GET", 2, "schedules"): return try getSchedule(segments[1], request, requestID: requestID)
            case ("DELETE", 2, "schedules"): return try deleteSchedule(segments[1], request, requestID: requestID)
            case ("GET", 1, "schedule-groups"): return try listGroups(request, requestID: requestID)
            case ("POST", 2, "schedule-groups"): return try createGroup(segments[1], request, requestID: requestID)
            case ("GET", 2, "schedule-groups"): return try getGroup(segments[1], requestID: requestID)
            case ("DELETE", 2, "schedule-groups"): return try deleteGroup(segments[1], requestID: requestID)
            case (_, 2, "tags"): return try tags(segments[1], request, requestID: requestID)
            default:
                throw SchedulerError(status: 404, type: "UnknownOperationException", message: "Unknown operation \(m) \(request.rawPath)")
            }
        } catch let error as SchedulerError {
            return error.response(requestID: requestID)
        } catch let error as StoreError {
            switch error {
            case .notFound(let what): return SchedulerError.notFound(what).response(requestID: requestID)
            case .conflict(let what): return SchedulerError.conflict(what).response(requestID: requestID)
            case .invalid(let what), .preconditionFailed(let what): return SchedulerError.validation(what).response(requestID: requestID)
            }
        } catch {
            return SchedulerError(status: 500, type: "InternalServerException", message: "\(error)").response(requestID: requestID)
        }
    }

    // MARK: helpers

    static func body(_ request: HTTPRequest) throws -> [String: Any] {
        if request.body.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] else {
            throw SchedulerError(status: 400, type: "SerializationException", message: "Could not parse request body into json")
        }
        return object
    }

    static func json(_ object: Any, requestID: String) -> HTTPResponse {
        LambdaShapes.json(object, requestID: requestID)
    }

    /// `Name`/`GroupName`: 1-64 of `[0-9a-zA-Z-_.]`.
    static func checkName(_ value: String, _ field: String) throws {
        let ok = (1...64).contains(value.count) && value.unicodeScalars.allSatisfy {
            ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
        guard ok else {
            throw SchedulerError.validation("1 validation error detected: Value '\(value)' at '\(field)' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$")
        }
    }

    /// The query parameters of `request`, repeated keys kept.
    static func queryItems(_ request: HTTPRequest) -> [(String, String)] {
        request.rawQuery.split(separator: "&").compactMap { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            return parts.isEmpty ? nil : (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    static func epoch(_ date: Date) -> Double { (date.timeIntervalSince1970 * 1000).rounded() / 1000 }

    static func maxResults(_ request: HTTPRequest) throws -> Int {
        guard let text = request.query["MaxResults"] else { return 100 }
        guard let n = Int(text), (1...100).contains(n) else {
            throw SchedulerError.validation("1 validation error detected: Value '\(text)' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100")
        }
        return n
    }
}
