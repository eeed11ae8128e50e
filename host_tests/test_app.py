"""The scheduler: tick and LED beat timing, the exception safety net, the watchdog."""

import unittest

import fwconst
from support import logged, long_run, make_sim

from app import SAFE_HOLD_MS, STAGE_READ
from bms import events as ev
from bms.config import Config
from bms.core import STANDBY
from boards.host import machine

FAULT = fwconst.of("bms.core").FAULT
DISCHARGE = fwconst.of("bms.core").DISCHARGE


def codes(app, code):
    return logged(app.events, code)


class Boom(Exception):
    pass


class ScheduleTest(unittest.TestCase):
    def test_tick_every_100_ms_and_leds_every_50(self):
        sim = make_sim()
        app = sim.packs[0].app
        beats = []
        real_beat = app.led_beat
        app.led_beat = lambda now: (beats.append(now), real_beat(now))
        sim.run(1000)
        self.assertEqual(app.ticks, 11)  # t = 0, 100, ... 1000
        self.assertEqual(beats[:4], [0, 50, 100, 150])
        self.assertEqual(len(beats), 21)

    def test_tick_period_comes_from_config(self):
        sim = make_sim(config={"tick_ms": 250})
        sim.run(1000)
        self.assertEqual(sim.packs[0].app.ticks, 5)

    def test_measured_time_step(self):
        sim = make_sim()
        sim.run(500)
        self.assertEqual(sim.packs[0].app.dt_ms, 100)

    def test_schedule_survives_the_ticks_wrap(self):
        sim = make_sim(start_ticks=(1 << 30) - 2000)
        app = sim.packs[0].app
        sim.run(10000)
        self.assertEqual(app.ticks, 101)
        self.assertEqual(app.dt_ms, 100)

    def test_late_poll_ticks_once_then_keeps_the_period(self):
        sim = make_sim()
        app = sim.packs[0].app
        sim.run(0)
        n = app.ticks
        now = sim.clock.ticks_ms() + 350
        sim.packs[0].chip.refresh()
        app.poll(now)
        self.assertEqual(app.ticks, n + 1)
        self.assertEqual(app.dt_ms, 350)
        self.assertFalse(app.tick_due(now + 99))
        self.assertTrue(app.tick_due(now + 100))

    def test_measurements_reach_the_sample(self):
        sim = make_sim(initial={"soc_pct": 50, "temp_c": 20})
        sim.run(1000)
        s = sim.packs[0].app.sample
        self.assertTrue(s.valid)
        for mv in s.cells_mv:
            self.assertTrue(3280 < mv < 3310, mv)
        self.assertAlmostEqual(s.stack_mv, sum(s.cells_mv), delta=40)
        for dc in s.temps_dc:
            self.assertTrue(190 <= dc <= 215, dc)


class FlushTest(unittest.TestCase):
    @long_run
    def test_records_after_a_week_without_any_reach_flash_within_a_minute(self):
        # a pack at rest logs nothing for days: its last flush more than 6.2 days back,
        # the difference wrapped negative and held the next records in RAM for days more
        from bms import ticks

        for quiet_ms in (86400000, 2**29 + 60000):
            sim = make_sim(inverter="none")
            sim.run(120000)
            app = sim.packs[0].app
            app._last_flush = ticks.add(sim.clock.ticks_ms(), -quiet_ms)
            seq = app.events.next_seq
            sim.apply({"current_a": -20})  # a load: MODE, PRECHARGE records (not urgent)
            sim.run(120000 + 61000)
            self.assertGreater(app.events.next_seq, seq, quiet_ms)
            self.assertEqual(app.store.flushed_seq, app.events.next_seq, quiet_ms)


