"""The constructors of the objects a board builds once (bms/limits.py's Limits,
bms/precharge.py's Precharge, bms/balance.py's Balancer, bms/button.py's Button,
bms/soc.py's Soc, bms/sample.py's Sample and bms/events.py's EventLog), loaded by
bms.lazy for each and dropped after, so that their code does not stay in a board's heap.
Every attribute of those objects is made here.
"""

from array import array

from micropython import const

from bms.precharge import IDLE
from bms.soc import (
    CAL_START_OCV,
    CAL_START_STORED,
    OCV_HIGH_KNEE_MV,
    OCV_LOW_KNEE_MV,
    soc_from_ocv,
)

_CAP = const(10000)  # bms/soc.py's: 100.00 %
_CELLS = const(16)  # bms/sample.py's CELLS
_TEMPS = const(6)  # temps_dc's slots: four cell sensors, ambient, the MOSFETs


def limits(self, cfg):
    self.cfg = cfg
    c = cfg
    # CCL a tenth under COCP's first trip at most, as DCL under DOCP's continuous limit
    # (limits.py): at ccl_ma 70 A the margin to 72 A was 3 %, an inverter's one per cent
    # more or a pack's share of a system's; and a COCP set under ccl_ma tripped on our own
    # request (a config may lower COCP, never raise it)
    cocp_ma = c.cocp1_trip_ma - c.cocp1_trip_ma // 10
    self._k = (
        c.ccl_ma if c.ccl_ma < cocp_ma else cocp_ma,
        c.taper_start_mv,
        c.taper_end_mv,
        c.ccl_zero_mv,
        c.ccl_taper_floor_pct * 10,
        c.chtp_warn_dc,
        c.chtp_trip_dc,
        c.charge_cold_full_dc,
        c.cltp_trip_dc,
        c.dcl_ma,
        c.dcl_taper_start_mv,
        c.cuvp_trip_mv,
        c.dhtp_warn_dc,
        c.dhtp_trip_dc,
        c.discharge_cold_full_dc,
        c.dltp_trip_dc,
    )
    self.cvl_mv = cfg.cvl_mv
    self.ccl_ma = 0
    self.dcl_ma = 0
    self.dvl_mv = cfg.dvl_mv
    self.charge_enable = False
    self.discharge_enable = False
    self.force_charge = False  # as sent (only while the pack can take a charge)
    self._force = False  # as judged from the SOC and the cells
    self._fc_until = 0  # the SOC (0.01 %) that ends the request
    self._low_ms = -1  # how long a cell has been at force_charge_cell_mv or below (-1: not)
    self.full_request = False
    self.floating = False
    self.no_full_s = 0  # seconds since the SOC last reached 97 % (persisted by the app)
    # limits an inverter set (Pylon RS485 0x94), applied only where stricter
    self.ext_until = 0
    self.ext_active = False
    self.ext_cv_mv = 0
    self.ext_dv_mv = 0
    self.ext_ccl_ma = 0
    self.ext_dcl_ma = 0
    self._ms = 0
    self._low_since = -1
    self._stack_mv = cfg.dvl_mv  # the last pack voltage read (none yet: DVL)
    self._held = False  # charging stopped by CCL reaching 0, until it may resume
    self.flags = 0  # LIM_* as last stepped


def precharge(self, cfg, events):
    # (its margin, timeout, retry pause and tries read from cfg where used: no copy of
    # them in each object; a config changes only with a restart, which builds a new one)
    self.cfg = cfg
    self.events = events
    self.state = IDLE
    self.tries = 0  # tries since the last success (logged)
    self.on_ms = 0  # and how long they kept the resistor on (PRECHARGE_FAIL)
    self.since = 0
    self.failed = False
    self.dsg = False  # outputs of step()
    self.pre = False


def balancer(self, cfg):
    # (its thresholds read from cfg at each decision, every BALANCE_PERIOD_MS: no copy of
    # them in each object; a config changes only with a restart, which builds a new one)
    self.cfg = cfg
    self.mask = 0  # bit i = cell i+1 bleeding
    # a decision to send to the front end (True; the app sets 0 once sent, 2 while a write
    # that failed waits for a good reading to go again)
    self.issue = False
    self._next = -1  # when the next decision is due (-1: at the first step; read by the core)
    self._mv = array("i", (0,) * _CELLS)  # the cells' values for balance._choose()


def button(self, cfg):
    self.cfg = cfg  # (the press lengths read from it where used: no copy of them here)
    # a RESET press was released: an UNLOCK may follow (while down or first, step() has
    # work; else the core need not call it)
    self.first = False
    self._first_at = 0  # when it started
    # as if a press had fired already: one held when the button is first sampled (stuck,
    # or held through the boot) counts only from its release, so a stuck button restarts
    # the BMS, clearing its latches, once at most rather than every 6 s; up when first
    # sampled, it is over at once (as if released once already)
    self.down = 3  # (samples seen pressed: 0 up, 1 one, 2 more; 3 then one released)
    self.since = 0
    self.fired = True
    self.held_ms = 0  # length of the last press


