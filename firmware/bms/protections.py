"""The table of protections and warnings: one row each, built from the config.

This is the one place where thresholds meet the engine (bms/protect.py). The rows follow
the manual (section 3.4) and pack.md's derived defaults; where a protection has several
steps (COCP two, DOCP three) or several sources (SENSOR_FAIL), each is a row with the same
name. Names are the manual's, as the trace shows them.

Values (the `vals` slots) are filled once per tick by the core from the measurement
snapshot's aggregates, so no row walks the cells.
"""

import micropython
from micropython import const

from bms.lazy import drop
from bms.protect import (
    OPEN_CHG,
    OPEN_DSG,
)

# names: protections first, then warnings (one id space, the event log's `what`)
NAMES = (
    None,
    "COVP",
    "POVP",
    "CUVP",
    "PUVP",
    "CHTP",
    "DHTP",
    "CLTP",
    "DLTP",
    "COCP",
    "DOCP",
    "SCP",
    "REVERSE",
    "SENSOR_FAIL",
    "MOS_FAIL",
    "PRECHARGE_FAIL",
    "MOS_OTP",
    "CELL_IMBALANCE",
    "LOW_VOLTAGE",
    "HIGH_VOLTAGE",
    "HIGH_CURRENT",
    "HIGH_TEMP",
    "LOW_TEMP",
    "INVERTER_LOST",
    "PACK_LOST",
)
COVP = const(1)
POVP = const(2)
CUVP = const(3)
PUVP = const(4)
CHTP = const(5)
DHTP = const(6)
CLTP = const(7)
DLTP = const(8)
COCP = const(9)
DOCP = const(10)
SCP = const(11)
REVERSE = const(12)
SENSOR_FAIL = const(13)
MOS_FAIL = const(14)
PRECHARGE_FAIL = const(15)
MOS_OTP = const(16)
CELL_IMBALANCE = const(17)
LOW_VOLTAGE = const(18)
HIGH_VOLTAGE = const(19)
HIGH_CURRENT = const(20)
HIGH_TEMP = const(21)
LOW_TEMP = const(22)
INVERTER_LOST = const(23)
PACK_LOST = const(24)
FIRST_WARNING = const(17)

# value slots
V_MAX_CELL = const(0)
V_MIN_CELL = const(1)
V_STACK = const(2)
V_TMAX = const(3)  # cell sensors and ambient
_V_TMIN = const(4)
V_MOS_T = const(5)
V_CHG_I = const(6)  # charge current, 0 while discharging
V_DSG_I = const(7)  # discharge current as a positive number
V_SCD = const(8)  # the front end's short-circuit flag
V_REVERSE = const(9)  # the reverse-polarity detector
V_IMBALANCE = const(10)  # max - min cell at rest (held while current flows)
V_ALL_TMAX = const(11)  # all six sensors (a shorted NTC reads hot)
V_ALL_TMIN = const(12)  # (an open NTC reads cold; CLTP and DLTP read it too)
V_SUM_DIFF = const(13)  # |sum of cells - stack|
V_REST_I = const(14)  # |current| while every FET is open (a sensor offset)
V_AFE_BAD = const(15)  # 1 while the front end's readings are invalid
V_MOS_FAIL_I = const(16)  # current in a direction whose FET is commanded off
V_PRECHARGE_FAIL = const(17)  # 1 once the pre-charge tries are used up
V_INVERTER_AGE = const(18)  # ms since the inverter last spoke (capped)
V_PACK_LOST = const(19)  # 1 while a pack of the parallel system is lost (packlink.py)
V_AFE_OCC = const(20)  # 1 while the front end's own charge over-current trip holds
V_AFE_OCD = const(21)  # 1 while one of its discharge over-current trips (OCD1, OCD2) holds
N_VALS = const(22)
_MOS_SLOT = const(5)  # bms.sample's T_MOS (a const of this module, for the viper kernel)

# release groups and lockout groups
G_CHARGE_END = const(1)
G_DISCHARGE_END = const(2)
L_COCP = const(1)
L_DOCP = const(2)

BOTH = OPEN_CHG | OPEN_DSG

