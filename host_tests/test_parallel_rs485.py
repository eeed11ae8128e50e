"""Parallel packs behind one Pylon RS485 link: the master's server answers ADR 2 + k for
the pack at chain address k + 1 with that pack's own values, carried to the master on
the pack link (CELLS_1..4, TEMPS_1..2); an ADR of no pack counted gets no reply; 0x94 is
the master's only (firmware/protocols/pylon_rs485.py with packlink.py and packsystem.py).

The frames are built and checked with the reference codec of test_pylon_rs485 (written
from protocols.md 4); the expected values come from each pack's own core, in its own
firmware instance on the chain rig, and the cell voltages the simulator forces on it.
"""

import unittest

import fwconst
from packsystem import LOST_MS, Packs, PackView
from support import cpython_only
from test_parallel import chain_of
from test_pylon_rs485 import body, decode, make, pack16, s16, wire

from bms import events as ev
from bms import ticks
from protocols import packlink_can as pl
from protocols.fields import div_round
from protocols.pylon_rs485 import SET_EXPIRY_MS, Server

RTN_ADR = fwconst.of("protocols.pylon_rs485").RTN_ADR
RTN_INTERNAL = fwconst.of("protocols.pylon_rs485").RTN_INTERNAL

N = 4
# pack k's cell i (0-based): 3280 + 10 k + i mV, 3290..3335, every value of the system
# different and each pack's own
CELL_BASE_MV = 3280


def cells_of(k):
    return [CELL_BASE_MV + 10 * k + i for i in range(16)]


def request(adr, cid2, info=b""):
    return body(0x20, adr, 0x46, cid2, info)


