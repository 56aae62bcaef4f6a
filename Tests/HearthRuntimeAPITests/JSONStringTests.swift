import Foundation
import Testing
@testable import HearthRuntimeAPI

@Suite("JSONString.quote")
struct JSONStringTests {
    @Test("escapes", arguments: [
        ("", #""""#),
        ("plain", #""plain""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("back\\slash", #""back\\slash""#),
        ("a\nb\rc\td", #""a\nb\rc\td""#),
        ("\u{0}", #""\u0000""#),
        ("\u{1}\u{8}\u{c}\u{1f}", #""\u0001\u0008\u000c\u001f""#),
        ("/ and \u{7f}", "\"/ and \u{7f}\""),
        ("é – 😀 \u{2028}", "\"é – 😀 \u{2028}\""),
    ])
    func escapes(input: String, expected: String) {
        #expect(JSONString.quote(input) == expected)
    }

    @Test func everyControlCharacterRoundTripsThroughAJSONParser() throws {
        let input = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init))) + "\"\\ é😀"
        let json = "[" + JSONString.quote(input) + "]"
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
        #expect(parsed == [input])
    }
}
