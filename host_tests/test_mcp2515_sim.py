"""The simulated MCP2515, driven by raw SPI bytes as DS20001801J specifies them (no driver).

Register values, instruction bytes and bit layouts in these tests come from the datasheet
facts (../shared/spec/hardware.md section 2 and the MCP2515 fact sheet), so the chip is
checked against the document rather than against the firmware's driver.
"""

import unittest

import micropython

from boards.host import machine
from boards.host.world.bus.canbus import CanBus, frame_bits
from boards.host.world.chips import mcp2515 as sim
from boards.host.world.chips.mcp2515 import MCP2515Sim

CNF_8MHZ_500K = (0x82, 0x90, 0x00)  # CNF3, CNF2, CNF1 in address order 0x28..0x2A
CNF_16MHZ_500K = (0x86, 0xF0, 0x00)
NORMAL, SLEEP, LOOPBACK, LISTEN, CONFIG = 0x00, 0x20, 0x40, 0x60, 0x80


class Spi:
    """One chip on the host SPI stub, spoken to in the datasheet's bytes."""

    def __init__(self, chip):
        self.chip = chip
        self.cs = machine.Pin("CS", machine.Pin.OUT, value=1)
        self.spi = machine.SPI(0, devices=[(self.cs, chip)])

    def xfer(self, *out):
        rx = bytearray(len(out))
        self.cs(0)
        self.spi.write_readinto(bytes(out), rx)
        self.cs(1)
        return rx

    def read(self, addr, n=1):
        return bytes(self.xfer(0x03, addr, *([0] * n))[2:])

    def reg(self, addr):
        return self.read(addr)[0]

    def write(self, addr, *data):
        self.xfer(0x02, addr, *data)

    def modify(self, addr, mask, data):
        self.xfer(0x05, addr, mask, data)

    def rts(self, buffers):
        self.xfer(0x80 | buffers)

    def status(self):
        return self.xfer(0xA0, 0)[1]

    def rx_status(self):
        return self.xfer(0xB0, 0)[1]

    def mode(self, reqop):
        self.modify(0x0F, 0xE0, reqop)
        return self.reg(0x0E) & 0xE0

    def read_rx(self, instruction, n):
        """READ RX BUFFER: the instruction in one transfer, the bytes in a following one."""
        buf = bytearray(n)
        self.cs(0)
        self.spi.write(bytes((instruction,)))
        self.spi.readinto(buf)
        self.cs(1)
        return bytes(buf)


def std_id(can_id):
    return (can_id >> 3, (can_id & 7) << 5, 0, 0)


def ext_id(can_id):
    return (
        can_id >> 21,
        ((can_id >> 18) & 7) << 5 | 0x08 | ((can_id >> 16) & 3),
        (can_id >> 8) & 0xFF,
        can_id & 0xFF,
    )


def node(bus, osc_hz=8000000, cnf=CNF_8MHZ_500K, rxm0=0x60, mode=NORMAL, int_pin=None):
    """A chip on the bus, configured through SPI: bit timing, RXB0 mode, then the mode."""
    chip = MCP2515Sim(osc_hz=osc_hz, int_pin=int_pin)
    if bus is not None:
        bus.attach(chip)
    spi = Spi(chip)
    spi.write(0x28, *cnf)
    spi.write(0x60, rxm0)
    spi.mode(mode)
    return chip, spi


def load(spi, n, ident, data=b"", rtr=False, dlc=None):
    """LOAD TX BUFFER n (0x40/0x42/0x44) with id bytes, DLC and data."""
    dlc = len(data) if dlc is None else dlc
    spi.xfer(0x40 + 2 * n, *(ident + ((0x40 if rtr else 0) | dlc,) + tuple(data)))


class Recorder:
    """A plain node that acknowledges and writes down what it hears."""

    def __init__(self):
        self.frames = []

    def can_offer(self):
        return None

    def can_sent(self, frame, t_us):
        pass

    def can_receive(self, frame, t_us):
        self.frames.append((frame, t_us))


DATA8 = bytes((0x10, 0x0E, 0xA0, 0x0F, 0xE8, 0x03, 0xC0, 0x12))


