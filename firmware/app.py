"""The scheduler: owns the tick and wires the board's drivers to the pure core.

Every `tick_ms` (100 ms by default) it reads the front end into the preallocated
Sample and the inputs into Inputs, runs the core (bms/core.py) and writes its decisions
to the FETs and dry contacts; every 50 ms it refreshes the LEDs from the core's
patterns. It feeds the watchdog only after a healthy tick (a valid reading, no
exception). Any unexpected exception commands the safe state first (all FETs off, both
dry contacts open, ALM on), then logs the event; the safe state then holds for
SAFE_HOLD_MS of healthy ticks before the core may close a FET again. An exception
anywhere (the tick, the LED beat, the link, the housekeeping) while that hold still
runs stops the feeding until a hold is over: a failure that repeats ends in a reset.

On a board, main.py runs App(board).run(). On the host, the simulator calls poll()
with the simulated time instead, so the same code runs in both places.
"""

import micropython
from micropython import const
from packlink import PackLink  # noqa: F401 - held in service (app_boot.py builds it)

from bms import events as ev
from bms import lazy, ticks
from bms.config import Config  # noqa: F401 - held in service (app_init.py builds it)
from bms.core import Inputs  # noqa: F401 - held in service (app_init.py builds it)
from bms.protections import SENSOR_FAIL
from bms.sample import Sample  # noqa: F401 - held in service (app_init.py builds it)
from drivers.panel import LED_ALM
from inverter_link import InverterLink  # noqa: F401 - held in service (app_boot.py builds it)

_LED_MS = const(50)
_HEARD_MS = const(1000)  # an inverter heard within this needs no look at the pack link
# a whole number of every LED pattern's period (bms/panel.py): the LED beat moves the
# pattern's origin on by it, phase kept, so that a pattern held for days never reaches
# the 6.2-day reach of a tick difference (it went steady ON there)
_REPHASE_MS = const(3600000)
_SENSOR_FAIL_BIT = 1 << SENSOR_FAIL
PWRON_RESET = const(1)  # machine.PWRON_RESET on rp2 and esp32
_HOUSEKEEPING_MS = const(1000)
_CLOCK_STEP_MS = const(3600000)  # the service clock's anchor is moved on this often
_EVENT_FLUSH_MS = const(60000)  # routine events reach flash within this
_STATE_SAVE_MS = const(600000)  # the SOC is saved at least this often
# or when it moved this much (0.01 %), or a calibration, a latch or a lockout count moved.
# A watchdog's reset loses the charge counted since the last save (the next boot starts
# from it): up to this step, 0.25 % (it was 1 %, and the soak's daily reset fell in the
# evening's discharge). Flash wear: a pack swinging 100 % down and up once a day saves
# ~800 times a day (814 in a simulated day; with the timed saves, under ~950); a current
# swinging +-3 A every 2 s (a zero-export inverter) 144, the timed saves (it saved at
# every mode change, 43 200 a day, though the state holds no mode). Each is a 137 B file
# (lockout counts open: ~60 B more) written and renamed on littlefs: at worst
# (not inlined in the directory, MicroPython's default cache) a fresh 4 KB block
# erased per save plus the metadata's commits, ~1000 erases a day. littlefs allocates
# round the free blocks (and moves metadata every 100 erases): over the ~300 free
# blocks of an RP2040's 1.4 MB, ~3.5 erases a block a day, 100 000 cycles in ~75 years.
_STATE_SAVE_CPCT = const(25)
# after an unexpected exception the safe state holds until this long of healthy ticks
SAFE_HOLD_MS = const(3000)

