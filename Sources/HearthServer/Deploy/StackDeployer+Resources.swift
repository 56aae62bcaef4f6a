import Foundation
import HearthDeploy

// Each resource kind through its service's API: create or update, delete, and restore (rollback).
extension StackDeployer {
    func apply(_ resource: StackResource, properties: TemplateMap, artifacts hashes: [String: String], change: ResourceChange) async throws -> RecordedResource {
        let old = previous?.resources[resource.logicalID]
        if change.action == .keep, let old {
            if resource.kind == .function { rememberImplicit(resource, old) }
            return old
        }
        let name = ResourceNames.physicalName(resource, properties: properties, stack: stack.stackName)
        var record = RecordedResource(type: resource.type, physicalID: name, properties: TemplateValue.map(properties).canonicalJSON,
                                      artifacts: hashes, ref: name)
        switch resource.kind {
        case .function:
            try await applyFunction(resource, name: name, properties: properties, hashes: hashes, old: old, record: &record)
        case .layer:
            try await applyLayer(resource, name: name, properties: properties, hashes: hashes, old: old, record: &record)
        case .eventInvokeConfig:
            guard let function = properties["FunctionName"]?.stringValue else { throw DeployError("FunctionName is required") }
            let qualifier = properties["Qualifier"]?.stringValue ?? "$LATEST"
            try await putEventInvokeConfig(function: Self.functionName(function), qualifier: qualifier, properties)
            record.physicalID = "\(Self.functionName(function))|\(qualifier)"
        case .schedule:
            try await putSchedule(name: name, group: properties["GroupName"]?.stringValue ?? "default", body: Self.scheduleBody(properties),
                                  exists: old != nil)
            let values = ResourceNames.predicted(resource, properties: properties, stack: stack.stackName, region: stack.region, endpoint: client.endpoint)!
            record.attributes = values.attributes.mapValues(\.canonicalJSON)
        case .queue:
            try await applyQueue(resource, name: name, properties: properties, old: old, record: &record)
        case .httpApi, .restApi:
            try await applyHttpApi(resource, name: name, properties: properties, old: old, record: &record)
        case .stateMachine:
            try await applyStateMachine(resource, name: name, properties: properties, old: old, record: &record)
        case .eventSourceMapping:
            guard let function = properties["FunctionName"]?.stringValue else { throw DeployError("FunctionName is required") }
            let target = function.hasPrefix("arn:") ? function : ResourceNames.functionARN(function, region: stack.region)
            let uuid = try await putMapping(Self.mappingBody(properties, functionARN: target, queueKey: "EventSourceArn"), existing: old?.physicalID)
            record.physicalID = uuid
            record.ref = uuid
        case .functionURL:
            guard let function = properties["TargetFunctionArn"]?.stringValue else { throw DeployError("TargetFunctionArn is required") }
            let parts = function.split(separator: ":").map(String.init)
            let qualifier = properties["Qualifier"]?.stringValue ?? (parts.count == 8 ? parts[7] : nil)
            let url = try await putFunctionURL(function: Self.functionName(function), qualifier: qualifier, properties, exists: old != nil)
            record.physicalID = "\(Self.functionName(function))|\(qualifier ?? "")"
            record.attributes = ["FunctionUrl": TemplateValue.string(url).canonicalJSON, "FunctionArn": TemplateValue.string(function).canonicalJSON]
        case .permission, .iam:
            if let values = ResourceNames.predicted(resource, properties: properties, stack: stack.stackName, region: stack.region, endpoint: client.endpoint) {
                record.ref = values.ref
                record.attributes = values.attributes.mapValues(\.canonicalJSON)
            }
        default:
            throw DeployError("\(resource.type) is not deployable by this Hearth")
        }
        return record
    }

