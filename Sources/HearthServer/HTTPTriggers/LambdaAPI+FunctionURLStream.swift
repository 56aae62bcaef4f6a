import Foundation
import HearthCore
import HearthRuntimeAPI
import HearthStore

// Function URLs with InvokeMode RESPONSE_STREAM: the invocation runs as InvokeWithResponseStream
// does, and the response goes to the HTTP client as the runtime writes it (chunked transfer
// encoding). A stream announced as `application/vnd.awslambda.http-integration-response`
// begins with its metadata prelude (status, headers, cookies); any other response is the body
// as it is, 200 with the runtime's content type; the buffered response mapping does not apply
// (ADR 0021).
extension LambdaAPI {
    /// A streamed answer's first part: the head to send, the body bytes already taken from
    /// the stream, and whether the stream has ended with them.
    struct StreamHead {
        var status: Int
        var headers: [(String, String)]
        var first: [UInt8]
        var ended: Bool
    }

    /// Invokes `ref` with `event` for a RESPONSE_STREAM Function URL and answers with the
    /// stream. Errors before the first body byte are the buffered mode's answers (429, 502);
    /// after it the client has the status and the bytes sent, and the error is logged.
    func streamFunctionURL(_ ref: FunctionRef, event: [UInt8], trigger: TriggerRequest, urlID: String,
                           cors: CORSPolicy?, origin: String?) async -> HTTPResponse {
        let requestID = trigger.requestID
        func fail(_ failure: ProxyResponse.Failure) -> HTTPResponse {
            Self.failure(failure, .functionURL, requestID, cors: cors, origin: origin)
        }
        if event.count > Self.maxTriggerPayload { return fail(.requestTooLarge) }
        let resolved: (config: FunctionConfiguration, version: String)
        do {
            resolved = try resolve(ref, weighted: true)
        } catch {
            metrics.log("hearth: function URL \(urlID) (\(ref.name)): \(error)")
            return fail(.functionError)
        }
        let stream = ResponseStream()
        let whole = Task {
            do {
                return try await self.execute(resolved.config, version: resolved.version, qualifier: ref.qualifier, payload: event,
                                              requestID: requestID, traceID: trigger.traceID, stream: stream)
            } catch {
                stream.abort()
                throw error
            }
        }
        guard case .begin(let contentType)? = await stream.next() else {
            if case .failure(let error) = await whole.result {
                if error is PoolThrottle { return fail(.throttled) }
                metrics.log("hearth: function URL \(urlID) (\(ref.name)): \(error)")
            }
            return fail(.functionError)
        }
        let head: StreamHead
        do {
            guard let begun = try await Self.streamHead(stream, contentType: contentType) else { return fail(.functionError) }
            head = begun
        } catch {
            stream.cancel()
            metrics.log("hearth: function URL \(urlID) (\(ref.name)): malformed streaming response: \(error.reason)")
            return fail(.malformed)
        }
        var headers = head.headers + [("x-amzn-RequestId", requestID)]
        if let cors { headers = cors.apply(to: headers, origin: origin) }
        let metrics = self.metrics
        return HTTPResponse(status: head.status, headers: headers, bodyStream: { writer in
            do {
                if !head.first.isEmpty { try await writer.write(head.first) }
                guard !head.ended else { return }
                loop: while let part = await stream.next() {
                    switch part {
                    case .begin: continue
                    case .chunk(let bytes): if !bytes.isEmpty { try await writer.write(bytes) }
                    case .end(let failure):
                        if let failure {
                            metrics.log("hearth: function URL \(urlID) (\(ref.name)): the stream ended with \(failure.type) after its head was sent")
                        }
                        break loop
                    }
                }
            } catch {
                // The client went away: the runtime writes on into nothing.
                stream.cancel()
            }
        })
    }

    /// Reads the stream up to its head: with a prelude, up to the delimiter; else the first
    /// chunk. Nil when the invocation failed before any body byte (the client gets a 502).
    static func streamHead(_ stream: ResponseStream, contentType: String?) async throws(ProxyResponse.Malformed) -> StreamHead? {
        if StreamingPrelude.announced(by: contentType) {
            var splitter = StreamingPrelude.Splitter()
            while let part = await stream.next() {
                switch part {
                case .begin: continue
                case .chunk(let bytes):
                    guard let (prelude, rest) = try splitter.feed(bytes) else { continue }
                    let (status, headers) = try StreamingPrelude.head(prelude)
                    return StreamHead(status: status, headers: headers, first: rest, ended: false)
                case .end(let failure):
                    if failure != nil { return nil }
                    // A handler that never wrote sent no prelude: an empty 200.
                    guard splitter.held == 0 else { throw ProxyResponse.Malformed(reason: "the stream ended inside its metadata prelude") }
                    return StreamHead(status: 200, headers: [], first: [], ended: true)
                }
            }
            return nil
        }
        let headers = [("Content-Type", contentType ?? "application/octet-stream")]
        while let part = await stream.next() {
            switch part {
            case .begin: continue
            case .chunk(let bytes): return StreamHead(status: 200, headers: headers, first: bytes, ended: false)
            case .end(let failure): return failure == nil ? StreamHead(status: 200, headers: headers, first: [], ended: true) : nil
            }
        }
        return nil
    }
}
