"""Cell balancing: which cells to bleed, decided every BALANCE_PERIOD_MS.

pack.md: bleed the cells more than balance_delta_mv above the lowest while the highest
is at or above balance_start_mv and the pack is charging or idle. A cell already
bleeding goes on until it is within balance_stop_mv of the lowest, as the chip's own
balancing does with its start and stop deltas (without it the cells settle at the
start threshold and measurement noise flips the bleeding on and off). Never while a
protection forbids it (the caller says), outside the temperature window, or with an
invalid reading. The chip bleeds no two neighbouring cells at once and at most
balance_max_cells, so the choice respects that: the highest eligible cells first,
skipping neighbours of cells already chosen (a skipped cell gets its turn once its
neighbour has come down). Every decision is re-issued to the chip (`issue`), which
also keeps the chip's own balancing timer from running out.
"""

import micropython
from micropython import const

from bms import lazy, ticks

BALANCE_PERIOD_MS = const(10000)
ptr32 = int  # viper's pointer type, named for CPython (annotations are evaluated)
_CELLS = const(16)  # bms.sample's CELLS (test_tick_shortcuts checks it)


@micropython.viper
def _choose(cells, mv: ptr32, start: int, keep: int, was: int, most: int) -> int:
    """The cells to bleed (bit i = cells[i]): up to `most` times the highest cell above
    its floor (keep while it bleeds, in was, else start) that neighbours no cell chosen
    already. mv: room for the cells' values, read from the list once. (Viper: in
    bytecode the passes over the 16 cells cost an RP2040 ~50 000 cycles each, up to 8
    of them in the tick that makes the decision.)"""
    i = 0
    while i < _CELLS:
        # (a cell at 0 mV or below is never chosen, as 0 is not: kept out of mv, where a
        # 64-bit port would read it back as a large positive value)
        v = int(cells[i])
        mv[i] = v if v > 0 else 0
        i += 1
    mask = 0
    m = 0
    while m < most:
        best = -1
        best_mv = 0
        i = 0
        while i < _CELLS:
            v = mv[i]
            floor = start
            if was & (1 << i):
                floor = keep
            if v > floor and v > best_mv and not (mask & (7 << i >> 1)):
                best = i
                best_mv = v
            i += 1
        if best < 0:
            break
        mask |= 1 << best
        m += 1
    return mask


class Balancer:
    def __init__(self, cfg):
        """cfg: the config. The body (every attribute, commented) is in
        bms/parts_init.py, loaded for it and dropped after: built once, at boot."""
        lazy.run("bms.parts_init", "balancer", self, cfg)

    def step(self, s, allowed, now):
        if self._next >= 0 and ticks.diff(now, self._next) < 0:
            return
        self._next = ticks.add(now, BALANCE_PERIOD_MS)
        self.issue = True
        c = self.cfg
        if not allowed or not s.valid or s.max_mv < c.balance_start_mv or not self.in_window(s):
            self.mask = 0
            return
        lo = s.min_mv
        self.mask = _choose(
            s.cells_mv, self._mv, lo + c.balance_delta_mv, lo + c.balance_stop_mv, self.mask,
            c.balance_max_cells,
        )  # fmt: skip

    def in_window(self, s):
        """Whether the cells' temperatures are within the configured balancing window
        (the core asks at every tick while cells bleed, step() at each decision)."""
        c = self.cfg
        return c.balance_min_temp_dc <= s.cell_tmin_dc and s.cell_tmax_dc <= c.balance_max_temp_dc

    def stop(self):
        """Stop at once (a protection, the safe state); sent at the next issue."""
        if self.mask:
            self.mask = 0
            self.issue = True

    def rebase(self, now):
        """The next decision due at once if its stamp reads as further ahead than a
        period: kept through a block of 6.2 days or more (the app asks once a second), a
        stamp reads as the future, and no decision came for as long again."""
        if self._next >= 0 and ticks.diff(self._next, now) > BALANCE_PERIOD_MS:
            self._next = -1

    def cells(self):
        """The cells being bled, numbered 1-16 (for the trace)."""
        return [i + 1 for i in range(_CELLS) if self.mask & (1 << i)]
