// HearthStates: the JSONPath subset Step Functions accepts, evaluated as AWS's (Jayway) does. Pure.

/// A parsed JSONPath (`$…` on the input, `$$…` on the context object).
///
/// Supported: `.name`, `['name']`, `[n]` (negative from the end), `[a:b]`, `[*]`, `.*`, `..name`,
/// `[n,m]`, `['a','b']` and filters `[?(@.x op literal)]` with `==, !=, <, <=, >, >=`, existence
/// `[?(@.x)]`, `&&` and `||`. A path made only of names and single indexes is definite: it reads
/// one value (missing → error); any other is indefinite and reads the array of its matches.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Root: Sendable, Equatable { case input, context }

    enum Segment: Sendable, Equatable {
        case name(String)
        case index(Int)
        case names([String])
        case indexes([Int])
        case slice(Int?, Int?, Int?)
        case wildcard
        case descend(String?)   // ..name, or ..* when nil
        case filter(Filter)
    }

    indirect enum Filter: Sendable, Equatable {
        case exists([String])
        case compare([String], String, JSON)
        case and(Filter, Filter)
        case or(Filter, Filter)
    }

    public let root: Root
    let segments: [Segment]
    public let description: String

    public var isDefinite: Bool {
        segments.allSatisfy { if case .name = $0 { return true }; if case .index = $0 { return true }; return false }
    }

    /// The names of a definite path (for ResultPath), nil if it has anything else.
    public var definiteSteps: [Step]? {
        var steps: [Step] = []
        for s in segments {
            switch s {
            case .name(let n): steps.append(.name(n))
            case .index(let i): steps.append(.index(i))
            default: return nil
            }
        }
        return steps
    }

    public enum Step: Sendable, Equatable { case name(String), index(Int) }

    public struct ParseError: Error, Sendable, Equatable { public var message: String }

    public init(_ text: String) throws(ParseError) {
        description = text
        var chars = Array(text.unicodeScalars)
        guard chars.first == "$" else { throw ParseError(message: "The value for the field must be a valid JSONPath") }
        chars.removeFirst()
        if chars.first == "$" {
            root = .context
            chars.removeFirst()
        } else {
            root = .input
        }
        var p = PathParser(chars: chars)
        segments = try p.segments()
    }

    // MARK: evaluation

    public enum EvalError: Error, Sendable, Equatable {
        /// Jayway's message: `No results for path: $['a']` or `Missing property in path $['a']`.
        case notFound(String)
    }

    /// Reads the path. Definite: the value; indefinite: the array of matches.
    public func read(_ value: JSON) throws(EvalError) -> JSON {
        if isDefinite {
            var current = value
            var shown = "$"
            for (n, segment) in segments.enumerated() {
                let leaf = n == segments.count - 1
                switch segment {
                case .name(let name):
                    shown += "['\(name)']"
                    guard case .object(let o) = current, let next = o[name] else {
                        throw .notFound(leaf ? "No results for path: \(shown)" : "Missing property in path \(shown)")
                    }
                    current = next
                case .index(let i):
                    shown += "[\(i)]"
                    guard case .array(let a) = current else { throw .notFound("No results for path: \(shown)") }
                    let k = i < 0 ? a.count + i : i
                    guard a.indices.contains(k) else { throw .notFound("No results for path: \(shown)") }
                    current = a[k]
                default: break
                }
            }
            return current
        }
        var matches = [value]
        for segment in segments { matches = matches.flatMap { Self.apply(segment, to: $0) } }
        return .array(matches)
    }

    static func apply(_ segment: Segment, to value: JSON) -> [JSON] {
        switch segment {
        case .name(let n): return value[n].map { [$0] } ?? []
        case .names(let ns): return ns.compactMap { value[$0] }
        case .index(let i):
            guard case .array(let a) = value else { return [] }
            let k = i < 0 ? a.count + i : i
            return a.indices.contains(k) ? [a[k]] : []
        case .indexes(let is_):
            guard case .array(let a) = value else { return [] }
            return is_.compactMap { i in let k = i < 0 ? a.count + i : i; return a.indices.contains(k) ? a[k] : nil }
        case .slice(let from, let to, let step):
            guard case .array(let a) = value else { return [] }
            let n = a.count
            func clamp(_ v: Int?, _ dflt: Int) -> Int { guard let v else { return dflt }; return v < 0 ? max(0, n + v) : min(n, v) }
            let s = clamp(from, 0), e = clamp(to, n), st = max(1, step ?? 1)
            guard s < e else { return [] }
            return stride(from: s, to: e, by: st).map { a[$0] }
        case .wildcard:
            switch value {
            case .array(let a): return a
            case .object(let o): return o.pairs.map(\.1)
            default: return []
            }
        case .descend(let name):
            var out: [JSON] = []
            func walk(_ v: JSON) {
                switch v {
                case .object(let o):
                    if let name { if let hit = o[name] { out.append(hit) } } else { out.append(contentsOf: o.pairs.map(\.1)) }
                    for (_, child) in o.pairs { walk(child) }
                case .array(let a):
                    if name == nil { out.append(contentsOf: a) }
                    for child in a { walk(child) }
                default: break
                }
            }
            walk(value)
            return out
        case .filter(let f):
            switch value {
            case .array(let a): return a.filter { f.matches($0) }
            case .object: return f.matches(value) ? [value] : []
            default: return []
            }
        }
    }
}

