"""The master's relay (service/can_link.py): RS485 port 1's requests for the other packs
go out on CAN and their replies come back out of port 1; the master's unlock relayed to
the slaves (UNLOCK_RELAY), refused without it and by a master; four packs in the
simulator."""

import unittest

from bmsctl_client import Client, ServiceError, SimCanTransport, SimTransport
from service import frame as fr
from support import logged, make_sim, press_unlock

from bms import events as ev


class RelayTest(unittest.TestCase):
    def setUp(self):
        self.sim = make_sim(inverter="none", packs=4)
        self.sim.run(5000)
        self.c = Client(SimTransport(self.sim))
        self.master = self.sim.packs[0].app

    def test_every_pack_through_the_master(self):
        for a in (1, 2, 3, 4):
            self.assertEqual(self.c.version(a)["address"], a)
        cells = self.c.cells(3)["cells_mv"]
        self.assertEqual(len(cells), 16)
        with self.assertRaises(ServiceError):
            Client(self.c.t, timeout_s=0.3, retries=0).cells(7)  # nobody there
        self.c.cells(2)  # (a request without its reply is counted at the next relayed)
        sc = self.c.counters(1)["service_can"]
        self.assertEqual((sc["relayed"], sc["relay_lost"], sc["relay_broken"]), (5, 1, 0))
        # the slaves answered over CAN: the master's server saw none of it
        self.assertEqual(self.c.counters(1)["service"]["not_ours"], 0)

    def test_unlock_relayed_only_from_an_unlocked_master(self):
        with self.assertRaises(ServiceError) as e:
            self.c.unlock_relay(2)
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)
        slave = self.sim.packs[1].app
        self.assertFalse(slave.bms.unlocked)
        press_unlock(self.sim, self.sim.packs[0])
        for a in (2, 3, 4):
            self.c.unlock_relay(a)
        for pack in self.sim.packs:
            self.assertTrue(pack.app.bms.unlocked)
        self.assertEqual(logged(slave.events, ev.RESET, 4)[-1][4], -1)  # relayed
        # it ends with the master's (what was left of it when relayed; each pack's
        # clock started when it was powered, a few ms apart)
        self.assertLess(abs(slave.bms.unlock_at - self.master.bms.unlock_at), 20)
        # LOCK to every pack: done by the master and relayed (no reply)
        self.c.t.write(fr.encode(fr.ALL, fr.LOCK))
        self.sim.run(self.sim.t_ms + 500)
        self.assertEqual([p.app.bms.unlocked for p in self.sim.packs], [False] * 4)

    def test_refused_by_a_master_and_malformed(self):
        direct = Client(SimCanTransport(self.sim))
        left = b"\x00\x00\x27\x10"  # 10 s
        with self.assertRaises(ServiceError) as e:
            direct.request(1, fr.UNLOCK_RELAY, left)  # the master, on CAN: at the pack only
        self.assertIn("a master is unlocked at the pack only", str(e.exception))
        for bad in (b"", b"\x00\x00\x00\x00", b"\x00\x09\x27\xc1", b"\x00\x00\x27"):
            with self.assertRaises(ServiceError) as e:
                direct.request(2, fr.UNLOCK_RELAY, bad)
            self.assertEqual(e.exception.status, fr.ERR_FORMAT, bad)
        direct.request(2, fr.UNLOCK_RELAY, b"\x00\x09\x27\xc0")  # 600 000 ms: the most
        self.assertTrue(self.sim.packs[1].app.bms.unlocked)


if __name__ == "__main__":
    unittest.main()
