// HearthDeploy: a template's values, as CloudFormation sees them.

import Foundation

/// A value in a template: YAML and JSON both load into this, intrinsic functions included
/// (short tags become their long form, `!Ref X` → `{"Ref": "X"}`).
///
/// Numbers keep their text (`2.0` stays `2.0`, `010` stays `010`): CloudFormation turns scalars
/// into strings wherever a string is expected, and a property must see what the author wrote.
public indirect enum TemplateValue: Hashable, Sendable {
    case string(String)
    /// A plain scalar YAML or JSON reads as a number, with the text as written.
    case number(String)
    case bool(Bool)
    case null
    case list([TemplateValue])
    /// Keys in the order written (key order matters for nothing but error messages and output).
    case map(TemplateMap)

    /// The value as a string, where CloudFormation would accept it as one.
    public var stringValue: String? {
        switch self {
        case .string(let s), .number(let s): return s
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    public var mapValue: TemplateMap? {
        if case .map(let m) = self { return m }
        return nil
    }

    public var listValue: [TemplateValue]? {
        if case .list(let l) = self { return l }
        return nil
    }

    public var intValue: Int? {
        switch self {
        case .number(let s), .string(let s): return Int(s) ?? Double(s).flatMap { $0 == $0.rounded() ? Int(exactly: $0) : nil }
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .number(let s), .string(let s): return Double(s)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .string(let s):
            switch s.lowercased() {
            case "true": return true
            case "false": return false
            default: return nil
            }
        default: return nil
        }
    }

    public subscript(key: String) -> TemplateValue? {
        mapValue?[key]
    }

    /// The intrinsic function this value is, if it is a one-key map whose key is one.
    public var intrinsic: (name: String, argument: TemplateValue)? {
        guard case .map(let m) = self, m.count == 1, let (key, value) = m.pairs.first,
              key == "Ref" || key == "Condition" || key.hasPrefix("Fn::") else { return nil }
        return (key, value)
    }

    /// Plain JSON for the value (numbers as JSON numbers where their text is one).
    public var jsonObject: Any {
        switch self {
        case .string(let s): return s
        case .number(let s):
            if let i = Int(s) { return i }
            if let d = Double(s), d.isFinite { return d }
            return s
        case .bool(let b): return b
        case .null: return NSNull()
        case .list(let l): return l.map(\.jsonObject)
        case .map(let m):
            var object: [String: Any] = [:]
            for (k, v) in m.pairs { object[k] = v.jsonObject }
            return object
        }
    }

    /// Canonical JSON text (sorted keys): what change sets compare and hash.
    public var canonicalJSON: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .number(let s): return Double(s) != nil ? s : Self.quote(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .list(let l): return "[" + l.map(\.canonicalJSON).joined(separator: ",") + "]"
        case .map(let m):
            return "{" + m.pairs.sorted { $0.0 < $1.0 }.map { Self.quote($0.0) + ":" + $0.1.canonicalJSON }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A map that keeps its keys in the order they were written.
public struct TemplateMap: Hashable, Sendable, Sequence {
    public private(set) var pairs: [(String, TemplateValue)]

    public init(_ pairs: [(String, TemplateValue)] = []) {
        self.pairs = pairs
    }

    public var count: Int { pairs.count }
    public var keys: [String] { pairs.map(\.0) }

    public subscript(key: String) -> TemplateValue? {
        get { pairs.first { $0.0 == key }?.1 }
        set {
            if let index = pairs.firstIndex(where: { $0.0 == key }) {
                if let newValue { pairs[index].1 = newValue } else { pairs.remove(at: index) }
            } else if let newValue {
                pairs.append((key, newValue))
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[(String, TemplateValue)]> { pairs.makeIterator() }

    public static func == (lhs: TemplateMap, rhs: TemplateMap) -> Bool {
        lhs.pairs.count == rhs.pairs.count && lhs.pairs.allSatisfy { rhs[$0.0] == $0.1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (k, v) in pairs.sorted(by: { $0.0 < $1.0 }) {
            hasher.combine(k)
            hasher.combine(v)
        }
    }
}
