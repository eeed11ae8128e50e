"""The dry contact: two normally-open relay outputs and two opto-isolated inputs.

Output 1 (pins 1-2) is closed while charging is allowed, output 2 (pins 3-4) while
discharging is allowed; de-energised (open) is the safe state. Input 5 is the passive
input, input 6 the rapid-shutdown input; both read True while asserted. The inputs are
active low behind their opto-couplers.
"""


class DryContact:
    def __init__(self, charge_relay, discharge_relay, passive_in, rsd_in):
        self.charge_relay = charge_relay
        self.discharge_relay = discharge_relay
        self.passive_in = passive_in
        self.rsd_in = rsd_in
        self.open_all()

    def write(self, charge, discharge):
        # (bytecode, not native: in most ticks it only compares two flags, and native
        # code took 217 B more of the heap)
        if charge != self.charge or discharge != self.discharge:
            self.charge_relay.value(1 if charge else 0)
            self.discharge_relay.value(1 if discharge else 0)
            self.charge = charge
            self.discharge = discharge

    def open_all(self):
        """The safe state: both outputs open, whatever was written before."""
        self.charge_relay.value(0)
        self.discharge_relay.value(0)
        self.charge = False
        self.discharge = False

    # (the tick reads the two input pins itself, app.py: a method call costs a board
    # more than the pin read)
    def passive(self):
        return not self.passive_in.value()

    def rapid_shutdown(self):
        return not self.rsd_in.value()
