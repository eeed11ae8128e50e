"""The system answer of the Pylon RS485 server (protocols/pylon_rs485.py's Server) on the
master of packs in parallel: imported at the first one and kept, since the inverter
asks for it every second; a pack alone never needs this code.
"""

from micropython import const

from protocols.pylon_rs485 import SYSTEM_OUT, SYSTEM_PACKS, _hex

# protocols.pylon_rs485's
_RTN_OK = const(0x00)
_ANALOG = const(0x42)
_HEX = const(b"0123456789ABCDEF")
_HEAD = const(13)  # `~` and the 12 header characters: where INFO starts


def system(self, ver, cid2, b):
    """0x42 or 0x44 with INFO FF, for Server self on the master b (bms.core.Bms):
    INFOFLAG (0x11; DATAFLAG 0 for 0x44), the module count, then each pack's own block
    in chain order, written straight as hex into a buffer made at the first such
    request; returns the reply's length. A pack counted whose readings are not valid
    (the master's front end lost; a pack whose cells and temperatures have not all come
    since it was counted) is left out, never sent as zeros: the count says how many
    blocks follow."""
    out = self.big
    if out is None:
        out = self.big = bytearray(SYSTEM_OUT)
    peers = self.peers
    info = self.info
    k = _HEAD + 4  # the blocks first: INFOFLAG and the count go in last
    count = 0
    for a in range(1, SYSTEM_PACKS + 1):
        p = peers.member(a, b)
        if p is None or not p.sample.valid:
            continue
        m = self._analog_block(p, 0) if cid2 == _ANALOG else self._alarms_block(p, 0)
        k = _hex(out, k, info, m, _HEX)
        count += 1
    info[0] = 0x11 if cid2 == _ANALOG else 0x00
    info[1] = count
    self._head(out, ver, _RTN_OK, k - _HEAD)
    _hex(out, _HEAD, info, 2, _HEX)
    self.big_out = True
    return self._tail(out, k)
