"""The BMS core: one tick of measurements and inputs in, every decision out.

Per tick, in this order: the values every protection row reads (from the snapshot's
aggregates), the protection engine, the RESET button, sleep, the pack mode, the FETs
(with pre-charge) and the dry contacts, the SOC, and the panel's LED patterns.

Decisions, read by app.py after step():
- chg, dsg, pre: the FET commands; relay_chg, relay_dsg: the dry contacts (closed while
  charging / discharging is allowed, and relay_chg asleep after CUVP: see below);
- mode: off/standby/charge/discharge/fault/sleep; reported_ma: the current as reported
  (0 below the 0.5 A threshold);
- panel: the LED patterns (bms/panel.py); restart: the RESET button asks for a restart.

Choices beyond the manual, each in one place below:
- FETs stay open until boot_settle_ms of valid readings have passed, so no protection
  is skipped because its delay had not run yet at power-up;
- the diode guard: while only charge-direction protections (COVP, CHTP...) or the
  passive input hold the charge FET open and the pack discharges at least
  effective_current_ma, the charge FET closes so the discharge does not heat its body
  diode (and the reverse). It never applies while a fault opens both FETs, during rapid
  shutdown, sleep or the safe state, nor against a latched or locked row (a DOCP or
  COCP lockout: the current through the open FETs' body diodes is then held to diode_ma,
  bms/limits.py);
- current-driven mode changes must hold mode_debounce_ms; fault and sleep are immediate;
- asleep after CUVP (its FETs open), the pack asks the inverter for the charge that
  wakes it, as if awake (limits, force-charge request, the charge dry contact): only a
  charger seen at its terminals wakes it by itself, and an inverter that obeys CCL 0 and
  charge-enable clear never shows one, so the over-discharged pack would wait for a
  person while its cells drain. Asleep by the button or for want of an inverter, it
  asks for nothing;
- RESET clears latched and locked protections only; protections that release by
  themselves keep their state.
"""

from micropython import const

from bms import events as ev
from bms import lazy, ticks
from bms.limits import requests  # (Limits.step()'s end, called alone: see step())
from bms.panel import patterns_key
from bms.protections import fill as fill_vals

OFF = const(0)
STANDBY = const(1)
_CHARGE = const(2)
_DISCHARGE = const(3)
_FAULT = const(4)
SLEEP = const(5)
MODE_NAMES = ("off", "standby", "charge", "discharge", "fault", "sleep")
_MODE_QUIET_MS = const(60000)  # the current's mode changes closer than this: not logged
_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates


def _mask(*names):
    m = 0
    for n in names:
        m |= 1 << n
    return m


# The masks of protection bits as literals (bms.protections' numbers; test_core checks
# them against _mask()): a const is folded into the code where a module global would
# cost a dictionary lookup at every use, every tick
# SCP, REVERSE, SENSOR_FAIL, MOS_FAIL, PRECHARGE_FAIL
_FAILURES = const(1 << 11 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 15)
# CHTP, DHTP, CLTP, DLTP, MOS_OTP
_TEMPERATURES = const(1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 16)
_UNDER_VOLTAGES = const(1 << 3 | 1 << 4)  # CUVP, PUVP
# the manual's "warning" for the ALM LED: imbalance, low/high voltage, high current,
# temperature (CELL_IMBALANCE, LOW_VOLTAGE, HIGH_VOLTAGE, HIGH_CURRENT, HIGH_TEMP, LOW_TEMP)
_LED_WARNINGS = const(1 << 17 | 1 << 18 | 1 << 19 | 1 << 20 | 1 << 21 | 1 << 22)
# protections during which no cell is bled: all but the charge-end ones (bleeding the
# high cell is what COVP/POVP need): bits 1 to FIRST_WARNING - 1, less COVP and POVP
_NO_BALANCING = const(((1 << 17) - 2) & ~(1 << 1 | 1 << 2))
_COVP_BIT = const(1 << 1)
_CUVP_BIT = const(1 << 3)
_DOCP_BIT = const(1 << 10)
_COCP_BIT = const(1 << 9)

