import Foundation
import HearthScheduler
import HearthStore

extension SchedulerAPI {
    /// The expression and zone, or Scheduler's ValidationException with the evaluator's message.
    static func parse(_ expression: String, _ zone: String?) throws -> ScheduleExpression {
        let result = Result { () throws(ScheduleError) -> ScheduleExpression in
            let parsed = try ScheduleExpression(expression)
            _ = try Schedule.zone(named: zone)
            return parsed
        }
        switch result {
        case .success(let parsed): return parsed
        case .failure(let error): throw SchedulerError.validation(error.message)
        }
    }

    /// Validates a CreateSchedule/UpdateSchedule body into the stored definition document (the
    /// GetSchedule fields other than Arn, Name, GroupName, State and the dates), its state and group.
    /// `creating`: CreateSchedule also refuses a recurring schedule's StartDate more than 5
    /// minutes in the past (an update may resend the StartDate it was created with).
    func definition(_ body: [String: Any], creating: Bool = false) throws -> (group: String, state: String, document: [String: Any]) {
        let group = body["GroupName"] as? String ?? "default"
        try Self.checkName(group, "groupName")
        var doc: [String: Any] = [:]

        guard let expression = body["ScheduleExpression"] as? String else {
            throw SchedulerError.validation("1 validation error detected: Value null at 'scheduleExpression' failed to satisfy constraint: Member must not be null")
        }
        let zoneName = body["ScheduleExpressionTimezone"] as? String
        let parsed = try Self.parse(expression, zoneName)
        doc["ScheduleExpression"] = expression
        if let zoneName { doc["ScheduleExpressionTimezone"] = zoneName }

        guard let window = body["FlexibleTimeWindow"] as? [String: Any] else {
            throw SchedulerError.validation("1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null")
        }
        switch window["Mode"] as? String {
        case "OFF": doc["FlexibleTimeWindow"] = ["Mode": "OFF"]
        case "FLEXIBLE":
            guard let minutes = window["MaximumWindowInMinutes"] as? Int, (1...1440).contains(minutes) else {
                throw SchedulerError.validation("MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE.")
            }
            doc["FlexibleTimeWindow"] = ["Mode": "FLEXIBLE", "MaximumWindowInMinutes": minutes]
        default:
            throw SchedulerError.validation("1 validation error detected: Value '\(window["Mode"] ?? "null")' at 'flexibleTimeWindow.mode' failed to satisfy constraint: Member must satisfy enum value set: [OFF, FLEXIBLE]")
        }

        let state = body["State"] as? String ?? "ENABLED"
        guard state == "ENABLED" || state == "DISABLED" else {
            throw SchedulerError.validation("1 validation error detected: Value '\(state)' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]")
        }
        let after = body["ActionAfterCompletion"] as? String ?? "NONE"
        guard after == "NONE" || after == "DELETE" else {
            throw SchedulerError.validation("1 validation error detected: Value '\(after)' at 'actionAfterCompletion' failed to satisfy constraint: Member must satisfy enum value set: [NONE, DELETE]")
        }
        doc["ActionAfterCompletion"] = after
        if let description = body["Description"] as? String {
            guard description.count <= 512 else {
                throw SchedulerError.validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512")
            }
            doc["Description"] = description
        }
        if let kms = body["KmsKeyArn"] as? String { doc["KmsKeyArn"] = kms }

        let start = (body["StartDate"] as? NSNumber)?.doubleValue
        let end = (body["EndDate"] as? NSNumber)?.doubleValue
        if let start, let end, end <= start, !parsed.isOneTime {
            throw SchedulerError.validation("The EndDate you specify must be later than the StartDate.")
        }
        if creating, let start, !parsed.isOneTime, start < Date().timeIntervalSince1970 - 300 {
            throw SchedulerError.validation("The StartDate you specify cannot be earlier than 5 minutes ago.")
        }
        if let start { doc["StartDate"] = start }
        if let end { doc["EndDate"] = end }

        doc["Target"] = try target(body["Target"])
        return (group, state, doc)
    }