class ResetAndModeTest(unittest.TestCase):
    def check_reset_state(self, spi):
        regs = spi.read(0x00, 128)
        for i in range(8):
            self.assertEqual(regs[0x0E + 16 * i], 0x80, "CANSTAT at %02X" % (0x0E + 16 * i))
            self.assertEqual(regs[0x0F + 16 * i], 0x87, "CANCTRL at %02X" % (0x0F + 16 * i))
        for addr in (0x0C, 0x0D, 0x1C, 0x1D, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D):
            self.assertEqual(regs[addr], 0, "%02X" % addr)
        for addr in (0x30, 0x40, 0x50, 0x60, 0x70):
            self.assertEqual(regs[addr], 0, "%02X" % addr)

    def test_power_on_and_reset_instruction(self):
        chip, spi = node(None, mode=CONFIG)
        chip.reset()
        self.check_reset_state(spi)
        spi.write(0x2A, 0x41)
        spi.write(0x2B, 0xFF)
        spi.write(0x30, 0x0B)
        spi.write(0x60, 0x64)
        self.assertEqual(spi.mode(NORMAL), NORMAL)
        spi.xfer(0xC0)
        self.check_reset_state(spi)
        self.assertEqual(chip.mode, sim.MODE_CONFIG)

    def test_every_mode_through_reqop(self):
        chip, spi = node(None, mode=CONFIG)
        for reqop in (NORMAL, SLEEP, LOOPBACK, LISTEN, CONFIG, LISTEN, NORMAL):
            self.assertEqual(spi.mode(reqop), reqop)
            self.assertEqual(spi.reg(0x0F), reqop | 0x07)  # BIT MODIFY kept CLKEN/CLKPRE
            self.assertEqual(spi.reg(0x3E) & 0xE0, reqop)  # CANSTAT mirror
        spi.write(0x0F, CONFIG | 0x04)  # a plain WRITE works as well
        self.assertEqual(spi.reg(0x0E), 0x80)
        self.assertEqual(spi.reg(0x7F), 0x84)

    def test_configuration_only_registers(self):
        chip, spi = node(None, mode=CONFIG)
        spi.write(0x00, 0x12, 0x34, 0x56, 0x78)  # RXF0
        spi.write(0x20, 0xFF, 0xE0)  # RXM0
        spi.write(0x0D, 0x07)  # TXRTSCTRL
        self.assertEqual(spi.read(0x28, 3), bytes(CNF_8MHZ_500K))
        self.assertEqual(spi.mode(NORMAL), NORMAL)
        spi.write(0x2A, 0x03)
        spi.write(0x00, 0)
        spi.write(0x0D, 0)
        self.assertEqual(spi.reg(0x2A), 0x00)
        self.assertEqual(spi.reg(0x0D), 0x07)
        self.assertEqual(spi.read(0x00, 4), bytes(4))  # filters and masks read 0 here
        self.assertEqual(spi.read(0x20, 2), bytes(2))
        self.assertEqual(spi.mode(CONFIG), CONFIG)
        self.assertEqual(spi.read(0x00, 4), b"\x12\x34\x56\x78")
        self.assertEqual(spi.read(0x20, 2), b"\xff\xe0")

    def test_read_increments_across_a_split_transaction(self):
        chip, spi = node(None, mode=CONFIG)
        spi.write(0x2B, 0xA5)
        buf = bytearray(4)
        spi.cs(0)
        spi.spi.write(b"\x03")
        spi.spi.write(b"\x28")
        spi.spi.readinto(buf)
        spi.cs(1)
        self.assertEqual(bytes(buf), bytes(CNF_8MHZ_500K) + b"\xa5")
        spi.cs(0)
        spi.spi.write(b"\x02\x2b")
        spi.spi.write(b"\x5a")
        spi.spi.write(b"\x00")  # CANINTF
        spi.cs(1)
        self.assertEqual(spi.read(0x2B, 2), b"\x5a\x00")

    def test_read_only_registers(self):
        chip, spi = node(None, mode=NORMAL)
        spi.write(0x0E, 0x00)
        spi.write(0x1C, 0x55, 0x66)
        self.assertEqual(spi.reg(0x0E), 0x00)  # normal mode, no interrupt: CANSTAT stays
        self.assertEqual(spi.read(0x1C, 2), b"\x00\x00")
        spi.write(0x2D, 0xFF)  # EFLG: only RX1OVR and RX0OVR are writable
        self.assertEqual(spi.reg(0x2D), 0xC0)


class BitTimingTest(unittest.TestCase):
    def test_bit_rates_from_the_cnf_registers(self):
        chip8, _ = node(None, 8000000, CNF_8MHZ_500K)
        chip16, _ = node(None, 16000000, CNF_16MHZ_500K)
        own16, _ = node(None, 16000000, (0x03, 0xBA, 0x00))  # 75 % sample point
        wrong, _ = node(None, 8000000, CNF_16MHZ_500K)
        self.assertEqual(chip8.bitrate_bps(), 500000)
        self.assertEqual(chip16.bitrate_bps(), 500000)
        self.assertEqual(own16.bitrate_bps(), 500000)
        self.assertEqual(wrong.bitrate_bps(), 250000)
        # 8 MHz / 1 Mbit 00/80/80 from public tables: PS2 = 1 TQ is below the minimum
        bad, _ = node(None, 8000000, (0x80, 0x80, 0x00))
        self.assertEqual(bad.bitrate_bps(), 0)

    def test_8_and_16_mhz_chips_talk_and_a_wrong_setting_does_not(self):
        bus = CanBus()
        a, spi_a = node(bus, 8000000, CNF_8MHZ_500K)
        b, spi_b = node(bus, 16000000, CNF_16MHZ_500K)
        w, spi_w = node(bus, 8000000, CNF_16MHZ_500K)
        load(spi_a, 0, std_id(0x123), b"\x01")
        spi_a.rts(1)
        bus.run_until(1000)
        self.assertEqual(spi_b.reg(0x2C) & 1, 1)
        # it cannot decode a 500 kbit/s frame: a receive error (REC, MERRF), no message
        self.assertEqual(spi_w.reg(0x2C), 0x80)
        self.assertEqual(spi_w.reg(0x1D), 1)
        load(spi_w, 0, std_id(0x124), b"\x02")
        spi_w.rts(1)
        bus.run_until(2000)
        self.assertIsNone(bus.next_event_us())  # it never starts a frame
        self.assertEqual(spi_w.reg(0x30) & 0x08, 0x08)


