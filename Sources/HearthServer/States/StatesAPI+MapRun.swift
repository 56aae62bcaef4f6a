import Foundation
import HearthEvents
import HearthStates
import HearthStore

// The distributed Map (ADR 0030): a Map Run's child executions, started through the same path
// as StartExecution, and DescribeMapRun, ListMapRuns, UpdateMapRun.
extension StatesAPI {
    /// Starts one child of a Map Run (its input is the task's parameters) and says how it went:
    /// submitted (the driver journals the child's end for the parent), or ended at once. The
    /// child's name is a UUID made from the Map Run and the child's index, so a task run again
    /// after a crash finds the child it started instead of starting a second one.
    func runMapRunChild(_ task: TaskInvocation, parent: ExecutionContext, clock: any LedgerClock) async -> JournalEntry {
        guard case .mapRunChild(let child) = task.resource else {
            return .taskFailed(task: task.id, error: "States.Runtime", cause: "not a Map Run child", at: clock.nowMs())
        }
        let name = derivedUUID("hearth-map-child", child.mapRunArn, String(child.index))
        let machine = child.stateMachineArn.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let arn = "arn:aws:states:\(region):\(account):execution:\(machine):\(name)"
        let record = ExecutionRecord(arn: arn, stateMachineArn: child.stateMachineArn, name: name, input: task.parameters.text,
                                     definition: child.definition, roleArn: parent.roleArn, startedMs: clock.nowMs(),
                                     mapRunArn: child.mapRunArn, mapItems: child.items)
        // Watch before starting: a child that ends at once still reaches its parent.
        driver.watch(child: arn, parent: parent.executionArn, task: task.id)
        do {
            let started = try await driver.start(record) ?? record
            if started.status != "RUNNING" { return StatesDriver.childEnded(started, task: task, at: clock.nowMs()) }
            let response = JSON.obj([("ExecutionArn", .string(started.arn)), ("StartDate", .int(started.startedMs))]).text
            return .taskSubmitted(task: task.id, output: response, at: clock.nowMs())
        } catch {
            return .taskFailed(task: task.id, error: "States.Runtime", cause: "The child execution could not start: \(error)", at: clock.nowMs())
        }
    }

