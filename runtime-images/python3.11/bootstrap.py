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
"""

import os
import site
import sys


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

    # .pth files in the function code (and layers) are honoured, as site-packages' are.
    for directory in front:
        if os.path.isdir(directory):
            site.addsitedir(directory)

    if not pythonpath_set:
        os.environ["PYTHONPATH"] = runtime_dir

    handler = os.environ.get("_HANDLER", "")
    from awslambdaric import __main__ as awslambdaric_main

    awslambdaric_main.main([sys.argv[0], handler])


if __name__ == "__main__":
    main()
