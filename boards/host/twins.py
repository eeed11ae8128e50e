"""CPython twins of the firmware's per-tick viper kernels, for the simulator's speed.

On a board and under MicroPython a viper function is machine code; under CPython the
`micropython` shim leaves it a plain Python loop, and those loops were a third of a
simulated tick there (protect._scan alone an eighth). Each twin here computes exactly what
the kernel's body computes when CPython runs it, with CPython's own C loops (bytes.translate,
struct, max/min, comprehensions), and hands the rare inputs its fast path does not cover
(odd lengths, values past 2**30) back to the kernel itself.

install() swaps them in; tools/sim.py and tools/sim_split.py call it under CPython. The
test suites do not: they keep running the kernels' own bodies (and host_tests/test_twins.py
checks each twin against its kernel, and whole traces with and without them). A kernel
whose arguments no longer match its twin's is left as it is.
"""

import struct
import sys
from array import array
from operator import ge, itemgetter, le

from bms import protect, sample
from drivers import bq76952

_FOLD = 0x3FFFFFFF  # protect._scan folds a value above this back below zero
_CELLS = struct.Struct("<16h")
_WORDS = struct.Struct("<4h")

# the kernels as the firmware defines them (install() replaces the module attributes)
KERNELS = {
    "_scan": protect._scan,
    "_crc_good": bq76952._crc_good,
    "_decode": bq76952._decode,
    "reduce": sample.Sample.reduce,
}
# each kernel's arguments when its twin was written
ARGS = {
    "_scan": ("vals", "src", "over", "trip", "state", "flags", "todo", "n", "valid"),
    "_crc_good": ("t", "buf", "n", "reg"),
    "_decode": ("m", "t", "offsets", "sample"),
    "reduce": ("self",),
}


def _getter(indexes):
    """itemgetter of indexes that gives a tuple for any number of them."""
    if len(indexes) == 1:
        indexes = indexes * 2  # an itemgetter of one index gives the value alone
    if not indexes:
        return lambda seq: ()
    return itemgetter(*indexes)


class _Rows:
    """protect._scan's rows regrouped for C loops, made again when the engine's src, over,
    trips or row states change: the rows already active (todo, in order), and of the idle
    ones, getters of the slots read by those that trip above their value and by those that
    trip below, with their trips (negated for the latter). fits: no trip is one the kernel
    folds."""

    def __init__(self, src, over, trip, state, n):
        self.src = bytes(src)
        self.over = bytes(over)
        self.trip = array("i", trip)
        self.state = bytes(state)
        self.n = n
        self.active = bytes([i for i in range(n) if state[i]])
        idle = [i for i in range(n) if not state[i]]
        up = [i for i in idle if over[i]]
        down = [i for i in idle if not over[i]]
        self.fits = max(trip) <= _FOLD
        self.up_vals = _getter([src[i] for i in up])
        self.up_trips = _getter(up)(trip)
        self.down_vals = _getter([src[i] for i in down])
        self.down_trips = tuple([-t for t in _getter(down)(trip)])

    def same(self, src, over, trip, state, n):
        return (
            n == self.n
            and state == self.state
            and trip == self.trip
            and src == self.src
            and over == self.over
        )


_rows = [None]


def scan(vals, src, over, trip, state, flags, todo, n, valid):
    """protect._scan: the rows that need the Python logic this tick, into todo. The
    common tick (a valid reading, no idle row at its trip) is found by C loops: the
    active rows, known since the states last changed; any other goes to the kernel
    itself. Exact: a value the kernel would fold (above 2**30 - 1) either makes a row
    tripping above it look due here (then the kernel decides) or is checked for (the
    rows tripping below)."""
    if valid:
        rows = _rows[0]
        if rows is None or not rows.same(src, over, trip, state, n):
            rows = _rows[0] = _Rows(src, over, trip, state, n)
        if rows.fits and not any(map(ge, rows.up_vals(vals), rows.up_trips)):
            down = rows.down_vals(vals)
            if not down or max(down) <= _FOLD and not any(map(le, down, rows.down_trips)):
                k = len(rows.active)
                todo[0:k] = rows.active
                return k
    return KERNELS["_scan"](vals, src, over, trip, state, flags, todo, n, valid)