class TransmitReceiveTest(unittest.TestCase):
    def setUp(self):
        self.bus = CanBus()
        self.a, self.tx = node(self.bus)
        # B: RXB0 through RXM0 with RXF0 (standard 0x351) and RXF1 (extended 0x18FF50E5)
        self.b, self.rx = node(self.bus, 16000000, CNF_16MHZ_500K, rxm0=0x00, mode=CONFIG)
        self.rx.write(0x00, *std_id(0x351))
        self.rx.write(0x04, *ext_id(0x18FF50E5))
        # RXM0/RXM1: the 11 (base) id bits only; with EID bits set, a standard frame would
        # be compared on its first two data bytes as well
        self.rx.write(0x20, 0xFF, 0xE0, 0x00, 0x00)
        self.rx.write(0x24, 0xFF, 0xE0, 0x00, 0x00)
        self.rx.write(0x08, *std_id(0x7FF))  # RXF2..5 never match
        self.rx.write(0x10, *std_id(0x7FF))
        self.rx.write(0x14, *std_id(0x7FF))
        self.rx.write(0x18, *std_id(0x7FF))
        self.assertEqual(self.rx.mode(NORMAL), NORMAL)

    def test_standard_frame(self):
        load(self.tx, 0, std_id(0x351), DATA8)
        self.assertEqual(self.tx.read(0x31, 13), b"\x6a\x20\x00\x00\x08" + DATA8)
        self.tx.rts(1)
        self.assertEqual(self.tx.status(), 0x04)  # TXB0.TXREQ
        end = self.bus.next_event_us()
        self.assertEqual(end, frame_bits(0x351, False, False, DATA8) * 2)
        self.bus.run_until(end - 1)
        self.assertEqual(self.rx.reg(0x2C), 0)
        self.bus.run_until(end)
        self.assertEqual(self.tx.status(), 0x08)  # TX0IF, TXREQ cleared
        self.assertEqual(self.tx.reg(0x30), 0x00)
        self.assertEqual(self.rx.status(), 0x01)  # RX0IF
        self.assertEqual(self.rx.reg(0x60) & 0x0F, 0x00)  # FILHIT0 = RXF0, not remote
        self.assertEqual(self.rx.read_rx(0x90, 13), b"\x6a\x20\x00\x00\x08" + DATA8)
        self.assertEqual(self.rx.reg(0x2C), 0)  # READ RX BUFFER cleared RX0IF at CS high
        self.assertEqual(self.rx.read_rx(0x92, 8), DATA8)  # the data part alone
        self.assertEqual(self.b.t_us, end)

    def test_extended_frame_from_buffer_1(self):
        self.tx.xfer(0x42, *(ext_id(0x18FF50E5) + (0x03, 0xAA, 0xBB, 0xCC)))
        self.assertEqual(self.tx.read(0x41, 4), b"\xc7\xeb\x50\xe5")
        self.tx.rts(2)
        self.bus.run_until(1000)
        self.assertEqual(self.tx.reg(0x2C), 0x08)  # TX1IF
        self.assertEqual(self.rx.reg(0x60) & 0x01, 0x01)  # FILHIT0 = RXF1
        self.assertEqual(self.rx.read(0x61, 8), b"\xc7\xeb\x50\xe5\x03\xaa\xbb\xcc")
        self.assertEqual(self.rx.rx_status(), 0x40 | 0x10 | 0x01)  # RXB0, extended data, RXF1

    def test_remote_frames(self):
        load(self.tx, 0, std_id(0x351), rtr=True, dlc=2)
        self.tx.rts(1)
        self.bus.run_until(1000)
        self.assertEqual(self.rx.read(0x61, 5), b"\x6a\x30\x00\x00\x02")  # SRR set, DLC 2
        self.assertEqual(self.rx.reg(0x60) & 0x08, 0x08)  # RXRTR
        self.assertEqual(self.rx.rx_status(), 0x40 | 0x08)  # standard remote, RXF0
        self.rx.modify(0x2C, 0x01, 0x00)
        load(self.tx, 0, ext_id(0x18FF50E5), rtr=True, dlc=8)
        self.tx.rts(1)
        self.bus.run_until(2000)
        self.assertEqual(self.rx.read(0x61, 5), b"\xc7\xeb\x50\xe5\x48")  # RTR in DLC
        self.assertEqual(self.rx.rx_status(), 0x40 | 0x18 | 0x01)  # extended remote, RXF1

    def test_filters_reject(self):
        load(self.tx, 0, std_id(0x350), b"\x01")
        load(self.tx, 1, std_id(0x18FF50E5 >> 18), b"\x02")  # the extended filter's base id
        load(self.tx, 2, ext_id(0x351 << 18), b"\x03")  # the standard filter's id, extended
        self.tx.rts(7)
        self.bus.run_until(5000)
        self.assertEqual(self.tx.reg(0x2C), 0x1C)  # all three went out...
        self.assertEqual(self.rx.reg(0x2C), 0)  # ...and none passed a filter
        self.assertEqual(self.rx.reg(0x1D), 0)  # they were received fine all the same

    def test_extended_filter_compares_all_29_bits(self):
        self.rx.mode(CONFIG)
        self.rx.write(0x20, 0xFF, 0xE3, 0xFF, 0xFF)  # RXM0: every id bit
        self.rx.mode(NORMAL)
        load(self.tx, 0, ext_id(0x18FF50E4), b"\x01")
        self.tx.rts(1)
        self.bus.run_until(1000)
        self.assertEqual(self.rx.reg(0x2C), 0)
        load(self.tx, 0, ext_id(0x18FF50E5), b"\x02")
        self.tx.rts(1)
        self.bus.run_until(2000)
        self.assertEqual(self.rx.reg(0x2C), 0x01)
        self.assertEqual(self.rx.reg(0x60) & 0x01, 0x01)

    def test_rxb1_filters_and_data_byte_filtering(self):
        self.rx.mode(CONFIG)
        self.rx.write(0x14, 0x40, 0x00, 0x42, 0x00)  # RXF4: standard 0x200, data byte 0 = 0x42
        self.rx.write(0x24, 0xFF, 0xE0, 0xFF, 0x00)  # RXM1: the id and data byte 0
        self.rx.mode(NORMAL)
        load(self.tx, 0, std_id(0x200), b"\x41\x00")
        self.tx.rts(1)
        self.bus.run_until(1000)
        self.assertEqual(self.rx.reg(0x2C), 0)
        load(self.tx, 0, std_id(0x200), b"\x42\x99")
        self.tx.rts(1)
        self.bus.run_until(2000)
        self.assertEqual(self.rx.reg(0x2C), 0x02)  # RX1IF
        self.assertEqual(self.rx.reg(0x70) & 0x07, 4)  # FILHIT = RXF4
        self.assertEqual(self.rx.rx_status(), 0x80 | 0x04)
        load(self.tx, 0, std_id(0x200), b"")  # no data byte to compare: no match
        self.rx.modify(0x2C, 0x02, 0)
        self.tx.rts(1)
        self.bus.run_until(3000)
        self.assertEqual(self.rx.reg(0x2C), 0)

    def test_reserved_receive_modes_take_nothing(self):
        self.rx.modify(0x60, 0x60, 0x20)
        load(self.tx, 0, std_id(0x351), b"\x01")
        self.tx.rts(1)
        self.bus.run_until(1000)
        self.assertEqual(self.rx.reg(0x2C), 0)

    def test_overflow(self):
        self.rx.write(0x2B, 0x20)  # ERRIE
        for i in range(2):
            load(self.tx, 0, std_id(0x351), bytes((i,)))
            self.tx.rts(1)
            self.bus.run_until(1000 * (i + 1))
        self.assertEqual(self.rx.reg(0x2D), 0x40)  # RX0OVR
        self.assertEqual(self.rx.reg(0x2C), 0x21)  # RX0IF and ERRIF
        self.assertEqual(self.rx.reg(0x0E) & 0x0E, 0x02)  # ICOD = error
        self.assertEqual(self.rx.read(0x65, 2), b"\x01\x00")  # the first message stays

    def test_rollover(self):
        self.rx.modify(0x60, 0x04, 0x04)  # BUKT
        self.assertEqual(self.rx.reg(0x60) & 0x06, 0x06)  # BUKT1 copies it
        frames = ((std_id(0x351), 0x10), (ext_id(0x18FF50E5), 0x20), (std_id(0x351), 0x30))
        for i in range(3):
            load(self.tx, 0, frames[i][0], bytes((frames[i][1],)))
            self.tx.rts(1)
            self.bus.run_until(1000 * (i + 1))
            if i == 1:
                self.assertEqual(self.rx.reg(0x70) & 0x07, 1)  # FILHIT: RXF1 (rolled over)
                self.assertEqual(self.rx.rx_status(), 0xC0)  # both full: RXB0 described
                self.rx.read_rx(0x90, 13)
                self.assertEqual(self.rx.rx_status(), 0x80 | 0x10 | 0x07)  # 111: RXF1 rollover
        # third frame: RXB0 was freed, so it lands there; a fourth rolls over into full RXB1
        self.assertEqual(self.rx.read(0x66, 1), b"\x30")
        load(self.tx, 0, std_id(0x351), b"\x40")
        self.tx.rts(1)
        self.bus.run_until(4000)
        self.assertEqual(self.rx.reg(0x2D), 0x80)  # RX1OVR
        self.assertEqual(self.rx.read(0x76, 1), b"\x20")

    def test_tx_priority_within_a_chip(self):
        rec = self.bus.attach(Recorder())
        load(self.tx, 0, std_id(0x100), b"\x00")
        load(self.tx, 1, std_id(0x101), b"\x01")
        load(self.tx, 2, std_id(0x102), b"\x02")
        self.tx.write(0x30, 0x03)  # TXP 3
        self.tx.write(0x40, 0x03)  # TXP 3: the tie goes to the higher buffer
        self.tx.write(0x50, 0x01)
        self.tx.rts(7)
        self.assertEqual(self.tx.status(), 0x54)  # three TXREQ bits
        self.bus.run_until(5000)
        self.assertEqual([f[3] for f, t in rec.frames], [b"\x01", b"\x00", b"\x02"])
        self.assertEqual(self.tx.status(), 0xA8)  # three TXnIF bits

    def test_arbitration_between_chips(self):
        c, spi_c = node(self.bus, 16000000, CNF_16MHZ_500K)
        rec = self.bus.attach(Recorder())
        load(self.tx, 0, std_id(0x200), b"\x01")
        load(spi_c, 0, ext_id(0x100 << 18), b"\x02")
        load(self.rx, 2, std_id(0x100), b"\x03")
        self.tx.rts(1)
        spi_c.rts(1)
        self.rx.rts(4)
        first = self.bus.next_event_us()
        self.bus.run_until(first)
        self.assertEqual(self.tx.reg(0x30), 0x28)  # MLOA, TXREQ still set: it retries
        self.assertEqual(spi_c.reg(0x30), 0x28)
        self.bus.run_until(5000)
        self.assertEqual([f[3] for f, t in rec.frames], [b"\x03", b"\x02", b"\x01"])

    def test_abort(self):
        load(self.tx, 0, std_id(0x100), b"\x00")
        load(self.tx, 1, std_id(0x101), b"\x01")
        self.tx.modify(0x0F, 0x10, 0x10)  # ABAT
        self.tx.rts(3)  # requests while ABAT is set wait
        self.assertIsNone(self.bus.next_event_us())
        self.tx.modify(0x0F, 0x10, 0x10)  # already set: nothing new is aborted
        self.tx.modify(0x0F, 0x10, 0x00)
        self.tx.modify(0x0F, 0x10, 0x10)  # aborts both
        self.assertEqual(self.tx.reg(0x30), 0x40)  # ABTF, TXREQ cleared
        self.assertEqual(self.tx.reg(0x40), 0x40)
        self.tx.modify(0x0F, 0x10, 0x00)
        self.tx.rts(1)
        self.assertEqual(self.tx.reg(0x30), 0x08)  # TXREQ again clears ABTF
        self.tx.modify(0x30, 0x08, 0x00)  # clearing TXREQ aborts the buffer
        self.assertEqual(self.tx.reg(0x30), 0x40)
        self.assertIsNone(self.bus.next_event_us())

    def test_bus_sends_the_frame_after_the_one_on_the_wire(self):
        load(self.tx, 0, std_id(0x351), b"\x01")
        self.tx.rts(1)
        end = self.bus.next_event_us()
        self.tx.modify(0x30, 0x08, 0x00)  # too late: the frame is on the wire
        self.bus.run_until(end)
        self.assertEqual(self.tx.reg(0x2C), 0x04)
        self.assertEqual(self.rx.reg(0x2C), 0x01)


