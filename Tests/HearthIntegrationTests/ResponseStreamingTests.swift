import Foundation
import Testing

/// Issue 10 item 5: InvokeWithResponseStream end to end, boto3's `invoke_with_response_stream`
/// unmodified against `hearth serve`, with the fidelity fixture's streaming mode.
@Suite("Response streaming end to end", .serialized, .requiresRoot)
struct ResponseStreamingTests {
    /// A boto3 script that invokes `function` with `event` and prints JSON: each chunk with the
    /// seconds since the call when it arrived, InvokeComplete, the content type and version.
    static func boto3Script(function: String, event: String) -> String {
        """
        import boto3, json, os, time
        c = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
        t0 = time.monotonic()
        r = c.invoke_with_response_stream(FunctionName='\(function)', Payload=\(event.debugDescription))
        out = {'status': r['StatusCode'], 'version': r.get('ExecutedVersion'), 'ctype': r.get('ResponseStreamContentType'),
               'chunks': [], 'complete': None}
        for event in r['EventStream']:
            if 'PayloadChunk' in event:
                out['chunks'].append([time.monotonic() - t0, len(event['PayloadChunk']['Payload']),
                                      event['PayloadChunk']['Payload'].decode(errors='replace')[:64]])
            if 'InvokeComplete' in event:
                out['complete'] = event['InvokeComplete']
        print(json.dumps(out))
        """
    }

    static func invoke(_ daemon: ServeDaemon, _ function: String, _ event: String) throws -> [String: Any] {
        let result = daemon.python(boto3Script(function: function, event: event))
        #expect(result.status == 0, "\(result.stderr) \(daemon.log.suffix(2000))")
        return try #require(result.stdoutJSON, "\(result.stdoutText) \(result.stderr)")
    }

    @Test("boto3 invoke_with_response_stream receives the chunks as the runtime writes them, then InvokeComplete")
    func chunksArriveOverTime() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("streamer", extra: ["Timeout": 10], zip: Harness.fixtures + "/fidelity.zip")
        let out = try Self.invoke(daemon, "streamer", #"{"stream":4,"gap_ms":500}"#)
        #expect(out["status"] as? Int == 200)
        #expect(out["version"] as? String == "$LATEST")
        let chunks = try #require(out["chunks"] as? [[Any]])
        let text = chunks.compactMap { $0[2] as? String }.joined()
        #expect(text == "chunk-0\nchunk-1\nchunk-2\nchunk-3\n", "\(out)")
        // Streamed, not buffered: the first chunk came well before the last was written (1.5 s later).
        let times = chunks.compactMap { $0[0] as? Double }
        #expect((times.last ?? 0) - (times.first ?? 0) >= 1.0, "all chunks arrived together: \(times)")
        let complete = try #require(out["complete"] as? [String: Any], "\(out)")
        #expect(complete["ErrorCode"] == nil, "\(complete)")
    }

    @Test("a stream that fails midway: the bytes sent stand, InvokeComplete carries the error from the trailers")
    func errorMidway() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("breaker", zip: Harness.fixtures + "/fidelity.zip")
        let out = try Self.invoke(daemon, "breaker", #"{"stream":2,"gap_ms":10,"stream_error":1}"#)
        let chunks = try #require(out["chunks"] as? [[Any]])
        #expect(chunks.compactMap { $0[2] as? String }.joined() == "chunk-0\nchunk-1\n")
        let complete = try #require(out["complete"] as? [String: Any], "\(out)")
        #expect(complete["ErrorCode"] as? String == "Fidelity.StreamError")
        #expect((complete["ErrorDetails"] as? String)?.contains("broke midway") == true, "\(complete)")
    }

    @Test("a buffered response to InvokeWithResponseStream is one chunk; a timeout ends the stream with Sandbox.Timedout")
    func bufferedAndTimeout() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("plain", extra: ["Timeout": 1], zip: Harness.fixtures + "/fidelity.zip")
        let out = try Self.invoke(daemon, "plain", #"{"plain":1}"#)
        let chunks = try #require(out["chunks"] as? [[Any]])
        #expect(chunks.compactMap { $0[2] as? String }.joined() == #"{"plain":1}"#)
        #expect((out["complete"] as? [String: Any])?["ErrorCode"] == nil)
        // A streamed response that stalls after its first chunk: the stream ends on the timeout.
        let stalled = try Self.invoke(daemon, "plain", #"{"stream":2,"gap_ms":5000}"#)
        #expect((stalled["complete"] as? [String: Any])?["ErrorCode"] as? String == "Sandbox.Timedout", "\(stalled)")
    }

    @Test("past the 20 MB streaming limit the stream ends with Function.ResponseSizeTooLarge, after the bytes within it")
    func streamLimit() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("big", extra: ["Timeout": 30], zip: Harness.fixtures + "/fidelity.zip")
        let out = try Self.invoke(daemon, "big", #"{"stream_kb":25600}"#)
        let received = (out["chunks"] as? [[Any]] ?? []).compactMap { $0[1] as? Int }.reduce(0, +)
        #expect(received <= 20 * 1024 * 1024 && received > 19 * 1024 * 1024, "\(received) bytes")
        #expect((out["complete"] as? [String: Any])?["ErrorCode"] as? String == "Function.ResponseSizeTooLarge", "\(out["complete"] ?? "")")
    }

    @Test("hearth invoke --stream prints the chunks; an error midway goes to stderr with exit status 1")
    func cliStream() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("cli", zip: Harness.fixtures + "/fidelity.zip")
        let base = ["--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath]
        let ok = Harness.run(Harness.hearth, ["invoke"] + base + ["cli", "--stream", "--event", #"{"stream":3,"gap_ms":10}"#])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdoutText == "chunk-0\nchunk-1\nchunk-2\n")
        let failed = Harness.run(Harness.hearth, ["invoke"] + base + ["cli", "--stream", "--event", #"{"stream":1,"stream_error":1}"#])
        #expect(failed.status == 1)
        #expect(failed.stdoutText == "chunk-0\n")
        #expect(failed.stderr.contains("Fidelity.StreamError"), "\(failed.stderr)")
    }
}
