"""The host board's clock: time moves only when the world's engine or a test advances it.

`t_us` is the absolute simulated time from the start of the run, and `t_ms` the same in
whole ms (the buses need microseconds; the firmware and the pack model see ms).
`ticks_ms()` is what the firmware sees: `t_ms` plus an offset, modulo 2**30 as on RP2040
and ESP32, so a test can start the board just before the wrap.
"""

import micropython
from micropython import const

_MASK = const(0x3FFFFFFF)


class SimClock:
    def __init__(self, start_ticks=0):
        self.t_ms = 0
        self.t_us = 0
        self.offset = start_ticks & _MASK

    @micropython.native
    def ticks_ms(self):
        return (self.t_ms + self.offset) & _MASK

    def ticks_us(self):
        return (self.t_us + self.offset * 1000) & _MASK

    def advance(self, ms):
        self.set_us(self.t_us + ms * 1000)

    def set(self, t_ms):
        self.t_ms = t_ms
        self.t_us = t_ms * 1000

    @micropython.native
    def set_us(self, t_us):
        self.t_us = t_us
        self.t_ms = t_us // 1000

    @micropython.native
    def sim_us_at(self, local_ms):
        """The simulated time (us) at which this clock reads local_ms (see PackClock)."""
        return local_ms * 1000


class PackClock:
    """One board's own crystal in a system of several packs: it reads the engine's
    SimClock, running `ppm` parts per million fast (or slow, negative) from the start of
    the run, with its own tick offset. The firmware sees only this clock, so packs that
    were powered at the same instant drift apart as real boards do. Read-only, as the
    SimClock is for everything but the engine."""

    def __init__(self, base, start_ticks=0, ppm=0):
        self.base = base
        self.offset = start_ticks & _MASK
        self.ppm = ppm

    @property
    def t_us(self):
        b = self.base.t_us
        return b + b * self.ppm // 1000000

    @property
    def t_ms(self):
        return self.t_us // 1000

    def ticks_ms(self):
        return (self.t_us // 1000 + self.offset) & _MASK

    def ticks_us(self):
        return (self.t_us + self.offset * 1000) & _MASK

    def sim_us_at(self, local_ms):
        """The first simulated us at which this clock reads local_ms."""
        want = local_ms * 1000
        ppm = self.ppm
        t = want * 1000000 // (1000000 + ppm)
        while t + t * ppm // 1000000 < want:
            t += 1
        while t > 0 and (t - 1) + (t - 1) * ppm // 1000000 >= want:
            t -= 1
        return t
