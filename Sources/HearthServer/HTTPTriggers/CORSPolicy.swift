import Foundation

/// A CORS configuration (a Function URL's `Cors`, an HTTP API's `CorsConfiguration`), and the
/// headers it gives: preflight requests are answered by the front end without invoking the
/// function; other responses to a request with an allowed `Origin` get the allow/expose
/// headers, replacing any the function set. Pure.
public struct CORSPolicy: Sendable, Equatable {
    public var allowCredentials = false
    public var allowHeaders: [String] = []
    public var allowMethods: [String] = []
    public var allowOrigins: [String] = []
    public var exposeHeaders: [String] = []
    public var maxAge: Int?

    public init() {}

    /// Reads the API object; `camelCase` for API Gateway (`allowOrigins`), else Lambda's PascalCase.
    public init(json object: [String: Any], camelCase: Bool) {
        func key(_ name: String) -> String { camelCase ? name.prefix(1).lowercased() + name.dropFirst() : name }
        allowCredentials = object[key("AllowCredentials")] as? Bool ?? false
        allowHeaders = object[key("AllowHeaders")] as? [String] ?? []
        allowMethods = object[key("AllowMethods")] as? [String] ?? []
        allowOrigins = object[key("AllowOrigins")] as? [String] ?? []
        exposeHeaders = object[key("ExposeHeaders")] as? [String] ?? []
        maxAge = (object[key("MaxAge")] as? NSNumber)?.intValue
    }

    /// Whether the request is a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method).
    public static func isPreflight(_ request: TriggerRequest) -> Bool {
        request.method == "OPTIONS" && request.header("Origin") != nil && request.header("Access-Control-Request-Method") != nil
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, or nil when it is not allowed.
    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin else { return nil }
        if allowOrigins.contains("*") { return allowCredentials ? origin : "*" }
        return allowOrigins.contains { $0.caseInsensitiveCompare(origin) == .orderedSame } ? origin : nil
    }

    /// The headers answering a preflight: empty when its origin or method is not allowed.
    public func preflightHeaders(_ request: TriggerRequest) -> [(String, String)] {
        guard let origin = allowedOrigin(request.header("Origin")), let method = request.header("Access-Control-Request-Method") else { return [] }
        guard allowMethods.contains("*") || allowMethods.contains(where: { $0.caseInsensitiveCompare(method) == .orderedSame }) else { return [] }
        var headers: [(String, String)] = [("Access-Control-Allow-Origin", origin)]
        headers.append(("Access-Control-Allow-Methods", allowMethods.contains("*") ? method : allowMethods.joined(separator: ",")))
        if let requested = request.header("Access-Control-Request-Headers"), !requested.isEmpty {
            if allowHeaders.contains("*") {
                headers.append(("Access-Control-Allow-Headers", requested))
            } else if !allowHeaders.isEmpty {
                headers.append(("Access-Control-Allow-Headers", allowHeaders.joined(separator: ",")))
            }
        }
        if let maxAge { headers.append(("Access-Control-Max-Age", String(maxAge))) }
        if allowCredentials { headers.append(("Access-Control-Allow-Credentials", "true")) }
        if !allowOrigins.contains("*") || allowCredentials { headers.append(("Vary", "Origin")) }
        return headers
    }

    /// `response` with this policy's headers for a request from `origin` (the function's own
    /// `Access-Control-*` headers are replaced when the policy applies).
    public func apply(to headers: [(String, String)], origin: String?) -> [(String, String)] {
        guard let allowed = allowedOrigin(origin) else { return headers }
        var result = headers.filter { !$0.0.lowercased().hasPrefix("access-control-") }
        result.append(("Access-Control-Allow-Origin", allowed))
        if !exposeHeaders.isEmpty { result.append(("Access-Control-Expose-Headers", exposeHeaders.joined(separator: ","))) }
        if allowCredentials { result.append(("Access-Control-Allow-Credentials", "true")) }
        return result
    }
}