# tick stages, logged with an exception to say where it happened
STAGE_READ = const(1)
STAGE_CORE = const(2)
STAGE_WRITE = const(3)
STAGE_LED = const(4)
STAGE_BOOT = const(5)
STAGE_STORE = const(6)
STAGE_COMMS = const(7)
# the storage operations, in the EXCEPTION events of STAGE_STORE: extra is the operation
# when it starts failing and minus it when it works again (value: store_errors); a
# failure is retried at the next housekeeping beat, logged once, counted every time
STORE_EVENTS = const(1)  # reading the event files
STORE_STATE = const(2)  # reading the state
STORE_SAVE = const(3)  # writing the state
STORE_APPEND = const(4)  # writing events
STORE_SET_ASIDE = const(5)  # a state that stayed unreadable kept as state.bad (once)
# 6: the image pointer's write at the end of a new image's trial (app_trial.py)
# on a board, the longest sleep between polls: the UART's receive buffer and the CAN
# controller's two receive buffers must be emptied before they overflow
COMM_POLL_MS = const(5)
CAN_RETRY_MS = const(10000)  # a CAN controller that did not start is tried again
_CAN_CLEAN_MS = const(60000)  # a CAN controller down again sooner fails quietly (app_chips)
_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates

# events written to flash at the next housekeeping beat rather than within a minute
_URGENT = (
    ev.BOOT,
    ev.TRIP,
    ev.LATCH,
    ev.LOCK,
    ev.EXCEPTION,
    ev.RESET,
    ev.CONFIG,
    ev.SENSOR,
    ev.UPDATE,
)


