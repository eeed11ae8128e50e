"""The DC bus of parallel packs (boards/host/world/dc_bus.py): exact shares by open-circuit
voltage and resistance, the body diodes' one-way paths and their 0.7 V, a pack that opens
throwing its share onto the others, and the split driving the packs' models."""

import unittest

from boards.host.world.dc_bus import (
    BLOCKED,
    BOTH,
    CABLE_HOP_OHM,
    CHARGE_ONLY,
    DISCHARGE_ONLY,
    DcBus,
    share,
)
from boards.host.world.pack_model import DIODE_V, PackModel, Rng

PLACES = 9  # A and V: exact up to float rounding


class ShareTest(unittest.TestCase):
    def assert_share(self, got, v_bus, amps):
        v, currents = got
        self.assertAlmostEqual(v, v_bus, places=PLACES)
        self.assertEqual(len(currents), len(amps))
        for i in range(len(amps)):
            self.assertAlmostEqual(currents[i], amps[i], places=PLACES, msg="pack %d" % (i + 1))

    def test_two_packs_split_inversely_to_their_resistance(self):
        # 30 A into 52.0 V packs behind 10 and 20 mOhm: V = 52.2, 20 A and 10 A
        self.assert_share(share(30.0, [52.0, 52.0], [0.01, 0.02], [BOTH, BOTH]), 52.2, [20, 10])
        self.assert_share(share(-30.0, [52.0, 52.0], [0.01, 0.02], [BOTH, BOTH]), 51.8, [-20, -10])

    def test_three_packs_the_end_of_the_chain_charges_least(self):
        # 45 A, equal packs (8 mOhm) on 1, 2 and 3 mOhm of cable: 9, 10, 11 mOhm
        v, amps = share(45.0, [52.0] * 3, [0.009, 0.010, 0.011], [BOTH] * 3)
        g = 1 / 0.009 + 1 / 0.010 + 1 / 0.011
        self.assertAlmostEqual(v, 52.0 + 45.0 / g, places=PLACES)
        self.assertAlmostEqual(sum(amps), 45.0, places=PLACES)
        self.assertGreater(amps[0], amps[1])
        self.assertGreater(amps[1], amps[2])
        self.assertAlmostEqual(amps[2], (45.0 / g) / 0.011, places=PLACES)

    def test_packs_at_different_voltages_exchange_current_at_rest(self):
        # nothing from the inverter: the fullest pack charges the others; with equal
        # resistances the bus sits at their mean, 52.1333 V
        v = (52.0 + 52.1 + 52.3) / 3
        self.assert_share(
            share(0.0, [52.0, 52.1, 52.3], [0.01] * 3, [BOTH] * 3),
            v,
            [(v - 52.0) / 0.01, (v - 52.1) / 0.01, (v - 52.3) / 0.01],
        )
        self.assertAlmostEqual((v - 52.0) / 0.01, 13.3333333333, places=6)

    def test_a_pack_that_opens_throws_its_share_onto_the_others(self):
        emf = [52.0, 52.0, 52.0]
        r = [0.01, 0.01, 0.01]
        self.assert_share(share(60.0, emf, r, [BOTH] * 3), 52.2, [20, 20, 20])
        self.assert_share(share(60.0, emf, r, [BOTH, BLOCKED, BOTH]), 52.3, [30, 0, 30])
        self.assert_share(share(60.0, emf, r, [BLOCKED, BLOCKED, BOTH]), 52.6, [0, 0, 60])

    def test_charge_passes_an_open_discharge_fet_through_its_diode(self):
        emf = [52.0, 52.0]
        r = [0.01, 0.01]
        # below the diode's 0.7 V the first pack takes everything
        self.assert_share(share(50.0, emf, r, [BOTH, CHARGE_ONLY]), 52.5, [50, 0])
        self.assert_share(share(70.0, emf, r, [BOTH, CHARGE_ONLY]), 52.0 + DIODE_V, [70, 0])
        # above it both: 100 = (V - 52) / r + (V - 52.7) / r -> V = 52.85
        self.assert_share(share(100.0, emf, r, [BOTH, CHARGE_ONLY]), 52.85, [85, 15])
        # but it takes no part in a discharge
        self.assert_share(share(-40.0, emf, r, [BOTH, CHARGE_ONLY]), 51.6, [-40, 0])

    def test_discharge_passes_an_open_charge_fet_through_its_diode(self):
        emf = [52.0, 52.0]
        r = [0.01, 0.01]
        self.assert_share(share(-100.0, emf, r, [BOTH, DISCHARGE_ONLY]), 51.15, [-85, -15])
        self.assert_share(share(-50.0, emf, r, [BOTH, DISCHARGE_ONLY]), 51.5, [-50, 0])
        self.assert_share(share(40.0, emf, r, [BOTH, DISCHARGE_ONLY]), 52.4, [40, 0])

    def test_only_diode_paths(self):
        # two packs, each only one way: each direction goes to the one that can take it
        emf = [52.0, 52.0]
        r = [0.01, 0.02]
        self.assert_share(
            share(10.0, emf, r, [CHARGE_ONLY, DISCHARGE_ONLY]), 52.0 + DIODE_V + 0.1, [10, 0]
        )
        self.assert_share(
            share(-10.0, emf, r, [CHARGE_ONLY, DISCHARGE_ONLY]), 52.0 - DIODE_V - 0.2, [0, -10]
        )

    def test_nothing_flows_where_no_pack_can_take_it(self):
        emf = [52.0, 52.0]
        r = [0.01, 0.01]
        for paths in ([DISCHARGE_ONLY, BLOCKED], [DISCHARGE_ONLY, DISCHARGE_ONLY]):
            v, amps = share(50.0, emf, r, paths)
            self.assertEqual(amps, [0.0, 0.0])
        v, amps = share(-50.0, emf, r, [CHARGE_ONLY, BLOCKED])
        self.assertEqual(amps, [0.0, 0.0])
        v, amps = share(50.0, emf, r, [BLOCKED, BLOCKED])
        self.assertEqual((v, amps), (None, [0.0, 0.0]))

    def test_random_systems_sum_to_the_total_and_share_one_voltage(self):
        rng = Rng(7)
        paths_all = (BOTH, BOTH, CHARGE_ONLY, DISCHARGE_ONLY, BLOCKED)
        for _ in range(200):
            n = 2 + rng.next() % 31
            emf = [rng.uniform(48.0, 56.0) for _ in range(n)]
            r = [rng.uniform(0.005, 0.05) for _ in range(n)]
            paths = [paths_all[rng.next() % 5] for _ in range(n)]
            paths[0] = BOTH  # one pack that can take either way: every total is met
            total = rng.uniform(-300.0, 300.0)
            v, amps = share(total, emf, r, paths)
            self.assertAlmostEqual(sum(amps), total, places=6)
            for i in range(n):
                if paths[i] == BOTH:
                    self.assertAlmostEqual(amps[i], (v - emf[i]) / r[i], places=6)
                elif paths[i] == CHARGE_ONLY:
                    self.assertGreaterEqual(amps[i], 0.0)
                    self.assertAlmostEqual(amps[i], max(0.0, (v - emf[i] - DIODE_V) / r[i]), 6)
                elif paths[i] == DISCHARGE_ONLY:
                    self.assertLessEqual(amps[i], 0.0)
                    self.assertAlmostEqual(amps[i], min(0.0, (v - emf[i] + DIODE_V) / r[i]), 6)
                else:
                    self.assertEqual(amps[i], 0.0)


