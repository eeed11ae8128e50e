"""The master's inverter link in the simulator: frame timing, supervision, the inverter.

Everything here runs the real firmware against the simulated board: the MCP2515 on the
simulated CAN bus, the RS485 wire, and the simulated inverters of
boards/host/world/inverters.py, which decode our frames with their own code. A few tests drive the
link itself (its age over days, its SPI traffic without an INT pin).
"""

import unittest

import fwconst
import micropython
from core_rig import Rig
from support import count_spi, heap_locked, logged, long_run, make_sim, run_trace

from bms import events as ev
from bms import protections as pt
from bms import ticks
from boards.host import machine
from boards.host.world.bus.canbus import CanBus, frame_bits
from boards.host.world.chips.mcp2515 import MCP2515Sim
from drivers import mcp2515
from drivers.mcp2515 import MCP2515
from inverter_link import InverterLink
from protocols import schneider_can

mcp2515_consts = fwconst.of("drivers.mcp2515")
inverter_link_consts = fwconst.of("inverter_link")

ID0 = (0x351, 0x355, 0x356, 0x359, 0x35A, 0x35C, 0x35E, 0x35F, 0x372, 0x373, 0x379)
ID1 = (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x379)
_LOST = 1 << pt.INVERTER_LOST


class Tap:
    """A listen-only node (it acknowledges nothing): every frame delivered on the bus,
    with the time it started (its end less its exact length)."""

    def __init__(self):
        self.frames = []

    def can_offer(self):
        return None

    def can_sent(self, frame, t_us):
        pass

    def can_receive(self, frame, t_us):
        can_id, ext, rtr, data = frame
        start = t_us - 2 * frame_bits(can_id, ext, rtr, data)
        self.frames.append((can_id, ext, bytes(data), start))

    def can_acks(self):
        return False

    def times(self, can_id):
        return [t for i, _e, _d, t in self.frames if i == can_id]


def tapped(**keys):
    sim = make_sim(**keys)
    tap = sim.bus.attach(Tap())
    return sim, tap


def framed(body):
    """A Pylon RS485 frame around body, with its checksum (two's complement of the sum)."""
    total = 0
    for c in body:
        total += c
    return b"~" + body + ("%04X" % ((-total) & 0xFFFF)).encode() + b"\r"


def lost(sim):
    return bool(sim.packs[0].app.bms.engine.names & _LOST)


