"""An HTTP trigger handler for the python3.11 runtime image (`--handler app.handler`).

The query parameter `mode` says what to return, so one function covers every response-mapping
case the HTTP trigger tests check; `echo` (the default) returns the event itself as the body,
for the tests to parse with aws-lambda-powertools' models on the host.
"""

import base64
import json
import time


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    mode = query.get("mode", "echo")
    if mode == "echo":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
    if mode == "string":
        return "Hello, world!"
    if mode == "object":
        return {"message": "Hello from Lambda!"}
    if mode == "custom":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value"},
            "cookies": ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2"],
            "body": "created",
            "isBase64Encoded": False,
        }
    if mode == "binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if mode == "v1":
        return {
            "statusCode": 202,
            "headers": {"X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps(event),
            "isBase64Encoded": False,
        }
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "malformed":
        return {"statusCode": "teapot"}
    if mode == "sleep":
        time.sleep(float(query.get("seconds", "1")))
        return "slept"
    return {"statusCode": 400, "body": "unknown mode " + mode}