def soc(self, cfg, events):
    self.events = events
    self.rated_mas = cfg.capacity_mah * 3600
    self.full_mas = self.rated_mas
    self.full_cell_mv = cfg.full_cell_mv
    # (the full's current and hold read from it near full only: an attribute less, and
    # 23 fit a table of 23 slots)
    self.cfg = cfg
    # the cells' average held by a float charge (within 160 mV of the pack's float
    # voltage), if that is well inside the curve's upper knee (3.39 V: a float of 54.4 V
    # or more): a float set lower says little of the charge (no float calibration then)
    mv = (cfg.float_mv - 160) // 16
    self.float_cell_mv = mv if mv >= 3390 else 0x7FFF
    self.zero_ma = cfg.current_zero_ma
    self.leak_ma = cfg.soc_self_discharge_ma
    self.q_mas = self.full_mas // 2
    self.rem_uas = 0
    self.cpct = 5000  # estimate, 0.01 %
    self.shown_cpct = 5000  # what the panel and the inverter see
    self.full_seen = False  # calibrated to full since the last dip below 99 %
    self.offset_ma = 0
    self.cycles = 0
    self.dsg_mas = 0  # discharged since the last whole cycle
    self.cal = 0  # the last calibration: CAL_FULL, CAL_EMPTY or 0
    self.cal_count = 0  # calibrations so far (the app saves the state after each)
    self.count_since_cal = 0  # mAs counted (signed) since the last calibration
    self._full_since = -1
    self._rest_since = 0
    self._offset_acc = 0
    self._offset_n = 0


def soc_start(self, avg_cell_mv, stored, now, warm):
    """Soc.start(): the count from the persisted one, or from the cells' voltage."""
    if stored is not None:
        soc_restore(self, stored[1], stored[2], stored[3] if len(stored) > 3 else 0)
    knee = avg_cell_mv < OCV_LOW_KNEE_MV or avg_cell_mv > OCV_HIGH_KNEE_MV
    if stored is not None and (warm or not knee):
        self._set(min(max(stored[0], 0), self.full_mas), now, CAL_START_STORED)
    else:
        self._set_cpct(soc_from_ocv(avg_cell_mv), now, CAL_START_OCV)
    self._rest_since = now


def soc_restore(self, full, cycles, dsg):
    """Soc.restore(): the learned capacity (if within 50..110 % of rated), the cycle
    count and the discharge toward the next cycle (under a capacity) persisted earlier;
    the SOC keeps its percentage (a count already running keeps counting)."""
    if self.rated_mas // 2 <= full <= self.rated_mas // 10 * 11:
        self.q_mas = self.cpct * (full // _CAP)
        self.full_mas = full
    self.cycles = cycles
    if dsg > self.dsg_mas and dsg < self.full_mas:  # (a running count keeps its own)
        self.dsg_mas = dsg


def sample(self):
    """Sample(): the raw fields the front-end driver writes, and the aggregates
    Sample.reduce() fills."""
    self.cells_mv = [0] * _CELLS
    self.stack_mv = 0  # top of the cell stack: the battery voltage
    self.pack_mv = 0  # PACK terminal, outside the FETs
    self.ld_mv = 0  # load side of the discharge FET (pre-charge progress)
    self.current_ma = 0  # + charging, - discharging
    self.temps_dc = [0] * _TEMPS  # 0.1 degC
    self.valid = False  # False when the last read failed
    # aggregates, filled by reduce()
    self.max_mv = 0
    self.min_mv = 0
    self.max_cell = 0  # index 0..15
    self.min_cell = 0
    self.sum_mv = 0
    self.tmax_dc = 0  # cell sensors and ambient
    self.tmin_dc = 0
    self.tmax_slot = 0  # which temps_dc slot holds tmax_dc / tmin_dc
    self.tmin_slot = 0
    self.cell_tmax_dc = 0  # cell sensors only
    self.cell_tmin_dc = 0
    self.cell_tavg_dc = 0


def event_log(self, size):
    """EventLog(size): an empty ring of `size` records."""
    self.size = size
    self.next_seq = 0  # sequence number the next record gets
    self.floor = 0  # records below this were cleared (clear())
    # typed arrays: 4 bytes a slot for times and values, 1 for code and what
    self.t_ms = array("i", bytes(4 * size))
    self.code = bytearray(size)
    self.what = bytearray(size)
    self.value = array("i", bytes(4 * size))
    self.extra = array("i", bytes(4 * size))
