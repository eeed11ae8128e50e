"""The fault matrix (issue 14, items 2 and 6): every fault kind in every mode.

    python tools/fault_matrix.py [--seed S] [--wrap] [--only KIND[,KIND]] [--mode M[,M]] [-v]
                                 [--results]
    micropython tools/fault_matrix.py [...]

Every fault kind of ../shared/spec/sim.md and the simulator's extensions
(boards/host/world/scenario.py FAULTS and FAULTS_WITH_ARG, `clear` aside) is injected
into the real firmware on the simulated board in each mode: standby, charge (20 A in),
discharge (20 A out), sleep (a load of 20 A waiting), pre-charge (while the boot's
pre-charge runs) and with a second fault already active (a shorted or open MOSFET
sensor: SENSOR_FAIL latched, every FET open, a charger of 20 A waiting). The instant,
the sensor, cell or offset a fault takes, and the way out where the manual gives two,
are seeded random choices. For each cell:
- the safe state (every FET off, both dry contacts open, ALM on) or the manual's
  one-direction stop (that FET off and that contact open; the diode guard may keep the
  FET closed while the other direction's current flows) within the protection's delay
  plus one tick, its TRIP (and LATCH) logged in that window, and nothing tripped early;
- the panel as the manual's table (pack.md "LEDs"; sleep dark but for a failure or a
  temperature, our reading);
- recovery exactly by the manual's release path and no other: with the fault still
  there a RESET press releases nothing; with the fault gone the values release by
  themselves after their delay and the latched rows do not; the wrong current (a charge
  for a RESET-only row, a discharge for SCP and REVERSE) releases nothing; then the
  right path (RESET, or a charge for SCP and REVERSE) releases them, logged with that
  path, and the pack serves again;
- a fault that cannot show in this mode (a short behind an open discharge FET, a stuck
  FET whose direction carries no current, an offset while a FET conducts) trips nothing
  and changes no output.

The expectations are one table (TABLE), keyed by fault kind, written from pack.md's
protection table and derived defaults and from the firmware's own table for the FET
each protection opens (bms/protections.py). `--wrap` starts the board's ticks_ms 10 s
before it wraps at 2**30 (item 6): the faults then strike across the wrap.
Prints the matrix and `cells passed: P of N`; exit status 1 when a cell failed.
--results (CPython, make fuzz) puts fault_matrix_cells_run and fault_matrix_cells_passed
(fault_matrix_wrap_... with --wrap) into bench/results.json.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import sys

from bms import core_status
from bms import events as ev
from bms import protections as pt
from bms.config import Config
from boards.host.world.engine import Simulator
from boards.host.world.pack_model import Rng
from boards.host.world.scenario import FAULTS, FAULTS_WITH_ARG, validate

CFG = Config()
TICK = CFG.tick_ms
WRAP_START = (1 << 30) - 10000  # ticks_ms 10 s before the wrap
MODES = ("standby", "charge", "discharge", "sleep", "precharge", "second")
DEMAND_A = {"standby": 0, "charge": 20, "discharge": -20, "sleep": -20, "precharge": 0}
SECOND_DEMAND_A = 20
BOOT_MS = 8000  # past boot_settle_ms and the first pre-charge, the mode established
SCD_RECOVERY_MS = 5000  # the BQ76952's own SCD recovery (drivers/bq76952.py data memory)
RESET_PRESS_MS = 500  # a RESET press (pack.md: 50 ms to 3 s)
TEMP_DELAY_MS = max(
    CFG.chtp_delay_ms,
    CFG.dhtp_delay_ms,
    CFG.cltp_delay_ms,
    CFG.dltp_delay_ms,
    CFG.mos_otp_delay_ms,
)

# the FET each protection opens, from the firmware's table (bms/protections.py)
_ROWS, _DOCP, _DOCP_WARN = pt.build(CFG)
ACTION = {}
for _row in _ROWS:
    _name = pt.NAMES[_row.name]
    ACTION[_name] = ACTION.get(_name, 0) | _row.action

# -- the manual's panel (pack.md "LEDs"), and which row shows: ours, README -------------------
OFF, ON, FLASH1, FLASH2, FLASH3 = 0, 1, 2, 3, 4  # bms.panel's pattern codes
PANEL = {  # row: (RUN, ALM, SOC LEDs or None where they follow the SOC)
    "failure": (OFF, ON, (OFF, OFF, OFF, OFF)),
    "temperature": (OFF, ON, (ON, ON, OFF, OFF)),  # the garbled columns: our reading
    "DOCP": (OFF, ON, (OFF, OFF, OFF, OFF)),
    "UVP": (OFF, FLASH3, (OFF, OFF, OFF, OFF)),
    "COCP": (FLASH1, OFF, None),
    "sleep": (OFF, OFF, (OFF, OFF, OFF, OFF)),
}
# the first row that applies wins (README "Front panel"; a pre-charge failure is a failure)
PANEL_ORDER = (
    ("failure", ("SCP", "REVERSE", "SENSOR_FAIL", "MOS_FAIL", "PRECHARGE_FAIL")),
    ("temperature", ("CHTP", "DHTP", "CLTP", "DLTP", "MOS_OTP")),
    ("DOCP", ("DOCP",)),
    ("UVP", ("CUVP", "PUVP")),
    ("COCP", ("COCP",)),
)


def panel_row(names, sleeping):
    # asleep: dark, but for a failure or a temperature (a FET conducting though open, a
    # reversed connection, a hot pack showed dark, as if switched off)
    for row, members in PANEL_ORDER[:2] if sleeping else PANEL_ORDER:
        for name in members:
            if name in names:
                return row
    return "sleep" if sleeping else None  # else the mode's own row


# -- the table ---------------------------------------------------------------------------------

# release paths (bms.protect's RELEASE extra)
BY_VALUE, BY_CURRENT, BY_CHARGER, BY_RESET = 1, 3, 4, 5
RESET_ONLY = (BY_RESET,)
CHARGE_OR_RESET = (BY_CURRENT, BY_CHARGER, BY_RESET)


def outputs(p):
    """What the firmware drives on a board's pins: FETs (CFETOFF/DFETOFF low = on),
    pre-charge, the dry contacts."""
    return (
        not p["AFE_CFETOFF"].level,
        not p["AFE_DFETOFF"].level,
        bool(p["FET_PRECHARGE"].level),
        bool(p["RELAY_CHG"].level),
        bool(p["RELAY_DSG"].level),
    )


def logged(log, code, since=0):
    """The records of an event log with this code, from sequence number since on."""
    out = []
    for seq in range(max(since, log.oldest_seq()), log.next_seq):
        r = log.get(seq)
        if r[2] == code:
            out.append(r)
    return out


class Trip:
    """A protection as a fault trips it: its name, its delay (ms, counted from the first
    tick that sees the condition), whether it latches, the paths that release it, and
    whether a RESET with the fault still there gives it new tries (the pre-charge)."""

    def __init__(self, name, delay_ms, latched=False, paths=(BY_VALUE,), retries=False):
        self.name = name
        self.delay = delay_ms
        self.latched = latched
        self.paths = paths
        self.retries = retries


def trip(name, delay_key, latched=False, paths=(BY_VALUE,)):
    return Trip(name, getattr(CFG, delay_key) if delay_key else 0, latched, paths)


SENSOR_FAIL = trip("SENSOR_FAIL", "sensor_delay_ms", True, RESET_ONLY)
MOS_FAIL = trip("MOS_FAIL", "mos_fail_delay_ms", True, RESET_ONLY)
# pack.md: 3 tries of precharge_timeout_ms, precharge_retry_ms apart, then a failure; a
# RESET gives it 3 tries again once the last one's pause is over (bms/precharge.py)
PRECHARGE_MS = CFG.precharge_tries * CFG.precharge_timeout_ms
PRECHARGE_MS += (CFG.precharge_tries - 1) * CFG.precharge_retry_ms


def precharge_fail(left_ms):
    return Trip("PRECHARGE_FAIL", left_ms, True, RESET_ONLY, retries=True)


class Expect:
    """What a fault does in one cell: the protections it trips (in order), whether the
    readings go blind first (the FETs open after afe_blind_ms), when the condition is
    gone after `clear` (a chip's own recovery), and, for a fault that cannot show here,
    why."""

    def __init__(self, trips=(), blind=False, gone_ms=0, latent=None, by_itself=False):
        self.trips = trips
        self.blind = blind
        self.gone_ms = gone_ms
        self.latent = latent
        self.by_itself = by_itself


def sensor_kind(n):
    return "mos" if n == 6 else "cell or ambient"


def expect(kind, arg, ctx):
    """TABLE: the expectations of fault `kind` (with its argument) in context ctx (what
    the pack was doing when it struck). From pack.md's protection table and derived
    defaults, README for our choices."""
    if kind == "short_circuit":
        # the front end's comparator sees it through a closed discharge FET (pack.md SCP);
        # a pre-charge into it cannot lift the output (pack.md pre-charge: 3 tries)
        if ctx.dsg:
            return Expect((trip("SCP", None, True, CHARGE_OR_RESET),), gone_ms=SCD_RECOVERY_MS)
        if ctx.pre:
            return Expect((precharge_fail(ctx.pre_left_ms),))
        return Expect(latent="the discharge FET is open: no short-circuit current")
    if kind == "reverse_polarity":
        return Expect((trip("REVERSE", None, True, CHARGE_OR_RESET),))
    if kind in ("afe_lost", "afe_crc"):
        # no reading: the FETs open after afe_blind_ms, a sensor failure after 3 s
        return Expect((SENSOR_FAIL,), blind=True)
    if kind == "afe_reset":
        # a brown-out of the front end: configured again at the next housekeeping beat
        return Expect(by_itself=True)
    if kind == "precharge_fail":
        if ctx.pre:
            return Expect((precharge_fail(ctx.pre_left_ms),))
        return Expect(latent="no pre-charge runs")
    if kind == "ntc_open":  # reads -50 C
        if sensor_kind(arg) == "mos":
            return Expect((SENSOR_FAIL,))
        return Expect((trip("CLTP", "cltp_delay_ms"), trip("DLTP", "dltp_delay_ms"), SENSOR_FAIL))
    if kind == "ntc_short":  # reads 150 C
        if sensor_kind(arg) == "mos":
            return Expect((trip("MOS_OTP", "mos_otp_delay_ms"), SENSOR_FAIL))
        return Expect((trip("CHTP", "chtp_delay_ms"), trip("DHTP", "dhtp_delay_ms"), SENSOR_FAIL))
    if kind == "cell_open":
        if arg < 16:
            # cell N+1 reads both cells: beyond what a cell can read (bms.sample), so the
            # reading is refused: the blind path, then a sensor failure
            return Expect((SENSOR_FAIL,), blind=True)
        # cell 16 reads 0 V: CUVP (released by value or an effective charge), and the
        # sensor failure (cell < 1.0 V, sum of cells vs stack)
        return Expect((trip("CUVP", "cuvp_delay_ms", False, (BY_VALUE, BY_CURRENT)), SENSOR_FAIL))
    if kind == "current_offset":
        if abs(arg) <= CFG.sensor_offset_ma:
            return Expect(latent="an offset within %d mA" % CFG.sensor_offset_ma)
        if ctx.chg or ctx.dsg or ctx.pre:
            # README: judged only while every FET is open (a FET closed: it reads as current)
            return Expect(latent="a FET conducts: the offset reads as current")
        # every FET open: current against FETs commanded off (MOS failure, 2 s) and a
        # current at rest (sensor failure, 3 s): the two cannot be told apart
        return Expect((MOS_FAIL, SENSOR_FAIL))
    if kind == "current_gain":
        return Expect(latent="a gain error trips nothing (the SOC drifts)")
    if kind == "fet_stuck":
        # pack.md MOS failure: > 2 A for 2 s in a direction whose FET is commanded off
        off = not ctx.chg if arg == "charge" else not (ctx.dsg or ctx.pre)
        flows = ctx.demand_a > 2 if arg == "charge" else ctx.demand_a < -2
        if not (off and flows):
            return Expect(latent="no current in the stuck FET's direction against it")
        if ctx.chg or ctx.dsg or ctx.pre:
            return Expect((MOS_FAIL,))
        return Expect((MOS_FAIL, SENSOR_FAIL))  # every FET off: current at rest too
    raise ValueError(kind)


def arg_for(kind, rng):
    """The argument a fault takes in a cell (seeded)."""
    if kind in ("ntc_open", "ntc_short"):
        return 1 + rng.next() % 6
    if kind == "cell_open":
        return 16 if rng.next() % 3 == 0 else 1 + rng.next() % 15
    if kind == "current_offset":
        sign = 1 if rng.next() & 1 else -1
        if rng.next() % 4 == 0:
            return sign * (rng.next() % (CFG.sensor_offset_ma + 1))
        return sign * (CFG.sensor_offset_ma + 500 + rng.next() % 8000)
    if kind == "current_gain":
        return rng.next() % 1001 - 500
    return None


KINDS = tuple(k for k in FAULTS if k != "clear") + tuple(
    k for k in FAULTS_WITH_ARG if k != "fet_stuck"
)
ROWS = KINDS + ("fet_stuck:charge", "fet_stuck:discharge")


class Context:
    """What the pack did when the fault struck."""

    def __init__(self, app, demand_a, pre_left_ms, sleeping):
        b = app.bms
        self.chg = b.chg
        self.dsg = b.dsg
        self.pre = b.pre
        self.demand_a = demand_a
        self.pre_left_ms = pre_left_ms
        self.sleeping = sleeping


# -- one cell ---------------------------------------------------------------------------------


class Cell:
    def __init__(self, row, mode, seed, start_ticks=0):
        self.row = row
        self.mode = mode
        self.seed = seed
        self.start_ticks = start_ticks
        h = seed
        for c in row + "/" + mode:
            h = (h * 31 + ord(c)) & 0x3FFFFFFF
        self.rng = Rng(h)
        self.errors = []
        self.latent = None
        self.fault = row

    def fail(self, what, *args):
        self.errors.append(what % args if args else what)

    # -- the simulated pack -----------------------------------------------------------------
    def build(self):
        scenario = validate({"inverter": "none", "initial": {"soc_pct": 60, "temp_c": 25}})
        self.sim = Simulator(scenario, seed=1 + self.seed % 7, start_ticks=self.start_ticks)
        self.pack = self.sim.packs[0]

    def run_to(self, t_ms):
        self.sim.run(t_ms)

    def wait(self, ms):
        self.sim.run(self.sim.t_ms + ms)

    def demand(self, amps):
        self.sim.apply({"current_a": amps})

    def press(self, ms=RESET_PRESS_MS):
        self.pack.press_button(True)
        self.wait(ms)
        self.pack.press_button(False)

    @property
    def app(self):
        return self.pack.app

    def names(self):
        return core_status.protections(self.app.bms)  # held here: a call a tick

    def outputs(self):
        return outputs(self.pack.board.pins)

    def logged(self, code, since):
        return logged(self.app.events, code, since)

    # -- the modes ----------------------------------------------------------------------------
    def second_fault(self):
        """A second fault already active: a MOSFET sensor open (SENSOR_FAIL latched, every
        FET open); another sensor, open or shorted, where the fault under test is one."""
        kind = self.kind
        if kind not in ("ntc_open", "ntc_short"):
            return "ntc_open:6"
        other = "ntc_short" if kind == "ntc_open" else "ntc_open"
        return "%s:%d" % (other, 5 if self.arg == 6 else 6)

    def setup(self):
        """Bring the pack into the cell's mode; returns (demand, ms of pre-charge left when
        the fault strikes, or 0)."""
        mode = self.mode
        self.second = None
        if mode == "precharge":
            # the boot's pre-charge: strike at a random instant in its first 600 ms
            while not self.app.bms.pre:
                self.wait(10)
            started = self.sim.t_ms
            self.wait(self.rng.next() % 600)
            return 0, started + PRECHARGE_MS - self.sim.t_ms
        demand = DEMAND_A.get(mode, SECOND_DEMAND_A)
        if demand:
            self.demand(demand)
        self.run_to(BOOT_MS)
        if mode == "sleep":
            self.press(CFG.button_sleep_ms + 500)  # 3-5 s puts it to sleep
            self.wait(2 * TICK)
            if not self.app.bms.sleeping:
                self.fail("setup: the pack did not go to sleep")
        elif mode == "second":
            self.sim.apply({"fault": self.second_fault()})
            self.wait(CFG.sensor_delay_ms + 2 * TICK)
            self.second = [n.split(":")[0] for n in self.names()]
            if "SENSOR_FAIL" not in self.second:
                self.fail("setup: the second fault did not latch")
        self.wait(self.rng.next() % 1000)  # a random instant, off the tick grid
        return demand, 0

    # -- the checks ---------------------------------------------------------------------------
    def run(self):
        kind, _sep, fixed = self.row.partition(":")
        arg = fixed or arg_for(kind, self.rng)
        self.kind = kind
        self.arg = arg
        if arg is not None:
            self.fault = "%s:%s" % (kind, arg)
        self.build()
        demand, pre_left = self.setup()
        if self.errors:
            return self
        ctx = Context(self.app, demand, pre_left, self.app.bms.sleeping)
        exp = expect(kind, arg, ctx)
        self.latent = exp.latent
        t0 = self.sim.t_ms
        seq0 = self.app.events.next_seq
        before_names = self.names()
        before_out = self.outputs()
        self.sim.apply({"fault": self.fault})
        if exp.latent:
            self.check_latent(t0, seq0, before_names, before_out)
        elif exp.by_itself:
            self.check_by_itself(t0, seq0, before_names)
        else:
            self.check_trips(exp, ctx, t0, seq0, before_names)
            if not self.errors:
                self.check_recovery(exp, ctx, demand)
        return self

    def steady(self):
        """The outputs of this mode with nothing wrong: serving (both FETs, both contacts),
        or everything open asleep and while the second fault holds."""
        if self.mode == "sleep" and self.app.bms.sleeping or self.second:
            return (False, False, False, False, False)
        return (True, True, False, True, True)

    def check_latent(self, t0, seq0, before_names, before_out):
        """Nothing trips and the pack goes on as it would have, for longer than any delay
        of the table (a pre-charge under way finishes)."""
        self.wait(CFG.sensor_delay_ms + PRECHARGE_MS // 4)
        for code in (ev.TRIP, ev.LATCH):
            got = self.logged(code, seq0)
            if got:
                self.fail("latent, yet %s %s", ev.NAMES[code], pt.NAMES[got[0][3]])
        if self.names() != before_names:
            self.fail("latent, yet protections %r (were %r)", self.names(), before_names)
        if self.outputs() != self.steady():
            self.fail("latent, yet outputs %r (steady %r)", self.outputs(), self.steady())
        self.sim.apply({"fault": "clear"})
        self.wait(2 * TICK)

    def check_by_itself(self, t0, seq0, before_names):
        """A front end that resets is configured again at the next housekeeping beat (1 s)
        and the pack goes on by itself: nothing trips, no person needed."""
        self.wait(1000 + 2 * TICK)
        configured = [r for r in self.logged(ev.SENSOR, seq0) if r[3] == 1]
        if not configured:
            self.fail("the front end was not configured again within 1 s")
        elif (configured[0][1] - self.app_ticks(t0)) & 0x3FFFFFFF > 1000 + TICK:
            self.fail("configured again %d ms after its reset", configured[0][1] - t0)
        self.wait(CFG.precharge_timeout_ms + CFG.mode_debounce_ms)
        for code in (ev.TRIP, ev.LATCH):
            if self.logged(code, seq0):
                self.fail("a front-end reset tripped %s", ev.NAMES[code])
        if self.names() != before_names:
            self.fail("protections %r after a front-end reset", self.names())
        if self.outputs() != self.steady():
            self.fail(
                "outputs %r after a front-end reset (steady %r)", self.outputs(), self.steady()
            )
        if self.app.exceptions:
            self.fail("%d exceptions", self.app.exceptions)

    def check_trips(self, exp, ctx, t0, seq0, before_names):
        # the tick after each delay: its stop in place
        stops = []
        last = 0
        for t in exp.trips:
            stops.append((t0 + t.delay + TICK, t.name))
            if t.delay > last:
                last = t.delay
        if exp.blind:
            stops.append((t0 + CFG.afe_blind_ms + TICK, "blind"))
        stops.sort()
        for at, name in stops:
            self.run_to(at)
            self.check_stop(name)
        end = t0 + last + 2 * TICK
        self.run_to(end)
        names = self.names()
        for t in exp.trips:
            if t.name not in names:
                self.fail("%s not active %d ms after the fault", t.name, end - t0)
            self.check_logged(ev.TRIP, t.name, seq0, t0, t.delay)
            if t.latched:
                self.check_logged(ev.LATCH, t.name, seq0, t0, t.delay)
        expected = set(t.name for t in exp.trips) | set(before_names)
        for name in names:
            if name.split(":")[0] not in expected:
                self.fail("%s tripped too", name)
        self.check_panel(names)

    def check_logged(self, code, name, seq0, t0, delay):
        """The event, logged in (t0 + delay, t0 + delay + tick]: a delay counts from the
        first tick that saw the condition."""
        what = pt.NAMES.index(name)
        got = [r for r in self.logged(code, seq0) if r[3] == what]
        if not got:
            self.fail("no %s %s logged", ev.NAMES[code], name)
            return
        dt = (got[0][1] - self.app_ticks(t0)) & 0x3FFFFFFF
        if not delay < dt <= delay + TICK:
            self.fail(
                "%s %s logged %d ms after the fault (delay %d)", ev.NAMES[code], name, dt, delay
            )

    def app_ticks(self, t_ms):
        return (t_ms + self.sim.clock.offset) & 0x3FFFFFFF

    def check_stop(self, name):
        """The tick after a delay: the safe state, or the protection's direction stopped."""
        chg, dsg, pre, relay_chg, relay_dsg = self.outputs()
        action = 3 if name == "blind" else ACTION[name]
        current = self.pack.model.current_a
        eff = CFG.effective_current_ma / 1000
        if action & 1:
            # the diode guard (README): a charge stop alone keeps the FET closed for a
            # discharge that flows
            guard = action == 1 and current <= -eff and not self.app.bms.engine.blocked & 2
            if (chg and not guard) or relay_chg:
                self.fail(
                    "%s: charge not stopped in time (FET %s, contact %s)", name, chg, relay_chg
                )
        if action & 2:
            guard = action == 2 and current >= eff and not self.app.bms.engine.blocked & 1
            if ((dsg or pre) and not guard) or relay_dsg:
                self.fail(
                    "%s: discharge not stopped in time (FET %s, contact %s)", name, dsg, relay_dsg
                )
        if action == 3 and not self.app.bms.sleeping:
            if not self.pack.board.pins["LED_ALM"].level:
                self.fail("%s: the safe state without ALM", name)

    def check_panel(self, names):
        row = panel_row(names, self.app.bms.sleeping)
        if row is None:
            return
        run, alm, soc = PANEL[row]
        p = self.app.bms.panel.pattern
        got = (p[0], p[1], tuple(p[2:6]))
        want_soc = soc if soc is not None else got[2]
        if got != (run, alm, want_soc):
            self.fail("panel %r, the manual's %s row is %r", got, row, (run, alm, want_soc))

    # -- recovery -----------------------------------------------------------------------------
    def released(self, name, seq):
        """The RELEASE events of name since seq, as their paths."""
        return [r[5] for r in self.logged(ev.RELEASE, seq) if pt.NAMES[r[3]] == name]

    def check_recovery(self, exp, ctx, demand):
        held = [t for t in exp.trips if t.latched]
        values = [t for t in exp.trips if not t.latched]
        # 1. a RESET press with the fault still there releases nothing (the pre-charge
        # alone takes it as a request for new tries, and fails again)
        seq = self.app.events.next_seq
        self.press()
        self.wait(2 * TICK)
        for t in exp.trips:
            got = self.released(t.name, seq)
            if t.retries:
                if got != [BY_RESET]:
                    self.fail("%s: a RESET gave no new tries (%r)", t.name, got)
            elif got:
                self.fail("%s released by a RESET with the fault there (path %d)", t.name, got[0])
        retry = [t for t in held if t.retries]
        if retry:
            seq = self.app.events.next_seq
            # (after the pause that followed the last try: it runs on after RESET)
            self.wait(CFG.precharge_retry_ms + PRECHARGE_MS + 2 * TICK)
            for t in retry:
                if not [r for r in self.logged(ev.TRIP, seq) if pt.NAMES[r[3]] == t.name]:
                    self.fail("%s: the new tries did not fail again", t.name)
        self.still([t.name for t in exp.trips], "a RESET press with the fault still there")
        # 2. the fault gone, nobody acting (no current): the values release by themselves
        # after their delay, the latched rows do not
        self.demand(0)
        seq = self.app.events.next_seq
        self.sim.apply({"fault": "clear"})
        longest = exp.gone_ms
        for t in values:
            if t.delay + TICK > longest:
                longest = t.delay + TICK
        self.wait(longest + 2 * TICK)
        for t in values:
            got = self.released(t.name, seq)
            if not got:
                self.fail("%s not released when its value came back", t.name)
            elif got[0] not in t.paths:
                self.fail("%s released by path %d", t.name, got[0])
        self.still([t.name for t in held], "the fault gone, nobody acting")
        if held:
            # 3. the wrong current releases nothing latched
            charge_path = BY_CHARGER in held[0].paths
            wrong = -20 if charge_path else 20
            seq = self.app.events.next_seq
            self.demand(wrong)
            self.wait(CFG.mode_debounce_ms + 2 * TICK)
            self.still([t.name for t in held], "a %s" % ("discharge" if wrong < 0 else "charge"))
            for t in held:
                got = self.released(t.name, seq)
                if got:
                    self.fail("%s released by the wrong current (path %d)", t.name, got[0])
            self.demand(0)
            self.wait(TICK)
            # 4. the right path: a charge for SCP and REVERSE (or RESET: seeded), else RESET
            seq = self.app.events.next_seq
            if charge_path and self.rng.next() & 1:
                self.demand(20)
                self.wait(2 * TICK)
                want = (BY_CURRENT, BY_CHARGER)
            else:
                self.press()
                self.wait(2 * TICK)
                want = (BY_RESET,)
            for t in held:
                got = self.released(t.name, seq)
                if not got:
                    self.fail("%s not released by its path %r", t.name, want)
                elif got[0] not in want:
                    self.fail("%s released by path %d, not %r", t.name, got[0], want)
        self.demand(demand)
        second = self.second or []
        for name in self.names():
            if name.split(":")[0] not in second:
                self.fail("%s still active after recovery", name)
        if self.second:
            self.release_second()
        self.wait(CFG.precharge_timeout_ms + CFG.mode_debounce_ms)
        if self.outputs() != (True, True, False, True, True) or self.app.bms.sleeping:
            self.fail(
                "not serving again: outputs %r, asleep %s", self.outputs(), self.app.bms.sleeping
            )
        if self.app.exceptions:
            self.fail("%d exceptions", self.app.exceptions)

    def still(self, names, why):
        active = [n.split(":")[0] for n in self.names()]
        for name in names:
            if name not in active:
                self.fail("%s released by %s", name, why)

    def release_second(self):
        """The second fault: cleared, its values back (a temperature's delay), then RESET."""
        self.sim.apply({"fault": "clear"})
        self.second = None
        self.wait(TEMP_DELAY_MS + 2 * TICK)
        self.press()
        self.wait(2 * TICK)
        if self.names():
            self.fail("the second fault not released: %r", self.names())


