"""State of charge and health: coulomb counting with the calibrations a LiFePO4 pack allows.

Integers only: charge in mAs (100 Ah = 3.6e8 mAs, under 2**30) with a remainder in
uA*s, SOC in 0.01 % (0..10000).

- Counting uses the measured time step of each tick and the measured current minus the
  offset learned while every FET is open (when no current can flow), and a small
  self-discharge allowance. It integrates currents below the 0.5 A reporting threshold
  too: an inverter's standby draw adds up.
- The start: from the open-circuit voltage where the LiFePO4 curve is steep enough to
  tell (below OCV_LOW_KNEE_MV or above OCV_HIGH_KNEE_MV per cell), otherwise from the
  persisted value, and from the curve only when nothing was persisted (a first boot).
  A warm start (a watchdog's reset, a restart: RAM lost, not time) takes the persisted
  value in the knees too: it is at most one save step old, while the cells, loaded a
  moment ago, are not at rest and their voltage is not the curve's (a reset at 11.6 %
  while discharging at 10 A read 15.8 %). After OCV_REST_MS at rest in a knee, the count is
  corrected toward the curve.
- Full: max cell >= full_cell_mv with 0 < charge current < full_current_ma for
  full_hold_ms (the pack's average in the upper knee), the pack held within 160 mV of
  the float voltage by a charge under full_current_ma for _FLOAT_HOLD_MS (not an end
  point for the capacity), or a COVP trip: 100 %. Empty: a CUVP trip: 0 %. At rest after
  either, the curve does not undo it.
- Between a calibration to empty and one to full (or the reverse) the charge counted is
  the pack's full capacity: it is learned (within 50..110 % of rated) and SOH = full /
  rated. Cycles count discharged charge in units of the full capacity.
- Shown SOC: capped at 99 % in daily cycling until a calibration to full (the manual's
  Q1), which may make it jump to 100 %.
"""

from micropython import const

from bms import events as ev
from bms import lazy, ticks

# OCV (mV per cell, average) -> SOC (0.01 %): a generic LiFePO4 curve at 25 C
_OCV_MV = (
    2800,
    3000,
    3100,
    3180,
    3230,
    3260,
    3280,
    3295,
    3305,
    3320,
    3330,
    3340,
    3360,
    3400,
    3450,
    3500,
)
_OCV_CPCT = (
    0,
    300,
    800,
    1500,
    2000,
    2800,
    3500,
    5000,
    6000,
    7000,
    8000,
    9000,
    9500,
    9800,
    9900,
    10000,
)
OCV_LOW_KNEE_MV = const(3200)
OCV_HIGH_KNEE_MV = const(3370)
_OCV_REST_MS = const(1800000)  # 30 min at rest before trusting the curve during operation
_OCV_CORRECT_CPCT = const(200)  # correct only when the count is this far off
_FLOAT_HOLD_MS = const(1800000)  # at the float voltage this long: full (the manual's 0.5 h)

# SOC event `what`
CAL_START_OCV = const(1)
CAL_START_STORED = const(2)
CAL_FULL = const(3)
CAL_EMPTY = const(4)
_CAL_REST_OCV = const(5)
_LEARNED_CAPACITY = const(6)
_CAL_FLOAT = const(7)  # full by the float voltage held (no end point for the capacity)

_CAP = const(10000)
_MAX_DT_MS = const(2000)  # keeps current * dt below 2**30 (with _OFFSET_MAX_MA)
# a reading through open FETs past sensor_offset_ma's most is no offset (a FET conducting
# though open, a short: the SENSOR_FAIL row's): learned, current - offset reached 655 A
_OFFSET_MAX_MA = const(10000)


def soc_from_ocv(cell_mv):
    """SOC (0.01 %) of a rested cell at this voltage, linear between table points."""
    if cell_mv <= _OCV_MV[0]:
        return 0
    for i in range(1, len(_OCV_MV)):
        hi = _OCV_MV[i]
        if cell_mv <= hi:
            lo = _OCV_MV[i - 1]
            c0 = _OCV_CPCT[i - 1]
            return c0 + (_OCV_CPCT[i] - c0) * (cell_mv - lo) // (hi - lo)
    return _CAP


