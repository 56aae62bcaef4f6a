import Foundation
import HearthCore
import HearthEvents
import HearthRuntimeAPI
import HearthStore

// Invoke (RequestResponse, Event and DryRun), the legacy InvokeAsync, and Hearth's logs and
// events endpoints.
extension LambdaAPI {
    // MARK: invoke

    func invoke(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let invocation = try InvokeRequest(path: raw, request: request)
        if invocation.asynchronous {
            return try await enqueue(invocation.function, payload: request.body, traceID: invocation.traceID, hops: invocation.hops,
                                     requestID: requestID)
        }
        let (config, version) = try resolve(invocation.function, weighted: true)
        if invocation.dryRun {
            return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID), ("X-Amz-Executed-Version", version)])
        }
        let payload = try InvokeRequest.validatedPayload(request.body)
        let tailLog = invocation.tailLog
        // The caller has its answer at the runtime's /response, sent from here by the server
        // while this task goes on: the invocation (its log, REPORT and metrics) lasts until the
        // runtime's next /next. A tail log holds REPORT, so it waits for the end.
        let early = tailLog ? nil : HTTPServer.earlyResponder
        var onResponse: (@Sendable (InvocationRecord) -> Void)?
        if let early {
            onResponse = { early.respond(Self.invokeResponse($0, requestID: requestID, version: version, tailLog: false)) }
        }
        let record: InvocationRecord
        do {
            record = try await execute(config, version: version, qualifier: invocation.function.qualifier, payload: payload,
                                       requestID: requestID, traceID: invocation.traceID, clientContext: invocation.clientContext,
                                       onResponse: onResponse)
        } catch let throttle as PoolThrottle {
            throw LambdaError.tooManyRequests(reason: throttle.reason)
        }
        return Self.invokeResponse(record, requestID: requestID, version: version, tailLog: tailLog)
    }

    /// Invoke's answer for an invocation's record.
    static func invokeResponse(_ record: InvocationRecord, requestID: String, version: String, tailLog: Bool) -> HTTPResponse {
        var headers: [(String, String)] = [
            // The runtime's Content-Type when it posted one (errors are JSON documents).
            ("Content-Type", record.errorType == nil ? record.contentType ?? "application/json" : "application/json"),
            ("x-amzn-RequestId", requestID),
            ("X-Amz-Executed-Version", version),
        ]
        if record.errorType != nil { headers.append(("X-Amz-Function-Error", "Unhandled")) }
        if tailLog {
            let text = Array(FunctionLogs.text(for: record, version: version).utf8)
            headers.append(("X-Amz-Log-Result", Data(text.suffix(4096)).base64EncodedString()))
        }
        return HTTPResponse(status: 200, headers: headers, body: record.payload)
    }

    /// One invocation through the pool, as every trigger runs one: reserved concurrency, the
    /// pool's limits, the function's logs and the metrics. Throws the pool's `PoolThrottle`, or
    /// a `LambdaError` when the version cannot be prepared.
    /// `onResponse` gets the caller's answer as soon as there is one; the record returned covers
    /// the whole invocation, up to the runtime's next `/next`.
    func execute(_ config: FunctionConfiguration, version: String, qualifier: String?, payload: [UInt8], requestID: String,
                 traceID: String?, clientContext: String? = nil, stream: ResponseStream? = nil,
                 onResponse: (@Sendable (InvocationRecord) -> Void)? = nil) async throws -> InvocationRecord {
        let deployed = try await preparedVersion(config, version: version)
        let reserved = try store.reservedConcurrency(function: config.name)
        if reserved == 0 {
            metrics.recordThrottle(function: config.name)
            throw PoolThrottle.reservedConcurrencyExceeded
        }
        let record: InvocationRecord
        do {
            // The function sees the ARN it was invoked by (with the alias or version asked for).
            record = try await pool.invoke(function: config.name, versionName: version, version: deployed, reserved: reserved,
                                           payload: payload, requestID: requestID, invokedARN: arn(config.name, qualifier), traceID: traceID,
                                           clientContext: clientContext, stream: stream, onResponse: onResponse)
        } catch {
            metrics.recordThrottle(function: config.name)
            throw error
        }
        logs.append(function: config.name, record: record, version: version)
        metrics.recordInvocation(function: config.name, durationMs: record.durationMs, initDurationMs: record.initDurationMs,
                                 errorType: record.errorType)
        return record
    }

    /// `InvocationType: Event`: checks the function and payload, commits the event to the ledger
    /// (durable before the 202), and lets the dispatcher run it.
    func enqueue(_ ref: FunctionRef, payload body: [UInt8], traceID: String?, hops: Int, requestID: String) async throws -> HTTPResponse {
        _ = try resolve(ref)
        let payload = try InvokeRequest.validatedPayload(body)
        guard let events else { throw LambdaError.service("asynchronous invocation is not available on this server") }
        let event = AsyncEvent(requestID: requestID, function: ref.name, qualifier: ref.qualifier, payload: String(decoding: payload, as: UTF8.self),
                               traceID: traceID, hops: hops)
        do {
            try await events.submit([event.ledgerItem(dueAt: events.ledger.clock.nowMs())])
        } catch {
            throw LambdaError.service("could not queue the event: \(error)")
        }
        metrics.recordAsyncReceived(function: ref.name)
        return HTTPResponse(status: 202, headers: [("x-amzn-RequestId", requestID)])
    }

    /// The legacy `InvokeAsync` (`POST /2014-11-13/functions/{name}/invoke-async/`): 202 `{"Status":202}`.
    func invokeAsync(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        try InvokeRequest.checkSize(request.body.count, asynchronous: true)
        var response = try await enqueue(ref, payload: request.body, traceID: request.header("X-Amzn-Trace-Id"), hops: 0, requestID: requestID)
        response.headers.append(("Content-Type", "application/json"))
        response.body = Array(#"{"Status":202}"#.utf8)
        return response
    }

    // MARK: logs and events (Hearth's own endpoints; Lambda keeps logs in CloudWatch)

    func getLogs(_ raw: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        let query = request.query
        let events = logs.events(function: ref.name, since: Int64(query["since"] ?? "") ?? 0, requestID: query["requestId"])
        let shaped = events.map { ["timestamp": $0.timestamp, "requestId": $0.requestID, "version": $0.version, "message": $0.message] as [String: Any] }
        return LambdaShapes.json(["events": shaped], requestID: requestID)
    }

    /// `GET /hearth/functions/{name}/events`: the function's queued, running and failed
    /// asynchronous events (`hearth events NAME`).
    func getEvents(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let ref = try parseRef(raw, qualifier: nil)
        _ = try requireFunction(ref.name)
        guard let events else { return LambdaShapes.json(["Events": [Any]()], requestID: requestID) }
        let limit = min(max(Int(request.query["MaxItems"] ?? "") ?? 1000, 1), 10_000)
        let items = try await events.ledger.read { try $0.items(kind: LedgerKind.lambdaInvoke, queue: ref.name, limit: limit) }
        let shaped = items.map { item -> [String: Any] in
            let event = try? AsyncEvent.decode(item.payload)
            var object: [String: Any] = [
                "Id": item.id, "State": item.state.rawValue, "Attempts": item.attempts, "Claims": item.claims,
                "Recoveries": item.recoveries, "CreatedAt": item.createdAt, "DueAt": item.dueAt,
                "RequestId": event?.requestID ?? "", "Qualifier": event?.qualifier ?? "$LATEST", "Throttles": event?.throttles ?? 0,
            ]
            if let error = item.lastError { object["LastError"] = error }
            if let until = item.leaseUntil { object["LeaseUntil"] = until }
            if let finished = item.finishedAt { object["FinishedAt"] = finished }
            if let source = event?.destinationOf { object["DestinationOf"] = source }
            return object
        }
        return LambdaShapes.json(["Events": shaped], requestID: requestID)
    }
}
