"""The RESET button: press lengths become actions.

Sampled every tick (so lengths are resolved to the tick):
- shorter than button_min_ms, or seen pressed at one sample only: bounce, ignored (one
  sample reads as a tick long: at a 200 ms tick a glitch on the line cleared every latch);
  a press ends at its second sample released in a row (its length to the first), so one
  released sample within a hold is bounce too, and each action comes a tick after the
  release;
- released before button_sleep_ms (3 s): RESET - clear latched faults and lockouts, wake;
- released between button_sleep_ms and button_restart_ms (3-5 s): sleep, or wake;
- held for button_restart_ms (5 s): restart the BMS at that moment (the manual's
  "press RESET 6 s" for a pack that will not start: 5 s, so that a press of "6 s" as
  a person counts it always gets there, never the sleep);
- a second RESET press released within button_unlock_ms (2 s) of the first one's start:
  UNLOCK, the service link's physical unlock. It is a RESET press all the same (the
  core does what RESET does), so the gesture takes nothing from the manual's meanings.
A press already down when the button is first sampled counts for nothing: the first
action needs a release seen after boot (a stuck button would otherwise restart the BMS,
clearing every latched fault, every 5 s).
"""

from micropython import const

from bms import lazy, ticks

NONE = const(0)
RESET = const(1)
_SLEEP_WAKE = const(2)
RESTART = const(3)
UNLOCK = const(4)


class Button:
    def __init__(self, cfg):
        """cfg: the config. The body (every attribute, commented) is in
        bms/parts_init.py, loaded for it and dropped after: built once, at boot."""
        lazy.run("bms.parts_init", "button", self, cfg)

    def step(self, pressed, now):
        """The action due this tick (one of the codes above)."""
        if pressed:
            if not self.down:
                self.down = 1  # (samples seen pressed, counted to 2)
                self.since = now
                self.fired = False
                return NONE
            self.down = 2  # (and a single sample seen released: bounce, the press goes on)
            if not self.fired and ticks.diff(now, self.since) >= self.cfg.button_restart_ms:
                self.fired = True
                self.held_ms = ticks.diff(now, self.since)
                return RESTART
            return NONE
        if not self.down:
            if self.first and ticks.diff(now, self._first_at) > self.cfg.button_unlock_ms:
                self.first = False  # (also keeps the tick difference from wrapping)
            return NONE
        if self.down == 2:
            # released once: the press ends at the next sample released too, as long as it
            # was then (a contact bouncing open once in a 6 s hold ended it at 2 s: RESET,
            # and the rest of the hold a sleep that opened a running pack's FETs)
            self.down = 3
            self.held_ms = ticks.diff(now, self.since)
            return NONE
        once = self.down == 1  # (seen pressed at one sample: bounce)
        self.down = 0
        held = self.held_ms
        if self.fired or once or held < self.cfg.button_min_ms:
            return NONE
        if held >= self.cfg.button_sleep_ms:
            self.first = False
            return _SLEEP_WAKE
        # (the pair's window judged at the release, its first sample released)
        end = ticks.add(self.since, held)
        if self.first and ticks.diff(end, self._first_at) <= self.cfg.button_unlock_ms:
            self.first = False
            return UNLOCK
        self.first = True
        self._first_at = self.since
        return RESET
