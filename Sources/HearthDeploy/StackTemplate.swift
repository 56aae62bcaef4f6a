// HearthDeploy: a template made ready to deploy as a named stack.

import Foundation

/// The services a deploy can create resources in. A resource type whose service is missing is
/// refused before anything changes.
public struct DeployServices: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let lambda = DeployServices(rawValue: 1)
    public static let httpTriggers = DeployServices(rawValue: 2)
    public static let schedules = DeployServices(rawValue: 4)
    public static let queues = DeployServices(rawValue: 8)
    public static let stateMachines = DeployServices(rawValue: 16)
    public static let all: DeployServices = [.lambda, .httpTriggers, .schedules, .queues, .stateMachines]
}

/// How Hearth treats each resource type a template may hold.
public enum ResourceKind: String, Sendable, CaseIterable {
    case function, layer, eventInvokeConfig, functionURL, permission, iam, httpApi, restApi, queue, schedule, stateMachine, eventSourceMapping

    public static func of(_ type: String) -> ResourceKind? {
        switch type {
        case "AWS::Serverless::Function": return .function
        case "AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion": return .layer
        case "AWS::Lambda::EventInvokeConfig": return .eventInvokeConfig
        case "AWS::Lambda::Url": return .functionURL
        case "AWS::Lambda::Permission": return .permission
        case "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy": return .iam
        case "AWS::Serverless::HttpApi": return .httpApi
        case "AWS::Serverless::Api": return .restApi
        case "AWS::SQS::Queue": return .queue
        case "AWS::Scheduler::Schedule": return .schedule
        case "AWS::Serverless::StateMachine": return .stateMachine
        case "AWS::Lambda::EventSourceMapping": return .eventSourceMapping
        default: return nil
        }
    }

    /// The service the kind needs.
    public var service: DeployServices {
        switch self {
        case .function, .layer, .eventInvokeConfig, .permission, .iam: return .lambda
        case .functionURL, .httpApi, .restApi: return .httpTriggers
        case .queue, .eventSourceMapping: return .queues
        case .schedule: return .schedules
        case .stateMachine: return .stateMachines
        }
    }

    /// Accepted and not modelled (Hearth has no IAM): deployed as nothing, with one warning.
    public var isAcceptedOnly: Bool { self == .permission || self == .iam }
}

/// A resource as the deploy sees it: the template's entry with Globals merged, plus the
/// resources SAM creates implicitly (`ServerlessHttpApi`, `ServerlessRestApi`).
public struct StackResource: Equatable, Sendable {
    public var logicalID: String
    public var type: String
    public var kind: ResourceKind
    public var properties: TemplateMap
    public var metadata: TemplateMap
    /// Made by SAM, not written in the template.
    public var implicit: Bool

    public init(logicalID: String, type: String, kind: ResourceKind, properties: TemplateMap, metadata: TemplateMap, implicit: Bool) {
        self.logicalID = logicalID
        self.type = type
        self.kind = kind
        self.properties = properties
        self.metadata = metadata
        self.implicit = implicit
    }
}

/// A template with parameters bound, conditions decided, Globals merged, unsupported types
/// refused and resources ordered so each comes after what it refers to.
public struct StackTemplate: Sendable {
    public var template: Template
    public var stackName: String
    public var region: String
    public var context: EvaluationContext
    /// In creation order.
    public var resources: [StackResource]
    /// Accepted but not deployed (IAM, permissions), and skipped with `--skip-unsupported`.
    public var warnings: [String]
    /// Ids SAM makes inside another resource (`FnAliaslive`, `FnRole`, `FnUrl`), and who makes them.
    public var implicitIDs: [String: String]

    /// The function event types Hearth deploys, and the service each needs.
    public static let eventServices: [String: DeployServices] = [
        "Schedule": .schedules, "ScheduleV2": .schedules, "HttpApi": .httpTriggers, "Api": .httpTriggers, "SQS": .queues,
    ]

    /// The state machine event types Hearth deploys (a schedule whose target starts an execution).
    public static let stateMachineEventServices: [String: DeployServices] = ["Schedule": .schedules, "ScheduleV2": .schedules]

