"""The inverter limits' constructor (bms/limits.py's Limits), loaded by bms.lazy for the
one a boot builds and dropped after, so that its code does not stay in a board's heap.
Every attribute of a Limits is made here.
"""


def init(self, cfg):
    self.cfg = cfg
    c = cfg
    self._k = (
        c.ccl_ma,
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
