import Testing
@testable import HearthServer

@Suite("InvokeRequest: the Invoke API's parsing before any lookup")
struct InvokeRequestTests {
    func request(query: String = "", headers: [(String, String)] = [], body: String = "{}") -> HTTPRequest {
        HTTPRequest(method: "POST", rawPath: "/2015-03-31/functions/x/invocations", rawQuery: query, headers: headers, body: Array(body.utf8))
    }

    @Test("names, qualifiers and ARNs", arguments: [
        ("echo", "", FunctionRef(name: "echo", qualifier: nil)),
        ("echo:live", "", FunctionRef(name: "echo", qualifier: "live")),
        ("echo", "Qualifier=3", FunctionRef(name: "echo", qualifier: "3")),
        ("echo:3", "Qualifier=3", FunctionRef(name: "echo", qualifier: "3")),
        ("arn:aws:lambda:us-east-1:000000000000:function:echo:$LATEST", "", FunctionRef(name: "echo", qualifier: "$LATEST")),
        ("echo:", "", FunctionRef(name: "echo", qualifier: nil)),
    ])
    func parsesReferences(raw: String, query: String, expected: FunctionRef) throws {
        #expect(try InvokeRequest(path: raw, request: request(query: query)).function == expected)
    }

    @Test("refused before any lookup, with Lambda's messages", arguments: [
        ("echo:1", "Qualifier=2", [(String, String)](), "The derived qualifier from the function name does not match the specified qualifier."),
        ("arn:aws:s3:::bucket", "", [], "Invalid function ARN: arn:aws:s3:::bucket"),
        ("bad name", "", [], "1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}"),
        ("echo", "", [("X-Amz-Invocation-Type", "Sometimes")], "1 validation error detected: Value 'Sometimes' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
        ("echo", "", [("X-Amz-Client-Context", "not base64!")], "Client context must be a valid Base64-encoded JSON object."),
    ])
    func refuses(raw: String, query: String, headers: [(String, String)], message: String) {
        #expect { try InvokeRequest(path: raw, request: request(query: query, headers: headers)) } throws: {
            ($0 as? LambdaError)?.message == message
        }
    }

    @Test("headers: DryRun, Tail, client context")
    func headers() throws {
        let parsed = try InvokeRequest(path: "echo", request: request(headers: [
            ("x-amz-invocation-type", "DryRun"), ("X-Amz-Log-Type", "Tail"), ("X-Amz-Client-Context", "eyJhIjoxfQ=="),
        ]))
        #expect(parsed.dryRun && parsed.tailLog)
        #expect(parsed.clientContext == #"{"a":1}"#)
    }

    @Test("payloads: empty becomes {}, any JSON value passes, anything else is refused")
    func payloads() throws {
        #expect(try InvokeRequest.validatedPayload([]) == Array("{}".utf8))
        #expect(try InvokeRequest.validatedPayload(Array("42".utf8)) == Array("42".utf8))
        for bad in [Array("{".utf8), [0x22, 0xff, 0x22], Array("nul\u{0}".utf8)] {
            #expect(throws: LambdaError.self) { try InvokeRequest.validatedPayload(bad) }
        }
        let tooBig = HTTPRequest(method: "POST", rawPath: "/", rawQuery: "", headers: [], body: [UInt8](repeating: 0x20, count: LambdaAPI.maxInvokePayload + 1))
        #expect(throws: LambdaError.self) { try InvokeRequest(path: "echo", request: tooBig) }
    }

    @Test("synchronous Invokes, and only they, run on the connection's event loop (ADR 0036)")
    func synchronousInvokes() {
        func request(_ method: String, _ path: String, _ headers: [(String, String)] = []) -> HTTPRequest {
            HTTPRequest(method: method, rawPath: path, rawQuery: "", headers: headers, body: [])
        }
        #expect(InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions/echo/invocations")))
        #expect(InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions/echo/invocations", [("x-amz-invocation-type", "RequestResponse")])))
        #expect(InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions/echo/invocations", [("X-Amz-Invocation-Type", "DryRun")])))
        #expect(!InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions/echo/invocations", [("X-Amz-Invocation-Type", "Event")])))
        #expect(!InvokeRequest.isSynchronousInvoke(request("GET", "/2015-03-31/functions/echo/invocations")))
        #expect(!InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions")))
        #expect(!InvokeRequest.isSynchronousInvoke(request("POST", "/2014-11-13/functions/echo/invoke-async/")))
        #expect(!InvokeRequest.isSynchronousInvoke(request("POST", "/2021-11-15/functions/echo/response-streaming-invocations")))
        // A Function URL whose path happens to look like the Invoke API's is a trigger.
        #expect(!InvokeRequest.isSynchronousInvoke(request("POST", "/2015-03-31/functions/echo/invocations",
                                                           [("Host", "abc123.lambda-url.us-east-1.localhost")])))
    }
}
