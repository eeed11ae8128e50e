"""The soak (issue 14, item 5): its independent checker, its days, and a day in CI.

A whole simulated day at the firmware's 100 ms tick took 633 s under CPython and 847 s
under MicroPython on the 2-core build machine (shared; README, Reliability), too long for
every `make test`: CI runs every event of a day (the
sun and loads, the faults, the glitches, the inverter's silence, the RESET presses, the
watchdog reset) compressed into one simulated hour, under both runtimes; `make soak`
runs the 30 real days.
"""

import gc
import unittest

import soak
from support import cpython_only, long_run

from bms import events as ev
from boards.host.world.pack_model import Rng


def line(t_ms, cells_mv=3300, current_ma=0, temp_dc=250, protections=()):
    cells = [3300] * 16
    cells[2] = cells_mv
    return {
        "t_ms": t_ms,
        "cells_mv": cells,
        "current_ma": current_ma,
        "temps_dc": {"cells": [temp_dc, 250, 250, 250], "ambient": 250, "mos": 250},
        "protections": list(protections),
        "fets": {"charge": True, "discharge": True, "precharge": False},
        "soc_pct": 50.0,
        "true_soc_pct": 51.5,
        "events": [],
    }


def feed(checker, lines):
    for rec in lines:
        checker.feed(rec)
    return checker


class CheckerTest(unittest.TestCase):
    def test_a_charge_that_goes_on_past_the_delay_is_a_missed_trip(self):
        lines = [line(t * 1000, 3650, 20000) for t in range(4)]
        c = feed(soak.Checker(), lines)
        self.assertEqual(c.missed, [(3000, "COVP")])  # held 3 s >= 1 s + a tick + a line
        self.assertEqual(c.judged, 1)

    def test_a_charge_stopped_within_the_delay_is_not(self):
        lines = [line(0, 3650, 20000), line(1000, 3650, 20000, protections=["COVP"])]
        lines += [line(t * 1000, 3650, 0, protections=["COVP"]) for t in range(2, 5)]
        c = feed(soak.Checker(), lines)
        self.assertEqual((c.missed, c.false, c.judged), ([], [], 1))

    def test_a_discharge_under_covp_is_allowed(self):
        lines = [line(t * 1000, 3650, -20000, protections=["COVP"]) for t in range(5)]
        c = feed(soak.Checker(), lines)
        self.assertEqual(c.missed, [])

    def test_an_episode_shorter_than_its_judgement_is_not_judged(self):
        lines = [line(0, 3650, 20000), line(1000, 3650, 20000), line(2000, 3300, 20000)]
        c = feed(soak.Checker(), lines)
        self.assertEqual((c.missed, c.judged), ([], 0))

    def test_heat_and_cold_cells(self):
        hot = [line(t * 1000, temp_dc=560, current_ma=-30000) for t in range(5)]
        c = feed(soak.Checker(), hot)
        self.assertEqual(c.missed, [(4000, "DHTP")])  # 2 s + a tick + a line
        low = [line(t * 1000, 2790, -30000) for t in range(4)]
        c = feed(soak.Checker(), low)
        self.assertEqual(c.missed, [(3000, "CUVP")])
        edge = [line(t * 1000, 2801, -30000) for t in range(4)]  # above the trip
        self.assertEqual(feed(soak.Checker(), edge).missed, [])

    def test_a_protection_without_its_cause_is_a_false_trip(self):
        lines = [line(0), line(1000, protections=["COVP"])]
        c = feed(soak.Checker(), lines)
        self.assertEqual(c.false, [(1000, "COVP")])
        lines = [line(0, 3600), line(1000, protections=["COVP"])]  # its cause a line before
        self.assertEqual(feed(soak.Checker(), lines).false, [])
        lines = [line(0, 3599), line(1000, protections=["COVP"])]
        self.assertEqual(feed(soak.Checker(), lines).false, [(1000, "COVP")])

    def test_a_calibration_on_a_false_reading_is_judged_apart(self):
        c = soak.Checker(lies=[(10000, 19000)])
        rec = line(0)  # 50.0 against 51.5
        rec["events"] = [{"code": "SOC", "what": "empty", "t_ms": 0}]
        far = dict(line(12000), soc_pct=100.0)
        far["events"] = [{"code": "SOC", "what": "full", "t_ms": 11000}]  # in the lie
        later = dict(line(20000), soc_pct=100.0)
        stored = dict(line(30000), soc_pct=100.0)
        stored["events"] = [{"code": "SOC", "what": "start_stored", "t_ms": 30000}]
        feed(c, [rec, far, later, stored])
        self.assertEqual((c.soc_max, c.soc_lied_max, c.lied_cals), (1.5, 48.5, 1))
        back = line(40000)  # 50.0 against 51.5 again
        back["events"] = [{"code": "SOC", "what": "rest_ocv", "t_ms": 40000}]
        wrong = dict(line(41000), soc_pct=60.0)
        feed(c, [back, wrong])
        self.assertEqual((c.soc_max, c.soc_lied, c.lied_cals), (8.5, False, 1))

    def test_the_false_readings_of_a_day(self):
        events = [
            {"at_s": 5, "cell_mv": {"3": 3650}},
            {"at_s": 7, "current_a": 3},
            {"at_s": 10, "cell_mv": {"3": None}},
            {"at_s": 20, "fault": "afe_crc"},
            {"at_s": 21, "fault": "clear"},
            {"at_s": 30, "temp_c": {"cells": 60}},
            {"at_s": 40, "temp_c": {"cells": None}},
        ]
        self.assertEqual(soak.lies(events), [(5000, 14000), (20000, 25000), (30000, 44000)])

    def test_the_soc_error_and_the_exceptions(self):
        rec = line(0)
        rec["events"] = [{"code": "EXCEPTION", "what": "core"}]
        c = feed(soak.Checker(), [rec])
        self.assertEqual(len(c.exceptions), 1)
        # before the first calibration: the first boot's guess, apart
        self.assertEqual((c.soc_first_max, c.soc_max), (1.5, 0.0))
        full = dict(line(1000), soc_pct=98.0)  # against 51.5: a checker sees it
        full["events"] = [{"code": "SOC", "what": "full", "t_ms": 1000}]
        feed(c, [full, dict(line(2000), soc_pct=54.5)])
        self.assertEqual((c.soc_first_max, c.soc_max), (1.5, 46.5))


