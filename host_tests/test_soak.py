"""The soak (issue 14, item 5): its independent checker, its days, and a day in CI.

A whole simulated day at the firmware's 100 ms tick took 633 s under CPython and 847 s
under MicroPython on the 2-core build machine (shared; README, Reliability), too long for
every `make test`: CI runs every event of a day (the
sun and loads, the faults, the glitches, the inverter's silence, the RESET presses, the
watchdog reset) compressed into one simulated hour, under both runtimes; `make soak`
runs the 30 real days.
"""

import unittest

import soak

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

    def test_the_soc_error_and_the_exceptions(self):
        rec = line(0)
        rec["events"] = [{"code": "EXCEPTION", "what": "core"}]
        c = feed(soak.Checker(), [rec])
        self.assertEqual(c.soc_max, 1.5)
        self.assertEqual(len(c.exceptions), 1)


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
        self.assertEqual(len(f["heap"]), 1)


if __name__ == "__main__":
    unittest.main()
