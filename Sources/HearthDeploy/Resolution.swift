// HearthDeploy: parameters, conditions and the order resources are made in.

import Foundation

extension Template {
    /// Parameter values from defaults and overrides, checked against each parameter's constraints
    /// with CloudFormation's messages.
    public func parameterValues(overrides: [String: String]) throws -> [String: TemplateValue] {
        let unknown = overrides.keys.filter { name in !parameters.contains { $0.name == name } }.sorted()
        if !unknown.isEmpty {
            throw TemplateError("Parameters: [\(unknown.joined(separator: ", "))] do not exist in the template")
        }
        var values: [String: TemplateValue] = [:]
        var missing: [String] = []
        for parameter in parameters {
            guard let text = overrides[parameter.name] ?? parameter.defaultValue else {
                missing.append(parameter.name)
                continue
            }
            let items = parameter.isList ? text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } : [text]
            for item in items {
                if !parameter.allowedValues.isEmpty && !parameter.allowedValues.contains(item) {
                    throw TemplateError("Parameter '\(parameter.name)' must be one of AllowedValues")
                }
                if parameter.type == "Number" || parameter.type == "List<Number>" {
                    guard let number = Double(item) else { throw TemplateError("Parameter '\(parameter.name)' must be a number.") }
                    if let min = parameter.minValue, number < min {
                        throw TemplateError("Parameter '\(parameter.name)' must be a number not less than \(Self.number(min))")
                    }
                    if let max = parameter.maxValue, number > max {
                        throw TemplateError("Parameter '\(parameter.name)' must be a number not greater than \(Self.number(max))")
                    }
                }
                if let min = parameter.minLength, item.count < min {
                    throw TemplateError("Parameter '\(parameter.name)' must contain at least \(min) characters")
                }
                if let max = parameter.maxLength, item.count > max {
                    throw TemplateError("Parameter '\(parameter.name)' must contain at most \(max) characters")
                }
                if let pattern = parameter.allowedPattern {
                    let whole = "^(?:\(pattern))$"
                    guard item.range(of: whole, options: .regularExpression) != nil else {
                        throw TemplateError(parameter.constraintDescription.map { "Parameter '\(parameter.name)' failed to satisfy constraint: \($0)" }
                            ?? "Parameter '\(parameter.name)' must match pattern \(pattern)")
                    }
                }
            }
            values[parameter.name] = parameter.isList ? .list(items.map { .string($0) }) : (parameter.type == "Number" ? .number(text) : .string(text))
        }
        if !missing.isEmpty {
            throw TemplateError("Parameters: [\(missing.joined(separator: ", "))] must have values")
        }
        return values
    }

    /// Every condition's truth, each evaluated once its own `Condition` references are; a cycle is refused.
    public func conditionValues(_ context: EvaluationContext) throws -> [String: Bool] {
        var context = context
        var result: [String: Bool] = [:]
        var visiting: [String] = []
        func visit(_ name: String) throws {
            if result[name] != nil { return }
            if visiting.contains(name) {
                throw TemplateError("Template format error: Circular condition dependency between conditions: [\((visiting + [name]).joined(separator: ", "))]")
            }
            guard let body = conditions[name] else {
                throw TemplateError("Template format error: Unresolved condition dependency \(name) in Conditions")
            }
            visiting.append(name)
            for other in Self.conditionReferences(body) { try visit(other) }
            visiting.removeLast()
            context.conditions = result
            result[name] = try Evaluator(context).condition(body)
        }
        for name in conditions.keys { try visit(name) }
        for resource in resources {
            if let name = resource.condition, result[name] == nil {
                throw TemplateError("Template format error: Unresolved condition dependency \(name) in Resources block of the template (\(resource.logicalID))")
            }
        }
        return result
    }

    static func conditionReferences(_ value: TemplateValue) -> [String] {
        switch value {
        case .map(let map):
            if map.count == 1, let name = map["Condition"]?.stringValue { return [name] }
            return map.pairs.flatMap { conditionReferences($0.1) }
        case .list(let items): return items.flatMap(conditionReferences)
        default: return []
        }
    }

    /// The resource ids a value refers to (`Ref`, `Fn::GetAtt`, `${…}` in `Fn::Sub`), parameters and
    /// pseudo parameters excluded. `Fn::If` branches count whichever way the condition goes, as
    /// CloudFormation counts them.
    public func references(in value: TemplateValue) -> Set<String> {
        let parameterNames = Set(parameters.map(\.name))
        var found = Set<String>()
        func walk(_ value: TemplateValue, subVariables: Set<String> = []) {
            if let (name, argument) = value.intrinsic {
                switch name {
                case "Ref":
                    if let target = argument.stringValue, !target.hasPrefix("AWS::"), !parameterNames.contains(target) { found.insert(target) }
                    return
                case "Fn::GetAtt":
                    if let list = argument.listValue, let id = list.first?.stringValue { found.insert(id) }
                    else if let dotted = argument.stringValue { found.insert(String(dotted.prefix { $0 != "." })) }
                    return
                case "Fn::Sub":
                    var text = argument.stringValue
                    var local = Set<String>()
                    if let args = argument.listValue, args.count == 2 {
                        text = args[0].stringValue
                        local = Set(args[1].mapValue?.keys ?? [])
                        walk(args[1])
                    }
                    for variable in Self.subVariables(text ?? "") where !local.contains(variable) {
                        let id = String(variable.prefix { $0 != "." })
                        if !variable.hasPrefix("AWS::") && !parameterNames.contains(variable) && !parameterNames.contains(id) { found.insert(id) }
                    }
                    return
                case "Fn::If":
                    if let list = argument.listValue { list.dropFirst().forEach { walk($0) } }
                    return
                default: break
                }
            }
            switch value {
            case .map(let map): map.pairs.forEach { walk($0.1) }
            case .list(let items): items.forEach { walk($0) }
            default: break
            }
        }
        walk(value)
        return found
    }

    /// The names inside `${…}` of a `Fn::Sub` string (`${!Literal}` excluded).
    static func subVariables(_ text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "}") else { break }
            if after.first != "!" { names.append(after[..<close].trimmingCharacters(in: .whitespaces)) }
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// Resources in an order where each comes after everything it refers to or `DependsOn`;
    /// `implicit` maps ids SAM creates (`FnAliaslive`, `ServerlessHttpApi`) to the resource that makes them.
    public func creationOrder(included: Set<String>, implicit: [String: String] = [:]) throws -> [TemplateResource] {
        let byID = Dictionary(uniqueKeysWithValues: resources.map { ($0.logicalID, $0) })
        var edges: [String: Set<String>] = [:]
        var unresolved = Set<String>()
        for resource in resources where included.contains(resource.logicalID) {
            var deps = references(in: .map(resource.properties))
            for dep in resource.dependsOn {
                guard byID[dep] != nil else {
                    throw TemplateError("Template format error: Unresolved resource dependencies [\(dep)] in the Resources block of the template")
                }
                deps.insert(dep)
            }
            var mapped = Set<String>()
            for dep in deps {
                if byID[dep] != nil { mapped.insert(dep) }
                else if let owner = implicit[dep] { if owner != resource.logicalID { mapped.insert(owner) } }
                else { unresolved.insert(dep) }
            }
            edges[resource.logicalID] = mapped.filter { included.contains($0) }
        }
        if !unresolved.isEmpty {
            throw TemplateError("Template format error: Unresolved resource dependencies [\(unresolved.sorted().joined(separator: ", "))] in the Resources block of the template")
        }
        var order: [TemplateResource] = []
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var path: [String] = []
        func visit(_ id: String) throws {
            if state[id] == 2 { return }
            if state[id] == 1 {
                let cycle = path.drop { $0 != id }
                throw TemplateError("Circular dependency between resources: [\(cycle.sorted().joined(separator: ", "))]")
            }
            state[id] = 1
            path.append(id)
            for dep in (edges[id] ?? []).sorted() { try visit(dep) }
            path.removeLast()
            state[id] = 2
            order.append(byID[id]!)
        }
        for resource in resources where included.contains(resource.logicalID) { try visit(resource.logicalID) }
        return order
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }
}
