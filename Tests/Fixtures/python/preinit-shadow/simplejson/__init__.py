"""The function's own `simplejson`: loads the runtime's copy under its name (so awslambdaric
works) and records how long the process had existed when this was imported (its code ran)."""

import importlib.util
import os
import sys

with open("/proc/self/stat") as _f:
    _start_ticks = int(_f.read().rsplit(")", 1)[1].split()[19])
with open("/proc/uptime") as _f:
    _age = float(_f.read().split()[0]) - _start_ticks / os.sysconf("SC_CLK_TCK")

_real = "/var/runtime/simplejson"
_spec = importlib.util.spec_from_file_location("simplejson", _real + "/__init__.py", submodule_search_locations=[_real])
_module = importlib.util.module_from_spec(_spec)
sys.modules["simplejson"] = _module
_spec.loader.exec_module(_module)
_module.HEARTH_SHADOW_AGE = _age
