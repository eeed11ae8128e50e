"""The BQ76952 driver: against TI's published numbers and vectors, and the simulated chip.

The wire-level tests record what the driver puts on the bus and compare it with TI's
documents (SLUSE13, SLUUBY2, SLUAA11), so the driver is not only checked against our own
simulator.
"""

import struct
import unittest

import fwconst

from bms.config import Config
from bms.sample import Sample
from boards.host import machine
from boards.host.world.chips import bq76952 as sim_chip
from boards.host.world.chips.bq76952 import BQ76952Sim
from boards.host.world.pack_model import PackModel, Rng
from drivers import bq76952 as drv
from drivers.bq76952 import BQ76952
from drivers.bq76952_dm import SCD_MV

bq76952_consts = fwconst.of("drivers.bq76952")


class Recorder:
    """An I2C device in front of another that writes down every transfer."""

    def __init__(self, device=None, regs=None):
        self.device = device
        self.regs = regs if regs is not None else bytearray(256)
        self.log = []

    def i2c_read(self, reg, buf):
        if self.device is not None:
            self.device.i2c_read(reg, buf)
        else:
            for i in range(len(buf)):
                buf[i] = self.regs[reg + i]
        self.log.append(("r", reg, bytes(buf)))

    def i2c_write(self, reg, data):
        self.log.append(("w", reg, bytes(data)))
        if self.device is not None:
            self.device.i2c_write(reg, data)

    def writes(self):
        return [(reg, data) for op, reg, data in self.log if op == "w"]

    def reads(self):
        return [(reg, len(data)) for op, reg, data in self.log if op == "r"]


def rig(soc=50.0, temp=25.0, configured=True, config=None):
    model = PackModel(soc_pct=soc, temp_c=temp)
    chip = BQ76952Sim(model, Rng(1))
    rec = Recorder(chip)
    afe = BQ76952(machine.I2C(0, devices={0x08: rec}), r_sense_uohm=sim_chip.R_SENSE_UOHM)
    if configured:
        cfg = Config(config or {})
        assert afe.probe() and afe.configure(cfg) and afe.enable_fet_control()
    chip.refresh()
    return model, chip, afe, rec


class CrcTest(unittest.TestCase):
    # TI SLUAA11 section 4 (and SLUAAM4 for the last one)
    VECTORS = (
        ((0x10, 0x3E, 0x22), 0x63),
        ((0x00,), 0x00),
        ((0x10, 0x14, 0x11, 0x68), 0x33),
        ((0x0B,), 0x31),
        ((0x10, 0x14, 0x11, 0xC5), 0x79),
    )

    def test_ti_vectors_driver(self):
        for data, crc in self.VECTORS:
            self.assertEqual(drv.crc8(bytes(data)), crc, data)

    def test_ti_vectors_simulated_chip(self):
        for data, crc in self.VECTORS:
            self.assertEqual(sim_chip.crc8(data), crc, data)

    def test_fet_enable_on_the_wire_in_crc_mode_is_tis_example(self):
        rec = Recorder()
        afe = BQ76952(machine.I2C(0, devices={0x08: rec}))
        afe.crc = True
        afe.subcommand(drv.SUB_FET_ENABLE)
        # SLUAA11: [0x10 0x3E 0x22] -> 0x63, [0x00] -> 0x00
        self.assertEqual(rec.writes(), [(0x3E, bytes((0x22, 0x63, 0x00, 0x00)))])

    def test_a_read_checks_tis_first_byte_vector(self):
        rec = Recorder()
        rec.regs[0] = 0x68
        rec.regs[1] = 0x33  # SLUAA11: CRC of 0x10 0x14 0x11 0x68
        rec.regs[2] = 0x0B
        rec.regs[3] = 0x31
        afe = BQ76952(machine.I2C(0, devices={0x08: _Shift(rec, 0x14)}))
        afe.crc = True
        views = (memoryview(bytearray(2)), memoryview(bytearray(4)))
        self.assertTrue(afe._raw_read(0x14, views))
        rec.regs[1] = 0x34
        self.assertFalse(afe._raw_read(0x14, views))
        self.assertEqual(afe.crc_errors, 3)


