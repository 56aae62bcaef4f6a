// HearthStates: errors as Step Functions names them. Pure.

/// A failure inside an execution: an error name (`States.Runtime`, `States.TaskFailed`, a
/// function's `errorType`…) and its cause text, as history events and `DescribeExecution` show them.
public struct StatesError: Error, Sendable, Equatable {
    public var error: String
    public var cause: String

    public init(_ error: String, _ cause: String) {
        self.error = error
        self.cause = cause
    }

    public static func runtime(_ cause: String) -> StatesError { StatesError("States.Runtime", cause) }
    public static func intrinsic(_ cause: String) -> StatesError { StatesError("States.IntrinsicFailure", cause) }

    /// The predefined error names (ErrorEquals may name any string; these have meaning).
    public static let all = "States.ALL"
    public static let taskFailed = "States.TaskFailed"
    public static let timeout = "States.Timeout"
    public static let heartbeatTimeout = "States.HeartbeatTimeout"
    public static let noChoiceMatched = "States.NoChoiceMatched"
    public static let resultPathMatchFailure = "States.ResultPathMatchFailure"
    public static let dataLimitExceeded = "States.DataLimitExceeded"
    public static let exceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"
    /// The cause of a Map Run that failed more than it tolerates (*unverified* wording).
    public static let exceedToleratedFailureThresholdCause = "The specified tolerated failure threshold was exceeded"

    /// Whether a retrier's or catcher's `ErrorEquals` covers this error: `States.ALL` covers all
    /// but `States.Runtime`; `States.TaskFailed` covers every error but `States.Timeout` (and
    /// `States.Runtime`); `States.Runtime` is never retried or caught, even when named.
    public func matches(_ names: [String]) -> Bool {
        if error == "States.Runtime" { return false }
        for name in names {
            if name == error || name == StatesError.all { return true }
            if name == StatesError.taskFailed && error != StatesError.timeout { return true }
        }
        return false
    }
}

/// One finding of definition validation, as ValidateStateMachineDefinition reports it.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var severity: String
    public var code: String
    public var message: String
    public var location: String

    public init(code: String, message: String, location: String, severity: String = "ERROR") {
        self.severity = severity
        self.code = code
        self.message = message
        self.location = location
    }

    /// `CODE: message at /location`, as AWS joins them into an `InvalidDefinition` message.
    public var description: String { "\(code): \(message) at \(location)" }
}

/// A definition Step Functions refuses: every diagnostic found.
public struct InvalidDefinition: Error, Sendable, Equatable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// The `InvalidDefinition` exception's message, as AWS words it.
    public var description: String {
        "Invalid State Machine Definition: '\(diagnostics.map(\.description).joined(separator: ", "))'"
    }
}