    /// The Target: a Hearth Lambda function (invoked asynchronously), with RoleArn, Input
    /// (well-formed JSON), RetryPolicy and DeadLetterConfig (an SQS queue ARN: its messages go
    /// through the queue seam once Hearth has queues; until then an undeliverable occurrence is
    /// kept failed with that reason, ADR 0012), or an SQS queue (each occurrence a message).
    func target(_ value: Any?) throws -> [String: Any] {
        guard let target = value as? [String: Any] else {
            throw SchedulerError.validation("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null")
        }
        guard let arn = target["Arn"] as? String, !arn.isEmpty else {
            throw SchedulerError.validation("1 validation error detected: Value null at 'target.arn' failed to satisfy constraint: Member must not be null")
        }
        guard let role = target["RoleArn"] as? String, !role.isEmpty else {
            throw SchedulerError.validation("1 validation error detected: Value null at 'target.roleArn' failed to satisfy constraint: Member must not be null")
        }
        var out: [String: Any] = ["Arn": arn, "RoleArn": role]
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 3, parts[0] == "arn", parts[2] == "sqs" {
            // An SQS queue: each occurrence is a message (SendMessage with Input as the body).
            guard Self.isQueueArn(arn) else {
                throw SchedulerError.validation("Invalid target \(arn): not an SQS queue ARN (arn:aws:sqs:region:account:name).")
            }
        } else if parts.count >= 3, parts[0] == "arn", parts[2] == "states" {
            // A Step Functions state machine: each occurrence starts an execution with Input.
            guard parts.count == 7, parts[5] == "stateMachine", !parts[6].isEmpty else {
                throw SchedulerError.validation("Invalid target \(arn): not a state machine ARN (arn:aws:states:region:account:stateMachine:name).")
            }
        } else {
            guard parts.count == 7 || parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "function" else {
                throw SchedulerError.validation("Invalid target \(arn): Hearth supports Lambda function, SQS queue and Step Functions state machine targets only.")
            }
            guard try store.function(named: parts[6]) != nil else {
                throw SchedulerError.validation("Invalid target \(arn): the function \(parts[6]) does not exist.")
            }
        }
        if let dlq = target["DeadLetterConfig"] {
            guard let config = dlq as? [String: Any], let dlqArn = config["Arn"] as? String, Self.isQueueArn(dlqArn) else {
                throw SchedulerError.validation("1 validation error detected: Value at 'target.deadLetterConfig.arn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws(-[a-z]+)?:sqs:[a-z0-9\\-]+:\\d{12}:[a-zA-Z0-9\\-_]+")
            }
            out["DeadLetterConfig"] = ["Arn": dlqArn]
        }
        if let input = target["Input"] as? String {
            guard !input.isEmpty, (try? JSONSerialization.jsonObject(with: Data(input.utf8), options: [.fragmentsAllowed])) != nil else {
                throw SchedulerError.validation("Invalid RequestJson provided. Reason Input must be a well-formed JSON for a Lambda target.")
            }
            out["Input"] = input
        }
        var retries = 185, age = 86_400
        if let policy = target["RetryPolicy"] as? [String: Any] {
            if let n = policy["MaximumRetryAttempts"] as? Int {
                guard (0...185).contains(n) else {
                    throw SchedulerError.validation("1 validation error detected: Value '\(n)' at 'target.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value between 0 and 185")
                }
                retries = n
            }
            if let n = policy["MaximumEventAgeInSeconds"] as? Int {
                guard (60...86_400).contains(n) else {
                    throw SchedulerError.validation("1 validation error detected: Value '\(n)' at 'target.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 86400")
                }
                age = n
            }
        }
        out["RetryPolicy"] = ["MaximumRetryAttempts": retries, "MaximumEventAgeInSeconds": age]
        return out
    }