class FrameTimingTest(unittest.TestCase):
    def test_id0_set_once_a_second_spread_over_the_second(self):
        sim, tap = tapped(inverter="can")
        sim.run(11000)
        for can_id in ID0:
            times = [t for t in tap.times(can_id) if t >= 1000000]
            self.assertEqual(len(times), 10, hex(can_id))
            gaps = set(b - a for a, b in zip(times, times[1:]))
            self.assertEqual(gaps, {1000000}, hex(can_id))  # never closer than 200 ms
        starts = sorted(t for i, e, _d, t in tap.frames if i in ID0 and 2000000 <= t < 3000000)
        slots = [s // 1000 - 2000 for s in starts]
        # k/11 of the second, on the 100 ms grid of the tick
        self.assertEqual(slots, [0, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900])
        for _i, ext, data, _t in tap.frames:
            if _i in ID0:
                self.assertEqual((ext, len(data)), (False, 8))
        self.assertEqual(sim.packs[0].app.link.tx_skipped, 0)

    def test_id1_sends_the_pylon_set_only(self):
        sim, tap = tapped(inverter="can", dip="0000010")
        sim.run(5000)
        sent = set(i for i, e, _d, t in tap.frames if i != 0x305 and not e)  # (e: pack link)
        self.assertEqual(sent, set(ID1))

    def test_growatt_request_gets_the_whole_answer_at_once(self):
        sim, tap = tapped(inverter="growatt", dip="0000010")
        sim.run(6000)
        requests = tap.times(0x301)
        self.assertEqual(len(requests), 6)
        t_req = requests[-1]
        answer = [(t, i) for i, _e, _d, t in tap.frames if 0x311 <= i <= 0x319 and t > t_req]
        self.assertEqual(sorted(i for _t, i in answer), list(range(0x311, 0x31A)))
        self.assertLess(max(t for t, _i in answer) - t_req, 20000)  # within 20 ms of it
        self.assertEqual(sim.inverter.ccl_ma, 50000)
        self.assertFalse(lost(sim))

    def test_schneider_periods_and_29_bit_ids(self):
        sim, tap = tapped(inverter="can", dip="0000001")
        sim.run(21000)
        for can_id, period, _offset in schneider_can.FRAMES:
            times = [t for i, e, _d, t in tap.frames if i == can_id and e and t >= 1000000]
            self.assertEqual(len(times), 20000 // period, hex(can_id))
            for a, b in zip(times, times[1:]):  # the gateway's heartbeat may delay one
                self.assertLess(abs(b - a - period * 1000), 300, hex(can_id))
        std = [i for i, e, _d, _t in tap.frames if not e]
        self.assertEqual(std, [])
        self.assertEqual(sim.packs[0].app.link.tx_skipped, 0)  # never more than 3 at once
        self.assertEqual(sim.inverter.ccl_ma, 50000)  # the gateway read 0x322
        self.assertFalse(lost(sim))

    def test_nobody_listening_frames_are_dropped_not_sent_late(self):
        sim, tap = tapped(inverter="none")
        sim.run(5000)
        self.assertEqual(tap.frames, [])  # a listen-only tap acknowledges nothing
        link = sim.packs[0].app.link
        self.assertGreater(link.stale_dropped, 0)
        # an acknowledging listener appears: no id twice within 200 ms, no burst
        sim.bus.attach(Acker())
        sim.run(10000)
        for can_id in ID0:
            times = [t for t in tap.times(can_id)]
            self.assertGreaterEqual(len(times), 4, hex(can_id))
            gaps = [b - a for a, b in zip(times, times[1:])]
            self.assertGreaterEqual(min(gaps), 200000, hex(can_id))


class Acker(Tap):
    """A node that acknowledges, as any controller in normal mode does."""

    def can_acks(self):
        return True


class SupervisionTest(unittest.TestCase):
    def test_heartbeat_keeps_the_link_present(self):
        sim = make_sim(inverter="can")
        sim.run(120000)
        app = sim.packs[0].app
        self.assertEqual(app.link.heartbeats, 120)
        self.assertFalse(lost(sim))
        self.assertLessEqual(app.link.age_ms(sim.clock.ticks_ms()), 1000)
        self.assertEqual(len(logged(app.events, ev.COMM, ev.COMM_INVERTER)), 1)

    def test_lost_after_60_s_of_silence_and_back_by_itself(self):
        sim = make_sim(
            inverter="can",
            events=[{"at_s": 10, "inverter": "silent"}, {"at_s": 100, "inverter": "talking"}],
        )
        trace = run_trace(sim, 101, trace_ms=100)
        by_t = dict((r["t_ms"], r) for r in trace)
        # the last heartbeat came at 9 s: lost from the tick where 60 s have passed
        self.assertNotIn("INVERTER_LOST", by_t[68900]["warnings"])
        self.assertIn("INVERTER_LOST", by_t[69000]["warnings"])
        # it talks again at 100 s; the tick after its frame has arrived clears it
        self.assertIn("INVERTER_LOST", by_t[100000]["warnings"])
        self.assertNotIn("INVERTER_LOST", by_t[100100]["warnings"])
        app = sim.packs[0].app
        warn = logged(app.events, ev.WARN, pt.INVERTER_LOST)
        clear = logged(app.events, ev.WARN_CLEAR, pt.INVERTER_LOST)
        self.assertEqual([r[1] for r in warn], [69000])
        self.assertEqual([r[1] for r in clear], [100100])
        # protecting and reporting all along: the FETs stayed on, the frames kept going
        self.assertTrue(all(r["fets"]["discharge"] for r in trace if r["t_ms"] >= 5000))
        # not a panel warning: the ALM LED stays dark
        self.assertEqual(by_t[80000]["leds"]["alm"], 0)

    def test_black_start_without_an_inverter(self):
        sim = make_sim(inverter="none", events=[{"at_s": 1, "current_a": -20}])
        trace = run_trace(sim, 90, trace_ms=1000)
        by_t = dict((r["t_ms"], r) for r in trace)
        self.assertTrue(by_t[10000]["fets"]["discharge"])
        self.assertLess(by_t[10000]["current_ma"], -19000)
        self.assertNotIn("INVERTER_LOST", by_t[59000]["warnings"])
        self.assertIn("INVERTER_LOST", by_t[60000]["warnings"])  # never heard: from boot
        self.assertTrue(by_t[90000]["fets"]["discharge"])
        self.assertLess(by_t[90000]["current_ma"], -19000)
        self.assertEqual(by_t[90000]["protections"], [])

    def test_inverter_started_by_the_battery(self):
        # the battery powers the inverter up, which starts talking later (black start)
        sim = make_sim(
            inverter="can",
            events=[{"at_s": 0, "inverter": "silent"}, {"at_s": 70, "inverter": "talking"}],
        )
        trace = run_trace(sim, 75, trace_ms=1000)
        by_t = dict((r["t_ms"], r) for r in trace)
        self.assertIn("INVERTER_LOST", by_t[65000]["warnings"])
        self.assertEqual(by_t[72000]["warnings"], [])
        self.assertTrue(by_t[72000]["fets"]["discharge"])

    def test_rs485_polls_keep_the_link_present(self):
        sim = make_sim(
            inverter="rs485",
            events=[{"at_s": 20, "inverter": "silent"}, {"at_s": 90, "inverter": "talking"}],
        )
        trace = run_trace(sim, 95, trace_ms=500)
        by_t = dict((r["t_ms"], r) for r in trace)
        inv = sim.inverter
        self.assertEqual(inv.timeouts, 0)
        self.assertEqual(inv.bad, 0)
        self.assertEqual(inv.replies, 2 * (20 + 5))  # 0x42 and 0x92 each second
        limits = (inv.cvl_mv, inv.ccl_ma, inv.dcl_ma, inv.dvl_mv)
        self.assertEqual(limits, (56000, 50000, 50000, 48000))
        self.assertEqual(by_t[19500]["warnings"], [])
        self.assertIn("INVERTER_LOST", by_t[80000]["warnings"])
        self.assertEqual(by_t[91000]["warnings"], [])
        server = sim.packs[0].app.link.server
        self.assertEqual(server.replies, inv.replies)
        port = sim.packs[0].app.board.rs485
        self.assertEqual((port.garbage, port.overlong, port.timeouts), (0, 0, 0))
        self.assertEqual(sim.wire.collisions, 0)


# a night off-grid: a cell read at 2.70 V (CUVP) and nothing to charge from until 2400 s
CUVP_NIGHT = {
    "inverter": "can",
    "initial": {"soc_pct": 30},
    "events": [
        {"at_s": 0, "inverter": "no_source", "cell_mv": {"3": 2700}},
        {"at_s": 2400, "inverter": "source", "cell_mv": {"3": None}},
    ],
}


def asleep_cuvp_then_charged(test, sim):
    """A CUVP_NIGHT run: every pack asleep from 30 min after its CUVP, asking for a force
    charge (one pack's CCL through its open discharge FET's body diodes, diode_ma),
    woken and charged once the inverter can charge again."""
    packs = [p.app.bms for p in sim.packs]
    inv = sim.inverter
    sim.run(1799000)
    test.assertEqual(
        [(b.sleeping, b.protection_names()) for b in packs], [(False, ["CUVP"])] * len(packs)
    )
    sim.run(1802000)
    test.assertEqual([b.sleeping for b in packs], [True] * len(packs))
    test.assertEqual((inv.ccl_ma, inv.charge_enable, inv.force_charge), (10000, True, True))
    sim.run(2399000)
    test.assertEqual([b.sleeping for b in packs], [True] * len(packs))
    test.assertEqual(inv.current_a, 0.0)  # nothing to charge from
    sim.run(2405000)
    test.assertEqual(
        [(b.sleeping, b.protection_names()) for b in packs], [(False, [])] * len(packs)
    )
    test.assertAlmostEqual(sum(b.sample.current_ma for b in packs), 10000, delta=100)


@long_run
class InverterObeysTest(unittest.TestCase):
    def test_charge_and_discharge_capped_at_the_limits(self):
        sim = make_sim(
            inverter="can",
            initial={"soc_pct": 50},
            events=[{"at_s": 0, "current_a": 80}, {"at_s": 30, "current_a": -150}],
        )
        trace = run_trace(sim, 40, trace_ms=1000)
        by_t = dict((r["t_ms"], r) for r in trace)
        self.assertEqual(by_t[2000]["current_ma"], 0)  # the BMS has not enabled charging
        self.assertAlmostEqual(by_t[20000]["current_raw_ma"], 50000, delta=300)  # CCL
        self.assertAlmostEqual(by_t[38000]["current_raw_ma"], -50000, delta=300)  # DCL
        for r in trace:
            self.assertEqual(r["protections"], [], r["t_ms"])
            self.assertNotIn("HIGH_CURRENT", r["warnings"])

    def test_asleep_after_cuvp_a_pack_is_charged_awake_once_a_source_returns(self):
        # the pack sleeps after 30 min and keeps asking for a (force) charge, which the
        # inverter gives when its source returns: its voltage at the open FETs wakes the
        # pack (it asked for CCL 0 and charge disabled: it slept until someone came)
        asleep_cuvp_then_charged(self, make_sim(**CUVP_NIGHT))

    def test_full_charge_holds_cvl_then_floats(self):
        sim = make_sim(
            inverter="can", initial={"soc_pct": 92}, events=[{"at_s": 0, "current_a": 60}]
        )
        trace = run_trace(sim, 1800, trace_ms=10000)
        top = max(r["pack_mv"] for r in trace)
        self.assertLessEqual(top, 56000 + 60)  # CVL, within the inverter's 1 s steps
        self.assertEqual([r for r in trace if r["protections"]], [])  # COVP never needed
        end = trace[-1]
        self.assertGreaterEqual(end["soc_pct"], 99.9)
        self.assertEqual(end["limits"]["cvl_mv"], 54600)  # float after the full charge
        self.assertLess(abs(end["current_ma"]), 2000)  # tapered off
        full = logged(sim.packs[0].app.events, ev.SOC, 3)  # calibrated to full
        self.assertEqual(len(full), 1)

    def test_discharge_stops_at_dvl_then_force_charge(self):
        sim = make_sim(
            inverter="can",
            initial={"soc_pct": 8},
            events=[{"at_s": 0, "current_a": -50}],
            config={"soc_self_discharge_ma": 0},
        )
        trace = run_trace(sim, 600, trace_ms=5000)
        cut = [r for r in trace if r["t_ms"] > 10000 and r["current_ma"] >= 0]
        self.assertTrue(cut)
        # the inverter's DVL stop (or the force-charge request) came before CUVP/PUVP
        self.assertEqual([r for r in trace if r["protections"]], [])
        forced = [r for r in trace if r["limits"]["force_charge"]]
        self.assertTrue(forced)
        charging = [r for r in trace if r["current_ma"] > 9000]
        self.assertTrue(charging)  # the inverter charges on the force-charge request
        self.assertGreaterEqual(charging[0]["t_ms"], forced[0]["t_ms"])

    def test_no_limits_from_the_battery_no_current(self):
        # a silent CAN controller: the inverter hears nothing and leaves the battery alone
        sim = make_sim(inverter="can", events=[{"at_s": 0, "current_a": 30}])
        pack = sim.packs[0]
        pack.can_chip.spi_transfer = floating  # nothing answers on its SPI
        pack.power_off()
        pack.power_on()
        trace = run_trace(sim, 30, trace_ms=1000)
        self.assertLess(max(abs(r["current_raw_ma"]) for r in trace), 100)  # sensor noise
        self.assertEqual(sim.inverter.limits_us, None)


class BadInputTest(unittest.TestCase):
    def test_garbage_on_the_rs485_wire(self):
        sim = make_sim(inverter="none")
        sim.run(5000)
        peer = sim.wire.port()
        app = sim.packs[0].app
        ticks = app.ticks
        frames = (
            b"\x00\xff garbage \xfe",
            b"~" + b"2" * 400 + b"\r",  # overlong
            b"~20024642E00202FD34\r",  # bad checksum
            framed(b"20024642F00202"),  # bad LCHKSUM
            framed(b"20024699E00202"),  # unknown CID2
            framed(b"20034642E00203"),  # another address
            framed(b"20024642e00202"),  # lower-case hex
            b"~20024642E00202FD33\r",  # good
        )
        t = 5000
        replies = []
        for raw in frames:
            peer.write(raw)
            t += 500
            sim.run(t)
            n = peer.available()
            buf = bytearray(n)
            peer.read_into(buf, n)
            replies.append(bytes(buf))
        rtn = [r[7:9] if r else None for r in replies]
        self.assertEqual(rtn, [None, None, b"02", b"03", b"04", None, b"00", b"00"])
        server = app.link.server
        port = app.board.rs485
        self.assertEqual((server.bad_chksum, server.bad_lchksum, server.bad_cid), (1, 1, 1))
        self.assertEqual((server.not_ours, port.overlong), (1, 1))
        self.assertGreater(port.garbage, 0)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.ticks - ticks, 40)  # the tick never stalled

    def test_can_errors_and_bus_off(self):
        sim = make_sim(inverter="can")
        sim.run(5000)
        app = sim.packs[0].app
        chip = sim.packs[0].can_chip
        sim.bus.inject_errors(chip, 40)  # 40 x 8 > 255: bus-off
        ticks = app.ticks
        sim.run(8000)
        self.assertEqual(app.board.can.bus_off, 1)
        self.assertEqual(len(logged(app.events, ev.COMM, ev.COMM_BUS_OFF)), 1)
        sent = app.board.can.sent
        sim.run(15000)  # recovered by itself: frames flow again
        self.assertGreater(app.board.can.sent, sent + 50)
        self.assertEqual(chip.tec, 0)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.ticks - ticks, 100)
        self.assertFalse(lost(sim))
        # errors on the inverter's side are retried by it; the link stays up
        sim.bus.inject_errors(sim.inverter, 5)
        sim.run(20000)
        self.assertEqual(app.link.heartbeats, 20)

    def test_exception_in_the_link_commands_the_safe_state(self):
        sim = make_sim(inverter="can")
        sim.run(10000)
        app = sim.packs[0].app

        def boom(b, now):
            raise ValueError("bad frame handling")

        real = app.link.poll
        app.link.poll = boom
        sim.run(10100)
        self.assertEqual(sim.packs[0].model.fet_states(), (False, False, False))
        stages = [r[3] for r in logged(app.events, ev.EXCEPTION)]
        self.assertEqual(stages[0], 7)  # comms
        app.link.poll = real
        sim.run(20000)
        self.assertTrue(sim.packs[0].model.fet_states()[1])


