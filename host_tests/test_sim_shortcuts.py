"""The simulator's shortcuts for speed give what the long way gives: the MCP2515's whole
transfers against the same bytes one transfer each (its instruction decoder), the RS485
wire's arrival by slices against its byte loop, the AFE's noisy cells by map() against
its index loop, and the cache of compiled modules against a fresh compile."""

import unittest

from support import ROOT, cpython_only
from test_mcp2515_sim import Recorder

from boards.host import machine
from boards.host.world.bus import uart
from boards.host.world.bus.canbus import CanBus
from boards.host.world.bus.uart import RX_RING, Rs485Wire
from boards.host.world.chips import bq76952 as bq_sim
from boards.host.world.chips.bq76952 import BQ76952Sim
from boards.host.world.chips.mcp2515 import MCP2515Sim
from boards.host.world.pack_model import PackModel, Rng

CNF_8MHZ_500K = (0x02, 0x28, 0x82, 0x90, 0x00)  # WRITE from CNF3


class Bytewise:
    """Hands a chip each transfer one byte at a time, chip select held low: the chip's
    instruction decoder sees every byte (no whole-transfer shortcut applies)."""

    def __init__(self, chip):
        self.chip = chip

    def spi_transfer(self, wbuf, rbuf):
        for i in range(len(wbuf)):
            r = bytearray(1)
            self.chip.spi_transfer(bytes((wbuf[i],)), r)
            if rbuf is not None:
                rbuf[i] = r[0]

    def spi_end(self):
        self.chip.spi_end()


def chip_on_bus(bytewise):
    bus = CanBus()
    chip = bus.attach(MCP2515Sim())
    acker = bus.attach(Recorder())  # acknowledges, and writes down (frame, t_us)
    cs = machine.Pin("CS", machine.Pin.OUT, value=1)
    spi = machine.SPI(0, devices=[(cs, Bytewise(chip) if bytewise else chip)])

    def xfer(*out):
        rx = bytearray(len(out))
        cs(0)
        spi.write_readinto(bytes(out), rx)
        cs(1)
        return bytes(rx)

    xfer(*CNF_8MHZ_500K)
    xfer(0x05, 0x0F, 0xE0, 0x00)  # normal mode
    return bus, chip, acker, xfer


class Mcp2515WholeTransfersTest(unittest.TestCase):
    def script(self, bytewise):
        """Frames loaded, requested, sent, aborted and read back: every answer, the
        register file after each step and what the bus carried."""
        bus, chip, acker, xfer = chip_on_bus(bytewise)
        seen = []
        for k in range(6):
            b = k % 3
            # LOAD TX BUFFER b from SIDH: id 0x351 + k, DLC 8 (with RTR and DLC bits the
            # chip does not keep: 0xF8 -> 0x48), SIDL with unimplemented bits set
            seen.append(xfer(0x40 + 2 * b, 0x6A, 0x3F, 0, 0, 0xF8, k, 1, 2, 3, 4, 5, 6, 7))
            seen.append(xfer(0xA0, 0, 0))  # READ STATUS, answered twice
            seen.append(xfer(0x80 | (1 << b)))  # RTS of that buffer
            seen.append(xfer(0xA0, 0))
            if k == 4:
                seen.append(xfer(0x05, 0x30 + 16 * b, 0x08, 0x00))  # abort by TXREQ
            seen.append(xfer(0x03, 0x30, 0, 0, 0, 0, 0, 0))
            seen.append(bytes(chip.regs))
            bus.run_until(bus.now_us + 1000)
            seen.append(xfer(0x05, 0x2C, 0xFF, 0x00))  # clear CANINTF
            seen.append(bytes(chip.regs))
        xfer(0x84 | 0x01)  # an RTS of two buffers: the decoder in both cases
        seen.append(bytes(chip.regs))
        return seen, acker.frames

    def test_whole_transfers_match_the_bytes_one_at_a_time(self):
        fast, fast_frames = self.script(False)
        slow, slow_frames = self.script(True)
        self.assertEqual(len(fast_frames), 5)  # the fifth was aborted before the bus ran
        self.assertEqual(fast_frames, slow_frames)
        self.assertEqual(len(fast), len(slow))
        for i in range(len(fast)):
            self.assertEqual(fast[i], slow[i], "step %d" % i)


class Rs485ArrivalTest(unittest.TestCase):
    def ring(self, slices, start_at, baud_b):
        saved = uart._SLICES
        uart._SLICES = slices
        try:
            wire = Rs485Wire(machine_clock())
            a = wire.port(baud=9600)
            b = wire.port(baud=baud_b)
            b._rd = b._wr = start_at  # where the ring's write index stands
            b._known = start_at
            a.write(bytes(range(40, 140)))
            return list(b._end), bytes(b._byte), [p is a for p in b._from], b._wr, b.wake_us
        finally:
            uart._SLICES = saved

    def test_slices_and_the_byte_loop_fill_the_ring_alike(self):
        for start_at in (0, 5, RX_RING - 30):  # the last one wraps: the loop on both
            for baud_b in (9600, 115200):  # the second one garbles
                fast = self.ring(True, start_at, baud_b)
                slow = self.ring(False, start_at, baud_b)
                self.assertEqual(fast, slow)
                self.assertEqual(fast[3], start_at + 100)
                at = start_at % RX_RING
                want = bytes(range(40, 140)) if baud_b == 9600 else b"\xff" * 100
                if at + 100 <= RX_RING:
                    self.assertEqual(fast[1][at : at + 100], want)
                    self.assertEqual(fast[0][at + 99] - fast[0][at], 99 * 10 * 1000000 // 9600)


def machine_clock():
    from boards.host.clock import SimClock

    clock = SimClock()
    clock.set(1000)
    return clock


class AfeCellsTest(unittest.TestCase):
    def registers(self, fast):
        saved = bq_sim.add
        if not fast:
            bq_sim.add = None
        try:
            model = PackModel(seed=3, soc_pct=60, cell_spread_mv=20)
            chip = BQ76952Sim(model, Rng(7))
            out = []
            for step in range(40):
                model.advance(100 * (step + 1))
                if step == 10:
                    chip.cell_override[4] = 3650
                chip.refresh()
                out.append(bytes(chip.regs[0x14:0x34]))
            return out
        finally:
            bq_sim.add = saved

    def test_cells_with_their_noise_by_map_match_the_index_loop(self):
        fast = self.registers(True)
        slow = self.registers(False)
        self.assertEqual(fast, slow)
        self.assertEqual(len(set(fast)), len(fast))  # the noise moves every reading
        self.assertEqual(fast[20][8] | fast[20][9] << 8, 3650)  # cell 5 overridden


@cpython_only("CPython's bytecode cache")
class BytecodeCacheTest(unittest.TestCase):
    def test_the_tools_cache_bytecode_under_build_whatever_the_environment_says(self):
        import sys

        # boot-only modules are imported again at each use (bms/lazy.py): without the
        # cache, CPython compiles them every time (PYTHONDONTWRITEBYTECODE machines)
        self.assertFalse(sys.dont_write_bytecode)
        self.assertEqual(sys.pycache_prefix, ROOT + "/build/pycache")
