// HearthQueues: one message as the ledger holds it, its attributes and SQS's checksums.
import Crypto
import Foundation

/// A message attribute's value (`DataType` is `String`, `Number` or `Binary`, each optionally
/// with a `.custom` suffix).
public struct MessageAttributeValue: Sendable, Equatable, Codable {
    public var dataType: String
    public var stringValue: String?
    public var binaryValue: Data?

    public init(dataType: String, stringValue: String? = nil, binaryValue: Data? = nil) {
        self.dataType = dataType
        self.stringValue = stringValue
        self.binaryValue = binaryValue
    }

    /// Binary values travel as transport type 2, the others as 1.
    var isBinary: Bool { dataType.hasPrefix("Binary") }

    var valueBytes: [UInt8] { isBinary ? [UInt8](binaryValue ?? Data()) : Array((stringValue ?? "").utf8) }
}

/// The ledger item's document for one message. Its receive count, first receive and
/// visibility are the item's claims, first claim and lease.
public struct StoredMessage: Sendable, Equatable, Codable {
    public var messageId: String
    public var body: String
    public var md5OfBody: String
    public var attributes: [String: MessageAttributeValue]?
    public var md5OfMessageAttributes: String?
    /// `AWSTraceHeader`, the one settable system attribute.
    public var traceHeader: String?
    public var senderId: String
    public var sentTimestamp: Int64
    /// FIFO queues: the message's group, deduplication id (given, or the body's SHA-256) and
    /// sequence number (decimal, increasing per queue). Nil on standard queues.
    public var groupId: String? = nil
    public var deduplicationId: String? = nil
    public var sequenceNumber: String? = nil

    public init(messageId: String, body: String, attributes: [String: MessageAttributeValue]?, traceHeader: String? = nil,
                senderId: String, sentTimestamp: Int64) {
        self.messageId = messageId
        self.body = body
        self.md5OfBody = MessageMD5.body(body)
        let attributes = (attributes?.isEmpty ?? true) ? nil : attributes
        self.attributes = attributes
        self.md5OfMessageAttributes = attributes.map(MessageMD5.attributes)
        self.traceHeader = traceHeader
        self.senderId = senderId
        self.sentTimestamp = sentTimestamp
    }

    public func encoded() -> [UInt8] {
        (try? [UInt8](StoredMessage.encoder.encode(self))) ?? []
    }

    public static func decode(_ bytes: [UInt8]) throws -> StoredMessage {
        try JSONDecoder().decode(StoredMessage.self, from: Data(bytes))
    }

    private static let encoder = JSONEncoder()
}

/// SQS's checksums, as its SDKs verify them: the hex MD5 of the body's UTF-8, and of the
/// attributes encoded as, per attribute sorted by name, length-prefixed (4 bytes, big endian)
/// name, length-prefixed data type, a transport byte (1 string/number, 2 binary) and the
/// length-prefixed value.
public enum MessageMD5 {
    public static func body(_ body: String) -> String {
        hex(Insecure.MD5.hash(data: Array(body.utf8)))
    }

    public static func attributes(_ attributes: [String: MessageAttributeValue]) -> String {
        var bytes: [UInt8] = []
        for name in attributes.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let value = attributes[name]!
            append(Array(name.utf8), to: &bytes)
            append(Array(value.dataType.utf8), to: &bytes)
            bytes.append(value.isBinary ? 2 : 1)
            append(value.valueBytes, to: &bytes)
        }
        return hex(Insecure.MD5.hash(data: bytes))
    }

    private static func append(_ field: [UInt8], to bytes: inout [UInt8]) {
        let n = UInt32(field.count)
        bytes += [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        bytes += field
    }

    private static func hex(_ digest: Insecure.MD5.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// SQS's rules for what a message may hold.
public enum MessageRules {
    /// At most 10 message attributes.
    public static let maxAttributes = 10

    /// The body: non-empty, only the characters XML allows (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF).
    public static func checkBody(_ body: String) throws {
        if body.isEmpty { throw QueueError.missingParameter("The request must contain the parameter MessageBody.") }
        for scalar in body.unicodeScalars {
            let v = scalar.value
            let ok = v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v) || (0x10000...0x10FFFF).contains(v)
            if !ok {
                throw QueueError.invalidMessageContents("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
            }
        }
    }

    /// Names, types and values of message attributes.
    public static func checkAttributes(_ attributes: [String: MessageAttributeValue]) throws {
        if attributes.count > maxAttributes {
            throw QueueError.invalidParameterValue("Number of message attributes [\(attributes.count)] exceeds the allowed maximum [\(maxAttributes)].")
        }
        for (name, value) in attributes {
            let lower = name.lowercased()
            let validChars = name.unicodeScalars.allSatisfy {
                ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
            }
            if name.isEmpty || name.count > 256 || !validChars || name.hasPrefix(".") || name.hasSuffix(".") || name.contains("..")
                || lower.hasPrefix("aws.") || lower.hasPrefix("amazon.") {
                throw QueueError.invalidParameterValue("Message (user) attribute '\(name)' has an invalid name: it must be 1-256 of A-Z a-z 0-9 _ - . , must not start or end with a period, hold two in a row, or start with AWS. or Amazon.")
            }
            let base = value.dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            guard ["String", "Number", "Binary"].contains(base), value.dataType.count <= 256 else {
                throw QueueError.invalidParameterValue("The type of message (user) attribute '\(name)' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
            }
            if base == "Binary" {
                guard let binary = value.binaryValue, !binary.isEmpty else {
                    throw QueueError.invalidParameterValue("Message (user) attribute '\(name)' must contain a non-empty value of type '\(value.dataType)'.")
                }
            } else {
                guard let string = value.stringValue, !string.isEmpty else {
                    throw QueueError.invalidParameterValue("Message (user) attribute '\(name)' must contain a non-empty value of type '\(value.dataType)'.")
                }
                if base == "Number" && Decimal(string: string) == nil {
                    throw QueueError.invalidParameterValue("Can't cast the value of message (user) attribute '\(name)' to a number.")
                }
            }
        }
    }

    /// A message's size as SQS counts it: body, attribute names, types and values.
    public static func size(body: String, attributes: [String: MessageAttributeValue]?) -> Int {
        var n = body.utf8.count
        for (name, value) in attributes ?? [:] { n += name.utf8.count + value.dataType.utf8.count + value.valueBytes.count }
        return n
    }
}
