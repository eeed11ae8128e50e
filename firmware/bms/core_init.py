"""The constructors of bms/core.py's Bms and Inputs, loaded by bms.lazy for each and
dropped after, so that their code does not stay in a board's heap: both are built once,
at boot. Every attribute of a Bms and of an Inputs is made here. Also the core's answer
to a RESET button action, loaded for a person's press.
"""

from array import array

from bms import button as btn
from bms import events as ev
from bms import panel as pnl
from bms import protections as pt
from bms.balance import Balancer
from bms.core import STANDBY
from bms.limits import Limits
from bms.precharge import Precharge
from bms.protect import Engine
from bms.sample import CELLS, T_MOS
from bms.soc import Soc


def init(self, cfg, events, stored_soc):
    self.cfg = cfg
    self.events = events
    self.vals = array("i", bytes(4 * pt.N_VALS))  # the engine reads it with viper
    self.extra = array("i", bytes(4 * pt.N_VALS))  # (as vals: fill() writes it with viper)
    self.extra[pt.V_MOS_T] = T_MOS + 1  # the one sensor this slot reads
    rows, self._docp_row, self._docp_warn_row = pt.build(cfg)
    self.engine = Engine(rows, events, cfg.ocp_lock_count, cfg.ocp_lock_window_ms)
    self.precharge = Precharge(cfg, events)
    self.button = btn.Button(cfg)
    self.panel = pnl.PanelLogic()
    self.soc = Soc(cfg, events)
    self.balancer = Balancer(cfg)
    self.limits = Limits(cfg)
    # the limits' inputs at their last step, the time since not yet counted by them,
    # and whether the next tick must step them whatever the inputs
    self._lim_due = True
    self._lim_dt = 0
    self._lim_chg = 2  # (the charge path as last given to the limits: none yet)
    self._lim_dsg = 2  # (the discharge path as last given to the limits: none yet)
    self._lim_soc = 0
    self._lim_cap = 0
    self._lim_full_s = 0
    self.sample = None  # the last sample stepped (what the protocols report)
    self.stored_soc = stored_soc
    self.warm_start = False  # not a power-on: the SOC starts from stored_soc (bms/soc)
    self.zero_ma = cfg.current_zero_ma
    self.eff_ma = cfg.effective_current_ma
    # decisions
    self.chg = False
    self.dsg = False
    self.pre = False
    self.allow_chg = False
    self.allow_dsg = False
    self.relay_chg = False
    self.relay_dsg = False
    self.mode = STANDBY
    self.reported_ma = 0
    self.restart = False
    self.sleeping = False
    self.sleep_cuvp = False  # asleep after CUVP: the pack still asks for a charge
    self._sleep_idle = False  # asleep for want of an inverter: its return wakes it
    self.docp_cont_ma = cfg.docp_cont_ma
    self._afe_blind_ms = cfg.afe_blind_ms  # (read every tick: one lookup, not two)
    # state
    self.started = False
    self.settled = False  # boot_settle_ms since the first valid reading
    self._first_ms = 0
    self._guard_chg = False
    self._guard_dsg = False
    self._pending_mode = -1
    self._mode_at = -1  # when the current last changed the mode (-1: not yet)
    self._mode_quiet = 0  # the current's mode changes not logged since (Bms._set_mode)
    self._pending_since = 0
    self._discharging = False
    self._dsg_end = -1  # when the last discharge stopped (-1: none yet)
    self._cuvp_since = -1
    self._idle_since = -1
    self._blind_ms = 0  # how long the readings have been invalid
    self._spells = 0  # spells of invalid readings or safe-state holds in a row (Bms._spell)
    self._spell_ms = 0  # when the last began
    self.afe_failing = 0  # 1: too many spells, the readings count as invalid until RESET
    self._held = False  # the app's safe-state hold as the last tick saw it
    self._was_full = False
    self._in_raw = 0  # the passive and RSD inputs as last read (core._IN_* bits)
    self._in_at = 0  # when they last changed
    self._in_on = 0  # as they act: each at once, released 1 s after it reads released
    self._afe_safety = 0
    self.parallel = False  # more than one pack on the link (M/S LED)
    self.modules = 1  # packs in what the frames report (the system's view has more)
    # the board's unique id, right-aligned (app_boot.py sets it): the serial number the
    # protocols report (16 hex characters) and the pack link's IDENT frame
    self.uid = bytearray(8)
    self.online = 1  # of them heard; and packs silent or lost (Victron's 0x372)
    self.offline = 0
    self.unlocked = False  # the service link's physical unlock (two RESET presses)
    self.unlock_at = 0


def start(self, s, now):
    """The first valid sample: the SOC from the persisted count or the cells, and DOCP's
    continuous limit from the temperature."""
    self.started = True
    self._first_ms = now
    self.soc.start(s.sum_mv // CELLS, self.stored_soc, now, self.warm_start)
    self._set_docp_limit(s)


def inputs(self):
    """Inputs(): every input at rest."""
    self.scd = False  # the front end reports a short circuit
    self.reverse = False  # the reverse-polarity detector
    self.rsd = False  # rapid-shutdown input (dry contact 6)
    self.passive = False  # passive input (dry contact 5)
    self.button = False  # RESET held
    self.hold = False  # the app's safe-state hold after an unexpected exception
    self.comm_age_ms = 0  # ms since the inverter last spoke (capped)
    self.pack_lost = False  # a pack of the parallel system is lost (packlink.py)
    self.afe_safety = 0  # the front end's Safety Status A | B << 8 | C << 16


def button(self, action, now):
    """Bms's answer to a RESET button action (bms/button.py): rare, a person's press."""
    self.events.log(now, ev.RESET, action, self.button.held_ms)
    if action == btn.UNLOCK:
        self.unlocked = True
        self.unlock_at = now
    if action == btn.RESET or action == btn.UNLOCK:
        self._spells = self.afe_failing = 0
        self.engine.reset()
        self.precharge.reset()
        self.sleeping = False
    elif action == btn.RESTART:
        self.restart = True
    else:  # sleep or wake
        self.sleeping = not self.sleeping
        self.sleep_cuvp = self._sleep_idle = False