class ModeBehaviourTest(unittest.TestCase):
    def test_loopback(self):
        bus = CanBus()
        rec = bus.attach(Recorder())
        chip, spi = node(bus, rxm0=0x60, mode=LOOPBACK)
        load(spi, 0, std_id(0x351), DATA8)
        spi.rts(1)
        self.assertEqual(spi.reg(0x2C), 0x05)  # TX0IF and RX0IF at once
        self.assertEqual(spi.read(0x61, 13), b"\x6a\x20\x00\x00\x08" + DATA8)
        self.assertIsNone(bus.next_event_us())
        self.assertEqual(rec.frames, [])

    def test_listen_only_receives_without_acknowledging(self):
        bus = CanBus()
        a, spi_a = node(bus)
        listener, spi_l = node(bus, mode=LISTEN)
        load(spi_a, 0, std_id(0x351), b"\x01")
        spi_a.rts(1)
        load(spi_l, 0, std_id(0x100), b"\x02")
        spi_l.rts(1)  # listen-only never sends
        bus.run_until(20000)
        # nobody acknowledges: ACK errors up to error-passive, where an ACK error no longer counts
        self.assertEqual(spi_a.reg(0x1C), 128)
        self.assertEqual(spi_a.reg(0x2D), 0x15)  # TXEP, TXWAR, EWARN
        self.assertEqual(spi_a.reg(0x30) & 0x18, 0x18)  # TXERR, TXREQ: still retrying
        self.assertEqual(spi_l.reg(0x2C), 0)
        self.assertGreater(bus.errors, 16)
        node(bus)  # a node that acknowledges joins
        bus.run_until(30000)
        self.assertEqual(spi_l.reg(0x2C), 0x01)
        self.assertEqual(spi_l.read(0x1C, 2), b"\x00\x00")  # counters frozen
        self.assertEqual(spi_a.reg(0x1C), 127)

    def test_one_shot(self):
        bus = CanBus()
        a, spi = node(bus)
        spi.modify(0x0F, 0x08, 0x08)  # OSM
        load(spi, 0, std_id(0x351), b"\x01")
        spi.rts(1)
        bus.run_until(20000)
        self.assertEqual(bus.errors, 1)  # alone on the bus: one ACK error, no retry
        self.assertEqual(spi.reg(0x30), 0x10)  # TXERR, TXREQ cleared
        self.assertEqual(spi.reg(0x1C), 8)

    def test_sleep_and_wake_up(self):
        bus = CanBus()
        a, spi_a = node(bus)
        b, spi_b = node(bus)
        pin = machine.Pin("INT", machine.Pin.IN, machine.Pin.PULL_UP)
        c, spi_c = node(bus, mode=SLEEP, int_pin=pin)
        bus.attach(Recorder())  # acknowledges
        spi_b.mode(SLEEP)
        spi_c.write(0x2B, 0x40)  # WAKIE
        self.assertEqual(pin.value(), 1)
        load(spi_a, 0, std_id(0x351), b"\x01")
        spi_a.rts(1)
        bus.run_until(1000)
        self.assertEqual(spi_b.reg(0x0E) & 0xE0, SLEEP)  # no WAKIE: sleeps on
        self.assertEqual(spi_c.reg(0x0E), LISTEN | 0x04)  # woken into listen-only, ICOD = WAK
        self.assertEqual(spi_c.reg(0x2C), 0x40)  # WAKIF; the waking frame itself is lost
        self.assertEqual(pin.value(), 0)
        self.assertEqual(spi_b.reg(0x2C), 0)

    def test_int_pin(self):
        bus = CanBus()
        a, spi_a = node(bus)
        edges = []
        pin = machine.Pin("INT", machine.Pin.IN, machine.Pin.PULL_UP)
        pin.irq(lambda p: edges.append(p.value()), machine.Pin.IRQ_FALLING, hard=True)
        b, spi_b = node(bus, 16000000, CNF_16MHZ_500K, int_pin=pin)
        self.assertEqual(pin.value(), 1)
        spi_b.write(0x2B, 0x02)  # RX1IE only
        load(spi_a, 0, std_id(0x351), b"\x01")
        spi_a.rts(1)
        bus.run_until(1000)
        self.assertEqual(spi_b.reg(0x2C), 0x01)  # RX0IF set, but not enabled
        self.assertEqual(pin.value(), 1)
        spi_b.modify(0x2B, 0x01, 0x01)  # RX0IE
        self.assertEqual(pin.value(), 0)
        self.assertEqual(edges, [0])
        self.assertEqual(spi_b.reg(0x0E) & 0x0E, 0x0C)  # ICOD = RXB0
        spi_b.read_rx(0x90, 13)
        self.assertEqual(pin.value(), 1)


