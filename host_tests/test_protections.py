"""Every protection and warning row, exact to pack.md: both sides of every trip and
release value, every delay to the tick, every release path.

The expected numbers are written out from pack.md, not read from the config, so a
changed default fails here.
"""

import unittest

import fwconst
from core_rig import TICK, Rig
from support import logged, long_run, make_sim

from bms import events as ev
from bms import protections as pt
from bms.protect import BY_CHARGER, BY_CURRENT, BY_RESET, BY_VALUE

core_consts = fwconst.of("bms.core")
BY_TIME = fwconst.of("bms.protect").BY_TIME


def cell(r, v):
    r.cell(3, v)


def stack(r, v):
    r.stack(v)


def temp(r, v):
    r.temps(v, 1)


def ambient(r, v):
    r.temps(v, 4)


def mos(r, v):
    r.temps(v, 5)


def charge(r, v):
    r.current(v)


def discharge(r, v):
    r.current(-v)


def spread(r, v):
    r.cell(7, 3300 + v)


SENSOR_SLOT = {temp: 1, ambient: 4, mos: 5}  # the temperature slot each setter moves

# name, setter, trips at, does not trip at, delay ms, releases at, does not release at,
# (charge FET, discharge FET) while tripped
VALUE_ROWS = (
    ("COVP", cell, 3600, 3599, 1000, 3400, 3401, (False, True)),
    ("POVP", stack, 57600, 57599, 1000, 54400, 54401, (False, True)),
    ("CUVP", cell, 2800, 2801, 1000, 3000, 2999, (True, False)),
    ("PUVP", stack, 44800, 44801, 1000, 48000, 47999, (True, False)),
    ("CHTP", temp, 501, 500, 2000, 450, 451, (False, True)),
    ("CHTP", ambient, 501, 500, 2000, 450, 451, (False, True)),
    ("DHTP", temp, 551, 550, 2000, 500, 501, (False, False)),  # CHTP is tripped too
    ("DHTP", ambient, 551, 550, 2000, 500, 501, (False, False)),
    ("CLTP", temp, -51, -50, 2000, 0, -1, (False, True)),
    ("CLTP", ambient, -51, -50, 2000, 0, -1, (False, True)),
    ("DLTP", temp, -101, -100, 2000, -50, -51, (False, False)),  # and CLTP
    ("DLTP", ambient, -101, -100, 2000, -50, -51, (False, False)),
    # the manual's CLTP/DLTP name the MOS temperature too (its own row only when hot)
    ("CLTP", mos, -51, -50, 2000, 0, -1, (False, True)),
    ("DLTP", mos, -101, -100, 2000, -50, -51, (False, False)),
    ("MOS_OTP", mos, 901, 900, 2000, 700, 701, (False, False)),
)

WARNING_ROWS = (
    ("HIGH_VOLTAGE", cell, 3550, 3549, 3530, 3531),
    ("HIGH_VOLTAGE", stack, 56800, 56799, 56600, 56601),
    ("LOW_VOLTAGE", cell, 3000, 3001, 3020, 3019),
    ("LOW_VOLTAGE", stack, 48000, 48001, 48200, 48199),
    ("HIGH_TEMP", temp, 450, 449, 430, 431),
    ("HIGH_TEMP", mos, 800, 799, 780, 781),
    ("LOW_TEMP", temp, 0, 1, 20, 19),
    ("LOW_TEMP", mos, 0, 1, 20, 19),
    ("HIGH_CURRENT", charge, 60001, 60000, 55000, 55001),
    ("HIGH_CURRENT", discharge, 95001, 95000, 90000, 90001),
    ("CELL_IMBALANCE", spread, 301, 300, 280, 281),
)

# latched sensor failures: setter, fails at, does not at (3 s delay, RESET only)
SENSOR_ROWS = (
    ("cell below 1.0 V", cell, 999, 1000),
    ("cell above 4.5 V", cell, 4501, 4500),
    ("NTC open", temp, -401, -400),
    ("NTC open (MOS)", mos, -401, -400),
    ("NTC shorted", ambient, 1251, 1250),
    ("NTC shorted (cells)", temp, 1251, 1250),
    ("NTC shorted (MOS)", mos, 1251, 1250),
    ("sum vs stack", lambda r, v: r._stack(52800 + v), 2001, 2000),
    ("sum vs stack, low", lambda r, v: r._stack(52800 - v), 2001, 2000),
)


