"""A service restart (RESTART, or an update armed) announced before it happens.

For NOTICE_MS the links report the pack as asking for no current (nocurrent.py: CCL and
DCL 0, the charge and discharge enable bits off, no force or full charge request) in the
inverter's frames and Pylon RS485 answers, and on a slave in its pack-link LIMITS, from
which the master's system leaves it out. The inverter ramps its current down while the
FETs stay as the core has them; then, between ticks, the FETs go off, the state is saved
and the board restarts (the new image, or the stored config, applies at the start; the
wall clock set over the service link goes on from the restart, a second or so behind:
the state carries it to the next boot, App.start). Everything else the links report is
the core's own, and the protection runs on throughout.

Loaded only when a restart is asked for over the service link; the app checks
`link.notice` between ticks (App.comms).
"""

from micropython import const
from nocurrent import Stopped

from bms import ticks

NOTICE_MS = const(3000)


class Notice:
    def __init__(self, app, now):
        self.app = app
        self.until = ticks.add(now, NOTICE_MS)
        self._views = []  # (what, its view): the core and the system's, made once each

    def view(self, b):
        """b as the links report it now."""
        for what, v in self._views:
            if what is b:
                return v
        v = Stopped(b)
        self._views.append((b, v))
        return v

    def due(self, now):
        """At the notice's end: FETs off, state saved, restart (True: restarting)."""
        if ticks.diff(now, self.until) < 0:
            return False
        app = self.app
        app.fets.off()
        c = app.service_clock
        if c is not None:  # the wall clock at the restart: the next boot takes it up
            app.state["clock_s"] = c[0] + ticks.diff(now, c[1]) // 1000
        app._save_state(now, False, True)  # (the event log's new records first)
        app.link.notice = None
        app.board.restart()
        return True
