"""The RS485 driver's long reply (drivers/rs485.py, Rs485._feed) through a finite UART
transmit buffer, on the simulated wire (boards/host/world/bus/uart.py with `txbuf`).

The 32-pack system answer, 4054 bytes, goes through a 256-byte buffer (a board's
UART_BUF) at 9600 and 115200 baud while the main loop wakes when tx_left_ms says, and is
held up once (a flash write, a GC) for 0 to 2000 ms in the middle: every byte reaches the
peer in order, no write is refused for want of room, DE stays high to the last stop bit
and drops within the loop's 1 ms retry after it. The same for the answer as the Pylon
server writes it, in parts of at most 1 KB (protocols/pylon_rs485_system.py), and for
parts of any length: they go out one after the other as one reply. A UART that never reports
done gives the reply up with the part still unwritten: counted as an error, not as
sent, nothing more written, and the echo of what was written skipped exactly.
"""

import unittest

from boards.host import machine
from boards.host.clock import SimClock
from boards.host.world.bus.uart import Rs485Wire
from drivers.rs485 import Rs485

REPLY = 4054  # protocols.pylon_rs485.SYSTEM_OUT: the 32-pack system answer
PARTS = (1025, 1008, 1008, 1013)  # its parts as the Pylon server writes them
ODD = (0, 1, 300, 256, 255, 257, 0, 3, 2982)  # any lengths, empty ones too
TXBUF = 256  # boards/rp2040/board.py and boards/esp32/board.py UART_BUF
HOLDS_MS = (0, 150, 200, 500, 2000)
START_MS = 1000


def reply_bytes(n):
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def split(data, lengths):
    """data as a list of memoryviews of the given lengths (the server's parts)."""
    parts = []
    k = 0
    for n in lengths:
        parts.append(memoryview(data)[k : k + n])
        k += n
    assert k == len(data)
    return parts


