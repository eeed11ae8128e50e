"""The front panel: RUN, ALM, four SOC and the M/S LED, the DIP switch and RESET.

Takes machine.Pin objects. LEDs are written as one bit mask (see LED_* below) and only
the pins whose bit changed are touched. The DIP switch and the button are active low
(a closed switch pulls its input to ground), which is how the board wires them.
"""

import micropython
from micropython import const

LED_RUN = const(0x01)
LED_ALM = const(0x02)
LED_SOC1 = const(0x04)  # SOC LEDs 1..4 are bits 2..5
LED_MS = const(0x40)
_LED_COUNT = const(7)


class Panel:
    def __init__(self, leds, dip, button):
        """leds: 7 output pins in bit order (RUN, ALM, SOC1-4, M/S); dip: 7 input pins,
        position 1 first; button: the RESET input."""
        self.leds = leds
        self.dip = dip
        self.button = button
        self.shown = 0
        for pin in leds:
            pin.value(0)

    @micropython.native
    def show(self, mask):
        changed = mask ^ self.shown
        if not changed:
            return
        for i in range(_LED_COUNT):
            if changed & (1 << i):
                self.leds[i].value((mask >> i) & 1)
        self.shown = mask

    def read_dip(self):
        """The switch as bits: bit 0 = position 1, set when ON."""
        bits = 0
        for i in range(len(self.dip)):
            if not self.dip[i].value():
                bits |= 1 << i
        return bits

    def pressed(self):
        return not self.button.value()
