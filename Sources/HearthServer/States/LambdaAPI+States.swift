import Foundation
import HearthCore
import HearthEvents
import HearthStates
import HearthStore

// Workflow tasks: a Task state's Lambda function run through the same path as Invoke.
extension LambdaAPI {
    /// Runs a Task state's function (either form; an `sqs:sendMessage` task goes to
    /// `runStatesSQSTask`, a `states:startExecution` task to `runStartExecutionTask`) and says how it went as a journal entry:
    /// the function's result (a bare function ARN), or Invoke's envelope (`lambda:invoke`);
    /// a function error is `error` = its errorType and `cause` = its error document, as AWS.
    func runStatesTask(_ task: TaskInvocation, context: ExecutionContext, clock: any LedgerClock) async -> JournalEntry {
        func failed(_ error: String, _ cause: String) -> JournalEntry { .taskFailed(task: task.id, error: error, cause: cause, at: clock.nowMs()) }
        let requestID = RequestID.make()
        let ref: FunctionRef
        var payload: JSON
        do {
            switch task.resource {
            case .lambdaFunction(let functionARN):
                ref = try FunctionRef(parsing: functionARN, qualifier: nil)
                payload = task.parameters
            case .sqsSendMessage:
                return await runStatesSQSTask(task, clock: clock)
            case .activity:
                // Activity tasks go to a worker through GetActivityTask (StatesDriver.park), never here.
                return failed("States.Runtime", "An activity task is delivered by GetActivityTask")
            case .statesStartExecution:
                guard let states else { return failed("StepFunctions.ServiceUnavailableException", "Step Functions is not running") }
                return await states.runStartExecutionTask(task, parent: context, clock: clock)
            case .mapRunChild:
                guard let states else { return failed("StepFunctions.ServiceUnavailableException", "Step Functions is not running") }
                return await states.runMapRunChild(task, parent: context, clock: clock)
            case .lambdaInvoke:
                guard case .string(let name)? = task.parameters["FunctionName"] else {
                    return failed("States.Runtime", "The field 'FunctionName' must be a string")
                }
                ref = try FunctionRef(parsing: name, qualifier: task.parameters["Qualifier"]?.stringValue)
                payload = task.parameters["Payload"] ?? .object(JSONObject())
                if payload == .null { payload = .object(JSONObject()) }
            }
        } catch {
            return failed("Lambda.InvalidParameterValueException", "\(error.message) (Service: AWSLambda; Status Code: 400; Error Code: InvalidParameterValueException; Request ID: \(requestID); Proxy: null)")
        }
        let config: FunctionConfiguration, version: String
        do {
            (config, version) = try resolve(ref, weighted: true)
        } catch {
            return failed("Lambda.ResourceNotFoundException",
                          "Function not found: \(arn(ref.name, ref.qualifier ?? "$LATEST")) (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: \(requestID); Proxy: null)")
        }
        let record: InvocationRecord
        do {
            record = try await execute(config, version: version, qualifier: ref.qualifier, payload: payload.bytes, requestID: requestID, traceID: nil)
        } catch is PoolThrottle {
            return failed("Lambda.TooManyRequestsException",
                          "Rate Exceeded. (Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException; Request ID: \(requestID); Proxy: null)")
        } catch {
            return failed("Lambda.ServiceException", "\(error) (Service: AWSLambda; Status Code: 500; Error Code: ServiceException; Request ID: \(requestID); Proxy: null)")
        }
        let text = String(decoding: record.payload, as: UTF8.self)
        if let errorType = record.errorType { return failed(errorType, text) }
        guard record.payload.count <= Execution.payloadLimit else {
            let what: String
            if case .lambdaFunction(let a) = task.resource { what = a } else { what = "lambda" }
            return failed("States.DataLimitExceeded", "The state/task '\(what)' returned a result with a size exceeding the maximum number of bytes service limit.")
        }
        let result = (try? JSON.parse(text)) ?? .string(text)
        switch task.resource {
        case .lambdaFunction, .sqsSendMessage, .statesStartExecution, .activity, .mapRunChild:
            return .taskSucceeded(task: task.id, output: result.text, at: clock.nowMs())
        case .lambdaInvoke:
            let date = Date().formatted(.iso8601)
            let headers: [(String, String)] = [
                ("Connection", "keep-alive"), ("Content-Length", String(record.payload.count)), ("Content-Type", "application/json"),
                ("Date", date), ("X-Amz-Executed-Version", version), ("x-amzn-Remapped-Content-Length", "0"), ("x-amzn-RequestId", requestID),
            ]
            let envelope = JSON.obj([
                ("ExecutedVersion", .string(version)),
                ("Payload", result),
                ("SdkHttpMetadata", .obj([
                    ("AllHttpHeaders", .object(JSONObject(headers.map { ($0.0, .array([.string($0.1)])) }))),
                    ("HttpHeaders", .object(JSONObject(headers.map { ($0.0, .string($0.1)) }))),
                    ("HttpStatusCode", .int(200)),
                ])),
                ("SdkResponseMetadata", .obj([("RequestId", .string(requestID))])),
                ("StatusCode", .int(200)),
            ])
            // A callback task (`.waitForTaskToken`) is only submitted: it waits for its token.
            if task.callback { return .taskSubmitted(task: task.id, output: envelope.text, at: clock.nowMs()) }
            return .taskSucceeded(task: task.id, output: envelope.text, at: clock.nowMs())
        }
    }
}
