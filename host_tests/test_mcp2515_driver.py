"""The firmware's MCP2515 driver against the register-level simulated chip on the simulated bus.

Each board is a drivers.mcp2515.MCP2515 talking over the machine stubs' SPI to a
boards.host.world.chips.mcp2515.MCP2515Sim, which is a node of a
boards.host.world.bus.canbus.CanBus. What
is checked is what the chip holds (its registers), what goes over the wire (frame tuples
and their bit times) and what the other driver reads back, not the driver's own bytes.
"""

import unittest

import fwconst
import micropython
from support import count_spi

from boards.host import machine
from boards.host.world.bus.canbus import CanBus, frame_bits
from boards.host.world.chips import mcp2515 as sim
from boards.host.world.chips.mcp2515 import MCP2515Sim
from drivers import mcp2515
from drivers.mcp2515 import BIT_TIMING_500K, MCP2515, MODE_LOOPBACK, CanFrame

mcp2515_consts = fwconst.of("drivers.mcp2515")

OSC8 = 8000000
OSC16 = 16000000
BIT_US = 2  # 500 kbit/s

# chip registers
CANSTAT, CANCTRL = 0x0E, 0x0F
CNF3, CNF2, CNF1, CANINTE, CANINTF, EFLG = 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D
TXBCTRL = (0x30, 0x40, 0x50)
RXB0CTRL, RXB1CTRL = 0x60, 0x70
RXF = (0x00, 0x04, 0x08, 0x10, 0x14, 0x18)
RXM = (0x20, 0x24)
ABAT, ABTF, TXREQ = 0x10, 0x40, 0x08

DATA8 = bytes((0x10, 0x0E, 0xA0, 0x0F, 0xE8, 0x03, 0xC0, 0x12))
DATA8_B = bytes((0xFF, 0x00, 0x55, 0xAA, 0x01, 0x80, 0x7F, 0xFE))
STD_ONLY = (0x7FF, False)
EXT_ALL = (0x1FFFFFFF, True)


def node(bus, osc_hz=OSC8, spi=None, cs="CS", int_pin=None, chip_osc=None):
    """A driver and its simulated chip: the chip on the bus and on spi (a new SPI by
    default) behind its own chip select. chip_osc: the chip's crystal when it differs from
    what the driver is told."""
    chip = MCP2515Sim(chip_osc or osc_hz, int_pin)
    if bus is not None:
        bus.attach(chip)
    pin = machine.Pin(cs, machine.Pin.OUT, value=1)
    if spi is None:
        spi = machine.SPI(0)
    spi.attach(pin, chip)
    return MCP2515(spi, pin, osc_hz, int_pin), chip


def int_pin(name="INT"):
    return machine.Pin(name, machine.Pin.IN, machine.Pin.PULL_UP)


def regs(chip, addr, n):
    return bytes(chip.regs[addr : addr + n])


def std_bytes(can_id):
    return bytes((can_id >> 3, (can_id << 5) & 0xE0, 0, 0))


def ext_bytes(can_id, exide=True):
    return bytes(
        (
            can_id >> 21,
            ((can_id >> 13) & 0xE0) | (0x08 if exide else 0) | ((can_id >> 16) & 3),
            (can_id >> 8) & 0xFF,
            can_id & 0xFF,
        )
    )


class Tap:
    """A listen-only sniffer: writes down every frame delivered, acknowledges none."""

    def __init__(self):
        self.frames = []

    def can_offer(self):
        return None

    def can_sent(self, frame, t_us):
        pass

    def can_receive(self, frame, t_us):
        self.frames.append(frame)

    def can_error(self, t_us, tx):
        pass

    def can_retry_stable(self, tx):
        return True

    def can_acks(self):
        return False


def drain(drv):
    """Every frame waiting in the driver's chip as (id, ext, rtr, dlc, data) tuples."""
    out = []
    f = CanFrame()
    while drv.recv(f):
        out.append((f.can_id, f.ext, f.rtr, f.dlc, bytes(f.data[: f.dlc])))
    return out


def jammed(test):
    """Node a with three frames queued on a bus that corrupts its next 32 attempts, and a
    listener b; returns (bus, a, a's chip, b, the bit time of one failed attempt in us)."""
    bus = CanBus()
    a, chip_a = node(bus, OSC8)
    b, _ = node(bus, OSC16, cs="CS_B")
    test.assertTrue(a.init())
    test.assertTrue(b.init())
    for i in range(3):
        test.assertTrue(a.send(0x351 + i, DATA8, 8))
    bus.inject_errors(chip_a, 32)
    # equal priority: buffer 2 (0x353) is tried first and fails every time
    return bus, a, chip_a, b, (frame_bits(0x353, False, False, DATA8) + 6) * BIT_US


class InitTest(unittest.TestCase):
    def test_the_built_buffers_are_the_drivers_lengths(self):
        # mcp2515_setup.build() makes the buffers whose lengths the driver's hot paths
        # assume (_BUF_LEN, _ANSWER, _SLOT: private, so folded away on MicroPython)
        pin = machine.Pin("CS", machine.Pin.OUT, value=1)
        drv = MCP2515(machine.SPI(0), pin, 8000000, ring_frames=mcp2515.RING_FRAMES)
        self.assertEqual((len(drv._w), len(drv._r)), (14, 14))  # send()'s longest
        self.assertEqual((len(drv._rx_cmd), len(drv._buf)), (14, 14))  # an RX answer
        self.assertEqual(len(drv._ring), mcp2515.RING_FRAMES * 13)  # a slot: all but byte 0
        self.assertEqual(drv._ht[2], len(drv._ring))

    def check_init(self, osc_hz, cnf):
        bus = CanBus()
        drv, chip = node(bus, osc_hz)
        self.assertFalse(drv.ok)
        self.assertTrue(drv.init())
        self.assertTrue(drv.ok)
        written = (chip.regs[CNF1], chip.regs[CNF2], chip.regs[CNF3])
        self.assertEqual(written, cnf)
        self.assertEqual(written, BIT_TIMING_500K[osc_hz])
        self.assertEqual(chip.bitrate_bps(), 500000)
        self.assertEqual(chip.mode, sim.MODE_NORMAL)  # confirmed normal mode
        self.assertEqual(chip.regs[CANSTAT], 0x00)  # OPMOD normal, no interrupt
        self.assertEqual(chip.regs[CANCTRL] & 0xF0, 0x00)  # REQOP normal, ABAT clear
        self.assertEqual(chip.regs[CANINTE], 0x23)  # RX0IE, RX1IE, ERRIE
        self.assertEqual(chip.regs[RXB0CTRL], 0x66)  # RXM 11, BUKT (and BUKT1)
        self.assertEqual(chip.regs[RXB1CTRL], 0x60)
        self.assertEqual((chip.tec, chip.rec), (0, 0))

    def test_8_mhz_crystal(self):
        self.check_init(OSC8, (0x00, 0x90, 0x82))

    def test_16_mhz_crystal(self):
        self.check_init(OSC16, (0x00, 0xF0, 0x86))

    def test_unsupported_crystal_is_refused_before_touching_the_chip(self):
        for osc_hz in (4000000, 12000000, 20000000):
            drv, chip = node(CanBus(), osc_hz, chip_osc=OSC8)
            self.assertFalse(drv.init())
            self.assertFalse(drv.ok)
            self.assertEqual(regs(chip, CNF3, 3), bytes(3))
            self.assertEqual(chip.mode, sim.MODE_CONFIG)
        # a chip already running is left running (no RESET was sent)
        drv, chip = node(CanBus(), OSC8)
        self.assertTrue(drv.init())
        drv.osc_hz = 12000000
        self.assertFalse(drv.init())
        self.assertFalse(drv.ok)
        self.assertEqual(chip.mode, sim.MODE_NORMAL)
        self.assertEqual(regs(chip, CNF3, 3), b"\x82\x90\x00")  # the 8 MHz timing kept

    def test_no_chip_on_the_bus(self):
        for osc_hz in (OSC8, OSC16):
            cs = machine.Pin("CS", machine.Pin.OUT, value=1)
            spi = machine.SPI(0)  # MISO floats high: every byte reads 0xFF
            drv = MCP2515(spi, cs, osc_hz)
            self.assertEqual(drv.read_reg(CANSTAT), 0xFF)
            self.assertFalse(drv.init())
            self.assertFalse(drv.ok)

    def test_chip_on_another_chip_select_is_not_there(self):
        spi = machine.SPI(0)
        chip = MCP2515Sim(OSC8)
        spi.attach(machine.Pin("CS0", machine.Pin.OUT, value=1), chip)
        cs1 = machine.Pin("CS1", machine.Pin.OUT, value=1)
        drv = MCP2515(spi, cs1, OSC8)
        self.assertFalse(drv.init())
        self.assertEqual(chip.mode, sim.MODE_CONFIG)
        self.assertEqual(regs(chip, CNF3, 3), bytes(3))

    def test_init_again_resets_the_chip(self):
        bus = CanBus()
        drv, chip = node(bus)
        self.assertTrue(drv.init())
        self.assertTrue(drv.send(0x351, DATA8, 8))
        bus.run_until(20000)  # alone: error-passive
        self.assertEqual(chip.tec, 128)
        self.assertTrue(drv.init())
        self.assertEqual((chip.tec, chip.rec), (0, 0))
        self.assertFalse(drv.tx_pending())
        self.assertEqual(chip.regs[EFLG], 0)
        self.assertEqual(chip.mode, sim.MODE_NORMAL)

    def test_loopback_mode(self):
        bus = CanBus()
        tap = bus.attach(Tap())
        drv, chip = node(bus)
        self.assertTrue(drv.init(mode=MODE_LOOPBACK))
        self.assertEqual(chip.mode, sim.MODE_LOOPBACK)
        self.assertEqual(chip.regs[CANSTAT] & 0xE0, MODE_LOOPBACK)
        self.assertTrue(drv.send(0x123, DATA8, 3))
        self.assertEqual(drain(drv), [(0x123, False, False, 3, DATA8[:3])])
        self.assertIsNone(bus.next_event_us())  # nothing on the wire
        self.assertEqual(tap.frames, [])


