"""The front panel, exactly as the manual's LED table: waveforms at 50 ms resolution.

Expected waveforms are written out from the manual (FLASH1 0.25 s on / 3.75 s off,
FLASH2 0.5 / 0.5, FLASH3 0.5 / 1.5) as strings of 50 ms samples over 4 s, starting when
the panel's state began.
"""

import unittest

import fwconst
from core_rig import Rig
from support import make_sim

from bms import panel as pnl
from bms import ticks

panel_consts = fwconst.of("bms.panel")

STEP = 50
SAMPLES = 80  # 4 s
ON = "1" * SAMPLES
OFF = "0" * SAMPLES
FLASH1 = "1" * 5 + "0" * 75
FLASH2 = ("1" * 10 + "0" * 10) * 4
FLASH3 = ("1" * 10 + "0" * 30) * 2
LEDS = ("run", "alm", "soc1", "soc2", "soc3", "soc4", "ms")


def waveforms(logic, start=0):
    """Each LED's levels, 50 ms apart, for 4 s from `start` ms after the state began."""
    out = {name: "" for name in LEDS}
    for k in range(SAMPLES):
        mask = logic.leds(start + k * STEP)
        for i in range(7):
            out[LEDS[i]] += "1" if mask & (1 << i) else "0"
    return out


# the manual's table at 60 % SOC (three SOC LEDs lit): show, warning -> RUN, ALM, SOC1..4
TABLE = (
    ("standby", panel_consts.SHOW_STANDBY, 0, FLASH1, OFF, (ON, ON, ON, OFF)),
    ("standby warning", panel_consts.SHOW_STANDBY, 1, FLASH1, FLASH3, (ON, ON, ON, OFF)),
    ("charge", panel_consts.SHOW_CHARGE, 0, ON, OFF, (ON, ON, FLASH2, OFF)),
    ("charge warning", panel_consts.SHOW_CHARGE, 1, ON, FLASH3, (ON, ON, FLASH2, OFF)),
    ("charge COCP", panel_consts.SHOW_COCP, 0, FLASH1, OFF, (ON, ON, ON, OFF)),
    ("discharge", panel_consts.SHOW_DISCHARGE, 0, FLASH3, OFF, (ON, ON, ON, OFF)),
    ("discharge warning", panel_consts.SHOW_DISCHARGE, 1, FLASH3, FLASH3, (ON, ON, ON, OFF)),
    ("discharge CUVP/PUVP", panel_consts.SHOW_UVP, 0, OFF, FLASH3, (OFF, OFF, OFF, OFF)),
    ("discharge DOCP", panel_consts.SHOW_DOCP, 0, OFF, ON, (OFF, OFF, OFF, OFF)),
    ("temperature", panel_consts.SHOW_TEMPERATURE, 0, OFF, ON, (ON, ON, OFF, OFF)),
    ("failure", panel_consts.SHOW_FAILURE, 0, OFF, ON, (OFF, OFF, OFF, OFF)),
    ("sleep / off", panel_consts.SHOW_OFF, 0, OFF, OFF, (OFF, OFF, OFF, OFF)),
    ("rapid shutdown", panel_consts.SHOW_RSD, 0, OFF, ON, (ON, ON, ON, OFF)),
)


