"""drivers/mcp23s17.py, the chip boards' panel expander, against a register-level fake.

The fake answers the MCP23S17's SPI opcodes (0x40 write, 0x41 read, IOCON.BANK = 0) on
a register file with the chip's reset state, so the test reads back what the driver
left in the chip: outputs latched before their direction turns (no glitch on a relay),
inputs with their pull-ups, GPIO read per pin, and no allocation on the paths the LED
beat and the tick take (Panel.show, DryContact.write, the DIP switch).
"""

import unittest

import micropython

from drivers.drycontact import DryContact
from drivers.mcp23s17 import IN, OUT, Mcp23s17
from drivers.panel import Panel


class Chip:
    """The MCP23S17's registers behind its SPI opcodes (DS20001952, IOCON.BANK = 0)."""

    def __init__(self):
        self.reg = bytearray(0x16)
        self.reg[0x00] = self.reg[0x01] = 0xFF  # IODIRA/B: inputs at reset
        self.pins_in = bytearray(b"\xff\xff")  # the levels outside drives on the inputs
        self.log = []  # (register, value) written, in order
        self.selected = False

    def write_readinto(self, w, r):
        assert self.selected, "a transfer without chip select"
        op, reg = w[0], w[1]
        if op == 0x40:
            self.reg[reg] = w[2]
            if self.log is not None:  # None while the heap is locked
                self.log.append((reg, w[2]))
        elif op == 0x41:
            if reg in (0x12, 0x13):  # GPIO: inputs from outside, outputs from OLAT
                port = reg - 0x12
                d = self.reg[port]
                r[2] = (self.pins_in[port] & d) | (self.reg[0x14 + port] & ~d & 0xFF)
            else:
                r[2] = self.reg[reg]
        else:
            raise AssertionError("opcode 0x%02x" % op)


class Cs:
    def __init__(self, chip):
        self.chip = chip
        self.level = 1

    def value(self, x=None):
        if x is None:
            return self.level
        self.level = 1 if x else 0
        self.chip.selected = not self.level


def expander():
    chip = Chip()
    return chip, Mcp23s17(chip, Cs(chip))


class Mcp23s17Test(unittest.TestCase):
    def test_an_output_is_latched_before_it_turns_output(self):
        chip, x = expander()
        x.pin(7, OUT, value=0)  # a relay: low before it drives
        self.assertEqual(chip.log, [(0x14, 0x00), (0x00, 0x7F)])
        chip.log = []
        x.pin(9, OUT, value=1)
        self.assertEqual(chip.log, [(0x15, 0x02), (0x01, 0xFD)])

    def test_inputs_with_pull_ups_read_per_pin(self):
        chip, x = expander()
        dip = [x.pin(8 + k, IN, True) for k in range(7)]
        self.assertEqual(chip.reg[0x0D], 0x7F)  # GPPUB
        self.assertEqual(chip.reg[0x01], 0xFF)  # still inputs
        chip.pins_in[1] = 0xFF & ~(1 << 5)  # position 6 ON grounds its pin
        self.assertEqual([p.value() for p in dip], [1, 1, 1, 1, 1, 0, 1])
        self.assertTrue(x.verify())
        chip.reg[0x01] = 0xFF
        chip.reg[0x0D] = 0x00  # the chip lost its settings (a reset)
        self.assertFalse(x.verify())

    def test_output_writes_reach_the_latch_and_read_back(self):
        chip, x = expander()
        led = x.pin(3, OUT)
        led.value(1)
        self.assertEqual(chip.reg[0x14], 0x08)
        self.assertEqual(led.value(), 1)
        led.off()
        self.assertEqual(chip.reg[0x14], 0x00)

    def test_the_panel_and_relays_allocate_nothing(self):
        # under CPython heap_lock() is a stand-in (boards/host/cpython/micropython.py)
        chip, x = expander()
        leds = [x.pin(k, OUT) for k in range(7)]
        dip = [x.pin(8 + k, IN, True) for k in range(7)]
        relay_chg = x.pin(7, OUT)
        relay_dsg = x.pin(15, OUT)
        panel = Panel(leds, dip, Cs(Chip()))
        dry = DryContact(relay_chg, relay_dsg, Cs(Chip()), Cs(Chip()))
        panel.show(0)
        bits = 0
        chip.log = None
        micropython.heap_lock()
        try:
            for mask in range(128):
                panel.show(mask)
            dry.write(True, False)
            dry.open_all()
            bits = panel.read_dip()
        finally:
            micropython.heap_unlock()
        self.assertEqual(chip.reg[0x14] & 0x7F, 127)
        self.assertEqual(chip.reg[0x14] & 0x80, 0)  # the charge relay open again
        self.assertEqual(bits, 0)  # every position OFF (pulled up)

    def test_the_dry_inputs_read_active_low(self):
        passive_in = Cs(Chip())
        rsd_in = Cs(Chip())
        dry = DryContact(Cs(Chip()), Cs(Chip()), passive_in, rsd_in)
        for passive_level, rsd_level in ((1, 1), (0, 1), (1, 0), (0, 0)):
            passive_in.level = passive_level
            rsd_in.level = rsd_level
            got = (dry.passive(), dry.rapid_shutdown())
            self.assertEqual(got, (passive_level == 0, rsd_level == 0))
