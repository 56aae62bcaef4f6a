import json


def handler(event, context):
    # A batch from the jobs queue: each record is handled; a body of "fail" is reported as a
    # failed item, so only it comes back (and after two receives goes to the dead-letter queue).
    if isinstance(event, dict) and "Records" in event:
        failures = []
        for record in event["Records"]:
            print("worker-record " + record["body"])
            if record["body"] == "fail":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}
    # A schedule, the workflow or an asynchronous invoke: the event is logged whole.
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("asked to fail")
    print("worker-event " + json.dumps(event, sort_keys=True))
    return {"handled": True, "source": event.get("source") if isinstance(event, dict) else None}
