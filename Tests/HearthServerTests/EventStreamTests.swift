import Foundation
import Testing
@testable import HearthServer

@Suite("EventStream framing")
struct EventStreamTests {
    @Test func crc32OfTheCheckString() {
        // The CRC-32/ISO-HDLC check value.
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test("a message without headers or payload is the 16-byte frame AWS's own test vectors give")
    func emptyMessageVector() {
        // aws-c-event-stream's "empty message": total 16, headers 0, prelude CRC 0x05c248eb, message CRC 0x7d98c8ff.
        #expect(EventStream.message(headers: [], payload: []) ==
                [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff])
    }

    @Test func payloadChunkLayout() throws {
        let bytes = EventStream.payloadChunk(Array("chunk-0\n".utf8))
        let headersLength = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        #expect(bytes.count == 12 + headersLength + 8 + 4)
        var decoder = EventStream.Decoder()
        let messages = try decoder.feed(bytes)
        #expect(messages == [EventStream.Message(headers: [":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                                                           ":message-type": "event"], payload: Array("chunk-0\n".utf8))])
    }

    @Test("the decoder takes messages split anywhere and refuses a corrupted one")
    func decoderSplitsAndChecks() throws {
        let stream = EventStream.payloadChunk(Array("a".utf8)) + EventStream.invokeComplete(errorCode: "E", errorDetails: "d", logResult: nil)
        var decoder = EventStream.Decoder()
        var got: [EventStream.Message] = []
        for byte in stream { got += try decoder.feed([byte]) }
        #expect(got.count == 2)
        #expect(got.last?.headers[":event-type"] == "InvokeComplete")
        #expect(String(decoding: got.last?.payload ?? [], as: UTF8.self) == #"{"ErrorCode":"E","ErrorDetails":"d"}"#)
        var corrupted = stream
        corrupted[14] ^= 0xff
        var fresh = EventStream.Decoder()
        #expect(throws: EventStream.DecodeError.badMessageCRC) { try fresh.feed(corrupted) }
    }
}