class FrameTest(unittest.TestCase):
    """Two boards on one SPI bus (two chip selects) and one CAN bus: 8 and 16 MHz."""

    def setUp(self):
        self.bus = CanBus()
        self.tap = self.bus.attach(Tap())
        spi = machine.SPI(0)
        self.a, self.chip_a = node(self.bus, OSC8, spi, "CS_A")
        self.b, self.chip_b = node(self.bus, OSC16, spi, "CS_B")
        self.assertTrue(self.a.init())
        self.assertTrue(self.b.init())

    def deliver(self, src, dst, can_id, data, n, ext=False, rtr=False):
        """src sends one frame on an idle bus; its exact bit time, then dst reads it."""
        bus = self.bus
        self.assertIsNone(bus.next_event_us())
        start = bus.now_us
        self.assertTrue(src.send(can_id, data, n, ext, rtr))
        self.assertTrue(src.tx_pending())
        wire = bytes(n) if rtr else bytes(data[:n])
        end = bus.next_event_us()
        self.assertEqual(end - start, frame_bits(can_id, ext, rtr, wire) * BIT_US)
        bus.run_until(end - 1)
        f = CanFrame()
        self.assertFalse(dst.recv(f))  # not before its last bit
        bus.run_until(end)
        self.assertFalse(src.tx_pending())
        self.assertEqual(self.tap.frames[-1], (can_id, ext, rtr, wire))
        self.assertTrue(dst.recv(f))
        self.assertEqual((f.can_id, f.ext, f.rtr, f.dlc), (can_id, ext, rtr, n))
        if not rtr:
            self.assertEqual(bytes(f.data[:n]), wire)
        self.assertFalse(dst.recv(f))
        self.assertFalse(src.recv(f))  # a sender does not hear itself

    def test_standard_frames_both_ways_dlc_0_to_8(self):
        buf = bytearray(8)
        for n in range(9):
            buf[:] = DATA8
            self.deliver(self.a, self.b, 0x100 + n, buf, n)
            self.deliver(self.b, self.a, 0x7F0 + n, DATA8_B, n)
        self.deliver(self.a, self.b, 0x000, DATA8_B, 8)
        self.deliver(self.b, self.a, 0x7FF, DATA8, 8)
        self.assertEqual((self.a.sent, self.a.received), (10, 10))
        self.assertEqual((self.b.sent, self.b.received), (10, 10))
        self.assertEqual(self.bus.errors, 0)
        self.assertEqual(self.bus.frames, 20)

    def test_extended_frames_both_ways_dlc_0_to_8(self):
        for n in range(9):
            self.deliver(self.a, self.b, 0x18FF50E0 + n, DATA8, n, ext=True)
            self.deliver(self.b, self.a, 0x00012340 + n, DATA8_B, n, ext=True)
        self.deliver(self.a, self.b, 0x1FFFFFFF, DATA8_B, 8, ext=True)
        self.deliver(self.b, self.a, 0x00000000, DATA8, 8, ext=True)
        self.deliver(self.a, self.b, 0x351 << 18, DATA8, 2, ext=True)  # base id 0x351
        self.deliver(self.b, self.a, 0x0003FFFF, DATA8, 1, ext=True)  # only the extension
        self.assertEqual((self.a.sent, self.b.received), (11, 11))
        self.assertEqual((self.b.sent, self.a.received), (11, 11))
        self.assertEqual(self.bus.errors, 0)

    def test_standard_and_extended_with_the_same_bits(self):
        self.deliver(self.a, self.b, 0x351, DATA8, 8)
        self.deliver(self.a, self.b, 0x351, DATA8, 8, ext=True)
        self.deliver(self.b, self.a, 0x7FF, DATA8, 4)
        self.deliver(self.b, self.a, 0x7FF, DATA8, 4, ext=True)

    def test_remote_frames(self):
        zeros = bytes(8)
        for n in range(9):
            self.deliver(self.a, self.b, 0x300 + n, zeros, n, rtr=True)
            self.deliver(self.b, self.a, 0x1ABCDE00 + n, zeros, n, ext=True, rtr=True)
        self.deliver(self.b, self.a, 0x7FF, zeros, 0, rtr=True)
        self.deliver(self.a, self.b, 0x1FFFFFFF, zeros, 8, ext=True, rtr=True)
        # a data frame after a remote one is not remote
        self.deliver(self.a, self.b, 0x301, DATA8, 1)
        self.deliver(self.b, self.a, 0x1ABCDE01, DATA8, 1, ext=True)

    def test_frames_from_both_at_once_arbitrate(self):
        self.assertTrue(self.a.send(0x200, DATA8, 8))
        self.assertTrue(self.b.send(0x100, DATA8_B, 8))
        first = frame_bits(0x100, False, False, DATA8_B) * BIT_US
        second = frame_bits(0x200, False, False, DATA8) * BIT_US
        self.assertEqual(self.bus.next_event_us(), first)
        self.bus.run_until(first + second)
        self.assertEqual([f[0] for f in self.tap.frames], [0x100, 0x200])
        self.assertEqual(drain(self.a), [(0x100, False, False, 8, DATA8_B)])
        self.assertEqual(drain(self.b), [(0x200, False, False, 8, DATA8)])
        self.assertFalse(self.a.tx_pending())
        self.assertFalse(self.b.tx_pending())

    def test_frames_go_out_of_the_chip_select_of_each_driver(self):
        # the shared SPI bus: a's register writes never reach b's chip
        self.assertTrue(self.a.send(0x123, DATA8, 8))
        self.assertEqual(self.chip_a.regs[TXBCTRL[0]] & TXREQ, TXREQ)
        self.assertEqual(self.chip_b.regs[TXBCTRL[0]] & TXREQ, 0)
        self.assertEqual(regs(self.chip_a, 0x31, 13), std_bytes(0x123)[:4] + b"\x08" + DATA8)
        self.assertEqual(regs(self.chip_b, 0x31, 5), bytes(5))


