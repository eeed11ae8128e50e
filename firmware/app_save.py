"""The app's writes to flash, for app.py's App: the state (the SOC, learned capacity,
cycles, time without a full charge, the latched faults and the lockout series open),
written when it changed (housekeeping), before a clean restart and at boot; the event
log's new records, at most once a minute in service or after an urgent event; and the
count and log of the storage operations that fail and work again. A write is a rare
event and writes a file anyway, so App loads this module through bms/lazy.py for it and
drops it again: its code does not stay in a board's heap between writes.
"""

from micropython import const

from app import STAGE_STORE, STORE_APPEND, STORE_EVENTS, STORE_SAVE, STORE_SET_ASIDE
from bms import events as ev
from bms import lazy, ticks

_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates


def save_state(app, now, unlatch, restart=False):
    """The state to flash (unlatch: with no latched faults, for a clean restart);
    returns whether it got there. A state that could not be read is never saved
    over: it is read first (app_boot.py, loaded for it). Before a restart (restart),
    the event log's records not yet on flash go first: the next boot skips the numbers
    they had, and a routine record (a mode, a limit) waits up to a minute for its write."""
    if restart:
        flush_events(app, now)
    if not app._state_read and not lazy.run("app_boot", "adopt_state", app, now):
        if not unlatch:
            return False
        # the RESET button held 5 s, the state still not read: the person clears what it
        # held latched, and the stand-in that holds the FETs open for it after a reset
        # (app_boot.take_state), so it is kept as state.bad and a new one saved (else the
        # restart found it unreadable again, and held the pack once more). One that cannot
        # be set aside is not saved over: a power cycle clears the stand-in too.
        try:
            app.store.set_aside()
        except Exception:  # noqa: BLE001
            store_fail(app, now, STORE_SAVE)
            return False
        app.events.log(now, ev.EXCEPTION, STAGE_STORE, app.store_errors, STORE_SET_ASIDE)
        app._state_read = True
    st = app.state
    b = app.bms
    started = b is not None and b.started
    if started:
        soc = b.soc
        eng = b.engine
        st["soc_q"] = soc.q_mas
        st["soc_full"] = soc.full_mas
        st["cycles"] = soc.cycles
        st["dsg_mas"] = soc.dsg_mas  # (the part cycle: a pack restarted every few hours
        # more often than it went round a cycle counted none)
        st["no_full_s"] = b.limits.no_full_s
        st["latched"] = eng.latched()
        # the lockout series open, kept across a watchdog reset as the latches are (one
        # after every second release started it again: the pack never locked): each
        # group's trips so far, and how long ago its last release was (an age: a chip's
        # ticks start again at 0)
        lock_n = list(eng.lock_n)
        st["lock_n"] = lock_n
        st["lock_rel"] = [
            ticks.age(now, eng.lock_rel[k]) if lock_n[k] else 0 for k in range(len(lock_n))
        ]
    if unlatch:
        st["latched"] = []
    if unlatch or not any(st.get("lock_n", ())):  # none (RESET, a clean restart): not kept
        st.pop("lock_n", None)
        st.pop("lock_rel", None)
    try:
        app.store.save_state(st)
    except Exception:  # noqa: BLE001
        store_fail(app, now, STORE_SAVE)
        return False
    if started:  # what is on flash now: housekeeping saves again when it changes
        app._saved_cpct = soc.cpct
        app._saved_cal = soc.cal_count
        app._saved_latch_moves = eng.latch_moves
    if app.store_degraded:
        store_ok(app, now, STORE_SAVE)
    return True


def flush_events(app, now):
    """The event log's records not yet on flash, appended (App._flush decided it is
    time); a failure leaves them in RAM for the next beat."""
    store = app.store
    try:
        store.append_events(app.events)
    except Exception:  # noqa: BLE001 - the records wait in RAM for the next beat
        # the event files not read at boot are read first (Store.append_events)
        store_fail(app, now, STORE_APPEND if store.loaded else STORE_EVENTS)
        return
    app._last_flush = now
    if app.store_degraded:
        store_ok(app, now, STORE_EVENTS)
        store_ok(app, now, STORE_APPEND)


def store_fail(app, now, op):
    """A storage operation (app.STORE_*) failed: counted, and logged when it starts
    failing (a flash that keeps failing must not flood the event log)."""
    app.store_errors = (app.store_errors + 1) & _COUNT_MASK
    bit = 1 << op
    if not app.store_degraded & bit:
        app.store_degraded |= bit
        app.events.log(now, ev.EXCEPTION, STAGE_STORE, app.store_errors, op)


def store_ok(app, now, op):
    """A storage operation that failed works again: logged (extra -op)."""
    bit = 1 << op
    if app.store_degraded & bit:
        app.store_degraded &= ~bit
        app.events.log(now, ev.EXCEPTION, STAGE_STORE, app.store_errors, -op)
