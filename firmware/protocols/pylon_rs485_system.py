"""The Pylon RS485 system answer of a master of packs in parallel (protocols.md 4.1): 0x42
or 0x44 with INFO FF at the master's ADR, for protocols/pylon_rs485.py's Server. Imported
at the first such request, with the Answer it makes, and kept (Server.big): an inverter
that asks a master for the system asks again each second. A pack alone or a slave never
holds this code.

The answer is up to 4054 characters (32 packs' 0x42 blocks). It is written in parts of
PART bytes, each with room for 8 packs' blocks, made one more each time an answer needs
it (4 for 32 packs), and drivers.rs485 sends them one after the other: a heap in service
can have far more free than 4 KB but in pieces (the emulated RP2040's master of 32
packs: 60 KB free, none of it in a 4 KB piece), and most systems have a few packs.
Without room for a part, build() gives 0 and the server answers RTN 91, counted
(Server.no_room), and the next request tries again: a reply that cannot be built is the
protocol's error, never the safety net's (FETs off, then a reset).
"""

from micropython import const

from protocols.pylon_rs485 import SYSTEM_PACKS, _hex, _sum

_BLOCK_42 = const(63)  # protocols.pylon_rs485's (test_system_rs485 checks PART)
# a part has room for 8 packs' 0x42 blocks, the header (in the first) and the tail (in
# the last): 4 parts for SYSTEM_PACKS
PART = const(22 + 2 * 8 * _BLOCK_42)

# protocols.pylon_rs485's
_RTN_OK = const(0x00)
_ANALOG = const(0x42)
_HEX = const(b"0123456789ABCDEF")
_HEAD = const(13)  # `~` and the 12 header characters: where INFO starts
_TAIL = const(5)  # CHKSUM and CR
_PARTS = const(4)


class Answer:
    def __init__(self):
        self.parts = []  # bytearrays of PART bytes, the first made at the first answer
        self.ends = [0] * _PARTS  # the last answer's length in each part
        self.used = 0  # the parts it used
        self._views = []  # views()'s, of the parts used

    def build(self, server, ver, cid2, b):
        """The answer to 0x42 (cid2 _ANALOG) or 0x44 for Server server on the master b
        (bms.core.Bms): INFOFLAG (0x11; DATAFLAG 0 for 0x44), the module count, then
        each pack's own block in chain order, written straight as hex into the parts;
        returns the reply's length (0: no room for a part). A pack counted whose
        readings are not valid (the master's front end lost; a pack whose cells and
        temperatures have not all come since it was counted) is left out, never sent as
        zeros: the count says how many blocks follow."""
        parts = self.parts
        ends = self.ends
        if not parts and not self._more():
            return 0
        info = server.info
        peers = server.peers
        i = 0  # the part being written
        k = _HEAD + 4  # the blocks first: INFOFLAG and the count go in last
        count = 0
        for a in range(1, SYSTEM_PACKS + 1):
            p = peers.member(a, b)
            if p is None or not p.sample.valid:
                continue
            if cid2 == _ANALOG:
                m = server._analog_block(p, 0)
            else:
                m = server._alarms_block(p, 0)
            if k + 2 * m + _TAIL > PART:  # (room for the tail is kept in every part)
                ends[i] = k
                i += 1
                k = 0
                if i == len(parts) and not self._more():
                    return 0
            k = _hex(parts[i], k, info, m, _HEX)
            count += 1
        ends[i] = k
        chars = -_HEAD  # INFO's characters: the parts', less the header's
        for j in range(i + 1):
            chars += ends[j]
        info[0] = 0x11 if cid2 == _ANALOG else 0x00
        info[1] = count
        first = parts[0]
        server._head(first, ver, _RTN_OK, chars)
        _hex(first, _HEAD, info, 2, _HEX)
        # the checksum covers every part: the sum of those before the last, then its own
        total = 0
        for j in range(i):
            total += _sum(parts[j], 1 if j == 0 else 0, ends[j])
        ends[i] = server._tail(parts[i], k, 1 if i == 0 else 0, total)
        self.used = i + 1
        server.big_out = True
        return _HEAD + chars + _TAIL

    def views(self):
        """The last answer's parts, as a list of views of their lengths (drivers.rs485's
        send), each made again only when its length changed (with the packs counted, or
        from 0x42's to 0x44's: a few bytes a reply, never per tick)."""
        views = self._views
        ends = self.ends
        used = self.used
        while len(views) > used:
            views.pop()
        for i in range(used):
            if i == len(views):
                views.append(memoryview(self.parts[i])[: ends[i]])
            elif len(views[i]) != ends[i]:
                views[i] = memoryview(self.parts[i])[: ends[i]]
        return views

    def _more(self):
        """A part more; False without a piece of heap that large (the parts made are
        kept)."""
        try:
            self.parts.append(bytearray(PART))  # (the list's growth: a few bytes)
        except MemoryError:
            return False
        return True
