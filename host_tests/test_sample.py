"""The measurement snapshot's aggregates, computed once per tick."""

import unittest

from bms.sample import CELLS, T_AMBIENT, T_MOS, Sample


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
