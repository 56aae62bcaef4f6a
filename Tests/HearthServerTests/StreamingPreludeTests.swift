import Foundation
import Testing
@testable import HearthServer

/// The metadata prelude of a streamed HTTP response (`awslambda.HttpResponseStream.from`).
@Suite("Streaming response prelude")
struct StreamingPreludeTests {
    static let prelude = Array(#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-N":7},"cookies":["a=1","b=2"]}"#.utf8)

    @Test("the content type that announces a prelude, with parameters and in any case")
    func announced() {
        #expect(StreamingPrelude.announced(by: "application/vnd.awslambda.http-integration-response"))
        #expect(StreamingPrelude.announced(by: "Application/VND.awslambda.http-integration-response; charset=utf-8"))
        #expect(!StreamingPrelude.announced(by: "application/octet-stream"))
        #expect(!StreamingPrelude.announced(by: nil))
    }

    @Test("the delimiter is found across chunk boundaries; the body after it is passed on")
    func splitAcrossChunks() throws {
        var splitter = StreamingPrelude.Splitter()
        let whole = Self.prelude + [UInt8](repeating: 0, count: 8) + Array("hello".utf8)
        // Cut inside the JSON and inside the NUL run.
        #expect(try splitter.feed(Array(whole[..<10])) == nil)
        #expect(try splitter.feed(Array(whole[10..<(Self.prelude.count + 3)])) == nil)
        let split = try #require(try splitter.feed(Array(whole[(Self.prelude.count + 3)...])))
        #expect(split.prelude == Self.prelude)
        #expect(split.rest == Array("hello".utf8))
        let head = try StreamingPrelude.head(split.prelude)
        #expect(head.status == 201)
        #expect(head.headers.map { "\($0.0): \($0.1)" } == ["Content-Type: text/plain", "X-N: 7", "Set-Cookie: a=1", "Set-Cookie: b=2"])
    }

    @Test("statusCode defaults to 200; a NUL run shorter than 8, a bad prelude or an endless one is malformed")
    func malformed() throws {
        #expect(try StreamingPrelude.head(Array("{}".utf8)).status == 200)
        #expect(throws: ProxyResponse.Malformed.self) { try StreamingPrelude.head(Array("[1]".utf8)) }
        #expect(throws: ProxyResponse.Malformed.self) { try StreamingPrelude.head(Array(#"{"statusCode":"x"}"#.utf8)) }
        #expect(throws: ProxyResponse.Malformed.self) { try StreamingPrelude.head(Array(#"{"cookies":"a=1"}"#.utf8)) }
        var short = StreamingPrelude.Splitter()
        #expect(throws: ProxyResponse.Malformed.self) { _ = try short.feed(Array("{}".utf8) + [0, 0, 0, 65, 0, 0, 0, 0, 0]) }
        var endless = StreamingPrelude.Splitter()
        #expect(throws: ProxyResponse.Malformed.self) {
            _ = try endless.feed([UInt8](repeating: 32, count: StreamingPrelude.maxLength + 1))
        }
    }
}
