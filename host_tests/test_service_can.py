"""The service link's CAN codec (firmware/service/can.py): ids in the shared private
range, a service frame cut into segments and put together again, broken ones dropped."""

import unittest

from service import can
from service import frame as fr


def feed_all(a, segs):
    got = 0
    for s in segs:
        got = a.feed(s, len(s)) or got
    return got


class CanCodecTest(unittest.TestCase):
    def test_ids(self):
        self.assertEqual(can.can_id(can.REQUEST, 3), 0x1BB00103)
        self.assertEqual(can.can_id(can.REQUEST, fr.ALL), 0x1BB001FF)
        self.assertEqual(can.can_id(can.REPLY, 32), 0x1BB00220)
        self.assertEqual(can.parse_id(0x1BB00220), (can.REPLY, 32))
        self.assertIsNone(can.parse_id(0x1BA00105))  # the pack link's range
        self.assertIsNone(can.parse_id(0x351))
        # both ranges pass the one MCP2515 mask of the shared decision
        for ident in (0x1BB00220, 0x1BA001FF):
            self.assertEqual(ident & 0x1FEF0000, 0x1BA00000)

    def test_segments_exact(self):
        raw = fr.encode(1, fr.CELLS)  # 6 bytes: one segment
        self.assertEqual(can.segments(raw, len(raw)), [b"\x80" + raw])
        raw = fr.encode(1, fr.EVENTS, b"\x00\x00\x00\x05")  # 10 bytes: 7 + 3
        self.assertEqual(can.segments(raw, len(raw)), [b"\x00" + raw[:7], b"\x81" + raw[7:]])
        raw = fr.encode(2, fr.CONFIG | fr.REPLY, bytes(range(240)))  # the longest
        segs = can.segments(raw, len(raw))
        self.assertEqual(len(segs), 36)
        self.assertEqual(segs[-1][0], 0x80 | 35)
        self.assertTrue(all(len(s) == 8 for s in segs[:-1]))
        a = can.Assembler()
        self.assertEqual(feed_all(a, segs), 246)
        self.assertEqual(bytes(a.buf[:246]), raw)

    def test_broken_frames_are_dropped_and_counted(self):
        raw = fr.encode(1, fr.STATUS, b"\x00\x00" + bytes(20))
        segs = can.segments(raw, len(raw))
        a = can.Assembler()
        self.assertEqual(feed_all(a, segs[:1] + segs[2:]), 0)  # one missing
        self.assertEqual(a.broken, 1)
        self.assertEqual(feed_all(a, segs[:2] + segs[1:]), 0)  # one repeated
        self.assertEqual(a.broken, 2)
        self.assertEqual(feed_all(a, segs[:2] + segs), len(raw))  # restarted: taken
        self.assertEqual(a.broken, 3)
        bad = bytearray(segs[-1])
        bad[-1] ^= 1
        self.assertEqual(feed_all(a, segs[:-1] + [bytes(bad)]), 0)  # the CRC
        self.assertEqual(a.broken, 4)
        self.assertEqual(a.feed(b"", 0), 0)
        self.assertEqual(a.broken, 5)
        self.assertEqual(feed_all(a, segs), len(raw))


if __name__ == "__main__":
    unittest.main()