class _Shift:
    """Serves regs[0..] for reads of `base`: a fixed reply for one register."""

    def __init__(self, rec, base):
        self.rec = rec
        self.base = base

    def i2c_read(self, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.rec.regs[i]

    def i2c_write(self, reg, data):
        pass


class WireTest(unittest.TestCase):
    def afe(self):
        rec = Recorder()
        return BQ76952(machine.I2C(0, devices={0x08: rec})), rec

    def test_trm_checksum_and_length_examples(self):
        afe, rec = self.afe()
        afe.dm_write(0x9180, b"\x7a\x30")  # TRM 13.1: Cell 1 Gain = 0x307A
        afe.dm_write(0x9261, b"\x8c")  # Enabled Protections A = 0x8C
        self.assertEqual(
            rec.writes(),
            [
                (0x3E, bytes((0x80, 0x91, 0x7A, 0x30))),
                (0x60, bytes((0x44, 0x06))),
                (0x3E, bytes((0x61, 0x92, 0x8C))),
                (0x60, bytes((0x80, 0x05))),
            ],
        )

    def test_measurement_blocks_use_the_datasheet_registers(self):
        _m, _chip, afe, rec = rig()
        rec.log = []
        self.assertTrue(afe.read(Sample()))
        # one block from Safety Alert/Status A-C at 0x02 through Battery Status (0x12), the
        # cells 1-16 (0x14) to CC2 at 0x3A; the ten temperatures from 0x68: each byte with
        # its CRC
        self.assertEqual(rec.reads(), [(0x02, 116), (0x68, 40)])

    def test_an_unconfigured_chip_is_not_read(self):
        afe, rec = self.afe()
        s = Sample()
        s.valid = True
        self.assertFalse(afe.read(s))
        self.assertFalse(s.valid)
        self.assertEqual(rec.reads(), [])

    def test_subcommand_numbers(self):
        afe, rec = self.afe()
        afe.subcommand(drv.SUB_DEVICE_NUMBER)
        afe.subcommand(drv.SUB_SET_CFGUPDATE)
        afe.subcommand(drv.SUB_EXIT_CFGUPDATE)
        afe.set_balancing(0x0005)
        afe.set_fets(False, True)
        self.assertEqual(
            rec.writes(),
            [
                (0x3E, b"\x01\x00"),  # DEVICE_NUMBER
                (0x3E, b"\x90\x00"),  # SET_CFGUPDATE
                (0x3E, b"\x92\x00"),  # EXIT_CFGUPDATE
                (0x3E, b"\x83\x00\x05\x00"),  # CB_ACTIVE_CELLS, cells 1 and 3
                (0x60, bytes((~(0x83 + 0x05) & 0xFF, 6))),
                (0x3E, b"\x97\x00\x0e"),  # FET_CONTROL: PCHG, CHG, PDSG off; DSG allowed
                (0x60, bytes((~(0x97 + 0x0E) & 0xFF, 5))),
            ],
        )

    def test_data_memory_encodings(self):
        table = dict(drv.data_memory(Config(), 250))
        self.assertEqual(table[0x9303], b"\x06")  # 10 mA, 10 mV
        self.assertEqual(table[0x9304], b"\xff\xff")  # 16 cells
        self.assertEqual(table[0x9278], bytes((72,)))  # COV 72 * 50.6 = 3643 mV: 3600-3650
        self.assertEqual(table[0x9275], bytes((49,)))  # CUV 49 * 50.6 = 2479 mV < 2800
        # the chip's COV beyond the firmware's COVP over its whole range (rounded down,
        # 3 593 mV gave 3 592.6: the chip opened the charge FET first)
        cfg = Config()
        for covp in range(3300, 3601):  # (its range, config_table.py)
            cfg.covp_trip_mv = covp
            cov_uv = dict(drv.data_memory(cfg, 250))[0x9278][0] * 50600
            self.assertTrue(covp + 20 <= cov_uv // 1000 < covp + 71, (covp, cov_uv))
        self.assertEqual(table[0x9279], (604).to_bytes(2, "little"))  # 3.3 ms * 606 = 2 s
        self.assertEqual(table[0x9280], bytes((15,)))  # OCC 30 mV over 0.25 mOhm = 120 A
        self.assertEqual(table[0x9282], bytes((30,)))  # OCD1 60 mV = 240 A
        self.assertEqual(table[0x9286], bytes((5,)))  # SCD 100 mV = 400 A
        self.assertEqual(table[0x9287], bytes((17,)))  # (17 - 1) * 15 us = 240 us
        # the config's range ends where the chip's field does (1..31)
        for us, code in ((15, 2), (450, 31)):
            table = dict(drv.data_memory(Config({"scp_delay_us": us}), 250))
            self.assertEqual(table[0x9287], bytes((code,)), us)
        with self.assertRaises(ValueError):
            Config({"scp_delay_us": 451})
        self.assertEqual(table[0x9239], bytes((0x12,)))  # I2C fast with CRC
        # SCD: the chip's step at or above the setting, never under it (nor under DOCP)
        for scp_ma, code in ((400000, 5), (200001, 3), (240000, 3), (240001, 4)):
            cfg = Config({"scp_trip_ma": scp_ma})
            scd = dict(drv.data_memory(cfg, 250))[0x9286][0]
            self.assertEqual(scd, code, scp_ma)
            self.assertGreaterEqual(SCD_MV[scd] * 4000, scp_ma)  # mV over 0.25 mOhm
        cfg = Config({"scp_trip_ma": 1000000})
        self.assertEqual(dict(drv.data_memory(cfg, 1000))[0x9286], bytes((15,)))  # its top
        import struct

        gain = struct.unpack("<f", table[0x91A8])[0]
        self.assertAlmostEqual(gain, 7.5684 / 0.25, places=3)
        cap = struct.unpack("<f", table[0x91AC])[0]
        self.assertAlmostEqual(cap / gain, 298261.6178, delta=1.0)


class ConfigureTest(unittest.TestCase):
    def test_configure_writes_verifies_and_switches_to_crc(self):
        _model, chip, afe, _rec = rig()
        self.assertTrue(afe.configured)
        self.assertTrue(afe.crc)
        self.assertTrue(chip.crc)
        self.assertFalse(chip.cfgupdate)
        for address, data in drv.data_memory(Config(), 250):
            i = address - 0x9180
            self.assertEqual(bytes(chip.dm[i : i + len(data)]), data, hex(address))
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)

    def test_the_balance_interval_is_ours_whatever_the_otp_holds(self):
        # a mask not repeated within it ends: the bound on a stop that did not get
        # through (the app repeats a mask every 10 s)
        model = PackModel()
        chip = BQ76952Sim(model, Rng(1))
        chip._dm_put(0x9339, b"\xff")  # an OTP with 255 s
        afe = BQ76952(machine.I2C(0, devices={0x08: chip}), r_sense_uohm=250)
        self.assertTrue(afe.probe() and afe.configure(Config()))
        self.assertEqual(chip.dm_u1(0x9339), 20)

    def test_a_write_that_does_not_take_fails_the_verification(self):
        model = PackModel()
        chip = BQ76952Sim(model, Rng(1))
        real = chip._subcommand

        def drop_ov(sub, payload):
            if sub != 0x9278:
                real(sub, payload)

        chip._subcommand = drop_ov
        afe = BQ76952(machine.I2C(0, devices={0x08: chip}), r_sense_uohm=250)
        self.assertTrue(afe.probe())
        self.assertFalse(afe.configure(Config()))
        self.assertFalse(afe.configured)

    def test_probe_finds_a_chip_already_in_crc_mode(self):
        _m, chip, _afe, _rec = rig()
        fresh = BQ76952(machine.I2C(0, devices={0x08: chip}), r_sense_uohm=250)
        self.assertTrue(fresh.probe())  # the MCU rebooted; the chip kept CRC mode
        self.assertTrue(fresh.crc)

    def test_probe_fails_without_a_chip(self):
        afe = BQ76952(machine.I2C(0))
        self.assertFalse(afe.probe())

    def test_identity(self):
        _m, _c, afe, _r = rig()
        self.assertEqual(afe.device_number(), 0x7695)


class ReadTest(unittest.TestCase):
    def test_read_matches_the_model_within_noise(self):
        model, chip, afe, _rec = rig(soc=70.0, temp=18.0)
        s = Sample()
        self.assertTrue(afe.read(s))
        truth = model.cells_mv()
        for i in range(16):
            self.assertLessEqual(abs(s.cells_mv[i] - truth[i]), 2, i)
        self.assertAlmostEqual(s.stack_mv, sum(truth), delta=10)
        self.assertLessEqual(abs(s.current_ma), 20)  # the idle sensor's noise
        for slot in range(4):
            self.assertAlmostEqual(s.temps_dc[slot], 180, delta=5)
        self.assertEqual(s.temps_dc[4], 180)
        self.assertEqual(s.temps_dc[5], 180)

    def test_current_sign_units_and_gain(self):
        model, chip, afe, _rec = rig()
        model.set_fets(True, True, False)
        model.set_demand(-42.5)
        chip.refresh()
        s = Sample()
        afe.read(s)
        self.assertAlmostEqual(s.current_ma, -42500, delta=20)
        model.set_demand(250.0)  # beyond a 16-bit mA reading: the 10 mA unit covers it
        chip.refresh()
        afe.read(s)
        self.assertAlmostEqual(s.current_ma, 250000, delta=20)

    def test_the_default_gain_would_read_wrong(self):
        model, chip, afe, _rec = rig()
        chip._dm_put(0x91A8, struct.pack("<f", 7.4768))  # the chip's default CC Gain
        model.set_fets(True, True, False)
        model.set_demand(-40.0)
        chip.refresh()
        s = Sample()
        self.assertTrue(afe.read(s))
        self.assertGreater(abs(s.current_ma + 40000), 10000)  # nonsense
        chip._dm_put(0x91A8, struct.pack("<f", 7568.4 / sim_chip.R_SENSE_UOHM))
        chip.refresh()
        afe.read(s)
        self.assertAlmostEqual(s.current_ma, -40000, delta=20)

    def test_signed_fields(self):
        model, chip, afe, _rec = rig()
        chip.cell_override[0] = -120  # an open sense wire can read below zero (TRM: I2)
        chip.refresh()
        s = Sample()
        self.assertTrue(afe.read(s))
        self.assertEqual(s.cells_mv[0], -120)

    def test_corrupted_replies_are_caught_by_crc(self):
        _m, chip, afe, _rec = rig()
        chip.crc_corrupt = True
        s = Sample()
        self.assertFalse(afe.read(s))
        self.assertFalse(s.valid)
        self.assertEqual(afe.crc_errors, 3)

    def test_an_occasional_bad_reply_is_retried(self):
        _m, chip, afe, _rec = rig()
        real = chip.i2c_read
        calls = [0]

        def flaky(reg, buf):
            real(reg, buf)
            calls[0] += 1
            if calls[0] % 3 == 1:
                buf[0] ^= 0x01

        chip.i2c_read = flaky
        s = Sample()
        self.assertTrue(afe.read(s))
        self.assertGreater(afe.crc_errors, 0)

    def test_lost_chip_marks_reading_invalid(self):
        _m, chip, afe, _rec = rig()
        chip.lost = True
        s = Sample()
        s.valid = True
        before = afe.errors
        self.assertFalse(afe.read(s))
        self.assertFalse(s.valid)
        self.assertEqual(afe.errors - before, 3)  # one try and two retries

    def test_short_circuit_flag(self):
        model, chip, afe, _rec = rig()
        self.attach(chip, 0, 0)
        model.short = True
        chip.sync_faults()
        chip.refresh()
        s = Sample()
        afe.read(s)
        self.assertTrue(afe.scd)
        self.assertEqual(model.fet_states()[:2], (False, False))

    def attach(self, chip, cfet, dfet):
        c = machine.Pin("C", machine.Pin.OUT, value=cfet)
        d = machine.Pin("D", machine.Pin.OUT, value=dfet)
        chip.attach_fet_pins(c, d)
        return c, d


class FetTest(unittest.TestCase):
    def test_pins_decide_once_the_chip_controls_its_fets(self):
        model, chip, afe, _rec = rig()
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)  # FET_EN
        self.assertEqual(chip.fet_control, 0x0A)  # only the pre-charge drivers held off
        c, d = ReadTest.attach(None, chip, 1, 1)
        self.assertEqual(model.fet_states()[:2], (False, False))
        c(0)
        self.assertEqual(model.fet_states()[:2], (True, False))
        d(0)
        self.assertEqual(model.fet_states()[:2], (True, True))
        self.assertEqual(afe.read_fet_status() & 0x05, 0x05)

    def test_i2c_can_still_force_them_off(self):
        model, chip, afe, _rec = rig()
        ReadTest.attach(None, chip, 0, 0)
        afe.set_fets(False, True)
        self.assertEqual(model.fet_states()[:2], (False, True))
        afe.all_fets_off()
        self.assertEqual(model.fet_states()[:2], (False, False))

    def test_enabling_twice_does_not_toggle_fet_en_back_off(self):
        _m, chip, afe, _r = rig()
        afe.enable_fet_control()
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)

    def test_fet_enable_is_read_back_not_assumed(self):
        # the chip takes FET_ENABLE but the master sees the write fail: the driver's
        # resend toggles FET_EN back off, and the FETs stayed open with readings good
        model, chip, afe, rec = rig()
        ReadTest.attach(None, chip, 0, 0)
        chip.manufacturing_status &= ~0x10  # (a chip reset to FET_EN clear)
        write = rec.i2c_write
        lost = [1]

        def lost_ack(reg, data):
            write(reg, data)  # the chip takes it...
            if reg == 0x3E and data[0] == 0x22 and lost:
                lost.pop()
                raise OSError(110)  # ...and the master sees ETIMEDOUT

        rec.i2c_write = lost_ack
        self.assertTrue(afe.enable_fet_control())
        self.assertEqual(chip.manufacturing_status & 0x10, 0x10)
        self.assertEqual(model.fet_states()[:2], (True, True))
        self.assertEqual(afe.errors, 1)

    def test_fet_enable_that_never_takes_fails(self):
        _m, chip, afe, rec = rig()
        chip.manufacturing_status &= ~0x10
        write = rec.i2c_write
        toggles = []

        def ignored(reg, data):
            if reg == 0x3E and data[0] == 0x22:
                toggles.append(1)  # the chip does nothing with it
            else:
                write(reg, data)

        rec.i2c_write = ignored
        self.assertFalse(afe.enable_fet_control())
        self.assertEqual(len(toggles), 2)

    def test_config_update_drops_the_fets(self):
        model, chip, afe, _r = rig()
        ReadTest.attach(None, chip, 0, 0)
        self.assertEqual(model.fet_states()[:2], (True, True))
        afe.subcommand(drv.SUB_SET_CFGUPDATE)
        self.assertEqual(model.fet_states()[:2], (False, False))
        afe.subcommand(drv.SUB_EXIT_CFGUPDATE)
        self.assertEqual(model.fet_states()[:2], (True, True))


