import Foundation
import HearthStates
import HearthStore

// RedriveExecution, and the redrive fields DescribeExecution and ListExecutions show (ADR 0029).
extension StatesAPI {
    /// AWS's redrivable period after an execution stops, and its other limits.
    static let redrivablePeriodMs: Int64 = 14 * 86_400_000
    static let maxExecutionTimeMs: Int64 = 365 * 86_400_000
    static let maxRedriveCount = 1000
    static let historyEventLimit = 25_000

    static func isExpress(_ arn: String) -> Bool { arn.split(separator: ":").dropFirst(5).first == "express" }

    /// Why the execution cannot be redriven now (AWS's `redriveStatusReason` wording), nil when it can.
    func notRedrivableReason(_ e: ExecutionRecord, now: Int64) throws -> String? {
        // *unverified*: AWS documents only that EXPRESS executions are not redrivable.
        if Self.isExpress(e.arn) { return "Execution is EXPRESS and cannot be redriven" }
        guard ["FAILED", "TIMED_OUT", "ABORTED"].contains(e.status) else { return "Execution is \(e.status) and cannot be redriven" }
        if try store.stateMachine(arn: e.stateMachineArn) == nil { return "State machine is in DELETING status" }
        if now - (e.stoppedMs ?? now) > Self.redrivablePeriodMs { return "Execution redrivable period exceeded" }
        if now - e.startedMs > Self.maxExecutionTimeMs { return "Execution has exceeded the max execution time" }
        // *unverified* wording: AWS documents the limit (1,000 redrives), not its reason text.
        if e.redriveCount >= Self.maxRedriveCount { return "Execution redrive limit exceeded" }
        // A redrive adds ExecutionRedriven and at least one more event.
        if try store.historyCount(execution: e.arn) >= Self.historyEventLimit - 1 { return "Execution history event limit exceeded" }
        return nil
    }

    /// DescribeExecution's `redriveCount`, `redriveDate`, `redriveStatus` and `redriveStatusReason`.
    func redriveFields(_ e: ExecutionRecord, into o: inout JSONObject) throws {
        Self.redriveCounts(e, into: &o)
        if let reason = try notRedrivableReason(e, now: driver.clock.nowMs()) {
            o["redriveStatus"] = .string("NOT_REDRIVABLE")
            o["redriveStatusReason"] = .string(reason)
        } else {
            o["redriveStatus"] = .string("REDRIVABLE")
        }
    }

    /// `redriveCount` and (once redriven) `redriveDate`, as DescribeExecution and ListExecutions show them.
    static func redriveCounts(_ e: ExecutionRecord, into o: inout JSONObject) {
        o["redriveCount"] = .int(Int64(e.redriveCount))
        if let at = e.redriveMs { o["redriveDate"] = epoch(at) }
    }

    static func notRedrivable(_ reason: String) -> StatesAPIError { StatesAPIError(type: "ExecutionNotRedrivable", message: reason) }

    func redriveExecution(_ body: JSON) async throws -> JSON {
        let arn = try Self.string(body, "executionArn")!
        let token = try Self.string(body, "clientToken", required: false)
        if let token, !(1...64).contains(token.count) {
            throw StatesAPIError.validation("1 validation error detected: Value '\(token)' at 'clientToken' failed to satisfy constraint: Member must have length less than or equal to 64")
        }
        // Express executions (their ARNs have a part more) are never redrivable.
        if Self.isExpress(arn) {
            guard let e = try store.execution(arn: arn) else { throw StatesAPIError.executionDoesNotExist(arn) }
            throw Self.notRedrivable(try notRedrivableReason(e, now: driver.clock.nowMs()) ?? "")
        }
        _ = try execution(arn)
        let date = try await driver.redrive(arn, clientToken: token) { [self] in
            // Read again inside the engine (after the client token's earlier redrive, if any).
            guard let current = try store.execution(arn: arn) else { throw StatesAPIError.executionDoesNotExist(arn) }
            if let reason = try notRedrivableReason(current, now: driver.clock.nowMs()) { throw Self.notRedrivable(reason) }
        }
        guard let date else {
            let current = try execution(arn)
            throw Self.notRedrivable(try notRedrivableReason(current, now: driver.clock.nowMs()) ?? "Execution is \(current.status) and cannot be redriven")
        }
        return .obj([("redriveDate", Self.epoch(date))])
    }
}
