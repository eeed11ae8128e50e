"""The constructor of app.py's App, loaded by bms.lazy for it and dropped after (before
app_boot.py is loaded for the boot: the two are never in the heap together), so that
its code does not stay in a board's heap. Every attribute of an App is made here.
"""

from app import STAGE_BOOT
from bms import events as ev
from bms.config import Config
from bms.core import Inputs
from bms.sample import Sample


def init(self, board, config):
    """App(board, config): every attribute of the app."""
    self.board = board
    self.afe = board.afe
    self.fets = board.fets
    self.panel = board.panel
    # the input pins the tick reads (see tick())
    self._reverse_in = board.fets.reverse_pin
    self._passive_in = board.dry.passive_in
    self._rsd_in = board.dry.rsd_in
    self._button_in = board.panel.button
    self.dry = board.dry
    self.wdt = board.wdt
    self.store = board.store
    self.link = None
    self.packlink = None
    self.events = ev.EventLog()
    self.sample = Sample()
    self._spare = Sample()  # what the front end reads into (see tick())
    self.inputs = Inputs()
    self.cfg = Config()
    self._overrides = config  # the boot reads it and lets it go (app_boot.py)
    self.state = {}
    self.bms = None
    self.afe_ok = False
    self.dip = 0
    self.exceptions = 0
    self.ticks = 0
    self.healthy = False
    self.safe_hold_ms = 0  # healthy time still needed before leaving the safe state
    self._again = False  # failed again during the hold: the watchdog is not fed
    self._failed = False  # the last tick or beat raised
    self._stage = STAGE_BOOT
    self._next_tick = 0
    self._next_led = 0
    self._last_tick = 0
    self._next_house = 0
    self._last_flush = 0
    self._last_save = 0
    self._saved_cpct = 0
    self._saved_cal = 0
    self._saved_latch_moves = 0
    self.dt_ms = 0
    self.work_wait_ms = 0
    self._present = False  # the inverter, as last logged
    self.dip_changes = 0  # the DIP switch's changes since the boot (app_chips.dip_changed)
    self._bus_off = 0  # the CAN controller's bus-off count, as last seen
    self._bus_off_at = -1  # when a bus-off was last logged (-1: never)
    self._can_failed = False
    self._can_retry_at = 0
    self._can_down_at = -1  # when the link last put the controller down (-1: never)
    self._can_silent = 0  # its failures since, not logged (see app._link_events)
    self.store_errors = 0
    self.store_degraded = 0  # 1 << STORE_* of the storage operations failing now
    self._state_read = False  # the state on flash was read (or there is none)
    self.implausible = 0  # front-end readings refused as outside physics
    self.trial = None  # a new image on trial (service/image.py): confirmed when healthy
    self.service_clock = None  # (epoch s, ticks ms): the service link's SET_CLOCK
    # (a trial's own counters are made with it: app_boot.py's image_boot)
