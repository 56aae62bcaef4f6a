import Crypto
import Foundation

/// Why a request failed AWS Signature Version 4 verification, with the error type and message
/// AWS Lambda answers with.
public enum SigV4Error: Error, Equatable, Sendable {
    /// No `Authorization` header and no `X-Amz-Algorithm` query parameter.
    case missingAuthentication
    /// Unparsable `Authorization` header / presigned query, or a missing or malformed date.
    case malformed(String)
    /// The access key id is not one of ours.
    case unknownAccessKey(String)
    /// The signature (or the declared payload hash) does not match.
    case signatureMismatch
    /// The request time is too far from now (or a presigned URL has expired); the full message.
    case stale(String)

    /// The Lambda error type (`x-amzn-ErrorType`).
    public var errorType: String {
        switch self {
        case .missingAuthentication: "MissingAuthenticationTokenException"
        case .malformed: "IncompleteSignatureException"
        case .unknownAccessKey: "UnrecognizedClientException"
        case .signatureMismatch, .stale: "InvalidSignatureException"
        }
    }

    /// The error message, as AWS words it.
    public var message: String {
        switch self {
        case .missingAuthentication:
            "Missing Authentication Token"
        case .malformed(let detail):
            detail
        case .unknownAccessKey:
            "The security token included in the request is invalid."
        case .signatureMismatch:
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        case .stale(let detail):
            detail
        }
    }

    /// The HTTP status AWS uses: 400 for an incomplete signature, 403 otherwise.
    public var httpStatus: Int {
        switch self {
        case .malformed: 400
        default: 403
        }
    }
}

/// Verifies AWS SigV4-signed requests (the `Authorization` header form that the aws CLI,
/// boto3 and the other SDKs send, and the presigned `X-Amz-*` query form).
public struct SigV4Verifier: Sendable {
    private let secrets: [String: String]
    public let maxSkew: TimeInterval

    public init(credentials: [AWSCredentials], maxSkew: TimeInterval = 300) {
        var secrets: [String: String] = [:]
        for credential in credentials where secrets[credential.accessKeyID] == nil {
            secrets[credential.accessKeyID] = credential.secretAccessKey
        }
        self.secrets = secrets
        self.maxSkew = maxSkew
    }

    /// What the request claims: who signed it, for which scope, over which headers.
    private struct Claim {
        var accessKeyID: String
        var scopeDate: String
        var region: String
        var service: String
        var signedHeaders: String
        var signature: String
        var presigned: Bool
        var expires: TimeInterval?
        var dateText: String?
    }

    /// Verifies a request as received. `path` and `query` are exactly as on the request line
    /// (still percent-encoded, query without `?`); header names are case-insensitive; `body`
    /// is the raw body. Returns the caller's access key id.
    public func verify(method: String, path: String, query: String, headers: [(String, String)], body: [UInt8],
                       now: Date = Date()) throws(SigV4Error) -> String {
        func header(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name }.map(\.1)
        }
        let authorization = header("authorization")
        var queryAuth: [String: String] = [:]
        for (rawKey, rawValue) in SigV4Canonical.rawQueryPairs(query) {
            let key = SigV4Canonical.percentDecode(rawKey)
            if key.hasPrefix("X-Amz-"), queryAuth[key] == nil {
                queryAuth[key] = SigV4Canonical.percentDecode(rawValue)
            }
        }
        let presigned = queryAuth["X-Amz-Algorithm"] != nil