class StatusAndBitModifyTest(unittest.TestCase):
    def test_read_status_bits(self):
        chip, spi = node(None)
        # bit 7..0: TX2IF TXB2.TXREQ TX1IF TXB1.TXREQ TX0IF TXB0.TXREQ RX1IF RX0IF
        expected = {0x01: 0x01, 0x02: 0x02, 0x04: 0x08, 0x08: 0x20, 0x10: 0x80}
        for flag in expected:
            spi.write(0x2C, flag)
            self.assertEqual(spi.status(), expected[flag])
            self.assertEqual(bytes(spi.xfer(0xA0, 0, 0, 0)[1:]), bytes((expected[flag],)) * 3)
        spi.write(0x2C, 0)
        for n, bit in ((0, 0x04), (1, 0x10), (2, 0x40)):
            spi.write(0x30 + 16 * n, 0x08)
            self.assertEqual(spi.status(), bit)
            spi.write(0x30 + 16 * n, 0x00)

    def test_rx_status_bits(self):
        bus = CanBus()
        a, spi_a = node(bus)
        b, spi_b = node(bus)
        self.assertEqual(spi_b.rx_status(), 0x00)
        load(spi_a, 0, ext_id(0x12345), b"")
        spi_a.rts(1)
        bus.run_until(1000)
        self.assertEqual(spi_b.rx_status(), 0x40 | 0x10)  # RXB0, extended data, RXF0
        self.assertEqual(bytes(spi_b.xfer(0xB0, 0, 0)[1:]), b"\x50\x50")

    def test_bit_modify_only_on_bit_modifiable_registers(self):
        chip, spi = node(None, mode=CONFIG)
        spi.write(0x2B, 0xF0)
        spi.modify(0x2B, 0x0F, 0xAB)  # CANINTE: bit-modifiable
        self.assertEqual(spi.reg(0x2B), 0xFB)
        spi.write(0x31, 0xF0)
        spi.modify(0x31, 0x0F, 0xAB)  # TXB0SIDH is not: the mask is forced to FF
        self.assertEqual(spi.reg(0x31), 0xAB)
        spi.write(0x00, 0xF0)
        spi.modify(0x00, 0x0F, 0x0C)  # a filter is not either
        self.assertEqual(spi.reg(0x00), 0x0C)
        spi.modify(0x0E, 0xFF, 0x00)  # CANSTAT and TEC are read-only
        spi.modify(0x1C, 0xFF, 0x55)
        self.assertEqual(spi.reg(0x0E), 0x80)
        self.assertEqual(spi.reg(0x1C), 0x00)
        spi.write(0x29, 0x90)
        spi.modify(0x29, 0x07, 0x02)  # CNF2 is
        self.assertEqual(spi.reg(0x29), 0x92)


