"""The simulator's live terminal view (CPython, rich): what a bench engineer looks at.

The 16 cells as bars with their mV, pack voltage, current and temperatures, SOC, mode,
FETs, dry contacts, the front panel's LEDs drawn in the product's order, active
protections and warnings, and the last events. With several packs, the system above it:
one line per pack (role, address, mode, SOC, voltage, current, cells, FETs, M/S LED,
alarms) and the master's system values (its limits to the inverter, the bus), with the
details below for the master (pack 1 until a firmware reports its role). Everything
shown comes from Simulator.state(), the same data the trace writes.
"""

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from boards.host.world.engine import event_text

BAR_LO_MV = 2500
BAR_HI_MV = 3700
BAR_WIDTH = 18


def _bar(mv, lo_warn, hi_warn, bleeding):
    frac = (mv - BAR_LO_MV) / (BAR_HI_MV - BAR_LO_MV)
    n = max(0, min(BAR_WIDTH, int(frac * BAR_WIDTH + 0.5)))
    style = "green"
    if mv >= hi_warn or mv <= lo_warn:
        style = "bold red"
    elif bleeding:
        style = "cyan"
    return Text("█" * n + "░" * (BAR_WIDTH - n), style=style)


def _lamp(on, colour):
    return Text("●" if on else "○", style=colour if on else "grey35")


def _onoff(flag):
    if flag is None:
        return Text("-", style="grey50")
    return Text("ON ", style="bold green") if flag else Text("off", style="grey50")


class LiveView:
    def __init__(self, sim, pack=1):
        self.sim = sim
        self.pack = sim.packs[pack - 1]
        self.events = []
        self._seen = 0
        self._live = Live(Text("starting..."), refresh_per_second=10, screen=False)

    def __enter__(self):
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        return self._live.__exit__(*exc)

    def _collect_events(self):
        app = self.pack.app
        if app is None:
            self._seen = 0
            return
        log = app.events
        seq = max(self._seen, log.oldest_seq())
        while seq < log.next_seq:
            r = log.get(seq)
            if r[2]:  # not a number a boot skipped (events.SKIPPED)
                self.events.append(event_text(r))
            seq += 1
        self._seen = seq
        del self.events[:-8]

    def update(self, sim):
        if len(sim.packs) > 1:
            states = [sim.state(p) for p in sim.packs]
            master = _master(states)
            if master is not None and sim.packs[master["pack"] - 1] is not self.pack:
                self.pack = sim.packs[master["pack"] - 1]  # follow the master's details
                self.events = []
                self._seen = 0
            self._collect_events()
            detail = self.render(sim.state(self.pack))
            self._live.update(Group(system_view(sim, states), detail))
            return
        self._collect_events()
        self._live.update(self.render(sim.state(self.pack)))

    def render(self, st):
        cfg = self.pack.app.cfg if self.pack.app is not None else None
        lo_warn = cfg.cuvp_warn_mv if cfg else 0
        hi_warn = cfg.covp_warn_mv if cfg else 99999
        t_s = st["t_ms"] // 1000
        head = Text(
            "t %02d:%02d:%02d   pack %d (%s)   mode %s   SOC %s %%   true %s %%"
            % (
                t_s // 3600,
                t_s // 60 % 60,
                t_s % 60,
                st["pack"],
                st["role"],
                st["mode"] or "-",
                "-" if st["soc_pct"] is None else "%.1f" % st["soc_pct"],
                st["true_soc_pct"],
            ),
            style="bold",
        )
        cells = Table.grid(padding=(0, 1))
        balancing = st["balancing"] or []
        if st["cells_mv"]:
            for i, mv in enumerate(st["cells_mv"]):
                cells.add_row(
                    "C%02d" % (i + 1),
                    _bar(mv, lo_warn, hi_warn, (i + 1) in balancing),
                    "%4d mV" % mv,
                )
        else:
            cells.add_row(Text("BMS off", style="grey50"))
        pack = Table.grid(padding=(0, 1))
        if st["pack_mv"] is not None:
            t = st["temps_dc"]
            pack.add_row("voltage", "%.2f V" % (st["pack_mv"] / 1000))
            pack.add_row("current", "%+.1f A" % (st["current_ma"] / 1000))
            pack.add_row("cells T", " ".join("%.1f" % (v / 10) for v in t["cells"]) + " C")
            pack.add_row("ambient", "%.1f C" % (t["ambient"] / 10))
            pack.add_row("MOS", "%.1f C" % (t["mos"] / 10))
        fets = st["fets"]
        pack.add_row(
            "FETs",
            Text.assemble(
                "CHG ",
                _onoff(fets["charge"]),
                " DSG ",
                _onoff(fets["discharge"]),
                " PRE ",
                _onoff(fets["precharge"]),
            ),
        )
        relays = st["relays"]
        pack.add_row(
            "dry contact",
            Text.assemble(
                "1 charge ", _onoff(relays["charge"]), " 2 discharge ", _onoff(relays["discharge"])
            ),
        )
        if st["limits"]:
            lim = st["limits"]
            pack.add_row(
                "limits",
                "CVL %.1f V  CCL %.0f A  DCL %.0f A"
                % (lim["cvl_mv"] / 1000, lim["ccl_ma"] / 1000, lim["dcl_ma"] / 1000),
            )
        leds = st["leds"]
        soc = leds["soc"]
        front = Text.assemble(
            "RUN ",
            _lamp(leds["run"], "green"),
            "   ALM ",
            _lamp(leds["alm"], "red"),
            "   SOC ",
            _lamp(soc[0], "green"),
            _lamp(soc[1], "green"),
            _lamp(soc[2], "green"),
            _lamp(soc[3], "green"),
            "   M/S ",
            _lamp(leds["ms"], "green"),
        )
        alarms = Text()
        for name in st["protections"] or []:
            alarms.append(name + " ", style="bold red")
        for name in st["warnings"] or []:
            alarms.append(name + " ", style="yellow")
        if not alarms.plain:
            alarms = Text("none", style="grey50")
        events = Text("\n".join(self.events) if self.events else "none", style="grey70")
        body = Table.grid(padding=(0, 3))
        body.add_row(
            Panel(cells, title="cells"),
            Group(
                Panel(pack, title="pack"),
                Panel(front, title="front panel"),
                Panel(alarms, title="protections / warnings"),
            ),
        )
        return Group(head, body, Panel(events, title="events"))


