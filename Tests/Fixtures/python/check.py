#!/usr/bin/env python3
"""Runs every Python fixture through `hearth run --runtime python3.11` and checks the results.

Usage: check.py HEARTH [--state-dir DIR] [--only NAME]...

HEARTH is the hearth binary (e.g. .build/debug/hearth). The python3.11 image is built on first
use into DIR/images (a few minutes cold, seconds with a warm HEARTH_IMAGE_CACHE). Prints one
line per case (ok / FAIL with what differed) and exits 1 if any case failed. Needs root, like
`hearth run`.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Failure(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failure(what)


def error_document(result, error_type):
    """The Lambda error JSON on stdout, with exit status 1 and the given errorType."""
    expect(result.returncode == 1, "exit status %d, expected 1" % result.returncode)
    doc = json.loads(result.stdout)
    expect(doc.get("errorType") == error_type, "errorType %r, expected %r" % (doc.get("errorType"), error_type))
    expect(isinstance(doc.get("errorMessage"), str) and doc["errorMessage"], "no errorMessage")
    expect(isinstance(doc.get("stackTrace"), list), "no stackTrace list")
    return doc


def ok_json(result):
    expect(result.returncode == 0, "exit status %d, expected 0; stdout %r" % (result.returncode, result.stdout[:300]))
    return json.loads(result.stdout)


def request_ids(result):
    return re.findall(rb"^START RequestId: (\S+) ", result.stderr, re.M)


def check_dict(r):
    doc = ok_json(r)
    expect(doc["event"] == {"a": 1}, "event %r" % doc["event"])
    expect(doc["cwd"] == "/var/task" and doc["sys_path_0"] == "/var/task", "cwd/sys.path[0] %r" % doc)
    expect(doc["module"] == "/var/task/app.py", "module %r" % doc["module"])


def check_context(r):
    doc = ok_json(r)
    expect(UUID.match(doc["aws_request_id"] or ""), "aws_request_id %r" % doc["aws_request_id"])
    expect(request_ids(r) == [doc["aws_request_id"].encode()], "request id differs from the START line")
    expect(doc["function_name"] == "handlers", "function_name %r" % doc["function_name"])
    expect(doc["function_version"] == "$LATEST", "function_version %r" % doc["function_version"])
    expect(doc["memory_limit_in_mb"] == "128", "memory_limit_in_mb %r" % doc["memory_limit_in_mb"])
    expect(re.match(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:handlers$", doc["invoked_function_arn"] or ""),
           "invoked_function_arn %r" % doc["invoked_function_arn"])
    expect(doc["log_group_name"] == "/aws/lambda/handlers", "log_group_name %r" % doc["log_group_name"])
    expect(re.match(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]+$", doc["log_stream_name"] or ""),
           "log_stream_name %r" % doc["log_stream_name"])
    first, second = doc["remaining_time_ms"]
    expect(0 < first <= 3000, "first remaining time %r" % first)
    expect(150 <= first - second <= 1000, "remaining time %r -> %r across a 200 ms sleep" % (first, second))


def check_environment(r):
    doc = ok_json(r)
    env = doc["env"]
    expected = {
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime", "PYTHONPATH": "/var/runtime", "LANG": "en_US.UTF-8",
        "TZ": ":UTC", "_HANDLER": "app.environment", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    }
    for name, value in expected.items():
        expect(env.get(name) == value, "%s=%r, expected %r" % (name, env.get(name), value))
    expect(env["PATH"].startswith("/var/lang/bin:"), "PATH %r" % env["PATH"])
    expect(doc["sys_path"][:4] == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python", "/var/runtime"],
           "sys.path %r" % doc["sys_path"][:4])
    expect((doc["uid"], doc["gid"]) == (993, 990), "uid/gid %r/%r" % (doc["uid"], doc["gid"]))
    expect(doc["locale"] == "en_US.UTF-8" and doc["filesystem_encoding"] == "utf-8", "locale %r" % doc["locale"])


def check_logs(r):
    expect(r.returncode == 0 and r.stdout == b'"logged"', "stdout %r" % r.stdout)
    (rid,) = request_ids(r)
    for line in [b"printed line", b"written to stderr"]:
        expect(line in r.stderr, "%r missing from the log" % line)
    expect(re.search(rb"^\[INFO\]\t\S+Z\t" + re.escape(rid) + rb"\tlogged at info$", r.stderr, re.M),
           "no [INFO] line with the request id")


def check_repeat(r):
    expect(r.returncode == 0, "exit status %d" % r.returncode)
    counts = [json.loads(line)["invocation"] for line in r.stdout.splitlines()]
    expect(counts == [1, 2, 3], "invocation counts %r (a warm instance keeps module state)" % counts)
    expect(r.stderr.count(b"Init Duration") == 1, "Init Duration should appear once (one cold start)")


def exact(expected):
    def check(r):
        expect(r.returncode == 0, "exit status %d" % r.returncode)
        expect(r.stdout == expected, "stdout %r, expected %r" % (r.stdout, expected))
    return check


def error(error_type, message_part, request_id_empty=False):
    def check(r):
        doc = error_document(r, error_type)
        expect(message_part in doc["errorMessage"], "errorMessage %r lacks %r" % (doc["errorMessage"], message_part))
        expect((doc.get("requestId") == "") == request_id_empty, "requestId %r" % doc.get("requestId"))
    return check


def check_raises(r):
    doc = error_document(r, "PaymentDeclined")
    expect(doc["errorMessage"] == "card declined for order A-17", "errorMessage %r" % doc["errorMessage"])
    expect(any('/var/task/app.py", line' in frame and "in _check" in frame for frame in doc["stackTrace"]),
           "stackTrace lacks the _check frame: %r" % doc["stackTrace"])
    expect(request_ids(r) == [doc["requestId"].encode()], "requestId differs from the START line")


def check_timeout(r):
    expect(r.returncode == 1, "exit status %d" % r.returncode)
    doc = json.loads(r.stdout)
    expect(doc["errorType"] == "Sandbox.Timedout", "errorType %r" % doc["errorType"])
    expect(doc["errorMessage"].endswith("Task timed out after 1.00 seconds"), "errorMessage %r" % doc["errorMessage"])


def check_wrapper_missing(r):
    expect(r.returncode == 1, "exit status %d" % r.returncode)
    doc = json.loads(r.stdout)
    expect(doc["errorType"] == "Runtime.ExitError", "errorType %r" % doc["errorType"])
    expect(doc["errorMessage"].endswith("Runtime exited with error: exit status 127"), "errorMessage %r" % doc["errorMessage"])
    expect(b"/opt/missing: does not exist" in r.stderr, "the bootstrap's message is missing from the log")


LAYER = os.path.join(HERE, "layer")
CASES = [
    # name, folder, handler, event, extra arguments, check
    ("dict", "handlers", "app.handler", '{"a":1}', [], check_dict),
    ("str", "handlers", "app.returns_str", "{}", [], exact(b'"hello from python3.11"')),
    ("bytes", "handlers", "app.returns_bytes", "{}", [], exact(b"raw \x00\x01 bytes \xff, not JSON")),
    ("unicode", "handlers", "app.returns_unicode", "{}", [], exact(b'{"text": "h\\u00e9llo \\u2603"}')),
    ("none", "handlers", "app.returns_none", "{}", [], exact(b"null")),
    ("exception", "handlers", "app.raises", '{"order":"A-17"}', [], check_raises),
    ("marshal-error", "handlers", "app.unserialisable", "{}", [], error("Runtime.MarshalError", "Unable to marshal response")),
    ("context", "handlers", "app.context_fields", "{}", [], check_context),
    ("environment", "handlers", "app.environment", "{}", [], check_environment),
    ("logs", "handlers", "app.logs", "{}", [], check_logs),
    ("layer", "handlers", "app.uses_layer", '{"name":"hearth"}', ["--layer", LAYER],
     exact(b'"hello hearth, from /opt/python/greeting_layer.py"')),
    ("exec-wrapper", "handlers", "app.exec_wrapper", "{}",
     ["--layer", os.path.join(HERE, "wrapper-layer"), "--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/wrapper"],
     exact(b'{"wrapped": "yes", "argv0": "/var/runtime/bootstrap.py"}')),
    ("exec-wrapper-missing", "handlers", "app.handler", "{}", ["--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/missing"],
     check_wrapper_missing),
    ("package-dotted", "handlers", "pkg.nested.handler", '{"n":2}', [], exact(b'{"module": "pkg.nested", "event": {"n": 2}}')),
    ("package-slash", "handlers", "pkg/nested.handler", '{"n":3}', [], exact(b'{"module": "pkg.nested", "event": {"n": 3}}')),
    ("import-error", "import-error", "app.handler", "{}", [],
     error("Runtime.ImportModuleError", "No module named 'module_that_is_not_installed'", request_id_empty=True)),
    ("handler-not-found", "handlers", "app.does_not_exist", "{}", [],
     error("Runtime.HandlerNotFound", "Handler 'does_not_exist' missing on module 'app'", request_id_empty=True)),
    ("malformed-handler", "handlers", "app", "{}", [], error("Runtime.MalformedHandlerName", "Bad handler 'app'", request_id_empty=True)),
    ("syntax-error", "syntax-error", "app.handler", "{}", [], error("Runtime.UserCodeSyntaxError", "Syntax error in module 'app'", request_id_empty=True)),
    ("init-exception", "init-exception", "app.handler", "{}", [], error("RuntimeError", "configuration missing: TABLE_NAME", request_id_empty=True)),
    ("timeout", "handlers", "app.sleeps", '{"seconds":5}', ["--timeout", "1"], check_timeout),
    ("warm-repeat", "handlers", "app.handler", '{"a":1}', ["--repeat", "3"], check_repeat),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hearth")
    parser.add_argument("--state-dir")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    failed = 0
    for name, folder, handler, event, extra, check in CASES:
        if args.only and name not in args.only:
            continue
        command = [args.hearth, "run", os.path.join(HERE, folder), "--runtime", "python3.11",
                   "--handler", handler, "--event", event] + extra
        if args.state_dir:
            command += ["--state-dir", args.state_dir]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        try:
            check(result)
            print("ok    %s" % name)
        except (Failure, ValueError, KeyError, TypeError) as e:
            failed += 1
            print("FAIL  %s: %s" % (name, e))
            print("      stderr: %s" % result.stderr.decode(errors="replace")[-2000:].replace("\n", "\n      "))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
