"""The RESET button: press lengths become actions.

Sampled every tick (so lengths are resolved to the tick):
- shorter than button_min_ms: bounce, ignored;
- released before button_sleep_ms (3 s): RESET - clear latched faults and lockouts, wake;
- released between button_sleep_ms and button_restart_ms (3-6 s): sleep, or wake;
- held for button_restart_ms (6 s): restart the BMS at that moment (the manual's
  "press RESET 6 s" for a pack that will not start);
- a second RESET press released within button_unlock_ms (2 s) of the first one's start:
  UNLOCK, the service link's physical unlock. It is a RESET press all the same (the
  core does what RESET does), so the gesture takes nothing from the manual's meanings.
"""

from micropython import const

from bms import ticks

NONE = const(0)
RESET = const(1)
SLEEP_WAKE = const(2)
RESTART = const(3)
UNLOCK = const(4)


class Button:
    def __init__(self, cfg):
        self.min_ms = cfg.button_min_ms
        self.sleep_ms = cfg.button_sleep_ms
        self.restart_ms = cfg.button_restart_ms
        self.unlock_ms = cfg.button_unlock_ms
        # a RESET press was released: an UNLOCK may follow (while down or first, step() has
        # work; else the core need not call it)
        self.first = False
        self._first_at = 0  # when it started
        self.down = False
        self.since = 0
        self.fired = False
        self.held_ms = 0  # length of the last press

    def step(self, pressed, now):
        """The action due this tick (one of the codes above)."""
        if pressed:
            if not self.down:
                self.down = True
                self.since = now
                self.fired = False
                return NONE
            if not self.fired and ticks.diff(now, self.since) >= self.restart_ms:
                self.fired = True
                self.held_ms = ticks.diff(now, self.since)
                return RESTART
            return NONE
        if not self.down:
            if self.first and ticks.diff(now, self._first_at) > self.unlock_ms:
                self.first = False  # (also keeps the tick difference from wrapping)
            return NONE
        self.down = False
        held = ticks.diff(now, self.since)
        self.held_ms = held
        if self.fired or held < self.min_ms:
            return NONE
        if held >= self.sleep_ms:
            self.first = False
            return SLEEP_WAKE
        if self.first and ticks.diff(now, self._first_at) <= self.unlock_ms:
            self.first = False
            return UNLOCK
        self.first = True
        self._first_at = self.since
        return RESET
