// HearthDeploy: what a deployed stack is made of, and what a new deploy would change.

import Crypto
import Foundation

/// One deployed resource, as the stack remembers it.
public struct RecordedResource: Codable, Equatable, Sendable {
    public var type: String
    /// The name (or id) the resource has in its service.
    public var physicalID: String
    /// Evaluated properties, canonical JSON (sorted keys).
    public var properties: String
    /// Content hashes of local artifacts (CodeUri, ContentUri, DefinitionUri) by property name.
    public var artifacts: [String: String]
    /// What `Ref` returns.
    public var ref: String
    /// `Fn::GetAtt` attributes, as canonical JSON values.
    public var attributes: [String: String]
    /// Ids made inside the resource (alias, published version, event sources, routes…), by role.
    public var children: [String: String]

    public init(type: String, physicalID: String, properties: String, artifacts: [String: String] = [:], ref: String,
                attributes: [String: String] = [:], children: [String: String] = [:]) {
        self.type = type
        self.physicalID = physicalID
        self.properties = properties
        self.artifacts = artifacts
        self.ref = ref
        self.attributes = attributes
        self.children = children
    }

    public var values: ResourceValues {
        var attrs: [String: TemplateValue] = [:]
        for (key, json) in attributes {
            var reader = JSONReader(Array(json.utf8))
            attrs[key] = (try? reader.document()) ?? .string(json)
        }
        return ResourceValues(ref: ref, attributes: attrs)
    }

    public var propertyMap: TemplateMap {
        var reader = JSONReader(Array(properties.utf8))
        return (try? reader.document())?.mapValue ?? TemplateMap()
    }
}

/// A stack: its resources and outputs after the last deploy.
public struct StackRecord: Codable, Equatable, Sendable {
    public var name: String
    /// CloudFormation's status names: CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE, ROLLBACK_COMPLETE.
    public var status: String
    public var statusReason: String?
    public var createdAt: String
    public var updatedAt: String
    public var description: String?
    /// The parameter values used (NoEcho ones included: a redeploy needs them; `hearth stack
    /// describe` masks them).
    public var parameters: [String: String]
    public var noEcho: [String]
    public var resources: [String: RecordedResource]
    /// Implicit ids (`FnAliaslive`) and their values, so a redeploy can resolve references to them.
    public var implicitValues: [String: RecordedValues]
    public var outputs: [StackOutput]
    /// Logical ids in the order they were made (deletes run in reverse).
    public var order: [String]

    public init(name: String, status: String, statusReason: String? = nil, createdAt: String, updatedAt: String, description: String? = nil,
                parameters: [String: String] = [:], noEcho: [String] = [], resources: [String: RecordedResource] = [:],
                implicitValues: [String: RecordedValues] = [:], outputs: [StackOutput] = [], order: [String] = []) {
        self.order = order
        self.name = name
        self.status = status
        self.statusReason = statusReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.description = description
        self.parameters = parameters
        self.noEcho = noEcho
        self.resources = resources
        self.implicitValues = implicitValues
        self.outputs = outputs
    }

    /// Every value the stack knows, for evaluating references.
    public var knownValues: [String: ResourceValues] {
        var known: [String: ResourceValues] = [:]
        for (id, resource) in resources { known[id] = resource.values }
        for (id, value) in implicitValues { known[id] = value.values }
        return known
    }
}

public struct RecordedValues: Codable, Equatable, Sendable {
    public var ref: String
    public var attributes: [String: String]
    public init(_ values: ResourceValues) {
        ref = values.ref
        attributes = values.attributes.mapValues(\.canonicalJSON)
    }
    public var values: ResourceValues {
        RecordedResource(type: "", physicalID: "", properties: "{}", ref: ref, attributes: attributes).values
    }
}

public struct StackOutput: Codable, Equatable, Sendable {
    public var key: String
    public var value: String
    public var description: String?
    public init(key: String, value: String, description: String? = nil) {
        self.key = key
        self.value = value
        self.description = description
    }
}

/// What a deploy does to one resource, and why.
public struct ResourceChange: Equatable, Sendable {
    public enum Action: String, Sendable {
        case add = "Add", modify = "Modify", remove = "Remove", keep = "Keep"
    }
    public var action: Action
    public var logicalID: String
    public var type: String
    /// For Modify: the properties (and artifacts) that differ.
    public var reasons: [String]

    public init(action: Action, logicalID: String, type: String, reasons: [String] = []) {
        self.action = action
        self.logicalID = logicalID
        self.type = type
        self.reasons = reasons
    }

    /// The line `--dry-run` prints.
    public var line: String {
        let reason = reasons.isEmpty ? "" : " (" + reasons.joined(separator: ", ") + ")"
        return "\(action.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(logicalID) \(type)\(reason)"
    }
}

public enum ChangeSet {
    /// The change for one resource: `properties`/`artifacts` are what the template asks for now.
    public static func change(_ resource: StackResource, properties: TemplateMap, artifacts: [String: String],
                              previous: RecordedResource?) -> ResourceChange {
        guard let previous else { return ResourceChange(action: .add, logicalID: resource.logicalID, type: resource.type) }
        if previous.type != resource.type {
            return ResourceChange(action: .modify, logicalID: resource.logicalID, type: resource.type,
                                  reasons: ["type \(previous.type) → \(resource.type) (replaced)"])
        }
        var reasons: [String] = []
        let old = previous.propertyMap
        let keys = Set(old.keys).union(properties.keys).sorted()
        for key in keys where old[key]?.canonicalJSON != properties[key]?.canonicalJSON {
            reasons.append(key)
        }
        for key in Set(previous.artifacts.keys).union(artifacts.keys).sorted() where previous.artifacts[key] != artifacts[key] {
            reasons.append("\(key) content")
        }
        return ResourceChange(action: reasons.isEmpty ? .keep : .modify, logicalID: resource.logicalID, type: resource.type,
                              reasons: reasons)
    }

    /// Removals: recorded resources the template no longer has.
    public static func removals(previous: StackRecord?, keeping ids: Set<String>) -> [ResourceChange] {
        guard let previous else { return [] }
        return previous.resources.filter { !ids.contains($0.key) }.sorted { $0.key < $1.key }
            .map { ResourceChange(action: .remove, logicalID: $0.key, type: $0.value.type) }
    }
}

/// Deterministic names for what a stack creates (ADR 0017): `STACK-LogicalId`, cut to the
/// service's limit with a hash suffix so it stays unique.
public enum PhysicalName {
    public static func make(stack: String, logicalID: String, limit: Int = 64) -> String {
        let name = "\(stack)-\(logicalID)"
        guard name.count > limit else { return name }
        let digest = SHA256.hash(data: Data(name.utf8)).map { String(format: "%02x", $0) }.joined()
        return String(name.prefix(limit - 9)) + "-" + digest.prefix(8)
    }

    public static func sha256(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: Data(bytes)).map { String(format: "%02x", $0) }.joined()
    }
}
