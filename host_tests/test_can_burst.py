"""Receiving a CAN burst while the loop is busy (drivers/mcp2515.py: the receive ring and
the INT pin's handler; issue 16 item 3).

The model of time inside the loop's busy stretch: the bus (boards/host/world/bus/canbus.py)
delivers the burst at wire speed (500 kbit/s); the firmware is busy for the RP2040's
worst tick or RS485 reply (bench/results.json, 125 MHz), during which MicroPython's
scheduler gets an opportunity to run the soft INT handler every gap_us
(machine.sim_run_scheduled()); the loop reads what was received when the stretch ends.
On the chip the VM's opportunities come between bytecodes, microseconds apart, except
inside a C call: the longest is the front end's measurement block read (58 bytes at
400 kHz, about 1.4 ms), which the last case shows is still a hole.
"""

import unittest

import micropython

from boards.host import machine
from boards.host.world.bus.can_port import CanPort
from boards.host.world.bus.canbus import CanBus
from boards.host.world.chips.mcp2515 import MCP2515Sim
from drivers.mcp2515 import MCP2515, RING_FRAMES, CanFrame
from inverter_link import FILTERS_STD, PACK_RANGE

TICK_WORST_US = 318296 // 125  # rp2040_tick_worst_cycles
RS485_REPLY_WORST_US = 494767 // 125  # rp2040_rs485_reply_worst_cycles
# the shortest frame of the burst (0x305, 8 data bytes, 11-bit id) with its intermission
# lasts about 0.23 ms: two frames' time, what the chip's two buffers hold, is above this
GAP_OK_US = 440
AFE_READ_US = 1400  # the front end's measurement block read: no opportunity inside
SLAVES = 31
BURST = SLAVES + 2  # and the inverter's 0x305 and 0x307


def rig(ring, irq=True, hard=False):
    """A master's controller on a bus with the burst queued: its 31 slaves' pack-link
    frames (a node each, all ready at once) and the inverter's two heartbeats; and a
    listener that hears the bus's order. hard: the INT handler as a hard interrupt
    (boards/rp2040), else a soft one."""
    bus = CanBus()
    pin = machine.Pin("INT_BURST", machine.Pin.IN, machine.Pin.PULL_UP)
    chip = MCP2515Sim(8000000, pin)
    bus.attach(chip)
    cs = machine.Pin("CS_BURST", machine.Pin.OUT, value=1)
    spi = machine.SPI(0)
    spi.attach(cs, chip)
    can = MCP2515(spi, cs, 8000000, pin, None, ring)
    assert can.init(FILTERS_STD)
    if irq:
        pin.irq(can.irq_handler, machine.Pin.IRQ_FALLING, hard=hard)
    listener = CanPort()
    bus.attach(listener)
    return bus, can, chip, listener


def queue_burst(bus, inverter=True):
    """The slaves' frames go to RXB0 (and its rollover into RXB1), the inverter's to
    RXB1's own filters."""
    for a in range(2, 2 + SLAVES):
        p = CanPort()
        bus.attach(p)
        p.send(PACK_RANGE | a, bytes((a,)) * 8, True)
    if inverter:
        inv = CanPort()
        bus.attach(inv)
        inv.send(0x305, bytes(8), False)
        inv.send(0x307, b"VIC" + bytes(5), False)


def streams(ids):
    """The pack link's frames and the inverter's, each in its order: which of two frames
    in different RX buffers came first, the chip does not tell."""
    return [i for i in ids if i > 0x7FF], [i for i in ids if i <= 0x7FF]


def busy(bus, t_us, length_us, gap_us):
    """The loop busy from t_us for length_us, the scheduler's opportunities every gap_us
    (none when gap_us is 0); returns when the stretch ends."""
    end = t_us + length_us
    step = gap_us if gap_us else length_us
    while t_us < end:
        t_us = t_us + step if t_us + step < end else end
        bus.run_until(t_us)
        if gap_us:
            machine.sim_run_scheduled()
    return end


