"""What the pack asks the inverter for: voltage and current limits and request flags.

From the manual's inverter settings (pack.md) and our derived choices:
- CVL: the absorption voltage (56.0 V); after a calibration to full, the float voltage
  (54.6 V) until the pack has stayed below the re-start voltage (52.0 V) for
  FLOAT_EXIT_HOLD_MS; whenever charging stops (not allowed, or CCL tapered or derated
  to 0), lowered to the present pack voltage, never raised: Victron reads only CVL and
  CCL, and stops a charger by its voltage (never 0 though: Victron reads CVL = 0 as
  over-voltage). Below DVL + 1 V that puts CVL under DVL, which asks for neither;
- CCL: the standard charge current (50 A, up to 70 A by config), tapering from
  taper_start_mv to taper_end_mv on the highest cell (to ccl_taper_floor_pct), then to
  0 at ccl_zero_mv, short of COVP: with cells apart the pack reaches CVL late, and the
  highest cell alone would otherwise be pushed into COVP; derated near the charge
  temperature limits; 0 when charging is not allowed; at most diode_ma (10 A) while the
  discharge FETs are open: the charge then heats their body diodes (and DCL while the
  charge FETs are). Both currents in whole 0.1 A (the frames' unit). Once CCL has
  reached 0 it stays 0 until the highest cell is _RESUME_MV below ccl_zero_mv and the
  warmest sensor _RESUME_DC below CHTP's trip;
- DCL: the discharge current (50 A standard, up to 100 A by config, never above 90 % of
  DOCP's continuous limit for this discharge), tapering as the lowest cell nears empty, derated
  near the discharge temperature limits; 0 when discharging is not allowed (the core
  counts a discharge path still pre-charging as not allowed);
- DVL: the low-voltage cut-off (48.0 V);
- force charge: SOC <= 4 % or a cell <= 3.00 V, held until SOC >= 8 %; a request a low
  cell raises while the SOC reads above that holds until the SOC has risen by as much
  (4 %) from where it was: otherwise the first amps of charge lift the cell, the request
  ends, the load returns and the request comes again, every few seconds;
- full charge: requested when the SOC has not reached 97 % for 30 days, until it does;
- both requests are sent only while the pack can take a charge (CCL > 0): an inverter
  grid-charging into an open charge FET helps nobody;
- an inverter's own limits (Pylon RS485 0x94) apply where stricter, within our envelope
  (DVL from ours up to the re-start voltage 52.0 V, and to CVL - 1 V);
- no valid reading (blind()): CCL = DCL = 0, no requests, CVL no higher than the last
  pack voltage known.
step() and blind() return the requests that changed (LIM_*), for the event log.
All integer arithmetic; the derating factors are in 0.1 % (permille). The config is
read once, into a tuple (step() runs every tick: an attribute read costs about a
thousand cycles on an RP2040), and a ramp is computed only off its flat part.
"""

from micropython import const

from bms import lazy, ticks

_FLOAT_EXIT_HOLD_MS = const(60000)
_FULL_SOC_CPCT = const(9700)
_SOC_MAX_CPCT = const(10000)
_FULL_REQUEST_S = const(30 * 86400)
_PERMILLE = const(1000)
_GAP_MV = const(1000)  # DVL stays at least this far below CVL
_CVL_FLOOR_MV = const(41000)  # CVL is never lower (never 0; SMA takes 41 V at the least)
_STEP_MA = const(100)  # the frames' 0.1 A: a current that rounds to 0 there is 0 here
# a charge stopped by the taper or a derating resumes only this far back from where it
# stopped (without it, a cell hovering at ccl_zero_mv flips CVL and CCL every tick)
_RESUME_MV = const(20)
_RESUME_DC = const(10)

# the requests and states worth an event (step()'s change mask, the LIMIT event's `what`);
# the enables follow the protections, which have events of their own
_LIM_FORCE = const(1)
_LIM_FULL = const(2)
_LIM_FLOAT = const(4)


def _ramp(x, x_full, x_zero, floor=0):
    """1000 at x_full, falling linearly to `floor` at x_zero (either direction)."""
    span = x_zero - x_full
    if span == 0:
        return _PERMILLE
    k = (x - x_full) * _PERMILLE // span
    if k <= 0:
        return _PERMILLE
    if k >= _PERMILLE:
        return floor
    return _PERMILLE - k * (_PERMILLE - floor) // _PERMILLE