def analog_block(b, cells):
    """The 0x42 pack block of a pack whose own core is b (protocols.md 4.3): capacities
    as the pack link carries them (0.1 Ah, the SOC in 0.01 %)."""
    t = b.sample.temps_dc
    out = bytes([16]) + pack16(*cells) + bytes([6])
    out += pack16(*[t[s] + 2731 for s in (4, 0, 1, 2, 3, 5)])
    cur = div_round(b.reported_ma, 100) & 0xFFFF
    out += pack16(cur, b.sample.stack_mv, 0xFFFF) + bytes([4])
    out += pack16(0xFFFF, b.soc.cycles)
    full_mas = b.soc.full_mas // 360000 * 360000
    left_mah = (full_mas // 10000) * b.soc.shown_cpct // 3600
    full_mah = full_mas // 3600
    for v in (left_mah, full_mah):
        out += bytes([(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF])
    return out


class SystemRs485Test(unittest.TestCase):
    """Four packs, an RS485 inverter on the master's Link IN (the chain built once)."""

    @classmethod
    def setUpClass(cls):
        c = cls.c = chain_of(N, inverter="rs485")
        for k in range(1, N + 1):
            cells = cells_of(k)
            c.sim.apply({"pack": k, "cell_mv": {str(i + 1): cells[i] for i in range(16)}})
        c.run(4000)  # addressed, counted, and every frame sent since the overrides

    def setUp(self):
        self.server = self.c.app(1).link.server

    def ask(self, chars):
        """The master's reply (bytes) to the characters between `~` and CR, or None."""
        app = self.c.app(1)
        b = app.packlink.report(app.bms)
        got = self.server.handle(chars, len(chars), b, self.c.t_ms)
        return bytes(self.server.out[:got]) if got else None

    def own(self, k):
        return self.c.app(k).bms

    def test_the_chain(self):
        self.assertEqual(self.c.addresses(), [(k, k == 1) for k in range(1, N + 1)])
        self.assertEqual(self.c.link(1).packs.count, N)
        for k in range(1, N + 1):
            self.assertEqual(list(self.own(k).sample.cells_mv), cells_of(k))

    def test_analog_values_of_each_pack_at_its_address(self):
        for k in range(2, N + 1):
            adr = k + 1
            raw = self.ask(request(adr, 0x42, bytes([adr])))
            block = analog_block(self.own(k), cells_of(k))
            self.assertEqual(raw, wire(0x20, adr, 0x46, 0, bytes([0x11, adr]) + block), k)
        # ADR 2: the master, its own cells (the rest of its block is the system's)
        d = decode(self, self.ask(request(2, 0x42, b"\x02"))).info
        self.assertEqual([d[3 + 2 * i] << 8 | d[4 + 2 * i] for i in range(16)], cells_of(1))

    def test_alarms_management_and_software_of_each_pack(self):
        for k in range(2, N + 1):
            adr = k + 1
            alone = Server(adr)  # the pack's own values, as a pack alone at that ADR
            for cid2 in (0x44, 0x92, 0x93, 0x96):
                frame = request(adr, cid2, bytes([adr]))
                got = alone.handle(frame, len(frame), self.own(k), self.c.t_ms)
                self.assertEqual(self.ask(frame), bytes(alone.out[:got]), (k, cid2))
        d = decode(self, self.ask(request(4, 0x92, b"\x04"))).info
        lim = self.own(3).limits
        self.assertEqual(d[0], 4)
        self.assertEqual((d[1] << 8 | d[2], d[5] << 8 | d[6]), (lim.cvl_mv, lim.ccl_ma // 100))
        software = bytes([5, 1, 0, 1, 0, 0])  # the command byte, versions 1.0 and 1.0.0
        self.assertEqual(self.ask(request(5, 0x96, b"\x05")), wire(0x20, 5, 0x46, 0, software))

    def test_an_address_of_no_pack_gets_no_reply(self):
        s = self.server
        before = s.not_ours
        self.assertIsNone(self.ask(request(N + 2, 0x42, bytes([N + 2]))))
        self.assertIsNone(self.ask(request(0x12, 0x92, b"\x12")))
        self.assertEqual(s.not_ours, before + 2)
        # 0x4F at any ADR: the master answers, as ADR 2
        self.assertEqual(self.ask(request(N + 2, 0x4F)), wire(0x33, 2, 0x46, 0))

    def test_a_broken_frame_at_a_packs_address_gets_rtn_02_as_that_pack(self):
        # the master answers for its packs' addresses: a frame that fails its CHKSUM at
        # one of them gets RTN 02 as that pack; beyond them, and as a 0x4F (its CID2 may
        # be the broken byte), no reply. Each is counted bad_chksum, none not_ours
        s = self.server
        before = (s.bad_chksum, s.not_ours)
        broken = body(0x20, 3, 0x46, 0x42, b"\x03", chk=0)
        self.assertEqual(self.ask(broken), wire(0x20, 3, 0x46, 0x02))
        self.assertIsNone(self.ask(body(0x20, N + 2, 0x46, 0x42, bytes([N + 2]), chk=0)))
        self.assertIsNone(self.ask(body(0x20, N + 2, 0x46, 0x4F, chk=0)))
        self.assertEqual((s.bad_chksum, s.not_ours), (before[0] + 3, before[1]))

    def test_set_management_and_another_packs_command_byte_refused(self):
        s = self.server
        before = s.bad_adr
        info = bytes([3]) + pack16(55000, 48000, 500, 500)
        self.assertEqual(self.ask(request(3, 0x94, info)), wire(0x20, 3, 0x46, RTN_ADR))
        self.assertEqual(self.ask(request(3, 0x42, b"\x04")), wire(0x20, 3, 0x46, RTN_ADR))
        self.assertEqual(s.bad_adr, before + 2)

    @cpython_only("python-pylontech")
    def test_python_pylontech_reads_each_packs_cells_by_address(self):
        import contextlib
        import io

        from pylontech import Pylontech

        test = self

        class Port:
            reply = b""

            def write(self, frame):
                self.reply = test.ask(frame[1:-1]) or b""

            def readline(self):
                return self.reply

        p = Pylontech.__new__(Pylontech)
        p.s = Port()
        for k in range(1, N + 1):
            v = p.get_values_single(k + 1)
            self.assertEqual(v.NumberOfModule, k + 1)
            self.assertEqual([round(c * 1000) for c in v.CellVoltages], cells_of(k))
        for k in range(2, N + 1):
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its debug
                m = p.get_management_info(k + 1)
            self.assertEqual(m.ChargeVoltageLimit, self.own(k).limits.cvl_mv / 1000)
        # each pack's own serial number: its board's unique id (the simulator's end in
        # the pack's number), the others' from their IDENT frames
        serials = {k + 1: "E6614104032B1A%02X" % k for k in range(1, N + 1)}
        self.assertEqual(p.get_module_serial_number(2).ModuleSerialNumber.decode(), serials[2])
        self.assertEqual(p.scan_for_batteries(2, N + 3), serials)


class SystemSetManagementTest(unittest.TestCase):
    """0x94 at the master's ADR of three packs (50 A each, 150 A the system's): the
    inverter's currents bound the system's limits that 0x92 reports, after the aggregate,
    for 10 s unless re-sent, as a pack alone's own (test_pylon_rs485). Audit: they went to
    the master's pack alone, clamped to its 50 A, and the system asked three times its
    lowest pack's: CCL 30 A read 90 A, and a 100 A ceiling was lost."""

    def setUp(self):
        self.c = chain_of(3, inverter="rs485")
        self.c.run(4000)

    def now(self):
        return self.c.packs[0].board.ticks_ms()  # (the master's own clock, as its loop's)

    def ask(self, chars):
        app = self.c.app(1)
        server = app.link.server
        got = server.handle(chars, len(chars), app.packlink.report(app.bms), self.now())
        return decode(self, bytes(server.out[:got]))

    def told(self):
        """0x92's CV and DV (mV), CCL and DCL (0.1 A, DCL as its size) and status byte."""
        d = self.ask(request(2, 0x92, b"\x02")).info
        return (d[1] << 8 | d[2], d[3] << 8 | d[4], d[5] << 8 | d[6], -s16(d[7] << 8 | d[8]), d[9])

    def set(self, ccl_da, dcl_da):
        info = bytes([2]) + pack16(55000, 49000, ccl_da, dcl_da)
        self.assertEqual(self.ask(request(2, 0x94, info)).rtn, 0)
        return self.now()

    def test_the_inverters_currents_bound_the_systems_for_10_s(self):
        c = self.c
        self.assertEqual(self.told(), (56000, 48000, 1500, 1500, 0xC0))
        start = self.set(300, 400)
        # at once, as a pack alone's at its next tick; the voltages at the master's tick
        # and the system's next aggregate (its CVL and DVL are the packs')
        self.assertEqual(self.told()[2:], (300, 400, 0xC0))
        c.run(1100)
        self.assertEqual(self.told(), (55000, 49000, 300, 400, 0xC0))
        c.run_to(c.t_ms + ticks.diff(start + SET_EXPIRY_MS - 100, self.now()))
        self.assertEqual(self.told(), (55000, 49000, 300, 400, 0xC0))
        c.run(2500)  # lapsed: the master's pack at its tick, the system at its next beat
        self.assertEqual(self.told(), (56000, 48000, 1500, 1500, 0xC0))

    def test_the_expiry_is_the_packs(self):
        # both sides of it on the system's aggregate: the master's pack holds the
        # currents, and its own CCL and DCL are 30 A and 40 A too, which its frames carry
        # until its own lapse (the system three times them for a second, no more)
        self.set(300, 400)
        self.c.run(1100)
        link = self.c.link(1)
        view = link.view
        until = self.c.app(1).bms.limits.ext_until
        view.aggregate(link.packs, ticks.add(until, -1))
        self.assertEqual((view.limits.ccl_ma, view.limits.dcl_ma), (30000, 40000))
        view.aggregate(link.packs, until)
        self.assertEqual((view.limits.ccl_ma, view.limits.dcl_ma), (3 * 30000, 3 * 40000))

    def test_a_ceiling_between_one_packs_limits_and_the_systems_holds(self):
        c = self.c
        for _ in range(3):  # re-sent within 10 s: 15 s and more
            self.set(1000, 1200)
            c.run(5000)
            self.assertEqual(self.told()[2:], (1000, 1200, 0xC0))
        self.assertEqual(self.c.app(1).bms.limits.ccl_ma, 50000)  # (the master's own)
        self.set(2000, 2000)  # above the system's: its own
        c.run(1100)
        self.assertEqual(self.told()[2:], (1500, 1500, 0xC0))
        self.set(0, 1200)  # no charge: CCL 0, its enable off
        self.assertEqual(self.told()[2:], (0, 1200, 0x40))


class LostPackTest(unittest.TestCase):
    def test_a_lost_pack_s_address_goes_silent_and_answers_again(self):
        c = chain_of(2, inverter="rs485")
        c.run(3000)
        app = c.app(1)
        server = app.link.server
        frame = request(3, 0x42, b"\x03")

        def ask():
            got = server.handle(frame, len(frame), app.packlink.report(app.bms), c.t_ms)
            return decode(self, bytes(server.out[:got])).rtn if got else None

        self.assertEqual(ask(), 0)
        c.power(2, False)
        c.run(LOST_MS + 500)
        self.assertEqual(c.link(1).packs.lost_list(), [2])
        self.assertIsNone(ask())
        c.power(2)
        c.run(5000)
        self.assertEqual(ask(), 0)


class PackViewTest(unittest.TestCase):
    """A pack counted (its four summary frames) whose cells have not all come: RTN 91."""

    def test_cells_not_all_heard_are_not_reported(self):
        r = make()
        b = r.bms
        packs = Packs(ev.EventLog())
        buf = bytearray(8)
        for msg in range(1, pl.TEMPS_2):  # all but TEMPS_2 (and IDENT)
            pl.encode(msg, buf, b, False)
            packs.take(2, msg, buf, 0)
        self.assertTrue(packs.present(2))

        class Peers:
            def peer(self, a, own):
                if a != 2:
                    return None
                v = PackView()
                v.fill(packs, a, own)
                return v

        server = Server()
        server.peers = Peers()
        frame = request(3, 0x42, b"\x03")
        got = server.handle(frame, len(frame), b, 0)
        self.assertEqual(bytes(server.out[:got]), wire(0x20, 3, 0x46, RTN_INTERNAL))
        pl.encode(pl.TEMPS_2, buf, b, False)
        packs.take(2, pl.TEMPS_2, buf, 0)
        got = server.handle(frame, len(frame), b, 0)
        d = decode(self, bytes(server.out[:got]))
        self.assertEqual((d.adr, d.rtn, d.info[1]), (3, 0, 3))
        self.assertEqual(d.info[2:], analog_block(b, list(b.sample.cells_mv)))
        # its serial number: not known before its IDENT frame, and then no reply (a scan
        # takes any reply for a battery), counted
        frame = request(3, 0x93, b"\x03")
        blind = server.blind
        self.assertEqual(server.handle(frame, len(frame), b, 0), 0)
        self.assertEqual(server.blind, blind + 1)
        b.uid[:] = bytes.fromhex("E6614104032B1A07")
        pl.encode(pl.IDENT, buf, b, False)
        b.uid[:] = bytes(8)  # (the master's own: not what pack 2 answers)
        packs.take(2, pl.IDENT, buf, 0)
        got = server.handle(frame, len(frame), b, 0)
        d = decode(self, bytes(server.out[:got]))
        self.assertEqual((d.adr, d.rtn, d.info), (3, 0, b"\x03E6614104032B1A07"))
