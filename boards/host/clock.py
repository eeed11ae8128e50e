"""The simulated clock: time moves only when the simulator or a test advances it.

`t_ms` is the absolute simulated time from the start of the run. `ticks_ms()` is what
the firmware sees: the same time plus an offset, modulo 2**30 as on RP2040 and ESP32,
so a test can start the board just before the wrap.
"""

_MASK = 0x3FFFFFFF


class SimClock:
    def __init__(self, start_ticks=0):
        self.t_ms = 0
        self.offset = start_ticks & _MASK

    def ticks_ms(self):
        return (self.t_ms + self.offset) & _MASK

    def advance(self, ms):
        self.t_ms += ms

    def set(self, t_ms):
        self.t_ms = t_ms