def requests(lim, min_mv, soc_cpct, dt_ms):
    """The requests (force charge, full charge) and the count of seconds without a full
    charge, with the currents as lim's last step() left them; returns the LIM_* flags
    that changed. The end of step(); the core calls it alone when nothing step() reads
    has changed but the SOC or the time: the currents and voltages would come out the
    same, and step() costs an RP2040 ~35 000 cycles. (A function, not a method: a
    method's lookup misses first in the object's full attribute table. Few locals: a
    frame of more than 11 words is allocated on the heap at every call.)"""
    c = lim.cfg
    # a low cell asks once it has held warn_delay_ms, as the LOW_VOLTAGE warning at the
    # same 3.00 V does: one reading (a glitch, a sense wire lifting) must not start a
    # request that stands until the SOC has risen by 4 %
    if min_mv <= c.force_charge_cell_mv:
        if lim._low_ms < 0:
            lim._low_ms = 0
        elif lim._low_ms < c.warn_delay_ms:
            lim._low_ms += dt_ms
    else:
        lim._low_ms = -1
    if soc_cpct <= c.force_charge_soc_pct * 100 or lim._low_ms >= c.warn_delay_ms:
        if not lim._force:
            _force_start(lim, soc_cpct)
    elif soc_cpct >= lim._fc_until:
        lim._force = False
    dt_ms += lim._ms  # (the count's ms, not yet a whole second)
    if dt_ms >= 1000:
        whole = dt_ms // 1000
        dt_ms -= whole * 1000
        if lim.no_full_s < _FULL_REQUEST_S:
            lim.no_full_s += whole
    lim._ms = dt_ms
    if soc_cpct >= _FULL_SOC_CPCT:
        lim.no_full_s = 0
    full = lim.no_full_s >= _FULL_REQUEST_S
    lim.force_charge = lim._force and lim.ccl_ma > 0
    lim.full_request = full and lim.ccl_ma > 0
    return lim._changed(full)


def _force_start(lim, soc_cpct):
    """A force-charge request begins: held until the SOC has risen by the request's
    span, and at least to its release level."""
    c = lim.cfg
    lim._force = True
    until = soc_cpct + (c.force_charge_release_soc_pct - c.force_charge_soc_pct) * 100
    # (a low cell near full: the rise would pass 100 %, which the SOC never reaches, and
    # the request would stand until a reset; the soak's 2700 mV glitch at 98 % did that)
    if until > _SOC_MAX_CPCT:
        until = _SOC_MAX_CPCT
    release = c.force_charge_release_soc_pct * 100
    lim._fc_until = until if until > release else release


