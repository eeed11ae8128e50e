"""Starting the pack's chips from app.py's App: the front end (found, given our
configuration, handed the FETs) and the CAN controller. Needed at boot and again after a
failure (housekeeping's re-probe of a front end that stopped giving readings, the CAN
controller's retry every CAN_RETRY_MS), so App loads this module through bms/lazy.py for
it and drops it again: its code does not stay in a board's heap in service. The DIP
switch's changes, as rare, are logged here too.
"""

from micropython import const

from app import CAN_RETRY_MS
from bms import events as ev
from bms import lazy, ticks

# DIP changes logged a boot (each takes effect at the next restart): a worn contact that
# flapped each second filled the event log with them, and a COVP trip was gone from the
# log and the flash within 5 minutes
_DIP_LOGS = const(4)
_CAN_CLEAN_MS = const(60000)  # app's
_BUS_OFF_LOG_MS = const(600000)


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
    # a failure is logged once, not at every retry; a restart in a quiet streak (can_down)
    # is not, but its failure is (the streak ends there: the log must not end on "up")
    silent = app._can_silent
    if (ok and not silent) or (not ok and (silent or not app._can_failed)):
        app.events.log(now, ev.COMM, ev.COMM_CAN, 1 if ok else 0, app.link.can_fault)
        app._can_silent = 0
    app._can_failed = not ok
    app._can_retry_at = ticks.add(now, CAN_RETRY_MS)


def can_down(app, now):
    """The link put the CAN controller down while it ran: logged with why, and started
    again at once, since a reset chip needs only that. Down again within _CAN_CLEAN_MS (a
    restart that does not cure it: a bus-off at every try, from a wrong bit rate or a
    shorted pair), it is tried every CAN_RETRY_MS and logged no more, nor its bus-offs,
    until it has run clean that long (app._link_events logs that, with the count): at
    one failure a second, the log lost every trip in minutes."""
    app._can_failed = True
    at = app._can_down_at
    if at >= 0 and ticks.age(now, at) < _CAN_CLEAN_MS:
        app._can_silent += 1
        app._can_retry_at = ticks.add(now, CAN_RETRY_MS)
    else:
        app.events.log(now, ev.COMM, ev.COMM_CAN, 0, app.link.can_fault)
        app._can_retry_at = now
    app._can_down_at = now


def bus_off(app, can, now):
    """The CAN controller's bus-off count moved: logged once a _BUS_OFF_LOG_MS at most,
    with the count so far, and not while the controller fails quietly (can_down): a bus
    that keeps failing must not push the trips off the log."""
    app._bus_off = can.bus_off
    at = app._bus_off_at
    if not app._can_silent and (at < 0 or ticks.age(now, at) >= _BUS_OFF_LOG_MS):
        app._bus_off_at = now
        app.events.log(now, ev.COMM, ev.COMM_BUS_OFF, can.bus_off, can.tec)


def dip_changed(app, bits, now):
    """The DIP switch reads other than it did (housekeeping's read): logged with its
    protocol and the bits in use, the first _DIP_LOGS changes since the boot; the rest
    counted (dip_changes)."""
    n = app.dip_changes + 1
    app.dip_changes = n
    if n <= _DIP_LOGS:
        proto = lazy.run("bms.dip", "effective_protocol", bits)
        app.events.log(now, ev.DIP, bits, proto, app.dip)
