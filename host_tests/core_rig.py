"""A test rig for the pure core: a synthetic measurement driven tick by tick.

No simulator and no drivers: the rig writes the Sample the front end would, calls
Bms.step() every 100 ms of its own clock and records what the core decided, so a test
can pin a threshold or a delay to the exact tick.
"""

import support

from bms import events as ev
from bms import protections as pt
from bms import ticks
from bms.config import Config
from bms.core import MODE_NAMES, Bms, Inputs
from bms.sample import CELLS, Sample

TICK = 100
_TICKS_MASK = 0x3FFFFFFF
_AGE_CAP_MS = 0x1FFFFFFF  # inverter_link's cap: a silence never shrinks back
NOMINAL_MV = 3300
NOMINAL_DC = 250


def _spread(total_mv):
    each = total_mv // CELLS
    cells = [each] * CELLS
    cells[0] += total_mv - each * CELLS
    return cells


class Rig:
    def __init__(self, config=None, start_ms=1000, stored_soc=None):
        self.cfg = Config(config or {})
        self.events = ev.EventLog()
        self.bms = Bms(self.cfg, self.events, stored_soc)
        self.s = Sample()
        self.inp = Inputs()
        self.now = start_ms
        self.s.valid = True
        self.link_mv = None  # None: the load side follows the stack (inverter holds the bus)
        self.cells([NOMINAL_MV] * CELLS)
        self.temps(NOMINAL_DC)
        self.current(0)

    # -- what the front end measures ---------------------------------------------------
    def cells(self, values):
        self.s.cells_mv[:] = values
        self._stack()

    def cell(self, index, mv):
        self.s.cells_mv[index] = mv
        self._stack()

    def _stack(self, stack_mv=None):
        s = self.s
        s.stack_mv = sum(s.cells_mv) if stack_mv is None else stack_mv
        self._link()

    def stack(self, mv):
        """The stack at mv, with the cells 1 V from it (inside the 2 V the sum check
        allows), so a pack-level row can be tested without a cell-level one."""
        self.s.cells_mv[:] = _spread(mv - 1000 if mv > NOMINAL_MV * CELLS else mv + 1000)
        self._stack(mv)

    def _link(self):
        s = self.s
        s.pack_mv = s.ld_mv = s.stack_mv if self.link_mv is None else self.link_mv

    def link(self, mv):
        """The load side (PACK and LD pins) at mv; None: it follows the stack."""
        self.link_mv = mv
        self._link()

    def temps(self, dc, slot=None):
        if slot is None:
            for i in range(6):
                self.s.temps_dc[i] = dc
        else:
            self.s.temps_dc[slot] = dc

    def current(self, ma):
        self.s.current_ma = ma

    # -- time --------------------------------------------------------------------------
    comm_since = None  # when set, inp.comm_age_ms grows from it as time passes

    def _step(self, dt):
        self.now = (self.now + dt) & _TICKS_MASK  # a board's ticks_ms wraps at 2**30
        if self.comm_since is not None:
            age = ticks.diff(self.now, self.comm_since)  # as the link's age: capped
            self.inp.comm_age_ms = age if 0 <= age < _AGE_CAP_MS else _AGE_CAP_MS
        self.s.reduce()
        self.bms.step(self.s, self.inp, self.now, dt)

    def tick(self, n=1):
        for _ in range(n):
            self._step(TICK)

    def run_ms(self, ms):
        self.tick(ms // TICK)

    def wait(self, ms, step=60000):
        """Let long stretches pass in coarse steps (hour-long timers); every timer in
        the core counts measured steps, so coarse ticks are exact for them."""
        while ms >= step:
            self._step(step)
            ms -= step
        self.run_ms(ms)

    def settle(self):
        """Past the boot settle time with FETs closed (ready to test a protection)."""
        self.tick(self.cfg.boot_settle_ms // TICK + 1)
        return self

    # -- what the core decided ---------------------------------------------------------
    def active(self, name):
        return bool(self.bms.engine.names & (1 << pt.NAMES.index(name)))

    def locked(self, name):
        return bool(self.bms.engine.locked & (1 << pt.NAMES.index(name)))

    def fets(self):
        b = self.bms
        return (b.chg, b.dsg)

    def mode(self):
        return MODE_NAMES[self.bms.mode]

    def logged(self, code, what=None):
        """The records with this event code (and `what`), oldest first."""
        return support.logged(self.events, code, what)
