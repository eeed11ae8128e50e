"""A new firmware image's trial (service/image.py), as app.py's App runs it: once a
second, TRIAL_S healthy seconds in a row confirm the image; until then a reset rolls it
back, and so does the trial itself once TRIAL_LIMIT_S have gone without them. Imported
by App's housekeeping only while an image is on trial (after an update) and dropped when
the trial ends, so that its code is not in a board's heap otherwise.
"""

from micropython import const
from service import image

from bms import events as ev
from bms import lazy

_STORE_IMAGE = const(6)  # app.py's STORE_* operations: the image pointer's write


def step(app, now):
    """One second of the trial: healthy is a valid reading and no exception since the
    last second. A pointer that could not be written (a flash that failed) is counted
    and written again at the next second: the trial goes on meanwhile."""
    healthy = app.sample.valid and app.exceptions == app._trial_exc
    app._trial_exc = app.exceptions
    app._trial_s = app._trial_s + 1 if healthy else 0
    app._trial_age_s += 1
    fs = app.store.fs
    try:
        if app._trial_s >= image.TRIAL_S:
            image.confirm(fs)
            app.events.log(now, ev.UPDATE, image.CONFIRMED)
        elif app._trial_age_s >= image.TRIAL_LIMIT_S:
            # never TRIAL_S healthy seconds in a row: an image whose failures come too far
            # apart for the watchdog (or whose readings never come) goes back to the one
            # before it, restarted as the service link restarts a pack (the inverter told
            # first); the next boot logs the rollback
            why = "trial: not %d s healthy in a row within %d s"
            image.rollback(fs, app.trial, why % (image.TRIAL_S, image.TRIAL_LIMIT_S))
            if app.link.notice is None:
                from service.restart import Notice

                app.link.notice = Notice(app, now)
        else:
            return
    except OSError:
        lazy.run("app_save", "store_fail", app, now, _STORE_IMAGE)
        return
    if app.store_degraded:
        lazy.run("app_save", "store_ok", app, now, _STORE_IMAGE)
    app.trial = None
    lazy.drop("app_trial")  # the trial is over: its code goes with this call
