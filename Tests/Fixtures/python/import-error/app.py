"""Fails at import: a dependency that is not in the function code (Runtime.ImportModuleError)."""

import module_that_is_not_installed  # noqa: F401


def handler(event, context):
    return "never reached"