def _master(states):
    for st in states:
        if st["role"] == "master":
            return st
    return None


def _amps(ma):
    return "-" if ma is None else "%+.1f" % (ma / 1000)


def system_view(sim, states):
    """The system of parallel packs: one line per pack, then the master's system values."""
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for name in ("pack", "role", "addr", "mode", "SOC %", "V", "A", "cells mV", "FETs", "M/S"):
        table.add_column(name, justify="right" if name in ("V", "A", "SOC %") else "left")
    table.add_column("alarms")
    for st in states:
        fets = st["fets"]
        alarms = " ".join((st["protections"] or []) + (st["warnings"] or []))
        cells = st["cells_mv"]
        table.add_row(
            str(st["pack"]),
            st["role"] or "-",
            "-" if st.get("address") is None else str(st["address"]),
            st["mode"],
            "-" if st["soc_pct"] is None else "%.1f" % st["soc_pct"],
            "-" if st["pack_mv"] is None else "%.2f" % (st["pack_mv"] / 1000),
            _amps(st["current_ma"]),
            "%d..%d" % (min(cells), max(cells)) if cells else "-",
            ("C" if fets["charge"] else "-") + ("D" if fets["discharge"] else "-"),
            _lamp(st["leds"]["ms"], "green"),
            Text(alarms, style="red" if st["protections"] else "yellow"),
        )
    master = _master(states)
    line = Text()
    if master is None:
        line.append("no pack reports itself master", style="yellow")
    else:
        lim = master["limits"] or {}
        line.append("system (master: pack %d)  " % master["pack"], style="bold")
        if lim:
            line.append(
                "CVL %.1f V  CCL %.0f A  DCL %.0f A  "
                % (lim["cvl_mv"] / 1000, lim["ccl_ma"] / 1000, lim["dcl_ma"] / 1000)
            )
        if master["soc_pct"] is not None:
            line.append("SOC %.1f %%  " % master["soc_pct"])
    dc = sim.dc
    total = sum(p.model.current_a for p in sim.packs)
    line.append("   bus ")
    line.append("-" if dc is None or dc.v_bus is None else "%.2f V " % dc.v_bus)
    line.append("%+.1f A" % total)
    inv = sim.inverter
    if inv is not None:
        line.append("   inverter %+.1f A" % inv.current_a)
    return Panel(Group(table, line), title="system: %d packs" % len(states))
