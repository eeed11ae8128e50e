"""The pack link on the shared CAN bus: each pack's summary, for the master's system.

Our own protocol (no public one exists for it). 29-bit identifiers in a private range
that no inverter set uses (protocols.md: Pylon, SMA/Victron and Growatt use 11-bit ids,
Schneider's 29-bit set is 0x310-0x333):
    id = BASE | msg << 8 | src        (src: the sender's chain address 1..32, 0 = none yet)
The service link (another module) uses SERVICE_BASE; one acceptance mask (FILTER, MASK)
passes both ranges. Little endian, every frame 8 bytes. tools/bms_packlink.dbc decodes
them. A pack sends its eleven frames once a second, IDENT halfway through TEMPS_2's slot
(and LIMITS at once when its FETs change: see packlink.py). The first four are its
summary, for the system's values; the other seven carry what the master's Pylon RS485
server needs to answer for this pack at its own address (0x42 and 0x44: every cell and
every temperature sensor; 0x93: its serial number):

| msg | bytes |
|---|---|
| CELLS 0x01 | u16 min cell mV, u16 max cell mV, u8 min cell 1-16, u8 max, u16 SOC 0.01 % |
| MEASURE 0x02 | u16 pack mV, s16 current 0.1 A (+ charging), s16 min cell temp 0.1 C, s16 max |
| LIMITS 0x03 | u16 CVL mV, u16 CCL 0.1 A, u16 DCL 0.1 A, u8 SOH %, u8 flags (F_*) |
| STATUS 0x04 | u32 protection/warning bits (bms.protections), u16 capacity 0.1 Ah, u16 cycles |
| CELLS_1..CELLS_4 0x05-0x08 | u16 cell mV x 4: cells 1-4, 5-8, 9-12, 13-16 |
| TEMPS_1 0x09 | s16 0.1 C x 4: the cell sensors (Sample.temps_dc slots 0-3) |
| TEMPS_2 0x0A | s16 0.1 C board (slot 4), s16 MOSFETs (slot 5), u16 unlock 0.1 s, u8 link, 0 |
| IDENT 0x0B | the pack's unique id (its chip's, right-aligned): its serial number |

TEMPS_2's unlock: what is left of the sender's service-link unlock (0: locked; put_unlock),
for a monitor: no pack takes it, since anything on the bus can send it (a forged one
unlocked a slave). A slave takes the master's unlock from the chain's beacons on its Link
IN only (protocols/packchain.py, packlink.py). TEMPS_2's link byte (6): b0 an inverter's
requests are answered on the sender's Link IN (the head of the chain: of two masters, the
other steps down for it, packlink.py); b1 the sender's DIP sets the protocol (ID1, ID2: of
two masters, the one at the default steps down for it); the other bits 0. Firmware before
them sent 0 there.
"""

from micropython import const

from bms import ticks
from protocols.fields import clear, div_round, u16le, u32le

BASE = const(0x1BA00000)
_SERVICE_BASE = const(0x1BB00000)
FILTER = const(0x1BA00000)  # with MASK: bit 20 (pack link / service) and the low 16 free
MASK = const(0x1FEF0000)
RANGE_MASK = const(0x1FFF0000)

CELLS = const(0x01)
MEASURE = const(0x02)
LIMITS = const(0x03)
STATUS = const(0x04)
_CELLS_1 = const(0x05)
_TEMPS_1 = const(0x09)
TEMPS_2 = const(0x0A)
IDENT = const(0x0B)
N_SUMMARY = const(4)  # CELLS..STATUS: what the system's values need
N_MSGS = const(11)
MAX_ADDRESS = const(32)

# LIMITS byte 7
F_CHG_FET = const(0x01)  # the charge FET is on: the pack takes charge current now
F_DSG_FET = const(0x02)  # the discharge path is there (on, pre-charge done)
F_PRE_FET = const(0x04)
F_CHG_OK = const(0x08)  # the pack asks for charge (charge enable)
F_DSG_OK = const(0x10)
F_FORCE = const(0x20)  # force charge request
F_FULL = const(0x40)  # full charge request
_F_MASTER = const(0x80)

_MAS_PER_DAH = const(360000)  # 0.1 Ah in mAs


def can_id(msg, src):
    return BASE | msg << 8 | src


def split(ident):
    """(msg, src) of a pack-link id, or (0, 0) for any other id."""
    if ident & RANGE_MASK != BASE:
        return 0, 0
    return (ident >> 8) & 0xFF, ident & 0xFF


def flags(b, master):
    f = 0
    if b.chg:
        f = F_CHG_FET
    if b.dsg and not b.pre:
        f |= F_DSG_FET
    if b.pre:
        f |= F_PRE_FET
    lim = b.limits
    if lim.charge_enable:
        f |= F_CHG_OK
    if lim.discharge_enable:
        f |= F_DSG_OK
    if lim.force_charge:
        f |= F_FORCE
    if lim.full_request:
        f |= F_FULL
    if master:
        f |= _F_MASTER
    return f


def put_unlock(buf, b, now):
    """TEMPS_2's bytes 4-5 (buf encoded): what is left of b's unlock, 0.1 s rounded
    down (announced no longer than it holds), 0 when locked."""
    if b.unlock_valid(now):
        u16le(buf, 4, (b.cfg.unlock_valid_ms - ticks.diff(now, b.unlock_at)) // 100)


def unlock_ms(data):
    """The unlock a TEMPS_2 frame announces, in ms (0: locked)."""
    return (data[4] | data[5] << 8) * 100


def encode(msg, buf, b, master):
    """Fill buf (8 bytes) with message msg from the core b (stepped at least once);
    returns its length (0: no such message)."""
    clear(buf)
    s = b.sample
    if msg == CELLS:
        # (a cell read below 0 V, a broken sense wire, is sent as 0: the field has no sign)
        u16le(buf, 0, s.min_mv if s.min_mv > 0 else 0)
        u16le(buf, 2, s.max_mv if s.max_mv > 0 else 0)
        buf[4] = s.min_cell + 1
        buf[5] = s.max_cell + 1
        u16le(buf, 6, b.soc.shown_cpct)
    elif msg == MEASURE:
        u16le(buf, 0, s.stack_mv)
        u16le(buf, 2, div_round(b.reported_ma, 100))
        u16le(buf, 4, s.cell_tmin_dc)
        u16le(buf, 6, s.cell_tmax_dc)
    elif msg == LIMITS:
        lim = b.limits
        u16le(buf, 0, lim.cvl_mv)
        u16le(buf, 2, lim.ccl_ma // 100)
        u16le(buf, 4, lim.dcl_ma // 100)
        buf[6] = b.soc.soh_pct()
        buf[7] = flags(b, master)
    elif msg == STATUS:
        soc = b.soc
        u32le(buf, 0, b.engine.names)
        u16le(buf, 4, soc.full_mas // _MAS_PER_DAH)
        u16le(buf, 6, soc.cycles & 0xFFFF)
    elif _CELLS_1 <= msg < _TEMPS_1:
        cells = s.cells_mv
        i = (msg - _CELLS_1) * 4
        for k in range(4):
            v = cells[i + k]
            u16le(buf, 2 * k, v if v > 0 else 0)
    elif msg == _TEMPS_1:
        t = s.temps_dc
        for k in range(4):
            u16le(buf, 2 * k, t[k])
    elif msg == TEMPS_2:
        u16le(buf, 0, s.temps_dc[4])
        u16le(buf, 2, s.temps_dc[5])
    elif msg == IDENT:
        buf[0:8] = b.uid
    else:
        return 0
    return 8
