// HearthStates: the intrinsic functions (`States.Format(…)` and the rest). Pure.
import Crypto
import Foundation

/// A deterministic random source (SplitMix64), seeded per execution: `States.UUID`,
/// `States.MathRandom` and retry jitter draw from it, so replaying a journal reproduces them.
public struct StatesRandom: Sendable, Equatable {
    var state: UInt64

    public init(seed: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in seed.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = h
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    public mutating func uuid() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for k in 0..<2 {
            let v = next()
            for j in 0..<8 { bytes[k * 8 + j] = UInt8((v >> (8 * UInt64(j))) & 0xFF) }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
    }
}

/// A parsed intrinsic call or argument.
public indirect enum Intrinsic: Sendable, Equatable {
    case call(String, [Intrinsic])
    case path(JSONPath)
    case literal(JSON)

    public static let names: Set<String> = [
        "States.Format", "States.StringToJson", "States.JsonToString", "States.Array", "States.ArrayPartition",
        "States.ArrayContains", "States.ArrayRange", "States.ArrayGetItem", "States.ArrayLength", "States.ArrayUnique",
        "States.Base64Encode", "States.Base64Decode", "States.Hash", "States.JsonMerge", "States.MathRandom", "States.MathAdd",
        "States.StringSplit", "States.UUID",
    ]

    public struct ParseError: Error, Sendable, Equatable { public var message: String }

    /// True if `text` looks like a call (`States.Name(`), as opposed to a path.
    public static func looksLikeCall(_ text: String) -> Bool { text.hasPrefix("States.") }

    public init(parsing text: String) throws(ParseError) {
        var p = IntrinsicParser(chars: Array(text.unicodeScalars))
        let value = try p.call(depth: 1)
        p.skip()
        guard p.i == p.chars.count else { throw ParseError(message: "unexpected characters after the call") }
        self = value
    }

    /// Evaluates the call against the state's input and context. Throws `States.IntrinsicFailure`.
    func evaluate(input: JSON, context: JSON, random: inout StatesRandom) throws(StatesError) -> JSON {
        switch self {
        case .literal(let v): return v
        case .path(let p):
            do { return try p.read(p.root == .context ? context : input) } catch {
                if case .notFound(let m) = error { throw StatesError.intrinsic("Invalid path '\(p)' : \(m)") }
            }
            return .null
        case .call(let name, let argExprs):
            var args: [JSON] = []
            for a in argExprs { args.append(try a.evaluate(input: input, context: context, random: &random)) }
            return try Self.run(name, args, random: &random)
        }
    }

    static func fail(_ name: String, _ why: String) -> StatesError { .intrinsic("Invalid arguments in \(name): \(why)") }

    static func count(_ name: String, _ args: [JSON], _ n: ClosedRange<Int>) throws(StatesError) {
        guard n.contains(args.count) else {
            throw fail(name, n.lowerBound == n.upperBound ? "expected \(n.lowerBound) argument(s), got \(args.count)" : "expected \(n.lowerBound) to \(n.upperBound) arguments, got \(args.count)")
        }
    }

    static func string(_ name: String, _ v: JSON) throws(StatesError) -> String {
        guard case .string(let s) = v else { throw fail(name, "expected a string, got \(v.typeName) \(v.text)") }
        return s
    }

    static func array(_ name: String, _ v: JSON) throws(StatesError) -> [JSON] {
        guard case .array(let a) = v else { throw fail(name, "expected an array, got \(v.typeName) \(v.text)") }
        return a
    }

    static func integer(_ name: String, _ v: JSON) throws(StatesError) -> Int64 {
        guard let n = v.intValue else { throw fail(name, "expected an integer, got \(v.typeName) \(v.text)") }
        return n
    }

    static func run(_ name: String, _ args: [JSON], random: inout StatesRandom) throws(StatesError) -> JSON {
        switch name {
        case "States.Format":
            guard let first = args.first else { throw fail(name, "expected a template") }
            let template = try string(name, first)
            var out = ""
            var rest = args.dropFirst()
            var chars = template.unicodeScalars.makeIterator()
            while let c = chars.next() {
                if c == "\\" {
                    if let n = chars.next() { out.unicodeScalars.append(n) }
                } else if c == "{" {
                    guard let close = chars.next(), close == "}" else { throw fail(name, "an unmatched '{' in the template") }
                    guard let v = rest.popFirst() else { throw fail(name, "the template has more placeholders than arguments") }
                    switch v {
                    case .string(let s): out += s
                    case .object, .array: throw fail(name, "placeholders take strings, numbers, booleans or null, not \(v.typeName)")
                    default: out += v.text
                    }
                } else if c == "}" {
                    throw fail(name, "an unmatched '}' in the template")
                } else {
                    out.unicodeScalars.append(c)
                }
            }
            guard rest.isEmpty else { throw fail(name, "the template has fewer placeholders than arguments") }
            return .string(out)
        case "States.StringToJson":
            try count(name, args, 1...1)
            let s = try string(name, args[0])
            do { return try JSON.parse(s) } catch { throw fail(name, "the string is not JSON: \(error)") }
        case "States.JsonToString":
            try count(name, args, 1...1)
            return .string(args[0].text)
        case "States.Array":
            return .array(args)
        case "States.ArrayPartition":
            try count(name, args, 2...2)
            let a = try array(name, args[0])
            let size = try integer(name, args[1])
            guard size > 0 else { throw fail(name, "the chunk size must be greater than 0") }
            return .array(stride(from: 0, to: a.count, by: Int(size)).map { .array(Array(a[$0..<min(a.count, $0 + Int(size))])) })
        case "States.ArrayContains":
            try count(name, args, 2...2)
            return .bool(try array(name, args[0]).contains { $0.sameValue(as: args[1]) })
        case "States.ArrayRange":
            try count(name, args, 3...3)
            let start = try integer(name, args[0]), end = try integer(name, args[1]), step = try integer(name, args[2])
            guard step != 0 else { throw fail(name, "the step must not be 0") }
            let n = (end - start) / step + 1
            guard n <= 1000 else { throw fail(name, "the range would have more than 1000 elements") }
            guard n > 0 else { return .array([]) }
            return .array((0..<n).map { .int(start + $0 * step) })
        case "States.ArrayGetItem":
            try count(name, args, 2...2)
            let a = try array(name, args[0])
            let k = try integer(name, args[1])
            guard k >= 0, k < a.count else { throw fail(name, "index \(k) is out of bounds for an array of \(a.count)") }
            return a[Int(k)]
        case "States.ArrayLength":
            try count(name, args, 1...1)
            return .int(Int64(try array(name, args[0]).count))
        case "States.ArrayUnique":
            try count(name, args, 1...1)
            var out: [JSON] = []
            for v in try array(name, args[0]) where !out.contains(where: { $0.sameValue(as: v) }) { out.append(v) }
            return .array(out)
        case "States.Base64Encode":
            try count(name, args, 1...1)
            let s = try string(name, args[0])
            guard s.count <= 10_000 else { throw fail(name, "the input is longer than 10000 characters") }
            return .string(Data(s.utf8).base64EncodedString())
        case "States.Base64Decode":
            try count(name, args, 1...1)
            let s = try string(name, args[0])
            guard s.count <= 10_000 else { throw fail(name, "the input is longer than 10000 characters") }
            guard let d = Data(base64Encoded: s), let text = String(data: d, encoding: .utf8) else { throw fail(name, "the input is not valid base64") }
            return .string(text)
        case "States.Hash":
            try count(name, args, 2...2)
            let data: String
            if case .string(let s) = args[0] { data = s } else { data = args[0].text }
            guard data.count <= 10_000 else { throw fail(name, "the input is longer than 10000 characters") }
            let algorithm = try string(name, args[1])
            let bytes = Data(data.utf8)
            let digest: [UInt8]
            switch algorithm {
            case "MD5": digest = Array(Insecure.MD5.hash(data: bytes))
            case "SHA-1": digest = Array(Insecure.SHA1.hash(data: bytes))
            case "SHA-256": digest = Array(SHA256.hash(data: bytes))
            case "SHA-384": digest = Array(SHA384.hash(data: bytes))
            case "SHA-512": digest = Array(SHA512.hash(data: bytes))
            default: throw fail(name, "the hash algorithm must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512")
            }
            return .string(digest.map { String(format: "%02x", $0) }.joined())
        case "States.JsonMerge":
            try count(name, args, 3...3)
            guard case .object(let a) = args[0], case .object(let b) = args[1] else { throw fail(name, "both values must be objects") }
            guard args[2] == .bool(false) else { throw fail(name, "deep merging is not supported: the third argument must be false") }
            var merged = a
            for (k, v) in b.pairs { merged[k] = v }
            return .object(merged)
        case "States.MathRandom":
            try count(name, args, 2...3)
            let start = try integer(name, args[0]), end = try integer(name, args[1])
            guard end > start else { throw fail(name, "the end must be greater than the start") }
            if args.count == 3 {
                var seeded = StatesRandom(seed: String(try integer(name, args[2])))
                return .int(start + Int64(seeded.next() % UInt64(end - start)))
            }
            return .int(start + Int64(random.next() % UInt64(end - start)))
        case "States.MathAdd":
            try count(name, args, 2...2)
            let (sum, overflow) = try integer(name, args[0]).addingReportingOverflow(try integer(name, args[1]))
            guard !overflow else { throw fail(name, "the sum is out of range") }
            return .int(sum)
        case "States.StringSplit":
            try count(name, args, 2...2)
            let s = try string(name, args[0])
            let delimiters = Set(try string(name, args[1]).unicodeScalars)
            var parts: [JSON] = []
            var current = ""
            for c in s.unicodeScalars {
                if delimiters.contains(c) {
                    if !current.isEmpty { parts.append(.string(current)) }
                    current = ""
                } else {
                    current.unicodeScalars.append(c)
                }
            }
            if !current.isEmpty { parts.append(.string(current)) }
            return .array(parts)
        case "States.UUID":
            try count(name, args, 0...0)
            return .string(random.uuid())
        default:
            throw StatesError.intrinsic("Unknown intrinsic function \(name)")
        }
    }
}

struct IntrinsicParser {
    var chars: [Unicode.Scalar]
    var i = 0

