@testable import HearthRuntime
import Testing

@Suite("Runtime client: HTTP parsing, endpoints, error documents")
struct HTTPParsingTests {
    @Test("a response head is parsed once complete; header names are lower-cased")
    func head() throws {
        var buffer = HTTPReadBuffer()
        buffer.append(ArraySlice("HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: abc\r\nContent-Len".utf8))
        #expect(try buffer.takeHead() == nil)
        buffer.append(ArraySlice("gth: 2\r\n\r\n{}".utf8))
        let head = try #require(try buffer.takeHead())
        #expect(head.status == 200)
        #expect(head.headers["lambda-runtime-aws-request-id"] == "abc")
        #expect(head.headers["content-length"] == "2")
        #expect(buffer.take(2) == Array("{}".utf8))
    }

    @Test("chunked bodies, with and without trailers")
    func chunks() throws {
        var buffer = HTTPReadBuffer()
        buffer.append(ArraySlice("5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-Trailer: y\r\n\r\n".utf8))
        #expect(try buffer.takeChunk() == Array("hello".utf8))
        #expect(try buffer.takeChunk() == Array("!".utf8))
        #expect(try buffer.takeChunk() == [])
        var partial = HTTPReadBuffer()
        partial.append(ArraySlice("a\r\n01234".utf8))
        #expect(try partial.takeChunk() == nil)
        partial.append(ArraySlice("56789\r\n0\r\n\r\n".utf8))
        #expect(try partial.takeChunk() == Array("0123456789".utf8))
        #expect(try partial.takeChunk() == [])
    }

    @Test("malformed responses are errors, not crashes")
    func malformed() {
        var buffer = HTTPReadBuffer()
        buffer.append(ArraySlice("SMTP 220 hi\r\n\r\n".utf8))
        #expect(throws: RuntimeClientError.self) { try buffer.takeHead() }
        var chunk = HTTPReadBuffer()
        chunk.append(ArraySlice("zz\r\n".utf8))
        #expect(throws: RuntimeClientError.self) { try chunk.takeChunk() }
    }

    @Test("the endpoint: Hearth's socket when it exists, else AWS_LAMBDA_RUNTIME_API")
    func endpoint() throws {
        #expect(try RuntimeAPIEndpoint.fromEnvironment(["AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"]) == .tcp(host: "127.0.0.1", port: 9001))
        #expect(try RuntimeAPIEndpoint.fromEnvironment(["HEARTH_RUNTIME_SOCKET": "/nonexistent/sock", "AWS_LAMBDA_RUNTIME_API": "localhost:8080"])
                == .tcp(host: "localhost", port: 8080))
        #expect(try RuntimeAPIEndpoint.fromEnvironment(["HEARTH_RUNTIME_SOCKET": "/", "AWS_LAMBDA_RUNTIME_API": "localhost:8080"]) == .unix(path: "/"))
        #expect(throws: RuntimeClientError.self) { try RuntimeAPIEndpoint.fromEnvironment([:]) }
        #expect(throws: RuntimeClientError.self) { try RuntimeAPIEndpoint.parse("no-port") }
    }

    struct Oops: Error, CustomStringConvertible { var description: String { "bad \"thing\"\n" } }

    @Test("error documents: the Swift type as errorType, the description as errorMessage, JSON-escaped")
    func errors() {
        let (type, document) = LambdaRuntime.errorDocument(for: Oops())
        #expect(type == "Oops")
        #expect(String(decoding: document, as: UTF8.self) == #"{"errorType":"Oops","errorMessage":"bad \"thing\"\n"}"#)
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
        #expect(Base64.encode(Array("hi".utf8)) == "aGk=")
    }
}