    func delete(_ id: String, _ resource: RecordedResource) async throws {
        guard let kind = ResourceKind.of(resource.type) else { return }
        switch kind {
        case .function:
            for (role, child) in resource.children { try await deleteChild(role, child) }
            _ = try await client.call("DELETE", functionPath(resource.physicalID), accept: [404])
        case .queue:
            try await deleteQueue(resource)
        case .httpApi, .restApi:
            try await deleteHttpApi(resource)
        case .stateMachine:
            try await deleteStateMachine(resource)
        case .eventSourceMapping:
            try await deleteMapping(resource.physicalID)
        case .functionURL:
            let parts = resource.physicalID.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            try await deleteFunctionURL(function: parts[0], qualifier: parts.count == 2 && !parts[1].isEmpty ? parts[1] : nil)
        case .layer:
            if resource.propertyMap["RetentionPolicy"]?.stringValue?.lowercased() == "delete", let version = resource.children["version"] {
                _ = try await client.call("DELETE", "/2018-10-31/layers/\(APIClient.encode(resource.physicalID))/versions/\(version)", accept: [404])
            }
        case .eventInvokeConfig:
            let parts = resource.physicalID.split(separator: "|").map(String.init)
            if parts.count == 2 {
                _ = try await client.call("DELETE", functionPath(parts[0]) .replacingOccurrences(of: "/2015-03-31/", with: "/2019-09-25/") + "/event-invoke-config",
                                          query: [("Qualifier", parts[1])], accept: [404])
            }
        case .schedule:
            try await deleteSchedule(name: resource.physicalID, group: resource.propertyMap["GroupName"]?.stringValue ?? "default")
        default:
            break
        }
    }

    /// Removes what a function made for one of its events (`schedule:`, `esm:`, `route:` children).
    func deleteChild(_ role: String, _ child: String) async throws {
        if role.hasPrefix("schedule:") {
            let parts = child.split(separator: "|", maxSplits: 1).map(String.init)
            try await deleteSchedule(name: parts.last ?? child, group: parts.count == 2 ? parts[0] : "default")
        } else if role.hasPrefix("esm:") {
            try await deleteMapping(child)
        } else if role.hasPrefix("route:") {
            try await deleteRoute(child)
        }
    }

    /// Rollback of a modified resource: its previous properties applied again (a function's code
    /// from the artifact kept for it under `.hearth/artifacts`, its alias back on the old version).
    func restore(_ id: String, before: RecordedResource, after: RecordedResource) async throws {
        guard let kind = ResourceKind.of(before.type) else { return }
        let resource = StackResource(logicalID: id, type: before.type, kind: kind, properties: before.propertyMap,
                                     metadata: TemplateMap(), implicit: false)
        switch kind {
        case .function:
            if let version = before.children["version"], let alias = before.children["alias"] {
                _ = try await client.call("PUT", functionPath(before.physicalID) + "/aliases/" + APIClient.encode(alias), json: ["FunctionVersion": version])
            }
            _ = try await client.call("PUT", functionPath(before.physicalID) + "/configuration", json: Self.functionConfiguration(before.propertyMap, create: false))
            if before.artifacts != after.artifacts, let cached = cachedArtifact(id, before.artifacts) {
                _ = try await client.call("PUT", functionPath(before.physicalID) + "/code", json: ["ZipFile": cached.base64EncodedString()])
            }
        default:
            _ = try await apply(resource, properties: before.propertyMap, artifacts: before.artifacts,
                                change: ResourceChange(action: .modify, logicalID: id, type: before.type))
        }
    }

    // MARK: Functions