class LazyTest(unittest.TestCase):
    def test_a_module_without_room_is_tried_again_after_a_collection(self):
        # (a fragmented heap refused the block a rare path's code needs, and the safety
        # net opened the FETs; once collected, there mostly is one)
        from bms import lazy

        real = __import__
        calls = []

        def tight(name, *args):
            calls.append(name)
            if len(calls) <= fails:
                raise MemoryError
            return real(name, *args)

        lazy.__import__ = tight
        try:
            fails = 1
            self.assertEqual(lazy.run("bms.dip", "effective_protocol", 0), 0)
            self.assertEqual(calls, ["bms.dip", "bms.dip"])
            calls[:] = []
            fails = 2
            with self.assertRaises(MemoryError):
                lazy.run("bms.dip", "effective_protocol", 0)
            self.assertEqual(calls, ["bms.dip", "bms.dip"])
        finally:
            del lazy.__import__


class SafetyNetTest(unittest.TestCase):
    def break_reads(self, app):
        def boom(sample):
            raise Boom("simulated bug")

        app.afe.read = boom

    def test_exception_commands_safe_state_logs_and_recovers(self):
        sim = make_sim()
        pack = sim.packs[0]
        app = pack.app
        sim.run(1000)
        fed = pack.board.wdt.fed_ms
        real_read = app.afe.read
        self.break_reads(app)
        sim.run(1100)
        self.assertEqual(app.exceptions, 1)
        self.assertEqual(pack.model.fet_states(), (False, False, False))
        self.assertFalse(pack.board.pins["RELAY_CHG"].level)
        self.assertFalse(pack.board.pins["RELAY_DSG"].level)
        self.assertEqual(pack.board.pins["LED_ALM"].level, 1)
        self.assertEqual(pack.board.wdt.fed_ms, fed)  # an unhealthy tick does not feed
        logged = codes(app, ev.EXCEPTION)
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged[0][3], STAGE_READ)
        app.afe.read = real_read
        sim.run(1200)
        self.assertEqual(app.exceptions, 1)
        self.assertEqual(pack.board.wdt.fed_ms, 1200)
        # the safe state (ALM on, FETs open) holds SAFE_HOLD_MS from the failed tick
        sim.run(1000 + SAFE_HOLD_MS)
        self.assertEqual(pack.board.pins["LED_ALM"].level, 1)
        self.assertEqual(app.bms.mode, FAULT)
        self.assertFalse(app.bms.dsg)
        sim.run(1100 + SAFE_HOLD_MS)
        self.assertEqual(pack.board.pins["LED_ALM"].level, 0)
        self.assertEqual(app.bms.mode, STANDBY)

    def test_exception_while_commanding_safe_state_does_not_escape(self):
        sim = make_sim()
        app = sim.packs[0].app
        self.break_reads(app)

        def broken(*args):
            raise OSError(5)

        app.fets.off = broken
        sim.run(300)
        self.assertEqual(app.exceptions, 4)  # t = 0, 100, 200, 300
        self.assertEqual(sim.packs[0].board.pins["RELAY_DSG"].level, 0)

    def test_persistent_failure_is_reset_by_the_watchdog(self):
        sim = make_sim()
        pack = sim.packs[0]
        self.break_reads(pack.app)
        sim.run(4000)
        self.assertEqual(pack.reboots, 0)
        # one record for the episode, the count going on (a failure at every poll
        # logged hundreds a second and pushed every trip off the log)
        self.assertEqual(pack.app.exceptions, 41)
        self.assertEqual([r[3:5] for r in codes(pack.app, ev.EXCEPTION)], [(STAGE_READ, 1)])
        sim.run(4200)
        self.assertEqual(pack.reboots, 1)
        boot = codes(pack.app, ev.BOOT)  # the log survives the reset (it is on flash)
        self.assertEqual(
            [b[3:5] for b in boot], [(machine.PWRON_RESET, 1), (machine.WDT_RESET, 2)]
        )
        sim.run(6000)
        self.assertEqual(pack.app.exceptions, 0)  # the fresh firmware reads fine

    @long_run
    def test_a_failure_that_keeps_coming_back_fails_the_pack_until_reset(self):
        # a read failing every 4 s, each after the last one's hold: the FETs opened under
        # the load every 4 s for ever, one record each, and the watchdog never saw it
        sim = make_sim()
        pack = sim.packs[0]
        app = pack.app
        sim.apply({"current_a": -20})
        sim.run(10000)
        real_read = app.afe.read
        clock = sim.clock

        def sometimes(sample):
            if clock.ticks_ms() % 4000 == 0:
                raise Boom("simulated bug")
            return real_read(sample)

        app.afe.read = sometimes
        sim.run(48000)  # ten episodes, t = 12 ... 48 s
        self.assertEqual(len(codes(app, ev.EXCEPTION)), 10)
        sim.run(48100)  # its hold seen by the core at the next tick
        self.assertEqual([r[1] for r in logged(app.events, ev.SENSOR, 4)], [48100])
        sim.run(48000 + app.cfg.sensor_delay_ms)
        self.assertNotIn("SENSOR_FAIL", app.bms.protection_names())
        sim.run(48100 + app.cfg.sensor_delay_ms)
        self.assertIn("SENSOR_FAIL", app.bms.protection_names())
        sim.run(600000)
        self.assertEqual(pack.model.fet_states(), (False, False, False))
        self.assertEqual(pack.reboots, 0)
        self.assertEqual(app.exceptions, 148)  # counted, not logged: ten records
        self.assertEqual(len(codes(app, ev.EXCEPTION)), 10)
        app.afe.read = real_read
        pack.press_button(True)
        sim.run(600300)
        pack.press_button(False)
        sim.run(620000)
        self.assertEqual(app.bms.protection_names(), [])
        self.assertEqual(app.bms.mode, DISCHARGE)

    def test_lost_front_end_is_unhealthy_but_no_exception(self):
        sim = make_sim()
        pack = sim.packs[0]
        sim.run(500)
        pack.apply_fault("afe_lost")
        sim.run(1000)
        self.assertFalse(pack.app.sample.valid)
        self.assertFalse(pack.app.healthy)
        self.assertEqual(pack.app.exceptions, 0)
        self.assertGreater(pack.app.afe.errors, 0)


