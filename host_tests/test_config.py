"""The config table: pack.md's defaults, and refusals that name the key and the range."""

import unittest

from bms.config import RULES, SPEC, Config, ConfigError


class DefaultsTest(unittest.TestCase):
    def test_defaults_are_pack_md_values(self):
        c = Config()
        # manual / pack.md "Derived defaults", row by row
        expected = {
            "capacity_mah": 100000,
            "current_zero_ma": 500,
            "covp_trip_mv": 3600,
            "covp_delay_ms": 1000,
            "covp_release_mv": 3400,
            "covp_warn_mv": 3550,
            "povp_trip_mv": 57600,
            "povp_delay_ms": 1000,
            "povp_release_mv": 54400,
            "povp_warn_mv": 56800,
            "cuvp_trip_mv": 2800,
            "cuvp_delay_ms": 1000,
            "cuvp_release_mv": 3000,
            "cuvp_warn_mv": 3000,
            "puvp_trip_mv": 44800,
            "puvp_delay_ms": 1000,
            "puvp_release_mv": 48000,
            "puvp_warn_mv": 48000,
            "effective_current_ma": 2000,
            "chtp_trip_dc": 500,
            "chtp_delay_ms": 2000,
            "chtp_release_dc": 450,
            "chtp_warn_dc": 450,
            "dhtp_trip_dc": 550,
            "dhtp_delay_ms": 2000,
            "dhtp_release_dc": 500,
            "dhtp_warn_dc": 500,
            "cltp_trip_dc": -50,
            "cltp_delay_ms": 2000,
            "cltp_release_dc": 0,
            "cltp_warn_dc": 0,
            "dltp_trip_dc": -100,
            "dltp_delay_ms": 2000,
            "dltp_release_dc": -50,
            "dltp_warn_dc": -50,
            "mos_otp_trip_dc": 900,
            "mos_otp_delay_ms": 2000,
            "mos_otp_release_dc": 700,
            "mos_otp_warn_dc": 800,
            "cocp1_trip_ma": 72000,
            "cocp1_delay_ms": 10000,
            "cocp2_trip_ma": 90000,
            "cocp2_delay_ms": 1000,
            "cocp_release_ms": 60000,
            "cocp_warn_ma": 60000,
            "docp_cont_ma": 100000,
            "docp_cont_hot_ma": 50000,
            "docp_cont_temp_dc": 300,
            "docp1_delay_ms": 300000,
            "docp2_trip_ma": 120000,
            "docp2_delay_ms": 15000,
            "docp3_trip_ma": 200000,
            "docp3_delay_ms": 500,
            "docp_release_ms": 60000,
            "docp_warn_ma": 95000,
            "ocp_lock_count": 3,
            "ocp_lock_window_ms": 600000,
            "scp_trip_ma": 400000,
            "scp_delay_us": 250,
            "imbalance_warn_mv": 300,
            "balance_start_mv": 3400,
            "balance_delta_mv": 30,
            "sensor_cell_low_mv": 1000,
            "sensor_cell_high_mv": 4500,
            "sensor_ntc_open_dc": -400,
            "sensor_ntc_short_dc": 1250,
            "sensor_sum_diff_mv": 2000,
            "sensor_offset_ma": 2000,
            "sensor_delay_ms": 3000,
            "mos_fail_ma": 2000,
            "mos_fail_delay_ms": 2000,
            "precharge_margin_mv": 2000,
            "precharge_timeout_ms": 3000,
            "precharge_tries": 3,
            "sleep_cuvp_ms": 30 * 60 * 1000,
            "sleep_idle_ms": 48 * 3600 * 1000,
            "full_cell_mv": 3450,
            "full_current_ma": 5000,
            "full_hold_ms": 30000,
            "force_charge_soc_pct": 4,
            "force_charge_cell_mv": 3000,
            "force_charge_release_soc_pct": 8,
        }
        for key in expected:
            self.assertEqual(getattr(c, key), expected[key], key)

    def test_every_default_is_inside_its_range_and_below_2_30(self):
        for key, default, lo, hi in SPEC:
            self.assertTrue(lo <= default <= hi, key)
            self.assertLess(abs(hi), 2**30, key)
            self.assertLess(abs(lo), 2**30, key)

    def test_defaults_satisfy_every_rule(self):
        Config().update({})  # raises if a rule fails
        keys = [row[0] for row in SPEC]
        for a, _rel, b in RULES:
            self.assertIn(a, keys)
            self.assertIn(b, keys)

    def test_keys_are_unique_and_carry_a_unit(self):
        keys = [row[0] for row in SPEC]
        self.assertEqual(len(keys), len(set(keys)))
        units = ("_mv", "_ma", "_dc", "_ms", "_us", "_mah", "_pct", "_count", "_tries", "_cells")
        codes = ("passive_action",)  # an enumeration, documented at its row
        for key in keys:
            self.assertTrue(key in codes or any(key.endswith(u) for u in units), key)


