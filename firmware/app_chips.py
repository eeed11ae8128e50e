"""Starting the pack's chips from app.py's App: the front end (found, given our
configuration, handed the FETs) and the CAN controller. Needed at boot and again after a
failure (housekeeping's re-probe of a front end that stopped giving readings, the CAN
controller's retry every CAN_RETRY_MS), so App loads this module through bms/lazy.py for
it and drops it again: its code does not stay in a board's heap in service.
"""

from app import CAN_RETRY_MS
from bms import events as ev
from bms import ticks


def afe_setup(app, now, reprobe):
    """Find the front end, give it our configuration (read back), hand it the FETs.
    The driver says whether the chip still holds our configuration (no reset since):
    only then is CONFIG_UPDATE, which drops the FETs, skipped on a re-probe."""
    afe = app.afe
    ok = afe.probe()
    again = ok and not (reprobe and afe.configured)
    if again:
        ok = afe.configure(app.cfg)
    ok = ok and afe.enable_fet_control()
    # log changes and every configuration that took, not every failed retry
    if not reprobe or ok != app.afe_ok or (again and ok):
        app.events.log(now, ev.SENSOR, 1 if ok else 0, afe.errors)
    return ok


def can_setup(app, now):
    """(Re)start the CAN controller; a missing or failing one is logged (with the
    driver's FAULT_* as extra) and tried again every CAN_RETRY_MS, never allowed to
    stop the pack."""
    if app.board.can is None:
        return
    try:
        ok = app.link.start_can(now)
    except Exception:  # noqa: BLE001 - an SPI failure must not stop the boot
        ok = False
    if ok or not app._can_failed:  # a failure is logged once, not at every retry
        app.events.log(now, ev.COMM, ev.COMM_CAN, 1 if ok else 0, app.link.can_fault)
    app._can_failed = not ok
    app._can_retry_at = ticks.add(now, CAN_RETRY_MS)