def run(bus, can, length_us, gap_us, until_us=20000):
    """Busy stretches, each followed by the loop's poll (what InverterLink._receive
    does: recv() while a frame waits); returns the ids read, in order."""
    f = CanFrame()
    got = []
    t = 0
    while t < until_us:
        t = busy(bus, t, length_us, gap_us)
        while can.attention() and can.recv(f):
            got.append(f.can_id)
    can.check()  # the chip's overruns (EFLG RX0OVR/RX1OVR)
    return got


def heard(listener):
    return [fr[0] for fr in listener.take()]


class BurstTest(unittest.TestCase):
    def setUp(self):
        machine.sim_run_scheduled()  # nothing left over from another test

    def test_burst_during_rs485_replies_is_received_whole(self):
        bus, can, _, listener = rig(RING_FRAMES)
        queue_burst(bus)
        got = run(bus, can, RS485_REPLY_WORST_US, GAP_OK_US)
        order = heard(listener)
        self.assertEqual(len(order), BURST)
        self.assertEqual(streams(got), streams(order))  # every frame, each stream in order
        self.assertEqual((can.received, can.rx_overflows, can.rx_ring_dropped), (BURST, 0, 0))
        self.assertEqual(can.rx_garbled, 0)

    def test_burst_during_worst_ticks_is_received_whole(self):
        bus, can, _, listener = rig(RING_FRAMES)
        queue_burst(bus)
        got = run(bus, can, TICK_WORST_US, GAP_OK_US)
        self.assertEqual(streams(got), streams(heard(listener)))
        self.assertEqual((can.received, can.rx_overflows, can.rx_ring_dropped), (BURST, 0, 0))

    def test_whole_burst_waits_in_the_ring_through_one_long_stretch(self):
        # the loop does not read at all for 10 ms: the ring holds the whole burst
        bus, can, _, listener = rig(RING_FRAMES)
        queue_burst(bus)
        busy(bus, 0, 10000, GAP_OK_US)
        self.assertEqual(can.pending(), BURST)
        got = run(bus, can, 100, GAP_OK_US, 100)
        self.assertEqual(streams(got), streams(heard(listener)))
        self.assertEqual((can.rx_overflows, can.rx_ring_dropped, can.pending()), (0, 0, 0))

    def test_old_polling_loses_the_burst_and_counts_it(self):
        # no ring, no handler: the loop reads the chip between stretches only
        bus, can, _, listener = rig(0, irq=False)
        queue_burst(bus)
        got = run(bus, can, RS485_REPLY_WORST_US, 0)
        order = heard(listener)
        self.assertEqual(len(order), BURST)
        # two frames per stretch survive (RXB0 and its rollover into RXB1), the rest
        # arrive while both buffers are full
        self.assertEqual(len(got), 6)
        packs, inverter = streams(got)
        self.assertEqual(packs, [i for i in order if i in packs])  # what came, in order
        self.assertEqual(can.rx_overflows, 1)  # one episode, seen by check()

    def test_a_gap_of_the_front_end_read_still_loses(self):
        # the limit of a soft interrupt: no opportunity inside a 1.4 ms I2C transfer
        bus, can, _, listener = rig(RING_FRAMES)
        queue_burst(bus)
        got = run(bus, can, RS485_REPLY_WORST_US, AFE_READ_US)
        self.assertEqual(len(heard(listener)), BURST)
        # (8 before the drain cleared the overflow: INT then stayed low, and no edge
        # brought the handler back until check())
        self.assertEqual(len(got), 14)
        self.assertEqual(can.rx_overflows, 1)
        self.assertEqual(can.rx_ring_dropped, 0)


def i2c_us(n):
    """An I2C read of n bytes at 400 kHz, the address bytes and repeated start included
    (9 bits a byte, 2.5 us a bit)."""
    return ((n + 3) * 9 + 3) * 5 // 2


class FrontEnd:
    """The BQ76952 on its I2C bus, as the CAN bus sees it: each read takes its time on
    the wire, during which the CAN bus runs on (frames arrive, INT falls, a hard handler
    runs inside the read); notes what the ring held at each read's end."""

    def __init__(self, bus, can):
        self.bus = bus
        self.can = can
        self.t_us = 0
        self.seen = []

    def i2c_read(self, reg, buf):
        self.t_us += i2c_us(len(buf))
        self.bus.run_until(self.t_us)
        self.seen.append(self.can.pending())
        for i in range(len(buf)):
            buf[i] = 0


