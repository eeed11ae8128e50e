"""Where the simulator's time goes: the firmware's own work against the simulated world's,
per firmware tick, under CPython or MicroPython (issue 15's profile; bench/profile.md).

    python tools/sim_split.py [--duration S] [--inverter can|rs485|none] [--scenario FILE]
                              [--trace-ms MS]
    micropython tools/sim_split.py ...   (the same, under MicroPython)

It runs tools/sim.py's fast path (one pack, LED beats sampled by the trace only) with a
timer around the firmware's poll, the calls it makes into the simulated board (I2C, SPI
and pins: the chips behind them are the world's), and the engine's world steps (the
BQ76952's register refresh, the CAN bus with its nodes, the pack model), and prints each
in microseconds per tick. The firmware's own share is its poll less its calls into the
world. Each timer's own cost (measured first) is taken off where it was counted. Time
is the process's CPU time under CPython, wall time under MicroPython (it has no CPU
clock): there, run it on an idle machine.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import sys
import time

import app as app_mod
from boards.host import machine
from boards.host.world import pack_model
from boards.host.world.bus import canbus
from boards.host.world.chips import bq76952
from boards.host.world.engine import Simulator
from boards.host.world.scenario import load, validate

USAGE = (
    "usage: tools/sim_split.py [--duration S] [--inverter can|rs485|none] [--scenario FILE]"
    " [--trace-ms MS]"
)

if hasattr(time, "process_time_ns"):
    _now = time.process_time_ns
    _NS = 1000  # units per us

    def _since(t0):
        return time.process_time_ns() - t0

else:
    _now = time.ticks_us
    _NS = 1

    def _since(t0):
        return time.ticks_diff(time.ticks_us(), t0)  # (ticks_us wraps)


# (label, class, method, called by the firmware)
TIMED = (
    ("poll", app_mod.App, "poll", False),
    ("i2c", machine.I2C, "readfrom_mem_into", True),
    ("i2c_w", machine.I2C, "writeto_mem", True),
    ("spi", machine.SPI, "write_readinto", True),
    ("pin", machine.Pin, "value", True),
    ("refresh", bq76952.BQ76952Sim, "refresh", False),
    ("bus", canbus.CanBus, "run_until", False),
    ("model", pack_model.PackModel, "advance", False),
)


class Timers:
    def __init__(self):
        self.spent = {}
        self.calls = {}

    def wrap(self, cls, name, label):
        f = getattr(cls, name)
        spent = self.spent
        calls = self.calls
        spent[label] = 0
        calls[label] = 0

        def timed(*args):
            t0 = _now()
            r = f(*args)
            spent[label] += _since(t0)
            calls[label] += 1
            return r

        setattr(cls, name, timed)
        return f


class _Probe:
    def m(self):
        return 0


def _loop(n):
    p = _Probe()
    t0 = _now()
    for _ in range(n):
        p.m()
    return _since(t0)


def _overhead(timers):
    """One timer's own cost (units of _now()): an empty method's call with the timer
    less the same without, the quickest of five runs of each (under MicroPython the clock
    is the wall's, and a run the machine interrupted would count its pause as the
    timer's cost, then take it off every call)."""
    n = 4000
    bare = min(_loop(n) for _ in range(5))
    f = timers.wrap(_Probe, "m", "_probe")
    timed = min(_loop(n) for _ in range(5))
    _Probe.m = f
    del timers.spent["_probe"]
    del timers.calls["_probe"]
    return max(0, timed - bare) / n


def parse(argv):
    opts = {"--duration": 1800, "--inverter": "can", "--scenario": None, "--trace-ms": None}
    i = 0
    while i < len(argv):
        key = argv[i]
        if key not in opts or i + 1 >= len(argv):
            raise SystemExit(USAGE)
        value = argv[i + 1]
        opts[key] = value if key in ("--inverter", "--scenario") else int(value)
        i += 2
    return opts


def measure(opts):
    """{part: us per tick} and the tick count for one run as `opts` say."""
    timers = Timers()
    cost = _overhead(timers)
    originals = []
    for label, cls, name, _fw in TIMED:
        originals.append((cls, name, timers.wrap(cls, name, label)))
    try:
        if opts["--scenario"]:
            scenario = load(opts["--scenario"])
        else:
            scenario = validate({})
            scenario["inverter"] = opts["--inverter"]
        sim = Simulator(scenario)
        sim.every_led_beat = False
        if opts["--trace-ms"]:
            import json

            def trace(records):
                for r in records:
                    json.dumps(r)

            sim.set_trace(trace, opts["--trace-ms"])
        t0 = _now()
        sim.run(opts["--duration"] * 1000)
        total = _since(t0)
    finally:
        for cls, name, f in originals:
            setattr(cls, name, f)
    spent = timers.spent
    calls = timers.calls
    ticks = sim.packs[0].app.ticks if sim.packs[0].app is not None else 1
    # the timers' own cost: those of the firmware's calls into the world were counted in
    # its poll, the others in the rest
    inner = 0
    inner_calls = 0
    top_calls = 0
    for label, _cls, _name, fw in TIMED:
        if fw:
            inner += spent[label]
            inner_calls += calls[label]
        else:
            top_calls += calls[label]
    world_steps = spent["refresh"] + spent["bus"] + spent["model"]
    parts = (
        ("firmware (its own work)", spent["poll"] - inner - inner_calls * cost),
        ("I2C + BQ76952 reads and writes", spent["i2c"] + spent["i2c_w"]),
        ("SPI + MCP2515 transfers", spent["spi"]),
        ("pins (chip selects, LEDs, FETs, inputs)", spent["pin"]),
        ("BQ76952 register refresh", spent["refresh"]),
        ("CAN bus (frames, nodes, inverter)", spent["bus"]),
        ("pack model", spent["model"]),
        (
            "engine, inverter, trace, the rest",
            total - spent["poll"] - world_steps - top_calls * cost,
        ),
    )
    total -= (inner_calls + top_calls) * cost
    out = []
    for k, v in parts:
        out.append((k, v / _NS / ticks))
    return out, ticks, total / _NS / ticks


def main(argv):
    opts = parse(argv)
    parts, ticks, per_tick = measure(opts)
    print(
        "%s, %d ticks: %.1f us per tick (%s)"
        % (sys.implementation.name, ticks, per_tick, "CPU" if _NS == 1000 else "wall")
    )
    for k, v in parts:
        print("  %-42s %7.1f us %5.1f %%" % (k, v, 100 * v / per_tick))
    print("sim_split: printed above, nothing written")


if __name__ == "__main__":
    if sys.implementation.name == "cpython":
        from boards.host import twins

        twins.install()  # as tools/sim.py runs
    main(sys.argv[1:])
