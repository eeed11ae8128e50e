"""Parallel packs in the simulator (issue 12): the wiring (one CAN bus, the RS485 daisy
chain), each pack's own firmware, flash and crystal, power-up orders, one trace line per
pack per period, and the site's current shared on the DC bus (a 4-pack scenario file)."""

import io
import json
import unittest

import sim
from support import ROOT, cpython_only, ensure_build, logged, make_sim, run_trace

from bms import events as ev
from boards.host.clock import PackClock, SimClock

SCENARIO_4 = ROOT + "/host_tests/scenarios/parallel_4packs.json"


def run_file(path, trace_ms):
    out = io.StringIO()
    trace = ensure_build() + "/parallel_trace.jsonl"
    rc = sim.main(
        ["--scenario", path, "--fast", "--trace", trace, "--trace-ms", str(trace_ms)], out
    )
    if rc != 0:
        raise AssertionError("sim.py exited %d: %s" % (rc, out.getvalue()))
    with open(trace) as f:
        return [json.loads(line) for line in f]


def lines_at(trace, t_ms):
    return [r for r in trace if r["t_ms"] == t_ms]


class WiringTest(unittest.TestCase):
    def test_each_pack_is_its_own_board_on_one_can_bus_and_a_daisy_chain(self):
        s = make_sim(packs=3, inverter="rs485")
        p1, p2, p3 = s.packs
        # one CAN bus: every controller and the inverter on it
        for pack in s.packs:
            self.assertIn(pack.can_chip, s.bus.nodes)
        # the inverter on pack 1's Link IN; Link OUT k to Link IN k+1; the last goes nowhere
        self.assertIs(p1.link_port.wire, s.inverter.port.wire)
        self.assertIs(p1.link_out_port.wire, p2.link_port.wire)
        self.assertIs(p2.link_out_port.wire, p3.link_port.wire)
        self.assertEqual(p3.link_out_port.wire.ports, [p3.link_out_port])
        for pack in s.packs:
            self.assertIsNotNone(pack.board.rs485)
            self.assertIsNotNone(pack.board.rs485_out)
        # nothing shared but the buses
        self.assertIsNot(p1.flash, p2.flash)
        self.assertIsNot(p1.app, p2.app)
        self.assertIsNot(p1.model, p2.model)

    def test_bytes_from_a_link_out_reach_the_next_link_in_only(self):
        s = make_sim(packs=3)
        p1, p2, p3 = s.packs
        p1.board.pins["RS485_2_DE"].value(1)
        p1.link_out_port.write(b"\xa5\x01\x02")
        s.clock.advance(10)
        self.assertEqual(p2.link_port.available(), 3)
        self.assertEqual(p3.link_port.available(), 0)
        self.assertEqual(p1.link_port.available(), 0)

    def test_a_board_without_a_link_out_has_none(self):
        s = make_sim(packs=1)
        self.assertIsNotNone(s.packs[0].board.rs485_out)  # a real pack has both ports
        from boards.host.board import HostBoard

        p = s.packs[0]
        board = HostBoard(s.clock, p.chip, p.model, p.flash)
        self.assertIsNone(board.rs485)
        self.assertIsNone(board.rs485_out)

    def test_each_pack_has_its_own_crystal(self):
        s = make_sim(packs=4)
        ppm = [p.ticks.ppm for p in s.packs]
        self.assertEqual(len(set(ppm)), 4)
        for v in ppm:
            self.assertTrue(-50 <= v <= 50, ppm)
        self.assertEqual(ppm, [p.ticks.ppm for p in make_sim(packs=4).packs])  # seeded
        self.assertNotEqual(ppm, [p.ticks.ppm for p in make_sim(seed=2, packs=4).packs])
        one = make_sim(packs=1)  # a lone pack runs on the engine's clock exactly
        self.assertIs(one.packs[0].ticks, one.clock)

    def test_pack_clock_runs_fast_or_slow_and_converts_back_exactly(self):
        base = SimClock()
        for ppm in (-50, 0, 37):
            c = PackClock(base, 1000, ppm)
            for local_ms in (0, 1, 100, 123457, 3600000):
                t = c.sim_us_at(local_ms)
                base.set_us(t)
                self.assertEqual(c.t_ms, local_ms)
                self.assertEqual(c.ticks_ms(), local_ms + 1000)
                if t:
                    base.set_us(t - 1)
                    self.assertLess(c.t_ms, local_ms)
        base.set_us(0)
        base.advance(1000000)  # 1000 s: 50 ppm is 50 ms
        self.assertEqual(PackClock(base, 0, 50).t_ms, 1000050)
        self.assertEqual(PackClock(base, 0, -50).t_ms, 999950)
        self.assertEqual(PackClock(base, (1 << 30) - 10, 0).ticks_ms(), 1000000 - 10)


