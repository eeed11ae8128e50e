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

from micropython import const

from bms import lazy, ticks
from bms.sample import CELLS

BALANCE_PERIOD_MS = const(10000)


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
        if (
            not allowed
            or not s.valid
            or s.max_mv < c.balance_start_mv
            or s.cell_tmin_dc < c.balance_min_temp_dc
            or s.cell_tmax_dc > c.balance_max_temp_dc
        ):
            self.mask = 0
            return
        cells = s.cells_mv
        start = s.min_mv + c.balance_delta_mv
        keep = s.min_mv + c.balance_stop_mv
        was = self.mask
        mask = 0
        for _ in range(c.balance_max_cells):
            best = -1
            best_mv = 0
            for i in range(CELLS):
                v = cells[i]
                floor = keep if was & (1 << i) else start
                if v > floor and v > best_mv and not mask & (7 << i >> 1):
                    best = i
                    best_mv = v
            if best < 0:
                break
            mask |= 1 << best
        self.mask = mask

    def stop(self):
        """Stop at once (a protection, the safe state); sent at the next issue."""
        if self.mask:
            self.mask = 0
            self.issue = True

    def cells(self):
        """The cells being bled, numbered 1-16 (for the trace)."""
        return [i + 1 for i in range(CELLS) if self.mask & (1 << i)]
