"""Pack modes, sleep and wake, the RESET button, the inputs and the outputs."""

import unittest

import fwconst
from core_rig import TICK, Rig
from support import long_run

from bms import button as btn
from bms import events as ev
from bms.core import SLEEP, STANDBY

button_consts = fwconst.of("bms.button")
DISCHARGE = fwconst.of("bms.core").DISCHARGE
FAULT = fwconst.of("bms.core").FAULT

MIN = 60 * 1000
HOUR = 60 * MIN


def press(r, ms):
    """Hold RESET for ms (to the tick), then release it."""
    r.inp.button = True
    r.tick()
    r.run_ms(ms)
    r.inp.button = False
    r.tick()
    r.tick()  # (the press ends at its second sample released)


class ModeTest(unittest.TestCase):
    def test_current_threshold_is_half_an_amp(self):
        r = Rig().settle()
        for ma, reported in ((499, 0), (500, 500), (-499, 0), (-500, -500), (0, 0)):
            r.current(ma)
            r.tick()
            self.assertEqual(r.bms.reported_ma, reported)

    def test_small_currents_do_not_change_the_mode(self):
        r = Rig().settle()
        r.current(499)
        r.run_ms(60000)
        self.assertEqual(r.mode(), "standby")
        r.current(-499)
        r.run_ms(60000)
        self.assertEqual(r.mode(), "standby")

    def test_mode_follows_current_after_the_debounce(self):
        r = Rig().settle()
        for ma, mode in ((500, "charge"), (-500, "discharge"), (0, "standby")):
            r.current(ma)
            r.tick()  # the first tick that sees it
            r.run_ms(1000 - TICK)
            self.assertNotEqual(r.mode(), mode, "changed one tick early")
            r.tick()
            self.assertEqual(r.mode(), mode)
            self.assertEqual(r.logged(ev.MODE)[-1][1], r.now)
            r.run_ms(60000)  # (a change within a minute of the last is not logged)

    def test_mode_changes_closer_than_a_minute_are_counted_not_logged(self):
        # a current swinging round 0 A every 2 s (a zero-export inverter) logged 43 200
        # records a day and pushed every trip off the log
        r = Rig().settle()
        r.current(-3000)
        r.run_ms(2000)
        self.assertEqual([e[3:6] for e in r.logged(ev.MODE)], [(DISCHARGE, STANDBY, 0)])
        for _ in range(30):
            r.current(3000)
            r.run_ms(2000)
            r.current(-3000)
            r.run_ms(2000)
        self.assertEqual(len(r.logged(ev.MODE)), 1)
        r.current(0)
        r.run_ms(1100)  # standby: the last change, left out too
        settled = r.now
        r.run_ms(60000 - TICK)
        self.assertEqual(len(r.logged(ev.MODE)), 1)
        r.tick()  # a minute without a change: the mode they ended in, and their count
        self.assertEqual(
            r.logged(ev.MODE)[-1][1:6], (settled + 60000, ev.MODE, STANDBY, STANDBY, 61)
        )
        r.current(-3000)
        r.run_ms(1100)
        self.assertEqual(r.mode(), "discharge")
        self.assertEqual(r.logged(ev.MODE)[-1][1:6], (r.now, ev.MODE, DISCHARGE, STANDBY, 0))
        # both sides of the minute: a change 1.1 s after the current moved (its debounce)
        for gap, logs in ((60000 - TICK, 1), (60000, 2)):
            with self.subTest(gap=gap):
                r = Rig().settle()
                r.current(-3000)
                r.run_ms(1100)
                t1 = r.now
                r.run_ms(gap - 1100)
                r.current(0)
                r.run_ms(1100)
                self.assertEqual((r.now - t1, r.mode()), (gap, "standby"))
                self.assertEqual(len(r.logged(ev.MODE)), logs)
        r.inp.scd = True  # a fault is logged at once
        r.tick()
        self.assertEqual(r.logged(ev.MODE)[-1][3:6], (FAULT, STANDBY, 0))

    def test_a_blip_shorter_than_the_debounce_changes_nothing(self):
        r = Rig().settle()
        r.current(20000)
        r.run_ms(900)
        r.current(0)
        r.run_ms(5000)
        self.assertEqual(r.mode(), "standby")
        self.assertEqual(r.logged(ev.MODE), [])

    def test_fault_is_immediate_and_logged(self):
        r = Rig().settle()
        r.current(-20000)
        r.run_ms(2000)
        r.inp.scd = True
        r.tick()
        self.assertEqual(r.mode(), "fault")
        self.assertEqual(r.logged(ev.MODE)[-1][3:5], (FAULT, DISCHARGE))