def ticks(bus, can, afe_reads, n=6):
    """n ticks of the loop, each the front end's measurement reads (afe_reads: bytes per
    transfer on the wire; the block reads are 116 and 40),
    then the loop's poll of what was received; returns the ids read, in order."""
    i2c = machine.I2C(0, devices={0x08: None})
    afe = FrontEnd(bus, can)
    i2c.devices[0x08] = afe
    buf = {n: bytearray(n) for n in afe_reads}
    f = CanFrame()
    got = []
    for _ in range(n):
        for k in afe_reads:
            i2c.readfrom_mem_into(0x08, 0x02, buf[k])  # a soft handler runs at its start
        machine.sim_run_scheduled()  # the VM's opportunity after the last read
        while can.attention() and can.recv(f):
            got.append(f.can_id)
    can.check()
    return got, afe


def broken_spi(exc):
    """A controller with two frames waiting behind an SPI that raises exc: (bus, the
    driver, its working SPI)."""
    bus, can, _, _ = rig(RING_FRAMES, irq=False)
    queue_burst(bus, False)
    bus.run_until(600)
    spi = can.spi

    class Broken:
        def write_readinto(self, w, r):
            raise exc

    can.spi = Broken()
    return bus, can, spi


class HardInterruptTest(unittest.TestCase):
    """The INT handler as a hard interrupt (boards/rp2040): it runs at the edge, inside the
    front end's I2C reads, where a soft one waits for the read's end."""

    def setUp(self):
        machine.sim_run_scheduled()

    def test_a_soft_handler_loses_the_burst_during_the_block_reads(self):
        bus, can, _, listener = rig(RING_FRAMES)
        queue_burst(bus)
        got, afe = ticks(bus, can, (116, 40))
        self.assertEqual(len(heard(listener)), BURST)
        self.assertLess(len(got), BURST)
        self.assertGreaterEqual(can.rx_overflows, 1)
        self.assertEqual(afe.seen[0], 0)  # nothing drained inside the first read

    def test_a_hard_handler_receives_it_whole_inside_the_reads(self):
        bus, can, _, listener = rig(RING_FRAMES, hard=True)
        queue_burst(bus)
        got, afe = ticks(bus, can, (116, 40))
        self.assertEqual(streams(got), streams(heard(listener)))
        self.assertEqual((can.received, can.rx_overflows, can.rx_ring_dropped), (BURST, 0, 0))
        self.assertGreater(afe.seen[0], 2)  # drained inside the first read: more than 2
        self.assertEqual(can.irq_errors, 0)

    def test_a_hard_handler_inside_our_transaction_waits_for_its_end(self):
        bus, can, chip, _ = rig(RING_FRAMES, hard=True)
        queue_burst(bus, False)
        can.busy = True  # the loop inside a transaction: the handler only notes it
        bus.run_until(600)
        self.assertTrue(can.irq_pending)
        self.assertEqual(can.pending(), 0)
        self.assertEqual(machine.sim_run_scheduled(), 0)  # nothing queued: it ran at once
        can.release()
        self.assertEqual((can.pending(), can.irq_pending), (2, False))

    def test_the_hard_handler_allocates_nothing(self):
        # a port locks the heap around a hard handler: so does this one's wrapper (under
        # MicroPython an allocation raises MemoryError, caught and counted in irq_errors)
        bus, can, _, listener = rig(8, irq=False)
        can.drain()  # warm-up (see AllocationTest)
        handler = can.irq_handler

        def locked(pin):
            micropython.heap_lock()
            try:
                handler(pin)
            finally:
                micropython.heap_unlock()

        can.int_pin.irq(locked, machine.Pin.IRQ_FALLING, hard=True)
        queue_burst(bus, False)
        f = CanFrame()
        ids = [0] * BURST
        n = 0
        t = 0
        while t < 12000:
            t += 400
            bus.run_until(t)
            while can.recv(f):
                ids[n] = f.can_id
                n += 1
        self.assertEqual(ids[:n], heard(listener))
        self.assertEqual((can.irq_errors, can.rx_ring_dropped, can.rx_overflows), (0, 0, 0))

    def racing(self, late, ring=RING_FRAMES):
        """A drain the loop runs (the transaction's end, release()) while a hard handler
        comes `late` times just as it ends: after its last pass read INT high, a frame
        arrives, INT falls and the handler finds the drain still under way (_draining):
        it only leaves irq_pending. Returns the driver, the chip's INT pin and the frames
        the bus sent."""
        bus, can, chip, listener = rig(ring, hard=True)
        queue_burst(bus, False)
        pin = can.int_pin
        bus.run_until(300)  # the first frame, drained by the handler at its edge
        self.assertEqual((can.pending(), can.irq_pending), (1, False))

        class Late:
            # the INT pin as the drain reads it: a frame arrives just after a read that
            # found it high (the handler's own drain reads the pin too: only the loop's
            # is raced, the handler never nests)
            left = late

            def value(self):
                v = pin.value()
                if v and self.left and can._draining:
                    self.left -= 1
                    bus.run_until(bus.now_us + 300)
                return v

            __call__ = value  # (as a Pin: the handler calls it)

        can.int_pin = Late()
        can.busy = True  # the loop inside a transaction: the handler defers
        bus.run_until(bus.now_us + 300)
        self.assertTrue(can.irq_pending)
        can.release()  # the transaction's end: the loop's drain, raced `late` times
        return can, pin, heard(listener)

    def test_a_handler_deferred_as_the_drain_ends_is_served_every_time(self):
        for late in (1, 2, 3):
            can, pin, sent = self.racing(late)
            # every frame sent is in the ring, nothing left in the chip, INT high
            self.assertEqual(can.pending(), len(sent))
            self.assertEqual(len(sent), 2 + late)
            self.assertEqual((can.irq_pending, pin.value(), can.busy), (False, 1, False))

    def test_a_drain_raced_without_end_stops_at_its_bound(self):
        # a handler deferred at the end of every round: the drain's passes are its bound
        # (a burst's frames keep coming), what is left waits for the loop's poll
        can, pin, sent = self.racing(1000, 8)
        # 10 passes (the ring's 8 and 2): each race takes two, one finding the buffers
        # empty (then the frame comes) and one reading that frame; the fifth race's frame
        # is left in the chip
        self.assertEqual(len(sent), 7)
        self.assertEqual(can.pending(), 6)
        self.assertEqual((can.irq_pending, pin.value(), can._draining), (True, 0, False))

    def test_any_error_in_the_handler_is_counted_never_raised(self):
        # one escaping a hard interrupt would disable the handler for good
        bus, can, spi = broken_spi(ValueError)  # not even an OSError
        can.irq(None)
        can.irq(None)
        self.assertEqual((can.irq_errors, can.busy, can._draining), (2, False, False))
        self.assertEqual(can.cs.value(), 1)  # the raising transfer does not hold the bus
        can.spi = spi
        self.assertEqual(can.drain(), 2)


