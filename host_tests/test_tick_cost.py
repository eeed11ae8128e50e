"""What the core leaves out of a tick to save a board's cycles, and that it loses nothing.

Bms.step() calls a part only when it has something to do (a call costs an RP2040 about
3000 cycles): the idle RESET button is not stepped, the inputs are not compared again
while none changed. And the literals it uses instead of another module's names (a
module attribute costs a lookup per use) are those names' values.
"""

import unittest

import fwconst
import test_bq76952 as bq_tests  # (the module: its test classes stay out of this one)
from core_rig import Rig

from bms import button as btn
from bms import core, precharge
from bms import events as ev
from bms import panel as pnl
from bms import protections as pt
from bms.sample import Sample

core_consts = fwconst.of("bms.core")
panel_consts = fwconst.of("bms.panel")
SAFETY_A_SCD = fwconst.of("drivers.bq76952").SAFETY_A_SCD


class _Counting:
    """Counts the calls of one method of one object, calling it through."""

    def __init__(self, obj, name):
        self.calls = 0
        f = getattr(obj, name)

        def counted(*args):
            self.calls += 1
            return f(*args)

        setattr(obj, name, counted)


class ShortCircuitAttributeTest(unittest.TestCase):
    def test_scd_is_the_safety_status_bit_as_of_the_last_read(self):
        model, chip, afe, _rec = bq_tests.rig()
        bq_tests.ReadTest.attach(None, chip, 0, 0)  # both FETs on: a short draws its current
        s = Sample()
        self.assertFalse(afe.scd)
        self.assertTrue(afe.read(s))
        self.assertFalse(afe.scd)
        self.assertEqual(afe.safety_a & SAFETY_A_SCD, 0)
        model.short = True
        chip.sync_faults()
        chip.refresh()
        afe.read(s)
        self.assertTrue(afe.scd)
        self.assertEqual(afe.safety_a & SAFETY_A_SCD, SAFETY_A_SCD)


class LiteralsTest(unittest.TestCase):
    def test_the_literals_are_the_protections_values(self):
        self.assertEqual(core.FET_CHG, pt.FET_CHG)
        self.assertEqual(core.FET_DSG, pt.FET_DSG)
        self.assertEqual(core.FET_PRE, pt.FET_PRE)
        self.assertEqual(core_consts.PACK_LOST_SLOT, pt.V_PACK_LOST)
        self.assertEqual(core_consts.PRECHARGE_CLOSED, precharge.CLOSED)


