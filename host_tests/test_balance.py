"""Cell balancing: which cells bleed, when, and what stops it."""

import unittest

from core_rig import Rig

from bms.balance import BALANCE_PERIOD_MS, Balancer
from bms.config import Config
from bms.sample import Sample


def sample(cells, temp=250):
    s = Sample()
    s.valid = True
    s.cells_mv[:] = cells
    for i in range(6):
        s.temps_dc[i] = temp
    s.reduce()
    return s


def top(spread_at=None):
    cells = [3420] * 16
    for i, mv in (spread_at or {}).items():
        cells[i] = mv
    return cells


class ChoiceTest(unittest.TestCase):
    def decide(self, cells, allowed=True, temp=250, config=None):
        b = Balancer(Config(config or {}))
        b.step(sample(cells, temp), allowed, 0)
        return b

    def test_bleeds_cells_above_min_plus_30_mv(self):
        b = self.decide(top({2: 3451, 7: 3450, 12: 3449}))
        # min 3420: only 3451 is more than 30 mV above it (pack.md: "> min + 30 mV")
        self.assertEqual(b.cells(), [3])

    def test_only_at_the_top(self):
        cells = [3370] * 16
        cells[4] = 3399  # 29 mV above the rest, and the highest below 3.40 V
        self.assertEqual(self.decide(cells).cells(), [])
        low = [3360] * 16  # (40 mV below: the start alone decides)
        low[4] = 3399
        self.assertEqual(self.decide(low).cells(), [])
        low[4] = 3400  # pack.md: max cell >= 3.40 V
        self.assertEqual(self.decide(low).cells(), [5])
        cells[4] = 3401
        self.assertEqual(self.decide(cells).cells(), [5])
        cells[4] = 3450
        cells[9] = 3401  # the highest at the top: every cell 30 mV above min bleeds
        self.assertEqual(self.decide(cells).cells(), [5, 10])

    def test_never_two_neighbours_highest_first(self):
        b = self.decide(top({4: 3480, 5: 3490, 6: 3470}))
        self.assertEqual(b.cells(), [6])  # 6 is highest; 5 and 7 are its neighbours
        b = self.decide(top({4: 3480, 5: 3460, 6: 3470}))
        self.assertEqual(b.cells(), [5, 7])

    def test_at_most_the_configured_number(self):
        cells = [3500 if i % 2 == 0 else 3420 for i in range(16)]
        self.assertEqual(len(self.decide(cells).cells()), 8)
        self.assertEqual(len(self.decide(cells, config={"balance_max_cells": 3}).cells()), 3)

    def test_temperature_window(self):
        cells = top({3: 3480})
        self.assertEqual(self.decide(cells, temp=450).cells(), [4])
        self.assertEqual(self.decide(cells, temp=451).cells(), [])
        self.assertEqual(self.decide(cells, temp=0).cells(), [4])
        self.assertEqual(self.decide(cells, temp=-1).cells(), [])

    def test_not_when_not_allowed(self):
        self.assertEqual(self.decide(top({3: 3480}), allowed=False).cells(), [])

    def test_a_bleeding_cell_goes_on_to_min_plus_15_mv(self):
        b = Balancer(Config())
        s = sample(top({3: 3451}))
        b.step(s, True, 0)
        self.assertEqual(b.cells(), [4])
        for mv, bleeding in ((3440, [4]), (3436, [4]), (3435, []), (3440, [])):
            s.cells_mv[3] = mv
            s.reduce()
            b.step(s, True, b._next)
            self.assertEqual(b.cells(), bleeding, mv)

    def test_decides_every_period_and_issues_each_decision(self):
        b = Balancer(Config())
        s = sample(top({3: 3480}))
        b.step(s, True, 0)
        self.assertTrue(b.issue)
        b.issue = False
        s.cells_mv[3] = 3430  # within 15 mV of the rest: done
        s.reduce()
        b.step(s, True, BALANCE_PERIOD_MS - 100)
        self.assertFalse(b.issue)
        self.assertEqual(b.cells(), [4])
        b.step(s, True, BALANCE_PERIOD_MS)
        self.assertTrue(b.issue)
        self.assertEqual(b.cells(), [])


