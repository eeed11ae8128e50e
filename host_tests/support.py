"""Helpers shared by the host tests (both runtimes).

- cpython_only: the one allowed reason to skip (tools/test.py refuses any other).
- long_run: a test that make test's coverage run leaves untraced.
- make_sim / run_trace: a simulator from a scenario dict, and its trace as a list.
- logged: the event-log records of one code.
- count_spi: the command byte of every SPI transfer a simulated chip sees from now on.
- ROOT: the repository, for tests that read files.
"""

import hostpath

import sys
import unittest

from boards.host.world.engine import Simulator
from boards.host.world.scenario import validate

MICROPYTHON = sys.implementation.name == "micropython"
ROOT = hostpath.ROOT
BUILD = hostpath.SCRATCH


ensure_build = hostpath.scratch


def cpython_only(why):
    """Mark a test (or class) that needs CPython: hypothesis, a real client library..."""
    return unittest.skipIf(MICROPYTHON, "CPython-only: " + why)


def long_run(obj):
    """Mark a test (or class) that runs a long simulation: under pytest-cov (make test's
    CPython half) it runs without the coverage tracer, which slows it three to four
    times (host_tests/conftest.py). Only a test whose every firmware line and branch a
    traced test reaches as well may carry it: make coverage traces every test and lists
    what only a long run reaches (tools/coverage_check.py --long-runs; goal: nothing)."""
    if not MICROPYTHON:  # (MicroPython functions take no attributes; pytest never runs there)
        obj.long_run = True
    return obj


def scenario(**keys):
    """A validated scenario dict; `inverter` defaults to none (forced bench current)."""
    keys.setdefault("inverter", "none")
    return validate(keys)


def make_sim(seed=1, start_ticks=0, **keys):
    return Simulator(scenario(**keys), seed=seed, start_ticks=start_ticks)


def press_unlock(sim, pack):
    """The service link's unlock at the pack: two short RESET presses (bms/button.py)."""
    for _ in range(2):
        pack.press_button(True)
        sim.run(sim.t_ms + 200)
        pack.press_button(False)
        sim.run(sim.t_ms + 200)


def unlocked_sim(**keys):
    """A simulator 3 s after power-on with pack 1 unlocked for the service link; returns
    (sim, pack 1)."""
    sim = make_sim(**keys)
    sim.run(3000)
    pack = sim.packs[0]
    press_unlock(sim, pack)
    return sim, pack


def run_trace(sim, seconds, trace_ms=None):
    """Run sim for `seconds` more and return the trace records written meanwhile."""
    records = []
    sim.set_trace(records.extend, trace_ms)
    sim.run(sim.t_ms + int(seconds * 1000))
    return records


def logged(log, code, what=None):
    """The event-log records with this code (and `what`), oldest first."""
    out = []
    for seq in range(log.oldest_seq(), log.next_seq):
        r = log.get(seq)
        if r[2] == code and (what is None or r[3] == what):
            out.append(r)
    return out


def heap_locked(fn):
    """fn(now), called with MicroPython's heap locked: an allocation in it is a
    MemoryError (which the app's safety net counts). Under CPython heap_lock is a
    stand-in. (One argument: a *args call would allocate its tuple.)"""
    import micropython

    def locked(now):
        micropython.heap_lock()
        try:
            return fn(now)
        finally:
            micropython.heap_unlock()

    return locked


def listdir_py(folder):
    """Every .py file under ROOT/folder, recursively, as paths relative to ROOT."""
    import os

    out = []
    stack = [folder]
    while stack:
        d = stack.pop()
        for name in sorted(os.listdir(ROOT + "/" + d)):
            path = d + "/" + name
            if name.endswith(".py"):
                out.append(path)
            elif "." not in name and name != "__pycache__":
                try:
                    os.listdir(ROOT + "/" + path)
                except OSError:
                    continue
                stack.append(path)
    return out


def read(path):
    with open(ROOT + "/" + path) as f:
        return f.read()


def count_spi(chip):
    """Record the first (command) byte of every SPI transfer to the simulated chip; returns
    the list it fills."""
    calls = []
    real = chip.spi_transfer

    def counted(wbuf, rbuf):
        calls.append(wbuf[0])
        real(wbuf, rbuf)

    chip.spi_transfer = counted
    return calls
