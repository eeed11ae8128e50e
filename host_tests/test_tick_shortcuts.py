"""The tick's shortcuts for a board's cycles, and that they change no result.

- Bms.step() leaves Limits.step() out while every input it reads is the one of its last
  step, no hold or expiry runs (float, an inverter's limits) and no second of its count
  is complete: the result would be the same. Here against a twin that steps them at
  every tick, over seeded random inputs that mostly repeat.
- PanelLogic.select() works out the SOC LEDs itself, as soc_leds() does.
- App has no property (nor anything else that makes MicroPython look the class up
  before every attribute store on its objects): role, address and told come from
  __getattr__, which runs only when the attribute is not found.
"""

import unittest

import fwconst
import test_tick_cost as cost_tests  # (the module: its test classes stay out of this one)
from core_rig import Rig

from app import App
from bms import panel as pnl
from bms import protections as pt

core_consts = fwconst.of("bms.core")
panel_consts = fwconst.of("bms.panel")

NO_LEAK = {"soc_self_discharge_ma": 0}  # the SOC moves only with the current
# DCL up to 100 A, so that DOCP's continuous limit for a warm discharge (50 A) shows
WIDE = {"soc_self_discharge_ma": 0, "dcl_ma": 100000}
LOW_SOC = (14580000, 360000000, 0)  # 4.05 %: the force-charge request comes and goes


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
    """Bms.step() leaves Limits.step() out while nothing it reads has changed."""

    def run_twins(self, seed, ticks, holds):
        """Ticks two rigs alike, one stepping its limits at every tick; returns how many
        ticks the other left them out. holds: the float and an inverter's limits come
        now and then (while one runs, every tick steps them)."""
        rigs = (Rig(WIDE, stored_soc=LOW_SOC).settle(), Rig(WIDE, stored_soc=LOW_SOC).settle())
        fast, full = rigs
        computed = cost_tests._Counting(fast.bms.limits, "_changed")  # (by a step only)
        rnd = _Rand(seed)
        # a few values each, across the ramps and the thresholds
        cells = (2950, 3000, 3050, 3300, 3300, 3300, 3450, 3500, 3530, 3565, 3580)
        if holds:
            cells += (3620,)  # COVP: its calibration to full starts the float
        temps = (0, 50, 250, 250, 250, 350, 420, 470, 520)
        for k in range(ticks):
            which = rnd.pick(40)  # one input changes (else all as at the last tick)
            cell = cells[rnd.pick(len(cells))]
            slot = rnd.pick(4)
            dc = temps[rnd.pick(len(temps))]
            ma = (0, 0, 20000, -30000, -30000, 300)[rnd.pick(6)]
            event = rnd.pick(150 if holds else 100000)
            for r in rigs:
                if which == 0:
                    r.cell(slot, cell)
                elif which == 1:
                    r.temps(dc, slot)
                elif which == 2:
                    r.current(ma)
                elif which == 3:
                    r.s.valid = not r.s.valid  # (the rig's sample: blind for a tick)
                elif which == 4:
                    r.inp.rsd = not r.inp.rsd  # (no charge, no discharge, nothing else)
                lim = r.bms.limits
                if event == 0:
                    lim.charged_full()
                elif event == 1:
                    lim.set_external(52000, 49000, 30000, 40000, r.now, 3000)
                elif event == 2:
                    lim.no_full_s = 30 * 86400 - 1  # the full-charge request a second away
            full.bms._lim_due = True  # (the twin: steps its limits at every tick)
            fast.tick()
            full.tick()
            self.assertEqual(_outputs(fast.bms.limits), _outputs(full.bms.limits), (seed, k))
            self.assertEqual(fast.bms.mode, full.bms.mode, (seed, k))
            self.assertEqual(fast.events.next_seq, full.events.next_seq, (seed, k))
            seq = fast.events.next_seq - 1
            self.assertEqual(fast.events.get(seq), full.events.get(seq), (seed, k))
        return ticks - computed.calls

    def test_the_same_result_as_stepping_them_every_tick(self):
        for seed in (1, 2):
            skipped = self.run_twins(seed, 1200, False)
            # left out, often (not in a low cell's 1 s force-charge hold: stepped)
            self.assertGreater(skipped, 350, seed)

    def test_the_same_across_the_holds_and_expiries(self):
        for seed in (3, 4):
            self.run_twins(seed, 1200, True)

    def test_a_full_charge_request_restored_shows_at_the_next_tick(self):
        r = Rig(NO_LEAK).settle()
        r.tick()
        r.bms.limits.no_full_s = 30 * 86400  # (as the app restores it)
        r.tick()
        self.assertTrue(r.bms.limits.full_request)

    def test_the_tick_after_a_blind_one_steps_them(self):
        r = Rig(NO_LEAK).settle()
        r.tick()
        r.s.valid = False
        r.tick()
        self.assertEqual(r.bms.limits.ccl_ma, 0)
        r.s.valid = True
        r.tick()
        self.assertEqual(r.bms.limits.ccl_ma, 50000)

    def test_a_charge_stopped_by_itself_steps_them(self):
        # the passive input set to stop charging only: nothing else the limits read moves
        r = Rig({"soc_self_discharge_ma": 0, "passive_action": 1}).settle()
        r.tick()
        r.inp.passive = True
        r.tick()
        # (the discharge, through the open charge FET's body diodes, held to their current)
        self.assertEqual((r.bms.limits.ccl_ma, r.bms.limits.dcl_ma), (0, 10000))

    def test_a_discharge_stopped_by_itself_steps_them(self):
        r = Rig({"soc_self_discharge_ma": 0, "passive_action": 2}).settle()
        r.tick()
        r.inp.passive = True
        r.tick()
        # (the charge, through the open discharge FET's body diodes, held to their current)
        self.assertEqual((r.bms.limits.ccl_ma, r.bms.limits.dcl_ma), (10000, 0))

    def test_the_soc_reaching_the_force_charge_level_steps_them(self):
        r = Rig(NO_LEAK, stored_soc=LOW_SOC).settle()
        r.current(-27000)  # (0.01 % in 13.3 ticks: not on a whole second)
        for _ in range(200):
            r.tick()
            if r.bms.soc.cpct <= 400:
                break
        self.assertEqual(r.bms.soc.cpct, 400)
        self.assertTrue(r.bms.limits.force_charge)  # at the tick the SOC got there

    def test_a_warm_discharge_start_steps_them(self):
        # DOCP's continuous limit follows the temperature at the start of a discharge
        r = Rig(WIDE, stored_soc=(198018000, 360000000, 0)).settle()  # 55.005 %
        r.temps(350)  # above docp_cont_temp_dc: 50 A continuous
        r.tick()
        self.assertEqual(r.bms.limits.dcl_ma, 90000)  # (a tenth under a cool start's)
        while r.bms._lim_dt != 0:  # (stepped at a second's end: the next are not)
            r.tick()
        r.tick()
        r.current(-1000)  # (0.01 % in 36 s: the SOC does not move now)
        r.tick()
        self.assertEqual(r.bms.limits.dcl_ma, 45000)

    def test_a_repeated_tick_leaves_them_out_and_a_changed_cell_does_not(self):
        r = Rig(NO_LEAK).settle()
        lim = r.bms.limits
        r.tick()
        computed = cost_tests._Counting(lim, "_changed")
        r.tick()
        self.assertEqual((computed.calls, lim.ccl_ma), (0, 50000))
        r.cell(0, 3500)  # into the taper: stepped at once
        r.tick()
        self.assertEqual((computed.calls, lim.ccl_ma), (1, 27500))


