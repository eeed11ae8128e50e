"""Pre-charge before the discharge FET closes: 2 V margin, 3 s per try, 3 tries."""

import unittest

import fwconst
from core_rig import TICK, Rig
from support import logged, long_run, make_sim

from bms import events as ev

precharge_consts = fwconst.of("bms.precharge")

BOOT_SETTLE_MS = 3000


def settled_with_link(link_mv):
    r = Rig()
    r.link(link_mv)
    r.run_ms(r.cfg.boot_settle_ms)  # the next tick may close the FETs
    return r


def fets_and_relays(r):
    b = r.bms
    return (b.chg, b.dsg, b.pre, b.relay_chg, b.relay_dsg)


class InvalidReadingTest(unittest.TestCase):
    def test_an_invalid_reading_closes_nothing_and_opens_nothing(self):
        # rapid shutdown let go while the readings were invalid (not yet blind, 300 ms):
        # the last good reading closed both FETs and both relays, and blind 100 ms on
        # opened them again, under load
        on = (True, True, False, True, True)
        off = (False, False, False, False, False)
        r = settled_with_link(None)
        r.tick()
        self.assertEqual(fets_and_relays(r), on)
        r.inp.rsd = True
        r.tick()
        self.assertEqual(fets_and_relays(r), off)
        r.inp.rsd = False
        r.run_ms(900)  # RSD holds 1 s after its release
        self.assertEqual(fets_and_relays(r), off)

        def ticks_as(valid, n, want):
            r.s.valid = valid
            for _ in range(n):
                r.tick()
                self.assertEqual(fets_and_relays(r), want)

        ticks_as(False, 2, off)  # 200 ms of invalid readings: RSD over, nothing closes
        ticks_as(True, 1, on)
        ticks_as(False, 2, on)  # closed stays closed until blind
        r.tick()
        self.assertEqual(fets_and_relays(r), off)  # blind (300 ms): open at once

    def test_relay_2_does_not_close_on_an_invalid_reading(self):
        # the passive input stops discharging while a charge runs: the diode guard holds
        # the discharge FET, relay 2 stays open; the input's 1 s release ends within an
        # invalid spell: relay 2 closed on it, and blind opened it again
        r = Rig({"passive_action": 2})
        r.settle()
        r.current(20000)
        r.tick(20)
        r.inp.passive = True
        r.tick(5)
        self.assertEqual(fets_and_relays(r), (True, True, False, True, False))
        r.inp.passive = False
        r.tick(10)
        self.assertEqual(fets_and_relays(r)[4], False)
        r.s.valid = False
        r.tick(2)
        self.assertEqual(r.bms.allow_dsg, True)
        self.assertEqual(fets_and_relays(r)[4], False)

    def test_a_pre_charge_ends_at_its_timeout_through_invalid_readings(self):
        # (skipped while invalid, a try ran on past its timeout until blind: with
        # afe_blind_ms 3000 and a 100 ms try, 30 times its budget)
        r = Rig({"afe_blind_ms": 3000, "precharge_timeout_ms": 500})
        r.link(10000)
        r.run_ms(r.cfg.boot_settle_ms)
        r.tick()
        self.assertTrue(r.bms.pre)
        r.s.valid = False
        on = 0
        while r.bms.pre:
            r.tick()
            on += TICK
        self.assertEqual(on, 500)
        self.assertFalse(r.bms.dsg)

    def test_a_pre_charge_waits_through_invalid_readings(self):
        r = settled_with_link(10000)
        r.tick()
        self.assertEqual(fets_and_relays(r), (True, False, True, True, False))
        r.s.valid = False
        r.link(None)  # the load side near now, but read invalid: no closing on it
        r.tick(2)
        self.assertEqual(fets_and_relays(r), (True, False, True, True, False))
        r.s.valid = True
        r.tick()
        self.assertEqual(fets_and_relays(r), (True, True, False, True, True))


