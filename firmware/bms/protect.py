"""The protection engine: one state machine, driven by a table of rows.

Each row watches one value (a slot of the per-tick `vals` list) and walks
IDLE -> PENDING (the delay runs) -> TRIPPED -> IDLE again (released), or stays in
LATCHED (released only by RESET or its own release path) or LOCKED (lock_count trips in
a row, each within the lockout window of the last release; RESET only). Warnings are
rows with no FET action.

Comparisons are normalised when the table is built: a row is over its trip when
`vals[src] * sign >= trip` and back in range when `vals[src] * sign <= rel`, so "> 50 C"
is stored as ">= 501" and "<= 2.80 V" as "-v >= -2800".

The delay measures how long the condition has held, and brief returns into range do not
wipe that time out (a chattering over-voltage, ripple, a loose sense wire). The rule:
- the count starts at the first tick that sees the condition (PENDING); the time between
  two looks counts as held when the condition was seen at the first of them;
- time is kept in windows of one delay, from that first tick: the row trips at a tick
  that sees the condition when the time it held in the current and the previous window
  adds up to the delay;
- a whole delay in range returns the row to IDLE, its count cleared.
So a condition that holds without a break trips exactly `delay` after the first tick that
saw it (1000 ms from t: at the tick where now - t >= 1000), one that holds more than half
of the time trips within twice its delay (the two windows span up to two delays), and
one that holds less than half of a pair of windows never does. An up/down counter (time
in range counting down) cannot give both: at 60 % duty it needs five delays. Memory stays
bounded to two delays, so old chatter cannot hold back a later trip.
Value releases are judged by the same rule: the release condition (the value back inside
its release, with its group) must hold for the row's delay. Warnings too (their delay is
warn_delay_ms), so the ALM LED does not flicker on noise. The releases the manual makes
immediate (effective current, a charger, RESET) and the over-current rows' time release
are unchanged.

Release paths, each a flag or field of the row:
- value: the row's value back in range; with F_GROUP also every row of its release
  group (the manual releases COVP and POVP only when both the pack and every cell are
  back; PUVP waits for the cells, CUVP for its cells only);
- time: `rel_after` ms after the trip (over-current);
- current: effective discharge (F_REL_DSG) or charge (F_REL_CHG) current; F_REL_CHARGER
  also accepts a charger seen at the terminals while the FETs are open;
- RESET: clears LATCHED and LOCKED rows.
Current, charger and RESET releases need the trip condition itself gone (a still
shorted output, a cell still at 3.65 V, a sensor still failed keep their row): releasing
a live fault would only close a FET for a tick before it trips again.

Lockouts count over-current events, not rows: a trip counts only when no other row of
its lockout group is already active, so two steps tripping on one tick are one event.
The engine allocates nothing per tick; events go to the event log.

Speed (an RP2040 runs about 1 000 cycles per Python statement): a viper kernel finds the
rows with anything to do this tick (not idle, or idle and over its trip), usually none,
and only those run the Python logic; the summary (blocked FETs, names) is recomputed by
a second kernel only when a row changed state. `vals` and the trips are array('i').
"""

import micropython
from micropython import const

from bms import events as ev
from bms import lazy, ticks

ptr8 = ptr32 = int  # viper's pointer types, named for CPython (annotations are evaluated)

IDLE = const(0)
PENDING = const(1)
TRIPPED = const(2)
LATCHED = const(3)
LOCKED = const(4)

# FET action bits
OPEN_CHG = const(1)
OPEN_DSG = const(2)
_BOTH = const(3)

# flags
F_WARNING = const(0x01)  # reported as a warning; opens nothing
F_LATCH = const(0x02)  # trips into LATCHED
F_REL_DSG = const(0x04)  # released by effective discharge current
F_REL_CHG = const(0x08)  # released by effective charge current
F_REL_CHARGER = const(0x10)  # released by a charger at the terminals (FETs open)
F_ANY_SAMPLE = const(0x20)  # evaluated even when the front-end reading is invalid
F_GROUP = const(0x40)  # a value release waits for every row of its release group

