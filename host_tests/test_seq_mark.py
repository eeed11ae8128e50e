"""Event sequence numbers are never used twice (drivers/store.py, the mark on flash): a
reset or a power cut takes the records not yet flushed, never their numbers; what was
flushed stays; the numbers only go up; the service link pages across the skipped ones."""

import unittest

from bmsctl_client import Client, SimTransport
from support import make_sim

from bms import events as ev
from boards.host import machine
from boards.host.flash import MemFS, PowerCut
from drivers.store import SEQ_BLOCK, Store


def logged_log(n, log=None):
    log = log or ev.EventLog()
    for i in range(n):
        log.log(i, ev.WARN, 1, i, 0)
    return log


def mark_writes(fs):
    """Count the renames that put a mark on flash."""
    real = fs.rename
    count = [0]

    def rename(old, new):
        real(old, new)
        if new == "seqmark.bin":
            count[0] += 1

    fs.rename = rename
    return count


class MarkTest(unittest.TestCase):
    def test_records_lost_unflushed_leave_their_numbers_behind(self):
        fs = MemFS()
        store = Store(fs)
        log = logged_log(10)
        store.append_events(log)  # 0-9 on flash, numbers reserved up to 10 + SEQ_BLOCK
        self.assertEqual(store.seq_mark, 10 + SEQ_BLOCK)
        logged_log(5, log)  # 10-14 in RAM only: then the power goes
        again = ev.EventLog()
        store2 = Store(fs)
        self.assertEqual(store2.load_events(again), 10)
        self.assertEqual(again.next_seq, 10 + SEQ_BLOCK)  # past 14, the last used
        self.assertEqual(store2.skipped, SEQ_BLOCK)
        for seq in range(10):
            self.assertEqual(again.get(seq), log.get(seq))
        for seq in range(10, 10 + SEQ_BLOCK):
            self.assertEqual(again.get(seq), (seq, 0, ev.SKIPPED, 0, 0, 0))
        # the boot reserved the next block before any of its own records took a number
        self.assertEqual(store2.seq_mark, 10 + 2 * SEQ_BLOCK)
        self.assertEqual(Store(fs)._read_mark(), 10 + 2 * SEQ_BLOCK)

    def test_the_mark_moves_when_the_log_comes_within_half_a_block(self):
        fs = MemFS()
        store = Store(fs)
        log = ev.EventLog()
        store.load_events(log)  # nothing on flash: the first block reserved
        self.assertEqual(store.seq_mark, SEQ_BLOCK)
        logged_log(SEQ_BLOCK // 2, log)
        self.assertFalse(store.reserve_due(log))  # next + half a block == the mark
        log.log(0, ev.WARN, 1, 0, 0)
        self.assertTrue(store.reserve_due(log))  # one more: past it
        store.append_events(log)
        self.assertEqual(store.seq_mark, log.next_seq + SEQ_BLOCK)
        self.assertFalse(store.reserve_due(log))

    def test_the_mark_is_written_once_every_half_block_of_records(self):
        fs = MemFS()
        store = Store(fs)
        log = ev.EventLog()
        store.load_events(log)
        writes = mark_writes(fs)
        for _ in range(20 * SEQ_BLOCK):
            log.log(0, ev.WARN, 1, 0, 0)
            store.append_events(log)  # a flush per record, the most a log can ask for
            self.assertGreater(store.seq_mark, log.next_seq + SEQ_BLOCK // 2 - 1)
        # a write each time the log comes within half a block: every 17th record
        self.assertEqual(writes[0], 20 * SEQ_BLOCK // (SEQ_BLOCK // 2 + 1))

    def test_a_mark_that_is_not_one_skips_two_blocks(self):
        for data in (b"\x01\x02\x03", b"\x00" * 7 + b"\x01", b"\x05\x00\x00\x00" * 2):
            fs = MemFS()
            Store(fs).append_events(logged_log(10))
            fs.files["seqmark.bin"] = bytearray(data)
            log = ev.EventLog()
            Store(fs).load_events(log)
            # as far as a mark can run ahead of the last flushed record, and then some
            self.assertEqual(log.next_seq, 10 + 2 * SEQ_BLOCK, data)
            self.assertEqual(log.get(9), logged_log(10).get(9))

    def test_without_a_mark_a_log_goes_on_from_its_last_record(self):
        # flash written before the mark existed: nothing to skip
        fs = MemFS()
        Store(fs).append_events(logged_log(10))
        del fs.files["seqmark.bin"]
        log = ev.EventLog()
        store = Store(fs)
        store.load_events(log)
        self.assertEqual((log.next_seq, store.skipped), (10, 0))
        self.assertEqual(store.seq_mark, 10 + SEQ_BLOCK)

    def test_records_reach_flash_when_the_mark_cannot_be_written(self):
        # a TRIP must not wait in RAM on a failing mark: the records go, the failure is
        # raised after them (counted), and a boot continues past the last of them
        fs = MemFS()
        store = Store(fs)
        log = logged_log(10)
        store.append_events(log)
        logged_log(17, log)  # 27 + 16 > 42: the next append moves the mark first
        fs.fail("write", "seqmark")
        with self.assertRaises(OSError):
            store.append_events(log)
        self.assertEqual((store.errors, store.flushed_seq), (1, 27))
        self.assertEqual(len(fs.files["events0.bin"]), 27 * 20)
        self.assertEqual(store.seq_mark, 10 + SEQ_BLOCK)  # the old mark
        self.assertEqual(store.append_events(log), 0)  # the mark moved, nothing left
        self.assertEqual(store.seq_mark, 27 + SEQ_BLOCK)
        reborn = ev.EventLog()
        Store(fs).load_events(reborn)
        self.assertEqual(reborn.next_seq, 27 + SEQ_BLOCK)

    def test_a_boot_goes_on_past_records_written_beyond_a_mark_never_moved(self):
        fs = MemFS()
        store = Store(fs)
        log = logged_log(10)
        store.append_events(log)  # the mark at 10 + SEQ_BLOCK
        logged_log(SEQ_BLOCK + 5, log)
        fs.fail("write", "seqmark")
        with self.assertRaises(OSError):
            store.append_events(log)
        self.assertEqual(store.flushed_seq, 15 + SEQ_BLOCK)  # past the mark on flash
        reborn = ev.EventLog()
        store2 = Store(fs)
        store2.load_events(reborn)
        self.assertEqual((reborn.next_seq, store2.skipped), (15 + SEQ_BLOCK, 0))

    def test_a_mark_not_written_at_boot_is_written_before_the_first_record(self):
        fs = MemFS()
        Store(fs).append_events(logged_log(10))  # the mark at 10 + SEQ_BLOCK
        fs.fail("write", "seqmark")  # the boot's reservation fails: the boot goes on
        log = ev.EventLog()
        store = Store(fs)
        self.assertEqual(store.load_events(log), 10)
        self.assertEqual((store.errors, store.loaded), (1, True))
        self.assertEqual(log.next_seq, 10 + SEQ_BLOCK)
        self.assertEqual(store.seq_mark, 10 + SEQ_BLOCK)  # the old mark still holds
        self.assertTrue(store.reserve_due(log))  # so the app flushes at its next beat
        log.log(0, ev.BOOT, 1, 1)
        self.assertEqual(store.append_events(log), 1)
        self.assertEqual(Store(fs)._read_mark(), 11 + 2 * SEQ_BLOCK)

    def test_a_cut_at_every_step_of_a_mark_leaves_the_old_or_the_new(self):
        for cut in range(1, 20):
            fs = MemFS()
            store = Store(fs)
            log = logged_log(10)
            store.append_events(log)
            logged_log(17, log)
            fs.cut_after(cut)
            try:
                store.append_events(log)
            except PowerCut:
                pass
            fs.power_on()
            mark = Store(fs)._read_mark()
            self.assertIn(mark, (10 + SEQ_BLOCK, 27 + SEQ_BLOCK), cut)
            again = ev.EventLog()
            Store(fs).load_events(again)
            self.assertGreaterEqual(again.next_seq, 27, cut)  # past every number used


class ResetTest(unittest.TestCase):
    def test_a_watchdog_reset_with_records_unflushed_numbers_on_past_them(self):
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        app = pack.app
        flushed = app.store.flushed_seq
        for i in range(5):  # routine records: flushed within a minute, not at once
            app.events.log(sim.t_ms, ev.COMM, ev.COMM_INVERTER, 1, i)
        sim.run(sim.t_ms + 2000)
        self.assertEqual(app.store.flushed_seq, flushed)  # still in RAM only
        used = app.events.next_seq
        old = [app.events.get(s) for s in range(flushed)]
        pack.reboot(machine.WDT_RESET, sim.t_ms)
        pack.next_us = sim.clock.t_us
        sim.run(sim.t_ms + 2000)
        log = pack.app.events
        self.assertEqual([log.get(s) for s in range(flushed)], old)  # the flushed stay
        for s in range(flushed, used):
            self.assertEqual(log.get(s)[2], ev.SKIPPED)  # the lost, and not reused
        new = [log.get(s) for s in range(used, log.next_seq) if log.get(s)[2]]
        self.assertEqual(new[0][2:4], (ev.BOOT, machine.WDT_RESET))
        self.assertGreaterEqual(new[0][0], used)
        # the service link pages over the skipped numbers: every record, in order
        client = Client(SimTransport(sim), timeout_s=0.5, retries=0)
        records, nxt, _clock = client.all_events(1)
        self.assertEqual(nxt, log.next_seq)
        seqs = [r[0] for r in records]
        self.assertEqual(seqs, [s for s in range(log.oldest_seq(), nxt) if log.get(s)[2]])
        self.assertEqual(records[-len(new) :], new)
        got, _n, _c = client.events(1, since=flushed)  # a reader's cursor from before
        self.assertEqual(got[0], new[0])

    def test_the_housekeeping_moves_the_mark_ahead_of_routine_records(self):
        sim = make_sim(inverter="none")
        sim.run(5000)
        app = sim.packs[0].app
        mark = app.store.seq_mark
        for i in range(mark - app.events.next_seq - SEQ_BLOCK // 2 + 1):
            app.events.log(sim.t_ms, ev.COMM, ev.COMM_INVERTER, 1, i)
        sim.run(sim.t_ms + 1000)  # one beat: routine records, yet the mark is due
        self.assertEqual(app.store.seq_mark, app.events.next_seq + SEQ_BLOCK)
        self.assertEqual(app.store.flushed_seq, app.events.next_seq)


if __name__ == "__main__":
    unittest.main()