class SkippedCallsTest(unittest.TestCase):
    def setUp(self):
        self.r = Rig()
        self.r.settle()

    def test_an_idle_button_is_not_stepped(self):
        button = _Counting(self.r.bms.button, "step")
        self.r.tick(10)
        self.assertEqual(button.calls, 0)

    def test_a_press_is_stepped_until_the_unlock_window_is_over(self):
        r = self.r
        button = _Counting(r.bms.button, "step")
        r.inp.button = True
        r.tick(5)  # 500 ms: a RESET press
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertEqual(button.calls, 7)
        self.assertTrue(r.logged(ev.RESET, btn.RESET))
        self.assertTrue(r.bms.button.first)  # an UNLOCK may follow: still stepped
        r.tick(int(r.cfg.button_unlock_ms // 100) + 1)
        self.assertFalse(r.bms.button.first)  # the window closed at a step
        calls = button.calls
        r.tick(3)
        self.assertEqual(button.calls, calls)

    def test_sleep_is_judged_unless_awake_flowing_and_both_timers_stopped(self):
        r = self.r
        sleep = _Counting(r.bms, "_sleep")
        r.tick(3)  # at rest: the idle timer runs
        self.assertEqual(sleep.calls, 3)
        r.current(-20000)
        r.tick(3)  # the first tick stops the idle timer, the others are left out
        self.assertEqual(sleep.calls, 4)
        self.assertEqual((r.bms._idle_since, r.bms._cuvp_since), (-1, -1))
        r.current(0)
        r.tick()
        self.assertEqual(sleep.calls, 5)
        self.assertGreaterEqual(r.bms._idle_since, 0)

    def test_a_closed_discharge_path_is_not_stepped_while_wanted(self):
        r = self.r
        self.assertEqual(r.bms.precharge.state, precharge.CLOSED)
        pre = _Counting(r.bms.precharge, "step")
        r.tick(3)
        self.assertEqual(pre.calls, 0)
        self.assertEqual(r.fets(), (True, True))
        r.cell(0, 2700)  # CUVP: the discharge path opens
        r.tick(int(r.cfg.cuvp_delay_ms // 100) + 1)
        self.assertGreater(pre.calls, 0)
        self.assertEqual(r.fets(), (True, False))

    def test_inputs_are_compared_only_when_one_changed(self):
        r = self.r
        inputs = _Counting(r.bms, "_inputs")
        r.tick(3)
        self.assertEqual(inputs.calls, 0)
        for name, value in (("afe_safety", 0x80), ("passive", True), ("rsd", True)):
            setattr(r.inp, name, value)
            r.tick()
            self.assertEqual(inputs.calls, 1, name)
            r.tick()
            self.assertEqual(inputs.calls, 1, name)  # taken: equal again
            inputs.calls = 0
        self.assertTrue(r.logged(ev.AFE_SAFETY))
        self.assertTrue(r.logged(ev.INPUT, core.IN_PASSIVE))
        self.assertTrue(r.logged(ev.INPUT, core.IN_RSD))


class PanelSkipTest(unittest.TestCase):
    """Bms.step() asks the panel's logic again only when PanelLogic.patterns_key() of what
    it shows changed, or while the service unlock runs (it ends with time)."""

    def setUp(self):
        self.r = Rig({"soc_self_discharge_ma": 0}).settle()
        self.panel = _Counting(self.r.bms, "_panel")

    def test_the_same_key_is_not_selected_again(self):
        r = self.r
        key = r.bms.panel._key
        r.tick(5)
        self.assertEqual(self.panel.calls, 0)
        self.assertEqual(r.bms.panel._key, key)

    def test_a_new_show_code_is_selected_at_its_tick(self):
        r = self.r
        r.current(20000)  # charging: the mode changes once it held mode_debounce_ms
        ticks = 0
        while core.MODE_NAMES[r.bms.mode] != "charge":
            r.tick()
            ticks += 1
        self.assertEqual(self.panel.calls, 1)  # at the tick the mode changed, not before
        self.assertGreater(ticks, 1)
        self.assertEqual(r.bms.panel.show, panel_consts.SHOW_CHARGE)
        r.tick(3)
        self.assertEqual(self.panel.calls, 1)

    def test_the_soc_leds_and_the_ms_led_are_selected(self):
        r = self.r
        soc = r.bms.soc  # (it does not move here: no current, no self-discharge)
        self.assertEqual(r.bms.panel._key >> 4 & 7, 3)  # three SOC LEDs
        soc.q_mas = soc.full_mas // 10000 * 7499  # still three: the same key
        r.tick()
        self.assertEqual((soc.shown_cpct, self.panel.calls), (7499, 0))
        soc.q_mas = soc.full_mas // 10000 * 7500  # four
        r.tick()
        self.assertEqual(self.panel.calls, 1)
        self.assertEqual(r.bms.panel._key >> 4 & 7, 4)
        r.bms.parallel = True  # the M/S LED (the app sets it at every tick)
        r.tick()
        self.assertEqual(self.panel.calls, 2)
        self.assertEqual(r.bms.panel.pattern[pnl.MS], pnl.ON)
        r.tick(3)
        self.assertEqual(self.panel.calls, 2)

    def test_selected_at_every_tick_while_unlocked_and_once_after(self):
        r = self.r
        r.bms.unlocked = True
        r.bms.unlock_at = r.now
        r.tick(3)
        self.assertEqual(self.panel.calls, 3)
        self.assertEqual(r.bms.panel.pattern[pnl.MS], pnl.FLASH2)
        r.wait(r.cfg.unlock_valid_ms)
        # ended at a _panel() call, which selected the patterns without it
        self.assertFalse(r.bms.unlocked)
        self.assertEqual(r.bms.panel.pattern[pnl.MS], pnl.OFF)
        calls = self.panel.calls
        r.tick(3)
        self.assertEqual(self.panel.calls, calls)


if __name__ == "__main__":
    unittest.main()
