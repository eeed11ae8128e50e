"""The host board's clock: time moves only when the world's engine or a test advances it.

`t_us` is the absolute simulated time from the start of the run, and `t_ms` the same in
whole ms (the buses need microseconds; the firmware and the pack model see ms).
`ticks_ms()` is what the firmware sees: `t_ms` plus an offset, modulo 2**30 as on RP2040
and ESP32, so a test can start the board just before the wrap.
"""

import micropython

_MASK = 0x3FFFFFFF


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
