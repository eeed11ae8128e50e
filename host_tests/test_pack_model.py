"""The physical pack model: OCV curve, FETs with body diodes, heat, pre-charge, spread."""

import unittest

from boards.host.world.pack_model import (
    LINK_CHARGER,
    LINK_CONNECTED,
    LINK_FLOATING,
    N_CELLS,
    PackModel,
    Rng,
    ocv_mv,
    soc_at_ocv,
)

HOUR_MS = 3600 * 1000


def run(m, ms, step=100):
    t = m.t_ms
    for _ in range(ms // step):
        t += step
        m.advance(t)


class OcvCurveTest(unittest.TestCase):
    def test_strictly_rising(self):
        last = ocv_mv(-6)
        soc = -6.0
        while soc < 106:
            soc += 0.25
            v = ocv_mv(soc)
            self.assertGreater(v, last, soc)
            last = v

    def test_flat_plateau_steep_knees(self):
        plateau = ocv_mv(80) - ocv_mv(30)
        top_knee = ocv_mv(100) - ocv_mv(97)
        bottom_knee = ocv_mv(10) - ocv_mv(0)
        self.assertLess(plateau, 70)
        self.assertGreater(top_knee, 100)
        self.assertGreater(bottom_knee, 500)

    def test_landmarks(self):
        self.assertEqual(ocv_mv(100), 3500)  # 56.0 V absorption = full
        self.assertTrue(3280 < ocv_mv(50) < 3310)
        self.assertTrue(2700 <= ocv_mv(1) < 2900)  # CUVP 2.80 V sits at the bottom knee

    def test_inverse(self):
        for soc in (2.0, 12.5, 50.0, 97.5, 100.5):
            self.assertAlmostEqual(soc_at_ocv(ocv_mv(soc)), soc, delta=0.01)


class RngTest(unittest.TestCase):
    def test_same_seed_same_sequence(self):
        a, b = Rng(7), Rng(7)
        self.assertEqual([a.next() for _ in range(5)], [b.next() for _ in range(5)])
        self.assertNotEqual(Rng(8).next(), Rng(7).next())

    def test_uniform_in_range(self):
        r = Rng(3)
        for _ in range(200):
            v = r.uniform(-2.0, 5.0)
            self.assertTrue(-2.0 <= v < 5.0)


class FetTest(unittest.TestCase):
    def test_charge_fet_off_blocks_charge_but_not_discharge(self):
        m = PackModel(soc_pct=50)
        m.set_fets(False, True, False)
        m.set_demand(30.0)
        run(m, 1000)
        self.assertEqual(m.current_a, 0.0)
        self.assertEqual(m.link, LINK_CHARGER)
        self.assertGreater(m.link_v(), 57.0)  # the charger's voltage shows at the terminal
        m.set_demand(-30.0)
        run(m, 1000)
        self.assertEqual(m.current_a, -30.0)  # through the charge FET's body diode

    def test_discharge_fet_off_blocks_discharge_but_not_charge(self):
        m = PackModel(soc_pct=50)
        m.set_fets(True, False, False)
        m.set_demand(-30.0)
        run(m, 1000)
        self.assertEqual(m.current_a, 0.0)
        m.set_demand(30.0)
        run(m, 1000)
        self.assertEqual(m.current_a, 30.0)
        self.assertEqual(m.link, LINK_CONNECTED)

    def test_body_diode_heats_the_mosfets(self):
        through_fet = PackModel(soc_pct=50)
        through_fet.set_fets(True, True, False)
        through_diode = PackModel(soc_pct=50)
        through_diode.set_fets(False, True, False)
        for m in (through_fet, through_diode):
            m.set_demand(-60.0)
            run(m, 600 * 1000, step=1000)
        self.assertLess(through_fet.t_mos_c, 30.0)
        self.assertGreater(through_diode.t_mos_c, 45.0)

    def test_stuck_fet_conducts_regardless(self):
        m = PackModel(soc_pct=50)
        m.stuck_dsg = True
        m.set_demand(-20.0)
        run(m, 1000)
        self.assertEqual(m.current_a, -20.0)


class ChargeTest(unittest.TestCase):
    def test_coulombs_move_soc(self):
        m = PackModel(soc_pct=50)
        m.set_fets(True, True, False)
        m.set_demand(50.0)
        run(m, HOUR_MS // 2, step=1000)
        self.assertAlmostEqual(m.true_soc_pct(), 75.0, delta=0.5)

    def test_terminal_voltage_includes_ir_and_relaxes(self):
        m = PackModel(soc_pct=50)
        rest = sum(m.cells_mv()) / N_CELLS
        m.set_fets(True, True, False)
        m.set_demand(-100.0)
        run(m, 1000)
        loaded = sum(m.cells_mv()) / N_CELLS
        self.assertLess(loaded, rest - 40)
        m.set_demand(0.0)
        run(m, 600 * 1000, step=1000)
        relaxed = sum(m.cells_mv()) / N_CELLS
        self.assertLess(abs(relaxed - ocv_mv(m.true_soc_pct())), 5)

    def test_self_discharge_is_about_two_percent_a_month(self):
        m = PackModel(soc_pct=50)
        run(m, 30 * 24 * HOUR_MS, step=60000)
        lost = 50 - m.true_soc_pct()
        self.assertTrue(1.5 < lost < 3.5, lost)

    def test_seeded_capacity_and_spread(self):
        a = PackModel(seed=5, soc_pct=95, cell_spread_mv=40)
        b = PackModel(seed=5, soc_pct=95, cell_spread_mv=40)
        self.assertEqual(a.cap_as, b.cap_as)
        cells = a.cells_mv()
        self.assertAlmostEqual(max(cells) - min(cells), 40, delta=1)
        for cap in a.cap_as:
            self.assertTrue(0.985 * 360000 <= cap <= 1.015 * 360000)

    def test_balancing_bleed_moves_one_cell(self):
        m = PackModel(soc_pct=80)
        before = [m.cell_soc(i) for i in range(N_CELLS)]
        m.set_bleed(1 << 3, 0.1)
        run(m, HOUR_MS, step=1000)
        self.assertAlmostEqual(before[3] - m.cell_soc(3), 0.1 * 3600 / 3600, delta=0.05)
        self.assertAlmostEqual(before[4] - m.cell_soc(4), 0.0, delta=0.01)


class HeatTest(unittest.TestCase):
    def test_i2r_heating_toward_a_steady_rise(self):
        m = PackModel(soc_pct=50, temp_c=25)
        m.set_fets(True, True, False)
        m.set_demand(-100.0)
        run(m, HOUR_MS // 4, step=1000)
        self.assertGreater(m.t_cells_c, 26.0)
        self.assertLess(m.t_cells_c, 36.0)
        for t in m.zone_temps_c():
            self.assertTrue(25.0 < t < 40.0)

    def test_cools_back_to_ambient(self):
        m = PackModel(soc_pct=50, temp_c=40)
        m.ambient_c = 20.0
        run(m, 12 * HOUR_MS, step=60000)
        self.assertAlmostEqual(m.t_cells_c, 20.0, delta=0.5)


class PrechargeTest(unittest.TestCase):
    def test_precharge_lifts_the_link_within_seconds(self):
        m = PackModel(soc_pct=50)
        m.set_fets(True, False, True)
        run(m, 1500, step=50)
        self.assertEqual(m.link, LINK_FLOATING)
        self.assertGreater(m.link_v(), m.stack_v() - 1.0)
        self.assertLess(m.current_a, 0.0)  # pre-charge current is a small discharge
        self.assertGreater(m.current_a, -1.5)

    def test_faulty_link_never_gets_within_two_volts(self):
        m = PackModel(soc_pct=50)
        m.precharge_fault = True
        m.set_fets(True, False, True)
        run(m, 10000, step=50)
        self.assertLess(m.link_v(), m.stack_v() - 20.0)

    def test_link_decays_when_disconnected(self):
        m = PackModel(soc_pct=50)
        m.set_fets(True, True, False)
        run(m, 1000)
        m.set_fets(True, False, False)
        run(m, 100)
        v0 = m.link_v()
        self.assertGreater(v0, 50.0)
        run(m, 60000, step=1000)
        self.assertLess(m.link_v(), v0 / 2)

    def test_short_circuit_draws_huge_current_through_a_closed_fet(self):
        m = PackModel(soc_pct=50)
        m.set_fets(True, True, False)
        m.short = True
        run(m, 100)
        self.assertLess(m.current_a, -1000.0)
        m.set_fets(True, False, False)
        run(m, 100)
        self.assertEqual(m.current_a, 0.0)