    func applyFunction(_ resource: StackResource, name: String, properties: TemplateMap, hashes: [String: String],
                       old: RecordedResource?, record: inout RecordedResource) async throws {
        let arn = ResourceNames.functionARN(name, region: stack.region)
        let oldProperties = old?.propertyMap ?? TemplateMap()
        let configChanged = old == nil || Self.functionConfiguration(oldProperties, create: false).description
            != Self.functionConfiguration(properties, create: false).description
        let codeChanged = old == nil || old?.artifacts != hashes
        if let old, old.physicalID != name {
            throw DeployError("FunctionName changed from \(old.physicalID) to \(name): replacing a function under a new name is not supported; remove the resource and add it under a new logical id")
        }
        var code: Data?
        if codeChanged && properties["ImageUri"] == nil {
            let key = properties["InlineCode"] != nil ? "InlineCode" : "CodeUri"
            code = try artifacts.zip(resource, key: key, properties: properties, build: options.build)
            keepArtifact(resource.logicalID, hashes, code!)
        }
        if old == nil {
            var body = Self.functionConfiguration(properties, create: true)
            body["FunctionName"] = name
            body["Role"] = ResourceNames.roleARN(PhysicalName.make(stack: stack.stackName, logicalID: resource.logicalID + "Role"))
            if let image = properties["ImageUri"]?.stringValue {
                body["PackageType"] = "Image"
                body["Code"] = ["ImageUri": Self.imageURI(image, base: options.templateDirectory)]
            } else {
                body["Code"] = ["ZipFile": code!.base64EncodedString()]
            }
            body["Tags"] = ["aws:cloudformation:stack-name": stack.stackName, "aws:cloudformation:logical-id": resource.logicalID]
            _ = try await client.call("POST", "/2015-03-31/functions", json: body)
        } else {
            if configChanged {
                _ = try await client.call("PUT", functionPath(name) + "/configuration", json: Self.functionConfiguration(properties, create: false))
            }
            if codeChanged {
                if let image = properties["ImageUri"]?.stringValue {
                    _ = try await client.call("PUT", functionPath(name) + "/code", json: ["ImageUri": Self.imageURI(image, base: options.templateDirectory)])
                } else {
                    _ = try await client.call("PUT", functionPath(name) + "/code", json: ["ZipFile": code!.base64EncodedString()])
                }
            }
        }
        record.attributes = ["Arn": TemplateValue.string(arn).canonicalJSON]

        // Reserved concurrency.
        let reserved = properties["ReservedConcurrentExecutions"]?.intValue
        if reserved != oldProperties["ReservedConcurrentExecutions"]?.intValue || old == nil {
            if let reserved {
                _ = try await client.call("PUT", functionPath(name).replacingOccurrences(of: "/2015-03-31/", with: "/2017-10-31/") + "/concurrency",
                                          json: ["ReservedConcurrentExecutions": reserved])
            } else if old != nil {
                _ = try await client.call("DELETE", functionPath(name).replacingOccurrences(of: "/2015-03-31/", with: "/2017-10-31/") + "/concurrency", accept: [404])
            }
        }

        // AutoPublishAlias: a new version when code or configuration changed, the alias moved to it.
        var qualifier: String?
        if let alias = properties["AutoPublishAlias"]?.stringValue {
            qualifier = alias
            var version = old?.children["version"]
            if configChanged || codeChanged || version == nil || old?.children["alias"] != alias {
                if configChanged || codeChanged || version == nil {
                    let published = try await client.call("POST", functionPath(name) + "/versions",
                                                          json: ["Description": "hearth deploy \(stack.stackName)"])
                    version = published["Version"] as? String
                }
                guard let version else { throw DeployError("PublishVersion returned no version") }
                let existing = try await client.send("GET", functionPath(name) + "/aliases/" + APIClient.encode(alias))
                if existing.status == 200 {
                    _ = try await client.call("PUT", functionPath(name) + "/aliases/" + APIClient.encode(alias), json: ["FunctionVersion": version])
                } else {
                    _ = try await client.call("POST", functionPath(name) + "/aliases", json: ["Name": alias, "FunctionVersion": version])
                }
                log("\(resource.logicalID): alias \(alias) → version \(version)")
            }
            if let oldAlias = old?.children["alias"], oldAlias != alias {
                _ = try await client.call("DELETE", functionPath(name) + "/aliases/" + APIClient.encode(oldAlias), accept: [404])
            }
            record.children["alias"] = alias
            record.children["version"] = version
        }
        let targetARN = ResourceNames.functionARN(name, region: stack.region, qualifier: qualifier)
        try await applyProvisionedConcurrency(resource, name: name, properties: properties, alias: qualifier, old: old, record: &record)

        // EventInvokeConfig (on the alias when there is one).
        let eic = properties["EventInvokeConfig"]
        if eic?.canonicalJSON != oldProperties["EventInvokeConfig"]?.canonicalJSON || old?.children["alias"] != record.children["alias"] {
            if let oldQualifier = old?.children["eic"], eic == nil || oldQualifier != (qualifier ?? "$LATEST") {
                _ = try await client.call("DELETE", functionPath(name).replacingOccurrences(of: "/2015-03-31/", with: "/2019-09-25/") + "/event-invoke-config",
                                          query: [("Qualifier", oldQualifier)], accept: [404])
            }
            if let config = eic?.mapValue {
                try await putEventInvokeConfig(function: name, qualifier: qualifier ?? "$LATEST", config)
            }
        }
        if eic != nil { record.children["eic"] = qualifier ?? "$LATEST" }

        // Events.
        var keptSchedules = Set<String>()
        for (eventName, event) in properties["Events"]?.mapValue ?? TemplateMap() {
            let type = event["Type"]?.stringValue ?? ""
            let eventProperties = event["Properties"]?.mapValue ?? TemplateMap()
            switch type {
            case "Schedule", "ScheduleV2":
                keptSchedules.insert(try await applyEventSchedule(resource, eventName: eventName, type: type, eventProperties, target: targetARN,
                                                                  old: old, record: &record))
            case "SQS":
                let role = "esm:\(eventName)"
                let uuid = try await putMapping(Self.mappingBody(eventProperties, functionARN: targetARN, queueKey: "Queue"), existing: old?.children[role])
                record.children[role] = uuid
                keptSchedules.insert(role)
                implicitValues[resource.logicalID + eventName] = RecordedValues(ResourceValues(ref: uuid))
            case "HttpApi", "Api":
                let implicitAPI = type == "HttpApi" ? "ServerlessHttpApi" : "ServerlessRestApi"
                let apiID = eventProperties[type == "HttpApi" ? "ApiId" : "RestApiId"]?.stringValue ?? known[implicitAPI]?.ref
                guard let apiID else { throw DeployError("event \(eventName): no API to add the route to") }
                let apiRecord = recorded.values.first { $0.physicalID == apiID } ?? previous?.resources.values.first { $0.physicalID == apiID }
                let role = "route:\(eventName)"
                let child = try await putRoute(apiID: apiID, payload: apiRecord?.children["payload"] ?? (type == "HttpApi" ? "2.0" : "1.0"),
                                               event: eventProperties, functionARN: targetARN, existing: old?.children[role])
                record.children[role] = child
                keptSchedules.insert(role)
            default:
                throw DeployError("event \(eventName) of type \(type) is not deployable by this Hearth")
            }
        }
        for (role, child) in old?.children ?? [:] where (role.hasPrefix("schedule:") || role.hasPrefix("esm:") || role.hasPrefix("route:")) && !keptSchedules.contains(role) {
            try await deleteChild(role, child)
        }

        // FunctionUrlConfig (on the alias when there is one).
        if let urlConfig = properties["FunctionUrlConfig"]?.mapValue {
            let url = try await putFunctionURL(function: name, qualifier: qualifier, urlConfig,
                                               exists: old?.children["url"] != nil && old?.children["alias"] == record.children["alias"])
            record.children["url"] = url
        } else if old?.children["url"] != nil {
            try await deleteFunctionURL(function: name, qualifier: old?.children["alias"])
        }
        rememberImplicit(resource, record)
    }