class SleepTest(unittest.TestCase):
    def test_cuvp_held_30_min_without_charge_sleeps(self):
        r = Rig().settle()
        r.cell(5, 2700)
        r.run_ms(1100)
        self.assertTrue(r.active("CUVP"))
        t_trip = r.now
        r.wait(30 * MIN - TICK)
        self.assertFalse(r.bms.sleeping)
        r.tick()
        self.assertTrue(r.bms.sleeping)
        self.assertEqual(r.now - t_trip, 30 * MIN)
        self.assertEqual(r.mode(), "sleep")
        self.assertEqual(r.fets(), (False, False))
        self.assertEqual(r.logged(ev.MODE)[-1][3], SLEEP)
        # its FETs open, it asks for the charge that wakes it, as awake: a force charge
        # at CVL 56.0 V, the charge dry contact closed; CCL as through the open
        # discharge FET's body diodes (diode_ma) until the charge releases CUVP
        lim = r.bms.limits
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (True, False))
        self.assertEqual((lim.ccl_ma, lim.dcl_ma, lim.cvl_mv), (10000, 0, 56000))
        self.assertEqual((lim.charge_enable, lim.discharge_enable), (True, False))
        self.assertTrue(lim.force_charge)

    def test_asleep_after_cuvp_it_wakes_at_the_charge_it_asked_for(self):
        r = Rig().settle()
        r.cell(5, 2700)
        r.run_ms(1100)
        r.wait(30 * MIN)
        self.assertEqual((r.bms.sleeping, r.bms.limits.charge_enable), (True, True))
        r.link(r.s.stack_mv + 999)  # the inverter raising its voltage: not yet a charger
        r.tick()
        self.assertTrue(r.bms.sleeping)
        r.link(r.s.stack_mv + 1000)
        r.tick()
        self.assertFalse(r.bms.sleeping)
        self.assertEqual(r.fets(), (True, False))  # charge: CUVP still holds discharge
        r.link(None)
        r.current(10000)
        r.cell(5, 2850)  # lifted by the charge above CUVP's 2.80 V: released by it
        r.tick()
        self.assertFalse(r.active("CUVP"))

    def test_asleep_after_cuvp_it_asks_nothing_a_protection_forbids(self):
        r = Rig().settle()
        r.cell(5, 2700)
        r.temps(-60)  # CLTP too: no charge below -5 C
        r.run_ms(2100)
        r.wait(30 * MIN)
        self.assertTrue(r.bms.sleeping and r.active("CLTP"))
        lim = r.bms.limits
        self.assertEqual((lim.ccl_ma, lim.charge_enable, lim.force_charge), (0, False, False))
        self.assertFalse(r.bms.relay_chg)
        r.temps(0)  # warm again: the request comes back, still asleep
        r.run_ms(2100)
        self.assertTrue(r.bms.sleeping)
        self.assertEqual((lim.ccl_ma > 0, lim.charge_enable, r.bms.relay_chg), (True,) * 3)

    def test_asleep_by_the_button_or_idle_it_asks_for_nothing(self):
        r = self.asleep()
        r.wait(MIN)
        lim = r.bms.limits
        self.assertEqual((lim.ccl_ma, lim.dcl_ma, lim.charge_enable), (0, 0, False))
        self.assertFalse(r.bms.relay_chg or r.bms.relay_dsg)
        r = Rig()
        r.comm_since = r.now
        r.wait(48 * HOUR + MIN)
        self.assertTrue(r.bms.sleeping)
        self.assertEqual((r.bms.limits.ccl_ma, r.bms.relay_chg), (0, False))
        # a CUVP sleep ended by the button and begun again by it asks for nothing either
        r = Rig().settle()
        r.cell(5, 2700)
        r.run_ms(1100)
        r.wait(30 * MIN)
        press(r, 4000)  # awake
        press(r, 4000)  # asleep, by hand
        r.wait(MIN)
        self.assertTrue(r.bms.sleeping)
        self.assertEqual((r.bms.limits.charge_enable, r.bms.relay_chg), (False, False))

    def test_a_charge_restarts_the_cuvp_sleep_timer(self):
        r = Rig().settle()
        r.cell(5, 2700)
        r.wait(20 * MIN)
        r.current(1500)  # below the effective current: not released, but a charge
        r.tick()
        self.assertTrue(r.active("CUVP"))
        r.current(0)
        r.tick()  # the timer starts again here
        r.wait(30 * MIN - TICK)
        self.assertFalse(r.bms.sleeping)
        r.tick()
        self.assertTrue(r.bms.sleeping)

    def test_48_h_idle_without_communication_sleeps(self):
        r = Rig()
        r.comm_since = r.now  # nobody talks: the age grows from boot, as app.py gives it
        r.tick()  # the first idle tick
        start = r.now
        r.wait(48 * HOUR - 2 * TICK)
        self.assertFalse(r.bms.sleeping)
        r.tick()
        self.assertEqual(r.now - start, 48 * HOUR - TICK)
        self.assertFalse(r.bms.sleeping)
        r.tick()
        self.assertTrue(r.bms.sleeping)

    def test_asleep_for_want_of_an_inverter_its_return_wakes_it(self):
        # it asks for nothing asleep: an installer who fixed the cable had to press
        # RESET at every pack
        r = Rig()
        r.comm_since = r.now
        r.wait(48 * HOUR + MIN)
        self.assertTrue(r.bms.sleeping)
        r.comm_since = None
        r.inp.comm_age_ms = r.cfg.inverter_lost_ms  # heard long ago: still asleep
        r.wait(MIN)
        self.assertTrue(r.bms.sleeping)
        r.inp.comm_age_ms = r.cfg.inverter_lost_ms - 1
        r.tick()
        self.assertFalse(r.bms.sleeping)
        self.assertEqual(r.mode(), "standby")
        # asleep by the button, it stays asleep however much the inverter talks
        r = self.asleep()
        r.inp.comm_age_ms = 0
        r.wait(HOUR)
        self.assertTrue(r.bms.sleeping)

    def test_idle_and_silence_must_both_last(self):
        r = Rig().settle()
        r.current(-20000)
        r.wait(47 * HOUR)  # silent for 47 h, but discharging
        r.current(0)
        r.comm_since = r.now - 47 * HOUR
        r.tick()  # idle from here
        r.wait(2 * HOUR)
        self.assertFalse(r.bms.sleeping)  # idle only 2 h
        r.wait(46 * HOUR)
        self.assertTrue(r.bms.sleeping)

    @long_run
    def test_idle_for_days_while_talking_sleeps_48_h_after_the_silence(self):
        # the idle timer held at its limit: a tick difference turns negative past 6.2
        # days, and the sleep came days late
        for days in (1, 5, 7, 13):
            r = Rig().settle()
            r.inp.comm_age_ms = 1000
            r.wait(days * 24 * HOUR)
            self.assertFalse(r.bms.sleeping)
            r.comm_since = r.now  # the inverter goes silent
            r.wait(48 * HOUR - TICK)  # silent 48 h less a tick
            self.assertFalse(r.bms.sleeping, days)
            r.tick()  # silent 48 h
            self.assertTrue(r.bms.sleeping, days)

    def test_communication_keeps_it_awake(self):
        r = Rig().settle()
        r.inp.comm_age_ms = 1000
        r.wait(72 * HOUR)
        self.assertFalse(r.bms.sleeping)

    def test_current_keeps_it_awake(self):
        r = Rig().settle()
        r.inp.comm_age_ms = 48 * HOUR
        r.wait(47 * HOUR)
        r.current(-600)
        r.tick()
        r.current(0)
        r.wait(47 * HOUR)
        self.assertFalse(r.bms.sleeping)

    def asleep(self):
        r = Rig().settle()
        press(r, 3000)
        self.assertTrue(r.bms.sleeping)
        return r

    def test_a_current_read_while_asleep_is_an_offset_not_a_charge(self):
        # asleep every FET is open and no current can flow: a current read is the
        # sensor's offset, judged by its row (issue 14: it woke the pack, whose FETs
        # then closed, so the offset was never judged)
        r = self.asleep()
        r.current(5000)
        r.run_ms(3100)  # the first tick that sees it, then sensor_delay_ms
        self.assertTrue(r.bms.sleeping)
        self.assertTrue(r.active("MOS_FAIL"))  # current against FETs commanded off, 2 s
        self.assertTrue(r.active("SENSOR_FAIL"))  # a current at rest, 3 s
        self.assertEqual(r.fets(), (False, False))

    def test_wake_by_a_charger_at_the_terminals(self):
        r = self.asleep()
        r.link(r.s.stack_mv + 1000)
        r.tick()
        self.assertFalse(r.bms.sleeping)

    def test_wake_by_reset(self):
        r = self.asleep()
        press(r, 200)
        self.assertFalse(r.bms.sleeping)
        self.assertEqual(r.mode(), "standby")

    def test_sleep_wake_press_toggles(self):
        r = self.asleep()
        press(r, 4000)
        self.assertFalse(r.bms.sleeping)


