"""tools/selftest.py against the host board, as far as the host allows.

The host board has RS485 port 1 only; the tests give it a port 2 on a simulated wire
of its own, the bench's loop cable (A-A, B-B), so the port check runs on real
character times. The self-test is fed the watchdog a chip board keeps running after
mpremote's soft reset.
"""

import unittest

import selftest
from support import make_sim

from boards.host import machine
from boards.host.world.bus.uart import Rs485Wire
from drivers.rs485 import Rs485


class CountingWdt:
    def __init__(self):
        self.fed = 0

    def feed(self):
        self.fed += 1


def rig(loop_cable):
    sim = make_sim()
    pack = sim.packs[0]
    board = pack.board
    pack.app = None  # the self-test drives the board alone
    board.wdt = CountingWdt()
    if loop_cable:
        wire = Rs485Wire(sim.clock)
        for attr, uart_id in (("rs485", 1), ("rs485_out", 2)):
            de = machine.Pin("RS485_%d_DE" % uart_id, machine.Pin.OUT, value=0)
            uart = machine.UART(uart_id, 9600, port=wire.port(de), timeout=0)
            setattr(board, attr, Rs485(uart, de))

    def sleep_ms(ms):
        sim.clock.advance(ms)  # the bytes on the wire take their time
        pack.model.advance(sim.clock.t_ms)
        pack.chip.refresh()

    return sim, pack, board, sleep_ms


def id_lines(text):
    """(PASS or FAIL, the serial) of the table's unique id lines."""
    out = []
    for line in text.split("\n"):
        if "unique id (the serial number)" in line:
            out.append((line[:4], line.split()[-1]))
    return out


class SelftestTest(unittest.TestCase):
    def run_selftest(self, loop_cable):
        sim, pack, board, sleep_ms = rig(loop_cable)
        lines = []
        failed = selftest.run(board, sleep_ms, lines.append)
        self.assertEqual(pack.model.fet_states(), (False, False, False))  # never a FET
        self.assertGreater(board.wdt.fed, 10)
        return failed, "\n".join(lines)

    def test_every_check_passes_with_a_loop_cable_and_no_fet_closes(self):
        failed, text = self.run_selftest(loop_cable=True)
        self.assertEqual(failed, 0, text)
        for name in ("BQ76952 device number", "16 cells", "temperatures", "current read"):
            self.assertIn("PASS " + name, text)
        self.assertIn("PASS MCP2515 loopback", text)
        self.assertIn("PASS RS485 port 1 -> port 2", text)
        self.assertIn(("PASS", "E6614104032B1A01"), id_lines(text))
        self.assertIn("selftest: 12 checks, 0 failed", text)

    def test_a_board_without_port_2_fails_that_check_only(self):
        failed, text = self.run_selftest(loop_cable=False)
        self.assertIn("FAIL RS485 port 1 -> port 2", text)
        self.assertEqual(failed, 1, text)

    def test_an_esp32_mac_is_its_serial_and_no_id_fails(self):
        for uid, line in (
            (b"\x24\x0a\xc4\x12\x34\x56", ("PASS", "0000240AC4123456")),
            (bytes(8), ("FAIL", "0000000000000000")),
        ):
            sim, pack, board, sleep_ms = rig(True)
            board.unique_id = lambda uid=uid: uid
            lines = []
            selftest.run(board, sleep_ms, lines.append)
            self.assertEqual(id_lines("\n".join(lines)), [line])