    public init(template: Template, stackName: String, region: String, parameters: [String: String] = [:],
                services: DeployServices = .all, skipUnsupported: Bool = false) throws {
        guard stackName.range(of: "^[A-Za-z][A-Za-z0-9-]{0,127}$", options: .regularExpression) != nil else {
            throw TemplateError("1 validation error detected: Value '\(stackName)' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*")
        }
        self.template = template
        self.stackName = stackName
        self.region = region
        warnings = []
        var context = EvaluationContext(stackName: stackName, region: region)
        context.parameters = try template.parameterValues(overrides: parameters)
        context.mappings = template.mappings
        context.conditions = try template.conditionValues(context)

        let globals = try Globals(template.globals)
        var unsupported: [String] = []
        var unavailable: [String] = []
        var included: [StackResource] = []
        var iamIgnored: [String] = []
        for resource in template.resources {
            if let condition = resource.condition, context.conditions[condition] == false { continue }
            guard let kind = ResourceKind.of(resource.type) else {
                unsupported.append("\(resource.logicalID) (\(resource.type))")
                continue
            }
            if !services.contains(kind.service) {
                unavailable.append("\(resource.logicalID) (\(resource.type))")
                continue
            }
            if kind.isAcceptedOnly { iamIgnored.append(resource.logicalID) }
            if kind == .function || kind == .stateMachine {
                let known = kind == .function ? Self.eventServices : Self.stateMachineEventServices
                for (eventName, event) in resource.properties["Events"]?.mapValue ?? TemplateMap() {
                    let type = event["Type"]?.stringValue ?? "(no Type)"
                    guard let service = known[type] else {
                        unsupported.append("\(resource.logicalID).Events.\(eventName) (event type \(type))")
                        continue
                    }
                    if !services.contains(service) { unavailable.append("\(resource.logicalID).Events.\(eventName) (event type \(type))") }
                }
            }
            included.append(StackResource(logicalID: resource.logicalID, type: resource.type, kind: kind,
                                          properties: globals.apply(to: resource.type, resource.properties),
                                          metadata: resource.metadata, implicit: false))
        }
        if !unsupported.isEmpty || !unavailable.isEmpty {
            var lines: [String] = []
            if !unsupported.isEmpty { lines.append("Unrecognized resource types: [\(unsupported.joined(separator: ", "))]") }
            if !unavailable.isEmpty { lines.append("resource types whose Hearth service is not available: [\(unavailable.joined(separator: ", "))]") }
            if !skipUnsupported {
                throw TemplateError("Template format error: \(lines.joined(separator: "; ")). Nothing was changed; --skip-unsupported deploys the rest.")
            }
            warnings.append("skipped (--skip-unsupported): \(lines.joined(separator: "; "))")
        }

        // Functions' events and the implicit APIs SAM makes for them.
        var implicit: [String: String] = [:]
        var needsHttpApi = false, needsRestApi = false
        for resource in included where resource.kind == .function {
            let id = resource.logicalID
            implicit[id + "Role"] = id
            if let alias = resource.properties["AutoPublishAlias"]?.stringValue {
                implicit[id + "Alias" + alias] = id
                // SAM's `!Ref Fn.Alias` and `!Ref Fn.Version` name the same alias and its version.
                implicit[id + ".Alias"] = id
                implicit[id + ".Version"] = id
            }
            if resource.properties["FunctionUrlConfig"] != nil { implicit[id + "Url"] = id }
            for (eventName, event) in resource.properties["Events"]?.mapValue ?? TemplateMap() {
                implicit[id + eventName] = id
                let type = event["Type"]?.stringValue ?? ""
                let properties = event["Properties"]?.mapValue ?? TemplateMap()
                if type == "HttpApi" && properties["ApiId"] == nil { needsHttpApi = true }
                if type == "Api" && properties["RestApiId"] == nil { needsRestApi = true }
            }
        }
        for resource in included where resource.kind == .stateMachine {
            implicit[resource.logicalID + "Role"] = resource.logicalID
            for (eventName, _) in resource.properties["Events"]?.mapValue ?? TemplateMap() { implicit[resource.logicalID + eventName] = resource.logicalID }
        }
        if needsHttpApi && !included.contains(where: { $0.logicalID == "ServerlessHttpApi" }) {
            guard services.contains(.httpTriggers) else {
                throw TemplateError("Template format error: HttpApi events need Hearth's HTTP triggers, which this server does not have. Nothing was changed.")
            }
            included.insert(StackResource(logicalID: "ServerlessHttpApi", type: "AWS::Serverless::HttpApi", kind: .httpApi,
                                          properties: globals.apply(to: "AWS::Serverless::HttpApi", TemplateMap()), metadata: TemplateMap(), implicit: true), at: 0)
        }
        if needsRestApi && !included.contains(where: { $0.logicalID == "ServerlessRestApi" }) {
            guard services.contains(.httpTriggers) else {
                throw TemplateError("Template format error: Api events need Hearth's HTTP triggers, which this server does not have. Nothing was changed.")
            }
            included.insert(StackResource(logicalID: "ServerlessRestApi", type: "AWS::Serverless::Api", kind: .restApi,
                                          properties: globals.apply(to: "AWS::Serverless::Api", TemplateMap([("StageName", .string("Prod"))])),
                                          metadata: TemplateMap(), implicit: true), at: 0)
        }
        implicitIDs = implicit
        if !iamIgnored.isEmpty {
            warnings.append("accepted and not deployed (Hearth does not model IAM; every function may call every other): \(iamIgnored.joined(separator: ", "))")
        }
        if included.contains(where: { $0.kind == .function && ($0.properties["Policies"] != nil || $0.properties["Role"] != nil) }) {
            warnings.append("Policies and Role on functions are accepted and ignored (Hearth does not model IAM)")
        }

        // Order: everything after what it refers to (events' ApiId/Queue references included).
        var edgesTemplate = template
        edgesTemplate.resources = included.map { resource in
            let original = template.resource(resource.logicalID)
            var dependsOn = original?.dependsOn ?? []
            if resource.kind == .function {
                for (_, event) in resource.properties["Events"]?.mapValue ?? TemplateMap() {
                    let type = event["Type"]?.stringValue ?? ""
                    let properties = event["Properties"]?.mapValue ?? TemplateMap()
                    if type == "HttpApi" && properties["ApiId"] == nil { dependsOn.append("ServerlessHttpApi") }
                    if type == "Api" && properties["RestApiId"] == nil { dependsOn.append("ServerlessRestApi") }
                }
            }
            return TemplateResource(logicalID: resource.logicalID, type: resource.type, properties: resource.properties,
                                    dependsOn: dependsOn.filter { id in included.contains { $0.logicalID == id } || template.resource(id) == nil },
                                    condition: nil, metadata: resource.metadata, deletionPolicy: nil)
        }
        let order = try edgesTemplate.creationOrder(included: Set(included.map(\.logicalID)), implicit: implicit)
        resources = order.map { ordered in included.first { $0.logicalID == ordered.logicalID }! }
        context.pending = Set(resources.map(\.logicalID)).union(implicit.keys)
        self.context = context
    }

