"""The state to flash, for app.py's App: the SOC, learned capacity, cycles, time without
a full charge and the latched faults, written when they changed (housekeeping), before a
clean restart and at boot. A save is a rare event (at most every few minutes in service)
and writes a file anyway, so App loads this module through bms/lazy.py for it and drops
it again: its code does not stay in a board's heap between saves.
"""

from app import STORE_SAVE


def save_state(app, now, unlatch):
    """The state to flash (unlatch: with no latched faults, for a clean restart);
    returns whether it got there. A state that could not be read is never saved
    over: it is read first."""
    if not app._state_read and not app._adopt_state(now):
        return False
    st = app.state
    b = app.bms
    started = b is not None and b.started
    if started:
        soc = b.soc
        latched = b.engine.latched()
        st["soc_q"] = soc.q_mas
        st["soc_full"] = soc.full_mas
        st["cycles"] = soc.cycles
        st["no_full_s"] = b.limits.no_full_s
        st["latched"] = latched
    if unlatch:
        st["latched"] = []
    try:
        app.store.save_state(st)
    except Exception:  # noqa: BLE001
        app._store_fail(now, STORE_SAVE)
        return False
    if started:  # what is on flash now: housekeeping saves again when it changes
        app._saved_cpct = soc.cpct
        app._saved_cal = soc.cal_count
        app._saved_mode = b.mode
        app._saved_latched = latched
    if app.store_degraded:
        app._store_ok(now, STORE_SAVE)
    return True
