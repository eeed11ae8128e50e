"""A new firmware image's trial (service/image.py), as app.py's App runs it: once a
second, TRIAL_S healthy seconds in a row confirm the image; until then a reset rolls it
back. Imported by App's housekeeping only while an image is on trial (after an update)
and dropped when the trial ends, so that its code is not in a board's heap otherwise.
"""

from service import image

from bms import events as ev
from bms import lazy


def step(app, now):
    """One second of the trial: healthy is a valid reading and no exception since the
    last second."""
    healthy = app.sample.valid and app.exceptions == app._trial_exc
    app._trial_exc = app.exceptions
    app._trial_s = app._trial_s + 1 if healthy else 0
    if app._trial_s >= image.TRIAL_S:
        app.trial = None
        image.confirm(app.store.fs)
        app.events.log(now, ev.UPDATE, image.CONFIRMED)
        lazy.drop("app_trial")  # the trial is over: its code goes with this call