class ControllerTest(unittest.TestCase):
    def test_a_dead_can_controller_is_retried_and_never_stops_the_pack(self):
        sim = make_sim(inverter="none", events=[{"at_s": 1, "current_a": -20}])
        pack = sim.packs[0]
        chip = pack.can_chip

        def dead(wbuf, rbuf):
            if rbuf is not None:
                for i in range(len(rbuf)):
                    rbuf[i] = 0xFF  # nobody drives MISO

        chip.spi_transfer = dead
        pack.power_off()
        pack.power_on()  # boots with the controller silent
        sim.run(25000)
        app = pack.app
        comm = [r[4] for r in logged(app.events, ev.COMM, ev.COMM_CAN)]
        self.assertEqual(comm, [0])  # failed, logged once though retried at 10 s and 20 s
        self.assertFalse(app.link.can_ok)
        self.assertTrue(pack.model.fet_states()[1])  # the pack serves all the same
        self.assertLess(app.sample.current_ma, -19000)
        self.assertEqual(app.exceptions, 0)
        del chip.spi_transfer  # it answers again: started at the next retry (30 s)
        sim.run(31000)
        comm = [r[4] for r in logged(app.events, ev.COMM, ev.COMM_CAN)]
        self.assertEqual(comm, [0, 1])
        self.assertTrue(app.link.can_ok)


