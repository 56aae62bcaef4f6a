// HearthDeploy: CloudFormation's intrinsic functions, evaluated.

import Foundation

/// What a deployed (or about to be deployed) resource answers to `Ref` and `Fn::GetAtt`.
public struct ResourceValues: Equatable, Sendable {
    public var ref: String
    public var attributes: [String: TemplateValue]
    public init(ref: String, attributes: [String: TemplateValue] = [:]) {
        self.ref = ref
        self.attributes = attributes
    }
}

/// The stack-wide facts intrinsic functions read: parameter values, pseudo parameters,
/// mappings and conditions. Resources are asked for through `resources`.
public struct EvaluationContext: Sendable {
    public var stackName: String
    public var region: String
    public var accountID: String
    /// Parameter values after defaults and overrides; list parameters hold lists.
    public var parameters: [String: TemplateValue]
    public var mappings: TemplateMap
    public var conditions: [String: Bool]
    /// The values of resources already known (deployed, or named ahead by the planner).
    public var resources: [String: ResourceValues]
    /// Resource ids the template declares whose values are not known yet: a reference to one
    /// evaluates to a placeholder (in a dry run) instead of an error.
    public var pending: Set<String>

    public init(stackName: String, region: String, accountID: String = "000000000000", parameters: [String: TemplateValue] = [:],
                mappings: TemplateMap = TemplateMap(), conditions: [String: Bool] = [:], resources: [String: ResourceValues] = [:],
                pending: Set<String> = []) {
        self.stackName = stackName
        self.region = region
        self.accountID = accountID
        self.parameters = parameters
        self.mappings = mappings
        self.conditions = conditions
        self.resources = resources
        self.pending = pending
    }

    public var pseudoParameters: [String: TemplateValue] {
        [
            "AWS::Region": .string(region), "AWS::AccountId": .string(accountID), "AWS::StackName": .string(stackName),
            "AWS::Partition": .string("aws"), "AWS::URLSuffix": .string("amazonaws.com"),
            "AWS::StackId": .string("arn:aws:cloudformation:\(region):\(accountID):stack/\(stackName)/hearth"),
            "AWS::NotificationARNs": .list([]),
        ]
    }

    /// The placeholder a reference to a pending resource evaluates to.
    public static func placeholder(_ id: String, _ attribute: String? = nil) -> String {
        "{{\(id)\(attribute.map { "." + $0 } ?? "")}}"
    }
}

/// Evaluates intrinsic functions. `Ref: AWS::NoValue` removes the key or list item that holds it.
public struct Evaluator: Sendable {
    public var context: EvaluationContext

    public init(_ context: EvaluationContext) {
        self.context = context
    }

    /// The value with every intrinsic function replaced by its result.
    public func evaluate(_ value: TemplateValue) throws -> TemplateValue {
        try evaluateOptional(value) ?? .null
    }

    /// nil for `AWS::NoValue`.
    func evaluateOptional(_ value: TemplateValue) throws -> TemplateValue? {
        if let (name, argument) = value.intrinsic {
            return try call(name, argument)
        }
        switch value {
        case .list(let items):
            return .list(try items.compactMap { try evaluateOptional($0) })
        case .map(let map):
            var out = TemplateMap()
            for (key, item) in map {
                if let evaluated = try evaluateOptional(item) { out[key] = evaluated }
            }
            return .map(out)
        default:
            return value
        }
    }

