import Foundation
import Testing

/// Function URLs and HTTP APIs end to end: `hearth serve`, a Python function in real sandboxes
/// (Tests/Fixtures/python/http), the control plane through boto3 and the aws CLI, requests
/// through curl and http.client with the Host header, and every echoed event parsed on the host
/// with aws-lambda-powertools' strict models (scripts/setup installs them).
@Suite("HTTP triggers through hearth serve", .serialized, .requiresRoot)
struct HTTPTriggersServeTests {
    static let fixtures = Harness.packageRoot + "/Tests/Fixtures/python"

    /// A daemon with `--http-listen`, and the `web` Python function (timeout 10 s).
    static func start() throws -> (ServeDaemon, Int) {
        let dataPort = Int.random(in: 45001...55000)
        let daemon = try ServeDaemon(extra: ["--prefork", "0", "--http-listen", "127.0.0.1:\(dataPort)"])
        let zip = daemon.stateDirectory + "/http.zip"
        #expect(Harness.run("/usr/bin/env", ["sh", "-c", "cd '\(fixtures)/http' && zip -qr '\(zip)' ."]).status == 0)
        let create = daemon.aws(["lambda", "create-function", "--function-name", "web", "--runtime", "python3.11", "--handler", "app.handler",
                                 "--timeout", "10", "--role", "arn:aws:iam::000000000000:role/x", "--zip-file", "fileb://\(zip)"])
        #expect(create.status == 0, "\(create.stderr)")
        return (daemon, dataPort)
    }

