// HearthStates: what goes into and comes out of the interpreter. Pure values.
import Crypto
import Foundation

/// Who an execution is: the facts the context object (`$$.Execution`, `$$.StateMachine`) shows.
public struct ExecutionContext: Sendable, Equatable {
    public var executionArn: String
    public var executionName: String
    public var stateMachineArn: String
    public var stateMachineName: String
    public var roleArn: String
    public var region: String
    /// The secret task tokens are signed with (the driver keeps it in the state directory), so a
    /// token cannot be made from an execution's ARN alone. Empty in tests.
    public var tokenKey: String

    public init(executionArn: String, executionName: String, stateMachineArn: String, stateMachineName: String, roleArn: String, region: String,
                tokenKey: String = "") {
        self.executionArn = executionArn
        self.executionName = executionName
        self.stateMachineArn = stateMachineArn
        self.stateMachineName = stateMachineName
        self.roleArn = roleArn
        self.region = region
        self.tokenKey = tokenKey
    }
}

/// One entry of an execution's journal: something the outside world decided (the start, a
/// task's result, a timer's firing, a stop), with the time it happened. The journal is the
/// durable truth of an execution: replaying it through `Execution.apply` reproduces the
/// history and the outstanding actions exactly.
public enum JournalEntry: Sendable, Equatable {
    case started(input: String, at: Int64)
    case taskSucceeded(task: String, output: String, at: Int64)
    case taskFailed(task: String, error: String, cause: String, at: Int64)
    /// A `.waitForTaskToken` task's request was made (the function invoked, the message sent), or
    /// a `.sync` task's child execution was started: `output` is that call's response; the task
    /// now waits for its token to come back, or for the child to end.
    case taskSubmitted(task: String, output: String, at: Int64)
    /// SendTaskHeartbeat for a waiting task: its heartbeat timeout starts again.
    case taskHeartbeat(task: String, at: Int64)
    case timerFired(timer: String, at: Int64)
    case stopped(error: String?, cause: String?, at: Int64)
    /// RedriveExecution (ADR 0029): a FAILED, TIMED_OUT or ABORTED execution runs again from the
    /// states that did not succeed. `clientToken` is the request's, kept for idempotency.
    case redriven(clientToken: String?, at: Int64)
    /// UpdateMapRun (ADR 0030): a running Map Run's limits change (nil: unchanged).
    case mapRunUpdated(mapRun: String, maxConcurrency: Int?, toleratedFailureCount: Int64?, toleratedFailurePercentage: Double?, at: Int64)

    public var at: Int64 {
        switch self {
        case .started(_, let at), .taskSucceeded(_, _, let at), .taskFailed(_, _, _, let at), .taskSubmitted(_, _, let at),
             .taskHeartbeat(_, let at), .timerFired(_, let at), .stopped(_, _, let at), .redriven(_, let at),
             .mapRunUpdated(_, _, _, _, let at): return at
        }
    }

    /// The entry as one JSON document (how the store keeps it).
    public var json: JSON {
        switch self {
        case .started(let input, let at): return .obj([("type", .string("started")), ("input", .string(input)), ("at", .int(at))])
        case .taskSucceeded(let task, let output, let at):
            return .obj([("type", .string("taskSucceeded")), ("task", .string(task)), ("output", .string(output)), ("at", .int(at))])
        case .taskFailed(let task, let error, let cause, let at):
            return .obj([("type", .string("taskFailed")), ("task", .string(task)), ("error", .string(error)), ("cause", .string(cause)), ("at", .int(at))])
        case .taskSubmitted(let task, let output, let at):
            return .obj([("type", .string("taskSubmitted")), ("task", .string(task)), ("output", .string(output)), ("at", .int(at))])
        case .taskHeartbeat(let task, let at): return .obj([("type", .string("taskHeartbeat")), ("task", .string(task)), ("at", .int(at))])
        case .timerFired(let timer, let at): return .obj([("type", .string("timerFired")), ("timer", .string(timer)), ("at", .int(at))])
        case .stopped(let error, let cause, let at):
            return .obj([("type", .string("stopped")), ("error", error.map(JSON.string) ?? .null), ("cause", cause.map(JSON.string) ?? .null), ("at", .int(at))])
        case .redriven(let token, let at):
            return .obj([("type", .string("redriven")), ("clientToken", token.map(JSON.string) ?? .null), ("at", .int(at))])
        case .mapRunUpdated(let arn, let maxConcurrency, let count, let percentage, let at):
            return .obj([("type", .string("mapRunUpdated")), ("mapRun", .string(arn)), ("maxConcurrency", maxConcurrency.map { .int(Int64($0)) } ?? .null),
                         ("toleratedFailureCount", count.map(JSON.int) ?? .null), ("toleratedFailurePercentage", percentage.map(JSON.double) ?? .null),
                         ("at", .int(at))])
        }
    }