    /// Values of the ids SAM makes inside a function (`FnRole`, `FnAliaslive`, `Fn.Alias`, `Fn.Version`).
    func rememberImplicit(_ resource: StackResource, _ record: RecordedResource) {
        let id = resource.logicalID
        let roleName = PhysicalName.make(stack: stack.stackName, logicalID: id + "Role")
        var values: [String: ResourceValues] = [
            id + "Role": ResourceValues(ref: roleName, attributes: ["Arn": .string(ResourceNames.roleARN(roleName))]),
        ]
        if let alias = record.children["alias"] {
            let aliasARN = ResourceNames.functionARN(record.physicalID, region: stack.region, qualifier: alias)
            values[id + "Alias" + alias] = ResourceValues(ref: aliasARN, attributes: ["AliasArn": .string(aliasARN)])
            values[id + ".Alias"] = ResourceValues(ref: aliasARN)
        }
        if let url = record.children["url"] {
            values[id + "Url"] = ResourceValues(ref: url, attributes: ["FunctionUrl": .string(url), "FunctionArn": .string(ResourceNames.functionARN(record.physicalID, region: stack.region))])
        }
        if let version = record.children["version"] {
            values[id + ".Version"] = ResourceValues(ref: ResourceNames.functionARN(record.physicalID, region: stack.region, qualifier: version),
                                                     attributes: ["Version": .string(version)])
        }
        for (key, value) in values {
            known[key] = value
            implicitValues[key] = RecordedValues(value)
        }
    }