class DcBusTest(unittest.TestCase):
    def models(self, n, soc_pct=50.0):
        out = []
        for k in range(n):
            m = PackModel(seed=100 + k, soc_pct=soc_pct)
            m.set_fets(True, True, False)
            out.append(m)
        return out

    def test_default_cables_grow_along_the_chain(self):
        bus = DcBus(self.models(3))
        self.assertEqual(bus.cable_ohm, [CABLE_HOP_OHM, 2 * CABLE_HOP_OHM, 3 * CABLE_HOP_OHM])
        self.assertEqual(DcBus(self.models(2), [0.005, 0.012]).cable_ohm, [0.005, 0.012])

    def test_split_sets_each_model_current_from_its_own_thevenin(self):
        models = self.models(3)
        bus = DcBus(models, [0.001, 0.012, 0.030])
        amps = bus.split(60.0)
        self.assertAlmostEqual(sum(m.current_a for m in models), 60.0, places=PLACES)
        for k in range(3):
            e, r = models[k].thevenin()
            expect = (bus.v_bus - e) / (r + bus.cable_ohm[k])
            self.assertAlmostEqual(models[k].current_a, expect, places=PLACES)
            self.assertEqual(models[k].current_a, amps[k])
        self.assertGreater(amps[0], amps[1])
        self.assertGreater(amps[1], amps[2])
        # what a charger holding the bus at that voltage drives: the same total
        self.assertAlmostEqual(bus.current_at(bus.v_bus), 60.0, places=6)

    def test_a_fet_change_marks_the_split_stale_and_the_others_take_over(self):
        models = self.models(3)
        bus = DcBus(models)
        bus.split(60.0)
        self.assertFalse(bus.dirty)
        models[1].set_fets(False, True, False)  # COVP: the charge FET opens
        self.assertTrue(bus.dirty)
        self.assertEqual(models[1].current_a, 0.0)  # it blocks at once
        bus.split(bus.total_a)
        self.assertFalse(bus.dirty)
        self.assertEqual(models[1].current_a, 0.0)
        self.assertAlmostEqual(models[0].current_a + models[2].current_a, 60.0, places=PLACES)

    def test_unpowered_forced_and_shorted_packs_take_no_share(self):
        models = self.models(3)
        bus = DcBus(models)
        models[0].set_fets(False, False, False)
        bus.forced[1] = True
        models[1].set_demand(5.0)
        bus.split(-30.0)
        self.assertEqual(models[0].current_a, 0.0)
        self.assertEqual(models[1].current_a, 5.0)  # its own supply, untouched
        self.assertAlmostEqual(models[2].current_a, -30.0, places=PLACES)
        models[2].short = True
        self.assertEqual(bus.split(-30.0), [0.0, 0.0, 0.0])


if __name__ == "__main__":
    unittest.main()
