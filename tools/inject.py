"""Exception injection (issue 14, item 3): every stage of the firmware raises or hangs.

    python tools/inject.py [--only POINT[,POINT]] [-v] [--results]
    micropython tools/inject.py [...]

Each injection point is a call the firmware makes in one stage: the tick's read, core
and write (app.py STAGE_READ, STAGE_CORE, STAGE_WRITE), the 50 ms LED beat, the link's
poll, and the store's writes. The real firmware runs on the simulated board, serving a
20 A discharge, and the point raises:
- once (its first call): the safe state (every FET off, both dry contacts open, ALM on)
  is in place when the EXCEPTION event is logged, the event names the stage, the safe
  state holds for SAFE_HOLD_MS of healthy ticks and the pack then serves again by
  itself, without a reset;
- at every call: the watchdog is no longer fed and resets the firmware within its
  timeout; the reset cause is logged at the next boot, the events before it survive,
  and the fresh firmware serves again; with a fault latched beforehand (REVERSE), the
  latch survives the reset;
- by hanging (an endless loop: the simulated clock runs on inside it): the watchdog ends
  it within its timeout, with the same checks.
The store's writes are outside the safety net by design (README: storage trouble never
stops the tick): a failing write leaves the pack serving, with no safe state and no
reset; it is counted and logged once per episode (EXCEPTION, stage store), and what the
flash missed is written once it works again. A hang in them is ended by the watchdog
like any other.

Prints one line per point and mode and `cases passed: P of N`; exit status 1 on a failure.
--results (CPython, make fuzz) puts inject_cases_run and inject_cases_passed into
bench/results.json.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import sys

from fault_matrix import logged, outputs

import app as app_module
from bms import events as ev
from bms import protections as pt
from bms.config import Config
from boards.host import machine
from boards.host.board import WDT_TIMEOUT_MS
from boards.host.world.engine import Simulator
from boards.host.world.scenario import validate

CFG = Config()
TICK = CFG.tick_ms
SAFE_HOLD_MS = app_module.SAFE_HOLD_MS
STAGES = {
    "read": app_module.STAGE_READ,
    "core": app_module.STAGE_CORE,
    "write": app_module.STAGE_WRITE,
    "led": app_module.STAGE_LED,
    "comms": app_module.STAGE_COMMS,
    "store": app_module.STAGE_STORE,
}
SERVE_A = -20
BOOT_MS = 8000


class WatchdogReset(BaseException):
    """The chip resets under the hung firmware: not an exception the firmware can catch
    (it derives from BaseException, as a reset is no exception at all)."""


class Injected(Exception):
    """What an injection point raises."""


# point: (stage, the inverter it needs, where the call is (a path from the app), method)
POINTS = (
    ("read.afe", "read", "can", "afe", "read"),
    # (the tick reads these two pins itself, app.py: the pin read is the call)
    ("read.reverse_input", "read", "can", "_reverse_in", "value"),
    ("read.button", "read", "can", "_button_in", "value"),
    ("read.link_age", "read", "can", "link", "age_ms"),
    ("core.step", "core", "can", "bms", "step"),
    ("write.fets", "write", "can", "fets", "set"),
    ("write.dry_contacts", "write", "can", "dry", "write"),
    ("led.panel_show", "led", "can", "panel", "show"),
    ("led.patterns", "led", "can", "bms.panel", "leds"),
    ("comms.link_poll", "comms", "can", "link", "poll"),
    ("comms.can_recv", "comms", "can", "link.can", "recv"),
    ("comms.rs485_server", "comms", "rs485", "link.server", "handle"),
    ("comms.rs485_release", "comms", "rs485", "board.rs485", "service"),
    ("store.events", "store", "can", "store", "append_events"),
    ("store.state", "store", "can", "store", "save_state"),
)
HOW = ("once", "repeat", "repeat_latched", "hang")


def resolve(app, path):
    obj = app
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


class Case:
    def __init__(self, point, how):
        self.point = point
        self.how = how
        for p in POINTS:
            if p[0] == point:
                _n, self.stage, self.inverter, self.path, self.method = p
        self.errors = []
        self.calls = 0
        self.raised = 0
        self.armed = True
        self.logged_outputs = []  # the outputs at each EXCEPTION event's logging

    def fail(self, what, *args):
        self.errors.append(what % args if args else what)

    # -- the pack ---------------------------------------------------------------------------
    def build(self):
        scenario = validate({"inverter": self.inverter, "initial": {"soc_pct": 60}})
        self.sim = Simulator(scenario)
        self.pack = self.sim.packs[0]
        self.sim.apply({"current_a": SERVE_A})

    @property
    def app(self):
        return self.pack.app

    def run_to(self, t_ms):
        """Run the world to t_ms; a hang ended by the watchdog resets the firmware."""
        while True:
            try:
                self.sim.run(t_ms)
                return
            except WatchdogReset:
                self.reset_by_watchdog()

    def wait(self, ms):
        self.run_to(self.sim.t_ms + ms)

    def reset_by_watchdog(self):
        """What the engine does when the watchdog expires (SimPack.poll), here for a
        firmware that never returned to it."""
        self.pack.reboot(machine.WDT_RESET, self.sim.t_ms)
        self.pack.next_us = self.sim.clock.t_us

    def outputs(self):
        """fault_matrix.outputs() and the ALM LED."""
        p = self.pack.board.pins
        return outputs(p) + (bool(p["LED_ALM"].level),)

    def safe(self):
        """Every FET off, both contacts open, ALM on (unless the LEDs are what fails)."""
        out = self.outputs()
        return out[:5] == (False,) * 5 and (out[5] or self.point == "led.panel_show")

    def serving(self):
        out = self.outputs()
        return out[:2] == (True, True) and out[3:5] == (True, True)

    def logged(self, code, since=0):
        return logged(self.app.events, code, since)

    # -- the injection ----------------------------------------------------------------------
    def install(self):
        """Replace the point's method on its object (this firmware instance only: a reset
        brings a fresh one)."""
        target = resolve(self.app, self.path)
        real = getattr(target, self.method)
        case = self

        def injected(*args):
            case.calls += 1
            if case.armed:
                if case.how == "once":
                    case.armed = False
                case.raised += 1
                if case.how == "hang":
                    case.hang()
                raise Injected("%s failed" % case.point)
            return real(*args)

        setattr(target, self.method, injected)
        log = self.app.events
        real_log = log.log

        def watched(t_ms, code, what=0, value=0, extra=0):
            if code == ev.EXCEPTION:
                case.logged_outputs.append(case.outputs())
            real_log(t_ms, code, what, value, extra)

        log.log = watched

    def hang(self):
        """An endless loop: only the watchdog (the simulated clock runs on) ends it."""
        clock = self.sim.clock
        wdt = self.pack.board.wdt
        while True:
            clock.advance(1)
            if wdt.sim_expired():
                raise WatchdogReset()

    # -- the run ----------------------------------------------------------------------------
    def run(self):
        try:
            self.steps()
        except Exception as exc:  # noqa: BLE001 - the property: nothing escapes the firmware
            self.fail("escaped the firmware: %r", exc)
        return self

    def steps(self):
        self.build()
        if self.how == "repeat_latched":
            # a fault latched beforehand: REVERSE, the source since taken away
            self.sim.apply({"fault": "reverse_polarity"})
            self.wait(2 * TICK)
            self.sim.apply({"fault": "clear"})
        self.run_to(BOOT_MS)
        if self.how != "repeat_latched" and not self.serving():
            self.fail("setup: not serving")
            return
        self.t0 = self.sim.t_ms
        self.seq0 = self.app.events.next_seq
        self.install()
        if self.stage == "store":
            self.check_store()
        elif self.how == "once":
            self.check_once()
        else:
            self.check_reset()

    def provoke(self):
        """The store writes when there is something to write: a RESET press (an urgent
        event, on flash within a second) and a change of mode (the state is saved)."""
        if self.stage == "store":
            self.pack.press_button(True)
            self.wait(200)
            self.pack.press_button(False)
            self.sim.apply({"current_a": 0})

    def first_failure(self, limit_ms):
        """Run until the point has raised (or hung); returns the firmware's EXCEPTION
        events since the injection."""
        self.provoke()
        end = self.t0 + limit_ms
        while not self.raised and self.sim.t_ms < end:
            self.wait(1)
        if not self.raised:
            self.fail("the point was never called within %d ms", limit_ms)
        return self.logged(ev.EXCEPTION, self.seq0)

    def check_once(self):
        got = self.first_failure(3000)
        if not got:
            self.fail("no EXCEPTION logged")
            return
        t_fail = self.sim.t_ms
        if got[0][3] != STAGES[self.stage]:
            self.fail("EXCEPTION logged with stage %d, not %d", got[0][3], STAGES[self.stage])
        out = self.logged_outputs[0]
        if out[:5] != (False,) * 5 or not (out[5] or self.point == "led.panel_show"):
            self.fail("the event logged before the safe state: outputs %r", out)
        if len(got) != 1:
            self.fail("%d EXCEPTION events for one failure", len(got))
        # the safe state holds SAFE_HOLD_MS of healthy ticks, then the pack serves again
        self.run_to(t_fail + SAFE_HOLD_MS - TICK)
        if not self.safe():
            self.fail("the safe state did not hold: outputs %r", self.outputs())
        self.run_to(t_fail + SAFE_HOLD_MS + CFG.precharge_timeout_ms + 2 * TICK)
        if not self.serving():
            self.fail("not serving after the hold: outputs %r", self.outputs())
        if self.pack.reboots:
            self.fail("a reset after one failure")
        if self.app.exceptions != 1:
            self.fail("%d exceptions after one failure", self.app.exceptions)

    def check_reset(self):
        """At every call (or hung): the watchdog resets the firmware within its timeout
        of the last feed (a failure that repeats stops the feeding: app.py)."""
        limit = SAFE_HOLD_MS + WDT_TIMEOUT_MS + 3 * TICK
        self.first_failure(3000)
        t_fail = self.sim.t_ms
        wdt = self.pack.board.wdt  # this firmware's (a reset brings a new board)
        if self.how != "hang":
            got = self.logged(ev.EXCEPTION, self.seq0)
            if not got or got[0][3] != STAGES[self.stage]:
                self.fail("no EXCEPTION of stage %s logged", self.stage)
            stages = set(r[3] for r in got)
            if len(stages) > 1:
                self.fail("EXCEPTION events of stages %r", sorted(stages))
            out = self.logged_outputs[0]
            if out[:5] != (False,) * 5 or not (out[5] or self.point == "led.panel_show"):
                self.fail("the event logged before the safe state: %r", out)
            unsafe = False
            while not self.pack.reboots and self.sim.t_ms < t_fail + limit:
                self.wait(10)
                if not (self.pack.reboots or unsafe or self.safe()):
                    unsafe = True
                    self.fail("not in the safe state while failing: %r", self.outputs())
        else:
            self.wait(TICK)  # the hang runs the clock until the watchdog ends it
        if not self.pack.reboots:
            self.fail("no watchdog reset within %d ms of the failure", limit)
            return
        boots = self.logged(ev.BOOT)
        if not boots or boots[-1][3] != machine.WDT_RESET:
            self.fail("the reset cause not logged: %r", boots[-1:])
        else:
            # at the firmware's next poll after the timeout: a beat (50 ms) at most
            late = boots[-1][1] - wdt.fed_ms  # (ticks_ms from 0 here: the clock's ms)
            if late > WDT_TIMEOUT_MS + 50:
                self.fail("reset %d ms after the last feed (timeout %d)", late, WDT_TIMEOUT_MS)
        if self.how != "hang":
            before = [r for r in self.logged(ev.EXCEPTION) if r[3] == STAGES[self.stage]]
            if not before:
                self.fail("the EXCEPTION before the reset is lost")
        self.wait(2 * TICK)
        if self.how == "repeat_latched":
            names = self.app.bms.protection_names()
            if "REVERSE" not in names:
                self.fail("the latched REVERSE did not survive the reset: %r", names)
            latches = [r for r in self.logged(ev.LATCH) if pt.NAMES[r[3]] == "REVERSE"]
            if not latches or latches[-1][4] != -1:
                self.fail("the restored latch not logged")
            return
        self.wait(CFG.boot_settle_ms + CFG.precharge_timeout_ms)
        if not self.serving():
            self.fail("not serving after the reset: outputs %r", self.outputs())

    def check_store(self):
        """The store's writes: the pack serves on, the failure counted and logged once,
        the flash written once it works again; a hang ends in the watchdog."""
        if self.how == "hang":
            self.check_reset()
            return
        if self.how == "repeat_latched":
            return  # (the latch is the store's own content: covered by repeat)
        app = self.app
        errors = app.store_errors
        self.first_failure(3000)
        self.wait(10000 if self.how == "repeat" else 2000)
        app = self.app
        if self.pack.reboots:
            self.fail("the store's failure reset the firmware")
        if not self.serving() or app.exceptions:
            self.fail("the store's failure stopped the pack: %r", self.outputs())
        if app.store_errors <= errors:
            self.fail("the failure not counted")
        # an episode's start (extra: the failing operation); its end logs -operation
        got = [
            r for r in self.logged(ev.EXCEPTION, self.seq0) if r[3] == STAGES["store"] and r[5] > 0
        ]
        if len(got) != 1:
            self.fail("%d EXCEPTION store events (one per episode)", len(got))
        # the flash works again: what it missed is written
        self.armed = False
        seq = app.events.next_seq
        app.events.log(self.sim.clock.ticks_ms(), ev.TRIP, pt.NAMES.index("COVP"), 1, 2)
        self.wait(2000)
        if app.store.flushed_seq < seq + 1:
            self.fail("events not written once the flash works again")


def run_all(points=None, hows=HOW):
    cases = []
    for p in POINTS:
        if points is None or p[0] in points:
            for how in hows:
                cases.append(Case(p[0], how).run())
    return cases


def report(cases):
    out = ["exception injection (real firmware, simulated board; watchdog %d ms)" % WDT_TIMEOUT_MS]
    out.append("%-22s" % "point" + "".join("%-16s" % h for h in HOW))
    passed = 0
    rows = {}
    for c in cases:
        rows.setdefault(c.point, {})[c.how] = c
        if not c.errors:
            passed += 1
    for p in POINTS:
        if p[0] not in rows:
            continue
        line = "%-22s" % p[0]
        for how in HOW:
            c = rows[p[0]].get(how)
            line += "%-16s" % ("-" if c is None else ("FAIL" if c.errors else "ok"))
        out.append(line.rstrip())
    out.append("cases passed: %d of %d" % (passed, len(cases)))
    for c in cases:
        for e in c.errors:
            out.append("FAIL %s %s: %s" % (c.point, c.how, e))
    return "\n".join(out)


def main(argv):
    points = None
    write = "--results" in argv
    argv = [a for a in argv if a != "--results"]
    i = 0
    while i < len(argv):
        if argv[i] == "--only" and i + 1 < len(argv):
            points = argv[i + 1].split(",")
            i += 2
        else:
            print(__doc__)
            return 2
    cases = run_all(points)
    print(report(cases))
    failed = sum(1 for c in cases if c.errors)
    if write:
        import time

        import results

        figs = {"inject_cases_run": len(cases), "inject_cases_passed": len(cases) - failed}
        results.merge(
            figs, {"date": time.strftime("%Y-%m-%d %H:%M")}, "inject_", "_context_inject"
        )
        print("make fuzz: injection figures written to bench/results.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
