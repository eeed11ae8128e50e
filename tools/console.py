"""The simulator's live view of a real pack, from a board's USB console status lines.

    .venv/bin/python tools/console.py PORT        # /dev/ttyACM0, COM3...: the board's USB
    .venv/bin/python tools/console.py --file LOG  # a saved console log, drawn once per line

The board prints `BMS ...` and `EV ...` lines (firmware/statusline.py) once a second when
its config has console_status_ms 1000. Each status line becomes the state the simulator's
view draws (tools/live_view.py), so a bench tester sees the real pack the way `make sim`
shows a simulated one; events are named as the trace names them. Other console output
(tracebacks, the REPL) is printed above the view. Ctrl-C stops.
"""

import hostpath  # noqa: F401

import sys

from bms import protections as pt
from boards.host.world.engine import MODES, event_text

N_CELLS = 16


def parse_status(text):
    """A `BMS ...` line as the dict Simulator.state() gives (None: not a status line, or
    one cut short or garbled: a watchdog reset mid-line, then the ROM's banner, crashed
    the live view)."""
    try:
        return _status(text)
    except (KeyError, ValueError, IndexError):
        return None


def _status(text):
    words = text.split()
    if not words or words[0] != "BMS":
        return None
    v = {}
    for w in words[1:]:
        key, _eq, value = w.partition("=")
        v[key] = value
    cells = [int(x) for x in v["c"].split(",")]
    temps = [int(x) for x in v["T"].split(",")]
    fets, relays, names, locked = v["F"], v["R"], int(v["N"]), int(v["K"])
    leds = int(v["L"])
    cvl, ccl, dcl = (int(x) for x in v["lim"].split(","))
    protections = []
    warnings = []
    for n in range(1, len(pt.NAMES)):
        if names & (1 << n):
            if n < pt.FIRST_WARNING:
                protections.append(pt.NAMES[n] + (":LOCKED" if locked & (1 << n) else ""))
            else:
                warnings.append(pt.NAMES[n])
    if v["S"] == "1":
        protections.append("RSD")
    bleed = int(v["B"])
    return {
        "t_ms": int(v["t"]),
        "pack": 1,
        "role": "master",
        "true_soc_pct": "-",  # a real pack has no model behind it
        "fets": {
            "charge": fets[0] == "1",
            "discharge": fets[1] == "1",
            "precharge": fets[2] == "1",
        },
        "cells_mv": cells,
        "pack_mv": int(v["v"]),
        "current_ma": int(v["i"]),
        "valid": v["ok"] == "1",
        "temps_dc": {"cells": temps[:4], "ambient": temps[4], "mos": temps[5]},
        "soc_pct": int(v["soc"]) / 100,
        "mode": MODES[int(v["m"])],
        "relays": {"charge": relays[0] == "1", "discharge": relays[1] == "1"},
        "leds": {
            "run": leds & 1,
            "alm": leds >> 1 & 1,
            "soc": [leds >> k & 1 for k in range(2, 6)],
            "ms": leds >> 6 & 1,
        },
        "protections": protections,
        "warnings": warnings,
        "balancing": [k + 1 for k in range(N_CELLS) if bleed & (1 << k)],
        "limits": {"cvl_mv": cvl, "ccl_ma": ccl, "dcl_ma": dcl},
    }


def parse_event(text):
    """An `EV ...` line as the event-log record tuple (None: not an event line)."""
    words = text.split()
    if len(words) != 7 or words[0] != "EV":
        return None
    try:
        return tuple(int(w) for w in words[1:])
    except ValueError:
        return None


class _NoSim:
    """What LiveView reads besides the state: a pack without firmware on this host."""

    class _Pack:
        app = None

    packs = [_Pack()]


class Console:
    """Feeds lines to the live view; keeps the last 8 events."""

    def __init__(self, view=None):
        from live_view import LiveView

        self.view = view or LiveView(_NoSim())
        self.state = None

    def feed(self, text):
        """One console line; returns what to print above the view (None: nothing)."""
        text = text.strip()
        st = parse_status(text)
        if st is not None:
            self.state = st
            return None
        rec = parse_event(text)
        if rec is not None:
            self.view.events.append(event_text(rec))
            del self.view.events[:-8]
            return None
        return text or None

    def render(self):
        return self.view.render(self.state) if self.state is not None else None


def lines_from_serial(port):
    import serial

    with serial.Serial(port, 115200, timeout=1) as s:
        while True:
            raw = s.readline()
            if raw:
                yield raw.decode("utf-8", "replace")


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    source = open(argv[1]) if argv[0] == "--file" else lines_from_serial(argv[0])
    con = Console()
    from rich.live import Live

    try:
        with Live(refresh_per_second=4, screen=False) as live:
            for text in source:
                other = con.feed(text)
                if other is not None:
                    live.console.print(other)
                shown = con.render()
                if shown is not None:
                    live.update(shown)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
