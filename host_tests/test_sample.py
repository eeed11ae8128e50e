"""The measurement snapshot's aggregates, computed once per tick."""

import unittest

import fwconst

from bms.sample import (
    CELL_MV_MAX,
    CELL_MV_MIN,
    CELLS,
    LINK_MV_LIMIT,
    STACK_MV_MAX,
    T_AMBIENT,
    T_MOS,
    TEMP_DC_MAX,
    TEMP_DC_MIN,
    Sample,
)

protections_consts = fwconst.of("bms.protections")


class SampleTest(unittest.TestCase):
    def filled(self, cells, temps):
        s = Sample()
        s.cells_mv[:] = cells
        s.temps_dc[:] = temps
        s.reduce()
        return s

    def test_cell_aggregates(self):
        cells = [3300] * CELLS
        cells[4] = 3450
        cells[11] = 3120
        s = self.filled(cells, [250, 251, 252, 253, 240, 300])
        self.assertEqual((s.max_mv, s.max_cell), (3450, 4))
        self.assertEqual((s.min_mv, s.min_cell), (3120, 11))
        self.assertEqual(s.sum_mv, 3300 * 14 + 3450 + 3120)

    def test_first_and_last_cell_extremes(self):
        cells = [3300] * CELLS
        cells[0] = 3500
        cells[15] = 3000
        s = self.filled(cells, [0] * 6)
        self.assertEqual((s.max_cell, s.min_cell), (0, 15))

    def test_temperature_aggregates_cover_cells_and_ambient_not_mos(self):
        temps = [250, 260, 255, 245, 0, 0]
        temps[T_AMBIENT] = 300
        temps[T_MOS] = 900
        s = self.filled([3300] * CELLS, temps)
        self.assertEqual((s.cell_tmax_dc, s.cell_tmin_dc), (260, 245))
        self.assertEqual((s.tmax_dc, s.tmin_dc), (300, 245))
        self.assertEqual(s.cell_tavg_dc, (250 + 260 + 255 + 245) // 4)
        temps[T_AMBIENT] = -120
        s = self.filled([3300] * CELLS, temps)
        self.assertEqual((s.tmax_dc, s.tmin_dc), (260, -120))


class PhysicsTest(unittest.TestCase):
    """reduce() says whether a value could be measured at all (issue 10): both sides of
    every bound."""

    def sample(self):
        s = Sample()
        s.cells_mv[:] = [3300] * CELLS
        s.temps_dc[:] = [250] * 6
        s.stack_mv = 52800
        s.pack_mv = s.ld_mv = 52700
        return s

    def test_a_normal_reading_is_possible(self):
        self.assertTrue(self.sample().reduce())

    def check(self, field, inside, outside, index=None):
        for value, ok in ((inside, True), (outside, False)):
            s = self.sample()
            if index is None:
                setattr(s, field, value)
            else:
                getattr(s, field)[index] = value
            self.assertEqual(s.reduce(), ok, (field, index, value))

    def test_cells(self):
        for i in (0, 7, 15):
            self.check("cells_mv", CELL_MV_MAX, CELL_MV_MAX + 1, i)
            self.check("cells_mv", CELL_MV_MIN, CELL_MV_MIN - 1, i)

    def test_stack_pack_and_load(self):
        self.check("stack_mv", STACK_MV_MAX, STACK_MV_MAX + 1)
        self.check("stack_mv", 0, -1)
        for field in ("pack_mv", "ld_mv"):
            self.check(field, LINK_MV_LIMIT, LINK_MV_LIMIT + 1)
            self.check(field, -LINK_MV_LIMIT, -LINK_MV_LIMIT - 1)

    def test_every_temperature_sensor(self):
        for slot in range(6):
            self.check("temps_dc", TEMP_DC_MAX, TEMP_DC_MAX + 1, slot)
            self.check("temps_dc", TEMP_DC_MIN, TEMP_DC_MIN - 1, slot)


class SlotTest(unittest.TestCase):
    def test_the_fill_kernel_reads_the_mos_sensor_slot(self):

        self.assertEqual(protections_consts.MOS_SLOT, T_MOS)