class ErrorCounterTest(unittest.TestCase):
    def test_errors_to_passive_bus_off_and_recovery(self):
        bus = CanBus()
        a, spi_a = node(bus)
        b, spi_b = node(bus, 16000000, CNF_16MHZ_500K)
        spi_a.write(0x2B, 0x20)  # ERRIE
        load(spi_a, 0, std_id(0x351), DATA8)
        spi_a.rts(1)
        bus.inject_errors(a, 32)
        attempt = (frame_bits(0x351, False, False, DATA8) + 6) * 2
        bus.run_until(11 * attempt)
        self.assertEqual(spi_a.read(0x1C, 2), b"\x58\x00")  # TEC 88
        self.assertEqual(spi_a.reg(0x2D), 0x00)
        self.assertEqual(spi_a.reg(0x2C), 0x80)  # MERRF
        self.assertEqual(spi_a.reg(0x30), 0x18)  # TXERR, TXREQ: retrying
        bus.run_until(12 * attempt)
        self.assertEqual(spi_a.reg(0x1C), 96)
        self.assertEqual(spi_a.reg(0x2D), 0x05)  # TXWAR, EWARN
        self.assertEqual(spi_a.reg(0x2C), 0xA0)  # ERRIF on the change
        bus.run_until(16 * attempt)
        self.assertEqual(spi_a.reg(0x1C), 128)
        self.assertEqual(spi_a.reg(0x2D), 0x15)  # error-passive
        self.assertEqual(spi_b.reg(0x1D), 16)  # the receiver counted 16 error frames
        bus.run_until(31 * attempt)
        self.assertEqual(spi_a.reg(0x1C), 248)
        self.assertFalse(a.is_bus_off())
        bus.run_until(32 * attempt)
        t_off = 32 * attempt
        self.assertEqual(spi_a.reg(0x1C), 255)  # the register stops at 255
        self.assertEqual(a.tec, 256)
        self.assertEqual(spi_a.reg(0x2D), 0x35)  # TXBO
        self.assertTrue(a.is_bus_off())
        self.assertIsNone(bus.next_event_us())  # bus-off: it does not offer its frame
        # 128 x 11 recessive bits = 2816 us, counted from the error delimiter (11 bits,
        # 22 us, before the error frame ended)
        bus.run_until(t_off + 2816 - 22 - 1)
        self.assertEqual(spi_a.reg(0x2D) & 0x20, 0x20)
        bus.run_until(t_off + 2816 - 22)
        self.assertEqual(spi_a.reg(0x2D), 0x00)
        self.assertEqual(spi_a.read(0x1C, 2), b"\x00\x00")
        self.assertFalse(a.is_bus_off())
        end = bus.next_event_us()  # the pending frame goes out again
        self.assertEqual(end, t_off + 2794 + frame_bits(0x351, False, False, DATA8) * 2)
        bus.run_until(end)
        self.assertEqual(spi_b.reg(0x2C), 0x81)  # the message, and MERRF from the errors
        self.assertEqual(spi_b.reg(0x1D), 31)  # 32 error frames seen, a good frame takes one off

    def test_frames_count_one_occurrence_each_during_recovery(self):
        bus = CanBus()
        a, spi_a = node(bus)
        b, spi_b = node(bus)
        bus.attach(Recorder())
        load(spi_a, 0, std_id(0x351), b"\x01")
        spi_a.rts(1)
        bus.inject_errors(a, 32)
        t_off = 32 * (frame_bits(0x351, False, False, b"\x01") + 6) * 2
        bus.run_until(t_off)
        self.assertTrue(a.is_bus_off())
        # B sends three frames back to back: each ends with 11 recessive bits (ACK
        # delimiter, EOF, intermission), one occurrence however long the frame is
        t3 = t_off
        for i in range(3):
            load(spi_b, i, std_id(0x100 + i), bytes(8))
            t3 += frame_bits(0x100 + i, False, False, bytes(8)) * 2
        spi_b.rts(7)
        bus.run_until(t3)
        self.assertEqual(spi_b.reg(0x2C) & 0x1C, 0x1C)
        self.assertEqual(spi_a.reg(0x2C) & 0x03, 0)  # a bus-off chip receives nothing
        # the error frame's delimiter and intermission, B's three frames, then 124 x 22 us
        # of idle bus make the 128 occurrences
        bus.run_until(t3 + 124 * 22 - 1)
        self.assertTrue(a.is_bus_off())
        bus.run_until(t3 + 124 * 22)
        self.assertFalse(a.is_bus_off())
        self.assertEqual(spi_a.reg(0x2D), 0x00)

    def test_configuration_mode_clears_counters(self):
        bus = CanBus()
        a, spi_a = node(bus)
        load(spi_a, 0, std_id(0x351), b"\x01")
        spi_a.rts(1)
        bus.run_until(20000)  # alone: ACK errors to error-passive
        self.assertEqual(spi_a.reg(0x1C), 128)
        spi_a.mode(CONFIG)
        self.assertEqual(spi_a.read(0x1C, 2), b"\x00\x00")
        self.assertEqual(spi_a.reg(0x2D), 0x00)