class AllocationTest(unittest.TestCase):
    def test_the_link_allocates_nothing(self):
        # (support.heap_locked: an allocation would be a MemoryError, counted by the
        # app's safety net)
        for kind in ("can", "rs485", "growatt"):
            dip = "0000010" if kind == "growatt" else "0000000"
            sim = make_sim(inverter=kind, dip=dip, events=[{"at_s": 0, "current_a": -20}])
            sim.run(5000)  # warmed up: views and buffers made once
            app = sim.packs[0].app
            app.comms = heap_locked(app.comms)
            sim.run(15000)
            self.assertEqual(app.exceptions, 0, kind)
            self.assertGreater(app.link.polls + app.link.heartbeats, 9, kind)


class PersistTest(unittest.TestCase):
    def test_days_without_a_full_charge_survive_a_restart(self):
        sim = make_sim(inverter="can")
        sim.run(5000)
        pack = sim.packs[0]
        pack.app.bms.limits.no_full_s = 12345
        pack.app._save_state(pack.clock.ticks_ms())
        pack.power_off()
        pack.power_on()
        self.assertEqual(pack.app.bms.limits.no_full_s, 12345)


# -- the CAN controller failing while the pack runs, the link age, counters ---------------

HOUR_MS = 3600000


def floating(wbuf, rbuf):
    """An SPI transfer with nothing driving MISO: every byte reads 0xFF."""
    if rbuf is not None:
        for i in range(len(rbuf)):
            rbuf[i] = 0xFF


def spi_error(wbuf, rbuf):
    raise OSError(5)  # EIO, as an esp32 SPI transfer raises it


def comm_can(app):
    """The COMM_CAN events as (t_ms, 1 up / 0 failed, the driver's FAULT_*)."""
    return [(r[1], r[4], r[5]) for r in logged(app.events, ev.COMM, ev.COMM_CAN)]


class CanFailureTest(unittest.TestCase):
    def fail_at_10_s(self, how, back_s=30, end_s=45):
        sim, tap = tapped(inverter="can", events=[{"at_s": 1, "current_a": -20}])
        self.tap = tap
        sim.run(10000)
        pack = sim.packs[0]
        chip = pack.can_chip
        if how is None:
            chip.reset()  # a brown-out of the controller alone: configuration mode
        else:
            chip.spi_transfer = how
        trace = run_trace(sim, back_s - 10, trace_ms=1000)
        self.assertEqual(pack.app.link.can_ok, how is None)
        if how is not None:
            del chip.spi_transfer
        trace += run_trace(sim, end_s - back_s, trace_ms=1000)
        app = pack.app
        # the pack served all along: no safe state, no exception, no warning
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(logged(app.events, ev.EXCEPTION), [])
        for r in trace:
            self.assertEqual(r["fets"]["discharge"], True, r["t_ms"])
            self.assertEqual((r["protections"], r["warnings"]), ([], []), r["t_ms"])
        self.assertLess(app.sample.current_ma, -19000)
        self.assertEqual(app.link.can_faults, 1)
        self.assertTrue(app.link.can_ok)
        # restarted in its old slots: the missed frames skipped by whole seconds
        for can_id in ID0:
            times = tap.times(can_id)
            for a, b in zip(times, times[1:]):  # whole seconds, give or take a frame ahead
                off = (b - a + 500000) % 1000000 - 500000
                self.assertTrue(b - a > 500000 and abs(off) < 1000, (hex(can_id), a, b))
        return sim, app

    def test_spi_errors_on_a_pack_of_a_system_leave_it_on(self):
        # on a pack of a system the pack link's frames meet the error first: raised from
        # there, it opened the FETs at every try, and the watchdog reset the pack
        for k in (0, 1):  # the master, the slave
            sim = make_sim(packs=2, inverter="can", events=[{"at_s": 1, "current_a": -20}])
            sim.run(10013)  # (at 10.000 s the link's own poll met it first)
            pack = sim.packs[k]
            pack.can_chip.spi_transfer = spi_error
            trace = run_trace(sim, 20, trace_ms=1000)
            del pack.can_chip.spi_transfer
            trace += run_trace(sim, 15, trace_ms=1000)
            app = pack.app
            self.assertEqual(app.exceptions, 0)
            self.assertEqual(logged(app.events, ev.EXCEPTION), [])
            for r in trace:
                self.assertEqual((r["fets"]["discharge"], r["protections"]), (True, []), r)
            self.assertEqual(
                comm_can(app), [(0, 1, 0), (11000, 0, mcp2515.FAULT_SPI), (31000, 1, 0)]
            )
            for p in sim.packs:  # each carries its share all along
                self.assertLess(p.app.sample.current_ma, -9000)

    def test_spi_errors_leave_the_pack_on_and_can_comes_back(self):
        sim, app = self.fail_at_10_s(spi_error)
        # down at 10 s, logged with why at the next housekeeping beat and tried at once,
        # again at 21 s (not logged), and up at the retry after the SPI works (31 s)
        self.assertEqual(comm_can(app), [(0, 1, 0), (11000, 0, mcp2515.FAULT_SPI), (31000, 1, 0)])
        self.assertGreater(sim.inverter.limits_us, 44000000)  # the inverter hears us again
        self.assertEqual(app.link.tx_skipped, 0)  # the set spread over the second again

    def test_a_reset_controller_is_started_again_at_once(self):
        sim, app = self.fail_at_10_s(None, 30, 30)
        # the fourth frame after the reset found no free buffer and read CANSTAT: found
        # in configuration mode, restarted at the next beat
        self.assertEqual(
            comm_can(app), [(0, 1, 0), (11000, 0, mcp2515_consts.FAULT_MODE_LOST), (11000, 1, 0)]
        )
        self.assertEqual(app.board.can.tx_busy, 1)
        self.assertEqual(app.link.tx_skipped, 1)
        self.assertGreater(sim.inverter.limits_us, 29000000)
        # missed at 10 s, and at 0 s (a pack listens LISTEN_MS for a pack upstream
        # before it speaks to the inverter: bms/addressing.py)
        self.assertEqual(sim.inverter.received[0x351], 28)

    def test_a_restart_keeps_each_frame_in_its_slot(self):
        # off the beat (a board's checks and housekeeping drift): the missed frames are
        # skipped by whole periods, never re-spread from the restart (that put two of one
        # id 150 ms apart)
        sim = make_sim(inverter="can")
        sim.run(10000)
        link = sim.packs[0].app.link
        before = list(link.next_ms)
        now = 13456
        self.assertTrue(link.start_can(now))
        for k, period in enumerate(link.periods):
            moved = link.next_ms[k] - before[k]
            self.assertEqual(moved % period, 0, k)
            self.assertTrue(0 <= link.next_ms[k] - now < period, k)
        # down for days (the tick difference wrapped): spread from now again
        link.next_ms[0] = now + 0x10000000
        self.assertTrue(link.start_can(now))
        self.assertEqual(link.next_ms[0], now + link.offsets[0])

    def test_a_floating_miso_is_noticed_and_nothing_made_up(self):
        sim, app = self.fail_at_10_s(floating)
        self.assertEqual(
            comm_can(app), [(0, 1, 0), (11000, 0, mcp2515_consts.FAULT_GARBLED), (31000, 1, 0)]
        )
        link = app.link
        self.assertEqual(link.rx_other, 0)  # no 0x1FFFFFFF frames out of the 0xFF reads
        self.assertEqual(link.heartbeats, 10 + 14)  # 1-10 s and 32-45 s
        self.assertEqual(app.board.can.bus_off, 0)
        self.assertEqual(logged(app.events, ev.COMM, ev.COMM_BUS_OFF), [])


