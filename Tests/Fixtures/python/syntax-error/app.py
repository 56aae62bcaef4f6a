"""Does not parse (Runtime.UserCodeSyntaxError)."""


def handler(event, context)
    return "never reached"
