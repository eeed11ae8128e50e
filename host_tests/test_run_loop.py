"""App.run(), the board's real-time loop, for a simulated minute on the host board.

On a board run() reads time.ticks_ms(), polls, and sleeps until the next thing is due
(at most COMM_POLL_MS, so the UART and CAN buffers are emptied in time). Here the host
board's clock is a fake: sleeping moves it (and the pack model and its front end with
it), and every tick may cost CPU time, which moves it too. The tick must stay on its
100 ms grid (no drift, no burst), the watchdog fed, the loop never sleeping past
COMM_POLL_MS, and the pack in service at the end.
"""

import unittest

import fwconst
from support import make_sim

from app import COMM_POLL_MS, App
from boards.host.board import HostBoard

DISCHARGE = fwconst.of("bms.core").DISCHARGE


class _Minute(Exception):
    """Ends run() (which never returns) when the simulated minute is over."""


class LoopRig:
    def __init__(self, tick_cpu_ms=0, end_ms=60000):
        # the simulator builds the world (pack, front end); the loop here replaces its engine
        sim = make_sim(initial={"soc_pct": 60})
        pack = sim.packs[0]
        pack.power_off()
        pack.model.set_demand(-20.0)  # a load, as with no inverter (forced bench current)
        self.clock = sim.clock
        self.pack = pack
        self.end_ms = self.clock.t_ms + end_ms
        board = HostBoard(self.clock, pack.chip, pack.model, pack.flash)
        board.sleep_ms = self.sleep_ms
        self.board = board
        self.app = App(board)
        self.sleeps = []
        self.ticks_at = []
        self.tick_cpu_ms = tick_cpu_ms
        real_tick = self.app.tick

        def tick(now):
            self.ticks_at.append(now)
            pack.chip.refresh()
            real_tick(now)
            self.clock.advance(self.tick_cpu_ms)  # what the tick cost on the chip

        self.app.tick = tick

    def sleep_ms(self, ms):
        self.sleeps.append(ms)
        if self.clock.t_ms + ms > self.end_ms:
            # (the count before run() ends: its end is one, the safe state taken)
            self.exceptions = self.app.exceptions
            raise _Minute
        self.clock.advance(ms)
        self.pack.model.advance(self.clock.t_ms)

    def run(self):
        try:
            self.app.run()
        except _Minute:
            pass
        return self


class RunLoopTest(unittest.TestCase):
    def test_ctrl_c_leaves_the_pack_in_the_safe_state(self):
        # a KeyboardInterrupt (Ctrl-C on the USB console) is no Exception: it ended the
        # loop past the safety net with the FETs closed and nothing watching the pack
        rig = LoopRig()

        def ctrl_c(ms):
            if rig.clock.t_ms >= 10000:
                raise KeyboardInterrupt
            rig.sleep_ms_real(ms)

        rig.sleep_ms_real = rig.sleep_ms
        rig.board.sleep_ms = ctrl_c
        with self.assertRaises(KeyboardInterrupt):
            rig.app.run()
        self.assertEqual(rig.pack.model.fet_states()[:2], (False, False))
        self.assertEqual(rig.app.exceptions, 1)

    def check_grid(self, rig):
        t = rig.ticks_at
        self.assertEqual(len(t), 601)  # t = 0, 100, ... 60000
        for k in range(len(t)):
            self.assertEqual(t[k] - t[0], 100 * k)  # on the grid: no drift, no burst
        self.assertTrue(all(0 < ms <= COMM_POLL_MS for ms in rig.sleeps))
        self.assertEqual(rig.exceptions, 0)

    def test_a_minute_in_real_time_keeps_the_tick_on_time(self):
        rig = LoopRig().run()
        self.check_grid(rig)
        self.assertEqual(rig.board.wdt.fed_ms, rig.ticks_at[-1])  # fed after each tick
        self.assertEqual(rig.app.bms.mode, DISCHARGE)  # the pack went into service

    def test_ticks_that_cost_cpu_time_stay_on_the_grid(self):
        # 2 ms is the RP2040 budget; 7 ms is more than a sleep: the loop still keeps time
        for cost in (2, 7):
            rig = LoopRig(tick_cpu_ms=cost).run()
            self.check_grid(rig)
