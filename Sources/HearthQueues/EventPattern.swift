// HearthQueues: the event-pattern subset Lambda's FilterCriteria supports.
import Foundation

/// An EventBridge-style event pattern, as Lambda's event filtering takes it: an object whose
/// leaves are lists of matchers — exact strings, numbers, `null` and booleans, and the objects
/// `{"prefix":…}`, `{"suffix":…}`, `{"equals-ignore-case":…}`, `{"anything-but":…}` (a value
/// or list), `{"exists":true|false}` and `{"numeric":[">",1,"<=",5]}`. A record matches when
/// every key of the pattern matches (a list matches when any of its matchers does). Immutable
/// after parsing (hence `@unchecked Sendable` over its JSON object).
public struct EventPattern: @unchecked Sendable {
    private let pattern: [String: Any]

    public init(parsing text: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw MappingError("Invalid filter pattern definition: \(text) is not a JSON object")
        }
        try Self.check(object, text)
        pattern = object
    }

    private static func check(_ object: [String: Any], _ text: String) throws {
        for (_, value) in object {
            if let nested = value as? [String: Any] { try check(nested, text); continue }
            guard value is [Any] else { throw MappingError("Invalid filter pattern definition: \(text): a pattern's values must be lists or objects") }
        }
    }

    /// Whether `record` (an SQS event record, its `body` parsed when it is JSON) matches.
    public func matches(_ record: [String: Any]) -> Bool {
        Self.match(pattern, record)
    }

    private static func match(_ pattern: [String: Any], _ value: [String: Any]) -> Bool {
        for (key, rule) in pattern {
            if let nested = rule as? [String: Any] {
                guard let inner = value[key] as? [String: Any], match(nested, inner) else { return false }
                continue
            }
            guard let matchers = rule as? [Any], matchers.contains(where: { leaf($0, value[key], present: value[key] != nil) }) else { return false }
        }
        return true
    }

    private static func leaf(_ matcher: Any, _ value: Any?, present: Bool) -> Bool {
        if let rule = matcher as? [String: Any], let (op, argument) = rule.first {
            if op == "exists" { return (argument as? Bool) == present }
            guard let value else { return false }
            let values = (value as? [Any]) ?? [value]
            return values.contains { one in
                switch op {
                case "prefix": return (one as? String).map { $0.hasPrefix(argument as? String ?? "\u{0}") } ?? false
                case "suffix": return (one as? String).map { $0.hasSuffix(argument as? String ?? "\u{0}") } ?? false
                case "equals-ignore-case": return (one as? String)?.lowercased() == (argument as? String)?.lowercased()
                case "anything-but":
                    let excluded = (argument as? [Any]) ?? [argument]
                    return !excluded.contains { equal($0, one) }
                case "numeric": return numeric(argument as? [Any] ?? [], one)
                default: return false
                }
            }
        }
        guard let value else { return matcher is NSNull && present }
        let values = (value as? [Any]) ?? [value]
        return values.contains { equal(matcher, $0) }
    }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (is NSNull, is NSNull): return true
        case (let x as String, let y as String): return x == y
        case (let x as NSNumber, let y as NSNumber): return x == y
        default: return false
        }
    }

    private static func numeric(_ conditions: [Any], _ value: Any) -> Bool {
        guard let number = (value as? NSNumber)?.doubleValue else { return false }
        var i = 0
        while i + 1 < conditions.count {
            guard let op = conditions[i] as? String, let bound = (conditions[i + 1] as? NSNumber)?.doubleValue else { return false }
            let ok: Bool
            switch op {
            case "=": ok = number == bound
            case "<": ok = number < bound
            case "<=": ok = number <= bound
            case ">": ok = number > bound
            case ">=": ok = number >= bound
            default: return false
            }
            if !ok { return false }
            i += 2
        }
        return true
    }
}
