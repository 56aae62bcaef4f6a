import Foundation
import HearthEvents
import Testing

/// The hot-path JSON writer: what JSONSerialization would write, and a fallback for what it
/// cannot tell apart.
@Suite("JSON writer")
struct JSONTextTests {
    func parsed(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    @Test("strings with quotes, backslashes, slashes, control characters and non-ASCII text; nested objects, lists, numbers, booleans, null")
    func values() throws {
        let value: [String: Any] = [
            "s": "a \"quoted\" \\ back/slash\n\r\t\u{08}\u{0C}\u{01}\u{1F} é 😀",
            "n": 42, "big": Int64(1) << 40, "neg": -7, "t": true, "f": false, "z": NSNull(),
            "list": [1, "two", ["three": 3], [String]()], "empty": [String: Any](),
        ]
        let bytes = try #require(JSONText.encode(value, sortedKeys: true))
        let expected = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        #expect(try parsed(bytes) == (try JSONSerialization.jsonObject(with: expected) as? NSDictionary))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""s":"a \"quoted\" \\ back/slash\n\r\t\b\f\u0001\u001f é 😀""#))
        #expect(text.hasPrefix(#"{"big":1099511627776,"empty":{},"f":false,"list":[1,"two",{"three":3},[]],"n":42,"neg":-7,"#))
        #expect(text.contains(#""t":true"#) && text.contains(#""z":null"#))
    }

    @Test("a Double or a parsed NSNumber is left to JSONSerialization, which data(_:) falls back to")
    func fallback() throws {
        #expect(JSONText.encode(["x": 2.5]) == nil)
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"b": true, "n": 1}"#.utf8))
        #expect(JSONText.encode(parsed) == nil)
        let bytes = JSONText.data(parsed, sortedKeys: true)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"b":true,"n":1}"#)
    }
}