    mutating func skip() { while i < chars.count, chars[i] == " " { i += 1 } }
    func fail(_ m: String) -> Intrinsic.ParseError { Intrinsic.ParseError(message: m) }

    mutating func call(depth: Int) throws(Intrinsic.ParseError) -> Intrinsic {
        guard depth <= 10 else { throw fail("intrinsic functions nest at most 10 deep") }
        skip()
        var name = ""
        while i < chars.count, chars[i] != "(" { name.unicodeScalars.append(chars[i]); i += 1 }
        name = name.trimmingCharacters(in: .whitespaces)
        guard Intrinsic.names.contains(name) else { throw fail("unknown intrinsic function '\(name)'") }
        guard i < chars.count else { throw fail("expected '('") }
        i += 1
        var args: [Intrinsic] = []
        skip()
        if i < chars.count, chars[i] == ")" { i += 1; return .call(name, args) }
        while true {
            args.append(try argument(depth: depth))
            skip()
            guard i < chars.count else { throw fail("expected ')'") }
            if chars[i] == "," { i += 1; continue }
            if chars[i] == ")" { i += 1; break }
            throw fail("expected ',' or ')'")
        }
        return .call(name, args)
    }

    mutating func argument(depth: Int) throws(Intrinsic.ParseError) -> Intrinsic {
        skip()
        guard i < chars.count else { throw fail("expected an argument") }
        let c = chars[i]
        if c == "'" {
            // A string literal; `\'`, `\{`, `\}` and `\\` escape (the backslash is kept for `{`/`}`
            // and `\\` so that States.Format sees them as literal characters).
            i += 1
            var s = ""
            while i < chars.count, chars[i] != "'" {
                if chars[i] == "\\", i + 1 < chars.count {
                    let n = chars[i + 1]
                    if n == "'" { s += "'" } else { s.unicodeScalars.append("\\"); s.unicodeScalars.append(n) }
                    i += 2
                    continue
                }
                s.unicodeScalars.append(chars[i])
                i += 1
            }
            guard i < chars.count else { throw fail("unterminated string") }
            i += 1
            return .literal(.string(s))
        }
        if c == "$" {
            var text = ""
            var bracket = 0, paren = 0
            var quote: Unicode.Scalar?
            while i < chars.count {
                let d = chars[i]
                if let q = quote { if d == q { quote = nil } }
                else if d == "'" || d == "\"" { quote = d }
                else if d == "[" { bracket += 1 } else if d == "]" { bracket -= 1 }
                else if d == "(" { paren += 1 } else if d == ")" { if paren == 0 && bracket == 0 { break }; paren -= 1 }
                else if d == "," && bracket == 0 && paren == 0 { break }
                text.unicodeScalars.append(d)
                i += 1
            }
            text = text.trimmingCharacters(in: .whitespaces)
            do { return .path(try JSONPath(text)) } catch { throw fail("invalid path \(text)") }
        }
        if text(startsWith: "States.") { return try call(depth: depth + 1) }
        var word = ""
        while i < chars.count, chars[i] != ",", chars[i] != ")" { word.unicodeScalars.append(chars[i]); i += 1 }
        word = word.trimmingCharacters(in: .whitespaces)
        guard let v = try? JSON.parse(word), v.isNumber || v == .null || v.boolValue != nil else { throw fail("invalid argument \(word)") }
        return .literal(v)
    }

    func text(startsWith prefix: String) -> Bool {
        let p = Array(prefix.unicodeScalars)
        return i + p.count <= chars.count && Array(chars[i..<i + p.count]) == p
    }
}
