"""What the service link's status reads of the core: the active protections and warnings
by the manual's names (bms/core.py's Bms.protection_names() and warning_names()) and the
limits as a dict (bms/limits.py's Limits.as_dict()). Not the tick's: the core loads this
module through bms/lazy.py for each call and drops it after.
"""

from bms import protections as pt


def protections(b):
    """Active protections, locked ones with ':LOCKED', and RSD while the rapid-shutdown
    input holds the pack off."""
    out = []
    names = b.engine.names
    for n in range(1, pt.FIRST_WARNING):
        if names & (1 << n):
            out.append(pt.NAMES[n] + (":LOCKED" if b.engine.locked & (1 << n) else ""))
    if b._in_on & 1:  # (core._IN_RSD)
        out.append("RSD")
    return out


def warnings(b):
    """Active warnings."""
    out = []
    names = b.engine.names
    for n in range(pt.FIRST_WARNING, len(pt.NAMES)):
        if names & (1 << n):
            out.append(pt.NAMES[n])
    return out


def limits(lim):
    """Limits.as_dict() (allocates)."""
    return {
        "cvl_mv": lim.cvl_mv,
        "ccl_ma": lim.ccl_ma,
        "dcl_ma": lim.dcl_ma,
        "dvl_mv": lim.dvl_mv,
        "charge_enable": lim.charge_enable,
        "discharge_enable": lim.discharge_enable,
        "force_charge": lim.force_charge,
        "full_charge_request": lim.full_request,
    }
