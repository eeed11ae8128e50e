"""The Pylon RS485 server's code that a pack polled as most inverters poll never runs
(protocols/pylon_rs485.py's Server): the rare commands 0x47, 0x51, 0x93 and 0x96 (an
inverter's or a client's start, a bus scan) and 0x94 (set charge/discharge management,
which few inverters send). Imported at the first request that needs it and kept
(Server.rare): a reply must not allocate, and an inverter that sends 0x94 sends it again
within seconds. A pack never asked them never holds this code (nor the system answer's:
protocols/pylon_rs485_system.py).
"""

from micropython import const

from protocols.fields import put_hex
from protocols.pylon_rs485 import (
    BATTERY_NAME,
    MAIN_VERSION,
    MANUFACTURER_NAME,
    SET_EXPIRY_MS,
    SW_VERSION,
)

# protocols.pylon_rs485's
_RTN_OK = const(0x00)
_RTN_FORMAT = const(0x05)
_RTN_DATA = const(0x06)
_MANUFACTURER = const(0x51)
_SERIAL = const(0x93)
_SOFTWARE = const(0x96)
_KELVIN_OFFSET = const(2731)
_COUNT_MASK = const(0x3FFFFFFF)

_SET_MIN_GAP_MV = const(1000)  # 0x94: CV at least this far above DV


def answer(self, ver, cid2, b):
    """Server self's reply to rare command cid2 (0x47 when none of the others) from pack
    b (bms.core.Bms), built in self.out: returns its length."""
    info = self.info
    if cid2 == _MANUFACTURER:
        info[0:10] = BATTERY_NAME
        info[10:12] = SW_VERSION
        info[12:32] = MANUFACTURER_NAME
        return self._reply(ver, _RTN_OK, 32)
    if cid2 == _SERIAL:
        # the pack's chip's unique id in hex. Another pack's before its IDENT frame has
        # come is not known: no reply (counted), never a made-up one. Not RTN 91: a bus
        # scan (python-pylontech's) takes any reply for a battery and then fails on it
        uid = b.uid
        if uid is None:
            self.blind = (self.blind + 1) & _COUNT_MASK
            return 0
        info[0] = self.at
        put_hex(info, 1, uid, 0, 8)
        return self._reply(ver, _RTN_OK, 17)
    if cid2 == _SOFTWARE:
        info[0] = self.at
        info[1:3] = SW_VERSION
        info[3:6] = MAIN_VERSION
        return self._reply(ver, _RTN_OK, 6)
    # 0x47: the system parameters
    cfg = b.cfg
    info[0] = 0x11  # INFOFLAG
    k = self._put16(1, cfg.covp_warn_mv)
    k = self._put16(k, cfg.cuvp_warn_mv)
    k = self._put16(k, cfg.cuvp_trip_mv)
    k = self._put16(k, cfg.chtp_trip_dc + _KELVIN_OFFSET)
    k = self._put16(k, cfg.cltp_trip_dc + _KELVIN_OFFSET)
    k = self._put16(k, cfg.ccl_ma // 100)
    k = self._put16(k, cfg.povp_warn_mv)
    k = self._put16(k, cfg.puvp_warn_mv)
    k = self._put16(k, cfg.puvp_trip_mv)
    k = self._put16(k, cfg.dhtp_trip_dc + _KELVIN_OFFSET)
    k = self._put16(k, cfg.dltp_trip_dc + _KELVIN_OFFSET)
    k = self._put16(k, -(cfg.dcl_ma // 100))  # negative, as real packs send it
    return self._reply(ver, _RTN_OK, k)


def set_management(self, b, m, now):
    """Server self's 0x94 (m bytes of INFO in self.req) for pack b (bms.core.Bms): the
    inverter narrows the limits for 10 s (it can only make them stricter: bms.limits
    applies the tighter of the two); returns the RTN. Voltages outside our own envelope
    are refused (RTN 06): whatever bms.limits makes of them, a DV above what the pack can
    hold or a CV above our absorption voltage is never a request we carry out.
    Currents are a maximum, so one above ours is clamped to ours rather than refused:
    refusing would also throw away the voltages of a master that sends its own
    rating. Ours are those of the b.modules packs b speaks for: on a master of several,
    the system's, which they bound after the aggregate (packsystem.py)."""
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
    # (clamped to one pack's config on a master, a 100 A ceiling on a 150 A system was
    # lost: 50 A there, and the system's limit was n times its lowest pack's)
    n = b.modules
    ccl = min(ccl, cfg.ccl_ma * n)
    dcl = min(dcl, cfg.dcl_ma * n)
    b.limits.set_external(cv, dv, ccl, dcl, now, SET_EXPIRY_MS)
    return _RTN_OK