class FilterTest(unittest.TestCase):
    def setUp(self):
        self.bus = CanBus()
        self.a, _ = node(self.bus, OSC16)
        self.b, self.chip_b = node(self.bus, OSC8)
        self.assertTrue(self.a.init())

    def offer(self, frames):
        """a sends each (id, ext) with the id's low byte as data, one frame at a time;
        returns what b took in."""
        got = []
        buf = bytearray(1)
        for can_id, ext in frames:
            buf[0] = can_id & 0xFF
            self.assertTrue(self.a.send(can_id, buf, 1, ext))
            self.bus.run_until(self.bus.next_event_us())
            self.assertFalse(self.a.tx_pending())  # acknowledged, whatever b filters
            got += [(f[0], f[1]) for f in drain(self.b)]
        self.assertEqual(self.bus.errors, 0)
        return got

    def test_standard_filters(self):
        filters = (STD_ONLY, [(0x305, False), (0x307, False)], STD_ONLY, [(0x305, False)])
        self.assertTrue(self.b.init(filters))
        r = self.chip_b.regs
        self.assertEqual(regs(self.chip_b, RXM[0], 4), b"\xff\xe0\x00\x00")
        self.assertEqual(regs(self.chip_b, RXM[1], 4), b"\xff\xe0\x00\x00")
        self.assertEqual(regs(self.chip_b, RXF[0], 4), std_bytes(0x305))
        self.assertEqual(regs(self.chip_b, RXF[1], 4), std_bytes(0x307))
        for k in range(2, 6):  # RXF2-5: the first of the list repeated
            self.assertEqual(regs(self.chip_b, RXF[k], 4), std_bytes(0x305))
        self.assertEqual(r[RXB0CTRL], 0x06)  # RXM 00 (filters on), BUKT
        self.assertEqual(r[RXB1CTRL], 0x00)
        frames = [(i, False) for i in range(0x300, 0x310)]
        frames += [(0x305, True), (0x307, True), (0x305 << 18, True), (0x705, False)]
        self.assertEqual(self.offer(frames), [(0x305, False), (0x307, False)])

    def test_a_filter_on_rxb1_only(self):
        filters = (STD_ONLY, [(0x305, False)], STD_ONLY, [(0x400, False), (0x401, False)])
        self.assertTrue(self.b.init(filters))
        frames = [(0x305, False), (0x400, False), (0x401, False), (0x402, False)]
        self.assertEqual(self.offer(frames), [(0x305, False), (0x400, False), (0x401, False)])

    def test_extended_filter(self):
        ext = [(0x310, True)]
        self.assertTrue(self.b.init((EXT_ALL, ext, EXT_ALL, ext)))
        self.assertEqual(regs(self.chip_b, RXM[0], 4), b"\xff\xe3\xff\xff")  # no EXIDE
        self.assertEqual(regs(self.chip_b, RXM[1], 4), b"\xff\xe3\xff\xff")
        for k in range(6):
            self.assertEqual(regs(self.chip_b, RXF[k], 4), ext_bytes(0x310))
        frames = [
            (0x310, False),
            (0x311, True),
            (0x310 | 1 << 18, True),
            (0x310 | 1 << 28, True),
            (0x310 ^ 0x80, True),
            (0x310, True),
        ]
        self.assertEqual(self.offer(frames), [(0x310, True)])

    def test_extended_filter_with_a_wide_mask(self):
        # J1939-style: PGN and source bits only, priority ignored
        flt = [(0x18FF50E5, True)]
        self.assertTrue(self.b.init(((0x03FFFFFF, True), flt, (0x03FFFFFF, True), flt)))
        frames = [(0x18FF50E5, True), (0x0CFF50E5, True), (0x18FF50E4, True), (0x0E5, False)]
        self.assertEqual(self.offer(frames), [(0x18FF50E5, True), (0x0CFF50E5, True)])

    def test_no_filters_accept_everything(self):
        self.assertTrue(self.b.init(None))
        frames = [(0x000, False), (0x305, False), (0x7FF, False)]
        frames += [(0x310, True), (0x1FFFFFFF, True), (0x305, True)]
        self.assertEqual(self.offer(frames), frames)


class OverflowTest(unittest.TestCase):
    def test_three_frames_before_recv(self):
        bus = CanBus()
        a, _ = node(bus, OSC8)
        b, chip_b = node(bus, OSC16)
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        for i in range(3):
            self.assertTrue(a.send(0x350 + i, DATA8, i + 1))
            bus.run_until(bus.next_event_us())
        self.assertEqual(chip_b.regs[CANINTF] & 0x03, 0x03)  # both buffers full
        self.assertEqual(chip_b.regs[EFLG], 0x80)  # RX1OVR: the third had nowhere to go
        eflg = b.check()
        self.assertEqual(eflg, 0x80)
        self.assertEqual(b.rx_overflows, 1)
        self.assertEqual(chip_b.regs[EFLG], 0x00)  # cleared
        self.assertEqual(chip_b.regs[CANINTF] & 0x20, 0)  # ERRIF cleared
        self.assertEqual(
            drain(b),
            [(0x350, False, False, 1, DATA8[:1]), (0x351, False, False, 2, DATA8[:2])],
        )  # RXB0, then the one rolled over to RXB1
        self.assertEqual(b.received, 2)
        b.check()
        self.assertEqual(b.rx_overflows, 1)  # one episode
        self.assertTrue(a.send(0x353, DATA8, 4))  # room again
        bus.run_until(bus.next_event_us())
        self.assertEqual(drain(b), [(0x353, False, False, 4, DATA8[:4])])
        self.assertEqual(b.check(), 0)
        self.assertEqual(b.rx_overflows, 1)