class RingTest(unittest.TestCase):
    def setUp(self):
        machine.sim_run_scheduled()

    def test_full_ring_drops_the_newest_and_counts_them(self):
        bus, can, _, listener = rig(4)
        queue_burst(bus, False)
        busy(bus, 0, 3000, GAP_OK_US)  # about 12 frames, the loop reads none
        order = heard(listener)
        self.assertEqual(can.pending(), 4)
        dropped = can.rx_ring_dropped
        self.assertEqual(can.received + dropped, len(order))
        self.assertEqual(dropped, len(order) - 4)
        f = CanFrame()
        got = []
        while can.recv(f):
            got.append(f.can_id)
        self.assertEqual(got, order[:4])  # the oldest kept
        self.assertEqual(can.rx_overflows, 0)

    def test_ring_wraps_in_order(self):
        # a ring of 4 passed through by the whole burst, read after each stretch
        bus, can, _, listener = rig(4)
        queue_burst(bus, False)
        got = run(bus, can, 700, GAP_OK_US)
        self.assertEqual(got, heard(listener))
        self.assertEqual((can.rx_ring_dropped, can.rx_overflows, can.pending()), (0, 0, 0))

    def test_handler_waits_while_the_bus_is_busy(self):
        bus, can, chip, _ = rig(RING_FRAMES)
        queue_burst(bus, False)
        can.busy = True  # inside a transaction (ours, or the expander's)
        bus.run_until(600)  # two frames in the chip
        self.assertEqual(machine.sim_run_scheduled(), 1)
        self.assertTrue(can.irq_pending)
        self.assertEqual(can.pending(), 0)  # the handler did not touch the bus
        self.assertEqual(chip.regs[0x2C] & 0x03, 0x03)
        can.release()  # the transaction's end services it
        self.assertFalse(can.irq_pending)
        self.assertEqual(can.pending(), 2)
        self.assertEqual(chip.regs[0x2C] & 0x03, 0)

    def test_handler_leaves_the_loops_command_and_answer_alone(self):
        # a soft handler runs between bytecodes: after the loop filled its command, or at
        # the end of its transaction before it reads the answer
        bus, can, chip, _ = rig(RING_FRAMES)
        queue_burst(bus, False)
        bus.run_until(600)  # two frames in the chip, the handler due
        can._w[0] = 0x03  # READ CANCTRL, filled, not yet clocked out
        can._w[1] = 0x0F
        self.assertEqual(machine.sim_run_scheduled(), 1)
        self.assertEqual(can.pending(), 2)
        self.assertEqual(bytes(can._w[:2]), b"\x03\x0f")
        queue_burst(bus, False)
        bus.run_until(1800)
        can.busy = True  # the handler comes inside the loop's transaction...
        machine.sim_run_scheduled()
        self.assertEqual(can.read_reg(0x0F), chip.regs[0x0F])  # ...its answer kept
        self.assertGreater(can.pending(), 2)

    def test_a_full_ring_drops_without_touching_the_loops_answer(self):
        bus, can, _, _ = rig(4)
        queue_burst(bus, False)
        can._r[2] = 0x5A
        busy(bus, 0, 3000, GAP_OK_US)  # the ring fills, the rest is read and dropped
        self.assertGreater(can.rx_ring_dropped, 0)
        self.assertEqual(can._r[2], 0x5A)

    def test_handler_waits_for_the_expander_on_the_same_bus(self):
        from drivers.mcp23s17 import Mcp23s17

        bus, can, chip, _ = rig(RING_FRAMES)
        seen = []

        class Expander:
            # a device on the same SPI: notes whether the ring was drained meanwhile
            def spi_transfer(self, wbuf, rbuf):
                seen.append(can.pending())
                for i in range(len(rbuf)):
                    rbuf[i] = 0

            def spi_end(self):
                pass

        cs = machine.Pin("CS_EXP", machine.Pin.OUT, value=1)
        can.spi.attach(cs, Expander())
        x = Mcp23s17(can.spi, cs, can)
        queue_burst(bus, False)
        bus.run_until(600)  # INT falls: the handler is due at the next transaction
        x.read_reg(0x12)
        self.assertEqual(seen, [0])  # it waited for the expander's chip select
        self.assertEqual(can.pending(), 2)  # and ran as the transaction ended
        self.assertFalse(can.busy)

    def test_the_expander_never_meets_the_can_chips_error(self):
        # the drain at the end of the expander's transaction meets the CAN chip's SPI
        # error: counted as the handler's, never raised out of an LED, a relay or the DIP
        # (raised, it put the pack in the safe state)
        from drivers.mcp23s17 import Mcp23s17

        bus, can, chip, _ = rig(RING_FRAMES)

        class Expander:
            def spi_transfer(self, wbuf, rbuf):
                for i in range(len(rbuf)):
                    rbuf[i] = 0x5A

            def spi_end(self):
                pass

        def spi_error(wbuf, rbuf):
            raise OSError(5)

        cs = machine.Pin("CS_EXP", machine.Pin.OUT, value=1)
        can.spi.attach(cs, Expander())
        x = Mcp23s17(can.spi, cs, can)
        queue_burst(bus, False)
        bus.run_until(600)
        chip.spi_transfer = spi_error
        self.assertEqual(x.read_reg(0x12), 0x5A)
        self.assertEqual((can.irq_errors, can.busy, can.pending()), (1, False, 0))
        with self.assertRaises(OSError):
            can.recv(CanFrame())  # the loop meets it (InverterLink: FAULT_SPI)
        del chip.spi_transfer
        self.assertEqual(can.drain(), 2)

    def test_handler_leaves_an_spi_error_to_the_loop(self):
        bus, can, spi = broken_spi(OSError(5))
        can.irq(None)
        self.assertEqual((can.irq_errors, can.busy, can.pending()), (1, False, 0))
        with self.assertRaises(OSError):
            can.recv(CanFrame())  # the loop meets it (InverterLink: FAULT_SPI)
        can.spi = spi
        self.assertEqual(can.drain(), 2)

    def test_garbled_reads_are_not_stored(self):
        bus, can, chip, _ = rig(RING_FRAMES, irq=False)
        queue_burst(bus, False)
        bus.run_until(300)  # one frame
        chip.glitch_read(0xB0, 1, 0xC0)  # RX STATUS says empty: the two disagree
        self.assertEqual(can.drain(), 0)
        self.assertEqual((can.rx_garbled, can.pending()), (1, 0))
        chip.glitch_read(0x90, 2, 0x04)  # an unimplemented SIDL bit: no chip's header
        self.assertEqual(can.drain(), 0)
        self.assertEqual((can.rx_garbled, can.pending(), can.received), (2, 0, 0))
        self.assertEqual(chip.regs[0x2C] & 0x03, 0)  # read (and so gone) all the same

    def test_a_drain_is_bounded_whatever_the_chip_reads(self):
        # MISO stuck at 0x41 reads as "RXB0 full" and a plausible header for ever
        bus, can, chip, _ = rig(4, irq=False)

        class Stuck:
            def write_readinto(self, w, r):
                for i in range(len(r)):
                    r[i] = 0x41

        can.spi = Stuck()
        self.assertEqual(can.drain(), 6)  # the ring's 4 and 2 passes more
        self.assertEqual((can.pending(), can.rx_ring_dropped), (4, 2))

    def test_drain_without_a_ring_does_nothing(self):
        bus, can, chip, _ = rig(0, irq=False)
        queue_burst(bus, False)
        bus.run_until(300)
        self.assertEqual(can.drain(), 0)
        self.assertEqual(chip.regs[0x2C] & 0x01, 0x01)  # still in the chip for recv()


