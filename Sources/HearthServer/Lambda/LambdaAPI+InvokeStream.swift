import Foundation
import HearthCore
import HearthRuntimeAPI

// InvokeWithResponseStream: the function's response reaches the caller as the runtime writes it,
// framed as an event stream of `PayloadChunk` events and one `InvokeComplete`.
extension LambdaAPI {
    /// `POST /2021-11-15/functions/{name}/response-streaming-invocations`.
    ///
    /// Errors before the invocation runs (not found, throttled, bad request) are ordinary
    /// Lambda errors; once it runs the answer is 200 and the stream: a streamed response chunk
    /// by chunk, a buffered one as one chunk, and any function or platform error (also one in
    /// the middle of a stream, after the bytes already sent) in `InvokeComplete`'s `ErrorCode`
    /// and `ErrorDetails`. With `X-Amz-Log-Type: Tail`, `InvokeComplete` waits for the end of
    /// the invocation (the runtime's next `/next`) and carries the last 4 KB of its log.
    func invokeWithResponseStream(_ raw: String, _ request: HTTPRequest, requestID: String) async throws -> HTTPResponse {
        let invocation = try InvokeRequest(path: raw, request: request)
        if invocation.asynchronous {
            throw LambdaError.invalidParameter("1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]")
        }
        let (config, version) = try resolve(invocation.function, weighted: true)
        if invocation.dryRun {
            return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID), ("X-Amz-Executed-Version", version)])
        }
        let payload = try InvokeRequest.validatedPayload(request.body)
        let stream = ResponseStream()
        let whole = Task {
            do {
                return try await self.execute(config, version: version, qualifier: invocation.function.qualifier, payload: payload,
                                              requestID: requestID, traceID: invocation.traceID,
                                              clientContext: invocation.clientContext, stream: stream)
            } catch {
                stream.abort()
                throw error
            }
        }
        // Nothing before the invocation has begun: a throttle or a missing version is an error answer.
        guard case .begin? = await stream.next() else {
            do {
                _ = try await whole.value
            } catch let throttle as PoolThrottle {
                throw LambdaError.tooManyRequests(reason: throttle.reason)
            }
            throw LambdaError.service("the invocation ended without a response")
        }
        let tail = invocation.tailLog
        let headers: [(String, String)] = [
            ("Content-Type", "application/vnd.amazon.eventstream"),
            ("x-amzn-RequestId", requestID),
            ("X-Amz-Executed-Version", version),
        ]
        return HTTPResponse(status: 200, headers: headers, bodyStream: { writer in
            var failure: ResponseStream.Failure?
            do {
                loop: while let part = await stream.next() {
                    switch part {
                    case .begin: continue
                    case .chunk(let bytes): try await writer.write(EventStream.payloadChunk(bytes))
                    case .end(let end):
                        failure = end
                        break loop
                    }
                }
                var logResult: String?
                if tail, let record = try? await whole.value {
                    let text = Array(FunctionLogs.text(for: record, version: version).utf8)
                    logResult = Data(text.suffix(4096)).base64EncodedString()
                }
                try await writer.write(EventStream.invokeComplete(
                    errorCode: failure?.type, errorDetails: failure.map { String(decoding: $0.body, as: UTF8.self) }, logResult: logResult))
            } catch {
                // The caller went away: the runtime writes on into nothing.
                stream.cancel()
            }
        })
    }
}
