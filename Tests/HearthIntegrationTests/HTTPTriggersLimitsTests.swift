import Foundation
import Testing

/// Issue 13: the request limits of Function URLs and HTTP APIs (413 with AWS's body), and every
/// trigger request in the metrics and the daemon's log with its route key.
@Suite("HTTP triggers: request limits, per-route metrics and log", .serialized, .requiresRoot)
struct HTTPTriggersLimitsTests {
    @Test("a body over 6 MB gets 413 from a Function URL and an HTTP API; one under it reaches the function; HTTP API headers over 10,240 bytes get 413")
    func limits() throws {
        let (daemon, dataPort) = try HTTPTriggersServeTests.start()
        defer { daemon.stop(); daemon.removeState() }
        let out = try HTTPTriggersServeTests.python(daemon, dataPort: dataPort, #"""
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            host = lam.create_function_url_config(FunctionName='web', AuthType='NONE')['FunctionUrl'].split('/')[2]
            gw = boto3.client('apigatewayv2', endpoint_url=os.environ['ENDPOINT'])
            api = gw.create_api(Name='lim', ProtocolType='HTTP', Target='arn:aws:lambda:us-east-1:000000000000:function:web')
            ahost = api['ApiEndpoint'].split('/')[2]
            text = [('Content-Type', 'text/plain')]
            for name, h in (('url', host), ('api', ahost)):
                s, _, b = send(h, 'POST', '/?mode=string', text, b'x' * (6 * 1024 * 1024 + 1))
                out[name + '_over'] = [s, b.decode()]
                s, _, b = send(h, 'POST', '/?mode=string', text, b'x' * (5 * 1024 * 1024))
                out[name + '_under'] = [s, b.decode()]
            # Request line and header values: 10,240 bytes at most on an HTTP API.
            base = len('GET /?mode=string HTTP/1.1') + len(ahost)
            s, _, b = send(ahost, 'GET', '/?mode=string', [('X-Pad', 'p' * (10240 - base))])
            out['api_headers_at'] = s
            s, _, b = send(ahost, 'GET', '/?mode=string', [('X-Pad', 'p' * (10241 - base))])
            out['api_headers_over'] = [s, b.decode()]
            s, _, b = send(host, 'GET', '/?mode=string', [('X-Pad', 'p' * 20000)])
            out['url_headers_20k'] = s
            out['api_id'] = api['ApiId']; out['url_id'] = host.split('.')[0]
            print(json.dumps(out))
            """#)
        let tooLarge: [Any] = [413, #"{"message":"Request Entity Too Large"}"#]
        #expect(HTTPTriggersServeTests.same(out["url_over"], tooLarge), "\(out["url_over"] ?? "nil")")
        #expect(HTTPTriggersServeTests.same(out["api_over"], tooLarge), "\(out["api_over"] ?? "nil")")
        #expect(HTTPTriggersServeTests.same(out["url_under"], [200, #""Hello, world!""#]), "\(out["url_under"] ?? "nil")")
        #expect(HTTPTriggersServeTests.same(out["api_under"], [200, #""Hello, world!""#]), "\(out["api_under"] ?? "nil")")
        #expect(out["api_headers_at"] as? Int == 200)
        #expect(HTTPTriggersServeTests.same(out["api_headers_over"], tooLarge), "\(out["api_headers_over"] ?? "nil")")
        #expect(out["url_headers_20k"] as? Int == 200)
        let urlID = try #require(out["url_id"] as? String), apiID = try #require(out["api_id"] as? String)
        // Each request is in the daemon's log and the metrics with its id and route key.
        let log = daemon.log
        #expect(log.contains("hearth: http \(urlID) \"$default\" POST / 413 "), "\(log.suffix(3000))")
        #expect(log.contains("hearth: http \(apiID) \"$default\" GET / 200 "), "\(log.suffix(3000))")
    }

    @Test("per-route metrics: hearth_http_requests_total and the duration histogram by API id, route key and status")
    func perRouteMetrics() async throws {
        let (daemon, dataPort) = try HTTPTriggersServeTests.start()
        defer { daemon.stop(); daemon.removeState() }
        let out = try HTTPTriggersServeTests.python(daemon, dataPort: dataPort, #"""
            gw = boto3.client('apigatewayv2', endpoint_url=os.environ['ENDPOINT'])
            fn = 'arn:aws:lambda:us-east-1:000000000000:function:web'
            api = gw.create_api(Name='shop', ProtocolType='HTTP')
            aid = api['ApiId']
            integ = gw.create_integration(ApiId=aid, IntegrationType='AWS_PROXY', IntegrationUri=fn, PayloadFormatVersion='2.0')
            gw.create_route(ApiId=aid, RouteKey='GET /items/{id}', Target='integrations/' + integ['IntegrationId'])
            gw.create_stage(ApiId=aid, StageName='$default', AutoDeploy=True)
            ahost = api['ApiEndpoint'].split('/')[2]
            out['ok'] = [send(ahost, 'GET', '/items/%d?mode=string' % i)[0] for i in range(3)]
            out['raise'] = send(ahost, 'GET', '/items/9?mode=raise')[0]
            out['miss'] = send(ahost, 'GET', '/nothing')[0]
            out['api_id'] = aid
            print(json.dumps(out))
            """#)
        #expect(out["ok"] as? [Int] == [200, 200, 200])
        #expect(out["raise"] as? Int == 500)
        #expect(out["miss"] as? Int == 404)
        let apiID = try #require(out["api_id"] as? String)
        let metrics = try await daemon.metrics()
        #expect(metrics.contains(#"hearth_http_requests_total{api="\#(apiID)",route="GET /items/{id}",status="200"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"hearth_http_requests_total{api="\#(apiID)",route="GET /items/{id}",status="500"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"hearth_http_requests_total{api="\#(apiID)",route="-",status="404"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"hearth_http_request_duration_seconds_count{api="\#(apiID)",route="GET /items/{id}"} 4"#), "\(metrics)")
        #expect(daemon.log.contains("hearth: http \(apiID) \"GET /items/{id}\" GET /items/9 500 "), "\(daemon.log.suffix(3000))")
    }
}
