"""The SMA / Victron frames sent with the Pylon set under protocol ID0.

Source: ../shared/spec/protocols.md section 2a (SMA FSS-ConnectingBat-TI-en-10) and 2b
(Victron: mandatory 0x35A and 0x35F, optional 0x372, 0x373). Little endian, 8 bytes.

0x35A carries 2-bit pairs: the lower bit set means "active", the upper bit "OK" (set
only one; both or neither means no change). Pairs we do not have (contactor, generator,
reserved) are sent as 00.

Alarm or warning: a Sunny Island goes to standby on any alarm (section 2a), which in an
off-grid house is a blackout and, after CUVP, leaves nothing to recharge the pack with.
So a trip that stops one direction (over/under voltage, temperature, over-current),
which the limits and 0x35C already stop, is sent in the warning half; the alarm half
carries what needs a person: the faults (short circuit, reversed polarity, sensor, MOS,
pre-charge, MOS over-temperature) and a protection locked out until RESET.
"""

from micropython import const

from bms import protections as pt
from protocols.fields import clear, div_round, u16le

ALARMS_PAIRS = const(0x35A)
OVERVIEW = const(0x35F)
MODULES = const(0x372)
EXTREMES = const(0x373)

_ACTIVE = const(1)
_OK = const(2)

_CHEMISTRY = const(b"LF")  # LiFePO4, ASCII as the overview's type field [UNCERTAIN byte split]
_HW_VERSION = const(0x0100)
SW_VERSION = const(0x0100)


def _m(*names):
    bits = 0
    for n in names:
        bits |= 1 << n
    return bits


_PROTECTIONS = (1 << pt.FIRST_WARNING) - 2  # every protection name
_FAULTS = _m(pt.SCP, pt.REVERSE, pt.SENSOR_FAIL, pt.MOS_FAIL, pt.PRECHARGE_FAIL, pt.MOS_OTP)
_WARNINGS = _m(
    pt.CELL_IMBALANCE, pt.LOW_VOLTAGE, pt.HIGH_VOLTAGE, pt.HIGH_CURRENT, pt.HIGH_TEMP, pt.LOW_TEMP
)

# the names each pair reports, by pair index k (0..12 of the 16 within the 4 bytes: pair k
# is byte k // 4, bits 2*(k % 4)); 0 for a pair we do not have (sent as 00). A name that
# is a fault or locked sets the alarm, any other the warning. (Masks only, the index by
# position: a tuple of (k, mask) per pair took 16 B more of a board's heap each.)
PAIRS = (
    _PROTECTIONS | _WARNINGS,  # 0: general
    _m(pt.COVP, pt.POVP, pt.HIGH_VOLTAGE),  # 1: battery high voltage
    _m(pt.CUVP, pt.PUVP, pt.LOW_VOLTAGE),  # 2: battery low voltage
    _m(pt.DHTP, pt.CHTP, pt.MOS_OTP, pt.HIGH_TEMP),  # 3: high temperature
    _m(pt.DLTP, pt.CLTP, pt.LOW_TEMP),  # 4: low temperature
    _m(pt.CHTP, pt.HIGH_TEMP),  # 5: high temperature while charging
    _m(pt.CLTP, pt.LOW_TEMP),  # 6: low temperature while charging
    _m(pt.DOCP),  # 7: high (discharge) current; the warning also by the sign below
    _m(pt.COCP),  # 8: high charge current
    0,  # 9: contactor (none)
    _m(pt.SCP),  # 10: short circuit
    _m(pt.SENSOR_FAIL, pt.MOS_FAIL, pt.REVERSE, pt.PRECHARGE_FAIL, pt.PACK_LOST),  # 11: BMS
    _m(pt.CELL_IMBALANCE),  # 12: cell imbalance
)
del _m  # run at import only: its code goes


def _pair(buf, base, k, active):
    shift = 2 * (k % 4)
    i = base + k // 4
    buf[i] = buf[i] & ~(3 << shift) | (_ACTIVE if active else _OK) << shift


def encode(can_id, buf, b):
    """Fill buf (8 bytes) with frame can_id from the core b; returns its length (0: not
    ours)."""
    clear(buf)
    s = b.sample
    if can_id == ALARMS_PAIRS:
        names = b.engine.names
        hard = names & (_FAULTS | b.engine.locked)
        soft = names & ~hard
        high_current = names & (1 << pt.HIGH_CURRENT)
        charging = b.reported_ma > 0
        for k in range(len(PAIRS)):
            mask = PAIRS[k]
            if mask:
                _pair(buf, 0, k, hard & mask)
                _pair(buf, 4, k, soft & mask)
        # pairs 7 and 8: the high current warning by direction
        _pair(buf, 4, 7, soft & (1 << pt.DOCP) or high_current and not charging)
        _pair(buf, 4, 8, soft & (1 << pt.COCP) or high_current and charging)
    elif can_id == OVERVIEW:
        buf[0:2] = _CHEMISTRY
        u16le(buf, 2, _HW_VERSION)
        u16le(buf, 4, b.cfg.capacity_mah // 1000)
        u16le(buf, 6, SW_VERSION)
    elif can_id == MODULES:
        # the packs heard; of them, those blocking charge and discharge (or pre-charging);
        # those silent or lost (allow_chg, relay_dsg: the core's bools, the system's counts)
        n = b.online
        u16le(buf, 0, n)
        u16le(buf, 2, n - b.allow_chg)
        u16le(buf, 4, n - b.relay_dsg)
        u16le(buf, 6, b.offline)
    elif can_id == EXTREMES:
        # (a cell read below 0 V, an open sense wire, is sent as 0: the fields have no sign)
        u16le(buf, 0, s.min_mv if s.min_mv > 0 else 0)
        u16le(buf, 2, s.max_mv if s.max_mv > 0 else 0)
        u16le(buf, 4, div_round(s.cell_tmin_dc, 10) + 273)  # K
        u16le(buf, 6, div_round(s.cell_tmax_dc, 10) + 273)
    else:
        return 0
    return 8
