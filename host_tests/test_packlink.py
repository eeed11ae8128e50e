"""Parallel packs, the pure parts: the chain's beacon bytes, the pack link's CAN frames
(exact bytes), the addressing state machine, the master's table of packs (loss and
return) and the system's values (protocols/packchain.py, protocols/packlink_can.py,
bms/addressing.py, packsystem.py), and the RS485 driver's binary frames beside Pylon's.

Expected bytes are written out from the layout tables in the modules' docstrings, never
computed with the codecs.
"""

import unittest

import fwconst
from core_rig import Rig
from packsystem import LOST_MS, STALE_MS, Packs, SystemView
from support import cpython_only, logged

from bms import events as ev
from bms import protections as pt
from bms import ticks
from bms.addressing import Addressing
from drivers.rs485 import Rs485
from protocols import packchain
from protocols import packlink_can as pl

BEACON_MS = fwconst.of("bms.addressing").BEACON_MS
LISTEN_MS = fwconst.of("bms.addressing").LISTEN_MS
ADDR_LOST_MS = fwconst.of("bms.addressing").LOST_MS  # (packlink.LOST_MS)
RIVAL_MS = fwconst.of("packlink").RIVAL_MS
UNLOCK_HEARD_MS = fwconst.of("packlink").UNLOCK_HEARD_MS
MASTER_HOLD_MS = fwconst.of("packlink_init").MASTER_HOLD_MS
COUNT_WAIT_MS = fwconst.of("packlink").COUNT_WAIT_MS

SETTLE_MS = fwconst.of("packsystem").SETTLE_MS
ticks_consts = fwconst.of("bms.ticks")
packlink_can_consts = fwconst.of("protocols.packlink_can")

NO_LEAK = {"soc_self_discharge_ma": 0, "warn_delay_ms": 0}


def hx(text):
    return bytes.fromhex(text.replace(" ", ""))


class BeaconBytesTest(unittest.TestCase):
    def test_beacon_bytes(self):
        buf = bytearray(5)
        self.assertEqual(packchain.encode_beacon(buf, 1, True), 5)
        # A5 01 01 01, check = -(0xA5 + 1 + 1 + 1) & 0xFF = 0x58
        self.assertEqual(bytes(buf), hx("A5 01 01 01 58"))
        packchain.encode_beacon(buf, 32, False)
        self.assertEqual(bytes(buf), hx("A5 01 20 00 3A"))

    def test_beacon_decoding_both_sides(self):
        good = hx("A5 01 20 00 3A")
        self.assertEqual(packchain.beacon_address(good, 5), 32)
        self.assertEqual(packchain.beacon_address(good, 4), 0)  # short
        self.assertEqual(packchain.beacon_address(hx("A5 01 20 00 3B"), 5), 0)  # check
        self.assertEqual(packchain.beacon_address(hx("A5 02 20 00 39"), 5), 0)  # msg
        self.assertEqual(packchain.beacon_address(hx("A5 01 21 00 39"), 5), 0)  # 33
        self.assertEqual(packchain.beacon_address(hx("A5 01 00 00 5A"), 5), 0)  # 0
        self.assertEqual(packchain.beacon_address(hx("A5 01 01 00 59"), 5), 1)

    def test_the_beacons_flags_and_the_unlock_after_it(self):
        # b1 held, b2 the master's unlock holds and its UNLOCK frame (msg 02, u16 0.1 s)
        # follows in the same write
        buf = bytearray(10)
        self.assertEqual(packchain.encode_beacon(buf, 1, True, True), 5)
        self.assertEqual(bytes(buf[:5]), hx("A5 01 01 03 56"))
        self.assertEqual(packchain.encode_beacon(buf, 1, True, False, 600000), 10)
        self.assertEqual(bytes(buf), hx("A5 01 01 05 54 A5 02 70 17 D2"))
        self.assertEqual(packchain.encode_beacon(buf, 2, False, False, 599899), 10)
        self.assertEqual(bytes(buf), hx("A5 01 02 04 54 A5 02 6E 17 D4"))  # rounded down
        self.assertEqual(packchain.encode_beacon(buf, 1, True, False, 100), 10)
        self.assertEqual(bytes(buf[5:]), hx("A5 02 01 00 58"))
        buf[:] = bytes(10)
        self.assertEqual(packchain.encode_beacon(buf, 1, True, False, 99), 5)  # locked
        self.assertEqual(bytes(buf), hx("A5 01 01 01 58") + bytes(5))
        packchain.encode_beacon(buf, 1, True, False, 0xFFFF * 100 + 100)  # (the field's most)
        self.assertEqual(bytes(buf[5:]), hx("A5 02 FF FF 5B"))
        # b3: no word of the master's unlock (not a word that it is locked)
        self.assertEqual(packchain.encode_beacon(buf, 2, False, False, -1), 5)
        self.assertEqual(bytes(buf[:5]), hx("A5 01 02 08 50"))

    def test_unlock_decoding_both_sides(self):
        self.assertEqual(packchain.unlock_ms(hx("A5 02 70 17 D2"), 5), 600000)
        self.assertEqual(packchain.unlock_ms(hx("A5 02 01 00 58"), 5), 100)
        self.assertEqual(packchain.unlock_ms(hx("A5 02 70 17 D3"), 5), -1)  # check
        self.assertEqual(packchain.unlock_ms(hx("A5 02 70 17"), 4), -1)  # short
        self.assertEqual(packchain.unlock_ms(hx("A5 01 01 05 54"), 5), -1)  # a beacon
        self.assertEqual(packchain.beacon_address(hx("A5 02 70 17 D2"), 5), 0)
        # a beacon's flags do not change its address (firmware without them reads it)
        self.assertEqual(packchain.beacon_address(hx("A5 01 20 03 37"), 5), 32)


class PackLinkFramesTest(unittest.TestCase):
    @staticmethod
    def rig(_self=None):
        r = Rig(NO_LEAK).settle()
        cells = [3300] * 16
        cells[4] = 3250  # cell 5 lowest
        cells[11] = 3400  # cell 12 highest
        r.cells(cells)
        r.temps(250)
        r.temps(231, 1)  # a cell sensor at 23.1 C
        r.temps(262, 3)
        r.current(-12340)
        r.tick()
        b = r.bms
        b.soc.shown_cpct = 5123
        b.soc.cycles = 17
        b.soc.full_mas = 360000 * 987  # 98.7 Ah
        return r

    def frame(self, msg, b, master=False):
        buf = bytearray(b"\xee" * 8)
        self.assertEqual(pl.encode(msg, buf, b, master), 8)
        return bytes(buf)

    def test_a_cell_below_zero_is_sent_as_zero(self):
        # (a broken sense wire: the pack's own SENSOR_FAIL; the field has no sign, and
        # the wrapped value, 65 436 mV, was a frame no master takes: the master's own
        # line in its table would have gone stale)
        r = self.rig()
        cells = [3300] * 16
        cells[5] = -100
        r.cells(cells)
        r.tick()
        b = r.bms
        self.assertEqual(b.sample.min_mv, -100)
        self.assertEqual(self.frame(pl.CELLS, b)[:6], hx("00 00 E4 0C 06 01"))
        cells_1 = packlink_can_consts.CELLS_1
        self.assertEqual(self.frame(cells_1 + 1, b), hx("E4 0C 00 00 E4 0C E4 0C"))
        packs = Packs(ev.EventLog())
        for msg in (pl.CELLS, cells_1 + 1):
            self.assertIsNotNone(packs.take(1, msg, self.frame(msg, b), 0))

    def test_ids(self):
        self.assertEqual(pl.can_id(pl.CELLS, 1), 0x1BA00101)
        self.assertEqual(pl.can_id(pl.STATUS, 32), 0x1BA00420)
        self.assertEqual(pl.split(0x1BA00320), (3, 32))
        self.assertEqual(pl.split(0x1BB00102), (0, 0))  # the service range
        self.assertEqual(pl.split(0x351), (0, 0))
        self.assertEqual(pl.split(0x1CA00101), (0, 0))
        # the one acceptance mask passes both private ranges, and no inverter id
        for ident in (0x1BA00101, 0x1BA0FF20, 0x1BB00102, 0x1BB0FFFF):
            self.assertEqual(ident & pl.MASK, pl.FILTER & pl.MASK, hex(ident))
        for ident in (0x310, 0x333, 0x351, 0x1BC00000, 0x1BA10000, 0x0BA00000):
            self.assertNotEqual(ident & pl.MASK, pl.FILTER & pl.MASK, hex(ident))

    def test_exact_bytes(self):
        r = self.rig()
        b = r.bms
        s = b.sample
        # CELLS: 3250 mV = 0x0CB2, 3400 = 0x0D48, cells 5 and 12, SOC 51.23 % = 0x1403
        self.assertEqual(self.frame(pl.CELLS, b), hx("B2 0C 48 0D 05 0C 03 14"))
        # MEASURE: the stack, -12.34 A -> -123 (0.1 A), cell temps 23.1 / 26.2 C
        stack = s.stack_mv
        expect = bytes((stack & 0xFF, stack >> 8)) + hx("85 FF E7 00 06 01")
        self.assertEqual(self.frame(pl.MEASURE, b), expect)
        lim = b.limits
        lim.cvl_mv = 56000
        lim.ccl_ma = 50000
        lim.dcl_ma = 100000
        # LIMITS: 56000 mV = 0xDAC0, 500 and 1000 (0.1 A), SOH 98 %, flags
        flags = 0
        if b.chg:
            flags |= 0x01
        if b.dsg and not b.pre:
            flags |= 0x02
        if lim.charge_enable:
            flags |= 0x08
        if lim.discharge_enable:
            flags |= 0x10
        self.assertEqual(flags, 0x1B)  # both FETs on, both directions asked for
        self.assertEqual(self.frame(pl.LIMITS, b), hx("C0 DA F4 01 E8 03 62 1B"))
        self.assertEqual(self.frame(pl.LIMITS, b, True), hx("C0 DA F4 01 E8 03 62 9B"))
        lim.force_charge = True
        lim.full_request = True
        self.assertEqual(self.frame(pl.LIMITS, b)[7], 0x7B)
        # STATUS: the names (none), 98.7 Ah = 987 (0.1 Ah), 17 cycles
        self.assertEqual(self.frame(pl.STATUS, b), hx("00 00 00 00 DB 03 11 00"))
        b.engine.names = 1 << pt.COVP | 1 << pt.PACK_LOST
        self.assertEqual(self.frame(pl.STATUS, b)[:4], hx("02 00 00 01"))
        # IDENT: the board's unique id, as it is (right-aligned: the app's)
        b.uid[:] = hx("E6 61 41 04 03 2B 1A 07")
        self.assertEqual(pl.IDENT, 0x0B)
        self.assertEqual(self.frame(pl.IDENT, b), hx("E6 61 41 04 03 2B 1A 07"))
        buf = bytearray(8)
        self.assertEqual(pl.encode(12, buf, b, False), 0)
        self.assertEqual(pl.encode(0, buf, b, False), 0)

    def test_cells_and_temperatures(self):
        b = self.rig().bms
        s = b.sample
        for i in range(16):
            s.cells_mv[i] = 3200 + i  # 0x0C80 + i
        s.temps_dc[0] = -5  # -0.5 C: 0xFFFB
        s.temps_dc[4] = 255  # the board
        s.temps_dc[5] = 412  # the MOSFETs
        self.assertEqual(self.frame(packlink_can_consts.CELLS_1, b), hx("80 0C 81 0C 82 0C 83 0C"))
        self.assertEqual(
            self.frame(packlink_can_consts.CELLS_1 + 1, b), hx("84 0C 85 0C 86 0C 87 0C")
        )
        self.assertEqual(
            self.frame(packlink_can_consts.CELLS_1 + 2, b), hx("88 0C 89 0C 8A 0C 8B 0C")
        )
        self.assertEqual(
            self.frame(packlink_can_consts.CELLS_1 + 3, b), hx("8C 0C 8D 0C 8E 0C 8F 0C")
        )
        self.assertEqual(self.frame(packlink_can_consts.TEMPS_1, b), hx("FB FF E7 00 FA 00 06 01"))
        self.assertEqual(self.frame(pl.TEMPS_2, b), hx("FF 00 9C 01 00 00 00 00"))

    def test_temps_2_announces_the_unlock(self):
        b = self.rig().bms
        b.sample.temps_dc[4] = 255
        b.sample.temps_dc[5] = 412
        buf = bytearray(8)
        pl.encode(pl.TEMPS_2, buf, b, True)
        pl.put_unlock(buf, b, 5000)  # locked: 0
        self.assertEqual(bytes(buf), hx("FF 00 9C 01 00 00 00 00"))
        b.unlocked = True
        b.unlock_at = 5000
        valid_ms = b.cfg.unlock_valid_ms
        self.assertEqual(valid_ms, 600000)
        pl.put_unlock(buf, b, 5000)  # 600 s: 6000 (0.1 s)
        self.assertEqual(bytes(buf), hx("FF 00 9C 01 70 17 00 00"))
        self.assertEqual(pl.unlock_ms(buf), 600000)
        pl.put_unlock(buf, b, 5000 + valid_ms - 199)  # 199 ms left: 0.1 s, rounded down
        self.assertEqual(pl.unlock_ms(buf), 100)
        pl.encode(pl.TEMPS_2, buf, b, True)
        pl.put_unlock(buf, b, 5000 + valid_ms - 99)  # 99 ms left: announced as locked
        self.assertEqual(pl.unlock_ms(buf), 0)
        pl.put_unlock(buf, b, 5000 + valid_ms)  # run out
        self.assertEqual(pl.unlock_ms(buf), 0)
        self.assertFalse(b.unlocked)


