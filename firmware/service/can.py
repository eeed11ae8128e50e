"""The service link on CAN: a service frame (service/frame.py) cut into 8-byte CAN frames
of the service id range, and put together again.

Ids (29-bit, the private range beside the pack link's 0x1BA00000, both under one
MCP2515 acceptance mask): 0x1BB00000 | kind << 8 | address, kind REQUEST (address: the
destination, 0xFF every pack) or REPLY (address: the pack that replies). Each CAN frame
carries a segment byte and up to 7 bytes of the service frame: the segment's index
(0..35: a service frame is at most 246 bytes) in bits 0-5, LAST in bit 7. The service
frame keeps its own CRC, so a segment lost, repeated or out of order is seen: the
assembly starts again at index 0 and the broken frame is counted. Receiving and the
acceptance filters are the pack link's (its dispatch hands frames of this range here).
"""

from micropython import const

from service import frame as fr

BASE_ID = const(0x1BB00000)
REQUEST = const(0x01)
REPLY = const(0x02)
LAST = const(0x80)
_INDEX = const(0x3F)
_PER = const(7)  # service frame bytes in one CAN frame
_COUNT_MASK = const(0x3FFFFFFF)  # (past 2**30 a count allocates on a 32-bit port)


def can_id(kind, address):
    return BASE_ID | kind << 8 | address


def parse_id(ident):
    """(kind, address) of an id in the service range, None for any other id."""
    if ident & 0x1FFF0000 != BASE_ID:
        return None
    return (ident >> 8) & 0xFF, ident & 0xFF


def segments(data, n):
    """The CAN payloads (bytes, 2..8 long) that carry data[:n], in order."""
    out = []
    k = 0
    index = 0
    while k < n or not out:
        end = k + _PER if k + _PER < n else n
        seg = bytearray(1 + end - k)
        seg[0] = index | (LAST if end >= n else 0)
        seg[1:] = data[k:end]
        out.append(bytes(seg))
        k = end
        index += 1
    return out


class Assembler:
    """Puts one sender's segments back together (one per source address)."""

    def __init__(self):
        self.buf = bytearray(fr.MAX_PAYLOAD + fr.OVERHEAD)
        self.n = 0
        self.next = 0  # the index expected
        self.broken = 0  # frames dropped: a segment missing, repeated or too long

    def feed(self, data, dlc):
        """One CAN payload; returns the service frame's length in self.buf when it is
        complete and its CRC holds (0 otherwise)."""
        if dlc < 1:
            self.broken = (self.broken + 1) & _COUNT_MASK
            return 0
        index = data[0] & _INDEX
        if index == 0:
            if self.next:  # a new frame began before the last one ended
                self.broken = (self.broken + 1) & _COUNT_MASK
            self.n = 0
            self.next = 0
        if index != self.next or self.n + dlc - 1 > len(self.buf):
            if self.next:
                self.broken = (self.broken + 1) & _COUNT_MASK
            self.next = 0
            return 0
        self.buf[self.n : self.n + dlc - 1] = data[1:dlc]
        self.n += dlc - 1
        self.next += 1
        if not data[0] & LAST:
            return 0
        self.next = 0
        if fr.valid(self.buf, self.n):
            return self.n
        self.broken = (self.broken + 1) & _COUNT_MASK
        return 0