class OwnProtectionTest(unittest.TestCase):
    def test_the_chip_opens_the_charge_fet_on_its_own_cov(self):
        model, chip, afe, _r = rig()
        ReadTest.attach(None, chip, 0, 0)
        chip.cell_override[4] = 3650  # above its COV (3643 mV), beyond the firmware's 3600
        for _ in range(20):  # 2 s
            chip.refresh()
        self.assertEqual(model.fet_states()[:2], (True, True))
        chip.refresh()
        self.assertEqual(model.fet_states()[:2], (False, True))
        s = Sample()
        afe.read(s)
        self.assertEqual(afe.safety_a & bq76952_consts.SAFETY_A_COV, bq76952_consts.SAFETY_A_COV)
        chip.cell_override[4] = None
        chip.refresh()
        self.assertEqual(model.fet_states()[:2], (True, True))

    def test_the_chip_opens_the_discharge_fet_on_its_own_cuv(self):
        model, chip, _afe, _r = rig()
        ReadTest.attach(None, chip, 0, 0)
        chip.cell_override[9] = 2480  # its CUV is 49 * 50.6 = 2479 mV: not yet
        for _ in range(30):
            chip.refresh()
        self.assertEqual(model.fet_states()[:2], (True, True))
        chip.cell_override[9] = 2479
        for _ in range(21):  # held 2 s
            chip.refresh()
        self.assertEqual(model.fet_states()[:2], (True, False))

    def test_the_chip_opens_the_discharge_fet_on_its_own_over_current(self):
        model, chip, _afe, _r = rig()
        ReadTest.attach(None, chip, 0, 0)
        model.set_demand(-260.0)  # beyond its OCD1 (240 A, 426 ms)
        for _ in range(5):  # 0 .. 400 ms held
            chip.refresh()
        self.assertEqual(model.fet_states()[:2], (True, True))
        chip.refresh()  # 500 ms
        self.assertEqual(model.fet_states()[:2], (True, False))

    def test_its_short_circuit_step_is_at_or_above_the_setting(self):
        # scp_trip_ma 230 A: the step below (160 A) cut DOCP's 120-200 A range
        for amps, cut in ((235.0, False), (245.0, True)):
            model, chip, afe, _r = rig(config={"scp_trip_ma": 230000})
            ReadTest.attach(None, chip, 0, 0)
            model.set_demand(-amps)
            chip.refresh()
            self.assertEqual(model.fet_states()[1], not cut, amps)
            afe.read(Sample())
            self.assertEqual(afe.scd, cut, amps)


