"""A service restart told to the inverter first (service/restart.py): for NOTICE_MS the
frames ask for no current (CCL, DCL 0, the enable bits off) while the pack protects on,
then the FETs off, the state saved, the restart. Frame bytes on the simulated bus; a
slave's pack-link LIMITS the same way."""

import unittest

from bmsctl_client import Client, ServiceError, SimTransport
from service import frame as fr
from service.restart import NOTICE_MS
from support import make_sim, press_unlock, unlocked_sim

from bms import ticks
from bms.protect import PENDING, TRIPPED
from boards.host.world.bus.can_port import CanPort


def relayed_pair():
    """Two packs 5 s after power-on, the master unlocked by hand and its unlock relayed
    to the slave; returns (sim, a client on the master's port)."""
    sim = make_sim(inverter="none", packs=2)
    sim.run(5000)
    press_unlock(sim, sim.packs[0])
    c = Client(SimTransport(sim))
    c.unlock_relay(2)
    return sim, c


class RestartNoticeTest(unittest.TestCase):
    def test_the_inverter_told_before_the_restart(self):
        sim, pack = unlocked_sim(inverter="can")
        tap = sim.bus.attach(CanPort())
        sim.run(sim.t_ms + 1000)
        got = tap.take()
        lim = [f[3] for f in got if f[0] == 0x351][-1]
        self.assertGreater(lim[2] | lim[3] << 8, 0)  # CCL before
        self.assertGreater(lim[4] | lim[5] << 8, 0)  # DCL
        self.assertEqual([f[3] for f in got if f[0] == 0x35C][-1][0] & 0xC0, 0xC0)
        # Victron's modules: 1 ok, none blocking charge
        self.assertEqual(bytes([f[3] for f in got if f[0] == 0x372][-1][:4]), b"\x01\0\0\0")
        app = pack.app
        boots = app.state["boots"]
        Client(SimTransport(sim)).restart(1)
        asked = sim.t_ms
        n = app.link.notice
        self.assertIsNotNone(n)
        start = n.until - NOTICE_MS
        tap.take()
        sim.run(start + NOTICE_MS - 100)  # (ticks of the pack: its clock is the sim's)
        self.assertIs(pack.app, app)  # still running, protecting
        self.assertTrue(app.bms.chg and app.bms.dsg)  # the FETs as the core has them
        got = tap.take()
        lims = [f[3] for f in got if f[0] == 0x351]
        reqs = [f[3] for f in got if f[0] == 0x35C]
        self.assertGreaterEqual(len(lims), 2)  # one a second: the inverter hears it
        own_cvl = app.bms.limits.cvl_mv // 100
        for f in lims:
            self.assertEqual(bytes(f[2:6]), b"\x00\x00\x00\x00")  # CCL 0, DCL 0
            # CVL down to the pack's voltage (0.1 V), as the limits stop a charge
            self.assertEqual(f[0] | f[1] << 8, (app.sample.stack_mv + 50) // 100)
            self.assertLess(f[0] | f[1] << 8, own_cvl)
        for f in reqs:
            self.assertEqual(f[0], 0)  # charge, discharge enable, force, full: all off
        mods = [f[3] for f in got if f[0] == 0x372]
        self.assertGreaterEqual(len(mods), 2)
        for f in mods:  # the module shown blocking both, as the limits say
            self.assertEqual(bytes(f[:6]), b"\x01\0\x01\0\x01\0")
        self.assertLess(start - asked, 300)  # from the reply on
        sim.run(start + NOTICE_MS + 200)
        self.assertIsNot(pack.app, app)
        self.assertEqual(pack.app.state["boots"], boots + 1)
        self.assertFalse(app.fets.chg or app.fets.dsg)  # off across the restart

    def test_a_slave_leaves_the_system_first(self):
        sim, c = relayed_pair()
        tap = sim.bus.attach(CanPort())
        c.restart(2)
        sim.run(sim.t_ms + 2000)
        lims = [f[3] for f in tap.take() if f[0] == 0x1BA00302]  # LIMITS from pack 2
        self.assertGreaterEqual(len(lims), 1)
        for f in lims:
            self.assertEqual(bytes(f[2:6]), b"\x00\x00\x00\x00")
            self.assertEqual(f[7] & 0x18, 0)  # F_CHG_OK, F_DSG_OK off
        self.assertEqual(sim.packs[0].app.link.notice, None)  # the master goes on

    def test_the_master_tells_the_inverter_no_current_for_the_system(self):
        # the links ask the notice for two views: the core's (the pack link's LIMITS)
        # and the system's (the inverter's frames), each made once and kept
        sim = make_sim(inverter="can", packs=2)
        sim.run(8000)
        master = sim.packs[0].app
        self.assertIsNotNone(master.packlink.view)  # the master has its system's view
        press_unlock(sim, sim.packs[0])
        tap = sim.bus.attach(CanPort())
        Client(SimTransport(sim)).restart(1)
        n = master.link.notice
        self.assertIsNotNone(n)
        sim.run(n.until - 100)
        self.assertIs(sim.packs[0].app, master)
        views = [v for _, v in n._views]
        self.assertEqual(len(views), 2)
        self.assertIs(n.view(master.bms), views[0])
        self.assertIs(n.view(master.packlink.report(master.bms)), views[1])
        lims = [f[3] for f in tap.take() if f[0] == 0x351]
        self.assertGreaterEqual(len(lims), 2)
        for f in lims:
            self.assertEqual(bytes(f[2:6]), b"\x00\x00\x00\x00")  # CCL 0, DCL 0
        self.assertTrue(sim.packs[1].app.bms.dsg)  # the slave's FETs as its core has them


def held(app):
    """The states of the core's rows that open a FET and are not idle."""
    eng = app.bms.engine
    return [eng.state[i] for i in range(eng.n) if eng.action[i] and eng.state[i]]


class ProtectionHeldTest(unittest.TestCase):
    """A restart keeps only the LATCHED and LOCKED rows (Engine.latched()): RESTART is
    refused while a row is pending or tripped, or the restart would release it."""

    def refused(self, c, address):
        with self.assertRaises(ServiceError) as e:
            c.restart(address)
        self.assertEqual(e.exception.status, fr.ERR_BUSY)
        self.assertEqual(str(e.exception), "not now: a protection is pending or tripped")

    def test_no_restart_while_chtp_waits_for_its_release(self):
        # (CHTP trips over 50.0 C and releases at 45.0 C: restarted at 48 C, the pack
        # charged again inside its release band)
        sim, pack = unlocked_sim(inverter="none")
        app = pack.app
        c = Client(SimTransport(sim))
        sim.apply({"current_a": 20})
        sim.run(sim.t_ms + 2000)
        self.assertEqual(held(app), [])
        sim.apply({"temp_c": {"cells": 52}})
        sim.run(sim.t_ms + 500)
        self.assertEqual(held(app), [PENDING])  # its 2 s delay running
        self.refused(c, 1)
        sim.run(sim.t_ms + 2500)
        self.assertEqual(held(app), [TRIPPED])
        sim.apply({"temp_c": {"cells": 48}})
        sim.run(sim.t_ms + 1000)
        self.refused(c, 1)
        sim.run(sim.t_ms + 20000)
        self.refused(c, 1)
        sim.run(sim.t_ms + NOTICE_MS + 1000)
        self.assertIs(pack.app, app)
        self.assertEqual((pack.reboots, app.link.notice), (0, None))
        st = sim.state(pack)
        self.assertEqual((st["protections"], st["fets"]["charge"]), (["CHTP"], False))
        self.assertEqual(app.link.service.refused, 3)
        sim.apply({"temp_c": {"cells": 44}})
        sim.run(sim.t_ms + 3000)
        self.assertEqual(held(app), [])  # released
        c.restart(1)
        sim.run(sim.t_ms + NOTICE_MS + 500)
        self.assertEqual(pack.reboots, 1)

    def test_a_tripped_row_still_past_its_trip_trips_again_after_the_restart(self):
        # no refusal: it trips again before the FETs close (a config mistake that keeps
        # a row tripped could not be undone, a config applying only at a restart)
        sim, pack = unlocked_sim(inverter="none")
        c = Client(SimTransport(sim))
        sim.apply({"temp_c": {"cells": 52}})
        sim.run(sim.t_ms + 3000)
        self.assertEqual(held(pack.app), [TRIPPED])
        c.restart(1)
        sim.run(sim.t_ms + NOTICE_MS + 500)
        self.assertEqual(pack.reboots, 1)
        for _ in range(100):  # (the new boot, to 10 s)
            sim.run(sim.t_ms + 100)
            self.assertFalse(sim.state(pack)["fets"]["charge"])
        self.assertEqual(sim.state(pack)["protections"], ["CHTP"])

    def test_a_slave_refuses_through_the_masters_relay(self):
        sim, c = relayed_pair()
        sim.apply({"pack": 2, "temp_c": {"cells": 52}})
        sim.run(sim.t_ms + 3000)
        sim.apply({"pack": 2, "temp_c": {"cells": 48}})  # inside its release band
        sim.run(sim.t_ms + 1000)
        slave = sim.packs[1].app
        self.assertEqual((held(sim.packs[0].app), held(slave)), ([], [TRIPPED]))
        before = slave.link.service.refused
        self.refused(c, 2)
        sim.run(sim.t_ms + NOTICE_MS + 1000)
        self.assertEqual([p.reboots for p in sim.packs], [0, 0])
        self.assertIsNone(slave.link.notice)
        self.assertEqual(slave.link.service.refused, before + 1)


class ClockKeptTest(unittest.TestCase):
    def test_the_clocks_anchor_moves_on_every_hour(self):
        # set more than 6.2 days ago, the anchor's ticks read as days ahead: bmsctl dated
        # the records 12.4 days early, and a restart put the clock back as much
        sim, pack = unlocked_sim(inverter="none")
        c = Client(SimTransport(sim))
        epoch = 1800000000
        c.set_clock(1, epoch)
        app = pack.app
        # (as if set an hour less 2.5 s ago: a housekeeping beat 2.5-3.5 s on moves it)
        first = (epoch, ticks.add(app.service_clock[1], -3600000 + 2500))
        app.service_clock = first
        sim.run(sim.t_ms + 1000)
        self.assertEqual(app.service_clock, first)
        sim.run(sim.t_ms + 3000)
        self.assertEqual(app.service_clock, (epoch + 3600, ticks.add(first[1], 3600000)))
        _r, _n, clock = c.events(1)
        self.assertEqual(clock, app.service_clock)

    def test_the_wall_clock_goes_on_across_a_service_restart(self):
        sim, pack = unlocked_sim(inverter="none")
        c = Client(SimTransport(sim))
        epoch = 1800000000  # 2027-01-15
        c.set_clock(1, epoch)
        set_at = sim.t_ms
        _r, _n, clock = c.events(1)
        self.assertEqual(clock[0], epoch)
        c.restart(1)
        sim.run(sim.t_ms + NOTICE_MS + 500)
        self.assertEqual(pack.reboots, 1)
        _r, _n, clock = c.events(1)
        # the boot's ticks at the restart's epoch: at most a little behind the truth
        truth = epoch + (sim.t_ms - set_at) // 1000
        now_epoch = clock[0] + (pack.app.board.ticks_ms() - clock[1]) // 1000
        self.assertLessEqual(now_epoch, truth)
        self.assertGreaterEqual(now_epoch, truth - 2)
        self.assertNotIn("clock_s", pack.app.state)  # taken once
        # a power cycle: nothing carried (the time off is not known)
        pack.power_off()
        sim.run(sim.t_ms + 1000)
        pack.power_on()
        sim.run(sim.t_ms + 1000)
        self.assertEqual(c.events(1)[2], (0, 0))


if __name__ == "__main__":
    unittest.main()
