"""The front panel's LED patterns, exactly as the manual's table (section 3.3.3.4).

select() is given the state and picks one pattern per LED (the core calls it when the
state's patterns_key() changed, which most ticks it does not); leds() is called on the
50 ms beat and turns the patterns into levels at that instant. Flash
patterns start with their ON phase at the moment the selection changes, so a new state
is visible at once and every waveform is reproducible.

Ours beside the manual's: the M/S LED flashing FLASH2 while the service link is unlocked
(the manual only ever lights M/S steadily, on the master); an SOC LED lit at its
threshold goes out only _SOC_HYST_CPCT (1 %) below it (a current of +-0.4 A at 50 %
moved LED3 123 times an hour, and each change restarted every flash).

Patterns: FLASH1 0.25 s on / 3.75 s off, FLASH2 0.5 / 0.5, FLASH3 0.5 / 1.5.
"""

from array import array

import micropython
from micropython import const

ptr8 = ptr16 = int  # viper's pointer types, named for CPython (annotations are evaluated)

OFF = const(0)
ON = const(1)
FLASH1 = const(2)
FLASH2 = const(3)
FLASH3 = const(4)
_ON_MS = array("H", (0, 1, 250, 500, 500))
_PERIOD_MS = array("H", (1, 1, 4000, 1000, 2000))  # (app.py's _REPHASE_MS: a multiple)

# LED slots (bit order of drivers.panel)
RUN = const(0)
ALM = const(1)
SOC1 = const(2)
MS = const(6)

# what the panel shows, in priority order (the first that applies wins: bms/core.py),
# but for asleep, which comes after a failure and a temperature
_SHOW_OFF = const(0)  # power off or asleep
_SHOW_FAILURE = const(1)  # cell/NTC/sensor failure, MOS failure, reversed polarity/SCP, pre-charge
_SHOW_TEMPERATURE = const(2)  # CHTP/DHTP/CLTP/DLTP and MOS over-temperature
_SHOW_DOCP = const(3)
_SHOW_UVP = const(4)  # CUVP/PUVP
_SHOW_RSD = const(5)  # rapid shutdown asserted (not in the manual: ours)
_SHOW_COCP = const(6)
_SHOW_CHARGE = const(7)
_SHOW_DISCHARGE = const(8)
_SHOW_STANDBY = const(9)

# the temperature row's SOC LEDs are garbled in the manual; our reading: 1-2 on, 3-4 off
TEMPERATURE_SOC = (ON, ON, OFF, OFF)


def soc_leds(soc_cpct):
    """SOC LEDs lit: LED1 above 0 %, LED2 from 25 %, LED3 from 50 %, LED4 from 75 %."""
    if soc_cpct <= 0:
        return 0
    if soc_cpct < 2500:
        return 1
    if soc_cpct < 5000:
        return 2
    if soc_cpct < 7500:
        return 3
    return 4


_SOC_HYST_CPCT = const(100)
_MS_ON = const(1)  # select()'s ms: the M/S LED lit (the master of a parallel system)
_MS_UNLOCKED = const(2)  # the service link's unlock: M/S flashes (FLASH2)


def patterns_key(show, soc_cpct, ms, key):
    """select()'s inputs as the patterns depend on them, one number: show in bits 0-3,
    the SOC LEDs lit (0-4) in bits 4-6, then the warning (given in show, as 128) and
    the M/S flags; key: the last one (-1: none), whose SOC LEDs stay lit down to
    _SOC_HYST_CPCT under their threshold. The same key gives the same patterns (the
    core asks select() only when it changes). (The warning in show: an argument more
    made select()'s frame 12 words, which MicroPython takes from the heap.)"""
    # (soc_leds() written out: a call costs a board more than this)
    lit = 0 if soc_cpct <= 0 else (4 if soc_cpct >= 7500 else soc_cpct // 2500 + 1)
    if lit and lit + 1 == key >> 4 & 7 and soc_cpct + _SOC_HYST_CPCT >= lit * 2500:
        lit += 1
    return show | lit << 4 | (ms & 3) << 8


class PanelLogic:
    def __init__(self):
        self.pattern = bytearray(7)
        self._next = bytearray(7)
        self.origin = 0
        self.show = _SHOW_OFF
        self._key = -1  # select()'s last patterns_key() (the core reads it: bms/core.py)

    def select(self, show, warning, soc_cpct, ms, now):
        """Pick the patterns for `show` (a SHOW_* code); ms: MS_ON (the M/S LED: the
        master of a parallel system) and MS_UNLOCKED (the service unlock) or-ed."""
        # (the key in show's place: no local added, so the frame keeps to 11 words, which
        # MicroPython takes from the C stack, not the heap)
        show = patterns_key(show | 128 if warning else show, soc_cpct, ms, self._key)
        if show != self._key:  # (the same key gives the same patterns)
            self._key = show
            self._patterns(show, now)

    def _patterns(self, key, now):
        show = key & 15
        lit = (key >> 4) & 7
        warning = key & 128
        ms_on = key & 256
        unlocked = key & 512
        p = self._next
        for i in range(7):
            p[i] = OFF
        alarm = FLASH3 if warning else OFF
        if show == _SHOW_FAILURE or show == _SHOW_DOCP:
            p[ALM] = ON
        elif show == _SHOW_TEMPERATURE:
            p[ALM] = ON
            for k in range(4):
                p[SOC1 + k] = TEMPERATURE_SOC[k]
        elif show == _SHOW_UVP:
            p[ALM] = FLASH3
        elif show != _SHOW_OFF:
            if show == _SHOW_RSD:
                p[ALM] = ON
            elif show == _SHOW_COCP:
                p[RUN] = FLASH1
            elif show == _SHOW_CHARGE:
                p[RUN] = ON
                p[ALM] = alarm
            elif show == _SHOW_DISCHARGE:
                p[RUN] = FLASH3
                p[ALM] = alarm
            else:
                p[RUN] = FLASH1
                p[ALM] = alarm
            for k in range(lit):
                p[SOC1 + k] = ON
            if show == _SHOW_CHARGE:
                p[SOC1 + (lit - 1 if lit else 0)] = FLASH2
        if show != _SHOW_OFF and ms_on:
            p[MS] = ON
        if unlocked:
            p[MS] = FLASH2
        self.show = show
        changed = False
        for i in range(7):
            if p[i] != self.pattern[i]:
                changed = True
                self.pattern[i] = p[i]
        if changed:
            self.origin = now

    def leds(self, elapsed_ms):
        """The LED bit mask `elapsed_ms` after the selection last changed."""
        return _levels(self.pattern, _ON_MS, _PERIOD_MS, elapsed_ms)


@micropython.viper
def _levels(pattern: ptr8, on_ms: ptr16, period_ms: ptr16, elapsed_ms: int) -> int:
    """The LEDs lit at elapsed_ms (viper: on the 50 ms beat, every beat)."""
    if elapsed_ms < 0:
        elapsed_ms = 0  # (C's remainder would differ from Python's below zero)
    mask = 0
    i = 0
    while i < 7:
        pat = pattern[i]
        if pat == ON or (pat > ON and elapsed_ms % period_ms[pat] < on_ms[pat]):
            mask |= 1 << i
        i += 1
    return mask