class AgeTest(unittest.TestCase):
    """The link age past half the tick period (6.2 days), where a tick difference wraps."""

    def test_age_stops_at_the_cap_and_stays(self):
        cap = 0x1FFFFFFF  # the longest tick difference
        t0 = 0x3FFF0000  # the board's ticks_ms wraps a minute later
        link = InverterLink(None, None, 0)
        link.start(t0)
        self.assertEqual(link.age_ms(ticks.add(t0, cap - 1)), cap - 1)
        self.assertEqual(link.age_ms(ticks.add(t0, cap)), cap)
        self.assertEqual(link.age_ms(ticks.add(t0, cap + 1)), cap)
        link = InverterLink(None, None, 0)
        link.start(t0)
        ages = [link.age_ms(ticks.add(t0, h * HOUR_MS)) for h in range(0, 24 * 20 + 1)]
        self.assertEqual(ages, [min(h * HOUR_MS, cap) for h in range(0, 24 * 20 + 1)])
        self.assertFalse(link.heard_ever())
        now = ticks.add(t0, 20 * 24 * HOUR_MS)
        link._spoke(now)  # it speaks after 20 days
        self.assertEqual(link.age_ms(now), 0)
        self.assertEqual(link.age_ms(ticks.add(now, 1000)), 1000)
        # heard, then silent for 13 days (past a whole tick period)
        ages = [link.age_ms(ticks.add(now, h * HOUR_MS)) for h in range(0, 24 * 13 + 1)]
        self.assertEqual(ages, [min(h * HOUR_MS, cap) for h in range(0, 24 * 13 + 1)])
        self.assertTrue(link.heard_ever())

    def test_a_week_of_silence_logs_no_inverter_up(self):
        sim = make_sim(inverter="can")
        sim.run(5000)
        app = sim.packs[0].app
        base = sim.clock.ticks_ms()
        gap = ticks.diff(base, app.link.heard)  # its last heartbeat
        self.assertEqual(len(logged(app.events, ev.COMM, ev.COMM_INVERTER)), 1)
        ages = []
        for h in range(1, 24 * 8):  # the housekeeping beat, hour by hour
            now = ticks.add(base, h * HOUR_MS)
            app._link_events(now)
            ages.append(app.link.age_ms(now))
        self.assertEqual(len(logged(app.events, ev.COMM, ev.COMM_INVERTER)), 1)
        self.assertEqual(ages, [min(h * HOUR_MS + gap, 0x1FFFFFFF) for h in range(1, 24 * 8)])
        self.assertEqual(min(ages[149:]), 0x1FFFFFFF)  # from 150 h on
        self.assertFalse(app._present)


class NoIntPinTest(unittest.TestCase):
    def test_one_spi_transfer_per_idle_poll(self):
        # without INT, a poll reads READ STATUS and nothing else; the error state is read
        # once a second (two READs) and after a send that found no buffer
        bus = CanBus()
        bus.attach(Acker())
        chip = bus.attach(MCP2515Sim(8000000))
        cs = machine.Pin("CS", machine.Pin.OUT, value=1)
        spi = machine.SPI(0)
        spi.attach(cs, chip)
        link = InverterLink(MCP2515(spi, cs, 8000000), None, 0)
        link.start(0)
        self.assertTrue(link.start_can(0))
        core = Rig().settle().bms
        calls = count_spi(chip)
        for t in range(0, 2000, 5):
            if t == 1000:
                del calls[:]
            bus.run_until(t * 1000)
            link.poll(core, t)
        # 200 polls, 11 frames (READ STATUS, LOAD TX, RTS), one check
        self.assertEqual(len(calls), 200 + 11 * 3 + 2)
        self.assertEqual(calls.count(0x03), 2)
        self.assertEqual(link.can.sent, 22)
        self.assertTrue(link.can_ok)


class CounterTest(unittest.TestCase):
    def test_link_and_app_counters_wrap_at_2_30(self):
        sim = make_sim(inverter="can")
        sim.run(5000)
        app = sim.packs[0].app
        top = 0x3FFFFFFF
        app.link.heartbeats = top
        app.ticks = top
        sim.run(6000)  # one heartbeat, ten ticks
        self.assertEqual((app.link.heartbeats, app.ticks), (0, 9))


