import Foundation
import HearthStates
import HearthStore

// CreateActivity, DescribeActivity, ListActivities, DeleteActivity (ADR 0028).
extension StatesAPI {
    /// AWS's default quota of activities per account and region.
    static let activityLimit = 10_000

    func activityArn(_ name: String) -> String { "arn:aws:states:\(region):\(account):activity:\(name)" }

    /// The activity an ARN names (`arn:aws:states:REGION:ACCOUNT:activity:NAME`).
    func activity(_ arn: String) throws -> ActivityRecord {
        try Self.checkActivityArn(arn)
        guard let record = try store.activity(arn: arn) else { throw StatesAPIError.activityDoesNotExist(arn) }
        return record
    }

    static func checkActivityArn(_ arn: String) throws {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "states", parts[5] == "activity", !parts[6].isEmpty else {
            throw StatesAPIError.invalidArn(arn)
        }
    }

    static func isActivityArn(_ arn: String) -> Bool { (try? checkActivityArn(arn)) != nil }

    /// CreateActivity (name, tags): idempotent by name → `{activityArn, creationDate}`.
    func createActivity(_ body: JSON) throws -> JSON {
        let name = try Self.string(body, "name")!
        try Self.checkName(name)
        let record = ActivityRecord(arn: activityArn(name), name: name, tags: try Self.tagList(body["tags"]))
        let stored: ActivityRecord
        do { stored = try store.createActivity(record, limit: Self.activityLimit) } catch StoreError.conflict {
            throw StatesAPIError.activityLimitExceeded(name)
        }
        return .obj([("activityArn", .string(stored.arn)), ("creationDate", Self.epoch(stored.created))])
    }

    /// DescribeActivity (activityArn) → `{activityArn, name, creationDate, encryptionConfiguration}`.
    func describeActivity(_ body: JSON) throws -> JSON {
        let a = try activity(try Self.string(body, "activityArn")!)
        return .obj([("activityArn", .string(a.arn)), ("name", .string(a.name)), ("creationDate", Self.epoch(a.created)),
                     ("encryptionConfiguration", .obj([("type", .string("AWS_OWNED_KEY"))]))])
    }

    /// DeleteActivity (activityArn) → `{}`; deleting one that is not there is no error (as AWS).
    func deleteActivity(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "activityArn")!
        try Self.checkActivityArn(arn)
        try store.deleteActivity(arn: arn)
        return .object(JSONObject())
    }

    /// ListActivities (maxResults ≤ 1000, nextToken) → `{activities: [{activityArn, name, creationDate}], nextToken}`.
    func listActivities(_ body: JSON) throws -> JSON {
        let limit = try Self.maxResults(body)
        let (page, next) = try store.activities(after: try Self.untoken("act", body), limit: limit)
        var o = JSONObject([("activities", .array(page.map { a in
            .obj([("activityArn", .string(a.arn)), ("name", .string(a.name)), ("creationDate", Self.epoch(a.created))])
        }))])
        if let next { o["nextToken"] = .string(Self.token("act", next)) }
        return .object(o)
    }

    /// GetActivityTask (activityArn, workerName ≤ 80): long-polls up to 60 s (as AWS) →
    /// `{taskToken, input}`, or `{}` with no task (boto3 reads no taskToken).
    func getActivityTask(_ body: JSON) async throws -> JSON {
        let arn = try Self.string(body, "activityArn")!
        let worker = try Self.string(body, "workerName", required: false) ?? ""
        guard worker.count <= 80 else {
            throw StatesAPIError.validation("1 validation error detected: Value at 'workerName' failed to satisfy constraint: Member must have length less than or equal to 80")
        }
        _ = try activity(arn)
        guard let task = try await driver.takeActivityTask(activity: arn, worker: worker, waitMs: Self.activityPollMs) else {
            return .object(JSONObject())
        }
        return .obj([("taskToken", .string(task.token)), ("input", .string(task.input))])
    }

    /// How long GetActivityTask waits for a task (AWS: 60 s).
    static let activityPollMs: Int64 = 60_000
}