class AllocationTest(unittest.TestCase):
    def test_spi_path_allocates_nothing(self):
        bus = CanBus()
        a, spi_a = node(bus)
        b, spi_b = node(bus)
        load(spi_a, 0, std_id(0x351), DATA8)
        spi_a.rts(1)
        bus.run_until(1000)
        # what a firmware tick does: status, read a buffer, clear flags, load and send
        status = bytearray((0xA0, 0))
        read = bytearray((0x03, 0x61) + (0,) * 13)
        rxbuf = bytearray((0x90,) + (0,) * 13)
        clear = bytearray((0x05, 0x2C, 0x01, 0x00))
        load_tx = bytearray((0x40, 0x6A, 0x20, 0, 0, 8) + tuple(DATA8))
        rts = bytearray((0x81,))
        rx_instruction = rxbuf[:1]
        rx_clocks = rxbuf[1:]
        got_status = bytearray(2)
        got_read = bytearray(15)
        got_rx = bytearray(13)
        micropython.heap_lock()
        try:
            b.spi_transfer(status, got_status)
            b.spi_end()
            b.spi_transfer(read, got_read)
            b.spi_end()
            b.spi_transfer(rx_instruction, None)  # the instruction, then the bytes
            b.spi_transfer(rx_clocks, got_rx)
            b.spi_end()
            b.spi_transfer(clear, None)
            b.spi_end()
            b.spi_transfer(load_tx, None)
            b.spi_end()
            b.spi_transfer(rts, None)
            b.spi_end()
        finally:
            micropython.heap_unlock()
        self.assertEqual(got_status[1], 0x01)
        self.assertEqual(bytes(got_read[2:]), b"\x6a\x20\x00\x00\x08" + DATA8)
        self.assertEqual(bytes(got_rx), b"\x6a\x20\x00\x00\x08" + DATA8)
        self.assertEqual(spi_b.status(), 0x04)  # RX0IF cleared, TXB0.TXREQ set


