"""Persistence: the event log and the state survive reboots and power cuts."""

import errno
import unittest

import app_boot
from core_rig import Rig
from support import heap_locked, logged, long_run, make_sim

from bms import dip as dipsw
from bms import events as ev
from bms import lazy
from bms import protections as pt
from bms import soc as socm
from boards.host import machine
from boards.host.flash import MemFS
from drivers import store as store_module
from drivers.store import SEQ_BLOCK, Store


def filled_log(n, start_t=0):
    log = ev.EventLog()
    for i in range(n):
        log.log(start_t + i, ev.MODE, i % 6, i * 10, -i)
    return log


class StoreTest(unittest.TestCase):
    def test_round_trip(self):
        fs = MemFS()
        store = Store(fs)
        log = filled_log(10)
        self.assertEqual(store.append_events(log), 10)
        self.assertEqual(store.append_events(log), 0)
        restored = ev.EventLog()
        again = Store(fs)
        self.assertEqual(again.load_events(restored), 10)
        for seq in range(10):
            self.assertEqual(restored.get(seq), log.get(seq))
        # the numbers reserved ahead (a block from the last append) are skipped
        self.assertEqual(restored.next_seq, 10 + SEQ_BLOCK)
        self.assertEqual(again.skipped, SEQ_BLOCK)
        self.assertEqual(restored.get(10), (10, 0, ev.SKIPPED, 0, 0, 0))
        self.assertEqual(restored.get(9 + SEQ_BLOCK)[2], ev.SKIPPED)

    def test_rotation_keeps_the_newest_and_bounds_the_files(self):
        fs = MemFS()
        store = Store(fs, per_file=256)
        log = ev.EventLog()
        for i in range(1000):
            log.log(i, ev.WARN, 1, i, 0)
            if i % 7 == 0:
                store.append_events(log)
        store.append_events(log)
        self.assertLessEqual(sum(len(b) for b in fs.files.values()), 2 * 256 * 20)
        restored = ev.EventLog()
        Store(fs).load_events(restored)
        self.assertGreaterEqual(restored.next_seq, 1000 + SEQ_BLOCK // 2)
        self.assertLessEqual(restored.next_seq, 1000 + SEQ_BLOCK)
        self.assertEqual(restored.oldest_seq(), restored.next_seq - 256)
        self.assertEqual(restored.get(999)[4], 999)

    def test_a_long_flush_is_written_32_records_at_a_time(self):
        # at most 640 B in one piece: a heap in service can have much more free, in pieces
        sizes = []

        class Fs(MemFS):
            def open(self, path, mode="r"):
                f = MemFS.open(self, path, mode)
                if path.startswith("events") and mode == "ab":
                    write = f.write

                    def counted(b):
                        sizes.append(len(b))
                        return write(b)

                    f.write = counted
                return f

        fs = Fs()
        log = filled_log(100)
        self.assertEqual(Store(fs).append_events(log), 100)
        self.assertEqual(sizes, [640, 640, 640, 80])
        restored = ev.EventLog()
        Store(fs).load_events(restored)
        for seq in range(100):
            self.assertEqual(restored.get(seq), log.get(seq))

    def test_appending_continues_after_a_reload(self):
        fs = MemFS()
        log = filled_log(300)
        Store(fs).append_events(log)
        log2 = ev.EventLog()
        store2 = Store(fs)
        store2.load_events(log2)
        boot = log2.next_seq
        self.assertEqual(boot, 300 + SEQ_BLOCK)
        log2.log(9999, ev.BOOT, 1, 2)
        store2.append_events(log2)
        log3 = ev.EventLog()
        Store(fs).load_events(log3)
        self.assertEqual(log3.get(boot)[1:4], (9999, ev.BOOT, 1))
        self.assertEqual(log3.get(boot - 1)[2], ev.SKIPPED)
        self.assertEqual(log3.get(299), log.get(299))

    def test_a_torn_record_is_dropped_and_appends_stay_aligned(self):
        fs = MemFS()
        Store(fs).append_events(filled_log(5))
        fs.files["events0.bin"].extend(b"\x01\x02\x03")  # power cut mid-record
        log = ev.EventLog()
        store = Store(fs)
        self.assertEqual(store.load_events(log), 5)
        boot = log.next_seq
        log.log(77, ev.BOOT, 1, 1)
        store.append_events(log)
        again = ev.EventLog()
        Store(fs).load_events(again)
        self.assertEqual(again.get(boot)[1:3], (77, ev.BOOT))

    def test_state_is_replaced_atomically_and_garbage_is_not_taken_for_none(self):
        fs = MemFS()
        store = Store(fs)
        self.assertEqual(store.load_state(), {})
        store.save_state({"boots": 3, "soc_q": 123})
        self.assertEqual(store.load_state(), {"boots": 3, "soc_q": 123})
        self.assertNotIn("state.tmp", fs.files)
        fs.files["state.json"] = bytearray(b"{not json")
        with self.assertRaises(ValueError):  # the caller must not save over it
            store.load_state()
        store.set_aside()
        self.assertEqual(bytes(fs.files["state.bad"]), b"{not json")
        self.assertEqual(store.load_state(), {})

    def test_a_flipped_bit_in_the_header_is_refused_not_taken_for_an_old_state(self):
        # '"v"' read '"w"': the text no longer began with the header, so it parsed as a
        # state from before the CRC, its CRC never checked: checked_state() dropped every
        # key and a fresh state was saved over the latched faults
        fs = MemFS()
        store = Store(fs)
        store.save_state({"boots": 7, "soc_q": 100, "latched": [18, 3]})
        good = bytes(fs.files["state.json"])
        head = len(store_module._HEAD)
        self.assertEqual(good[:head].decode(), store_module._HEAD)
        for i in range(head):
            for bit in range(7):  # (ASCII stays ASCII: a decode error is another path)
                data = bytearray(good)
                data[i] ^= 1 << bit
                fs.files["state.json"] = data
                with self.assertRaises(ValueError, msg=(i, bit)):
                    store.load_state()
        # the old format (the bare state) loads while it has neither key
        fs.files["state.json"] = bytearray(b'{"boots": 3, "soc_q": 5}')
        self.assertEqual(store.load_state(), {"boots": 3, "soc_q": 5})
        for bare in (b'{"boots": 3, "state": {}}', b'{"boots": 3, "crc": 5}'):
            fs.files["state.json"] = bytearray(bare)
            with self.assertRaises(ValueError):
                store.load_state()


class FlashFaultTest(unittest.TestCase):
    """The host flash fails on request (MemFS.fail), so tests reach the error paths."""

    def test_fail_after_times_and_path_prefix(self):
        fs = MemFS()
        fs.files["events0.bin"] = bytearray(b"ab")
        fs.fail("read", "events", times=2, after=1)
        with fs.open("events0.bin", "rb") as f:  # the one let through
            self.assertEqual(f.read(), b"ab")
        for _ in range(2):
            with self.assertRaises(OSError) as ctx:
                fs.open("events0.bin", "rb")
            self.assertEqual(ctx.exception.args[0], errno.EIO)
        fs.open("events0.bin", "rb").close()  # both failures spent
        fs.fail("write", "state", times=-1)
        for _ in range(3):
            with self.assertRaises(OSError):
                fs.open("state.tmp", "w")
        self.assertNotIn("state.tmp", fs.files)  # a failed open leaves the file as it was
        fs.open("events1.bin", "ab").close()  # another path
        fs.fail("write", "state", 0)
        fs.open("state.tmp", "w").close()
        fs.fail("rename")
        with self.assertRaises(OSError):
            fs.rename("state.tmp", "state.json")
        fs.rename("state.tmp", "state.json")
        fs.fail("remove", "state.json")
        with self.assertRaises(OSError):
            fs.remove("state.json")
        self.assertIn("state.json", fs.files)


class RebootTest(unittest.TestCase):
    @long_run
    def test_power_cycle_keeps_events_boots_and_soc(self):
        sim = make_sim(
            initial={"soc_pct": 55},
            events=[
                {"at_s": 5, "current_a": -50},
                {"at_s": 600, "current_a": 0},
                {"at_s": 700, "power": "off"},
                {"at_s": 710, "power": "on"},
            ],
        )
        sim.run(5000)
        pack = sim.packs[0]
        soc_start = pack.app.bms.soc.cpct
        sim.run(699000)
        before_seq = pack.app.events.next_seq
        soc_before = pack.app.bms.soc.cpct
        self.assertLess(soc_before, soc_start - 800)  # 50 A for almost 10 min: 8.2 Ah
        sim.run(712000)
        app = pack.app
        boots = logged(app.events, ev.BOOT)
        self.assertEqual([b[4] for b in boots], [1, 2])
        self.assertGreaterEqual(app.events.next_seq, before_seq + 2)
        start = logged(app.events, ev.SOC)[-1]
        self.assertEqual(start[3], 2)  # CAL_START_STORED: on the plateau the stored count wins
        self.assertLessEqual(abs(app.bms.soc.cpct - soc_before), 5)

    def flushed(self, app, code):
        return [k for k in range(app.store.flushed_seq) if app.events.get(k)[2] == code]

    def test_urgent_events_reach_flash_within_a_second(self):
        sim = make_sim(events=[{"at_s": 10.05, "cell_mv": {"2": 3700}}])
        sim.run(11100)
        app = sim.packs[0].app
        trip = logged(app.events, ev.TRIP)[0]
        self.assertEqual(trip[1], 11100)  # first seen at 10.1 s, tripped 1 s later
        self.assertEqual(self.flushed(app, ev.TRIP), [])  # the next housekeeping beat: 12.0 s
        sim.run(12000)
        self.assertEqual(len(self.flushed(app, ev.TRIP)), 1)

    def test_routine_events_reach_flash_within_a_minute(self):
        sim = make_sim(events=[{"at_s": 70, "current_a": 10}])
        sim.run(72000)
        app = sim.packs[0].app
        mode = logged(app.events, ev.MODE)[-1]
        self.assertEqual(self.flushed(app, ev.MODE), [])
        sim.run(mode[1] + 60000)
        self.assertEqual(len(self.flushed(app, ev.MODE)), 1)

    def test_events_waiting_for_their_write_cost_no_allocation(self):
        # every second housekeeping looks among the waiting events for an urgent one: it
        # reads their codes where they lie (a tuple a record, every second for up to a
        # minute, fed the heap's garbage)
        sim = make_sim(events=[{"at_s": 70, "current_a": 10}])
        sim.run(72000)
        app = sim.packs[0].app
        waiting = (app.store.flushed_seq, app.events.next_seq)
        self.assertLess(waiting[0], waiting[1])
        app._flush = heap_locked(app._flush)
        sim.run(95000)
        self.assertEqual((app.store.flushed_seq, app.events.next_seq), waiting)  # no write
        self.assertEqual(app.exceptions, 0)


def low_knee_sim(*events):
    """A pack discharging at 30 A from 14 %: at 150 s its cells are in the low OCV knee
    (about 3176 mV, where the firmware's curve reads a few % above the model's)."""
    return make_sim(initial={"soc_pct": 14}, events=[{"at_s": 5, "current_a": -30}] + list(events))


class LatchSaveTest(unittest.TestCase):
    """The latched faults reach flash when they move, and only then; housekeeping asks
    every second without building the list (Engine.latch_moves)."""

    def test_a_latch_and_its_reset_are_saved_at_the_next_beat(self):
        sim = make_sim(
            initial={"soc_pct": 60},
            events=[
                {"at_s": 4, "current_a": -20},
                {"at_s": 10, "fault": "short_circuit"},
                {"at_s": 20, "fault": "clear"},
                {"at_s": 30, "button": "reset", "hold_s": 1},
            ],
        )
        sim.run(10000)
        pack = sim.packs[0]
        app = pack.app
        latched = app.bms.engine.latched()
        self.assertNotEqual(latched, [])
        self.assertEqual(app.store.load_state()["latched"], latched)  # the beat at 10.0 s
        sim.run(12000)  # the latch's events reach flash too
        syncs = pack.flash.syncs
        app.housekeeping = heap_locked(app.housekeeping)
        sim.run(30000)
        self.assertEqual(app.exceptions, 0)  # no allocation to look for a move
        self.assertEqual(pack.flash.syncs, syncs)  # nothing moved: nothing written
        del app.housekeeping  # (a save allocates)
        sim.run(30900)  # RESET, held 1 s from 30 s (the short cleared at 20 s)
        self.assertEqual(app.bms.engine.latched(), latched)
        sim.run(31100)  # released at 31.0 s: the press over at the next sample
        self.assertEqual(app.bms.engine.latched(), [])
        sim.run(32000)  # and saved at the next beat
        self.assertEqual(app.store.load_state()["latched"], [])


class StateSaveTriggerTest(unittest.TestCase):
    @long_run
    def test_a_current_swinging_round_zero_saves_no_state(self):
        # +-3 A every 2 s (a zero-export inverter): a save at every mode change, 43 200 a
        # day, though the state holds no mode; now the SOC's steps and the timed save only
        evs = [{"at_s": 0, "current_a": 0}]
        for k in range(300):  # 60 s to 658 s
            evs.append({"at_s": 60 + 2 * k, "current_a": 3 if k % 2 == 0 else -3})
        sim = make_sim(initial={"soc_pct": 50}, events=evs)
        app = sim.packs[0].app
        saves = []
        save = app.store.save_state

        def counted(st):
            saves.append(sim.t_ms)
            save(st)

        app.store.save_state = counted
        modes = []
        while sim.t_ms < 599000:
            sim.run(sim.t_ms + 1000)
            if not modes or app.bms.mode != modes[-1]:
                modes.append(app.bms.mode)
        self.assertGreater(len(modes), 250)  # a mode change at (almost) every swing
        self.assertEqual(saves, [0])  # the boot's
        sim.run(600000)
        self.assertEqual(saves, [0, 600000])  # the timed save, 10 min after the last
        sim.run(658000)
        self.assertEqual(saves, [0, 600000])


class LockoutAcrossResetsTest(unittest.TestCase):
    """DOCP locks at its third trip, each within 10 min of the last release (pack.md): the
    series so far is saved with the state, so a watchdog reset between two trips does not
    start it again (one after every second release, and the pack never locked)."""

    def two_trips(self):
        """150 A from 5 s: DOCP trips at 20 s and 95.9 s, released 60 s after each (the
        second at 155.9 s, saved at the beat of 156 s); the pack at 157 s."""
        sim = make_sim(initial={"soc_pct": 90}, events=[{"at_s": 5, "current_a": -150}])
        sim.run(157000)
        pack = sim.packs[0]
        rel = [r[1] for r in logged(pack.app.events, ev.RELEASE, pt.DOCP)]
        self.assertEqual(rel, [80000, 155900])
        return sim, pack

    def reboot(self, sim, pack, cause):
        pack.reboot(cause, sim.t_ms)
        pack.next_us = sim.clock.t_us
        return pack.app

    def test_a_watchdog_reset_keeps_the_lockout_series(self):
        sim, pack = self.two_trips()
        st = pack.app.store.load_state()
        # DOCP's group (L_DOCP, 2): two trips, the last release 100 ms before the save
        self.assertEqual((st["lock_n"], st["lock_rel"]), ([0, 0, 2, 0, 0], [0, 0, 100, 0, 0]))
        app = self.reboot(sim, pack, machine.WDT_RESET)
        eng = app.bms.engine
        self.assertEqual(list(eng.lock_n), [0, 0, 2, 0, 0])
        self.assertEqual(eng.lock_rel[pt.L_DOCP], 157000 - 100)  # the reset's second lost
        sim.run(200000)
        trip = logged(app.events, ev.TRIP, pt.DOCP)[-1]
        self.assertEqual(
            logged(app.events, ev.LOCK, pt.DOCP), [(trip[0] + 1, trip[1]) + (5, 10, 3, 0)]
        )
        self.assertEqual(app.bms.protection_names(), ["DOCP:LOCKED"])

    @long_run
    def test_a_power_on_or_reset_ends_the_series_on_flash_too(self):
        for how in ("power", "reset"):
            sim, pack = self.two_trips()
            self.assertEqual(pack.app.store.load_state()["lock_n"], [0, 0, 2, 0, 0])
            if how == "power":  # a power cycle is a person, as for the latches
                app = self.reboot(sim, pack, machine.PWRON_RESET)
                self.assertEqual(list(app.bms.engine.lock_n), [0] * 5)
            else:
                pack.press_button(True)
                sim.run(157300)
                pack.press_button(False)
                sim.run(158000)  # RESET at 157.3 s, saved at the beat of 158 s
                app = self.reboot(sim, pack, machine.WDT_RESET)
            self.assertNotIn("lock_n", app.store.load_state(), how)
            self.assertNotIn("lock_rel", app.store.load_state(), how)
            sim.run(230000)
            boot = logged(app.events, ev.BOOT)[-1][0]
            trips = [r for r in logged(app.events, ev.TRIP, pt.DOCP) if r[0] > boot]
            self.assertEqual(len(trips), 1, how)  # the third: a first again
            self.assertEqual(logged(app.events, ev.LOCK), [], how)

    def restored_series(self, age_ms):
        """A rig whose COCP series (two trips) was restored at boot, its last release
        age_ms before; then a third trip: the rig."""
        r = Rig(start_ms=1000).settle()  # (ticks from about 0: a chip's after a reset)
        eng = r.bms.engine
        series = ([0, 2, 0, 0, 0], [0, age_ms])
        lazy.run("bms.protect_init", "restore_latched", eng, [], r.now, 0, *series)
        self.assertEqual(list(eng.lock_n), [0, 2, 0, 0, 0])
        t0 = r.now
        r.current(95000)
        r.run_ms(1100)
        self.assertEqual(r.logged(ev.TRIP, pt.COCP)[-1][1], t0 + 1100)
        return r

    def test_a_restored_release_age_keeps_its_window(self):
        # consecutive: the third trip within the window (10 min) of the last release
        self.assertTrue(self.restored_series(600000 - 1100).locked("COCP"))
        self.assertFalse(self.restored_series(600100 - 1100).locked("COCP"))
        # a series this life has begun keeps its own count
        r = Rig().settle()
        eng = r.bms.engine
        eng.lock_n[1] = 1
        lazy.run("bms.protect_init", "restore_latched", eng, [], r.now, 0, [0, 2], [0, 0])
        self.assertEqual(eng.lock_n[1], 1)

    def test_lockout_counts_are_range_checked_at_load(self):
        good = {"lock_n": [0, 255], "lock_rel": [0, 0x3FFFFFFF]}
        self.assertEqual(app_boot.checked_state(good), (good, 0))
        for bad in (
            {"lock_n": [0, 256]},
            {"lock_n": [-1]},
            {"lock_n": 2},
            {"lock_rel": [0x40000000]},
            {"lock_rel": [-1]},
            {"lock_rel": [1.5]},
        ):
            self.assertEqual(app_boot.checked_state(bad), ({}, 1), bad)


class SocAcrossResetsTest(unittest.TestCase):
    """The soak's SOC error (5.95 %, goal 5): its daily watchdog reset came at ~22 h, in
    the evening's discharge, and the boot took the SOC from the OCV of loaded cells."""

    def test_a_watchdog_reset_in_the_low_knee_keeps_the_counted_soc(self):
        sim = low_knee_sim()
        sim.run(150000)
        pack = sim.packs[0]
        before = pack.app.bms.soc.cpct
        self.assertLess(pack.app.bms.sample.sum_mv // 16, socm.OCV_LOW_KNEE_MV)
        pack.reboot(machine.WDT_RESET, sim.t_ms)
        pack.next_us = sim.clock.t_us
        sim.run(sim.t_ms + 5000)
        app = pack.app
        self.assertEqual(logged(app.events, ev.BOOT)[-1][3], machine.WDT_RESET)
        self.assertEqual(logged(app.events, ev.SOC)[-1][3], socm.CAL_START_STORED)
        # the saved count: up to a save step (25) above, less 5 s at 30 A (4)
        self.assertTrue(-5 <= app.bms.soc.cpct - before <= 25, (before, app.bms.soc.cpct))

    def test_a_power_on_in_the_low_knee_takes_the_curve(self):
        # off for any time (self-discharge, a pack on the shelf): the OCV tells
        sim = low_knee_sim({"at_s": 150, "power": "off"}, {"at_s": 151, "power": "on"})
        sim.run(150500)
        pack = sim.packs[0]
        store = Store(pack.flash)  # (the pack is off)
        st = store.load_state()
        st["soc_q"] = st["soc_full"] // 2  # a count the curve cannot be taken for
        store.save_state(st)
        sim.run(156000)
        app = pack.app
        self.assertEqual(logged(app.events, ev.BOOT)[-1][3], machine.PWRON_RESET)
        start = logged(app.events, ev.SOC)[-1]
        self.assertEqual(start[3], socm.CAL_START_OCV)
        self.assertTrue(1000 < start[4] < 2000, start)  # the curve, not the saved 50 %

    @long_run
    def test_the_state_is_saved_every_quarter_percent(self):
        # a reset loses what was counted since the last save: at most 0.25 % (was 1 %)
        sim = make_sim(initial={"soc_pct": 60}, events=[{"at_s": 5, "current_a": -10}])
        sim.run(30000)
        app = sim.packs[0].app
        saved = []
        for _ in range(600):
            sim.run(sim.t_ms + 1000)
            st = app.store.load_state()
            c = st["soc_q"] // (st["soc_full"] // 10000)
            if not saved or c != saved[-1]:
                saved.append(c)
            self.assertLessEqual(abs(app.bms.soc.cpct - c), 25)  # saved at the beat
        # 10 A for 600 s, 1.67 %: a save at each 0.25 %, none before
        self.assertEqual([a - b for a, b in zip(saved, saved[1:])], [25] * 6)


class DipTest(unittest.TestCase):
    def test_decoding(self):
        def bits(text):
            return sum(1 << i for i in range(7) if text[i] == "1")

        self.assertEqual(dipsw.baud(bits("0000000")), 9600)
        self.assertEqual(dipsw.baud(bits("1000000")), 115200)
        self.assertEqual(dipsw.protocol_id(bits("0000000")), 0)
        self.assertEqual(dipsw.protocol_id(bits("1000010")), 1)  # the manual's X000010
        self.assertEqual(dipsw.protocol_id(bits("0000001")), 2)  # X000001
        self.assertEqual(dipsw.protocol_id(bits("0000011")), dipsw.RESERVED_ID)
        self.assertEqual(dipsw.effective_protocol(bits("0000011")), 0)
        self.assertEqual(dipsw.reserved_bits(bits("0101000")), 0b0101)

    def test_a_flapping_contact_is_logged_four_times_a_boot(self):
        # a worn contact flapping each second: every read was logged, and a COVP trip
        # was gone from the log and the flash within 5 minutes
        events = [{"at_s": 2, "cell_mv": {"3": 3700}}, {"at_s": 5, "cell_mv": {"3": None}}]
        for i in range(40):
            events.append({"at_s": 10 + i, "dip": "0000010" if i % 2 == 0 else "0000000"})
        sim = make_sim(events=events)
        pack = sim.packs[0]
        sim.run(60000)
        app = pack.app
        self.assertEqual(app.dip_changes, 40)  # (bmsctl counters: dip_changes)
        changes = logged(app.events, ev.DIP)
        self.assertEqual([r[1] for r in changes], [0, 10000, 11000, 12000, 13000])
        self.assertEqual([r[3:6] for r in changes[1:3]], [(0b0100000, 1, 0), (0, 0, 0)])
        trips = logged(app.events, ev.TRIP)
        self.assertTrue(trips)
        pack.reboot(1, sim.t_ms)  # what a restart finds on flash: the trips, kept
        self.assertEqual(logged(pack.app.events, ev.TRIP)[: len(trips)], trips)
        self.assertEqual(pack.app.dip_changes, 0)

    def test_a_change_is_logged_and_applies_after_restart(self):
        sim = make_sim(dip="0000000", events=[{"at_s": 5, "dip": "1000010"}])
        pack = sim.packs[0]
        self.assertEqual((pack.app.protocol, pack.app.baud), (0, 9600))
        sim.run(7000)
        changes = logged(pack.app.events, ev.DIP)
        self.assertEqual(len(changes), 2)
        self.assertEqual(
            changes[1][3:6], (0b0100001, 1, 0)
        )  # new bits, their protocol, the old bits
        self.assertEqual((pack.app.protocol, pack.app.baud), (0, 9600))
        pack.power_off()
        pack.power_on()
        self.assertEqual((pack.app.protocol, pack.app.baud), (1, 115200))
