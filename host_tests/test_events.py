"""The event log ring buffer: sequence numbers, overwrite, no gaps hidden."""

import unittest

import fwconst

from bms import events as ev

events_consts = fwconst.of("bms.events")


class EventLogTest(unittest.TestCase):
    def test_records_in_order_with_sequence(self):
        log = ev.EventLog()
        log.log(100, ev.TRIP, 1, 3650, 4)
        log.log(200, ev.RELEASE, 1, 3390, 0)
        self.assertEqual(log.get(0), (0, 100, ev.TRIP, 1, 3650, 4))
        self.assertEqual(log.get(1), (1, 200, ev.RELEASE, 1, 3390, 0))
        self.assertIsNone(log.get(2))

    def test_at_least_256_entries(self):
        self.assertGreaterEqual(events_consts.SIZE, 256)

    def test_ring_overwrites_oldest(self):
        log = ev.EventLog(8)
        for i in range(20):
            log.log(i, ev.MODE, i)
        self.assertEqual(log.oldest_seq(), 12)
        self.assertIsNone(log.get(11))
        self.assertEqual(log.get(12)[3], 12)
        self.assertEqual(log.get(19)[3], 19)

    def test_every_code_has_a_name(self):
        for name in dir(ev):
            value = getattr(ev, name)
            # COMM_*, CONFIG_*: values of COMM's and CONFIG's `what`, not codes
            what = name[:5] == "COMM_" or name[:7] == "CONFIG_"
            if name.isupper() and name[0] != "_" and name != "NAMES" and not what:
                self.assertEqual(ev.NAMES[value], name)
