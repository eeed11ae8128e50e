"""The RESET button: press lengths become actions.

Sampled every tick (so lengths are resolved to the tick):
- shorter than button_min_ms: bounce, ignored;
- released before button_sleep_ms (3 s): RESET - clear latched faults and lockouts, wake;
- released between button_sleep_ms and button_restart_ms (3-6 s): sleep, or wake;
- held for button_restart_ms (6 s): restart the BMS at that moment (the manual's
  "press RESET 6 s" for a pack that will not start).
"""

from micropython import const

from bms import ticks

NONE = const(0)
RESET = const(1)
SLEEP_WAKE = const(2)
RESTART = const(3)


class Button:
    def __init__(self, cfg):
        self.min_ms = cfg.button_min_ms
        self.sleep_ms = cfg.button_sleep_ms
        self.restart_ms = cfg.button_restart_ms
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
            return NONE
        self.down = False
        held = ticks.diff(now, self.since)
        self.held_ms = held
        if self.fired or held < self.min_ms:
            return NONE
        return RESET if held < self.sleep_ms else SLEEP_WAKE
