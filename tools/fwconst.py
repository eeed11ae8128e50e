"""A firmware module's constants, its private ones included, read from its source.

A public constant (`NAME = const(1)`) costs a board a global and an interned name that
are never freed (about 25 B on an RP2040); a private one (`_NAME = const(1)`) costs
nothing, as the compiler puts its value in the code. A constant that no other firmware
module reads is private, and the host's tests and tools read it here, by its name
without the underscore:

    core = fwconst.of("bms.core")
    core.FAULT, core.COVP_BIT

Each `NAME = const(expression)` line of firmware/<module>.py, in order; the expression
may use the constants above it. Runs under CPython and MicroPython.
"""

import hostpath


class Consts:
    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        raise AttributeError("%s has no constant %s" % (self.module, name))


def _expression(line):
    """The text inside const(...) on a `NAME = const(...)` line, or None."""
    at = line.find("= const(")
    if at < 0:
        return None
    start = at + len("= const(")
    depth = 1
    for i in range(start, len(line)):
        c = line[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return line[start:i]
    return None


_read = {}  # module -> its Consts: each source read once


def of(module):
    """The constants of the firmware module `module` ("bms.core") as attributes."""
    if module in _read:
        return _read[module]
    with open(hostpath.FIRMWARE + "/" + module.replace(".", "/") + ".py") as f:
        lines = f.read().split("\n")
    out = Consts(module)
    scope = {}
    for line in lines:
        if not line[:1].isupper() and not (line[:1] == "_" and line[1:2].isupper()):
            continue
        name = line.split("=", 1)[0].strip()
        expression = _expression(line)
        if expression is None or " " in name:
            continue
        try:
            value = eval(expression, scope)
        except Exception:  # noqa: BLE001 - a name from another module: not one of its own
            continue
        scope[name] = value
        setattr(out, name.lstrip("_"), value)
    _read[module] = out
    return out
