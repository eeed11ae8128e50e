"""Power loss at every write (issue 14, item 4): the flash model's littlefs guarantees and
its power-cut hook, and tools/powercut.py at a CI-sized stride (every filesystem call and
every 300th byte of each case, the simulated pack's and the service link's; `make
powercut` runs every byte under both runtimes)."""

import json
import unittest

import powercut
from support import logged, long_run

from bms import events as ev
from boards.host.flash import MemFS, PowerCut
from boards.main import config_overrides
from drivers import store as store_module

CI_STRIDE = 300


class FlashModelTest(unittest.TestCase):
    def test_a_write_is_there_at_close_and_not_before(self):
        fs = MemFS()
        fs.files["a"] = bytearray(b"old")
        f = fs.open("a", "wb")
        f.write(b"new!")
        self.assertEqual(bytes(fs.files["a"]), b"old")
        f.close()
        self.assertEqual(bytes(fs.files["a"]), b"new!")
        self.assertEqual(fs.syncs, 1)

    def test_a_created_file_is_there_empty_from_its_open(self):
        fs = MemFS()
        f = fs.open("n", "ab")
        self.assertEqual(bytes(fs.files["n"]), b"")
        f.write(b"12")
        f.close()
        self.assertEqual(bytes(fs.files["n"]), b"12")

    def test_steps_count_each_call_and_each_byte(self):
        fs = MemFS()
        with fs.open("a", "wb") as f:  # open 1, three bytes 3, the write 1, close 1
            f.write(b"abc")
        self.assertEqual(fs.steps, 6)
        fs.rename("a", "b")
        fs.stat("b")
        fs.remove("b")
        self.assertEqual(fs.steps, 9)

    def test_a_cut_at_every_step_of_an_append_leaves_it_all_or_nothing(self):
        for n in range(1, 7):
            fs = MemFS()
            fs.files["e"] = bytearray(b"12")
            fs.cut_after(n)
            with self.assertRaises(PowerCut):
                with fs.open("e", "ab") as f:
                    f.write(b"345")
                fs.stat("e")  # the sixth step: after the close
            fs.cut_after(-1)
            want = b"12345" if n == 6 else b"12"
            self.assertEqual(bytes(fs.files["e"]), want, n)

    def test_after_a_cut_nothing_more_is_written_until_the_next_boot(self):
        fs = MemFS()
        fs.cut_after(1)
        with self.assertRaises(PowerCut):
            fs.open("a", "wb")
        with self.assertRaises(PowerCut):
            fs.rename("x", "y") if "x" in fs.files else fs.stat("a")
        fs.cut_after(-1)
        fs.stat("a")  # powered again

    def test_a_rename_replaces_its_target_at_once(self):
        fs = MemFS()
        fs.files["s"] = bytearray(b"old")
        fs.files["t"] = bytearray(b"new")
        fs.cut_after(1)
        with self.assertRaises(PowerCut):
            fs.rename("t", "s")
        self.assertEqual(bytes(fs.files["s"]), b"new")
        self.assertNotIn("t", fs.files)

    def test_config_is_read_from_the_filesystem_given(self):
        fs = MemFS()
        self.assertIsNone(config_overrides(fs))
        with fs.open("config.json", "w") as f:
            f.write(json.dumps({"covp_delay_ms": 1500}))
        self.assertEqual(config_overrides(fs), {"covp_delay_ms": 1500})
        for torn in (b'{"covp_', b"[1]", b"\xff\xfe"):  # (not JSON, not an object, not text)
            fs.files["config.json"] = bytearray(torn)
            self.assertIs(config_overrides(fs), False, torn)


