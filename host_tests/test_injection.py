"""Exception injection (issue 14, item 3) and what it found, pinned.

tools/inject.py makes each stage of the firmware raise once, at every call, at every call
with a fault latched, and hang; here every case runs under both runtimes. The tests
below reproduce each finding that was fixed in app.py.
"""

import unittest

import inject
from support import logged, make_sim

from app import SAFE_HOLD_MS, STAGE_COMMS, STAGE_LED, STAGE_STORE
from bms import events as ev
from boards.host import machine
from boards.host.board import WDT_TIMEOUT_MS


class InjectionTest(unittest.TestCase):
    def test_every_stage_once_repeatedly_and_hung(self):
        cases = inject.run_all()
        self.assertEqual(len(cases), len(inject.POINTS) * len(inject.HOW))
        text = inject.report(cases)
        failed = ["%s %s: %s" % (c.point, c.how, e) for c in cases for e in c.errors]
        self.assertEqual(failed, [], text)
        self.assertIn("cases passed: 60 of 60", text)

    def test_the_points_cover_every_stage(self):
        stages = set(p[1] for p in inject.POINTS)
        self.assertEqual(stages, {"read", "core", "write", "led", "comms", "store"})


def raising(*args):
    raise ValueError("injected")


class FoundTest(unittest.TestCase):
    def serving(self, inverter="can"):
        sim = make_sim(inverter=inverter, events=[{"at_s": 0, "current_a": -20}])
        sim.run(8000)
        return sim, sim.packs[0]

    def test_a_failing_panel_does_not_escape_the_led_beat(self):
        # app.led_beat: after a failure it showed ALM outside its guard, so a panel that
        # raised there escaped App.poll (on a board, the main loop would die)
        sim, pack = self.serving()
        pack.app.panel.show = raising
        sim.run(8200)  # several beats: the first fails, the next ones show ALM and fail
        self.assertGreater(pack.app.exceptions, 2)
        stages = set(r[3] for r in logged(pack.app.events, ev.EXCEPTION))
        self.assertEqual(stages, {STAGE_LED})

    def test_a_failure_that_repeats_once_a_second_ends_in_the_watchdog(self):
        # app.tick fed the watchdog after every healthy tick: a link that failed at each
        # RS485 poll (once a second) held the safe state for good and never reset
        sim, pack = self.serving("rs485")
        pack.app.link.server.handle = raising
        sim.run(8000 + 1000 + SAFE_HOLD_MS)
        self.assertEqual(pack.reboots, 0)
        sim.run(8000 + 2000 + WDT_TIMEOUT_MS + 200)
        self.assertEqual(pack.reboots, 1)
        boots = [r[3] for r in logged(pack.app.events, ev.BOOT)]
        self.assertEqual(boots[-1], machine.WDT_RESET)

    def test_a_single_failure_outside_the_tick_does_not_reset(self):
        sim, pack = self.serving("rs485")
        real = pack.app.link.server.handle
        calls = []

        def once(*args):
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("injected")
            return real(*args)

        pack.app.link.server.handle = once
        sim.run(30000)
        self.assertEqual((pack.reboots, pack.app.exceptions), (0, 1))
        self.assertTrue(pack.model.fet_states()[1])

    def test_a_failure_in_housekeeping_still_writes_the_events(self):
        # app.housekeeping: an exception before the flush (the link's age, read there
        # too) skipped the flush and was counted as a store error: the events that
        # explain the watchdog reset that followed were lost
        sim, pack = self.serving()
        pack.app.link.age_ms = raising
        sim.run(8000 + SAFE_HOLD_MS + WDT_TIMEOUT_MS + 500)
        self.assertEqual(pack.reboots, 1)
        before = [r for r in logged(pack.app.events, ev.EXCEPTION)]
        self.assertTrue(before)  # on flash before the reset, restored after it

    def test_a_failing_store_is_logged_once_per_episode(self):
        # app: storage failures were counted but never logged (STAGE_STORE was unused)
        sim, pack = self.serving()
        app = pack.app
        real = app.store.append_events
        app.store.append_events = raising
        pack.press_button(True)  # a RESET press: an urgent event to write
        sim.run(8200)
        pack.press_button(False)
        sim.run(20000)
        stores = [r for r in logged(app.events, ev.EXCEPTION) if r[3] == STAGE_STORE]
        self.assertEqual(len(stores), 1)  # the start of the episode (extra: the operation)
        self.assertGreater(stores[0][5], 0)
        self.assertGreater(app.store_errors, 5)  # every second, counted
        self.assertEqual((app.exceptions, pack.reboots), (0, 0))  # the pack serves on
        self.assertTrue(pack.model.fet_states()[1])
        app.store.append_events = real
        sim.run(21000)
        # written now, and the episode's end (-operation) a beat later
        self.assertEqual(logged(app.events, ev.EXCEPTION)[-1][5], -stores[0][5])
        sim.run(22000)
        self.assertEqual(app.store.flushed_seq, app.events.next_seq)
        app.store.append_events = raising
        app.events.log(0, ev.RESET, 1, 0)
        sim.run(23000)
        stores = [r for r in logged(app.events, ev.EXCEPTION) if r[3] == STAGE_STORE]
        self.assertEqual([r[5] > 0 for r in stores], [True, False, True])  # a new episode

    def test_a_failing_rs485_release_is_logged_as_the_link(self):
        # app.poll logged an exception of the RS485 release with the stage the last tick
        # left behind (write)
        sim, pack = self.serving("rs485")
        app = pack.app
        port = app.board.rs485
        port.service = raising
        port.sending = True  # a reply going out, its release due
        app.poll(sim.clock.ticks_ms())
        got = logged(app.events, ev.EXCEPTION)  # (the link's own poll fails on it too)
        self.assertEqual(set(r[3] for r in got), {STAGE_COMMS})


if __name__ == "__main__":
    unittest.main()