# release paths, logged as the RELEASE event's `extra`
BY_VALUE = const(1)
_BY_TIME = const(2)
BY_CURRENT = const(3)
BY_CHARGER = const(4)
BY_RESET = const(5)

_NO_REL = const(0x3FFFFFFF)  # a release value never reached: only other paths release


def normalised_trip(value, over, inclusive):
    """A trip value as the engine compares it: value*sign >= this."""
    return value * (1 if over else -1) + (0 if inclusive else 1)


# Viper reads a ptr32 zero-extended on a 64-bit port (the unix port): a negative value
# (a temperature, an under-trip) then reads >= 2**31 and is folded back. No value of ours
# reaches 2**30, so on a 32-bit chip (where the load is already right) the fold never runs.
@micropython.viper
def _scan(vals: ptr32, src: ptr8, over: ptr8, trip: ptr32, state: ptr8, flags: ptr8,
          todo: ptr8, n: int, valid: int) -> int:  # fmt: skip
    """Write into todo the rows that need the Python logic this tick; returns how many."""
    k = 0
    i = 0
    while i < n:
        st = state[i]
        if valid or flags[i] & F_ANY_SAMPLE:
            if st:
                todo[k] = i
                k += 1
            else:
                v = int(vals[src[i]])
                if v > 0x3FFFFFFF:
                    v = v - 0x3FFFFFFF - 0x3FFFFFFF - 0x3FFFFFFF - 0x3FFFFFFF - 4
                if not over[i]:
                    v = 0 - v
                t = int(trip[i])
                if t > 0x3FFFFFFF:
                    t = t - 0x3FFFFFFF - 0x3FFFFFFF - 0x3FFFFFFF - 0x3FFFFFFF - 4
                if v >= t:
                    todo[k] = i
                    k += 1
        elif st == TRIPPED:
            todo[k] = i
            k += 1
        i += 1
    return k


@micropython.viper
def _summary(state: ptr8, action: ptr8, name: ptr8, out: ptr32, n: int):
    """out: FET action bits of the active rows, those of the latched or locked ones,
    1 if an active row opens both FETs, the active names, the locked names."""
    blocked = 0
    hold = 0
    hard = 0
    names = 0
    locked = 0
    i = 0
    while i < n:
        st = state[i]
        if st >= TRIPPED:
            a = action[i]
            blocked |= a
            if st >= LATCHED:
                hold |= a
            if a == _BOTH:
                hard = 1
            bit = 1 << name[i]
            names |= bit
            if st == LOCKED:
                locked |= bit
        i += 1
    out[0] = blocked
    out[1] = hold
    out[2] = hard
    out[3] = names
    out[4] = locked


