"""The Pylon RS485 server's rare commands (protocols/pylon_rs485.py's Server): 0x47,
0x4F, 0x51, 0x93 and 0x96, which an inverter or a client asks when it starts or scans
the bus, never in the polls that come every second. Loaded by bms.lazy for the one
reply and dropped after, so that their code does not stay in a board's heap.
"""

from micropython import const

from protocols.pylon_rs485 import (
    BATTERY_NAME,
    MAIN_VERSION,
    MANUFACTURER_NAME,
    SERIAL_NUMBER,
    SW_VERSION,
)

# protocols.pylon_rs485's
_RTN_OK = const(0x00)
_VERSION = const(0x4F)
_MANUFACTURER = const(0x51)
_SERIAL = const(0x93)
_SOFTWARE = const(0x96)
_KELVIN_OFFSET = const(2731)

_PROTOCOL_VERSION = const(0x33)  # V3.3, reported in the VER field of the 0x4F reply


def reply(self, ver, cid2, b):
    """Server self's reply to rare command cid2 (0x47 when none of the others) from pack
    b (bms.core.Bms), built in self.out: returns its length."""
    info = self.info
    if cid2 == _VERSION:
        return self._reply(_PROTOCOL_VERSION, _RTN_OK, 0)
    if cid2 == _MANUFACTURER:
        info[0:10] = BATTERY_NAME
        info[10:12] = SW_VERSION
        info[12:32] = MANUFACTURER_NAME
        return self._reply(ver, _RTN_OK, 32)
    if cid2 == _SERIAL:
        info[0] = self.at
        info[1:17] = SERIAL_NUMBER
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