extension JSONPath.Filter {
    func matches(_ item: JSON) -> Bool {
        func lookup(_ names: [String]) -> JSON? {
            var v: JSON? = item
            for n in names { v = v?[n] }
            return v
        }
        switch self {
        case .exists(let names): return lookup(names) != nil
        case .and(let a, let b): return a.matches(item) && b.matches(item)
        case .or(let a, let b): return a.matches(item) || b.matches(item)
        case .compare(let names, let op, let literal):
            guard let v = lookup(names) else { return false }
            if let x = v.doubleValue, let y = literal.doubleValue {
                switch op {
                case "==": return x == y
                case "!=": return x != y
                case "<": return x < y
                case "<=": return x <= y
                case ">": return x > y
                case ">=": return x >= y
                default: return false
                }
            }
            if case .string(let x) = v, case .string(let y) = literal {
                switch op {
                case "==": return x == y
                case "!=": return x != y
                case "<": return x < y
                case "<=": return x <= y
                case ">": return x > y
                case ">=": return x >= y
                default: return false
                }
            }
            switch op {
            case "==": return v == literal
            case "!=": return v != literal
            default: return false
            }
        }
    }
}

/// A recursive-descent parser of the part after `$`.
struct PathParser {
    var chars: [Unicode.Scalar]
    var i = 0

    func fail() -> JSONPath.ParseError { JSONPath.ParseError(message: "The value for the field must be a valid JSONPath") }

