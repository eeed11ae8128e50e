"""A noisy front-end bus never becomes a reading (issue 10).

Corrupted replies fail their CRC, so the readings are invalid and only the blind path
acts: the FETs open after afe_blind_ms, SENSOR_FAIL latches after sensor_delay_ms. No
other protection may trip on them, no value outside physics is ever reported as valid,
and when the bus is clean the readings come back through the normal path (the driver
still in CRC mode). A front end that resets comes back configured again.
"""

import unittest

from support import cpython_only, logged, long_run, make_sim, run_trace
from test_scenarios import at, events, fets, run

from bms import events as ev
from bms.config import Config
from boards.host.world.pack_model import Rng

CFG = Config()
# what the pack really shows in these runs: LiFePO4 at 60 % and 25 C, 10 A out
CELL_MV = (3200, 3400)
STACK_MV = (51200, 54400)
TEMP_DC = (200, 350)


def check_readings(test, trace):
    """Every valid trace line holds a real reading; nothing but SENSOR_FAIL trips."""
    for rec in trace:
        if rec["valid"]:
            for mv in rec["cells_mv"]:
                test.assertTrue(CELL_MV[0] <= mv <= CELL_MV[1], (rec["t_ms"], mv))
            test.assertTrue(STACK_MV[0] <= rec["pack_mv"] <= STACK_MV[1], rec["t_ms"])
            temps = rec["temps_dc"]
            for dc in temps["cells"] + [temps["ambient"], temps["mos"]]:
                test.assertTrue(TEMP_DC[0] <= dc <= TEMP_DC[1], (rec["t_ms"], dc))
            test.assertTrue(-10300 <= rec["current_raw_ma"] <= 100, rec["t_ms"])
        for name in rec["protections"]:
            test.assertEqual(name, "SENSOR_FAIL", rec["t_ms"])
        for e in rec["events"]:
            if e["code"] in ("TRIP", "LATCH", "LOCK", "WARN"):
                test.assertEqual(e["what"], "SENSOR_FAIL", (rec["t_ms"], e))


class CorruptedRepliesScenarioTest(unittest.TestCase):
    """The acceptance run of the issue: 10 A out, afe_crc from 10 s to 20 s, RESET at 25 s."""

    @classmethod
    def setUpClass(cls):
        cls.trace = run("afe_crc.json")

    def test_no_corrupted_value_is_a_reading_and_only_sensor_fail_trips(self):
        check_readings(self, self.trace)
        self.assertEqual([e["what"] for e in events(self.trace, "TRIP")], ["SENSOR_FAIL"])
        self.assertEqual([e["what"] for e in events(self.trace, "LATCH")], ["SENSOR_FAIL"])

    def test_the_blind_path_opens_the_fets_then_latches_sensor_fail(self):
        t = self.trace
        self.assertTrue(at(t, 9900)["valid"])
        self.assertFalse(at(t, 10000)["valid"])
        self.assertEqual(fets(at(t, 10100))[:2], (True, True))
        rec = at(t, 10200)  # afe_blind_ms of invalid ticks (10.0, 10.1, 10.2)
        self.assertEqual(fets(rec), (False, False, False))
        self.assertEqual(rec["protections"], [])
        self.assertEqual(at(t, 12900)["protections"], [])
        rec = at(t, 13000)  # sensor_delay_ms after the first invalid tick
        self.assertEqual(rec["protections"], ["SENSOR_FAIL"])
        self.assertEqual(rec["mode"], "fault")
        lost = events(t, "SENSOR", "readings_lost")
        self.assertEqual([e["t_ms"] for e in lost], [10200])

    def test_clean_readings_return_and_only_reset_releases_sensor_fail(self):
        t = self.trace
        rec = at(t, 20000)
        self.assertTrue(rec["valid"])
        self.assertEqual(rec["protections"], ["SENSOR_FAIL"])
        self.assertEqual(fets(at(t, 24900)), (False, False, False))
        self.assertEqual(events(t, "RELEASE", "SENSOR_FAIL")[0]["extra"], "reset")
        rec = at(t, 40000)
        self.assertEqual(rec["protections"], [])
        self.assertEqual(fets(rec)[:2], (True, True))
        self.assertEqual(rec["mode"], "discharge")
        self.assertTrue(all(r["valid"] for r in t if r["t_ms"] >= 20000))


class Noise:
    """Flips bits in the front end's replies: in bursts of `length` replies from reply
    number `start`, every byte of a hit reply loses one random bit with probability 1/2.
    At most one bit per byte: CRC-8 (poly 0x07) finds every error of up to three bits in
    a byte and its CRC, so each hit reply must fail its check. (More bits per byte pass
    it now and then, as on any bus; the plausibility check is the second line there.)"""

    def __init__(self, bursts, seed):
        self.bursts = bursts
        self.rng = Rng(seed)
        self.n = 0
        self.hits = 0

    def __call__(self, buf):
        n = self.n
        self.n = n + 1
        for start, length in self.bursts:
            if start <= n < start + length:
                self.hits += 1
                for k in range(len(buf)):
                    r = self.rng.next()
                    if r & 1:
                        buf[k] ^= 1 << ((r >> 1) & 7)
                return


