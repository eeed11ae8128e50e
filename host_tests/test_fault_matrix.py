"""The fault matrix (issue 14, items 2 and 6) and what it found, pinned.

tools/fault_matrix.py injects every fault kind of the simulator in every mode at seeded
random instants and checks the stop in time, the panel, the events and the recovery by
the manual's path alone; here it runs once from ticks_ms 0 and once from 10 s before the
board's ticks_ms wraps at 2**30, under both runtimes.
"""

import unittest

import fault_matrix as fm
from core_rig import Rig
from support import long_run, make_sim

from bms import core
from boards.host.world.scenario import FAULTS, FAULTS_WITH_ARG

SEED = 14


def failures(cells):
    out = []
    for key in sorted(cells):
        for e in cells[key].errors:
            out.append("%s/%s (%s): %s" % (key[0], key[1], cells[key].fault, e))
    return out


@long_run
class FaultMatrixTest(unittest.TestCase):
    def check(self, start_ticks):
        cells = fm.run_matrix(SEED, start_ticks)
        self.assertEqual(len(cells), len(fm.ROWS) * len(fm.MODES))
        text = fm.table(cells, seed=SEED, start_ticks=start_ticks)
        self.assertEqual(failures(cells), [], text)
        self.assertIn("cells passed: 78 of 78", text)
        return cells

    def test_every_fault_in_every_mode(self):
        cells = self.check(0)
        # most cells see their fault; those that cannot (a short behind an open FET...)
        # are checked for silence
        seen = [c for c in cells.values() if not c.latent]
        self.assertGreater(len(seen), 40)

    def test_every_fault_in_every_mode_across_the_ticks_wrap(self):
        self.check(fm.WRAP_START)

    def test_the_matrix_covers_every_fault_kind(self):
        kinds = set(r.split(":")[0] for r in fm.ROWS)
        self.assertEqual(kinds, set(FAULTS + FAULTS_WITH_ARG) - {"clear"})
        self.assertEqual(
            fm.MODES, ("standby", "charge", "discharge", "sleep", "precharge", "second")
        )

    def test_a_cell_fails_when_the_panel_is_wrong(self):
        real = core.Bms._panel
        core.Bms._panel = lambda self, names, inp, now: None  # the panel never changes
        try:
            cell = fm.Cell("reverse_polarity", "standby", SEED).run()
        finally:
            core.Bms._panel = real
        self.assertIn("REVERSE: the safe state without ALM", cell.errors)
        self.assertTrue([e for e in cell.errors if e.startswith("panel")], cell.errors)


class FoundTest(unittest.TestCase):
    """What the matrix found, fixed in bms/core.py."""

    def test_a_lost_front_end_shows_the_safe_state_when_its_fets_open(self):
        # the blind path opened the FETs and contacts after afe_blind_ms but the panel
        # went on showing normal service (ALM off) until SENSOR_FAIL latched 2.7 s later
        sim = make_sim(initial={"soc_pct": 60})
        pack = sim.packs[0]
        sim.run(8000)
        pack.apply_fault("afe_lost")
        sim.run(8000 + fm.CFG.afe_blind_ms)  # the third invalid tick: blind
        b = pack.app.bms
        self.assertEqual(b.protection_names(), [])
        self.assertEqual((b.chg, b.dsg, b.pre), (False, False, False))
        self.assertEqual(tuple(b.panel.pattern[:6]), (fm.OFF, fm.ON, 0, 0, 0, 0))
        self.assertEqual(pack.board.pins["LED_ALM"].level, 1)

    def test_two_stops_at_one_tick_open_both_fets_at_once(self):
        # CLTP and DLTP trip together while charging: the diode guard kept the discharge
        # FET closed one more tick for a charge current that CLTP ended at that tick
        r = Rig().settle()
        r.current(20000)
        r.tick(20)
        self.assertEqual(r.fets(), (True, True))
        r.temps(-150)
        for _ in range(20):
            r.tick()
            self.assertEqual(r.fets(), (True, True))
        r.tick()  # 2 s from the first tick that saw -15 C
        self.assertTrue(r.active("CLTP") and r.active("DLTP"))
        self.assertEqual(r.fets(), (False, False))

    def test_the_diode_guard_still_keeps_a_single_stop_off_the_diode(self):
        r = Rig().settle()
        r.current(20000)
        r.tick(20)
        r.temps(-70)  # under CLTP's -5 C only: charging stops, discharge allowed
        r.tick(21)
        self.assertTrue(r.active("CLTP") and not r.active("DLTP"))
        r.current(-20000)  # a discharge through the open charge FET's diode
        r.tick()
        self.assertEqual(r.fets(), (True, True))  # guarded: the charge FET carries it
        self.assertFalse(r.bms.relay_chg)


if __name__ == "__main__":
    unittest.main()
