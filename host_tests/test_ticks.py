"""Tick arithmetic across the 2**30 wrap of the board's ticks_ms()."""

import unittest

import fwconst

from bms import ticks

ticks_consts = fwconst.of("bms.ticks")


class TicksTest(unittest.TestCase):
    def test_plain_difference(self):
        self.assertEqual(ticks.diff(1500, 1000), 500)
        self.assertEqual(ticks.diff(1000, 1500), -500)

    def test_across_the_wrap(self):
        before = ticks_consts.PERIOD - 30
        after = ticks.add(before, 100)
        self.assertEqual(after, 70)
        self.assertEqual(ticks.diff(after, before), 100)
        self.assertEqual(ticks.diff(before, after), -100)

    def test_half_period_limits(self):
        half = ticks_consts.PERIOD // 2
        self.assertEqual(ticks.diff(half - 1, 0), half - 1)
        self.assertEqual(ticks.diff(half, 0), -half)  # as time.ticks_diff: ambiguous beyond

    def test_age_of_a_time_past(self):
        half = ticks_consts.PERIOD // 2
        self.assertEqual(ticks.age(1500, 1000), 500)
        self.assertEqual(ticks.age(70, ticks_consts.PERIOD - 30), 100)  # across the wrap
        self.assertEqual(ticks.age(half - 1, 0), half - 1)
        # more than 6.2 days back it reads as ahead: as old as can be, past every window
        self.assertEqual(ticks.age(half, 0), half)
        self.assertEqual(ticks.age(1000, 1500), half)

    def test_results_stay_small_ints(self):
        for a in (0, 1, ticks_consts.PERIOD - 1):
            for b in (0, 1, ticks_consts.PERIOD - 1):
                self.assertLess(abs(ticks.diff(a, b)), 2**30)
                self.assertLess(ticks.add(a, b), 2**30)
                self.assertLess(ticks.age(a, b), 2**30)