# bms.protections' FET_* and V_PACK_LOST, as literals for the same reason
# (test_tick_cost checks them)
FET_CHG = const(1)
FET_DSG = const(2)
FET_PRE = const(4)
_PACK_LOST_SLOT = const(19)
# bms.protections' yes/no value slots, for the same reason (test_tick_shortcuts checks them)
_SCD_SLOT = const(8)
_REVERSE_SLOT = const(9)
_AFE_BAD_SLOT = const(15)
_AFE_OCC_SLOT = const(20)
_AFE_OCD_SLOT = const(21)
# the front end's Safety Status A bits in Inputs.afe_safety (drivers/bq76952.py)
_AFE_OCC = const(0x10)
_AFE_OCD = const(0x60)  # OCD1, OCD2
_PRECHARGE_FAIL_SLOT = const(17)
_PRECHARGE_CLOSED = const(3)  # bms.precharge's CLOSED
_FAR_MV = const(-(1 << 29))  # a load side no stack is near (a pre-charge judged on time)

# The other modules' numbers the core reads, as private literals for the same reason (a
# name imported is a global: a dictionary slot of the module, and a lookup at every use;
# test_tick_shortcuts checks them against their modules under CPython, as MicroPython
# folds a private const away)
_OPEN_CHG = const(1)  # bms.protect's OPEN_CHG
_OPEN_DSG = const(2)  # bms.protect's OPEN_DSG
_CELLS = const(16)  # bms.sample's CELLS
_OCV_LOW_KNEE_MV = const(3200)  # bms.soc's OCV_LOW_KNEE_MV
_OCV_HIGH_KNEE_MV = const(3370)  # bms.soc's OCV_HIGH_KNEE_MV
_CAL_FLOW_MA = const(100)  # a current flowing, for the SOC calibrations at COVP and CUVP
# bms.button's actions
_BUTTON_NONE = const(0)
# bms.panel's M/S flags and SHOW_* codes
_MS_ON = const(1)
_MS_UNLOCKED = const(2)
_SHOW_OFF = const(0)
_SHOW_FAILURE = const(1)
_SHOW_TEMPERATURE = const(2)
_SHOW_DOCP = const(3)
_SHOW_UVP = const(4)
_SHOW_RSD = const(5)
_SHOW_COCP = const(6)
_SHOW_CHARGE = const(7)
_SHOW_DISCHARGE = const(8)
_SHOW_STANDBY = const(9)

# SENSOR event `what` (the app logs 0 and 1 for the front end's probe)
_SENSOR_BLIND = const(2)
_SENSOR_BACK = const(3)
_SENSOR_FLAKY = const(4)

# INPUT event `what`
IN_PASSIVE = const(1)
IN_RSD = const(2)
# the inputs as bits (Bms._inputs), and how long one reads released before it lets go
_IN_RSD = const(1)
_IN_PASSIVE = const(2)
_INPUT_RELEASE_MS = const(1000)


class Inputs:
    """What the app reads besides the front end, refilled every tick."""

    def __init__(self):
        """Every input at rest. The body (every attribute, commented) is in
        bms/core_init.py, loaded for it and dropped after: the app builds its inputs
        once, at boot."""
        lazy.run("bms.core_init", "inputs", self)


