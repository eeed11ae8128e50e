"""The Pylontech LV CAN set (V1.2) that Victron, SMA, Deye, Sol-Ark and others read.

Source: ../shared/spec/protocols.md section 1 (PYL-CAN V1.2, with the Sol-Ark V1.3 rule
that every frame is 8 bytes, zero-padded, and the discharge voltage in 0x351 bytes 6-7
that real packs send). Little endian; 500 kbit/s, 11-bit ids.

Each encoder fills an 8-byte buffer from the core (bms.core.Bms: its sample, SOC, limits
and active protection/warning names).
"""

from micropython import const

from bms import protections as pt
from protocols.fields import clear, deciamps, div_round, u16le, u16le_at

LIMITS = const(0x351)
SOC = const(0x355)
MEASURE = const(0x356)
ALARMS = const(0x359)
REQUESTS = const(0x35C)
NAME = const(0x35E)
CAPACITY = const(0x379)
KEEPALIVE = const(0x305)  # from the inverter

_SMA_MAX_DA = const(1200)  # a Sunny Island's 0x351 current limits, 0.1 A
_SMA_MAX_DVL_DV = const(480)  # and its discharge voltage, 0.1 V (41-48 V)
_MANUFACTURER = const(b"PYLON   ")  # Deye and others look for a name starting with PYLON


def _m(*names):
    bits = 0
    for n in names:
        bits |= 1 << n
    return bits


# 0x359: (bit, names that set it), bit 8 * byte + bit of the four flag bytes --
# protocols.md section 1, the table "0x359 bits" (pairs: a tuple of two takes 16 B of a
# board's heap, one of three 32)
ALARM_BITS = (
    (8 * 0 + 1, _m(pt.COVP, pt.POVP)),  # protection: cell or module over-voltage
    (8 * 0 + 2, _m(pt.CUVP, pt.PUVP)),  # under-voltage
    (8 * 0 + 3, _m(pt.CHTP, pt.DHTP, pt.MOS_OTP)),  # cell over-temperature
    (8 * 0 + 4, _m(pt.CLTP, pt.DLTP)),  # cell under-temperature
    (8 * 0 + 7, _m(pt.DOCP, pt.SCP)),  # discharge over-current
    (8 * 1 + 0, _m(pt.COCP)),  # charge over-current
    (8 * 1 + 3, _m(pt.SENSOR_FAIL, pt.MOS_FAIL, pt.REVERSE, pt.PRECHARGE_FAIL)),  # system error
    (8 * 2 + 1, _m(pt.HIGH_VOLTAGE)),  # alarms (warnings): cell or module high voltage
    (8 * 2 + 2, _m(pt.LOW_VOLTAGE)),
    (8 * 2 + 3, _m(pt.HIGH_TEMP)),
    (8 * 2 + 4, _m(pt.LOW_TEMP)),
    (8 * 2 + 7, _m(pt.HIGH_CURRENT)),  # discharge high current (charge: byte 3 bit 0)
    (8 * 3 + 3, _m(pt.PACK_LOST)),  # internal communication failure
)
del _m  # run at import only: its code goes


def alarm_bytes(buf, names, charging):
    """The four 0x359 flag bytes (also used by the Growatt set) into buf[0:4]."""
    for i in range(4):
        buf[i] = 0
    for bit, mask in ALARM_BITS:
        if names & mask:
            buf[bit >> 3] |= 1 << (bit & 7)
    if names & (1 << pt.HIGH_CURRENT) and charging:
        buf[2] &= ~0x80
        buf[3] |= 0x01  # charge high current


def encode(can_id, buf, b):
    """Fill buf (8 bytes) with frame can_id from the core b; returns its length (0: not
    ours)."""
    clear(buf)
    s = b.sample
    lim = b.limits
    if can_id == LIMITS:
        u16le(buf, 0, div_round(lim.cvl_mv, 100))  # 0.1 V
        u16le(buf, 2, lim.ccl_ma // 100)  # 0.1 A
        u16le(buf, 4, lim.dcl_ma // 100)
        u16le(buf, 6, div_round(lim.dvl_mv, 100))
    elif can_id == SOC:
        soc = b.soc.shown_cpct
        u16le(buf, 0, soc // 100)  # %
        u16le(buf, 2, b.soc.soh_pct())
        u16le(buf, 4, soc)  # 0.01 %
    elif can_id == MEASURE:
        u16le(buf, 0, div_round(s.stack_mv, 10))  # 0.01 V
        u16le(buf, 2, deciamps(b.reported_ma))  # 0.1 A, + charging
        u16le(buf, 4, s.cell_tavg_dc)  # 0.1 C
    elif can_id == ALARMS:
        alarm_bytes(buf, b.engine.names, b.reported_ma > 0)
        buf[4] = b.modules  # packs in the system
        buf[5] = 0x50  # 'P'
        buf[6] = 0x4E  # 'N'
    elif can_id == REQUESTS:
        buf[0] = request_flags(lim)
    elif can_id == NAME:
        buf[0:8] = _MANUFACTURER
    elif can_id == CAPACITY:
        u16le(buf, 0, b.cfg.capacity_mah // 1000)  # installed capacity, Ah
    else:
        return 0
    return 8


def sma_range(buf):
    """0x351 (encoded in buf) within a Sunny Island's ranges (protocols.md 2a), which
    silently rejects a value outside them: charge and discharge current at most 120.0 A
    (a system of three packs or more asks for more), discharge voltage at most 48.0 V
    (the config allows 52.0 V; a rejected value would leave the SI at its 41 V). The
    charge voltage's 41-63 V holds any config."""
    for k in range(2, 8, 2):  # CCL, DCL, DVL
        v = _SMA_MAX_DVL_DV if k == 6 else _SMA_MAX_DA
        if u16le_at(buf, k) > v:
            u16le(buf, k, v)


def request_flags(lim):
    """0x35C byte 0: b7 charge enable, b6 discharge enable, b5/b4 force charge I/II (both:
    inverters read one or the other), b3 full charge request."""
    flags = 0
    if lim.charge_enable:
        flags |= 0x80
    if lim.discharge_enable:
        flags |= 0x40
    if lim.force_charge:
        flags |= 0x30
    if lim.full_request:
        flags |= 0x08
    return flags
