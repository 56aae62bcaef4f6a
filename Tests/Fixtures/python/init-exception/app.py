"""Raises while its module initialises (the exception's own type, at init)."""

raise RuntimeError("configuration missing: TABLE_NAME")


def handler(event, context):
    return "never reached"
