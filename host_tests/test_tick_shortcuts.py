"""The tick's shortcuts for a board's cycles, and that they change no result.

- Limits.step() computes nothing when every input is the one of its last step and no
  hold or expiry runs (float, an inverter's limits): the result would be the same. Here
  against a twin that computes at every step, over seeded random inputs that repeat.
- PanelLogic.select() works out the SOC LEDs itself, as soc_leds() does.
- App has no property (nor anything else that makes MicroPython look the class up
  before every attribute store on its objects): role, address and told come from
  __getattr__, which runs only when the attribute is not found.
"""

import unittest

import test_tick_cost as cost_tests  # (the module: its test classes stay out of this one)
from core_rig import Rig

from app import App
from bms import panel as pnl
from bms.config import Config
from bms.limits import LIM_FULL, Limits
from bms.sample import Sample

DAY_MS = 86400 * 1000


class _Rand:
    """A small LCG: the same draws under CPython and MicroPython."""

    def __init__(self, seed):
        self.x = seed

    def pick(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x3FFFFFFF
        return (self.x >> 14) % n  # (the high bits: the low ones of an LCG repeat)


def _outputs(lim):
    return (
        lim.cvl_mv,
        lim.ccl_ma,
        lim.dcl_ma,
        lim.dvl_mv,
        lim.charge_enable,
        lim.discharge_enable,
        lim.force_charge,
        lim.full_request,
        lim.floating,
        lim.ext_active,
        lim.no_full_s,
        lim.flags,
    )


class LimitsSkipTest(unittest.TestCase):
    def run_twins(self, seed, steps, dt_ms, holds=True):
        """Steps two Limits alike, one computing at every step; returns how many steps
        the other skipped. holds: the float and an inverter's limits come now and then
        (while one runs, every step computes)."""
        cfg = Config()
        fast = Limits(cfg)
        full = Limits(cfg)
        s = Sample()
        rnd = _Rand(seed)
        # a few values each, across the ramps and thresholds (min above max is fine here)
        cells = (2700, 2950, 3000, 3300, 3300, 3450, 3500, 3530, 3565, 3580)
        temps = (-100, 0, 50, 250, 250, 250, 420, 470)
        socs = (300, 400, 800, 5000, 9699, 9700)
        stacks = (40000, 51000, 51500, 53000, 57000)  # (float ends below 52 V)
        s.max_mv, s.min_mv, s.tmax_dc, s.tmin_dc, s.stack_mv = 3300, 3300, 250, 250, 51000
        soc, cap, chg, dsg = 5000, 100000, True, True
        computed = cost_tests._Counting(fast, "_changed")  # (called by a computing step only)
        now = 0
        for k in range(steps):
            which = rnd.pick(27)  # one input changes (else those of the last step again)
            if which == 0:
                s.max_mv = cells[rnd.pick(len(cells))]
            elif which == 1:
                s.min_mv = cells[rnd.pick(len(cells))]
            elif which == 2:
                s.tmax_dc = temps[rnd.pick(len(temps))]
            elif which == 3:
                s.tmin_dc = temps[rnd.pick(len(temps))]
            elif which == 4:
                s.stack_mv = stacks[rnd.pick(len(stacks))]
            elif which == 5:
                soc = socs[rnd.pick(len(socs))]
            elif which == 6:
                cap = (100000, 30000)[rnd.pick(2)]
            elif which == 7:
                chg = rnd.pick(5) != 0
            elif which == 8:
                dsg = rnd.pick(5) != 0
            event = rnd.pick(100 if holds else 600)
            for lim in (fast, full):
                if event == 0 and holds:
                    lim.charged_full()
                elif event == 1 and holds:
                    lim.set_external(52000, 49000, 30000, 40000, now, 5000)
                elif event == 2:
                    lim.blind()
                elif event == 3:
                    lim.no_full_s = 30 * 86400 - 1  # the full-charge request a second away
            full._in_max = full._in_soc = None  # (the twin: never the inputs of its last step)
            a = fast.step(s, chg, dsg, soc, cap, now, dt_ms)
            b = full.step(s, chg, dsg, soc, cap, now, dt_ms)
            self.assertEqual((a, _outputs(fast)), (b, _outputs(full)), (seed, k))
            now += dt_ms
        return steps - computed.calls

    def test_the_same_result_as_computing_every_step(self):
        for seed in (1, 2, 3):
            skipped = self.run_twins(seed, 1500, 100, False)
            self.assertGreater(skipped, 500, seed)  # the shortcut was taken, often

    def test_the_same_across_the_holds_and_expiries(self):
        # the float and an inverter's limits come and go; 1 s steps, so that the float's
        # exit hold, the external limits' expiry and the full-charge request's seconds
        # run out within the run
        for seed in (4, 5):
            self.run_twins(seed, 600, 1000)

    def test_the_full_charge_request_comes_on_time_with_the_same_inputs(self):
        lim = Limits(Config())
        s = Sample()
        s.max_mv, s.min_mv, s.tmax_dc, s.tmin_dc, s.stack_mv = 3300, 3300, 250, 250, 53000
        self.assertEqual(lim.step(s, True, True, 5000, 100000, 0, 100), 0)
        lim.no_full_s = 30 * 86400 - 1
        got = [lim.step(s, True, True, 5000, 100000, 100 * k, 100) for k in range(1, 11)]
        self.assertEqual(got, [0] * 8 + [LIM_FULL, 0])  # the 1 s since the first step
        self.assertTrue(lim.full_request)

    def test_a_repeated_step_is_skipped_and_a_changed_input_is_not(self):
        r = Rig().settle()
        lim = r.bms.limits
        computed = cost_tests._Counting(lim, "_changed")
        r.tick()
        self.assertEqual((computed.calls, lim.ccl_ma), (0, 50000))
        r.cell(0, 3500)  # into the taper: computed at once
        r.tick()
        self.assertEqual(lim.ccl_ma, 27500)


class PanelSelectTest(unittest.TestCase):
    def test_the_soc_leds_select_lights_are_those_of_soc_leds(self):
        p = pnl.PanelLogic()
        for cpct in range(-1, 10001):
            p.select(pnl.SHOW_STANDBY, 0, cpct, 0, 0)
            self.assertEqual(p._key >> 4 & 7, pnl.soc_leds(cpct), cpct)


class AppAccessorsTest(unittest.TestCase):
    def test_app_defines_no_property(self):
        for name in dir(App):
            self.assertNotEqual(type(getattr(App, name)), property, name)

    def test_role_address_and_told_are_computed_when_read(self):
        r = Rig()
        app = object.__new__(App)  # (no board: only what __getattr__ reads)
        app.packlink = None
        app.bms = r.bms
        self.assertIsNone(app.role)
        self.assertIsNone(app.address)
        self.assertIs(app.told, r.bms)

    def test_an_unknown_attribute_is_still_an_attribute_error(self):
        app = object.__new__(App)
        app.packlink = None
        with self.assertRaises(AttributeError):
            app.no_such_thing  # noqa: B018
        self.assertEqual(getattr(app, "last_exception", 7), 7)


if __name__ == "__main__":
    unittest.main()
