"""One measurement of the pack, preallocated once and refilled every tick.

The front-end driver writes the raw fields; reduce() then computes, once per tick, the
aggregates that every protection, estimator and protocol reads (max/min/sum of the
cells and where they are, hottest and coldest sensor), so nothing downstream walks the
16 cells again, and says whether the values are physically possible at all.

A value outside physics is corrupt data, not a measurement: the caller marks such a
sample invalid (the blind path), so no protection row ever judges it. The bounds are
wide on purpose: a failed sensor (an open sense wire, an open or shorted thermistor)
still reads inside them, so that its own SENSOR_FAIL row names it.
"""

import micropython
from micropython import const

from bms import lazy

CELLS = const(16)
# temps_dc's six slots: four cell sensors, then ambient (the BMS board) and the MOSFETs
T_AMBIENT = const(4)
T_MOS = const(5)

# what a front end can measure on a 16-cell pack (mV, 0.1 degC)
CELL_MV_MIN = const(-500)
CELL_MV_MAX = const(5500)
STACK_MV_MAX = const(88000)  # 16 x 5.5 V
LINK_MV_LIMIT = const(88000)  # PACK and LD pins, either sign (reversed polarity)
TEMP_DC_MIN = const(-2732)  # 0 K
TEMP_DC_MAX = const(3000)


class Sample:
    def __init__(self):
        """The raw fields (cells_mv, stack_mv, pack_mv, ld_mv, current_ma, temps_dc,
        valid) and the aggregates reduce() fills. The body (every attribute, commented) is
        in bms/parts_init.py, loaded for it and dropped after: a board builds its samples
        once."""
        lazy.run("bms.parts_init", "sample", self)

    @micropython.viper
    def reduce(self) -> bool:
        """Fill the aggregates; True when every value is physically possible. (Viper:
        this runs every tick, and a Python loop over the cells costs a tenth of the
        tick's budget on an RP2040.)"""
        cells = self.cells_mv
        hi = int(cells[0])
        lo = hi
        total = hi
        hi_i = 0
        lo_i = 0
        i = 1
        while i < CELLS:
            v = int(cells[i])
            total += v
            if v > hi:
                hi = v
                hi_i = i
            elif v < lo:
                lo = v
                lo_i = i
            i += 1
        self.max_mv = hi
        self.min_mv = lo
        self.max_cell = hi_i
        self.min_cell = lo_i
        self.sum_mv = total
        t = self.temps_dc
        thi = int(t[0])
        tlo = thi
        tsum = thi
        hi_i = 0
        lo_i = 0
        i = 1
        while i < 4:
            v = int(t[i])
            tsum += v
            if v > thi:
                thi = v
                hi_i = i
            if v < tlo:
                tlo = v
                lo_i = i
            i += 1
        self.cell_tmax_dc = thi
        self.cell_tmin_dc = tlo
        self.cell_tavg_dc = tsum >> 2  # // 4, rounding down as Python does
        amb = int(t[T_AMBIENT])
        if amb > thi:
            thi = amb
            hi_i = T_AMBIENT
        if amb < tlo:
            tlo = amb
            lo_i = T_AMBIENT
        self.tmax_dc = thi
        self.tmin_dc = tlo
        self.tmax_slot = hi_i
        self.tmin_slot = lo_i
        mos = int(t[T_MOS])
        if mos > thi:
            thi = mos
        elif mos < tlo:
            tlo = mos
        stack = int(self.stack_mv)
        pack = int(self.pack_mv)
        ld = int(self.ld_mv)
        return (
            CELL_MV_MIN <= lo
            and hi <= CELL_MV_MAX
            and 0 <= stack
            and stack <= STACK_MV_MAX
            and 0 - LINK_MV_LIMIT <= pack
            and pack <= LINK_MV_LIMIT
            and 0 - LINK_MV_LIMIT <= ld
            and ld <= LINK_MV_LIMIT
            and TEMP_DC_MIN <= tlo
            and thi <= TEMP_DC_MAX
        )