class TraceTest(unittest.TestCase):
    def test_one_line_per_pack_per_period_with_role_address_and_ms_led(self):
        s = make_sim(packs=3)
        trace = run_trace(s, 2, trace_ms=500)
        self.assertEqual(
            [r["t_ms"] for r in trace], [0] * 3 + [500] * 3 + [1000] * 3 + [1500] * 3 + [2000] * 3
        )
        self.assertEqual([r["pack"] for r in trace], [1, 2, 3] * 5)
        for r in trace:
            self.assertIn(r["role"], (None, "master", "slave"))
            self.assertIn("address", r)
            self.assertIn(r["leds"]["ms"], (0, 1))
            self.assertEqual(len(r["cells_mv"]), 16)

    def test_role_is_what_the_firmware_says(self):
        s = make_sim(packs=2)

        class Firmware:  # stands in for App: the engine reads only these attributes
            pass

        class Pack:
            app = Firmware()

        fw = Pack.app
        self.assertIsNone(s.role(Pack))  # the firmware says nothing: no guess
        for said, shown in (("slave", "slave"), ("master", "master"), ("single", "master")):
            fw.role = said
            self.assertEqual(s.role(Pack), shown)
        fw.role = "bogus"
        self.assertIsNone(s.role(Pack))
        fw.role = lambda: "slave"
        self.assertEqual(s.role(Pack), "slave")
        Pack.app = None  # off
        self.assertIsNone(s.role(Pack))
        one = make_sim(packs=1)
        self.assertEqual(one.role(one.packs[0]), "master")  # a lone pack is its own master
        rec = s.state(s.packs[1])
        self.assertIn("address", rec)
        s.apply({"at_s": 0, "pack": 2, "power": "off"})
        rec = s.state(s.packs[1])
        self.assertEqual((rec["role"], rec["address"], rec["mode"]), (None, None, "off"))

    @cpython_only("rich renders the live view")
    def test_live_view_shows_one_line_per_pack_and_the_system(self):
        from live_view import LiveView, system_view
        from rich.console import Console

        s = make_sim(packs=3, inverter="can", events=[{"at_s": 0, "current_a": 30}])
        s.run(6000)

        def text():
            console = Console(record=True, width=140, file=io.StringIO())
            console.print(system_view(s, [s.state(p) for p in s.packs]))
            return console.export_text()

        out = text()
        self.assertIn("system: 3 packs", out)
        self.assertEqual(len([ln for ln in out.splitlines() if " charge " in ln]), 3)
        self.assertIn("system (master: pack 1)", out)  # the chain's first: addressed
        self.assertIn("inverter +30.0 A", out)
        s.packs[0].app.packlink.addr.master = False  # as if the chain said so
        s.packs[1].app.packlink.addr.master = True
        self.assertIn("system (master: pack 2)", text())
        view = LiveView(s)
        view.update(s)  # the details follow the master
        self.assertIs(view.pack, s.packs[1])


