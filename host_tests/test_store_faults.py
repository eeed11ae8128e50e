"""Persistence when the flash fails or holds bad data: nothing good is lost or overwritten,
and a transient error heals (MemFS.fail makes the host flash fail on request)."""

import errno
import json
import struct
import unittest

import app_boot
from support import logged, long_run, make_sim

import app as app_module
from bms import events as ev
from bms import protections as pt
from bms.protect import BY_RESET, BY_VALUE, LATCHED
from bms.protections import SENSOR_FAIL
from boards.host import machine
from boards.host.flash import MemFS
from drivers.store import SEQ_BLOCK, Store

RATED_MAS = 100000 * 3600  # the default capacity
LEARNED_MAS = 340000000


def filled_log(n):
    log = ev.EventLog()
    for i in range(n):
        log.log(i, ev.WARN, 0, i)
    return log


def seqs(fs, name):
    data = fs.files[name]
    return [int.from_bytes(data[k : k + 4], "little") for k in range(0, len(data), 20)]


def latched_pack():
    """A pack whose short circuit latched SCP (persisted), with a state on flash worth
    keeping: a learned capacity, cycles and time without a full charge."""
    sim = make_sim(
        initial={"soc_pct": 60},
        events=[
            {"at_s": 4, "current_a": -20},
            {"at_s": 10, "fault": "short_circuit"},
            {"at_s": 12, "fault": "clear"},
        ],
    )
    sim.run(15000)
    pack = sim.packs[0]
    st = pack.app.store.load_state()
    st["soc_full"] = LEARNED_MAS
    st["cycles"] = 17
    st["no_full_s"] = 5000
    pack.app.store.save_state(st)
    return sim, pack, st


def stand_in(engine):
    """The row that stands for the latches of a state not read (app_boot.take_state):
    SENSOR_FAIL of the front end's readings."""
    for i in range(engine.n):
        if engine.name[i] == SENSOR_FAIL and engine.src[i] == pt.V_AFE_BAD:
            return i
    return None


def store_events(app):
    """(value, extra) of the EXCEPTION events logged for the store."""
    return [r[4:] for r in logged(app.events, ev.EXCEPTION, app_module.STAGE_STORE)]


