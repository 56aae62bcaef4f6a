// HearthStates: the distributed Map state (ADR 0030). Pure, like the rest of the interpreter.
import Foundation

extension Execution {
    /// Hearth's bound on a Map Run's running children when the definition sets none
    /// (`MaxConcurrency` 0 or absent; AWS's is 10,000), and on any larger `MaxConcurrency`.
    public static let mapRunConcurrencyCap = 1000

    /// A distributed Map state's run: one child execution per item or batch (`inputs`), at most
    /// `limits.maxConcurrency` running; their results in item order.
    struct DistributedRun {
        var arn: String
        var child: (stateMachineArn: String, definition: String, executionType: String)
        var inputs: [JSON]
        /// Items per child (1, or a batch's size).
        var sizes: [Int]
        var next = 0
        /// Running children: task id → child index.
        var running: [String: Int] = [:]
        var results: [JSON?]
        var finished = 0
        var failedItems = 0
        var totalItems: Int
        var limits: MapRunLimits
    }

    /// The frame whose distributed Map runs the Map Run `arn`, if it is running.
    func distributedFrame(_ arn: String) -> Int? {
        frames.first { if case .distributed(let run) = $0.value.phase { run.arn == arn } else { false } }?.key
    }

    /// Takes the frame's run out of it (leaving it idle), so changing the run copies nothing.
    mutating func takeRun(_ fid: Int) -> DistributedRun? {
        guard case .distributed(let run) = frames[fid]?.phase else { return nil }
        frames[fid]!.phase = .idle
        return run
    }

    mutating func updateInfo(_ arn: String, _ change: (inout MapRunInfo) -> Void) {
        guard let k = mapRuns.lastIndex(where: { $0.arn == arn }) else { return }
        change(&mapRuns[k])
    }

    /// MapStateStarted is emitted: batches the items, resolves the tolerances, emits
    /// MapRunStarted and starts the first children.
    mutating func startMapRun(_ fid: Int, _ d: DistributedMap, inputs: [JSON], afterInput: JSON, maxConcurrency: Int, at: Int64) throws(StatesError) {
        let state = frames[fid]!.state
        let ctx = contextObject(fid)
        func read(_ p: JSONPath) -> JSON? { try? p.read(p.root == .context ? ctx : afterInput) }
        func count(_ source: IntSource?, _ field: String, minimum: Int64) throws(StatesError) -> Int64? {
            switch source {
            case .value(let n): return n
            case .path(let p):
                guard let v = read(p), v.isNumber, let n = v.intValue, n >= minimum else {
                    throw StatesError.runtime(runtimeCause(fid, "The \(field) parameter does not reference a valid integer value of at least \(minimum)"))
                }
                return n
            case nil: return nil
            }
        }
        var percentage: Double?
        switch d.toleratedFailurePercentage {
        case .value(let p): percentage = p
        case .path(let p):
            guard let v = read(p), v.isNumber, let n = v.doubleValue, n >= 0, n <= 100 else {
                throw StatesError.runtime(runtimeCause(fid, "The ToleratedFailurePercentagePath parameter does not reference a valid number between 0 and 100"))
            }
            percentage = n
        case nil: break
        }
        let tolerated = try count(d.toleratedFailureCount, "ToleratedFailureCountPath", minimum: 0)
        // Batches: consecutive items, at most MaxItemsPerBatch of them and MaxInputBytesPerBatch bytes.
        var childInputs = inputs
        var sizes = Array(repeating: 1, count: inputs.count)
        if let batcher = d.batcher {
            let maxItems = try count(batcher.maxItems, "MaxItemsPerBatchPath", minimum: 1).map(Int.init) ?? Int.max
            let maxBytes = try count(batcher.maxBytes, "MaxInputBytesPerBatchPath", minimum: 1).map(Int.init) ?? Int.max
            var batchInput: JSON?
            if let template = batcher.batchInput {
                var random = self.random
                batchInput = try template.evaluate(input: afterInput, context: ctx, random: &random)
                self.random = random
            }
            func wrap(_ items: [JSON]) -> JSON {
                var o = JSONObject([("Items", .array(items))])
                if let batchInput { o["BatchInput"] = batchInput }
                return .object(o)
            }
            let overhead = wrap([]).text.utf8.count
            childInputs = []
            sizes = []
            var batch: [JSON] = []
            var bytes = overhead
            for item in inputs {
                let size = item.text.utf8.count + (batch.isEmpty ? 0 : 1)
                if !batch.isEmpty && (batch.count >= maxItems || bytes + size > maxBytes) {
                    childInputs.append(wrap(batch))
                    sizes.append(batch.count)
                    batch = []
                    bytes = overhead
                }
                bytes += item.text.utf8.count + (batch.isEmpty ? 0 : 1)
                batch.append(item)
            }
            if !batch.isEmpty {
                childInputs.append(wrap(batch))
                sizes.append(batch.count)
            }
        }
        // ARNs (ADR 0030): mapRun:MACHINE/LABEL:UUID; the children's machine stateMachine:MACHINE/LABEL.
        let parts = context.stateMachineArn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let account = parts.count > 4 ? parts[4] : "000000000000"
        let label = d.label ?? derivedUUID("hearth-map-label", context.stateMachineArn, state.name)
        let base = "\(context.stateMachineName)/\(label)"
        let arn = "arn:aws:states:\(context.region):\(account):mapRun:\(base):\(derivedUUID("hearth-map-run", context.executionArn, state.name, String(lastEventId)))"
        let childMachine = "arn:aws:states:\(context.region):\(account):stateMachine:\(base)"
        let limits = MapRunLimits(maxConcurrency: maxConcurrency, toleratedFailureCount: tolerated, toleratedFailurePercentage: percentage)
        emit(fid, at, "MapRunStarted", "mapRunStartedEventDetails", .obj([("mapRunArn", .string(arn))]))
        mapRuns.append(MapRunInfo(arn: arn, stateName: state.name, childStateMachineArn: childMachine, executionType: d.executionType, startMs: at,
                                  stopMs: nil, status: "RUNNING", limits: limits, totalItems: inputs.count, totalExecutions: childInputs.count))
        frames[fid]!.phase = .distributed(DistributedRun(arn: arn, child: (childMachine, d.definition, d.executionType), inputs: childInputs, sizes: sizes,
                                                         results: Array(repeating: nil, count: childInputs.count), totalItems: inputs.count, limits: limits))
        pumpMapRun(fid, at: at)
    }