class RefusalTest(unittest.TestCase):
    def refused(self, values):
        with self.assertRaises(ConfigError) as ctx:
            Config().update(values)
        return str(ctx.exception)

    def test_out_of_range_names_key_and_range(self):
        msg = self.refused({"covp_trip_mv": 4200})
        self.assertIn("covp_trip_mv", msg)
        self.assertIn("3300..3600", msg)

    def test_range_edges_are_inclusive(self):
        c = Config()
        c.update({"covp_delay_ms": 2000})
        self.assertEqual(c.covp_delay_ms, 2000)
        self.refused({"covp_delay_ms": 2001})
        self.refused({"covp_trip_mv": 3601})
        self.refused({"capacity_mah": 9999})

    def test_unknown_key(self):
        self.assertIn("covp_trip_v", self.refused({"covp_trip_v": 3600}))

    def test_wrong_types(self):
        for bad in (3.6, "3600", True, None, [3600]):
            msg = self.refused({"covp_trip_mv": bad})
            self.assertIn("covp_trip_mv", msg)
            self.assertIn("integer", msg)

    def test_release_beyond_trip_is_refused(self):
        msg = self.refused({"covp_release_mv": 3600})  # in its range, not below the trip
        self.assertIn("covp_release_mv", msg)
        self.assertIn("covp_trip_mv", msg)
        for key, value, trip in (
            ("cuvp_release_mv", 2800, "cuvp_trip_mv"),
            ("chtp_release_dc", 500, "chtp_trip_dc"),
            ("cltp_release_dc", -50, "cltp_trip_dc"),
        ):
            self.assertIn("must be", self.refused({key: value}), key)  # a rule, not a range
            self.assertIn(trip, self.refused({key: value}), key)

    def test_the_voltages_asked_lie_inside_the_packs_own_protections(self):
        # a POVP set under CVL opened the charge FET at every full charge (at 50 A, and
        # again after each release), a PUVP over DVL the discharge FET at every empty one
        msg = self.refused({"povp_trip_mv": 56000, "povp_warn_mv": 55800})
        self.assertIn("cvl_mv = 56000 must be < povp_trip_mv = 56000", msg)
        c = Config({"povp_trip_mv": 56001, "povp_warn_mv": 55800, "povp_release_mv": 54400})
        self.assertEqual(c.povp_trip_mv, 56001)
        msg = self.refused({"cvl_mv": 57600})  # the most CVL's range allows: POVP's trip
        self.assertIn("cvl_mv = 57600 must be < povp_trip_mv = 57600", msg)
        msg = self.refused(
            {"puvp_trip_mv": 48000, "puvp_warn_mv": 48100, "puvp_release_mv": 48200}
        )
        self.assertIn("puvp_trip_mv = 48000 must be < dvl_mv = 48000", msg)
        c = Config({"puvp_trip_mv": 47999, "puvp_warn_mv": 48100, "puvp_release_mv": 48200})
        self.assertEqual(c.puvp_trip_mv, 47999)

    def test_current_warning_hysteresis_below_each_warning(self):
        # a release at or below 0 A would hold the warning for ever
        for warn in ("cocp_warn_ma", "docp_warn_ma"):
            msg = self.refused({warn: 10000, "warn_hyst_ma": 10000})
            self.assertIn("warn_hyst_ma = 10000 must be < %s = 10000" % warn, msg)
            c = Config({warn: 10000, "warn_hyst_ma": 9999})
            self.assertEqual(c.warn_hyst_ma, 9999)

    def test_the_lockout_window_holds_a_steady_over_currents_trips(self):
        # (a window of 10 s took trips that a 60 s release keeps apart: never a lockout)
        msg = self.refused({"ocp_lock_window_ms": 10000})  # COCP's 10 s step
        self.assertIn("cocp1_delay_ms = 10000 must be < ocp_lock_window_ms = 10000", msg)
        quick = {"cocp1_delay_ms": 9999, "docp1_delay_ms": 9999, "docp2_delay_ms": 9999}
        c = Config(dict(quick, ocp_lock_window_ms=10000))
        self.assertEqual(c.ocp_lock_window_ms, 10000)
        msg = self.refused({"ocp_lock_window_ms": 20000, "docp1_delay_ms": 20000})
        self.assertIn("docp1_delay_ms = 20000 must be < ocp_lock_window_ms = 20000", msg)
        c = Config({"ocp_lock_window_ms": 20000, "docp1_delay_ms": 19999})
        self.assertEqual(c.docp1_delay_ms, 19999)

    def test_the_ntc_short_stays_above_the_mosfets_trip(self):
        # its row reads the MOSFET sensor too: a FET at its own over-temperature latched
        # SENSOR_FAIL, which only RESET clears
        msg = self.refused({"sensor_ntc_short_dc": 900})
        self.assertIn("mos_otp_trip_dc = 900 must be < sensor_ntc_short_dc = 900", msg)
        self.assertEqual(Config({"sensor_ntc_short_dc": 901}).sensor_ntc_short_dc, 901)

    def test_every_row_past_its_trip_at_a_boot_trips_before_the_fets_close(self):
        # (a 10 s CHTP delay closed the charge FET at 52 C for 7 s after a start)
        keys = (
            "covp_delay_ms",
            "povp_delay_ms",
            "cuvp_delay_ms",
            "puvp_delay_ms",
            "chtp_delay_ms",
            "dhtp_delay_ms",
            "cltp_delay_ms",
            "dltp_delay_ms",
            "mos_otp_delay_ms",
        )
        for key in keys:
            with self.subTest(key=key):
                # (every other delay at the boot's 1.5 s, these keys' defaults up to 2 s)
                short = {k: 1500 for k in keys}
                short.update(boot_settle_ms=1500, sensor_delay_ms=1500)
                msg = self.refused(dict(short, **{key: 1501}))
                self.assertIn("%s = 1501 must be <= boot_settle_ms = 1500" % key, msg)
                self.assertEqual(getattr(Config(short), key), 1500)
        c = Config({"chtp_delay_ms": 10000, "boot_settle_ms": 10000})
        self.assertEqual(c.chtp_delay_ms, 10000)

    def test_the_sensor_delay_ends_before_the_watchdog(self):
        # the boards' watchdog (4 s) is fed only with valid readings or SENSOR_FAIL
        # latched: a longer delay reset the board again and again, never latching
        self.assertIn("sensor_delay_ms", self.refused({"sensor_delay_ms": 3001}))
        self.assertEqual(Config({"sensor_delay_ms": 3000}).sensor_delay_ms, 3000)
        from boards.host import board

        longest = [row[3] for row in SPEC if row[0] == "sensor_delay_ms"][0]
        self.assertLess(longest + 2 * Config().tick_ms, board.WDT_TIMEOUT_MS)

    def test_update_is_all_or_nothing(self):
        c = Config()
        with self.assertRaises(ConfigError):
            c.update({"covp_trip_mv": 3550, "covp_delay_ms": -1})
        self.assertEqual(c.covp_trip_mv, 3600)
        self.assertEqual(c.covp_delay_ms, 1000)

    def test_consistent_change_of_several_keys(self):
        c = Config(
            {
                "covp_trip_mv": 3590,
                "covp_release_mv": 3350,
                "covp_warn_mv": 3500,
                "ccl_zero_mv": 3570,
            }
        )
        self.assertEqual((c.covp_trip_mv, c.covp_release_mv, c.covp_warn_mv), (3590, 3350, 3500))