class BootRestoreTest(unittest.TestCase):
    """Finding 1: a store error at boot never throws the good state away or saves over it."""

    def test_a_torn_record_that_cannot_be_cut_loads_and_keeps_the_state(self):
        sim, pack, st = latched_pack()
        self.assertNotEqual(st["latched"], [])
        first = pack.app.events.get(0)
        fs = pack.flash
        fs.files["events0.bin"].extend(b"\x01\x02\x03")  # a power cut mid-record
        fs.fail("write", "events", times=-1)  # cutting it off fails, and so do appends
        pack.power_on(machine.WDT_RESET)
        app = pack.app
        self.assertEqual(app.events.get(0), first)
        self.assertEqual(app.state["boots"], st["boots"] + 1)
        self.assertEqual(app.bms.engine.latched(), st["latched"])  # after a watchdog reset
        st["boots"] += 1
        self.assertEqual(app.store.load_state(), st)
        # the records stay in RAM while the flash refuses them; logged once, counted
        sim.run(sim.t_ms + 3000)
        self.assertEqual(store_events(app), [(1, app_module.STORE_APPEND)])
        self.assertEqual(app.store_errors, 4)  # at boot, then at the beats of 0, 1, 2 s
        self.assertEqual(len(fs.files["events0.bin"]) % 20, 3)
        fs.fail("write", "events", 0)
        sim.run(sim.t_ms + 2000)
        self.assertEqual(len(fs.files["events0.bin"]) % 20, 0)  # cut before appending
        self.assertEqual(store_events(app)[-1], (4, -app_module.STORE_APPEND))
        again = ev.EventLog()
        Store(fs).load_events(again)
        self.assertEqual(again.next_seq, app.store.seq_mark)  # on from the mark
        for seq in range(app.events.next_seq):
            self.assertEqual(again.get(seq), app.events.get(seq))

    def test_a_state_read_error_at_boot_is_retried_never_saved_over(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        before = bytes(fs.files["state.json"])
        fs.fail("read", "state.json", times=2)  # at boot, and again at the end of start()
        pack.power_on(machine.WDT_RESET)
        app = pack.app
        self.assertEqual(bytes(fs.files["state.json"]), before)
        # not known yet: the stand-in for them holds the pack (app_boot.take_state)
        self.assertEqual(app.bms.engine.latched(), [stand_in(app.bms.engine), LATCHED])
        self.assertEqual(store_events(app), [(1, app_module.STORE_STATE)])
        self.assertEqual(app.store_errors, 2)
        self.assertNotEqual(app.store_degraded, 0)
        sim.run(sim.t_ms + 100)  # the first housekeeping beat reads it
        self.assertEqual(
            store_events(app), [(1, app_module.STORE_STATE), (2, -app_module.STORE_STATE)]
        )
        self.assertEqual(app.store_degraded, 0)
        self.assertEqual(app.state["boots"], st["boots"] + 1)
        self.assertEqual(app.bms.engine.latched(), st["latched"])
        soc = app.bms.soc
        self.assertEqual((soc.full_mas, soc.cycles), (LEARNED_MAS, 17))
        self.assertGreaterEqual(app.bms.limits.no_full_s, 5000)
        saved = app.store.load_state()
        got = [saved[k] for k in ("boots", "soc_full", "cycles", "latched")]
        self.assertEqual(got, [st["boots"] + 1, LEARNED_MAS, 17, st["latched"]])
        self.assertGreaterEqual(saved["no_full_s"], 5000)

    def test_a_state_that_stays_unreadable_is_set_aside_not_lost(self):
        sim = make_sim()
        pack = sim.packs[0]
        garbled = b'{"boots": 4, "soc_q'
        pack.flash.files["state.json"] = bytearray(garbled)
        pack.power_on(machine.WDT_RESET)
        self.assertEqual(bytes(pack.flash.files["state.json"]), garbled)
        self.assertEqual(store_events(pack.app), [(1, app_module.STORE_STATE)])
        sim.run(sim.t_ms + 1000)  # the beats at 0 and 1 s: four reads in a row so far
        self.assertEqual(bytes(pack.flash.files["state.json"]), garbled)
        self.assertEqual(pack.app.store_errors, 4)
        sim.run(sim.t_ms + 1000)  # the fifth
        self.assertEqual(bytes(pack.flash.files["state.bad"]), garbled)  # kept for a person
        self.assertEqual(pack.app.store.load_state()["boots"], 1)  # a fresh one in its place
        self.assertEqual(
            store_events(pack.app),
            [
                (1, app_module.STORE_STATE),
                (4, app_module.STORE_SET_ASIDE),
                (4, -app_module.STORE_STATE),
            ],
        )


class LatchesUnknownTest(unittest.TestCase):
    """After a reset that is not a power-on, a state that cannot be read leaves its
    latches unknown: a latched SENSOR_FAIL stands for them, FETs open, until the state
    reads or a person presses RESET (or holds it 6 s). A latched SCP was forgotten and
    the FETs closed 3.4 s after the reset."""

    def reboot(self, sim, pack, cause=machine.WDT_RESET):
        pack.reboot(cause, sim.t_ms)
        pack.next_us = sim.clock.t_us
        return pack.app

    def stand_in(self, app):
        return stand_in(app.bms.engine)

    def held(self, sim, pack, until_ms):
        """Run to until_ms, the FETs open at every tick."""
        while sim.t_ms < until_ms:
            sim.run(sim.t_ms + 100)
            self.assertEqual(pack.model.fet_states(), (False, False, False), sim.t_ms)

    def press(self, sim, pack, ms):
        pack.press_button(True)
        sim.run(sim.t_ms + ms)
        pack.press_button(False)

    def test_a_state_unreadable_after_a_watchdog_reset_holds_the_pack_until_reset(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        before = bytes(fs.files["state.json"])
        fs.fail("read", "state.json", times=-1)
        app = self.reboot(sim, pack)
        i = self.stand_in(app)
        self.assertEqual(app.bms.engine.latched(), [i, LATCHED])
        latch = logged(app.events, ev.LATCH)[-1]
        self.assertEqual(latch[1:], (15000, ev.LATCH, SENSOR_FAIL, -1, app_module.STORE_STATE))
        self.held(sim, pack, 35000)
        self.assertEqual(app.bms.protection_names(), ["SENSOR_FAIL"])
        self.assertEqual(sim.state(pack)["mode"], "fault")
        self.press(sim, pack, 300)  # RESET, a person's: seen released at the next tick,
        sim.run(35500)  # and over at the one after
        self.assertEqual(
            logged(app.events, ev.RELEASE)[-1][1:], (35500, ev.RELEASE, SENSOR_FAIL, 0, BY_RESET)
        )
        self.assertEqual(app.bms.protection_names(), [])
        sim.run(40000)
        self.assertEqual(pack.model.fet_states()[:2], (True, True))
        self.assertEqual(bytes(fs.files["state.json"]), before)  # still not saved over

    def test_a_state_failing_its_crc_is_set_aside_and_its_stand_in_saved(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        data = fs.files["state.json"]
        i = data.index(b'"boots"')
        data[i + 1] ^= 1  # one flipped bit in the text: the CRC refuses it
        bad = bytes(data)
        app = self.reboot(sim, pack)
        stand_in = [self.stand_in(app), LATCHED]
        self.held(sim, pack, 17000)  # read at boot and at the beats of 15 to 17 s
        self.assertEqual(bytes(fs.files["state.bad"]), bad)
        self.assertEqual(app.store.load_state()["latched"], stand_in)  # not []
        self.held(sim, pack, 25000)
        app = self.reboot(sim, pack)  # the state reads: its latch holds the pack still
        self.assertEqual(app.bms.engine.latched(), stand_in)
        self.held(sim, pack, 35000)
        self.press(sim, pack, 300)
        sim.run(40000)
        self.assertEqual(app.bms.protection_names(), [])
        self.assertEqual(app.store.load_state()["latched"], [])

    def test_the_stand_in_goes_when_the_state_reads_and_a_power_on_needs_none(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        fs.fail("read", "state.json", times=2)  # at boot, and again at the end of start()
        app = self.reboot(sim, pack)
        i = self.stand_in(app)
        self.assertEqual(app.bms.engine.latched(), [i, LATCHED])
        sim.run(sim.t_ms + 100)  # the first housekeeping beat reads it
        self.assertEqual(app.bms.engine.latched(), st["latched"])  # SCP's, not the stand-in
        rel = logged(app.events, ev.RELEASE)[-1]
        self.assertEqual(rel[1:], (15000, ev.RELEASE, SENSOR_FAIL, 0, BY_VALUE))
        sim.run(20000)
        self.assertEqual(app.bms.protection_names(), ["SCP"])
        # a power cycle is the person, as for any latch: nothing stands in
        fs.fail("read", "state.json", times=-1)
        app = self.reboot(sim, pack, machine.PWRON_RESET)
        self.assertEqual(app.bms.engine.latched(), [])
        boot = logged(app.events, ev.BOOT)[-1][0]
        self.assertEqual([r for r in logged(app.events, ev.LATCH) if r[0] > boot], [])
        sim.run(30000)
        self.assertEqual(pack.model.fet_states()[:2], (True, True))

    def test_a_reset_before_the_state_reads_clears_what_it_held(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        fs.fail("read", "state.json", times=-1)
        app = self.reboot(sim, pack)
        sim.run(20000)
        self.press(sim, pack, 300)  # RESET: the person clears every latch, unseen ones too
        sim.run(21000)
        fs.fail("read", "state.json", 0)
        sim.run(22000)  # read at the beat of 22 s: its SCP stays cleared, and saved so
        self.assertTrue(app._state_read)
        self.assertEqual(app.bms.engine.latched(), [])
        self.assertEqual(app.store.load_state()["latched"], [])
        self.assertEqual(app.store.load_state()["soc_full"], LEARNED_MAS)  # the rest taken
        sim.run(25000)
        self.assertEqual(pack.model.fet_states()[:2], (True, True))

    def test_a_restart_held_6_s_clears_a_state_that_does_not_read(self):
        sim, pack, st = latched_pack()
        fs = pack.flash
        old = fs.files["state.json"]
        before = bytes(old)
        check = fs.check

        def bad_blocks(op, path):  # this file's blocks do not read; a new file's do
            if op == "read" and fs.files.get(path) is old:
                raise OSError(errno.EIO)
            check(op, path)

        fs.check = bad_blocks
        app = self.reboot(sim, pack)
        sim.run(20000)
        self.assertEqual(app.bms.protection_names(), ["SENSOR_FAIL"])
        pack.press_button(True)  # seen at the tick of 20.1 s
        sim.run(25000)
        self.assertEqual(pack.reboots, 1)
        sim.run(25100)  # held 5 s: the restart
        self.assertEqual(pack.reboots, 2)
        self.assertEqual(bytes(fs.files["state.bad"]), before)  # kept for a person
        pack.press_button(False)
        app = pack.app
        self.assertTrue(app._state_read)  # the state saved before the restart
        self.assertEqual(app.bms.engine.latched(), [])
        sim.run(32000)
        self.assertEqual(app.bms.protection_names(), [])
        self.assertEqual(pack.model.fet_states()[:2], (True, True))


class TornRecordTest(unittest.TestCase):
    def test_a_torn_record_that_cannot_be_cut_still_loads_and_is_cut_before_appending(self):
        fs = MemFS()
        Store(fs).append_events(filled_log(5))
        fs.files["events0.bin"].extend(b"\x01\x02\x03")  # a power cut mid-record
        fs.fail("write", "events", times=2)  # the cut at the load and at the first append
        log = ev.EventLog()
        store = Store(fs)
        self.assertEqual(store.load_events(log), 5)
        self.assertEqual(store.errors, 1)
        log.log(77, ev.BOOT, 1, 1)
        with self.assertRaises(OSError):
            store.append_events(log)
        self.assertEqual(len(fs.files["events0.bin"]), 5 * 20 + 3)
        self.assertEqual(store.append_events(log), 1)
        self.assertEqual(seqs(fs, "events0.bin"), [0, 1, 2, 3, 4, 5 + SEQ_BLOCK])
        self.assertNotIn("events.tmp", fs.files)
        again = ev.EventLog()
        Store(fs).load_events(again)
        self.assertEqual(again.get(5 + SEQ_BLOCK)[1:3], (77, ev.BOOT))


class SaveFaultTest(unittest.TestCase):
    """Finding 2: a failed state save is not recorded as saved; the next beat tries again."""

    def test_a_failed_save_of_a_latch_is_retried_at_the_next_beat(self):
        sim = make_sim(
            initial={"soc_pct": 60},
            events=[{"at_s": 4, "current_a": -20}, {"at_s": 10, "fault": "short_circuit"}],
        )
        sim.run(9000)
        pack = sim.packs[0]
        app = pack.app
        pack.flash.fail("write", "state")  # the save that follows the latch
        sim.run(10000)
        latched = app.bms.engine.latched()
        self.assertNotEqual(latched, [])
        self.assertEqual(app.store.load_state()["latched"], [])
        self.assertEqual(app.store_errors, 1)
        sim.run(11000)
        self.assertEqual(app.store.load_state()["latched"], latched)
        self.assertEqual(
            store_events(app), [(1, app_module.STORE_SAVE), (1, -app_module.STORE_SAVE)]
        )
        sim.run(12000)  # the record of it working again reaches flash
        syncs = pack.flash.syncs
        sim.run(20000)  # saved: nothing more to write
        self.assertEqual(pack.flash.syncs, syncs)

    @long_run
    def test_a_failed_periodic_save_is_retried_at_the_next_beat(self):
        sim = make_sim()
        pack = sim.packs[0]
        app = pack.app
        sim.run(599000)
        pack.flash.fail("write", "state", times=2)
        sim.run(602000)
        self.assertEqual(app.store_errors, 2)  # at 600 and 601 s
        self.assertEqual(app._last_save, 602000)


class EventFileFaultTest(unittest.TestCase):
    """Finding 5: a failed rotation or read never costs the newest records or reuses a
    sequence number."""

    def test_a_failed_rotation_keeps_the_active_file_and_its_retry_the_newest_records(self):
        fs = MemFS()
        store = Store(fs, per_file=4)
        log = filled_log(8)
        store.append_events(log)  # events0: 0-3, events1: 4-7 (active, full)
        fs.fail("write", "events0.bin")  # truncating the next file fails
        log.log(8, ev.WARN, 0, 8)
        with self.assertRaises(OSError):
            store.append_events(log)
        self.assertEqual((store.active, store.in_active), (1, 4))
        self.assertEqual(store.append_events(log), 1)
        self.assertEqual(seqs(fs, "events0.bin"), [8])
        self.assertEqual(seqs(fs, "events1.bin"), [4, 5, 6, 7])

    def test_a_read_error_blocks_appending_until_a_load_succeeds(self):
        fs = MemFS()
        Store(fs, per_file=4).append_events(filled_log(10))  # events0: 8, 9; events1: 4-7
        fs.fail("read", "events0.bin", times=2)  # at boot and at the first append
        log = ev.EventLog()
        store = Store(fs, per_file=4)
        with self.assertRaises(OSError):
            store.load_events(log)
        self.assertEqual(store.errors, 1)
        log.log(100, ev.BOOT, 1, 1)
        log.log(101, ev.DIP, 0, 0)
        with self.assertRaises(OSError):  # the load again, first: still failing
            store.append_events(log)
        self.assertEqual(seqs(fs, "events0.bin"), [8, 9])
        self.assertEqual(seqs(fs, "events1.bin"), [4, 5, 6, 7])
        self.assertEqual(store.append_events(log), 2)  # loaded: the two follow the mark
        mark = 10 + SEQ_BLOCK  # reserved by the first life's append
        self.assertEqual(seqs(fs, "events0.bin"), [8, 9, mark, mark + 1])
        self.assertEqual(log.get(mark)[1:3], (100, ev.BOOT))
        self.assertEqual(log.get(9), filled_log(10).get(9))
        again = ev.EventLog()
        Store(fs, per_file=4).load_events(again)
        # 0-3 were rotated out of the flash: the log starts at the oldest it holds
        # the load reserved a block past the two it numbered
        self.assertEqual((again.oldest_seq(), again.next_seq), (4, mark + 2 + SEQ_BLOCK))
        self.assertIsNone(again.get(3))
        self.assertEqual(again.get(mark + 1)[1:3], (101, ev.DIP))

    def test_a_failed_append_is_rewritten_not_lost(self):
        fs = MemFS()
        store = Store(fs, per_file=4)
        log = filled_log(3)
        store.append_events(log)
        for i in range(3, 6):
            log.log(i, ev.WARN, 0, i)
        fs.fail("write", "events1.bin")  # 3 fits in events0, 4 and 5 go to events1: fails
        with self.assertRaises(OSError):
            store.append_events(log)
        self.assertEqual(store.flushed_seq, 4)  # what reached flash is not written again
        store.append_events(log)
        self.assertEqual(seqs(fs, "events0.bin"), [0, 1, 2, 3])
        self.assertEqual(seqs(fs, "events1.bin"), [4, 5])

    def test_an_event_read_error_at_boot_heals_in_housekeeping(self):
        sim = make_sim()
        sim.run(3000)
        pack = sim.packs[0]
        old = pack.app.store.seq_mark  # the numbers reserved on flash
        pack.flash.fail("read", "events1.bin", times=2)  # at boot and the first beat
        pack.power_on(machine.WDT_RESET)
        app = pack.app
        self.assertEqual(app.events.get(0)[2], ev.EXCEPTION)  # nothing loaded: renumbered later
        sim.run(sim.t_ms + 1000)
        self.assertEqual(
            store_events(app), [(1, app_module.STORE_EVENTS), (2, -app_module.STORE_EVENTS)]
        )
        self.assertEqual(app.events.get(old)[2:4], (ev.EXCEPTION, app_module.STAGE_STORE))
        self.assertEqual(app.events.get(old + 1)[2:4], (ev.BOOT, machine.WDT_RESET))
        sim.run(sim.t_ms + 1000)  # the record of it working again reaches flash too
        again = ev.EventLog()
        Store(pack.flash).load_events(again)
        self.assertEqual(again.next_seq, app.store.seq_mark)
        self.assertEqual(again.get(old + 1), app.events.get(old + 1))


class StateFormatTest(unittest.TestCase):
    """Finding 6: the state carries a version and a CRC; old files still load."""

    def test_the_state_is_written_with_a_version_and_a_crc(self):
        fs = MemFS()
        store = Store(fs)
        store.save_state({"boots": 3})
        text = bytes(fs.files["state.json"]).decode()
        self.assertTrue(text.startswith('{"v": 1, "state": {"boots": 3}, "crc": '), text)
        self.assertEqual(json.loads(text)["state"], {"boots": 3})  # still JSON for people
        self.assertEqual(store.load_state(), {"boots": 3})

    def test_a_file_before_the_version_still_loads(self):
        fs = MemFS()
        fs.files["state.json"] = bytearray(b'{"boots": 3, "soc_q": 123}')
        self.assertEqual(Store(fs).load_state(), {"boots": 3, "soc_q": 123})

    def test_a_changed_byte_fails_the_crc(self):
        fs = MemFS()
        store = Store(fs)
        store.save_state({"boots": 3, "soc_q": 123})
        good = bytes(fs.files["state.json"])
        fs.files["state.json"] = bytearray(good.replace(b"123", b"923"))
        with self.assertRaises(ValueError):
            store.load_state()
        for bad in (b'{"v": 2, "state": {}}', b"[1, 2]", b"{not json", b""):
            fs.files["state.json"] = bytearray(bad)
            with self.assertRaises(ValueError):
                store.load_state()
        del fs.files["state.json"]
        self.assertEqual(store.load_state(), {})  # none at all: a first boot

    def test_the_crc_without_binascii_is_the_same(self):
        import binascii

        from drivers import store

        for data in (b"", b"123456789", b'{"boots": 3}'):
            self.assertEqual(store._crc32(data), binascii.crc32(data))


class StateValuesTest(unittest.TestCase):
    """Finding 6: restored values of the wrong type or range are dropped, never used."""

    def test_bad_values_are_dropped_counted_and_logged(self):
        sim = make_sim(initial={"soc_pct": 60})
        pack = sim.packs[0]
        bad = {
            "boots": "7",
            "soc_q": 100000000,
            "soc_full": 350000000,
            "cycles": 2.5,
            "no_full_s": -4,
            "latched": {"14": 3},
            "mystery": 1,
        }
        pack.flash.files["state.json"] = bytearray(json.dumps(bad).encode())
        pack.power_on(machine.WDT_RESET)
        app = pack.app
        self.assertEqual(app.state["boots"], 1)
        self.assertEqual(logged(app.events, ev.CONFIG, ev.CONFIG_STATE)[0][4], 5)
        self.assertEqual(app.bms.limits.no_full_s, 0)
        sim.run(sim.t_ms + 1000)
        soc = app.bms.soc
        self.assertEqual((soc.full_mas, soc.cycles, type(soc.cycles)), (350000000, 0, int))
        self.assertEqual(app.bms.engine.latched(), [])
        saved = app.store.load_state()
        self.assertEqual(
            sorted(saved),
            ["boots", "cycles", "dsg_mas", "latched", "no_full_s", "soc_full", "soc_q"],
        )
        self.assertEqual((saved["boots"], saved["cycles"]), (1, 0))
        self.assertTrue(bytes(pack.flash.files["state.json"]).startswith(b'{"v": 1, '))

    def test_a_float_cycle_count_never_reaches_the_inverter(self):
        sim = make_sim(initial={"soc_pct": 60}, inverter="growatt", dip="0000010")
        pack = sim.packs[0]
        st = {"boots": 2, "soc_q": 200000000, "soc_full": RATED_MAS, "cycles": 2.5}
        pack.flash.files["state.json"] = bytearray(json.dumps(st).encode())
        pack.power_on()
        sim.run(sim.t_ms + 5000)
        self.assertEqual(pack.app.exceptions, 0)  # every request answered (cycles in 0x311)
        self.assertEqual(sim.inverter.ccl_ma, 50000)  # it heard the answers
        self.assertEqual(pack.app.bms.soc.cycles, 0)

    def test_values_at_the_edges_of_their_range(self):
        top = (1 << 30) - 1
        cases = (
            ({"boots": top}, {"boots": top}),
            ({"boots": top + 1}, {}),
            ({"cycles": -1, "no_full_s": 0}, {"no_full_s": 0}),
            ({"soc_full": 0}, {}),
            ({"latched": [14, 3]}, {"latched": [14, 3]}),
            ({"latched": [14, 3.0]}, {}),
            ({"latched": [14, 256]}, {}),
            ({"boots": True}, {}),
        )
        for raw, kept in cases:
            self.assertEqual(app_boot.checked_state(raw), (kept, len(raw) - len(kept)), raw)


def record(seq, code=ev.WARN, t_ms=0):
    return struct.pack("<iiBBxxii", seq, t_ms, code, 0, seq, 0)


def flash_with(*files):
    """A MemFS whose event files hold these records (lists of bytes)."""
    fs = MemFS()
    for i, recs in enumerate(files):
        fs.files["events%d.bin" % i] = bytearray(b"".join(recs))
    return fs


def loaded(fs):
    store = Store(fs)
    log = ev.EventLog()
    n = store.load_events(log)
    recs = [log.get(s) for s in range(log.oldest_seq(), log.next_seq)]
    return store, log, n, [r[0] for r in recs if r[2] != ev.SKIPPED]


class CorruptRecordTest(unittest.TestCase):
    """No CRC guards an event record, so a flipped bit on flash is a record no firmware
    wrote (found by tools/fuzz.py's store decoder): dropped and counted at the load, never
    a reason to lose the records around it or to number the next ones past the small ints."""

    def test_a_number_flipped_high_at_the_end_is_dropped_and_appending_goes_on(self):
        fs = flash_with([record(s) for s in range(5)] + [record(0x40000005)])
        store, log, n, held = loaded(fs)
        self.assertEqual((n, store.dropped), (5, 1))
        self.assertEqual(held[:5], [0, 1, 2, 3, 4])
        log.log(9, ev.BOOT, 3, 99)
        seq = log.next_seq - 1
        self.assertLess(seq, 1 << 29)
        store.append_events(log)  # no struct.error for a number past 2**31
        _store, again, _n, _held = loaded(fs)
        self.assertEqual(again.get(seq), log.get(seq))

    def test_numbers_just_below_and_at_the_limit(self):
        limit = 1 << 29
        _store, log, n, _held = loaded(flash_with([record(limit - 1)]))
        self.assertEqual((n, log.get(limit - 1)[0]), (1, limit - 1))
        store, _log, n, _held = loaded(flash_with([record(limit)]))
        self.assertEqual((n, store.dropped), (0, 1))
        store, _log, n, _held = loaded(flash_with([record(-1)]))
        self.assertEqual((n, store.dropped), (0, 1))

    def test_a_number_out_of_line_in_the_middle_loses_only_itself(self):
        recs = [record(s) for s in range(10)]
        recs[4] = record(70000)  # above those after it
        recs[7] = record(2)  # below those before it
        store, _log, n, held = loaded(flash_with(recs))
        self.assertEqual((n, store.dropped), (8, 2))
        self.assertEqual(held, [0, 1, 2, 3, 5, 6, 8, 9])

    def test_a_code_no_firmware_logs_is_dropped(self):
        last = len(ev.NAMES) - 1
        recs = [record(0), record(1, code=last), record(2, code=last + 1), record(3)]
        store, log, n, _held = loaded(flash_with(recs))
        self.assertEqual((n, store.dropped), (3, 1))
        self.assertEqual([log.get(s)[2] for s in (0, 1, 3)], [ev.WARN, last, ev.WARN])
        self.assertEqual(log.get(2)[2], ev.SKIPPED)

    def test_a_number_both_files_hold_is_kept_once(self):
        fs = flash_with([record(s) for s in range(4)], [record(3), record(4), record(5)])
        store, log, n, _held = loaded(fs)
        self.assertEqual((n, store.dropped), (6, 1))
        self.assertEqual(log.get(5)[0], 5)

    def test_a_clean_flash_drops_nothing(self):
        store, _log, n, _held = loaded(flash_with([record(s) for s in range(6)]))
        self.assertEqual((n, store.dropped), (6, 0))

    def test_the_app_counts_and_logs_what_it_dropped(self):
        sim = make_sim()
        pack = sim.packs[0]
        pack.flash.files["events0.bin"] = bytearray(
            b"".join([record(s) for s in range(3)] + [record(-5), record(0x7FFFFFF0)])
        )
        pack.power_on(machine.WDT_RESET)
        app = pack.app
        self.assertEqual(app.store_errors, 1)
        self.assertEqual(logged(app.events, ev.CONFIG, ev.CONFIG_EVENTS)[0][4], 2)
        sim.run(sim.t_ms + 2000)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.store_degraded, 0)

    def test_a_state_nested_too_deep_is_set_aside_not_retried_for_ever(self):
        sim = make_sim()
        pack = sim.packs[0]
        deep = b"[" * 100000 + b"]" * 100000
        pack.flash.files["state.json"] = bytearray(deep)
        with self.assertRaises(ValueError):
            pack.app.store.load_state()
        pack.power_on(machine.WDT_RESET)
        sim.run(sim.t_ms + 2000)  # the boot's read and four beats: five in a row
        self.assertEqual(bytes(pack.flash.files["state.bad"]), deep)
        self.assertEqual(pack.app.store.load_state()["boots"], 1)

    def test_a_mark_at_the_limit_is_not_a_mark(self):
        for mark, want in (((1 << 29) - 1, (1 << 29) - 1), (1 << 29, -1)):
            fs = MemFS()
            fs.files["seqmark.bin"] = bytearray(struct.pack("<ii", mark, mark ^ 0x3FFFFFFF))
            self.assertEqual(Store(fs)._read_mark(), want)

    def test_appends_go_on_after_the_dropped_records_and_the_file_still_rotates(self):
        recs = [record(s) for s in range(4)]
        recs[1] = record(900)
        fs = flash_with(recs)
        store = Store(fs, per_file=4)
        log = ev.EventLog()
        store.load_events(log)
        self.assertEqual((store.dropped, store.active, store.in_active), (1, 0, 4))
        log.log(1, ev.BOOT)
        store.append_events(log)  # the file holds 4: the other takes over
        self.assertEqual((store.active, store.in_active), (1, 1))
        self.assertEqual(len(fs.files["events0.bin"]), 4 * 20)
