"""Millisecond tick arithmetic that survives the wrap of the board's ticks_ms().

On RP2040 and ESP32 ticks_ms() counts modulo 2**30 (wrapping every 12.4 days), so
every duration in the core is a difference taken here, never a plain subtraction.
Differences are valid up to half the period (6.2 days); longer spans are counted in
coarser units by the code that needs them.

All are viper: called a dozen times a tick and on every poll, a viper call costs an
RP2040 a quarter of a Python one. Arguments below 2**30 keep the machine words of both a
32-bit chip and the 64-bit unix port exact.
"""

import micropython
from micropython import const

_PERIOD = const(0x40000000)
_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)


@micropython.viper
def diff(end: int, start: int) -> int:
    """end - start in ms, signed, as time.ticks_diff does on the board."""
    return ((end - start + _HALF) & _MASK) - _HALF


@micropython.viper
def age(now: int, start: int) -> int:
    """now - start in ms, as diff(), for a time in the past: one that reads as ahead (its
    difference past half the period wrapped negative: more than 6.2 days ago) is as old
    as a difference can be, _HALF, past every window (read as ahead, it held a window
    open for days more)."""
    d = ((now - start + _HALF) & _MASK) - _HALF
    return d if d >= 0 else _HALF


@micropython.viper
def add(start: int, delta: int) -> int:
    """start + delta in ms, wrapped like time.ticks_add."""
    return (start + delta) & _MASK
