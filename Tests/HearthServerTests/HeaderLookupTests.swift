import Foundation
import Testing
@testable import HearthServer

/// `HTTPRequest.header`: field names match ignoring ASCII case only (RFC 9110 tokens).
@Suite("HTTP header lookup")
struct HeaderLookupTests {
    @Test func asciiCaseIsIgnored() {
        let request = HTTPRequest(method: "POST", rawPath: "/", rawQuery: "",
                                  headers: [("Content-Type", "application/json"), ("X-Amz-Invocation-Type", "Event"), ("x-dup", "a"), ("X-Dup", "b")], body: [])
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("CONTENT-TYPE") == "application/json")
        #expect(request.header("x-amz-invocation-type") == "Event")
        #expect(request.header("x-dup") == "a")  // the first wins
        #expect(request.header("Content-Typ") == nil)
        #expect(request.header("Content-Typf") == nil)
    }

    @Test func onlyLettersFoldCase() {
        // '@' (0x40) and '`' (0x60) differ only in bit 0x20, as do '[' and '{': not letters, no match.
        #expect(!HTTPRequest.sameFieldName("a@b", "a`b"))
        #expect(!HTTPRequest.sameFieldName("x[", "x{"))
        #expect(HTTPRequest.sameFieldName("X-Forwarded-For", "x-forwarded-for"))
        #expect(!HTTPRequest.sameFieldName("é", "É"))  // no Unicode folding
        #expect(HTTPRequest.sameFieldName("", ""))
    }
}
