"""The Pylon RS485 server's commands only some installations use (protocols/pylon_rs485.py):
0x94, which some inverters send and most never do, and the system answer of a master of
packs in parallel. Imported at the first such request and kept (an inverter that sends
one sends it again within seconds), so that a pack alone under an inverter that never
sends 0x94 does not hold their code.
"""

from micropython import const

from protocols.pylon_rs485 import (
    _HEX,
    ANALOG,
    RTN_DATA,
    RTN_FORMAT,
    RTN_OK,
    SET_EXPIRY_MS,
    SYSTEM_OUT,
    SYSTEM_PACKS,
    _hex,
)

_COUNT_MASK = const(0x3FFFFFFF)  # protocols.pylon_rs485's
_SET_MIN_GAP_MV = const(1000)  # 0x94: CV at least this far above DV
_HEAD = const(13)  # `~` and the 12 header characters: where INFO starts


def set_management(server, b, m, now):
    """Server._set_management()."""
    if m < 9:
        server.bad_format = (server.bad_format + 1) & _COUNT_MASK
        return RTN_FORMAT
    r = server.req
    cv = r[1] << 8 | r[2]
    dv = r[3] << 8 | r[4]
    ccl = (r[5] << 8 | r[6]) * 100
    dcl = r[7] << 8 | r[8]
    if dcl & 0x8000:
        dcl = 0x10000 - dcl  # negative, as 0x92 sends it: lenient, the size is meant
    dcl *= 100
    cfg = b.cfg
    if dv < cfg.dvl_mv or dv > cfg.float_exit_mv or cv > cfg.cvl_mv or cv < dv + _SET_MIN_GAP_MV:
        server.bad_data = (server.bad_data + 1) & _COUNT_MASK
        return RTN_DATA
    if ccl > cfg.ccl_ma:
        ccl = cfg.ccl_ma
    if dcl > cfg.dcl_ma:
        dcl = cfg.dcl_ma
    b.limits.set_external(cv, dv, ccl, dcl, now, SET_EXPIRY_MS)
    return RTN_OK


def system(server, ver, cid2, b):
    """Server._system()."""
    out = server.big
    if out is None:
        out = server.big = bytearray(SYSTEM_OUT)
    peers = server.peers
    info = server.info
    k = _HEAD + 4  # the blocks first: INFOFLAG and the count go in last
    count = 0
    for a in range(1, SYSTEM_PACKS + 1):
        p = peers.member(a, b)
        if p is None or not p.sample.valid:
            continue
        m = server._analog_block(p, 0) if cid2 == ANALOG else server._alarms_block(p, 0)
        k = _hex(out, k, info, m, _HEX)
        count += 1
    info[0] = 0x11 if cid2 == ANALOG else 0x00
    info[1] = count
    server._head(out, ver, RTN_OK, k - _HEAD)
    _hex(out, _HEAD, info, 2, _HEX)
    server.big_out = True
    return server._tail(out, k)
