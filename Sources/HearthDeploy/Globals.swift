// HearthDeploy: SAM's Globals section, merged into resources as the SAM translator merges it.

/// The `Globals` section: which resource types and properties it may set, and how it merges
/// (samtranslator/plugins/globals/globals.py): maps merge key by key (the resource's own value
/// wins, recursively), lists concatenate (globals first), anything else is replaced by the
/// resource's own value; an intrinsic function on either side is not merged into, the resource's wins.
public struct Globals: Sendable {
    static let supported: [(section: String, type: String, properties: [String])] = [
        ("Function", "AWS::Serverless::Function", [
            "Handler", "Runtime", "CodeUri", "DeadLetterQueue", "Description", "MemorySize", "Timeout", "VpcConfig",
            "Environment", "Tags", "PropagateTags", "Tracing", "KmsKeyArn", "Layers", "AutoPublishAlias", "DeploymentPreference",
            "RolePath", "PermissionsBoundary", "ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig",
            "AssumeRolePolicyDocument", "EventInvokeConfig", "Architectures", "EphemeralStorage", "SnapStart",
            "FunctionUrlConfig", "RuntimeManagementConfig", "LoggingConfig", "RecursiveLoop", "SourceKMSKeyArn",
            "AutoPublishAliasAllProperties",
        ]),
        ("Api", "AWS::Serverless::Api", [
            "Auth", "Name", "DefinitionUri", "CacheClusterEnabled", "CacheClusterSize", "MergeDefinitions", "Variables",
            "EndpointConfiguration", "MethodSettings", "BinaryMediaTypes", "MinimumCompressionSize", "Cors", "GatewayResponses",
            "AccessLogSetting", "CanarySetting", "TracingEnabled", "OpenApiVersion", "Domain", "AlwaysDeploy", "PropagateTags",
        ]),
        ("HttpApi", "AWS::Serverless::HttpApi", [
            "Auth", "AccessLogSettings", "StageVariables", "Tags", "RouteSettings", "DefaultRouteSettings", "Domain",
            "CorsConfiguration", "DefinitionUri", "FailOnWarnings", "DisableExecuteApiEndpoint", "PropagateTags",
        ]),
        ("SimpleTable", "AWS::Serverless::SimpleTable", ["SSESpecification", "PropagateTags"]),
        ("StateMachine", "AWS::Serverless::StateMachine", ["PropagateTags"]),
        ("LayerVersion", "AWS::Serverless::LayerVersion", ["PropagateTags"]),
    ]

    var sections: [String: TemplateMap]

    public init(_ globals: TemplateMap) throws {
        sections = [:]
        let names = Self.supported.map(\.section)
        for (section, body) in globals {
            guard let entry = Self.supported.first(where: { $0.section == section }) else {
                throw TemplateError("'Globals' section is invalid. '\(section)' is not supported. Must be one of the following values - \(names)")
            }
            guard let map = body.mapValue else { throw TemplateError("'Globals' section is invalid. '\(section)' must be a dictionary") }
            for key in map.keys where !entry.properties.contains(key) {
                throw TemplateError("'Globals' section is invalid. '\(key)' is not a supported property of '\(section)'. Must be one of the following values - \(entry.properties)")
            }
            sections[entry.type] = map
        }
    }

    /// A resource's properties with the globals for its type merged in.
    public func apply(to type: String, _ properties: TemplateMap) -> TemplateMap {
        guard let global = sections[type] else { return properties }
        guard case .map(let merged) = Self.merge(.map(global), .map(properties)) else { return properties }
        return merged
    }

    static func merge(_ global: TemplateValue, _ local: TemplateValue) -> TemplateValue {
        if global.intrinsic != nil || local.intrinsic != nil { return local }
        switch (global, local) {
        case (.map(let g), .map(let l)):
            var out = g
            for (key, value) in l {
                out[key] = g[key].map { merge($0, value) } ?? value
            }
            return .map(out)
        case (.list(let g), .list(let l)):
            return .list(g + l)
        default:
            return local
        }
    }
}