        let claim: Claim
        switch (authorization.count, presigned) {
        case (0, false):
            throw .missingAuthentication
        case (0, true):
            claim = try Self.parsePresigned(queryAuth)
        case (1, false):
            claim = try Self.parseAuthorization(authorization[0])
        case (_, true):
            throw .malformed("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
        default:
            throw .malformed("Only one Authorization header may be specified.")
        }

        // The request time: X-Amz-Date (query parameter when presigned), else Date.
        let timestamp: String
        let requestDate: Date
        if let text = claim.dateText ?? header("x-amz-date").first {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let date = SigV4Canonical.parseTimestamp(trimmed) else {
                throw .malformed("Date must be in ISO-8601 'basic format'. Got '\(trimmed)'. See http://en.wikipedia.org/wiki/ISO_8601")
            }
            timestamp = trimmed
            requestDate = date
        } else if !claim.presigned, let text = header("date").first {
            guard let date = SigV4Canonical.parseHTTPDate(text.trimmingCharacters(in: .whitespaces)) else {
                throw .malformed("Date must be in RFC 1123 format. Got '\(text)'.")
            }
            timestamp = SigV4Canonical.timestamp(date)
            requestDate = date
        } else {
            throw .malformed(claim.presigned
                ? "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
                : "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=\(authorization.first ?? "")")
        }
        let day = String(timestamp.prefix(8))
        guard claim.scopeDate == day else {
            throw .malformed("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(claim.scopeDate)' != '\(day)', from '\(timestamp)'.")
        }

        let signedHeaderNames = claim.signedHeaders.split(separator: ";", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard signedHeaderNames.contains("host") else {
            throw .malformed("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        }

        try checkTime(requestDate, timestamp: timestamp, expires: claim.expires, now: now)

        guard let secret = secrets[claim.accessKeyID] else {
            throw .unknownAccessKey(claim.accessKeyID)
        }

        // Payload hash: the declared X-Amz-Content-Sha256 must be the hash of what arrived.
        let actual = SigV4Canonical.sha256Hex(body)
        var payloadHashes: [String]
        if let declared = header("x-amz-content-sha256").first?.trimmingCharacters(in: .whitespaces) {
            if let bytes = SigV4Canonical.unhex(declared), bytes.count == 32 {
                guard declared.lowercased() == actual else { throw .signatureMismatch }
                payloadHashes = [declared]
            } else {
                // UNSIGNED-PAYLOAD / STREAMING-…: the body is not covered by the signature, so it
                // is only acceptable when there is no body to protect.
                payloadHashes = body.isEmpty ? [declared, actual] : [actual]
            }
        } else {
            payloadHashes = [actual]
            if claim.presigned, body.isEmpty { payloadHashes.append(SigV4Canonical.unsignedPayload) }
        }

        guard let provided = SigV4Canonical.unhex(claim.signature), provided.count == 32 else {
            throw .signatureMismatch
        }
        let canonicalHeaders: String
        switch SigV4Canonical.canonicalHeaders(signed: signedHeaderNames, headers: headers) {
        case .success(let text): canonicalHeaders = text
        case .failure: throw .signatureMismatch
        }
        let canonicalURI = SigV4Canonical.canonicalURI(rawPath: path)
        let canonicalQuery = SigV4Canonical.canonicalQuery(rawQuery: query, excluding: claim.presigned ? ["X-Amz-Signature"] : [])
        let scope = [claim.scopeDate, claim.region, claim.service, SigV4Canonical.terminator].joined(separator: "/")
        let key = SigV4Canonical.signingKey(secret: secret, date: claim.scopeDate, region: claim.region, service: claim.service)

        var matched = false
        for payloadHash in payloadHashes {
            let request = SigV4Canonical.canonicalRequest(
                method: method, canonicalURI: canonicalURI, canonicalQuery: canonicalQuery,
                canonicalHeaders: canonicalHeaders, signedHeaders: claim.signedHeaders, payloadHash: payloadHash)
            let stringToSign = SigV4Canonical.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: request)
            // Constant-time comparison (swift-crypto's safe compare).
            if HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: Array(stringToSign.utf8), using: key) {
                matched = true
            }
        }
        guard matched else { throw .signatureMismatch }
        return claim.accessKeyID
    }

    private func checkTime(_ requestDate: Date, timestamp: String, expires: TimeInterval?, now: Date) throws(SigV4Error) {
        let minutes = Int((maxSkew / 60).rounded())
        let nowText = SigV4Canonical.timestamp(now)
        if requestDate.timeIntervalSince(now) > maxSkew {
            let bound = SigV4Canonical.timestamp(now.addingTimeInterval(maxSkew))
            throw .stale("Signature not yet current: \(timestamp) is still later than \(bound) (\(nowText) + \(minutes) min.)")
        }
        if let expires {
            if now.timeIntervalSince(requestDate) > expires {
                let end = SigV4Canonical.timestamp(requestDate.addingTimeInterval(expires))
                throw .stale("Signature expired: \(end) is now earlier than \(nowText) (X-Amz-Date \(timestamp) + X-Amz-Expires \(Int(expires)) s).")
            }
        } else if now.timeIntervalSince(requestDate) > maxSkew {
            let bound = SigV4Canonical.timestamp(now.addingTimeInterval(-maxSkew))
            throw .stale("Signature expired: \(timestamp) is now earlier than \(bound) (\(nowText) - \(minutes) min.)")
        }
    }

    private static func parseCredential(_ credential: String) throws(SigV4Error) -> (String, String, String, String) {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, !parts[0].isEmpty else {
            throw .malformed("Credential should be scoped to a valid region, not ''. ")
        }
        let n = parts.count
        guard parts[n - 1] == SigV4Canonical.terminator else {
            throw .malformed("Credential should be scoped with a valid terminator: 'aws4_request', not '\(parts[n - 1])'. ")
        }
        guard !parts[n - 3].isEmpty else { throw .malformed("Credential should be scoped to a valid region, not ''. ") }
        guard !parts[n - 2].isEmpty else { throw .malformed("Credential should be scoped to correct service: ''. ") }
        let accessKey = parts[0..<(n - 4)].joined(separator: "/")
        return (accessKey, parts[n - 4], parts[n - 3], parts[n - 2])
    }

    private static func parseAuthorization(_ value: String) throws(SigV4Error) -> Claim {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        let algorithm = trimmed.prefix { $0 != " " }
        guard algorithm == SigV4Canonical.algorithm else {
            throw .malformed("Authorization header requires the '\(SigV4Canonical.algorithm)' algorithm; got '\(algorithm)'.")
        }
        var fields: [String: String] = [:]
        for component in trimmed.dropFirst(algorithm.count).split(separator: ",") {
            let item = component.trimmingCharacters(in: .whitespaces)
            guard let eq = item.firstIndex(of: "=") else { continue }
            let name = String(item[..<eq]).trimmingCharacters(in: .whitespaces)
            if fields[name] == nil {
                fields[name] = String(item[item.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            }
        }
        var problems = ""
        for name in ["Credential", "Signature", "SignedHeaders"] where (fields[name] ?? "").isEmpty {
            problems += "Authorization header requires '\(name)' parameter. "
        }
        guard problems.isEmpty, let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
              let signature = fields["Signature"] else {
            throw .malformed(problems + "Authorization=\(trimmed)")
        }
        let (accessKey, date, region, service) = try parseCredential(credential)
        return Claim(accessKeyID: accessKey, scopeDate: date, region: region, service: service,
                     signedHeaders: signedHeaders, signature: signature, presigned: false, expires: nil, dateText: nil)
    }

    private static func parsePresigned(_ query: [String: String]) throws(SigV4Error) -> Claim {
        guard query["X-Amz-Algorithm"] == SigV4Canonical.algorithm else {
            throw .malformed("X-Amz-Algorithm only supports \"\(SigV4Canonical.algorithm)\"")
        }
        var missing: [String] = []
        for name in ["X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"] where (query[name] ?? "").isEmpty {
            missing.append(name)
        }
        guard missing.isEmpty, let credential = query["X-Amz-Credential"], let signature = query["X-Amz-Signature"],
              let signedHeaders = query["X-Amz-SignedHeaders"], let date = query["X-Amz-Date"] else {
            throw .malformed("AWS query-string parameters must include \(missing.map { "'\($0)'" }.joined(separator: ", ")). Re-examine the query-string parameters.")
        }
        var expires: TimeInterval = 900
        if let text = query["X-Amz-Expires"] {
            guard let seconds = Int(text), seconds >= 1, seconds <= 604_800 else {
                throw .malformed("X-Amz-Expires must be a number of seconds between 1 and 604800; got '\(text)'.")
            }
            expires = TimeInterval(seconds)
        }
        let (accessKey, scopeDate, region, service) = try parseCredential(credential)
        return Claim(accessKeyID: accessKey, scopeDate: scopeDate, region: region, service: service,
                     signedHeaders: signedHeaders, signature: signature, presigned: true, expires: expires, dateText: date)
    }
}

/// Signs requests the way botocore's `SigV4Auth` does (for Hearth's own client), so both
/// `SigV4Verifier` and real AWS accept them.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    /// Headers never signed: hop-by-hop ones (botocore's list), those an HTTP client sets or
    /// rewrites on its own, and the ones this signer produces.
    static let unsignedHeaders: Set<String> = [
        "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
        "authorization", "x-amz-date", "content-length", "accept-encoding",
    ]

    public init(credentials: AWSCredentials, region: String, service: String = "lambda") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The headers to add to the request (each replacing any header of the same name):
    /// `Host` when `headers` has none, `X-Amz-Date` and `Authorization`. Every header in
    /// `headers` except hop-by-hop/transport ones (`User-Agent`, `Content-Length`,
    /// `Accept-Encoding`, …) is signed; the payload hash is `X-Amz-Content-Sha256` when given,
    /// else SHA-256 of `body`. The URL's path and query are used as they will go on the wire.
    public func sign(method: String, url: URL, headers: [(String, String)], body: [UInt8], date: Date = Date()) -> [(String, String)] {
        let timestamp = SigV4Canonical.timestamp(date)
        let day = String(timestamp.prefix(8))
        let components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        let rawPath = components?.percentEncodedPath ?? url.path
        let rawQuery = components?.percentEncodedQuery ?? ""

        var added: [(String, String)] = []
        var toSign = headers.filter { !Self.unsignedHeaders.contains($0.0.lowercased()) }
        if !headers.contains(where: { $0.0.lowercased() == "host" }) {
            let host = Self.hostHeader(for: url)
            added.append(("Host", host))
            toSign.append(("host", host))
        }
        added.append(("X-Amz-Date", timestamp))
        toSign.append(("x-amz-date", timestamp))

        let names = Array(Set(toSign.map { $0.0.lowercased() })).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let signedHeaders = names.joined(separator: ";")
        let canonicalHeaders: String
        switch SigV4Canonical.canonicalHeaders(signed: names, headers: toSign) {
        case .success(let text): canonicalHeaders = text
        case .failure: canonicalHeaders = "" // unreachable: every name comes from `toSign`
        }
        let payloadHash = headers.first { $0.0.lowercased() == "x-amz-content-sha256" }.map { SigV4Canonical.trimAll($0.1) }
            ?? SigV4Canonical.sha256Hex(body)
        let request = SigV4Canonical.canonicalRequest(
            method: method.uppercased(), canonicalURI: SigV4Canonical.canonicalURI(rawPath: rawPath),
            canonicalQuery: SigV4Canonical.canonicalQuery(rawQuery: rawQuery),
            canonicalHeaders: canonicalHeaders, signedHeaders: signedHeaders, payloadHash: payloadHash)
        let scope = [day, region, service, SigV4Canonical.terminator].joined(separator: "/")
        let stringToSign = SigV4Canonical.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: request)
        let key = SigV4Canonical.signingKey(secret: credentials.secretAccessKey, date: day, region: region, service: service)
        let signature = SigV4Canonical.signature(key: key, stringToSign: stringToSign)
        added.append(("Authorization",
                      "\(SigV4Canonical.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    /// botocore's `_host_from_url`: lowercase host, IPv6 in brackets, port unless the scheme's default.
    static func hostHeader(for url: URL) -> String {
        var host = (url.host ?? "").lowercased()
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }
        if let port = url.port {
            let scheme = url.scheme?.lowercased()
            let isDefault = (scheme == "http" && port == 80) || (scheme == "https" && port == 443)
            if !isDefault { host += ":\(port)" }
        }
        return host
    }
}
