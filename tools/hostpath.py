"""Puts the repository's code on sys.path for host programs, under CPython and MicroPython.

Import it first from any program in tools/: afterwards `bms`, `drivers`, `protocols` and
`app` (from firmware/), the host board `boards.host` and its simulated world
`boards.host.world` import the same way on both runtimes.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"


def _parent(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


def absolute(path):
    if path.startswith("/"):
        return path
    import os

    return os.getcwd() + "/" + path


TOOLS = _parent(absolute(__file__))
ROOT = _parent(TOOLS)
FIRMWARE = ROOT + "/firmware"
TESTS = ROOT + "/host_tests"

_extra = [ROOT, FIRMWARE]
# Each runtime gets what the other has built in: MicroPython our unittest, CPython the
# `micropython` module (const and friends).
_extra.append(TOOLS + "/upy" if MICROPYTHON else ROOT + "/boards/host/cpython")
for _p in reversed(_extra):
    if _p not in sys.path:
        sys.path.insert(0, _p)

if MICROPYTHON:
    import gc

    # The unix port's allocator searches ever longer as a large heap (the tests use
    # -X heapsize=64M) fills with garbage between collections: collect every 1 MB
    # allocated instead, which keeps long simulations at a constant speed.
    gc.threshold(1 << 20)
else:
    # Boot-only firmware modules are imported and dropped again at each use (bms/lazy.py),
    # as on a board: without cached bytecode CPython compiles them every time (a tenth of
    # a second a boot, most of a fuzzed store load). PYTHONDONTWRITEBYTECODE, set on some
    # machines, is overridden for the programs in tools/, the cache kept under build/.
    sys.pycache_prefix = ROOT + "/build/pycache"
    sys.dont_write_bytecode = False