class ButtonTest(unittest.TestCase):
    def test_press_lengths(self):
        # the button is sampled every tick: a press seen on n ticks lasted n * 100 ms; one
        # tick is bounce (a glitch on the line cleared every latch and lockout)
        r = Rig().settle()
        press(r, 0)
        self.assertEqual(r.logged(ev.RESET), [])
        cases = (
            (200, btn.RESET),
            (2900, btn.RESET),
            (3000, button_consts.SLEEP_WAKE),
            (4900, button_consts.SLEEP_WAKE),
        )
        for held, action in cases:
            with self.subTest(held=held):
                r = Rig().settle()
                press(r, held - TICK)
                self.assertEqual(r.logged(ev.RESET)[-1][3:5], (action, held))

    def test_five_seconds_restarts_while_held(self):
        # the manual's "press RESET 6 s": a person counting 6 s lets go about then (a
        # 6.0 s press is seen on 5.9 s of samples), so the restart comes at 5 s
        r = Rig().settle()
        r.inp.button = True
        r.tick()
        r.run_ms(5000 - TICK)
        self.assertFalse(r.bms.restart)
        r.tick()
        self.assertTrue(r.bms.restart)
        self.assertEqual(r.logged(ev.RESET)[-1][3:5], (btn.RESTART, 5000))
        r.bms.restart = False
        r.run_ms(2000)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertEqual(len(r.logged(ev.RESET)), 1)  # nothing more on release

    def test_button_unit_bounce(self):
        class Cfg:
            button_min_ms = 50
            button_sleep_ms = 3000
            button_restart_ms = 6000
            button_unlock_ms = 2000

        b = btn.Button(Cfg())
        self.assertEqual(b.step(False, 0), btn.NONE)  # up when first sampled
        self.assertEqual(b.step(True, 100), btn.NONE)
        self.assertEqual(b.step(False, 140), btn.NONE)
        self.assertEqual(b.step(True, 200), btn.NONE)
        self.assertEqual(b.step(False, 400), btn.NONE)  # one sample, however long: bounce
        self.assertEqual(b.step(True, 500), btn.NONE)
        self.assertEqual(b.step(True, 520), btn.NONE)
        self.assertEqual(b.step(False, 549), btn.NONE)  # two samples, 49 ms
        self.assertEqual(b.step(False, 560), btn.NONE)
        self.assertEqual(b.step(True, 600), btn.NONE)
        self.assertEqual(b.step(True, 620), btn.NONE)
        self.assertEqual(b.step(False, 650), btn.NONE)  # released once: not over yet
        self.assertEqual(b.step(False, 700), btn.RESET)  # twice: 50 ms, to the first
        self.assertEqual(b.held_ms, 50)
        # a contact bouncing open for one sample within a hold: the hold goes on (it
        # ended at 2 s: RESET, then the rest of the hold a sleep)
        t = 10000
        self.assertEqual(b.step(True, t), btn.NONE)
        got = []
        for k in range(1, 80):
            got.append(b.step(k != 20, t + 100 * k))
        self.assertEqual([(k + 1, a) for k, a in enumerate(got) if a], [(60, btn.RESTART)])
        self.assertEqual(b.step(False, t + 8000), btn.NONE)
        self.assertEqual(b.step(False, t + 8100), btn.NONE)  # nothing after a RESTART

    def test_one_sample_is_bounce_at_any_tick(self):
        # at a 200 ms tick one sample read as 200 ms, past button_min_ms (150): a glitch
        # on the line cleared a latched SCP
        for tick_ms in (100, 200, 1000):
            with self.subTest(tick_ms=tick_ms):
                r = Rig({"tick_ms": tick_ms}).settle()
                r.inp.scd = True
                r._step(tick_ms)
                r.inp.scd = False
                r._step(tick_ms)
                self.assertTrue(r.active("SCP"))
                for samples, cleared in ((1, False), (2, True)):
                    r.inp.button = True
                    for _ in range(samples):
                        r._step(tick_ms)
                    r.inp.button = False
                    r._step(tick_ms)
                    r._step(tick_ms)  # (the press ends at its second sample released)
                    self.assertEqual(r.active("SCP"), not cleared)
                    self.assertEqual(len(r.logged(ev.RESET)), 1 if cleared else 0)

    def test_a_press_down_at_boot_counts_only_after_its_release(self):
        # held through the boot (or stuck): no RESTART however long, no action on release
        r = Rig()
        r.inp.button = True
        r.run_ms(20000)
        self.assertFalse(r.bms.restart)
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertEqual(r.logged(ev.RESET), [])
        # the next press is a press
        press(r, 5000)
        self.assertTrue(r.bms.restart)
        self.assertEqual(r.logged(ev.RESET)[-1][3:5], (btn.RESTART, 5000))