class Bms:
    def __init__(self, cfg, events, stored_soc=None):
        """cfg: bms.config.Config; events: bms.events.EventLog; stored_soc: the SOC
        state from flash, or None. The body (every attribute, commented) is in
        bms/core_init.py, loaded for it and dropped after: the core is built at boot."""
        lazy.run("bms.core_init", "init", self, cfg, events, stored_soc)

    # -- the tick --------------------------------------------------------------------
    def step(self, s, inp, now, dt_ms):
        cfg = self.cfg
        valid = s.valid
        i = s.current_ma
        zero = self.zero_ma
        # (locals for what is read more than once: an attribute read costs a board ~400
        # cycles, a local almost nothing)
        self.reported_ma = rep = i if (i >= zero or i <= -zero) else 0
        eff = self.eff_ma
        # (a current read invalid is no current: the last good values stay in the sample
        # marked invalid, and a stale 20 A released a latched REVERSE)
        chg_flow = valid and i >= eff
        dsg_flow = valid and i <= -eff
        # the FETs as commanded at the last tick
        fets = 0
        if self.chg:
            fets = FET_CHG
        if self.dsg:
            fets |= FET_DSG
        if self.pre:
            fets |= FET_PRE
        charger = valid and not fets & FET_CHG and s.pack_mv >= s.stack_mv + cfg.charger_detect_mv
        eng = self.engine
        vals = self.vals
        extra = self.extra
        started = self.started
        moved = 1
        if valid:
            # the values every row reads, from the snapshot's aggregates
            moved = fill_vals(s, vals, extra, zero, fets, inp.comm_age_ms)
            if not started:
                lazy.run("bms.core_init", "start", self, s, now)  # once, at boot
                started = self.started
            # a discharge starting: its temperature sets DOCP's continuous limit
            discharging = rep < 0
            if discharging != self._discharging:  # (written only when it changes: the tick)
                if discharging:
                    # a new discharge, not one paused for less than mode_debounce_ms (as
                    # the mode: a 100 ms pause, at cells warmed to 35 C by a cool start's
                    # 100 A, halved its limit and tripped DOCP 5 min on); a pause begun
                    # more than 6.2 days ago (the difference wrapped negative) is over too
                    end = self._dsg_end
                    if end < 0 or ticks.age(now, end) >= cfg.mode_debounce_ms:
                        self._set_docp_limit(s)
                else:
                    self._dsg_end = now
                self._discharging = discharging
        # (each call only when it has something to do: a call costs a board ~3000 cycles)
        raw = _IN_RSD if inp.rsd else 0
        if inp.passive:
            raw |= _IN_PASSIVE
        on = self._in_on
        if raw != self._in_raw or raw != on or inp.afe_safety != self._afe_safety:
            on = self._inputs(inp, raw, now)
        rsd = on & _IN_RSD
        passive = on & _IN_PASSIVE
        button = self.button
        if inp.button or button.down or button.first:  # else it is idle: NONE
            action = button.step(inp.button, now)
            if action != _BUTTON_NONE:
                # (a person's press: its code in bms/core_init.py, loaded for it)
                lazy.run("bms.core_init", "button", self, action, now)
        hold = inp.hold
        if hold != self._held:
            self._held = hold
            if hold:
                # a new safe-state hold, a failure the app caught, is a spell too (_spell):
                # a failure that came back slower than the hold opened the FETs under load
                # every few seconds for ever, and the watchdog never saw it
                self._spell(now)
        # the rows' yes/no values, set every tick (valid or not)
        pre = self.precharge
        failed = pre.failed  # (after the button: RESET clears it; nothing else until pre.step)
        vals[_AFE_BAD_SLOT] = self.afe_failing if valid else 1
        vals[_SCD_SLOT] = 1 if inp.scd else 0
        vals[_REVERSE_SLOT] = 1 if inp.reverse else 0
        vals[_PRECHARGE_FAIL_SLOT] = 1 if failed else 0
        vals[_PACK_LOST_SLOT] = 1 if inp.pack_lost else 0
        before = eng.names
        eng.step(vals, extra, now, valid, chg_flow, dsg_flow, charger)
        names = eng.names
        # SOC calibrations on the trips, from a plausible reading only (a loose sense
        # wire trips COVP and CUVP together and says nothing about the charge)
        live = started and valid  # (the first valid tick has started)
        full = names & _COVP_BIT and not before & _COVP_BIT
        empty = names & _CUVP_BIT and not before & _CUVP_BIT
        if (full or empty) and live and not (full and empty):
            if cfg.sensor_cell_low_mv <= s.min_mv and s.max_mv <= cfg.sensor_cell_high_mv:
                # and only where the trip ends a charge (a discharge): its current
                # flowing and the pack's average in the curve's knee. One cell at its
                # limit against the current, or with the pack on the plateau, is a
                # weak cell or a bad reading: it trips, but says nothing of the charge
                # (the soak's 5 s readings made the count jump to 100 % at 27 %)
                # (the current as measured, not as reported: a discharge under the 0.5 A
                # threshold, an inverter's standby draw, is the usual slow way to CUVP;
                # past the sensor's noise at rest, though). The knee judged on the other
                # cells: one reading 4.2 V lifted the average of all past it, and the
                # count went from 70 % to 100 % and learned a capacity of 69 %
                if (
                    full
                    and i >= _CAL_FLOW_MA
                    and (s.sum_mv - s.max_mv) // (_CELLS - 1) > _OCV_HIGH_KNEE_MV
                ):
                    self.soc.calibrate_full(now)
                if (
                    empty
                    and i <= -_CAL_FLOW_MA
                    and (s.sum_mv - s.min_mv) // (_CELLS - 1) < _OCV_LOW_KNEE_MV
                ):
                    self.soc.calibrate_empty(now)
        # (awake, no CUVP, a current reported and neither timer running: _sleep() would
        # only keep both timers stopped)
        sleeping = self.sleeping
        if (
            sleeping
            or names & _CUVP_BIT
            or rep == 0
            or self._cuvp_since >= 0
            or self._idle_since >= 0
        ):
            self._sleep(names, chg_flow, charger, inp, now)
            sleeping = self.sleeping  # (fixed from here to the tick's end)
        # the pack mode: fault and sleep at once, a current-driven change once it has
        # held mode_debounce_ms (written out here: a call costs a board ~4000 cycles)
        mode = self.mode
        if sleeping:
            target = SLEEP
        elif names & _FAILURES or hold:
            target = _FAULT
        else:
            target = _CHARGE if rep > 0 else (_DISCHARGE if rep < 0 else STANDBY)
            if mode != SLEEP and mode != _FAULT and target != mode:
                if self._pending_mode != target:
                    self._pending_mode = target
                    self._pending_since = now
                if ticks.diff(now, self._pending_since) < cfg.mode_debounce_ms:
                    target = -1  # not held long enough yet: no change, the count goes on
        if target >= 0:
            if self._pending_mode != -1:  # (a read, not a write, every tick: cheaper)
                self._pending_mode = -1
            if target != mode:
                self._set_mode(target, now)
                mode = target
        if self._mode_quiet and ticks.age(now, self._mode_at) >= _MODE_QUIET_MS:
            # changes left out, then none for a while: the mode they ended in is logged
            # (with their count), or a charge left out was the last word for hours
            self._set_mode(mode, now)
        # the FETs and the dry contacts (written out: a method of its own would cost a board
        # a call and a frame on the heap, as this one's is anyway)
        settled = self.settled
        if not settled and started:
            self.settled = settled = ticks.diff(now, self._first_ms) >= cfg.boot_settle_ms
        # blind: no valid reading for afe_blind_ms. The FETs open at once; the sensor
        # failure itself latches after sensor_delay_ms (pack.md)
        blind_ms = self._blind_ms
        if valid:
            if blind_ms:
                if blind_ms >= self._afe_blind_ms:
                    self.events.log(now, ev.SENSOR, _SENSOR_BACK, blind_ms)
                self._blind_ms = blind_ms = 0
        else:
            if not blind_ms:
                self._spell(now)
            if blind_ms < self._afe_blind_ms <= blind_ms + dt_ms:
                self.events.log(now, ev.SENSOR, _SENSOR_BLIND, blind_ms + dt_ms)
            # (at least 1: the spell's first tick counts it once, whatever its dt)
            self._blind_ms = blind_ms = min(blind_ms + dt_ms, cfg.sensor_delay_ms) or 1
        blind = blind_ms >= self._afe_blind_ms
        stop = rsd or hold or not settled or blind  # (and sleep, below)
        passive = cfg.passive_action if passive else 0
        blocked = eng.blocked
        # the charge verdict of the pack awake: the FETs follow it awake only, the inverter
        # and the charge dry contact asleep after CUVP too (see the module docstring)
        ask_chg = not (stop or blocked & _OPEN_CHG or passive & 1)
        allow_chg = ask_chg and not sleeping
        if sleeping:
            stop = True
            if not self.sleep_cuvp:
                ask_chg = False
        allow_dsg = not (stop or blocked & _OPEN_DSG or passive & 2)
        # the diode guard (see the module docstring); never against a latched or locked row.
        # The current it guards flows only while the other direction stays allowed: with
        # both directions allowed, or neither, neither guard holds (judged first: the tick)
        if allow_chg != allow_dsg and not (stop or eng.hard):
            if (
                not allow_chg
                and not eng.blocked_hold & _OPEN_CHG
                and (self._guard_chg or dsg_flow)
            ):
                self._guard_chg = rep < 0
            else:
                self._guard_chg = False
            if (
                not allow_dsg
                and not eng.blocked_hold & _OPEN_DSG
                and (self._guard_dsg or chg_flow)
            ):
                self._guard_dsg = rep > 0
            else:
                self._guard_dsg = False
        elif self._guard_chg or self._guard_dsg:
            self._guard_chg = False
            self._guard_dsg = False
        self.allow_chg = allow_chg
        self.allow_dsg = allow_dsg
        # an invalid reading (not yet blind) opens nothing and closes nothing: what was
        # closed stays closed, a pre-charge waits; the last good reading is no proof that
        # a closing is safe (RSD let go in such a spell closed both FETs and both relays,
        # and blind 100 ms on opened them again, under load)
        self.chg = (allow_chg or self._guard_chg) and (valid or self.chg)
        want = allow_dsg or self._guard_dsg
        # (a discharge path closed and still wanted stays closed: no call needed; a try
        # under way is judged on its time alone while the reading is invalid, the load
        # side taken as far: it ran on past its timeout, to blind)
        if not want or valid and (pre.state != _PRECHARGE_CLOSED or failed) or pre.pre:
            pre.step(want, s.stack_mv, s.ld_mv if valid else _FAR_MV, now)
        self.dsg = dsg = pre.dsg
        self.pre = pre.pre
        # dry contact 2 says "discharge enabled" once the discharge path is really there; so
        # do the limits (a discharge path still pre-charging is not there yet for the inverter)
        dsg = allow_dsg and dsg
        self.relay_chg = ask_chg and (valid or self.relay_chg)
        self.relay_dsg = dsg and (valid or self.relay_dsg)
        # and both paths as the limits read them (Limits.step): 1 there (the charge one:
        # asked for), 0 closed by the diode guard alone, -1 open (a current the other way
        # flows through its FETs' body diodes)
        path = 1 if dsg else (0 if self.dsg else -1)
        cpath = 1 if ask_chg else (0 if self.chg else -1)
        soc = self.soc
        if live:
            soc.step(i, dt_ms, s.max_mv, s.sum_mv // _CELLS, not fets, now)
        # what to ask of the inverter (a calibration to full starts the float voltage)
        if soc.full_seen != self._was_full:  # (no write while it stays: the tick)
            if soc.full_seen:
                self.limits.charged_full()
            self._was_full = soc.full_seen
        lim = self.limits
        changed = 0
        if live:
            # not stepped while every input it reads is the one of its last step, no hold
            # or expiry runs (float, an inverter's limits) and no second of its count is
            # complete: it would give the same (its count gets the time at the next step)
            dt = self._lim_dt + dt_ms
            if (
                moved
                or self._lim_due
                or lim.floating
                or lim.ext_active
                or cpath != self._lim_chg
                or path != self._lim_dsg
                or self.docp_cont_ma != self._lim_cap
            ):
                self._lim_due = False
                self._lim_dt = 0
                self._lim_chg = cpath
                self._lim_dsg = path
                self._lim_soc = soc.cpct
                self._lim_cap = self.docp_cont_ma
                changed = lim.step(s, cpath, path, soc.cpct, self.docp_cont_ma, now, dt)
                self._lim_full_s = lim.no_full_s
            elif (
                dt + lim._ms >= 1000
                or soc.cpct != self._lim_soc
                or lim.no_full_s != self._lim_full_s  # (the app restores it at boot)
                or 0 <= lim._low_ms < cfg.warn_delay_ms  # a low cell's force-charge hold
            ):
                # only the SOC or the time moved: the currents and voltages would come
                # out as at the last step, so only the requests and the count (the end
                # of Limits.step(); the whole step in the once-a-second tick cost a board
                # ~35 000 cycles, its worst tick)
                self._lim_dt = 0
                self._lim_soc = soc.cpct
                changed = requests(lim, s.min_mv, soc.cpct, dt)
                self._lim_full_s = lim.no_full_s
            else:
                self._lim_dt = dt
        else:
            self._lim_due = True  # (the time not yet counted stays: blind ticks add none)
            changed = lim.blind()
        if changed:
            self._limit_events(changed, lim.flags, soc.cpct, now)
        self.sample = s
        # balancing: charging or idle, and nothing but the charge-end protections active
        # (judged only while it bleeds or has a decision due: otherwise neither branch
        # below would change anything, and the tick is short of cycles on a board)
        bal = self.balancer
        # (a decision due: _next passed, or -1 before the first; tested here, not in a
        # method: a call costs a board more than the test)
        if bal.mask or bal._next < 0 or ticks.diff(now, bal._next) >= 0:
            if (
                settled
                and valid
                and rep >= 0
                and not (names & _NO_BALANCING)
                and not (rsd or hold or sleeping)
                # (its temperature window at every tick, not at the next decision alone:
                # a pack leaving it bled on for up to a period, 10 s)
                and bal.in_window(s)
            ):
                bal.step(s, True, now)
            else:
                bal.stop()
        # what the panel shows: the first SHOW_* code that applies (a failure and a
        # temperature before sleep: asleep, a FET conducting though open, a reversed
        # connection or a pack at 70 C showed dark, as if switched off)
        if names & _FAILURES or hold or blind:
            show = _SHOW_FAILURE  # (blind: the safe state, as for a lost front end)
        elif names & _TEMPERATURES:
            show = _SHOW_TEMPERATURE
        elif sleeping:
            show = _SHOW_OFF
        elif names & _DOCP_BIT:
            show = _SHOW_DOCP
        elif names & _UNDER_VOLTAGES:
            show = _SHOW_UVP
        elif rsd:
            show = _SHOW_RSD
        elif names & _COCP_BIT:
            show = _SHOW_COCP
        elif mode == _CHARGE:
            show = _SHOW_CHARGE
        elif mode == _DISCHARGE:
            show = _SHOW_DISCHARGE
        else:
            show = _SHOW_STANDBY
        # the patterns chosen again only when their key (PanelLogic.select()'s) changed, or
        # while the service unlock runs (it ends with time): in most ticks the same key
        # would change nothing, and _panel() costs a board ~10 000 cycles. (Out of the
        # unlock, _panel() passes the M/S flags as self.parallel.)
        key = self.panel._key
        if self.unlocked or key != patterns_key(
            show | 128 if names & _LED_WARNINGS else show, soc.shown_cpct, self.parallel, key
        ):
            self._panel(names, show, now)

    def _limit_events(self, changed, flags, soc_cpct, now):
        bit = 1
        while bit <= changed:
            if changed & bit:
                self.events.log(now, ev.LIMIT, bit, 1 if flags & bit else 0, soc_cpct)
            bit <<= 1

    def _set_docp_limit(self, s):
        """The manual: 100 A continuous when the discharge starts at or below 30 C."""
        cfg = self.cfg
        hot = s.cell_tmax_dc > cfg.docp_cont_temp_dc
        limit = cfg.docp_cont_hot_ma if hot else cfg.docp_cont_ma
        self.docp_cont_ma = limit
        eng = self.engine
        eng.set_trip(self._docp_row, limit, True, False)
        # the discharge current warning keeps its place below the limit (95 A of 100 A:
        # 47.5 A of a hot start's 50 A), else a hot discharge trips DOCP unwarned. (In
        # 0.1 A steps: a product in mA would pass 2**30.)
        warn = cfg.docp_warn_ma
        if hot:
            warn = warn // 100 * (limit // 100) // (cfg.docp_cont_ma // 100) * 100
        # (a hot warning can fall to the hysteresis or below it: it releases at half of
        # itself then, not at 0 A, which an idle draw or an offset never reaches)
        rel = warn - cfg.warn_hyst_ma
        eng.set_trip(self._docp_warn_row, warn, True, False, rel if rel > warn // 2 else warn // 2)

    def _inputs(self, inp, raw, now):
        """The front end's safety flags, and the passive and RSD inputs (raw: _IN_* bits
        as read); returns the inputs' bits as they act."""
        afe = inp.afe_safety
        if afe != self._afe_safety:  # the chip's own protections acted
            self.events.log(now, ev.AFE_SAFETY, 0, afe, self._afe_safety)
            self._afe_safety = afe
            # its over-current trips are rows of ours (set here, at a change: the slots
            # keep their values between ticks)
            vals = self.vals
            vals[_AFE_OCC_SLOT] = 1 if afe & _AFE_OCC else 0
            vals[_AFE_OCD_SLOT] = 1 if afe & _AFE_OCD else 0
        # an input acts at once, and lets go once it has read released for
        # _INPUT_RELEASE_MS: chattering every 200 ms, it switched the FETs under load five
        # times a second, and its records pushed every trip off the log
        if raw != self._in_raw:
            self._in_raw = raw
            self._in_at = now
        on = self._in_on
        now_on = on | raw
        if ticks.age(now, self._in_at) >= _INPUT_RELEASE_MS:
            now_on = raw
        if now_on != on:
            self._in_on = now_on
            if (now_on ^ on) & _IN_PASSIVE:
                self.events.log(now, ev.INPUT, IN_PASSIVE, 1 if now_on & _IN_PASSIVE else 0)
            if (now_on ^ on) & _IN_RSD:
                self.events.log(now, ev.INPUT, IN_RSD, 1 if now_on & _IN_RSD else 0)
        return now_on

    def _sleep(self, names, chg_flow, charger, inp, now):
        """Low-power mode after CUVP held without charge, or after sleep_idle_ms both
        idle (0 A reported) and without communication (until it speaks again, or a
        charge: pack.md's wake-ups are a charge, RESET or a restart). The timers run from the first
        tick that saw their condition (config caps them below the 6.2-day reach of a
        tick difference). Asleep, every FET is open and no current can flow: a charge
        shows as a charger at the terminals, and a current read is the sensor's offset
        (for its SENSOR_FAIL row to judge), not a charge that wakes the pack.
        (Few locals: a frame of more than 11 words is allocated on the heap, per call.)"""
        if self.sleeping:
            # (asleep for want of an inverter, it asks for nothing: an inverter speaking
            # again, the cause gone, wakes it, or a fixed cable needed a person at every
            # pack)
            if charger or self._sleep_idle and inp.comm_age_ms < self.cfg.inverter_lost_ms:
                self.sleeping = False
            return
        if names & _CUVP_BIT and self.reported_ma <= 0 and not (chg_flow or charger):
            if self._cuvp_since < 0:
                self._cuvp_since = now
        else:
            self._cuvp_since = -1
        if self.reported_ma == 0:
            if self._idle_since < 0:
                self._idle_since = now
        else:
            self._idle_since = -1
        idle = False
        if self._idle_since >= 0 and ticks.diff(now, self._idle_since) >= self.cfg.sleep_idle_ms:
            # held at the limit while an inverter talks: a tick difference turns negative
            # after 6.2 days, which put the sleep off by days
            self._idle_since = ticks.add(now, -self.cfg.sleep_idle_ms)
            idle = inp.comm_age_ms >= self.cfg.sleep_idle_ms
        if self._cuvp_since >= 0 and ticks.diff(now, self._cuvp_since) >= self.cfg.sleep_cuvp_ms:
            self.sleep_cuvp = True  # it asks for the charge that wakes it (the docstring)
        elif idle:
            self.sleep_cuvp = False
        else:
            return
        self.sleeping = True
        self._sleep_idle = not self.sleep_cuvp
        self._cuvp_since = -1
        self._idle_since = -1

    def _spell(self, now):
        """A spell of invalid readings, or of the app's safe-state hold, begins:
        afe_spell_count of them, each within afe_spell_window_ms of the last, fail the
        front end until RESET (a chip that resets every few seconds, a bus that drops
        out, a cell read outside physics one tick in three, a driver that raises now and
        then: each spell too short for the latch, yet every one opens the FETs under
        load, and the readings between them are not to be trusted)."""
        count = self.cfg.afe_spell_count
        n = self._spells
        if n and ticks.age(now, self._spell_ms) <= self.cfg.afe_spell_window_ms:
            if n <= count:  # (held just past it: years of spells outgrew a small int)
                n += 1
        else:
            n = 1
        self._spells = n
        self._spell_ms = now
        if n == count:
            self.afe_failing = 1
            self.events.log(now, ev.SENSOR, _SENSOR_FLAKY, n)

    def _set_mode(self, target, now):
        mode = self.mode
        self.mode = target
        # a change among standby, charge and discharge (the current's) less than
        # _MODE_QUIET_MS after the last one is not logged, the next record counting those
        # left out (extra; a record of the mode they ended in, new and old the same, once
        # it has held _MODE_QUIET_MS): a current swinging round 0 A every 2 s, a
        # zero-export inverter's, logged 43 200 a day and pushed every trip off the log;
        # a fault, sleep or off is logged at once
        current = STANDBY <= mode <= _DISCHARGE and STANDBY <= target <= _DISCHARGE
        if current and target != mode:  # (the same: the record of where they ended)
            last = self._mode_at
            self._mode_at = now
            if last >= 0 and ticks.age(now, last) < _MODE_QUIET_MS:
                self._mode_quiet = (self._mode_quiet + 1) & _COUNT_MASK
                return
        self.events.log(now, ev.MODE, target, mode, self._mode_quiet)
        self._mode_quiet = 0

    def _panel(self, names, show, now):
        """The panel's patterns for `show` (a SHOW_* code: step() picks it from its locals,
        where the states it tests are at hand), with the warnings and the M/S flags, to its
        logic. (At most 11 words of frame, arguments and stack included: MicroPython puts a
        bigger frame on the heap at every call, an allocation that costs an RP2040 3000
        cycles and more in a heap in service. So no local of its own: the low bits of
        `names`, which hold no warning, carry the M/S flags.)"""
        # (no call while locked)
        names = names & _LED_WARNINGS | (self._ms(now) if self.unlocked else self.parallel)
        self.panel.select(show, names & _LED_WARNINGS, self.soc.shown_cpct, names & 3, now)

    def _ms(self, now):
        """The M/S LED's flags for the panel (panel.MS_*) while the unlock may hold."""
        ms = _MS_ON if self.parallel else 0
        if self.unlocked and self.unlock_valid(now):
            ms |= _MS_UNLOCKED
        return ms

    def unlock_valid(self, now):
        """Whether the service link may write (unlock_valid_ms since the gesture)."""
        if self.unlocked and ticks.diff(now, self.unlock_at) >= self.cfg.unlock_valid_ms:
            self.unlocked = False
        return self.unlocked

    # -- for the trace, the protocols and the panel ----------------------------------
    def protection_names(self):
        """Active protections by the manual's names, locked ones with ':LOCKED', and RSD
        while the rapid-shutdown input holds the pack off (a service reader: the code is
        in bms/core_status.py, loaded for the call)."""
        return lazy.run("bms.core_status", "protections", self)

    def warning_names(self):
        """Active warnings by the manual's names (bms/core_status.py, loaded for it)."""
        return lazy.run("bms.core_status", "warnings", self)