# -- the matrix -------------------------------------------------------------------------------


def run_matrix(seed=1, start_ticks=0, rows=ROWS, modes=MODES):
    """Every cell; returns {(row, mode): Cell}."""
    cells = {}
    for row in rows:
        for mode in modes:
            cells[(row, mode)] = Cell(row, mode, seed, start_ticks).run()
    return cells


def table(cells, rows=ROWS, modes=MODES, seed=1, start_ticks=0):
    """The matrix as text: each cell `ok`, `latent` (checked: nothing happens) or FAIL."""
    out = []
    where = "ticks_ms from %d" % start_ticks
    if start_ticks == WRAP_START:
        where = "ticks_ms from 2**30 - 10 s (the faults strike across the wrap)"
    out.append("fault matrix (seed %d, %s)" % (seed, where))
    out.append("%-20s" % "fault" + "".join("%-11s" % m for m in modes))
    passed = 0
    for row in rows:
        line = "%-20s" % row
        for mode in modes:
            cell = cells[(row, mode)]
            if cell.errors:
                mark = "FAIL"
            else:
                passed += 1
                mark = "latent" if cell.latent else "ok"
            line += "%-11s" % mark
        out.append(line.rstrip())
    out.append("cells passed: %d of %d" % (passed, len(rows) * len(modes)))
    for row in rows:
        for mode in modes:
            cell = cells[(row, mode)]
            for e in cell.errors:
                out.append("FAIL %s (%s) in %s: %s" % (row, cell.fault, mode, e))
    return "\n".join(out)