    /// A Map Run ARN's parts checked (`arn:aws:states:R:A:mapRun:MACHINE/LABEL:UUID`), its
    /// parent execution and what the parent's interpreter knows of it.
    func mapRun(_ arn: String) async throws -> (parent: String, info: MapRunInfo, redriveCount: Int) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 8, parts[0] == "arn", parts[2] == "states", parts[5] == "mapRun" else { throw StatesAPIError.invalidArn(arn) }
        guard let parent = try store.mapRunExecution(arn: arn), let (execution, _) = try await driver.engine.load(parent),
              let info = execution.mapRun(arn) else { throw StatesAPIError.mapRunDoesNotExist(arn) }
        return (parent, info, execution.redriveCount)
    }

    func describeMapRun(_ body: JSON) async throws -> JSON {
        let (parent, info, redriveCount) = try await mapRun(try Self.string(body, "mapRunArn")!)
        let counts = try store.mapRunCounts(arn: info.arn)
        func shaped(_ pick: ((executions: Int, items: Int)) -> Int, total: Int) -> JSON {
            func n(_ status: String) -> Int { counts[status].map(pick) ?? 0 }
            let started = counts.values.map(pick).reduce(0, +)
            // Children never started: pending while the run runs; aborted once it ended early.
            let notStarted = total - started
            let ended = info.status != "RUNNING"
            return .obj([
                ("pending", .int(Int64(ended ? 0 : notStarted))), ("running", .int(Int64(n("RUNNING")))),
                ("succeeded", .int(Int64(n("SUCCEEDED")))), ("failed", .int(Int64(n("FAILED")))),
                ("timedOut", .int(Int64(n("TIMED_OUT")))), ("aborted", .int(Int64(n("ABORTED") + (ended ? notStarted : 0)))),
                ("total", .int(Int64(total))), ("resultsWritten", .int(0)), ("failuresNotRedrivable", .int(0)), ("pendingRedrive", .int(0)),
            ])
        }
        var o = JSONObject([
            ("mapRunArn", .string(info.arn)), ("executionArn", .string(parent)), ("status", .string(info.status)),
            ("startDate", Self.epoch(info.startMs)),
            ("maxConcurrency", .int(Int64(info.limits.maxConcurrency))),
            ("toleratedFailurePercentage", .double(info.limits.toleratedFailurePercentage ?? 0)),
            ("toleratedFailureCount", .int(info.limits.toleratedFailureCount ?? 0)),
            ("itemCounts", shaped({ $0.items }, total: info.totalItems)),
            ("executionCounts", shaped({ $0.executions }, total: info.totalExecutions)),
            ("redriveCount", .int(Int64(redriveCount))),
        ])
        if let stop = info.stopMs { o["stopDate"] = Self.epoch(stop) }
        return .object(o)
    }

    func listMapRuns(_ body: JSON) async throws -> JSON {
        let e = try execution(try Self.string(body, "executionArn")!)
        let limit = try Self.maxResults(body)
        let offset = Int(try Self.untoken("mapRuns", body) ?? "0") ?? 0
        let runs = try await driver.engine.load(e.arn)?.execution.mapRuns ?? []
        let page = runs.dropFirst(offset).prefix(limit)
        var o = JSONObject([("mapRuns", .array(page.map { run in
            var x = JSONObject([("executionArn", .string(e.arn)), ("mapRunArn", .string(run.arn)), ("stateMachineArn", .string(e.stateMachineArn)),
                                ("startDate", Self.epoch(run.startMs))])
            if let stop = run.stopMs { x["stopDate"] = Self.epoch(stop) }
            return .object(x)
        }))])
        if runs.count > offset + limit { o["nextToken"] = .string(Self.token("mapRuns", String(offset + limit))) }
        return .object(o)
    }

    /// UpdateMapRun: journalled in the parent, so the running Map Run's limits change (and stay
    /// changed after a restart).
    func updateMapRun(_ body: JSON) async throws -> JSON {
        let arn = try Self.string(body, "mapRunArn")!
        func field(_ key: String) -> JSON? { body[key].flatMap { $0 == .null ? nil : $0 } }
        var maxConcurrency: Int?
        if let v = field("maxConcurrency") {
            guard let n = v.intValue, n >= 0 else {
                throw StatesAPIError.validation("1 validation error detected: Value '\(v.text)' at 'maxConcurrency' failed to satisfy constraint: Member must have value greater than or equal to 0")
            }
            maxConcurrency = Int(n)
        }
        var count: Int64?
        if let v = field("toleratedFailureCount") {
            guard let n = v.intValue, n >= 0 else {
                throw StatesAPIError.validation("1 validation error detected: Value '\(v.text)' at 'toleratedFailureCount' failed to satisfy constraint: Member must have value greater than or equal to 0")
            }
            count = n
        }
        var percentage: Double?
        if let v = field("toleratedFailurePercentage") {
            guard let d = v.doubleValue, d >= 0, d <= 100 else {
                throw StatesAPIError.validation("1 validation error detected: Value '\(v.text)' at 'toleratedFailurePercentage' failed to satisfy constraint: Member must have value between 0 and 100")
            }
            percentage = d
        }
        guard maxConcurrency != nil || count != nil || percentage != nil else {
            throw StatesAPIError.validation("At least one of maxConcurrency, toleratedFailurePercentage or toleratedFailureCount is required")
        }
        let (parent, info, _) = try await mapRun(arn)
        guard info.status == "RUNNING" else { throw StatesAPIError.validation("Map Run is not RUNNING: '\(arn)'") }
        let entry = JournalEntry.mapRunUpdated(mapRun: arn, maxConcurrency: maxConcurrency, toleratedFailureCount: count,
                                               toleratedFailurePercentage: percentage, at: driver.clock.nowMs())
        guard try await driver.record(parent, entry) else { throw StatesAPIError.validation("Map Run is not RUNNING: '\(arn)'") }
        return .object(JSONObject())
    }
}
