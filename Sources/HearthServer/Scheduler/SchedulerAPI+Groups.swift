import Foundation
import HearthStore

extension SchedulerAPI {
    func groupObject(_ g: ScheduleGroupRecord) -> [String: Any] {
        ["Arn": groupArn(g.name), "Name": g.name, "State": "ACTIVE",
         "CreationDate": Self.epoch(g.created), "LastModificationDate": Self.epoch(g.modified)]
    }

    static func tagList(_ value: Any?) throws -> [String: String] {
        guard let value else { return [:] }
        guard let list = value as? [[String: Any]] else { throw SchedulerError.validation("Tags must be a list of {Key, Value}.") }
        var tags: [String: String] = [:]
        for tag in list {
            guard let key = tag["Key"] as? String, (1...128).contains(key.count), let value = tag["Value"] as? String, value.count <= 256 else {
                throw SchedulerError.validation("Each tag needs a Key (1-128 characters) and a Value (up to 256).")
            }
            tags[key] = value
        }
        return tags
    }

    func createGroup(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        try Self.checkName(name, "name")
        let body = try Self.body(request)
        let group = try store.createScheduleGroup(name, tags: try Self.tagList(body["Tags"]))
        return Self.json(["ScheduleGroupArn": groupArn(group.name)], requestID: requestID)
    }

    func getGroup(_ name: String, requestID: String) throws -> HTTPResponse {
        guard let group = try store.scheduleGroup(name) else { throw SchedulerError.notFound("Schedule group \(name) does not exist.") }
        return Self.json(groupObject(group), requestID: requestID)
    }

    /// Deletes a group and its schedules. The `default` group cannot be deleted (as on AWS).
    func deleteGroup(_ name: String, requestID: String) throws -> HTTPResponse {
        guard name != "default" else { throw SchedulerError.validation("The default schedule group cannot be deleted.") }
        try store.deleteScheduleGroup(name)
        return Self.json([String: Any](), requestID: requestID)
    }

    func listGroups(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let limit = try Self.maxResults(request)
        let marker = request.query["NextToken"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        let page = try store.scheduleGroups(prefix: request.query["NamePrefix"], after: marker, limit: limit)
        var object: [String: Any] = ["ScheduleGroups": page.groups.map(groupObject)]
        if let next = page.next { object["NextToken"] = Data(next.utf8).base64EncodedString() }
        return Self.json(object, requestID: requestID)
    }

    /// TagResource, UntagResource and ListTagsForResource: tags belong to schedule groups.
    func tags(_ arn: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let prefix = "arn:aws:scheduler:\(region):\(account):schedule-group/"
        guard arn.hasPrefix(prefix) else {
            throw SchedulerError.notFound("Resource \(arn) does not exist or cannot be tagged (only schedule groups have tags).")
        }
        let name = String(arn.dropFirst(prefix.count))
        switch request.method {
        case "GET":
            guard let group = try store.scheduleGroup(name) else { throw SchedulerError.notFound("Schedule group \(name) does not exist.") }
            return Self.json(["Tags": group.tags.sorted { $0.key < $1.key }.map { ["Key": $0.key, "Value": $0.value] }], requestID: requestID)
        case "POST":
            try store.tagScheduleGroup(name, add: try Self.tagList(try Self.body(request)["Tags"]), remove: [])
            return Self.json([String: Any](), requestID: requestID)
        case "DELETE":
            let keys = Self.queryItems(request).filter { $0.0 == "TagKeys" }.map(\.1)
            try store.tagScheduleGroup(name, add: [:], remove: keys)
            return Self.json([String: Any](), requestID: requestID)
        default:
            throw SchedulerError(status: 404, type: "UnknownOperationException", message: "Unknown operation \(request.method) \(request.rawPath)")
        }
    }
}
