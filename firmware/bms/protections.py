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

from bms.protect import (
    F_ANY_SAMPLE,
    F_GROUP,
    F_LATCH,
    F_REL_CHARGER,
    F_REL_CHG,
    F_REL_DSG,
    F_WARNING,
    OPEN_CHG,
    OPEN_DSG,
    Row,
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
V_TMIN = const(4)
V_MOS_T = const(5)
V_CHG_I = const(6)  # charge current, 0 while discharging
V_DSG_I = const(7)  # discharge current as a positive number
V_SCD = const(8)  # the front end's short-circuit flag
V_REVERSE = const(9)  # the reverse-polarity detector
V_IMBALANCE = const(10)  # max - min cell at rest (held while current flows)
V_ALL_TMAX = const(11)  # all six sensors (a shorted NTC reads hot)
V_ALL_TMIN = const(12)  # (an open NTC reads cold)
V_SUM_DIFF = const(13)  # |sum of cells - stack|
V_REST_I = const(14)  # |current| while every FET is open (a sensor offset)
V_AFE_BAD = const(15)  # 1 while the front end's readings are invalid
V_MOS_FAIL_I = const(16)  # current in a direction whose FET is commanded off
V_PRECHARGE_FAIL = const(17)  # 1 once the pre-charge tries are used up
V_INVERTER_AGE = const(18)  # ms since the inverter last spoke (capped)
V_PACK_LOST = const(19)  # 1 while a pack of the parallel system is lost (packlink.py)
N_VALS = const(20)
MOS_SLOT = const(5)  # bms.sample's T_MOS (a const of this module, for the viper kernel)

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
def flags(vals: ptr32, valid: bool, scd: bool, reverse: bool, precharge_failed: bool):
    """The rows' yes/no values, set every tick (valid or not)."""
    vals[V_AFE_BAD] = 0 if valid else 1
    vals[V_SCD] = 1 if scd else 0
    vals[V_REVERSE] = 1 if reverse else 0
    vals[V_PRECHARGE_FAIL] = 1 if precharge_failed else 0


@micropython.viper
def fill(s, vals: ptr32, extra, zero_ma: int, fets: int, age_ms: int):
    """The values every row reads, from the reduced sample s (its aggregates), into vals
    (array('i')) with the cell or sensor number of each in extra (logged with a trip).
    zero_ma: the current reported as 0 below it; fets: FET_* as commanded at the
    previous tick; age_ms: since the inverter last spoke. (Viper: every tick.)"""
    i = int(s.current_ma)
    hi = int(s.max_mv)
    lo = int(s.min_mv)
    vals[V_MAX_CELL] = hi
    extra[V_MAX_CELL] = int(s.max_cell) + 1
    vals[V_MIN_CELL] = lo
    extra[V_MIN_CELL] = int(s.min_cell) + 1
    stack = int(s.stack_mv)
    vals[V_STACK] = stack
    tmax = int(s.tmax_dc)
    tmin = int(s.tmin_dc)
    tmax_n = int(s.tmax_slot) + 1
    tmin_n = int(s.tmin_slot) + 1
    vals[V_TMAX] = tmax
    extra[V_TMAX] = tmax_n
    vals[V_TMIN] = tmin
    extra[V_TMIN] = tmin_n
    mos = int(s.temps_dc[MOS_SLOT])
    vals[V_MOS_T] = mos
    vals[V_CHG_I] = i if i > 0 else 0
    vals[V_DSG_I] = 0 - i if i < 0 else 0
    if 0 - zero_ma < i and i < zero_ma:
        vals[V_IMBALANCE] = hi - lo  # held while current flows
    if mos > tmax:
        vals[V_ALL_TMAX] = mos
        extra[V_ALL_TMAX] = MOS_SLOT + 1
    else:
        vals[V_ALL_TMAX] = tmax
        extra[V_ALL_TMAX] = tmax_n
    if mos < tmin:
        vals[V_ALL_TMIN] = mos
        extra[V_ALL_TMIN] = MOS_SLOT + 1
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


OVER = True
UNDER = False
INCL = True  # >= or <=
EXCL = False  # > or <


def build(c):
    """The rows for config c, and the index of the DOCP row whose trip follows the
    temperature at the start of each discharge (the continuous limit)."""
    latch = F_LATCH
    # fmt: off
    rows = [
        # charge end and discharge end (release groups: pack and cells both in range)
        Row(COVP, V_MAX_CELL, OVER, INCL, c.covp_trip_mv, c.covp_delay_ms, c.covp_release_mv,
            action=OPEN_CHG, flags=F_REL_DSG | F_GROUP, group=G_CHARGE_END),
        Row(POVP, V_STACK, OVER, INCL, c.povp_trip_mv, c.povp_delay_ms, c.povp_release_mv,
            action=OPEN_CHG, flags=F_REL_DSG | F_GROUP, group=G_CHARGE_END),
        # the manual: CUVP releases when every cell is back; PUVP also waits for the cells
        Row(CUVP, V_MIN_CELL, UNDER, INCL, c.cuvp_trip_mv, c.cuvp_delay_ms, c.cuvp_release_mv,
            action=OPEN_DSG, flags=F_REL_CHG, group=G_DISCHARGE_END),
        Row(PUVP, V_STACK, UNDER, INCL, c.puvp_trip_mv, c.puvp_delay_ms, c.puvp_release_mv,
            action=OPEN_DSG, flags=F_REL_CHG | F_GROUP, group=G_DISCHARGE_END),
        # temperatures (cell sensors and ambient; the MOSFETs on their own sensor)
        Row(CHTP, V_TMAX, OVER, EXCL, c.chtp_trip_dc, c.chtp_delay_ms, c.chtp_release_dc,
            action=OPEN_CHG),
        Row(DHTP, V_TMAX, OVER, EXCL, c.dhtp_trip_dc, c.dhtp_delay_ms, c.dhtp_release_dc,
            action=OPEN_DSG),
        Row(CLTP, V_TMIN, UNDER, EXCL, c.cltp_trip_dc, c.cltp_delay_ms, c.cltp_release_dc,
            action=OPEN_CHG),
        Row(DLTP, V_TMIN, UNDER, EXCL, c.dltp_trip_dc, c.dltp_delay_ms, c.dltp_release_dc,
            action=OPEN_DSG),
        Row(MOS_OTP, V_MOS_T, OVER, EXCL, c.mos_otp_trip_dc, c.mos_otp_delay_ms,
            c.mos_otp_release_dc, action=BOTH),
        # over-current: steps, released after a delay, locked after repeated trips
        Row(COCP, V_CHG_I, OVER, EXCL, c.cocp1_trip_ma, c.cocp1_delay_ms,
            rel_after_ms=c.cocp_release_ms, action=OPEN_CHG, lock=L_COCP),
        Row(COCP, V_CHG_I, OVER, EXCL, c.cocp2_trip_ma, c.cocp2_delay_ms,
            rel_after_ms=c.cocp_release_ms, action=OPEN_CHG, lock=L_COCP),
    ]
    # above the continuous limit; its trip is set when a discharge starts
    docp_cont = len(rows)
    rows += [
        Row(DOCP, V_DSG_I, OVER, EXCL, c.docp_cont_ma, c.docp1_delay_ms,
            rel_after_ms=c.docp_release_ms, action=OPEN_DSG, lock=L_DOCP),
        Row(DOCP, V_DSG_I, OVER, INCL, c.docp2_trip_ma, c.docp2_delay_ms,
            rel_after_ms=c.docp_release_ms, action=OPEN_DSG, lock=L_DOCP),
        Row(DOCP, V_DSG_I, OVER, EXCL, c.docp3_trip_ma, c.docp3_delay_ms,
            rel_after_ms=c.docp_release_ms, action=OPEN_DSG, lock=L_DOCP),
        # latched: short circuit and reversed polarity (released by charging or RESET)
        Row(SCP, V_SCD, OVER, INCL, 1, 0, action=BOTH,
            flags=latch | F_REL_CHG | F_REL_CHARGER),
        # (its detector is a comparator pin: judged even without a front-end reading)
        Row(REVERSE, V_REVERSE, OVER, INCL, 1, 0, action=BOTH,
            flags=latch | F_REL_CHG | F_REL_CHARGER | F_ANY_SAMPLE),
        # sensor failures (RESET only)
        Row(SENSOR_FAIL, V_MIN_CELL, UNDER, EXCL, c.sensor_cell_low_mv, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_MAX_CELL, OVER, EXCL, c.sensor_cell_high_mv, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_ALL_TMIN, UNDER, EXCL, c.sensor_ntc_open_dc, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_ALL_TMAX, OVER, EXCL, c.sensor_ntc_short_dc, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_SUM_DIFF, OVER, EXCL, c.sensor_sum_diff_mv, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_REST_I, OVER, EXCL, c.sensor_offset_ma, c.sensor_delay_ms,
            action=BOTH, flags=latch),
        Row(SENSOR_FAIL, V_AFE_BAD, OVER, INCL, 1, c.sensor_delay_ms, action=BOTH,
            flags=latch | F_ANY_SAMPLE),
        Row(MOS_FAIL, V_MOS_FAIL_I, OVER, EXCL, c.mos_fail_ma, c.mos_fail_delay_ms,
            action=BOTH, flags=latch),
        Row(PRECHARGE_FAIL, V_PRECHARGE_FAIL, OVER, INCL, 1, 0, action=OPEN_DSG, flags=latch),
    ]
    hv = c.warn_hyst_mv
    hp = c.warn_hyst_pack_mv
    ht = c.warn_hyst_dc
    hi = c.warn_hyst_ma
    w = F_WARNING
    d = c.warn_delay_ms  # warnings hold before they show, as protections do
    rows += [
        Row(HIGH_VOLTAGE, V_MAX_CELL, OVER, INCL, c.covp_warn_mv, d, c.covp_warn_mv - hv, flags=w),
        Row(HIGH_VOLTAGE, V_STACK, OVER, INCL, c.povp_warn_mv, d, c.povp_warn_mv - hp, flags=w),
        Row(LOW_VOLTAGE, V_MIN_CELL, UNDER, INCL, c.cuvp_warn_mv, d, c.cuvp_warn_mv + hv, flags=w),
        Row(LOW_VOLTAGE, V_STACK, UNDER, INCL, c.puvp_warn_mv, d, c.puvp_warn_mv + hp, flags=w),
        Row(HIGH_TEMP, V_TMAX, OVER, INCL, c.chtp_warn_dc, d, c.chtp_warn_dc - ht, flags=w),
        Row(HIGH_TEMP, V_TMAX, OVER, INCL, c.dhtp_warn_dc, d, c.dhtp_warn_dc - ht, flags=w),
        Row(HIGH_TEMP, V_MOS_T, OVER, INCL, c.mos_otp_warn_dc, d, c.mos_otp_warn_dc - ht, flags=w),
        Row(LOW_TEMP, V_TMIN, UNDER, INCL, c.cltp_warn_dc, d, c.cltp_warn_dc + ht, flags=w),
        Row(LOW_TEMP, V_TMIN, UNDER, INCL, c.dltp_warn_dc, d, c.dltp_warn_dc + ht, flags=w),
        Row(HIGH_CURRENT, V_CHG_I, OVER, EXCL, c.cocp_warn_ma, d, c.cocp_warn_ma - hi, flags=w),
        Row(HIGH_CURRENT, V_DSG_I, OVER, EXCL, c.docp_warn_ma, d, c.docp_warn_ma - hi, flags=w),
        Row(CELL_IMBALANCE, V_IMBALANCE, OVER, EXCL, c.imbalance_warn_mv, d,
            c.imbalance_warn_mv - hv, flags=w),
        # the inverter silent (no heartbeat, no poll): cleared as soon as it speaks again
        Row(INVERTER_LOST, V_INVERTER_AGE, OVER, INCL, c.inverter_lost_ms, 0,
            c.inverter_lost_ms - 1, flags=w | F_ANY_SAMPLE),
        # a pack of the system silent (on the master), or the master (on a slave)
        Row(PACK_LOST, V_PACK_LOST, OVER, INCL, 1, 0, 0, flags=w | F_ANY_SAMPLE),
    ]
    # fmt: on
    return rows, docp_cont
