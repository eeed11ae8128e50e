"""The protection engine's constructor (bms/protect.py's Engine), loaded by bms.lazy for
the one engine a boot builds and dropped after, so that its code does not stay in a
board's heap. Every attribute of an Engine is made here; and the engine's rare
questions (what a restart keeps and what it would lose), loaded for them likewise.
"""

from array import array

from micropython import const

from bms import events as ev
from bms import ticks
from bms.protect import LATCHED, LOCKED, PENDING, TRIPPED, normalised_trip

_NO_REL = const(0x3FFFFFFF)  # bms.protect's: a release value never reached
# the highest release group and lockout group a row may name (bms.protections' G_* and
# L_* number 1 and 2)
_GROUPS = const(4)
_LOCKS = const(4)


def init(self, rows, events, lock_count, lock_window_ms):
    n = len(rows)
    self.n = n
    self.events = events
    self.name = bytearray(n)
    self.src = bytearray(n)
    self.over = bytearray(n)  # 1: trips above (sign +1), 0: below (sign -1)
    self.trip = array("i", bytes(4 * n))
    self.delay = [0] * n
    self.rel = [0] * n
    self.rel_after = [0] * n
    self.action = bytearray(n)
    self.flags = bytearray(n)
    self.group = bytearray(n)
    self.lock = bytearray(n)
    self.state = bytearray(n)
    # the debounce rule's count, per row (trip side while PENDING, release side while
    # TRIPPED): the current window's start (also the trip time), the time held in it
    # and in the previous window, the time since the condition was last seen (-1:
    # seen at the last look), and when the row was last looked at
    self.since = [0] * n
    self.held = [0] * n
    self.prev = [0] * n
    self.quiet = [0] * n
    self.seen = [0] * n
    self.todo = bytearray(n)  # the rows _scan found for this tick
    self.out = array("i", bytes(20))  # _summary's results
    self.lock_count = lock_count
    self.lock_window_ms = lock_window_ms
    # each lockout group's trips in a row (consecutive: each within lock_window_ms of
    # the group's last release), and that release's time
    self.lock_rel = [0] * (_LOCKS + 1)
    self.lock_n = bytearray(_LOCKS + 1)
    # the rows of each release group, to judge a group release without a walk
    members = [[] for _ in range(_GROUPS + 1)]
    for i in range(n):
        row = rows[i]
        sign = 1 if row.over else -1
        self.name[i] = row.name
        self.src[i] = row.src
        self.over[i] = 1 if row.over else 0
        self.trip[i] = normalised_trip(row.trip, row.over, row.inclusive)
        self.delay[i] = row.delay_ms
        self.rel[i] = _NO_REL if row.rel is None else row.rel * sign
        self.rel_after[i] = row.rel_after_ms
        self.action[i] = row.action
        self.flags[i] = row.flags
        self.group[i] = row.group
        self.lock[i] = row.lock
        if row.group:
            members[row.group].append(i)
    self.members = [tuple(m) for m in members]
    # after step(): FET action bits of every active row; those of latched or locked
    # rows; whether an active row opens both FETs (a fault); names as bit masks
    self.blocked = 0
    self.blocked_hold = 0
    self.hard = False
    self.names = 0
    self.locked = 0
    self.warned = 0  # warning names announced (WARN logged, WARN_CLEAR not yet)
    # rows gone to or from LATCHED or LOCKED, and the lockout counts moved, counted: what
    # the state saves of the engine (latched(), lock_n, lock_rel) has moved when this has
    # (housekeeping asks each second, and latched() builds a list)
    self.latch_moves = 0
    self._reset = False
    self._dirty = False  # a row went to or from TRIPPED and beyond: summarise again


def restore_latched(engine, pairs, now, extra=0, lock_n=(), lock_rel=()):
    """What the state saved of the engine, put back after a reset that is not a power-on
    (app_boot.py, at boot or at the late read of a state not read then):
    - pairs: what latched() returned, each row logged LATCH or LOCK with value -1 and
      extra (app.STORE_STATE for the stand-in of a state that could not be read);
    - lock_n, lock_rel: the lockout series the reset interrupted, each group's trips so
      far and how long ago (ms) its last release was at the save (an age: a chip's
      ticks start again at 0). The time from that save to the reset is not known and
      counts as none: the series may run on that much longer, a lock a person clears
      rather than trips without end. A group this life has counted keeps its own."""
    for k in range(0, len(pairs) - 1, 2):
        i = pairs[k]
        st = pairs[k + 1]
        if type(i) is int and 0 <= i < engine.n and (st == LATCHED or st == LOCKED):
            if engine.state[i] == st:
                continue  # so already (the stand-in, named by the state read late): once
            engine.state[i] = st
            engine._dirty = True
            engine.latch_moves = (engine.latch_moves + 1) & 0x3FFFFFFF
            engine._begin(i, now, False)
            code = ev.LOCK if st == LOCKED else ev.LATCH
            engine.events.log(now, code, engine.name[i], -1, extra)
    for lk in range(min(len(lock_n), len(lock_rel), len(engine.lock_n))):
        if lock_n[lk] and not engine.lock_n[lk]:
            engine.lock_n[lk] = lock_n[lk]
            engine.lock_rel[lk] = ticks.add(now, -lock_rel[lk])


def restart_loses(engine, vals):
    """Whether a restart now would release a row early: one that opens a FET and is
    pending, or tripped and waiting for its release (its value back inside its release
    band, or an over-current row's release time). A restart keeps only the LATCHED and
    LOCKED rows (latched()); a row still past its trip trips again at the boot, before
    the FETs close (config: each such delay within boot_settle_ms). vals: the values by
    slot, as the engine reads them."""
    state = engine.state
    for i in range(engine.n):
        st = state[i]
        if not engine.action[i] or st < PENDING or st > TRIPPED:
            continue
        v = vals[engine.src[i]]
        past = (v if engine.over[i] else -v) >= engine.trip[i]
        if st == PENDING or engine.rel_after[i] or not past:
            return True
    return False