# -- what counts as the inverter speaking on CAN; bus-off again and again ------------------

PAYLOAD = bytes((0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88))
GROWATT_SET = tuple(range(0x311, 0x31A))


class HeartbeatFrameTest(unittest.TestCase):
    """The link's controller (no INT pin, the link's filters) and a peer node that sends
    what each test offers; the link is polled every 5 ms as the app does."""

    def rig(self, protocol):
        self.bus = bus = CanBus()
        self.tap = bus.attach(Tap())
        self.chip = bus.attach(MCP2515Sim(8000000))
        self.peer_chip = peer_chip = bus.attach(MCP2515Sim(16000000))
        spi = machine.SPI(0)
        cs = machine.Pin("CS", machine.Pin.OUT, value=1)
        peer_cs = machine.Pin("CS_PEER", machine.Pin.OUT, value=1)
        spi.attach(cs, self.chip)
        spi.attach(peer_cs, peer_chip)
        self.peer = MCP2515(spi, peer_cs, 16000000)
        self.assertTrue(self.peer.init())  # acknowledges the link's frames
        self.link = InverterLink(MCP2515(spi, cs, 8000000), None, protocol)
        self.link.start(0)
        self.assertTrue(self.link.start_can(0))
        self.core = Rig().settle().bms
        self.t = 0
        self.poll_for(100)

    def poll_for(self, ms):
        end = self.t + ms
        while self.t < end:
            self.t += 5
            self.bus.run_until(self.t * 1000)
            self.link.poll(self.core, self.t)

    def offer(self, can_id, dlc, ext=False, rtr=False):
        """The peer sends one frame (on the wire at once, read at the next poll, 5 ms
        later); returns (heartbeats, rx_other, heard) 20 ms later."""
        self.assertTrue(self.peer.send(can_id, PAYLOAD, dlc, ext, rtr))
        self.poll_for(20)
        link = self.link
        return (link.heartbeats, link.rx_other, link.heard)

    def check(self, cases):
        hb, other, heard = 0, 0, -1
        for can_id, dlc, ext, rtr, counts in cases:
            t = self.t
            got = self.offer(can_id, dlc, ext, rtr)
            if counts:
                hb += 1
                heard = t + 5
            else:
                other += 1
            self.assertEqual(got, (hb, other, heard), (hex(can_id), dlc, ext, rtr))
        self.assertEqual(self.link.can.received, len(cases))

    def test_a_growatt_answer_nobody_takes_is_given_up(self):
        # the inverter asks and is unplugged: its answer, never acknowledged, stopped the
        # Pylon set for as long (10 s here) and went out 10 s stale when it came back
        self.rig(1)
        self.poll_for(2000)
        link = self.link
        self.assertTrue(self.peer.send(0x301, PAYLOAD, 8))
        self.bus.run_until(self.t * 1000 + 400)
        self.peer_chip.reset()  # gone: nothing acknowledges
        self.poll_for(10000)
        self.assertEqual(link._growatt, 0)
        self.assertGreater(link.stale_dropped, 0)
        for k in range(len(link.next_ms)):  # the set's schedule ran on
            self.assertGreater(ticks.diff(link.next_ms[k], self.t), 0, k)
        n = len(self.tap.frames)
        self.assertTrue(self.peer.init())  # back
        self.poll_for(3000)
        sent = [i for i, _e, _d, _t in self.tap.frames[n:]]
        self.assertEqual([i for i in sent if i in GROWATT_SET], [])  # none stale
        self.assertIn(0x351, sent)

    def test_id0_heartbeats_are_8_byte_data_frames(self):
        self.rig(0)
        self.check(
            [
                (0x305, 8, False, True, False),  # a remote frame with the keep-alive's id
                (0x305, 0, False, True, False),
                (0x305, 0, False, False, False),  # the keep-alive is 8 bytes
                (0x305, 7, False, False, False),
                (0x305, 8, False, False, True),
                (0x307, 8, False, True, False),
                (0x307, 2, False, False, False),
                (0x307, 8, False, False, True),
                (0x301, 8, False, True, False),
                (0x301, 8, False, False, True),
            ]
        )

    def test_id1_a_remote_0x301_gets_no_growatt_answer(self):
        self.rig(1)
        self.check([(0x301, 8, False, True, False), (0x301, 0, False, False, False)])
        self.assertEqual([f for f in self.tap.frames if f[0] in GROWATT_SET], [])
        t = self.t
        self.assertEqual(self.offer(0x301, 8), (1, 2, t + 5))
        self.assertEqual(
            sorted(f[0] for f in self.tap.frames if f[0] in GROWATT_SET), list(GROWATT_SET)
        )

    def test_id2_schneider_heartbeat_any_length_never_remote(self):
        self.rig(2)
        self.check(
            [
                (schneider_can.HEARTBEAT, 8, True, True, False),
                (schneider_can.HEARTBEAT, 0, True, True, False),
                (schneider_can.HEARTBEAT, 8, True, False, True),
                (schneider_can.HEARTBEAT, 0, True, False, True),  # no length documented
                (schneider_can.HEARTBEAT, 3, True, False, True),
            ]
        )

    def test_a_glitched_status_does_not_count_the_old_heartbeat_again(self):
        # ID1: the filters put 0x305/0x307 in RXB0 and Growatt's 0x301 in RXB1; each
        # buffer keeps its frame after it was read, and a stale 0x301 would also ask for
        # another answer
        self.rig(1)
        link = self.link
        heard = self.t + 5
        self.assertEqual(self.offer(0x305, 8), (1, 0, heard))
        self.assertEqual(self.offer(0x301, 8), (2, 0, heard + 20))
        heard += 20
        answers = len([f for f in self.tap.frames if f[0] in GROWATT_SET])
        self.assertEqual(answers, 9)
        for bit in (0x01, 0x02):  # RX0IF, then RX1IF, appears set in READ STATUS
            self.chip.glitch_read(0xA0, 1, bit)
            self.poll_for(20)
            self.assertEqual((link.heartbeats, link.rx_other, link.heard), (2, 0, heard), bit)
        self.assertEqual((link.can.received, link.can.rx_garbled), (2, 2))
        self.assertEqual(len([f for f in self.tap.frames if f[0] in GROWATT_SET]), answers)
        self.assertTrue(link.can_ok)  # a glitch: counted, not a dead controller

    def test_a_poll_with_frames_asks_no_status_after_the_last(self):
        # READ STATUS, RX STATUS, READ RX BUFFER per frame; after a frame, the RX STATUS
        # already said whether the other buffer is full: no READ STATUS to hear "none".
        # The pack link's range goes to RXB0, the heartbeats to RXB1
        self.rig(0)
        link = self.link
        calls = count_spi(self.chip)
        pack = 0x1BA00000 | 0x0100 | 5  # a pack-link id (no pack link here: another's)
        for ids, reads in (((0x305,), [0x94]), ((pack, 0x307), [0x90, 0x94])):
            del calls[:]
            for can_id in ids:
                self.assertTrue(self.peer.send(can_id, PAYLOAD, 8, can_id > 0x7FF))
            self.t += 2
            self.bus.run_until(self.t * 1000)
            self.assertEqual(calls, [])
            self.assertEqual(link._receive(self.t), len(ids))
            self.assertEqual(calls, [x for rx in reads for x in (0xA0, 0xB0, rx)])
        self.assertEqual((link.heartbeats, link.rx_other, link.can.rx_garbled), (2, 1, 0))
        del calls[:]
        self.assertEqual(link._receive(self.t), 0)  # nothing waits: READ STATUS alone
        self.assertEqual(calls, [0xA0])


