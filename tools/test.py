"""Runs host_tests/ under the runtime that runs this file (CPython or MicroPython).

    python tools/test.py [-v] [-k TEXT] [MODULE ...]
    micropython tools/test.py [-v] [-k TEXT] [--mpy DIR] [MODULE ...]

Discovers host_tests/test_*.py, runs every TestCase, prints the slowest modules and a
closing line `N passed, N failed, N skipped (runtime)`, and exits 1 on any failure.
The only skips allowed are CPython-only tests under MicroPython (host_tests/support.py
marks them); any other skip counts as a failure, so nothing is quietly left out.

--mpy DIR runs the firmware from .mpy files compiled from firmware/ into DIR (`make mpy`
builds build/mpy/host for the unix port), as a board loads it (tools/hostpath.py). That
is also 2.5 times faster under MicroPython: the modules a board loads for a moment and
drops (bms/lazy.py) are compiled from source at every use otherwise.
"""

import hostpath

import os
import sys
import time
import unittest

CPYTHON_ONLY = "CPython-only"


def _clock_ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _modules(names):
    found = sorted(
        f[:-3] for f in os.listdir(hostpath.TESTS) if f.startswith("test_") and f.endswith(".py")
    )
    if not names:
        return found
    missing = [n for n in names if n not in found]
    if missing:
        print("no such test module: %s" % ", ".join(missing))
        sys.exit(2)
    return names


def _filter(suite, text):
    if not text:
        return suite
    return unittest.TestSuite(t for t in suite if text in t.id())


def _flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flatten(test)
        else:
            yield test


def main(argv):
    verbosity, pattern, names = 1, None, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-v":
            verbosity = 2
        elif arg == "-k" and i + 1 < len(argv):
            i += 1
            pattern = argv[i]
        elif arg == "--mpy" and i + 1 < len(argv):
            i += 1  # (hostpath put the folder on the path, checked, at the import)
            if sys.implementation.name != "micropython":
                print("--mpy: .mpy files are MicroPython's (CPython runs firmware/)")
                sys.exit(2)
        else:
            names.append(arg[:-3] if arg.endswith(".py") else arg.rsplit("/", 1)[-1])
        i += 1
    sys.path.insert(0, hostpath.TESTS)
    runtime = sys.implementation.name
    if runtime == "micropython":
        result = unittest.TestResult(sys.stdout, verbosity)
    else:
        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity)._makeResult()
    failed = 0
    timings = []
    for name in _modules(names):
        start = _clock_ms()
        try:
            module = __import__(name)
        except Exception as exc:  # noqa: BLE001 - an unimportable module is a failure, not a crash
            print("\nERROR importing %s: %r" % (name, exc))
            if runtime == "micropython":
                sys.print_exception(exc)
            else:
                import traceback

                traceback.print_exc()
            failed += 1
            continue
        tests = _flatten(unittest.defaultTestLoader.loadTestsFromModule(module))
        _filter(unittest.TestSuite(tests), pattern).run(result)
        timings.append((_clock_ms() - start, name))
    result.printErrors()
    timings.sort()
    bad_skips = []
    for test, reason in result.skipped:
        if runtime != "micropython" or not str(reason).startswith(CPYTHON_ONLY):
            bad_skips.append("%s: %s" % (test, reason))
    failed += len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - len(result.failures) - len(result.errors) - skipped
    print(
        "\nslowest modules: "
        + ", ".join("%s %.1f s" % (n, ms / 1000) for ms, n in timings[-5:][::-1])
    )
    for line in bad_skips:
        print("NOT ALLOWED TO SKIP: " + line)
    failed += len(bad_skips)
    if pattern and not result.testsRun:  # a typo in -k is not a pass
        print("no test matches -k %s" % pattern)
        failed += 1
    print("%d passed, %d failed, %d skipped (%s)" % (passed, failed, skipped, runtime))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
