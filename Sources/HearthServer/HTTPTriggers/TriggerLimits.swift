import Foundation

/// The request limits of HTTP triggers (ADR 0021). Lambda's synchronous payload limit (6 MB)
/// bounds every trigger's body and event (`LambdaAPI.maxTriggerPayload`, 413). HTTP APIs also
/// bound the request line and header values together, as API Gateway's HTTP API quotas give it.
public enum TriggerLimits {
    /// "Total combined size of request line and header values": 10,240 bytes (HTTP API quotas).
    public static let httpAPIRequestLineAndHeaders = 10_240

    /// The bytes of the request line (`METHOD target HTTP/1.1`) plus every header's value.
    public static func requestLineAndHeaderValues(_ trigger: TriggerRequest) -> Int {
        let target = trigger.rawPath.utf8.count + (trigger.rawQuery.isEmpty ? 0 : 1 + trigger.rawQuery.utf8.count)
        let line = trigger.method.utf8.count + 1 + target + 1 + trigger.protocolName.utf8.count
        return trigger.headers.reduce(line) { $0 + $1.1.utf8.count }
    }
}
