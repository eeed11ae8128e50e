"""The service link on CAN: its codec (firmware/service/can.py): ids in the shared private
range, a service frame cut into segments and put together again, broken ones dropped;
the pack's side (service/can_link.py) alone and on the simulated bus beside the inverter."""

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

    def test_the_broken_count_wraps_below_2_30(self):
        # (past 2**30 a count is no small int: a 32-bit port allocates it)
        raw = fr.encode(1, fr.STATUS, b"\x00\x00" + bytes(20))
        segs = can.segments(raw, len(raw))
        bad = bytearray(segs[-1])
        bad[-1] ^= 1
        for broken in (
            [b""],  # nothing
            segs[:1] + segs,  # a new frame before the last ended
            segs[:1] + segs[2:3],  # one missing
            segs[:-1] + [bytes(bad)],  # the CRC
        ):
            a = can.Assembler()
            a.broken = 0x3FFFFFFE
            feed_all(a, broken)
            self.assertEqual(a.broken, 0x3FFFFFFF)
            feed_all(a, broken)
            self.assertEqual(a.broken, 0, broken)


class _Can:
    """A controller: tx_pending() and send() as the MCP2515 driver's."""

    def __init__(self):
        self.pending = False
        self.full = False
        self.sent = []

    def tx_pending(self):
        return self.pending

    def send(self, ident, data, n, ext=False):
        if self.full:
            return False
        self.sent.append((ident, bytes(data[:n])))
        return True


class _Server:
    def __init__(self):
        self.out = bytearray(fr.MAX_PAYLOAD + fr.OVERHEAD)
        self.restart_due = False
        self.seen = []
        self.restarted = []

    def handle(self, buf, n, now, me):
        self.seen.append((bytes(buf[:n]), me))
        return fr.seal(self.out, me, buf[2] | fr.REPLY, 20)

    def restart(self, now):
        self.restarted.append(now)


class _App:
    address = 3


class _Link:
    def __init__(self):
        self.can = _Can()
        self.server = _Server()
        self.service_app = _App()

    def server_for_service(self):
        return self.server


class _Frame:
    def __init__(self, ident, data):
        self.can_id = ident
        self.data = bytearray(8)
        self.data[: len(data)] = data
        self.dlc = len(data)


def request(svc, address, raw, now, skip=()):
    for i, seg in enumerate(can.segments(raw, len(raw))):
        if i not in skip:
            svc.take(_Frame(can.can_id(can.REQUEST, address), seg), now)