class BalancingTest(unittest.TestCase):
    def test_bleeds_the_commanded_cells(self):
        model, chip, afe, _r = rig(soc=95)
        self.assertTrue(afe.set_balancing(0b0000_0000_0100_0101))
        self.assertEqual(chip.cb_mask, 0b101 | 1 << 6)
        self.assertGreater(model.bleed_a[0], 0.05)
        self.assertEqual(model.bleed_a[1], 0.0)

    def test_refuses_neighbours_and_too_many(self):
        model, chip, afe, _r = rig()
        afe.set_balancing(0b11)
        self.assertEqual(chip.cb_mask, 0)
        afe.set_balancing(0x5555)  # 8 cells: our configured maximum
        self.assertEqual(chip.cb_mask, 0x5555)
        self.assertEqual(sum(1 for a in model.bleed_a if a), 8)

    def test_stops_by_itself_unless_repeated(self):
        model, chip, afe, _r = rig()
        afe.set_balancing(0b100)
        for _ in range(190):
            model.advance(model.t_ms + 100)
            chip.refresh()
        self.assertTrue(model.bleed_a[2])
        afe.set_balancing(0b100)  # re-issued before the 20 s interval ends
        for _ in range(190):
            model.advance(model.t_ms + 100)
            chip.refresh()
        self.assertTrue(model.bleed_a[2])
        for _ in range(20):
            model.advance(model.t_ms + 100)
            chip.refresh()
        self.assertFalse(model.bleed_a[2])


