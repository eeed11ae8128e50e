"""tools/selftest.py against the host board: as far as the host allows (no port 2)."""

import unittest

import selftest
from support import make_sim


class SelftestTest(unittest.TestCase):
    def test_checks_pass_on_the_simulated_pack_and_no_fet_closes(self):
        sim = make_sim()
        pack = sim.packs[0]
        board = pack.board
        pack.app = None  # the self-test drives the board alone
        lines = []
        failed = selftest.run(board, lambda ms: pack.chip.refresh(), lines.append)
        text = "\n".join(lines)
        self.assertIn("PASS BQ76952 device number", text)
        self.assertIn("PASS 16 cells", text)
        self.assertIn("PASS MCP2515 loopback", text)
        self.assertIn("FAIL RS485 port 1 -> port 2", text)  # the host board has no port 2
        self.assertEqual(failed, 1)
        self.assertEqual(pack.model.fet_states(), (False, False, False))
