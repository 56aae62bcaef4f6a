import Testing
@testable import HearthStates

@Suite struct IntrinsicTests {
    let input = json(#"""
    {"name":"Arnav","someString":"{\"number\": 20}","someJson":{"name":"Foo","year":2020},
     "inputArray":[1,2,3,4,5,6,7,8,9],"dupes":[1,2,3,3,3,3,3,3,4],"index":5,
     "json1":{"a":{"a1":1,"a2":2},"b":2},"json2":{"a":{"a3":1,"a4":2},"c":3},
     "inputString":"This.is+a,test=string","splitter":".+,=","value1":111,"step":-1}
    """#)

    func eval(_ text: String) throws -> JSON {
        var random = StatesRandom(seed: "test")
        return try Intrinsic(parsing: text).evaluate(input: input, context: json(#"{"Execution":{"Name":"run1"}}"#), random: &random)
    }

    /// The examples of AWS's intrinsic-functions page, with its documented results.
    @Test(arguments: [
        ("States.Format('Hello, my name is {}.', $.name)", #""Hello, my name is Arnav.""#),
        ("States.Format('{} and {} in {}', 1, true, $$.Execution.Name)", #""1 and true in run1""#),
        (#"States.Format('Literal \{\} here {}', 'x')"#, #""Literal {} here x""#),
        ("States.StringToJson($.someString)", #"{"number":20}"#),
        ("States.JsonToString($.someJson)", #""{\"name\":\"Foo\",\"year\":2020}""#),
        ("States.Array('Foo', 2020, $.someJson, null)", #"["Foo",2020,{"name":"Foo","year":2020},null]"#),
        ("States.ArrayPartition($.inputArray, 4)", "[[1,2,3,4],[5,6,7,8],[9]]"),
        ("States.ArrayPartition(States.Array(), 2)", "[]"),
        ("States.ArrayContains($.inputArray, 5)", "true"),
        ("States.ArrayContains($.inputArray, 10)", "false"),
        ("States.ArrayRange(1, 9, 2)", "[1,3,5,7,9]"),
        ("States.ArrayRange(5, 1, $.step)", "[5,4,3,2,1]"),
        ("States.ArrayRange(1, 0, 1)", "[]"),
        ("States.ArrayGetItem($.inputArray, $.index)", "6"),
        ("States.ArrayLength($.inputArray)", "9"),
        ("States.ArrayUnique($.dupes)", "[1,2,3,4]"),
        ("States.Base64Encode('Data to encode')", #""RGF0YSB0byBlbmNvZGU=""#),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", #""Data to encode""#),
        ("States.Hash('input data', 'SHA-1')", #""aaff4a450a104cd177d28d18d74485e8cae074b7""#),
        ("States.Hash('input data', 'MD5')", #""812f45842bc6d66ee14572ce20db8e86""#),
        ("States.Hash('', 'SHA-256')", #""e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#),
        ("States.JsonMerge($.json1, $.json2, false)", #"{"a":{"a3":1,"a4":2},"b":2,"c":3}"#),
        ("States.MathAdd($.value1, -1)", "110"),
        ("States.MathAdd(-5, 5)", "0"),
        ("States.StringSplit('1,2,3,4,5', ',')", #"["1","2","3","4","5"]"#),
        ("States.StringSplit($.inputString, $.splitter)", #"["This","is","a","test","string"]"#),
        ("States.ArrayLength(States.StringSplit(States.Format('{},{}', 'a', 'b'), ','))", "2"),
    ])
    func documentedExamples(_ call: String, _ expected: String) throws {
        #expect(try eval(call).text == json(expected).text)
    }

    @Test func mathRandomStaysInRangeAndSeedRepeats() throws {
        for _ in 0..<50 {
            let n = try eval("States.MathRandom(1, 10)").intValue!
            #expect((1..<10).contains(n))
        }
        #expect(try eval("States.MathRandom(1, 1000, 7)") == eval("States.MathRandom(1, 1000, 7)"))
    }

    @Test func uuidIsVersion4() throws {
        let u = try eval("States.UUID()").stringValue!
        #expect(u.count == 36)
        #expect(Array(u)[14] == "4")
        #expect("89ab".contains(Array(u)[19]))
    }

    /// Bad arguments are States.IntrinsicFailure.
    @Test(arguments: [
        "States.ArrayGetItem($.inputArray, 9)", "States.ArrayPartition($.inputArray, 0)", "States.ArrayRange(1, 5000, 1)",
        "States.ArrayRange(1, 5, 0)", "States.MathAdd(1.5, 1)", "States.MathAdd($.name, 1)", "States.StringToJson('{nope')",
        "States.Format('{} {}', 1)", "States.Format('{}', 1, 2)", "States.Format('{}', $.someJson)", "States.Hash('x', 'SHA-3')",
        "States.JsonMerge($.json1, $.json2, true)", "States.Base64Decode('***')", "States.MathRandom(5, 1)", "States.ArrayLength($.name)",
        "States.Format($.missing)",
    ])
    func failures(_ call: String) {
        #expect { try eval(call) } throws: { ($0 as? StatesError)?.error == "States.IntrinsicFailure" }
    }

    @Test(arguments: ["States.Nope(1)", "States.Format('x'", "States.Array(1 2)", "States.Format('unterminated)",
                      "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array())))))))))))"])
    func parseFailures(_ call: String) {
        #expect(throws: Intrinsic.ParseError.self) { try Intrinsic(parsing: call) }
    }
}
