"""The power FETs: charge and discharge through the front end's drivers, pre-charge on a pin.

The charge and discharge FETs hang off the BQ76952's high-side drivers, which also
open them on their own when the chip's hardware protections fire; the pre-charge FET
(a resistor path that lifts the inverter's input capacitors before the discharge FET
closes) is driven from a GPIO, and a comparator on the PACK terminals reports reversed
polarity on another (active low). set() writes only what changed; state() reports what the
FETs really are (the front end's FET Status), which is what the core checks against
what it commanded.
"""

from drivers.bq76952 import FET_CHG, FET_DSG


class Fets:
    def __init__(self, afe, precharge_pin, reverse_pin):
        self.afe = afe
        self.pre_pin = precharge_pin
        self.reverse_pin = reverse_pin
        self.chg = False  # last commanded
        self.dsg = False
        self.pre = False
        self._sent = False
        precharge_pin.value(0)

    def set(self, chg, dsg, pre):
        """Command the FETs; returns False if the front end did not take the command."""
        if pre != self.pre:
            self.pre_pin.value(1 if pre else 0)
            self.pre = pre
        if self._sent and chg == self.chg and dsg == self.dsg:
            return True
        self.chg = chg
        self.dsg = dsg
        self._sent = self.afe.set_fets(chg, dsg)
        return self._sent

    def off(self):
        """The safe state, whatever was commanded before; tries every path."""
        self.pre_pin.value(0)
        self.pre = False
        self.chg = False
        self.dsg = False
        self._sent = self.afe.set_fets(False, False) or self.afe.all_fets_off()
        return self._sent

    def reversed(self):
        """A source is connected to the pack terminals the wrong way round."""
        return not self.reverse_pin.value()

    def state(self):
        """(charge on, discharge on) as the front end reports them, or None."""
        status = self.afe.read_fet_status()
        if status is None:
            return None
        return bool(status & FET_CHG), bool(status & FET_DSG)
