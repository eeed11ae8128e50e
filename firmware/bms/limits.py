"""What the pack asks the inverter for: voltage and current limits and request flags.

From the manual's inverter settings (pack.md) and our derived choices:
- CVL: the absorption voltage (56.0 V); after a calibration to full, the float voltage
  (54.6 V) until the pack has stayed below the re-start voltage (52.0 V) for
  FLOAT_EXIT_HOLD_MS; when charging is not allowed, lowered to the present pack voltage
  (never 0: Victron reads CVL = 0 as over-voltage), never below DVL + 1 V;
- CCL: the standard charge current (50 A, up to 70 A by config), tapering from
  taper_start_mv to taper_end_mv on the highest cell (to ccl_taper_floor_pct), then to
  0 at ccl_zero_mv, short of COVP: with cells apart the pack reaches CVL late, and the
  highest cell alone would otherwise be pushed into COVP; derated near the charge
  temperature limits; 0 when charging is not allowed;
- DCL: the discharge current (100 A, or 50 A when the discharge started above 30 C,
  as DOCP's continuous limit), tapering as the lowest cell nears empty, derated near the
  discharge temperature limits; 0 when discharging is not allowed;
- DVL: the low-voltage cut-off (48.0 V);
- force charge: SOC <= 4 % or a cell <= 3.00 V, held until SOC >= 8 %; a request a low
  cell raises while the SOC reads above that holds until the SOC has risen by as much
  (4 %) from where it was: otherwise the first amps of charge lift the cell, the request
  ends, the load returns and the request comes again, every few seconds;
- full charge: requested when the SOC has not reached 97 % for 30 days, until it does.
All integer arithmetic; the derating factors are in 0.1 % (permille).
"""

from micropython import const

from bms import ticks

FLOAT_EXIT_HOLD_MS = const(60000)
_FULL_SOC_CPCT = const(9700)
_FULL_REQUEST_S = const(30 * 86400)
_PERMILLE = const(1000)


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


class Limits:
    def __init__(self, cfg):
        self.cfg = cfg
        self.cvl_mv = cfg.cvl_mv
        self.ccl_ma = 0
        self.dcl_ma = 0
        self.dvl_mv = cfg.dvl_mv
        self.charge_enable = False
        self.discharge_enable = False
        self.force_charge = False
        self._fc_until = 0  # the SOC (0.01 %) that ends the request
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

    def step(self, s, allow_chg, allow_dsg, soc_cpct, dcl_cap_ma, now, dt_ms):
        """s: the reduced sample; allow_*: what the protections allow; soc_cpct: the SOC
        estimate; dcl_cap_ma: DOCP's continuous limit for this discharge."""
        c = self.cfg
        # float after full, back to absorption once the pack has been low a while
        if self.floating:
            if s.stack_mv < c.float_exit_mv:
                if self._low_since < 0:
                    self._low_since = now
                elif ticks.diff(now, self._low_since) >= FLOAT_EXIT_HOLD_MS:
                    self.floating = False
            else:
                self._low_since = -1
        cvl = c.float_mv if self.floating else c.cvl_mv
        # currents
        floor = c.ccl_taper_floor_pct * 10
        ccl = c.ccl_ma * _ramp(s.max_mv, c.taper_start_mv, c.taper_end_mv, floor) // _PERMILLE
        ccl = ccl * _ramp(s.max_mv, c.taper_end_mv, c.ccl_zero_mv) // _PERMILLE
        ccl = ccl * _ramp(s.tmax_dc, c.chtp_warn_dc, c.chtp_trip_dc) // _PERMILLE
        ccl = ccl * _ramp(s.tmin_dc, c.charge_cold_full_dc, c.cltp_trip_dc, 100) // _PERMILLE
        dcl = c.dcl_ma if c.dcl_ma < dcl_cap_ma else dcl_cap_ma
        dcl = dcl * _ramp(s.min_mv, c.dcl_taper_start_mv, c.cuvp_trip_mv, 100) // _PERMILLE
        dcl = dcl * _ramp(s.tmax_dc, c.dhtp_warn_dc, c.dhtp_trip_dc) // _PERMILLE
        dcl = dcl * _ramp(s.tmin_dc, c.discharge_cold_full_dc, c.dltp_trip_dc, 200) // _PERMILLE
        dvl = c.dvl_mv
        if self.ext_active:
            if ticks.diff(now, self.ext_until) >= 0:
                self.ext_active = False  # not re-sent in time: back to our own
            else:
                cvl = cvl if cvl < self.ext_cv_mv else self.ext_cv_mv
                dvl = dvl if dvl > self.ext_dv_mv else self.ext_dv_mv
                ccl = ccl if ccl < self.ext_ccl_ma else self.ext_ccl_ma
                dcl = dcl if dcl < self.ext_dcl_ma else self.ext_dcl_ma
        if not allow_chg:
            ccl = 0
            # stop a charger by its voltage, not only by its current (Victron)
            if s.stack_mv < cvl:
                cvl = s.stack_mv
            if cvl < dvl + 1000:
                cvl = dvl + 1000
        if not allow_dsg:
            dcl = 0
        self.cvl_mv = cvl
        self.ccl_ma = ccl
        self.dcl_ma = dcl
        self.dvl_mv = dvl
        self.charge_enable = ccl > 0
        self.discharge_enable = dcl > 0
        # requests
        if soc_cpct <= c.force_charge_soc_pct * 100 or s.min_mv <= c.force_charge_cell_mv:
            if not self.force_charge:
                self.force_charge = True
                rise = (c.force_charge_release_soc_pct - c.force_charge_soc_pct) * 100
                until = soc_cpct + rise
                release = c.force_charge_release_soc_pct * 100
                self._fc_until = until if until > release else release
        elif soc_cpct >= self._fc_until:
            self.force_charge = False
        self._ms += dt_ms
        if self._ms >= 1000:
            whole = self._ms // 1000
            self._ms -= whole * 1000
            if self.no_full_s < _FULL_REQUEST_S:
                self.no_full_s += whole
        if soc_cpct >= _FULL_SOC_CPCT:
            self.no_full_s = 0
        self.full_request = self.no_full_s >= _FULL_REQUEST_S

    def set_external(self, cv_mv, dv_mv, ccl_ma, dcl_ma, now, expiry_ms):
        """Limits an inverter asked for: applied where stricter, until now + expiry_ms."""
        self.ext_cv_mv = cv_mv
        self.ext_dv_mv = dv_mv
        self.ext_ccl_ma = ccl_ma
        self.ext_dcl_ma = dcl_ma
        self.ext_until = ticks.add(now, expiry_ms)
        self.ext_active = True

    def charged_full(self):
        """A calibration to full: hold the float voltage from now."""
        self.floating = True
        self._low_since = -1
