"""Growatt's own LV CAN set, sent in answer to its 0x301 request (protocol ID1).

Source: ../shared/spec/protocols.md section 2c (GW-DOC Rev 04 via Battery-Emulator).
Big endian, 11-bit ids; the inverter sends 0x301 `11 22 33 44 55 66 77 88` every
second and the battery answers with 0x311-0x319 at once.
[UNCERTAIN] 0x312's four fault/alarm bytes are not mapped in any public source; we send
the Pylon 0x359 layout there, which Growatt-compatible inverters show as flags.

On a master of parallel packs (packsystem.SystemView) every value is the system's but
0x315-0x318's: they carry the master's own 16 cells (the set has room for one pack's).
0x319's highest and lowest cell are the system's, and its "protect pack ID" the chain
address of the pack that holds one of them.
"""

from micropython import const

from protocols import pylon_can
from protocols.fields import clear, deciamps, div_round
from protocols.fields_be import u16be

REQUEST = const(0x301)
FIRST = const(0x311)
LAST = const(0x319)
# bms.protections' CUVP, PUVP and LOW_VOLTAGE: 0x319 names the lowest cell's pack then
_LOW_NAMES = const(1 << 3 | 1 << 4 | 1 << 18)


def encode(can_id, buf, b):
    """Fill buf (8 bytes) with frame can_id (0x311-0x319) from the core b; returns its
    length (0: not ours)."""
    clear(buf)
    s = b.sample
    lim = b.limits
    soc = b.soc
    if can_id == 0x311:
        u16be(buf, 0, div_round(lim.cvl_mv, 100))
        u16be(buf, 2, lim.ccl_ma // 100)
        u16be(buf, 4, lim.dcl_ma // 100)
        r = b.reported_ma
        u16be(buf, 6, 2 if r > 0 else (3 if r < 0 else 1))  # 01 idle, 10 charge, 11 discharge
    elif can_id == 0x312:
        pylon_can.alarm_bytes(buf, b.engine.names, b.reported_ma > 0)
        buf[4] = b.modules  # packs in the system (as in Pylon 0x359, whose layout this is)
        buf[5] = 0x50  # manufacturer code "PN"
        buf[6] = 0x4E
        buf[7] = 16  # cells
    elif can_id == 0x313:
        u16be(buf, 0, div_round(s.stack_mv, 10))
        u16be(buf, 2, deciamps(b.reported_ma))
        u16be(buf, 4, s.cell_tmax_dc)
        buf[6] = soc.shown_cpct // 100
        buf[7] = soc.soh_pct() & 0x7F
    elif can_id == 0x314:
        # 10 mAh: 655.35 Ah at most, six 100 Ah packs. Above, the full capacity is held
        # there and the remaining one scaled with it (each held alone read 100 %)
        full = soc.full_mah() // 10
        if full > 0xFFFF:
            full = 0xFFFF
        u16be(buf, 0, full * soc.shown_cpct // 10000)  # (the SOC shown, as 0x313's)
        u16be(buf, 2, full)
        u16be(buf, 4, s.max_mv - s.min_mv)
        u16be(buf, 6, soc.cycles)
    elif 0x315 <= can_id <= 0x318:
        first = (can_id - 0x315) * 4
        for k in range(4):
            mv = s.cells_mv[first + k]  # (below 0 V, an open sense wire: 0, as unsigned)
            u16be(buf, 2 * k, mv if mv > 0 else 0)
    elif can_id == 0x319:
        flags = pylon_can.request_flags(lim) & 0xF0  # bits 1-0 = 00: LFP
        buf[0] = flags
        u16be(buf, 1, s.max_mv if s.max_mv > 0 else 0)
        u16be(buf, 3, s.min_mv if s.min_mv > 0 else 0)
        buf[5] = s.max_cell + 1
        buf[6] = s.min_cell + 1
        # the pack in protection: the lowest cell's under an under-voltage, else the
        # highest's (1 was sent for whichever pack held them). A pack alone is 1
        if b.modules > 1:
            buf[7] = b.min_pack if b.engine.names & _LOW_NAMES else b.max_pack
        else:
            buf[7] = 1
    else:
        return 0
    return 8
