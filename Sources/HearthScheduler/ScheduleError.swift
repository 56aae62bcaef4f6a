// HearthScheduler: validation errors, worded as EventBridge Scheduler words them.

/// Why a schedule expression, time zone or bound was refused.
///
/// `message` is what Scheduler's `ValidationException` says (the API returns it verbatim);
/// `reason` says which rule was broken, for `hearth schedule next` and logs.
public struct ScheduleError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public let reason: String

    public init(message: String, reason: String) {
        self.message = message
        self.reason = reason
    }

    /// An expression AWS refuses: "Invalid Schedule Expression <expr>.".
    static func expression(_ text: String, _ reason: String) -> ScheduleError {
        ScheduleError(message: "Invalid Schedule Expression \(text).", reason: reason)
    }

    public var description: String { "\(message) (\(reason))" }
}
