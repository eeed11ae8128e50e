"""Keep the compiled code of every source module a simulation imports, for CPython.

The firmware imports its rare modules when it needs them and drops them after
(bms/lazy.py), so that their code leaves a board's heap; every pack's boot does so again.
CPython then compiles the source anew at each import when it writes no bytecode cache
(PYTHONDONTWRITEBYTECODE, a read-only checkout): 32 packs booting compiled ~1 500 modules,
a fifth of a 32-pack run's first minute. install() keeps each compiled module in memory,
keyed by its path and its source (an edited file compiles again), so a re-import only runs
the module's body, as a board's import of a frozen module does. Nothing else changes:
the module is executed afresh each time, with its own globals.

tools/sim.py installs it under CPython; MicroPython has no importlib (and its own
imports compile the source each time, as a board without frozen modules does).
"""

import importlib.machinery

_cache = {}
_original = None


def _source_to_code(self, data, path, *args, **kwargs):
    key = (path, bytes(data))
    code = _cache.get(key)
    if code is None:
        code = _cache[key] = _original(self, data, path, *args, **kwargs)
    return code


def install():
    """Cache the code of every source module imported from now on (idempotent)."""
    global _original
    if _original is None:
        _original = importlib.machinery.SourceFileLoader.source_to_code
        importlib.machinery.SourceFileLoader.source_to_code = _source_to_code


def uninstall():
    global _original
    if _original is not None:
        importlib.machinery.SourceFileLoader.source_to_code = _original
        _original = None
    _cache.clear()