class CoreLiteralsTest(unittest.TestCase):
    def test_the_value_slots_are_the_protections_slots(self):
        self.assertEqual(core_consts.SCD_SLOT, pt.V_SCD)
        self.assertEqual(core_consts.REVERSE_SLOT, pt.V_REVERSE)
        self.assertEqual(core_consts.AFE_BAD_SLOT, pt.V_AFE_BAD)
        self.assertEqual(core_consts.PRECHARGE_FAIL_SLOT, pt.V_PRECHARGE_FAIL)

    def test_the_private_literals_are_their_modules_numbers(self):
        # (read from the sources: MicroPython folds a private const away)
        from bms import button as btn
        from bms import protect, sample, soc

        c = core_consts
        bq = fwconst.of("drivers.bq76952")
        pairs = [
            (c.OPEN_CHG, protect.OPEN_CHG),
            (c.OPEN_DSG, protect.OPEN_DSG),
            (c.CELLS, sample.CELLS),
            (fwconst.of("bms.balance").CELLS, sample.CELLS),
            (c.OCV_LOW_KNEE_MV, soc.OCV_LOW_KNEE_MV),
            (c.OCV_HIGH_KNEE_MV, soc.OCV_HIGH_KNEE_MV),
            (c.BUTTON_NONE, btn.NONE),
            (c.MS_ON, panel_consts.MS_ON),
            (c.MS_UNLOCKED, panel_consts.MS_UNLOCKED),
            (c.AFE_OCC_SLOT, pt.V_AFE_OCC),
            (c.AFE_OCD_SLOT, pt.V_AFE_OCD),
            (c.AFE_OCC, bq.SAFETY_A_OCC),
            (c.AFE_OCD, bq.SAFETY_A_OCD1 | bq.SAFETY_A_OCD2),
            (fwconst.of("nocurrent").CVL_FLOOR_MV, fwconst.of("bms.limits").CVL_FLOOR_MV),
        ]
        shows = [name for name in dir(panel_consts) if name.startswith("SHOW_")]
        for name in shows:
            pairs.append((getattr(c, name), getattr(panel_consts, name)))
        self.assertEqual(len(shows), 10)
        for mine, theirs in pairs:
            self.assertEqual(mine, theirs)


class PanelSelectTest(unittest.TestCase):
    def test_the_soc_leds_select_lights_are_those_of_soc_leds(self):
        p = pnl.PanelLogic()
        for cpct in range(-1, 10001):
            p.select(panel_consts.SHOW_STANDBY, 0, cpct, 0, 0)
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
