"""Pre-charge: lift the inverter's input capacitors before the discharge FET closes.

When discharging becomes allowed while the load side (the front end's LD pin) is more
than `precharge_margin_mv` below the stack, the pre-charge FET (a resistor path) is
switched on first. The discharge FET closes, and the pre-charge FET opens, at the first
tick the load side is within the margin. A try that has not got there within
`precharge_timeout_ms` ends with the pre-charge FET off and, after
`precharge_retry_ms`, the next try; so does a try cut short because discharging is no
longer allowed. When the tries since the last success have kept the resistor on for
`precharge_tries` timeouts' worth (three timed-out tries, or more cut short), `failed`
is set (the PRECHARGE_FAIL protection latches on it) until RESET, and the pause after
the last one still runs after RESET: the resistor is rated for pulses. (Tries cut short
count their time on only: uncounted, chatter on the passive input kept the resistor on
576 s in 600 and never failed; counted whole, three cut short by a rapid shutdown
latched a failure that needs a person.) A load side already within the margin (an
inverter holding its bus up, a charger) needs no pre-charge.
"""

from micropython import const

from bms import events as ev
from bms import lazy, ticks

IDLE = const(0)
_RUNNING = const(1)
_WAITING = const(2)
CLOSED = const(3)

# PRECHARGE event `what`
_STARTED = const(1)
_DONE = const(2)
_TIMED_OUT = const(3)
_CUT_SHORT = const(4)


class Precharge:
    def __init__(self, cfg, events):
        """cfg: the config; events: the event log. The body (every attribute, commented) is in
        bms/parts_init.py, loaded for it and dropped after: built once, at boot."""
        lazy.run("bms.parts_init", "precharge", self, cfg, events)

    def reset(self):
        """RESET: forget failed tries (a retry pause runs on)."""
        self.tries = 0
        self.on_ms = 0
        self.failed = False

    def step(self, want_dsg, stack_mv, ld_mv, now):
        """Decide the discharge and pre-charge FETs for this tick."""
        if not want_dsg or self.failed:
            if self.state == _RUNNING:
                self._end(_CUT_SHORT, ld_mv, now)
            elif self.state != _WAITING:  # a retry pause runs on
                self.state = IDLE
            self.dsg = False
            self.pre = False
            return
        if self.state == CLOSED:
            return
        # (few locals, the rare paths in methods of their own: a frame of more than 11
        # words is allocated on the heap at every call, and this one runs every tick)
        near = ld_mv >= stack_mv - self.cfg.precharge_margin_mv
        if self.state == _RUNNING:
            self._running(near, ld_mv, now)
            return
        # (a pause begun more than 6.2 days ago, discharge not wanted meanwhile, is over:
        # ticks.age; read as ahead, it held discharge off for 5 days more)
        if self.state == _WAITING and ticks.age(now, self.since) < self.cfg.precharge_retry_ms:
            return
        if near:
            self._close()
            return
        self._start(ld_mv, now)

    def _running(self, near, ld_mv, now):
        if near:
            self.events.log(now, ev.PRECHARGE, _DONE, ld_mv, self.tries + 1)
            self._close()
        else:
            # (its timeout, or the tries' time on at their whole budget: a try begun just
            # under it ran a timeout more, 32 % over)
            c = self.cfg
            t = ticks.diff(now, self.since)
            if (
                t >= c.precharge_timeout_ms
                or self.on_ms + t >= c.precharge_tries * c.precharge_timeout_ms
            ):
                self._end(_TIMED_OUT, ld_mv, now)

    def _end(self, what, ld_mv, now):
        """A try ends without the load side near: its time on counted, then the pause."""
        self.tries += 1
        self.on_ms += ticks.age(now, self.since)
        self.events.log(now, ev.PRECHARGE, what, ld_mv, self.tries)
        self.pre = False
        self.since = now
        self.state = _WAITING
        c = self.cfg
        if self.on_ms >= c.precharge_tries * c.precharge_timeout_ms:
            self.failed = True

    def _start(self, ld_mv, now):
        self.state = _RUNNING
        self.since = now
        self.pre = True
        self.events.log(now, ev.PRECHARGE, _STARTED, ld_mv, self.tries + 1)

    def _close(self):
        self.state = CLOSED
        self.tries = 0
        self.on_ms = 0
        self.dsg = True
        self.pre = False