class RowTest(unittest.TestCase):
    def assert_trips_after(self, r, name, delay_ms):
        """The condition is set: the first tick sees it, and the row trips exactly
        delay_ms later, not one tick earlier."""
        r.tick()
        if delay_ms == 0:
            self.assertTrue(r.active(name), "%s at its first tick" % name)
            return
        self.assertFalse(r.active(name), "%s tripped without delay" % name)
        r.run_ms(delay_ms - TICK)
        self.assertFalse(r.active(name), "%s tripped one tick early" % name)
        r.tick()
        self.assertTrue(r.active(name), "%s not tripped at its delay" % name)

    def assert_released_after(self, r, name, delay_ms):
        """The release value is set: the first tick sees it, and the row releases exactly
        delay_ms later (the same rule as a trip), not one tick earlier."""
        r.tick()
        self.assertTrue(r.active(name), "%s released without delay" % name)
        r.run_ms(delay_ms - TICK)
        self.assertTrue(r.active(name), "%s released one tick early" % name)
        r.tick()
        self.assertFalse(r.active(name), "%s not released at its delay" % name)

    def test_value_rows(self):
        for name, setter, trip_at, trip_not, delay, rel_at, rel_not, fets in VALUE_ROWS:
            with self.subTest(name=name, setter=setter.__name__):
                r = Rig().settle()
                setter(r, trip_not)
                r.run_ms(delay + 5000)
                self.assertFalse(r.active(name))
                setter(r, trip_at)
                self.assert_trips_after(r, name, delay)
                self.assertEqual(r.fets(), fets)
                trip = r.logged(ev.TRIP, pt.NAMES.index(name))[-1]
                self.assertEqual(trip[1], r.now)
                self.assertEqual(trip[4], trip_at)
                if setter in SENSOR_SLOT:  # the sensor logged: the one that tripped
                    self.assertEqual(trip[5], SENSOR_SLOT[setter] + 1)
                setter(r, rel_not)
                r.run_ms(30000)
                self.assertTrue(r.active(name), "released before its release value")
                setter(r, rel_at)
                self.assert_released_after(r, name, delay)
                released = r.logged(ev.RELEASE, pt.NAMES.index(name))[-1]
                self.assertEqual(released[4:], (rel_at, BY_VALUE))

    def test_a_dip_back_in_range_delays_the_trip_by_its_length_only(self):
        r = Rig().settle()
        cell(r, 3600)
        r.tick()  # seen: the count starts
        r.run_ms(800)  # 800 ms held
        cell(r, 3599)  # one look in range: the 100 ms after it are not counted
        r.tick()  # (the 100 ms before it are: the condition was seen at their start)
        cell(r, 3600)
        r.tick()
        self.assertFalse(r.active("COVP"))
        r.tick()  # 1000 ms held, one tick after a continuous condition would trip
        self.assertTrue(r.active("COVP"))

    def test_a_whole_delay_in_range_clears_the_count(self):
        r = Rig().settle()
        cell(r, 3600)
        r.run_ms(900)
        cell(r, 3500)
        r.run_ms(1000)  # in range for the whole delay: idle again
        cell(r, 3600)
        self.assert_trips_after(r, "COVP", 1000)

    def test_warning_rows(self):
        for name, setter, at, below, clear_at, clear_not in WARNING_ROWS:
            with self.subTest(name=name, setter=setter.__name__):
                r = Rig().settle()
                setter(r, below)
                r.run_ms(5000)
                self.assertFalse(r.active(name))
                setter(r, at)
                self.assert_trips_after(r, name, 1000)  # warn_delay_ms
                self.assertEqual(r.logged(ev.WARN, pt.NAMES.index(name))[-1][4], at)
                self.assertIn(name, r.bms.warning_names())
                setter(r, clear_not)
                r.run_ms(5000)
                self.assertTrue(r.active(name))
                setter(r, clear_at)
                self.assert_released_after(r, name, 1000)
                self.assertTrue(r.logged(ev.WARN_CLEAR, pt.NAMES.index(name)))

    def test_the_discharge_temperature_warnings_each_alone(self):
        # the DHTP and DLTP warnings share their names with the CHTP and CLTP ones, which
        # come first with the defaults: each moved past its twin, so it shows alone
        for keys, name, setter, at, below, clear_at, clear_not in (
            ({"dhtp_warn_dc": 400}, "HIGH_TEMP", temp, 400, 399, 380, 381),
            ({"dhtp_warn_dc": 400}, "HIGH_TEMP", ambient, 400, 399, 380, 381),
            ({"dltp_warn_dc": 50}, "LOW_TEMP", temp, 50, 51, 70, 69),
            ({"dltp_warn_dc": 50}, "LOW_TEMP", ambient, 50, 51, 70, 69),
            ({}, "LOW_TEMP", ambient, 0, 1, 20, 19),
        ):
            with self.subTest(keys=keys, setter=setter.__name__):
                r = Rig(keys).settle()
                setter(r, below)
                r.run_ms(5000)
                self.assertFalse(r.active(name))
                setter(r, at)
                self.assert_trips_after(r, name, 1000)
                setter(r, clear_not)
                r.run_ms(5000)
                self.assertTrue(r.active(name))
                setter(r, clear_at)
                self.assert_released_after(r, name, 1000)

    def test_warnings_open_no_fet(self):
        r = Rig().settle()
        cell(r, 3550)
        r.cell(9, 3000)
        r.temps(450, 0)
        r.run_ms(1100)
        names = ["CELL_IMBALANCE", "LOW_VOLTAGE", "HIGH_VOLTAGE", "HIGH_TEMP"]
        self.assertEqual(r.bms.warning_names(), names)
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual(r.bms.protection_names(), [])

    def test_imbalance_is_judged_at_rest_only(self):
        r = Rig().settle()
        r.current(-30000)
        spread(r, 400)
        r.run_ms(5000)
        self.assertFalse(r.active("CELL_IMBALANCE"))
        r.current(0)
        self.assert_trips_after(r, "CELL_IMBALANCE", 1000)
        r.current(-30000)
        spread(r, 0)
        r.run_ms(5000)
        self.assertTrue(r.active("CELL_IMBALANCE"))  # held while current flows


class ReleaseGroupTest(unittest.TestCase):
    def test_covp_waits_for_the_pack_too(self):
        r = Rig().settle()
        cell(r, 3600)
        r.run_ms(1200)
        self.assertTrue(r.active("COVP"))
        cell(r, 3400)
        r.stack(54401)
        r.run_ms(5000)
        self.assertTrue(r.active("COVP"))
        r.stack(54400)
        RowTest.assert_released_after(self, r, "COVP", 1000)

    def test_povp_waits_for_every_cell_too(self):
        r = Rig().settle()
        r.stack(57600)
        r.run_ms(1200)
        self.assertTrue(r.active("POVP"))
        r.stack(54400)
        cell(r, 3401)
        r._stack(54400)  # the pack in range, one cell not
        r.run_ms(5000)
        self.assertTrue(r.active("POVP"))
        cell(r, 3400)
        r._stack(54400)
        RowTest.assert_released_after(self, r, "POVP", 1000)

    def test_puvp_waits_for_every_cell(self):
        r = Rig().settle()
        r.stack(44800)
        r.run_ms(1200)
        self.assertTrue(r.active("PUVP"))
        r.stack(48000)
        cell(r, 2999)
        r._stack(48000)
        r.run_ms(5000)
        self.assertTrue(r.active("PUVP"))
        cell(r, 3000)
        r._stack(48000)
        RowTest.assert_released_after(self, r, "PUVP", 1000)