    func call(_ name: String, _ argument: TemplateValue) throws -> TemplateValue? {
        switch name {
        case "Ref":
            guard let target = argument.stringValue else { throw TemplateError("Template error: Ref must name a parameter or resource as a string") }
            return try ref(target)
        case "Fn::GetAtt":
            let parts: [String]
            if let list = argument.listValue, list.count == 2 {
                parts = [try string(list[0], in: name), try string(evaluate(list[1]), in: name)]
            } else if let dotted = argument.stringValue, let dot = dotted.firstIndex(of: ".") {
                parts = [String(dotted[..<dot]), String(dotted[dotted.index(after: dot)...])]
            } else {
                throw TemplateError("Template error: every Fn::GetAtt object requires two non-empty parameters")
            }
            return try getAtt(parts[0], parts[1])
        case "Fn::Sub":
            return .string(try sub(argument))
        case "Fn::Join":
            guard let args = argument.listValue, args.count == 2 else {
                throw TemplateError("Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.")
            }
            let delimiter = try string(args[0], in: name)
            guard let items = try evaluate(args[1]).listValue else {
                throw TemplateError("Template error: the second parameter of Fn::Join must be a list of strings")
            }
            return .string(try items.map { try string($0, in: name) }.joined(separator: delimiter))
        case "Fn::Select":
            guard let args = argument.listValue, args.count == 2 else {
                throw TemplateError("Template error: Fn::Select requires a list argument with two elements: an integer index and a list")
            }
            guard let index = try evaluate(args[0]).intValue else { throw TemplateError("Template error: Fn::Select's index must be an integer") }
            guard let items = try evaluate(args[1]).listValue else { throw TemplateError("Template error: Fn::Select's second argument must be a list") }
            guard index >= 0 && index < items.count else {
                throw TemplateError("Template error: Fn::Select cannot select nonexistent value at index \(index)")
            }
            return items[index]
        case "Fn::Split":
            guard let args = argument.listValue, args.count == 2 else {
                throw TemplateError("Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split.")
            }
            let delimiter = try string(args[0], in: name)
            let source = try string(evaluate(args[1]), in: name)
            guard !delimiter.isEmpty else { throw TemplateError("Template error: Fn::Split's delimiter must not be empty") }
            return .list(source.components(separatedBy: delimiter).map { .string($0) })
        case "Fn::If":
            guard let args = argument.listValue, args.count == 3, let condition = args[0].stringValue else {
                throw TemplateError("Template error: Fn::If requires a list argument with three elements")
            }
            guard let holds = context.conditions[condition] else {
                throw TemplateError("Template format error: Unresolved condition dependency \(condition) in Fn::If")
            }
            return try evaluateOptional(holds ? args[1] : args[2])
        case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition":
            return .bool(try condition(.map(TemplateMap([(name, argument)]))))
        case "Fn::FindInMap":
            guard let args = argument.listValue, args.count == 3 || args.count == 4 else {
                throw TemplateError("Template error: Fn::FindInMap requires a list argument with three elements")
            }
            let keys = try args.prefix(3).map { try string(evaluate($0), in: name) }
            if let found = context.mappings[keys[0]]?[keys[1]]?[keys[2]] { return found }
            if args.count == 4, let fallback = args[3]["DefaultValue"] { return try evaluate(fallback) }
            if context.mappings[keys[0]] == nil { throw TemplateError("Template error: Mapping named '\(keys[0])' is not present in the 'Mappings' section of template") }
            throw TemplateError("Template error: Unable to get mapping for \(keys.joined(separator: "::"))")
        case "Fn::Base64":
            return .string(Data(try string(evaluate(argument), in: name).utf8).base64EncodedString())
        case "Fn::GetAZs":
            return .list(["a", "b", "c"].map { .string(context.region + $0) })
        case "Fn::Length":
            guard let items = try evaluate(argument).listValue else { throw TemplateError("Template error: Fn::Length needs a list") }
            return .number(String(items.count))
        case "Fn::ToJsonString":
            return .string(try evaluate(argument).canonicalJSON)
        case "Fn::ImportValue":
            throw TemplateError("Template error: Fn::ImportValue is not supported: Hearth stacks do not export values to one another (pass the value as a parameter)")
        default:
            throw TemplateError("Template error: \(name) is not supported")
        }
    }

    func ref(_ target: String) throws -> TemplateValue? {
        if target == "AWS::NoValue" { return nil }
        if let pseudo = context.pseudoParameters[target] { return pseudo }
        if let value = context.parameters[target] { return value }
        if let resource = context.resources[target] { return .string(resource.ref) }
        if context.pending.contains(target) { return .string(EvaluationContext.placeholder(target)) }
        throw TemplateError("Template format error: Unresolved resource dependencies [\(target)] in the Resources block of the template")
    }

