"""The pack (or the system) as the links report it when the inverter must be asked for no
current: CCL and DCL 0, the charge and discharge enable bits off, no force or full charge
request, charge and discharge shown blocked (Victron's 0x372 counts modules blocking
either); everything else the core's own, read through, and the FETs as the core has them.

Used by a service restart's notice (service/restart.py) and by a master without room in
the heap for the system's table (packlink.py). Loaded only then.
"""


class NoCurrent:
    """A Limits (or the system's) asking for nothing; the rest (CVL, DVL, set_external)
    its own."""

    ccl_ma = 0
    dcl_ma = 0
    charge_enable = False
    discharge_enable = False
    force_charge = False
    full_request = False

    def __init__(self, lim):
        self._lim = lim

    def __getattr__(self, name):
        return getattr(self._lim, name)


class Stopped:
    """The core (or the system's view) with NoCurrent limits."""

    allow_chg = False
    relay_dsg = False

    def __init__(self, b):
        self._b = b
        self.limits = NoCurrent(b.limits)

    def __getattr__(self, name):
        return getattr(self._b, name)
