"""tools/sim.py: options, exit status 2 with one line on bad input, the trace's keys."""

import io
import json
import unittest

import sim
from support import BUILD, cpython_only, ensure_build, make_sim

TRACE_KEYS = (
    "t_ms",
    "pack",
    "role",
    "cells_mv",
    "pack_mv",
    "current_ma",
    "temps_dc",
    "soc_pct",
    "soh_pct",
    "true_soc_pct",
    "mode",
    "fets",
    "relays",
    "leds",
    "protections",
    "warnings",
    "balancing",
    "limits",
    "events",
)


def write(name, text):
    ensure_build()
    path = BUILD + "/" + name
    with open(path, "w") as f:
        f.write(text)
    return path


def run_main(*argv):
    out = io.StringIO()
    rc = sim.main(list(argv), out)
    return rc, out.getvalue()


class OptionsTest(unittest.TestCase):
    def assert_refused(self, *argv):
        rc, text = run_main(*argv)
        self.assertEqual(rc, 2, text)
        self.assertTrue(text.startswith("sim.py: error: "), text)
        self.assertEqual(text.count("\n"), 1, text)
        return text

    def test_help(self):
        rc, text = run_main("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--trace-ms", text)
        self.assertIn("Exit status", text)

    def test_bad_options(self):
        self.assertIn("--bogus", self.assert_refused("--bogus"))
        self.assertIn("--packs", self.assert_refused("--packs", "x"))
        self.assertIn("--packs", self.assert_refused("--packs", "33"))
        self.assertIn("--dip", self.assert_refused("--dip", "01"))
        self.assertIn("--inverter", self.assert_refused("--inverter", "victron"))
        self.assertIn("--duration", self.assert_refused("--duration", "-5"))
        # (inf ran into an OverflowError and a traceback, exit 1)
        for bad in ("inf", "nan", "1e10"):
            self.assertIn("--duration", self.assert_refused("--duration", bad, "--fast"))
        self.assertIn("--trace-ms", self.assert_refused("--trace-ms", "0"))
        self.assertIn("needs a value", self.assert_refused("--seed"))
        self.assertIn("--fast needs", self.assert_refused("--fast"))

    def test_packs_from_1_to_32(self):
        self.assertIn("--packs", self.assert_refused("--packs", "0"))
        self.assertIn("--packs", self.assert_refused("--packs=-1"))
        self.assertEqual(sim.parse_args(["--packs", "32"])["--packs"], 32)
        self.assertEqual(sim.parse_args(["--packs=1"])["--packs"], 1)
        bad = write(
            "bad_pack.json", '{"packs": 2, "events": [{"at_s": 1, "pack": 3, "power": "off"}]}'
        )
        self.assertIn("pack", self.assert_refused("--scenario", bad, "--fast"))
        # --packs over the file's, before its events are checked (sim.md's own example:
        # packs 1 and an event for pack 2, run with --packs 2, was refused)
        wider = write(
            "wider.json", '{"packs": 1, "events": [{"at_s": 1, "pack": 2, "power": "off"}]}'
        )
        self.assertIn("outside 1..1", self.assert_refused("--scenario", wider, "--fast"))
        scenario, _d = sim.build(sim.parse_args(["--scenario", wider, "--packs", "2"]))
        self.assertEqual((scenario["packs"], scenario["events"][0]["pack"]), (2, 2))
        # a scenario for 3 packs cut down to 2 by the option: its events are checked again
        bad = write(
            "three.json", '{"packs": 3, "events": [{"at_s": 1, "pack": 3, "power": "off"}]}'
        )
        self.assertIn("events[0].pack", self.assert_refused("--scenario", bad, "--packs", "2"))

    def test_inverter_options(self):
        for kind in ("can", "rs485", "none", "growatt", "sma"):
            rc, text = run_main("--inverter", kind, "--fast", "--duration", "2")
            self.assertEqual((rc, text), (0, ""), kind)
        self.assertIn("real time", self.assert_refused("--rs485-pty", "--fast", "--duration", "1"))
        text = self.assert_refused("--can-udp", "239.74.163.2", "--fast", "--duration", "1")
        self.assertIn("real time", text)
        self.assertIn("--can-udp", self.assert_refused("--can-udp", "no-group", "--duration", "1"))
        text = self.assert_refused("--can-log", BUILD + "/no/such/dir/x.log", "--duration", "1")
        self.assertIn("CAN log", text)

    def test_bad_scenario_files(self):
        self.assertIn("cannot read", self.assert_refused("--scenario", BUILD + "/none.json"))
        bad = write("bad1.json", '{"duration_s": 5,')
        self.assertIn("malformed JSON", self.assert_refused("--scenario", bad, "--fast"))
        bad = write("bad2.json", '{"duration_s": 5, "events": [{"at_s": 1, "current": 3}]}')
        self.assertIn('"current"', self.assert_refused("--scenario", bad, "--fast"))
        bad = write("bad3.json", '{"duration_s": "5"}')
        self.assertIn("duration_s", self.assert_refused("--scenario", bad, "--fast"))
        bad = write("bad4.json", '{"initial": {"soc_pct": 150}}')
        self.assertIn("soc_pct", self.assert_refused("--scenario", bad, "--fast"))


