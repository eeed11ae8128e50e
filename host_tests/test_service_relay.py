"""The master's relay (service/can_link.py): RS485 port 1's requests for the other packs
go out on CAN and their replies come back out of port 1; the master's unlock relayed to
the slaves (UNLOCK_RELAY), taken by a slave only while the master's unlock holds as the
chain's beacons on its Link IN carry it (never the pack link's TEMPS_2 on CAN), whoever
sends the request, and refused by a master; four packs in the simulator."""

import unittest

import fwconst
from bmsctl_client import Client, ServiceError, SimCanTransport, SimTransport
from service import frame as fr
from support import logged, make_sim, press_unlock

from bms import events as ev
from bms import ticks
from protocols import packlink_can as pl

UNLOCK_HEARD_MS = fwconst.of("packlink").UNLOCK_HEARD_MS

LEFT_10_S = b"\x00\x00\x27\x10"  # UNLOCK_RELAY's payload: 10 000 ms
LEFT_600_S = b"\x00\x09\x27\xc0"  # 600 000 ms: the most


def end(b):
    """When the core b's unlock runs out (its clock)."""
    return ticks.add(b.unlock_at, b.cfg.unlock_valid_ms)


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
        self.sim.run(self.sim.t_ms + 1100)  # the master's next TEMPS_2 announces it
        for a in (2, 3, 4):
            self.c.unlock_relay(a, tries=1)
        for pack in self.sim.packs:
            self.assertTrue(pack.app.bms.unlocked)
        self.assertEqual(logged(slave.events, ev.RESET, 4)[-1][4], -1)  # relayed
        # it ends no later than the master's (announced in 0.1 s, rounded down, heard
        # up to a second ago; each pack's clock started when it was powered, a few ms
        # apart)
        early = ticks.diff(end(self.master.bms), end(slave.bms))
        self.assertTrue(-20 < early < 120, early)
        # LOCK to every pack: done by the master and relayed (no reply)
        self.c.t.write(fr.encode(fr.ALL, fr.LOCK))
        self.sim.run(self.sim.t_ms + 500)
        self.assertEqual([p.app.bms.unlocked for p in self.sim.packs], [False] * 4)

    def test_refused_by_a_master_and_malformed(self):
        direct = Client(SimCanTransport(self.sim))
        with self.assertRaises(ServiceError) as e:
            direct.request(1, fr.UNLOCK_RELAY, LEFT_10_S)  # the master, on CAN: at the pack only
        self.assertIn("a master is unlocked at the pack only", str(e.exception))
        for bad in (b"\x00\x00\x00\x00", b"\x00\x09\x27\xc1", b"\x00\x00\x27", b"\x00" * 5):
            with self.assertRaises(ServiceError) as e:
                direct.request(2, fr.UNLOCK_RELAY, bad)
            self.assertEqual(e.exception.status, fr.ERR_FORMAT, bad)
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        direct.request(2, fr.UNLOCK_RELAY, LEFT_600_S)  # (no more than the master's)
        self.assertTrue(self.sim.packs[1].app.bms.unlocked)

    def test_a_forged_request_on_can_while_the_master_is_locked(self):
        """The old bypass: anyone on CAN sending UNLOCK_RELAY to a slave directly."""
        direct = Client(SimCanTransport(self.sim))
        slave = self.sim.packs[1].app
        for payload in (b"", LEFT_10_S, LEFT_600_S):
            with self.assertRaises(ServiceError) as e:
                direct.request(2, fr.UNLOCK_RELAY, payload)
            self.assertEqual(e.exception.status, fr.ERR_LOCKED)
            self.assertIn("the master is not unlocked", str(e.exception))
        self.assertFalse(slave.bms.unlocked)
        self.assertEqual(direct.counters(2)["service"]["refused"], 3)
        with self.assertRaises(ServiceError) as e:
            direct.request(2, fr.SET_CLOCK, b"\x00\x00\x00\x01")
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)

    def test_taken_on_can_while_the_master_is_unlocked(self):
        direct = Client(SimCanTransport(self.sim))
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        direct.request(3, fr.UNLOCK_RELAY)  # (bmsctl on CAN: no payload)
        slave = self.sim.packs[2].app
        self.assertTrue(slave.bms.unlocked)
        early = ticks.diff(end(self.master.bms), end(slave.bms))
        self.assertTrue(-20 < early < 120, early)
        direct.request(4, fr.UNLOCK_RELAY, LEFT_10_S)  # less than the master's: 10 s
        other = self.sim.packs[3].app
        self.sim.run(self.sim.t_ms + 9800)
        self.assertTrue(other.bms.unlock_valid(self.sim.packs[3].ticks.ticks_ms()))
        self.sim.run(self.sim.t_ms + 400)
        self.assertFalse(other.bms.unlock_valid(self.sim.packs[3].ticks.ticks_ms()))

    def test_the_announcement_heard_too_long_ago(self):
        """Both sides of UNLOCK_HEARD_MS and of the master's time left, at the slave's
        server (its own clock)."""
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        slave = self.sim.packs[1].app
        pk = slave.packlink
        heard = pk._unlock_heard
        left = pk._unlock_ms
        self.assertTrue(590000 < left <= 600000, left)
        self.assertEqual(pk.master_unlock_left(heard), left)
        self.assertEqual(pk.master_unlock_left(heard + UNLOCK_HEARD_MS - 1), left - 2499)
        self.assertEqual(pk.master_unlock_left(heard + UNLOCK_HEARD_MS), 0)
        svc = slave.link.server_for_service()
        req = fr.encode(2, fr.UNLOCK_RELAY)
        n = svc.handle(bytearray(req), len(req), heard + UNLOCK_HEARD_MS, 2)
        self.assertEqual(svc.out[fr.HEAD], fr.ERR_LOCKED, bytes(svc.out[:n]))
        self.assertFalse(slave.bms.unlocked)
        n = svc.handle(bytearray(req), len(req), heard + UNLOCK_HEARD_MS - 1, 2)
        self.assertEqual(svc.out[fr.HEAD], fr.OK)
        self.assertEqual(end(slave.bms), heard + left)  # what the master had left
        # the master's time left, as announced: both sides of its end
        pk._unlock_ms = 2000
        self.assertEqual(pk.master_unlock_left(heard + 1999), 1)
        self.assertEqual(pk.master_unlock_left(heard + 2000), 0)

    def test_the_slaves_unlock_ends_when_the_masters_does(self):
        press_unlock(self.sim, self.sim.packs[0])
        press_unlock(self.sim, self.sim.packs[3])  # pack 4's own, at the pack
        self.sim.run(self.sim.t_ms + 1100)
        for a in (2, 3):
            self.c.unlock_relay(a, tries=1)
        self.c.lock(1)
        self.assertFalse(self.master.bms.unlocked)
        self.sim.run(self.sim.t_ms + 1100)  # the master's next TEMPS_2 says locked
        self.assertEqual([p.app.bms.unlocked for p in self.sim.packs], [False] * 3 + [True])

    def test_a_slaves_own_unlock_after_a_relayed_one_stays(self):
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        self.c.unlock_relay(2, tries=1)
        slave = self.sim.packs[1].app
        self.assertIsNotNone(slave.packlink.relay_at)
        press_unlock(self.sim, self.sim.packs[1])  # at the slave: its own, 10 minutes
        self.c.lock(1)
        self.sim.run(self.sim.t_ms + 3000)  # the master's announcements say locked
        self.assertTrue(slave.bms.unlocked)
        self.assertIsNone(slave.packlink.relay_at)

    def test_the_slaves_unlock_ends_when_the_announcement_stops(self):
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        self.c.unlock_relay(2, tries=1)
        slave = self.sim.packs[1].app
        heard = slave.packlink._unlock_heard
        self.sim.packs[0].power_off()
        self.assertTrue(slave.bms.unlocked)
        while slave.bms.unlocked:
            self.sim.run(self.sim.t_ms + 10)
        gone = ticks.diff(
            self.sim.packs[1].ticks.ticks_ms(), heard
        )  # (checked on the link's beat, 100 ms)
        self.assertTrue(UNLOCK_HEARD_MS <= gone <= UNLOCK_HEARD_MS + 110, gone)

    def test_a_forged_announcement_on_can_unlocks_no_slave(self):
        """Audit: anything on the shared CAN bus sent the master's TEMPS_2 with an unlock
        (bytes 4-5), then UNLOCK_RELAY, SET_CONFIG, RESTART: nobody at any pack. A slave
        takes the master's unlock from its Link IN's beacons only."""
        t = SimCanTransport(self.sim)
        direct = Client(t)
        slave = self.sim.packs[1].app
        forged = bytes([0, 0, 0, 0, 0x70, 0x17, 0, 0])  # 600 s
        for wait in (20, 150, 1100):
            t.port.send(pl.can_id(pl.TEMPS_2, 1), forged)
            self.sim.run(self.sim.t_ms + wait)
            with self.assertRaises(ServiceError) as e:
                direct.request(2, fr.UNLOCK_RELAY)
            self.assertEqual(e.exception.status, fr.ERR_LOCKED)
            self.assertIn("the master is not unlocked", str(e.exception))
        self.assertFalse(slave.bms.unlocked)
        with self.assertRaises(ServiceError) as e:
            direct.request(2, fr.SET_CONFIG, bytes([6]) + b"dcl_ma" + bytes(4))
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)

    def test_the_unlock_comes_down_the_chain_only(self):
        # pack 3's Link IN cut (its cable out): the master's unlock, announced on CAN as
        # well, reaches pack 2 and neither pack 3 nor pack 4 behind it
        wire = self.sim.chain[1]  # pack 2's Link OUT, pack 3's Link IN
        wire.ports.remove(wire.ports[1])
        self.sim.run(self.sim.t_ms + UNLOCK_HEARD_MS)
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        direct = Client(SimCanTransport(self.sim))
        direct.request(2, fr.UNLOCK_RELAY)
        self.assertTrue(self.sim.packs[1].app.bms.unlocked)
        for a in (3, 4):
            with self.assertRaises(ServiceError) as e:
                direct.request(a, fr.UNLOCK_RELAY)
            self.assertIn("the master is not unlocked", str(e.exception))
            self.assertFalse(self.sim.packs[a - 1].app.bms.unlocked)

    def test_a_relayed_unlock_outlasts_a_pack_upstream_restarting(self):
        # `bmsctl --all` restarts the slaves one after the other: the word of the
        # master's unlock stops behind the one restarting (the chain runs through it),
        # the master's frames do not; a lock at the master still ends every relayed one
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        for a in (3, 4):
            self.c.unlock_relay(a, tries=1)
        self.sim.packs[1].power_off()
        self.sim.run(self.sim.t_ms + 2 * UNLOCK_HEARD_MS)
        self.sim.packs[1].power_on()
        self.sim.run(self.sim.t_ms + 2000)
        self.assertEqual([p.app.bms.unlocked for p in self.sim.packs], [True, False, True, True])
        self.c.lock(1)
        self.sim.run(self.sim.t_ms + 1100)
        self.assertEqual([p.app.bms.unlocked for p in self.sim.packs], [False] * 4)

    def test_an_announcement_heard_days_ago_unlocks_nothing(self):
        """Audit: past 6.2 days after the last announcement its age read negative (a tick
        difference), and what was left of it read as hundreds of thousands of seconds,
        even after one that said locked: an UNLOCK_RELAY then unlocked the slave."""
        slave = self.sim.packs[1].app
        pk = slave.packlink
        svc = slave.link.server_for_service()
        req = fr.encode(2, fr.UNLOCK_RELAY)
        for unlocked in (True, False):
            if unlocked:
                press_unlock(self.sim, self.sim.packs[0])
            else:
                self.c.lock(1)
            self.sim.run(self.sim.t_ms + 1100)
            heard = pk._unlock_heard
            self.assertEqual(pk.master_unlock_left(heard) > 0, unlocked)
            for days_ms in (1 << 29, (1 << 29) + 1, 9 * 86400000, (1 << 30) - UNLOCK_HEARD_MS):
                later = ticks.add(heard, days_ms)
                self.assertEqual(pk.master_unlock_left(later), 0, (unlocked, days_ms))
                n = svc.handle(bytearray(req), len(req), later, 2)
                self.assertEqual(svc.out[fr.HEAD], fr.ERR_LOCKED, bytes(svc.out[:n]))
            self.assertFalse(slave.bms.unlocked)

    def test_a_word_of_the_unlock_heard_long_ago_is_no_word(self):
        # the chain's last word, left as it was, read as fresh again 12.4 days on (the
        # ticks' whole period): the slave took a forged UNLOCK_RELAY for 2.5 s
        slave = self.sim.packs[1].app
        pk = slave.packlink
        press_unlock(self.sim, self.sim.packs[0])
        self.sim.run(self.sim.t_ms + 1100)
        heard = pk._unlock_heard
        self.assertGreater(pk.master_unlock_left(heard), 0)
        self.sim.packs[0].power_off()  # the word stops
        self.sim.run(self.sim.t_ms + UNLOCK_HEARD_MS + 500)
        self.assertIsNone(pk._unlock_heard)
        self.assertEqual(pk.master_unlock_left(ticks.add(heard, (1 << 30) + 100)), 0)


if __name__ == "__main__":
    unittest.main()
