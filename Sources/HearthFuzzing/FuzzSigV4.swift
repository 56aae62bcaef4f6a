import Foundation
import HearthServer

/// SigV4 canonicalisation and verification. The input is text, one field a line:
/// method, path (as on the wire), query, then `name: value` header lines, an empty line and
/// the body.
///
/// Invariants: verifying arbitrary requests never crashes and never accepts without a valid
/// signature; a request signed by `SigV4Signer` for any path, query and headers the URL type
/// accepts verifies (the signer and the verifier canonicalise alike).
enum FuzzSigV4 {
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    static let credentials = AWSCredentials(accessKeyID: "AKIDFUZZ", secretAccessKey: "fuzz-secret")
    static let verifier = SigV4Verifier(credentials: [credentials])
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func run(_ data: [UInt8]) {
        let lines = data.fuzzLines()
        guard lines.count >= 3 else { return }
        let method = lines[0], path = lines[1], query = lines[2]
        var headers: [(String, String)] = []
        var index = 3
        while index < lines.count, !lines[index].isEmpty {
            let parts = lines[index].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            headers.append((String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
            index += 1
        }
        let body = Array(lines.dropFirst(index + 1).joined(separator: "\n").utf8)

        // Arbitrary (mostly unsigned or wrongly signed) requests: must be refused, not crash.
        if (try? verifier.verify(method: method, path: path, query: query, headers: headers, body: body, now: now)) != nil {
            // Only a genuine signature can pass: re-sign and compare the Authorization header.
            FuzzCheck.require(headers.contains { $0.0.lowercased() == "authorization" || $0.0.lowercased() == "x-amz-date" }
                              || query.contains("X-Amz-Signature"), "accepted a request without any signature")
        }

        // Sign, then verify: must pass for anything the URL type can represent (without query
        // authentication parameters, which would make two auth mechanisms).
        guard !method.isEmpty, !(query.removingPercentEncoding ?? query).contains("X-Amz-"), method.allSatisfy({ $0.isUppercase && $0.isASCII }),
              let url = URL(string: "http://127.0.0.1:9000" + (path.hasPrefix("/") ? path : "/" + path) + (query.isEmpty ? "" : "?" + query)),
              url.host == "127.0.0.1"
        else { return }
        let plain = headers.filter { name, value in
            let lower = name.lowercased()
            // HTTP header names are tokens (RFC 9110 tchar); NIO's parser refuses anything else.
            return !name.isEmpty && name.utf8.allSatisfy { isTokenByte($0) }
                && value.utf8.allSatisfy { $0 >= 32 && $0 < 127 }
                && !["authorization", "x-amz-date", "x-amz-content-sha256", "host", "x-amz-security-token"].contains(lower)
        }
        let signer = SigV4Signer(credentials: credentials, region: "us-east-1")
        let added = signer.sign(method: method, url: url, headers: plain, body: body, date: now)
        let addedNames = Set(added.map { $0.0.lowercased() })
        let signed = plain.filter { !addedNames.contains($0.0.lowercased()) } + added
        let sentPath = url.path(percentEncoded: true).isEmpty ? "/" : url.path(percentEncoded: true)
        let sentQuery = url.query(percentEncoded: true) ?? ""
        do {
            _ = try verifier.verify(method: method, path: sentPath, query: sentQuery, headers: signed, body: body, now: now)
        } catch {
            FuzzCheck.require(false, "a request signed by SigV4Signer failed verification (\(error)): \(method) \(sentPath)?\(sentQuery) \(plain)")
        }
    }
}
