// HearthStates: payload templates (Parameters, ResultSelector, ItemSelector) and Wait/Choice
// timestamps. Pure.
import Foundation
import HearthScheduler

/// A payload template compiled at definition time: literal JSON, with `key.$` fields whose
/// values are a JSONPath (on the input, or `$$` on the context object) or an intrinsic call.
public indirect enum Template: Sendable, Equatable {
    case literal(JSON)
    case object([(key: String, field: String, value: Template)])
    case array([Template])
    case path(JSONPath, field: String)
    case call(Intrinsic, field: String)

    public static func == (a: Template, b: Template) -> Bool {
        switch (a, b) {
        case (.literal(let x), .literal(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.path(let x, let f), .path(let y, let g)): return x == y && f == g
        case (.call(let x, let f), .call(let y, let g)): return x == y && f == g
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.field == $1.field && $0.value == $1.value }
        default: return false
        }
    }

    /// Compiles `value`; adds a diagnostic for each `.$` field that is neither a path nor a call.
    static func compile(_ value: JSON, at location: String, into diagnostics: inout [Diagnostic]) -> Template {
        switch value {
        case .object(let o):
            var fields: [(key: String, field: String, value: Template)] = []
            var dynamic = false
            for (k, v) in o.pairs {
                if k.hasSuffix(".$") {
                    dynamic = true
                    let key = String(k.dropLast(2))
                    guard case .string(let text) = v else {
                        diagnostics.append(Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "The value for the field '\(k)' must be a STRING that contains a JSONPath.", location: location))
                        continue
                    }
                    if Intrinsic.looksLikeCall(text) {
                        do { fields.append((key, k, .call(try Intrinsic(parsing: text), field: k))) } catch {
                            diagnostics.append(Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "The value for the field '\(k)' must be a valid JSONPath or a valid intrinsic function call", location: location))
                        }
                    } else {
                        do { fields.append((key, k, .path(try JSONPath(text), field: k))) } catch {
                            diagnostics.append(Diagnostic(code: "SCHEMA_VALIDATION_FAILED", message: "The value for the field '\(k)' must be a valid JSONPath or a valid intrinsic function call", location: location))
                        }
                    }
                } else {
                    let inner = compile(v, at: location + "/" + k, into: &diagnostics)
                    if case .literal = inner {} else { dynamic = true }
                    fields.append((k, k, inner))
                }
            }
            return dynamic ? .object(fields) : .literal(value)
        case .array(let a):
            let items = a.map { compile($0, at: location, into: &diagnostics) }
            return items.allSatisfy({ if case .literal = $0 { return true }; return false }) ? .literal(value) : .array(items)
        default:
            return .literal(value)
        }
    }

    /// Evaluates against the state's (effective) input and the context object.
    func evaluate(input: JSON, context: JSON, random: inout StatesRandom) throws(StatesError) -> JSON {
        switch self {
        case .literal(let v): return v
        case .array(let items):
            var out: [JSON] = []
            for t in items { out.append(try t.evaluate(input: input, context: context, random: &random)) }
            return .array(out)
        case .object(let fields):
            var o = JSONObject()
            for f in fields { o[f.key] = try f.value.evaluate(input: input, context: context, random: &random) }
            return .object(o)
        case .path(let p, let field):
            do { return try p.read(p.root == .context ? context : input) } catch {
                throw .runtime("The JSONPath '\(p)' specified for the field '\(field)' could not be found in the input '\((p.root == .context ? context : input).text)'")
            }
        case .call(let call, _):
            return try call.evaluate(input: input, context: context, random: &random)
        }
    }
}

/// RFC 3339 timestamps as Step Functions accepts them (`2016-03-14T01:59:00Z`, fractions and
/// offsets allowed; a space for `T`, a missing zone or an impossible date are refused).
public enum Timestamp {
    /// Epoch milliseconds, or nil if `text` is not a valid timestamp.
    public static func parse(_ text: String) -> Int64? {
        let c = Array(text.utf8)
        func digits(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= c.count else { return nil }
            var v = 0
            for k in from..<from + n {
                guard (48...57).contains(c[k]) else { return nil }
                v = v * 10 + Int(c[k] - 48)
            }
            return v
        }
        guard c.count >= 20, let y = digits(0, 4), c[4] == UInt8(ascii: "-"), let mo = digits(5, 2), c[7] == UInt8(ascii: "-"),
              let d = digits(8, 2), c[10] == UInt8(ascii: "T") || c[10] == UInt8(ascii: "t"),
              let h = digits(11, 2), c[13] == UInt8(ascii: ":"), let mi = digits(14, 2), c[16] == UInt8(ascii: ":"),
              let s = digits(17, 2) else { return nil }
        guard (1...12).contains(mo), h < 24, mi < 60, s < 61 else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...days[mo - 1]).contains(d) else { return nil }
        var i = 19
        var fractionMs = 0
        if i < c.count, c[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < c.count, (48...57).contains(c[i]) { i += 1 }
            guard i > start else { return nil }
            let frac = String(decoding: c[start..<min(i, start + 3)], as: UTF8.self).padding(toLength: 3, withPad: "0", startingAt: 0)
            fractionMs = Int(frac) ?? 0
        }
        var offsetMinutes = 0
        guard i < c.count else { return nil }
        if c[i] == UInt8(ascii: "Z") || c[i] == UInt8(ascii: "z") {
            i += 1
        } else if c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-") {
            guard let oh = digits(i + 1, 2), i + 3 < c.count, c[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2), oh < 24, om < 60 else { return nil }
            offsetMinutes = (oh * 60 + om) * (c[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == c.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let epochDays = Int64(era * 146_097 + doe - 719_468)
        let seconds = epochDays * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(fractionMs)
    }

    /// `2026-12-02T01:02:03.456Z`, as the context object shows times. Written by hand (civil
    /// from days by `CivilCalendar`): the context object is built at every state's
    /// entry, and Calendar with String(format:) cost more than the rest of a Pass state.
    public static func format(_ ms: Int64) -> String {
        let (secs, millis) = (ms >= 0 ? ms / 1000 : (ms - 999) / 1000, Int(((ms % 1000) + 1000) % 1000))
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let tod = Int(secs - days * 86_400)
        let (y, m, d) = CivilCalendar.civilFromDays(days)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func put(_ v: Int, _ width: Int) {
            var div = 1
            for _ in 1..<width { div *= 10 }
            var v = v
            for _ in 0..<width {
                out.append(UInt8(48 + v / div % 10))
                v %= div
                div /= 10
            }
        }
        put(y, 4); out.append(UInt8(ascii: "-")); put(m, 2); out.append(UInt8(ascii: "-")); put(d, 2)
        out.append(UInt8(ascii: "T")); put(tod / 3600, 2); out.append(UInt8(ascii: ":")); put(tod / 60 % 60, 2)
        out.append(UInt8(ascii: ":")); put(tod % 60, 2); out.append(UInt8(ascii: ".")); put(millis, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