def reply_ms(n, baud):
    return -(-n * 10000 // baud)


class Wire:
    """The firmware's end (DE pin, machine.UART with txbuf, Rs485) and a peer port."""

    def __init__(self, baud, txbuf=TXBUF):
        self.clock = SimClock()
        self.wire = Rs485Wire(self.clock)
        self.de = machine.Pin("RS485_DE", machine.Pin.OUT, value=0)
        self.port = self.wire.port(self.de, baud)
        uart = machine.UART(1, baud, port=self.port, timeout=0, txbuf=txbuf)
        self.rs = Rs485(uart, self.de, baud=baud, txbuf=txbuf)
        self.peer = self.wire.port(None, baud)
        self.got = bytearray()
        self._buf = bytearray(512)

    def drain(self):
        while True:
            n = self.peer.read_into(self._buf, len(self._buf))
            if not n:
                return
            self.got += self._buf[:n]

    def reply(self, data, hold_at_ms, hold_ms, lengths=None):
        """Send data at START_MS (in parts of the given lengths); the loop wakes as
        tx_left_ms says (1 ms while it says 0) and, once past hold_at_ms, stalls for
        hold_ms. Returns the time (us) DE fell."""
        rs = self.rs
        now = START_MS
        self.clock.set(now)
        rs.send(memoryview(data) if lengths is None else split(data, lengths), now)
        held = False
        while rs.sending:
            assert self.de.value() == 1
            self.drain()
            w = rs.tx_left_ms(now)
            now += w if w > 0 else 1
            if not held and now >= START_MS + hold_at_ms:
                held = True
                now += hold_ms
            self.clock.set(now)
            rs.poll(now)
        fell_us = self.clock.t_us
        self.clock.set(now + 100)
        self.drain()
        return fell_us


class HeldUpLoopTest(unittest.TestCase):
    def check(self, baud, hold_ms, lengths=None):
        w = Wire(baud)
        data = reply_bytes(REPLY)
        hold_at = reply_ms(REPLY, baud) // 3
        fell_us = w.reply(data, hold_at, hold_ms, lengths)
        what = (baud, hold_ms, lengths)
        self.assertEqual(w.de.value(), 0, what)
        self.assertEqual(w.port.tx_overflows, 0, what)  # no write beyond the room
        self.assertEqual((w.rs.sent, w.rs.tx_errors), (1, 0), what)
        self.assertEqual((w.wire.cut, w.wire.lost, w.wire.collisions), (0, 0, 0), what)
        self.assertEqual(w.got, data, what)  # every byte, in order
        # DE held to the last stop bit, released within the loop's 1 ms retry after it
        self.assertGreaterEqual(fell_us, w.port.tx_end_us, what)
        self.assertLess(fell_us, w.port.tx_end_us + 2000, what)
        # the wire idles at most for the hold-up (once the part fed before it is sent);
        # without one the reply goes without a gap (each write rounds up by < 1 us)
        if hold_ms:
            late_ms = START_MS + reply_ms(REPLY, baud) + hold_ms + 2
            self.assertLessEqual(fell_us, late_ms * 1000, what)
        else:
            gap_us = w.port.tx_end_us - START_MS * 1000 - w.port.char_us(REPLY)
            self.assertTrue(0 <= gap_us < 40, what)

    def test_9600_baud(self):
        for hold_ms in HOLDS_MS:
            self.check(9600, hold_ms)

    def test_115200_baud(self):
        for hold_ms in HOLDS_MS:
            self.check(115200, hold_ms)

    def test_the_answer_in_the_servers_parts(self):
        for baud in (9600, 115200):
            for hold_ms in HOLDS_MS:
                self.check(baud, hold_ms, PARTS)

    def test_parts_of_any_length(self):
        self.assertEqual(sum(ODD), REPLY)
        for baud in (9600, 115200):
            for hold_ms in (0, 200):
                self.check(baud, hold_ms, ODD)

    def test_parts_shorter_than_the_buffer_go_as_one_reply(self):
        w = Wire(9600)
        data = reply_bytes(100)
        w.rs.send(split(data, (60, 0, 40)), START_MS)
        self.assertEqual(w.rs.sent, 1)  # both written at once
        w.clock.set(START_MS + reply_ms(100, 9600) + 1)
        w.rs.poll(START_MS + reply_ms(100, 9600) + 1)
        w.drain()
        self.assertEqual((w.got, w.de.value(), w.rs.tx_errors), (data, 0, 0))

    def test_a_hold_up_at_the_first_part(self):
        # the loop stalls right after send(): the first 256 bytes drain, then the rest
        for baud in (9600, 115200):
            w = Wire(baud)
            data = reply_bytes(REPLY)
            w.reply(data, 0, 500)
            self.assertEqual((w.port.tx_overflows, w.rs.sent, w.rs.tx_errors), (0, 1, 0))
            self.assertEqual(w.got, data)

    def test_the_wire_refuses_what_does_not_fit(self):
        # the model the tests above rely on: a write past the room is cut and counted
        w = Wire(9600)
        w.de.value(1)
        self.assertEqual(w.port.write(bytes(200)), 200)
        self.assertEqual(w.port.queued(), 200)
        self.assertEqual(w.port.write(bytes(100)), 56)
        self.assertEqual(w.port.tx_overflows, 1)
        self.assertIsNone(w.port.write(bytes(1)))  # EAGAIN: nothing taken
        self.assertEqual(w.port.tx_overflows, 2)
        w.clock.set_us(w.port.char_us(3))  # 3 bytes sent: 3 free
        self.assertEqual(w.port.queued(), 253)
        self.assertEqual(w.port.write(bytes(3)), 3)
        self.assertEqual(w.port.tx_overflows, 2)


class NeverDoneUart:
    """A UART that takes every write and never reports done; its receive side returns
    what the test puts in `rx` (our echo, then a peer's frame)."""

    def __init__(self):
        self.written = 0
        self.writes = 0
        self.rx = bytearray()

    def init(self, **kw):
        pass

    def write(self, buf):
        self.written += len(buf)
        self.writes += 1
        return len(buf)

    def txdone(self):
        return False

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        if not n:
            return None
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n


class StuckUartTest(unittest.TestCase):
    def stuck(self, echo, lengths=None):
        uart = NeverDoneUart()
        de = machine.Pin("DE", machine.Pin.OUT, value=0)
        rs = Rs485(uart, de, echo=echo, txbuf=TXBUF)
        data = reply_bytes(REPLY)
        rs.send(memoryview(data) if lengths is None else split(data, lengths), 0)
        self.assertEqual(uart.written, TXBUF)
        end = reply_ms(REPLY, 9600)  # 4223 ms: when the UART should have finished
        # the loop held up past the due end: one more part, then the stuck path
        self.assertEqual(rs.poll(end + 99), 0)
        self.assertEqual((de.value(), rs.sending, uart.written), (1, True, 2 * TXBUF))
        self.assertEqual(rs.poll(end + 100), 0)
        self.assertEqual((de.value(), rs.sending), (0, False))
        self.assertEqual((rs.tx_errors, rs.sent), (1, 0))  # a cut reply: not sent
        self.assertEqual(rs.tx_left_ms(end + 100), 0)
        writes = uart.writes
        for t in range(end + 100, end + 5000, 50):  # nothing more goes with DE low
            rs.service(t)
            rs.poll(t)
        self.assertEqual((uart.writes, uart.written, rs.sent), (writes, 2 * TXBUF, 0))
        return rs, uart

    def test_the_stuck_path_ends_a_long_reply(self):
        self.stuck(False)

    def test_the_stuck_path_ends_a_reply_in_parts(self):
        self.stuck(False, ODD)

    def test_the_echo_of_what_was_written_is_skipped_exactly(self):
        self.echo_skipped(None)

    def test_the_echo_of_parts_written_is_skipped_exactly(self):
        self.echo_skipped(ODD)

    def echo_skipped(self, lengths):
        rs, uart = self.stuck(True, lengths)
        frame = b"~20024A42E00202FD33\r"
        uart.rx = bytearray(reply_bytes(2 * TXBUF)) + frame
        n = rs.poll(20000)
        self.assertEqual(bytes(rs.frame[:n]), frame[1:-1])
        self.assertEqual(rs.garbage, 0)


if __name__ == "__main__":
    unittest.main()
