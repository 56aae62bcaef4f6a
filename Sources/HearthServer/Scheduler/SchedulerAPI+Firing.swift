import Foundation
import HearthCore
import HearthEvents
import HearthStates
import HearthStore

/// How the daemon's schedules fire: the `scheduler.fire` dispatcher and its engine (ADR 0012).
final class ScheduleFiringService: Sendable {
    let ledger: Ledger
    let dispatcher: LedgerDispatcher

    init(ledger: Ledger, dispatcher: LedgerDispatcher) {
        self.ledger = ledger
        self.dispatcher = dispatcher
    }
}

extension SchedulerAPI {
    /// The stored schedule as the firing engine sees it.
    func firing(_ record: ScheduleRecord) throws -> FiringSchedule {
        try FiringSchedule(arn: scheduleArn(record.group, record.name), group: record.group, name: record.name,
                           enabled: record.state == "ENABLED", revision: record.revision, created: record.created, definition: record.definition)
    }

    /// The first occurrence's item, at or after `from` (ms), nil while firing is off (no daemon).
    func plan(_ record: ScheduleRecord, from: Int64) throws -> NewLedgerItem? {
        guard firingService != nil else { return nil }
        return try firing(record).firstItem(from: from)
    }

    /// Starts firing: the `scheduler.fire` dispatcher on `ledger`, after planting the next
    /// occurrence of every enabled schedule that has none (schedules stored before firing
    /// existed, or a chain ended by an unreadable definition).
    func startFiring(ledger: Ledger, lambda: LambdaAPI, queues: (any QueueMessages)?, retryBase: Duration,
                     log: @escaping @Sendable (String) -> Void) async throws {
        let baseMs = max(1, Int64(retryBase.components.seconds) * 1000 + Int64(retryBase.components.attoseconds / 1_000_000_000_000_000))
        let engine = ScheduleFirings(source: FiringSource(scheduler: self, lambda: lambda), clock: ledger.clock,
                                     policy: ScheduleRetryPolicy(baseMs: baseMs, capMs: 300_000), queues: queues, log: log)
        let dispatcher = LedgerDispatcher(ledger: ledger, kind: LedgerKind.schedulerFire, concurrency: 8, leaseMs: 60_000, log: log) { item in
            await engine.handle(item)
        }
        let now = ledger.clock.nowMs()
        var planted: [NewLedgerItem] = []
        for record in try store.schedulesWithoutFirings() {
            do {
                if let item = try firing(record).firstItem(from: now) { planted.append(item) }
            } catch {
                log("hearth: schedule \(record.group)/\(record.name) cannot fire: \(error)")
            }
        }
        if !planted.isEmpty {
            try await ledger.add(planted)
            log("hearth: planted the next occurrence of \(planted.count) schedule(s) that had none")
        }
        firingState.withLock { $0 = ScheduleFiringService(ledger: ledger, dispatcher: dispatcher) }
        dispatcher.start()
    }

    /// Stops the dispatcher (what it holds is released, due again at the next start).
    func stopFiring(grace: Duration) async {
        await firingService?.dispatcher.stop(grace: grace)
    }

    /// After a transaction that planted an item: the dispatcher looks again now.
    func wakeFiring() {
        firingService?.ledger.wake(LedgerKind.schedulerFire)
    }

    /// `GET /hearth/schedules/{group}/{name}/firings`: the schedule's pending occurrences,
    /// retries and failed (missed, undeliverable) ones (`hearth schedule firings`).
    func firings(group: String, name: String, requestID: String) async throws -> HTTPResponse {
        guard let service = firingService else { return Self.json(["Firings": [Any]()], requestID: requestID) }
        let queue = FiringSchedule.queue(group: group, name: name)
        let items = try await service.ledger.read { try $0.items(kind: LedgerKind.schedulerFire, queue: queue, limit: 1000) }
        let shaped = items.map { item -> [String: Any] in
            let doc = try? FireDocument.decode(item.payload)
            var object: [String: Any] = [
                "Id": item.id, "State": item.state.rawValue, "Action": doc?.action.rawValue ?? "", "DueAt": item.dueAt,
                "ScheduledTime": doc.map { FireDocument.iso8601Seconds(ms: $0.scheduledAt) } ?? "", "Attempts": doc?.attempts ?? item.attempts,
                "Recoveries": item.recoveries, "ExecutionId": doc?.executionID ?? "",
            ]
            if let error = item.lastError { object["LastError"] = error }
            if let finished = item.finishedAt { object["FinishedAt"] = finished }
            return object
        }
        return Self.json(["Firings": shaped], requestID: requestID)
    }
}

/// The engine's view of the platform: schedules from the store, asynchronous invocations
/// through the Lambda API's checks (the same ones `InvocationType: Event` makes).
struct FiringSource: ScheduleSource {
    let scheduler: SchedulerAPI
    let lambda: LambdaAPI

    func schedule(group: String, name: String) async throws -> FiringSchedule? {
        try scheduler.store.schedule(group: group, name: name).map { try scheduler.firing($0) }
    }

    func deleteCompleted(group: String, name: String, revision: Int64) async throws {
        try scheduler.store.deleteCompletedSchedule(group: group, name: name, revision: revision)
    }

    func lambdaInvoke(functionARN: String, payload: String, now: Int64) -> Result<NewLedgerItem, ScheduleDeliveryError> {
        let ref: FunctionRef
        do {
            ref = try FunctionRef(parsing: functionARN, qualifier: nil)
            _ = try lambda.resolve(ref)
        } catch {
            return .failure(ScheduleDeliveryError(code: "ResourceNotFoundException", message: "Function not found: \(functionARN)", retryable: true))
        }
        guard payload.utf8.count <= LambdaAPI.maxAsyncInvokePayload else {
            return .failure(ScheduleDeliveryError(code: "ValidationException", message: "the payload is larger than Lambda's asynchronous limit (\(LambdaAPI.maxAsyncInvokePayload) bytes)", retryable: false))
        }
        lambda.metrics.recordAsyncReceived(function: ref.name)
        let event = AsyncEvent(requestID: RequestID.make(), function: ref.name, qualifier: ref.qualifier, payload: payload)
        return .success(event.ledgerItem(dueAt: now))
    }

    /// StartExecution as Scheduler's templated `states:startExecution` target does it, under the
    /// occurrence's execution id as the name: a start repeated after a crash finds the
    /// execution the first one made (the same name and input while it runs; an existing
    /// execution of that name once it has ended) and counts as delivered.
    func statesStart(stateMachineARN: String, name: String, input: String) async -> Result<Void, ScheduleDeliveryError> {
        guard let states = lambda.states else {
            return .failure(ScheduleDeliveryError(code: "ServiceUnavailable", message: "Step Functions is not running yet", retryable: true))
        }
        let body = JSON.object(JSONObject([("stateMachineArn", .string(stateMachineARN)), ("name", .string(name)), ("input", .string(input))]))
        do {
            _ = try await states.startExecution(body)
            return .success(())
        } catch let error as StatesAPIError {
            switch error.type {
            case "ExecutionAlreadyExists":
                return .success(())
            case "StateMachineDoesNotExist", "StateMachineDeleting":
                return .failure(ScheduleDeliveryError(code: "ResourceNotFoundException", message: error.message, retryable: true))
            default:
                return .failure(ScheduleDeliveryError(code: error.type, message: error.message, retryable: false))
            }
        } catch {
            return .failure(ScheduleDeliveryError(code: "InternalServerException", message: "\(error)", retryable: true))
        }
    }
}
