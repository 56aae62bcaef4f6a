import json


def http(event, context):
    if isinstance(event, dict) and "http" in event.get("requestContext", {}):
        return {"statusCode": 200, "body": json.dumps({"path": event["rawPath"], "name": (event.get("pathParameters") or {}).get("name")})}
    return {"step": "api", "input": event}


def work(event, context):
    if isinstance(event, dict) and "Records" in event:
        for record in event["Records"]:
            print("worker-record " + record["body"])
        return {}
    return {"step": "worker", "input": event}
