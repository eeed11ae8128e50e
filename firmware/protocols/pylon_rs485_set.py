"""0x94 (set charge/discharge management) of the Pylon RS485 server
(protocols/pylon_rs485.py's Server): imported at the first such request and kept, since
an inverter that sets limits sends them again within 10 s; most inverters never do, and
then this code never takes a board's RAM.
"""

from micropython import const

from protocols.pylon_rs485 import SET_EXPIRY_MS

# protocols.pylon_rs485's
_RTN_OK = const(0x00)
_RTN_FORMAT = const(0x05)
_RTN_DATA = const(0x06)
_COUNT_MASK = const(0x3FFFFFFF)

_SET_MIN_GAP_MV = const(1000)  # CV at least this far above DV


def set_management(self, b, m, now):
    """Server self's 0x94 (m bytes of INFO in self.req) for pack b (bms.core.Bms): the
    inverter narrows the limits for 10 s (it can only make them stricter: bms.limits
    applies the tighter of the two); returns the RTN. Voltages outside our own envelope
    are refused (RTN 06): whatever bms.limits makes of them, a DV above what the pack can
    hold or a CV above our absorption voltage is never a request we carry out.
    Currents are a maximum, so one above ours is clamped to ours rather than refused:
    refusing would also throw away the voltages of a master that sends its own
    rating."""
    if m < 9:
        self.bad_format = (self.bad_format + 1) & _COUNT_MASK
        return _RTN_FORMAT
    r = self.req
    cv = r[1] << 8 | r[2]
    dv = r[3] << 8 | r[4]
    ccl = (r[5] << 8 | r[6]) * 100
    dcl = r[7] << 8 | r[8]
    if dcl & 0x8000:
        dcl = 0x10000 - dcl  # negative, as 0x92 sends it: lenient, the size is meant
    dcl *= 100
    cfg = b.cfg
    if dv < cfg.dvl_mv or dv > cfg.float_exit_mv or cv > cfg.cvl_mv or cv < dv + _SET_MIN_GAP_MV:
        self.bad_data = (self.bad_data + 1) & _COUNT_MASK
        return _RTN_DATA
    if ccl > cfg.ccl_ma:
        ccl = cfg.ccl_ma
    if dcl > cfg.dcl_ma:
        dcl = cfg.dcl_ma
    b.limits.set_external(cv, dv, ccl, dcl, now, SET_EXPIRY_MS)
    return _RTN_OK