class OverflowTest(unittest.TestCase):
    """After a chip overflow (EFLG RX0OVR/RX1OVR, with ERRIF) INT stays low: an edge-triggered
    handler would see no edge again until check() cleared them. The drain clears them and
    counts the episode (once between two check()s, as check() counts it)."""

    def setUp(self):
        machine.sim_run_scheduled()

    def overflowed(self, hard=True):
        # the handler held off (the loop inside a transaction) while 3 frames come: 2 kept
        bus, can, chip, listener = rig(RING_FRAMES, hard=hard)
        queue_burst(bus, False)
        can.busy = True
        bus.run_until(1100)
        machine.sim_run_scheduled()
        self.assertEqual(len(heard(listener)), 3)
        self.assertEqual(chip.regs[0x2D] & 0xC0, 0x80)  # RX1OVR
        self.assertEqual(chip.regs[0x2C] & 0x23, 0x23)  # ERRIF, RX0IF, RX1IF
        self.assertTrue(can.irq_pending)
        return bus, can, chip, listener

    def test_the_drain_clears_an_overflow_and_edges_drain_again(self):
        for hard in (True, False):
            bus, can, chip, listener = self.overflowed(hard)
            can.release()  # the transaction's end: the drain the handler left
            self.assertEqual((can.pending(), can.rx_overflows), (2, 1))
            self.assertEqual((chip.regs[0x2D] & 0xC0, chip.regs[0x2C] & 0x23), (0, 0))
            self.assertEqual(can.int_pin.value(), 1)  # INT high again
            # the frames after it are drained by their edges, the loop reading nothing
            busy(bus, 1100, 3000, GAP_OK_US)
            n = len(heard(listener))
            self.assertGreater(n, 8)
            self.assertEqual(can.pending(), 2 + n)
            self.assertEqual((can.rx_overflows, can.rx_ring_dropped), (1, 0))
            self.assertEqual(chip.regs[0x2C] & 0x23, 0)

    def test_without_the_clearing_no_edge_comes_until_check(self):
        # the other side: a drain that leaves the overflow (before this fix) keeps INT low
        bus, can, chip, listener = self.overflowed()
        overflow = can._overflow
        can._overflow = lambda: False
        can.release()
        self.assertEqual((can.pending(), can.rx_overflows), (2, 0))
        self.assertEqual(can.int_pin.value(), 0)
        bus.run_until(4000)
        self.assertGreater(len(heard(listener)), 8)
        self.assertEqual(can.pending(), 2)  # no edge: nothing drained
        can._overflow = overflow
        self.assertEqual(can.check() & 0xC0, 0x80)  # check() counts and clears it
        self.assertEqual(can.rx_overflows, 1)
        self.assertEqual(can.drain(), 2)  # the two the chip kept meanwhile
        self.assertEqual(can.int_pin.value(), 1)

    def test_an_episode_is_counted_once_between_checks(self):
        bus, can, chip, _ = self.overflowed()
        can.release()
        self.assertEqual(can.rx_overflows, 1)
        queue_burst(bus, False)
        can.busy = True  # a second overflow before check(): the same episode
        bus.run_until(bus.now_us + 1100)
        self.assertEqual(chip.regs[0x2D] & 0xC0, 0x80)
        can.release()
        self.assertEqual((can.rx_overflows, chip.regs[0x2D] & 0xC0), (1, 0))
        self.assertEqual(can.check() & 0xC0, 0)  # nothing left for check() to count
        self.assertEqual(can.rx_overflows, 1)
        can.busy = True  # after check(): a new episode
        bus.run_until(bus.now_us + 1100)
        can.release()
        self.assertEqual(can.rx_overflows, 2)
        # and check() does not count again what the drain counted
        can.check()
        self.assertEqual(can.rx_overflows, 2)

    def test_another_error_flag_is_left_for_check(self):
        # ERRIF without an overflow (an error state changed): INT stays low for check()
        bus, can, chip, _ = rig(RING_FRAMES, hard=True)
        chip.regs[0x2C] |= 0x20
        chip._irq_update()
        self.assertEqual(can.drain(), 0)
        self.assertEqual((chip.regs[0x2C] & 0x20, can.int_pin.value()), (0x20, 0))
        self.assertEqual(can.rx_overflows, 0)
        can.check()
        self.assertEqual((chip.regs[0x2C] & 0x20, can.int_pin.value()), (0, 1))
        self.assertEqual(can.rx_overflows, 0)


class AllocationTest(unittest.TestCase):
    """heap_lock() around the handler and the loop's reads (the bus runs outside: it is
    the simulator); under CPython the results only."""

    def test_handler_and_recv_allocate_nothing(self):
        bus, can, _, listener = rig(8)
        queue_burst(bus, False)
        can.drain()  # warm-up: the driver keeps a view per transfer length, made at first use
        f = CanFrame()
        ids = [0] * BURST
        n = 0
        t = 0
        while t < 12000:
            t += 200
            bus.run_until(t)
            micropython.heap_lock()
            try:
                machine.sim_run_scheduled()  # the handler: drain()
                while can.recv(f):
                    ids[n] = f.can_id
                    n += 1
            finally:
                micropython.heap_unlock()
        got = ids[:n]
        self.assertEqual(got, heard(listener))
        self.assertEqual((can.rx_ring_dropped, can.rx_overflows), (0, 0))


if __name__ == "__main__":
    unittest.main()