    /// `arn:aws(-[a-z]+)?:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9-_]+`, the DeadLetterConfig pattern.
    static func isQueueArn(_ arn: String) -> Bool {
        let p = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard p.count == 6, p[0] == "arn", p[1] == "aws" || p[1].hasPrefix("aws-"), p[2] == "sqs", !p[3].isEmpty,
              p[4].count == 12, p[4].allSatisfy({ $0.isASCII && $0.isNumber }), !p[5].isEmpty, p[5].count <= 80 else { return false }
        return p[3].allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            && p[5].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    func record(_ name: String, _ request: HTTPRequest, creating: Bool = false) throws -> ScheduleRecord {
        try Self.checkName(name, "name")
        let body = try Self.body(request)
        let (group, state, doc) = try definition(body, creating: creating)
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
        let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
        return ScheduleRecord(group: group, name: name, state: state, definition: [UInt8](data),
                              clientToken: body["ClientToken"] as? String, created: now, modified: now)
    }

    /// Stores the schedule and, in the same transaction, the item of its first occurrence
    /// (a `rate()` without StartDate fires at creation).
    func createSchedule(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let stored = try store.createSchedule(try record(name, request, creating: true)) { try plan($0, from: Self.wholeSecond($0.created)) }
        wakeFiring()
        return Self.json(["ScheduleArn": scheduleArn(stored.group, stored.name)], requestID: requestID)
    }

    /// Replaces the schedule and its pending occurrences with the first one from now (none
    /// while DISABLED; enabling plants it).
    func updateSchedule(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let stored = try store.updateSchedule(try record(name, request)) { try plan($0, from: Self.wholeSecond($0.modified)) }
        wakeFiring()
        return Self.json(["ScheduleArn": scheduleArn(stored.group, stored.name)], requestID: requestID)
    }

    /// `date` in ms, down to its whole second (occurrences are whole seconds).
    static func wholeSecond(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) * 1000 }

    func getSchedule(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let group = request.query["groupName"] ?? "default"
        guard let stored = try store.schedule(group: group, name: name) else {
            throw SchedulerError.notFound("Schedule \(name) does not exist.")
        }
        var object = (try JSONSerialization.jsonObject(with: Data(stored.definition)) as? [String: Any]) ?? [:]
        object["Arn"] = scheduleArn(stored.group, stored.name)
        object["Name"] = stored.name
        object["GroupName"] = stored.group
        object["State"] = stored.state
        object["CreationDate"] = Self.epoch(stored.created)
        object["LastModificationDate"] = Self.epoch(stored.modified)
        return Self.json(object, requestID: requestID)
    }

    func deleteSchedule(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        try store.deleteSchedule(group: request.query["groupName"] ?? "default", name: name)
        return Self.json([String: Any](), requestID: requestID)
    }

    func listSchedules(_ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let query = request.query
        let limit = try Self.maxResults(request)
        if let state = query["State"], state != "ENABLED", state != "DISABLED" {
            throw SchedulerError.validation("1 validation error detected: Value '\(state)' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]")
        }
        let marker = query["NextToken"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        let page = try store.schedules(group: query["ScheduleGroup"], prefix: query["NamePrefix"], state: query["State"], after: marker, limit: limit)
        var object: [String: Any] = ["Schedules": try page.schedules.map { s -> [String: Any] in
            let doc = (try JSONSerialization.jsonObject(with: Data(s.definition)) as? [String: Any]) ?? [:]
            let target = doc["Target"] as? [String: Any] ?? [:]
            return ["Arn": scheduleArn(s.group, s.name), "Name": s.name, "GroupName": s.group, "State": s.state,
                    "CreationDate": Self.epoch(s.created), "LastModificationDate": Self.epoch(s.modified),
                    "Target": ["Arn": target["Arn"] ?? ""]]
        }]
        if let next = page.next { object["NextToken"] = Data(next.utf8).base64EncodedString() }
        return Self.json(object, requestID: requestID)
    }
}
