import ArgumentParser
import Foundation
import HearthServer
import Synchronization

/// `hearth invoke --stream`: InvokeWithResponseStream, printing each `PayloadChunk` to stdout
/// as it arrives; `InvokeComplete`'s error goes to stderr (exit status 1), its log tail too
/// with `--log`.
enum InvokeStream {
    static func run(client: APIClient, path: String, payload: Data, log: Bool) async throws {
        var headers: [(String, String)] = [("Accept", "application/vnd.amazon.eventstream")]
        if log { headers.append(("X-Amz-Log-Type", "Tail")) }
        let streamPath = path.replacingOccurrences(of: "/2015-03-31/functions/", with: "/2021-11-15/functions/") + "/response-streaming-invocations"
        // The body of an error answer is JSON, not an event stream: kept whole for the message.
        let state = Mutex<(decoder: EventStream.Decoder, raw: Data, failed: String?, complete: Bool)>((EventStream.Decoder(), Data(), nil, false))
        let head = try await client.stream("POST", streamPath, headers: headers, body: payload) { data in
            state.withLock { s in
                s.raw.append(data)
                if s.raw.count > 1 << 16 { s.raw = s.raw.suffix(1 << 16) }
                guard let messages = try? s.decoder.feed([UInt8](data)) else { return }
                for message in messages {
                    switch message.headers[":event-type"] {
                    case "PayloadChunk":
                        FileHandle.standardOutput.write(Data(message.payload))
                    case "InvokeComplete":
                        s.complete = true
                        let fields = (try? JSONSerialization.jsonObject(with: Data(message.payload))) as? [String: Any] ?? [:]
                        if log, let tail = fields["LogResult"] as? String, let text = Data(base64Encoded: tail) {
                            FileHandle.standardError.write(text)
                        }
                        if let code = fields["ErrorCode"] as? String {
                            s.failed = code + ": " + ((fields["ErrorDetails"] as? String) ?? "")
                        }
                    default:
                        if message.headers[":message-type"] == "exception" || message.headers[":message-type"] == "error" {
                            s.failed = (message.headers[":exception-type"] ?? message.headers[":error-code"] ?? "error") + ": "
                                + String(decoding: message.payload, as: UTF8.self)
                        }
                    }
                }
            }
        }
        let (raw, failed, complete) = state.withLock { ($0.raw, $0.failed, $0.complete) }
        _ = try APIClient.Response(status: head.status, headers: head.headers, body: raw).ok()
        if let failed {
            FileHandle.standardError.write(Data(("\n" + failed + "\n").utf8))
            throw ExitCode(1)
        }
        if !complete {
            FileHandle.standardError.write(Data("hearth: the stream ended without InvokeComplete\n".utf8))
            throw ExitCode(1)
        }
    }
}
