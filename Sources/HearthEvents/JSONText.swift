// HearthEvents: a JSON writer for the hot paths (SQS responses and events).
import Foundation

/// Writes a JSON value built of Swift's own `String`, `Int`, `Int64`, `Bool`, `[String: Any]`,
/// `[Any]` and `NSNull`, as `JSONSerialization` would with `.withoutEscapingSlashes` (keys in
/// code-point order when `sortedKeys`). It is several times cheaper: no bridging to
/// `NSDictionary`, no dynamic casts per value beyond one type check (profiled: on Linux
/// `JSONSerialization.data` was a fifth of the supervisor's CPU for ReceiveMessage).
///
/// Returns nil for anything else (a `Double`, an `NSNumber` from a parsed document, whose
/// boolean-or-number identity only Foundation knows), so callers fall back to `JSONSerialization`.
public enum JSONText {
    public static func encode(_ value: Any, sortedKeys: Bool = false) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        return write(value, into: &out, sortedKeys: sortedKeys) ? out : nil
    }

    /// `encode`, else `JSONSerialization` (the same options), else `fallback`.
    public static func data(_ value: Any, sortedKeys: Bool = false, fallback: String = "{}") -> [UInt8] {
        if let bytes = encode(value, sortedKeys: sortedKeys) { return bytes }
        var options: JSONSerialization.WritingOptions = [.withoutEscapingSlashes]
        if sortedKeys { options.insert(.sortedKeys) }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: options) { return [UInt8](data) }
        return Array(fallback.utf8)
    }

    private static func write(_ value: Any, into out: inout [UInt8], sortedKeys: Bool) -> Bool {
        if let string = value as? String {
            writeString(string, into: &out)
            return true
        }
        let type = Swift.type(of: value)
        if type == Int.self {
            out += String(value as! Int).utf8
        } else if type == Int64.self {
            out += String(value as! Int64).utf8
        } else if type == Bool.self {
            out += (value as! Bool) ? Array("true".utf8) : Array("false".utf8)
        } else if let object = value as? [String: Any] {
            out.append(UInt8(ascii: "{"))
            var first = true
            func member(_ key: String, _ element: Any) -> Bool {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                return write(element, into: &out, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                for key in object.keys.sorted() where !member(key, object[key]!) { return false }
            } else {
                for (key, element) in object where !member(key, element) { return false }
            }
            out.append(UInt8(ascii: "}"))
        } else if let array = value as? [Any] {
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                if !write(element, into: &out, sortedKeys: sortedKeys) { return false }
            }
            out.append(UInt8(ascii: "]"))
        } else if value is NSNull {
            out += "null".utf8
        } else {
            return false
        }
        return true
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x00..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