def _count(soc, current_ma, dt_ms):
    """Soc.step()'s count: the charge counted over dt_ms, the cycles, the SOC from it.
    (A function, not a method: a method is looked up in the object's attributes first,
    and a miss in a full table costs a board ~1200 cycles.)"""
    # (the remainder in a local, read and written once: an attribute costs a board
    # ~400 cycles a read)
    i = soc.rem_uas + (current_ma - soc.offset_ma - soc.leak_ma) * dt_ms
    whole = i // 1000
    soc.rem_uas = i - whole * 1000
    q = soc.q_mas + whole
    full = soc.full_mas
    if whole < 0:
        soc.dsg_mas -= whole
        if soc.dsg_mas >= full:
            soc.dsg_mas -= full
            soc.cycles += 1
    if 0 <= q <= full:
        soc.count_since_cal += whole
    else:
        # (in a function of its own, with few arguments: two more locals or stack slots
        # here made the frame more than 11 words, allocated on the heap at every tick)
        q = _pinned(soc, q, whole)
    soc.q_mas = q
    # the SOC from it (the flag read once; in i, done with: a local more is a word more)
    i = q // (full // _CAP)
    soc.cpct = i = i if i < _CAP else _CAP
    if soc.full_seen:
        # (rounded to the whole percent the frames send: 100 % until half of one is gone,
        # the self-discharge's first tick made it 99 % at once; rounded up, 99 % showed
        # for 4 s of a percent's 6 min, 100 % going to 98 %)
        if i < 9900:
            soc.full_seen = False
        soc.shown_cpct = (i + 50) // 100 * 100
    else:
        soc.shown_cpct = i if i < 9900 else 9900


def _pinned(soc, q, n):
    """The count moved by n mAs past an end (q outside 0..full); returns q held there.
    Past the end of the last calibration, the pack not having left it since (the count
    since then not yet the other way), what is counted is not charge (a float current or
    an offset at 100 %, a standby draw at 0 %) and does not count toward the capacity;
    past the other end, or back at the first from the other side, it does (the capacity
    may be more than the estimate). The count stays just past what can be learned. (A
    week of float at 60 mA learned 90 % of the capacity; at 0.3 A the count passed 2**30
    in 42 days: a long int.)"""
    c = soc.count_since_cal
    full = soc.full_mas
    if q > full:
        if soc.cal == CAL_FULL and c >= 0:
            n -= q - full
        q = full
    else:
        if soc.cal == CAL_EMPTY and c <= 0:
            n -= q
        q = 0
    c += n
    top = soc.rated_mas // 10 * 11 + 1  # (past it: refused by _learn, as before)
    soc.count_since_cal = c if -top <= c <= top else (top if c > 0 else -top)
    return q


