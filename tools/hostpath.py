"""Puts the repository's code on sys.path for host programs, under CPython and MicroPython.

Import it first from any program in tools/: afterwards `bms`, `drivers`, `protocols` and
`app` (from firmware/), the host board `boards.host` and its simulated world
`boards.host.world` import the same way on both runtimes.

Under MicroPython, `--mpy DIR` on the program's command line puts DIR ahead of firmware/:
the firmware from .mpy files compiled from it (`make mpy` builds build/mpy/host), as a
board loads it, without the unix port compiling again each module that bms/lazy.py
imports and drops at every use. A DIR that is not firmware/ as it is (stale_mpy()) is
refused, naming what differs, with exit status 2.
"""

import os
import sys

MICROPYTHON = sys.implementation.name == "micropython"


def _parent(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


def absolute(path):
    if path.startswith("/"):
        return path
    return os.getcwd() + "/" + path


TOOLS = _parent(absolute(__file__))
ROOT = _parent(TOOLS)
FIRMWARE = ROOT + "/firmware"
TESTS = ROOT + "/host_tests"
# scratch files, a folder per runtime: make test runs both suites at once
SCRATCH = ROOT + "/build/" + sys.implementation.name


def scratch():
    """SCRATCH, made if it is not there yet."""
    for path in (ROOT + "/build", SCRATCH):
        try:
            os.mkdir(path)
        except OSError:
            pass
    return SCRATCH


def _stat(path, field):
    try:
        return os.stat(path)[field]
    except OSError:
        return None


def _listing(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _isdir(path):
    return (_stat(path, 0) or 0) & 0x4000 != 0


def stale_mpy(mpy_dir, src_dir):
    """What keeps the .mpy files in mpy_dir from being src_dir as it is: a source without
    its .mpy, an .mpy without its source (a file removed), an .mpy older than its source
    (by modification time: whole seconds under MicroPython), a source in mpy_dir (it
    would be imported before its .mpy)."""
    found = []
    for name in sorted(set(_listing(src_dir)) | set(_listing(mpy_dir))):
        src, mpy = src_dir + "/" + name, mpy_dir + "/" + name
        if name.endswith(".py"):
            if _stat(mpy, 0) is not None:
                found.append("%s is a source among the .mpy files" % mpy)
            written = _stat(src, 8)
            built = _stat(mpy[:-3] + ".mpy", 8)
            if written is None:
                continue  # (the .mpy, if any, is reported under its own name)
            if built is None:
                found.append("%s is not compiled" % src)
            elif built < written:
                found.append("%s is older than its source" % (mpy[:-3] + ".mpy"))
        elif name.endswith(".mpy"):
            if _stat(src[:-4] + ".py", 0) is None:
                found.append("%s has no source" % mpy)
        elif name != "__pycache__" and (_isdir(src) or _isdir(mpy)):
            found.extend(stale_mpy(mpy, src))
    return found


_extra = [ROOT, FIRMWARE]
if MICROPYTHON and "--mpy" in sys.argv[:-1]:
    _mpy = absolute(sys.argv[sys.argv.index("--mpy") + 1])
    _stale = stale_mpy(_mpy, FIRMWARE)
    if _stale:
        print("--mpy %s is not firmware/ as it is (make mpy compiles it):" % _mpy)
        for _line in _stale[:10]:
            print("  " + _line)
        sys.exit(2)
    _extra.insert(0, _mpy)
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