class SharingTest(unittest.TestCase):
    def test_the_inverters_current_is_split_between_the_packs(self):
        s = make_sim(packs=3, inverter="can", events=[{"at_s": 0, "current_a": -30}])
        s.run(8000)
        amps = [p.model.current_a for p in s.packs]
        self.assertAlmostEqual(sum(amps), s.inverter.current_a, places=9)
        self.assertAlmostEqual(sum(amps), -30.0, places=9)
        self.assertLess(amps[0], amps[1])  # discharging: pack 1 gives the most
        self.assertLess(amps[1], amps[2])

    def test_cable_mohm_moves_the_share(self):
        events = [
            {"at_s": 0, "current_a": 40},
            {"at_s": 0, "cable_mohm": 2},
            {"at_s": 8, "pack": 2, "cable_mohm": 40},
        ]
        s = make_sim(packs=2, events=events)
        s.run(7900)
        a1, a2 = [p.model.current_a for p in s.packs]
        self.assertAlmostEqual(a1 + a2, 40.0, places=9)
        self.assertLess(abs(a1 - a2), 2.0)  # equal cables, nearly equal packs
        s.run(8000)
        a1, a2 = [p.model.current_a for p in s.packs]
        self.assertAlmostEqual(a1 + a2, 40.0, places=9)
        self.assertGreater(a1, 4 * a2)
        self.assertEqual(s.dc.cable_ohm, [0.002, 0.040])

    def test_four_pack_scenario_late_power_up_and_covp(self):
        t = run_file(SCENARIO_4, 1000)
        self.assertEqual(len(t), 27 * 4)
        first = lines_at(t, 0)
        self.assertEqual([r["mode"] for r in first], ["standby", "standby", "standby", "off"])
        self.assertEqual(first[3]["events"], [])  # off from the start: it never booted
        boots = [(r["pack"], r["t_ms"]) for r in t for e in r["events"] if e["code"] == "BOOT"]
        self.assertEqual(boots, [(1, 0), (2, 0), (3, 0), (4, 5000)])

        def amps(t_ms):
            return [r["current_raw_ma"] for r in lines_at(t, t_ms)]

        # three packs carry the 40 A, the end of the chain least (measured, +-0.2 A noise)
        a = amps(8000)
        self.assertEqual(a[3], 0)
        self.assertLess(abs(sum(a) - 40000), 200)
        self.assertTrue(a[0] > a[1] > a[2] > 0, a)
        # pack 4 closes its FETs about 4 s after its power-up and takes its share
        a = amps(12000)
        self.assertLess(abs(sum(a) - 40000), 200)
        self.assertTrue(a[0] > a[1] > a[2] > a[3] > 0, a)
        # pack 2 in COVP from 16 s: its share goes onto the three others
        rec = lines_at(t, 17000)[1]
        self.assertEqual(rec["protections"], ["COVP"])
        self.assertFalse(rec["fets"]["charge"])
        a = amps(17000)
        self.assertLess(abs(a[1]), 100)
        self.assertLess(abs(sum(a) - 40000), 200)
        # released at 23 s: back in the share
        a = amps(25000)
        self.assertTrue(a[1] > 5000, a)
        self.assertLess(abs(sum(a) - 40000), 200)


if __name__ == "__main__":
    unittest.main()


def _line(pack, role, address, ccl_ma=50000, dcl_ma=100000):
    return {
        "t_ms": 20000,
        "pack": pack,
        "role": role,
        "address": address,
        "limits": {"ccl_ma": ccl_ma, "dcl_ma": dcl_ma},
    }


class MasterRestartTest(unittest.TestCase):
    # a restarted master told the inverter its own limits while its table filled: its
    # FETs open at boot, 0 A and discharge disabled, and the inverter stopped a 120 A
    # load for a second while the two others were carrying it
    def restart(self, inverter):
        s = make_sim(
            packs=3,
            inverter=inverter,
            events=[
                {"at_s": 0, "current_a": -120},
                {"at_s": 20, "pack": 1, "button": "reset", "hold_s": 6},
            ],
        )
        s.run(24000)
        inv = s.inverter
        told = []
        site = []

        def seen(lines):
            told.append((lines[0]["t_ms"], inv.dcl_ma))
            site.append(round(-1000 * inv.current_a))  # what it drives (discharging)

        s.set_trace(seen, 100)
        s.run(36000)
        self.assertEqual(s.packs[0].reboots, 1)  # restarted at 25 s
        return told, site

    def test_the_inverter_is_told_the_others_while_the_master_restarts(self):
        for inverter in ("can", "rs485"):
            told, site = self.restart(inverter)
            # the load carried all along: 120 A, then what the two others carry (96 A:
            # their DCL less a tenth; 93.3 A as the master comes back, not yet judged),
            # then 120 A again (before: 0 A from 27.2 to 28.0 s)
            self.assertGreaterEqual(min(site), 93300, inverter)
            self.assertGreaterEqual(min(dcl for _t, dcl in told), 93300, (inverter, told))
            self.assertEqual(site[-1], 120000, inverter)