class InputTest(unittest.TestCase):
    def test_rapid_shutdown_opens_everything_within_one_tick(self):
        r = Rig().settle()
        r.current(-30000)
        r.run_ms(2000)
        r.inp.rsd = True
        r.tick()
        self.assertEqual(r.fets(), (False, False))
        self.assertFalse(r.bms.pre)
        self.assertFalse(r.bms.relay_chg or r.bms.relay_dsg)
        self.assertIn("RSD", r.bms.protection_names())
        self.assertEqual(r.logged(ev.INPUT)[-1][3:5], (2, 1))
        r.inp.rsd = False
        r.run_ms(1000)  # released once it has read released for 1 s
        self.assertEqual(r.fets(), (False, False))
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual(r.logged(ev.INPUT)[-1][3:5], (2, 0))

    def test_an_input_chattering_holds_the_pack_off_and_logs_twice(self):
        # the RSD input chattering every 200 ms switched the FETs under load five times a
        # second, and its records pushed every trip off the log
        for name, what in (("rsd", 2), ("passive", 1)):
            with self.subTest(name=name):
                r = Rig({"passive_action": 3}).settle()
                start = r.now
                for _ in range(50):
                    setattr(r.inp, name, True)
                    r.tick()
                    self.assertEqual(r.fets(), (False, False))
                    setattr(r.inp, name, False)
                    r.tick()
                    self.assertEqual(r.fets(), (False, False))
                r.run_ms(1000 - TICK)
                self.assertEqual(r.fets(), (False, False))
                r.tick()
                self.assertEqual(r.fets(), (True, True))
                self.assertEqual(
                    [e[1:5] for e in r.logged(ev.INPUT)],
                    [(start + TICK, ev.INPUT, what, 1), (r.now, ev.INPUT, what, 0)],
                )

    def test_passive_input_is_logged_and_acts_as_configured(self):
        for action, fets in (
            (0, (True, True)),
            (1, (False, True)),
            (2, (True, False)),
            (3, (False, False)),
        ):
            with self.subTest(action=action):
                r = Rig({"passive_action": action}).settle()
                r.inp.passive = True
                r.tick()
                self.assertEqual(r.fets(), fets)
                self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), fets)
                self.assertEqual(r.logged(ev.INPUT)[-1][3:5], (1, 1))