    func getAtt(_ id: String, _ attribute: String) throws -> TemplateValue {
        if let resource = context.resources[id] {
            guard let value = resource.attributes[attribute] else {
                throw TemplateError("Template error: resource \(id) does not support attribute type \(attribute) in Fn::GetAtt")
            }
            return value
        }
        if context.pending.contains(id) { return .string(EvaluationContext.placeholder(id, attribute)) }
        throw TemplateError("Template error: instance of Fn::GetAtt references undefined resource \(id)")
    }

    /// `Fn::Sub` in both forms: a string, or [string, {name: value}].
    func sub(_ argument: TemplateValue) throws -> String {
        let text: String
        var variables: [String: String] = [:]
        if let s = argument.stringValue {
            text = s
        } else if let args = argument.listValue, args.count == 2, let s = args[0].stringValue, let vars = args[1].mapValue {
            text = s
            for (key, value) in vars { variables[key] = try string(evaluate(value), in: "Fn::Sub") }
        } else {
            throw TemplateError("Template error: Fn::Sub takes a string, or a list of a string and a map of variables")
        }
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            if after.first == "!" {
                out += "${"
                rest = after.dropFirst()
                continue
            }
            guard let close = after.firstIndex(of: "}") else {
                out += rest[open.lowerBound...]
                rest = ""
                break
            }
            let name = after[..<close].trimmingCharacters(in: .whitespaces)
            if let value = variables[name] {
                out += value
            } else if let dot = name.firstIndex(of: "."), context.pseudoParameters[name] == nil, context.parameters[name] == nil {
                out += try string(getAtt(String(name[..<dot]), String(name[name.index(after: dot)...])), in: "Fn::Sub")
            } else {
                guard let value = try ref(name) else { throw TemplateError("Template error: Fn::Sub cannot use AWS::NoValue") }
                out += try string(value, in: "Fn::Sub")
            }
            rest = after[after.index(after: close)...]
        }
        return out + rest
    }

    /// A condition's truth: Fn::Equals/And/Or/Not, `Condition: Name`, or a literal bool.
    public func condition(_ value: TemplateValue) throws -> Bool {
        if case .bool(let b) = value { return b }
        if let s = value.stringValue, let b = TemplateValue.string(s).boolValue { return b }
        guard let (name, argument) = value.intrinsic else { throw TemplateError("Template error: a condition must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition") }
        switch name {
        case "Fn::Equals":
            guard let args = argument.listValue, args.count == 2 else { throw TemplateError("Template error: Fn::Equals requires a list argument with two elements") }
            return try Self.comparable(evaluate(args[0])) == Self.comparable(evaluate(args[1]))
        case "Fn::And", "Fn::Or":
            guard let args = argument.listValue, (2...10).contains(args.count) else {
                throw TemplateError("Template error: \(name) requires a list of 2 to 10 conditions")
            }
            let values = try args.map { try condition($0) }
            return name == "Fn::And" ? values.allSatisfy { $0 } : values.contains(true)
        case "Fn::Not":
            guard let args = argument.listValue, args.count == 1 else { throw TemplateError("Template error: Fn::Not requires a list argument with one element") }
            return try !condition(args[0])
        case "Condition":
            guard let other = argument.stringValue, let holds = context.conditions[other] else {
                throw TemplateError("Template format error: Unresolved condition dependency \(argument.stringValue ?? "?") in Conditions")
            }
            return holds
        default:
            return try condition(evaluate(value))
        }
    }

    static func comparable(_ value: TemplateValue) -> String {
        value.stringValue ?? value.canonicalJSON
    }

    func string(_ value: TemplateValue, in function: String) throws -> String {
        let value = try evaluate(value)
        guard let s = value.stringValue else { throw TemplateError("Template error: \(function) needs a string here, found \(value.canonicalJSON)") }
        return s
    }
}
