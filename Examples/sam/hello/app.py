import json
import os

import shared


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "message": shared.greeting(event.get("name", "world")),
            "stage": os.environ.get("STAGE"),
            "worker": os.environ.get("WORKER"),
            "version": context.function_version,
        }),
    }