def samples(days, per_day, module_b=0, app_b=0, reset_at=0.5):
    """A life's heap samples (t, age, bytes) from its second day on: a module leak of
    module_b and an App leak of app_b bytes a day, the firmware reset each day at
    reset_at, and a scatter of -16..+16 bytes."""
    out = []
    for k in range(per_day, days * per_day + 1):
        t = k / per_day
        born = int(t - reset_at) + reset_at
        y = 600000 + module_b * t + app_b * (t - born) + (k * 7919 % 33 - 16)
        out.append((t, t - born, y))
    return out


class HeapTest(unittest.TestCase):
    def test_the_trend_sees_a_leak_wherever_the_firmware_keeps_it(self):
        self.assertLess(abs(soak.heap_trend(samples(15, 24))), 2)
        # kept across resets (a module's), or by one life (lost at its reset): a heap
        # read at each day's end sees the first, not the second; the trend both
        for module_b, app_b in ((200, 0), (0, 200), (200, 200)):
            trend = soak.heap_trend(samples(15, 24, module_b, app_b))
            self.assertLess(abs(trend - module_b - app_b), 3, (module_b, app_b))
        no_reset = [(t, t + 3, y) for t, a, y in samples(15, 24, 200)]
        self.assertLess(abs(soak.heap_trend(no_reset) - 200), 3)
        self.assertIsNone(soak.heap_trend(samples(1, 24)))  # a day: no trend
        self.assertIsNone(soak.heap_trend([]))

    def test_a_leak_of_200_bytes_a_day_misses_the_goal(self):
        def growth(module_b):
            part = {"days": 15, "first_day": 0, "exceptions": 0, "missed": [], "false": []}
            part.update({"judged": 4, "lost": 0, "unflushed": 0, "resets": 15, "heap": []})
            part.update({"unflushed_urgent": 0, "unflushed_what": []})
            part.update({"soc_max": 1.0, "soc_end": [1.0], "soc_lied_max": 0.0})
            part.update({"soc_first_max": 3.0})
            part.update({"lied_cals": 0})
            part["heap_trend"] = soak.heap_trend(samples(15, 24, 0, module_b))
            figures = soak.combine([part])
            check = [g[2] for g in soak.GOALS if g[0] == "soak_heap_growth_bytes"][0]
            return figures["soak_heap_growth_bytes"], check(figures["soak_heap_growth_bytes"])

        self.assertEqual(growth(0), (0, True))
        self.assertEqual(growth(200), (6000, False))  # 30 days at 200 B
        self.assertEqual(growth(130), (3900, True))


class Holder:
    def __init__(self, records, flushed):
        self.events = ev.EventLog()
        for r in records:
            self.events.log(*r)
        self.store = self
        self.per_file = 256
        self.flushed_seq = flushed
        self.skipped = 0


