"""How this instance started (ADR 0018, pre-initialised Python runtimes): returns what a test
checks from outside. `age_at_import` is how long the process had existed when awslambdaric
imported this module (its start is hearth-init's vfork, from /proc/self/stat): from a
pre-initialised shell that is the time the shell waited for its launch, without one a
fraction of a second. With PREINIT_EXEC_PROBE set, the module execs the hostile-suite probe
(/var/task/probe, copied here by the test) in its place, so that the probe runs in the sandbox
the pre-initialised interpreter ran in, as the function."""

import os
import sys


def _fd_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


FD3_OPEN_AT_IMPORT = _fd_open(3)


def _age_seconds():
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


AGE_AT_IMPORT = _age_seconds()
ENV_AT_IMPORT = dict(os.environ)

if os.environ.get("PREINIT_EXEC_PROBE"):
    os.execv("/var/task/probe", ["/var/task/probe"])


def handler(event, context):
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                status[key] = value.split()
    with open("/proc/self/cmdline", "rb") as f:
        cmdline = [part.decode() for part in f.read().split(b"\0") if part]
    env = dict(ENV_AT_IMPORT)
    # awslambdaric sets the invocation's trace id before each call; not part of the start.
    env.pop("_X_AMZN_TRACE_ID", None)
    return {
        "age_at_import": AGE_AT_IMPORT,
        "fd3_open_at_import": FD3_OPEN_AT_IMPORT,
        "env": env,
        "status": status,
        "pid": os.getpid(),
        "cmdline": cmdline,
        "argv": sys.argv,
        "sys_path": sys.path,
        "visible_pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    }