class CanServiceTest(unittest.TestCase):
    """service/can_link.py alone: which requests it takes, the reply's segments and
    their pacing, the drops."""

    def setUp(self):
        from service.can_link import CanService

        self.link = _Link()
        self.svc = CanService(self.link)

    def test_ours_and_all_only(self):
        svc = self.svc
        raw = fr.encode(3, fr.CELLS)
        request(svc, 4, raw, 0)  # another pack's
        svc.take(_Frame(can.can_id(can.REPLY, 3), can.segments(raw, len(raw))[0]), 0)
        self.assertEqual((svc.segments_in, self.link.server.seen), (0, []))
        request(svc, 3, raw, 0)
        request(svc, fr.ALL, fr.encode(fr.ALL, fr.CELLS), 0)
        self.assertEqual([m for _r, m in self.link.server.seen], [3, 3])
        self.link.service_app.address = None  # no chain address yet: nothing is ours
        request(svc, 3, raw, 0)
        self.assertEqual(svc.requests, 2)

    def test_reply_segments_paced(self):
        from service.can_link import SEG_GAP_MS

        svc = self.svc
        c = self.link.can
        request(svc, 3, fr.encode(3, fr.STATUS, b"\x00\x00"), 10)
        self.assertTrue(svc.busy())
        c.pending = True  # a frame of ours still waits: nothing more goes in
        self.assertEqual(svc.poll(11), 1)
        self.assertEqual(c.sent, [])
        c.pending = False
        self.assertEqual(svc.poll(12), 1)  # the first at once
        self.assertEqual(svc.poll(13), SEG_GAP_MS - 1)  # the next SEG_GAP_MS after it
        self.assertEqual(svc.poll(11 + SEG_GAP_MS), 1)
        self.assertEqual(len(c.sent), 1)
        for k in (1, 2, 3):
            svc.poll(12 + k * SEG_GAP_MS)
        self.assertEqual(svc.poll(13 + 3 * SEG_GAP_MS), 1000)
        self.assertEqual([i for i, _d in c.sent], [0x1BB00203] * 4)  # 26 bytes: 4 segments
        self.assertEqual([d[0] for _i, d in c.sent], [0, 1, 2, 0x83])
        a = can.Assembler()
        self.assertEqual(feed_all(a, [d for _i, d in c.sent]), 26)
        self.assertEqual(a.buf[2], fr.STATUS | fr.REPLY)
        self.assertEqual((svc.replies, svc.dropped, svc.busy()), (1, 0, False))

    def test_stale_reply_dropped_both_sides(self):
        svc = self.svc
        c = self.link.can
        request(svc, 3, fr.encode(3, fr.CELLS), 1000)
        c.pending = True
        svc.poll(1499)
        self.assertEqual((svc.dropped, svc.busy()), (0, True))
        svc.poll(1500)
        self.assertEqual((svc.dropped, svc.busy()), (1, False))
        c.pending = False
        request(svc, 3, fr.encode(3, fr.CELLS), 2000)
        c.full = True  # no free TX buffer at all
        svc.poll(2499)
        self.assertEqual(svc.busy(), True)
        svc.poll(2500)
        self.assertEqual((svc.dropped, svc.busy()), (2, False))
        c.full = False
        request(svc, 3, fr.encode(3, fr.CELLS), 3000)
        request(svc, 3, fr.encode(3, fr.CELLS), 3001)  # overtaken: the older is dropped
        self.assertEqual(svc.dropped, 3)

    def test_request_gap_both_sides(self):
        svc = self.svc
        raw = fr.encode(3, fr.EVENTS, b"\x00\x00\x00\x05")  # two segments
        first, last = can.segments(raw, len(raw))
        ident = can.can_id(can.REQUEST, 3)
        svc.take(_Frame(ident, first), 0)
        svc.take(_Frame(ident, last), 199)
        self.assertEqual((svc.requests, svc.asm.broken), (1, 0))
        svc.take(_Frame(ident, first), 300)
        self.assertTrue(svc.busy())  # a request begun: the loop reads every ms
        svc.poll(499)
        self.assertEqual((svc.asm.next, svc.asm.broken), (1, 0))
        svc.poll(500)  # 200 ms without its next segment: dropped
        self.assertEqual((svc.asm.next, svc.asm.broken), (0, 1))
        svc.take(_Frame(ident, last), 501)
        self.assertEqual((svc.requests, svc.asm.broken), (1, 1))
        svc.take(_Frame(ident, first), 600)
        svc.take(_Frame(ident, last), 800)  # (noticed by the segment when no poll did)
        self.assertEqual((svc.requests, svc.asm.broken), (1, 2))
        request(svc, 3, raw, 900, skip=(0,))
        self.assertEqual(svc.asm.broken, 2)  # a lone tail is no frame: nothing begun

    def test_restart_after_the_reply(self):
        svc = self.svc
        self.link.server.restart_due = True
        request(svc, 3, fr.encode(3, fr.RESTART), 0)
        self.assertFalse(self.link.server.restart_due)
        from service.can_link import SEG_GAP_MS

        for k in range(4):  # the reply's 4 segments (26 bytes)
            self.assertEqual(svc.poll(1 + k * SEG_GAP_MS), 1)
        self.assertEqual(self.link.server.restarted, [])
        t = 2 + 3 * SEG_GAP_MS
        self.assertEqual(svc.poll(t), 1000)
        self.assertEqual(self.link.server.restarted, [t])
        self.assertFalse(svc.busy())


class _Port:
    sending = False

    def __init__(self):
        self.sent = []

    def send(self, data, now):
        self.sent.append(bytes(data))


