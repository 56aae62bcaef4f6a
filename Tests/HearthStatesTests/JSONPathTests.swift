import Testing
@testable import HearthStates

@Suite struct JSONTests {
    @Test func keepsKeyOrderAndNumberKinds() throws {
        let v = json(#"{"b":1,"a":1.5,"c":[true,null,"x\n\u00e9"],"d":-0.0,"e":1e3}"#)
        #expect(v.text == #"{"b":1,"a":1.5,"c":[true,null,"x\né"],"d":-0.0,"e":1000.0}"#)
        #expect(v["b"] == .int(1))
        #expect(JSON.int(1).sameValue(as: .double(1.0)))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "01", "\"abc", "{} x", "not a definition"])
    func refusesInvalidText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func escapesControlCharactersAndQuotes() {
        #expect(JSON.string("a\"b\\c\u{01}/").text == #""a\"b\\c\u0001/""#)
    }
}

@Suite struct JSONPathTests {
    let store = json(#"""
    {"store":{"book":[{"category":"reference","author":"Nigel Rees","title":"Sayings","price":8.95},
                       {"category":"fiction","author":"Evelyn Waugh","title":"Sword","price":12.99},
                       {"category":"fiction","author":"Herman Melville","title":"Moby Dick","isbn":"0-553","price":8.99},
                       {"category":"fiction","author":"J. R. R. Tolkien","title":"LOTR","isbn":"0-395","price":22.99}],
              "bicycle":{"color":"red","price":19.95}},
     "a b": 1, "movies":[{"year":1994},{"year":1998},{"year":2001}]}
    """#)

    func read(_ path: String) throws -> JSON { try JSONPath(path).read(store) }

    @Test func definitePaths() throws {
        #expect(try read("$") == store)
        #expect(try read("$.store.bicycle.color") == .string("red"))
        #expect(try read("$['store']['bicycle']['price']") == .double(19.95))
        #expect(try read("$.store.book[0].author") == .string("Nigel Rees"))
        #expect(try read("$.store.book[-1].title") == .string("LOTR"))
        #expect(try read("$['a b']") == .int(1))
        #expect(try JSONPath("$.store.book[1]").isDefinite)
        #expect(try !JSONPath("$.store.book[*]").isDefinite)
    }

    @Test func missingPathsNameWhereAsJayway() throws {
        #expect(throws: JSONPath.EvalError.notFound("No results for path: $['nope']")) { try read("$.nope") }
        #expect(throws: JSONPath.EvalError.notFound("Missing property in path $['no']")) { try read("$.no.such.result.path") }
        #expect(throws: JSONPath.EvalError.notFound("No results for path: $['store']['book'][9]")) { try read("$.store.book[9]") }
    }

    @Test func indefinitePathsReadArrays() throws {
        #expect(try read("$.store.book[*].author") == json(#"["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]"#))
        #expect(try read("$.movies[1:3]") == json(#"[{"year":1998},{"year":2001}]"#))
        #expect(try read("$.movies[-1:]") == json(#"[{"year":2001}]"#))
        #expect(try read("$.movies[:1]") == json(#"[{"year":1994}]"#))
        #expect(try read("$.movies[0,2].year") == json("[1994,2001]"))
        #expect(try read("$.movies[?(@.year > 1997)]") == json(#"[{"year":1998},{"year":2001}]"#))
        #expect(try read("$.store.book[?(@.isbn)].title") == json(#"["Moby Dick","LOTR"]"#))
        #expect(try read("$.store.book[?(@.category == 'fiction' && @.price < 10)].title") == json(#"["Moby Dick"]"#))
        #expect(try read("$.store.book[?(@.price < 9 || @.price > 20)].title") == json(#"["Sayings","Moby Dick","LOTR"]"#))
        #expect(try read("$..author").arrayValue?.count == 4)
        #expect(try read("$.store..price") == json("[8.95,12.99,8.99,22.99,19.95]"))
        #expect(try read("$.store.bicycle.*") == json(#"["red",19.95]"#))
        #expect(try read("$.nothing[*]") == json("[]"))
    }

    @Test func contextRoot() throws {
        let p = try JSONPath("$$.Execution.Id")
        #expect(p.root == .context)
        #expect(try p.read(json(#"{"Execution":{"Id":"x"}}"#)) == .string("x"))
    }

    @Test(arguments: ["", "store", "$.", "$[", "$[abc]", "$.a[?(@.x ~ 1)]", "$..", "$.a b"])
    func refusesInvalidPaths(_ text: String) {
        #expect(throws: JSONPath.ParseError.self) { try JSONPath(text) }
    }

    @Test func resultPathWrites() throws {
        let input = json(#"{"a":{"b":1},"list":[1,2]}"#)
        #expect(input.setting([.name("a"), .name("c")], to: .int(2)) == json(#"{"a":{"b":1,"c":2},"list":[1,2]}"#))
        #expect(input.setting([.name("x"), .name("y")], to: .int(3)) == json(#"{"a":{"b":1},"list":[1,2],"x":{"y":3}}"#))
        #expect(input.setting([.name("list"), .index(0)], to: .int(9)) == json(#"{"a":{"b":1},"list":[9,2]}"#))
        #expect(input.setting([.name("a"), .name("b"), .name("c")], to: .int(1)) == nil)
        #expect(JSON.string("text").setting([.name("x")], to: .int(1)) == nil)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [("2016-03-14T01:59:00Z", Int64(1_457_920_740_000)), ("2016-03-14T01:59:00.123Z", 1_457_920_740_123),
                      ("2016-03-14T03:59:00+02:00", 1_457_920_740_000), ("2016-03-13T21:59:00-04:00", 1_457_920_740_000),
                      ("2024-02-29T00:00:00Z", 1_709_164_800_000)])
    func parses(_ text: String, _ ms: Int64) {
        #expect(Timestamp.parse(text) == ms)
    }

    /// The forms AWS refuses (recorded in LocalStack's test_wait_timestamp_path).
    @Test(arguments: ["2016-12-05 21:29:29Z", "2016-13-05T21:29:29Z", "2016-12-05T21:29:29", "2016-12-32T21:29:29Z",
                      "2023-02-29T00:00:00Z", "2016-12-05T25:29:29Z", "2016-12-05T21:29Z", "20161205T212929Z", "2016-12-05T21:29:29.Z"])
    func refuses(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formats() {
        #expect(Timestamp.format(1_457_920_740_123) == "2016-03-14T01:59:00.123Z")
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(951_825_599_999) == "2000-02-29T11:59:59.999Z", "a leap day")
        #expect(Timestamp.format(4_107_542_399_000) == "2100-02-28T23:59:59.000Z", "no leap day in 2100")
        #expect(Timestamp.format(-1) == "1969-12-31T23:59:59.999Z", "before the epoch")
        for ms: Int64 in [0, 1_457_920_740_123, 951_825_599_999, 1_800_000_000_007] { #expect(Timestamp.parse(Timestamp.format(ms)) == ms) }
    }
}