class TxBufferTest(unittest.TestCase):
    def test_three_pending_then_busy(self):
        bus = CanBus()
        tap = bus.attach(Tap())
        a, chip = node(bus)  # alone: nobody acknowledges
        self.assertTrue(a.init())
        self.assertFalse(a.tx_pending())
        for i in range(3):
            self.assertTrue(a.send(0x100 + i, DATA8, 8))
        bus.run_until(20000)
        for n in range(3):
            self.assertEqual(chip.regs[TXBCTRL[n]] & TXREQ, TXREQ)
        self.assertTrue(a.tx_pending())
        self.assertFalse(a.send(0x200, DATA8, 8))
        self.assertFalse(a.send(0x201, DATA8, 8, True))
        self.assertEqual((a.sent, a.tx_busy), (3, 2))
        self.assertEqual(tap.frames, [])
        self.assertGreater(bus.errors, 16)

    def test_abort_clears_waiting_buffers(self):
        bus = CanBus()
        tap = bus.attach(Tap())
        a, chip = node(bus)
        self.assertTrue(a.init())
        for i in range(3):
            self.assertTrue(a.send(0x100 + i, DATA8, 8))
        self.assertFalse(a.send(0x103, DATA8, 8))
        self.assertEqual(a.tx_busy, 1)
        self.assertTrue(a.tx_pending())
        self.assertEqual(a.abort(), 3)
        self.assertFalse(a.tx_pending())
        for n in range(3):
            self.assertEqual(chip.regs[TXBCTRL[n]] & (ABTF | TXREQ), ABTF)
        self.assertEqual(chip.regs[CANCTRL] & ABAT, 0)  # released, or nothing would go
        self.assertEqual(a.abort(), 0)
        self.assertIsNone(bus.next_event_us())
        b, _ = node(bus, OSC16, cs="CS_B")  # a listener joins
        self.assertTrue(b.init())
        for i in range(3):
            self.assertTrue(a.send(0x110 + i, DATA8, i))
            bus.run_until(bus.next_event_us())
        self.assertEqual([f[0] for f in tap.frames], [0x110, 0x111, 0x112])
        self.assertEqual([f[0] for f in drain(b)], [0x110, 0x111])
        self.assertEqual(b.check(), 0x80)  # the third overflowed: nobody read b
        self.assertFalse(a.tx_pending())
        self.assertEqual((a.sent, a.tx_busy), (6, 1))

    # ABAT alone lets the frame on the wire run on and be retried for ever (DS20001801
    # 3.4); with nobody acknowledging (when inverter_link drops stale frames) one always
    # is, so abort() must clear each TXREQ.
    def test_abort_drops_the_frame_being_retried(self):
        bus = CanBus()
        tap = bus.attach(Tap())
        a, chip = node(bus)  # alone: the chip retries its frame back to back
        self.assertTrue(a.init())
        for i in range(3):
            self.assertTrue(a.send(0x100 + i, DATA8, 8))
        bus.run_until(20000)
        self.assertTrue(bus.in_frame)  # an attempt is on the wire
        self.assertEqual(a.abort(), 3)
        bus.run_until(21000)  # the attempt in progress ends
        self.assertEqual([chip.regs[c] & TXREQ for c in TXBCTRL], [0, 0, 0])
        self.assertFalse(a.tx_pending())
        b, _ = node(bus, OSC16, cs="CS_B")
        self.assertTrue(b.init())
        self.assertTrue(a.send(0x200, DATA8, 8))
        bus.run_until(30000)
        self.assertEqual([f[0] for f in tap.frames], [0x200])  # nothing stale went out
        self.assertEqual([f[0] for f in drain(b)], [0x200])


class ErrorTest(unittest.TestCase):
    def test_lone_node_goes_error_passive(self):
        bus = CanBus()
        a, chip = node(bus)
        self.assertTrue(a.init())
        self.assertTrue(a.send(0x351, DATA8, 8))
        attempt = (frame_bits(0x351, False, False, DATA8) + 6) * BIT_US  # ACK error
        bus.run_until(15 * attempt)
        self.assertEqual(a.check(), 0x05)  # TXWAR, EWARN: warning is not an episode
        self.assertEqual((a.tec, a.rec, a.passive), (120, 0, 0))
        bus.run_until(16 * attempt)
        self.assertEqual(a.check(), 0x15)  # TXEP
        self.assertEqual((a.tec, a.rec, a.passive, a.bus_off), (128, 0, 1, 0))
        bus.run_until(100000)  # error-passive: ACK errors no longer count
        self.assertEqual(a.check(), 0x15)
        self.assertEqual((a.tec, a.passive, a.bus_off, a.dropped_stale), (128, 1, 0, 0))
        self.assertTrue(a.tx_pending())
        # a listener joins: the frame goes, TEC steps down, passive is left
        b, _ = node(bus, OSC16, cs="CS_B")
        self.assertTrue(b.init())
        bus.run_until(bus.now_us + 2 * attempt)  # the attempt in progress, then the next
        self.assertEqual(drain(b), [(0x351, False, False, 8, DATA8)])
        self.assertFalse(a.tx_pending())
        self.assertEqual(a.check(), 0x05)
        self.assertEqual((a.tec, a.passive), (127, 1))

    def test_bus_off_and_recovery(self):
        bus, a, chip_a, b, attempt = jammed(self)
        bus.run_until(16 * attempt)
        self.assertEqual(a.check(), 0x15)
        self.assertEqual((a.tec, a.passive, a.bus_off), (128, 1, 0))
        t_off = 32 * attempt
        bus.run_until(t_off - 1)
        self.assertEqual(a.check(), 0x15)
        self.assertEqual((a.tec, a.bus_off), (248, 0))
        bus.run_until(t_off)
        self.assertEqual(chip_a.tec, 256)  # TEC > 255
        self.assertEqual(a.check(), 0x35)  # TXBO
        self.assertEqual((a.tec, a.passive, a.bus_off, a.dropped_stale), (255, 1, 1, 3))
        self.assertFalse(a.tx_pending())  # the queued frames were aborted...
        for n in range(3):
            self.assertEqual(chip_a.regs[TXBCTRL[n]] & (ABTF | TXREQ), ABTF)
        self.assertEqual(chip_a.regs[CANCTRL] & ABAT, 0)
        self.assertFalse(a.send(0x360, DATA8, 8))  # ...and send() refuses while bus-off
        self.assertEqual((a.sent, a.tx_busy, a.dropped_stale), (3, 0, 4))
        self.assertIsNone(bus.next_event_us())
        self.assertEqual(b.check(), 0)
        self.assertEqual(b.rec, 32)  # b saw 32 error frames
        self.assertEqual(drain(b), [])
        # recovery: 128 x 11 recessive bits, the first 11 being the last error frame's
        # delimiter and intermission
        t_back = t_off - 11 * BIT_US + 128 * 11 * BIT_US
        bus.run_until(t_back - 1)
        self.assertEqual(a.check(), 0x35)
        self.assertEqual(a.bus_off, 1)
        self.assertFalse(a.send(0x360, DATA8, 8))
        self.assertEqual(a.dropped_stale, 5)
        bus.run_until(t_back)
        self.assertEqual(a.check(), 0)
        self.assertEqual((a.tec, a.rec), (0, 0))
        self.assertEqual((a.passive, a.bus_off, a.dropped_stale), (1, 1, 5))
        self.assertTrue(a.send(0x360, DATA8, 8))
        end = bus.next_event_us()
        self.assertEqual(end, t_back + frame_bits(0x360, False, False, DATA8) * BIT_US)
        bus.run_until(end)
        self.assertEqual(drain(b), [(0x360, False, False, 8, DATA8)])
        self.assertEqual(b.check(), 0)
        self.assertEqual(b.rec, 31)
        self.assertEqual(a.check(), 0)
        self.assertEqual((a.sent, a.bus_off, a.passive), (4, 1, 1))

    def test_a_second_bus_off_is_a_second_episode(self):
        bus = CanBus()
        a, chip_a = node(bus)
        b, _ = node(bus, OSC16)
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        for episode in (1, 2):
            self.assertTrue(a.send(0x351, DATA8, 8))
            bus.inject_errors(chip_a, 32)
            start = bus.now_us
            attempt = (frame_bits(0x351, False, False, DATA8) + 6) * BIT_US
            bus.run_until(start + 32 * attempt)
            a.check()
            self.assertEqual((a.bus_off, a.passive, a.dropped_stale), (episode, episode, episode))
            bus.run_until(bus.now_us + 128 * 11 * BIT_US)
            self.assertEqual(a.check(), 0)
        self.assertTrue(a.send(0x351, DATA8, 8))
        bus.run_until(bus.next_event_us())
        self.assertEqual(drain(b), [(0x351, False, False, 8, DATA8)])