    /// A `Schedule` (rule-style) or `ScheduleV2` event of a function or a state machine as a
    /// Scheduler schedule aimed at `target`; recorded as the child `schedule:EVENT` (returned).
    func applyEventSchedule(_ resource: StackResource, eventName: String, type: String, _ eventProperties: TemplateMap, target: String,
                            old: RecordedResource?, record: inout RecordedResource) async throws -> String {
        let scheduleName = eventProperties["Name"]?.stringValue ?? PhysicalName.make(stack: stack.stackName, logicalID: resource.logicalID + eventName)
        let group = eventProperties["GroupName"]?.stringValue ?? "default"
        let body = type == "ScheduleV2"
            ? Self.scheduleV2Body(eventProperties, target: target, role: ResourceNames.roleARN(PhysicalName.make(stack: stack.stackName, logicalID: resource.logicalID + eventName + "Role")))
            : Self.ruleScheduleBody(eventProperties, target: target, ruleName: scheduleName, region: stack.region)
        let role = "schedule:\(eventName)"
        let previousChild = old?.children[role]
        let exists = previousChild == "\(group)|\(scheduleName)"
        if let previousChild, !exists {
            let parts = previousChild.split(separator: "|", maxSplits: 1).map(String.init)
            try await deleteSchedule(name: parts[1], group: parts[0])
        }
        try await putSchedule(name: scheduleName, group: group, body: body, exists: exists)
        record.children[role] = "\(group)|\(scheduleName)"
        implicitValues[resource.logicalID + eventName] = RecordedValues(ResourceValues(ref: scheduleName))
        return role
    }

    /// SAM's `ProvisionedConcurrencyConfig` on the function's `AutoPublishAlias` (SAM requires
    /// the alias): PutProvisionedConcurrencyConfig when the count or the alias changed, removed
    /// from the old alias when it moved or the property left. Recorded as `provisioned: ALIAS|N`.
    func applyProvisionedConcurrency(_ resource: StackResource, name: String, properties: TemplateMap, alias: String?,
                                     old: RecordedResource?, record: inout RecordedResource) async throws {
        let path = functionPath(name).replacingOccurrences(of: "/2015-03-31/", with: "/2019-09-30/") + "/provisioned-concurrency"
        let count = properties["ProvisionedConcurrencyConfig"]?["ProvisionedConcurrentExecutions"]?.intValue
        if properties["ProvisionedConcurrencyConfig"] != nil, count == nil {
            throw DeployError("\(resource.logicalID): ProvisionedConcurrencyConfig needs ProvisionedConcurrentExecutions (an integer)")
        }
        if count != nil, alias == nil {
            throw DeployError("\(resource.logicalID): to set ProvisionedConcurrencyConfig, AutoPublishAlias must be defined on the function")
        }
        let wanted = count.map { "\(alias!)|\($0)" }
        let before = old?.children["provisioned"]
        if let before, before != wanted, let oldAlias = before.split(separator: "|").first.map(String.init), oldAlias != alias || wanted == nil {
            _ = try await client.call("DELETE", path, query: [("Qualifier", oldAlias)], accept: [404])
        }
        if let count, let alias, wanted != before || record.children["version"] != old?.children["version"] {
            _ = try await client.call("PUT", path, query: [("Qualifier", alias)], json: ["ProvisionedConcurrentExecutions": count])
            log("\(resource.logicalID): provisioned concurrency \(count) on \(alias)")
        }
        record.children["provisioned"] = wanted
    }

    /// The fields of CreateFunction / UpdateFunctionConfiguration a SAM function sets.
    static func functionConfiguration(_ p: TemplateMap, create: Bool) -> [String: Any] {
        var body: [String: Any] = [:]
        if let v = p["Runtime"]?.stringValue { body["Runtime"] = v }
        if let v = p["Handler"]?.stringValue { body["Handler"] = v }
        if let v = p["MemorySize"]?.intValue { body["MemorySize"] = v }
        if let v = p["Timeout"]?.intValue { body["Timeout"] = v }
        body["Description"] = p["Description"]?.stringValue ?? ""
        var variables: [String: String] = [:]
        for (key, value) in p["Environment"]?["Variables"]?.mapValue ?? TemplateMap() { variables[key] = value.stringValue ?? value.canonicalJSON }
        body["Environment"] = ["Variables": variables]
        body["Layers"] = (p["Layers"]?.listValue ?? []).compactMap(\.stringValue)
        if let size = p["EphemeralStorage"]?["Size"]?.intValue { body["EphemeralStorage"] = ["Size": size] }
        if create, let architectures = p["Architectures"]?.listValue { body["Architectures"] = architectures.compactMap(\.stringValue) }
        if let image = p["ImageConfig"]?.mapValue { body["ImageConfig"] = TemplateValue.map(image).jsonObject }
        // SAM's DeadLetterQueue {Type, TargetArn} is Lambda's DeadLetterConfig {TargetArn}.
        if let target = p["DeadLetterQueue"]?["TargetArn"]?.stringValue { body["DeadLetterConfig"] = ["TargetArn": target] }
        return body
    }

