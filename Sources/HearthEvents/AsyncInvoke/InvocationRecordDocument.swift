// HearthEvents: the invocation record Lambda sends to a destination.
import Foundation

/// The record of an asynchronous invocation's outcome, delivered to its `OnSuccess` or
/// `OnFailure` destination, exactly as Lambda writes it (key order and all):
/// `{"version":"1.0","timestamp":…,"requestContext":{"requestId","functionArn","condition",
/// "approximateInvokeCount"},"requestPayload":…,"responseContext":{"statusCode",
/// "executedVersion"[,"functionError"]},"responsePayload":…}`. Payloads that are JSON are
/// embedded as JSON, others as a JSON string. Without any attempt (an event that expired
/// while throttled) `responseContext` and `responsePayload` are absent.
public enum InvocationRecordDocument {
    public enum Condition: String, Sendable {
        case success = "Success"
        case retriesExhausted = "RetriesExhausted"
        case eventAgeExceeded = "EventAgeExceeded"
    }

    public static func json(requestID: String, functionARN: String, condition: Condition, approximateInvokeCount: Int,
                            requestPayload: [UInt8], response: AttemptResponse?, timestampMs: Int64) -> [UInt8] {
        var out = #"{"version":"1.0","timestamp":"#
        out += string(iso8601(ms: timestampMs))
        out += #","requestContext":{"requestId":"# + string(requestID)
        out += #","functionArn":"# + string(functionARN)
        out += #","condition":"# + string(condition.rawValue)
        out += #","approximateInvokeCount":"# + String(approximateInvokeCount) + "}"
        out += #","requestPayload":"# + embedded(requestPayload)
        if let response {
            out += #","responseContext":{"statusCode":200,"executedVersion":"# + string(response.executedVersion)
            if let functionError = response.functionError { out += #","functionError":"# + string(functionError) }
            out += "}"
            out += #","responsePayload":"# + embedded(response.payload)
        }
        out += "}"
        return Array(out.utf8)
    }

    /// `2019-11-14T18:16:05.568Z`.
    public static func iso8601(ms: Int64) -> String {
        let seconds = Int(ms.quotient(dividingBy: 1000))
        let millis = Int(ms - Int64(seconds) * 1000)
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), millis)
    }

    /// A JSON document as itself (its bytes as sent, so key order is kept; surrounding
    /// whitespace trimmed), anything else as a JSON string.
    static func embedded(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if !text.isEmpty, (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil {
            return text
        }
        return string(String(decoding: bytes, as: UTF8.self))
    }

    static func string(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension Int64 {
    /// Floor division (a timestamp before 1970 still formats).
    fileprivate func quotient(dividingBy d: Int64) -> Int64 {
        let q = self / d
        return (self % d < 0) ? q - 1 : q
    }
}
