"""tools/sim_split.py: the profile's parts add up to the whole and the timers come off."""

import unittest

import sim_split

from app import App
from boards.host import machine
from boards.host.world.bus.canbus import CanBus


class SplitTest(unittest.TestCase):
    def test_parts_add_up_and_the_classes_are_left_as_found(self):
        before = (App.poll, machine.Pin.value, machine.SPI.write_readinto, CanBus.run_until)
        opts = sim_split.parse(["--duration", "5", "--inverter", "can"])
        parts, ticks, per_tick = sim_split.measure(opts)
        after = (App.poll, machine.Pin.value, machine.SPI.write_readinto, CanBus.run_until)
        self.assertEqual(after, before)
        self.assertEqual(ticks, 51)  # 0 ms to 5000 ms, a tick each 100 ms
        names = [k for k, _v in parts]
        self.assertEqual(names[0], "firmware (its own work)")
        self.assertEqual(len(names), 8)
        total = 0
        for _k, v in parts:
            total += v
        # (the timers' cost taken off is measured, so a busy machine can make a part
        # small or even below 0: the sum still holds)
        self.assertTrue(abs(total - per_tick) < 0.01 * abs(per_tick) + 0.1, (total, per_tick))

    def test_bad_options_print_the_usage(self):
        with self.assertRaises(SystemExit):
            sim_split.parse(["--packs", "2"])
        with self.assertRaises(SystemExit):
            sim_split.parse(["--duration"])


if __name__ == "__main__":
    unittest.main()
