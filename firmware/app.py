"""The scheduler: owns the tick and wires the board's drivers to the pure core.

Every `tick_ms` (100 ms by default) it reads the front end into the preallocated
Sample and the inputs into Inputs, runs the core (bms/core.py) and writes its decisions
to the FETs and dry contacts; every 50 ms it refreshes the LEDs from the core's
patterns. It feeds the watchdog only after a healthy tick (a valid reading, no
exception). Any unexpected exception commands the safe state first (all FETs off, both
dry contacts open, ALM on), then logs the event; the safe state then holds for
SAFE_HOLD_MS of healthy ticks before the core may close a FET again.

On a board, main.py runs App(board).run(). On the host, the simulator calls poll()
with the simulated time instead, so the same code runs in both places.
"""

from micropython import const

from bms import events as ev
from bms import ticks
from bms.config import Config, ConfigError
from bms.core import Bms, Inputs
from bms.sample import Sample
from drivers.panel import LED_ALM

_LED_MS = const(50)
# after an unexpected exception the safe state holds until this long of healthy ticks
SAFE_HOLD_MS = const(3000)
_AGE_CAP_MS = const(0x20000000)

# tick stages, logged with an exception to say where it happened
STAGE_READ = const(1)
STAGE_CORE = const(2)
STAGE_WRITE = const(3)
STAGE_LED = const(4)
STAGE_BOOT = const(5)


class App:
    def __init__(self, board, config=None, stored_soc=None):
        """board: the pin map and drivers (boards/*); config: overrides of the defaults;
        stored_soc: the persisted (q_mas, full_mas, cycles), if any."""
        self.board = board
        self.afe = board.afe
        self.fets = board.fets
        self.panel = board.panel
        self.dry = board.dry
        self.wdt = board.wdt
        self.events = ev.EventLog()
        self.sample = Sample()
        self.inputs = Inputs()
        self.cfg = Config()
        self._overrides = config
        self._stored_soc = stored_soc
        self.bms = None
        self.dip = 0
        self.exceptions = 0
        self.ticks = 0
        self.healthy = False
        self.safe_hold_ms = 0  # healthy time still needed before leaving the safe state
        self._failed = False  # the last tick or beat raised
        self._stage = STAGE_BOOT
        self._next_tick = 0
        self._next_led = 0
        self._last_tick = 0
        self._boot = 0
        self.dt_ms = 0

    # -- boot ----------------------------------------------------------------------
    def start(self, now):
        self.events.log(now, ev.BOOT, self.board.reset_cause(), self.board.boot_count)
        self.fets.off()
        self.dry.open_all()
        if self._overrides:
            try:
                self.cfg.update(self._overrides)
                self.events.log(now, ev.CONFIG, 0, len(self._overrides))
            except ConfigError:
                self.events.log(now, ev.CONFIG, 1, len(self._overrides))
        self.bms = Bms(self.cfg, self.events, self._stored_soc)
        self.dip = self.panel.read_dip()
        self.events.log(now, ev.DIP, self.dip)
        self.afe_ok = self.afe.probe() and self.afe.enable_fet_control()
        if not self.afe_ok:
            self.events.log(now, ev.SENSOR, 0, self.afe.errors)
        self.tick_ms = self.cfg.tick_ms
        self._next_tick = now
        self._next_led = now
        self._last_tick = now
        self._boot = now

    # -- scheduling ----------------------------------------------------------------
    def tick_due(self, now):
        return ticks.diff(now, self._next_tick) >= 0

    def poll(self, now):
        """Run whatever is due at `now`; returns ms until something is due again."""
        if ticks.diff(now, self._next_tick) >= 0:
            self.tick(now)
            self._next_tick = ticks.add(self._next_tick, self.tick_ms)
            if ticks.diff(now, self._next_tick) >= 0:  # overran: skip, do not burst
                self._next_tick = ticks.add(now, self.tick_ms)
        if ticks.diff(now, self._next_led) >= 0:
            self.led_beat(now)
            self._next_led = ticks.add(self._next_led, _LED_MS)
            if ticks.diff(now, self._next_led) >= 0:
                self._next_led = ticks.add(now, _LED_MS)
        a = ticks.diff(self._next_tick, now)
        b = ticks.diff(self._next_led, now)
        return a if a < b else b

    def run(self):
        """The board's main loop; never returns."""
        board = self.board
        self.start(board.ticks_ms())
        while True:
            wait = self.poll(board.ticks_ms())
            if wait > 0:
                board.sleep_ms(wait)

    # -- the tick ------------------------------------------------------------------
    def tick(self, now):
        self.healthy = False
        try:
            self._tick(now)
        except Exception as exc:  # noqa: BLE001 - the safety net: anything at all
            self._fail(now, exc)
            return
        self._failed = False
        if self.healthy:
            self.wdt.feed()

    def _tick(self, now):
        self._stage = STAGE_READ
        self.dt_ms = ticks.diff(now, self._last_tick)
        self._last_tick = now
        s = self.sample
        afe = self.afe
        if afe.read(s):
            s.reduce()
        inp = self.inputs
        inp.scd = afe.short_circuit()
        inp.reverse = self.fets.reversed()
        dry = self.dry
        inp.rsd = dry.rapid_shutdown()
        inp.passive = dry.passive()
        inp.button = self.panel.pressed()
        if self.safe_hold_ms > 0 and s.valid:
            self.safe_hold_ms -= self.dt_ms
        inp.hold = self.safe_hold_ms > 0
        age = ticks.diff(now, self._boot)
        inp.comm_age_ms = age if age < _AGE_CAP_MS else _AGE_CAP_MS
        self._stage = STAGE_CORE
        b = self.bms
        b.step(s, inp, now, self.dt_ms)
        self._stage = STAGE_WRITE
        self.fets.set(b.chg, b.dsg, b.pre)
        dry.write(b.relay_chg, b.relay_dsg)
        if b.restart:
            b.restart = False
            self.board.restart()
        self.ticks += 1
        self.healthy = s.valid

    def led_beat(self, now):
        if self._failed or self.bms is None:
            self.panel.show(LED_ALM)
            return
        try:
            logic = self.bms.panel
            self.panel.show(logic.leds(ticks.diff(now, logic.origin)))
        except Exception as exc:  # noqa: BLE001
            self._stage = STAGE_LED
            self._fail(now, exc)

    def _fail(self, now, exc):
        """Safe state first, then the log; every step guarded so one failure cannot
        stop the next."""
        self.exceptions += 1
        self._failed = True
        self.safe_hold_ms = SAFE_HOLD_MS
        try:
            self.fets.off()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.dry.open_all()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.panel.show(LED_ALM)
        except Exception:  # noqa: BLE001
            pass
        self.events.log(now, ev.EXCEPTION, self._stage, self.exceptions)
        self.last_exception = exc