    /// Starts children up to the concurrency limit, or ends the Map Run when all have ended.
    mutating func pumpMapRun(_ fid: Int, at: Int64) {
        guard var run = takeRun(fid) else { return }
        let stateName = frames[fid]!.state.name
        let limit = run.limits.maxConcurrency == 0 ? Self.mapRunConcurrencyCap : min(run.limits.maxConcurrency, Self.mapRunConcurrencyCap)
        while run.running.count < limit && run.next < run.inputs.count {
            let index = run.next
            run.next += 1
            let id = newID("task")
            let child = MapRunChild(mapRunArn: run.arn, stateMachineArn: run.child.stateMachineArn, definition: run.child.definition,
                                    executionType: run.child.executionType, index: index, items: run.sizes[index])
            let invocation = TaskInvocation(id: id, resource: .mapRunChild(child), resourceText: run.arn, parameters: run.inputs[index],
                                            timeoutSeconds: nil, stateName: stateName)
            outstandingTasks[id] = invocation
            tasks[id] = fid
            run.running[id] = index
            actions.append(.invoke(invocation))
        }
        guard run.finished == run.inputs.count else {
            frames[fid]!.phase = .distributed(run)
            return
        }
        updateInfo(run.arn) {
            $0.status = "SUCCEEDED"
            $0.stopMs = at
        }
        // MapStateSucceeded and MapStateExited both follow MapRunSucceeded (AWS's previousEventId).
        let succeeded = emit(fid, at, "MapRunSucceeded", nil, nil)
        emit(fid, at, "MapStateSucceeded", nil, nil, previous: succeeded)
        frames[fid]!.lastEventId = succeeded
        finishWithResult(fid, result: .array(run.results.map { $0 ?? .null }), at: at)
    }