class CrcModeHeldTest(unittest.TestCase):
    """The CRC mode is a fact the driver keeps: no error path drops it (issue 10)."""

    def test_a_noisy_bus_never_takes_the_driver_out_of_crc_mode(self):
        model, chip, afe, _rec = rig(soc=60.0)
        chip.crc_corrupt = True
        s = Sample()
        for _ in range(5):
            self.assertFalse(afe.read(s))
            self.assertFalse(afe.probe())  # the re-probe of the app's housekeeping
            self.assertTrue(afe.crc)
            self.assertTrue(afe.configured)  # the chip was not reset: it keeps our setup
        self.assertFalse(s.valid)
        chip.crc_corrupt = False
        chip.refresh()
        self.assertTrue(afe.probe())
        self.assertTrue(afe.read(s))
        truth = model.cells_mv()
        for i in range(16):
            self.assertLessEqual(abs(s.cells_mv[i] - truth[i]), 2, i)

    def test_a_chip_answering_without_crc_is_not_taken_unless_it_was_reset(self):
        _m, chip, afe, _rec = rig()
        chip.crc = False  # no CRC, yet no POR: not a reset, so not believed
        self.assertFalse(afe.probe())
        self.assertTrue(afe.crc)
        self.assertFalse(afe.read(Sample()))

    def test_a_reset_chip_is_found_without_crc_and_configured_again(self):
        _m, chip, afe, _rec = rig()
        chip.power_on_reset()  # a brown-out of the front end: defaults, no CRC, POR
        chip.refresh()
        s = Sample()
        self.assertFalse(afe.read(s))  # its replies carry no CRC
        self.assertTrue(afe.probe())
        self.assertFalse(afe.crc)
        self.assertFalse(afe.configured)
        self.assertFalse(afe.read(s))  # nothing is read from it before configure()
        self.assertTrue(afe.configure(Config()))
        self.assertTrue(afe.crc and chip.crc and not chip.por)
        chip.refresh()
        self.assertTrue(afe.read(s))

    def test_a_chip_reset_into_crc_mode_is_seen_by_its_por_flag(self):
        _m, chip, afe, _rec = rig()
        chip.otp_crc = True  # its OTP holds CRC mode: the CRC checks still pass
        chip.power_on_reset()
        chip.refresh()
        s = Sample()
        self.assertFalse(afe.read(s))  # POR: its data memory is the default one
        self.assertFalse(afe.configured)
        self.assertEqual(afe.resets, 1)
        self.assertTrue(afe.probe())
        self.assertFalse(afe.configured)
        self.assertTrue(afe.configure(Config()))
        chip.refresh()
        self.assertTrue(afe.read(s))

    def test_config_update_started_elsewhere_invalidates_the_readings(self):
        _m, chip, afe, _rec = rig()
        chip._subcommand(drv.SUB_SET_CFGUPDATE, None)
        self.assertFalse(afe.read(Sample()))
        self.assertFalse(afe.configured)

    def test_a_mode_swap_that_did_not_take_is_found_again(self):
        model = PackModel()
        chip = BQ76952Sim(model, Rng(1))
        real = chip._subcommand

        def no_swap(sub, payload):
            if sub != drv.SUB_SWAP_COMM_MODE:
                real(sub, payload)

        chip._subcommand = no_swap
        afe = BQ76952(machine.I2C(0, devices={0x08: chip}), r_sense_uohm=250)
        self.assertTrue(afe.probe())
        self.assertFalse(afe.configure(Config()))  # no answer in CRC mode
        self.assertTrue(afe.crc)
        # it never answered in CRC mode, so its plain answer is believed (POR is clear)
        self.assertTrue(afe.probe())
        self.assertFalse(afe.crc)
        self.assertFalse(afe.configured)


