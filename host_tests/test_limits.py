"""What the pack asks the inverter for: CVL, CCL, DCL, DVL and the request flags."""

import unittest

from core_rig import Rig

from bms.limits import FLOAT_EXIT_HOLD_MS, _ramp

DAY_MS = 86400 * 1000
NO_LEAK = {"soc_self_discharge_ma": 0}  # SOC exactly where a test puts it


def lim(r):
    return r.bms.limits


class RampTest(unittest.TestCase):
    def test_ramp_both_directions(self):
        self.assertEqual(_ramp(3400, 3450, 3550), 1000)
        self.assertEqual(_ramp(3450, 3450, 3550), 1000)
        self.assertEqual(_ramp(3500, 3450, 3550), 500)
        self.assertEqual(_ramp(3550, 3450, 3550), 0)
        self.assertEqual(_ramp(3600, 3450, 3550, 100), 100)
        self.assertEqual(_ramp(20, 100, -50, 100), 521)  # cold: 1000 at 10 C, 100 at -5 C


class LimitTest(unittest.TestCase):
    def test_nominal_requests(self):
        r = Rig().settle()
        self.assertEqual(
            (lim(r).cvl_mv, lim(r).ccl_ma, lim(r).dcl_ma, lim(r).dvl_mv),
            (56000, 50000, 50000, 48000),  # the standard 50 A both ways
        )
        self.assertTrue(lim(r).charge_enable and lim(r).discharge_enable)

    def test_charge_current_tapers_at_the_top(self):
        r = Rig().settle()
        cases = (
            (3450, 50000),
            (3500, 27500),
            (3550, 5000),  # the floor, 10 %...
            (3565, 2500),
            (3579, 170),
            (3580, 0),  # ...to nothing short of COVP (3.60 V)
            (3600, 0),
        )
        for cell_mv, ccl in cases:
            r.cell(0, cell_mv)
            r.tick()
            self.assertEqual(lim(r).ccl_ma, ccl, cell_mv)

    def test_discharge_current_tapers_near_empty(self):
        r = Rig().settle()
        for cell_mv, dcl in ((3100, 50000), (2950, 27500), (2800, 5000)):
            r.cell(0, cell_mv)
            r.tick()
            self.assertEqual(lim(r).dcl_ma, dcl, cell_mv)

    def test_temperature_derating(self):
        cases = (
            (450, 50000, 50000),
            (475, 25000, 50000),
            (500, 0, 50000),
            (525, 0, 25000),
            (100, 50000, 50000),
            (-50, 5000, 30000),
            (0, 20050, 50000),
        )
        for dc, ccl, dcl in cases:
            r = Rig().settle()
            r.temps(dc)
            r.tick()
            self.assertEqual((lim(r).ccl_ma, lim(r).dcl_ma), (ccl, dcl), dc)

    def test_dcl_follows_the_warm_start_limit(self):
        r = Rig({"dcl_ma": 100000}).settle()  # the most the pack allows
        r.current(-20000)
        r.tick()
        self.assertEqual(lim(r).dcl_ma, 100000)
        r = Rig({"dcl_ma": 100000}).settle()
        r.temps(310, 0)  # a discharge that starts above 30 C: 50 A (DOCP's limit)
        r.current(-20000)
        r.tick()
        self.assertEqual(lim(r).dcl_ma, 50000)

    def test_charge_forbidden_lowers_cvl_never_to_zero(self):
        r = Rig().settle()
        r.cell(3, 3650)
        r.run_ms(1100)
        self.assertTrue(r.active("COVP"))
        self.assertEqual(lim(r).ccl_ma, 0)
        self.assertFalse(lim(r).charge_enable)
        self.assertEqual(lim(r).cvl_mv, r.s.stack_mv)  # below the normal 56.0 V
        self.assertTrue(lim(r).discharge_enable)
        r2 = Rig().settle()
        r2.cells([2900] * 16)
        r2.temps(520, 0)
        r2.run_ms(2100)
        self.assertTrue(r2.active("CHTP"))
        self.assertEqual(lim(r2).cvl_mv, 49000)  # DVL + 1 V at the least

    def test_discharge_forbidden(self):
        r = Rig().settle()
        r.cell(3, 2700)
        r.run_ms(1100)
        self.assertEqual(lim(r).dcl_ma, 0)
        self.assertFalse(lim(r).discharge_enable)
        self.assertEqual(lim(r).cvl_mv, 56000)

    def test_float_after_full_until_the_pack_is_low_for_a_minute(self):
        r = Rig().settle()
        r.bms.soc.calibrate_full(r.now)
        r.tick()
        self.assertEqual(lim(r).cvl_mv, 54600)
        r.cells([3240] * 16)  # 51.84 V: below the 52.0 V re-start voltage
        r.tick()
        r.run_ms(FLOAT_EXIT_HOLD_MS - 100)
        self.assertEqual(lim(r).cvl_mv, 54600)
        r.tick()
        self.assertEqual(lim(r).cvl_mv, 56000)

    def test_a_dip_below_the_restart_voltage_does_not_leave_float(self):
        r = Rig().settle()
        r.bms.soc.calibrate_full(r.now)
        r.tick()
        r.cells([3240] * 16)
        r.run_ms(30000)
        r.cells([3300] * 16)
        r.run_ms(60000)
        self.assertEqual(lim(r).cvl_mv, 54600)


class RequestTest(unittest.TestCase):
    def test_force_charge_from_4_percent_until_8(self):
        r = Rig(NO_LEAK).settle()
        r.bms.soc._set_cpct(401, r.now, 0)
        r.tick()
        self.assertFalse(lim(r).force_charge)
        r.bms.soc._set_cpct(400, r.now, 0)
        r.tick()
        self.assertTrue(lim(r).force_charge)
        r.bms.soc._set_cpct(799, r.now, 0)
        r.tick()
        self.assertTrue(lim(r).force_charge)
        r.bms.soc._set_cpct(800, r.now, 0)
        r.tick()
        self.assertFalse(lim(r).force_charge)

    def test_force_charge_on_a_low_cell(self):
        r = Rig(NO_LEAK).settle()
        r.bms.soc._set_cpct(5000, r.now, 0)
        r.cell(9, 3001)
        r.tick()
        self.assertFalse(lim(r).force_charge)
        r.cell(9, 3000)
        r.tick()
        self.assertTrue(lim(r).force_charge)
        # the cell recovers at once under charge; the request holds until 4 % more
        r.cell(9, 3300)
        r.bms.soc._set_cpct(5399, r.now, 0)
        r.tick()
        self.assertTrue(lim(r).force_charge)
        r.bms.soc._set_cpct(5400, r.now, 0)
        r.tick()
        self.assertFalse(lim(r).force_charge)

    def test_full_charge_request_after_30_days_below_97_percent(self):
        r = Rig(NO_LEAK).settle()
        r.bms.soc._set_cpct(9000, r.now, 0)
        r.tick()
        r.wait(30 * DAY_MS - 60000, step=60000)
        self.assertFalse(lim(r).full_request)
        r.wait(60000, step=60000)
        self.assertTrue(lim(r).full_request)
        r.bms.soc._set_cpct(9700, r.now, 0)
        r.tick()
        self.assertFalse(lim(r).full_request)
        self.assertEqual(lim(r).no_full_s, 0)
