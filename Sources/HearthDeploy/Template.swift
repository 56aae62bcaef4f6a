// HearthDeploy: a template's sections, checked as CloudFormation checks them.

/// One entry of `Resources`.
public struct TemplateResource: Equatable, Sendable {
    public var logicalID: String
    public var type: String
    public var properties: TemplateMap
    /// `DependsOn`, as a list.
    public var dependsOn: [String]
    /// `Condition`: the resource exists only where it holds.
    public var condition: String?
    public var metadata: TemplateMap
    public var deletionPolicy: String?
}

/// One entry of `Parameters`.
public struct TemplateParameter: Equatable, Sendable {
    public var name: String
    public var type: String
    public var defaultValue: String?
    public var allowedValues: [String]
    public var allowedPattern: String?
    public var minLength: Int?
    public var maxLength: Int?
    public var minValue: Double?
    public var maxValue: Double?
    public var noEcho: Bool
    public var description: String?
    public var constraintDescription: String?

    /// Types whose value is a list.
    public var isList: Bool { type == "CommaDelimitedList" || type.hasPrefix("List<") }
}

/// A template, split into its sections. Nothing is evaluated yet.
public struct Template: Sendable {
    public var description: String?
    public var transforms: [String]
    public var parameters: [TemplateParameter]
    public var mappings: TemplateMap
    public var conditions: TemplateMap
    public var globals: TemplateMap
    public var resources: [TemplateResource]
    public var outputs: TemplateMap

    static let sections: Set<String> = [
        "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings", "Conditions", "Transform",
        "Resources", "Outputs", "Globals", "Rules",
    ]

    public static let serverlessTransform = "AWS::Serverless-2016-10-31"

    public init(text: String) throws {
        try self.init(try TemplateLoader.load(text))
    }

    public init(_ value: TemplateValue) throws {
        guard let root = value.mapValue else { throw TemplateError("Template format error: the template must be a map of sections") }
        let unknown = root.keys.filter { !Self.sections.contains($0) }
        if !unknown.isEmpty {
            throw TemplateError("Template format error: Invalid template property or properties [\(unknown.joined(separator: ", "))]")
        }
        if let version = root["AWSTemplateFormatVersion"], version.stringValue != "2010-09-09" {
            throw TemplateError("Template format error: Unsupported AWSTemplateFormatVersion: \(version.stringValue ?? "(not a string)"); the only version is 2010-09-09")
        }
        description = root["Description"]?.stringValue
        switch root["Transform"] {
        case nil: transforms = []
        case .string(let name)?: transforms = [name]
        case .list(let names)?: transforms = names.compactMap(\.stringValue)
        default: throw TemplateError("Template format error: Transform must be a string or a list of strings")
        }
        for transform in transforms where transform != Self.serverlessTransform && transform != "AWS::LanguageExtensions" {
            throw TemplateError("Template format error: transform \(transform) is not supported (Hearth reads \(Self.serverlessTransform) and AWS::LanguageExtensions)")
        }
        mappings = try Self.section(root, "Mappings")
        conditions = try Self.section(root, "Conditions")
        globals = try Self.section(root, "Globals")
        outputs = try Self.section(root, "Outputs")
        if !globals.keys.isEmpty && !transforms.contains(Self.serverlessTransform) {
            throw TemplateError("Template format error: Globals needs Transform: \(Self.serverlessTransform)")
        }

        parameters = []
        for (name, definition) in try Self.section(root, "Parameters") {
            guard Self.isAlphanumeric(name) else { throw TemplateError("Template format error: Parameter name \(name) is non alphanumeric.") }
            guard let map = definition.mapValue else { throw TemplateError("Template format error: Parameter \(name) must be a map") }
            guard let type = map["Type"]?.stringValue else {
                throw TemplateError("Template format error: Every Parameters object must contain a Type member (\(name)).")
            }
            let known = ["String", "Number", "List<Number>", "CommaDelimitedList"]
            guard known.contains(type) || type.hasPrefix("AWS::") || type.hasPrefix("List<AWS::") else {
                throw TemplateError("Template format error: Unrecognized parameter type: \(type)")
            }
            if type.hasPrefix("AWS::SSM::") {
                throw TemplateError("Parameter \(name): type \(type) reads AWS Systems Manager, which Hearth does not have; use String and pass the value")
            }
            parameters.append(TemplateParameter(
                name: name, type: type, defaultValue: map["Default"].flatMap(Self.parameterText),
                allowedValues: (map["AllowedValues"]?.listValue ?? []).compactMap(\.stringValue),
                allowedPattern: map["AllowedPattern"]?.stringValue,
                minLength: map["MinLength"]?.intValue, maxLength: map["MaxLength"]?.intValue,
                minValue: map["MinValue"]?.doubleValue, maxValue: map["MaxValue"]?.doubleValue,
                noEcho: map["NoEcho"]?.boolValue ?? false, description: map["Description"]?.stringValue,
                constraintDescription: map["ConstraintDescription"]?.stringValue))
        }

        let resourceMap = try Self.section(root, "Resources")
        guard resourceMap.count > 0 else { throw TemplateError("Template format error: At least one Resources member must be defined.") }
        resources = []
        for (id, body) in resourceMap {
            guard Self.isAlphanumeric(id) else { throw TemplateError("Template format error: Resource name \(id) is non alphanumeric.") }
            guard let map = body.mapValue else { throw TemplateError("Template format error: [/Resources/\(id)] resource definition is malformed") }
            guard let type = map["Type"]?.stringValue else {
                throw TemplateError("Template format error: [/Resources/\(id)] Every Resources object must contain a Type member.")
            }
            let dependsOn: [String]
            switch map["DependsOn"] {
            case nil: dependsOn = []
            case .string(let one)?: dependsOn = [one]
            case .list(let many)?: dependsOn = many.compactMap(\.stringValue)
            default: throw TemplateError("Template format error: [/Resources/\(id)/DependsOn] must be a string or a list of strings")
            }
            guard map["Properties"] == nil || map["Properties"]?.mapValue != nil || map["Properties"] == .null else {
                throw TemplateError("Template format error: [/Resources/\(id)/Properties] must be a map")
            }
            resources.append(TemplateResource(
                logicalID: id, type: type, properties: map["Properties"]?.mapValue ?? TemplateMap(), dependsOn: dependsOn,
                condition: map["Condition"]?.stringValue, metadata: map["Metadata"]?.mapValue ?? TemplateMap(),
                deletionPolicy: map["DeletionPolicy"]?.stringValue))
        }
        for (name, _) in outputs where !Self.isAlphanumeric(name) {
            throw TemplateError("Template format error: Output name \(name) is non alphanumeric.")
        }
    }

    public func resource(_ id: String) -> TemplateResource? {
        resources.first { $0.logicalID == id }
    }

    static func section(_ root: TemplateMap, _ name: String) throws -> TemplateMap {
        switch root[name] {
        case nil, .null?: return TemplateMap()
        case .map(let map)?: return map
        default: throw TemplateError("Template format error: \(name) must be a map")
        }
    }

    static func parameterText(_ value: TemplateValue) -> String? {
        if let list = value.listValue { return list.compactMap(\.stringValue).joined(separator: ",") }
        return value.stringValue
    }

    static func isAlphanumeric(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) }
    }
}