class AttentionTest(unittest.TestCase):
    def test_with_an_int_pin(self):
        bus = CanBus()
        a, _ = node(bus)
        pin = int_pin()
        b, chip_b = node(bus, OSC16, cs="CS_B", int_pin=pin)
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        self.assertEqual(pin.value(), 1)
        self.assertFalse(b.attention())
        self.assertTrue(a.send(0x351, DATA8, 8))
        end = bus.next_event_us()
        bus.run_until(end - 1)
        self.assertFalse(b.attention())
        bus.run_until(end)
        self.assertEqual(pin.value(), 0)
        self.assertTrue(b.attention())
        self.assertEqual(len(drain(b)), 1)
        self.assertEqual(pin.value(), 1)
        self.assertFalse(b.attention())
        # two frames: INT stays low until both buffers are read
        for i in range(2):
            self.assertTrue(a.send(0x352 + i, DATA8, 1))
            bus.run_until(bus.next_event_us())
        f = CanFrame()
        self.assertTrue(b.attention())
        self.assertTrue(b.recv(f))
        self.assertTrue(b.attention())
        self.assertTrue(b.recv(f))
        self.assertFalse(b.attention())
        self.assertFalse(b.recv(f))

    def test_an_error_change_raises_attention_until_check(self):
        bus = CanBus()
        pin = int_pin()
        a, _ = node(bus, int_pin=pin)  # alone
        self.assertTrue(a.init())
        self.assertFalse(a.attention())
        self.assertTrue(a.send(0x351, DATA8, 8))
        bus.run_until(20000)
        self.assertTrue(a.attention())  # ERRIF: EFLG changed
        self.assertFalse(a.recv(CanFrame()))
        self.assertEqual(a.check(), 0x15)
        self.assertFalse(a.attention())
        bus.run_until(40000)  # retries while passive change nothing in EFLG
        self.assertFalse(a.attention())

    def test_without_an_int_pin(self):
        bus = CanBus()
        a, _ = node(bus)
        b, _ = node(bus, OSC16, cs="CS_B")
        self.assertTrue(b.attention())
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        self.assertTrue(b.attention())
        self.assertTrue(a.send(0x351, DATA8, 8))
        bus.run_until(bus.next_event_us())
        self.assertTrue(b.attention())
        self.assertEqual(len(drain(b)), 1)
        self.assertTrue(b.attention())


class AllocationTest(unittest.TestCase):
    """Under MicroPython heap_lock() makes any allocation raise MemoryError; under CPython
    (boards/host/cpython/micropython.py) it does nothing and this checks the results only.
    The bus runs outside the lock: it is the simulator, not the firmware."""

    def test_send_recv_check_allocate_nothing(self):
        bus = CanBus()
        pin = int_pin()
        a, _ = node(bus)
        b, _ = node(bus, OSC16, cs="CS_B", int_pin=pin)
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        frame = CanFrame()
        buf = bytearray(DATA8)
        # warm-up: every transfer length once (the driver keeps a view per length)
        for n in range(9):
            for ext in (False, True):
                self.assertTrue(a.send(0x100 + n, buf, n, ext))
                bus.run_until(bus.next_event_us())
                self.assertTrue(b.recv(frame))
        a.check()
        b.check()
        sent = [False] * 18
        got = [False] * 18
        ids = [0] * 18
        dlcs = [0] * 18
        exts = [False] * 18
        pending = [False] * 18
        for k in range(18):
            n = k >> 1
            ext = bool(k & 1)
            can_id = 0x18FF5000 + k if ext else 0x200 + k
            micropython.heap_lock()
            try:
                sent[k] = a.send(can_id, buf, n, ext)
                pending[k] = a.tx_pending()
            finally:
                micropython.heap_unlock()
            bus.run_until(bus.next_event_us())
            micropython.heap_lock()
            try:
                if b.attention():
                    got[k] = b.recv(frame)
                ids[k] = frame.can_id
                dlcs[k] = frame.dlc
                exts[k] = frame.ext
                a.check()
                b.check()
            finally:
                micropython.heap_unlock()
        self.assertEqual(sent, [True] * 18)
        self.assertEqual(pending, [True] * 18)
        self.assertEqual(got, [True] * 18)
        self.assertEqual(ids, [0x18FF5000 + k if k & 1 else 0x200 + k for k in range(18)])
        self.assertEqual(dlcs, [k >> 1 for k in range(18)])
        self.assertEqual(exts, [bool(k & 1) for k in range(18)])
        self.assertEqual(bytes(frame.data), DATA8)
        self.assertEqual((a.sent, b.received, b.rx_overflows), (36, 36, 0))


def floating(wbuf, rbuf):
    """An SPI transfer with nothing driving MISO: every byte reads 0xFF."""
    if rbuf is not None:
        for i in range(len(rbuf)):
            rbuf[i] = 0xFF


def stuck_low(wbuf, rbuf):
    if rbuf is not None:
        for i in range(len(rbuf)):
            rbuf[i] = 0


class ResetPollTest(unittest.TestCase):
    """After RESET the driver polls CANSTAT for configuration mode, 10 times 0.5 ms apart
    (the ~5 ms the Linux mcp251x driver allows), while the chip's oscillator starts."""

    def start(self, hold_us, sleep=True):
        bus = CanBus()
        chip = MCP2515Sim(OSC8)
        bus.attach(chip)
        chip.reset_hold_us = hold_us
        pin = machine.Pin("CS", machine.Pin.OUT, value=1)
        spi = machine.SPI(0)
        spi.attach(pin, chip)
        slept = []

        def sleep_us(us):
            slept.append(us)
            bus.run_until(bus.now_us + us)

        drv = MCP2515(spi, pin, OSC8, sleep_us=sleep_us if sleep else None)
        return drv, chip, slept

    def test_the_chip_answers_within_the_polls(self):
        for hold_us, sleeps in ((0, 0), (1, 1), (2000, 4), (4500, 9)):
            drv, chip, slept = self.start(hold_us)
            self.assertTrue(drv.init(), hold_us)
            self.assertEqual(slept, [500] * sleeps, hold_us)
            self.assertEqual((drv.ok, drv.fault), (True, mcp2515.FAULT_NONE))
            self.assertEqual(chip.mode, sim.MODE_NORMAL)
            self.assertEqual(chip.bitrate_bps(), 500000)

    def test_a_chip_slower_than_5_ms_is_given_up(self):
        drv, chip, slept = self.start(4501)
        self.assertFalse(drv.init())
        self.assertEqual(slept, [500] * 10)
        self.assertEqual((drv.ok, drv.fault), (False, mcp2515.FAULT_NO_RESET))
        self.assertEqual(chip.mode, sim.MODE_CONFIG)
        chip.reset_hold_us = 1000  # running by now: a RESET holds it only briefly
        self.assertTrue(drv.init())  # the next try (the app's retry) works
        self.assertEqual(slept, [500] * 12)
        self.assertEqual(drv.fault, mcp2515.FAULT_NONE)

    def test_without_a_sleep_function_the_polls_come_at_once(self):
        drv, chip, slept = self.start(0, sleep=False)
        self.assertTrue(drv.init())
        drv, chip, slept = self.start(1, sleep=False)
        self.assertFalse(drv.init())
        self.assertEqual(drv.fault, mcp2515.FAULT_NO_RESET)

    def test_init_faults(self):
        drv, chip = node(CanBus(), 12000000, chip_osc=OSC8)
        self.assertFalse(drv.init())
        self.assertEqual(drv.fault, mcp2515.FAULT_CRYSTAL)
        drv, chip = node(CanBus())
        chip.spi_transfer = floating
        self.assertFalse(drv.init())
        self.assertEqual(drv.fault, mcp2515.FAULT_NO_RESET)
        del chip.spi_transfer
        self.assertTrue(drv.init())
        self.assertEqual(drv.fault, mcp2515.FAULT_NONE)