class AddressingTest(unittest.TestCase):
    def test_alone_becomes_master_after_listening(self):
        a = Addressing(1000)
        self.assertFalse(a.step(1000 + LISTEN_MS - 1))
        self.assertEqual((a.address, a.master), (0, False))
        self.assertTrue(a.step(1000 + LISTEN_MS))  # the first beacon at once
        self.assertEqual((a.address, a.master), (1, True))
        t = 1000 + LISTEN_MS
        self.assertFalse(a.step(t + BEACON_MS - 1))
        self.assertTrue(a.step(t + BEACON_MS))

    def test_a_beacon_makes_a_slave_and_steps_a_master_down(self):
        a = Addressing(0)
        a.heard(1, 100)
        self.assertEqual((a.address, a.master), (2, False))
        self.assertTrue(a.step(100))
        self.assertTrue(a.step(10000))  # silence upstream: still a slave, beaconing on
        self.assertEqual((a.address, a.master), (2, False))
        b = Addressing(0)
        b.step(LISTEN_MS)
        self.assertTrue(b.master)
        b.heard(4, LISTEN_MS + 50)  # packs upstream came up after us
        self.assertEqual((b.address, b.master, b.changes), (5, False, 2))
        b.heard(32, LISTEN_MS + 60)  # a 33rd pack gets no address
        self.assertEqual(b.address, 0)
        self.assertFalse(b.step(LISTEN_MS + 100000))

    def test_an_inverter_on_link_in(self):
        a = Addressing(0)
        a.inverter(0)
        self.assertEqual((a.address, a.master), (1, True))
        b = Addressing(0)
        b.heard(1, 10)
        b.inverter(10)  # a slave's Link IN is a pack's while its beacons come
        self.assertEqual((b.address, b.master), (2, False))
        b.step(10 + ADDR_LOST_MS - 1)
        b.inverter(10 + ADDR_LOST_MS - 1)
        self.assertEqual((b.address, b.master, b.changes), (2, False, 1))
        # no beacon for the pack link's loss time: the head of the chain was taken out
        # and the inverter's cable moved here (it stayed a muted slave, unanswered)
        b.inverter(10 + ADDR_LOST_MS)
        self.assertEqual((b.address, b.master, b.changes), (1, True, 2))
        self.assertTrue(b.send_now)  # its beacon at once: the packs behind it follow

    def test_a_beacon_heard_long_ago_is_never_new(self):
        # ticks wrap (2**30 ms, 12.4 days): the last beacon's stamp is held LOST_MS behind
        # (a stamp a whole period old reads as a moment ago)
        b = Addressing(0)
        b.heard(1, 10)
        t = 10
        for _ in range(4):  # a whole period, stepped (the poll steps it every 100 ms)
            t = ticks.add(t, 1 << 28)
            b.step(t)
        self.assertEqual(t, 10)
        b.inverter(11)
        self.assertEqual((b.address, b.master), (1, True))


def frames(
    cells=(3300, 3300, 1, 1, 5000), measure=(52800, 0, 250, 250), limits=None, status=(0, 1000, 0)
):
    """The four raw frames of one pack, written out from the layout table."""
    cvl, ccl, dcl, soh, flags = limits or (56000, 500, 1000, 100, 0x1B)

    def le(v, n=2):
        v &= (1 << (8 * n)) - 1
        return bytes((v >> (8 * k)) & 0xFF for k in range(n))

    lo, hi, lo_i, hi_i, soc = cells
    out = {pl.CELLS: le(lo) + le(hi) + bytes((lo_i, hi_i)) + le(soc)}
    mv, da, tlo, thi = measure
    out[pl.MEASURE] = le(mv) + le(da) + le(tlo) + le(thi)
    out[pl.LIMITS] = le(cvl) + le(ccl) + le(dcl) + bytes((soh, flags))
    names, cap, cycles = status
    out[pl.STATUS] = le(names, 4) + le(cap) + le(cycles)
    return out


def checked(packs, now):
    """Packs.check() as the master's loop calls it, at least every 100 ms: 100 ms
    before now, then at now (a call after a longer gap is the loop held up)."""
    packs.check(ticks.add(now, -100))
    return packs.check(now)