def main(argv):
    seed, start, rows, modes, verbose = 1, 0, ROWS, MODES, False
    write = "--results" in argv
    argv = [a for a in argv if a != "--results"]
    i = 0
    while i < len(argv):
        arg = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else ""
        if arg == "--seed":
            seed = int(val)
            i += 1
        elif arg == "--wrap":
            start = WRAP_START
        elif arg == "--only":
            rows = tuple(val.split(","))
            i += 1
        elif arg == "--mode":
            modes = tuple(val.split(","))
            i += 1
        elif arg == "-v":
            verbose = True
        else:
            print(__doc__)
            return 2
        i += 1
    for row in rows:
        if row not in ROWS:
            print("no such fault kind: %s (%s)" % (row, ", ".join(ROWS)))
            return 2
    cells = run_matrix(seed, start, rows, modes)
    print(table(cells, rows, modes, seed, start))
    if verbose:
        for key in sorted(cells):
            cell = cells[key]
            print(
                "%s / %s: %s%s"
                % (key[0], key[1], cell.fault, " latent: " + cell.latent if cell.latent else "")
            )
    failed = sum(1 for c in cells.values() if c.errors)
    if write:
        _write(len(cells), failed, seed, start)
    return 1 if failed else 0


def _write(run, failed, seed, start):
    """The figures into bench/results.json (the run from 0 and the wrap's, each its own)."""
    import time

    import results

    wrap = "_wrap" if start == WRAP_START else ""
    figs = {"fault_matrix%s_cells_run" % wrap: run}
    figs["fault_matrix%s_cells_passed" % wrap] = run - failed
    context = {"date": time.strftime("%Y-%m-%d %H:%M"), "seed": seed, "start_ticks": start}
    prefix = "fault_matrix_wrap_" if wrap else "fault_matrix_cells_"
    results.merge(figs, context, prefix, "_context_fault_matrix" + wrap)
    print("make fuzz: fault matrix figures written to bench/results.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
