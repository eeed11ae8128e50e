"""The board's console status line (firmware/statusline.py) and tools/console.py reading it.

A simulated pack with console_status_ms 1000 prints one status line a second from its
housekeeping; tools/console.py turns it back into the simulator's state, so the live
view draws it: the measurements, mode, FETs, relays, LEDs, protections and events the
trace shows for the same pack at the same moment.
"""

import unittest

import statusline
from console import parse_event, parse_status
from support import cpython_only, make_sim

from boards.host.world.engine import event_dict


class ConsoleLineTest(unittest.TestCase):
    def run_pack(self, config, start_ticks=0):
        sim = make_sim(
            config=config, events=[{"at_s": 0, "current_a": -20}], start_ticks=start_ticks
        )
        lines = []
        real = statusline.emit
        statusline._seen[0] = 0
        statusline._seen[1] = None
        statusline.emit = lambda app, now, period_ms=1000: real(app, now, period_ms, lines.append)
        try:
            sim.run(10000)
        finally:
            statusline.emit = real
        return sim, lines

    def test_off_by_default(self):
        _sim, lines = self.run_pack({})
        self.assertEqual(lines, [])

    def test_one_line_a_second_and_the_events(self):
        sim, lines = self.run_pack({"console_status_ms": 1000})
        status = [x for x in lines if x.startswith("BMS ")]
        self.assertEqual(len(status), 11)  # t = 0, 1, ... 10 s
        self.assertTrue(any(x.startswith("EV ") for x in lines))
        self.assertLess(max(len(x) for x in status), 256)  # under one console buffer

    def test_one_line_a_second_across_the_ticks_wrap(self):
        # `now - last` read -2**30 past the wrap: no line came again for 12.4 days
        _sim, lines = self.run_pack({"console_status_ms": 1000}, start_ticks=(1 << 30) - 4000)
        t = [int(x.split()[1][2:]) for x in lines if x.startswith("BMS ")]
        self.assertEqual(len(t), 11, t)
        self.assertTrue(t[0] > t[-1])  # (the wrap among them)

    def test_the_view_reads_what_the_trace_shows(self):
        sim, lines = self.run_pack({"console_status_ms": 1000})
        st = parse_status([x for x in lines if x.startswith("BMS ")][-1])
        pack = sim.packs[0]
        trace = sim.state(pack)
        for key in ("cells_mv", "pack_mv", "current_ma", "mode", "fets", "relays", "leds"):
            self.assertEqual(st[key], trace[key], key)
        self.assertEqual(st["temps_dc"], trace["temps_dc"])
        self.assertEqual(st["protections"], trace["protections"])
        self.assertEqual(st["warnings"], trace["warnings"])
        self.assertEqual(st["limits"]["ccl_ma"], trace["limits"]["ccl_ma"])
        self.assertAlmostEqual(st["soc_pct"], trace["soc_pct"])
        events = [parse_event(x) for x in lines if x.startswith("EV ")]
        log = pack.app.events
        self.assertEqual(events[0], log.get(0))
        self.assertEqual(event_dict(events[0])["code"], "BOOT")

    def test_a_line_cut_short_or_garbled_is_no_reading(self):
        # (a watchdog reset mid-line, then the ROM's banner: it crashed the live view)
        _sim, lines = self.run_pack({"console_status_ms": 1000})
        whole = [x for x in lines if x.startswith("BMS ")][-1]
        self.assertIsNotNone(parse_status(whole))
        for cut in (whole[:30], whole[: len(whole) // 2], whole.replace("m=", "m=x")):
            self.assertIsNone(parse_status(cut), cut)
        self.assertIsNone(parse_event("EV 1 2 3 4 5 x"))
        self.assertEqual(parse_event("EV 1 2 3 4 5 6"), (1, 2, 3, 4, 5, 6))

    @cpython_only("the live view draws with rich")
    def test_live_view_draws_it(self):
        from console import Console
        from rich.console import Console as RichConsole

        _sim, lines = self.run_pack({"console_status_ms": 1000})
        con = Console()
        for x in lines + ["Traceback: not ours"]:
            con.feed(x)
        out = RichConsole(width=120, record=True)
        out.print(con.render())
        text = out.export_text()
        self.assertIn("discharge", text)
        self.assertIn("PRECHARGE", text)
        self.assertIn("C16", text)