# a Sunny Island's 0x305 (protocols.md 2a): 51.2 V, -12.3 A (charging), 25.0 C, 80.0 %
SI_0X305 = bytes((0x00, 0x02, 0x85, 0xFF, 0xFA, 0x00, 0x20, 0x03))


class SunnyIslandRangeTest(HeartbeatFrameTest):
    """ID0: once a Sunny Island is heard (its 0x305 carries readings, not zeros), 0x351
    keeps within its ranges (CCL and DCL 0-120.0 A, DVL 41-48 V), which it otherwise
    rejects silently: three packs or more ask for more current, and the config allows a
    DVL up to 52 V. Victron and the others on ID0 send zeros and get the whole value."""

    def limits(self, ccl_ma, dcl_ma, dvl_mv):
        """The values 0x351 carries next (CVL, CCL, DCL, DVL in 0.1 V and 0.1 A) when the
        core's limits are these."""
        lim = self.core.limits
        lim.ccl_ma, lim.dcl_ma, lim.dvl_mv = ccl_ma, dcl_ma, dvl_mv
        n = len(self.tap.frames)
        self.poll_for(1000)
        sent = [d for i, _e, d, _t in self.tap.frames[n:] if i == 0x351][-1]
        return tuple(sent[k] | sent[k + 1] << 8 for k in range(0, 8, 2))

    def heartbeat(self, data):
        self.assertTrue(self.peer.send(0x305, data, 8))
        self.poll_for(20)

    def test_a_sunny_island_gets_its_ranges(self):
        self.rig(0)
        self.heartbeat(bytes(8))  # a keep-alive's zeros: not a Sunny Island
        self.assertEqual(self.link.sma, 0)
        self.assertEqual(self.limits(150000, 120100, 52000), (560, 1500, 1201, 520))
        self.heartbeat(SI_0X305)
        self.assertEqual(self.link.sma, 1)
        self.assertEqual(self.limits(150000, 120100, 52000), (560, 1200, 1200, 480))
        # both sides of each limit
        self.assertEqual(self.limits(120000, 120000, 48000), (560, 1200, 1200, 480))
        self.assertEqual(self.limits(119900, 50000, 47900), (560, 1199, 500, 479))
        self.assertEqual(self.limits(120100, 0, 48100), (560, 1200, 0, 480))
        self.heartbeat(bytes(8))  # heard once, it stays a Sunny Island until a restart
        self.assertEqual(self.limits(150000, 150000, 52000), (560, 1200, 1200, 480))
        self.assertEqual(self.link.heartbeats, 3)

    def test_other_protocols_do_not_look_for_one(self):
        for protocol, values in ((1, (560, 1500, 1500, 520)),):
            self.rig(protocol)
            self.heartbeat(SI_0X305)
            self.assertEqual(self.link.sma, -1)
            self.assertEqual(self.limits(150000, 150000, 52000), values)
        self.rig(2)
        self.assertEqual(self.link.sma, -1)

    def test_no_allocation_once_one_is_heard(self):
        self.rig(0)
        self.heartbeat(SI_0X305)
        lim = self.core.limits
        lim.ccl_ma = lim.dcl_ma = 150000
        self.poll_for(100)
        n = len(self.tap.frames)
        poll = self.link.poll
        for _ in range(400):  # 2 s: two 0x351 encoded and kept in range, heap locked
            self.t += 5
            self.bus.run_until(self.t * 1000)
            micropython.heap_lock()
            try:
                poll(self.core, self.t)
            finally:
                micropython.heap_unlock()
        sent = [d for i, _e, d, _t in self.tap.frames[n:] if i == 0x351]
        self.assertEqual([d[2:6] for d in sent], [b"\xb0\x04\xb0\x04"] * 2)


