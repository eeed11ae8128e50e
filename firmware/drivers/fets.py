"""The power FETs and the power-stage sensing around them.

The charge and discharge FETs hang off the BQ76952's drivers; the MCU holds them off
through the chip's CFETOFF and DFETOFF pins (high = off, pulled up on the board, so an
MCU in reset or a dead I2C bus still means off), while the chip itself may open them on
its own hardware protections. The pre-charge FET (a resistor path that lifts the
inverter's input capacitors before the discharge FET closes) is driven from a GPIO, and
a comparator on the PACK terminals reports reversed polarity on another (active low).
set() touches only pins, so commanding the FETs never depends on the bus.
"""


class Fets:
    def __init__(self, chg_off_pin, dsg_off_pin, precharge_pin, reverse_pin):
        self.chg_off_pin = chg_off_pin
        self.dsg_off_pin = dsg_off_pin
        self.pre_pin = precharge_pin
        self.reverse_pin = reverse_pin
        self.off()

    def set(self, chg, dsg, pre):
        # (bytecode, not native: in most ticks it only compares three flags, and native
        # code took 307 B more of the heap)
        if chg != self.chg:
            self.chg_off_pin.value(0 if chg else 1)
            self.chg = chg
        if dsg != self.dsg:
            self.dsg_off_pin.value(0 if dsg else 1)
            self.dsg = dsg
        if pre != self.pre:
            self.pre_pin.value(1 if pre else 0)
            self.pre = pre

    def off(self):
        """The safe state, whatever was commanded before."""
        self.chg_off_pin.value(1)
        self.dsg_off_pin.value(1)
        self.pre_pin.value(0)
        self.chg = False
        self.dsg = False
        self.pre = False

    def reversed(self):
        """A source is connected to the pack terminals the wrong way round."""
        return not self.reverse_pin.value()