class CurrentReleaseTest(unittest.TestCase):
    """Effective current releases once the value is off its trip (between trip and
    release, where only the current can release it), never while the trip holds."""

    def check(self, name, setter, trip_at, between, current_not, current_at):
        r = Rig().settle()
        setter(r, trip_at)
        r.run_ms(1200)
        self.assertTrue(r.active(name))
        r.current(current_at)
        r.run_ms(5000)
        self.assertTrue(r.active(name), "released while still at its trip value")
        setter(r, between)
        r.current(current_not)
        r.run_ms(5000)
        self.assertTrue(r.active(name))
        r.current(current_at)
        r.tick()
        self.assertFalse(r.active(name))
        self.assertEqual(r.logged(ev.RELEASE, pt.NAMES.index(name))[-1][5], BY_CURRENT)

    def test_covp_released_by_effective_discharge(self):
        self.check("COVP", cell, 3650, 3550, -1999, -2000)

    def test_povp_released_by_effective_discharge(self):
        self.check("POVP", stack, 57700, 56000, -1999, -2000)

    def test_cuvp_released_by_effective_charge(self):
        self.check("CUVP", cell, 2700, 2900, 1999, 2000)

    def test_puvp_released_by_effective_charge(self):
        self.check("PUVP", stack, 44000, 46000, 1999, 2000)

    def test_cuvp_waits_for_its_cells_only(self):
        r = Rig().settle()
        cell(r, 2700)
        r.run_ms(1200)
        self.assertTrue(r.active("CUVP"))
        r.cells([3000] * 16)
        r._stack(47990)  # every cell back, the stack a hair under 48.0 V
        RowTest.assert_released_after(self, r, "CUVP", 1000)

    def test_temperature_is_not_released_by_current(self):
        r = Rig().settle()
        temp(r, 520)
        r.run_ms(2100)
        r.current(-50000)
        r.run_ms(10000)
        self.assertTrue(r.active("CHTP"))


# name, trip current (+ charge), the last current that does not trip, delay
OVERCURRENT_STEPS = (
    ("COCP", 72001, 72000, 10000),
    ("COCP", 90001, 90000, 1000),
    ("DOCP", -100001, -100000, 300000),
    ("DOCP", -120000, -119999, 15000),
    ("DOCP", -200001, -200000, 500),
)


class OverCurrentTest(unittest.TestCase):
    def test_steps_trip_exactly_and_release_after_60_s(self):
        for name, at, below, delay in OVERCURRENT_STEPS:
            with self.subTest(name=name, at=at):
                r = Rig().settle()
                r.current(below)
                r.run_ms(delay)
                self.assertFalse(r.active(name), "tripped at %d mA" % below)
                r.current(0)
                r.tick()
                r.current(at)
                RowTest.assert_trips_after(self, r, name, delay)
                fets = (False, True) if name == "COCP" else (True, False)
                self.assertEqual(r.fets(), fets)
                r.current(0)
                r.run_ms(60000 - TICK)
                self.assertTrue(r.active(name), "released before 60 s")
                r.tick()
                self.assertFalse(r.active(name))
                self.assertEqual(r.logged(ev.RELEASE, pt.NAMES.index(name))[-1][5], BY_TIME)

    @long_run
    def test_continuous_limit_is_50_a_when_the_discharge_starts_above_30_c(self):
        for start_dc, limit in ((300, 100000), (301, 50000)):
            with self.subTest(start_dc=start_dc):
                r = Rig().settle()
                r.temps(start_dc, 0)
                r.current(-(limit + 1))
                RowTest.assert_trips_after(self, r, "DOCP", 300000)
                r = Rig().settle()
                r.temps(start_dc, 0)
                r.current(-limit)
                r.run_ms(310000)
                self.assertFalse(r.active("DOCP"))

    def test_the_discharge_warning_follows_a_hot_start(self):
        # 95 A below a cool start's 100 A, 47.5 A below a hot start's 50 A: a hot
        # discharge is warned before DOCP trips (the warning stayed at 95 A once)
        for start_dc, at, below, clear_at, clear_not in (
            (300, 95001, 95000, 90000, 90001),
            (301, 47501, 47500, 42500, 42501),
        ):
            with self.subTest(start_dc=start_dc):
                r = Rig().settle()
                r.temps(start_dc, 0)
                r.current(-below)
                r.run_ms(5000)
                self.assertFalse(r.active("HIGH_CURRENT"))
                r.current(-at)
                RowTest.assert_trips_after(self, r, "HIGH_CURRENT", 1000)
                r.current(-clear_not)
                r.run_ms(5000)
                self.assertTrue(r.active("HIGH_CURRENT"))
                r.current(-clear_at)
                RowTest.assert_released_after(self, r, "HIGH_CURRENT", 1000)
                self.assertFalse(r.active("DOCP"))

    def test_a_hot_warning_below_its_hysteresis_releases_at_half_of_itself(self):
        # a 10 A warning of a 100 A limit is 2 A from a 20 A hot start: with 5 A of
        # hysteresis its release is 1 A (not -3 A, which no current reaches, nor 0 A,
        # which an idle draw or an offset never reaches)
        r = Rig({"docp_warn_ma": 10000, "docp_cont_hot_ma": 20000}).settle()
        r.temps(301, 0)
        r.current(-2000)
        r.run_ms(5000)
        self.assertFalse(r.active("HIGH_CURRENT"))
        r.current(-2001)
        RowTest.assert_trips_after(self, r, "HIGH_CURRENT", 1000)
        r.current(-1001)
        r.run_ms(5000)
        self.assertTrue(r.active("HIGH_CURRENT"))
        r.current(-1000)
        RowTest.assert_released_after(self, r, "HIGH_CURRENT", 1000)

    def test_limit_is_fixed_for_the_whole_discharge(self):
        r = Rig().settle()
        r.current(-60000)  # starts cool: 100 A applies all the way
        r.tick()
        r.temps(400)
        r.run_ms(400000)
        self.assertFalse(r.active("DOCP"))
        self.assertEqual(r.bms.docp_cont_ma, 100000)
        # a pause shorter than mode_debounce_ms (1 s) does not end the discharge (one of
        # a tick halved the limit here)
        for ticks in (1, 9):
            r.current(0)
            r.tick(ticks)
            r.current(-60000)
            r.tick()
            self.assertEqual(r.bms.docp_cont_ma, 100000, ticks)
        r.current(0)
        r.tick(10)
        r.current(-60000)  # a new discharge, now hot: 50 A
        RowTest.assert_trips_after(self, r, "DOCP", 300000)
        self.assertEqual(r.bms.docp_cont_ma, 50000)

    def test_a_higher_step_trips_first(self):
        r = Rig().settle()
        r.current(-250000)
        r.run_ms(600)
        self.assertTrue(r.active("DOCP"))
        self.assertEqual(r.logged(ev.TRIP, pt.DOCP)[0][4], 250000)