class FaultTest(unittest.TestCase):
    """A running chip that was reset, or an SPI bus nobody drives: ok goes False and fault
    says why, from check(), recv() or a failed send()."""

    def setUp(self):
        self.bus = CanBus()
        self.a, self.chip_a = node(self.bus, OSC8, cs="CS_A")
        self.b, self.chip_b = node(self.bus, OSC16, cs="CS_B")
        self.assertTrue(self.a.init())
        self.assertTrue(self.b.init())

    def test_a_reset_chip_is_seen_by_check(self):
        a = self.a
        self.assertEqual(a.check(), 0)
        self.assertTrue(a.ok)
        self.chip_a.reset()  # a brown-out of the chip alone: configuration mode
        self.assertEqual(a.check(), -1)
        self.assertEqual((a.ok, a.fault), (False, mcp2515_consts.FAULT_MODE_LOST))
        self.assertTrue(a.init())
        self.assertEqual((a.ok, a.fault), (True, mcp2515.FAULT_NONE))
        self.assertEqual(a.check(), 0)

    def test_a_reset_chip_is_seen_by_the_send_that_finds_no_buffer(self):
        a = self.a
        self.chip_a.reset()
        for i in range(3):  # configuration mode takes them but sends nothing
            self.assertTrue(a.send(0x351 + i, DATA8, 8))
        self.assertTrue(a.ok)
        self.assertFalse(a.send(0x354, DATA8, 8))
        self.assertEqual((a.ok, a.fault, a.tx_busy), (False, mcp2515_consts.FAULT_MODE_LOST, 1))
        self.assertEqual(a.bus_off, 0)

    def test_loopback_is_the_mode_check_expects_after_init_in_loopback(self):
        a = self.a
        self.assertTrue(a.init(mode=MODE_LOOPBACK))
        self.assertEqual(a.check(), 0)
        self.assertTrue(a.ok)
        self.chip_a.reset()
        self.assertEqual(a.check(), -1)
        self.assertEqual(a.fault, mcp2515_consts.FAULT_MODE_LOST)

    def test_floating_miso(self):
        a, b = self.a, self.b
        self.assertTrue(a.send(0x305, DATA8, 8))
        self.bus.run_until(self.bus.next_event_us())
        self.chip_b.spi_transfer = floating
        f = CanFrame()
        self.assertFalse(b.recv(f))  # READ STATUS reads 0xFF: RXB0 "full", SIDL bit 2 set
        # dropped and counted; check() judges the chip
        self.assertEqual((b.ok, b.rx_garbled, b.received), (True, 1, 0))
        self.assertEqual(b.check(), -1)
        self.assertEqual((b.ok, b.fault), (False, mcp2515_consts.FAULT_GARBLED))
        self.assertEqual((b.bus_off, b.passive, b.rx_overflows), (0, 0, 0))  # none made up
        b.ok = True
        self.assertFalse(b.send(0x351, DATA8, 8))  # every TXREQ reads set
        self.assertEqual(
            (b.ok, b.fault, b.tx_busy, b.sent), (False, mcp2515_consts.FAULT_GARBLED, 1, 0)
        )
        del self.chip_b.spi_transfer
        self.assertTrue(b.init())
        self.assertEqual(drain(b), [])  # RESET emptied the buffer
        self.assertEqual(b.check(), 0)

    def test_one_glitch_is_read_again_not_a_dead_chip(self):
        a = self.a
        real = self.chip_a.spi_transfer
        glitches = [1]

        def once(wbuf, rbuf):
            if glitches[0] and wbuf[0] == 0x03:  # the first READ answers 0xFF
                glitches[0] = 0
                floating(wbuf, rbuf)
            else:
                real(wbuf, rbuf)

        self.chip_a.spi_transfer = once
        self.assertEqual(a.check(), 0)
        self.assertEqual((a.ok, a.fault), (True, mcp2515.FAULT_NONE))
        glitches[0] = 1
        f = CanFrame()
        self.chip_a.spi_transfer = floating
        self.assertFalse(a.recv(f))  # a garbled frame: dropped, the chip still up
        self.assertEqual((a.ok, a.rx_garbled), (True, 1))

    def test_miso_stuck_low(self):
        a = self.a
        self.chip_a.spi_transfer = stuck_low
        self.assertEqual(a.check(), -1)  # CANSTAT says normal, CANCTRL's clock bits read 0
        self.assertEqual((a.ok, a.fault), (False, mcp2515_consts.FAULT_GARBLED))


class FailedSendTest(unittest.TestCase):
    def test_a_failed_send_sees_bus_off_before_check(self):
        bus, a, chip_a, b, attempt = jammed(self)
        t_off = 32 * attempt
        bus.run_until(t_off - 1)
        self.assertFalse(a.send(0x360, DATA8, 8))  # the three are still retried
        self.assertEqual((a.tx_busy, a.bus_off, a.passive, a.dropped_stale), (1, 0, 1, 0))
        bus.run_until(t_off)
        self.assertFalse(a.send(0x360, DATA8, 8))  # no check() in between
        self.assertEqual((a.tx_busy, a.bus_off, a.dropped_stale), (2, 1, 3))
        self.assertFalse(a.tx_pending())  # aborted: stale by the time the bus is back
        self.assertFalse(a.send(0x361, DATA8, 8))  # refused while bus-off
        self.assertEqual((a.tx_busy, a.dropped_stale), (2, 4))
        # back after 128 x 11 recessive bits: the first send after it reads the state
        # again and goes, without waiting for check()
        t_back = t_off - 11 * BIT_US + 128 * 11 * BIT_US
        bus.run_until(t_back - 1)
        self.assertFalse(a.send(0x361, DATA8, 8))
        self.assertEqual(a.dropped_stale, 5)
        bus.run_until(t_back)
        self.assertTrue(a.send(0x362, DATA8, 8))
        bus.run_until(bus.next_event_us())
        self.assertEqual(drain(b), [(0x362, False, False, 8, DATA8)])
        self.assertEqual((a.sent, a.bus_off, a.dropped_stale), (4, 1, 5))

    def test_a_successful_send_reads_no_error_state(self):
        bus = CanBus()
        a, chip = node(bus)
        self.assertTrue(a.init())
        calls = count_spi(chip)
        self.assertTrue(a.send(0x351, DATA8, 8))
        self.assertEqual(calls, [0xA0, 0x40, 0x81])  # READ STATUS, LOAD TX, RTS
        del calls[:]
        self.assertTrue(a.send(0x352, DATA8, 8))
        self.assertTrue(a.send(0x353, DATA8, 8))
        del calls[:]
        self.assertFalse(a.send(0x354, DATA8, 8))
        self.assertEqual(calls, [0xA0, 0x03])  # READ STATUS, then one READ of the state
        del calls[:]
        a.check()
        self.assertEqual(calls, [0x03, 0x03])  # the state, then TEC/REC

    def test_a_failed_send_allocates_nothing(self):
        a, _ = node(CanBus())  # alone: nobody acknowledges, the buffers stay full
        self.assertTrue(a.init())
        for i in range(3):
            self.assertTrue(a.send(0x351 + i, DATA8, 8))
        a.check()  # warm-up: the views for each transfer length
        micropython.heap_lock()
        try:
            sent = a.send(0x354, DATA8, 8)
            busy = a.tx_busy
        finally:
            micropython.heap_unlock()
        self.assertEqual((sent, busy, a.ok), (False, 1, True))


