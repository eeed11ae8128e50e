"""The simulated CAN bus: frame lengths bit by bit, arbitration, time, load, errors, candump.

Frame lengths are checked against an independent bit-by-bit construction of the frame
(ISO 11898-1 field order, CRC-15 one bit at a time, stuffing one bit at a time), not
against the bus's own tables.
"""

import io
import unittest

from support import cpython_only

from boards.host.world.bus.canbus import (
    CanBus,
    CandumpLog,
    arbitration_key,
    candump_line,
    crc15,
    frame_bits,
)


def _bits(value, n):
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def reference_bits(can_id, ext, rtr, data):
    """The frame's length built bit by bit: SOF..CRC stuffed, then 13 fixed bits."""
    b = [0]  # SOF
    if ext:
        b += _bits(can_id >> 18, 11) + [1, 1] + _bits(can_id & 0x3FFFF, 18)
        b += [1 if rtr else 0, 0, 0]  # RTR, r1, r0
    else:
        b += _bits(can_id, 11) + [1 if rtr else 0, 0, 0]  # RTR, IDE, r0
    b += _bits(len(data), 4)
    if not rtr:
        for byte in data:
            b += _bits(byte, 8)
    crc = 0
    for bit in b:
        feedback = bit ^ (crc >> 14)
        crc = (crc << 1) & 0x7FFF
        if feedback:
            crc ^= 0x4599
    b += _bits(crc, 15)
    wire = []
    run_value, run = -1, 0
    for bit in b:
        wire.append(bit)
        if bit == run_value:
            run += 1
        else:
            run_value, run = bit, 1
        if run == 5:  # a complementary stuff bit, which starts the next run
            run_value = 1 - bit
            wire.append(run_value)
            run = 1
    # CRC delimiter, ACK slot, ACK delimiter, 7 EOF, 3 intermission
    return len(wire) + 13


class Lcg:
    """A tiny deterministic generator, the same on both runtimes."""

    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x % n


class Talker:
    """A node sending a queue of frames; it writes down what happens to them."""

    def __init__(self, frames=(), acks=True):
        self.queue = list(frames)
        self.sent = []
        self.received = []
        self.errors = []
        self.lost = []
        self.acks = acks
        self.ack_errors = 0
        self.bus = None

    def can_attached(self, bus):
        self.bus = bus

    def can_offer(self):
        return self.queue[0] if self.queue else None

    def can_sent(self, frame, t_us):
        self.sent.append((frame, t_us))
        self.queue.pop(0)

    def can_receive(self, frame, t_us):
        self.received.append((frame, t_us))

    def can_error(self, t_us, tx):
        self.errors.append((t_us, tx))
        if tx and self.bus.ack_error:
            self.ack_errors += 1
            if self.ack_errors >= 3:
                self.queue.pop(0)  # give up, so the test ends

    def can_lost(self, t_us):
        self.lost.append(t_us)

    def can_acks(self):
        return self.acks


class Minimal:
    """A node with only the three required methods."""

    def __init__(self):
        self.received = []

    def can_offer(self):
        return None

    def can_sent(self, frame, t_us):
        pass

    def can_receive(self, frame, t_us):
        self.received.append((frame, t_us))


F351 = (0x351, False, False, bytes((0x10, 0x0E, 0xA0, 0x0F, 0xE8, 0x03, 0xC0, 0x12)))


