// HearthDeploy: reading template text (YAML with CloudFormation's short tags, or JSON).

import Foundation
import Yams

/// Why a template could not be read or used. `description` is the message the user sees; the
/// wording follows CloudFormation's ("Template format error: …") where it has one.
public struct TemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum TemplateLoader {
    /// At most this many nodes after YAML aliases are expanded (a "billion laughs" template is refused).
    public static let maxNodes = 1_000_000

    /// CloudFormation's short-form tags and their long forms.
    static let tags: [String: String] = [
        "!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join",
        "!Select": "Fn::Select", "!Split": "Fn::Split", "!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
        "!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
        "!ImportValue": "Fn::ImportValue", "!GetAZs": "Fn::GetAZs", "!Cidr": "Fn::Cidr", "!Transform": "Fn::Transform",
        "!Length": "Fn::Length", "!ToJsonString": "Fn::ToJsonString",
    ]

    /// Loads a template's text: JSON if it starts with `{`, YAML otherwise.
    public static func load(_ text: String) throws -> TemplateValue {
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{feff}" }
        if trimmed.first == "{" {
            var parser = JSONReader(Array(trimmed.utf8))
            return try parser.document()
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw TemplateError("Template format error: YAML not well-formed. \(error)")
        }
        guard let node else { throw TemplateError("Template format error: the template is empty") }
        var budget = maxNodes
        return try value(node, budget: &budget)
    }

    static func value(_ node: Node, budget: inout Int) throws -> TemplateValue {
        budget -= 1
        guard budget >= 0 else { throw TemplateError("Template format error: more than \(maxNodes) values after YAML aliases are expanded") }
        let tag = node.tag.rawValue
        if tag.hasPrefix("!") && tag != "!" {
            guard let long = tags[tag] else { throw TemplateError("Template format error: unknown tag \(tag)") }
            var inner: TemplateValue
            switch node {
            case .scalar(let scalar): inner = .string(scalar.string)
            default: inner = try untagged(node, budget: &budget)
            }
            // `!GetAtt Resource.Attribute` is the dotted scalar form of ["Resource", "Attribute"].
            if long == "Fn::GetAtt", case .string(let dotted) = inner, let dot = dotted.firstIndex(of: ".") {
                inner = .list([.string(String(dotted[..<dot])), .string(String(dotted[dotted.index(after: dot)...]))])
            }
            return .map(TemplateMap([(long, inner)]))
        }
        return try untagged(node, budget: &budget)
    }

    static func untagged(_ node: Node, budget: inout Int) throws -> TemplateValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            switch node.tag.rawValue {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue:
                // YAML 1.1's yes/no/on/off stay strings, as CloudFormation reads them.
                switch scalar.string.lowercased() {
                case "true": return .bool(true)
                case "false": return .bool(false)
                default: return .string(scalar.string)
                }
            case Tag.Name.int.rawValue, Tag.Name.float.rawValue: return .number(scalar.string)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .list(try sequence.map { try value($0, budget: &budget) })
        case .mapping(let mapping):
            var map = TemplateMap()
            for (key, item) in mapping {
                guard case .scalar(let keyScalar) = key else { throw TemplateError("Template format error: a map key must be a string") }
                if map[keyScalar.string] != nil {
                    throw TemplateError("Template format error: duplicate key \(keyScalar.string)")
                }
                map[keyScalar.string] = try value(item, budget: &budget)
            }
            return .map(map)
        case .alias:
            throw TemplateError("Template format error: unresolved YAML alias")
        }
    }
}

/// A strict JSON reader that keeps key order and numbers' text.
struct JSONReader {
    let bytes: [UInt8]
    var at = 0
    var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws -> TemplateValue {
        let value = try parse()
        skipSpace()
        guard at == bytes.count else { throw fail("unexpected text after the template") }
        return value
    }

    func fail(_ what: String) -> TemplateError {
        let line = bytes[..<min(at, bytes.count)].filter { $0 == UInt8(ascii: "\n") }.count + 1
        return TemplateError("Template format error: JSON not well-formed. (line \(line)) \(what)")
    }

    mutating func skipSpace() {
        while at < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[at]) { at += 1 }
    }

    mutating func parse() throws -> TemplateValue {
        skipSpace()
        guard at < bytes.count else { throw fail("unexpected end") }
        switch bytes[at] {
        case UInt8(ascii: "{"):
            depth += 1
            guard depth < 512 else { throw fail("nested too deeply") }
            defer { depth -= 1 }
            at += 1
            var map = TemplateMap()
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .map(map) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                at += 1
                if map[key] != nil { throw fail("duplicate key \(key)") }
                map[key] = try parse()
                skipSpace()
                guard at < bytes.count else { throw fail("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .map(map) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            depth += 1
            guard depth < 512 else { throw fail("nested too deeply") }
            defer { depth -= 1 }
            at += 1
            var list: [TemplateValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .list(list) }
            while true {
                list.append(try parse())
                skipSpace()
                guard at < bytes.count else { throw fail("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .list(list) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .null
        default:
            let start = at
            while at < bytes.count, "+-0123456789.eE".utf8.contains(bytes[at]) { at += 1 }
            let text = String(decoding: bytes[start..<at], as: UTF8.self)
            guard !text.isEmpty, Double(text) != nil else { throw fail("unexpected character") }
            return .number(text)
        }
    }

    mutating func word(_ w: String) throws {
        let w = Array(w.utf8)
        guard at + w.count <= bytes.count, Array(bytes[at..<at + w.count]) == w else { throw fail("unexpected word") }
        at += w.count
    }

    mutating func string() throws -> String {
        at += 1
        var out: [UInt8] = []
        while at < bytes.count {
            let c = bytes[at]
            at += 1
            switch c {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { throw fail("unterminated string") }
                let e = bytes[at]
                at += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), at + 6 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") {
                        at += 2
                        let low = try hex4()
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{fffd}").utf8)
                default: out.append(e)
                }
            default:
                guard c >= 0x20 else { throw fail("control character in a string") }
                out.append(c)
            }
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        at += 4
        return v
    }
}
