"""The BQ76952's data-memory settings for our configuration (TRM SLUUBY2): what
drivers/bq76952.py writes and reads back in configure().

Needed only while the chip is configured (at boot, and after the chip was reset):
bq76952.data_memory() imports this module for it and drops it again, so its code does
not stay in a board's heap.
"""

import struct

from micropython import const

_COMM_TYPE_I2C_FAST_CRC = const(0x12)  # bq76952.COMM_TYPE_I2C_FAST_CRC
# the chip's own protections sit this far beyond the firmware's (a backstop only). COV:
# the first of its 50.6 mV steps at least 20 mV over, 3 643 mV over the default 3 600,
# under LiFePO4's 3.65 V (150 mV gave 3 744; 50 mV rounded down put 3 593's under it)
_COV_MARGIN_MV = const(20)
_CUV_MARGIN_MV = const(300)
_OCC_MARGIN_MA = const(30000)
_OCD_MARGIN_MA = const(40000)
_OT_MARGIN_C = const(5)
_HW_DELAY_MS = const(2000)  # CUV/COV delay: longer than the firmware's 1 s
# SCD Threshold enumeration, mV across the shunt (TRM)
SCD_MV = (10, 20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500)


def _u1(v):
    return struct.pack("<B", v)


def _i1(v):
    return struct.pack("<b", v)


def _u2(v):
    return struct.pack("<H", v)


def _i2(v):
    return struct.pack("<h", v)


def _f4(v):
    return struct.pack("<f", v)


def _delay_code(ms):
    """CUV/COV/OCC/OCD delays: 3.3 ms * (2 + n) (TRM; one public driver forgets the 2)."""
    return int(ms * 10 // 33) - 2


def table(cfg, r_sense_uohm):
    """Our data-memory settings for config cfg: [(address, bytes), ...] (TRM SLUUBY2)."""
    shunt_mv = r_sense_uohm / 1000.0  # mV across the shunt per A
    cc_gain = 7568.4 / r_sense_uohm  # TRM 4.12: 7.5684 / Rsense[mOhm]
    cov = -(-(cfg.covp_trip_mv + _COV_MARGIN_MV) * 10 // 506)  # 50.6 mV units, rounded up
    cuv = (cfg.cuvp_trip_mv - _CUV_MARGIN_MV) * 10 // 506
    occ = int((cfg.cocp2_trip_ma + _OCC_MARGIN_MA) / 1000 * shunt_mv / 2 + 0.5)  # 2 mV units
    ocd1 = int((cfg.docp3_trip_ma + _OCD_MARGIN_MA) / 1000 * shunt_mv / 2 + 0.5)
    ocd2 = int((cfg.docp3_trip_ma + 2 * _OCD_MARGIN_MA) / 1000 * shunt_mv / 2 + 0.5)
    scd_mv = cfg.scp_trip_ma / 1000 * shunt_mv
    # the first step at or above the setting (or the last): rounded down, the chip cut
    # currents the DOCP steps allow (230 A was 160 A, under DOCP's 200 A for 0.5 s)
    scd = len(SCD_MV) - 1
    while scd and SCD_MV[scd - 1] >= scd_mv:
        scd -= 1
    scd_delay = cfg.scp_delay_us // 15 + 1  # (n - 1) * 15 us
    return [
        # setup
        (0x9303, _u1(0x06)),  # DA Configuration: 10 mA, 10 mV (CC2 +-327 A)
        (0x9304, _u2(0xFFFF)),  # Vcell Mode: all 16 cells
        (0x91A8, _f4(cc_gain)),  # CC Gain
        (0x91AC, _f4(cc_gain * 298261.6178)),  # Capacity Gain
        (0x92FA, _u1(0x02)),  # CFETOFF pin: CHG off input [uncertain encoding: TRM family]
        (0x92FB, _u1(0x02)),  # DFETOFF pin: DSG off input
        (0x92FD, _u1(0x07)),  # TS1: 18k NTC, cell temperature
        (0x92FE, _u1(0x07)),  # TS2
        (0x92FF, _u1(0x07)),  # TS3
        (0x9300, _u1(0x07)),  # HDQ: fourth cell sensor
        (0x9301, _u1(0x0B)),  # DCHG: 18k NTC, measured only (ambient)
        (0x9302, _u1(0x0F)),  # DDSG: 18k NTC, FET temperature
        (0x9308, _u1(0x0D)),  # FET Options: series FETs, host and FET control enabled
        (0x9343, _u2(0x0010)),  # Mfg Status Init: FET_EN, the chip runs its FETs
        (0x9335, _u1(0x00)),  # Balancing Configuration: host commands allowed
        (0x9336, _i1(cfg.balance_min_temp_dc // 10)),  # balancing: min cell temp C
        (0x9337, _i1(cfg.balance_max_temp_dc // 10 + _OT_MARGIN_C)),  # max cell temp C
        (0x9338, _i1(70)),  # max internal temp C
        # Cell Balance Interval, s: a mask not repeated within it ends (the app repeats it
        # every 10 s): the bound on any stop that does not get through, whatever the OTP
        (0x9339, _u1(20)),
        (0x933A, _u1(cfg.balance_max_cells)),  # Cell Balance Max Cells
        # the chip's protections, beyond the firmware's
        (0x9261, _u1(0xFC)),  # Enabled Protections A: SCD OCD2 OCD1 OCC COV CUV
        (0x9262, _u1(0xB3)),  # Enabled Protections B: OTF OTD OTC UTD UTC
        (0x9265, _u1(0x98)),  # CHG FET Protections A: SCD OCC COV (TRM: 0x98 or 0x18)
        (0x9269, _u1(0xE4)),  # DSG FET Protections A: SCD OCD2 OCD1 CUV
        (0x9275, _u1(cuv)),
        (0x9276, _u2(_delay_code(_HW_DELAY_MS))),
        (0x9278, _u1(cov)),
        (0x9279, _u2(_delay_code(_HW_DELAY_MS))),
        (0x9280, _u1(occ)),
        (0x9281, _u1(127)),  # OCC delay: the longest, 426 ms
        (0x9282, _u1(ocd1)),
        (0x9283, _u1(127)),
        (0x9284, _u1(ocd2)),
        (0x9285, _u1(_delay_code(50))),
        (0x9286, _u1(scd)),
        (0x9287, _u1(scd_delay)),
        (0x9294, _u1(5)),  # SCD recovery: 5 s (the firmware latches SCP anyway)
        (0x929A, _i1(cfg.chtp_trip_dc // 10 + _OT_MARGIN_C)),  # OTC C
        (0x929D, _i1(cfg.dhtp_trip_dc // 10 + _OT_MARGIN_C)),  # OTD C
        (0x92A0, _u1(cfg.mos_otp_trip_dc // 10 + _OT_MARGIN_C)),  # OTF C
        (0x92A6, _i1(cfg.cltp_trip_dc // 10 - _OT_MARGIN_C)),  # UTC C
        (0x92A9, _i1(cfg.dltp_trip_dc // 10 - _OT_MARGIN_C)),  # UTD C
        (0x9239, _u1(_COMM_TYPE_I2C_FAST_CRC)),  # Comm Type: fast I2C with CRC
    ]