    public init?(json: JSON) {
        guard let type = json["type"]?.stringValue, let at = json["at"]?.intValue else { return nil }
        let s = { (k: String) in json[k]?.stringValue }
        switch type {
        case "started": guard let i = s("input") else { return nil }; self = .started(input: i, at: at)
        case "taskSucceeded": guard let t = s("task"), let o = s("output") else { return nil }; self = .taskSucceeded(task: t, output: o, at: at)
        case "taskFailed": guard let t = s("task"), let e = s("error"), let c = s("cause") else { return nil }; self = .taskFailed(task: t, error: e, cause: c, at: at)
        case "taskSubmitted": guard let t = s("task"), let o = s("output") else { return nil }; self = .taskSubmitted(task: t, output: o, at: at)
        case "taskHeartbeat": guard let t = s("task") else { return nil }; self = .taskHeartbeat(task: t, at: at)
        case "timerFired": guard let t = s("timer") else { return nil }; self = .timerFired(timer: t, at: at)
        case "stopped": self = .stopped(error: s("error"), cause: s("cause"), at: at)
        case "redriven": self = .redriven(clientToken: s("clientToken"), at: at)
        case "mapRunUpdated":
            guard let arn = s("mapRun") else { return nil }
            self = .mapRunUpdated(mapRun: arn, maxConcurrency: json["maxConcurrency"]?.intValue.map(Int.init),
                                  toleratedFailureCount: json["toleratedFailureCount"]?.intValue,
                                  toleratedFailurePercentage: json["toleratedFailurePercentage"]?.doubleValue, at: at)
        default: return nil
        }
    }
}

/// A task the driver is to run: a Lambda function (in one of the two forms) or an SQS message to send.
public struct TaskInvocation: Sendable, Equatable {
    public var id: String
    public var resource: TaskResource
    /// The state's `Resource` text.
    public var resourceText: String
    /// The task's input after InputPath and Parameters: for a function ARN, the payload; for
    /// `lambda:invoke`, the Invoke parameters (`FunctionName`, `Payload`, `Qualifier`).
    public var parameters: JSON
    public var timeoutSeconds: Int64?
    public var stateName: String
    /// The `.waitForTaskToken` pattern: the driver reports `taskSubmitted` once the request is
    /// made, and the task ends with SendTaskSuccess/SendTaskFailure for `taskToken`.
    public var callback = false
    /// The task token (`$$.Task.Token`) of a callback task.
    public var taskToken: String?
    public var heartbeatSeconds: Int64?

    /// Whether the task, once its request is made (`taskSubmitted`), waits for an answer from
    /// outside: its token (a callback task) or its child execution's end (`.sync`, `.sync:2`).
    public var waitsAfterSubmission: Bool { callback || resource.isSync }
}

/// What the driver is to do.
public enum ExecutionAction: Sendable, Equatable {
    /// Run a task; report `taskSucceeded` or `taskFailed` with its id.
    case invoke(TaskInvocation)
    /// Report `timerFired(id)` at `dueMs` (a Wait, a retry's delay, a task's or the execution's timeout).
    case startTimer(id: String, dueMs: Int64)
    /// The execution is over.
    case finish(ExecutionOutcome)
    /// A distributed Map's Map Run ended early (its tolerated failures were exceeded, or its
    /// branch was aborted): stop the child executions of these tasks (ADR 0030).
    case stopChildren(tasks: [String])
}

/// How an execution ended.
public struct ExecutionOutcome: Sendable, Equatable {
    /// SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
    public var status: String
    public var output: String?
    public var error: String?
    public var cause: String?
    public var stopMs: Int64
}

/// One history event, as GetExecutionHistory returns it: `id`, `previousEventId`, the time,
/// the type and its one `…EventDetails` object (nil for the types that have none).
public struct HistoryEvent: Sendable, Equatable {
    public var id: Int
    public var previousEventId: Int
    public var timestampMs: Int64
    public var type: String
    public var detailsKey: String?
    public var details: JSON?

    /// The event as the API shapes it (timestamp in epoch seconds).
    public var json: JSON {
        var o = JSONObject([("timestamp", .double(Double(timestampMs) / 1000)), ("type", .string(type)), ("id", .int(Int64(id))),
                            ("previousEventId", .int(Int64(previousEventId)))])
        if let detailsKey, let details { o[detailsKey] = details }
        return .object(o)
    }

