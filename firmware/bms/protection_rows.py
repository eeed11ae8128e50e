"""The protection table's rows for a config: what bms.protections.build() returns.

Needed once, when the core is built: build() imports this module and drops it again,
so its code does not stay in a board's heap. The rows follow the manual (section 3.4)
and pack.md's derived defaults (see bms/protections.py).
"""

from collections import namedtuple

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
)
from bms.protections import (
    BOTH,
    CELL_IMBALANCE,
    CHTP,
    CLTP,
    COCP,
    COVP,
    CUVP,
    DHTP,
    DLTP,
    DOCP,
    EXCL,
    G_CHARGE_END,
    G_DISCHARGE_END,
    HIGH_CURRENT,
    HIGH_TEMP,
    HIGH_VOLTAGE,
    INCL,
    INVERTER_LOST,
    L_COCP,
    L_DOCP,
    LOW_TEMP,
    LOW_VOLTAGE,
    MOS_FAIL,
    MOS_OTP,
    OVER,
    PACK_LOST,
    POVP,
    PRECHARGE_FAIL,
    PUVP,
    REVERSE,
    SCP,
    SENSOR_FAIL,
    UNDER,
    V_AFE_BAD,
    V_AFE_OCC,
    V_AFE_OCD,
    V_ALL_TMAX,
    V_ALL_TMIN,
    V_CHG_I,
    V_DSG_I,
    V_IMBALANCE,
    V_INVERTER_AGE,
    V_MAX_CELL,
    V_MIN_CELL,
    V_MOS_FAIL_I,
    V_MOS_T,
    V_PACK_LOST,
    V_PRECHARGE_FAIL,
    V_REST_I,
    V_REVERSE,
    V_SCD,
    V_STACK,
    V_SUM_DIFF,
    V_TMAX,
)

# A row is one tuple (its fields by name). Instances of a class each held a dict that
# grew field by field, and the dicts they outgrew were left as holes between them: the
# boot's heap was then too broken for the core's next large block on an ESP32.
_Row = namedtuple(
    "Row",
    (
        "name",  # index into the protection or warning names
        "src",  # slot in vals
        "over",  # True: trips above; False: trips below
        "inclusive",  # True: >= / <=; False: > / <
        "trip",
        "delay_ms",
        "rel",  # release value (inclusive), None: no value release
        "rel_after_ms",
        "action",
        "flags",
        "group",  # release group, 0: none
        "lock",  # lockout group, 0: none
    ),
)


def Row(
    name,
    src,
    over,
    inclusive,
    trip,
    delay_ms,
    rel=None,
    rel_after_ms=0,
    action=0,
    flags=0,
    group=0,
    lock=0,
):
    """One row of the table (normalised by bms.protect.Engine). Only built here, at boot:
    its code goes with this module."""
    return _Row(
        name, src, over, inclusive, trip, delay_ms, rel, rel_after_ms, action, flags, group, lock
    )


def rows(c):
    """The rows for config c, and the indices of the DOCP row whose trip follows the
    temperature at the start of each discharge (the continuous limit) and of the
    discharge current warning, which follows it."""
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
        # temperatures. Too hot: the cell sensors and ambient, the MOSFETs on their own
        # sensor and limit (they run hotter). Too cold: every sensor, the MOSFETs' too
        # (the manual's CLTP/DLTP: "cell/environment/MOS temperature is under the range")
        Row(CHTP, V_TMAX, OVER, EXCL, c.chtp_trip_dc, c.chtp_delay_ms, c.chtp_release_dc,
            action=OPEN_CHG),
        Row(DHTP, V_TMAX, OVER, EXCL, c.dhtp_trip_dc, c.dhtp_delay_ms, c.dhtp_release_dc,
            action=OPEN_DSG),
        Row(CLTP, V_ALL_TMIN, UNDER, EXCL, c.cltp_trip_dc, c.cltp_delay_ms, c.cltp_release_dc,
            action=OPEN_CHG),
        Row(DLTP, V_ALL_TMIN, UNDER, EXCL, c.dltp_trip_dc, c.dltp_delay_ms, c.dltp_release_dc,
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
        # the front end's own over-current trips, set beyond the steps above
        # (drivers/bq76952_dm.py), cut a current too large for their delays by
        # themselves: counted as trips of ours, so that they are held for the release
        # time and lock out as the manual says, instead of the chip recovering into the
        # fault again and again. (Last: the latched rows keep the numbers a saved state
        # names them by.)
        Row(COCP, V_AFE_OCC, OVER, INCL, 1, 0, rel_after_ms=c.cocp_release_ms,
            action=OPEN_CHG, lock=L_COCP),
        Row(DOCP, V_AFE_OCD, OVER, INCL, 1, 0, rel_after_ms=c.docp_release_ms,
            action=OPEN_DSG, lock=L_DOCP),
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
        Row(LOW_TEMP, V_ALL_TMIN, UNDER, INCL, c.cltp_warn_dc, d, c.cltp_warn_dc + ht, flags=w),
        Row(LOW_TEMP, V_ALL_TMIN, UNDER, INCL, c.dltp_warn_dc, d, c.dltp_warn_dc + ht, flags=w),
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
    for i in range(len(rows)):
        if rows[i].name == HIGH_CURRENT and rows[i].src == V_DSG_I:
            return rows, docp_cont, i