def _addr_crc(t, reg):
    return t[t[t[bq76952._ADDR_W] ^ reg] ^ bq76952._ADDR_R]


def crc_good(t, buf, n, reg):
    """drivers.bq76952._crc_good: every data byte of buf[0:n] carries its CRC."""
    if n & 1 or n < 2 or n > len(buf) or len(t) != 256:
        return KERNELS["_crc_good"](t, buf, n, reg)
    if buf[1] != t[_addr_crc(t, reg) ^ buf[0]]:
        return False
    return bytes(buf[2:n:2]).translate(t) == bytes(buf[3:n:2])


def decode(m, t, offsets, sample):
    """drivers.bq76952._decode: a CRC-mode measurement into sample."""
    sample.cells_mv[0:16] = _CELLS.unpack(bytes(m[36:100:2]))
    stack, pack, ld, ma = _WORDS.unpack(bytes(m[100:116:2]))
    v = bq76952._USER_V_MV
    sample.stack_mv = stack * v
    sample.pack_mv = pack * v
    sample.ld_mv = ld * v
    sample.current_ma = ma * bq76952._USER_A_MA
    kelvin = bq76952._KELVIN_DC
    sample.temps_dc[0:6] = [(t[k] | t[k + 2] << 8) - kelvin for k in offsets[0:6]]


def reduce(self):
    """bms.sample.Sample.reduce: the aggregates; True when every value is possible."""
    cells = self.cells_mv
    if len(cells) != sample.CELLS:
        cells = cells[0 : sample.CELLS]
    hi = max(cells)
    lo = min(cells)
    self.max_mv = hi
    self.min_mv = lo
    self.max_cell = cells.index(hi)
    self.min_cell = cells.index(lo)
    self.sum_mv = sum(cells)
    t = self.temps_dc
    four = t[0:4]
    thi = max(four)
    tlo = min(four)
    hi_i = four.index(thi)
    lo_i = four.index(tlo)
    self.cell_tmax_dc = thi
    self.cell_tmin_dc = tlo
    self.cell_tavg_dc = sum(four) >> 2
    amb = t[sample.T_AMBIENT]
    if amb > thi:
        thi = amb
        hi_i = sample.T_AMBIENT
    if amb < tlo:
        tlo = amb
        lo_i = sample.T_AMBIENT
    self.tmax_dc = thi
    self.tmin_dc = tlo
    self.tmax_slot = hi_i
    self.tmin_slot = lo_i
    mos = t[sample.T_MOS]
    if mos > thi:
        thi = mos
    elif mos < tlo:
        tlo = mos
    stack = self.stack_mv
    pack = self.pack_mv
    ld = self.ld_mv
    limit = sample.LINK_MV_LIMIT
    return (
        sample.CELL_MV_MIN <= lo
        and hi <= sample.CELL_MV_MAX
        and 0 <= stack
        and stack <= sample.STACK_MV_MAX
        and 0 - limit <= pack
        and pack <= limit
        and 0 - limit <= ld
        and ld <= limit
        and sample.TEMP_DC_MIN <= tlo
        and thi <= sample.TEMP_DC_MAX
    )


TWINS = {
    "_scan": scan,
    "_crc_good": crc_good,
    "_decode": decode,
    "reduce": reduce,
}
_HOMES = {
    "_scan": protect,
    "_crc_good": bq76952,
    "_decode": bq76952,
    "reduce": sample.Sample,
}


def matches(name):
    """Whether the kernel still takes the arguments its twin was written for."""
    code = getattr(KERNELS[name], "__code__", None)
    return code is not None and code.co_varnames[: code.co_argcount] == ARGS[name]


def install():
    """Swap the twins in (CPython only); returns the names of those swapped."""
    if sys.implementation.name != "cpython":
        return ()
    done = []
    for name, twin in TWINS.items():
        if matches(name):
            setattr(_HOMES[name], name, twin)
            done.append(name)
    return tuple(done)


def uninstall():
    """Put the kernels back."""
    for name, kernel in KERNELS.items():
        setattr(_HOMES[name], name, kernel)
