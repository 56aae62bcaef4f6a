import Foundation
import Testing
@testable import HearthServer

/// The pure parts of the HTTP triggers: events (payload 2.0 and 1.0) against the reference's
/// exact shapes, response mapping, route selection, CORS and Host routing.
@Suite("HTTP triggers: events, response mapping, routes, CORS")
struct HTTPTriggerTests {
    static let epochMs: Int64 = 1_583_348_638_390  // 04/Mar/2020:19:03:58 +0000

    static func request(method: String = "POST", path: String = "/my/path", query: String = "parameter1=value1&parameter1=value2&parameter2=value",
                        headers: [(String, String)] = [("Header1", "value1"), ("header2", "value1"), ("Header2", "value2"),
                                                       ("Cookie", "cookie1; cookie2"), ("User-Agent", "agent"), ("Content-Type", "application/json")],
                        body: String = #"{"message": "hello world", "username": "tom"}"#) -> TriggerRequest {
        TriggerRequest(method: method, rawPath: path, rawQuery: query, headers: headers, body: Array(body.utf8), sourceIP: "192.168.0.1",
                       port: 9001, timeEpochMs: epochMs, requestID: "id", traceID: "Root=1-5e5fff3e-0123456789abcdef01234567")
    }

    /// Compares as JSON values (so key order and number types do not matter).
    static func same(_ a: Any, _ b: Any) -> Bool {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed]
        return (try? JSONSerialization.data(withJSONObject: a, options: options)) == (try? JSONSerialization.data(withJSONObject: b, options: options))
    }

    static func json(_ text: String) -> Any { try! JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }

    @Test("payload 2.0 of an HTTP API is the documented event: lower-cased comma-joined headers, cookies, joined query values, route and stage")
    func payloadV2() {
        let context = TriggerContext(apiID: "api-id", accountID: "123456789012", domainName: "api-id.execute-api.localhost", domainPrefix: "api-id",
                                     routeKey: "POST /my/{name}", stage: "$default", pathParameters: ["name": "path"],
                                     stageVariables: ["stageVariable1": "value1"])
        let event = PayloadV2.event(Self.request(), context)
        let expected = Self.json(#"""
        {
          "version": "2.0",
          "routeKey": "POST /my/{name}",
          "rawPath": "/my/path",
          "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
          "cookies": ["cookie1", "cookie2"],
          "headers": {"header1": "value1", "header2": "value1,value2", "user-agent": "agent", "content-type": "application/json",
                      "x-forwarded-for": "192.168.0.1", "x-forwarded-port": "9001", "x-forwarded-proto": "http",
                      "x-amzn-trace-id": "Root=1-5e5fff3e-0123456789abcdef01234567"},
          "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
          "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.localhost",
            "domainPrefix": "api-id",
            "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "192.168.0.1", "userAgent": "agent"},
            "requestId": "id",
            "routeKey": "POST /my/{name}",
            "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390
          },
          "body": "{\"message\": \"hello world\", \"username\": \"tom\"}",
          "pathParameters": {"name": "path"},
          "isBase64Encoded": false,
          "stageVariables": {"stageVariable1": "value1"}
        }
        """#)
        #expect(Self.same(event, expected), "\(String(decoding: PayloadV2.encode(event), as: UTF8.self))")
    }

    @Test("a Function URL event: accountId anonymous, $default route and stage, no path parameters, no query or cookies when absent")
    func functionURLEvent() {
        let request = Self.request(method: "GET", path: "/", query: "", headers: [("User-Agent", "agent")], body: "")
        let event = PayloadV2.event(request, TriggerContext(apiID: "abc", accountID: "anonymous", domainName: "abc.lambda-url.us-east-1.localhost", domainPrefix: "abc"))
        let context = event["requestContext"] as? [String: Any]
        #expect(context?["accountId"] as? String == "anonymous")
        #expect(event["routeKey"] as? String == "$default" && context?["stage"] as? String == "$default" && context?["routeKey"] as? String == "$default")
        #expect(event["rawQueryString"] as? String == "")
        for absent in ["cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"] { #expect(event[absent] == nil, "\(absent)") }
        #expect(event["isBase64Encoded"] as? Bool == false)
        #expect(context?["authorizer"] == nil)
    }

    @Test("AWS_IAM adds requestContext.authorizer.iam with the caller")
    func iamAuthorizer() {
        let context = TriggerContext(apiID: "abc", accountID: "000000000000", domainName: "d", domainPrefix: "abc",
                                     iam: IAMCaller(accessKey: "AKIDEXAMPLE", accountID: "000000000000"))
        let iam = ((PayloadV2.event(Self.request(), context)["requestContext"] as? [String: Any])?["authorizer"] as? [String: Any])?["iam"] as? [String: Any]
        #expect(iam?["accessKey"] as? String == "AKIDEXAMPLE")
        #expect(iam?["accountId"] as? String == "000000000000")
        #expect(iam?["userArn"] as? String == "arn:aws:iam::000000000000:root")
        #expect(iam?["cognitoIdentity"] is NSNull)
    }

    @Test("binary bodies are base64 by content type; text ones are not", arguments: [
        ("image/png", true), ("application/octet-stream", true), ("application/x-www-form-urlencoded", true), ("multipart/form-data; boundary=x", true),
        ("text/plain; charset=utf-8", false), ("application/json", false), ("application/vnd.api+json", false), ("application/xml", false),
        ("text/html", false),
    ])
    func base64ByContentType(type: String, base64: Bool) {
        let event = PayloadV2.event(Self.request(headers: [("Content-Type", type)], body: "a=1"),
                                    TriggerContext(apiID: "a", accountID: "1", domainName: "d", domainPrefix: "a"))
        #expect(event["isBase64Encoded"] as? Bool == base64)
        #expect(event["body"] as? String == (base64 ? "YT0x" : "a=1"))
    }

    @Test("a body without a content type, or with invalid UTF-8 under a text type, is base64")
    func base64Fallbacks() {
        let context = TriggerContext(apiID: "a", accountID: "1", domainName: "d", domainPrefix: "a")
        #expect(PayloadV2.event(Self.request(headers: [], body: "x"), context)["isBase64Encoded"] as? Bool == true)
        var bad = Self.request(headers: [("Content-Type", "text/plain")], body: "")
        bad.body = [0xff, 0xfe]
        #expect(PayloadV2.event(bad, context)["body"] as? String == "//4=")
    }

    @Test("payload 1.0 for an HTTP API: version 1.0, multi-value maps, last value wins in the single maps, nulls, identity")
    func payloadV1() throws {
        let request = Self.request(method: "GET", path: "/prod/items/7", headers: [("Header1", "value1"), ("Header2", "value1"), ("Header2", "value2"), ("User-Agent", "ua")], body: "")
        let context = TriggerContext(apiID: "id", accountID: "123456789012", domainName: "id.execute-api.localhost", domainPrefix: "id",
                                     routeKey: "GET /items/{id}", stage: "prod", resourcePath: "/items/{id}", routeID: "r1", pathParameters: ["id": "7"])
        let event = PayloadV1.event(request, context, kind: .httpAPI, path: "/items/7")
        #expect(event["version"] as? String == "1.0")
        #expect(event["resource"] as? String == "/items/{id}")
        #expect(event["path"] as? String == "/items/7")
        #expect(event["httpMethod"] as? String == "GET")
        let headers = try #require(event["headers"] as? [String: String])
        #expect(headers["Header2"] == "value2")
        #expect(headers["X-Forwarded-For"] == "192.168.0.1")
        #expect((event["multiValueHeaders"] as? [String: [String]])?["Header2"] == ["value1", "value2"])
        #expect(Self.same(event["queryStringParameters"]!, ["parameter1": "value2", "parameter2": "value"]))
        #expect(Self.same(event["multiValueQueryStringParameters"]!, ["parameter1": ["value1", "value2"], "parameter2": ["value"]]))
        #expect(Self.same(event["pathParameters"]!, ["id": "7"]))
        #expect(event["stageVariables"] is NSNull)
        #expect(event["body"] is NSNull)
        #expect(event["isBase64Encoded"] as? Bool == false)
        let rc = try #require(event["requestContext"] as? [String: Any])
        #expect(rc["path"] as? String == "/prod/items/7")
        #expect(rc["resourcePath"] as? String == "/items/{id}")
        #expect(rc["stage"] as? String == "prod")
        #expect(rc["requestTime"] as? String == "04/Mar/2020:19:03:58 +0000")
        #expect((rc["requestTimeEpoch"] as? NSNumber)?.int64Value == Self.epochMs)
        #expect(((rc["identity"] as? [String: Any])?["sourceIp"]) as? String == "192.168.0.1")
        #expect(((rc["identity"] as? [String: Any])?["userArn"]) is NSNull)
    }

    @Test("REST-style events (SAM Type: Api) have no version key and keep text bodies as text")
    func restEvent() {
        let context = TriggerContext(apiID: "id", accountID: "1", domainName: "d", domainPrefix: "id", routeKey: "/hello", resourcePath: "/hello")
        let event = PayloadV1.event(Self.request(headers: [("Content-Type", "application/x-www-form-urlencoded")], body: "a=1"), context,
                                    kind: .restAPI, path: "/hello")
        #expect(event["version"] == nil)
        #expect(event["body"] as? String == "a=1")
        #expect(event["isBase64Encoded"] as? Bool == false)
        let binary = PayloadV1.event(Self.request(headers: [("Content-Type", "image/png")], body: "a"), context, kind: .restAPI, path: "/hello",
                                     binaryMediaTypes: ["image/*"])
        #expect(binary["isBase64Encoded"] as? Bool == true)
    }

    // MARK: responses

    @Test("2.0: valid JSON without statusCode is sent as is, 200 application/json (a string keeps its quotes)", arguments: [
        #""Hello, world!""#, #"{"message":"Hello from Lambda!"}"#, "42", "[1,2]", #"{"body":"not a proxy response"}"#,
    ])
    func v2Inferred(payload: String) throws {
        let mapped = try ProxyResponse.mapV2(Array(payload.utf8))
        #expect(mapped.status == 200)
        #expect(mapped.headers.map { "\($0.0): \($0.1)" } == ["Content-Type: application/json"])
        #expect(mapped.body == Array(payload.utf8))
    }

    @Test("2.0: statusCode, headers, cookies (one Set-Cookie each), base64 body")
    func v2Custom() throws {
        let payload = #"{"statusCode":201,"headers":{"Content-Type":"image/png","My-Custom-Header":"Custom Value"},"cookies":["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT","Cookie_2=Value2; Max-Age=78000"],"body":"iVBORw==","isBase64Encoded":true}"#
        let mapped = try ProxyResponse.mapV2(Array(payload.utf8))
        #expect(mapped.status == 201)
        #expect(mapped.headers.filter { $0.0 == "Set-Cookie" }.map(\.1) == ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2; Max-Age=78000"])
        #expect(mapped.headers.contains { $0 == ("My-Custom-Header", "Custom Value") })
        #expect(mapped.body == [0x89, 0x50, 0x4e, 0x47])
        let empty = try ProxyResponse.mapV2(Array(#"{"statusCode":204}"#.utf8))
        #expect(empty.status == 204 && empty.body.isEmpty && empty.headers.isEmpty)
    }

    @Test("2.0 malformed responses", arguments: [
        "not json", #"{"statusCode":"200"}"#, #"{"statusCode":true}"#, #"{"statusCode":200,"body":{"a":1}}"#, #"{"statusCode":700}"#,
        #"{"statusCode":200,"headers":{"a":{"b":1}}}"#, #"{"statusCode":200,"cookies":"a=1"}"#, #"{"statusCode":200,"isBase64Encoded":"yes","body":"x"}"#,
    ])
    func v2Malformed(payload: String) {
        #expect(throws: ProxyResponse.Malformed.self) { try ProxyResponse.mapV2(Array(payload.utf8)) }
    }

    @Test("1.0: headers and multiValueHeaders merged; statusCode required")
    func v1Mapping() throws {
        let payload = #"{"statusCode":200,"headers":{"X-One":"1","Set-Cookie":"ignored"},"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"hi","isBase64Encoded":false}"#
        let mapped = try ProxyResponse.mapV1(Array(payload.utf8))
        #expect(mapped.status == 200)
        #expect(mapped.headers.filter { $0.0 == "Set-Cookie" }.map(\.1) == ["a=1", "b=2"])
        #expect(mapped.headers.contains { $0 == ("X-One", "1") })
        #expect(mapped.body == Array("hi".utf8))
        #expect(throws: ProxyResponse.Malformed.self) { try ProxyResponse.mapV1(Array(#""Hello""#.utf8)) }
        #expect(throws: ProxyResponse.Malformed.self) { try ProxyResponse.mapV1(Array(#"{"body":"x"}"#.utf8)) }
    }

    @Test("errors as each product answers them")
    func failures() {
        func answer(_ f: ProxyResponse.Failure, _ k: TriggerKind) -> String {
            let r = ProxyResponse.failure(f, kind: k, requestID: "r")
            return "\(r.status) \(String(decoding: r.body, as: UTF8.self))"
        }
        #expect(answer(.functionError, .functionURL) == #"502 {"message":"Internal Server Error"}"#)
        #expect(answer(.malformed, .httpAPI) == #"500 {"message":"Internal Server Error"}"#)
        #expect(answer(.functionError, .restAPI) == #"502 {"message": "Internal server error"}"#)
        #expect(answer(.throttled, .httpAPI) == #"429 {"message":"Too Many Requests"}"#)
        #expect(answer(.integrationTimeout, .httpAPI) == #"503 {"message":"Service Unavailable"}"#)
        #expect(answer(.integrationTimeout, .restAPI) == #"504 {"message": "Endpoint request timed out"}"#)
        #expect(answer(.notFound, .httpAPI) == #"404 {"message":"Not Found"}"#)
        #expect(answer(.forbidden, .functionURL) == #"403 {"Message":"Forbidden"}"#)
        #expect(answer(.requestTooLarge, .functionURL).hasPrefix("413 "))
        #expect(ProxyResponse.failure(.functionError, kind: .functionURL, requestID: "r").headers.contains { $0 == ("x-amzn-RequestId", "r") })
        #expect(ProxyResponse.failure(.functionError, kind: .httpAPI, requestID: "r").headers.contains { $0 == ("apigw-requestid", "r") })
    }

    // MARK: routes

    static let routes: [(RouteKey, String)] = [
        "GET /items/{id}", "ANY /items/{id}", "GET /items/special", "ANY /{proxy+}", "GET /items/{id}/{rest+}", "$default", "POST /items",
    ].map { (try! RouteKey(parsing: $0), $0) }

    @Test("route selection: most specific first, a method before ANY, greedy last, then $default", arguments: [
        ("GET", "/items/special", "GET /items/special", [String: String]()),
        ("GET", "/items/7", "GET /items/{id}", ["id": "7"]),
        ("DELETE", "/items/7", "ANY /items/{id}", ["id": "7"]),
        ("GET", "/items/7/a/b", "GET /items/{id}/{rest+}", ["id": "7", "rest": "a/b"]),
        ("PUT", "/items/7/a/b", "ANY /{proxy+}", ["proxy": "items/7/a/b"]),
        ("POST", "/items", "POST /items", [:]),
        ("GET", "/items", "ANY /{proxy+}", ["proxy": "items"]),
        ("GET", "/", "$default", [:]),
        ("GET", "/items/caf%C3%A9", "GET /items/{id}", ["id": "café"]),
    ])
    func selection(method: String, path: String, expected: String, parameters: [String: String]) throws {
        let match = try #require(RouteKey.select(method: method, rawPath: path, among: Self.routes))
        #expect(match.value == expected)
        #expect(match.pathParameters == parameters)
    }

    @Test("no route and no $default: nil (404)")
    func noRoute() throws {
        let routes = [(try RouteKey(parsing: "GET /a"), 1)]
        #expect(RouteKey.select(method: "GET", rawPath: "/b", among: routes) == nil)
        #expect(RouteKey.select(method: "POST", rawPath: "/a", among: routes) == nil)
    }

    @Test("route keys that are not", arguments: ["GET", "FETCH /a", "GET a", "GET /{a+}/b", "GET /a{b}", "GET /{}", "$DEFAULT"])
    func badRouteKeys(text: String) {
        #expect(throws: RouteKeyError.self) { try RouteKey(parsing: text) }
    }

    // MARK: CORS and hosts

    @Test("CORS: preflight answered with the allow headers; responses get allow-origin and expose headers")
    func cors() {
        var policy = CORSPolicy()
        policy.allowOrigins = ["https://example.com"]
        policy.allowMethods = ["GET", "POST"]
        policy.allowHeaders = ["content-type"]
        policy.exposeHeaders = ["x-total"]
        policy.maxAge = 300
        let preflight = Self.request(method: "OPTIONS", headers: [("Origin", "https://example.com"), ("Access-Control-Request-Method", "POST"),
                                                                   ("Access-Control-Request-Headers", "content-type")], body: "")
        #expect(CORSPolicy.isPreflight(preflight))
        let headers = Dictionary(policy.preflightHeaders(preflight), uniquingKeysWith: { a, _ in a })
        #expect(headers["Access-Control-Allow-Origin"] == "https://example.com")
        #expect(headers["Access-Control-Allow-Methods"] == "GET,POST")
        #expect(headers["Access-Control-Allow-Headers"] == "content-type")
        #expect(headers["Access-Control-Max-Age"] == "300")
        let other = Self.request(method: "OPTIONS", headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")], body: "")
        #expect(policy.preflightHeaders(other).isEmpty)
        let applied = policy.apply(to: [("Access-Control-Allow-Origin", "*"), ("X", "1")], origin: "https://example.com")
        #expect(applied.filter { $0.0 == "Access-Control-Allow-Origin" }.map(\.1) == ["https://example.com"])
        #expect(applied.contains { $0 == ("Access-Control-Expose-Headers", "x-total") })
        #expect(policy.apply(to: [("X", "1")], origin: nil).count == 1)
    }

    @Test("hosts: Function URLs and HTTP APIs by Host; anything else is the API's", arguments: [
        ("abc123.lambda-url.us-east-1.localhost:9001", TriggerHost.functionURL(id: "abc123", region: "us-east-1")),
        ("ABC123.Lambda-Url.us-east-1.localhost", TriggerHost.functionURL(id: "abc123", region: "us-east-1")),
        ("a1b2c3.execute-api.localhost:9001", TriggerHost.httpAPI(id: "a1b2c3")),
        ("a1b2c3.execute-api.us-east-1.localhost", TriggerHost.httpAPI(id: "a1b2c3")),
        ("a1b2c3.execute-api.LocalHost.:9001", TriggerHost.httpAPI(id: "a1b2c3")),
    ])
    func hosts(host: String, expected: TriggerHost) {
        #expect(TriggerHost.parse(host) == expected)
    }

    @Test("hosts that are not triggers", arguments: ["127.0.0.1:9001", "localhost:9001", "lambda.us-east-1.amazonaws.com", "[::1]:9001",
                                                     "x.lambda-url.localhost", "a-b.execute-api.localhost", "x.y.execute-api.a.b.localhost",
                                                     ".localhost", "localhostx", "a.execute-api.localhos"])
    func notHosts(host: String) {
        #expect(TriggerHost.parse(host) == nil)
    }

    @Test("Common Log Format time in UTC")
    func clfTime() {
        #expect(TriggerRequest.clfTime(1_659_687_279_885) == "05/Aug/2022:08:14:39 +0000")
        #expect(TriggerRequest.clfTime(0) == "01/Jan/1970:00:00:00 +0000")
    }
}