class CoreTest(unittest.TestCase):
    def balancing_rig(self):
        r = Rig().settle()
        r.cells(top({3: 3480}))
        r.run_ms(10000)
        self.assertEqual(r.bms.balancer.cells(), [4])
        return r

    def test_while_charging_or_idle_not_discharging(self):
        r = self.balancing_rig()
        r.current(20000)
        r.run_ms(10000)
        self.assertEqual(r.bms.balancer.cells(), [4])
        r.current(-600)
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [])

    def test_during_covp_but_not_other_protections(self):
        r = self.balancing_rig()
        r.cell(3, 3650)
        r.run_ms(11000)
        self.assertTrue(r.active("COVP"))
        self.assertEqual(r.bms.balancer.cells(), [4])
        r.temps(520, 0)
        r.run_ms(2100)
        self.assertTrue(r.active("CHTP"))
        self.assertEqual(r.bms.balancer.cells(), [])

    def test_bleeds_again_at_once_after_a_week_without_balancing(self):
        # a discharge (no balancing) for 6.3 days: the last decision's stamp read as the
        # future from 6.2 days on (a tick difference), and no cell bled for days more
        # once the charge came back (a helper's audit: 224 mV apart, an hour on)
        r = self.balancing_rig()
        r.current(-600)
        r.wait((6 * 24 + 8) * 3600 * 1000)
        bal = r.bms.balancer
        self.assertEqual(bal.cells(), [])
        r.current(20000)
        r.tick()
        self.assertEqual(bal.cells(), [])  # the stamp reads as the future
        bal.rebase(r.now)  # (the app, once a second)
        r.tick()
        self.assertEqual(bal.cells(), [4])
        # a stamp within its period stays (stopping and going on every tick must not
        # make a decision, and a chip write, every tick)
        due = bal._next
        r.current(-600)
        r.tick()
        r.current(20000)
        bal.rebase(r.now)
        r.tick()
        self.assertEqual(bal._next, due)

    def test_stops_in_the_safe_state_and_rapid_shutdown(self):
        r = self.balancing_rig()
        r.inp.rsd = True
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [])
        self.assertTrue(r.bms.balancer.issue)

    def test_leaving_its_temperature_window_stops_it_at_once(self):
        # (judged at the next decision alone, a cell bled on for up to 10 s at 46 C)
        r = self.balancing_rig()
        r.run_ms(500)
        hi = r.cfg.balance_max_temp_dc
        r.temps(hi, 0)  # at its edge: on
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [4])
        r.temps(hi + 1, 0)  # past it (below CHTP): off at this tick
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [])
        self.assertFalse(r.active("CHTP"))
        r = self.balancing_rig()
        r.run_ms(500)
        lo = r.cfg.balance_min_temp_dc
        r.temps(lo, 1)
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [4])
        r.temps(lo - 1, 1)
        r.tick()
        self.assertEqual(r.bms.balancer.cells(), [])


def _bleeding(pack):
    return [i + 1 for i in range(16) if pack.model.bleed_a[i]]


class SimulatedTest(unittest.TestCase):
    def bleeding_sim(self):
        from support import make_sim

        sim = make_sim(initial={"soc_pct": 99, "cell_spread_mv": 60})
        sim.run(30000)
        pack = sim.packs[0]
        self.assertNotEqual(_bleeding(pack), [])
        return sim, pack

    def writes(self, pack, lose_first=False):
        """The masks the app writes to the front end from now on (the first one lost, a
        NACK, if lose_first)."""
        afe = pack.app.afe
        real = afe.set_balancing
        calls = []

        def recorded(mask):
            calls.append(mask)
            return False if lose_first and len(calls) == 1 else real(mask)

        afe.set_balancing = recorded
        return calls

    def test_a_lost_stop_write_goes_again_at_the_next_tick(self):
        # the stop written once, lost (a NACK), and never again: the cells bled through
        # a discharge until the chip's own timer ran out, 13 s on
        sim, pack = self.bleeding_sim()
        calls = self.writes(pack, lose_first=True)
        sim.apply({"current_a": -20})
        sim.run(sim.t_ms + 200)
        self.assertEqual(calls[:2], [0, 0])
        self.assertEqual(_bleeding(pack), [])

    def test_a_bus_that_does_not_answer_is_not_written_at_every_tick(self):
        # (the retry of a failed write waits for a good reading: a chip lost off the bus
        # took three timed-out writes more a tick, for as long as it was lost)
        sim, pack = self.bleeding_sim()
        calls = self.writes(pack)
        pack.chip.lost = True
        sim.run(sim.t_ms + 20000)
        self.assertEqual(calls, [0])
        pack.chip.lost = False
        sim.run(sim.t_ms + 1000)
        self.assertEqual(calls[:2], [0, 0])  # at the first good reading

    def test_the_safe_state_stops_it(self):
        sim, pack = self.bleeding_sim()
        app = pack.app

        def boom(*a):
            raise RuntimeError("injected")

        app.bms.step = boom
        sim.run(sim.t_ms + 200)
        self.assertGreater(app.exceptions, 0)
        self.assertEqual(_bleeding(pack), [])
        self.assertEqual(app.bms.balancer.mask, 0)

    def test_a_chip_reset_ends_the_bleeding(self):
        sim, pack = self.bleeding_sim()
        sim.apply({"current_a": -20})
        pack.chip.power_on_reset()
        self.assertEqual(_bleeding(pack), [])

    def test_the_app_rebases_a_stamp_that_reads_as_the_future(self):
        from support import make_sim

        from bms import ticks

        sim = make_sim(initial={"soc_pct": 99, "cell_spread_mv": 60})
        sim.run(30000)
        pack = sim.packs[0]
        bal = pack.app.bms.balancer
        bal._next = ticks.add(pack.ticks.ticks_ms(), 1 << 28)  # one kept 9 days reads so
        sim.run(32000)
        self.assertLessEqual(ticks.diff(bal._next, pack.ticks.ticks_ms()), BALANCE_PERIOD_MS)

    def test_the_chip_bleeds_what_the_firmware_chose(self):
        from support import make_sim

        sim = make_sim(initial={"soc_pct": 99, "cell_spread_mv": 60})
        sim.run(30000)
        pack = sim.packs[0]
        chosen = pack.app.bms.balancer.mask
        self.assertTrue(chosen)
        self.assertEqual(pack.chip.cb_mask, chosen)
        for i in range(16):
            self.assertEqual(bool(pack.model.bleed_a[i]), bool(chosen & (1 << i)))
        rec = sim.record(pack)
        self.assertEqual(rec["balancing"], pack.app.bms.balancer.cells())