class TraceTest(unittest.TestCase):
    def test_fast_run_writes_every_key_each_period(self):
        ensure_build()
        path = BUILD + "/test_trace.jsonl"
        scen = write("idle.json", '{"duration_s": 30, "initial": {"soc_pct": 60}}')
        rc, text = run_main("--scenario", scen, "--fast", "--trace", path, "--trace-ms", "1000")
        self.assertEqual(rc, 0, text)
        with open(path) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(len(lines), 31)
        self.assertEqual([r["t_ms"] for r in lines[:3]], [0, 1000, 2000])
        for rec in lines:
            for key in TRACE_KEYS:
                self.assertIn(key, rec)
            self.assertEqual(len(rec["cells_mv"]), 16)
            self.assertEqual(len(rec["temps_dc"]["cells"]), 4)
            self.assertEqual(len(rec["leds"]["soc"]), 4)
        boot = [e for e in lines[0]["events"] if e["code"] == "BOOT"]
        self.assertEqual(len(boot), 1)
        seqs = [e["seq"] for r in lines for e in r["events"]]
        self.assertEqual(seqs, list(range(len(seqs))))  # each entry once, in order

    def test_default_trace_period_is_the_tick(self):
        sim_ = make_sim()
        records = []
        sim_.set_trace(records.extend)
        sim_.run(1000)
        self.assertEqual([r["t_ms"] for r in records], list(range(0, 1001, 100)))

    def test_options_override_the_scenario(self):
        scen = write("short.json", '{"duration_s": 3600, "seed": 4}')
        path = BUILD + "/test_trace2.jsonl"
        rc, _ = run_main("--scenario", scen, "--fast", "--duration", "2", "--trace", path)
        self.assertEqual(rc, 0)
        with open(path) as f:
            self.assertEqual(len(f.read().splitlines()), 21)

    def test_same_seed_same_trace(self):
        a, b = make_sim(seed=9), make_sim(seed=9)
        ra, rb = [], []
        a.set_trace(ra.extend)
        b.set_trace(rb.extend)
        a.run(2000)
        b.run(2000)
        self.assertEqual(ra, rb)
        c = make_sim(seed=10)
        rc = []
        c.set_trace(rc.extend)
        c.run(2000)
        self.assertNotEqual([r["cells_mv"] for r in ra], [r["cells_mv"] for r in rc])


class RealTimeTest(unittest.TestCase):
    def test_realtime_loop_reaches_the_end_and_shows_state(self):
        s = make_sim()
        seen = []
        sim.run_realtime(s, 300, lambda w: seen.append(w.t_ms))
        self.assertEqual(s.t_ms, 300)
        self.assertTrue(seen)
        self.assertEqual(seen[-1], 300)

    def test_plain_view_prints_once_a_second(self):
        s = make_sim()
        out = io.StringIO()
        view = sim._plain_view(out)
        s.run(500)
        view(s)
        view(s)
        s.run(1500)
        view(s)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("t=0s "))

    @cpython_only("rich renders the live view")
    def test_live_view_renders_the_panel(self):
        from live_view import LiveView
        from rich.console import Console

        s = make_sim(initial={"soc_pct": 80})
        s.run(1000)
        view = LiveView(s)
        view._collect_events()
        console = Console(record=True, width=140, file=io.StringIO())
        console.print(view.render(s.state(s.packs[0])))
        text = console.export_text()
        for word in ("C01", "C16", "RUN", "ALM", "M/S", "SOC", "CHG", "dry contact", "BOOT"):
            self.assertIn(word, text)


class EventTimeTest(unittest.TestCase):
    def test_an_event_comes_at_its_millisecond(self):
        # (at_s 1.001 was 1000.99... ms, truncated: the event came at 1000)
        sim = make_sim(inverter="none", events=[{"at_s": 1.001, "power": "off"}])
        sim.run(1000)
        self.assertTrue(sim.packs[0].powered)
        sim.run(1001)
        self.assertFalse(sim.packs[0].powered)


class TraceAcrossRestartTest(unittest.TestCase):
    def test_the_record_before_a_restart_reaches_the_trace(self):
        # (the trace went on from what the new boot found on flash: the RESET restart's
        # record, logged after the last line, never appeared)
        from support import run_trace

        sim = make_sim(
            inverter="none", duration_s=20, events=[{"at_s": 5, "button": "reset", "hold_s": 7}]
        )
        shown = []
        for line in run_trace(sim, 20, 1000):
            shown += [(e["seq"], e["code"], e["value"]) for e in line["events"]]
        codes = [(c, v) for _s, c, v in shown]
        self.assertIn(("RESET", 5000), codes)
        after = [c for c, _v in codes[codes.index(("RESET", 5000)) :]]
        self.assertEqual(after.count("BOOT"), 1)  # the restart's, after it
        seqs = [seq for seq, _c, _v in shown]
        self.assertEqual(seqs, sorted(set(seqs)))  # each once, none again from flash
