import Foundation
import HearthStates
import HearthStore

// StartExecution, StartSyncExecution, DescribeExecution, DescribeStateMachineForExecution,
// StopExecution, ListExecutions, GetExecutionHistory (RedriveExecution is in StatesAPI+Redrive).
extension StatesAPI {
    static func checkInput(_ input: String) throws {
        do { _ = try JSON.parse(input) } catch {
            throw StatesAPIError(type: "InvalidExecutionInput", message: "Invalid State Machine Execution Input: '\(error.message) at offset \(error.offset)'")
        }
        guard input.utf8.count <= Execution.payloadLimit else {
            throw StatesAPIError(type: "InvalidExecutionInput", message: "Invalid State Machine Execution Input: 'The input exceeds the maximum size of 262144 bytes'")
        }
    }

    func startExecution(_ body: JSON) async throws -> JSON {
        let m = try machine(try Self.string(body, "stateMachineArn")!)
        let name = try Self.string(body, "name", required: false) ?? UUID().uuidString.lowercased()
        try Self.checkName(name)
        let input = try Self.string(body, "input", required: false) ?? "{}"
        try Self.checkInput(input)
        let arn = m.type == "EXPRESS"
            ? "arn:aws:states:\(region):\(account):express:\(m.name):\(name):\(UUID().uuidString.lowercased())"
            : executionArn(m.name, name)
        let record = ExecutionRecord(arn: arn, stateMachineArn: m.arn, name: name, input: input, definition: m.definition, roleArn: m.roleArn,
                                     startedMs: driver.clock.nowMs())
        if let existing = try await driver.start(record) {
            // The same name: the same execution while it runs with the same input, as AWS.
            guard existing.status == "RUNNING", existing.input == input else {
                throw StatesAPIError(type: "ExecutionAlreadyExists", message: "Execution Already Exists: '\(existing.arn)'")
            }
            return .obj([("executionArn", .string(existing.arn)), ("startDate", Self.epoch(existing.startedMs))])
        }
        return .obj([("executionArn", .string(arn)), ("startDate", Self.epoch(record.startedMs))])
    }

    /// Express only: runs the execution in memory and answers with its outcome (not journalled).
    func startSyncExecution(_ body: JSON) async throws -> JSON {
        let m = try machine(try Self.string(body, "stateMachineArn")!)
        guard m.type == "EXPRESS" else {
            throw StatesAPIError(type: "StateMachineTypeNotSupported", message: "This operation is not supported by this type of state machine")
        }
        let name = try Self.string(body, "name", required: false) ?? UUID().uuidString.lowercased()
        try Self.checkName(name)
        let input = try Self.string(body, "input", required: false) ?? "{}"
        try Self.checkInput(input)
        let arn = "arn:aws:states:\(region):\(account):express:\(m.name):\(name):\(UUID().uuidString.lowercased())"
        let start = driver.clock.nowMs()
        let context = ExecutionContext(executionArn: arn, executionName: name, stateMachineArn: m.arn, stateMachineName: m.name,
                                       roleArn: m.roleArn, region: region)
        let execution = await driver.runSync(machine: try parsed.machine(m.definition), context: context, input: input,
                                             deadlineMs: start + 300_000)
        let outcome = execution.outcome
        let stop = outcome?.stopMs ?? driver.clock.nowMs()
        var o = JSONObject([
            ("executionArn", .string(arn)), ("stateMachineArn", .string(m.arn)), ("name", .string(name)),
            ("startDate", Self.epoch(start)), ("stopDate", Self.epoch(stop)),
            ("status", .string(outcome?.status == "SUCCEEDED" ? "SUCCEEDED" : outcome?.status == "TIMED_OUT" || outcome?.status == "ABORTED" ? "TIMED_OUT" : "FAILED")),
            ("input", .string(input)), ("inputDetails", .obj([("included", .bool(true))])),
        ])
        if let output = outcome?.output {
            o["output"] = .string(output)
            o["outputDetails"] = .obj([("included", .bool(true))])
        }
        if let e = outcome?.error { o["error"] = .string(e) }
        if let c = outcome?.cause { o["cause"] = .string(c) }
        let billed = max(100, Int64(((stop - start) + 99) / 100 * 100))
        o["billingDetails"] = .obj([("billedMemoryUsedInMB", .int(64)), ("billedDurationInMilliseconds", .int(billed))])
        return .object(o)
    }

    func describeExecution(_ body: JSON) throws -> JSON {
        let e = try execution(try Self.string(body, "executionArn")!)
        var o = JSONObject([
            ("executionArn", .string(e.arn)), ("stateMachineArn", .string(e.stateMachineArn)), ("name", .string(e.name)),
            ("status", .string(e.status)), ("startDate", Self.epoch(e.startedMs)),
            ("input", .string(e.input)), ("inputDetails", .obj([("included", .bool(true))])),
        ])
        if let stop = e.stoppedMs { o["stopDate"] = Self.epoch(stop) }
        if let output = e.output {
            o["output"] = .string(output)
            o["outputDetails"] = .obj([("included", .bool(true))])
        }
        if let error = e.error { o["error"] = .string(error) }
        if let cause = e.cause { o["cause"] = .string(cause) }
        if let mapRun = e.mapRunArn { o["mapRunArn"] = .string(mapRun) }
        try redriveFields(e, into: &o)
        return .object(o)
    }

