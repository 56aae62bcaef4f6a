import HearthRuntimeAPI

/// The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), as Lambda's
/// `InvokeWithResponseStream` answers and boto3, the aws CLI and the SDKs decode it.
///
/// One message: total length (u32, big-endian), headers length (u32), CRC32 of those eight
/// bytes, the headers, the payload, and a CRC32 of everything before it. A header: name length
/// (u8), name, value type (7: string), value length (u16), value.
public enum EventStream {
    /// One message with string headers, in the given order.
    public static func message(headers: [(String, String)], payload: [UInt8]) -> [UInt8] {
        var encodedHeaders: [UInt8] = []
        for (name, value) in headers {
            let n = Array(name.utf8), v = Array(value.utf8)
            encodedHeaders.append(UInt8(n.count))
            encodedHeaders += n
            encodedHeaders.append(7)
            encodedHeaders += [UInt8(v.count >> 8), UInt8(v.count & 0xff)]
            encodedHeaders += v
        }
        let total = 12 + encodedHeaders.count + payload.count + 4
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out += bigEndian(UInt32(total))
        out += bigEndian(UInt32(encodedHeaders.count))
        out += bigEndian(CRC32.checksum(out))
        out += encodedHeaders
        out += payload
        out += bigEndian(CRC32.checksum(out))
        return out
    }

    /// An event message (`:message-type: event`).
    public static func event(_ type: String, contentType: String, payload: [UInt8]) -> [UInt8] {
        message(headers: [(":event-type", type), (":content-type", contentType), (":message-type", "event")], payload: payload)
    }

    /// `PayloadChunk`: bytes of the function's response.
    public static func payloadChunk(_ bytes: [UInt8]) -> [UInt8] {
        event("PayloadChunk", contentType: "application/octet-stream", payload: bytes)
    }

    /// `InvokeComplete`: the end of the stream, with the error if it ended in one and the
    /// base64 log tail when asked for.
    public static func invokeComplete(errorCode: String?, errorDetails: String?, logResult: String?) -> [UInt8] {
        var fields: [String] = []
        if let errorCode { fields.append("\"ErrorCode\":" + JSONString.quote(errorCode)) }
        if let errorDetails { fields.append("\"ErrorDetails\":" + JSONString.quote(errorDetails)) }
        if let logResult { fields.append("\"LogResult\":" + JSONString.quote(logResult)) }
        return event("InvokeComplete", contentType: "application/json", payload: Array(("{" + fields.joined(separator: ",") + "}").utf8))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as event-stream messages carry it.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

extension EventStream {
    /// One decoded message: its headers (string-valued ones) and payload.
    public struct Message: Sendable, Equatable {
        public var headers: [String: String]
        public var payload: [UInt8]
    }

    public enum DecodeError: Error, Equatable {
        case badPreludeCRC
        case badMessageCRC
        case malformed(String)
    }

    /// Decodes messages from bytes as they arrive (for `hearth invoke --stream`).
    public struct Decoder: Sendable {
        private var buffer: [UInt8] = []
        /// A message larger than this is refused (event-stream messages are at most 16 MB).
        public static let maxMessage = 16 * 1024 * 1024 + 1024

        public init() {}

        /// Adds `bytes` and returns every message now complete.
        public mutating func feed(_ bytes: [UInt8]) throws(DecodeError) -> [Message] {
            buffer += bytes
            var messages: [Message] = []
            while buffer.count >= 12 {
                let total = Int(Self.u32(buffer, 0)), headersLength = Int(Self.u32(buffer, 4))
                guard total >= 16, total <= Self.maxMessage, headersLength <= total - 16 else { throw .malformed("message length \(total)") }
                guard CRC32.checksum(Array(buffer[0..<8])) == Self.u32(buffer, 8) else { throw .badPreludeCRC }
                guard buffer.count >= total else { break }
                guard CRC32.checksum(Array(buffer[0..<(total - 4)])) == Self.u32(buffer, total - 4) else { throw .badMessageCRC }
                let headers = try Self.headers(Array(buffer[12..<(12 + headersLength)]))
                messages.append(Message(headers: headers, payload: Array(buffer[(12 + headersLength)..<(total - 4)])))
                buffer.removeFirst(total)
            }
            return messages
        }

        static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
            UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        }

        static func headers(_ bytes: [UInt8]) throws(DecodeError) -> [String: String] {
            var out: [String: String] = [:]
            var i = 0
            while i < bytes.count {
                let nameLength = Int(bytes[i])
                guard i + 1 + nameLength + 3 <= bytes.count else { throw .malformed("header") }
                let name = String(decoding: bytes[(i + 1)..<(i + 1 + nameLength)], as: UTF8.self)
                i += 1 + nameLength
                guard bytes[i] == 7 else { throw .malformed("header \(name) of type \(bytes[i])") }
                let valueLength = Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
                i += 3
                guard i + valueLength <= bytes.count else { throw .malformed("header \(name)") }
                out[name] = String(decoding: bytes[i..<(i + valueLength)], as: UTF8.self)
                i += valueLength
            }
            return out
        }
    }
}
