import Foundation
import Testing

/// Issue 13: a Function URL with InvokeMode RESPONSE_STREAM, end to end. The fidelity runtime
/// (Tests/Fixtures/fidelity) streams as `awslambda.HttpResponseStream.from` does — the
/// `application/vnd.awslambda.http-integration-response` content type, a JSON prelude, 8 NUL
/// bytes, the body — from a real sandbox; a raw socket reader and curl see the chunks arrive.
@Suite("Function URLs with RESPONSE_STREAM through hearth serve", .serialized, .requiresRoot)
struct HTTPTriggersStreamingTests {
    /// Creates the `streamer` function and its RESPONSE_STREAM URL; returns the URL's host.
    static func start(_ daemon: ServeDaemon) async throws -> String {
        try await daemon.createProbe("streamer", extra: ["Timeout": 10], zip: Harness.fixtures + "/fidelity.zip")
        let created = daemon.aws(["lambda", "create-function-url-config", "--function-name", "streamer", "--auth-type", "NONE",
                                  "--invoke-mode", "RESPONSE_STREAM"])
        #expect(created.status == 0, "\(created.stderr)")
        let config = try #require(created.stdoutJSON, "\(created.stdoutText)")
        #expect(config["InvokeMode"] as? String == "RESPONSE_STREAM")
        let url = try #require(config["FunctionUrl"] as? String)
        return try #require(URL(string: url)?.host)
    }

    /// A raw socket reader: sends GET `path` with `Host: host`, records when each piece arrived
    /// (seconds since the request), and decodes the chunked body at the end.
    static let reader = #"""
        import json, os, socket, sys, time
        host, path, port = sys.argv[1], sys.argv[2], int(os.environ['PORT'])
        s = socket.create_connection(('127.0.0.1', port), timeout=30)
        t0 = time.monotonic()
        s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % (path, host)).encode())
        raw, arrivals = b'', []
        while True:
            piece = s.recv(65536)
            if not piece: break
            raw += piece
            arrivals.append([time.monotonic() - t0, raw.decode('latin-1')])
        head, _, rest = raw.partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        headers = [[k.strip().lower(), v.strip()] for k, v in (l.split(':', 1) for l in lines[1:])]
        body, chunks = b'', 0
        while rest:
            size, _, rest = rest.partition(b'\r\n')
            n = int(size, 16)
            if n == 0: break
            body, rest, chunks = body + rest[:n], rest[n + 2:], chunks + 1
        # When each body piece was first seen: the time of the first arrival whose bytes contain it.
        seen = {}
        for piece in ('chunk-0', 'chunk-1', 'chunk-2', 'chunk-3'):
            seen[piece] = next((t for t, text in arrivals if piece in text), None)
        print(json.dumps({'status': int(lines[0].split()[1]), 'headers': headers, 'body': body.decode('latin-1'), 'chunks': chunks, 'seen': seen}))
        """#

    static func read(_ daemon: ServeDaemon, host: String, path: String) throws -> [String: Any] {
        let result = Harness.run("/usr/bin/env", ["PORT=\(daemon.port)", "python3", "-c", reader, host, path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr) \(daemon.log.suffix(2000))")
        return try #require(result.stdoutJSON, "\(result.stdoutText) \(result.stderr)")
    }

    static func values(_ out: [String: Any], _ name: String) -> [String] {
        (out["headers"] as? [[String]] ?? []).filter { $0.first == name }.map { $0[1] }
    }

    @Test("the prelude's status, headers and cookies reach the client, then the body chunk by chunk as the runtime writes it")
    func preludeAndChunksOverTime() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let host = try await Self.start(daemon)
        let out = try Self.read(daemon, host: host, path: "/http-stream/4/500")
        #expect(out["status"] as? Int == 201, "\(out)")
        #expect(Self.values(out, "content-type") == ["text/plain"])
        #expect(Self.values(out, "x-streamed") == ["yes"])
        #expect(Self.values(out, "set-cookie") == ["a=1; Path=/", "b=2"])
        #expect(Self.values(out, "transfer-encoding") == ["chunked"])
        #expect(Self.values(out, "content-length").isEmpty)
        #expect(Self.values(out, "x-amzn-requestid").count == 1)
        // The prelude and its 8 NUL bytes are not part of the body.
        #expect(out["body"] as? String == "chunk-0\nchunk-1\nchunk-2\nchunk-3\n", "\(out)")
        #expect((out["chunks"] as? Int ?? 0) >= 4, "\(out)")
        // Streamed, not buffered: chunk-0 was on the socket well before chunk-3 was written (1.5 s later).
        let seen = try #require(out["seen"] as? [String: Any])
        let first = try #require(seen["chunk-0"] as? Double), last = try #require(seen["chunk-3"] as? Double)
        #expect(last - first >= 1.0, "all chunks arrived together: \(seen)")

        // curl, as the README shows it: *.localhost resolves to loopback.
        let curl = Harness.run("/usr/bin/env", ["curl", "-sS", "-N", "-i", "http://\(host):\(daemon.port)/http-stream/3/100"], timeout: 30)
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdoutText.hasPrefix("HTTP/1.1 201"), "\(curl.stdoutText)")
        #expect(curl.stdoutText.hasSuffix("\r\n\r\nchunk-0\nchunk-1\nchunk-2\n"), "\(curl.stdoutText)")
    }

    @Test("an error midway leaves the status and bytes sent; a buffered response is the body as it is, without the proxy mapping")
    func errorMidwayAndBuffered() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        let host = try await Self.start(daemon)
        let failed = try Self.read(daemon, host: host, path: "/http-stream/2/10/fail")
        #expect(failed["status"] as? Int == 201, "\(failed)")
        #expect(failed["body"] as? String == "chunk-0\nchunk-1\n", "\(failed)")
        #expect(daemon.log.contains("the stream ended with Fidelity.StreamError"), "\(daemon.log.suffix(2000))")
        // The fidelity runtime answers any other path by echoing the event, buffered.
        let buffered = try Self.read(daemon, host: host, path: "/plain?x=1")
        #expect(buffered["status"] as? Int == 200, "\(buffered)")
        let event = try #require((buffered["body"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])
        #expect(event["rawPath"] as? String == "/plain")
        #expect(event["rawQueryString"] as? String == "x=1")
    }
}
