"""Firmware update over the service link (firmware/service/update.py, image.py and
boards/main.py's boot): a bundle staged, checked and armed, the new image's trial
confirmed or rolled back, a transfer broken and resumed, a wrong board and a hash
mismatch refused, and a power cut at every write of an update (the host flash behaves as
littlefs: a write lands at close or not at all, a rename is atomic), after which the pack
boots the old image or the new one, whole, never neither."""

import hashlib
import unittest

import update_rig
from bmsctl_client import Client, ServiceError, SimTransport
from service import frame as fr
from service import image
from support import ensure_build, logged, make_sim, press_unlock
from update_rig import client_for, installed, staged_ok

from bms import events as ev
from boards.host.flash import PowerCut


def make_bundle(name, board="host", sizes=(700, 300, 0, 1000), seed=1):
    return update_rig.make_bundle(ensure_build() + "/" + name, board, sizes, seed)


class UpdateFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.old, cls.old_m = make_bundle("update_old", seed=1)
        cls.new, cls.new_m = make_bundle("update_new", seed=2)

    def test_update_arms_a_trial_that_is_confirmed(self):
        fs = installed(self.old, self.old_m)
        c, server = client_for(fs)
        seen = []
        m = c.update(1, self.new, progress=lambda done, total: seen.append((done, total)))
        self.assertEqual(m["build"], self.new_m["build"])
        total = sum(r[1] for r in self.new_m["files"]) + len(
            open(self.new + "/manifest.json").read()
        )
        self.assertEqual(seen[-1], (total, total))
        self.assertTrue(server.restart_due)
        p = image.read(fs)
        self.assertEqual(
            (p["image"], p["previous"], p["trial"], p["tries"]), ("img_b", "img_a", 1, 0)
        )
        self.assertTrue(staged_ok(fs, "img_b", self.new_m))
        self.assertNotIn("stage.json", fs.files)
        self.assertEqual(logged(server.app.events, ev.UPDATE)[-1][3:5], (image.ARMED, 4))
        # the boot counts a try; the running image confirms
        self.assertEqual(image.select(fs)[0], "img_b")
        self.assertTrue(image.confirm(fs))
        self.assertEqual(image.select(fs)[0], "img_b")
        self.assertFalse(image.confirm(fs))
        # the next update goes to the other slot, the running one untouched
        c, server = client_for(fs)
        c.update(1, self.old)
        self.assertEqual(image.read(fs)["image"], "img_a")
        self.assertTrue(staged_ok(fs, "img_b", self.new_m))

    def test_a_pack_that_does_not_come_back(self):
        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        c.update(1, self.new)
        # armed, never restarted: it still runs (and reports) the old build
        self.assertEqual(c.version(1)["build"], self.old_m["build"])
        with self.assertRaises(ServiceError) as e:
            c.wait_back(1, self.new_m["build"], tries=3)
        self.assertEqual(
            str(e.exception), "pack 1 did not come back with build %s" % self.new_m["build"]
        )

    def test_reset_during_the_trial_rolls_back(self):
        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        c.update(1, self.new)
        self.assertEqual(image.select(fs)[0], "img_b")  # its first boot
        folder, p = image.select(fs)  # again, unconfirmed: a watchdog reset, a crash
        self.assertEqual(folder, "img_a")
        self.assertEqual(p["build"], self.old_m["build"])
        self.assertEqual(p["failed"], self.new_m["build"])
        self.assertIn("trial not confirmed", p["note"])
        self.assertEqual(image.select(fs)[0], "img_a")  # and stays there

    def test_exception_at_boot_rolls_back(self):
        from boards import main  # the boot loader

        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        c.update(1, self.new)
        folder, pointer = main.boot_image(fs, "/data")
        self.assertEqual((folder, pointer["image"]), ("img_b", "img_b"))
        self.assertFalse(main.boot_failed(fs, "img_a", pointer, "x"))  # not the trial's
        fs.fail("write", "image.tmp", times=1)
        self.assertFalse(main.boot_failed(fs, folder, pointer, "x"))  # no write: raised
        self.assertEqual(image.read(fs)["image"], "img_b")
        self.assertTrue(main.boot_failed(fs, folder, pointer, "ImportError('x')"))
        p = image.read(fs)
        self.assertEqual((p["image"], p["note"]), ("img_a", "exception at boot: ImportError('x')"))
        self.assertFalse(
            main.boot_failed(fs, "img_a", p, "again")
        )  # not on trial: nothing to undo
        import sys

        sys.path.remove("/data/img_b")

    def test_the_image_runs_its_own_board_files(self):
        # main.py imports boards.chip (for the flash) from the factory's root before the
        # image's folder goes first on sys.path: left in sys.modules, the image's boards/
        # (in the bundle, hashes checked) never ran, the factory's built its drivers
        import sys

        from boards import main
        from boards.host.flash import MemFS

        fs = installed(self.old, self.old_m)
        saved = {name: sys.modules.get(name) for name in ("boards", "boards.chip")}
        sys.modules["boards.chip"] = unittest  # (a stand-in: as main.py left it)
        try:
            # the factory image: its own, kept (a second copy would cost the heap)
            self.assertEqual(main.boot_image(MemFS(), "/data"), ("", {}))
            self.assertIs(sys.modules["boards.chip"], unittest)
            main.boot_image(fs, "/data")
            self.assertNotIn("boards.chip", sys.modules)
            self.assertNotIn("boards", sys.modules)
            self.assertEqual(sys.path[0], "/data/img_a")
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
            sys.path.remove("/data/img_a")

    def test_a_flash_that_takes_no_write_boots_the_image_before(self):
        # the pointer's write at boot (the try counted, or the rollback) refused by a full
        # or failing flash raised out of main.py before the watchdog: no firmware ran, at
        # every power-up. The image before the trial runs, the pointer as it was
        from boards import main

        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        c.update(1, self.new)
        armed = image.read(fs)
        for tries in (0, 1):
            armed["tries"] = tries
            image.write(fs, armed)
            fs.fail("write", "image.tmp", times=1)
            folder, p = main.boot_image(fs, "/data")
            self.assertEqual((folder, p), ("img_a", armed))
            self.assertEqual(image.read(fs), armed)
            import sys

            sys.path.remove("/data/img_a")
        self.assertEqual(image.choose(fs)[0], "img_a")  # (tries 1: rolled back now)
        confirmed = installed(self.old, self.old_m)
        confirmed.fail("write", "image.tmp", times=1)
        self.assertEqual(image.choose(confirmed)[0], "img_a")  # (no write needed)

    def test_no_update_while_on_trial(self):
        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        c.update(1, self.new)
        with self.assertRaises(ServiceError) as e:
            client_for(fs)[0].update(1, self.old)
        self.assertEqual(e.exception.status, fr.ERR_BUSY)

    def test_wrong_board_and_hash_mismatch(self):
        other, _m = make_bundle("update_rp2040", board="rp2040", seed=3)
        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs)
        with self.assertRaises(ServiceError) as e:
            c.update(1, other)
        self.assertEqual(e.exception.status, fr.ERR_BOARD)
        self.assertIn("wrong board: the bundle is: for rp2040, this is host", str(e.exception))
        self.assertNotIn("stage.json", fs.files)
        self.assertEqual(image.read(fs)["image"], "img_a")
        # a bundle whose file does not match its manifest
        bad, m = make_bundle("update_bad", seed=4)
        with open(bad + "/" + m["files"][0][0], "r+b") as f:
            f.write(b"\x00\x01")
        with self.assertRaises(ServiceError) as e:
            c.update(1, bad)
        self.assertEqual(e.exception.status, fr.ERR_HASH)
        self.assertIn("f0.mpy", str(e.exception))
        self.assertEqual(image.read(fs)["image"], "img_a")

    def test_flash_changed_after_transfer_is_caught_at_arm(self):
        fs = installed(self.old, self.old_m)
        c, server = client_for(fs)
        # the whole transfer, then a staged byte flipped before ARM
        orig = server.updater.arm if server.updater else None
        self.assertIsNone(orig)
        up_arm = []

        def flip_then_arm(k):
            if not up_arm:
                up_arm.append(k)
                fs.files["img_b/bms/f1.mpy"][5] ^= 0xFF
            return real(k)

        c.update_state(1)  # makes the updater
        real = server.updater.arm
        server.updater.arm = flip_then_arm
        with self.assertRaises(ServiceError) as e:
            c.update(1, self.new)
        self.assertEqual(e.exception.status, fr.ERR_HASH)
        self.assertEqual(image.read(fs)["image"], "img_a")
        server.updater.arm = real
        c.update(1, self.new)  # sends that file again, and arms
        self.assertTrue(staged_ok(fs, "img_b", self.new_m))
        self.assertEqual(image.read(fs)["image"], "img_b")

    def test_broken_transfer_resumes(self):
        fs = installed(self.old, self.old_m)
        c, _s = client_for(fs, fail_after=6)  # the line breaks after 6 requests
        with self.assertRaises(ServiceError) as e:
            c.update(1, self.new)
        self.assertIn("did not answer", str(e.exception))
        st = c.update_state(1) if False else None
        self.assertIsNone(st)
        # a new session (the pack restarted meanwhile: nothing in RAM)
        c2, server2 = client_for(fs)
        st = c2.update_state(1)
        self.assertEqual(
            st["sha"], hashlib.sha256(open(self.new + "/manifest.json", "rb").read()).digest()
        )
        self.assertGreater(st["done"] * 10000 + st["size"], 0)
        sent = []
        tr = c2.t
        write = tr.write

        def counting(data):
            sent.append(data[2])
            write(data)

        tr.write = counting
        c2.update(1, self.new)
        total_chunks = 0
        for blob_len in [len(open(self.new + "/manifest.json").read())] + [
            r[1] for r in self.new_m["files"]
        ]:
            total_chunks += max(1, -(-blob_len // 224))
        self.assertLess(sent.count(fr.UPDATE_CHUNK), total_chunks)  # went on, not over
        self.assertTrue(staged_ok(fs, "img_b", self.new_m))

    def test_power_cut_at_every_write(self):
        """Cut the power at the k-th flash commit of: the transfer, arming, the first
        boot, the confirmation; then boot (the image must be whole: the old or the new),
        resume what is left, and end on the new image."""
        old_m = self.old_m
        new_m = self.new_m

        def whole(fs, folder):
            return staged_ok(fs, folder, old_m if folder == "img_a" else new_m)

        def sequence(fs):
            c, _s = client_for(fs)
            p = image.read(fs)
            if not (p.get("image") == "img_b" and p.get("build") == new_m["build"]):
                c.update(1, self.new)
            image.select(fs)
            image.confirm(fs)

        fs = installed(self.old, old_m)
        start = fs.commits
        sequence(fs)
        writes = fs.commits - start
        self.assertGreater(writes, 15)
        outcomes = {}
        for k in range(1, writes + 1):
            fs = installed(self.old, old_m)
            fs.cut_at(k)
            with self.assertRaises(PowerCut):
                sequence(fs)
            fs.power_on()
            folder, _p = image.select(fs)  # the boot after the cut
            self.assertIn(folder, ("img_a", "img_b"), k)
            self.assertTrue(whole(fs, folder), (k, folder))
            outcomes[folder] = outcomes.get(folder, 0) + 1
            # what was left is done: the pack ends on the new image
            if folder == "img_b" and image.read(fs).get("trial"):
                image.confirm(fs)
            elif folder == "img_a":
                if image.read(fs).get("trial"):
                    image.confirm(fs)
                sequence(fs)
                self.assertEqual(image.select(fs)[0], "img_b", k)
            self.assertTrue(whole(fs, "img_b"), k)
            self.assertEqual(image.read(fs)["build"], new_m["build"], k)
        self.assertEqual(set(outcomes), {"img_a", "img_b"})


def send_manifest(c, raw):
    """BEGIN a bundle whose manifest is raw and send it whole (one chunk); None when
    taken, else the ServiceError."""
    c.request(1, fr.UPDATE_BEGIN, hashlib.sha256(raw).digest() + len(raw).to_bytes(4, "big"))
    try:
        c.request(1, fr.UPDATE_CHUNK, b"\x00\x00" + bytes(4) + raw)
    except ServiceError as e:
        return e
    return None


def manifest(rows):
    return ('{"board": "host", "build": "b", "files": %s}' % rows).replace("'", '"').encode()


SHA = "00" * 32


class ManifestCheckTest(unittest.TestCase):
    """The manifest, once its hash holds, is checked before any of its files is opened:
    a name outside the slot (littlefs resolves "..": ../../main.py from the slot wrote
    the boot loader) or no manifest at all is ERR_FORMAT, and its stage dropped (it
    raised ERR_INTERNAL at every request of that bundle, BEGIN too)."""

    def refused(self, raw):
        fs = installed(*make_bundle("update_old", seed=1))
        before = set(fs.files)
        c, server = client_for(fs)
        e = send_manifest(c, raw)
        self.assertIsNotNone(e, raw)
        self.assertEqual((e.status, str(e)), (fr.ERR_FORMAT, "malformed request: not a manifest"))
        # nothing but the manifest itself written, its stage gone
        self.assertEqual(set(fs.files) - before, set(["img_b/manifest.json"]), raw)
        self.assertEqual(c.update_state(1), {"sha": bytes(32), "done": 0, "size": 0, "count": 0})
        self.assertEqual(server.failures, 0)
        # the same bundle begins afresh (it stood wedged)
        self.assertEqual(send_manifest(c, raw).status, fr.ERR_FORMAT)
        return fs

    def test_a_name_outside_the_slot(self):
        for name in (
            "../../main.py",
            "../img_a/f0.mpy",
            "bms/../../main.py",
            "/main.py",
            "main.py",
            "./f.mpy",
            "bms/./f.mpy",
            "bms//f.mpy",
            "bms/",
            "bms/...",
            "..",
            ".",
            "",
        ):
            fs = self.refused(manifest([["f0.mpy", 1, SHA], [name, 1, SHA]]))
            self.assertEqual(image.read(fs)["image"], "img_a")
        # names that only look like it are files of the slot
        for name in ("..f.mpy", "bms/.f", "bms/main.py", "f..", "a.b/c"):
            fs = installed(*make_bundle("update_old", seed=1))
            c, _s = client_for(fs)
            self.assertIsNone(send_manifest(c, manifest([[name, 1, SHA]])), name)
            self.assertEqual(c.update_state(1)["count"], 2)
            self.assertIn("img_b/" + name, fs.files)  # (emptied, next to come)

    def test_not_a_manifest(self):
        for raw in (
            b"not json",
            b"[1, 2, 3]",
            b'"files"',
            b'{"board": "host"}',
            manifest([]),
            b'{"board": "host", "files": {"f.mpy": 1}}',
            b'{"board": "host", "files": "f.mpy"}',
            manifest([["f.mpy", 1]]),
            manifest([["f.mpy", 1, SHA, 0]]),
            manifest([["f.mpy", "1", SHA]]),
            manifest([["f.mpy", -1, SHA]]),
            manifest([["f.mpy", 1, 0]]),
            manifest([[1, 1, SHA]]),
            manifest([["f.mpy", 1, SHA], 5]),
            b"\xff\xfe",
        ):
            self.refused(raw)

    def test_a_manifest_spoilt_on_flash_is_dropped_at_the_next_start(self):
        fs = installed(*make_bundle("update_old", seed=1))
        c, _s = client_for(fs)
        self.assertIsNone(send_manifest(c, manifest([["f.mpy", 1, SHA]])))
        self.assertEqual(c.update_state(1)["done"], 1)
        fs.files["img_b/manifest.json"][0] ^= 0xFF  # (a flash fault)
        c, server = client_for(fs)  # the pack restarted
        with self.assertRaises(ServiceError) as e:
            c.update_state(1)
        self.assertEqual(e.exception.status, fr.ERR_FORMAT)
        self.assertNotIn("stage.json", fs.files)
        self.assertEqual(c.update_state(1)["count"], 0)
        self.assertEqual(server.failures, 0)


class _Rows:
    """An engine's rows for the update rig: (action, state) each, each reading 0 of a
    trip at 1000 (a tripped one is inside its release band)."""

    def __init__(self, *rows):
        self.n = len(rows)
        self.action = bytearray(r[0] for r in rows)
        self.state = bytearray(r[1] for r in rows)
        self.src = bytearray(self.n)
        self.over = bytearray(b"\x01" * self.n)
        self.trip = [1000] * self.n
        self.rel_after = [0] * self.n


class ArmHeldTest(unittest.TestCase):
    def test_no_arm_while_a_protection_is_pending_or_tripped(self):
        # (the restart after the last ARM keeps only the LATCHED and LOCKED rows: a
        # tripped CHTP released at 48 C)
        old, old_m = make_bundle("update_old", seed=1)
        new, new_m = make_bundle("update_new", seed=2)
        fs = installed(old, old_m)
        c, server = client_for(fs)
        rows = server.app.bms.engine = _Rows((0, 2), (1, 2))  # a warning, CHTP tripped
        server.app.bms.vals = [0]
        with self.assertRaises(ServiceError) as e:
            c.update(1, new)
        self.assertEqual(e.exception.status, fr.ERR_BUSY)
        self.assertEqual(str(e.exception), "not now: a protection is pending or tripped")
        self.assertFalse(server.restart_due)
        self.assertEqual((image.read(fs)["image"], server.refused), ("img_a", 1))
        st = c.update_state(1)
        self.assertEqual((st["done"], st["count"]), (5, 5))  # sent whole: kept
        # the first file checked, then a row pending: refused, and ARM starts over
        rows.state[1] = 0
        c.request(1, fr.UPDATE_ARM, b"\x00\x01")
        rows.state[1] = 1
        with self.assertRaises(ServiceError) as e:
            c.request(1, fr.UPDATE_ARM, b"\x00\x02")
        self.assertEqual(e.exception.status, fr.ERR_BUSY)
        rows.state[1] = 3  # latched: kept across the restart
        sent = []
        write = c.t.write
        c.t.write = lambda data: sent.append(data[2]) or write(data)
        c.update(1, new)
        self.assertEqual(sent.count(fr.UPDATE_CHUNK), 0)
        self.assertEqual(sent.count(fr.UPDATE_ARM), 4)
        self.assertTrue(server.restart_due)
        self.assertEqual(image.read(fs)["image"], "img_b")


class SimUpdateTest(unittest.TestCase):
    """bmsctl's client against a pack in the simulator, over its RS485 port 1."""

    def test_update_end_to_end(self):
        new, m = make_bundle("update_sim", seed=5, sizes=(500, 200))
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        c = Client(SimTransport(sim), timeout_s=0.3, retries=0)
        with self.assertRaises(ServiceError) as e:
            c.update(1, new)
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)
        press_unlock(sim, pack)
        c.update(1, new)
        v = c.wait_back(1, m["build"])
        self.assertEqual(v["build"], m["build"])
        self.assertEqual(pack.reboots, 1)
        self.assertEqual(pack.image, "img_a")
        app = pack.app
        self.assertEqual(logged(app.events, ev.UPDATE, image.TRIAL)[-1][4], 1)
        self.assertIsNotNone(app.trial)
        sim.run(sim.t_ms + (image.TRIAL_S + 2) * 1000)
        self.assertIsNone(app.trial)
        self.assertEqual(len(logged(app.events, ev.UPDATE, image.CONFIRMED)), 1)
        self.assertEqual(image.read(pack.flash)["trial"], 0)
        # a restart after: the confirmed image stays, logged once
        pack.power_off()
        pack.power_on()
        self.assertEqual(pack.image, "img_a")
        self.assertEqual(len(logged(pack.app.events, ev.UPDATE, image.CONFIRMED)), 1)

    def test_unhealthy_trial_rolls_back(self):
        sim, pack, m, c = self.updated("update_sim2", 6)
        # readings lost: the trial is not confirmed; the reset that follows rolls back
        pack.apply_fault("afe_lost")
        sim.run(sim.t_ms + (image.TRIAL_S + 5) * 1000)
        self.assertIsNotNone(pack.app.trial)
        pack.power_off()
        pack.power_on()
        self.assertEqual(pack.image, "")  # the factory image it came from
        rolled = logged(pack.app.events, ev.UPDATE, image.ROLLED_BACK)
        self.assertEqual(len(rolled), 1)
        self.assertEqual(c.version(1)["build"], "dev")
        self.assertEqual(image.read(pack.flash)["failed"], m["build"])

    def test_a_boot_that_could_not_count_its_try_leaves_the_trial_alone(self):
        # the image before the trial ran (the flash took no write at boot): it must not
        # confirm the new image's trial, which would make an image never run the one the
        # next boot takes as proven
        sim, pack, m, c = self.updated("update_sim5", 9, back=False)
        pack.flash.fail("write", "image.tmp", times=1)  # the boot's write of the try
        sim.run(sim.t_ms + 5000)
        self.assertEqual((pack.reboots, pack.image), (1, ""))
        self.assertIsNone(pack.app.trial)
        sim.run(sim.t_ms + (image.TRIAL_S + 5) * 1000)
        p = image.read(pack.flash)
        self.assertEqual((p["image"], p["trial"], p.get("tries", 0)), ("img_a", 1, 0))
        self.assertEqual(c.version(1)["build"], "dev")  # the image it runs
        pack.power_off()
        pack.power_on()  # the flash takes writes again: the new image, on trial
        self.assertEqual(pack.image, "img_a")
        self.assertIsNotNone(pack.app.trial)
        # reset again on trial, and the rollback's write refused: the image before runs,
        # and says so (it said the new build, confirmed, and bmsctl took it as done)
        pack.flash.fail("write", "image.tmp", times=1)
        pack.power_off()
        pack.power_on()
        self.assertEqual((pack.image, image.read(pack.flash)["tries"]), ("", 1))
        v = c.version(1)
        self.assertEqual((v["build"], v["trial"]), ("dev", 0))
        with self.assertRaises(ServiceError):
            c.wait_confirmed(1, m["build"], 1)

    def updated(self, name, seed, back=True):
        """A pack sent a new image and armed, and its client; back: restarted into it,
        on trial."""
        new, m = make_bundle(name, seed=seed, sizes=(300,))
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        c = Client(SimTransport(sim), timeout_s=0.3, retries=0)
        press_unlock(sim, pack)
        c.update(1, new)
        if back:
            c.wait_back(1, m["build"])
            self.assertEqual((pack.image, pack.reboots), ("img_a", 1))
        return sim, pack, m, c

    def test_a_trial_never_healthy_rolls_back_by_itself(self):
        # no reset comes (failures too far apart for the watchdog, or readings that never
        # come): within TRIAL_LIMIT_S the trial rolls the image back and restarts, the
        # inverter told first as for a service restart (it ran on the new image for ever)
        sim, pack, m, _c = self.updated("update_sim3", 7)
        booted = sim.t_ms
        pack.apply_fault("afe_lost")
        sim.run(booted + (image.TRIAL_LIMIT_S - 2) * 1000)
        self.assertTrue(image.read(pack.flash)["trial"])
        sim.run(booted + image.TRIAL_LIMIT_S * 1000)
        p = image.read(pack.flash)
        self.assertEqual((p["image"], p["trial"], p["failed"]), ("", 0, m["build"]))
        self.assertEqual(p["note"], "trial: not 30 s healthy in a row within 600 s")
        self.assertIsNone(pack.app.trial)
        self.assertEqual(pack.reboots, 1)  # the notice first
        sim.run(sim.t_ms + 3500)
        self.assertEqual((pack.reboots, pack.image), (2, ""))
        self.assertEqual(len(logged(pack.app.events, ev.UPDATE, image.ROLLED_BACK)), 1)

    def test_a_confirmation_the_flash_refuses_is_written_again(self):
        # (the trial was forgotten before the pointer's write: a write that failed was
        # an exception in the safety net, FETs off, never written again, and the next
        # reset rolled a good image back)
        # (and a pointer the flash failed to read was taken for one not on trial: logged
        # confirmed, forgotten, and rolled back at the next reset)
        for op, path in (("write", "image.tmp"), ("read", "image.json")):
            sim, pack, _m, _c = self.updated("update_sim4", 8)
            app = pack.app
            pack.flash.fail(op, path, times=1)
            sim.run(sim.t_ms + (image.TRIAL_S + 2) * 1000)
            self.assertEqual(app.exceptions, 0, op)
            self.assertTrue(app.bms.dsg, op)
            self.assertIsNone(app.trial, op)
            self.assertEqual(image.read(pack.flash)["trial"], 0, op)
            self.assertEqual(len(logged(app.events, ev.UPDATE, image.CONFIRMED)), 1, op)
            # counted, logged when it failed (extra: the operation) and when it worked again
            self.assertEqual(app.store_errors, 1, op)
            stored = [r[5] for r in logged(app.events, ev.EXCEPTION)]
            self.assertEqual(stored, [6, -6], op)
            pack.power_off()
            pack.power_on()
            self.assertEqual(pack.image, "img_a", op)


if __name__ == "__main__":
    unittest.main()