class FrameLengthTest(unittest.TestCase):
    def test_crc15_check_value(self):
        self.assertEqual(crc15(b"123456789"), 0x059E)  # CRC-15/CAN catalogue check

    def test_hand_counted_frames(self):
        # id 0, DLC 0: SOF..DLC are 19 zeros and their CRC is 0, so 34 zeros are stuffed
        # after every 5th (6 stuff bits): 34 + 6 + 13 = 53
        self.assertEqual(frame_bits(0, False, False, b""), 53)
        self.assertEqual(reference_bits(0, False, False, b""), 53)
        # figures from the bit-by-bit construction below, kept as fixed points
        self.assertEqual(frame_bits(*F351), reference_bits(*F351))
        self.assertEqual(frame_bits(*F351), 117)
        self.assertEqual(frame_bits(0x351, False, False, bytes(8)), 124)
        self.assertEqual(frame_bits(0x18FF50E5, True, False, bytes(range(8))), 142)
        self.assertEqual(frame_bits(0x123, False, True, b""), 48)

    def test_matches_bit_by_bit_construction(self):
        rng = Lcg(7)
        for i in range(1500):
            ext = rng.next(2) == 1
            width = 29 if ext else 11
            choice = rng.next(4)
            if choice == 0:
                can_id = 0
            elif choice == 1:
                can_id = (1 << width) - 1
            else:
                can_id = (rng.next(1 << 15) << 15 | rng.next(1 << 15)) & ((1 << width) - 1)
            rtr = rng.next(5) == 0
            n = rng.next(9)
            if rtr:
                data = bytes(n)
            else:
                data = bytes(rng.next(256) if rng.next(3) else (0, 255)[i & 1] for _ in range(n))
            got = frame_bits(can_id, ext, rtr, data)
            self.assertEqual(got, reference_bits(can_id, ext, rtr, data), (can_id, ext, rtr, data))
            # fact sheet section 6: 47 + 8N .. 55 + 10N (standard), 67 + 8N .. 80 + 10N
            body = 0 if rtr else n
            low, high = (67 + 8 * body, 80 + 10 * body) if ext else (47 + 8 * body, 55 + 10 * body)
            self.assertTrue(low <= got <= high, (got, low, high))

    def test_rejects_bad_frames(self):
        with self.assertRaises(ValueError):
            frame_bits(0x800, False, False, b"")
        with self.assertRaises(ValueError):
            frame_bits(0x20000000, True, False, b"")
        with self.assertRaises(ValueError):
            frame_bits(1, False, False, bytes(9))


class ArbitrationTest(unittest.TestCase):
    def test_keys_follow_can_2_0b(self):
        std = arbitration_key((0x100, False, False, b""))
        std_rtr = arbitration_key((0x100, False, True, b""))
        ext = arbitration_key((0x100 << 18, True, False, b""))
        ext_rtr = arbitration_key((0x100 << 18, True, True, b""))
        lower_std = arbitration_key((0x0FF, False, True, b""))
        self.assertTrue(lower_std < std < std_rtr < ext < ext_rtr)
        self.assertTrue(ext_rtr < arbitration_key((0x101, False, False, b"")))

    def test_lowest_arbitration_field_goes_first(self):
        bus = CanBus()
        a = bus.attach(Talker([(0x200, False, False, b"\x01")]))
        b = bus.attach(Talker([(0x100 << 18 | 5, True, False, b"\x02")]))
        c = bus.attach(Talker([(0x100, False, True, b"")]))
        d = bus.attach(Talker([(0x100, False, False, b"\x04")]))
        listener = bus.attach(Minimal())
        bus.run_until(10000)
        order = [f for f, t in listener.received]
        self.assertEqual(
            order,
            [
                (0x100, False, False, b"\x04"),
                (0x100, False, True, b""),
                (0x100 << 18 | 5, True, False, b"\x02"),
                (0x200, False, False, b"\x01"),
            ],
        )
        # back to back: each frame starts when the previous one (with intermission) ends
        t = 0
        for frame, end in listener.received:
            t += frame_bits(*frame) * 2
            self.assertEqual(end, t)
        self.assertEqual(len(a.lost), 3)
        self.assertEqual(len(b.lost), 2)
        self.assertEqual(len(c.lost), 1)
        self.assertEqual(d.lost, [])
        self.assertEqual(a.lost[0], 0)

    def test_sender_does_not_receive_its_own_frame(self):
        bus = CanBus()
        a = bus.attach(Talker([F351]))
        b = bus.attach(Talker())
        bus.run_until(1000)
        self.assertEqual(a.received, [])
        self.assertEqual(a.sent, [(F351, 234)])
        self.assertEqual(b.received, [(F351, 234)])