class CounterTest(unittest.TestCase):
    def test_counters_wrap_at_2_30(self):
        bus = CanBus()
        a, _ = node(bus)
        b, _ = node(bus, OSC16, cs="CS_B")
        self.assertTrue(a.init())
        self.assertTrue(b.init())
        top = 0x3FFFFFFF
        a.sent = top
        b.received = top
        self.assertTrue(a.send(0x351, DATA8, 8))
        bus.run_until(bus.next_event_us())
        self.assertEqual(len(drain(b)), 1)
        self.assertEqual((a.sent, b.received), (0, 0))
        lone, _ = node(CanBus(), cs="CS_C")  # nobody acknowledges: its buffers stay full
        self.assertTrue(lone.init())
        for i in range(3):
            self.assertTrue(lone.send(0x360 + i, DATA8, 8))
        lone.tx_busy = top
        self.assertFalse(lone.send(0x363, DATA8, 8))
        self.assertEqual(lone.tx_busy, 0)


# the filter sets the inverter link uses (inverter_link.FILTERS_STD / FILTERS_EXT)
HEARTBEATS_STD = (STD_ONLY, [(0x305, False), (0x307, False)], STD_ONLY, [(0x301, False)])
HEARTBEAT_EXT = (EXT_ALL, [(0x310, True)], EXT_ALL, [(0x310, True)])


def written(filters):
    """(register, bits to flip, the fault init() must give) for every register init()
    writes in configuration mode; the bits are ones the chip implements and keeps."""
    out = [
        (CNF3, 0x03, mcp2515.FAULT_TIMING),  # PHSEG2
        (CNF2, 0x08, mcp2515.FAULT_TIMING),  # PHSEG1
        (CNF1, 0x01, mcp2515.FAULT_TIMING),  # BRP
        (CANINTE, 0x01, mcp2515.FAULT_CONFIG),  # RX0IE
        (CANINTE, 0x20, mcp2515.FAULT_CONFIG),  # ERRIE
        (RXB0CTRL, 0x20, mcp2515.FAULT_CONFIG),  # RXM0
        (RXB0CTRL, 0x04, mcp2515.FAULT_CONFIG),  # BUKT
        (RXB1CTRL, 0x40, mcp2515.FAULT_CONFIG),  # RXM1
    ]
    if filters is not None:
        for base in RXF + RXM:
            for i in range(4):
                out.append((base + i, 0x01, mcp2515.FAULT_CONFIG))
                out.append((base + i, 0x20, mcp2515.FAULT_CONFIG))
    return out


def transfers(chip):
    """Record (instruction, address byte, length) of every SPI transfer to chip."""
    seen = []
    real = chip.spi_transfer

    def recorded(wbuf, rbuf):
        seen.append((wbuf[0], wbuf[1] if len(wbuf) > 1 else None, len(wbuf)))
        real(wbuf, rbuf)

    chip.spi_transfer = recorded
    return seen


class ConfigReadBackTest(unittest.TestCase):
    """init() reads back in configuration mode every register it wrote (masks and filters
    read 0 in any other mode) and goes on the bus only when all of them hold what it
    wrote: an SPI error corrupting one write is a failed start (FAULT_TIMING for CNF1-3,
    FAULT_CONFIG for the rest), not a node at the wrong bit rate or with open filters."""

    def reference(self, filters):
        _drv, chip = node(CanBus(), cs="CS_REF")
        _drv.init(filters)
        return bytes(chip.regs)

    def test_a_corrupted_write_to_any_register_fails_the_start(self):
        for filters in (None, HEARTBEATS_STD, HEARTBEAT_EXT):
            good = self.reference(filters)
            for addr, xor, fault in written(filters):
                why = (filters is None, hex(addr), hex(xor))
                drv, chip = node(CanBus())
                chip.glitch_write(addr, xor)
                self.assertFalse(drv.init(filters), why)
                self.assertEqual((drv.ok, drv.fault), (False, fault), why)
                self.assertEqual((chip.regs[addr] ^ good[addr]) & xor, xor, why)  # it struck
                self.assertEqual(chip.mode, sim.MODE_CONFIG, why)  # never on the bus
                # the next start (the app retries) writes it right
                self.assertTrue(drv.init(filters), why)
                self.assertEqual((drv.ok, drv.fault), (True, mcp2515.FAULT_NONE), why)
                self.assertEqual(bytes(chip.regs[:0x30]), good[:0x30], why)
                self.assertEqual(chip.mode, sim.MODE_NORMAL, why)

    def test_phseg2_flipped_is_not_a_node_at_571_kbit(self):
        bus = CanBus()
        tap = bus.attach(Tap())
        drv, chip = node(bus)
        other, _ = node(bus, OSC16, cs="CS_B")
        acker, _ = node(bus, OSC16, cs="CS_C")
        self.assertTrue(other.init())
        self.assertTrue(acker.init())
        chip.glitch_write(CNF3, 0x03)
        self.assertFalse(drv.init(HEARTBEATS_STD))
        self.assertEqual(drv.fault, mcp2515.FAULT_TIMING)
        self.assertEqual(chip.bitrate_bps(), 571428)  # what it would have run at
        self.assertEqual(chip.mode, sim.MODE_CONFIG)
        self.assertTrue(other.send(0x305, DATA8, 8))
        bus.run_until(bus.next_event_us())
        self.assertEqual((bus.errors, chip.rec, len(tap.frames)), (0, 0, 1))  # no error frames
        self.assertTrue(drv.init(HEARTBEATS_STD))
        self.assertEqual(chip.bitrate_bps(), 500000)

    def test_a_zeroed_mask_does_not_let_other_ids_in(self):
        bus = CanBus()
        drv, chip = node(bus)
        other, _ = node(bus, OSC16, cs="CS_B")
        acker, _ = node(bus, OSC16, cs="CS_C")
        self.assertTrue(other.init())
        self.assertTrue(acker.init())
        chip.glitch_write(RXM[0], 0xFF)  # RXM0 SIDH written as 0x00
        self.assertFalse(drv.init(HEARTBEATS_STD))
        self.assertEqual(drv.fault, mcp2515.FAULT_CONFIG)
        for can_id in (0x123, 0x305):
            self.assertTrue(other.send(can_id, DATA8, 8))
            bus.run_until(bus.next_event_us())
        self.assertEqual(drain(drv), [])  # in configuration mode: nothing taken in
        self.assertTrue(drv.init(HEARTBEATS_STD))
        for can_id in (0x123, 0x305):
            self.assertTrue(other.send(can_id, DATA8, 8))
            bus.run_until(bus.next_event_us())
        self.assertEqual(drain(drv), [(0x305, False, False, 8, DATA8)])

    def test_canctrl_is_read_back_with_the_mode(self):
        # a BIT MODIFY of REQOP that also set OSM (one-shot: no retransmission)
        drv, chip = node(CanBus())
        chip.glitch_write(CANCTRL, 0x08)
        self.assertFalse(drv.init())
        self.assertEqual((drv.ok, drv.fault), (False, mcp2515.FAULT_NO_MODE))
        self.assertTrue(drv.init())
        self.assertEqual(chip.regs[CANCTRL], 0x07)

    def test_the_read_back_is_two_block_reads(self):
        # what init() costs on the SPI: the bit timing and CANINTE in one WRITE, masks and
        # filters four bytes each, then RXF0..CANINTE and RXB0CTRL..RXB1CTRL read in one
        # READ each, and the mode request confirmed with CANSTAT and CANCTRL in one READ:
        # one transfer fewer than the two single reads of CNF1 and CNF2 used to take
        for filters, writes, first, n in ((None, 3, CNF3, 4), (HEARTBEATS_STD, 11, 0, 0x2C)):
            drv, chip = node(CanBus())
            seen = transfers(chip)
            self.assertTrue(drv.init(filters))
            reads = [x for x in seen if x[0] == 0x03]
            self.assertEqual(seen[0], (0xC0, None, 1))  # RESET
            self.assertEqual(reads[0], (0x03, CANSTAT, 3))  # configuration mode reached
            self.assertEqual(seen[2], (0x02, CNF3, 6))  # CNF3, CNF2, CNF1, CANINTE
            self.assertEqual(len([x for x in seen if x[0] == 0x02]), writes)
            self.assertEqual(
                reads[1:], [(0x03, first, 2 + n), (0x03, RXB0CTRL, 19), (0x03, CANSTAT, 4)]
            )
            self.assertEqual(seen[-2], (0x05, CANCTRL, 4))  # REQOP
            self.assertEqual(len(seen), 1 + 1 + writes + 2 + 1 + 1)


