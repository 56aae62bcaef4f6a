import json
import os

import shared


def handler(event, context):
    # From the HTTP API or the Function URL (payload 2.0), or invoked directly ({"name": ...}).
    event = event if isinstance(event, dict) else {}
    name = (event.get("pathParameters") or {}).get("name") or event.get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "message": shared.greeting(name),
            "stage": os.environ.get("STAGE"),
            "worker": os.environ.get("WORKER"),
            "version": context.function_version,
            "path": event.get("rawPath"),
        }),
    }
