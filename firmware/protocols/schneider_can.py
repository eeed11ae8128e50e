"""The Schneider Conext set (protocol ID2): provisional and kept to this module.

Source: ../shared/spec/protocols.md section 3, whose only public implementation is
Battery-Emulator's SCHNEIDER-CAN ("testing ongoing"): every fact here is [UNCERTAIN].
29-bit ids, big endian; the gateway's heartbeat is 0x310. Manufacturer and model ids
must be requested from Schneider Electric Solar: we send 0.
"""

from micropython import const

from bms import protections as pt
from protocols.fields import clear, div_round, put_hex
from protocols.fields_be import u16be, u32be

HEARTBEAT = const(0x310)

# id, period ms (protocols.md section 3), offset ms within the period: on the 100 ms
# tick grid, one 500 ms frame in every slot and at most one slower frame beside it
FRAMES = (
    (0x320, 2000, 0),
    (0x321, 500, 0),
    (0x322, 500, 100),
    (0x323, 500, 200),
    (0x324, 500, 300),
    (0x325, 500, 400),
    (0x326, 2000, 700),
    (0x327, 2000, 1400),
    (0x328, 10000, 300),
    (0x330, 10000, 2300),
    (0x331, 10000, 4300),
    (0x332, 10000, 6300),
    (0x333, 10000, 8300),
)

# 0x325 warning/fault bits (read as bit indexes; enum vs bit index is unclear upstream)
_FAULT_BITS = (
    (0, 1 << pt.COCP),
    (1, 1 << pt.DOCP | 1 << pt.SCP),
    (2, 1 << pt.CHTP | 1 << pt.DHTP | 1 << pt.MOS_OTP),
    (3, 1 << pt.CLTP | 1 << pt.DLTP),
    (4, 1 << pt.COVP | 1 << pt.POVP),
    (5, 1 << pt.CUVP | 1 << pt.PUVP),
    (8, 1 << pt.SENSOR_FAIL | 1 << pt.MOS_FAIL | 1 << pt.REVERSE | 1 << pt.PRECHARGE_FAIL),
)
_WARN_BITS = (
    (2, 1 << pt.HIGH_TEMP),
    (3, 1 << pt.LOW_TEMP),
    (4, 1 << pt.HIGH_VOLTAGE),
    (5, 1 << pt.LOW_VOLTAGE),
    (6, 1 << pt.CELL_IMBALANCE),
    (7, 1 << pt.PACK_LOST),
)
# 0x326 state by the core's mode (off, standby, charge, discharge, fault, sleep): online
# while the FETs serve; starting during the boot checks
_STARTING = const(2)
_STATES = const((0, 3, 3, 3, 4, 1))
# the serial number in the 20 slots (chars 19..0) of 0x330 bytes 4-7, 0x331 and 0x332:
# "OPEN", then the pack's unique id in 16 hex characters (the one Pylon's 0x93 gives)
_SERIAL_330 = const(b"OPEN")


def _bits(names, table):
    v = 0
    for bit, mask in table:
        if names & mask:
            v |= 1 << bit
    return v


def encode(can_id, buf, b):
    """Fill buf (8 bytes) with frame can_id from the core b; returns its length."""
    clear(buf)
    s = b.sample
    lim = b.limits
    if can_id == 0x320:
        u16be(buf, 0, 2)  # protocol version
        return 2
    if can_id == 0x321:
        u32be(buf, 0, lim.cvl_mv // 10)  # 0.01 V
        u32be(buf, 4, lim.dvl_mv // 10)
    elif can_id == 0x322:
        u32be(buf, 0, lim.ccl_ma // 10)  # 0.01 A
        u32be(buf, 4, lim.dcl_ma // 10)
    elif can_id == 0x323:
        u32be(buf, 0, s.stack_mv // 10)
        u32be(buf, 4, div_round(b.reported_ma, 10))
    elif can_id == 0x324:
        u16be(buf, 0, s.cell_tavg_dc)
        u16be(buf, 2, b.soc.shown_cpct // 10)  # 0.1 %
        return 4
    elif can_id == 0x325:
        cmd = 0
        if lim.force_charge:
            cmd |= 1
        if lim.charge_enable:
            cmd |= 2
        if lim.discharge_enable:
            cmd |= 4
        if not (lim.charge_enable or lim.discharge_enable):
            cmd |= 8  # stop
        names = b.engine.names
        warnings = _bits(names, _WARN_BITS)
        if names & (1 << pt.HIGH_CURRENT):  # code 0 charge / 1 discharge over-current
            warnings |= 1 if b.reported_ma > 0 else 2
        u16be(buf, 0, cmd)
        u16be(buf, 2, warnings)
        u16be(buf, 4, _bits(names, _FAULT_BITS))
        return 6
    elif can_id == 0x326:
        state = _STATES[b.mode] if b.started else _STARTING
        u16be(buf, 0, state)
        u16be(buf, 2, b.soc.cycles)
        u16be(buf, 4, b.soc.soh_pct())
        u16be(buf, 6, b.soc.full_mah() // 1000)  # Ah
    elif can_id == 0x327:
        u16be(buf, 0, s.cell_tmax_dc)
        u16be(buf, 2, s.cell_tmin_dc)
        # (a cell read below 0 V, an open sense wire, is sent as 0: the fields have no sign)
        u16be(buf, 4, s.max_mv if s.max_mv > 0 else 0)
        u16be(buf, 6, s.min_mv if s.min_mv > 0 else 0)
    elif can_id == 0x328:
        pass  # lifetime energy: not counted by this firmware (sent as 0)
    elif can_id == 0x330:
        buf[4:8] = _SERIAL_330  # manufacturer and model ids 0: to be assigned by Schneider
    elif can_id == 0x331:
        put_hex(buf, 0, b.uid, 0, 4)
    elif can_id == 0x332:
        put_hex(buf, 0, b.uid, 4, 4)
    elif can_id == 0x333:
        buf[0:6] = b"SEBMS\x00"
        return 6
    else:
        return 0
    return 8