class ManualEnvelopeTest(unittest.TestCase):
    """A setting may be stricter than the product, never looser: no range passes the
    manual's limits (pack.md, "From the manual") on the unsafe side, or, where our derived
    default already sits past one (DHTP 55 C against discharge to 50 C, COCP 72 A and
    90 A against 70 A), that default. The front end's own backstops are set from these
    keys too (drivers/bq76952_dm.py), so a wider range would move them as well."""

    # (key, "max" or "min", the limit)
    LIMITS = (
        ("covp_trip_mv", "max", 3600),  # cells 2.80 - 3.60 V
        ("covp_release_mv", "max", 3600),
        ("covp_warn_mv", "max", 3600),
        ("cuvp_trip_mv", "min", 2800),
        ("cuvp_release_mv", "min", 2800),
        ("cuvp_warn_mv", "min", 2800),
        ("povp_trip_mv", "max", 57600),  # the pack 44.8 - 57.6 V
        ("povp_release_mv", "max", 57600),
        ("povp_warn_mv", "max", 57600),
        ("puvp_trip_mv", "min", 44800),
        ("puvp_release_mv", "min", 44800),
        ("puvp_warn_mv", "min", 44800),
        ("chtp_trip_dc", "max", 500),  # charge -5 ... 50 C
        ("cltp_trip_dc", "min", -50),
        ("dhtp_trip_dc", "max", 550),  # discharge -10 ... 50 C (DHTP: the derived 55 C)
        ("dltp_trip_dc", "min", -100),
        ("cocp1_trip_ma", "max", 72000),  # charge at most 70 A (the derived 72 A, 90 A)
        ("cocp2_trip_ma", "max", 90000),
        ("docp_cont_ma", "max", 100000),  # 100 A continuous from a start at <= 30 C
        ("docp_cont_hot_ma", "max", 50000),  # after a start above 30 C: 50 A (derived)
        ("cocp1_delay_ms", "max", 10000),  # the steps' delays: the manual's at most
        ("cocp2_delay_ms", "max", 1000),
        ("docp3_delay_ms", "max", 500),
        # the voltages': the front end's own backstop (2 s), which a longer delay left to
        # act first, 50 mV past COVP and 300 mV past CUVP
        ("covp_delay_ms", "max", 2000),
        ("povp_delay_ms", "max", 2000),
        ("cuvp_delay_ms", "max", 2000),
        ("puvp_delay_ms", "max", 2000),
        ("docp_cont_temp_dc", "max", 300),
        ("docp1_delay_ms", "max", 300000),  # 101 - 119 A for 5 min
        ("docp2_trip_ma", "max", 120000),  # 120 - 200 A for 15 s
        ("docp2_delay_ms", "max", 15000),
        ("docp3_trip_ma", "max", 200000),
        ("ocp_lock_count", "max", 3),  # locked after 3 consecutive trips
        ("cvl_mv", "max", 57600),  # what the inverter is asked for
        ("float_mv", "max", 57600),
        ("dvl_mv", "min", 44800),
        ("ccl_ma", "max", 70000),
        ("dcl_ma", "max", 100000),
    )

    def test_no_range_passes_the_manuals_limits(self):
        rows = {row[0]: row for row in SPEC}
        for key, side, limit in self.LIMITS:
            _key, default, lo, hi = rows[key]
            if side == "max":
                self.assertLessEqual(hi, limit, key)
            else:
                self.assertGreaterEqual(lo, limit, key)
            self.assertTrue(lo <= default <= hi, key)

    def test_a_value_past_the_limit_is_refused_naming_the_key(self):
        for key, side, limit in self.LIMITS:
            beyond = limit + 1 if side == "max" else limit - 1
            with self.assertRaises(ConfigError) as ctx:
                Config({key: beyond})
            self.assertIn(key, str(ctx.exception))
            self.assertIn("outside the allowed range", str(ctx.exception))