def noisy_run(test, bursts, seed):
    """10 A out; noise from 5 s until every burst has passed; 8 s clean after it."""
    sim = make_sim(
        seed=seed, initial={"soc_pct": 60, "temp_c": 25}, events=[{"at_s": 0, "current_a": -10}]
    )
    pack = sim.packs[0]
    trace = run_trace(sim, 5)
    noise = Noise(bursts, seed)
    pack.chip.corrupt = noise
    last = max(start + length for start, length in bursts)
    while noise.n < last:
        trace += run_trace(sim, 1)
    pack.chip.corrupt = None
    trace += run_trace(sim, 8)
    check_readings(test, trace)
    afe = pack.app.afe
    test.assertTrue(afe.crc and afe.configured)
    test.assertTrue(trace[-1]["valid"])
    test.assertEqual(pack.app.exceptions, 0)
    if noise.hits:
        test.assertGreater(afe.crc_errors, 0)
    return trace


def random_bursts(rng):
    bursts = []
    for _ in range(1 + rng.next() % 3):
        bursts.append((rng.next() % 600, 1 + rng.next() % 150))
    return bursts


@long_run
class BitFlipPropertyTest(unittest.TestCase):
    def test_seeded_bursts(self):
        # the property over seeded cases, under both runtimes
        rng = Rng(2026)
        for case in range(12):
            noisy_run(self, random_bursts(rng), case + 1)

    @cpython_only("hypothesis")
    def test_random_bursts(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        burst = st.tuples(st.integers(0, 600), st.integers(1, 150))

        @settings(max_examples=50, deadline=None, derandomize=True)
        @given(st.lists(burst, min_size=1, max_size=4), st.integers(1, 1 << 16))
        def prop(bursts, seed):
            noisy_run(self, bursts, seed)

        prop()


class FrontEndResetTest(unittest.TestCase):
    def run_reset(self, otp_crc):
        sim = make_sim(
            initial={"soc_pct": 60, "temp_c": 25}, events=[{"at_s": 0, "current_a": -10}]
        )
        pack = sim.packs[0]
        pack.chip.otp_crc = otp_crc
        run_trace(sim, 10)
        pack.chip.power_on_reset()
        trace = run_trace(sim, 10)
        check_readings(self, trace)
        app = pack.app
        self.assertEqual(trace[-1]["protections"], [])
        self.assertTrue(trace[-1]["valid"])
        self.assertEqual(fets(trace[-1])[:2], (True, True))
        self.assertTrue(app.afe.crc and app.afe.configured and pack.chip.crc)
        # configured again, and logged
        configured = logged(app.events, ev.SENSOR, 1)
        self.assertEqual(len(configured), 2)  # at boot, and after the reset
        invalid = [r["t_ms"] for r in trace if not r["valid"]]
        self.assertTrue(invalid)
        self.assertLess(invalid[-1] - invalid[0], CFG.sensor_delay_ms - 1000)
        return app

    def test_a_reset_into_plain_i2c_is_configured_again(self):
        self.run_reset(otp_crc=False)

    def test_a_reset_into_crc_mode_is_seen_by_por_and_configured_again(self):
        app = self.run_reset(otp_crc=True)
        self.assertEqual(app.afe.resets, 1)


class FlakyFrontEndScenarioTest(unittest.TestCase):
    def test_a_front_end_that_resets_every_3_s_fails(self):
        # each reset: about a second of invalid readings, the FETs open under 10 A; the
        # tenth in a row fails the front end (it switched the FETs 200 times in 10 min)
        sim = make_sim(
            initial={"soc_pct": 60, "temp_c": 25}, events=[{"at_s": 0, "current_a": -10}]
        )
        pack = sim.packs[0]
        run_trace(sim, 10)
        trace = []
        for _ in range(15):
            pack.chip.power_on_reset()
            trace += run_trace(sim, 3)
        check_readings(self, trace)
        dsg = [fets(r)[1] for r in trace]
        opened = sum(1 for a, b in zip(dsg, dsg[1:]) if a and not b)
        self.assertEqual(opened, 10)
        failing = events(trace, "SENSOR", "failing")
        self.assertEqual([e["value"] for e in failing], [10])
        rec = trace[-1]
        self.assertTrue(rec["valid"])  # the chip works between its resets...
        self.assertEqual(rec["protections"], ["SENSOR_FAIL"])  # ...but is not trusted
        self.assertEqual(fets(rec), (False, False, False))


class ImplausibleReadingTest(unittest.TestCase):
    def test_a_value_outside_physics_is_not_a_reading(self):
        sim = make_sim(
            initial={"soc_pct": 60, "temp_c": 25}, events=[{"at_s": 0, "current_a": -10}]
        )
        pack = sim.packs[0]
        app = pack.app
        run_trace(sim, 10)
        good = list(app.sample.cells_mv)
        pack.chip.cell_override[4] = 6000  # no cell of this pack can read that
        trace = run_trace(sim, 4)
        rec = trace[1]
        self.assertFalse(rec["valid"])
        self.assertEqual(rec["cells_mv"], good)  # the last good reading stays
        self.assertGreater(app.implausible, 30)
        self.assertNotIn("COVP", trace[-1]["protections"])
        self.assertEqual(trace[-1]["protections"], ["SENSOR_FAIL"])  # the blind path
        check_readings(self, trace)


if __name__ == "__main__":
    unittest.main()