    /// A child execution ended: its output is kept (a failure as `{"Error","Cause"}`), and the
    /// Map Run goes on, or fails when its failures exceed what it tolerates.
    mutating func mapChildEnded(_ fid: Int, task: String, result: Result<JSON, StatesError>, at: Int64) {
        guard var run = takeRun(fid) else { return }
        guard let index = run.running.removeValue(forKey: task) else {
            frames[fid]!.phase = .distributed(run)
            return
        }
        run.finished += 1
        switch result {
        case .success(let output): run.results[index] = output
        case .failure(let e):
            run.results[index] = .obj([("Error", .string(e.error)), ("Cause", .string(e.cause))])
            run.failedItems += run.sizes[index]
        }
        let exceeded = Self.exceeds(run)
        frames[fid]!.phase = .distributed(run)
        if exceeded { failMapRun(fid, at: at) } else { pumpMapRun(fid, at: at) }
    }

    /// Whether the failed items are more than the Map Run tolerates: none when no tolerance is
    /// given; otherwise more than ToleratedFailureCount, or more than ToleratedFailurePercentage
    /// of all items.
    static func exceeds(_ run: DistributedRun) -> Bool {
        let l = run.limits
        if l.toleratedFailureCount == nil && l.toleratedFailurePercentage == nil { return run.failedItems > 0 }
        if let c = l.toleratedFailureCount, Int64(run.failedItems) > c { return true }
        if let p = l.toleratedFailurePercentage, run.totalItems > 0, Double(run.failedItems) * 100 / Double(run.totalItems) > p { return true }
        return false
    }

    /// Forgets the run's running children (the driver stops them) and marks it `status`.
    mutating func endMapRunEarly(_ run: DistributedRun, status: String, at: Int64) {
        let running = run.running.keys.sorted()
        for id in running {
            outstandingTasks[id] = nil
            tasks[id] = nil
            submittedTasks.remove(id)
            submissions[id] = nil
        }
        if !running.isEmpty { actions.append(.stopChildren(tasks: running)) }
        updateInfo(run.arn) {
            $0.status = status
            $0.stopMs = at
        }
    }

    /// Too many children failed: MapRunFailed, MapStateFailed, and the state fails with
    /// `States.ExceedToleratedFailureThreshold` (Retry and Catch apply).
    mutating func failMapRun(_ fid: Int, at: Int64) {
        guard let run = takeRun(fid) else { return }
        endMapRunEarly(run, status: "FAILED", at: at)
        let cause = StatesError.exceedToleratedFailureThresholdCause
        emit(fid, at, "MapRunFailed", "mapRunFailedEventDetails",
             .obj([("error", .string(StatesError.exceedToleratedFailureThreshold)), ("cause", .string(cause))]))
        emit(fid, at, "MapStateFailed", nil, nil)
        stateFailed(fid, StatesError(StatesError.exceedToleratedFailureThreshold, cause), at: at)
    }

    /// The frame's Map Run, if one runs, is aborted (its branch was aborted, or the execution
    /// ended): MapRunAborted, its children stopped.
    mutating func abortMapRun(_ fid: Int, at: Int64) {
        guard let run = takeRun(fid) else { return }
        endMapRunEarly(run, status: "ABORTED", at: at)
        emit(fid, at, "MapRunAborted", nil, nil)
    }

    /// UpdateMapRun: the running Map Run's limits change; more children start, or it fails if
    /// it now tolerates fewer failures than it has.
    mutating func updateMapRun(_ arn: String, maxConcurrency: Int?, toleratedFailureCount: Int64?, toleratedFailurePercentage: Double?, at: Int64) {
        guard let fid = distributedFrame(arn), var run = takeRun(fid) else { return }
        if let maxConcurrency { run.limits.maxConcurrency = maxConcurrency }
        if let toleratedFailureCount { run.limits.toleratedFailureCount = toleratedFailureCount }
        if let toleratedFailurePercentage { run.limits.toleratedFailurePercentage = toleratedFailurePercentage }
        let limits = run.limits
        updateInfo(arn) { $0.limits = limits }
        let exceeded = Self.exceeds(run)
        frames[fid]!.phase = .distributed(run)
        if exceeded { failMapRun(fid, at: at) } else { pumpMapRun(fid, at: at) }
    }

    /// The Map Run `arn` names, if this execution started it.
    public func mapRun(_ arn: String) -> MapRunInfo? { mapRuns.last { $0.arn == arn } }
}
