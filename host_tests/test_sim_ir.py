"""tools/sim_ir.py: its options, the runs it makes and the count it reads back."""

import unittest

import sim_ir


class SimIrTest(unittest.TestCase):
    def test_defaults_and_options(self):
        opts = sim_ir.parse([])
        self.assertEqual(opts, {"--runtime": "cpython", "--short": "60", "--long": "360"})
        opts = sim_ir.parse(["--runtime", "micropython", "--inverter", "rs485", "--long", "61"])
        self.assertEqual(opts["--runtime"], "micropython")
        self.assertEqual(opts["--inverter"], "rs485")

    def test_bad_options_print_the_usage(self):
        for argv in (
            ["--duration", "5"],  # not one of its options
            ["--inverter"],  # no value
            ["--runtime", "pypy"],
            ["--short", "60", "--long", "60"],  # nothing left once the start-up cancels
            ["--short", "61", "--long", "60"],
        ):
            with self.assertRaises(SystemExit):
                sim_ir.parse(argv)

    def test_command(self):
        cmd = sim_ir.command(sim_ir.parse(["--packs", "4"]), 90)
        self.assertEqual(cmd[:2], ["valgrind", "--tool=cachegrind"])
        self.assertTrue(cmd[4].endswith("/.venv/bin/python"))
        self.assertEqual(cmd[5:], ["tools/sim.py", "--fast", "--duration", "90", "--packs", "4"])
        cmd = sim_ir.command(sim_ir.parse(["--runtime", "micropython", "--trace-ms", "1000"]), 9)
        self.assertTrue(cmd[5].endswith("/.venv/bin/micropython"))
        self.assertEqual(cmd[-4:], ["--trace-ms", "1000", "--trace", "/dev/null"])

    def test_parse_refs(self):
        report = "==1== Collected : 5\n==1==\n==1== I   refs:      1,759,009,006\n"
        self.assertEqual(sim_ir.parse_refs(report), 1759009006)
        self.assertEqual(sim_ir.parse_refs("==1== I refs: 42"), 42)
        self.assertIsNone(sim_ir.parse_refs("valgrind: command not found"))
        self.assertIsNone(sim_ir.parse_refs("==1== I   refs: n/a"))


if __name__ == "__main__":
    unittest.main()
