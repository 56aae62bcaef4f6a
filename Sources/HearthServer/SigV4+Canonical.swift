import Crypto
import Foundation
import HearthScheduler

/// The pieces of AWS Signature Version 4 shared by `SigV4Verifier` and `SigV4Signer`:
/// canonical URI / query / headers, the string to sign, key derivation and timestamps.
///
/// Behaviour follows botocore's `SigV4Auth` (what the aws CLI and boto3 send), which is
/// also what AWS's own SigV4 test suite describes for non-S3 services:
/// - canonical URI: the path *as sent on the wire* (already percent-encoded), with dot
///   segments and empty segments removed, then URI-encoded again (so `%3A` becomes `%253A`);
/// - canonical query: `key=value` pairs, each side percent-decoded and re-encoded with the
///   RFC 3986 unreserved set, sorted by encoded key then encoded value;
/// - canonical headers: the signed header names in the order given, lowercase, values
///   trimmed with inner whitespace runs collapsed, repeated headers joined with `,`.
enum SigV4Canonical {
    static let algorithm = "AWS4-HMAC-SHA256"
    static let terminator = "aws4_request"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    // MARK: Encoding

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    private static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// URI-encodes bytes with the RFC 3986 unreserved set (upper-case hex), optionally keeping `/`.
    static func uriEncode<Bytes: Sequence>(_ bytes: Bytes, keepSlash: Bool = false) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 3 / 2)
        for byte in bytes {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func uriEncode(_ string: String, keepSlash: Bool = false) -> String {
        uriEncode(string.utf8, keepSlash: keepSlash)
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Decodes `%XX` escapes; anything else (including `+` and a stray `%`) is kept as is.
    static func percentDecode<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            if input[i] == UInt8(ascii: "%"), i + 2 < input.count,
               let hi = hexValue(input[i + 1]), let lo = hexValue(input[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(input[i])
                i += 1
            }
        }
        return out
    }

    static func percentDecode(_ string: Substring) -> String {
        String(decoding: percentDecode(string.utf8), as: UTF8.self)
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(lowerHexDigits[Int(byte >> 4)])
            out.append(lowerHexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses lower- or upper-case hex; nil when the text is not an even run of hex digits.
    static func unhex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = hexValue(utf8[i]), let lo = hexValue(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    static func sha256Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hex(SHA256.hash(data: Array(bytes)))
    }

    // MARK: Canonical request parts

    /// botocore's `remove_dot_segments`: drops `.`/empty segments, resolves `..`, keeps a
    /// leading and (for a non-empty result) trailing slash; an empty path becomes `/`.
    static func normalizePath(_ path: String) -> String {
        if path.isEmpty { return "/" }
        var output: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if !output.isEmpty { output.removeLast() }
                continue
            }
            output.append(segment)
        }
        let first = path.hasPrefix("/") ? "/" : ""
        let last = path.hasSuffix("/") && !output.isEmpty ? "/" : ""
        return first + output.joined(separator: "/") + last
    }

    /// Canonical URI for non-S3 services: the raw (still percent-encoded) path, normalised,
    /// then URI-encoded once more with `/` kept.
    static func canonicalURI(rawPath: String) -> String {
        uriEncode(normalizePath(rawPath).utf8, keepSlash: true)
    }

    /// Splits a raw query string into raw (still encoded) key/value pairs.
    static func rawQueryPairs(_ rawQuery: String) -> [(key: Substring, value: Substring)] {
        guard !rawQuery.isEmpty else { return [] }
        return rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (pair[pair.startIndex..<eq], pair[pair.index(after: eq)...])
            }
            return (pair, pair[pair.endIndex...])
        }
    }

    /// Canonical query string from a raw query (without `?`), leaving out the keys in `excluding`
    /// (compared after decoding).
    static func canonicalQuery(rawQuery: String, excluding: Set<String> = []) -> String {
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        for (rawKey, rawValue) in rawQueryPairs(rawQuery) {
            let key = percentDecode(rawKey.utf8)
            if !excluding.isEmpty, excluding.contains(String(decoding: key, as: UTF8.self)) { continue }
            let value = percentDecode(rawValue.utf8)
            pairs.append((Array(uriEncode(key).utf8), Array(uriEncode(value).utf8)))
        }
        pairs.sort { a, b in
            if a.key != b.key { return a.key.lexicographicallyPrecedes(b.key) }
            return a.value.lexicographicallyPrecedes(b.value)
        }
        var out: [UInt8] = []
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out += pair.key
            out.append(UInt8(ascii: "="))
            out += pair.value
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Trims a header value and collapses inner runs of whitespace into one space.
    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            .joined(separator: " ")
    }

    /// `name:value\n` for each signed header (names lowercase, in the order given), or nil
    /// naming the first signed header the request does not carry.
    static func canonicalHeaders(signed names: [String], headers: [(String, String)]) -> Result<String, MissingHeader> {
        var out = ""
        for name in names {
            let values = headers.filter { $0.0.lowercased() == name }.map { trimAll($0.1) }
            guard !values.isEmpty else { return .failure(MissingHeader(name: name)) }
            out += name + ":" + values.joined(separator: ",") + "\n"
        }
        return .success(out)
    }

    struct MissingHeader: Error { var name: String }

    static func canonicalRequest(method: String, canonicalURI: String, canonicalQuery: String,
                                 canonicalHeaders: String, signedHeaders: String, payloadHash: String) -> String {
        [method, canonicalURI, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
    }

    static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, timestamp, scope, sha256Hex(canonicalRequest.utf8)].joined(separator: "\n")
    }

    static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        func mac(_ key: SymmetricKey, _ message: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key))
        }
        let kDate = mac(SymmetricKey(data: Array("AWS4\(secret)".utf8)), date)
        return mac(mac(mac(kDate, region), service), terminator)
    }

    static func signature(key: SymmetricKey, stringToSign: String) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    // MARK: Timestamps (UTC, no DateFormatter)

    /// `yyyyMMdd'T'HHmmss'Z'`.
    static func timestamp(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let s = String(value)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return pad(y, 4) + pad(m, 2) + pad(d, 2) + "T" + pad(rest / 3600, 2) + pad(rest / 60 % 60, 2) + pad(rest % 60, 2) + "Z"
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'` strictly.
    static func parseTimestamp(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for i in range {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(b[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let y = number(0..<4), let m = number(4..<6), let d = number(6..<8),
              let hh = number(9..<11), let mm = number(11..<13), let ss = number(13..<15) else { return nil }
        return makeDate(year: y, month: m, day: d, hour: hh, minute: mm, second: ss)
    }

    /// Parses an RFC 1123 HTTP date (`Sun, 30 Aug 2015 12:36:00 GMT`), the fallback when a
    /// request carries `Date` but no `X-Amz-Date`.
    static func parseHTTPDate(_ text: String) -> Date? {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        var parts = text.split(separator: " ", omittingEmptySubsequences: true)
        if let first = parts.first, first.hasSuffix(",") { parts.removeFirst() }
        guard parts.count == 5, ["GMT", "UTC", "UT", "Z", "+0000", "-0000"].contains(parts[4]),
              let d = Int64(parts[0]), let mIndex = months.firstIndex(of: parts[1].lowercased()), let y = Int64(parts[2]) else { return nil }
        let time = parts[3].split(separator: ":")
        guard time.count == 3, let hh = Int64(time[0]), let mm = Int64(time[1]), let ss = Int64(time[2]) else { return nil }
        return makeDate(year: y, month: Int64(mIndex + 1), day: d, hour: hh, minute: mm, second: ss)
    }

    private static func makeDate(year y: Int64, month m: Int64, day d: Int64, hour hh: Int64, minute mm: Int64, second ss: Int64) -> Date? {
        guard (1...12).contains(m), (1...31).contains(d), (0...23).contains(hh), (0...59).contains(mm), (0...59).contains(ss) else { return nil }
        let days = daysFromCivil(year: y, month: m, day: d)
        // Reject impossible days (e.g. 31 April) by round-tripping.
        let (ry, rm, rd) = civil(fromDays: days)
        guard ry == y, rm == m, rd == d else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hh * 3600 + mm * 60 + ss))
    }

    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        CivilCalendar.daysFromCivil(year: Int(year), month: Int(month), day: Int(day))
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let (y, m, d) = CivilCalendar.civilFromDays(days)
        return (Int64(y), Int64(m), Int64(d))
    }
}
