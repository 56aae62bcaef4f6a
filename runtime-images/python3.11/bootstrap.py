"""Starts awslambdaric the way Lambda's python3.11 runtime does.

Run as `/var/lang/bin/python3.11 /var/runtime/bootstrap.py` by /var/runtime/bootstrap, so
sys.path[0] is /var/runtime (where awslambdaric is installed). Before the handler module is
imported, sys.path is arranged as on Lambda:

    /var/task                                   LAMBDA_TASK_ROOT, the function code (and its .pth files)
    /opt/python/lib/python3.11/site-packages    layers, unless the function sets PYTHONPATH
    /opt/python
    /var/runtime                                the runtime interface client
    the standard library, then site-packages

and PYTHONPATH is set to LAMBDA_RUNTIME_DIR for processes the function starts, as Lambda
documents. awslambdaric itself is used unmodified: its `__main__.main([argv0, handler])`.

A pre-initialised runtime (ADR 0018): when fd 3 is a socket (the launch channel hearth-init
gives a pre-forked shell's runtime), this starts before the launch, inside the finished
sandbox, and imports awslambdaric (and the standard modules it imports) with sys.path as it
will be at the launch, then says so on fd 3 and waits there for the go. The function's code is
never run before the go: if any module awslambdaric imports would come from the function's
folders, or they hold .pth files, nothing is imported ahead (the import happens after the go,
as without a shell). After the go everything goes on exactly as above.
"""

import os
import site
import stat
import sys

# The launch channel of a pre-initialised runtime.
_LAUNCH_FD = 3


def _python_dir():
    return "python{}.{}".format(sys.version_info.major, sys.version_info.minor)


def _layer_dirs():
    return ["/opt/python/lib/{}/site-packages".format(_python_dir()), "/opt/python"]


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
    pythonpath_set = "PYTHONPATH" in os.environ

    front = [task_root] + ([] if pythonpath_set else _layer_dirs())
    sys.path[:0] = [p for p in front if p not in sys.path]

    if _launch_channel():
        _initialize_ahead(front, pythonpath_set, runtime_dir)
        _wait_for_launch()

    # .pth files in the function code (and layers) are honoured, as site-packages' are.
    for directory in front:
        if os.path.isdir(directory):
            site.addsitedir(directory)

    if not pythonpath_set:
        os.environ["PYTHONPATH"] = runtime_dir

    handler = os.environ.get("_HANDLER", "")
    from awslambdaric import __main__ as awslambdaric_main

    awslambdaric_main.main([sys.argv[0], handler])


def _launch_channel():
    """Whether fd 3 is the launch channel (a socket): this runtime starts ahead of its launch."""
    try:
        return stat.S_ISSOCK(os.fstat(_LAUNCH_FD).st_mode)
    except OSError:
        return False


class _FunctionCode(Exception):
    """A module imported ahead would come from the function's code."""


class _AheadGuard:
    """A meta-path finder, first while importing ahead: refuses any top-level module that the
    function's folders provide (a module or regular package there, found first at the launch
    too), so that none of the function's code runs before the launch."""

    def __init__(self, folders):
        self.folders = folders
        # The interpreter's own path finder (importing importlib.machinery here would recurse).
        self.path_finder = next(f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder")

    def find_spec(self, name, path=None, target=None):
        if path is None:
            spec = self.path_finder.find_spec(name, self.folders)
            if spec is not None and spec.origin is not None:
                raise _FunctionCode(name)
        return None


def _initialize_ahead(front, pythonpath_set, runtime_dir):
    """Imports awslambdaric as the launch would, unless that could run the function's code."""
    folders = [d for d in front if os.path.isdir(d)]
    for d in folders:
        try:
            if any(entry.endswith(".pth") for entry in os.listdir(d)):
                return
        except OSError:
            return
    # As at the launch (main sets it again, to the same value).
    if not pythonpath_set:
        os.environ["PYTHONPATH"] = runtime_dir
    guard = _AheadGuard(folders)
    sys.meta_path.insert(0, guard)
    try:
        from awslambdaric import __main__  # noqa: F401  (and everything it imports)
    except Exception:
        # _FunctionCode, or a failure the launch will meet and report the usual way: modules
        # that failed are not in sys.modules, so the launch imports them again.
        pass
    finally:
        sys.meta_path.remove(guard)


def _wait_for_launch():
    """Says "ready" on the launch channel and waits for the go; EOF (the shell was discarded)
    ends the process."""
    try:
        os.write(_LAUNCH_FD, b"r")
        go = os.read(_LAUNCH_FD, 1)
    except OSError:
        go = b""
    os.close(_LAUNCH_FD)
    if not go:
        os._exit(0)


if __name__ == "__main__":
    main()