class App:
    def __init__(self, board, config=None):
        """board: the pin map and drivers (boards/*); config: overrides of the defaults.
        The body (every attribute, commented) is in app_init.py, loaded for it and
        dropped after."""
        lazy.run("app_init", "init", self, board, config)

    def __getattr__(self, name):
        """role, address and told, computed when read. (Not properties: a class with a
        property looks itself up before every attribute store on its objects, which
        costs an RP2040 about 2500 cycles a store; __getattr__ runs only on a miss.)
        - role: "master" or "slave" once the chain has decided (a lone pack is its own
          master), else None: what the trace and the service reads show;
        - address: this pack's address in the chain (1 = the master), None until
          decided;
        - told: what the inverter is told, shaped as the core: the system's values on
          the master of packs in parallel, else this pack's own (the trace's `limits`)."""
        if name == "told":
            pk = self.packlink
            return self.bms if pk is None else pk.report(self.bms)
        if name == "role" or name == "address":
            pk = self.packlink
            if pk is None or not pk.addr.address:
                return None
            if name == "address":
                return pk.addr.address
            return "master" if pk.addr.master else "slave"
        raise AttributeError(name)

    # -- boot ----------------------------------------------------------------------
    def start(self, now):
        """Boot: restore the log and state, take the stored config, build the core and
        the links (app_boot.py, loaded for it and dropped after)."""
        lazy.run("app_boot", "start", self, now)

    def _afe_setup(self, now, reprobe=False):
        """Find the front end, give it our configuration, hand it the FETs; whether it
        worked (app_chips.py, loaded for it and dropped after: at boot, and while the
        front end gives no reading)."""
        return lazy.run("app_chips", "afe_setup", self, now, reprobe)

    # -- scheduling ----------------------------------------------------------------
    def tick_due(self, now):
        return ticks.diff(now, self._next_tick) >= 0

    def works_at(self, now):
        """Whether poll(now) does more than refresh the LEDs (a tick or housekeeping)."""
        return ticks.diff(now, self._next_tick) >= 0 or ticks.diff(now, self._next_house) >= 0

    # (poll, comms and led_beat are bytecode: native, they cost a board 2.5 KB of heap
    # for about 2 000 cycles each; the tick, the budget that counts, stays native)
    def poll(self, now):
        """Run whatever is due at `now`; returns ms until something is due again."""
        rs = self.board.rs485
        if rs is not None and rs.sending:
            # release the RS485 bus before anything else: a tick takes a while on a board,
            # and the master's next request must not find our driver still on
            try:
                rs.service(now)
            except Exception as exc:  # noqa: BLE001 - the safety net, as for comms
                self._stage = STAGE_COMMS
                self._fail(now, exc)
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
        if ticks.diff(now, self._next_house) >= 0:
            self._next_house = ticks.add(now, _HOUSEKEEPING_MS)
            self.housekeeping(now)
        wait = ticks.diff(self._next_tick, now)
        c = self.comms(now)
        if c < wait:
            wait = c
        h = ticks.diff(self._next_house, now)
        # what is due next besides the LED beat (a simulator that samples the LEDs only
        # now and then need not wake the firmware for the beats in between)
        self.work_wait_ms = wait if wait < h else h
        b = ticks.diff(self._next_led, now)
        return b if b < wait else wait

    def comms(self, now):
        """The inverter link, between ticks; returns ms until it has a frame due."""
        b = self.bms
        if b is None or b.sample is None:
            return 1000  # nothing to report before the first tick
        try:
            pk = self.packlink
            # a service restart announced (service/restart.py): the links report its view
            n = self.link.notice
            if n is not None and n.due(now):
                return 1
            w = pk.poll(b if n is None else n.view(b), now)
            told = pk.report(b)
            c = self.link.poll(told if n is None else n.view(told), now)
            return c if c < w else w
        except Exception as exc:  # noqa: BLE001
            self._stage = STAGE_COMMS
            self._fail(now, exc)
            return 1000

    def run(self):
        """The board's main loop (on the host the simulator calls poll(); the tests run
        this one on a fake clock); it ends only by an exception, in the safe state."""
        board = self.board
        self.start(board.ticks_ms())
        try:
            while True:
                wait = self.poll(board.ticks_ms())
                if wait > 0:
                    board.sleep_ms(wait if wait < COMM_POLL_MS else COMM_POLL_MS)
        except BaseException as exc:  # noqa: BLE001 - the loop ends: the pack unwatched
            # (Ctrl-C on the USB console is a KeyboardInterrupt, no Exception: past the
            # safety net, it left the FETs closed with nothing protecting the pack)
            self._fail(board.ticks_ms(), exc)
            raise

    # -- the tick ------------------------------------------------------------------
    @micropython.native
    def tick(self, now):
        # (the tick's work written out in this try: a method of its own would cost a board
        # a call, ~2500 cycles)
        # (the stage in a local, given to _fail() only when it is needed: a write to an
        # attribute costs a board ~700 cycles)
        stage = STAGE_READ
        try:
            self.dt_ms = dt = ticks.diff(now, self._last_tick)
            self._last_tick = now
            # the front end reads into the spare sample, which becomes the sample only when
            # the reading is good: an invalid one (failed transfer, failed CRC, a value
            # outside physics) leaves the last good values, marked invalid (the blind path)
            s = self.sample
            afe = self.afe
            spare = self._spare
            if afe.read(spare):
                if spare.reduce():
                    self.sample = spare
                    self._spare = s
                    s = spare
                else:
                    self.implausible = (self.implausible + 1) & _COUNT_MASK
                    s.valid = False
            else:
                s.valid = False
            inp = self.inputs
            inp.scd = afe.scd  # (an attribute, not a method: a call costs a board 3000 cycles)
            inp.afe_safety = afe.safety_a | afe.safety_b << 8 | afe.safety_c << 16
            # the reverse-polarity detector, the dry contact's inputs and the RESET button,
            # all active low (drivers/fets.py, drycontact.py, panel.py), read here from their
            # pins: a driver's method call each would cost a board ~2500 cycles more
            inp.reverse = not self._reverse_in.value()
            inp.passive = not self._passive_in.value()
            inp.rsd = not self._rsd_in.value()
            inp.button = not self._button_in.value()
            hold = self.safe_hold_ms
            if hold > 0 and s.valid:
                self.safe_hold_ms = hold = hold - dt
            inp.hold = hold > 0
            link = self.link
            age = link.age_ms(now)
            pk = self.packlink
            # a slave's is its master (no call while the inverter was heard within 1 s)
            inp.comm_age_ms = (
                age if age < _HEARD_MS or not link.muted else pk.comm_age_ms(age, now)
            )
            inp.pack_lost = pk.pack_lost
            b = self.bms
            b.parallel = pk.ms_led
            stage = STAGE_CORE
            b.step(s, inp, now, dt)
            stage = STAGE_WRITE
            # (the drivers called at every tick, though they write only a change: the
            # write stage is then always reached, and its failures caught, as
            # tools/inject.py checks)
            self.fets.set(b.chg, b.dsg, b.pre)
            self.dry.write(b.relay_chg, b.relay_dsg)
            if b.balancer.issue is True or b.balancer.issue and s.valid:
                # a write that failed (2) goes again at the next tick whose reading was
                # good: a lost stop left the cells bleeding through a discharge until the
                # chip's own timer ran out, and a bus that does not answer is not written
                # at every tick (three timeouts more a tick)
                b.balancer.issue = 0 if afe.set_balancing(b.balancer.mask) else 2
            if b.restart:  # the RESET button held 5 s: a clean start, latches cleared
                b.restart = False
                self._save_state(now, True, True)
                self.board.restart()
            self.ticks = (self.ticks + 1) & _COUNT_MASK
            # healthy: a valid reading, or the sensor failure already latched (the safe state
            # is established and held; a reset loop would only flood the event log)
            self.healthy = healthy = s.valid or b.engine.names & _SENSOR_FAIL_BIT
        except Exception as exc:  # noqa: BLE001 - the safety net: anything at all
            self.healthy = False
            self._stage = stage
            self._fail(now, exc)
            return
        self._failed = False
        if hold <= 0:  # (safe_hold_ms, as the tick left it)
            self._again = False
        elif self._again:
            return  # failing again before the safe state's hold was over: no more feeding
        if healthy:
            self.wdt.feed()

    def led_beat(self, now):
        try:
            if self._failed or self.bms is None:
                self.panel.show(LED_ALM)
                return
            logic = self.bms.panel
            elapsed = ticks.diff(now, logic.origin)
            if elapsed >= _REPHASE_MS:
                logic.origin = ticks.add(logic.origin, _REPHASE_MS)
                elapsed -= _REPHASE_MS
            self.panel.show(logic.leds(elapsed))
        except Exception as exc:  # noqa: BLE001
            self._stage = STAGE_LED
            self._fail(now, exc)

    # -- the slow beat: outside the tick, may allocate -----------------------------
    def housekeeping(self, now):
        """Once a second: a DIP change (effective after restart), events and state to
        flash. An exception in its own work is caught by the safety net, as one in the
        tick, and the flash is written all the same (the events then tell why). Storage
        failures are counted and logged once per episode, never allowed to stop the
        tick."""
        try:
            self._stage = STAGE_READ
            if not self.afe_ok or not self.sample.valid:
                self.afe_ok = self._afe_setup(now, reprobe=True)
            c = self.service_clock
            if c is not None and ticks.diff(now, c[1]) >= _CLOCK_STEP_MS:
                # the wall clock's anchor moved on an hour at a time: one set more than 6.2
                # days ago read as days ahead (bmsctl dated the records 12.4 days early,
                # and a service restart put the clock back as much)
                self.service_clock = (
                    c[0] + _CLOCK_STEP_MS // 1000,
                    ticks.add(c[1], _CLOCK_STEP_MS),
                )
            self.bms.balancer.rebase(now)
            bits = self.panel.read_dip()
            if bits != self._dip_seen:  # (rare: app_chips.py is loaded for it and dropped)
                self._dip_seen = bits  # (first: a module that cannot load fails once)
                lazy.run("app_chips", "dip_changed", self, bits, now)
            self._stage = STAGE_COMMS
            self._link_events(now)
            if self.trial is not None:
                import app_trial  # held while a new image is on trial, dropped after

                app_trial.step(self, now)
        except Exception as exc:  # noqa: BLE001
            self._fail(now, exc)
        try:
            self._stage = STAGE_STORE
            self._flush(now)
            if self.cfg.console_status_ms:
                from statusline import emit  # imported only where it is switched on

                emit(self, now, self.cfg.console_status_ms)
            b = self.bms
            soc = b.soc
            moved = abs(soc.cpct - self._saved_cpct) >= _STATE_SAVE_CPCT
            due = ticks.diff(now, self._last_save) >= _STATE_SAVE_MS
            # (none at a mode change: see _STATE_SAVE_CPCT)
            changed = soc.cal_count != self._saved_cal
            changed = changed or b.engine.latch_moves != self._saved_latch_moves
            # a state not read at boot is read first (see _save_state)
            if (b.started and (moved or due or changed)) or not self._state_read:
                if self._save_state(now):  # else still due: tried again at the next beat
                    self._last_save = now
        except Exception as exc:  # noqa: BLE001 - the store's own failures stay in the store
            self._fail(now, exc)

    def _link_events(self, now):
        link = self.link
        if not (self._can_failed or link.can_ok or self.board.can is None):
            lazy.run("app_chips", "can_down", self, now)  # the link put it down
        elif (
            self._can_silent and link.can_ok and ticks.age(now, self._can_down_at) >= _CAN_CLEAN_MS
        ):
            # running clean that long since it last went down (a restart that fails is
            # no recovery: can_ok stays False)
            self.events.log(now, ev.COMM, ev.COMM_CAN, 1, -self._can_silent)
            self._can_silent = 0
        if self._can_failed and ticks.diff(now, self._can_retry_at) >= 0:
            # (re)start the CAN controller (app_chips.py, loaded for it and dropped after:
            # at boot, and every CAN_RETRY_MS while it fails)
            lazy.run("app_chips", "can_setup", self, now)
        present = link.heard_ever() and link.age_ms(now) < self.cfg.inverter_lost_ms
        if present and not self._present:
            self.events.log(now, ev.COMM, ev.COMM_INVERTER, 1, self.protocol)
        self._present = present  # its loss is the INVERTER_LOST warning
        can = self.board.can
        if can is not None and can.bus_off != self._bus_off:
            lazy.run("app_chips", "bus_off", self, can, now)

    def _flush(self, now):
        log = self.events
        seq = self.store.flushed_seq
        if seq >= log.next_seq:
            return
        urgent = False
        codes = log.code  # (each record's code where it lies: get() would make a tuple a
        size = log.size  # record, every second while the events wait for their write)
        for k in range(max(seq, log.oldest_seq()), log.next_seq):
            if codes[k % size] in _URGENT:
                urgent = True
                break
        # (and before the log's numbers reach the mark reserved on flash, see drivers/store)
        # (a last flush more than 6.2 days ago, a quiet pack's, is due too: ticks.age)
        due = ticks.age(now, self._last_flush) >= _EVENT_FLUSH_MS
        if urgent or due or self.store.reserve_due(log):
            # the write (app_save.py, loaded for it and dropped after: at most once a
            # minute in service, or after an urgent event)
            lazy.run("app_save", "flush_events", self, now)

    def _save_state(self, now, unlatch=False, restart=False):
        """The state to flash (app_save.py, loaded for it and dropped after: a save is
        rare), and before a restart the event log's records not yet there; returns
        whether the state got there."""
        return lazy.run("app_save", "save_state", self, now, unlatch, restart)

    def _fail(self, now, exc):
        """Safe state first, then the log; every step guarded so one failure cannot
        stop the next."""
        self.exceptions = (self.exceptions + 1) & _COUNT_MASK
        self._failed = True
        # failed again while the last failure's hold runs (in any stage: the tick, the
        # LED beat, the link, the housekeeping): the watchdog is no longer fed until a
        # hold is over, so a failure that repeats ends in a reset
        self._again = self.safe_hold_ms > 0
        self.safe_hold_ms = SAFE_HOLD_MS
        try:
            self.fets.off()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.dry.open_all()
        except Exception:  # noqa: BLE001
            pass
        try:  # (bleeding is a discharge too: it went on through the safe state)
            self.bms.balancer.stop()
            self.afe.set_balancing(0)
        except Exception:  # noqa: BLE001
            pass
        try:
            self.panel.show(LED_ALM)
        except Exception:  # noqa: BLE001
            pass
        b = self.bms
        if not (self._again or b is not None and b.afe_failing):
            # (one record an episode: failing again within the hold, a failure that
            # repeats at every poll logged 800 records in 4 s and pushed every trip off
            # the log; and none once episodes that kept coming back have failed the pack
            # (bms/core.py, _spell), one every 4 s for ever; the count goes on, and the
            # next record's value says how many)
            self.events.log(now, ev.EXCEPTION, self._stage, self.exceptions)
        self.last_exception = exc