class RxConfirmTest(unittest.TestCase):
    """An RX buffer keeps its last frame after RXnIF clears: recv() reads a buffer only
    when READ STATUS and RX STATUS both say it is full, so one glitched status byte does
    not read that old frame again as new. A disagreement is counted as garbled."""

    def setUp(self):
        self.bus = CanBus()
        self.a, _ = node(self.bus, OSC16, cs="CS_A")
        self.b, self.chip = node(self.bus, OSC8, cs="CS_B")
        self.assertTrue(self.a.init())
        self.assertTrue(self.b.init(HEARTBEATS_STD))

    def deliver(self, *ids):
        for can_id in ids:
            self.assertTrue(self.a.send(can_id, DATA8, 8))
            self.bus.run_until(self.bus.next_event_us())

    def counts(self):
        return (self.b.received, self.b.rx_garbled)

    def test_a_status_glitch_does_not_read_the_old_frame_again(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305, 0x307)  # RXB0, then RXB1 (rollover)
        self.assertEqual([x[0] for x in drain(b)], [0x305, 0x307])
        self.assertEqual(self.chip.regs[0x61:0x63], bytes(std_bytes(0x305)[:2]))  # kept
        for bit in (0x01, 0x02, 0x03):  # RX0IF, RX1IF, both appear set
            self.chip.glitch_read(0xA0, 1, bit)
            self.assertFalse(b.recv(f), bit)
        self.assertEqual(self.counts(), (2, 3))
        self.assertFalse(b.recv(f))
        self.assertEqual(self.counts(), (2, 3))
        self.deliver(0x301)  # a new frame is read as before
        self.assertEqual(drain(b), [(0x301, False, False, 8, DATA8)])
        self.assertEqual(self.counts(), (3, 3))

    def test_a_status_glitch_beside_a_waiting_frame_delays_it_one_call(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305)
        self.chip.glitch_read(0xA0, 1, 0x02)  # RXB1 (empty) appears full too
        self.assertFalse(b.recv(f))
        self.assertEqual(self.counts(), (0, 1))
        self.assertEqual(drain(b), [(0x305, False, False, 8, DATA8)])  # nothing lost
        self.assertEqual(self.counts(), (1, 1))

    def test_an_rx_status_glitch(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305)
        self.chip.glitch_read(0xB0, 1, 0x40)  # RX STATUS says RXB0 is empty
        self.assertFalse(b.recv(f))
        self.assertEqual(self.counts(), (0, 1))
        self.chip.glitch_read(0xB0, 1, 0x80)  # says RXB1 is full as well: only RXB0 is read
        self.assertEqual(drain(b), [(0x305, False, False, 8, DATA8)])
        self.assertEqual(self.counts(), (1, 1))
        self.chip.glitch_read(0xB0, 1, 0xC0)  # nothing waits: READ STATUS alone says so
        self.assertFalse(b.recv(f))
        self.assertEqual(self.counts(), (1, 1))

    def test_a_dlc_register_with_its_unimplemented_bit_set_is_dropped(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305)
        self.chip.glitch_read(0x90, 5, 0x80)  # RXB0DLC bit 7 reads 0 on a chip
        self.assertFalse(b.recv(f))
        self.assertEqual(self.counts(), (0, 1))
        self.assertEqual(drain(b), [])  # dropped: its RXnIF cleared with the read
        # RB1 and RB0 are reserved, unknown in the data sheet: not judged, the frame taken
        self.deliver(0x307)
        self.chip.glitch_read(0x90, 5, 0x30)
        self.assertEqual(drain(b), [(0x307, False, False, 8, DATA8)])
        self.assertEqual(self.counts(), (1, 1))

    def test_spi_cost_one_transfer_more_per_frame_none_when_idle(self):
        b, f = self.b, CanFrame()
        calls = count_spi(self.chip)
        self.assertFalse(b.recv(f))
        self.assertEqual(calls, [0xA0])  # nothing waits: READ STATUS only
        del calls[:]
        self.deliver(0x305)
        self.assertTrue(b.recv(f))
        self.assertEqual(calls, [0xA0, 0xB0, 0x90])  # READ STATUS, RX STATUS, READ RX BUFFER

    def test_rx_more_says_whether_the_other_buffer_was_full(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305)
        self.assertTrue(b.recv(f))
        self.assertFalse(b.rx_more)
        self.deliver(0x305, 0x307)  # RXB0, then RXB1 (rollover)
        self.assertTrue(b.recv(f))
        self.assertEqual((f.can_id, b.rx_more), (0x305, True))
        self.assertTrue(b.recv(f))
        self.assertEqual((f.can_id, b.rx_more), (0x307, False))
        self.assertFalse(b.recv(f))
        # a frame that comes in between READ STATUS and RX STATUS is seen by the second
        self.deliver(0x305)
        real = self.chip.spi_transfer

        def arriving(wbuf, rbuf):
            if wbuf[0] == 0xB0:
                self.chip.spi_transfer = real
                self.deliver(0x307)
            real(wbuf, rbuf)

        self.chip.spi_transfer = arriving
        self.assertTrue(b.recv(f))
        self.assertEqual((f.can_id, b.rx_more), (0x305, True))
        self.assertEqual(drain(b), [(0x307, False, False, 8, DATA8)])
        self.assertEqual(self.counts(), (5, 0))

    def test_confirmed_recv_allocates_nothing(self):
        b, f = self.b, CanFrame()
        self.deliver(0x305)
        self.assertTrue(b.recv(f))  # warm-up
        self.deliver(0x307)
        self.chip.glitch_read(0xA0, 1, 0x02)
        micropython.heap_lock()
        try:
            first = b.recv(f)
            second = b.recv(f)
            third = b.recv(f)
        finally:
            micropython.heap_unlock()
        self.assertEqual((first, second, third, f.can_id), (False, True, False, 0x307))
        self.assertEqual(self.counts(), (2, 1))