class LoneMastersTest(unittest.TestCase):
    # a black start of three packs with the middle one off: the first and the last are
    # each a master alone. Neither sent a pack-link frame, and both spoke to the inverter,
    # each with one pack's values, with no warning anywhere
    def black_start(self, dip="0000000", last_dip=None, swap=False):
        from test_inverter_link import Tap

        events = [{"at_s": 0, "pack": 2, "power": "off"}]
        if last_dip is not None:  # the last pack's DIP too (its own mistake), from its boot
            events += [
                {"at_s": 0, "pack": 3, "power": "off", "dip": last_dip},
                {"at_s": 0.1, "pack": 3, "power": "on"},
            ]
        s = make_sim(packs=3, inverter="can", dip=dip, events=events)
        tap = s.bus.attach(Tap())
        if swap:  # the last pack's uid the lower
            a, b = s.packs[0].app.bms.uid, s.packs[2].app.bms.uid
            a[7], b[7] = b[7], a[7]
        s.run(10000)
        start = len(tap.frames)
        s.run(15000)
        ids = [i for i, _e, _d, _t in tap.frames[start:]]
        speaking = [k for k in (1, 3) if not s.packs[k - 1].app.link.muted]
        warned = [s.packs[k - 1].app.bms.warning_names() for k in (1, 3)]
        return s, speaking, warned, ids

    def roles(self, s, k):
        app = s.packs[k - 1].app
        return [(r[4], r[5]) for r in logged(app.events, ev.COMM, ev.COMM_ROLE)]

    def test_one_of_two_masters_alone_speaks_the_other_warns(self):
        s, speaking, warned, ids = self.black_start()
        self.assertEqual((speaking, warned), ([1], [[], ["PACK_LOST"]]))
        self.assertEqual(ids.count(0x351), 5)  # once a second, one master
        for k in (1, 3):  # each heard the other's 0x351 for 3 s, then spoke on the pack link
            self.assertEqual(self.roles(s, k)[:2], [(1, 1), (1, 3)])
        s, speaking, warned, ids = self.black_start(swap=True)  # the lower uid speaks
        self.assertEqual((speaking, warned), ([3], [["PACK_LOST"], []]))
        self.assertEqual(ids.count(0x351), 5)

    def test_the_middle_pack_switched_on_joins_the_two_into_one_system(self):
        s, speaking, warned, ids = self.black_start()
        s.packs[1].power_on()
        s.run(20000)
        apps = [p.app for p in s.packs]
        self.assertEqual([a.packlink.addr.address for a in apps], [1, 2, 3])
        self.assertEqual([a.link.muted for a in apps], [False, True, True])
        self.assertEqual([a.bms.warning_names() for a in apps], [[], [], []])
        self.assertEqual(apps[0].packlink.packs.count, 3)

    def test_the_master_whose_dip_sets_the_protocol_speaks(self):
        # the first pack's DIP sets ID1, the last stays at the default as the manual says;
        # the last pack's uid is the lower
        s, speaking, warned, ids = self.black_start(dip="0000010", swap=True)
        self.assertEqual((speaking, warned), ([1], [[], ["PACK_LOST"]]))
        self.assertEqual(ids.count(0x351), 5)

    def test_two_schneider_masters_alone_hear_each_others_0x321(self):
        s, speaking, warned, ids = self.black_start(dip="0000001", last_dip="0000001")
        self.assertEqual((speaking, warned), ([1], [[], ["PACK_LOST"]]))
        self.assertEqual((ids.count(0x321), ids.count(0x351)), (10, 0))  # every 0.5 s, one

    def test_a_schneider_master_and_a_pylon_one_alone(self):
        # the Schneider master takes the other's 0x351 in (RXB0), not the other way round
        s, speaking, warned, ids = self.black_start(dip="0000001")  # the last at the default
        self.assertEqual((speaking, warned), ([1], [[], ["PACK_LOST"]]))
        self.assertEqual((ids.count(0x321), ids.count(0x351)), (10, 0))
        s, speaking, warned, ids = self.black_start(last_dip="0000001")
        self.assertEqual((speaking, warned), ([3], [["PACK_LOST"], []]))
        self.assertEqual((ids.count(0x321), ids.count(0x351)), (10, 0))
        # ID1 against ID2, both set: the lower uid (the first pack's) speaks, though it
        # hears nothing of the other's set: it speaks on the pack link at its IDENT
        s, speaking, warned, ids = self.black_start(dip="0000010", last_dip="0000001")
        self.assertEqual((speaking, warned), ([1], [[], ["PACK_LOST"]]))
        self.assertEqual((ids.count(0x321), ids.count(0x351)), (0, 5))

    def test_a_pack_alone_sends_nothing_on_the_pack_link(self):
        from test_inverter_link import Tap

        s = make_sim(inverter="can")
        tap = s.bus.attach(Tap())
        s.run(20000)
        self.assertEqual([i for i, e, _d, _t in tap.frames if e], [])
        self.assertEqual(self.roles(s, 1), [(1, 1)])