    /// A resource's properties evaluated against what is known now (`known` holds the values of
    /// resources made so far, or recorded by the last deploy).
    public func evaluatedProperties(_ resource: StackResource, known: [String: ResourceValues]) throws -> TemplateMap {
        var context = self.context
        context.resources = known
        do {
            return try Evaluator(context).evaluate(.map(resource.properties)).mapValue ?? TemplateMap()
        } catch let error as TemplateError {
            throw TemplateError("\(resource.logicalID): \(error.message)")
        }
    }

    /// The Outputs section evaluated; `NoEcho` parameters appear masked.
    public func outputs(known: [String: ResourceValues]) throws -> [(name: String, value: String, description: String?)] {
        var context = self.context
        context.resources = known
        let evaluator = Evaluator(context)
        var result: [(String, String, String?)] = []
        for (name, output) in template.outputs {
            if let condition = output["Condition"]?.stringValue, context.conditions[condition] == false { continue }
            guard let value = output["Value"] else { throw TemplateError("Template format error: Every Outputs member must contain a Value object (\(name))") }
            let evaluated = try evaluator.evaluate(value)
            let text = evaluated.stringValue ?? evaluated.listValue?.compactMap(\.stringValue).joined(separator: ",") ?? evaluated.canonicalJSON
            result.append((name, text, try output["Description"].map { try evaluator.evaluate($0).stringValue ?? "" }))
        }
        return result
    }
}
