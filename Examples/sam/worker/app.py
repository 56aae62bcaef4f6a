import json


def handler(event, context):
    # Whatever triggered it (a schedule, a queue, a workflow), the event is logged whole.
    print("worker-event " + json.dumps(event, sort_keys=True))
    return {"handled": True, "source": event.get("source") if isinstance(event, dict) else None}
