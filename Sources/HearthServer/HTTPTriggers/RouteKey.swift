import Foundation

/// An HTTP API route key: `$default`, or `METHOD /path` where METHOD is `ANY` or an HTTP
/// method and the path's segments are literals, `{name}` variables, or a final greedy
/// `{name+}`. Parsed once, matched on every request. Pure.
public struct RouteKey: Equatable, Sendable {
    public enum Segment: Equatable, Sendable {
        case literal(String)
        case variable(String)
        case greedy(String)
    }

    public static let methods: Set<String> = ["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]

    public var text: String
    /// nil for `ANY` and `$default`.
    public var method: String?
    public var segments: [Segment]
    public var isDefault: Bool

    /// The route's path as payload 1.0's `resource` shows it (`/items/{id}`), or `$default`.
    public var resourcePath: String {
        guard !isDefault else { return "$default" }
        return text.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "/"
    }

    /// Parses a route key, or says why it is not one (API Gateway's BadRequestException).
    public init(parsing text: String) throws(RouteKeyError) {
        self.text = text
        if text == "$default" {
            (method, segments, isDefault) = (nil, [], true)
            return
        }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.methods.contains(String(parts[0])), parts[1].hasPrefix("/") else {
            throw RouteKeyError(message: "Unable to parse route key \(text): a route key is $default or METHOD /path, where METHOD is one of ANY, GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS")
        }
        method = parts[0] == "ANY" ? nil : String(parts[0])
        isDefault = false
        var segments: [Segment] = []
        let pieces = parts[1].split(separator: "/", omittingEmptySubsequences: true)
        for (index, piece) in pieces.enumerated() {
            if piece.hasPrefix("{") && piece.hasSuffix("}") {
                var name = String(piece.dropFirst().dropLast())
                let greedy = name.hasSuffix("+")
                if greedy { name.removeLast() }
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }) else {
                    throw RouteKeyError(message: "Unable to parse route key \(text): invalid path variable \(piece)")
                }
                if greedy && index != pieces.count - 1 {
                    throw RouteKeyError(message: "Unable to parse route key \(text): a greedy path variable {\(name)+} must be the last segment")
                }
                segments.append(greedy ? .greedy(name) : .variable(name))
            } else {
                guard !piece.contains("{") && !piece.contains("}") else {
                    throw RouteKeyError(message: "Unable to parse route key \(text): a path variable must be a whole segment")
                }
                segments.append(.literal(String(piece)))
            }
        }
        self.segments = segments
    }

    /// The path parameters if `path` (percent-decoded segments) is this route's, else nil.
    func match(_ path: [String]) -> [String: String]? {
        guard !isDefault else { return nil }
        var parameters: [String: String] = [:]
        for (index, segment) in segments.enumerated() {
            switch segment {
            case .literal(let text):
                guard index < path.count, path[index] == text else { return nil }
            case .variable(let name):
                guard index < path.count else { return nil }
                parameters[name] = path[index]
            case .greedy(let name):
                guard index < path.count else { return nil }
                parameters[name] = path[index...].joined(separator: "/")
                return parameters
            }
        }
        return path.count == segments.count ? parameters : nil
    }

    /// Orders matches as API Gateway selects them: a full match before a greedy one; then, at
    /// the first segment that differs, a literal before a variable before a greedy variable;
    /// then a method route before `ANY`.
    var rank: (greedy: Int, segments: [Int], any: Int) {
        let kinds = segments.map { segment -> Int in
            switch segment {
            case .literal: return 0
            case .variable: return 1
            case .greedy: return 2
            }
        }
        return (kinds.contains(2) ? 1 : 0, kinds, method == nil ? 1 : 0)
    }

    /// Splits a request path (percent-encoded) into decoded segments, ignoring empty ones.
    public static func segments(ofRawPath rawPath: String) -> [String] {
        rawPath.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
    }

    /// The route for a request among `routes`, with its path parameters: the most specific
    /// match, else `$default`, else nil (404).
    public static func select<T>(method: String, rawPath: String, among routes: [(RouteKey, T)]) -> (route: RouteKey, value: T, pathParameters: [String: String])? {
        let path = segments(ofRawPath: rawPath)
        var best: (RouteKey, T, [String: String])?
        for (key, value) in routes where !key.isDefault && (key.method == nil || key.method == method) {
            guard let parameters = key.match(path) else { continue }
            if let current = best, !Self.precedes(key.rank, current.0.rank) { continue }
            best = (key, value, parameters)
        }
        if let best { return (best.0, best.1, best.2) }
        if let fallback = routes.first(where: { $0.0.isDefault }) { return (fallback.0, fallback.1, [:]) }
        return nil
    }

    static func precedes(_ a: (greedy: Int, segments: [Int], any: Int), _ b: (greedy: Int, segments: [Int], any: Int)) -> Bool {
        if a.greedy != b.greedy { return a.greedy < b.greedy }
        if a.segments != b.segments { return a.segments.lexicographicallyPrecedes(b.segments) }
        return a.any < b.any
    }
}

public struct RouteKeyError: Error, Equatable, Sendable {
    public var message: String
}
