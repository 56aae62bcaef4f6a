"""Handlers for the python3.11 runtime image, run by awslambdaric (`--handler app.NAME`).

Each returns something a test can check from outside the sandbox; see ../README.md.
"""

import locale
import logging
import os
import sys
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Module-level state survives between invocations of a warm instance.
_invocations = 0


def handler(event, context):
    """Returns a dict: the event back, and where and how the function runs."""
    global _invocations
    _invocations += 1
    return {
        "event": event,
        "invocation": _invocations,
        "module": __file__,
        "cwd": os.getcwd(),
        "sys_path_0": sys.path[0],
        "python": sys.version.split()[0],
    }


def returns_str(event, context):
    """A str is serialised as a JSON string."""
    return "hello from python3.11"


def returns_bytes(event, context):
    """bytes are posted as they are (awslambdaric sends Content-Type application/unknown)."""
    return b"raw \x00\x01 bytes \xff, not JSON"


def returns_unicode(event, context):
    """Non-ASCII text: python3.11's marshaller escapes it (ensure_ascii), as on Lambda."""
    return {"text": "h\u00e9llo \u2603"}


def returns_none(event, context):
    """None is serialised as JSON null."""
    return None


class PaymentDeclined(Exception):
    pass


def raises(event, context):
    """An exception becomes the error JSON with errorType, errorMessage and stackTrace."""
    _check(event)


def _check(event):
    raise PaymentDeclined("card declined for order %s" % event.get("order", "?"))


def unserialisable(event, context):
    """A value JSON cannot encode: awslambdaric reports Runtime.MarshalError."""
    return {"when": object()}


def context_fields(event, context):
    """Every field of the Lambda context, and the remaining time read twice 200 ms apart."""
    first = context.get_remaining_time_in_millis()
    time.sleep(0.2)
    second = context.get_remaining_time_in_millis()
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": {
            "cognito_identity_id": context.identity.cognito_identity_id,
            "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
        },
        "client_context": _fields(context.client_context),
        "remaining_time_ms": [first, second],
        "remaining_time_decreased": second < first,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def _fields(obj):
    """The attributes of awslambdaric's __slots__ objects (ClientContext, Client), as a dict."""
    if obj is None or isinstance(obj, (str, int, float, bool, dict, list)):
        return obj
    return {name: _fields(getattr(obj, name, None)) for name in type(obj).__slots__}


def environment(event, context):
    """The environment, paths and identity the runtime gives the function."""
    names = [
        "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_REGION", "AWS_DEFAULT_REGION",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER", "PATH", "LD_LIBRARY_PATH",
        "PYTHONPATH", "LANG", "TZ",
    ]
    return {
        "env": {name: os.environ.get(name) for name in names},
        "sys_path": sys.path,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "locale": locale.setlocale(locale.LC_CTYPE),
        "filesystem_encoding": sys.getfilesystemencoding(),
        "preferred_encoding": locale.getpreferredencoding(False),
        "local_time_zone": time.tzname,
    }


def logs(event, context):
    """print and logging output goes to the function's log (hearth's stderr)."""
    print("printed line")
    logger.info("logged at info")
    logger.warning("logged at warning")
    sys.stderr.write("written to stderr\n")
    return "logged"


def sleeps(event, context):
    """Sleeps event["seconds"] (to show the timeout)."""
    time.sleep(float(event.get("seconds", 5)))
    return "woke up"


def uses_layer(event, context):
    """Imports a module from a layer (/opt/python); run with --layer .../layer."""
    import greeting_layer

    return greeting_layer.greet(event.get("name", "world"))


def exec_wrapper(event, context):
    """Run with --layer .../wrapper-layer --env AWS_LAMBDA_EXEC_WRAPPER=/opt/wrapper."""
    return {"wrapped": os.environ.get("HEARTH_FIXTURE_WRAPPED"), "argv0": sys.argv[0]}