class PowerCutTest(unittest.TestCase):
    """Each case at every filesystem call and every 300th byte: a test per case, so that
    those whose every firmware arc a traced test reaches too run untraced (long_run)."""

    def holds(self, name, min_runs):
        steps, failed, runs = powercut.run_case(name, CI_STRIDE)
        errors = ["cut %d: %s" % (r.cut, "; ".join(r.errors)) for r in failed]
        self.assertEqual(errors, [], name)
        self.assertGreater(steps, 30, name)  # the case writes what it is for
        self.assertGreaterEqual(runs, min_runs, name)  # and is cut where it writes

    def test_every_case_is_here(self):
        tested = [n[len("test_case_") :] for n in dir(self) if n.startswith("test_case_")]
        self.assertEqual(sorted(tested), sorted(powercut.CASES))

    @long_run
    def test_case_boot(self):
        self.holds("boot", 20)

    @long_run
    def test_case_rotation(self):
        self.holds("rotation", 20)

    def test_case_torn(self):
        self.holds("torn", 20)

    @long_run
    def test_case_trip(self):
        self.holds("trip", 5)

    def test_case_restart(self):
        self.holds("restart", 20)

    def test_case_set_aside(self):
        self.holds("set_aside", 20)

    @long_run
    def test_case_config(self):
        self.holds("config", 20)

    def test_case_update(self):
        self.holds("update", 100)

    @long_run
    def test_case_config_link(self):
        self.holds("config_link", 5)

    def test_case_clear(self):
        self.holds("clear", 10)

    @long_run
    def test_it_finds_a_state_written_in_place(self):
        # the harness can fail: a save that writes state.json itself (no rename) leaves a
        # torn state at a cut mid-write, which the harness reports
        errors = self.cut_written_in_place("save_state", "state.json", "trip", 40)
        self.assertTrue(any("not one" in e for e in errors), errors[:3])

    def test_it_finds_a_config_written_in_place_over_the_link(self):
        # the same for the service link's config save: a config that is neither
        errors = self.cut_written_in_place("save_config", "config.json", "config_link", 1)
        self.assertTrue(any("not readable" in e for e in errors), errors[:3])

    def test_the_config_case_boots_on_the_persons_config_not_a_refused_one(self):
        # the person's config.json was written where the store keeps the service link's
        # (its CRC refused: CONFIG 1 -1 at every boot, and the harness passed)
        r = powercut.SimRun("config")
        r.build()
        r.case()
        app = r.pack.app
        self.assertEqual([x for x in logged(app.events, ev.CONFIG) if x[3] == 1], [])
        self.assertEqual(app.cfg.covp_delay_ms, powercut.CONFIG_NEW["covp_delay_ms"])
        self.assertEqual(app.store.load_config(), {})  # none over the service link
        self.assertEqual(config_overrides(powercut.RootFolder(r.fs)), powercut.CONFIG_NEW)

    def test_it_finds_a_config_refused(self):
        # a stored config (the service link's) that is not one: refused at every boot
        real = powercut.SimRun.reboot

        def reboot(run):
            run.fs.files["config.json"] = bytearray(b'{"v": 1, "state": {}, "crc": 0}')
            real(run)

        powercut.SimRun.reboot = reboot
        try:
            errors = powercut.SimRun("boot", 1).run().errors
        finally:
            powercut.SimRun.reboot = real
        self.assertEqual(len(errors), 1, errors)
        self.assertTrue(errors[0].startswith("config refused: "), errors)

    def cut_written_in_place(self, method, name, case, stride):
        """Every cut's errors of `case` with Store.<method> writing `name` in place (the
        body first, the CRC after in a second write)."""
        real = getattr(store_module.Store, method)

        def in_place(self, value):
            body = json.dumps(value)
            with self.fs.open(name, "w") as f:
                f.write(store_module._HEAD + body)
            with self.fs.open(name, "a") as f:
                f.write("%s%d}" % (store_module._TAIL, store_module._crc(body)))

        setattr(store_module.Store, method, in_place)
        try:
            steps, failed, runs = powercut.run_case(case, stride)
        finally:
            setattr(store_module.Store, method, real)
        return [e for r in failed for e in r.errors]


if __name__ == "__main__":
    unittest.main()