    func describeStateMachineForExecution(_ body: JSON) throws -> JSON {
        let e = try execution(try Self.string(body, "executionArn")!)
        let m = try store.stateMachine(arn: e.stateMachineArn)
        let name = e.stateMachineArn.split(separator: ":").last.map(String.init) ?? ""
        let record = m ?? StateMachineRecord(arn: e.stateMachineArn, name: name, type: "STANDARD", definition: e.definition, roleArn: e.roleArn)
        var shaped = describe(record, definition: e.definition, updated: true).objectValue!
        shaped["status"] = nil
        shaped["type"] = nil
        shaped["creationDate"] = nil
        if let mapRun = e.mapRunArn {
            shaped["mapRunArn"] = .string(mapRun)
            shaped["label"] = .string(String(name.split(separator: "/").last ?? ""))
        }
        return .object(shaped)
    }

    func stopExecution(_ body: JSON) async throws -> JSON {
        let arn = try Self.string(body, "executionArn")!
        _ = try execution(arn)
        let error = try Self.string(body, "error", required: false)
        let cause = try Self.string(body, "cause", required: false)
        _ = try await driver.stop(arn, error: error, cause: cause)
        let e = try execution(arn)
        return .obj([("stopDate", Self.epoch(e.stoppedMs ?? driver.clock.nowMs()))])
    }

    func listExecutions(_ body: JSON) throws -> JSON {
        let mapRun = try Self.string(body, "mapRunArn", required: false)
        let machineArn = try Self.string(body, "stateMachineArn", required: false)
        if mapRun != nil && machineArn != nil {
            throw StatesAPIError.validation("Only one of stateMachineArn or mapRunArn can be specified")
        }
        if mapRun == nil && machineArn == nil {
            throw StatesAPIError.validation("Must provide a StateMachine ARN or MapRun ARN")
        }
        let status = try Self.string(body, "statusFilter", required: false)
        if let status, !["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"].contains(status) {
            throw StatesAPIError.validation("1 validation error detected: Value '\(status)' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]")
        }
        let redrive = try Self.string(body, "redriveFilter", required: false)
        if let redrive, !["REDRIVEN", "NOT_REDRIVEN"].contains(redrive) {
            throw StatesAPIError.validation("1 validation error detected: Value '\(redrive)' at 'redriveFilter' failed to satisfy constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]")
        }
        let limit = try Self.maxResults(body)
        let offset = Int(try Self.untoken("executions", body) ?? "0") ?? 0
        let page: [ExecutionRecord]
        if let mapRun {
            let parts = mapRun.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 8, parts[0] == "arn", parts[2] == "states", parts[5] == "mapRun" else { throw StatesAPIError.invalidArn(mapRun) }
            guard try store.mapRunExecution(arn: mapRun) != nil else { throw StatesAPIError.mapRunDoesNotExist(mapRun) }
            page = try store.executions(mapRun: mapRun, status: status, offset: offset, limit: limit + 1)
        } else {
            let m = try machine(machineArn!)
            page = try store.executions(stateMachine: m.arn, status: status, redriven: redrive.map { $0 == "REDRIVEN" }, offset: offset, limit: limit + 1)
        }
        var o = JSONObject([("executions", .array(page.prefix(limit).map { e in
            var x = JSONObject([("executionArn", .string(e.arn)), ("stateMachineArn", .string(e.stateMachineArn)), ("name", .string(e.name)),
                                ("status", .string(e.status)), ("startDate", Self.epoch(e.startedMs))])
            if let stop = e.stoppedMs { x["stopDate"] = Self.epoch(stop) }
            // Listed by Map Run: each child's Map Run and item count, as AWS.
            if mapRun != nil, let run = e.mapRunArn {
                x["mapRunArn"] = .string(run)
                x["itemCount"] = .int(Int64(e.mapItems))
            }
            Self.redriveCounts(e, into: &x)
            return .object(x)
        }))])
        if page.count > limit { o["nextToken"] = .string(Self.token("executions", String(offset + limit))) }
        return .object(o)
    }

    func getExecutionHistory(_ body: JSON) throws -> JSON {
        let arn = try Self.string(body, "executionArn")!
        if arn.split(separator: ":").dropFirst(5).first == "express" {
            throw StatesAPIError(type: "InvalidArn", message: "Invalid Arn: 'Resource type not valid in this context: express'")
        }
        _ = try execution(arn)
        let limit = try Self.maxResults(body)
        let reverse = body["reverseOrder"]?.boolValue ?? false
        let includeData = body["includeExecutionData"]?.boolValue ?? true
        let total = try store.historyCount(execution: arn)
        let from = Int(try Self.untoken(reverse ? "history-r" : "history", body) ?? (reverse ? String(total) : "1")) ?? 1
        let texts = try store.history(execution: arn, from: from, limit: limit, reverse: reverse)
        var events: [JSON] = texts.compactMap { try? JSON.parse($0) }
        if !includeData {
            events = events.map { event in
                guard var o = event.objectValue, let key = o.keys.first(where: { $0.hasSuffix("EventDetails") }), var d = o[key]?.objectValue else { return event }
                for field in ["input", "output", "parameters"] { d[field] = nil }
                o[key] = .object(d)
                return .object(o)
            }
        }
        var o = JSONObject([("events", .array(events))])
        let next = reverse ? from - texts.count : from + texts.count
        if texts.count == limit && (reverse ? next >= 1 : next <= total) {
            o["nextToken"] = .string(Self.token(reverse ? "history-r" : "history", String(next)))
        }
        return .object(o)
    }
}