    /// Whether `value` (decoded JSON) equals `expected`, compared as canonical JSON.
    static func same(_ value: Any?, _ expected: [Any]) -> Bool {
        func text(_ v: Any) -> String? {
            (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) }
        }
        guard let value, let a = text(value), let b = text(expected) else { return false }
        return a == b
    }

    /// Python with boto3 and powertools: `ENDPOINT`, `PORT`, `DATA_PORT` and `VALIDATE` (validate_event.py) set.
    static func python(_ daemon: ServeDaemon, dataPort: Int, _ script: String) throws -> [String: Any] {
        let result = Harness.run("/usr/bin/env", [
            "-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "ENDPOINT=\(daemon.endpoint)", "PORT=\(daemon.port)", "DATA_PORT=\(dataPort)",
            "AWS_SHARED_CREDENTIALS_FILE=\(daemon.credentialsPath)", "AWS_CONFIG_FILE=/dev/null", "AWS_DEFAULT_REGION=us-east-1",
            "PYTHONPATH=\(Harness.packageRoot)/.build/python-packages", "VALIDATE=\(fixtures)/validate_event.py", "python3", "-c", Self.prelude + script,
        ], timeout: 600)
        #expect(result.status == 0, "\(result.stdoutText)\n\(result.stderr)\n\(daemon.log)")
        return try #require(result.stdoutJSON, "\(result.stdoutText)\n\(result.stderr)")
    }

    /// `send(host, method, path, headers, body)` over http.client (duplicate headers kept) and
    /// `valid(model, event)` with powertools.
    static let prelude = #"""
        import base64, boto3, http.client, json, os, sys
        from aws_lambda_powertools.utilities.parser import models, parse
        PORT = int(os.environ['PORT']); DATA_PORT = int(os.environ['DATA_PORT'])
        def send(host, method, path, headers=(), body=b'', port=None):
            c = http.client.HTTPConnection('127.0.0.1', port or PORT, timeout=60)
            c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host: c.putheader('Host', host)
            for k, v in headers: c.putheader(k, v)
            if body or method in ('POST', 'PUT'): c.putheader('Content-Length', str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            data = r.read()
            return r.status, [(k.lower(), v) for k, v in r.getheaders()], data
        def sb(r):
            return [r[0], r[2].decode()]
        def header(headers, name):
            return [v for k, v in headers if k == name]
        def valid(model, event):
            try:
                parse(event=event, model=getattr(models, model))
                return 'valid'
            except Exception as e:
                return 'invalid: %s' % e
        out = {}

        """#

    @Test("Function URLs: boto3/aws CLI control plane, the 2.0 event (powertools), response mapping, errors, CORS, --http-listen")
    func functionURLs() async throws {
        let (daemon, dataPort) = try Self.start()
        defer { daemon.stop(); daemon.removeState() }
        let out = try Self.python(daemon, dataPort: dataPort, #"""
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            created = lam.create_function_url_config(FunctionName='web', AuthType='NONE',
                Cors={'AllowOrigins': ['https://example.com'], 'AllowMethods': ['GET', 'POST'], 'AllowHeaders': ['content-type'], 'MaxAge': 300})
            out['status'] = created['ResponseMetadata']['HTTPStatusCode']
            out['url'] = created['FunctionUrl']; out['arn'] = created['FunctionArn']; out['mode'] = created['InvokeMode']
            try:
                lam.create_function_url_config(FunctionName='web', AuthType='NONE')
                out['dup'] = 'no error'
            except lam.exceptions.ClientError as e:
                out['dup'] = e.response['Error']['Code']
            try:
                lam.create_function_url_config(FunctionName='web', AuthType='NONE', InvokeMode='RESPONSE_STREAM')
                out['stream'] = 'no error'
            except lam.exceptions.ClientError as e:
                out['stream'] = e.response['Error']['Code']
            host = out['url'].split('/')[2]
            url_id = host.split('.')[0]
            # The 2.0 event, checked field by field and by powertools.
            s, h, b = send(host, 'POST', '/some/pa%20th?x=1&x=2&y=caf%C3%A9&mode=echo&empty',
                           [('X-Mixed-Case', 'One'), ('x-mixed-case', 'Two'), ('Cookie', 'a=1; b=2'), ('Cookie', 'c=3'),
                            ('User-Agent', 'hearth-test/1'), ('Content-Type', 'application/octet-stream')], bytes(range(256)))
            out['echo_status'] = s
            event = json.loads(b)
            out['event'] = event
            out['model'] = valid('LambdaFunctionUrlModel', event)
            out['v2model'] = valid('APIGatewayProxyEventV2Model', event)
            out['body_bytes'] = list(base64.b64decode(event.get('body', '')))
            s, h, b = send(host, 'GET', '/?mode=echo', [('Content-Type', 'application/json')])
            out['get_event'] = json.loads(b)
            out['get_model'] = valid('LambdaFunctionUrlModel', out['get_event'])
            s, h, b = send(host, 'PUT', '/j?mode=echo', [('Content-Type', 'application/json')], b'{"k": "v"}')
            out['json_body'] = [json.loads(b)['body'], json.loads(b)['isBase64Encoded']]
            # Response mapping.
            out['string'] = list(send(host, 'GET', '/?mode=string')[0:1]) + [header(send(host, 'GET', '/?mode=string')[1], 'content-type'), send(host, 'GET', '/?mode=string')[2].decode()]
            s, h, b = send(host, 'GET', '/?mode=object')
            out['object'] = [s, header(h, 'content-type'), json.loads(b)]
            s, h, b = send(host, 'GET', '/?mode=custom')
            out['custom'] = [s, header(h, 'set-cookie'), header(h, 'my-custom-header'), header(h, 'content-type'), b.decode()]
            s, h, b = send(host, 'GET', '/?mode=binary')
            out['binary'] = [s, list(b) == list(range(256))]
            for mode in ('raise', 'malformed'):
                s, h, b = send(host, 'GET', '/?mode=' + mode)
                out[mode] = [s, b.decode(), len(header(h, 'x-amzn-requestid'))]
            # CORS: a preflight is answered without the function; an allowed Origin gets the headers.
            s, h, b = send(host, 'OPTIONS', '/anything', [('Origin', 'https://example.com'), ('Access-Control-Request-Method', 'POST'),
                                                         ('Access-Control-Request-Headers', 'content-type')])
            out['preflight'] = [s, header(h, 'access-control-allow-origin'), header(h, 'access-control-allow-methods'),
                                header(h, 'access-control-allow-headers'), header(h, 'access-control-max-age'), b.decode()]
            s, h, b = send(host, 'GET', '/?mode=string', [('Origin', 'https://example.com')])
            out['cors_get'] = header(h, 'access-control-allow-origin')
            s, h, b = send(host, 'GET', '/?mode=string', [('Origin', 'https://evil.example')])
            out['cors_evil'] = header(h, 'access-control-allow-origin')
            # Unknown url-ids, the control plane on another Host, the data-plane listener.
            out['unknown'] = send('0' * 32 + '.lambda-url.us-east-1.localhost', 'GET', '/')[0]
            out['api_still'] = send('127.0.0.1:%d' % PORT, 'GET', '/')[0]
            s, h, b = send(None, 'GET', '/' + url_id + '/via/path?mode=echo', port=DATA_PORT)
            out['data_path'] = [s, json.loads(b)['rawPath'] if s == 200 else b.decode()]
            s, h, b = send(host, 'GET', '/by/host?mode=echo', port=DATA_PORT)
            out['data_host'] = [s, json.loads(b)['rawPath'] if s == 200 else b.decode()]
            out['data_no_api'] = send('127.0.0.1:%d' % DATA_PORT, 'GET', '/2015-03-31/functions/', port=DATA_PORT)[0]
            # Update, get, list, delete.
            lam.update_function_url_config(FunctionName='web', Cors={'AllowOrigins': ['*']})
            g = lam.get_function_url_config(FunctionName='web')
            out['get'] = [g['AuthType'], g['Cors'], 'LastModifiedTime' in g, g['FunctionUrl'] == out['url']]
            out['list'] = [c['FunctionUrl'] for c in lam.list_function_url_configs(FunctionName='web')['FunctionUrlConfigs']]
            out['policy'] = json.loads(lam.add_permission(FunctionName='web', StatementId='url', Action='lambda:InvokeFunctionUrl', Principal='*',
                                                         FunctionUrlAuthType='NONE')['Statement'])
            out['getpolicy'] = [s['Sid'] for s in json.loads(lam.get_policy(FunctionName='web')['Policy'])['Statement']]
            lam.remove_permission(FunctionName='web', StatementId='url')
            out['deleted'] = lam.delete_function_url_config(FunctionName='web')['ResponseMetadata']['HTTPStatusCode']
            out['after_delete'] = send(host, 'GET', '/')[0]
            print(json.dumps(out))
            """#)
        #expect(out["status"] as? Int == 201)
        let url = try #require(out["url"] as? String)
        #expect(url.range(of: "^http://[a-z0-9]{32}\\.lambda-url\\.us-east-1\\.localhost:\(daemon.port)/$", options: .regularExpression) != nil, "\(url)")
        #expect(out["arn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:web")
        #expect(out["mode"] as? String == "BUFFERED")
        #expect(out["dup"] as? String == "ResourceConflictException")
        #expect(out["stream"] as? String == "ResourceConflictException")  // RESPONSE_STREAM is accepted; the URL exists
        #expect(out["echo_status"] as? Int == 200)
        #expect(out["model"] as? String == "valid", "\(out["model"] ?? "")")
        #expect(out["v2model"] as? String == "valid")
        let event = try #require(out["event"] as? [String: Any])
        let headers = try #require(event["headers"] as? [String: String])
        #expect(headers["x-mixed-case"] == "One,Two")
        #expect(headers.keys.allSatisfy { $0 == $0.lowercased() })
        #expect(headers["cookie"] == nil)
        #expect(headers["host"] == URL(string: url)?.host.map { "\($0):\(daemon.port)" } ?? "")
        #expect(headers["x-forwarded-for"] == "127.0.0.1")
        #expect(headers["x-amzn-trace-id"]?.hasPrefix("Root=1-") == true)
        #expect(event["cookies"] as? [String] == ["a=1", "b=2", "c=3"])
        #expect(event["rawPath"] as? String == "/some/pa%20th")
        #expect(event["rawQueryString"] as? String == "x=1&x=2&y=caf%C3%A9&mode=echo&empty")
        #expect(event["queryStringParameters"] as? [String: String] == ["x": "1,2", "y": "café", "mode": "echo", "empty": ""])
        #expect(event["isBase64Encoded"] as? Bool == true)
        #expect(out["body_bytes"] as? [Int] == Array(0..<256))
        #expect(event["routeKey"] as? String == "$default")
        #expect(event["pathParameters"] == nil && event["stageVariables"] == nil)
        let context = try #require(event["requestContext"] as? [String: Any])
        #expect(context["accountId"] as? String == "anonymous")
        #expect(context["apiId"] as? String == URL(string: url)?.host?.split(separator: ".").first.map(String.init))
        #expect(context["domainName"] as? String == URL(string: url)?.host)
        #expect(context["stage"] as? String == "$default")
        let http = try #require(context["http"] as? [String: Any])
        #expect(http["method"] as? String == "POST" && http["path"] as? String == "/some/pa th" && http["protocol"] as? String == "HTTP/1.1")
        #expect(http["sourceIp"] as? String == "127.0.0.1" && http["userAgent"] as? String == "hearth-test/1")
        #expect((context["time"] as? String)?.range(of: "^[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000$", options: .regularExpression) != nil)
        #expect(out["get_model"] as? String == "valid")
        let getEvent = try #require(out["get_event"] as? [String: Any])
        #expect(getEvent["body"] == nil && getEvent["isBase64Encoded"] as? Bool == false)
        #expect(Self.same(out["json_body"], [#"{"k": "v"}"#, false]), "\(out["json_body"] ?? "nil")")
        #expect(Self.same(out["string"], [200, ["application/json"], #""Hello, world!""#]), "\(out["string"] ?? "nil")")
        #expect(Self.same(out["object"], [200, ["application/json"], ["message": "Hello from Lambda!"]]), "\(out["object"] ?? "nil")")
        #expect(Self.same(out["custom"], [201, ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2"], ["Custom Value"], ["text/plain"], "created"]), "\(out["custom"] ?? "nil")")
        #expect(Self.same(out["binary"], [200, true]), "\(out["binary"] ?? "nil")")
        #expect(Self.same(out["raise"], [502, #"{"message":"Internal Server Error"}"#, 1]), "\(out["raise"] ?? "nil")")
        #expect(Self.same(out["malformed"], [502, #"{"message":"Internal Server Error"}"#, 1]), "\(out["malformed"] ?? "nil")")
        #expect(Self.same(out["preflight"], [200, ["https://example.com"], ["GET,POST"], ["content-type"], ["300"], ""]), "\(out["preflight"] ?? "nil")")
        #expect(out["cors_get"] as? [String] == ["https://example.com"])
        #expect(out["cors_evil"] as? [String] == [])
        #expect(out["unknown"] as? Int == 404)
        #expect(out["api_still"] as? Int == 200)
        #expect(Self.same(out["data_path"], [200, "/via/path"]), "\(out["data_path"] ?? "nil")")
        #expect(Self.same(out["data_host"], [200, "/by/host"]), "\(out["data_host"] ?? "nil")")
        #expect(out["data_no_api"] as? Int == 404)
        #expect(Self.same(out["get"], ["NONE", ["AllowOrigins": ["*"]], true, true]), "\(out["get"] ?? "nil")")
        #expect(out["list"] as? [String] == [url])
        #expect((out["policy"] as? [String: Any])?["Condition"] as? [String: [String: String]] == ["StringEquals": ["lambda:FunctionUrlAuthType": "NONE"]])
        #expect(out["getpolicy"] as? [String] == ["url"])
        #expect(out["deleted"] as? Int == 204)
        #expect(out["after_delete"] as? Int == 404)
        // The invocations went through the pool like any other: REPORT lines in the function's logs.
        let logs = try await daemon.client().send("GET", "/hearth/functions/web/logs")
        #expect(String(decoding: logs.body, as: UTF8.self).contains("REPORT RequestId: "))
    }

    @Test("curl with -H Host: duplicate headers comma-joined, the aws CLI's function-url commands")
    func curlAndCLI() throws {
        let (daemon, _) = try Self.start()
        defer { daemon.stop(); daemon.removeState() }
        let created = daemon.aws(["lambda", "create-function-url-config", "--function-name", "web", "--auth-type", "NONE"])
        #expect(created.status == 0, "\(created.stderr)")
        let url = try #require(created.stdoutJSON?["FunctionUrl"] as? String)
        let host = try #require(URL(string: url)?.host)
        let curl = Harness.run("/usr/bin/curl", ["-s", "-H", "Host: \(host):\(daemon.port)", "-H", "X-Dup: a", "-H", "X-Dup: b",
                                                 "-H", "Content-Type: text/plain", "--data-binary", "plain text", "http://127.0.0.1:\(daemon.port)/c?mode=echo&q=1&q=2"])
        #expect(curl.status == 0, "\(curl.stderr)")
        let event = try #require(curl.stdoutJSON, "\(curl.stdoutText)")
        #expect((event["headers"] as? [String: String])?["x-dup"] == "a,b")
        #expect((event["queryStringParameters"] as? [String: String])?["q"] == "1,2")
        #expect(event["body"] as? String == "plain text" && event["isBase64Encoded"] as? Bool == false)
        // Throttled like Invoke: reserved concurrency 0 gives 429 without running the function.
        #expect(daemon.aws(["lambda", "put-function-concurrency", "--function-name", "web", "--reserved-concurrent-executions", "0"]).status == 0)
        let throttled = Harness.run("/usr/bin/curl", ["-s", "-w", " %{http_code}", "-H", "Host: \(host):\(daemon.port)", "http://127.0.0.1:\(daemon.port)/"])
        #expect(throttled.stdoutText == #"{"message":"Too Many Requests"} 429"#)
        #expect(daemon.aws(["lambda", "delete-function-concurrency", "--function-name", "web"]).status == 0)
        let got = daemon.aws(["lambda", "get-function-url-config", "--function-name", "web"])
        #expect(got.stdoutJSON?["FunctionUrl"] as? String == url)
        let listed = daemon.aws(["lambda", "list-function-url-configs", "--function-name", "web"])
        #expect((listed.stdoutJSON?["FunctionUrlConfigs"] as? [[String: Any]])?.count == 1)
        #expect(daemon.aws(["lambda", "delete-function-url-config", "--function-name", "web"]).status == 0)
        let missing = daemon.aws(["lambda", "get-function-url-config", "--function-name", "web"])
        #expect(missing.status != 0 && missing.stderr.contains("ResourceNotFoundException"), "\(missing.stderr)")
        // `hearth url NAME` creates the URL when there is none, then prints the same one.
        let cli = ["--endpoint", daemon.endpoint, "--credentials", daemon.credentialsPath]
        let first = Harness.run(Harness.hearth, ["url", "web"] + cli)
        let printed = first.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(printed.range(of: "^http://[a-z0-9]{32}\\.lambda-url\\.us-east-1\\.localhost:\(daemon.port)/$", options: .regularExpression) != nil,
                "\(first.stdoutText) \(first.stderr)")
        #expect(Harness.run(Harness.hearth, ["url", "web"] + cli).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == printed)
        #expect(Harness.run(Harness.hearth, ["url", "web", "--delete"] + cli).status == 0)
        // Deleting the function deletes its URL; a restart keeps what was configured.
        _ = daemon.aws(["lambda", "create-function-url-config", "--function-name", "web", "--auth-type", "AWS_IAM"])
        daemon.stop()
        let again = try ServeDaemon(extra: ["--prefork", "0"], stateDirectory: daemon.stateDirectory)
        defer { again.stop() }
        let kept = again.aws(["lambda", "get-function-url-config", "--function-name", "web"])
        #expect(kept.stdoutJSON?["AuthType"] as? String == "AWS_IAM", "\(kept.stderr)")
        #expect(again.aws(["lambda", "delete-function", "--function-name", "web"]).status == 0)
        let gone = again.aws(["lambda", "list-function-url-configs", "--function-name", "web"])
        #expect(gone.status != 0)
    }

    @Test("AWS_IAM: unsigned and wrongly scoped requests get 403; SigV4 for lambda reaches the function with authorizer.iam")
    func awsIAM() throws {
        let (daemon, dataPort) = try Self.start()
        defer { daemon.stop(); daemon.removeState() }
        let out = try Self.python(daemon, dataPort: dataPort, #"""
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            lam = boto3.client('lambda', endpoint_url=os.environ['ENDPOINT'])
            url = lam.create_function_url_config(FunctionName='web', AuthType='AWS_IAM')['FunctionUrl']
            host = url.split('/')[2]
            creds = boto3.Session().get_credentials()
            def signed(service, path, body=b''):
                req = AWSRequest(method='POST', url='http://' + host + path, data=body, headers={'Content-Type': 'application/json'})
                SigV4Auth(creds, service, 'us-east-1').add_auth(req)
                return [(k, v) for k, v in req.headers.items()]
            s, h, b = send(host, 'POST', '/?mode=echo', [('Content-Type', 'application/json')], b'{}')
            out['unsigned'] = [s, b.decode()]
            s, h, b = send(host, 'POST', '/?mode=echo', signed('execute-api', '/?mode=echo', b'{}'), b'{}')
            out['wrong_service'] = s
            headers = signed('lambda', '/?mode=echo', b'{}')
            s, h, b = send(host, 'POST', '/?mode=echo', headers, b'{}')
            out['signed'] = s
            event = json.loads(b) if s == 200 else {}
            out['context'] = event.get('requestContext', {})
            out['model'] = valid('LambdaFunctionUrlModel', event)
            s, h, b = send(host, 'POST', '/?mode=echo', headers, b'{"tampered": true}')
            out['tampered'] = s
            out['key'] = creds.access_key
            print(json.dumps(out))
            """#)
        #expect(Self.same(out["unsigned"], [403, #"{"Message":"Forbidden"}"#]), "\(out["unsigned"] ?? "nil")")
        #expect(out["wrong_service"] as? Int == 403)
        #expect(out["signed"] as? Int == 200)
        #expect(out["tampered"] as? Int == 403)
        #expect(out["model"] as? String == "valid")
        let context = try #require(out["context"] as? [String: Any])
        #expect(context["accountId"] as? String == "000000000000")
        let iam = ((context["authorizer"] as? [String: Any])?["iam"]) as? [String: Any]
        #expect(iam?["accessKey"] as? String == out["key"] as? String)
        #expect(iam?["accountId"] as? String == "000000000000")
    }

    @Test("HTTP APIs: quick create, routes and stages, payload 2.0 and 1.0 (powertools), path parameters, stage variables, errors, timeout")
    func httpAPIs() throws {
        let (daemon, dataPort) = try Self.start()
        defer { daemon.stop(); daemon.removeState() }
        let out = try Self.python(daemon, dataPort: dataPort, #"""
            gw = boto3.client('apigatewayv2', endpoint_url=os.environ['ENDPOINT'])
            fn = 'arn:aws:lambda:us-east-1:000000000000:function:web'
            quick = gw.create_api(Name='quick', ProtocolType='HTTP', Target=fn)
            out['quick_status'] = quick['ResponseMetadata']['HTTPStatusCode']
            out['endpoint'] = quick['ApiEndpoint']
            qhost = quick['ApiEndpoint'].split('/')[2]
            s, h, b = send(qhost, 'GET', '/anything/here?mode=echo&a=1&a=2', [('Cookie', 'k=v')])
            out['quick_event'] = json.loads(b) if s == 200 else b.decode()
            out['quick_model'] = valid('APIGatewayProxyEventV2Model', out['quick_event'])
            out['quick_requestid'] = len(header(h, 'apigw-requestid'))
            out['quick_routes'] = [r['RouteKey'] for r in gw.get_routes(ApiId=quick['ApiId'])['Items']]
            out['quick_stages'] = [(st['StageName'], st['AutoDeploy']) for st in gw.get_stages(ApiId=quick['ApiId'])['Items']]

            api = gw.create_api(Name='shop', ProtocolType='HTTP',
                                CorsConfiguration={'AllowOrigins': ['https://shop.example'], 'AllowMethods': ['GET'], 'MaxAge': 60})
            aid = api['ApiId']
            v2 = gw.create_integration(ApiId=aid, IntegrationType='AWS_PROXY', IntegrationUri=fn, PayloadFormatVersion='2.0')
            v1 = gw.create_integration(ApiId=aid, IntegrationType='AWS_PROXY', PayloadFormatVersion='1.0',
                                       IntegrationUri='arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/' + fn + '/invocations')
            short = gw.create_integration(ApiId=aid, IntegrationType='AWS_PROXY', IntegrationUri=fn, PayloadFormatVersion='2.0', TimeoutInMillis=1000)
            out['integration'] = [v2['IntegrationType'], v2['PayloadFormatVersion'], v2['TimeoutInMillis'], v2['ResponseMetadata']['HTTPStatusCode']]
            route = gw.create_route(ApiId=aid, RouteKey='GET /items/{id}', Target='integrations/' + v2['IntegrationId'])
            gw.create_route(ApiId=aid, RouteKey='ANY /{proxy+}', Target='integrations/' + v1['IntegrationId'])
            gw.create_route(ApiId=aid, RouteKey='GET /slow', Target='integrations/' + short['IntegrationId'])
            out['route'] = [route['RouteKey'], route['Target'], route['AuthorizationType'], route['ResponseMetadata']['HTTPStatusCode']]
            try:
                gw.create_route(ApiId=aid, RouteKey='GET /items/{id}', Target='integrations/' + v2['IntegrationId'])
                out['dup_route'] = 'no error'
            except gw.exceptions.ClientError as e:
                out['dup_route'] = e.response['Error']['Code']
            try:
                gw.create_route(ApiId=aid, RouteKey='GET /{a+}/b')
                out['bad_route'] = 'no error'
            except gw.exceptions.ClientError as e:
                out['bad_route'] = e.response['Error']['Code']
            host = aid + '.execute-api.localhost:%d' % PORT
            out['no_stage'] = send(host, 'GET', '/items/1?mode=echo')[0]
            stage = gw.create_stage(ApiId=aid, StageName='prod', StageVariables={'table': 'orders'})
            out['stage'] = [stage['StageName'], stage['StageVariables'], stage['ResponseMetadata']['HTTPStatusCode']]
            s, h, b = send(host, 'GET', '/prod/items/42?mode=echo')
            event = json.loads(b) if s == 200 else {}
            out['v2'] = [s, event.get('routeKey'), event.get('rawPath'), event.get('pathParameters'), event.get('stageVariables'),
                         event.get('requestContext', {}).get('stage'), event.get('requestContext', {}).get('http', {}).get('path')]
            out['v2_model'] = valid('APIGatewayProxyEventV2Model', event)
            s, h, b = send(host, 'POST', '/prod/cart/a/b?mode=v1&x=1&x=2', [('X-Dup', 'one'), ('X-Dup', 'two'), ('Content-Type', 'application/json')], b'{"n": 1}')
            event = json.loads(b) if s == 202 else {}
            out['v1'] = [s, header(h, 'set-cookie'), header(h, 'x-one'), event.get('version'), event.get('resource'), event.get('path'),
                         event.get('pathParameters'), event.get('multiValueHeaders', {}).get('X-Dup'), event.get('headers', {}).get('X-Dup'),
                         event.get('multiValueQueryStringParameters', {}).get('x'), event.get('queryStringParameters', {}).get('x'), event.get('body'),
                         event.get('requestContext', {}).get('path'), event.get('requestContext', {}).get('stage')]
            out['v1_model'] = valid('APIGatewayProxyEventModel', event)
            out['raise'] = sb(send(host, 'GET', '/prod/items/1?mode=raise'))
            out['malformed_v1'] = sb(send(host, 'GET', '/prod/x?mode=string'))
            out['timeout'] = sb(send(host, 'GET', '/prod/slow?mode=sleep&seconds=3'))
            out['no_route'] = sb(send(host, 'GET', '/prod'))
            s, h, b = send(host, 'OPTIONS', '/prod/items/1', [('Origin', 'https://shop.example'), ('Access-Control-Request-Method', 'GET')])
            out['preflight'] = [s, header(h, 'access-control-allow-origin'), header(h, 'access-control-max-age')]
            gw.create_stage(ApiId=aid, StageName='$default', AutoDeploy=True)
            s, h, b = send(host, 'GET', '/items/7?mode=echo')
            out['default_stage'] = [s, json.loads(b).get('requestContext', {}).get('stage') if s == 200 else b.decode()]
            s, h, b = send(None, 'GET', '/' + aid + '/prod/items/9?mode=echo', port=DATA_PORT)
            out['data_port'] = [s, json.loads(b).get('pathParameters') if s == 200 else b.decode()]
            out['apis'] = sorted(a['Name'] for a in gw.get_apis()['Items'])
            out['get_api'] = [gw.get_api(ApiId=aid)['Name'], gw.get_api(ApiId=aid)['CorsConfiguration']['AllowOrigins']]
            gw.delete_route(ApiId=aid, RouteId=route['RouteId'])
            out['after_route_delete'] = json.loads(send(host, 'GET', '/prod/items/42?mode=v1')[2]).get('resource')
            out['delete'] = gw.delete_api(ApiId=aid)['ResponseMetadata']['HTTPStatusCode']
            try:
                gw.get_api(ApiId=aid)
                out['gone'] = 'no error'
            except gw.exceptions.NotFoundException:
                out['gone'] = 'NotFoundException'
            out['after_delete'] = send(host, 'GET', '/prod/items/1')[0]
            print(json.dumps(out))
            """#)
        #expect(out["quick_status"] as? Int == 201)
        #expect((out["endpoint"] as? String)?.range(of: "^http://[a-z0-9]{10}\\.execute-api\\.localhost:\(daemon.port)$", options: .regularExpression) != nil)
        let quick = try #require(out["quick_event"] as? [String: Any], "\(out["quick_event"] ?? "")")
        #expect(quick["routeKey"] as? String == "$default" && quick["version"] as? String == "2.0")
        #expect(quick["cookies"] as? [String] == ["k=v"])
        #expect((quick["queryStringParameters"] as? [String: String])?["a"] == "1,2")
        #expect((quick["requestContext"] as? [String: Any])?["accountId"] as? String == "000000000000")
        #expect(out["quick_model"] as? String == "valid", "\(out["quick_model"] ?? "")")
        #expect(out["quick_requestid"] as? Int == 1)
        #expect(out["quick_routes"] as? [String] == ["$default"])
        #expect(Self.same(out["quick_stages"], [["$default", true] as [Any]]), "\(out["quick_stages"] ?? "nil")")
        #expect(Self.same(out["integration"], ["AWS_PROXY", "2.0", 30000, 201]), "\(out["integration"] ?? "nil")")
        let route = try #require(out["route"] as? [Any])
        #expect(route[0] as? String == "GET /items/{id}" && route[2] as? String == "NONE" && route[3] as? Int == 201)
        #expect((route[1] as? String)?.hasPrefix("integrations/") == true)
        #expect(out["dup_route"] as? String == "ConflictException")
        #expect(out["bad_route"] as? String == "BadRequestException")
        #expect(out["no_stage"] as? Int == 404)
        #expect(Self.same(out["stage"], ["prod", ["table": "orders"], 201]), "\(out["stage"] ?? "nil")")
        #expect(Self.same(out["v2"], [200, "GET /items/{id}", "/prod/items/42", ["id": "42"], ["table": "orders"], "prod", "/prod/items/42"]), "\(out["v2"] ?? "nil")")
        #expect(out["v2_model"] as? String == "valid", "\(out["v2_model"] ?? "")")
        #expect(Self.same(out["v1"], [202, ["a=1", "b=2"], ["1"], "1.0", "/{proxy+}", "/cart/a/b", ["proxy": "cart/a/b"], ["one", "two"], "two",
                                                 ["1", "2"], "2", #"{"n": 1}"#, "/prod/cart/a/b", "prod"]), "\(out["v1"] ?? "nil")")
        #expect(out["v1_model"] as? String == "valid", "\(out["v1_model"] ?? "")")
        #expect(Self.same(out["raise"], [500, #"{"message":"Internal Server Error"}"#]), "\(out["raise"] ?? "nil")")
        #expect(Self.same(out["malformed_v1"], [500, #"{"message":"Internal Server Error"}"#]), "\(out["malformed_v1"] ?? "nil")")
        #expect(Self.same(out["timeout"], [503, #"{"message":"Service Unavailable"}"#]), "\(out["timeout"] ?? "nil")")
        #expect(Self.same(out["no_route"], [404, #"{"message":"Not Found"}"#]), "\(out["no_route"] ?? "nil")")
        #expect(Self.same(out["preflight"], [204, ["https://shop.example"], ["60"]]), "\(out["preflight"] ?? "nil")")
        #expect(Self.same(out["default_stage"], [200, "$default"]), "\(out["default_stage"] ?? "nil")")
        #expect(Self.same(out["data_port"], [200, ["id": "9"]]), "\(out["data_port"] ?? "nil")")
        #expect(out["apis"] as? [String] == ["quick", "shop"])
        #expect(Self.same(out["get_api"], ["shop", ["https://shop.example"]]), "\(out["get_api"] ?? "nil")")
        #expect(out["after_route_delete"] as? String == "/{proxy+}")
        #expect(out["delete"] as? Int == 204)
        #expect(out["gone"] as? String == "NotFoundException")
        #expect(out["after_delete"] as? Int == 404)
        // The invocation the 503 left running ends with the daemon, leaving nothing behind.
        daemon.stop()
        #expect(Harness.leftovers().isEmpty)
    }

    @Test("the aws CLI's apigatewayv2 commands")
    func apigatewayCLI() throws {
        let (daemon, _) = try Self.start()
        defer { daemon.stop(); daemon.removeState() }
        let created = daemon.aws(["apigatewayv2", "create-api", "--name", "cli", "--protocol-type", "HTTP",
                                  "--target", "arn:aws:lambda:us-east-1:000000000000:function:web", "--route-key", "GET /hello"])
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require(created.stdoutJSON?["ApiId"] as? String)
        let routes = daemon.aws(["apigatewayv2", "get-routes", "--api-id", id])
        #expect((routes.stdoutJSON?["Items"] as? [[String: Any]])?.first?["RouteKey"] as? String == "GET /hello", "\(routes.stderr)")
        let curl = Harness.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(id).execute-api.localhost:\(daemon.port)",
                                                 "http://127.0.0.1:\(daemon.port)/hello?mode=object"])
        #expect(curl.stdoutText == "200")
        let other = Harness.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(id).execute-api.localhost:\(daemon.port)",
                                                 "http://127.0.0.1:\(daemon.port)/other"])
        #expect(other.stdoutText == "404")
        #expect(daemon.aws(["apigatewayv2", "get-apis"]).stdoutJSON?["Items"] as? [[String: Any]] != nil)
        #expect(daemon.aws(["apigatewayv2", "delete-api", "--api-id", id]).status == 0)
        let missing = daemon.aws(["apigatewayv2", "get-api", "--api-id", id])
        #expect(missing.status != 0 && missing.stderr.contains("NotFoundException"), "\(missing.stderr)")
    }
}