class SleepTest(unittest.TestCase):
    """SLEEP measures only every few seconds at rest: readings that would pass every
    check while stale. configure() disables it; a chip that allows it again is not ours."""

    def test_configure_disables_sleep(self):
        model = PackModel()
        chip = BQ76952Sim(model, Rng(1))
        self.assertTrue(chip.sleep_en)  # the chip's default (Power Config[SLEEP])
        _m, chip, afe, rec = rig()
        self.assertFalse(chip.sleep_en)
        self.assertIn((0x3E, b"\x9a\x00"), rec.writes())  # SLEEP_DISABLE (before CRC mode)
        self.assertTrue(afe.read(Sample()))

    def test_a_chip_that_may_sleep_again_gives_no_reading(self):
        _m, chip, afe, _rec = rig()
        chip._subcommand(0x0099, None)  # SLEEP_ENABLE, not from us
        chip.refresh()
        self.assertFalse(afe.read(Sample()))
        self.assertFalse(afe.configured)
        self.assertTrue(afe.probe() and afe.configure(Config()))
        self.assertFalse(chip.sleep_en)
        self.assertTrue(afe.read(Sample()))

    def test_configure_fails_when_sleep_stays_enabled(self):
        model = PackModel()
        chip = BQ76952Sim(model, Rng(1))
        real = chip._subcommand

        def no_disable(sub, payload):
            if sub != drv.SUB_SLEEP_DISABLE:
                real(sub, payload)

        chip._subcommand = no_disable
        afe = BQ76952(machine.I2C(0, devices={0x08: chip}), r_sense_uohm=250)
        self.assertTrue(afe.probe())
        self.assertFalse(afe.configure(Config()))
        self.assertFalse(afe.read(Sample()))


