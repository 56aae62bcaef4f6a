// HearthStates: Choice rules. Pure.

extension Execution {
    /// Evaluates a Choice rule on the state's input (after InputPath).
    func evaluate(_ rule: ChoiceRule, _ input: JSON, fid: Int) throws(StatesError) -> Bool {
        switch rule {
        case .and(let rules):
            for r in rules where !(try evaluate(r, input, fid: fid)) { return false }
            return true
        case .or(let rules):
            for r in rules where try evaluate(r, input, fid: fid) { return true }
            return false
        case .not(let r):
            return !(try evaluate(r, input, fid: fid))
        case .compare(let variable, let op, let literal, let operandPath):
            // The context object only when a path reads it (building it is most of a Choice's cost).
            let ctx = variable.root == .context || operandPath?.root == .context ? contextObject(fid) : .null
            let value: JSON?
            do { value = try variable.read(variable.root == .context ? ctx : input) } catch { value = nil }
            if op == "IsPresent" { return (value != nil) == (literal.boolValue ?? true) }
            guard let value else {
                throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(variable)': The choice state's condition path references an invalid value."))
            }
            var operand = literal
            if let operandPath {
                do { operand = try operandPath.read(operandPath.root == .context ? ctx : input) } catch {
                    throw StatesError.runtime(runtimeCause(fid, "Invalid path '\(operandPath)': The choice state's condition path references an invalid value."))
                }
            }
            return Self.compare(value, op, operand)
        }
    }

    static func compare(_ value: JSON, _ op: String, _ operand: JSON) -> Bool {
        switch op {
        case "IsNull": return (value == .null) == (operand.boolValue ?? true)
        case "IsNumeric": return value.isNumber == (operand.boolValue ?? true)
        case "IsString": return (value.stringValue != nil) == (operand.boolValue ?? true)
        case "IsBoolean": return (value.boolValue != nil) == (operand.boolValue ?? true)
        case "IsTimestamp": return (value.stringValue.flatMap(Timestamp.parse) != nil) == (operand.boolValue ?? true)
        case "BooleanEquals":
            guard let a = value.boolValue, let b = operand.boolValue else { return false }
            return a == b
        case "StringMatches":
            guard let a = value.stringValue, let pattern = operand.stringValue else { return false }
            return glob(pattern, a)
        default: break
        }
        if op.hasPrefix("String") {
            guard let a = value.stringValue, let b = operand.stringValue else { return false }
            return order(op.dropFirst(6), a < b ? -1 : (a == b ? 0 : 1))
        }
        if op.hasPrefix("Numeric") {
            guard let a = value.doubleValue, let b = operand.doubleValue else { return false }
            return order(op.dropFirst(7), a < b ? -1 : (a == b ? 0 : 1))
        }
        if op.hasPrefix("Timestamp") {
            guard let a = value.stringValue.flatMap(Timestamp.parse), let b = operand.stringValue.flatMap(Timestamp.parse) else { return false }
            return order(op.dropFirst(9), a < b ? -1 : (a == b ? 0 : 1))
        }
        return false
    }

    static func order(_ relation: Substring, _ c: Int) -> Bool {
        switch relation {
        case "Equals": return c == 0
        case "LessThan": return c < 0
        case "GreaterThan": return c > 0
        case "LessThanEquals": return c <= 0
        case "GreaterThanEquals": return c >= 0
        default: return false
        }
    }

    /// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        enum Token: Equatable { case star, char(Character) }
        var tokens: [Token] = []
        var it = Array(pattern)
        var i = 0
        while i < it.count {
            if it[i] == "\\", i + 1 < it.count { tokens.append(.char(it[i + 1])); i += 2; continue }
            tokens.append(it[i] == "*" ? .star : .char(it[i]))
            i += 1
        }
        it = []
        let t = Array(text)
        // Iterative wildcard match with backtracking to the last star.
        var p = 0, s = 0, starP = -1, starS = 0
        while s < t.count {
            if p < tokens.count, case .char(let c) = tokens[p], c == t[s] { p += 1; s += 1 }
            else if p < tokens.count, tokens[p] == .star { starP = p; starS = s; p += 1 }
            else if starP >= 0 { p = starP + 1; starS += 1; s = starS }
            else { return false }
        }
        while p < tokens.count, tokens[p] == .star { p += 1 }
        return p == tokens.count
    }
}