class SystemTest(unittest.TestCase):
    def test_the_link_and_the_system_lose_a_pack_alike(self):
        # packlink keeps its own copy: a single pack never loads packsystem
        import packlink

        self.assertEqual(packlink.LOST_MS, LOST_MS)
        self.assertEqual(LOST_MS, 3000)

    def setUp(self):
        self.r = Rig(NO_LEAK).settle()
        self.log = ev.EventLog()
        self.packs = Packs(self.log)
        self.view = SystemView(self.r.bms)

    def give(self, src, now=1000, **kw):
        changed = False
        for msg, data in sorted(frames(**kw).items()):
            changed = self.packs.take(src, msg, data, now) or changed
        return changed

    def limits(self):
        self.view.aggregate(self.packs, 0)
        lim = self.view.limits
        return (lim.cvl_mv, lim.ccl_ma, lim.dcl_ma, self.view.modules)

    def test_a_pack_counts_once_all_four_frames_came(self):
        f = frames()
        self.assertFalse(self.packs.take(2, pl.CELLS, f[pl.CELLS], 0))
        self.assertFalse(self.packs.take(2, pl.MEASURE, f[pl.MEASURE], 0))
        self.assertFalse(self.packs.take(2, pl.LIMITS, f[pl.LIMITS], 0))
        self.assertEqual(self.packs.count, 0)
        self.assertTrue(self.packs.take(2, pl.STATUS, f[pl.STATUS], 0))
        self.assertEqual(self.packs.count, 1)
        for src, msg in ((0, 1), (33, 1), (2, 0), (2, 5)):
            self.assertFalse(self.packs.take(src, msg, f[pl.CELLS], 0))

    def test_sums_over_the_packs_whose_fets_take_the_direction(self):
        self.give(1)
        self.give(2)
        self.give(3)
        self.assertEqual(self.limits(), (56000, 150000, 300000, 3))
        # the lowest CVL; the weakest CCL sets every pack's share
        self.give(2, limits=(55000, 300, 1000, 100, 0x1B))
        self.assertEqual(self.limits(), (55000, 90000, 300000, 3))

    def at(self, now, *currents, **kw):
        """Packs 1.. carry these currents (0.1 A, + charging): the system's CCL and DCL
        aggregated at now."""
        for a, da in enumerate(currents, 1):
            self.give(a, measure=(52800, da, 250, 250), **kw)
        self.view.aggregate(self.packs, now)
        return (self.view.limits.ccl_ma, self.view.limits.dcl_ma)

    def test_the_limits_follow_how_the_packs_share_the_current(self):
        # three packs of CCL 50 A, DCL 100 A; never judged: alike, three times the lowest
        self.assertEqual(self.at(0, 0, 0, 0), (150000, 300000))
        # pack 1 takes 40 A of 100: the bank may draw 100 / 40 * 100 = 250 A, where pack 1
        # takes its own 100 A (8 packs at 800 A: the first took 133 A, tripped DOCP, then
        # the next); a fall, at once
        self.assertEqual(self.at(1000, -400, -350, -250), (150000, 250000))
        # a rise waits for every pack's frames from after the last judgment
        self.assertEqual(self.at(1000 + SETTLE_MS - 1, -350, -350, -300), (150000, 250000))
        self.assertEqual(self.at(1000 + SETTLE_MS, -350, -350, -300), (150000, 285700))
        # under a tenth of the limit (at a few amps the cells' voltages decide the sharing,
        # and at rest the nearest took 219 A of a load step): as last judged
        self.assertEqual(self.at(10000, -10, -9, -9), (150000, 285700))
        self.assertEqual(self.at(11000, -100, -90, -90), (150000, 285700))  # (28 A)
        self.assertEqual(self.at(12000, -290, -100, -100), (150000, 168900))  # 49 A
        # packs charging each other: no load, no judgment
        self.assertEqual(self.at(20000, -300, 200, 100), (150000, 168900))
        # charging, pack 1 takes 60 A of 50 A, 10 A from the others (a pack at a lower
        # SOC): at most one pack's limit, the least there is
        self.assertEqual(self.at(21000, 600, -50, -50), (50000, 168900))
        self.assertEqual(self.at(21000 + SETTLE_MS, 300, 250, 250), (133300, 168900))
        # 20 A: a tenth of the limit (169 A), judged (a tenth of the alike 300 A is not);
        # 200 A where pack 1 takes its 100 A, 180 A should pack 2 or 3 leave (below)
        self.assertEqual(self.at(30000, -100, -50, -50)[1], 180000)
        # a pack at 0 A (under its 0.5 A threshold) takes no share: not the one; and a
        # pack that counts in no limit (its FETs open) none of the current either
        self.assertEqual(self.at(40000, -600, 0, -600)[1], 180000)
        self.give(2, measure=(52800, -900, 250, 250), limits=(53000, 500, 1000, 100, 0x09))
        self.view.aggregate(self.packs, 50000)
        self.assertEqual(self.view.limits.dcl_ma, 133300)  # 2 x 100 as they shared, 1.5
        self.give(1, measure=(52800, -600, 250, 250))
        self.give(3, measure=(52800, -600, 250, 250))
        self.view.aggregate(self.packs, 50000 + SETTLE_MS)
        self.assertEqual(self.view.limits.dcl_ma, 180000)  # alike, one under 200 A

    def test_a_pack_that_joins_leaves_the_limit_where_it_stood(self):
        # its share is not known until judged (taken as alike, a pack at a lower SOC took
        # 150 A, its own and the others' shares); packs that leave leave the others as
        # they shared, and are back as they were
        self.assertEqual(self.at(0, -400, -350, -250)[1], 250000)
        self.assertEqual(self.at(1000, -10, -9, -6, 0)[1], 250000)  # pack 4 joins, at rest
        self.assertEqual(self.at(2000, -400, -350, -250, 0)[1], 250000)
        self.assertEqual(self.at(1000 + SETTLE_MS - 1, -320, -280, -200, -200)[1], 250000)
        self.assertEqual(self.at(1000 + SETTLE_MS, -320, -280, -200, -200)[1], 312500)
        # pack 4's discharge FET opens (a trip, a tick without readings), and closes again
        # before a judgment: each time as they shared (a pack dropping out every 2 s drove
        # the limit down to one pack's)
        for t in (5000, 7000, 9000):
            self.give(4, limits=(56000, 500, 1000, 100, 0x09))
            self.assertEqual(self.at(t, -10, -9, -6)[1], 234300)  # 3 / 4 of it
            self.assertEqual(self.at(t + 1000, -10, -9, -6, 0)[1], 312500)
        # every pack asks for nothing (a frost night, all full): the sharing judged kept
        for a in (1, 2, 3, 4):
            self.give(a, limits=(56000, 500, 0, 100, 0x09))
        self.assertEqual(self.at(20000)[1], 0)
        self.give(1)
        self.assertEqual(self.at(20100)[1], 100000)  # (one pack's, at the least)
        for a in (2, 3, 4):
            self.give(a)
        self.assertEqual(self.at(20200)[1], 312500)
        # one more than judged: it carries nothing until judged
        self.assertEqual(self.at(20300, 0, 0, 0, 0, 0)[1], 312500)

    def test_the_share_that_bounds_a_leave_is_the_largest_currents(self):
        # not the nearest pack's: pack 1, derated to 35 A (cold), carries 2 % and is the
        # nearest by its own limit; pack 2 carries half, and should pack 3 leave it takes
        # all but 2 % (that bound let 100 A through: 96 A on pack 2, COCP)
        for a, (da, ccl) in enumerate(((20, 350), (500, 500), (480, 500)), 1):
            self.give(a, measure=(52800, da, 250, 250), limits=(56000, ccl, 1000, 100, 0x1B))
        self.view.aggregate(self.packs, 1000)
        self.assertEqual(self.view.limits.ccl_ma, 81000)
        self.give(1, measure=(52800, 20, 250, 250))  # its own 50 A: the same share
        self.view.aggregate(self.packs, 1000 + SETTLE_MS)
        self.assertEqual(self.view.limits.ccl_ma, 81000)
        for a, da in ((1, 340), (2, 340), (3, 320)):  # alike but for a little
            self.give(a, measure=(52800, da, 250, 250))
        self.view.aggregate(self.packs, 1000 + 2 * SETTLE_MS)
        self.assertEqual(self.view.limits.ccl_ma, 147000)  # 50 A / 0.34 (the cap: 157 A)

    def test_the_others_carry_a_leaving_packs_share_under_the_fast_step(self):
        # until the inverter follows (1 to 2 s), the n - 1 others carry all of it: no more
        # than they carry under COCP's 90 A for 1 s, DOCP's 200 A for 0.5 s, less a tenth
        # (2 packs charging at 96 A: the one left carried 96 A for 1.06 s, tripped COCP)
        self.assertEqual(self.at(0, 0, 0), (81000, 180000))
        self.assertEqual(self.at(0, 0, 0, 0), (150000, 300000))  # (162 A, 360 A)
        seventy = (56000, 700, 1000, 100, 0x1B)  # (CCL 70 A)
        self.assertEqual(self.at(0, 0, 0, 0, limits=seventy), (162000, 300000))
        # shared unevenly, less: pack 1 takes 40 %, and if another that took as much
        # left, two thirds of what is left: 81 A / (2 / 3)
        self.assertEqual(self.at(1000, 400, 300, 300, limits=seventy), (121500, 300000))
        # the master's own protection says where the fast step is (a config lowers it)
        r = Rig(dict(NO_LEAK, cocp2_trip_ma=80000, docp3_trip_ma=150000)).settle()
        self.view = SystemView(r.bms)
        self.packs = Packs(self.log)
        self.assertEqual(self.at(0, 0, 0), (72000, 135000))

    def test_a_pack_asking_for_nothing_with_its_fet_on_is_leaving(self):
        # readings lost for a tick (its DCL 0, the FET still on): its 0 held the bank's
        # discharge at 0, a blackout of the loads of a whole system; it protects itself
        for a in (1, 2, 3):
            self.give(a)
        self.give(3, limits=(56000, 500, 0, 100, 0x0B))  # FETs on, discharge not asked
        self.assertEqual(self.limits()[1:3], (150000, 180000))  # (one under 200 A)
        self.give(3, limits=(56000, 0, 1000, 100, 0x13))  # charge not asked, FET on
        self.assertEqual(self.limits()[1:3], (81000, 300000))

    def test_a_limit_that_falls_is_taken_at_once(self):
        for a in (1, 2, 3):
            self.give(a)
        lim = frames(limits=(56000, 500, 800, 100, 0x1B))[pl.LIMITS]
        self.assertTrue(self.packs.take(2, pl.LIMITS, lim, 1100))  # DCL 100 -> 80 A
        self.assertFalse(self.packs.take(2, pl.LIMITS, lim, 1200))  # the same
        up = frames(limits=(56000, 500, 900, 100, 0x1B))[pl.LIMITS]
        self.assertFalse(self.packs.take(2, pl.LIMITS, up, 1300))  # a rise: at its beat
        down = frames(limits=(56000, 400, 900, 100, 0x1B))[pl.LIMITS]
        self.assertTrue(self.packs.take(2, pl.LIMITS, down, 1400))  # CCL 50 -> 40 A

    def test_the_cvl_of_the_packs_that_take_the_charge(self):
        # a pack whose charge FET is open (tripped, locked out) says its own voltage as its
        # CVL: it held the inverter there and the others never charged (a pack locked out
        # after joining low stopped the whole system's charge for good)
        self.give(1, now=1000)
        self.give(2, now=1000)
        self.give(3, now=1000, limits=(50900, 0, 1000, 100, 0x12))
        self.assertEqual(self.limits(), (56000, 81000, 300000, 3))
        self.give(2, now=1000, limits=(55500, 500, 1000, 100, 0x1B))  # one tapering: its
        self.assertEqual(self.limits()[0], 55500)
        # a silent pack's FETs are not known: its CVL still counts
        self.give(1, now=1400)
        self.give(3, now=1400, limits=(50900, 0, 1000, 100, 0x12))
        self.assertTrue(checked(self.packs, 1000 + STALE_MS))  # pack 2 silent
        self.assertEqual(self.limits(), (55500, 50000, 180000, 3))
        # none takes the charge (nor asks for a wake): the lowest of all
        self.give(1, now=1600, limits=(53000, 0, 1000, 100, 0x12))
        self.give(2, now=1600, limits=(54000, 0, 1000, 100, 0x12))
        self.assertEqual(self.limits(), (50900, 0, 300000, 3))

    def test_covp_cuvp_docp_sensor_fail(self):
        covp = 1 << pt.COVP
        self.give(1)
        self.give(2)
        self.give(3)
        self.give(4)
        # COVP: charge FET open (the discharge FET stays): 0 towards CCL
        self.assertTrue(self.give(2, limits=(53000, 0, 1000, 100, 0x12), status=(covp, 1000, 0)))
        again = frames(limits=(53000, 0, 1000, 100, 0x12))[pl.LIMITS]
        self.assertFalse(self.packs.take(2, pl.LIMITS, again, 1100))  # the same flags
        # (its CVL, its own voltage, no longer holds the others: its charge FET is open)
        self.assertEqual(self.limits(), (56000, 150000, 400000, 4))
        self.assertTrue(self.view.engine.names & covp)
        # CUVP on pack 3: its discharge FET open
        self.give(3, limits=(56000, 500, 0, 100, 0x09), status=(1 << pt.CUVP, 1000, 0))
        self.assertEqual(self.limits(), (56000, 150000, 300000, 4))
        # DOCP on pack 4 (discharge open), a sensor failure on pack 1 (both open)
        self.give(4, limits=(56000, 500, 0, 100, 0x09), status=(1 << pt.DOCP, 1000, 0))
        self.give(1, limits=(56000, 0, 0, 100, 0x00), status=(1 << pt.SENSOR_FAIL, 1000, 0))
        self.assertEqual(self.limits(), (56000, 81000, 100000, 4))  # 3 and 4; 2 alone
        for name in ("COVP", "CUVP", "DOCP", "SENSOR_FAIL"):
            self.assertTrue(self.view.engine.names & 1 << pt.NAMES.index(name), name)
        # all charge FETs open too: nothing asked
        self.give(3, limits=(56000, 500, 0, 100, 0x00))
        self.give(4, limits=(56000, 500, 0, 100, 0x00))
        self.assertEqual(self.limits(), (53000, 0, 100000, 4))
        self.assertFalse(self.view.limits.charge_enable)
        self.assertTrue(self.view.limits.discharge_enable)
        self.give(2, limits=(53000, 0, 1000, 100, 0x00))
        self.assertEqual(self.limits(), (53000, 0, 0, 4))
        self.assertFalse(self.view.limits.discharge_enable)

    def test_packs_asleep_after_cuvp_ask_for_one_packs_charge(self):
        # every FET open, each asking for a charge (and a force charge): with CCL 0 the
        # inverter would never raise the voltage that wakes them (bms/core.py)
        asking = pl.F_CHG_OK | pl.F_FORCE
        cuvp = (1 << pt.CUVP, 1000, 0)
        for a, ccl in ((1, 500), (2, 300), (3, 500)):
            self.give(a, limits=(56000, ccl, 0, 100, asking), status=cuvp)
        self.assertEqual(self.limits(), (56000, 30000, 0, 3))  # the lowest of one pack
        lim = self.view.limits
        self.assertEqual((lim.charge_enable, lim.force_charge), (True, True))
        # one forbidding a charge (CLTP) asks for its own voltage: the wake keeps the
        # asking packs' CVL (its open charge FET keeps the charge out of it)
        self.give(3, limits=(44500, 0, 0, 100, 0), status=(1 << pt.CLTP, 1000, 0))
        self.assertEqual(self.limits(), (56000, 30000, 0, 3))
        # one awake, its charge FET on: the system's CCL as ever, its share alone
        self.give(3, limits=(56000, 500, 0, 100, pl.F_CHG_FET | asking), status=cuvp)
        self.assertEqual(self.limits(), (56000, 50000, 0, 3))
        # none asking (asleep by the button, or a protection forbids the charge): none
        for a in (1, 2, 3):
            self.give(a, limits=(56000, 0, 0, 100, 0), status=cuvp)
        self.assertEqual(self.limits(), (56000, 0, 0, 3))
        self.assertFalse(self.view.limits.charge_enable)

    def test_a_fet_change_asks_for_the_system_at_once(self):
        self.give(2)
        f = frames(limits=(56000, 500, 1000, 100, 0x1A))[pl.LIMITS]
        self.assertTrue(self.packs.take(2, pl.LIMITS, f, 1100))
        self.assertFalse(self.packs.take(2, pl.LIMITS, f, 1200))

    def test_soc_soh_extremes_measurements_requests(self):
        self.give(
            1,
            cells=(3300, 3350, 2, 7, 8000),
            measure=(52800, 105, 200, 260),
            status=(0, 1000, 40),
            limits=(56000, 500, 1000, 100, 0x1B),
        )
        self.give(
            2,
            cells=(3290, 3320, 9, 16, 2000),
            measure=(52700, -35, 180, 300),
            status=(1 << pt.HIGH_TEMP, 500, 12),
            limits=(56000, 500, 1000, 90, 0x3B),
        )
        self.view.aggregate(self.packs, 0)
        v = self.view
        s = v.sample
        # SOC weighted by capacity: (8000 x 1000 + 2000 x 500) / 1500 = 6000
        self.assertEqual(v.soc.shown_cpct, 6000)
        self.assertEqual(v.soc.soh_pct(), 95)
        self.assertEqual(v.soc.cycles, 40)
        self.assertEqual((s.min_mv, s.min_cell, v.min_pack), (3290, 8, 2))
        self.assertEqual((s.max_mv, s.max_cell, v.max_pack), (3350, 6, 1))
        self.assertEqual((s.stack_mv, v.reported_ma), (52750, 7000))
        self.assertEqual((s.cell_tmin_dc, s.cell_tmax_dc, s.cell_tavg_dc), (180, 300, 235))
        self.assertTrue(v.limits.force_charge)
        self.assertFalse(v.limits.full_request)
        self.assertTrue(v.engine.names & 1 << pt.HIGH_TEMP)
        self.assertEqual(v.cfg.capacity_mah, 2 * self.r.cfg.capacity_mah)
        self.assertEqual(v.modules, 2)
        # the capacities the packs report (0.1 Ah), summed: 150 Ah, of which 80 + 10 Ah left
        self.assertEqual((v.soc.full_mah(), v.soc.q_mah()), (150000, 90000))

    def test_victrons_module_counts(self):
        # 0x372: modules OK, blocking charge, blocking discharge, offline (once 1, 0 or 1,
        # 0 or 1, 0 whatever the system)
        from protocols import victron_can

        def counts():
            self.view.aggregate(self.packs, 0)
            buf = bytearray(8)
            victron_can.encode(victron_can.MODULES, buf, self.view)
            return tuple(buf[k] | buf[k + 1] << 8 for k in range(0, 8, 2))

        for a in range(1, 6):
            self.give(a, now=1000)
        self.assertEqual(counts(), (5, 0, 0, 0))
        self.give(2, now=1000, limits=(56000, 0, 1000, 100, 0x12))  # COVP: charge FET open
        self.give(3, now=1000, limits=(56000, 500, 0, 100, 0x09))  # CUVP: discharge open
        self.give(4, now=1000, limits=(56000, 0, 0, 100, 0x00))  # a fault: both open
        self.assertEqual(counts(), (5, 2, 2, 0))
        for a in (1, 2, 3, 4):  # pack 5 silent: out of the limits, offline
            self.give(a, now=1000 + STALE_MS // 2, limits=(56000, 500, 1000, 100, 0x1B))
        self.assertTrue(checked(self.packs, 1000 + STALE_MS))
        self.assertEqual(counts(), (4, 0, 0, 1))
        for a in (1, 2, 3, 4):
            self.give(a, now=1000 + LOST_MS - 100)
        self.assertTrue(checked(self.packs, 1000 + LOST_MS))  # lost: still offline
        self.assertEqual((self.packs.count, self.packs.lost), (4, 1))
        self.assertEqual(counts(), (4, 0, 0, 1))
        # a pack alone: its own FETs
        b = self.r.bms
        buf = bytearray(8)
        victron_can.encode(victron_can.MODULES, buf, b)
        self.assertEqual(bytes(buf), bytes([1, 0, 0, 0, 0, 0, 0, 0]))
        b.allow_chg = False
        victron_can.encode(victron_can.MODULES, buf, b)
        self.assertEqual(bytes(buf), bytes([1, 0, 1, 0, 0, 0, 0, 0]))

    def test_the_capacity_fields_carry_the_systems_capacity(self):
        # Growatt's 0x314 and Schneider's 0x326 once held the master's own capacity (the
        # system's in mAs is no small int from 3 packs); Growatt's 0x312 said 1 pack
        from protocols import growatt_can, schneider_can

        buf = bytearray(8)
        # (past its 655.35 Ah, 0x314's full capacity is held there and the remaining one
        # scaled with it: 75 %, where each held alone read 100 %)
        for n, left, full, ah in ((2, 0x3A98, 0x4E20, 200), (32, 0xBFFF, 0xFFFF, 3200)):
            for a in range(1, n + 1):
                self.give(a, cells=(3300, 3300, 1, 1, 7500), status=(0, 1000, 0))
            self.view.aggregate(self.packs, 0)
            soc = self.view.soc
            self.assertEqual((soc.full_mah(), soc.q_mah()), (n * 100000, n * 75000))
            growatt_can.encode(0x314, buf, self.view)  # 10 mAh, held at 655.35 Ah
            self.assertEqual((buf[0] << 8 | buf[1], buf[2] << 8 | buf[3]), (left, full))
            growatt_can.encode(0x312, buf, self.view)
            self.assertEqual(buf[4], n)
            schneider_can.encode(0x326, buf, self.view)
            self.assertEqual(buf[6] << 8 | buf[7], ah)
        # a pack alone: its own, from the core's mAs
        b = self.r.bms
        growatt_can.encode(0x314, buf, b)
        self.assertEqual(buf[2] << 8 | buf[3], b.soc.full_mas // 36000)
        self.assertEqual(buf[4] if growatt_can.encode(0x312, buf, b) else -1, 1)
        self.assertEqual(b.soc.full_mah(), b.soc.full_mas // 3600)
        self.assertEqual(b.soc.q_mah(), b.soc.q_mas // 3600)

    def test_every_address_has_its_own_row_across_the_tables_pieces(self):
        # the table is in pieces of 8 packs (a 2.9 KB piece may not be free in service):
        # the addresses at each piece's edges, and 32 alone in the last
        from packsystem import PackView

        edges = (1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32)
        for a in edges:
            self.give(a, cells=(3000 + a, 3400 + a, 2, 3, 5000), measure=(52000 + a, a, 200, 300))
        self.assertEqual([len(p) for p in self.packs.raw], [704, 704, 704, 704, 88])
        self.assertEqual(self.limits()[3], len(edges))
        s = self.view.sample
        self.assertEqual((s.min_mv, self.view.min_pack), (3001, 1))
        self.assertEqual((s.max_mv, self.view.max_pack), (3432, 32))
        self.assertEqual(self.view.reported_ma, sum(edges) * 100)
        v = PackView()
        for a in edges:
            v.fill(self.packs, a, self.view)
            got = (v.sample.min_mv, v.sample.max_mv, v.sample.stack_mv, v.reported_ma)
            self.assertEqual(got, (3000 + a, 3400 + a, 52000 + a, a * 100), a)

    def test_the_views_config_is_the_masters_with_the_systems_capacity(self):
        # no copy of the config (1 KB of a board's heap, and at first its table unpacked
        # again): the master's values, read through, and the capacity of the packs counted
        from bms import config

        own = self.r.cfg
        config.release()
        view = SystemView(self.r.bms)
        self.assertIsNone(config._held_nums)
        for key in ("covp_trip_mv", "cuvp_warn_mv", "chtp_trip_dc", "dcl_ma"):
            self.assertEqual(getattr(view.cfg, key), getattr(own, key), key)
        self.assertEqual(view.cfg.capacity_mah, own.capacity_mah)
        self.give(1)
        self.give(2)
        self.give(3)
        view.aggregate(self.packs, 0)
        self.assertEqual(view.cfg.capacity_mah, 3 * own.capacity_mah)
        self.assertEqual(own.capacity_mah, 100000)  # the pack's own, untouched
        self.assertEqual(sorted(view.cfg.__dict__), ["capacity_mah", "own"])
        with self.assertRaises(AttributeError):
            view.cfg.no_such_key  # noqa: B018 (the lookup is the test)

    def test_a_pack_lost_and_back_is_known_again_by_its_ident_only(self):
        from packsystem import PackView

        def ident(a, uid, now):
            self.packs.take(a, pl.IDENT, uid, now)

        v = PackView()
        self.give(2, now=1000)
        v.fill(self.packs, 2, self.view)
        self.assertIsNone(v.uid)  # counted, its IDENT not come
        ident(2, hx("E6 61 41 04 03 2B 1A 02"), 1000)
        self.give(3, now=1000)
        ident(3, hx("E6 61 41 04 03 2B 1A 03"), 1000)
        for a, uid in ((2, "E6 61 41 04 03 2B 1A 02"), (3, "E6 61 41 04 03 2B 1A 03")):
            v.fill(self.packs, a, self.view)  # one view, filled for each address
            self.assertEqual(v.uid, hx(uid), a)
        self.assertTrue(checked(self.packs, 1000 + LOST_MS))  # both lost
        self.give(2, now=9000)  # back (or another pack at its address): not known yet
        v.fill(self.packs, 2, self.view)
        self.assertIsNone(v.uid)
        ident(2, hx("E6 61 41 04 03 2B 1A 09"), 9000)
        v.fill(self.packs, 2, self.view)
        self.assertEqual(v.uid, hx("E6 61 41 04 03 2B 1A 09"))

    def test_lost_and_back(self):
        self.give(1, now=1000)
        self.give(2, now=1000)
        self.assertTrue(checked(self.packs, 1000 + STALE_MS))  # silent: out of the limits
        self.assertFalse(checked(self.packs, 1000 + LOST_MS - 1))
        self.assertTrue(checked(self.packs, 1000 + LOST_MS))
        self.assertEqual((self.packs.count, self.packs.lost), (0, 2))
        self.assertEqual(self.packs.lost_list(), [1, 2])
        self.assertEqual(self.limits(), (self.r.bms.limits.cvl_mv, 0, 0, 0))
        self.assertFalse(checked(self.packs, 1000 + 2 * LOST_MS))  # logged once
        self.assertTrue(self.give(2, now=9000))
        self.assertEqual((self.packs.count, self.packs.lost), (1, 1))
        self.assertEqual(self.limits(), (56000, 50000, 100000, 1))
        self.assertTrue(self.view.engine.names & 1 << pt.PACK_LOST)
        ups = [(r[1], r[4], r[5]) for r in logged(self.log, ev.COMM, ev.COMM_PACK)]
        self.assertEqual(ups, [(4000, 0, 1), (4000, 0, 2), (9000, 1, 2)])
        self.packs.forget()
        self.assertEqual((self.packs.count, self.packs.lost), (0, 0))

    def test_lost_at_any_ticks(self):
        PERIOD = ticks_consts.PERIOD
        # the table made while the ticks stand anywhere in their period, the losses
        # through the wrap too (a fixed first due time once looked ahead of ticks in the
        # period's upper half, and no pack was ever lost there)
        for start in (0, PERIOD // 2 - 1, PERIOD // 2, PERIOD // 2 + 100, PERIOD - 1000):
            packs = Packs(self.log)
            for src in (1, 2):
                for msg, data in sorted(frames().items()):
                    packs.take(src, msg, data, start)
            self.assertFalse(checked(packs, ticks.add(start, STALE_MS - 1)))
            self.assertTrue(checked(packs, ticks.add(start, STALE_MS)), start)
            self.assertEqual(list(packs.stale[1:3]), [1, 1])
            packs.take(1, pl.CELLS, frames()[pl.CELLS], ticks.add(start, 1000))
            self.assertEqual(list(packs.stale[1:3]), [0, 1])
            self.assertTrue(checked(packs, ticks.add(start, 1000 + STALE_MS)), start)
            self.assertFalse(checked(packs, ticks.add(start, LOST_MS - 1)), start)
            self.assertTrue(checked(packs, ticks.add(start, LOST_MS)), start)
            self.assertEqual(packs.lost_list(), [2])
            self.assertFalse(checked(packs, ticks.add(start, 1000 + LOST_MS - 1)), start)
            self.assertTrue(checked(packs, ticks.add(start, 1000 + LOST_MS)), start)
            self.assertEqual(packs.lost_list(), [1, 2])
            # forgotten (a new role), then a pack again: lost as at first
            packs.forget()
            later = ticks.add(start, 10 * LOST_MS)
            for msg, data in sorted(frames().items()):
                packs.take(2, msg, data, later)
            self.assertFalse(checked(packs, ticks.add(later, STALE_MS - 1)), start)
            self.assertTrue(checked(packs, ticks.add(later, STALE_MS)), start)
            self.assertFalse(checked(packs, ticks.add(later, LOST_MS - 1)), start)
            self.assertTrue(checked(packs, ticks.add(later, LOST_MS)), start)

    def test_no_silence_is_judged_after_a_held_up_loop(self):
        # the loop held up 600 ms (a flash write): the frames heard meanwhile still wait
        # in the receive buffer; the first call after it judges nothing, the next one
        # (after those frames) does
        self.give(1, now=1000)
        self.give(2, now=1000)
        self.assertFalse(checked(self.packs, 1100))
        self.assertFalse(self.packs.check(1700))
        self.give(1, now=1701)
        self.assertTrue(self.packs.check(1710))
        self.assertEqual(list(self.packs.stale[1:3]), [0, 1])

    def test_a_cell_frame_brings_a_silent_pack_back_at_once(self):
        self.give(1, now=1000)
        self.give(2, now=1000)
        self.give(1, now=1400)
        self.assertTrue(checked(self.packs, 1000 + STALE_MS))
        self.assertTrue(self.packs.take(2, packlink_can_consts.CELLS_1, bytes(8), 1600))
        self.assertEqual(self.limits(), (56000, 81000, 180000, 2))  # (one under 90 A, 200 A)

    def test_a_frame_no_pack_sends_is_dropped(self):
        from bms.protections import NAMES

        all_names = (1 << len(NAMES)) - 2

        # each bound from both sides: a frame at it is taken, one step past it is not
        # (None: dropped, for PackLink's bad_frames), and the table keeps what it had
        def cells(*v):
            return b"".join(bytes((x & 0xFF, x >> 8 & 0xFF)) for x in v)

        edges = [
            (
                pl.CELLS,
                frames(cells=(3300, 5500, 1, 16, 10000)),
                frames(cells=(3300, 5501, 1, 1, 0)),
            ),
            (pl.CELLS, frames(cells=(3300, 3300, 1, 1, 0)), frames(cells=(3301, 3300, 1, 1, 0))),
            (pl.CELLS, frames(cells=(3300, 3300, 16, 1, 0)), frames(cells=(3300, 3300, 0, 1, 0))),
            (pl.CELLS, frames(cells=(3300, 3300, 1, 16, 0)), frames(cells=(3300, 3300, 17, 1, 0))),
            (pl.CELLS, frames(cells=(3300, 3300, 1, 16, 0)), frames(cells=(3300, 3300, 1, 0, 0))),
            (pl.CELLS, frames(cells=(3300, 3300, 1, 1, 0)), frames(cells=(3300, 3300, 1, 17, 0))),
            (pl.CELLS, frames(), frames(cells=(3300, 3300, 1, 1, 10001))),
            (pl.MEASURE, frames(measure=(0, 0, -2732, 3000)), frames(measure=(0, 0, -2733, 0))),
            (pl.MEASURE, frames(measure=(0, 0, 0, 3000)), frames(measure=(0, 0, 0, 3001))),
            (pl.MEASURE, frames(measure=(0, 0, 250, 250)), frames(measure=(0, 0, 251, 250))),
            (pl.LIMITS, frames(limits=(41000, 0, 0, 0, 0)), frames(limits=(40999, 0, 0, 0, 0))),
            (
                pl.LIMITS,
                frames(limits=(57600, 700, 1000, 110, 0xFF)),
                frames(limits=(57601, 0, 0, 0, 0)),
            ),
            (pl.LIMITS, frames(), frames(limits=(56000, 701, 0, 0, 0))),
            (pl.LIMITS, frames(), frames(limits=(56000, 0, 1001, 0, 0))),
            (pl.LIMITS, frames(), frames(limits=(56000, 0, 0, 111, 0))),
            # (every protection bit a pack has, 1..PACK_LOST; bit 0 or one above is none's)
            (pl.STATUS, frames(status=(all_names, 1, 0xFFFF)), frames(status=(0, 0, 0))),
            (pl.STATUS, frames(), frames(status=(1, 1, 0))),
            (pl.STATUS, frames(), frames(status=(all_names + 2, 1, 0))),
            (pl.STATUS, frames(status=(0, 2750, 0)), frames(status=(0, 2751, 0))),
        ]
        cells_1 = packlink_can_consts.CELLS_1
        temps_1 = packlink_can_consts.TEMPS_1
        for k in range(4):
            at = [3300] * 4
            at[k] = 5500
            good = cells(*at)
            at[k] = 5501
            edges.append((cells_1 + k, {cells_1 + k: good}, {cells_1 + k: cells(*at)}))
            at = [250] * 4
            at[k] = -2732
            good = cells(*at)
            at[k] = -2733
            edges.append((temps_1, {temps_1: good}, {temps_1: cells(*at)}))
            at[k] = 3000
            good = cells(*at)
            at[k] = 3001
            edges.append((temps_1, {temps_1: good}, {temps_1: cells(*at)}))
        # TEMPS_2: the board's and the MOSFETs' sensors, then the unlock (any)
        edges.append(
            (
                pl.TEMPS_2,
                {pl.TEMPS_2: cells(-2732, 3000, 0xFFFF, 0)},
                {pl.TEMPS_2: cells(-2733, 0, 0, 0)},
            )
        )
        edges.append(
            (pl.TEMPS_2, {pl.TEMPS_2: cells(0, 3000, 0, 0)}, {pl.TEMPS_2: cells(0, 3001, 0, 0)})
        )
        edges.append((pl.IDENT, {pl.IDENT: b"\xff" * 8}, None))  # any serial number
        for msg, good, bad in edges:
            packs = Packs(self.log)
            self.assertIsNotNone(packs.take(2, msg, good[msg], 1000), (msg, good[msg]))
            if bad is not None:
                raw = bytes(packs.raw[0])
                self.assertIsNone(packs.take(2, msg, bad[msg], 1100), (msg, bad[msg]))
                self.assertEqual(bytes(packs.raw[0]), raw)
                self.assertEqual(packs.seen[2], 1000)  # no sign of life either

    def test_the_bounds_are_what_a_pack_can_send(self):
        from bms import config_table, sample

        mine = fwconst.of("packsystem")
        spec = {row[0]: row for row in config_table.SPEC}
        self.assertEqual(mine.CELL_MV_MAX, sample.CELL_MV_MAX)
        self.assertEqual(
            (mine.TEMP_DC_MIN, mine.TEMP_DC_MAX), (sample.TEMP_DC_MIN, sample.TEMP_DC_MAX)
        )
        self.assertEqual(mine.CELLS, sample.CELLS)
        self.assertEqual(mine.CVL_MIN_MV, fwconst.of("bms.limits").CVL_FLOOR_MV)
        self.assertEqual(mine.CVL_MAX_MV, spec["cvl_mv"][3])
        self.assertEqual(mine.CCL_MAX_DA * 100, spec["ccl_ma"][3])
        self.assertEqual(mine.DCL_MAX_DA * 100, spec["dcl_ma"][3])
        # a capacity learned up to 110 % of the rated (bms/soc.py)
        self.assertEqual(mine.CAPACITY_MAX_DAH * 100, spec["capacity_mah"][3] * 11 // 10)
        self.assertEqual(mine.SOH_MAX, 110)
        self.assertEqual(mine.MSG_TEMPS_1, packlink_can_consts.TEMPS_1)

    def test_a_pack_that_sends_garbage_is_lost(self):
        # its frames dropped, it is silent to the system: out of the limits at STALE_MS,
        # PACK_LOST at LOST_MS, as a pack that went quiet
        self.give(1, now=1000)
        self.give(2, now=1000)
        garbage = frames(cells=(0xFFFF, 0xFFFF, 0, 0, 0xFFFF))[pl.CELLS]
        for now in range(1100, 1000 + LOST_MS, 100):
            self.give(1, now=now)
            self.assertIsNone(self.packs.take(2, pl.CELLS, garbage, now))
            checked(self.packs, now)
        self.assertEqual(self.limits(), (56000, 50000, 100000, 2))
        self.assertTrue(checked(self.packs, 1000 + LOST_MS))
        self.assertEqual(self.packs.lost_list(), [2])

    def test_a_silent_pack_takes_no_share_until_heard(self):
        self.give(1, now=1000)
        self.give(2, now=1000)
        checked(self.packs, 1000)
        self.assertEqual(self.limits(), (56000, 81000, 180000, 2))
        self.give(1, now=1400)
        self.assertFalse(checked(self.packs, 1000 + STALE_MS - 1))
        self.assertEqual(self.limits(), (56000, 81000, 180000, 2))
        self.assertTrue(checked(self.packs, 1000 + STALE_MS))  # pack 2: silent 500 ms
        # still counted (no PACK_LOST before LOST_MS), but in no current limit
        self.assertEqual(self.limits(), (56000, 50000, 100000, 2))
        self.assertEqual((self.packs.count, self.packs.lost), (2, 0))
        self.assertFalse(self.view.engine.names & 1 << pt.PACK_LOST)
        # a frame of it: back in the limits at once (take() says the system changed)
        self.assertTrue(self.packs.take(2, pl.CELLS, frames()[pl.CELLS], 1600))
        self.assertEqual(self.limits(), (56000, 81000, 180000, 2))


class _Pin:
    def value(self, v=None):
        return 0


class _Uart:
    def __init__(self, data):
        self.data = bytearray(data)

    def any(self):
        return len(self.data)

    def readinto(self, buf):
        n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class BinaryFramesTest(unittest.TestCase):
    def test_pylon_and_beacons_on_one_port(self):
        beacon = hx("A5 01 02 00 58")
        data = b"~2002464F0000FD99\r" + beacon + b"\x00\x13" + beacon[:3]
        port = Rs485(_Uart(data), _Pin())
        port.binary_frames(packchain.START, packchain.LENGTH)
        got = []
        n = port.poll(0)
        while n:
            got.append((port.kind, bytes(port.frame[:n])))
            n = port.poll(0)
        self.assertEqual(got, [(0x7E, b"2002464F0000FD99"), (0xA5, beacon)])
        self.assertEqual(port.garbage, 2)  # the noise between
        self.assertEqual(port.poll(200), 0)  # the cut beacon times out
        self.assertEqual(port.timeouts, 1)

    def test_a_port_without_binary_frames_counts_them_as_noise(self):
        port = Rs485(_Uart(hx("A5 01 02 00 58")), _Pin())
        self.assertEqual(port.poll(0), 0)
        self.assertEqual(port.garbage, 5)


@cpython_only("cantools")
class PackLinkDbcTest(unittest.TestCase):
    """tools/bms_packlink.dbc and the monitor read what the firmware sends."""

    def test_the_monitor_decodes_every_summary_frame(self):
        import monitor_decode_can as mon

        r = PackLinkFramesTest.rig(None)
        b = r.bms
        b.limits.cvl_mv = 55500
        b.limits.ccl_ma = 45000
        b.engine.names = 1 << pt.COVP
        buf = bytearray(8)
        got = {}
        for msg in (pl.CELLS, pl.MEASURE, pl.LIMITS, pl.STATUS):
            pl.encode(msg, buf, b, True)
            line = "(12.5) can0 %08X#%s" % (pl.can_id(msg, 7), bytes(buf).hex().upper())
            f = mon.decode_can_line(line)
            self.assertEqual(f.problems, [])
            got[f.name] = f.signals
        self.assertEqual(
            sorted(got), ["pack7-cells", "pack7-limits", "pack7-measure", "pack7-status"]
        )
        s = b.sample
        self.assertAlmostEqual(got["pack7-cells"]["Min_Cell_Voltage"], 3.25)
        self.assertEqual(got["pack7-cells"]["Max_Cell_Number"], 12)
        self.assertAlmostEqual(got["pack7-cells"]["SOC"], 51.23)
        self.assertAlmostEqual(got["pack7-measure"]["Pack_Voltage"], s.stack_mv / 1000)
        self.assertAlmostEqual(got["pack7-measure"]["Pack_Current"], -12.3)
        self.assertAlmostEqual(got["pack7-measure"]["Max_Cell_Temperature"], 26.2)
        lim = got["pack7-limits"]
        self.assertAlmostEqual(lim["Charge_Voltage_Limit"], 55.5)
        self.assertAlmostEqual(lim["Charge_Current_Limit"], 45.0)
        self.assertEqual((lim["Master"], lim["Charge_FET"], lim["Force_Charge"]), (1, 1, 0))
        st = got["pack7-status"]
        self.assertEqual(
            (st["Protection_Warning_Bits"], round(st["Full_Capacity"] * 10), st["Cycles"]),
            (2, 987, 17),
        )

    def test_the_monitor_decodes_the_cells_and_temperatures(self):
        import monitor_decode_can as mon

        b = PackLinkFramesTest.rig(None).bms
        s = b.sample
        for i in range(16):
            s.cells_mv[i] = 3200 + i
        s.temps_dc[0] = -5
        s.temps_dc[5] = 412
        buf = bytearray(8)
        got = {}
        texts = []
        for msg in range(packlink_can_consts.CELLS_1, pl.TEMPS_2 + 1):
            pl.encode(msg, buf, b, False)
            line = "(1.0) can0 %08X#%s" % (pl.can_id(msg, 3), bytes(buf).hex().upper())
            f = mon.decode_can_line(line)
            self.assertEqual(f.problems, [])
            got.update(f.signals)
            texts.append(f.text())
        cells = [round(got["Cell_%02d_Voltage" % (i + 1)] * 1000) for i in range(16)]
        self.assertEqual(cells, [3200 + i for i in range(16)])
        self.assertAlmostEqual(got["Cell_Temperature_1"], -0.5)
        self.assertAlmostEqual(got["Cell_Temperature_4"], 26.2)
        self.assertAlmostEqual(got["Board_Temperature"], s.temps_dc[4] / 10)
        self.assertAlmostEqual(got["MOSFET_Temperature"], 41.2)
        self.assertEqual(got["Service_Unlock_Left"], 0)
        b.unlocked = True
        pl.put_unlock(buf, b, b.unlock_at + 100)  # (buf: TEMPS_2, the last one encoded)
        f = mon.decode_can_line("(1.0) can0 %08X#%s" % (pl.can_id(pl.TEMPS_2, 1), buf.hex()))
        self.assertAlmostEqual(f.signals["Service_Unlock_Left"], 599.9)
        self.assertIn("pack3-cells5-8", texts[1])
        self.assertIn("V5 3.204 V", texts[1])
        self.assertIn("Tmosfet 41.2", texts[5])
        b.uid[:] = hx("E6 61 41 04 03 2B 1A 07")
        pl.encode(pl.IDENT, buf, b, False)
        f = mon.decode_can_line("(1.0) can0 %08X#%s" % (pl.can_id(pl.IDENT, 3), buf.hex()))
        self.assertEqual(f.problems, [])
        self.assertEqual(f.signals["Unique_Id"], 0xE6614104032B1A07)
        self.assertIn("pack3-ident", f.text())
        self.assertIn("serial E6614104032B1A07", f.text())


class _Can:
    def __init__(self):
        self.sent = []
        self.free = True

    def send(self, can_id, buf, n, ext=False):
        if self.free:
            self.sent.append((can_id, bytes(buf[:n]), ext))
        return self.free


class _Link:
    def __init__(self):
        self.can = _Can()
        self.rs485 = None
        self.server = None
        self.can_ok = True
        self.slave_address = 0
        self.starts = 0
        self.polls = 0  # Pylon requests answered on Link IN
        self.protocol = 0  # the DIP's
        self.service_app = None

    def start_can(self, now):
        self.starts += 1
        return True


class _App:
    def __init__(self, bms):
        self.bms = bms


class _Frame:
    def __init__(self, can_id, data=bytes(8)):
        self.can_id = can_id
        self.data = data
        self.dlc = len(data)


class _WireUart(_Uart):
    def __init__(self, data=b""):
        super().__init__(data)
        self.written = []

    def write(self, data):
        self.written.append(bytes(data))
        return len(data)

    def txdone(self):
        return True


class PackLinkUnitTest(unittest.TestCase):
    """The glue on fakes: what the inverter link hands over, Link OUT, a full TX."""

    def setUp(self):
        from packlink import PackLink

        self.r = Rig(NO_LEAK).settle()
        self.r.tick()
        self.log = ev.EventLog()
        self.link = _Link()
        self.uart = _WireUart(b"\x00\x13")  # noise coming back up Link OUT
        self.port = Rs485(self.uart, _Pin())
        self.pk = PackLink(self.link, self.port, self.log, 0)

    def test_frames_from_link_in(self):
        pk = self.pk
        pk.frame_in(hx("C5 01 02 03"), 4, 0xC5, 10)  # the service link's: not ours
        pk.frame_in(hx("A5 01 02 00 57"), 5, 0xA5, 10)  # a bad check
        self.assertEqual((pk.beacons_in, pk.bad_frames), (0, 1))
        pk.frame_in(hx("A5 01 02 00 58"), 5, 0xA5, 20)
        self.assertEqual((pk.beacons_in, pk.addr.address), (1, 3))
        pk.pylon_in(30)  # a slave's Link IN is never an inverter's
        self.assertEqual((pk.addr.address, pk.addr.master), (3, False))
        self.assertFalse(pk.take(_Frame(0x305), 40))  # not the pack link's
        self.assertTrue(pk.take(_Frame(pl.can_id(pl.CELLS, 2)), 40))  # another slave's
        self.assertEqual(pk.bad_frames, 1)
        self.assertTrue(pk.take(_Frame(pl.can_id(pl.TEMPS_2, 1), bytes(7)), 40))  # short
        self.assertEqual(pk.bad_frames, 2)

    def written(self, start, end=None):
        """What Link OUT carried while the loop polled each ms from start to end."""
        self.uart.written.clear()
        for now in range(start, (start if end is None else end) + 1):
            self.pk.poll(self.r.bms, now)
        return b"".join(self.uart.written)

    def test_a_slave_takes_the_masters_unlock_from_link_in_only(self):
        # the master's TEMPS_2 word was taken from the CAN bus, which anyone can send on
        # (the inverter's): a forged one, then UNLOCK_RELAY, unlocked a slave with nobody
        # at any pack
        pk = self.pk
        pk.frame_in(hx("A5 01 01 01 58"), 5, 0xA5, 10)  # the master's beacon: locked
        self.assertEqual((pk.addr.address, pk.master_unlock_left(10)), (2, 0))
        forged = _Frame(pl.can_id(pl.TEMPS_2, 1), hx("00 00 00 00 70 17 00 00"))  # 600 s
        self.assertTrue(pk.take(forged, 20))
        self.assertEqual(pk.master_unlock_left(20), 0)
        # the master's beacon says it holds, its UNLOCK frame 600 s
        pk.frame_in(hx("A5 01 01 05 54"), 5, 0xA5, 30)
        pk.frame_in(hx("A5 02 70 17 D2"), 5, 0xA5, 30)
        self.assertEqual(pk.master_unlock_left(30), 600000)
        self.assertEqual(pk.master_unlock_left(30 + 2499), 600000 - 2499)
        self.assertEqual(pk.master_unlock_left(30 + 2500), 0)  # heard too long ago
        self.assertEqual(pk.bad_frames, 0)
        pk.frame_in(hx("A5 02 70 17 D3"), 5, 0xA5, 40)  # a bad check: dropped, counted
        self.assertEqual((pk.bad_frames, pk.master_unlock_left(40)), (1, 599990))
        pk.frame_in(hx("A5 01 01 01 58"), 5, 0xA5, 50)  # locked again: at once
        self.assertEqual(pk.master_unlock_left(50), 0)

    def test_a_slave_passes_the_masters_unlock_down_the_chain(self):
        pk = self.pk
        pk.frame_in(hx("A5 01 01 01 58"), 5, 0xA5, 10)
        self.assertEqual(self.written(10, 29), hx("A5 01 02 00 58"))  # locked
        pk.frame_in(hx("A5 01 01 05 54"), 5, 0xA5, 30)
        pk.frame_in(hx("A5 02 70 17 D2"), 5, 0xA5, 30)
        # unlocked: passed on at once (a beacon period a pack would add up down the chain)
        self.assertEqual(self.written(30), hx("A5 01 02 04 54 A5 02 70 17 D2"))
        self.assertEqual(self.written(31, 229), b"")
        at = 230
        while not self.written(at):  # (its next beacon: the loop's next wake from 230 on)
            at += 1
        self.assertTrue(230 <= at <= 330, at)
        # what is left of it then: 600 000 - (at - 30) ms, rounded down to 0.1 s
        left = (600000 - (at - 30)) // 100
        sent = hx("A5 01 02 04 54 A5 02") + bytes((left & 0xFF, left >> 8))
        self.assertEqual(b"".join(self.uart.written), sent + bytes(((-sum(sent[5:])) & 0xFF,)))
        self.assertEqual(left, 5997)
        # its own unlock (RESET at this pack) is its own: never passed on
        b = self.r.bms
        b.unlocked = True
        b.unlock_at = at
        pk.frame_in(hx("A5 01 01 01 58"), 5, 0xA5, at + 10)  # the master's, locked: at once
        self.assertEqual(self.written(at + 10), hx("A5 01 02 00 58"))

    def test_no_word_of_the_unlock_is_no_word_that_it_is_locked(self):
        # a pack restarting upstream (`bmsctl --all restart` goes one slave after the
        # other) said "locked" in its first beacon, before the word reached it, and the
        # relayed unlock of every pack behind it ended
        pk = self.pk
        pk.frame_in(hx("A5 01 01 05 54"), 5, 0xA5, 10)  # unlocked: its UNLOCK frame lost
        self.assertEqual(self.written(10), hx("A5 01 02 08 50"))  # no word yet
        pk.frame_in(hx("A5 01 01 05 54"), 5, 0xA5, 20)
        pk.frame_in(hx("A5 02 70 17 D2"), 5, 0xA5, 20)
        self.assertEqual(pk.master_unlock_left(20), 600000)
        pk.frame_in(hx("A5 01 01 09 50"), 5, 0xA5, 100)  # the pack upstream has no word
        self.assertEqual(pk.master_unlock_left(100), 599920)  # what it had, kept
        # nothing more for UNLOCK_HEARD_MS: no word to give downstream either
        at = 20 + UNLOCK_HEARD_MS
        self.assertEqual(pk.master_unlock_left(at - 1), 600000 - UNLOCK_HEARD_MS + 1)
        self.assertEqual(pk.master_unlock_left(at), 0)
        flags = {}
        for now in range(21, at + 400):
            if self.written(now):
                flags[now] = self.uart.written[0][3]
        self.assertEqual({f for t, f in flags.items() if t < at}, {0x04})
        self.assertEqual({f for t, f in flags.items() if t >= at}, {0x08})

    def test_a_master_announces_its_own_unlock_on_link_out(self):
        pk = self.pk
        b = self.r.bms
        pk.pylon_in(5)  # an inverter on Link IN: the master at once
        self.assertEqual(self.written(5), hx("A5 01 01 01 58"))
        b.unlocked = True
        b.unlock_at = 100  # (RESET twice at this pack, 600 s)
        # 599 895 ms left at its next beacon
        self.assertEqual(self.written(6, 205), hx("A5 01 01 05 54 A5 02 6E 17 D4"))
        b.unlocked = False
        self.assertEqual(self.written(206, 405), hx("A5 01 01 01 58"))

    def test_a_held_beacon_keeps_the_slaves_behind_it_silent(self):
        # a slave behind a master held back by another master may have an address the
        # other master's chain has too: it keeps silent on the pack link while its Link
        # IN's beacon says held, and says so on its own Link OUT at once, either way
        pk = self.pk
        sent = self.link.can.sent
        pk.frame_in(hx("A5 01 01 03 56"), 5, 0xA5, 10)  # a held master upstream
        self.assertEqual(self.written(10), hx("A5 01 02 02 56"))
        for now in range(11, 1500, 10):
            pk.poll(self.r.bms, now)
        self.assertEqual(sent, [])
        pk.frame_in(hx("A5 01 01 01 58"), 5, 0xA5, 1500)  # speaking now
        self.assertEqual(self.written(1500), hx("A5 01 02 00 58"))  # at once
        self.assertEqual([i for i, _d, _e in sent], [pl.can_id(pl.LIMITS, 2)])  # LIMITS first
        pk.frame_in(hx("A5 01 01 03 56"), 5, 0xA5, 1510)
        self.assertEqual(self.written(1510), hx("A5 01 02 02 56"))  # at once

    def master(self, uid_last):
        """The rig's pack the speaking master (LISTEN_MS, then its hold) at 1000, its uid
        ending in uid_last."""
        b = self.r.bms
        b.uid[:] = bytes(7) + bytes((uid_last,))
        self.link.service_app = _App(b)
        self.pk.poll(b, 500)
        self.pk.poll(b, 1000)
        self.assertFalse(self.link.muted)
        self.assertEqual(self.roles(), [(500, 1, 1)])

    def roles(self):
        return [(r[1], r[4], r[5]) for r in logged(self.log, ev.COMM, ev.COMM_ROLE)]

    def judged(self, now):
        """The master's PACK_LOST as its system judges it at now (pack 2's four frames
        just come: pack 2 is no loss)."""
        for msg, data in sorted(frames().items()):
            self.pk.take(_Frame(pl.can_id(msg, 2), data), now)
        self.pk._beat_now = True  # (judged now, not at the next beat)
        self.pk.poll(self.r.bms, now)
        return self.pk.pack_lost

    def test_another_master_at_our_address_is_counted_and_logged_an_episode(self):
        # no CAN controller hears its own frames: a pack-link frame at a master's own
        # address is a second master's (a pack that restarted with the one upstream of it
        # off; two told the inverter each its own limits, each second the other's)
        pk = self.pk
        self.master(5)
        self.assertFalse(self.judged(1050))
        other = _Frame(pl.can_id(pl.LIMITS, 1), frames(limits=(56000, 500, 500, 100, 0x9B))[3])
        self.assertTrue(pk.take(other, 1100))
        self.assertEqual(pk.bad_frames, 1)
        self.assertEqual(self.roles()[1:], [(1100, 1, 2)])  # one COMM event an episode
        self.assertTrue(self.judged(1100))  # the inverter and the panel see a warning
        t = 1100 + LOST_MS - 1
        pk.take(other, t)  # within LOST_MS of the last: the same episode
        self.assertEqual((pk.bad_frames, len(self.roles())), (2, 2))
        self.assertTrue(self.judged(t + LOST_MS - 1))
        self.assertFalse(self.judged(t + LOST_MS))
        pk.take(other, t + LOST_MS)  # a new one
        self.assertEqual(self.roles()[2:], [(t + LOST_MS, 1, 2)])
        self.assertFalse(self.link.muted)  # (its LIMITS alone decides nothing)

    def test_the_higher_uid_steps_down_and_holds_back(self):
        pk = self.pk
        b = self.r.bms
        self.master(5)
        pk.take(_Frame(pl.can_id(pl.CELLS, 2), frames()[pl.CELLS]), 1050)  # a slave
        self.assertIsNotNone(pk.packs)
        higher = _Frame(pl.can_id(pl.IDENT, 1), bytes(7) + b"\x06")
        pk.take(higher, 1100)
        self.assertFalse(self.link.muted)  # ours is the lower: we stay
        lower = _Frame(pl.can_id(pl.IDENT, 1), bytes(7) + b"\x04")
        pk.take(lower, 1200)
        self.assertTrue(self.link.muted)  # held back: silent to the inverter
        self.assertIsNone(pk.packs)
        self.assertEqual(len(self.roles()), 2)  # (the episode's; no role change logged)
        sent = self.link.can.sent
        n = len(sent)
        self.assertEqual(self.written(1200), hx("A5 01 01 03 56"))  # held, at once
        pk.take(_Frame(pl.can_id(pl.CELLS, 2), frames()[pl.CELLS]), 1250)
        t = 1200 + RIVAL_MS - 1
        for now in range(1201, t + 1):
            pk.poll(b, now)
        self.assertEqual(len(sent), n)  # silent on the pack link too
        self.assertTrue(self.link.muted)
        self.assertFalse(pk.ms_led)
        pk.take(lower, t)  # the other goes on: held on, RIVAL_MS from its last frame
        # out of the system: a warning on its panel while the other goes on (its hold
        # pushed on past a new master's: not for one that ends as one would)
        pk.poll(b, t + RIVAL_MS - MASTER_HOLD_MS - 1)
        self.assertTrue(pk.pack_lost)
        pk.poll(b, t + RIVAL_MS - MASTER_HOLD_MS)
        self.assertFalse(pk.pack_lost)
        pk.poll(b, t + RIVAL_MS - 1)
        self.assertTrue(self.link.muted)
        # the other went silent: this one speaks, and its beacon says so at the next poll
        self.assertEqual(self.written(t + RIVAL_MS, t + RIVAL_MS + 1), hx("A5 01 01 01 58"))
        self.assertFalse(self.link.muted)
        pk.poll(b, t + RIVAL_MS + 1)
        self.assertFalse(pk.pack_lost)
        self.assertEqual(len(self.roles()), 2)  # (the same episode: nothing logged)

    def test_an_inverter_on_link_in_decides_first(self):
        pk = self.pk
        self.master(5)
        with_inverter = bytearray(8)
        with_inverter[6] = 1  # its TEMPS_2 says an inverter asks on its Link IN
        pk.take(_Frame(pl.can_id(pl.TEMPS_2, 1), bytes(8)), 1100)
        self.assertFalse(self.link.muted)
        pk.take(_Frame(pl.can_id(pl.TEMPS_2, 1), with_inverter), 1200)
        self.assertTrue(self.link.muted)
        # ours asks on our Link IN: we never step down, whatever the other's uid
        self.setUp()
        pk = self.pk
        self.master(5)
        self.link.polls = 3
        pk.take(_Frame(pl.can_id(pl.TEMPS_2, 1), with_inverter), 1100)
        pk.take(_Frame(pl.can_id(pl.IDENT, 1), bytes(8)), 1150)
        self.assertFalse(self.link.muted)
        # and ours says so in its own TEMPS_2 (byte 6, bit 0)
        pk.take(_Frame(pl.can_id(pl.CELLS, 2), frames()[pl.CELLS]), 1200)
        sent = self.link.can.sent
        for now in range(1200, 2400):
            pk.poll(self.r.bms, now)
        temps_2 = [d for i, d, _e in sent if i == pl.can_id(pl.TEMPS_2, 1)]
        self.assertEqual(temps_2[0][6], 1)

    def test_a_new_master_holds_back_while_another_master_speaks(self):
        # a pack that restarted with the pack upstream of it switched off finds its Link
        # IN silent: it takes the master's role, but speaks only once no other master has
        # been heard for RIVAL_MS
        pk = self.pk
        b = self.r.bms
        b.uid[:] = bytes(8)  # (the lowest: a speaking master would stay)
        self.link.service_app = _App(b)
        other = _Frame(pl.can_id(pl.CELLS, 1), frames()[pl.CELLS])
        for now in range(0, 5000, 100):
            pk.take(other, now)
            pk.poll(b, now)
            self.assertTrue(self.link.muted, now)
        self.assertEqual((pk.addr.address, pk.addr.master), (1, True))
        self.assertEqual(self.link.can.sent, [])
        self.assertEqual(self.roles(), [(500, 1, 1), (600, 1, 2)])  # one episode
        pk.poll(b, 4900 + RIVAL_MS - 1)
        self.assertTrue(self.link.muted)
        pk.poll(b, 4900 + RIVAL_MS)
        self.assertFalse(self.link.muted)

    def test_a_master_alone_hearing_another_bms_for_lost_ms_speaks_on_the_pack_link(self):
        # two masters alone (a black start with the middle pack off) sent nothing on the
        # pack link: each spoke to the inverter, and neither knew
        pk = self.pk
        b = self.r.bms
        self.master(5)
        sent = self.link.can.sent
        for t in (1100, 2100, 3100):
            pk.other_bms(t)
        pk.other_bms(6100)  # a gap of LOST_MS: an episode again
        for t in (7100, 8100, 9099):
            pk.other_bms(t)
            pk.poll(b, t)
        self.assertGreaterEqual(pk._since, 0)
        self.assertEqual(sent, [])  # alone: silent on the pack link
        pk.other_bms(9100)  # heard for LOST_MS
        self.assertEqual(pk._since, -1)
        self.assertEqual(self.roles(), [(500, 1, 1), (9100, 1, 3)])
        pk.poll(b, 9100)
        pk.poll(b, 9200)
        self.assertEqual([pl.split(s[0]) for s in sent], [(pl.CELLS, 1), (pl.LIMITS, 1)])
        pk.other_bms(20000)  # once: the episode is logged when it starts to speak
        self.assertEqual(len(self.roles()), 2)
        # muted (held, or waiting to count its packs) it is not a second voice: not heard
        self.setUp()
        pk = self.pk
        self.master(5)
        self.link.muted = True
        for t in range(1100, 6000, 1000):
            pk.other_bms(t)
        self.assertGreaterEqual(pk._since, 0)
        self.link.muted = False
        pk.addr.master = False  # nor on a slave
        for t in range(6000, 11000, 1000):
            pk.other_bms(t)
        self.assertGreaterEqual(pk._since, 0)

    def test_a_master_whose_dip_sets_the_protocol_outranks_one_at_the_default(self):
        # two masters: the one whose DIP sets the protocol (ID1, ID2: only the master's
        # DIP carries it) speaks on, whatever the serial numbers; its TEMPS_2 says so
        # (byte 6 bit 1). A Schneider site's gateway was left with the Pylon set
        pk = self.pk
        b = self.r.bms
        self.link.service_app = _App(b)
        b.uid[:] = bytes(7) + b"\x05"
        self.master(5)
        lower = _Frame(pl.can_id(pl.IDENT, 1), bytes(7) + b"\x04")
        temps_dip = _Frame(pl.can_id(pl.TEMPS_2, 1), bytes(6) + b"\x02\x00")
        self.link.protocol = 2  # ours sets it: a lower uid does not hold it back
        pk.take(lower, 1100)
        self.assertFalse(self.link.muted)
        pk.take(temps_dip, 1150)  # nor one that sets it too
        self.assertFalse(self.link.muted)
        # both set it (a DIP set on every pack): the lower uid speaks, as both at the
        # default (before, both spoke on)
        pk.take(lower, 1160)
        self.assertTrue(self.link.muted)
        self.setUp()
        pk = self.pk
        self.master(5)
        pk.take(lower, 1100)  # at the default: a lower uid holds it back
        self.assertTrue(self.link.muted)
        self.setUp()
        pk = self.pk
        self.master(5)
        self.link.protocol = 0  # ours at the default: the other's TEMPS_2 holds it back
        pk.take(temps_dip, 1200)
        self.assertTrue(self.link.muted)
        # and its own TEMPS_2 says which: bit 1 as its DIP sets it
        for protocol, bits in ((0, 0), (1, 2), (2, 2)):
            self.link.protocol = protocol
            pk._summary(b, 2000)  # (the next of its frames)
            pk._msg = pl.TEMPS_2
            pk._summary(b, 2000)
            self.assertEqual(pk.buf[6], bits)

    def test_a_master_by_listening_speaks_after_a_hold_or_an_inverters_request(self):
        pk = self.pk
        b = self.r.bms
        pk.poll(b, 500)  # LISTEN_MS without a beacon: the master, held back
        self.assertTrue(pk.addr.master)
        self.assertTrue(self.link.muted)
        pk.poll(b, 799)
        self.assertTrue(self.link.muted)
        pk.poll(b, 800)  # 300 ms and no pack upstream: it speaks
        self.assertFalse(self.link.muted)
        # held again (a new link), and an inverter asks on Link IN: at once, no other
        # pack heard
        self.setUp()
        pk = self.pk
        pk.poll(self.r.bms, 500)
        self.assertTrue(self.link.muted)
        pk.pylon_in(600)
        self.assertFalse(self.link.muted)
        self.assertTrue(pk.addr.master)
        # with another pack heard (a slave's frame, in its listening): once its table
        # counts it, COUNT_WAIT_MS at the most (a restarted master told the inverter its
        # own limits, its FETs open at boot: 0 A while the others carried the load)
        self.setUp()
        pk = self.pk
        pk.take(_Frame(pl.can_id(pl.CELLS, 2), frames()[pl.CELLS]), 400)
        pk.poll(self.r.bms, 500)
        pk.pylon_in(600)
        self.assertTrue(pk.addr.master)
        pk.poll(self.r.bms, 600 + COUNT_WAIT_MS - 1)
        self.assertTrue(self.link.muted)
        pk.poll(self.r.bms, 600 + COUNT_WAIT_MS)
        self.assertFalse(self.link.muted)

    def test_beacons_noise_and_a_full_tx(self):
        pk = self.pk
        b = self.r.bms
        pk.pylon_in(5)  # an inverter on Link IN: the master at once
        self.assertTrue(pk.addr.master)
        self.assertFalse(self.link.muted)
        pk.poll(b, 5)
        self.assertEqual(self.uart.written, [hx("A5 01 01 01 58")])
        self.assertEqual(pk.bad_frames, 0)  # the noise is bytes, not frames: the port's
        self.assertEqual(self.port.garbage, 2)
        self.assertEqual(self.link.can.sent, [])  # alone: silent on the pack link
        # a slave's frame: the master keeps a table, and speaks from now on
        self.assertTrue(pk.take(_Frame(pl.can_id(pl.LIMITS, 2)), 6))
        self.assertTrue(pk.take(_Frame(pl.can_id(pl.LIMITS, 1)), 6))  # another master's
        self.assertTrue(pk.take(_Frame(pl.can_id(pl.LIMITS, 3), bytes(4)), 6))  # short
        self.assertEqual(pk.packs.count, 0)
        # dropped and counted: the other master's, the short one, and the zeros (CVL 0:
        # no pack sends it)
        self.assertEqual(pk.bad_frames, 3)
        ok = _Frame(pl.can_id(pl.LIMITS, 2), frames()[pl.LIMITS])
        self.assertTrue(pk.take(ok, 6))
        self.assertEqual(pk.bad_frames, 3)
        for ident in (pl.can_id(pl.LIMITS, 33), pl.can_id(0, 2), pl.can_id(12, 2)):
            self.assertTrue(pk.take(_Frame(ident, frames()[pl.LIMITS]), 6))
        self.assertEqual(pk.bad_frames, 6)
        self.link.can.free = False
        pk.poll(b, 7)
        self.assertEqual(self.link.can.sent, [])
        self.link.can.free = True
        pk.poll(b, 8)  # LIMITS first, at once
        self.assertEqual([i for i, _d, _e in self.link.can.sent], [pl.can_id(pl.LIMITS, 1)])

    def test_eleven_frames_in_ten_slots_a_second(self):
        # IDENT (the pack's serial number) goes halfway through TEMPS_2's slot: the others
        # keep their second, and no two frames of a pack go back to back (a master's
        # MCP2515 holds two)
        pk = self.pk
        b = self.r.bms
        b.uid[:] = hx("E6 61 41 04 03 2B 1A 07")
        pk.pylon_in(5)
        pk.take(_Frame(pl.can_id(pl.LIMITS, 2)), 6)  # another pack: the master speaks
        sent = self.link.can.sent
        when = []
        for now in range(10, 2200):
            before = len(sent)
            pk.poll(b, now)
            when += [now] * (len(sent) - before)
        msgs = [pl.split(i)[0] for i, _d, _e in sent]
        every = list(range(1, 12))  # CELLS .. TEMPS_2, IDENT
        self.assertEqual(msgs[:23], [pl.LIMITS] + every + every)  # LIMITS first, at once
        slots = when[12:23]
        self.assertEqual([b - a for a, b in zip(slots, slots[1:])], [100] * 9 + [50])
        self.assertEqual(when[23] - slots[9], 100)  # then the next second's CELLS
        self.assertEqual(sent[22][1], hx("E6 61 41 04 03 2B 1A 07"))

    def test_a_limit_that_falls_goes_out_at_once(self):
        # a derating (80 A to 20 A of DCL) waited for LIMITS' slot, up to a second, while
        # the others took its share; a rise waits for it
        pk = self.pk
        b = self.r.bms
        pk.frame_in(hx("A5 01 02 00 58"), 5, 0xA5, 5)  # pack 2's beacon: a slave, 3
        sent = self.link.can.sent
        for now in range(10, 1500):
            pk.poll(b, now)

        def limits_from(start, end):
            n = len(sent)
            for now in range(start, end):
                pk.poll(b, now)
            return [i for i, _d, _e in sent[n:] if pl.split(i)[0] == pl.LIMITS]

        self.assertEqual(limits_from(1500, 1520), [])  # (not its slot)
        b.limits.dcl_ma -= 100
        self.assertEqual(limits_from(1520, 1640), [pl.can_id(pl.LIMITS, 3)])
        b.limits.dcl_ma += 100
        b.limits.ccl_ma -= 100
        self.assertEqual(limits_from(1640, 1760), [pl.can_id(pl.LIMITS, 3)])
        b.limits.ccl_ma += 100
        self.assertEqual(limits_from(1760, 1880), [])

    def test_the_system_passes_an_inverters_limits_to_the_pack(self):
        b = self.r.bms
        view = SystemView(b)
        calls = []
        b.limits.set_external = lambda *a: calls.append(a) or True
        self.assertTrue(view.limits.set_external(1, 2, 3, 4, 5))
        self.assertEqual(calls, [(1, 2, 3, 4, 5)])


class NoRoomTest(unittest.TestCase):
    """A pack becomes a master in service, where the heap may have no room for the
    system's table or views: the MemoryError once reached the app's safety net (FETs
    off, then a reset). Now the master asks the inverter for no current until they are
    made (it knows nothing of the others' limits, and its own could be more than a
    derated pack's share), logs it, counts each try and tries again at most each
    second."""

    def setUp(self):
        import packsystem
        from packlink import PackLink

        self.packsystem = packsystem
        self.r = Rig(NO_LEAK).settle()
        self.r.tick()
        self.link = _Link()
        self.log = ev.EventLog()
        self.pk = PackLink(self.link, None, self.log, 0)
        self.pk.pylon_in(5)  # an inverter on Link IN: the master at once
        self.calls = 0

    def no_room(self, *args):
        self.calls += 1
        raise MemoryError("memory allocation failed")

    def give(self, src, now):
        for msg, data in sorted(frames().items()):
            self.assertTrue(self.pk.take(_Frame(pl.can_id(msg, src), data), now))

    def told_no_current(self):
        b = self.r.bms
        told = self.pk.report(b)
        self.assertIsNot(told, b)
        lim = told.limits
        got = (lim.ccl_ma, lim.dcl_ma, lim.charge_enable, lim.discharge_enable)
        self.assertEqual(got, (0, 0, False, False))
        self.assertEqual((told.allow_chg, told.relay_dsg), (False, False))
        # CVL down to the pack's voltage, as Limits stops a charge (Victron); the rest is
        # the pack's own
        self.assertLess(b.sample.stack_mv, b.limits.cvl_mv)
        self.assertEqual(lim.cvl_mv, b.sample.stack_mv)
        self.assertIs(told.sample, b.sample)
        self.assertEqual(lim.dvl_mv, b.limits.dvl_mv)

    def system_events(self):
        return [(r[1], r[4], r[5]) for r in logged(self.log, ev.COMM, ev.COMM_SYSTEM)]

    def test_no_room_for_the_table(self):
        pk, b = self.pk, self.r.bms
        self.assertIs(pk.report(b), b)  # alone
        real = self.packsystem.Packs
        self.packsystem.Packs = self.no_room
        try:
            self.give(2, 100)  # 10 frames: one try, the rest within the second
            self.assertEqual((pk.packs, pk.no_room, self.calls), (None, 1, 1))
            self.told_no_current()
            self.give(2, 1099)
            self.assertEqual((pk.no_room, self.calls), (1, 1))
            pk.poll(b, 1099)
            self.told_no_current()
            self.give(2, 1100)  # a second on: tried again, counted, not logged again
            self.assertEqual((pk.packs, pk.no_room, self.calls), (None, 2, 2))
        finally:
            self.packsystem.Packs = real
        self.give(2, 2099)  # room again, but within the second
        self.assertIsNone(pk.packs)
        self.give(2, 2100)
        self.assertEqual((pk.packs.count, pk.no_room), (1, 2))
        self.told_no_current()  # until the system's view is made too
        for t in range(2100, 3200, 100):  # the master's own four summary frames
            self.give(2, t)
            pk.poll(b, t)
        self.assertEqual(pk.report(b).modules, 2)  # the system's values
        self.assertEqual(self.system_events(), [(100, 0, 1), (2100, 1, 2)])

    def test_no_room_for_the_views(self):
        for make in ("SystemView", "PackView"):
            self.setUp()
            pk, b = self.pk, self.r.bms
            self.give(2, 100)
            real = getattr(self.packsystem, make)
            setattr(self.packsystem, make, self.no_room)
            try:
                for t in range(100, 1200, 100):  # tried at 100 and at the beat 1 s on
                    pk.poll(b, t)
                self.assertEqual((pk.view, pk.pack_view, self.calls), (None, None, 2), make)
                self.told_no_current()
                self.assertIsNone(pk.peer(2, b))  # no answer at pack 2's address
            finally:
                setattr(self.packsystem, make, real)
            for t in range(1200, 3200, 100):  # the master's own four summary frames
                self.give(2, t)
                pk.poll(b, t)
            self.assertEqual(pk.report(b).modules, 2, make)
            self.assertIsNotNone(pk.peer(2, b))  # made with the view: a reply allocates none
            self.assertEqual(self.system_events(), [(100, 0, 1), (2100, 1, 2)])  # a beat

    def refused_at(self, now):
        """Pack 2's frames at now, with no room for the table."""
        real = self.packsystem.Packs
        self.packsystem.Packs = self.no_room
        try:
            self.give(2, now)
        finally:
            self.packsystem.Packs = real

    def test_a_refusal_long_ago_does_not_hold_the_table_back(self):
        # ticks wrap (2**30 ms, 12.4 days): a stamp half that old looks ahead of now
        from bms import ticks

        pk = self.pk
        self.refused_at(100)
        later = ticks.add(100, (1 << 29) + 500)  # 6.2 days on: 100 looks 536 870 412 ms ahead
        self.assertLess(ticks.diff(later, 100), 0)
        self.give(2, later)
        self.assertIsNotNone(pk.packs)
        self.assertEqual(pk.no_room, 1)

    def test_a_new_role_ends_the_episode(self):
        pk, b = self.pk, self.r.bms
        self.refused_at(100)
        self.told_no_current()
        pk.frame_in(hx("A5 01 02 00 58"), 5, 0xA5, 200)  # a master upstream: a slave now
        pk.poll(b, 200)
        self.assertFalse(pk.addr.master)
        self.assertIs(pk.report(b), b)