class Soc:
    def __init__(self, cfg, events):
        """The counter's every attribute is made in bms/parts_init.py, loaded for it and
        dropped after: built once, at boot."""
        lazy.run("bms.parts_init", "soc", self, cfg, events)

    # -- start ---------------------------------------------------------------------
    def start(self, avg_cell_mv, stored, now, warm=False):
        """stored: (q_mas, full_mas, cycles) persisted earlier, or None. warm: the reset
        was not a power-on (the persisted count is fresh, the cells not at rest). Once, at
        the first valid sample: the code is in bms/parts_init.py, loaded for it."""
        lazy.run("bms.parts_init", "soc_start", self, avg_cell_mv, stored, now, warm)

    def restore(self, full, cycles, dsg=0):
        """The learned capacity, cycle count and discharge toward the next cycle persisted
        earlier (at boot: the code is in bms/parts_init.py, loaded for it)."""
        lazy.run("bms.parts_init", "soc_restore", self, full, cycles, dsg)

    def _set_cpct(self, cpct, now, why):
        self._set(cpct * (self.full_mas // _CAP), now, why)

    def _set(self, q, now, why):
        old = self.cpct
        self.cal_count += 1
        self.q_mas = q
        self.rem_uas = 0
        _count(self, 0, 0)  # (nothing counted: the SOC from q, which is within 0..full)
        self.events.log(now, ev.SOC, why, self.cpct, old)

    # -- every tick ------------------------------------------------------------------
    def step(self, current_ma, dt_ms, max_cell_mv, avg_cell_mv, fets_open, now):
        if dt_ms > _MAX_DT_MS:
            dt_ms = _MAX_DT_MS
        if fets_open:
            self._learn_offset(current_ma)
        # (the count in a function of its own: a frame of more than 11 words is allocated
        # on the heap at every call, and this one runs every tick)
        _count(self, current_ma, dt_ms)
        # full (once per charge), judged only with the cells up there: a high cell and a
        # small charge current held full_hold_ms, with the pack's average in the upper
        # knee (as for COVP in bms/core.py: one cell up there and the rest on the plateau
        # is a weak cell, one out of balance or a bad reading, and learned a capacity of
        # 50 %); or the pack held at the float voltage by a small charge current for
        # _FLOAT_HOLD_MS (the manual: "floating 0.5 - 1 h calibrates it"; float, 3.41 V a
        # cell, never reaches full_cell_mv, and a pack that floated between one day's
        # charge and the next was never calibrated again). (The hold in dt_ms, done with:
        # a local more, or a call with more arguments, made the frame more than 11 words,
        # allocated on the heap at every tick.)
        if max_cell_mv >= self.full_cell_mv or avg_cell_mv >= self.float_cell_mv:
            dt_ms = -1
            if not self.full_seen and current_ma < self.cfg.full_current_ma:
                if current_ma > 0 and max_cell_mv >= self.full_cell_mv:
                    if avg_cell_mv > OCV_HIGH_KNEE_MV:
                        dt_ms = self.cfg.full_hold_ms
                elif current_ma >= 0 and avg_cell_mv >= self.float_cell_mv:
                    # (held through 0 mA too, once a charge started it: a float's current
                    # is a sensor step or less, read 0 on two ticks of three, and each
                    # restarted the hold: never calibrated)
                    dt_ms = _FLOAT_HOLD_MS
            if dt_ms < 0:
                self._full_since = -1
            elif self._full_since < 0:
                if current_ma > 0:  # (started by a charge: at rest a pack never is full)
                    self._full_since = now
            elif ticks.diff(now, self._full_since) >= dt_ms:
                if dt_ms == _FLOAT_HOLD_MS:
                    self.calibrate_full(now, False)
                else:
                    self.calibrate_full(now)
        elif self._full_since >= 0:
            self._full_since = -1
        # rest: correct toward the curve in its knees (a current flowing tested first: a
        # charge reads the threshold once)
        if current_ma >= self.zero_ma or current_ma <= -self.zero_ma:
            self._rest_since = now
        elif ticks.diff(now, self._rest_since) >= _OCV_REST_MS:
            self._rest_correct(avg_cell_mv, now)
            self._rest_since = now

    def _learn_offset(self, current_ma):
        """Average what the sensor reads while no current can flow."""
        if current_ma > _OFFSET_MAX_MA or current_ma < -_OFFSET_MAX_MA:
            return
        # (every fourth reading, up to 32: a boot's settle gives 31 at 100 ms ticks, 3 at
        # 1 s, and the FETs may never open again; 32 alone was never learned at all)
        self._offset_acc += current_ma
        n = self._offset_n + 1
        self._offset_n = n
        if not n & 3:
            self.offset_ma = self._offset_acc // n
            if n >= 32:
                self._offset_acc = 0
                self._offset_n = 0

    def _rest_correct(self, avg_cell_mv, now):
        if OCV_LOW_KNEE_MV <= avg_cell_mv <= OCV_HIGH_KNEE_MV:
            return
        if self.full_seen or (self.cal == CAL_EMPTY and self.q_mas == 0):
            # calibrated to full and not discharged since, or to empty and not charged:
            # cells that relax to 3.40 V read 97.9 % on the generic curve, which undid
            # the calibration (a sawtooth at the top, and the 99 % cap back); a cell
            # rebounding after CUVP read 7.6 % of a pack at its cut-off
            return
        target = soc_from_ocv(avg_cell_mv)
        if abs(target - self.cpct) >= _OCV_CORRECT_CPCT:
            self._set_cpct(target, now, _CAL_REST_OCV)

    # -- calibrations --------------------------------------------------------------
    def calibrate_full(self, now, learn=True):
        """100 %. learn: an end point for the capacity; not the float voltage's (a pack
        held there is 98 % or more, not 100: learned as full, its capacity was 98 %)."""
        if learn:
            self._learn(CAL_FULL, now)
        else:
            self.cal = 0
            self.count_since_cal = 0
        self._full_since = -1
        self.full_seen = True
        self._set(self.full_mas, now, CAL_FULL if learn else _CAL_FLOAT)

    def calibrate_empty(self, now):
        self._learn(CAL_EMPTY, now)
        self._set(0, now, CAL_EMPTY)

    def _learn(self, kind, now):
        """A full swing between the two calibrations measures the capacity."""
        if self.cal and self.cal != kind:
            measured = abs(self.count_since_cal)
            if self.rated_mas // 2 <= measured <= self.rated_mas // 10 * 11:
                self.full_mas = measured
                self.events.log(now, ev.SOC, _LEARNED_CAPACITY, measured // 3600, self.soh_pct())
        self.cal = kind
        self.count_since_cal = 0

    def soh_pct(self):
        # (full_mas * 100 would be 3.6e10: a long int, allocated at every call)
        return self.full_mas // (self.rated_mas // 100)

    # The charge in mAh, for the protocols' capacity fields: the unit the system's view
    # (packsystem.py) shares, whose sums in mAs would outgrow a small int from 3 packs.
    # (Methods, not properties: a property on the class makes every attribute store on
    # its instances look through the class first, 34 000 cycles a tick on an RP2040.)
    def q_mah(self):
        return self.q_mas // 3600

    def full_mah(self):
        return self.full_mas // 3600