    static func functionName(_ nameOrARN: String) -> String {
        guard nameOrARN.hasPrefix("arn:") else { return nameOrARN }
        let parts = nameOrARN.split(separator: ":")
        return parts.count >= 7 ? String(parts[6]) : nameOrARN
    }

    static func imageURI(_ value: String, base: URL) -> String {
        if value.hasPrefix("sha256:") || value.hasPrefix("/") { return value }
        return URL(fileURLWithPath: value, relativeTo: base).standardizedFileURL.path
    }

    func putEventInvokeConfig(function: String, qualifier: String, _ config: TemplateMap) async throws {
        var body: [String: Any] = [:]
        if let v = config["MaximumRetryAttempts"]?.intValue { body["MaximumRetryAttempts"] = v }
        if let v = config["MaximumEventAgeInSeconds"]?.intValue { body["MaximumEventAgeInSeconds"] = v }
        if let destinations = config["DestinationConfig"]?.mapValue {
            var out: [String: Any] = [:]
            for key in ["OnSuccess", "OnFailure"] {
                // SAM's `Type` is SAM-only; the translator strips it.
                if let destination = destinations[key]?["Destination"]?.stringValue { out[key] = ["Destination": destination] }
            }
            body["DestinationConfig"] = out
        }
        _ = try await client.call("PUT", functionPath(function).replacingOccurrences(of: "/2015-03-31/", with: "/2019-09-25/") + "/event-invoke-config",
                                  query: [("Qualifier", qualifier)], json: body)
    }

    func functionPath(_ name: String) -> String { "/2015-03-31/functions/" + APIClient.encode(name) }

    /// Kept so a rollback can put a function's previous code back.
    func keepArtifact(_ id: String, _ hashes: [String: String], _ zip: Data) {
        let folder = options.templateDirectory.appendingPathComponent(".hearth/artifacts")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try? zip.write(to: folder.appendingPathComponent(Self.artifactKey(id, hashes)))
    }

    func cachedArtifact(_ id: String, _ hashes: [String: String]) -> Data? {
        try? Data(contentsOf: options.templateDirectory.appendingPathComponent(".hearth/artifacts/" + Self.artifactKey(id, hashes)))
    }

    static func artifactKey(_ id: String, _ hashes: [String: String]) -> String {
        "\(id)-\(PhysicalName.sha256(Array(hashes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",").utf8)).prefix(16)).zip"
    }

    // MARK: Layers

    func applyLayer(_ resource: StackResource, name: String, properties: TemplateMap, hashes: [String: String],
                    old: RecordedResource?, record: inout RecordedResource) async throws {
        let zip = try artifacts.zip(resource, key: "ContentUri", properties: properties, build: options.build)
        var body: [String: Any] = ["Content": ["ZipFile": zip.base64EncodedString()]]
        if let v = properties["Description"]?.stringValue { body["Description"] = v }
        if let v = properties["CompatibleRuntimes"]?.listValue { body["CompatibleRuntimes"] = v.compactMap(\.stringValue) }
        if let v = properties["CompatibleArchitectures"]?.listValue { body["CompatibleArchitectures"] = v.compactMap(\.stringValue) }
        if let v = properties["LicenseInfo"]?.stringValue { body["LicenseInfo"] = v }
        let published = try await client.call("POST", "/2018-10-31/layers/\(APIClient.encode(name))/versions", json: body)
        guard let arn = published["LayerVersionArn"] as? String, let version = published["Version"] as? Int else {
            throw DeployError("PublishLayerVersion returned no LayerVersionArn")
        }
        record.ref = arn
        record.children["version"] = String(version)
        record.attributes = ["LayerVersionArn": TemplateValue.string(arn).canonicalJSON]
        // The version this one replaces goes unless the layer is retained (SAM's default is Retain).
        if let old, old.propertyMap["RetentionPolicy"]?.stringValue?.lowercased() == "delete", let oldVersion = old.children["version"] {
            _ = try await client.call("DELETE", "/2018-10-31/layers/\(APIClient.encode(old.physicalID))/versions/\(oldVersion)", accept: [404])
        }
    }

