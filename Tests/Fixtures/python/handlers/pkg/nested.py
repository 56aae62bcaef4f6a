"""A handler in a package: `--handler pkg.nested.handler` (or `pkg/nested.handler`)."""


def handler(event, context):
    return {"module": __name__, "event": event}
