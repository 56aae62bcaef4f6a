import Foundation
import HearthCore
import HearthEvents
import HearthStore

/// Runs asynchronous invocations for `AsyncInvocations` through the same path as a synchronous
/// Invoke (`LambdaAPI.execute`: the pool, reserved concurrency, logs, metrics), and turns
/// destination ARNs into the events they receive.
struct AsyncRunner: AsyncFunctionRunner {
    let api: LambdaAPI

    func settings(for event: AsyncEvent) async throws -> AsyncSettings? {
        let resolved: FunctionConfiguration
        do {
            resolved = try api.resolve(FunctionRef(name: event.function, qualifier: event.qualifier)).config
        } catch let error as LambdaError where error.status == 404 {
            return nil
        }
        let config = try api.store.eventInvokeConfig(function: event.function, qualifier: event.qualifier ?? "$LATEST")
        let reserved = try api.store.reservedConcurrency(function: event.function)
        return AsyncSettings(maximumRetryAttempts: config?.maximumRetryAttempts ?? AsyncSettings.defaultRetries,
                             maximumEventAgeSeconds: config?.maximumEventAgeInSeconds ?? AsyncSettings.defaultMaxAgeSeconds,
                             onSuccess: config?.onSuccess, onFailure: config?.onFailure, reservedConcurrencyZero: reserved == 0,
                             deadLetter: resolved.deadLetterTargetARN.isEmpty ? nil : resolved.deadLetterTargetARN)
    }

    func attempt(_ event: AsyncEvent, invokeCount: Int) async -> AttemptOutcome {
        let ref = FunctionRef(name: event.function, qualifier: event.qualifier)
        let config: FunctionConfiguration, version: String
        do {
            (config, version) = try api.resolve(ref, weighted: true)
        } catch {
            return .gone("\(error)")
        }
        let record: InvocationRecord
        do {
            record = try await api.execute(config, version: version, qualifier: event.qualifier, payload: Array(event.payload.utf8),
                                           requestID: event.requestID, traceID: event.traceID)
        } catch let throttle as PoolThrottle {
            return .throttled(reason: throttle.reason)
        } catch let error as LambdaError {
            return .systemError(error.message)
        } catch {
            return .systemError("\(error)")
        }
        // A sandbox that could not start, or an instance closed under it (shutdown), is
        // Hearth's failure, not the function's: retried without using up a retry.
        if record.status == "error" && record.errorType == "Runtime.Unknown" {
            return .systemError(String(decoding: record.payload, as: UTF8.self))
        }
        return .response(AttemptResponse(executedVersion: version, functionARN: functionARN(for: event), payload: record.payload,
                                         functionError: record.errorType == nil ? nil : "Unhandled"))
    }

    func functionARN(for event: AsyncEvent) -> String {
        api.arn(event.function, event.qualifier ?? "$LATEST")
    }

    func destinationEvent(arn: String, record: [UInt8], source: AsyncEvent) -> Result<AsyncEvent, DestinationError> {
        let ref: FunctionRef
        do {
            ref = try FunctionRef(parsing: arn, qualifier: nil)
            _ = try api.resolve(ref)
        } catch {
            return .failure(DestinationError("function not found: \(arn)"))
        }
        return .success(AsyncEvent(requestID: RequestID.make(), function: ref.name, qualifier: ref.qualifier,
                                   payload: String(decoding: record, as: UTF8.self), traceID: source.traceID))
    }
}
