import Foundation
import HearthDeploy

// Queues and event source mappings (SQS), HTTP APIs and Function URLs (API Gateway v2, Lambda),
// and state machines (Step Functions), each through its service's public API.
extension StackDeployer {
    // MARK: JSON 1.0 services

    /// A JSON 1.0 call (`X-Amz-Target: PREFIX.Operation`), as botocore makes it.
    func json10(_ service: String, target: String, _ body: [String: Any], accept: Set<String> = []) async throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let response = try await client.signing(for: service).send("POST", "/", headers: [
            ("X-Amz-Target", target), ("Content-Type", "application/x-amz-json-1.0"),
        ], body: data)
        if (200..<300).contains(response.status) { return response.json ?? [:] }
        let type = (response.json?["__type"] as? String).map { String($0.split(separator: "#").last ?? Substring($0)) } ?? ""
        if accept.contains(type) { return [:] }
        throw DeployError("\(target): \(type.isEmpty ? response.errorDescription : type + ": " + ((response.json?["message"] as? String) ?? (response.json?["Message"] as? String) ?? ""))")
    }

    // MARK: Queues

    static let queueAttributes = ["VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                                  "MaximumMessageSize", "RedrivePolicy", "RedriveAllowPolicy", "FifoQueue", "ContentBasedDeduplication",
                                  "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId", "SqsManagedSseEnabled"]

    static func queueAttributeStrings(_ p: TemplateMap) -> [String: String] {
        var attributes: [String: String] = [:]
        for key in queueAttributes {
            guard let value = p[key] else { continue }
            attributes[key] = value.mapValue != nil ? value.jsonText : (value.stringValue ?? value.canonicalJSON)
        }
        // SQS knows FifoQueue only as "true" at creation (a standard queue omits it).
        if attributes["FifoQueue"] != "true" { attributes["FifoQueue"] = nil }
        return attributes
    }

    func applyQueue(_ resource: StackResource, name: String, properties: TemplateMap, old: RecordedResource?,
                    record: inout RecordedResource) async throws {
        let attributes = Self.queueAttributeStrings(properties)
        var url = old?.ref
        if let old, let oldURL = url {
            if old.physicalID != name { throw DeployError("QueueName changed from \(old.physicalID) to \(name): replacing a queue is not supported") }
            // Attributes that left the template go back to SQS's defaults.
            var reset = attributes
            reset["FifoQueue"] = nil
            let defaults = ["VisibilityTimeout": "30", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
                            "ReceiveMessageWaitTimeSeconds": "0", "MaximumMessageSize": "262144", "RedrivePolicy": ""]
            for (key, value) in defaults where reset[key] == nil && Self.queueAttributeStrings(old.propertyMap)[key] != nil { reset[key] = value }
            _ = try await json10("sqs", target: "AmazonSQS.SetQueueAttributes", ["QueueUrl": oldURL, "Attributes": reset])
        } else {
            var body: [String: Any] = ["QueueName": name, "Attributes": attributes]
            if let tags = properties["Tags"]?.listValue {
                var map: [String: String] = [:]
                for tag in tags { if let k = tag["Key"]?.stringValue { map[k] = tag["Value"]?.stringValue ?? "" } }
                body["tags"] = map
            }
            let created = try await json10("sqs", target: "AmazonSQS.CreateQueue", body)
            url = created["QueueUrl"] as? String
        }
        guard let url else { throw DeployError("CreateQueue returned no QueueUrl") }
        let arn = "arn:aws:sqs:\(stack.region):\(ResourceNames.account):\(name)"
        record.ref = url
        record.attributes = ["Arn": TemplateValue.string(arn).canonicalJSON, "QueueName": TemplateValue.string(name).canonicalJSON,
                             "QueueUrl": TemplateValue.string(url).canonicalJSON]
    }

    func deleteQueue(_ resource: RecordedResource) async throws {
        _ = try await json10("sqs", target: "AmazonSQS.DeleteQueue", ["QueueUrl": resource.ref], accept: ["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"])
    }

    // MARK: Event source mappings

    /// An SQS event (or an `AWS::Lambda::EventSourceMapping`) as Create/UpdateEventSourceMapping's body.
    static func mappingBody(_ p: TemplateMap, functionARN: String, queueKey: String) -> [String: Any] {
        var body: [String: Any] = ["FunctionName": functionARN]
        if let source = p[queueKey]?.stringValue { body["EventSourceArn"] = source }
        if let v = p["BatchSize"]?.intValue { body["BatchSize"] = v }
        if let v = p["MaximumBatchingWindowInSeconds"]?.intValue { body["MaximumBatchingWindowInSeconds"] = v }
        body["Enabled"] = p["Enabled"]?.boolValue ?? true
        if let v = p["FunctionResponseTypes"]?.listValue { body["FunctionResponseTypes"] = v.compactMap(\.stringValue) }
        if let v = p["ScalingConfig"] { body["ScalingConfig"] = v.jsonObject }
        if let v = p["FilterCriteria"] { body["FilterCriteria"] = v.jsonObject }
        return body
    }

    /// Creates or updates a mapping; returns its UUID.
    func putMapping(_ body: [String: Any], existing uuid: String?) async throws -> String {
        if let uuid {
            var update = body
            update.removeValue(forKey: "EventSourceArn")
            let response = try await client.send("PUT", "/2015-03-31/event-source-mappings/\(uuid)",
                                                 body: JSONSerialization.data(withJSONObject: update, options: [.sortedKeys]))
            if (200..<300).contains(response.status) { return uuid }
            if response.status != 404 { throw DeployError("UpdateEventSourceMapping: \(response.errorDescription)") }
        }
        let created = try await client.call("POST", "/2015-03-31/event-source-mappings/", json: body)
        guard let id = created["UUID"] as? String else { throw DeployError("CreateEventSourceMapping returned no UUID") }
        return id
    }

    func deleteMapping(_ uuid: String) async throws {
        _ = try await client.call("DELETE", "/2015-03-31/event-source-mappings/\(uuid)", accept: [404])
    }

    // MARK: HTTP APIs

    /// `ServerlessHttpApi`/`AWS::Serverless::HttpApi` (and `ServerlessRestApi`/`AWS::Serverless::Api`
    /// as an HTTP API with payload 1.0 and the stage `Prod`): the API and its auto-deployed stage.
    func applyHttpApi(_ resource: StackResource, name: String, properties: TemplateMap, old: RecordedResource?,
                      record: inout RecordedResource) async throws {
        let api = client.signing(for: "apigateway")
        let stageName = resource.kind == .restApi ? (properties["StageName"]?.stringValue ?? "Prod") : (properties["StageName"]?.stringValue ?? "$default")
        var apiID = old?.physicalID
        if old?.children["api"] == nil {
            var body: [String: Any] = ["name": properties["Name"]?.stringValue ?? "\(stack.stackName)-\(resource.logicalID)", "protocolType": "HTTP"]
            if let cors = properties["CorsConfiguration"]?.mapValue { body["corsConfiguration"] = Self.lowerFirstKeys(.map(cors)) }
            if let flag = properties["DisableExecuteApiEndpoint"]?.boolValue { body["disableExecuteApiEndpoint"] = flag }
            let created = try await api.call("POST", "/v2/apis", json: body)
            apiID = created["apiId"] as? String
            guard let apiID else { throw DeployError("CreateApi returned no apiId") }
            var stage: [String: Any] = ["stageName": stageName, "autoDeploy": true]
            if let variables = properties["StageVariables"] ?? properties["Variables"] { stage["stageVariables"] = variables.jsonObject }
            _ = try await api.call("POST", "/v2/apis/\(apiID)/stages", json: stage)
        } else if let apiID {
            var body: [String: Any] = [:]
            if let cors = properties["CorsConfiguration"]?.mapValue { body["corsConfiguration"] = Self.lowerFirstKeys(.map(cors)) }
            if !body.isEmpty { _ = try await api.call("PATCH", "/v2/apis/\(apiID)", json: body) }
        }
        guard let apiID else { throw DeployError("no API id") }
        record.physicalID = apiID
        record.ref = apiID
        record.children["api"] = apiID
        record.children["stage"] = stageName
        let endpoint = Self.hearthURL("https://\(apiID).execute-api.\(stack.region).amazonaws.com", endpoint: client.endpoint)
        record.attributes = ["ApiEndpoint": TemplateValue.string(endpoint).canonicalJSON, "ApiId": TemplateValue.string(apiID).canonicalJSON]
        record.children["payload"] = resource.kind == .restApi ? "1.0" : "2.0"
    }

    func deleteHttpApi(_ resource: RecordedResource) async throws {
        _ = try await client.signing(for: "apigateway").call("DELETE", "/v2/apis/\(resource.physicalID)", accept: [404])
    }

    /// An `HttpApi`/`Api` event: an AWS_PROXY integration to the function and its route.
    /// Returns the child id `apiID|routeID|integrationID`.
    func putRoute(apiID: String, payload: String, event p: TemplateMap, functionARN: String, existing: String?) async throws -> String {
        let api = client.signing(for: "apigateway")
        if let existing {
            let parts = existing.split(separator: "|").map(String.init)
            if parts.count == 3 {
                _ = try await api.call("DELETE", "/v2/apis/\(parts[0])/routes/\(parts[1])", accept: [404])
                _ = try await api.call("DELETE", "/v2/apis/\(parts[0])/integrations/\(parts[2])", accept: [404])
            }
        }
        var integration: [String: Any] = ["integrationType": "AWS_PROXY", "integrationUri": functionARN,
                                          "payloadFormatVersion": p["PayloadFormatVersion"]?.stringValue ?? payload]
        if let timeout = p["TimeoutInMillis"]?.intValue { integration["timeoutInMillis"] = timeout }
        let made = try await api.call("POST", "/v2/apis/\(apiID)/integrations", json: integration)
        guard let integrationID = made["integrationId"] as? String else { throw DeployError("CreateIntegration returned no integrationId") }
        let routeKey: String
        if let path = p["Path"]?.stringValue {
            let method = (p["Method"]?.stringValue ?? "ANY").uppercased()
            routeKey = "\(method == "X-AMAZON-APIGATEWAY-ANY-METHOD" ? "ANY" : method) \(path)"
        } else {
            routeKey = "$default"
        }
        let route = try await api.call("POST", "/v2/apis/\(apiID)/routes", json: ["routeKey": routeKey, "target": "integrations/\(integrationID)"])
        guard let routeID = route["routeId"] as? String else { throw DeployError("CreateRoute returned no routeId") }
        return "\(apiID)|\(routeID)|\(integrationID)"
    }

    func deleteRoute(_ child: String) async throws {
        let parts = child.split(separator: "|").map(String.init)
        guard parts.count == 3 else { return }
        let api = client.signing(for: "apigateway")
        _ = try await api.call("DELETE", "/v2/apis/\(parts[0])/routes/\(parts[1])", accept: [404])
        _ = try await api.call("DELETE", "/v2/apis/\(parts[0])/integrations/\(parts[2])", accept: [404])
    }

    /// apigatewayv2's wire members start lower-case (`AllowOrigins` → `allowOrigins`).
    static func lowerFirstKeys(_ value: TemplateValue) -> Any {
        switch value {
        case .map(let map):
            var out: [String: Any] = [:]
            for (key, item) in map { out[key.prefix(1).lowercased() + key.dropFirst()] = lowerFirstKeys(item) }
            return out
        case .list(let items): return items.map(lowerFirstKeys)
        default: return value.jsonObject
        }
    }

    // MARK: Function URLs

    /// A function's `FunctionUrlConfig` (or an `AWS::Lambda::Url`): returns the URL.
    func putFunctionURL(function: String, qualifier: String?, _ p: TemplateMap, exists: Bool) async throws -> String {
        var body: [String: Any] = ["AuthType": p["AuthType"]?.stringValue ?? "NONE"]
        if let cors = p["Cors"] { body["Cors"] = cors.jsonObject }
        if let mode = p["InvokeMode"]?.stringValue { body["InvokeMode"] = mode }
        let query = qualifier.map { [("Qualifier", $0)] } ?? []
        let path = "/2021-10-31/functions/\(APIClient.encode(function))/url"
        let result = exists ? try await client.call("PUT", path, query: query, json: body) : try await client.call("POST", path, query: query, json: body)
        guard let url = result["FunctionUrl"] as? String else { throw DeployError("CreateFunctionUrlConfig returned no FunctionUrl") }
        return Self.hearthURL(url, endpoint: client.endpoint)
    }

    func deleteFunctionURL(function: String, qualifier: String?) async throws {
        _ = try await client.call("DELETE", "/2021-10-31/functions/\(APIClient.encode(function))/url",
                                  query: qualifier.map { [("Qualifier", $0)] } ?? [], accept: [404])
    }

    // MARK: State machines

    func applyStateMachine(_ resource: StackResource, name: String, properties: TemplateMap, old: RecordedResource?,
                           record: inout RecordedResource) async throws {
        var definition: String
        if let inline = properties["Definition"] {
            definition = inline.jsonText
        } else if let uri = artifacts.localPath(properties["DefinitionUri"]) {
            let text = try String(contentsOf: uri, encoding: .utf8)
            definition = (try? TemplateLoader.load(text).jsonText) ?? text
        } else {
            throw DeployError("a state machine needs Definition or a local DefinitionUri")
        }
        for (key, value) in properties["DefinitionSubstitutions"]?.mapValue ?? TemplateMap() {
            definition = definition.replacingOccurrences(of: "${\(key)}", with: value.stringValue ?? value.canonicalJSON)
        }
        let arn = "arn:aws:states:\(stack.region):\(ResourceNames.account):stateMachine:\(name)"
        let role = properties["Role"]?.stringValue ?? ResourceNames.roleARN(PhysicalName.make(stack: stack.stackName, logicalID: resource.logicalID + "Role"))
        if old != nil {
            _ = try await json10("states", target: "AWSStepFunctions.UpdateStateMachine", ["stateMachineArn": arn, "definition": definition, "roleArn": role])
        } else {
            var body: [String: Any] = ["name": name, "definition": definition, "roleArn": role]
            if let type = properties["Type"]?.stringValue { body["type"] = type }
            _ = try await json10("states", target: "AWSStepFunctions.CreateStateMachine", body)
        }
        record.ref = arn
        record.attributes = ["Arn": TemplateValue.string(arn).canonicalJSON, "Name": TemplateValue.string(name).canonicalJSON]

        // Events: Schedule and ScheduleV2, each a Scheduler schedule that starts an execution
        // (its Input, or for a rule-style Schedule the rule's event, is the execution's input).
        var kept = Set<String>()
        for (eventName, event) in properties["Events"]?.mapValue ?? TemplateMap() {
            let type = event["Type"]?.stringValue ?? ""
            let eventProperties = event["Properties"]?.mapValue ?? TemplateMap()
            guard type == "Schedule" || type == "ScheduleV2" else {
                throw DeployError("event \(eventName) of type \(type) is not deployable on a state machine by this Hearth")
            }
            kept.insert(try await applyEventSchedule(resource, eventName: eventName, type: type, eventProperties, target: arn, old: old, record: &record))
        }
        for (role, child) in old?.children ?? [:] where role.hasPrefix("schedule:") && !kept.contains(role) {
            try await deleteChild(role, child)
        }
    }

    func deleteStateMachine(_ resource: RecordedResource) async throws {
        for (role, child) in resource.children { try await deleteChild(role, child) }
        _ = try await json10("states", target: "AWSStepFunctions.DeleteStateMachine", ["stateMachineArn": resource.ref], accept: ["StateMachineDoesNotExist"])
    }
}

extension TemplateValue {
    /// Compact JSON text (keys sorted), for documents a property holds as a string.
    var jsonText: String { canonicalJSON }
}