class ReleaseTest(unittest.TestCase):
    """The defaults, ranges and rules are let go at the end of a boot (config.release())
    and packed from the table again, the same, at their next use."""

    def test_released_numbers_come_back_the_same(self):
        import sys

        from bms import config

        nums, rules = config.numbers()
        nums, spec, rule_rows = list(nums), list(SPEC), list(RULES)
        config.release()
        self.assertIsNone(config._held_nums)
        self.assertIsNone(config._held_rules)
        again, again_rules = config.numbers()
        self.assertEqual(list(again), nums)
        self.assertEqual(again_rules, rules)
        self.assertIs(config.numbers()[0], again)  # held again until the next release
        for name in ("bms.config_table", "bms.config_pack"):
            self.assertNotIn(name, sys.modules)
        config.release()
        self.assertEqual(list(SPEC), spec)
        config.release()
        self.assertEqual(list(RULES), rule_rows)
        config.release()
        self.assertEqual(Config().as_dict(), {row[0]: row[1] for row in spec})
        config.release()
        with self.assertRaises(ConfigError):
            Config({"covp_release_mv": 3600})  # a rule, checked after a release
        config.release()
        with self.assertRaises(ConfigError):
            Config({"covp_trip_mv": 3601})  # a range
        self.assertEqual(Config({"covp_delay_ms": 2000}).covp_delay_ms, 2000)
