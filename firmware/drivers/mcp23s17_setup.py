"""The MCP23S17's setup (drivers/mcp23s17.py's Mcp23s17): its attributes, the pins'
configuration and its check. The board's build makes the expander and its pins once, at
boot, and service only reads and writes them, so the driver loads this module for each
and drops it after: its code does not stay in a board's heap. Functions of the driver
object (`self`), as the methods they were.
"""

from micropython import const

from drivers.mcp23s17 import OUT, ExpanderPin

# the registers the setup writes (drivers/mcp23s17.py's docstring)
_IODIR = const(0x00)
_GPPU = const(0x0C)
_OLAT = const(0x14)


def init(self, spi, cs, lock):
    """Mcp23s17(spi, cs, lock): every attribute of the driver."""
    self.spi = spi
    self.cs = cs
    self.lock = lock
    self._w = bytearray(3)
    self._r = bytearray(3)
    self.olat = bytearray(2)  # ports A and B, as written
    self.iodir = bytearray(b"\xff\xff")  # the reset state: every pin an input
    self.gppu = bytearray(2)
    cs.value(1)


def pin(self, n, mode, pull_up, value):
    """Expander pin n (0-7 GPA0-7, 8-15 GPB0-7) as an input (with its pull-up) or an
    output at `value`; the chip is configured at once (latch before direction, so an
    output never shows another level first)."""
    port = n >> 3
    bit = 1 << (n & 7)
    if mode == OUT:
        _set(self, self.olat, _OLAT, port, bit, value)
        _set(self, self.iodir, _IODIR, port, bit, 0)
    else:
        _set(self, self.gppu, _GPPU, port, bit, pull_up)
        _set(self, self.iodir, _IODIR, port, bit, 1)
    return ExpanderPin(self, port, bit)


def _set(self, shadow, reg, port, bit, on):
    shadow[port] = (shadow[port] | bit) if on else (shadow[port] & ~bit)
    self.write_reg(reg + port, shadow[port])


def verify(self):
    """Whether the chip holds the direction and pull-ups written (one is there)."""
    for port in range(2):
        if self.read_reg(_IODIR + port) != self.iodir[port]:
            return False
        if self.read_reg(_GPPU + port) != self.gppu[port]:
            return False
    return True
