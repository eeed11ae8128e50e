"""The pack (or the system) as the links report it when the inverter must be asked for no
current: CCL and DCL 0, the charge and discharge enable bits off, CVL down to the pack's
voltage (as bms/limits.py stops a charge: a Victron stops its chargers by the voltage,
not only by CCL 0), no force or full charge request, charge and discharge shown blocked
(Victron's 0x372 counts modules blocking either); everything else the core's own, read
through, and the FETs as the core has them.

Used by a service restart's notice (service/restart.py) and by a master without room in
the heap for the system's table (packlink.py). Loaded only then.
"""

from micropython import const

_CVL_FLOOR_MV = const(41000)  # bms.limits': CVL is never lower (never 0; SMA's least)


class NoCurrent:
    """A Limits (or the system's) asking for nothing; the rest (DVL, set_external) its
    own. b: the core (or the system's view), whose voltage CVL comes down to (read at
    each frame: the core's sample is a new one each tick)."""

    ccl_ma = 0
    dcl_ma = 0
    charge_enable = False
    discharge_enable = False
    force_charge = False
    full_request = False

    def __init__(self, lim, b):
        self._lim = lim
        self._b = b

    def __getattr__(self, name):
        return getattr(self._lim, name)

    @property
    def cvl_mv(self):
        cvl = self._lim.cvl_mv
        v = self._b.sample.stack_mv
        if v < cvl:
            cvl = v if v > _CVL_FLOOR_MV else _CVL_FLOOR_MV
        return cvl


class Stopped:
    """The core (or the system's view) with NoCurrent limits."""

    allow_chg = False
    relay_dsg = False

    def __init__(self, b):
        self._b = b
        self.limits = NoCurrent(b.limits, b)

    def __getattr__(self, name):
        return getattr(self._b, name)
