import Foundation
import HearthStates
import HearthStore

/// Step Functions' API (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`, signing name
/// `states`) over the store and the execution driver. Reached through `ServiceRouter` on the
/// shared listener; authentication is done by the caller. Thread-safe; holds no HTTP framing.
final class StatesAPI: Sendable {
    let store: Store
    let region: String
    let account: String
    let driver: StatesDriver
    /// StartSyncExecution's machines, parsed once per definition.
    let parsed = ParsedDefinitions()

    init(store: Store, region: String, account: String, driver: StatesDriver) {
        self.store = store
        self.region = region
        self.account = account
        self.driver = driver
    }

    func machineArn(_ name: String) -> String { "arn:aws:states:\(region):\(account):stateMachine:\(name)" }
    func executionArn(_ machine: String, _ name: String) -> String { "arn:aws:states:\(region):\(account):execution:\(machine):\(name)" }

    func handle(_ request: HTTPRequest, requestID: String) async -> HTTPResponse {
        let target = request.header("X-Amz-Target") ?? ""
        let op = target.hasPrefix("AWSStepFunctions.") ? String(target.dropFirst("AWSStepFunctions.".count)) : target
        do {
            let body = try Self.body(request)
            let result: JSON
            switch op {
            case "CreateStateMachine": result = try createStateMachine(body)
            case "DescribeStateMachine": result = try describeStateMachine(body)
            case "UpdateStateMachine": result = try updateStateMachine(body)
            case "DeleteStateMachine": result = try deleteStateMachine(body)
            case "ListStateMachines": result = try listStateMachines(body)
            case "ValidateStateMachineDefinition": result = try validateDefinition(body)
            case "TagResource": result = try tagResource(body)
            case "UntagResource": result = try untagResource(body)
            case "ListTagsForResource": result = try listTags(body)
            case "StartExecution": result = try await startExecution(body)
            case "StartSyncExecution": result = try await startSyncExecution(body)
            case "DescribeExecution": result = try describeExecution(body)
            case "DescribeStateMachineForExecution": result = try describeStateMachineForExecution(body)
            case "StopExecution": result = try await stopExecution(body)
            case "RedriveExecution": result = try await redriveExecution(body)
            case "TestState": result = try await testState(body)
            case "ListExecutions": result = try listExecutions(body)
            case "GetExecutionHistory": result = try getExecutionHistory(body)
            case "SendTaskSuccess": result = try await sendTaskSuccess(body)
            case "SendTaskFailure": result = try await sendTaskFailure(body)
            case "SendTaskHeartbeat": result = try await sendTaskHeartbeat(body)
            case "CreateActivity": result = try createActivity(body)
            case "DescribeActivity": result = try describeActivity(body)
            case "DeleteActivity": result = try deleteActivity(body)
            case "ListActivities": result = try listActivities(body)
            case "GetActivityTask": result = try await getActivityTask(body)
            case "DescribeMapRun": result = try await describeMapRun(body)
            case "ListMapRuns": result = try await listMapRuns(body)
            case "UpdateMapRun": result = try await updateMapRun(body)
            default:
                throw StatesAPIError(type: "UnknownOperationException", message: "Hearth's Step Functions does not provide operation \(op.isEmpty ? "(none)" : op)")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", requestID)],
                                body: result.bytes)
        } catch let error as StatesAPIError {
            return error.response(requestID: requestID)
        } catch {
            return StatesAPIError(type: "InternalServerError", message: "\(error)", status: 500).response(requestID: requestID)
        }
    }

    // MARK: helpers

    static func body(_ request: HTTPRequest) throws -> JSON {
        if request.body.isEmpty { return .object(JSONObject()) }
        guard let value = try? JSON.parse(request.body), value.objectValue != nil else {
            throw StatesAPIError(type: "SerializationException", message: "Start of structure or map found where not expected.")
        }
        return value
    }

    static func string(_ body: JSON, _ key: String, required: Bool = true) throws -> String? {
        guard let v = body[key], v != .null else {
            if required { throw StatesAPIError.validation("1 validation error detected: Value null at '\(key)' failed to satisfy constraint: Member must not be null") }
            return nil
        }
        guard case .string(let s) = v else { throw StatesAPIError(type: "SerializationException", message: "Expected a string for \(key)") }
        return s
    }

    static func epoch(_ ms: Int64) -> JSON { .double(Double(ms) / 1000) }
    static func epoch(_ date: Date) -> JSON { .double((date.timeIntervalSince1970 * 1000).rounded() / 1000) }

    /// Names: 1–80 characters, none of AWS's forbidden ones (whitespace, brackets, wildcards,
    /// special characters, control characters).
    static func checkName(_ name: String) throws {
        let forbidden = Set(" \t\n\r<>{}[]?*\"#%\\^|~`$&,;:/".unicodeScalars)
        guard (1...80).contains(name.count),
              name.unicodeScalars.allSatisfy({ !forbidden.contains($0) && $0.value > 0x1F && !(0x7F...0x9F).contains($0.value) }) else {
            throw StatesAPIError.invalidName(name)
        }
    }

    /// The machine an ARN names (`arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`).
    func machine(_ arn: String) throws -> StateMachineRecord {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "states", parts[5] == "stateMachine" else { throw StatesAPIError.invalidArn(arn) }
        guard let record = try store.stateMachine(arn: arn) else { throw StatesAPIError.doesNotExist(arn) }
        return record
    }

    func execution(_ arn: String) throws -> ExecutionRecord {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 8, parts[0] == "arn", parts[2] == "states", parts[5] == "execution" || parts[5] == "express" else {
            throw StatesAPIError.invalidArn(arn)
        }
        guard let record = try store.execution(arn: arn) else { throw StatesAPIError.executionDoesNotExist(arn) }
        return record
    }

    static func maxResults(_ body: JSON, limit: Int = 1000, default dflt: Int = 100) throws -> Int {
        guard let v = body["maxResults"], v != .null else { return dflt }
        guard let n = v.intValue, (0...Int64(limit)).contains(n) else {
            throw StatesAPIError.validation("1 validation error detected: Value '\(v.text)' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to \(limit)")
        }
        return n == 0 ? dflt : Int(n)
    }

    /// Page tokens are opaque: a base64 offset (or key) with the operation's name, checked on return.
    static func token(_ kind: String, _ value: String) -> String { Data("\(kind)|\(value)".utf8).base64EncodedString() }

    static func untoken(_ kind: String, _ body: JSON) throws -> String? {
        guard let t = body["nextToken"]?.stringValue else { return nil }
        guard let d = Data(base64Encoded: t), let s = String(data: d, encoding: .utf8), s.hasPrefix(kind + "|") else {
            throw StatesAPIError(type: "InvalidToken", message: "Invalid Token: '\(t)'")
        }
        return String(s.dropFirst(kind.count + 1))
    }
}