class RelayUnitTest(unittest.TestCase):
    """The master's relay alone: which frames it takes, its reply window both sides."""

    def setUp(self):
        from service.can_link import CanService

        self.link = _Link()
        self.link.service_app.address = 1
        self.svc = CanService(self.link)
        self.port = _Port()

    def relay(self, raw, now):
        return self.svc.relay(self.port, bytearray(raw), len(raw), now)

    def reply(self, raw, now, src=3):
        for seg in can.segments(raw, len(raw)):
            self.svc.take(_Frame(can.can_id(can.REPLY, src), seg), now)

    def test_what_is_relayed(self):
        req = fr.encode(3, fr.CELLS)
        bad = bytearray(req)
        bad[-1] ^= 1
        self.assertFalse(self.relay(bad, 0))  # the server counts it
        self.assertFalse(self.relay(fr.encode(1, fr.CELLS), 0))  # ours
        self.assertFalse(self.relay(fr.encode(33, fr.CELLS), 0))  # no such pack
        self.assertFalse(self.relay(fr.encode(fr.ALL, fr.LOCK), 0))  # ours too, and relayed
        self.assertEqual(self.svc.tx_id, 0x1BB001FF)
        self.assertTrue(self.relay(req, 0))
        self.assertEqual((self.svc.tx_id, bytes(self.svc.tx[: self.svc.n])), (0x1BB00103, req))
        self.link.service_app.address = 2  # a slave relays nothing
        self.assertFalse(self.relay(req, 0))

    def test_the_reply_window_both_sides(self):
        req = fr.encode(3, fr.CELLS)
        answer = fr.encode(3, fr.CELLS | fr.REPLY, bytes(33))
        self.relay(req, 1000)
        self.reply(fr.encode(4, fr.CELLS | fr.REPLY, bytes(33)), 1100, src=4)  # not awaited
        self.reply(answer, 1799)
        self.assertEqual(self.port.sent, [answer])
        self.relay(req, 2000)
        self.assertTrue(self.svc.busy())  # a reply awaited: the loop reads every ms
        self.assertEqual(self.svc.poll(2799), 1)
        self.reply(answer, 2800)  # too late: the client has given up on it
        self.assertEqual((self.svc.relay_lost, self.svc.relayed, len(self.port.sent)), (1, 1, 1))
        self.relay(req, 2900)
        self.svc.poll(3699)
        self.assertEqual((self.svc.relay_lost, self.svc.relay_from), (1, 3))
        self.svc.poll(3700)  # given up without a frame
        self.assertEqual((self.svc.relay_lost, self.svc.relay_from), (2, 0))
        self.relay(req, 4000)
        self.relay(req, 4100)  # the one before never answered
        self.assertEqual(self.svc.relay_lost, 3)
        self.port.sending = True  # (a client that did not wait)
        self.reply(answer, 4200)
        self.assertEqual((self.svc.relayed, len(self.port.sent)), (2, 1))
        self.assertEqual(self.svc.counters()["relayed"], 2)


class SimulatorCanTest(unittest.TestCase):
    """The service link on the simulated CAN bus, with the inverter's frames beside it."""

    @classmethod
    def setUpClass(cls):
        from bmsctl_client import Client, SimCanTransport
        from support import make_sim

        cls.sim = make_sim(inverter="can")
        cls.sim.run(3000)
        cls.app = cls.sim.packs[0].app
        cls.lazy = cls.app.link.service_can is None and cls.app.link.service is None
        cls.t = SimCanTransport(cls.sim)
        cls.c = Client(cls.t)

    def test_reads_lazily_loaded(self):
        self.assertTrue(self.lazy)
        self.assertEqual(self.c.version(1)["address"], 1)
        from bms.config import KEYS

        cells = self.c.cells(1)
        self.assertTrue(cells["valid"])
        for got, now in zip(cells["cells_mv"], self.app.sample.cells_mv):
            self.assertLess(abs(got - now), 20)  # (the sim ran on while it was read)
        self.assertEqual([r["key"] for r in self.c.config(1)], list(KEYS))

    def test_inverter_frames_not_starved(self):
        inv = self.sim.inverter
        before = dict(inv.received)
        skipped = self.app.link.tx_skipped
        t0 = self.sim.t_ms
        while self.sim.t_ms < t0 + 3000:  # documents read back to back for 3 s
            self.c.status(1)
        got = {k: inv.received[k] - before.get(k, 0) for k in inv.received}
        for ident in (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E):
            self.assertGreaterEqual(got[ident], 3, hex(ident))
        self.assertEqual(self.app.link.tx_skipped, skipped)
        sc = self.c.counters(1)["service_can"]
        self.assertEqual((sc["broken"], sc["dropped"]), (0, 0))

    def test_writes_need_the_unlock(self):
        from bmsctl_client import ServiceError

        with self.assertRaises(ServiceError) as e:
            self.c.set_config(1, "covp_trip_mv", 3590)
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)
        self.assertEqual(self.t.port.take(), [])  # nothing else came back

    def test_other_pack_silent(self):
        from bmsctl_client import Client, ServiceError

        with self.assertRaises(ServiceError):
            Client(self.t, timeout_s=0.2, retries=0).cells(5)


class CanWriteTest(unittest.TestCase):
    def test_unlocked_write_and_restart_over_can(self):
        from bmsctl_client import Client, SimCanTransport
        from support import unlocked_sim

        sim, pack = unlocked_sim(inverter="can")
        c = Client(SimCanTransport(sim))
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3590), 1)
        boots = c.counters(1)["boots"]
        c.restart(1)
        sim.run(sim.t_ms + 4000)
        self.assertEqual(c.counters(1)["boots"], boots + 1)
        self.assertEqual(pack.app.cfg.covp_trip_mv, 3590)


if __name__ == "__main__":
    unittest.main()