class PatternTest(unittest.TestCase):
    def test_every_row_of_the_manuals_table(self):
        for label, show, warning, run, alm, soc in TABLE:
            with self.subTest(label):
                logic = pnl.PanelLogic()
                logic.select(show, warning, 6000, False, 0)
                w = waveforms(logic)
                self.assertEqual(w["run"], run)
                self.assertEqual(w["alm"], alm)
                self.assertEqual((w["soc1"], w["soc2"], w["soc3"], w["soc4"]), soc)
                self.assertEqual(w["ms"], OFF)  # single pack: M/S off

    def test_patterns_repeat(self):
        logic = pnl.PanelLogic()
        logic.select(panel_consts.SHOW_STANDBY, 1, 6000, False, 0)
        self.assertEqual(waveforms(logic, 4000)["run"], FLASH1)
        self.assertEqual(waveforms(logic, 4000)["alm"], FLASH3)
        self.assertEqual(waveforms(logic, 40000)["run"], FLASH1)

    def test_flashing_restarts_with_a_new_state_only(self):
        logic = pnl.PanelLogic()
        logic.select(panel_consts.SHOW_STANDBY, 0, 6000, False, 1000)
        logic.select(panel_consts.SHOW_STANDBY, 0, 6000, False, 1700)  # same state: same phase
        self.assertEqual(logic.origin, 1000)
        logic.select(panel_consts.SHOW_DISCHARGE, 0, 6000, False, 2000)
        self.assertEqual(logic.origin, 2000)

    def test_each_input_of_a_selection_counts_on_its_own(self):
        # the warning, the SOC LEDs lit and M/S each change the patterns, whatever the
        # others do at the same tick (select() skips inputs it saw last time)
        logic = pnl.PanelLogic()
        logic.select(panel_consts.SHOW_STANDBY, 1, 1000, False, 0)  # warning, 1 SOC LED
        logic.select(panel_consts.SHOW_STANDBY, 0, 6000, False, 100)  # no warning, 3 SOC LEDs
        w = waveforms(logic)
        self.assertEqual(w["alm"], OFF)
        self.assertEqual((w["soc1"], w["soc2"], w["soc3"], w["soc4"]), (ON, ON, ON, OFF))
        logic.select(panel_consts.SHOW_STANDBY, 1, 9000, False, 200)  # warning, 4 SOC LEDs
        logic.select(panel_consts.SHOW_STANDBY, 0, 3000, True, 300)  # M/S on, 2 SOC LEDs
        w = waveforms(logic)
        self.assertEqual((w["alm"], w["ms"]), (OFF, ON))
        self.assertEqual((w["soc1"], w["soc2"], w["soc3"], w["soc4"]), (ON, ON, OFF, OFF))

    def test_soc_leds_by_25_percent(self):
        cases = (
            (0, 0),
            (1, 1),
            (2499, 1),
            (2500, 2),
            (4999, 2),
            (5000, 3),
            (7499, 3),
            (7500, 4),
            (10000, 4),
        )
        for cpct, lit in cases:
            self.assertEqual(pnl.soc_leds(cpct), lit, cpct)

    def test_an_soc_led_goes_out_a_percent_under_its_threshold(self):
        # (an inverter holding the SOC at 50 % moved LED3 123 times an hour, and every
        # change restarted every flash: RUN's 250 ms flash stretched to 450 ms)
        def lit(logic):
            return sum(1 for k in range(4) if waveforms(logic)["soc%d" % (k + 1)] == ON)

        logic = pnl.PanelLogic()
        for cpct, n in (
            (5000, 3),  # lit at its threshold
            (4999, 3),
            (4900, 3),
            (5000, 3),
            (4899, 2),  # out a percent under it
            (4999, 2),  # and lit again at the threshold only
            (5000, 3),
            (2400, 1),  # a fall past a threshold and its percent: at once
            (100, 1),
            (0, 0),  # empty is empty
            (1, 1),
            (10000, 4),
            (7400, 4),
            (7399, 3),
        ):
            logic.select(panel_consts.SHOW_STANDBY, 0, cpct, False, 0)
            self.assertEqual(lit(logic), n, cpct)
        start = pnl.PanelLogic()  # a first selection has no LED to keep lit
        start.select(panel_consts.SHOW_STANDBY, 0, 4999, False, 0)
        self.assertEqual(lit(start), 2)

    def test_charging_flashes_the_highest_lit_led(self):
        for cpct, flashing in ((500, 0), (3000, 1), (6000, 2), (9000, 3), (0, 0)):
            logic = pnl.PanelLogic()
            logic.select(panel_consts.SHOW_CHARGE, 0, cpct, False, 0)
            w = waveforms(logic)
            for k in range(4):
                expected = FLASH2 if k == flashing else (ON if k < flashing else OFF)
                self.assertEqual(w["soc%d" % (k + 1)], expected, (cpct, k))

    def test_ms_led_on_the_master_in_parallel_mode(self):
        logic = pnl.PanelLogic()
        logic.select(panel_consts.SHOW_STANDBY, 0, 6000, True, 0)
        self.assertEqual(waveforms(logic)["ms"], ON)
        logic.select(panel_consts.SHOW_OFF, 0, 6000, True, 0)
        self.assertEqual(waveforms(logic)["ms"], OFF)