class OutputTest(unittest.TestCase):
    def test_fets_stay_open_until_the_boot_settle_time(self):
        r = Rig()
        self.assertEqual(r.cfg.boot_settle_ms, 3000)
        r.run_ms(3000)
        self.assertEqual(r.fets(), (False, False))
        self.assertFalse(r.bms.relay_chg)
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertTrue(r.bms.relay_chg and r.bms.relay_dsg)

    def test_discharge_contact_waits_for_the_discharge_fet(self):
        r = Rig()
        r.link(0)
        r.run_ms(3100)
        self.assertTrue(r.bms.pre)
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (True, False))
        r.run_ms(3000 + 2000 + 3000 + 2000 + 3000)  # three failed tries
        r.tick()  # the failure latches on the next tick
        self.assertTrue(r.active("PRECHARGE_FAIL"))
        self.assertFalse(r.bms.relay_dsg)
        r2 = Rig()
        r2.link(0)
        r2.run_ms(3100)
        r2.link(None)
        r2.tick()
        self.assertTrue(r2.bms.dsg)
        self.assertTrue(r2.bms.relay_dsg)

    def test_lost_readings_open_the_fets_before_the_failure_latches(self):
        r = Rig().settle()
        r.current(-20000)
        r.s.valid = False
        r.run_ms(200)
        self.assertEqual(r.fets(), (True, True))
        r.tick()  # 300 ms blind
        self.assertEqual(r.fets(), (False, False))
        self.assertFalse(r.active("SENSOR_FAIL"))  # that takes its 3 s
        r.s.valid = True
        r.tick()
        self.assertEqual(r.fets(), (True, True))  # readings back before: nothing latched

    def test_dry_contacts_follow_what_is_allowed(self):
        r = Rig().settle()
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (True, True))
        r.cell(2, 3650)
        r.run_ms(1100)
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (False, True))
        r.cell(2, 3300)
        r.cell(4, 2700)
        r.run_ms(1100)
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (True, False))

    def test_diode_guard_closes_the_charge_fet_for_a_discharge(self):
        r = Rig().settle()
        r.temps(520, 0)
        r.run_ms(2100)
        self.assertTrue(r.active("CHTP"))
        self.assertEqual(r.fets(), (False, True))
        r.current(-1999)
        r.tick()
        self.assertEqual(r.fets(), (False, True))
        r.current(-2000)
        r.tick()
        self.assertEqual(r.fets(), (True, True))  # discharging through the FET, not its diode
        self.assertFalse(r.bms.relay_chg)  # still not allowed to charge
        r.current(-600)
        r.tick()
        self.assertTrue(r.bms.chg)  # holds while the discharge lasts
        r.current(0)
        r.tick()
        self.assertEqual(r.fets(), (False, True))
        r.current(5000)  # the charger comes back: the FET is open before it can charge
        r.tick()
        self.assertEqual(r.fets(), (False, True))

    def test_diode_guard_closes_the_discharge_fet_for_a_charge(self):
        r = Rig().settle()
        r.current(-250000)
        r.run_ms(600)
        self.assertTrue(r.active("DOCP"))
        r.current(0)
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        # the charge asked for meanwhile: what the diodes take (bms/limits.py)
        self.assertEqual(r.bms.limits.ccl_ma, r.cfg.diode_ma)
        r.current(1999)
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        r.current(2000)  # charging through the discharge FET's diode
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertFalse(r.bms.relay_dsg)
        r.tick()
        self.assertEqual((r.bms.limits.ccl_ma, r.bms.limits.dcl_ma), (50000, 0))
        r.current(-3000)  # a discharge: the FET opens again at once
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        r.tick()
        self.assertEqual(r.bms.limits.ccl_ma, r.cfg.diode_ma)

    def test_diode_guard_for_the_passive_inputs_one_direction(self):
        # the passive input stopping the discharge, the day's charge went through the
        # discharge FETs' body diodes (at 50 A, 40 W for as long as it was held)
        r = Rig({"passive_action": 2}).settle()
        r.inp.passive = True
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        r.current(9000)
        r.tick()
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (True, False))
        r.tick()
        self.assertEqual((r.bms.limits.ccl_ma, r.bms.limits.dcl_ma), (50000, 0))
        r.current(-3000)
        r.tick()
        self.assertEqual(r.fets(), (True, False))
        r = Rig({"passive_action": 1}).settle()
        r.inp.passive = True
        r.current(-9000)
        r.tick(2)
        self.assertEqual(r.fets(), (True, True))
        self.assertEqual((r.bms.relay_chg, r.bms.relay_dsg), (False, True))
        r.current(3000)
        r.tick()
        self.assertEqual(r.fets(), (False, True))

    def test_no_diode_guard_against_a_locked_protection(self):
        r = Rig().settle()
        for _ in range(3):
            r.current(-250000)
            r.run_ms(600)
            r.current(0)
            if not r.locked("DOCP"):
                r.run_ms(60000)
        self.assertTrue(r.locked("DOCP"))
        r.current(10000)
        r.run_ms(1000)
        self.assertEqual(r.fets(), (True, False))

    def test_diode_guard_on_a_direct_reversal(self):
        r = Rig().settle()
        r.temps(520, 0)
        r.run_ms(2100)
        r.current(-20000)
        r.tick()
        self.assertTrue(r.bms.chg)  # guarding the discharge
        r.current(20000)  # straight to charging: open again on that tick
        r.tick()
        self.assertFalse(r.bms.chg)

    def test_no_diode_guard_when_a_fault_opens_both(self):
        r = Rig().settle()
        r.temps(950, 5)
        r.run_ms(2100)
        self.assertTrue(r.active("MOS_OTP"))
        r.current(-30000)
        r.run_ms(1000)
        self.assertEqual(r.fets(), (False, False))
