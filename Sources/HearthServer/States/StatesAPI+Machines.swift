import Foundation
import HearthStates
import HearthStore

// CreateStateMachine, Describe, Update, Delete, List, ValidateStateMachineDefinition and tags.
extension StatesAPI {
    /// Parses and validates a definition as CreateStateMachine does.
    static func parseDefinition(_ text: String, type: String = "STANDARD") throws -> StateMachine {
        let machine: StateMachine
        do { machine = try StateMachine.parse(text) } catch { throw StatesAPIError.invalidDefinition(error) }
        // Express workflows have no callback pattern (AWS's recorded message, trailing space included).
        if type == "EXPRESS", !machine.callbackStates.isEmpty {
            let diagnostics = machine.callbackStates.map {
                Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "Express state machine does not support '.waitForTaskToken' service integration ",
                           location: "/States/\($0)/Resource")
            }
            throw StatesAPIError.invalidDefinition(InvalidDefinition(diagnostics: diagnostics))
        }
        // Nor do they run activities (*unverified* wording, after the callback message).
        if type == "EXPRESS", !machine.activityStates.isEmpty {
            let diagnostics = machine.activityStates.map {
                Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "Express state machine does not support Activity ARN", location: "/States/\($0)/Resource")
            }
            throw StatesAPIError.invalidDefinition(InvalidDefinition(diagnostics: diagnostics))
        }
        // Nor do they wait for a child execution (*unverified* wording, after the callback message).
        if type == "EXPRESS", !machine.syncStates.isEmpty {
            let diagnostics = machine.syncStates.map {
                Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "Express state machine does not support '.sync' service integration ",
                           location: "/States/\($0)/Resource")
            }
            throw StatesAPIError.invalidDefinition(InvalidDefinition(diagnostics: diagnostics))
        }
        // Nor a distributed Map, whose children the parent waits for (*unverified* wording).
        if type == "EXPRESS", !machine.distributedMapStates.isEmpty {
            let diagnostics = machine.distributedMapStates.map {
                Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "Express state machine does not support a DISTRIBUTED Map state",
                           location: "/States/\($0)/ItemProcessor/ProcessorConfig/Mode")
            }
            throw StatesAPIError.invalidDefinition(InvalidDefinition(diagnostics: diagnostics))
        }
        return machine
    }

    static func checkRole(_ arn: String) throws {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "iam", parts[5].hasPrefix("role/") else { throw StatesAPIError.invalidArn(arn) }
    }

    static func tagList(_ value: JSON?) throws -> [String: String] {
        guard let value, value != .null else { return [:] }
        guard case .array(let list) = value else { throw StatesAPIError.validation("tags must be a list") }
        var tags: [String: String] = [:]
        for item in list {
            guard let k = item["key"]?.stringValue else { throw StatesAPIError.validation("a tag needs a key") }
            tags[k] = item["value"]?.stringValue ?? ""
        }
        return tags
    }

    static func settings(_ body: JSON) -> String {
        var o = JSONObject()
        o["loggingConfiguration"] = body["loggingConfiguration"] ?? .obj([("level", .string("OFF")), ("includeExecutionData", .bool(false))])
        o["tracingConfiguration"] = body["tracingConfiguration"] ?? .obj([("enabled", .bool(false))])
        return JSON.object(o).text
    }

    func createStateMachine(_ body: JSON) throws -> JSON {
        let name = try Self.string(body, "name")!
        let definition = try Self.string(body, "definition")!
        let role = try Self.string(body, "roleArn")!
        let type = try Self.string(body, "type", required: false) ?? "STANDARD"
        try Self.checkName(name)
        guard type == "STANDARD" || type == "EXPRESS" else {
            throw StatesAPIError.validation("1 validation error detected: Value '\(type)' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]")
        }
        try Self.checkRole(role)
        _ = try Self.parseDefinition(definition, type: type)
        let arn = machineArn(name)
        let record = StateMachineRecord(arn: arn, name: name, type: type, definition: definition, roleArn: role,
                                        settings: Self.settings(body), tags: try Self.tagList(body["tags"]))
        do {
            try store.createStateMachine(record)
        } catch StoreError.conflict {
            // Same name, definition, role and type: idempotent, as AWS.
            if let existing = try store.stateMachine(arn: arn), existing.definition == definition, existing.roleArn == role, existing.type == type {
                return .obj([("stateMachineArn", .string(arn)), ("creationDate", Self.epoch(existing.created))])
            }
            throw StatesAPIError(type: "StateMachineAlreadyExists", message: "State Machine Already Exists: '\(arn)'")
        }
        return .obj([("stateMachineArn", .string(arn)), ("creationDate", Self.epoch(record.created))])
    }

    func describe(_ m: StateMachineRecord, definition: String? = nil, updated: Bool = false) -> JSON {
        let settings = (try? JSON.parse(m.settings)) ?? .object(JSONObject())
        var o = JSONObject([
            ("stateMachineArn", .string(m.arn)), ("name", .string(m.name)), ("status", .string("ACTIVE")),
            ("definition", .string(definition ?? m.definition)), ("roleArn", .string(m.roleArn)), ("type", .string(m.type)),
            ("creationDate", Self.epoch(m.created)), ("revisionId", .string(m.revisionID)),
        ])
        o["loggingConfiguration"] = settings["loggingConfiguration"]
        o["tracingConfiguration"] = settings["tracingConfiguration"]
        if updated { o["updateDate"] = Self.epoch(m.updated) }
        return .object(o)
    }

    func describeStateMachine(_ body: JSON) throws -> JSON {
        describe(try machine(try Self.string(body, "stateMachineArn")!))
    }

    func updateStateMachine(_ body: JSON) throws -> JSON {
        var m = try machine(try Self.string(body, "stateMachineArn")!)
        let definition = try Self.string(body, "definition", required: false)
        let role = try Self.string(body, "roleArn", required: false)
        guard definition != nil || role != nil || body["loggingConfiguration"] != nil || body["tracingConfiguration"] != nil else {
            throw StatesAPIError(type: "MissingRequiredParameter", message: "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
        }
        if let definition {
            _ = try Self.parseDefinition(definition, type: m.type)
            m.definition = definition
        }
        if let role {
            try Self.checkRole(role)
            m.roleArn = role
        }
        if body["loggingConfiguration"] != nil || body["tracingConfiguration"] != nil {
            var merged = (try? JSON.parse(m.settings))?.objectValue ?? JSONObject()
            if let l = body["loggingConfiguration"] { merged["loggingConfiguration"] = l }
            if let t = body["tracingConfiguration"] { merged["tracingConfiguration"] = t }
            m.settings = JSON.object(merged).text
        }
        m.revisionID = UUID().uuidString.lowercased()
        m.updated = Date()
        try store.updateStateMachine(m)
        return .obj([("updateDate", Self.epoch(m.updated)), ("revisionId", .string(m.revisionID))])
    }

    func deleteStateMachine(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "stateMachineArn")!
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[5] == "stateMachine" else { throw StatesAPIError.invalidArn(arn) }
        try store.deleteStateMachine(arn: arn)
        return .object(JSONObject())
    }

    func listStateMachines(_ body: JSON) throws -> JSON {
        let limit = try Self.maxResults(body)
        let (page, next) = try store.stateMachines(after: try Self.untoken("sm", body), limit: limit)
        var o = JSONObject([("stateMachines", .array(page.map { m in
            .obj([("stateMachineArn", .string(m.arn)), ("name", .string(m.name)), ("type", .string(m.type)), ("creationDate", Self.epoch(m.created))])
        }))])
        if let next { o["nextToken"] = .string(Self.token("sm", next)) }
        return .object(o)
    }

    func validateDefinition(_ body: JSON) throws -> JSON {
        let definition = try Self.string(body, "definition")!
        let max = try Self.maxResults(body, limit: 100, default: 100)
        var diagnostics: [Diagnostic] = []
        do { _ = try StateMachine.parse(definition) } catch { diagnostics = error.diagnostics }
        let shown = diagnostics.prefix(max)
        return .obj([
            ("result", .string(diagnostics.isEmpty ? "OK" : "FAIL")),
            ("diagnostics", .array(shown.map { d in
                .obj([("severity", .string(d.severity)), ("code", .string(d.code)), ("message", .string(d.message)), ("location", .string(d.location))])
            })),
            ("truncated", .bool(shown.count < diagnostics.count)),
        ])
    }

    func tagResource(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "resourceArn")!
        let tags = try Self.tagList(body["tags"])
        if Self.isActivityArn(arn) {
            _ = try activity(arn)
            try store.tagActivity(arn: arn, add: tags, remove: [])
        } else {
            _ = try machine(arn)
            try store.tagStateMachine(arn: arn, add: tags, remove: [])
        }
        return .object(JSONObject())
    }

    func untagResource(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "resourceArn")!
        let keys = body["tagKeys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if Self.isActivityArn(arn) {
            _ = try activity(arn)
            try store.tagActivity(arn: arn, add: [:], remove: keys)
        } else {
            _ = try machine(arn)
            try store.tagStateMachine(arn: arn, add: [:], remove: keys)
        }
        return .object(JSONObject())
    }

    func listTags(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "resourceArn")!
        let tags = Self.isActivityArn(arn) ? try activity(arn).tags : try machine(arn).tags
        return .obj([("tags", .array(tags.keys.sorted().map { .obj([("key", .string($0)), ("value", .string(tags[$0]!))]) }))])
    }
}
