"""A function that ships its own `simplejson`, which awslambdaric imports too: as on Lambda
(/var/task is first on sys.path) awslambdaric gets the function's copy, so a pre-initialised
runtime must not import it ahead of the launch (ADR 0018). Reports when it was imported."""

import simplejson


def handler(event, context):
    return {"shadow_age": getattr(simplejson, "HEARTH_SHADOW_AGE", None), "file": simplejson.__file__}