@cpython_only("tools/bench.py runs under CPython (subprocess)")
class BenchFiguresTest(unittest.TestCase):
    def setUp(self):
        import bench

        self.bench = bench

    def system(self):
        return [_line(1, "master", 1, 150000, 300000), _line(2, "slave", 2), _line(3, "slave", 3)]

    def test_system_ready_needs_one_master_the_addresses_and_the_sum_limits(self):
        ready = self.bench.system_ready
        self.assertTrue(ready(self.system(), 3))
        lines = self.system()
        lines[2]["address"] = 2  # two packs on one address
        self.assertFalse(ready(lines, 3))
        lines = self.system()
        lines[1]["role"] = "master"
        self.assertFalse(ready(lines, 3))
        lines = self.system()
        lines[1]["role"] = None  # not reported (yet)
        self.assertFalse(ready(lines, 3))
        lines = self.system()
        lines[0]["limits"]["ccl_ma"] = 149999  # one slave not counted in CCL yet
        self.assertFalse(ready(lines, 3))
        lines = self.system()
        lines[0]["limits"]["dcl_ma"] = 200000  # nor in DCL
        self.assertFalse(ready(lines, 3))
        lines = self.system()
        lines[1]["limits"] = None  # a pack still off
        self.assertFalse(ready(lines, 3))
        self.assertFalse(ready(self.system()[:2], 3))

    def test_power_up_scenario_switches_every_pack_on_once_in_a_seeded_order(self):
        from boards.host.world.scenario import validate

        scenario, last_s = self.bench.power_up_scenario(32)
        validate(scenario)
        ons = [e for e in scenario["events"] if e.get("power") == "on"]
        self.assertEqual(sorted(e["pack"] for e in ons), list(range(1, 33)))
        self.assertNotEqual([e["pack"] for e in ons], list(range(1, 33)))
        self.assertEqual(last_s, 1 + 31 * 0.5)
        self.assertEqual(scenario["events"][0], {"at_s": 0, "power": "off"})


class _EveryStep:
    """uart.CHANGES as if bytes reached a port before every look: the engine then asks
    every pack for its next wake at every step, as it did before it kept them."""

    def __init__(self):
        self.n = 0

    def __getitem__(self, i):
        self.n += 1
        return self.n

    def __setitem__(self, i, v):
        pass


class WakeCacheTest(unittest.TestCase):
    """The engine keeps each pack's next wake between the steps that poll it (engine.py
    _next_us): every pack is polled at the same microseconds, and the trace is the same,
    as when every pack is asked at every step, with the RS485 chain busy (beacons, an
    RS485 inverter) and packs switched."""

    def run_both(self, build):
        from boards.host.world.bus import uart

        out = []
        for changes in (uart.CHANGES, _EveryStep()):
            kept = uart.CHANGES
            uart.CHANGES = changes
            try:
                s = build()
                polls = []
                for pack in s.packs:
                    pack.poll = self.logged(s, pack, polls)
                records = run_trace(s, 6, 500)
                s.packs[2].power_off()
                records += run_trace(s, 3, 500)
                s.packs[2].power_on()
                records += run_trace(s, 3, 500)
                out.append((polls, records))
            finally:
                uart.CHANGES = kept
        self.assertGreater(len(out[0][0]), 1000)
        self.assertEqual(out[0][0], out[1][0])
        self.assertEqual(out[0][1], out[1][1])

    def logged(self, s, pack, polls):
        poll = pack.poll

        def logged_poll(t_ms, now_ticks):
            polls.append((s.clock.t_us, pack.index))
            return poll(t_ms, now_ticks)

        return logged_poll

    def test_rs485_inverter(self):
        self.run_both(lambda: make_sim(packs=4, inverter="rs485"))

    def test_can_inverter(self):
        self.run_both(lambda: make_sim(packs=4, inverter="can"))
