"""A module shipped in a Lambda layer (`--layer Tests/Fixtures/python/layer`): /opt/python is on sys.path."""


def greet(name):
    return "hello %s, from %s" % (name, __file__)