class PrechargeTest(unittest.TestCase):
    def test_tries_cut_short_count_their_time_and_pause(self):
        # discharging allowed and forbidden again every 2.5 s (chatter on the passive
        # input), shorter than a try: uncounted and unpaused, the resistor was on 576 s
        # in 600 and the failure never latched. Each counts its time on, 2.1 s, and a
        # pause follows each: the fifth try ends at three timeouts' worth (9 s)
        r = settled_with_link(10000)
        r.cfg.passive_action = 2
        r.tick()
        on_ms = 0
        for k in range(4):
            self.assertTrue(r.bms.pre, k)
            self.assertFalse(r.active("PRECHARGE_FAIL"), k)
            for _ in range(20):
                r.tick()
                on_ms += TICK if r.bms.pre else 0
            r.inp.passive = True
            r.tick()
            self.assertFalse(r.bms.pre)
            self.assertEqual(
                r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.CUT_SHORT, 10000, k + 1)
            )
            r.inp.passive = False
            r.run_ms(2000 - TICK)  # the pause (the input lets go 1 s after it)
            self.assertFalse(r.bms.pre, k)
            r.tick()
        self.assertEqual(r.bms.precharge.on_ms, 4 * 2100)
        r.run_ms(500)
        self.assertTrue(r.bms.pre)
        r.tick()  # 600 ms on: the budget's end
        self.assertFalse(r.bms.pre)
        self.assertEqual(r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.TIMED_OUT, 10000, 5))
        r.run_ms(600000)
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        self.assertEqual(len(r.logged(ev.PRECHARGE, precharge_consts.STARTED)), 5)
        self.assertEqual(on_ms, 4 * 2000)
        # three cut short early (a rapid shutdown during each, 0.5 s in): no failure, and
        # the next try that gets there resets the count
        r = settled_with_link(10000)
        r.tick()
        for k in range(3):
            self.assertTrue(r.bms.pre, k)
            r.run_ms(500)
            r.inp.rsd = True
            r.tick()
            r.inp.rsd = False
            r.run_ms(2000 - TICK)
            self.assertFalse(r.bms.pre, k)
            r.tick()
        self.assertTrue(r.bms.pre)
        self.assertFalse(r.active("PRECHARGE_FAIL"))
        self.assertEqual(r.bms.precharge.on_ms, 3 * 600)
        r.link(52800)
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual((r.bms.precharge.tries, r.bms.precharge.on_ms), (0, 0))
        # three cut short at 2.8 s (8.4 s): the fourth ends at the budget, 0.6 s on
        r = settled_with_link(10000)
        r.tick()
        for _ in range(3):
            r.run_ms(2700)
            r.inp.rsd = True
            r.tick()
            r.inp.rsd = False
            r.run_ms(2000 - TICK)
            r.tick()
        self.assertEqual(r.bms.precharge.on_ms, 3 * 2800)
        self.assertTrue(r.bms.pre)
        r.run_ms(500)
        self.assertTrue(r.bms.pre)
        r.tick()
        self.assertFalse(r.bms.pre)
        self.assertTrue(r.bms.precharge.failed)
        self.assertEqual(r.bms.precharge.on_ms, 9000)
        # the failure again, for RESET's pause below
        r = settled_with_link(10000)
        r.tick()
        r.run_ms(3 * 3000 + 2 * 2000 + TICK)
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        r.run_ms(600000)
        r.cfg.passive_action = 2
        # RESET: a try at once, the last pause over long ago; a RESET within a pause
        # waits for its end
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertFalse(r.active("PRECHARGE_FAIL"))
        self.assertTrue(r.bms.pre)
        r.inp.passive = True
        r.tick()
        r.inp.passive = False
        cut = r.now
        r.run_ms(1000)
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        while r.now != cut + 2000 - TICK:
            r.tick()
            self.assertFalse(r.bms.pre)
        r.tick()
        self.assertTrue(r.bms.pre)
        self.assertEqual(r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.STARTED, 10000, 1))

    def test_no_precharge_when_the_load_side_is_already_up(self):
        r = settled_with_link(52800 - 2000)
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertFalse(r.bms.pre)
        self.assertEqual(r.logged(ev.PRECHARGE), [])

    def test_precharge_until_within_2_v(self):
        r = settled_with_link(0)
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        self.assertTrue(r.bms.pre)
        self.assertEqual(r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.STARTED, 0, 1))
        r.link(52800 - 2001)
        r.tick()
        self.assertFalse(r.bms.dsg)
        r.link(52800 - 2000)
        r.tick()
        self.assertTrue(r.bms.dsg)
        self.assertFalse(r.bms.pre)
        self.assertEqual(r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.DONE, 50800, 1))

    def test_three_tries_of_3_s_then_failure(self):
        r = settled_with_link(10000)
        r.tick()
        start = r.now
        for attempt in (1, 2, 3):
            self.assertTrue(r.bms.pre, "try %d" % attempt)
            r.run_ms(3000 - TICK)
            self.assertTrue(r.bms.pre, "try %d ended early" % attempt)
            r.tick()
            self.assertFalse(r.bms.pre)
            self.assertEqual(
                r.logged(ev.PRECHARGE)[-1][3:6], (precharge_consts.TIMED_OUT, 10000, attempt)
            )
            if attempt < 3:
                r.run_ms(2000 - TICK)
                self.assertFalse(r.bms.pre, "retried early")
                r.tick()
        self.assertEqual(r.now - start, 3 * 3000 + 2 * 2000)
        r.tick()
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        self.assertEqual(r.fets(), (True, False))  # charging stays possible
        self.assertEqual(r.mode(), "fault")
        r.run_ms(60000)
        self.assertFalse(r.bms.pre)
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        r.link(52800)  # the wiring fixed; only RESET clears the failure
        r.run_ms(5000)
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        r.inp.button = True
        r.tick(2)
        r.inp.button = False
        r.tick(2)
        self.assertFalse(r.active("PRECHARGE_FAIL"))
        self.assertEqual(r.fets(), (True, True))

    @long_run
    def test_a_pause_begun_a_week_ago_is_over(self):
        # a try timed out, then discharge not wanted (rapid shutdown) for days: the
        # pause's tick difference wrapped negative after 6.2 days and held the next try
        # off for 5 days more
        for days in (2, 7):
            r = settled_with_link(10000)
            r.tick()
            r.run_ms(3000)
            self.assertFalse(r.bms.pre)
            r.inp.rsd = True
            r.tick()
            r.wait(days * 86400000)
            r.inp.rsd = False
            r.run_ms(1100)  # (the input lets go once it has read released for 1 s)
            self.assertTrue(r.bms.pre, days)

    def test_a_protection_during_precharge_aborts_it(self):
        r = settled_with_link(0)
        r.tick()
        self.assertTrue(r.bms.pre)
        r.cell(3, 2700)
        r.run_ms(1100)
        self.assertTrue(r.active("CUVP"))
        self.assertFalse(r.bms.pre)
        self.assertFalse(r.bms.dsg)


class PhysicsTest(unittest.TestCase):
    def test_real_link_precharges_in_about_a_second(self):
        sim = make_sim(initial={"soc_pct": 50})
        sim.run(BOOT_SETTLE_MS)
        pack = sim.packs[0]
        self.assertTrue(pack.model.pre_on)
        sim.run(BOOT_SETTLE_MS + 2000)
        records = logged(pack.app.events, ev.PRECHARGE, precharge_consts.DONE)
        self.assertEqual(len(records), 1)
        self.assertTrue(BOOT_SETTLE_MS < records[0][1] <= BOOT_SETTLE_MS + 1500)
        self.assertEqual(pack.model.fet_states(), (True, True, False))

    def test_faulty_link_fails_after_three_tries(self):
        sim = make_sim(events=[{"at_s": 0, "fault": "precharge_fail"}])
        sim.run(BOOT_SETTLE_MS + 3 * 3000 + 2 * 2000 + 200)
        app = sim.packs[0].app
        self.assertIn("PRECHARGE_FAIL", app.bms.protection_names())
        self.assertEqual(sim.packs[0].model.fet_states(), (True, False, False))
