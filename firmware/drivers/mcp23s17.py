"""Microchip MCP23S17 16-bit I/O expander over SPI: pins that behave like machine.Pin.

The chip boards have fewer GPIOs than the pack has signals (37 against the Pico's 26),
so the slow ones sit on this expander: the seven panel LEDs and the two dry-contact
relays (written only when they change) and the DIP switch (read at boot and once a
second). It shares the CAN controller's SPI bus with its own chip select. Registers are
Microchip's (DS20001952, IOCON.BANK = 0): IODIRA/B 0x00/0x01 (1 = input, the reset
state), GPPUA/B 0x0C/0x0D (100 kOhm pull-ups), GPIOA/B 0x12/0x13, OLATA/B 0x14/0x15.
With IOCON.HAEN clear (the reset state) the chip ignores its A2-A0 pins: opcode 0x40
writes, 0x41 reads. Transfers use preallocated buffers: no allocation per call.
"""

from micropython import const

from bms import lazy

_WRITE = const(0x40)
_READ = const(0x41)
_GPIO = const(0x12)
_OLAT = const(0x14)
IN = const(0)
OUT = const(1)


class Mcp23s17:
    def __init__(self, spi, cs, lock=None):
        """spi: the machine.SPI it shares (mode 0, up to 10 MHz); cs: its chip select;
        lock: the CAN controller's driver (drivers.mcp2515), whose INT handler must not
        talk on the bus while this chip is selected (its busy and release()). The body
        (every attribute) is in drivers/mcp23s17_setup.py, loaded for it and dropped
        after, as for pin() and verify(): the board's build uses them, service does not."""
        lazy.run("drivers.mcp23s17_setup", "init", self, spi, cs, lock)

    def _xfer(self, op, reg, value):
        w = self._w
        w[0] = op
        w[1] = reg
        w[2] = value
        lock = self.lock
        if lock is not None:
            lock.busy = True
        self.cs.value(0)
        try:
            self.spi.write_readinto(w, self._r)
        finally:
            self.cs.value(1)
            if lock is not None:
                try:
                    lock.release()
                except OSError:
                    # the CAN chip's, in the drain the handler left for this end: not the
                    # caller's (an LED, a relay, the DIP: raised, the pack went to the
                    # safe state). Counted as the handler counts its own; the frames stay
                    # in the chip, INT low, and the loop's recv() meets the error.
                    lock.irq_errors = (lock.irq_errors + 1) & 0x3FFFFFFF
        return self._r[2]

    def write_reg(self, reg, value):
        self._xfer(_WRITE, reg, value)

    def read_reg(self, reg):
        return self._xfer(_READ, reg, 0)

    def pin(self, n, mode, pull_up=False, value=0):
        """Expander pin n (0-7 GPA0-7, 8-15 GPB0-7) as an input (with its pull-up) or an
        output at `value`; the chip is configured at once (latch before direction, so an
        output never shows another level first). (drivers/mcp23s17_setup.py)"""
        return lazy.run("drivers.mcp23s17_setup", "pin", self, n, mode, pull_up, value)

    def verify(self):
        """Whether the chip holds the direction and pull-ups written (one is there)
        (drivers/mcp23s17_setup.py)."""
        return lazy.run("drivers.mcp23s17_setup", "verify", self)


class ExpanderPin:
    """One expander pin with machine.Pin's value(): read from GPIO, written to OLAT."""

    def __init__(self, chip, port, bit):
        self.chip = chip
        self.port = port
        self.bit = bit

    def value(self, x=None):
        chip = self.chip
        if x is None:
            return 1 if chip.read_reg(_GPIO + self.port) & self.bit else 0
        # written every time, as a GPIO is: the callers write only on a change, and the
        # safe state (DryContact.open_all) must reach a chip that lost its latch
        olat = chip.olat
        port = self.port
        olat[port] = (olat[port] | self.bit) if x else (olat[port] & ~self.bit)
        chip.write_reg(_OLAT + port, olat[port])
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)