class Limits:
    def __init__(self, cfg):
        """cfg: the config (bms.config.Config). The body (every attribute, commented) is
        in bms/parts_init.py, loaded for it and dropped after: built once, at boot."""
        lazy.run("bms.parts_init", "limits", self, cfg)

    def step(self, s, chg, dsg, soc_cpct, dcl_cap_ma, now, dt_ms):
        """s: the reduced sample; chg, dsg: the charge and discharge paths, 1 there (a
        charge asked for; a discharge allowed and closed), 0 closed by the diode guard
        alone, -1 open; soc_cpct: the SOC estimate; dcl_cap_ma: DOCP's continuous limit
        for this discharge. Returns the LIM_* flags that changed."""
        c = self.cfg
        self._stack_mv = s.stack_mv
        # float after full, back to absorption once the pack has been low a while
        if self.floating:
            if s.stack_mv < c.float_exit_mv:
                if self._low_since < 0:
                    self._low_since = now
                elif ticks.diff(now, self._low_since) >= _FLOAT_EXIT_HOLD_MS:
                    self.floating = False
            else:
                self._low_since = -1
        cvl = c.float_mv if self.floating else c.cvl_mv
        # currents: each ramp is 1000 on its flat side (warm side, low side), skipped there
        ccl, ts, te, cz, floor, chw, cht, ccold, clt, dcl, dts, cuv, dhw, dht, dcold, dlt = self._k
        max_mv = s.max_mv
        min_mv = s.min_mv
        tmax = s.tmax_dc
        tmin = s.tmin_dc
        if max_mv > ts:
            ccl = ccl * _ramp(max_mv, ts, te, floor) // _PERMILLE
            if max_mv > te:
                ccl = ccl * _ramp(max_mv, te, cz) // _PERMILLE
        if tmax > chw:
            ccl = ccl * _ramp(tmax, chw, cht) // _PERMILLE
        if tmin < ccold:
            ccl = ccl * _ramp(tmin, ccold, clt, 100) // _PERMILLE
        # (a tenth under DOCP's continuous limit: at it, as a warm start's 50 A made it, an
        # inverter's one per cent more, or a pack's share of a system's, tripped DOCP)
        dcl_cap_ma -= dcl_cap_ma // 10
        if dcl_cap_ma < dcl:
            dcl = dcl_cap_ma
        if min_mv < dts:
            dcl = dcl * _ramp(min_mv, dts, cuv, 100) // _PERMILLE
        if tmax > dhw:
            dcl = dcl * _ramp(tmax, dhw, dht) // _PERMILLE
        if tmin < dcold:
            dcl = dcl * _ramp(tmin, dcold, dlt, 200) // _PERMILLE
        dvl = c.dvl_mv
        if self.ext_active:
            if ticks.diff(now, self.ext_until) >= 0:
                self.ext_active = False  # not re-sent in time: back to our own
            else:
                cvl = cvl if cvl < self.ext_cv_mv else self.ext_cv_mv
                dv = self.ext_dv_mv
                if dv > cvl - _GAP_MV:  # below our float voltage, an absorption-high DVL
                    dv = cvl - _GAP_MV
                dvl = dvl if dvl > dv else dv
                ccl = ccl if ccl < self.ext_ccl_ma else self.ext_ccl_ma
                dcl = dcl if dcl < self.ext_dcl_ma else self.ext_dcl_ma
        # a path open: a current the other way flows through its FETs' body diodes, about
        # 0.8 V at it (50 A put 40 W in them for as long as a DOCP or COCP lockout or a
        # failed pre-charge stood). Where the diode guard closes the FET on the current
        # (bms/core.py), or the current releases CUVP (COVP), the cap goes with it
        if dsg < 0 and ccl > c.diode_ma:
            ccl = c.diode_ma
        if chg < 0 and dcl > c.diode_ma:
            dcl = c.diode_ma
        ccl -= ccl % _STEP_MA
        dcl -= dcl % _STEP_MA
        if ccl == 0:
            self._held = True
        elif self._held:
            if s.max_mv <= c.ccl_zero_mv - _RESUME_MV and s.tmax_dc <= c.chtp_trip_dc - _RESUME_DC:
                self._held = False
            else:
                ccl = 0
        if chg < 1 or ccl == 0:
            ccl = 0
            # stop a charger by its voltage, not only by its current (Victron)
            if s.stack_mv < cvl:
                cvl = s.stack_mv if s.stack_mv > _CVL_FLOOR_MV else _CVL_FLOOR_MV
        if dsg < 1:
            dcl = 0
        self.cvl_mv = cvl
        self.ccl_ma = ccl
        self.dcl_ma = dcl
        self.dvl_mv = dvl
        self.charge_enable = ccl > 0
        self.discharge_enable = dcl > 0
        return requests(self, s.min_mv, soc_cpct, dt_ms)

    def blind(self):
        """No valid reading: ask for no current and nothing else; CVL no higher than the
        last pack voltage read, DVL kept. Returns the LIM_* flags that changed."""
        self.ccl_ma = 0
        self.dcl_ma = 0
        self.charge_enable = False
        self.discharge_enable = False
        self.force_charge = False
        self.full_request = False
        if self._stack_mv < self.cvl_mv:
            self.cvl_mv = self._stack_mv if self._stack_mv > _CVL_FLOOR_MV else _CVL_FLOOR_MV
        return self._changed(self.no_full_s >= _FULL_REQUEST_S)

    def _changed(self, full):
        """The requests as judged, not as sent: sending follows CCL, which may come and
        go at the top of a charge; the log must not."""
        f = 0
        if self._force:
            f |= _LIM_FORCE
        if full:
            f |= _LIM_FULL
        if self.floating:
            f |= _LIM_FLOAT
        changed = f ^ self.flags
        self.flags = f
        return changed

    def set_external(self, cv_mv, dv_mv, ccl_ma, dcl_ma, now, expiry_ms):
        """Limits an inverter asked for: applied where stricter, until now + expiry_ms.
        Kept within our envelope (the server refuses what lies outside already): CV at
        least DVL + 1 V, DV at most the re-start voltage."""
        c = self.cfg
        floor = c.dvl_mv + _GAP_MV
        self.ext_cv_mv = cv_mv if cv_mv > floor else floor
        self.ext_dv_mv = dv_mv if dv_mv < c.float_exit_mv else c.float_exit_mv
        self.ext_ccl_ma = ccl_ma
        self.ext_dcl_ma = dcl_ma
        self.ext_until = ticks.add(now, expiry_ms)
        self.ext_active = True

    def as_dict(self):
        """What the trace and the service link's status show (allocates: not per tick;
        the code is in bms/core_status.py, loaded for the call)."""
        return lazy.run("bms.core_status", "limits", self)

    def charged_full(self):
        """A calibration to full: hold the float voltage from now."""
        self.floating = True
        self._low_since = -1