class BootTest(unittest.TestCase):
    def test_the_serial_number_is_the_boards_unique_id(self):
        # an RP2040's flash id has 8 bytes, an ESP32's MAC 6: right-aligned in the 8 the
        # protocols send (16 hex characters), longer ones keep their last 8
        from app import App
        from boards.host.board import HostBoard

        sim = make_sim(packs=2)
        self.assertEqual(sim.packs[0].app.bms.uid, bytes.fromhex("E6614104032B1A01"))
        self.assertEqual(sim.packs[1].app.bms.uid, bytes.fromhex("E6614104032B1A02"))
        p = sim.packs[0]
        for given, uid in (
            ("240AC4123456", "0000240AC4123456"),
            ("0102030405060708090A", "030405060708090A"),
        ):
            board = HostBoard(sim.clock, p.chip, p.model, p.flash, unique_id=bytes.fromhex(given))
            app = App(board)
            app.start(sim.t_ms)
            self.assertEqual(app.bms.uid, bytes.fromhex(uid))

    def test_the_boots_end_feeds_the_watchdog(self):
        # started with the board, about 1.3 s before the boot's end on a Pico: a front
        # end giving no reading feeds it only once SENSOR_FAIL latches, 3 s after the
        # first tick, and the watchdog reset the board first, at every boot
        from app import App
        from boards.host.board import HostBoard

        sim = make_sim()
        p = sim.packs[0]
        board = HostBoard(sim.clock, p.chip, p.model, p.flash)
        board.wdt.fed_ms = sim.t_ms - 1300
        app = App(board)
        app.start(sim.t_ms)
        self.assertEqual(board.wdt.fed_ms, sim.t_ms)

    def test_boot_logs_boot_and_dip(self):
        sim = make_sim(dip="1000010")
        app = sim.packs[0].app
        self.assertEqual(codes(app, ev.BOOT)[0][3:5], (machine.PWRON_RESET, 1))
        self.assertEqual(codes(app, ev.DIP)[0][3], 0b0100001)

    def test_refused_config_keeps_defaults_and_is_logged(self):
        sim = make_sim()
        pack = sim.packs[0]
        pack.config = {"covp_trip_mv": 3300, "covp_release_mv": 3350}
        pack.power_off()
        pack.power_on()
        self.assertEqual(pack.app.cfg.covp_trip_mv, Config().covp_trip_mv)
        self.assertEqual(codes(pack.app, ev.CONFIG)[0][3], 1)

    def test_a_config_json_that_is_not_one_is_logged_and_the_defaults_kept(self):
        # boards/main.py's config_overrides() gives False for it: an installer's typo
        # used to boot on the defaults without a word
        sim = make_sim()
        pack = sim.packs[0]
        pack.config = False
        pack.power_off()
        pack.power_on()
        self.assertEqual([r[3:5] for r in codes(pack.app, ev.CONFIG)], [(1, -2)])
        self.assertEqual(pack.app.cfg.covp_trip_mv, Config().covp_trip_mv)
        pack.config = None  # none at all: nothing to say
        pack.power_off()
        pack.power_on()
        self.assertEqual(codes(pack.app, ev.CONFIG), [])

    @staticmethod
    def booted_with(config):
        """A pack booted again with this config: its app, and the CONFIG records."""
        pack = make_sim().packs[0]
        pack.config = config
        pack.power_off()
        pack.power_on()
        return pack.app, [r[3:5] for r in codes(pack.app, ev.CONFIG)]

    def test_a_key_out_of_range_costs_that_key_only(self):
        # stored by a firmware whose range was wider (scp_delay_us up to 1000 before)
        app, told = self.booted_with({"scp_delay_us": 1000, "capacity_mah": 120000, "nope": 1})
        self.assertEqual((app.cfg.scp_delay_us, app.cfg.capacity_mah), (250, 120000))
        self.assertEqual(told, [(1, 2), (0, 1)])

    def test_a_rule_added_since_costs_its_keys_only(self):
        # stored by a firmware without the rule cvl_mv < povp_trip_mv (57.6 V, the top of
        # its range): the whole config was dropped, a DCL lowered for a 30 A fuse with it
        app, told = self.booted_with({"cvl_mv": 57600, "dcl_ma": 30000, "ccl_ma": 30000})
        cfg = app.cfg
        self.assertEqual((cfg.cvl_mv, cfg.dcl_ma, cfg.ccl_ma), (56000, 30000, 30000))
        self.assertEqual(told, [(1, 3), (0, 2)])
        # both keys of the broken rule stored: both go back to their defaults, the rest
        # (a POVP warning and a float voltage that hold with them) stays
        app, told = self.booted_with({"povp_trip_mv": 56000, "povp_warn_mv": 55900,
                                      "cvl_mv": 56000, "float_mv": 55000})  # fmt: skip
        cfg = app.cfg
        self.assertEqual((cfg.povp_trip_mv, cfg.cvl_mv, cfg.povp_warn_mv), (57600, 56000, 55900))
        self.assertEqual((cfg.float_mv, told), (55000, [(1, 4), (0, 2)]))

    def test_accepted_config_is_used(self):
        sim = make_sim(config={"covp_trip_mv": 3590})
        app = sim.packs[0].app
        self.assertEqual(app.cfg.covp_trip_mv, 3590)
        self.assertEqual(codes(app, ev.CONFIG)[0][3], 0)

    def test_boot_leaves_its_once_only_code_and_the_config_numbers_out_of_the_heap(self):
        import sys

        from bms import config

        sim = make_sim()
        app = sim.packs[0].app
        self.assertIsNone(config._held_nums)  # released at the boot's end
        for name in ("app_boot", "app_init", "app_chips", "app_save", "app_trial"):
            self.assertNotIn(name, sys.modules)
        self.assertTrue(app._state_read)  # the boot saved it (app_save, loaded and dropped)
        self.assertIn("state.json", app.store.fs.files)
        sim.run(2000)
        self.assertNotIn("app_save", sys.modules)
        self.assertEqual(app.exceptions, 0)