class CreepingTemperatureTest(unittest.TestCase):
    """The refresh skips the temperature readings while the model's temperatures creep by
    less than any reading's distance to its 0.1 C step: the readings must be exactly
    those a full computation gives, on both sides of every step crossed."""

    def expected(self, model):
        zones = model.zone_temps_c()
        temps = (zones[0], zones[1], zones[2], zones[3], model.ambient_c, model.t_mos_c)
        return [int(t * 10 + 0.5) for t in temps]

    def test_readings_follow_tiny_steps_across_the_rounding_steps(self):
        model, chip, _afe, _rec = rig()
        chip.refresh()
        crossed = 0
        before = list(chip.temps_dc)
        # cells from 25.00 C up by 0.37 mC a step: every zone and the MOS cross several
        # 0.1 C steps, most refreshes inside a step, some right after one
        for k in range(1200):
            model.t_cells_c = 25.0 + 0.00037 * k
            model.t_mos_c = 25.0 + 0.00041 * k
            chip.refresh()
            self.assertEqual(chip.temps_dc, self.expected(model), k)
            if chip.temps_dc != before:
                crossed += 1
                before = list(chip.temps_dc)
        self.assertTrue(crossed >= 4, crossed)

    def test_an_override_or_a_new_ambient_is_read_at_once(self):
        model, chip, _afe, _rec = rig()
        chip.refresh()
        model.t_cells_c += 1e-7  # within the slack
        chip.temp_override[0] = 400
        chip.refresh()
        self.assertEqual(chip.temps_dc[0], 400)
        chip.temp_override[0] = None
        model.ambient_c = 30.0
        model.t_cells_c += 1e-7
        chip.refresh()
        self.assertEqual(chip.temps_dc, self.expected(model))
        self.assertEqual(chip.temps_dc[4], 300)
