import Foundation
import Testing

/// What unmodified runtime clients and ordinary workloads hit (issue 10), end to end through
/// `hearth run` and `hearth serve` with real sandboxes. The fidelity fixture opens a connection
/// per request, sends `Connection: close` (or speaks HTTP/1.0) and reads every answer to EOF.
@Suite("Lambda fidelity end to end", .serialized, .requiresRoot)
struct FidelityTests {
    @Test("a runtime that sends Connection: close and reads to EOF: Unix socket, 127.0.0.1:9001, HTTP/1.0",
          arguments: [[String](), ["--env", "FIDELITY_USE_TCP=1"], ["--env", "FIDELITY_HTTP10=1"], ["--env", "FIDELITY_USE_TCP=1", "--env", "FIDELITY_HTTP10=1"]])
    func connectionCloseRuntime(env: [String]) throws {
        let event = #"{"hello":"eof"}"#
        let result = Harness.hearthRun(Harness.fidelity, event: event, env + ["--timeout", "3", "--repeat", "2"])
        #expect(result.status == 0, "\(result.stdoutText) \(result.stderr)")
        #expect(result.stdoutText.split(separator: "\n") == [Substring(event), Substring(event)], "\(result.stdoutText)")
        #expect(result.reports.count == 2)
        #expect(!result.stderr.contains("Timedout"))
        #expect(Harness.leftovers().isEmpty, "\(Harness.leftovers())")
    }

    @Test("hearth serve: the front door closes after Connection: close and HTTP/1.0; the EOF runtime is invoked through it")
    func serveConnectionClose() async throws {
        let daemon = try ServeDaemon(extra: ["--auth", "none"])
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("eof", extra: ["Timeout": 3], zip: Harness.fixtures + "/fidelity.zip")
        // Raw sockets that read to EOF: a server that keeps the connection open makes them time out.
        let script = """
        import socket, sys
        def call(version, close):
            s = socket.create_connection(("127.0.0.1", \(daemon.port)), timeout=10)
            body = b'{"via":"front door"}'
            head = f"POST /2015-03-31/functions/eof/invocations {version}\\r\\nHost: x\\r\\nContent-Length: {len(body)}\\r\\n"
            if close: head += "Connection: close\\r\\n"
            s.sendall(head.encode() + b"\\r\\n" + body)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            s.close()
            return data
        for version, close in (("HTTP/1.1", True), ("HTTP/1.0", False)):
            answer = call(version, close)
            assert b" 200 " in answer.split(b"\\r\\n")[0], answer
            assert answer.endswith(b'{"via":"front door"}'), answer
        print("ok")
        """
        let result = daemon.python(script)
        #expect(result.status == 0 && result.stdoutText.contains("ok"), "\(result.stdoutText) \(result.stderr) \(daemon.log)")
    }

    @Test("logs: INIT_START, then init output, then START on a cold start; START only when warm")
    func initStartOrder() throws {
        let result = Harness.hearthRun(Harness.fidelity, event: "{}", ["--repeat", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let initStart = try #require(lines.firstIndex { $0.hasPrefix("INIT_START Runtime Version: provided") }, "\(result.stderr)")
        #expect(lines[initStart].contains("\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:"))
        let initOutput = try #require(lines.firstIndex(of: "fidelity-init"))
        let starts = lines.indices.filter { lines[$0].hasPrefix("START RequestId: ") }
        #expect(starts.count == 2)
        #expect(initStart < initOutput && initOutput < starts[0], "\(result.stderr)")
        #expect(lines.filter { $0.hasPrefix("INIT_START") }.count == 1)
    }

    @Test("hearth serve: Invoke returns the runtime's Content-Type; JSON when it posted none")
    func contentTypePassthrough() async throws {
        let daemon = try ServeDaemon()
        defer { daemon.stop(); daemon.removeState() }
        try await daemon.createProbe("ctype", zip: Harness.fixtures + "/fidelity.zip")
        let plain = try await daemon.invoke("ctype", #"{"ctype":1}"#)
        #expect(plain.status == 200)
        #expect(plain.header("Content-Type") == "text/plain; charset=utf-8")
        let json = try await daemon.invoke("ctype", #"{"x":1}"#)
        #expect(json.header("Content-Type") == "application/json")
    }
}
