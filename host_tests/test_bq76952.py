"""The BQ76952 driver against the register-level simulated chip."""

import unittest

from bms.sample import Sample
from boards.host import machine
from boards.host.bq76952_sim import BQ76952Sim
from boards.host.pack_model import PackModel, Rng
from drivers.bq76952 import BQ76952


def rig(soc=50.0, temp=25.0):
    model = PackModel(soc_pct=soc, temp_c=temp)
    chip = BQ76952Sim(model, Rng(1))
    i2c = machine.I2C(0, devices={0x08: chip})
    return model, chip, BQ76952(i2c)


class IdentityTest(unittest.TestCase):
    def test_probe_reads_device_number(self):
        _m, _c, afe = rig()
        self.assertEqual(afe.device_number(), 0x7695)
        self.assertTrue(afe.probe())

    def test_probe_fails_without_a_chip(self):
        afe = BQ76952(machine.I2C(0))
        self.assertFalse(afe.probe())
        self.assertEqual(afe.errors, 3)  # one try and two retries


class ReadTest(unittest.TestCase):
    def test_read_matches_the_model_within_noise(self):
        model, chip, afe = rig(soc=70.0, temp=18.0)
        chip.refresh()
        s = Sample()
        self.assertTrue(afe.read(s))
        self.assertTrue(s.valid)
        truth = model.cells_mv()
        for i in range(16):
            self.assertLessEqual(abs(s.cells_mv[i] - truth[i]), 2, i)
        self.assertAlmostEqual(s.stack_mv, sum(truth), delta=10)
        self.assertLessEqual(abs(s.current_ma), 20)  # noise of the idle current sensor
        for slot in range(4):
            self.assertAlmostEqual(s.temps_dc[slot], 180, delta=5)
        self.assertEqual(s.temps_dc[4], 180)
        self.assertEqual(s.temps_dc[5], 180)

    def test_current_sign_and_units(self):
        model, chip, afe = rig()
        model.set_fets(True, True, False)
        model.demand_a = -42.5
        model.advance(100)
        chip.refresh()
        s = Sample()
        afe.read(s)
        self.assertAlmostEqual(s.current_ma, -42500, delta=20)

    def test_lost_chip_marks_reading_invalid(self):
        _m, chip, afe = rig()
        chip.lost = True
        s = Sample()
        s.valid = True
        self.assertFalse(afe.read(s))
        self.assertFalse(s.valid)
        self.assertEqual(afe.errors, 3)


class FetTest(unittest.TestCase):
    def rig_with_pins(self):
        model, chip, afe = rig()
        cfetoff = machine.Pin("CFETOFF", machine.Pin.OUT, value=1)
        dfetoff = machine.Pin("DFETOFF", machine.Pin.OUT, value=1)
        chip.attach_fet_pins(cfetoff, dfetoff)
        return model, chip, afe, cfetoff, dfetoff

    def test_pins_decide_once_the_chip_controls_its_fets(self):
        model, chip, afe, cfetoff, dfetoff = self.rig_with_pins()
        self.assertTrue(afe.enable_fet_control())
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)  # FET_EN
        self.assertEqual(chip.fet_control, 0x0A)  # only the pre-charge drivers held off
        self.assertEqual(model.fet_states()[:2], (False, False))
        cfetoff(0)
        self.assertEqual(model.fet_states()[:2], (True, False))
        dfetoff(0)
        self.assertEqual(model.fet_states()[:2], (True, True))
        self.assertEqual(afe.read_fet_status() & 0x05, 0x05)
        dfetoff(1)
        self.assertEqual(model.fet_states()[:2], (True, False))

    def test_i2c_can_still_force_them_off(self):
        model, _chip, afe, cfetoff, dfetoff = self.rig_with_pins()
        afe.enable_fet_control()
        cfetoff(0)
        dfetoff(0)
        afe.set_fets(False, True)
        self.assertEqual(model.fet_states()[:2], (False, True))
        afe.all_fets_off()
        self.assertEqual(model.fet_states()[:2], (False, False))

    def test_enabling_twice_does_not_toggle_fet_en_back_off(self):
        _m, chip, afe, _c, _d = self.rig_with_pins()
        afe.enable_fet_control()
        afe.enable_fet_control()
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)

    def test_without_fet_en_the_pins_do_nothing(self):
        model, _chip, _afe, cfetoff, dfetoff = self.rig_with_pins()
        cfetoff(0)
        dfetoff(0)
        self.assertEqual(model.fet_states()[:2], (False, False))