class LockoutTest(unittest.TestCase):
    def trip_cocp(self, r):
        r.current(95000)
        r.run_ms(1100)
        self.assertTrue(r.active("COCP"))
        r.current(0)

    @long_run
    def test_third_trip_within_10_min_locks_until_reset(self):
        r = Rig().settle()
        for _ in range(2):
            self.trip_cocp(r)
            r.run_ms(60000)
            self.assertFalse(r.active("COCP"))
        self.trip_cocp(r)
        self.assertTrue(r.locked("COCP"))
        self.assertEqual(r.bms.protection_names(), ["COCP:LOCKED"])
        self.assertTrue(r.logged(ev.LOCK, pt.COCP))
        r.run_ms(3600000)
        self.assertTrue(r.locked("COCP"))
        self.assertEqual(r.fets(), (False, True))
        r.inp.button = True
        r.tick(2)  # (two samples: one is bounce)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertFalse(r.active("COCP"))
        self.assertEqual(r.logged(ev.RELEASE, pt.COCP)[-1][5], BY_RESET)
        self.assertEqual(r.fets(), (True, True))
        self.trip_cocp(r)  # the count starts over after RESET
        self.assertFalse(r.locked("COCP"))

    def series(self, gaps_ms):
        """COCP trips: one, then one at each gap after the last one's release (60 s after
        it); returns the rig."""
        r = Rig().settle()
        self.trip_cocp(r)
        for gap in gaps_ms:
            r.run_ms(60000)
            rel = r.logged(ev.RELEASE, pt.COCP)[-1][1]
            r.run_ms(rel + gap - 1100 - r.now)
            r.current(95000)
            r.run_ms(1100)
            self.assertEqual(r.logged(ev.TRIP, pt.COCP)[-1][1], rel + gap)
            r.current(0)
        return r

    def test_window_edge(self):
        # consecutive: each trip within the window (10 min) of the last release
        self.assertTrue(self.series((1100, 600000)).locked("COCP"))
        self.assertFalse(self.series((1100, 600100)).locked("COCP"))

    @long_run
    def test_a_trip_a_week_later_begins_a_new_series(self):
        # past 6.2 days the tick difference wraps negative: it read as within the window
        # (one trip 6.3 to 12.4 days after two locked the pack)
        for days in (5, 7, 12.3):
            r = self.series((1100,))
            r.wait(int(days * 86400000))
            self.trip_cocp(r)
            self.assertFalse(r.locked("COCP"), days)

    def test_ten_clean_minutes_begin_a_new_series(self):
        self.assertFalse(self.series((600100, 1100)).locked("COCP"))
        r = self.series((600100, 1100, 1100))
        self.assertTrue(r.locked("COCP"))
        self.assertEqual(len(r.logged(ev.TRIP, pt.COCP)), 4)

    def test_a_steady_overload_of_the_slowest_step_locks(self):
        # 110 A: DOCP's 5-min step trips, releases after 60 s, trips 5 min later... (the
        # window counted from the first trip never held three of them: 5 min of 110 A in
        # every 6, for ever)
        r = Rig().settle()

        def run(ms):  # 110 A drawn while the discharge FET lets it
            for _ in range(ms // TICK):
                r.current(-110000 if r.fets()[1] else 0)
                r.tick()

        run(700000)
        trips = [rec[1] for rec in r.logged(ev.TRIP, pt.DOCP)]
        self.assertEqual(len(trips), 2)
        self.assertFalse(r.locked("DOCP"))
        run(400000)
        trips = [rec[1] for rec in r.logged(ev.TRIP, pt.DOCP)]
        self.assertEqual(len(trips), 3)
        self.assertLess(trips[2] - trips[0], 2 * 370000)  # (a 10 min window from the first)
        self.assertGreater(trips[2] - trips[0], 600000)
        self.assertTrue(r.locked("DOCP"))
        self.assertEqual(r.fets(), (True, False))

    def test_two_steps_tripping_together_are_one_event(self):
        for name, first, second, gap in (
            ("COCP", 80000, 95000, 9000),
            ("DOCP", -130000, -250000, 14500),
        ):
            with self.subTest(name):
                r = Rig().settle()
                r.current(first)
                r.run_ms(gap)  # the slow step nearly due...
                r.current(second)
                r.run_ms(1600)  # ...and the fast one: both trip on one tick
                self.assertEqual(len(r.logged(ev.TRIP, pt.NAMES.index(name))), 2)
                r.current(0)
                r.run_ms(60000)
                r.current(second)
                r.run_ms(1600)
                self.assertFalse(r.locked(name), "two events counted as three")

    def test_docp_steps_count_together(self):
        r = Rig().settle()
        for current, delay in ((-250000, 500), (-130000, 15000), (-250000, 500)):
            r.current(current)
            r.run_ms(delay + TICK)
            r.current(0)
            if not r.locked("DOCP"):
                r.run_ms(60000)
        self.assertTrue(r.locked("DOCP"))
        self.assertEqual(r.bms.protection_names(), ["DOCP:LOCKED"])


class FrontEndOverCurrentTest(unittest.TestCase):
    # the BQ76952's own trips (Safety Status A: OCC 0x10, OCD1 0x20, OCD2 0x40), which
    # cut a current beyond our steps before their delays end: trips of ours at once
    CASES = (
        ("COCP", 0x10, (False, True)),
        ("DOCP", 0x20, (True, False)),
        ("DOCP", 0x40, (True, False)),
    )

    def test_a_chip_trip_is_ours_at_once_and_released_60_s_after_it_ends(self):
        for name, bit, fets in self.CASES:
            with self.subTest(bit=bit):
                r = Rig().settle()
                r.inp.afe_safety = 0x04 | 0x08  # the chip's CUV and COV: not it
                r.run_ms(5000)
                self.assertFalse(r.active(name))
                r.inp.afe_safety = bit
                r.tick()
                self.assertTrue(r.active(name))
                self.assertEqual(r.bms.protection_names(), [name])  # not the other way
                self.assertEqual(r.fets(), fets)
                # held back while the chip's trip holds
                r.run_ms(65000)
                self.assertTrue(r.active(name))
                r.inp.afe_safety = 0
                r.tick()
                self.assertFalse(r.active(name))
                self.assertEqual(r.logged(ev.RELEASE, pt.NAMES.index(name))[-1][5], BY_TIME)
                # a short one: released exactly 60 s after its trip
                r.inp.afe_safety = bit
                r.tick()
                r.inp.afe_safety = 0
                r.run_ms(60000 - TICK)
                self.assertTrue(r.active(name))
                r.tick()
                self.assertFalse(r.active(name))
                self.assertEqual(r.fets(), (True, True))

    @long_run
    def test_chip_trips_count_towards_the_lockout(self):
        for name, bit, fets in self.CASES:
            with self.subTest(bit=bit):
                r = Rig().settle()
                for k in range(3):
                    r.inp.afe_safety = bit
                    r.tick()
                    r.inp.afe_safety = 0
                    if k < 2:
                        r.run_ms(60000)
                        self.assertFalse(r.active(name))
                self.assertTrue(r.locked(name))
                r.run_ms(3600000)
                self.assertTrue(r.locked(name))
                self.assertEqual(r.fets(), fets)

    def test_the_simulated_chip_cutting_130_a_locks_at_its_third_cut(self):
        # 130 A of charge: beyond the chip's OCC (120 A, 426 ms), which cuts it before
        # our 1 s step; each cut is a COCP of ours, held 60 s, the third one locks (the
        # chip's recovery alone switched the FET on and off for as long as it lasted)
        sim = make_sim(events=[{"at_s": 10, "current_a": 130}])
        sim.every_led_beat = False
        sim.run(200000)
        app = sim.packs[0].app
        self.assertEqual(
            [r[1] for r in logged(app.events, ev.TRIP, pt.COCP)], [10500, 71100, 131700]
        )
        self.assertEqual([r[1] for r in logged(app.events, ev.LOCK, pt.COCP)], [131700])
        self.assertEqual(app.bms.protection_names(), ["COCP:LOCKED"])
        self.assertLessEqual(len(logged(app.events, ev.AFE_SAFETY)), 6)

    def test_one_of_ours_and_two_of_the_chips_lock(self):
        r = Rig().settle()
        r.current(95000)
        r.run_ms(1100)
        self.assertTrue(r.active("COCP"))
        r.current(0)
        for _ in range(2):
            r.run_ms(60000)
            self.assertFalse(r.active("COCP"))
            r.inp.afe_safety = 0x10
            r.tick()
            r.inp.afe_safety = 0
        self.assertTrue(r.locked("COCP"))


class LatchTest(unittest.TestCase):
    def test_scp_latches_and_releases_by_charge(self):
        r = Rig().settle()
        r.inp.scd = True
        r.tick()
        self.assertTrue(r.active("SCP"))
        self.assertEqual(r.fets(), (False, False))
        self.assertTrue(r.logged(ev.LATCH, pt.SCP))
        r.inp.scd = False
        r.current(1999)
        r.run_ms(600000)
        self.assertTrue(r.active("SCP"))
        r.current(2000)
        r.tick()
        self.assertFalse(r.active("SCP"))
        self.assertEqual(r.logged(ev.RELEASE, pt.SCP)[-1][5], BY_CURRENT)

    def test_scp_holds_while_the_front_end_still_reports_the_short(self):
        r = Rig().settle()
        r.inp.scd = True
        r.tick()
        r.current(5000)
        r.link(r.s.stack_mv + 5000)
        r.run_ms(3000)
        self.assertTrue(r.active("SCP"))
        self.assertEqual(len(r.logged(ev.TRIP, pt.SCP)), 1)  # no release-trip churn
        self.assertEqual(r.fets(), (False, False))
        r.inp.scd = False
        r.tick()
        self.assertFalse(r.active("SCP"))

    def test_reverse_released_by_charge_current_and_by_a_charger(self):
        for how, path in (("current", BY_CURRENT), ("charger", BY_CHARGER)):
            with self.subTest(how):
                r = Rig().settle()
                r.inp.reverse = True
                r.tick()
                r.inp.reverse = False
                if how == "current":
                    r.current(2000)
                else:
                    r.link(r.s.stack_mv + 1000)
                r.tick()
                self.assertFalse(r.active("REVERSE"))
                self.assertEqual(r.logged(ev.RELEASE, pt.REVERSE)[-1][5], path)

    def test_a_current_read_invalid_releases_nothing(self):
        # the last good values stay in the sample, marked invalid: a stale 20 A of charge
        # released a latched REVERSE (and would a CUVP's current release)
        r = Rig().settle()
        r.current(20000)
        r.tick(5)
        r.s.valid = False
        r.inp.reverse = True
        r.tick()
        r.inp.reverse = False
        r.tick(20)
        self.assertTrue(r.active("REVERSE"))
        self.assertEqual(r.logged(ev.RELEASE, pt.REVERSE), [])
        r.s.valid = True  # (a reading again: the charge it shows releases it)
        r.tick()
        self.assertFalse(r.active("REVERSE"))
        self.assertEqual(r.logged(ev.RELEASE, pt.REVERSE)[-1][5], BY_CURRENT)

    def test_reverse_is_judged_without_a_front_end_reading(self):
        r = Rig().settle()
        r.s.valid = False
        r.inp.reverse = True
        r.tick()
        self.assertTrue(r.active("REVERSE"))

    def test_reset_leaves_a_sensor_fault_that_is_still_there(self):
        for label, setup in (
            ("front end lost", lambda r: setattr(r.s, "valid", False)),
            ("cell out of range", lambda r: cell(r, 900)),
            ("NTC open", lambda r: temp(r, -450)),
        ):
            with self.subTest(label):
                r = Rig().settle()
                setup(r)
                r.run_ms(3100)
                self.assertTrue(r.active("SENSOR_FAIL"))
                r.inp.button = True
                r.tick(2)
                r.inp.button = False
                r.run_ms(5000)
                self.assertTrue(r.active("SENSOR_FAIL"))
                self.assertEqual(r.fets(), (False, False))

    def test_scp_releases_on_a_charger_at_the_terminals(self):
        r = Rig().settle()
        r.inp.scd = True
        r.tick()
        r.inp.scd = False
        stack_mv = r.s.stack_mv
        r.link(stack_mv + 999)
        r.run_ms(5000)
        self.assertTrue(r.active("SCP"))
        r.link(stack_mv + 1000)
        r.tick()
        self.assertFalse(r.active("SCP"))
        self.assertEqual(r.logged(ev.RELEASE, pt.SCP)[-1][5], BY_CHARGER)

    def test_reverse_polarity_latches_until_reset(self):
        r = Rig().settle()
        r.inp.reverse = True
        r.tick()
        self.assertTrue(r.active("REVERSE"))
        r.inp.reverse = False
        r.run_ms(60000)
        self.assertTrue(r.active("REVERSE"))
        self.assertEqual(r.mode(), "fault")
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertFalse(r.active("REVERSE"))

    def test_sensor_failures_latch_after_3_s_until_reset(self):
        for label, setter, at, below in SENSOR_ROWS:
            with self.subTest(label):
                r = Rig().settle()
                setter(r, below)
                r.run_ms(10000)
                self.assertFalse(r.active("SENSOR_FAIL"))
                setter(r, at)
                RowTest.assert_trips_after(self, r, "SENSOR_FAIL", 3000)
                self.assertEqual(r.fets(), (False, False))
                self.assertEqual(r.mode(), "fault")
                setter(r, below)
                r.run_ms(60000)
                self.assertTrue(r.active("SENSOR_FAIL"), "released without RESET")
                r.inp.button = True
                r.tick(2)
                r.inp.button = False
                r.tick()
                r.tick()  # (the press ends at its second sample released)
                self.assertFalse(r.active("SENSOR_FAIL"))

    def test_invalid_readings_for_3_s_are_a_sensor_failure(self):
        r = Rig().settle()
        r.s.valid = False
        RowTest.assert_trips_after(self, r, "SENSOR_FAIL", 3000)
        self.assertEqual(r.fets(), (False, False))

    def test_a_pending_row_frozen_for_a_week_counts_its_delay_again(self):
        # COVP pending, then a week without a valid reading (SENSOR_FAIL latched, RESET
        # after): its times were 7 days old, the differences wrapped negative, and the
        # row could not trip for 5 days more
        for days in (2, 7):
            r = Rig().settle()
            cell(r, 3620)
            r.current(20000)
            r.run_ms(500)
            self.assertFalse(r.active("COVP"))
            r.s.valid = False
            r.wait(days * 86400000)
            r.s.valid = True
            r.inp.button = True
            r.tick(2)
            r.inp.button = False
            if days == 2:  # (held before the blind stretch: trips at once)
                r.tick()
                self.assertTrue(r.active("COVP"), days)
                continue
            # its whole delay (1 s), from the first valid tick (the button's first)
            r.run_ms(1000 - 2 * TICK)
            self.assertFalse(r.active("COVP"), days)
            r.tick()
            self.assertTrue(r.active("COVP"), days)

    def test_invalid_readings_freeze_the_other_rows(self):
        r = Rig().settle()
        cell(r, 3650)
        r.run_ms(1200)
        self.assertTrue(r.active("COVP"))
        cell(r, 3300)  # would release, but the reading is not valid
        r.s.valid = False
        r.run_ms(1000)
        self.assertTrue(r.active("COVP"))
        r.s.valid = True  # the release is counted from the first valid reading
        RowTest.assert_released_after(self, r, "COVP", 1000)

    def test_current_offset_present_at_power_up_is_caught_before_any_fet_closes(self):
        r = Rig()
        r.current(2500)
        r.run_ms(3000)
        self.assertEqual(r.fets(), (False, False))
        r.tick()  # settle ends on the tick the 3 s sensor delay runs out
        self.assertTrue(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (False, False))

    def test_current_offset_at_rest(self):
        # at rest = the previous tick had every FET open (here: rapid shutdown)
        r = Rig().settle()
        r.inp.rsd = True
        r.current(2000)
        r.run_ms(10000)
        self.assertFalse(r.active("SENSOR_FAIL"))
        r.current(-2001)
        RowTest.assert_trips_after(self, r, "SENSOR_FAIL", 3000)

    def test_discharge_through_an_open_fet_is_a_mos_failure(self):
        r = Rig().settle()
        cell(r, 2700)
        r.run_ms(1200)  # CUVP: discharge FET commanded off
        self.assertEqual(r.fets(), (True, False))
        r.current(-2001)
        RowTest.assert_trips_after(self, r, "MOS_FAIL", 2000)

    def test_precharge_current_is_not_a_mos_failure(self):
        r = Rig()
        r.link(0)
        r.run_ms(3100)
        self.assertTrue(r.bms.pre)
        r.current(-1500)  # the pre-charge resistor's current, discharge FET off
        r.run_ms(2900)
        self.assertFalse(r.active("MOS_FAIL"))

    def test_current_through_an_open_fet_is_a_mos_failure(self):
        r = Rig().settle()
        cell(r, 3650)
        r.run_ms(1200)  # COVP: charge FET commanded off
        self.assertEqual(r.fets(), (False, True))
        r.current(2000)
        r.run_ms(10000)
        self.assertFalse(r.active("MOS_FAIL"))
        r.current(2001)
        RowTest.assert_trips_after(self, r, "MOS_FAIL", 2000)
        self.assertEqual(r.fets(), (False, False))
        r.current(0)
        r.run_ms(60000)
        self.assertTrue(r.active("MOS_FAIL"))

    def test_reset_leaves_self_releasing_protections_alone(self):
        r = Rig().settle()
        cell(r, 3650)
        r.run_ms(1200)
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertTrue(r.active("COVP"))


class FlakyFrontEndTest(unittest.TestCase):
    """A front end that keeps failing and coming back: afe_spell_count spells of invalid
    readings, each starting within afe_spell_window_ms of the last, fail it until RESET
    (each spell alone too short for the 3 s latch)."""

    SPELL_MS = 200  # two invalid ticks: not even blind (afe_blind_ms 300)

    def spell(self, r, gap_ms):
        """One spell of invalid readings, then gap_ms of valid ones."""
        r.s.valid = False
        r.run_ms(self.SPELL_MS)
        r.s.valid = True
        r.run_ms(gap_ms)

    def flaky(self, r, spells, gap_ms=5800):
        for _ in range(spells):
            self.spell(r, gap_ms)

    def failing(self, r):
        return r.logged(ev.SENSOR, 4)

    def test_the_tenth_spell_in_a_row_latches_sensor_fail(self):
        r = Rig().settle()
        r.current(-10000)
        self.flaky(r, 9)
        r.run_ms(60000)
        self.assertFalse(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual(self.failing(r), [])
        r = Rig().settle()
        r.current(-10000)
        self.flaky(r, 9)
        start = r.now + TICK  # the tenth spell's first tick
        r.s.valid = False
        r.tick()
        self.assertEqual([(e[1], e[4]) for e in self.failing(r)], [(start, 10)])
        r.s.valid = True
        # from here the readings count as invalid: the row latches its delay after the
        # spell's first tick (the spell before is more than a delay back)
        r.run_ms(self.cfg().sensor_delay_ms - TICK)
        self.assertFalse(r.active("SENSOR_FAIL"))
        r.tick()
        self.assertTrue(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (False, False))
        self.assertEqual(r.mode(), "fault")
        r.run_ms(600000)  # good readings do not release it
        self.assertTrue(r.active("SENSOR_FAIL"))

    def cfg(self):
        return Rig().cfg

    def test_the_window_counts_from_the_last_spell(self):
        window = self.cfg().afe_spell_window_ms
        gap = window - self.SPELL_MS  # each spell starts exactly a window after the last
        r = Rig().settle()
        self.flaky(r, 10, gap)
        self.assertEqual(len(self.failing(r)), 1)
        r = Rig().settle()
        self.flaky(r, 10, gap + TICK)  # a tick later: each spell begins a new row
        r.run_ms(10000)
        self.assertEqual(self.failing(r), [])
        self.assertFalse(r.active("SENSOR_FAIL"))
        # nine in a row, a pause, nine more: two rows of nine
        r = Rig().settle()
        self.flaky(r, 9)
        r.run_ms(window)
        self.flaky(r, 9)
        r.run_ms(10000)
        self.assertFalse(r.active("SENSOR_FAIL"))
        self.spell(r, 10000)
        self.assertTrue(r.active("SENSOR_FAIL"))

    def test_the_count_holds_past_the_latch_and_logs_once(self):
        # it counted on for as long as the spells came (one tick in two: 5 a second),
        # a long int after 6.8 years, allocating on the tick path from then on
        r = Rig().settle()
        self.tick_spells(r, 40, 1)
        count = self.cfg().afe_spell_count
        self.assertEqual(r.bms._spells, count + 1)
        self.assertEqual(len(self.failing(r)), 1)
        self.assertTrue(r.active("SENSOR_FAIL"))

    def tick_spells(self, r, n, gap_ticks):
        """n spells of one invalid tick, each followed by gap_ticks valid ones."""
        for _ in range(n):
            r.s.valid = False
            r.tick()
            r.s.valid = True
            r.tick(gap_ticks)

    def test_a_spell_of_one_tick_counts(self):
        r = Rig().settle()
        self.tick_spells(r, 10, 2)  # one tick in three invalid (a cell read outside physics)
        r.run_ms(self.cfg().sensor_delay_ms)
        self.assertTrue(r.active("SENSOR_FAIL"))

    def hold(self, r, gap_ms):
        """The app's safe state after an exception (its 3 s hold), then gap_ms without."""
        r.inp.hold = True
        r.run_ms(3000)
        r.inp.hold = False
        r.run_ms(gap_ms)

    def test_a_failure_that_keeps_coming_back_fails_the_pack(self):
        # an exception every 4 s, each after the last one's hold: the FETs opened under
        # load every 4 s for ever, and the watchdog, fed between them, never saw it
        # (no current in the rig: with the FETs open in the holds, it read as an offset)
        window = self.cfg().afe_spell_window_ms
        r = Rig().settle()
        for _ in range(9):
            self.hold(r, 1000)
        self.assertEqual(self.failing(r), [])
        r.run_ms(window - 4000)  # the next hold a window after the last: the same row
        start = r.now + TICK
        r.inp.hold = True
        r.tick()
        self.assertEqual([(e[1], e[4]) for e in self.failing(r)], [(start, 10)])
        r.inp.hold = False
        r.run_ms(self.cfg().sensor_delay_ms - TICK)
        self.assertFalse(r.active("SENSOR_FAIL"))
        r.tick()
        self.assertTrue(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (False, False))
        r.run_ms(600000)
        self.assertTrue(r.active("SENSOR_FAIL"))
        # a tick more than a window: a new row, nine holds and no failure
        r = Rig().settle()
        self.hold(r, window - 3000 + TICK)
        for _ in range(9):
            self.hold(r, 1000)
        r.run_ms(10000)
        self.assertEqual(self.failing(r), [])
        self.assertFalse(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (True, True))
        # a hold and invalid readings count in the same row (one sign, two ways)
        r = Rig().settle()
        self.flaky(r, 5)
        for _ in range(5):
            self.hold(r, 1000)
        r.run_ms(10000)
        self.assertTrue(r.active("SENSOR_FAIL"))

    def test_reset_releases_it_and_the_count_starts_again(self):
        r = Rig().settle()
        self.flaky(r, 10)
        r.run_ms(5000)
        self.assertTrue(r.active("SENSOR_FAIL"))
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertFalse(r.active("SENSOR_FAIL"))
        self.flaky(r, 9)
        r.run_ms(60000)
        self.assertFalse(r.active("SENSOR_FAIL"))
        self.assertEqual(r.fets(), (True, True))


class ActionTest(unittest.TestCase):
    def test_each_row_opens_the_fets_the_manual_says(self):
        from bms.protect import OPEN_CHG, OPEN_DSG
        from bms.protections import build

        expected = {
            "COVP": OPEN_CHG,
            "POVP": OPEN_CHG,
            "CHTP": OPEN_CHG,
            "CLTP": OPEN_CHG,
            "COCP": OPEN_CHG,
            "CUVP": OPEN_DSG,
            "PUVP": OPEN_DSG,
            "DHTP": OPEN_DSG,
            "DLTP": OPEN_DSG,
            "DOCP": OPEN_DSG,
            "PRECHARGE_FAIL": OPEN_DSG,
            "MOS_OTP": 3,
            "SCP": 3,
            "REVERSE": 3,
            "SENSOR_FAIL": 3,
            "MOS_FAIL": 3,
        }
        seen = set()
        for row in build(Rig().cfg)[0]:
            name = pt.NAMES[row.name]
            seen.add(name)
            if row.name >= pt.FIRST_WARNING:
                self.assertEqual(row.action, 0, name)
            else:
                self.assertEqual(row.action, expected[name], name)
        for name in expected:
            self.assertIn(name, seen)


class CoreMasksTest(unittest.TestCase):
    """bms.core's protection masks are literals (consts, for the board's cycles): each
    must be the bits of the protections it names."""

    def test_masks_are_the_named_bits(self):
        from bms import core

        m = core._mask
        self.assertEqual(
            core_consts.FAILURES,
            m(pt.SCP, pt.REVERSE, pt.SENSOR_FAIL, pt.MOS_FAIL, pt.PRECHARGE_FAIL),
        )
        self.assertEqual(
            core_consts.TEMPERATURES, m(pt.CHTP, pt.DHTP, pt.CLTP, pt.DLTP, pt.MOS_OTP)
        )
        self.assertEqual(core_consts.UNDER_VOLTAGES, m(pt.CUVP, pt.PUVP))
        warnings = (pt.CELL_IMBALANCE, pt.LOW_VOLTAGE, pt.HIGH_VOLTAGE, pt.HIGH_CURRENT)
        self.assertEqual(core_consts.LED_WARNINGS, m(*warnings) | m(pt.HIGH_TEMP, pt.LOW_TEMP))
        below_warnings = (1 << pt.FIRST_WARNING) - 2
        self.assertEqual(core_consts.NO_BALANCING, below_warnings & ~m(pt.COVP, pt.POVP))
        self.assertEqual(core_consts.COVP_BIT, m(pt.COVP))
        self.assertEqual(core_consts.CUVP_BIT, m(pt.CUVP))
        self.assertEqual(core_consts.DOCP_BIT, m(pt.DOCP))
        self.assertEqual(core_consts.COCP_BIT, m(pt.COCP))