class DaysTest(unittest.TestCase):
    def test_a_day_has_every_kind_once_and_reproduces_from_its_seed(self):
        events, wdt = soak.day_events(Rng(5), 2, soak.DAY_S)
        again, wdt2 = soak.day_events(Rng(5), 2, soak.DAY_S)
        self.assertEqual((events, wdt), (again, wdt2))
        self.assertTrue(all(2 * 86400 <= e["at_s"] < 3 * 86400 for e in events))
        self.assertTrue(2 * 86400 <= wdt < 3 * 86400)
        self.assertEqual(sum(1 for e in events if "current_a" in e), 96)
        faults = [e["fault"] for e in events if "fault" in e]
        self.assertEqual(sorted(faults), ["afe_crc", "clear", "clear", "short_circuit"])
        self.assertEqual(sum(1 for e in events if e.get("inverter") == "silent"), 1)

    def test_a_day_is_the_same_day_whichever_life_runs_it(self):
        # day 16 of the soak: the second of a 15-day life's days, or a life's first
        day_s = 3600
        alone = soak.Soak(1, 4, day_s, first_day=16)
        later = soak.Soak(2, 4, day_s, first_day=15)
        n = len(alone.sim.scenario["events"])
        second = [e for e in later.sim.scenario["events"] if e["at_s"] >= day_s]
        self.assertEqual(len(second), n)
        shifted = [dict(e, at_s=e["at_s"] - day_s) for e in second]
        self.assertEqual(shifted, alone.sim.scenario["events"])
        self.assertEqual(later.wdt_s[1] - day_s, alone.wdt_s[0])
        other = soak.Soak(1, 4, day_s, first_day=17)
        self.assertNotEqual(other.sim.scenario["events"], alone.sim.scenario["events"])

    def test_the_records_a_reset_took_before_their_flush(self):
        old = Holder([(1, ev.TRIP, 1), (2, ev.MODE, 1), (3, ev.WARN, 1), (4, ev.TRIP, 2)], 2)
        self.assertEqual(soak.unflushed(old), (["WARN", "TRIP"], 1))
        old.flushed_seq = 4
        self.assertEqual(soak.unflushed(old), ([], 0))

    def test_records_lost_across_a_reset_are_counted(self):
        old = Holder([(t, ev.COMM, 1) for t in range(10)], 8)
        new = Holder([(t, ev.COMM, 1) for t in range(10)], 10)
        self.assertEqual(soak.lost_across(old, new), 0)
        new = Holder([(t, ev.COMM, 1) for t in range(5)], 5)  # lost 5, 6, 7
        self.assertEqual(soak.lost_across(old, new), 3)
        changed = Holder([(t, ev.COMM, 2 if t == 4 else 1) for t in range(10)], 10)
        self.assertEqual(soak.lost_across(old, changed), 1)


class TraceAcrossResetsTest(unittest.TestCase):
    def test_a_reboot_does_not_show_the_loaded_records_again(self):
        # engine.SimPack.power_on restarted the trace's events at sequence 0, so after each
        # reset the trace showed every record loaded from flash again: a checker reading
        # the trace counted old trips and exceptions twice
        s = soak.Soak(1, 3, day_s=3600)
        lines = []
        s.sim.set_trace(lines.extend, 1000)
        s.sim.run(5000)
        mark = s.pack.app.store.seq_mark
        used = s.pack.app.events.next_seq
        s.watchdog_reset()
        s.sim.run(8000)
        after = [e for r in lines if r["t_ms"] >= 5000 for e in r["events"]]
        self.assertEqual(after[0]["code"], "BOOT")
        self.assertTrue(all(e["t_ms"] >= 5000 for e in after))
        # numbered on from the mark reserved on flash: past every number used before,
        # even those of records logged after the last flush (lost with the reset)
        self.assertEqual(after[0]["seq"], mark)
        self.assertGreaterEqual(mark, used)
        boots = [e["what"] for r in lines for e in r["events"] if e["code"] == "BOOT"]
        self.assertEqual(boots, ["power_on", "watchdog"])


@long_run
class SoakDayTest(unittest.TestCase):
    def test_a_day_compressed_into_an_hour(self):
        s = soak.Soak(1, 3, day_s=3600)
        s.run()
        f = s.figures()
        self.assertEqual((f["exceptions"], f["detail"]), (0, []))
        self.assertEqual(f["missed"], [])
        self.assertEqual(f["false"], [])
        self.assertEqual(f["lost"], 0)
        self.assertGreaterEqual(f["judged"], 4)  # COVP, CUVP, CHTP, DHTP at least
        self.assertGreaterEqual(f["resets"], 1)  # the watchdog's
        # the firmware's heap is MicroPython's figure; one day is its warm-up
        self.assertEqual(len(f["heap"]), 1 if hasattr(gc, "mem_alloc") else 0)
        self.assertEqual((s.heap_samples(), f["heap_trend"]), ([], None))
        self.assertIsInstance(s.sim.bus._bits, dict)  # the world's memo firmware_heap empties


class BenchTableTest(unittest.TestCase):
    @cpython_only("tools/bench.py imports CPython modules (platform, subprocess)")
    def test_make_bench_keeps_the_soak_figures(self):
        import bench

        keys = ["tick_us", "soak_heap_growth_bytes", "powercut_cuts", "soc_max_error_pct_30d"]
        results = dict((k, 1) for k in keys + ["_context"])
        self.assertEqual(bench.replaced(results, False), ["tick_us"])
        self.assertEqual(bench.replaced(results, True), sorted(bench.LONG_KEYS))
        for key in ("soak_heap_growth_bytes", "soak_soc_error_max_pct"):
            self.assertIn(key, [f[0] for f in bench.FIGURES])


if __name__ == "__main__":
    unittest.main()