class TimeTest(unittest.TestCase):
    def test_next_event_and_run_until(self):
        bus = CanBus()
        a = bus.attach(Talker())
        b = bus.attach(Talker())
        self.assertIsNone(bus.next_event_us())
        bus.run_until(5000)
        self.assertEqual(bus.now_us, 5000)
        a.queue.append(F351)  # offered at 5000: the frame starts there
        self.assertEqual(bus.next_event_us(), 5000 + 234)
        bus.run_until(5233)
        self.assertEqual(b.received, [])
        self.assertTrue(bus.in_frame)
        bus.run_until(5234)
        self.assertEqual(b.received, [(F351, 5234)])
        self.assertIsNone(bus.next_event_us())

    def test_other_bitrates(self):
        bus = CanBus(bitrate=250000)
        bus.attach(Talker([F351]))
        bus.attach(Talker())
        self.assertEqual(bus.next_event_us(), 117 * 4)
        with self.assertRaises(ValueError):
            CanBus(bitrate=300000)


class LoadTest(unittest.TestCase):
    def test_busy_time_and_load(self):
        bus = CanBus()
        frames = [(0x100 + i, False, False, bytes((i,) * 8)) for i in range(10)]
        bus.attach(Talker(frames))
        bus.attach(Talker())
        bus.run_until(100000)
        busy = sum(frame_bits(*f) * 2 for f in frames)
        self.assertEqual(bus.busy_us, busy)
        self.assertEqual(bus.frames, 10)
        self.assertAlmostEqual(bus.load_pct(), 100.0 * busy / 100000, places=9)
        # since the middle of the first frame: the rest of the frames over the rest of time
        first = frame_bits(*frames[0]) * 2
        self.assertAlmostEqual(
            bus.load_pct(first // 2), 100.0 * (busy - first // 2) / (100000 - first // 2), places=9
        )
        self.assertAlmostEqual(bus.load_pct(busy), 0.0)
        self.assertAlmostEqual(bus.load_pct(busy - 10), 100.0 * 10 / (100000 - busy + 10))
        self.assertEqual(bus.busy_at(busy), busy)
        self.assertEqual(bus.busy_at(busy - 10), busy - 10)

    def test_saturated_bus_and_partial_frame(self):
        bus = CanBus()
        bus.attach(Talker([F351] * 5))
        bus.attach(Talker())
        bus.run_until(234 * 2 + 100)
        self.assertEqual(bus.busy_us, 468)
        self.assertAlmostEqual(bus.load_pct(), 100.0)

    def test_history_limit(self):
        bus = CanBus(history=4)
        bus.attach(Talker([F351] * 10))
        bus.attach(Talker())
        bus.run_until(100000)
        self.assertAlmostEqual(bus.load_pct(234 * 7), 300.0 * 234 / (100000 - 234 * 7))
        with self.assertRaises(ValueError):
            bus.load_pct(100)


class ErrorTest(unittest.TestCase):
    def test_injected_errors_cost_time_and_are_not_delivered(self):
        bus = CanBus()
        a = bus.attach(Talker([F351]))
        b = bus.attach(Talker())
        m = bus.attach(Minimal())  # no can_error: it is simply not told
        bus.inject_errors(a, 2)
        bus.run_until(10000)
        attempt = (117 + 6) * 2  # up to the ACK slot, error flag 6, delimiter 8, intermission 3
        self.assertEqual(a.errors, [(attempt, True), (2 * attempt, True)])
        self.assertEqual(b.errors, [(attempt, False), (2 * attempt, False)])
        self.assertEqual(b.received, [(F351, 2 * attempt + 234)])
        self.assertEqual(m.received, [(F351, 2 * attempt + 234)])
        self.assertEqual(bus.errors, 2)
        self.assertEqual(bus.busy_us, 2 * attempt + 234)

    def test_frame_nobody_acknowledges_is_an_ack_error(self):
        bus = CanBus()
        a = bus.attach(Talker([F351]))
        quiet = bus.attach(Talker(acks=False))
        log = bus.attach(CandumpLog(io.StringIO()))  # a tap: it does not acknowledge
        bus.run_until(10000)
        self.assertEqual(a.ack_errors, 3)
        self.assertEqual(quiet.received, [])
        self.assertEqual(log.lines, 0)
        self.assertFalse(bus.ack_error)
        # a node without can_acks acknowledges
        bus.attach(Minimal())
        a.queue.append(F351)
        bus.run_until(20000)
        self.assertEqual(len(a.sent), 1)
        self.assertEqual(log.lines, 1)

    def test_a_log_may_acknowledge(self):
        bus = CanBus()
        a = bus.attach(Talker([F351]))
        log = bus.attach(CandumpLog(io.StringIO(), acks=True))
        bus.run_until(1000)
        self.assertEqual(a.errors, [])
        self.assertEqual(log.lines, 1)


class CandumpTest(unittest.TestCase):
    def test_line_format(self):
        self.assertEqual(
            candump_line((0x351, False, False, b"\x10\x0e\xa0\x0f"), 1234567, 1700000000),
            "(1700000001.234567) can0 351#100EA00F\n",
        )
        self.assertEqual(
            candump_line((0x18FF50E5, True, False, b"\xab"), 5), "(0.000005) can0 18FF50E5#AB\n"
        )
        self.assertEqual(candump_line((0x5, False, False, b""), 0), "(0.000000) can0 005#\n")
        self.assertEqual(candump_line((0x5, False, True, b""), 0), "(0.000000) can0 005#R\n")
        self.assertEqual(
            candump_line((0x1, True, True, bytes(8)), 0, 0.5, "vcan1"),
            "(0.500000) vcan1 00000001#R8\n",
        )

    def test_log_writes_every_delivered_frame(self):
        out = io.StringIO()
        bus = CanBus()
        a = bus.attach(Talker([F351, (0x4210, True, False, b"\x01\x02")]))
        bus.attach(Talker())
        bus.attach(CandumpLog(out, start_epoch_s=1000))
        bus.inject_errors(a, 1)
        bus.run_until(100000)
        t1 = (117 + 6) * 2 + 234
        t2 = t1 + frame_bits(0x4210, True, False, b"\x01\x02") * 2
        self.assertEqual(
            out.getvalue(),
            "(1000.%06d) can0 351#100EA00FE803C012\n(1000.%06d) can0 00004210#0102\n" % (t1, t2),
        )

    @cpython_only("python-can reads the log")
    def test_python_can_reads_the_log(self):
        import can

        out = io.StringIO()
        bus = CanBus()
        bus.attach(
            Talker([F351, (0x18FF50E5, True, False, b"\x01"), (0x123, False, True, bytes(2))])
        )
        bus.attach(Talker())
        bus.attach(CandumpLog(out, start_epoch_s=1700000000))
        bus.run_until(10000)
        out.seek(0)
        msgs = list(can.CanutilsLogReader(out))
        self.assertEqual(len(msgs), 3)
        self.assertEqual((msgs[0].arbitration_id, msgs[0].is_extended_id), (0x351, False))
        self.assertEqual(bytes(msgs[0].data), F351[3])
        self.assertAlmostEqual(msgs[0].timestamp, 1700000000.000234, places=6)
        self.assertEqual((msgs[1].arbitration_id, msgs[1].is_extended_id), (0x18FF50E5, True))
        self.assertTrue(msgs[2].is_remote_frame)
        self.assertEqual(msgs[2].dlc, 2)