    public init(id: Int, previousEventId: Int, timestampMs: Int64, type: String, detailsKey: String?, details: JSON?) {
        self.id = id
        self.previousEventId = previousEventId
        self.timestampMs = timestampMs
        self.type = type
        self.detailsKey = detailsKey
        self.details = details
    }

    public init?(json: JSON) {
        guard let id = json["id"]?.intValue, let prev = json["previousEventId"]?.intValue, let ts = json["timestamp"]?.doubleValue,
              let type = json["type"]?.stringValue else { return nil }
        self.id = Int(id)
        previousEventId = Int(prev)
        timestampMs = Int64((ts * 1000).rounded())
        self.type = type
        let key = json.objectValue?.keys.first { $0.hasSuffix("EventDetails") }
        detailsKey = key
        details = key.flatMap { json[$0] }
    }
}

/// A UUID made from `parts` (SHA-256): the same parts give the same UUID, so a replay or a task
/// run again after a crash names the same thing (a child execution, a Map Run).
public func derivedUUID(_ parts: String...) -> String {
    let d = Array(SHA256.hash(data: Data(parts.joined(separator: "\n").utf8)))
    let c = Array(d.prefix(16).map { String(format: "%02x", $0) }.joined())
    return [String(c[0..<8]), String(c[8..<12]), String(c[12..<16]), String(c[16..<20]), String(c[20..<32])].joined(separator: "-")
}

/// A Map Run's limits as they stand (UpdateMapRun changes them): `maxConcurrency` 0 is no
/// limit of the user's (Hearth's cap applies); a tolerance nil was not given.
public struct MapRunLimits: Sendable, Equatable {
    public var maxConcurrency: Int
    public var toleratedFailureCount: Int64?
    public var toleratedFailurePercentage: Double?

    public init(maxConcurrency: Int, toleratedFailureCount: Int64?, toleratedFailurePercentage: Double?) {
        (self.maxConcurrency, self.toleratedFailureCount, self.toleratedFailurePercentage) = (maxConcurrency, toleratedFailureCount, toleratedFailurePercentage)
    }
}

/// A Map Run (a distributed Map state's run), as DescribeMapRun and ListMapRuns show it; its
/// children's counts are the store's.
public struct MapRunInfo: Sendable, Equatable {
    public var arn: String
    public var stateName: String
    /// The children's machine: `arn:aws:states:R:A:stateMachine:MACHINE/LABEL`.
    public var childStateMachineArn: String
    public var executionType: String
    public var startMs: Int64
    public var stopMs: Int64?
    /// RUNNING, SUCCEEDED, FAILED or ABORTED.
    public var status: String
    public var limits: MapRunLimits
    public var totalItems: Int
    public var totalExecutions: Int
}

/// A `.waitForTaskToken` task's token: which execution and task it answers, and a nonce made
/// from them and the context's `tokenKey` (so replaying the journal issues the same token again:
/// a token survives a restart without a table of its own; without the key it cannot be made).
/// Opaque to callers: base64 text.
public struct TaskToken: Sendable, Equatable {
    public var executionArn: String
    public var task: String
    public var nonce: String

    public init(executionArn: String, task: String, nonce: String) {
        self.executionArn = executionArn
        self.task = task
        self.nonce = nonce
    }

    static let magic = "hearth-task-token-1"

    /// The token of `task` in the execution `context` names: SHA-256 over the key, the ARN and the task id.
    public static func issue(_ context: ExecutionContext, task: String) -> TaskToken {
        let digest = SHA256.hash(data: Data([context.tokenKey, context.executionArn, task].joined(separator: "\n").utf8))
        let nonce = digest.prefix(16).map { String(format: "%02x", $0) }.joined()
        return TaskToken(executionArn: context.executionArn, task: task, nonce: nonce)
    }

    public var text: String {
        Data([Self.magic, executionArn, task, nonce].joined(separator: "\n").utf8).base64EncodedString()
    }

    /// Decodes a token; nil when `text` is not one Hearth issued (`InvalidToken`).
    public init?(parsing text: String) {
        guard let data = Data(base64Encoded: text) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == Self.magic, parts[1].hasPrefix("arn:"), !parts[2].isEmpty, !parts[3].isEmpty else { return nil }
        self.init(executionArn: parts[1], task: parts[2], nonce: parts[3])
    }
}

/// Where a task token's task is: still waiting for it, over (it succeeded, failed or timed
/// out, or the execution ended), or never issued by this execution.
public enum TaskTokenState: Sendable, Equatable {
    case waiting(task: String)
    case over
    case unknown
}