class Engine:
    def __init__(self, rows, events, lock_count=3, lock_window_ms=600000):
        """rows: the table (Row objects, bms/protection_rows.py); events: the event log.
        The body (every attribute, commented) is in bms/protect_init.py, loaded for it
        and dropped after: the engine is built once, at boot."""
        lazy.run("bms.protect_init", "init", self, rows, events, lock_count, lock_window_ms)

    def set_trip(self, i, value, over, inclusive, rel=None):
        """Change one row's trip value (and release value) at run time (DOCP's
        continuous limit and its warning)."""
        self.trip[i] = normalised_trip(value, over, inclusive)
        if rel is not None:
            self.rel[i] = rel if over else -rel

    def reset(self):
        """RESET: at the next step, clear the latched and locked rows whose condition has
        gone, and the lockout history."""
        self._reset = True

    # -- the tick --------------------------------------------------------------------
    @micropython.native
    def step(self, vals, extra, now, valid, chg_flow, dsg_flow, charger):
        """Evaluate every row. vals: the values by slot (array('i')); extra: the cell or
        sensor index for each slot (logged); valid: the front-end reading is good;
        chg_flow / dsg_flow: effective charge / discharge current; charger: a charger is
        seen."""
        state = self.state
        trip = self.trip
        flags = self.flags
        todo = self.todo
        reset = self._reset
        if reset:
            self._reset = False
            for lk in range(len(self.lock_n)):
                self.lock_n[lk] = 0
            self.latch_moves = (self.latch_moves + 1) & 0x3FFFFFFF  # (the counts are saved)
        k = _scan(vals, self.src, self.over, trip, state, flags, todo, self.n, 1 if valid else 0)
        for j in range(k):
            rel = self.rel  # (here: most ticks find no row)
            i = todo[j]
            st = state[i]
            f = flags[i]
            if not (valid or f & F_ANY_SAMPLE):
                self._begin(i, now, False)  # TRIPPED, no reading: a release needs values
                continue
            v = vals[self.src[i]]
            if not self.over[i]:
                v = -v
            if st == IDLE:  # over its trip
                if self.delay[i] == 0:
                    self._trip(i, now, vals, extra)
                else:
                    state[i] = PENDING
                    self._begin(i, now, True)
            elif st == PENDING:
                h = self._hold(i, now, v >= trip[i], self.delay[i])
                if h > 0:
                    self._trip(i, now, vals, extra)
                elif h < 0:
                    state[i] = IDLE
            else:  # TRIPPED, LATCHED or LOCKED
                gone = v < trip[i]  # current, charger and RESET need the fault gone
                how = 0
                if gone and reset and st >= LATCHED:
                    how = BY_RESET
                elif st == LOCKED:
                    pass
                elif gone and f & F_REL_DSG and dsg_flow:
                    how = BY_CURRENT
                elif gone and f & F_REL_CHG and chg_flow:
                    how = BY_CURRENT
                elif gone and f & F_REL_CHARGER and charger:
                    how = BY_CHARGER
                elif st == TRIPPED:
                    after = self.rel_after[i]
                    if after:
                        if gone and ticks.diff(now, self.since[i]) >= after:
                            how = _BY_TIME
                    elif rel[i] != _NO_REL:
                        back = v <= rel[i] and (not f & F_GROUP or self._group_back(i, vals))
                        h = self._hold(i, now, back, self.delay[i])
                        if h > 0:
                            how = BY_VALUE
                        elif h < 0:
                            self._begin(i, now, False)  # a whole delay out: count anew
                if how:
                    self._release(i, now, vals, how)
        if self._dirty:
            self._dirty = False
            out = self.out
            _summary(state, self.action, self.name, out, self.n)
            self.blocked = out[0]
            self.blocked_hold = out[1]
            self.hard = out[2] == 1
            self.names = out[3]
            self.locked = out[4]

    def _group_back(self, i, vals):
        """Every row of row i's release group is inside its release value."""
        for j in self.members[self.group[i]]:
            v = vals[self.src[j]]
            if (v if self.over[j] else -v) > self.rel[j]:
                return False
        return True

    def _begin(self, i, now, on):
        """Start row i's count at now, where its condition was seen (on) or not."""
        self.since[i] = now
        self.seen[i] = now
        self.held[i] = 0
        self.prev[i] = 0
        self.quiet[i] = -1 if on else 0

    def _hold(self, i, now, on, span):
        """The debounce rule (module docstring) for row i, its condition seen `on` at
        now: 1 when it has held for `span`, -1 when it was out for a whole span, else 0."""
        if span <= 0:
            return 1 if on else -1
        seen = self.seen
        dt = ticks.diff(now, seen[i])
        el = ticks.diff(now, self.since[i])
        if dt < 0 or el < 0:
            # last looked at more than 6.2 days ago (a pending row is frozen while the
            # readings are invalid): the differences wrapped, and read as days to come;
            # its count begins again here (it held COVP off for 5 days after a week blind)
            self._begin(i, now, on)
            return 0
        seen[i] = now
        held = self.held
        if el >= span:  # a new window: the current one becomes the previous one
            self.prev[i] = held[i] if el < 2 * span else 0
            held[i] = 0
            self.since[i] = ticks.add(self.since[i], el - el % span)
        q = self.quiet[i]
        if q < 0:  # seen at the last look: the time since counts as held
            h = held[i] + dt
            held[i] = h if h < span else span
            q = 0
        else:
            q += dt
        if on:
            self.quiet[i] = -1
            return 1 if held[i] + self.prev[i] >= span else 0
        self.quiet[i] = q if q < span else span
        return -1 if q >= span else 0

    def _trip(self, i, now, vals, extra):
        self._dirty = True
        s = self.src[i]
        value = vals[s]
        name = self.name[i]
        self._begin(i, now, False)  # the trip time, and the release side's count
        if self.flags[i] & F_WARNING:
            self.state[i] = TRIPPED
            # warnings are announced by name: once, however many of its rows are active
            bit = 1 << name
            if not self.warned & bit:
                self.warned |= bit
                self.events.log(now, ev.WARN, name, value, extra[s])
            return
        self.events.log(now, ev.TRIP, name, value, extra[s])
        lk = self.lock[i]
        if lk and not self._group_active(lk) and self._count_lock(lk, now):
            self.state[i] = LOCKED
            self.events.log(now, ev.LOCK, name, self.lock_count)
        elif self.flags[i] & F_LATCH:
            self.state[i] = LATCHED
            self.events.log(now, ev.LATCH, name, value)
        else:
            self.state[i] = TRIPPED
            return
        self.latch_moves = (self.latch_moves + 1) & 0x3FFFFFFF

    def _group_active(self, lk):
        """A row of lockout group lk is already active: this trip is the same event."""
        for j in range(self.n):
            if self.lock[j] == lk and self.state[j] >= TRIPPED:
                return True
        return False

    def _count_lock(self, lk, now):
        """Record an event of lockout group lk; True when it is the lock_count-th in a
        row (the manual: "locked after three consecutive times"): each within the window
        of the group's last release. (Counted from the first trip, a window of 10 min
        never held three of DOCP's 5-min step: 110 A ran 5 min in every 6 for ever.)"""
        k = self.lock_n[lk]
        if k and ticks.age(now, self.lock_rel[lk]) > self.lock_window_ms:
            # it ran clean for the window since the last (or for more than 6.2 days:
            # ticks.age; read as ahead, a single trip a week on locked the pack): a new series
            k = 0
        k += 1
        self.lock_n[lk] = k
        # saved with the state, as the latches are (a watchdog reset after every second
        # release started the series again, and the pack never locked)
        self.latch_moves = (self.latch_moves + 1) & 0x3FFFFFFF
        return k >= self.lock_count

    def _release(self, i, now, vals, how):
        self._dirty = True
        if self.state[i] >= LATCHED:
            self.latch_moves = (self.latch_moves + 1) & 0x3FFFFFFF
        self.state[i] = IDLE
        name = self.name[i]
        if not self.flags[i] & F_WARNING:
            if self.lock[i]:
                self.lock_rel[self.lock[i]] = now  # (consecutive trips: _count_lock)
                self.latch_moves = (self.latch_moves + 1) & 0x3FFFFFFF  # (saved: the same)
            self.events.log(now, ev.RELEASE, name, vals[self.src[i]], how)
            return
        for j in range(self.n):
            if self.name[j] == name and self.state[j] >= TRIPPED:
                return  # another row still holds this warning
        self.warned &= ~(1 << name)
        self.events.log(now, ev.WARN_CLEAR, name, vals[self.src[i]], how)

    # -- persistence ---------------------------------------------------------------
    def latched(self):
        """[row, state, row, state...] of the rows only RESET clears (to persist, with the
        lockout series lock_n and lock_rel: app_save.py; put back after a reset by
        bms/protect_init.py's restore_latched, loaded for it)."""
        out = []
        for i in range(self.n):
            st = self.state[i]
            if st == LATCHED or st == LOCKED:
                out.append(i)
                out.append(st)
        return out