# fill()'s FET bits: the FETs as commanded at the previous tick
FET_CHG = const(1)
FET_DSG = const(2)
FET_PRE = const(4)

ptr32 = int  # viper's pointer type, named for CPython (annotations are evaluated)


@micropython.viper
def fill(s, vals: ptr32, extra: ptr32, zero_ma: int, fets: int, age_ms: int) -> int:
    """The values every row reads, from the reduced sample s (its aggregates), into vals
    (array('i')) with the cell or sensor number of each in extra (array('i'), logged with
    a trip).
    zero_ma: the current reported as 0 below it; fets: FET_* as commanded at the
    previous tick; age_ms: since the inverter last spoke. (Viper: every tick.)
    Returns 1 when the highest or lowest cell, the stack or the warmest or coldest
    sensor differs from the last fill (what the inverter limits read), else 0. (On a
    64-bit port a negative value read back differs: 1, never a change missed.)"""
    i = int(s.current_ma)
    hi = int(s.max_mv)
    lo = int(s.min_mv)
    stack = int(s.stack_mv)
    tmax = int(s.tmax_dc)
    tmin = int(s.tmin_dc)
    moved = 0
    if vals[V_MAX_CELL] != hi or vals[V_MIN_CELL] != lo or vals[V_STACK] != stack:
        moved = 1
    elif vals[V_TMAX] != tmax or vals[_V_TMIN] != tmin:
        moved = 1
    vals[V_MAX_CELL] = hi
    extra[V_MAX_CELL] = int(s.max_cell) + 1
    vals[V_MIN_CELL] = lo
    extra[V_MIN_CELL] = int(s.min_cell) + 1
    vals[V_STACK] = stack
    tmax_n = int(s.tmax_slot) + 1
    tmin_n = int(s.tmin_slot) + 1
    vals[V_TMAX] = tmax
    extra[V_TMAX] = tmax_n
    vals[_V_TMIN] = tmin
    extra[_V_TMIN] = tmin_n
    mos = int(s.temps_dc[_MOS_SLOT])
    vals[V_MOS_T] = mos
    vals[V_CHG_I] = i if i > 0 else 0
    vals[V_DSG_I] = 0 - i if i < 0 else 0
    if 0 - zero_ma < i and i < zero_ma:
        vals[V_IMBALANCE] = hi - lo  # held while current flows
    if mos > tmax:
        vals[V_ALL_TMAX] = mos
        extra[V_ALL_TMAX] = _MOS_SLOT + 1
    else:
        vals[V_ALL_TMAX] = tmax
        extra[V_ALL_TMAX] = tmax_n
    if mos < tmin:
        vals[V_ALL_TMIN] = mos
        extra[V_ALL_TMIN] = _MOS_SLOT + 1
    else:
        vals[V_ALL_TMIN] = tmin
        extra[V_ALL_TMIN] = tmin_n
    d = int(s.sum_mv) - stack
    vals[V_SUM_DIFF] = d if d > 0 else 0 - d
    # what the sensor reads while the previous tick had every FET open
    if fets == 0:
        vals[V_REST_I] = i if i > 0 else 0 - i
    else:
        vals[V_REST_I] = 0
    # current against a FET commanded off (pre-charge current is below the limit)
    bad = 0
    if not (fets & FET_CHG) and i > 0:
        bad = i
    elif not (fets & (FET_DSG | FET_PRE)) and i < 0:
        bad = 0 - i
    vals[V_MOS_FAIL_I] = bad
    vals[V_INVERTER_AGE] = age_ms
    return moved


OVER = True
UNDER = False
INCL = True  # >= or <=
EXCL = False  # > or <


def build(c):
    """The rows for config c, and the indices of the DOCP row whose trip follows the
    temperature at the start of each discharge (the continuous limit) and of the
    discharge current warning, which follows it. The table's code
    is in bms/protection_rows.py, loaded for this once (the core is built at boot) and
    dropped again: it would hold 4 KB of a board's heap."""
    from bms import protection_rows

    try:
        return protection_rows.rows(c)
    finally:
        drop("bms.protection_rows")