class BusOffRestartTest(unittest.TestCase):
    """Bus-off three times within 60 s puts the controller down (FAULT_BUS_OFF) and the
    app restarts it at once; fewer, or further apart, are left to the chip's own
    recovery."""

    def bus_offs(self, at_s, end_s, logged_at_s=None):
        sim = make_sim(inverter="can")
        pack = sim.packs[0]
        for t in at_s:
            sim.run(t * 1000)
            sim.bus.inject_errors(pack.can_chip, 40)  # 40 x 8 > 255: bus-off
        sim.run(end_s * 1000)
        app = pack.app
        self.assertEqual(app.board.can.bus_off, len(at_s))
        # logged one in ten minutes at most (the next beat after it), with the count so far
        off = [(r[1] // 1000, r[4]) for r in logged(app.events, ev.COMM, ev.COMM_BUS_OFF)]
        self.assertEqual(off, logged_at_s or [(at_s[0] + 1, 1)])
        self.assertEqual(app.exceptions, 0)
        self.assertTrue(app.link.can_ok)
        self.assertGreater(sim.inverter.limits_us, (end_s - 2) * 1000000)  # frames flow
        return app

    def test_three_within_a_minute_restart_the_controller(self):
        # each episode is seen ~8 ms after it begins (the next frame finds no free TX
        # buffer and reads the error state); the third puts the link down at 15.007 s,
        # the app logs why and restarts the controller at its next beat
        app = self.bus_offs((5, 10, 15), 20)
        down = mcp2515.FAULT_BUS_OFF
        self.assertEqual(comm_can(app), [(0, 1, 0), (16000, 0, down), (16000, 1, 0)])
        self.assertEqual(app.link.can_faults, 1)

    def test_two_within_a_minute_are_the_chips_business(self):
        app = self.bus_offs((5, 10, 70), 75)
        self.assertEqual(comm_can(app), [(0, 1, 0)])
        self.assertEqual(app.link.can_faults, 0)

    @long_run
    def test_a_restart_begins_the_count_again(self):
        app = self.bus_offs((5, 10, 15, 615, 620, 625), 630, [(6, 1), (616, 4)])
        down = mcp2515.FAULT_BUS_OFF
        self.assertEqual(
            comm_can(app),
            [(0, 1, 0), (16000, 0, down), (16000, 1, 0), (626000, 0, down), (626000, 1, 0)],
        )
        self.assertEqual(app.link.can_faults, 2)

    def test_down_again_within_a_minute_it_is_retried_quietly(self):
        # a restart that does not cure it: tried every CAN_RETRY_MS, not logged until it
        # has run a minute clean, then once, with the failures it did not log
        app = self.bus_offs((5, 10, 15, 20, 25, 30), 100)
        down = mcp2515.FAULT_BUS_OFF
        self.assertEqual(
            comm_can(app), [(0, 1, 0), (16000, 0, down), (16000, 1, 0), (91000, 1, -1)]
        )
        self.assertEqual(app.link.can_faults, 2)

    def test_a_quiet_restart_that_fails_is_logged(self):
        # down again within a minute (quiet), then the controller dies (nothing drives
        # MISO): the log must not end on the restart before
        sim = make_sim(inverter="can")
        pack = sim.packs[0]
        for t in (5, 10, 15, 20, 25, 30):
            sim.run(t * 1000)
            sim.bus.inject_errors(pack.can_chip, 40)
        sim.run(35000)
        pack.can_chip.spi_transfer = floating
        sim.run(300000)
        app = pack.app
        down = mcp2515.FAULT_BUS_OFF
        dead = mcp2515.FAULT_NO_RESET  # (its restart found no chip)
        self.assertEqual(
            comm_can(app), [(0, 1, 0), (16000, 0, down), (16000, 1, 0), (41000, 0, dead)]
        )
        self.assertFalse(app.link.can_ok)
        del pack.can_chip.spi_transfer  # it answers again: up at the next retry, logged
        sim.run(320000)
        self.assertEqual(comm_can(app)[-1][:2], (301000, 1))  # (retried every 10 s)
        self.assertTrue(app.link.can_ok)

    @long_run
    def test_a_bus_that_never_works_does_not_flood_the_log(self):
        # every frame the controller sends ends in an error frame (a wrong bit rate, a
        # shorted pair): it used to log 3 events a second, and the trips were lost
        sim = make_sim(inverter="can", events=[{"at_s": 1, "current_a": -20}])
        sim.run(5000)
        pack = sim.packs[0]
        app = pack.app
        seq0 = app.events.next_seq
        sim.bus.inject_errors(pack.can_chip, 10**9)
        sim.run(605000)
        comm = [(r[3], r[4]) for r in logged(app.events, ev.COMM) if r[0] >= seq0]
        self.assertEqual(comm, [(ev.COMM_CAN, 0), (ev.COMM_CAN, 1), (ev.COMM_BUS_OFF, 3)])
        # restarted at once, then every CAN_RETRY_MS (10 s): not at every beat
        self.assertLessEqual(app.link.can_faults, 61)
        self.assertEqual(app.exceptions, 0)
        self.assertTrue(pack.model.fet_states()[1])


class Counting:
    """A stand-in for the driver in _bus_off(): only its bus-off count is read."""

    bus_off = 0


class BusOffWindowTest(unittest.TestCase):
    def link(self):
        link = InverterLink(None, None, 0)
        link.can = Counting()
        link.can_ok = True
        return link

    def seen(self, link, now, episodes=1):
        link.can.bus_off = (link.can.bus_off + episodes) & 0x3FFFFFFF
        link._bus_off(now)
        return (link.can_ok, link.can_fault, link.can_faults)

    def test_the_third_within_60_s(self):
        up = (True, mcp2515.FAULT_NONE, 0)
        down = (False, mcp2515.FAULT_BUS_OFF, 1)
        link = self.link()
        self.assertEqual([self.seen(link, t) for t in (1000, 2000, 61000)], [up, up, up])
        self.assertEqual(self.seen(link, 61999), down)  # 2000, 61000, 61999
        link = self.link()
        self.assertEqual([self.seen(link, t) for t in (1000, 2000, 60999)], [up, up, down])

    def test_several_seen_at_one_look_and_the_count_wrapping(self):
        link = self.link()
        link.can.bus_off = link._bus_off_seen = 0x3FFFFFFE
        self.assertEqual(self.seen(link, 5000, 3), (False, mcp2515.FAULT_BUS_OFF, 1))
        self.assertEqual(link.can.bus_off, 1)

    def test_the_window_across_the_tick_wrap(self):
        link = self.link()
        t0 = 0x3FFFFFFF - 10000  # ticks_ms wraps 10 s later
        for dt in (0, 20000):
            self.seen(link, ticks.add(t0, dt))
        self.assertTrue(link.can_ok)
        self.assertEqual(self.seen(link, ticks.add(t0, 59999)), (False, mcp2515.FAULT_BUS_OFF, 1))


if __name__ == "__main__":
    unittest.main()


class HeartbeatIdsTest(unittest.TestCase):
    def test_the_links_copies_of_the_heartbeat_ids_are_the_codecs(self):
        from protocols import growatt_can, pylon_can, schneider_can

        self.assertEqual(inverter_link_consts.PYLON_KEEPALIVE, pylon_can.KEEPALIVE)
        self.assertEqual(inverter_link_consts.GROWATT_REQUEST, growatt_can.REQUEST)
        self.assertEqual(inverter_link_consts.SCHNEIDER_HEARTBEAT, schneider_can.HEARTBEAT)

    def test_each_protocol_loads_its_own_set(self):
        import inverter_link as il

        self.assertEqual(len(il._load(0)), 11)
        self.assertEqual(len(il._load(1)), 7)
        self.assertTrue(all(codec.__name__.endswith("schneider_can") for _i, codec in il._load(2)))