    // MARK: Schedules

    func putSchedule(name: String, group: String, body: [String: Any], exists: Bool) async throws {
        let scheduler = client.signing(for: "scheduler")
        var body = body
        body["GroupName"] = group
        if exists {
            _ = try await scheduler.call("PUT", "/schedules/" + APIClient.encode(name), json: body)
        } else {
            body["ClientToken"] = UUID().uuidString
            _ = try await scheduler.call("POST", "/schedules/" + APIClient.encode(name), json: body)
        }
    }

    func deleteSchedule(name: String, group: String) async throws {
        _ = try await client.signing(for: "scheduler").call("DELETE", "/schedules/" + APIClient.encode(name), query: [("groupName", group)], accept: [404])
    }

    /// An `AWS::Scheduler::Schedule` resource's properties as the CreateSchedule body.
    static func scheduleBody(_ p: TemplateMap) -> [String: Any] {
        var body = (TemplateValue.map(p).jsonObject as? [String: Any]) ?? [:]
        body.removeValue(forKey: "Name")
        body.removeValue(forKey: "GroupName")
        return body
    }

    /// SAM's ScheduleV2 event as a CreateSchedule body (FlexibleTimeWindow defaults to OFF).
    static func scheduleV2Body(_ p: TemplateMap, target: String, role: String) -> [String: Any] {
        var body: [String: Any] = [
            "ScheduleExpression": p["ScheduleExpression"]?.stringValue ?? "",
            "FlexibleTimeWindow": p["FlexibleTimeWindow"].map { $0.jsonObject } ?? ["Mode": "OFF"],
        ]
        var targetBody: [String: Any] = ["Arn": target, "RoleArn": p["RoleArn"]?.stringValue ?? role]
        if let input = p["Input"]?.stringValue { targetBody["Input"] = input }
        if let retry = p["RetryPolicy"] { targetBody["RetryPolicy"] = retry.jsonObject }
        if let dlq = p["DeadLetterConfig"]?["Arn"]?.stringValue { targetBody["DeadLetterConfig"] = ["Arn": dlq] }
        body["Target"] = targetBody
        for key in ["ScheduleExpressionTimezone", "StartDate", "EndDate", "State", "Description"] {
            if let v = p[key]?.stringValue { body[key] = v }
        }
        return body
    }

    /// SAM's (EventBridge rule) Schedule event, run by the Scheduler: the function receives the
    /// rule's "Scheduled Event" (or the event's Input), the time and id filled in per occurrence
    /// through Scheduler's context attributes (ADR 0017).
    static func ruleScheduleBody(_ p: TemplateMap, target: String, ruleName: String, region: String) -> [String: Any] {
        let input = p["Input"]?.stringValue ?? """
        {"version":"0","id":"<aws.scheduler.execution-id>","detail-type":"Scheduled Event","source":"aws.events",\
        "account":"\(ResourceNames.account)","time":"<aws.scheduler.scheduled-time>","region":"\(region)",\
        "resources":["arn:aws:events:\(region):\(ResourceNames.account):rule/\(ruleName)"],"detail":{}}
        """
        let enabled = p["Enabled"]?.boolValue ?? (p["State"]?.stringValue.map { $0 != "DISABLED" } ?? true)
        var body: [String: Any] = [
            "ScheduleExpression": p["Schedule"]?.stringValue ?? "",
            "FlexibleTimeWindow": ["Mode": "OFF"],
            "State": enabled ? "ENABLED" : "DISABLED",
            "Target": ["Arn": target, "RoleArn": ResourceNames.roleARN(ruleName + "-role"), "Input": input],
        ]
        if let description = p["Description"]?.stringValue { body["Description"] = description }
        return body
    }
}