class ResetHoldTest(unittest.TestCase):
    """The oscillator start-up after a reset (reset_hold_us): the chip ignores SPI meanwhile
    and SO is not driven (the board's pull-up reads 0xFF)."""

    def test_reset_instruction_holds_the_chip_for_reset_hold_us(self):
        bus = CanBus()
        chip, spi = node(bus, mode=NORMAL)
        chip.reset_hold_us = 2000
        self.assertEqual(spi.reg(0x0E), 0x00)  # no hold before a reset
        bus.run_until(1000)
        spi.xfer(0xC0)
        self.assertEqual(chip.mode, sim.MODE_CONFIG)
        bus.run_until(2999)
        self.assertEqual(spi.reg(0x0E), 0xFF)
        self.assertEqual(spi.status(), 0xFF)
        spi.write(0x2B, 0x23)  # ignored
        bus.run_until(3000)
        self.assertEqual(spi.reg(0x0E), 0x80)
        self.assertEqual(spi.reg(0x2B), 0x00)  # the write during the hold did not take
        spi.write(0x2B, 0x23)
        self.assertEqual(spi.reg(0x2B), 0x23)

    def test_power_on_reset_holds_too_and_no_hold_by_default(self):
        chip, spi = node(None, mode=CONFIG)
        self.assertEqual(chip.reset_hold_us, 0)
        spi.xfer(0xC0)
        self.assertEqual(spi.reg(0x0E), 0x80)  # at once
        chip.reset_hold_us = 500
        chip.t_us = 100
        chip.reset()
        chip.t_us = 599
        self.assertEqual(spi.reg(0x0E), 0xFF)
        chip.t_us = 600
        self.assertEqual(spi.reg(0x0E), 0x80)


class GlitchTest(unittest.TestCase):
    """The one-shot SPI faults tests inject: glitch_write() corrupts what the chip stores,
    glitch_read() what the SPI master reads; each fires once."""

    def test_glitch_write_flips_one_stored_byte_once(self):
        chip, spi = node(None, mode=CONFIG)
        chip.glitch_write(0x29, 0x81)
        spi.write(0x28, 0x82, 0x90, 0x00, 0x23)  # CNF3, CNF2, CNF1, CANINTE in one WRITE
        self.assertEqual(spi.read(0x28, 4), b"\x82\x11\x00\x23")  # only CNF2, as stored
        spi.write(0x29, 0x90)
        self.assertEqual(spi.reg(0x29), 0x90)  # once
        chip.glitch_write(0x2B, 0x02)
        spi.modify(0x2B, 0x20, 0x00)  # BIT MODIFY: the value it stores is flipped
        self.assertEqual(spi.reg(0x2B), 0x01)
        chip.glitch_write(0x0F, 0x08)
        self.assertEqual(spi.mode(NORMAL), NORMAL)  # CANCTRL: OSM set besides REQOP
        self.assertEqual(spi.reg(0x0F), 0x0F)
        self.assertEqual(chip.mode, sim.MODE_NORMAL)

    def test_glitch_write_survives_a_reset(self):
        # a fault on the wire, not chip state: armed before the RESET that begins a setup
        chip, spi = node(None, mode=CONFIG)
        chip.glitch_write(0x20, 0xFF)
        spi.xfer(0xC0)
        spi.write(0x20, 0xFF, 0xE0)
        self.assertEqual(spi.read(0x20, 2), b"\x00\xe0")

    def test_glitch_read_flips_one_answer_byte_once(self):
        chip, spi = node(None, mode=CONFIG)
        self.assertEqual(spi.status(), 0x00)
        chip.glitch_read(0xA0, 1, 0x01)
        self.assertEqual(spi.reg(0x0E), 0x80)  # another instruction: not this one
        self.assertEqual(spi.status(), 0x01)  # RX0IF appears set...
        self.assertEqual(chip.regs[0x2C], 0x00)  # ...but the chip is unchanged
        self.assertEqual(spi.status(), 0x00)  # once
        spi.write(0x2B, 0x23)
        chip.glitch_read(0x03, 2, 0x80)
        self.assertEqual(spi.reg(0x2B), 0xA3)
        self.assertEqual(spi.reg(0x2B), 0x23)
        chip.glitch_read(0xB0, 1, 0x40)
        self.assertEqual(spi.rx_status(), 0x40)
        self.assertEqual(spi.rx_status(), 0x00)
