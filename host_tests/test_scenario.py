"""Scenario files: defaults, and one-line refusals that name the problem."""

import unittest

from boards.host.world.scenario import ScenarioError, parse, parse_fault


class ScenarioTest(unittest.TestCase):
    def refused(self, text):
        with self.assertRaises(ScenarioError) as ctx:
            parse(text)
        msg = str(ctx.exception)
        self.assertNotIn("\n", msg)
        return msg

    def test_defaults(self):
        s = parse("{}")
        self.assertEqual(s["packs"], 1)
        self.assertEqual(s["dip"], "0000000")
        self.assertEqual(s["initial"], {"soc_pct": 50, "temp_c": 25, "cell_spread_mv": 0})
        self.assertEqual(s["events"], [])
        self.assertNotIn("inverter", s)  # the simulator owns that default

    def test_the_sim_md_example_parses(self):
        s = parse(
            '{"name": "x", "packs": 2, "dip": "0000000", "inverter": "can", "duration_s": 120,'
            ' "initial": {"soc_pct": 95, "temp_c": 25, "cell_spread_mv": 0}, "events": ['
            ' {"at_s": 0, "current_a": 30}, {"at_s": 10, "cell_mv": {"3": 3650}},'
            ' {"at_s": 20, "cell_mv": {"3": null}}, {"at_s": 30, "temp_c": {"cells": 55}},'
            ' {"at_s": 40, "fault": "short_circuit"},'
            ' {"at_s": 50, "button": "reset", "hold_s": 1},'
            ' {"at_s": 60, "input": {"rsd": true}}, {"at_s": 70, "inverter": "silent"},'
            ' {"at_s": 80, "pack": 2, "fault": "afe_lost"}]}'
        )
        self.assertEqual(len(s["events"]), 9)

    def test_events_sorted_stably(self):
        s = parse(
            '{"events": [{"at_s": 5, "current_a": 1}, {"at_s": 1, "current_a": 2},'
            ' {"at_s": 5, "current_a": 3}]}'
        )
        self.assertEqual([e["current_a"] for e in s["events"]], [2, 1, 3])

    def test_malformed_json(self):
        self.assertIn("malformed JSON", self.refused('{"packs": 1,'))
        self.assertIn("object", self.refused("[1, 2]"))

    def test_unknown_keys_are_named(self):
        self.assertIn("pakcs", self.refused('{"pakcs": 1}'))
        self.assertIn("soc", self.refused('{"initial": {"soc": 1}}'))
        msg = self.refused('{"events": [{"at_s": 1, "curent_a": 5}]}')
        self.assertIn("events[0]", msg)
        self.assertIn("curent_a", msg)

    def test_wrong_types(self):
        self.assertIn("packs", self.refused('{"packs": "2"}'))
        self.assertIn("packs", self.refused('{"packs": 1.5}'))
        self.assertIn("soc_pct", self.refused('{"initial": {"soc_pct": true}}'))
        self.assertIn("current_a", self.refused('{"events": [{"at_s": 0, "current_a": "30"}]}'))
        self.assertIn("events", self.refused('{"events": {}}'))
        self.assertIn("rsd", self.refused('{"events": [{"at_s": 0, "input": {"rsd": 1}}]}'))

    def test_out_of_range(self):
        self.assertIn("packs", self.refused('{"packs": 33}'))
        self.assertIn("soc_pct", self.refused('{"initial": {"soc_pct": 101}}'))
        self.assertIn(
            "pack",
            self.refused('{"packs": 2, "events": [{"at_s": 0, "pack": 3, "power": "off"}]}'),
        )
        self.assertIn(
            'cell_mv: unknown key "17"',
            self.refused('{"events": [{"at_s": 0, "cell_mv": {"17": 3000}}]}'),
        )
        self.assertIn("at_s", self.refused('{"events": [{"at_s": -1, "current_a": 1}]}'))

    def test_bad_values(self):
        self.assertIn("dip", self.refused('{"dip": "00000"}'))
        self.assertIn("dip", self.refused('{"dip": "000000x"}'))
        self.assertIn("inverter", self.refused('{"inverter": "victron"}'))
        self.assertIn("bogus", self.refused('{"events": [{"at_s": 0, "fault": "bogus"}]}'))
        self.assertIn("button", self.refused('{"events": [{"at_s": 0, "button": "power"}]}'))
        self.assertIn("needs at_s", self.refused('{"events": [{"current_a": 1}]}'))
        self.assertIn("does nothing", self.refused('{"events": [{"at_s": 3}]}'))

    def test_firmware_config_is_checked_by_the_firmware(self):
        msg = self.refused('{"config": {"covp_trip_mv": 9999}}')
        self.assertIn("covp_trip_mv", msg)
        self.assertIn("3300..3600", msg)

    def test_fault_grammar(self):
        self.assertEqual(parse_fault("f", "ntc_open:2"), ("ntc_open", 2))
        self.assertEqual(parse_fault("f", "current_offset:-2500"), ("current_offset", -2500))
        self.assertEqual(parse_fault("f", "fet_stuck:charge"), ("fet_stuck", "charge"))
        self.assertEqual(parse_fault("f", "clear"), ("clear", None))
        for bad in ("ntc_open", "ntc_open:7", "cell_open:0", "fet_stuck:both", "cell_open:x"):
            with self.assertRaises(ScenarioError):
                parse_fault("f", bad)