class SelectionTest(unittest.TestCase):
    """The core picks the row of the table that applies, highest priority first."""

    def show(self, r):
        return r.bms.panel.show

    def test_states(self):
        r = Rig().settle()
        self.assertEqual(self.show(r), panel_consts.SHOW_STANDBY)
        r.current(10000)
        r.run_ms(1100)
        self.assertEqual(self.show(r), panel_consts.SHOW_CHARGE)
        r.current(95000)
        r.run_ms(1100)
        self.assertEqual(self.show(r), panel_consts.SHOW_COCP)
        r.current(-20000)
        r.run_ms(1100)
        self.assertEqual(self.show(r), panel_consts.SHOW_COCP)  # until COCP releases (60 s)
        r.run_ms(60000)
        self.assertEqual(self.show(r), panel_consts.SHOW_DISCHARGE)

    def test_priorities(self):
        r = Rig().settle()
        r.cell(2, 2700)
        r.run_ms(1100)
        self.assertEqual(self.show(r), panel_consts.SHOW_UVP)
        r.current(-250000)
        r.run_ms(600)
        self.assertEqual(self.show(r), panel_consts.SHOW_DOCP)
        r.current(0)
        r.temps(600, 0)
        r.run_ms(2100)
        self.assertEqual(self.show(r), panel_consts.SHOW_TEMPERATURE)
        r.inp.scd = True
        r.tick()
        self.assertEqual(self.show(r), panel_consts.SHOW_FAILURE)

    def test_asleep_a_failure_or_a_temperature_still_shows(self):
        # asleep, a pack at 70 C or with its connection reversed showed dark, as if off
        r = Rig().settle()
        r.inp.button = True
        r.run_ms(4000)  # held 3 to 5 s: asleep
        r.inp.button = False
        r.tick()
        r.tick()  # (the press ends at its second sample released)
        self.assertTrue(r.bms.sleeping)
        self.assertEqual(self.show(r), panel_consts.SHOW_OFF)
        r.temps(700)
        r.run_ms(2100)
        self.assertEqual(self.show(r), panel_consts.SHOW_TEMPERATURE)
        r.inp.reverse = True
        r.tick()
        self.assertEqual(self.show(r), panel_consts.SHOW_FAILURE)
        self.assertTrue(r.bms.sleeping)

    def test_covp_shows_standby_with_the_high_voltage_warning(self):
        r = Rig().settle()
        r.cell(2, 3650)
        r.run_ms(1100)
        self.assertTrue(r.active("COVP"))
        self.assertEqual(self.show(r), panel_consts.SHOW_STANDBY)
        self.assertEqual(waveforms(r.bms.panel)["alm"], FLASH3)

    def test_inverter_and_pack_warnings_do_not_light_alm(self):
        LED_WARNINGS = fwconst.of("bms.core").LED_WARNINGS
        from bms.protections import INVERTER_LOST, PACK_LOST

        self.assertFalse(LED_WARNINGS & (1 << INVERTER_LOST))
        self.assertFalse(LED_WARNINGS & (1 << PACK_LOST))

    def test_the_warning_bits_leave_room_for_the_ms_flags(self):
        # Bms._panel carries the M/S flags in the low bits of the warnings it passes on
        LED_WARNINGS = fwconst.of("bms.core").LED_WARNINGS

        self.assertEqual(LED_WARNINGS & (panel_consts.MS_ON | panel_consts.MS_UNLOCKED), 0)
        self.assertEqual(panel_consts.MS_ON | panel_consts.MS_UNLOCKED, 3)


class PinTest(unittest.TestCase):
    """End to end: the LED pins of the simulated board, sampled every 50 ms."""

    def pin_waveform(self, sim, start_ms, name):
        out = ""
        pin = sim.packs[0].board.pins[name]
        for k in range(SAMPLES):
            sim.run(start_ms + k * STEP)
            out += "1" if pin.level else "0"
        return out

    def test_standby_run_flash1_from_its_start(self):
        sim = make_sim(initial={"soc_pct": 60})
        sim.run(0)
        origin = sim.packs[0].app.bms.panel.origin
        self.assertEqual(self.pin_waveform(sim, origin, "LED_RUN"), FLASH1)
        self.assertEqual(self.pin_waveform(sim, origin + 4000, "LED_SOC3"), ON)
        self.assertEqual(self.pin_waveform(sim, origin + 8000, "LED_SOC4"), OFF)

    def test_charging_top_soc_led_flash2(self):
        sim = make_sim(initial={"soc_pct": 60}, events=[{"at_s": 5, "current_a": 20}])
        sim.run(8000)
        self.assertEqual(sim.packs[0].app.bms.panel.show, panel_consts.SHOW_CHARGE)
        origin = sim.packs[0].app.bms.panel.origin
        sim_start = origin + 4000
        self.assertEqual(self.pin_waveform(sim, sim_start, "LED_SOC3"), FLASH2)
        self.assertEqual(self.pin_waveform(sim, sim_start + 4000, "LED_RUN"), ON)

    def test_power_off_is_all_dark(self):
        sim = make_sim(events=[{"at_s": 3, "power": "off"}])
        sim.run(3000)
        self.assertEqual(
            sim.record(sim.packs[0])["leds"], {"run": 0, "alm": 0, "soc": [0, 0, 0, 0], "ms": 0}
        )


class HeldForDaysTest(unittest.TestCase):
    def test_a_pattern_held_for_days_keeps_flashing_in_phase(self):
        # the LED beat moves the origin on by whole periods: a tick difference turns
        # negative after 6.2 days, and standby's FLASH1 went steady ON there
        for period in pnl._PERIOD_MS:
            self.assertEqual(3600000 % period, 0)
        sim = make_sim(initial={"soc_pct": 60})
        sim.run(0)
        pack = sim.packs[0]
        app, logic = pack.app, pack.app.bms.panel
        now = origin = logic.origin
        for _hour in range(8 * 24):  # the beat over 8 days, once an hour here
            now = ticks.add(now, 3600 * 1000)
            app.led_beat(now)
        self.assertEqual(logic.show, panel_consts.SHOW_STANDBY)  # (held: no tick in between)
        # 8 days from the origin: a whole number of FLASH1's 4 s, so its phase is 0 now
        self.assertEqual(ticks.diff(now, logic.origin) % 4000, 0)
        self.assertNotEqual(logic.origin, origin)
        run = ""
        for k in range(SAMPLES):
            app.led_beat(ticks.add(now, k * STEP))
            run += "1" if pack.board.pins["LED_RUN"].level else "0"
        self.assertEqual(run, FLASH1)