    var atEnd: Bool { i >= chars.count }
    func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < chars.count ? chars[i + k] : nil }

    static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        !(c == "." || c == "[" || c == "]" || c == " " || c == "(" || c == ")" || c == "'" || c == "\"" || c == "," || c == "=" || c == "<" || c == ">" || c == "!" || c == "&" || c == "|")
    }

    mutating func name() throws(JSONPath.ParseError) -> String {
        var out = ""
        while let c = peek(), Self.isNameChar(c) { out.unicodeScalars.append(c); i += 1 }
        guard !out.isEmpty else { throw fail() }
        return out
    }

    mutating func segments() throws(JSONPath.ParseError) -> [JSONPath.Segment] {
        var out: [JSONPath.Segment] = []
        while !atEnd {
            let c = chars[i]
            if c == "." {
                if peek(1) == "." {
                    i += 2
                    if peek() == "*" { i += 1; out.append(.descend(nil)) }
                    else if peek() == "[" { out.append(.descend(nil)); out.append(try bracket()) }
                    else { out.append(.descend(try name())) }
                } else {
                    i += 1
                    if peek() == "*" { i += 1; out.append(.wildcard) } else { out.append(.name(try name())) }
                }
            } else if c == "[" {
                out.append(try bracket())
            } else {
                throw fail()
            }
        }
        return out
    }

    mutating func skipSpaces() { while peek() == " " { i += 1 } }

    mutating func quoted() throws(JSONPath.ParseError) -> String {
        guard let q = peek(), q == "'" || q == "\"" else { throw fail() }
        i += 1
        var out = ""
        while let c = peek(), c != q {
            if c == "\\", let n = peek(1) { out.unicodeScalars.append(n); i += 2; continue }
            out.unicodeScalars.append(c)
            i += 1
        }
        guard peek() == q else { throw fail() }
        i += 1
        return out
    }

    mutating func integer() -> Int? {
        var text = ""
        if peek() == "-" { text = "-"; i += 1 }
        while let c = peek(), ("0"..."9").contains(c) { text.unicodeScalars.append(c); i += 1 }
        return Int(text)
    }

    mutating func bracket() throws(JSONPath.ParseError) -> JSONPath.Segment {
        i += 1  // [
        skipSpaces()
        defer { }
        let segment: JSONPath.Segment
        if peek() == "*" {
            i += 1
            segment = .wildcard
        } else if peek() == "'" || peek() == "\"" {
            var names = [try quoted()]
            skipSpaces()
            while peek() == "," { i += 1; skipSpaces(); names.append(try quoted()); skipSpaces() }
            segment = names.count == 1 ? .name(names[0]) : .names(names)
        } else if peek() == "?" {
            i += 1
            guard peek() == "(" else { throw fail() }
            i += 1
            let f = try filterOr()
            skipSpaces()
            guard peek() == ")" else { throw fail() }
            i += 1
            segment = .filter(f)
        } else {
            let first = integer()
            skipSpaces()
            if peek() == ":" {
                i += 1
                let second = integer()
                var third: Int?
                if peek() == ":" { i += 1; third = integer() }
                segment = .slice(first, second, third)
            } else if let first {
                var all = [first]
                while peek() == "," {
                    i += 1
                    skipSpaces()
                    guard let n = integer() else { throw fail() }
                    all.append(n)
                    skipSpaces()
                }
                segment = all.count == 1 ? .index(first) : .indexes(all)
            } else {
                throw fail()
            }
        }
        skipSpaces()
        guard peek() == "]" else { throw fail() }
        i += 1
        return segment
    }

    mutating func filterOr() throws(JSONPath.ParseError) -> JSONPath.Filter {
        try binary("|", combine: JSONPath.Filter.or) { (p: inout PathParser) throws(JSONPath.ParseError) in try p.filterAnd() }
    }

    mutating func filterAnd() throws(JSONPath.ParseError) -> JSONPath.Filter {
        try binary("&", combine: JSONPath.Filter.and) { (p: inout PathParser) throws(JSONPath.ParseError) in try p.filterAtom() }
    }

    /// `operand (op op operand)*`, left-associative, for `||` and `&&`.
    mutating func binary(_ op: Unicode.Scalar, combine: (JSONPath.Filter, JSONPath.Filter) -> JSONPath.Filter,
                         operand: (inout PathParser) throws(JSONPath.ParseError) -> JSONPath.Filter) throws(JSONPath.ParseError) -> JSONPath.Filter {
        var left = try operand(&self)
        skipSpaces()
        while peek() == op && peek(1) == op {
            i += 2
            left = combine(left, try operand(&self))
            skipSpaces()
        }
        return left
    }

    mutating func filterAtom() throws(JSONPath.ParseError) -> JSONPath.Filter {
        skipSpaces()
        if peek() == "(" {
            i += 1
            let inner = try filterOr()
            skipSpaces()
            guard peek() == ")" else { throw fail() }
            i += 1
            return inner
        }
        guard peek() == "@" else { throw fail() }
        i += 1
        var names: [String] = []
        while peek() == "." || peek() == "[" {
            if peek() == "." { i += 1; names.append(try name()) } else {
                i += 1
                names.append(try quoted())
                guard peek() == "]" else { throw fail() }
                i += 1
            }
        }
        skipSpaces()
        var op = ""
        while let c = peek(), c == "=" || c == "!" || c == "<" || c == ">" { op.unicodeScalars.append(c); i += 1 }
        if op.isEmpty { return .exists(names) }
        guard ["==", "!=", "<", "<=", ">", ">="].contains(op) else { throw fail() }
        skipSpaces()
        return .compare(names, op, try literal())
    }

    mutating func literal() throws(JSONPath.ParseError) -> JSON {
        if peek() == "'" || peek() == "\"" { return .string(try quoted()) }
        var text = ""
        while let c = peek(), c != ")" && c != " " && c != "&" && c != "|" { text.unicodeScalars.append(c); i += 1 }
        guard let value = try? JSON.parse(text), value.isNumber || value == .null || value.boolValue != nil else { throw fail() }
        return value
    }
}

// MARK: writing (ResultPath)

extension JSON {
    /// Puts `value` at a definite path's steps, creating objects for missing names. Fails when a
    /// step meets a value that is not an object (or an array, for an index).
    func setting(_ steps: ArraySlice<JSONPath.Step>, to value: JSON) -> JSON? {
        JSON.set(self, steps, value)
    }

    static func set(_ target: JSON?, _ steps: ArraySlice<JSONPath.Step>, _ value: JSON) -> JSON? {
        guard let first = steps.first else { return value }
        switch first {
        case .name(let n):
            var o: JSONObject
            switch target {
            case .object(let existing): o = existing
            case nil: o = JSONObject()
            default: return nil
            }
            guard let child = JSON.set(o[n], steps.dropFirst(), value) else { return nil }
            o[n] = child
            return .object(o)
        case .index(let i):
            guard case .array(var a) = target else { return nil }
            let k = i < 0 ? a.count + i : i
            guard a.indices.contains(k), let child = JSON.set(a[k], steps.dropFirst(), value) else { return nil }
            a[k] = child
            return .array(a)
        }
    }
}
