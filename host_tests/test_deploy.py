"""Deploying to a chip board without one: the bundle (make bundle) and make flash's plan.

tools/flash.py is run against a stand-in for mpremote that answers the hash query as a
board would and records the commands: only new or changed files are copied, folders are
made first, the board is reset, and the report names what was copied.
"""

import unittest

from support import ROOT, cpython_only

_BUILT = {}


def built(board, dest=None):
    """bundle.build(board, dest), made once for the module (each build runs mpy-cross on
    every firmware file, 2 s; no test here changes what it made)."""
    import bundle

    key = (board, dest)
    if key not in _BUILT:
        _BUILT[key] = bundle.build(board, dest) if dest else bundle.build(board)
    return _BUILT[key]


@cpython_only("runs mpy-cross and mpremote's command lines (subprocess)")
class DeployTest(unittest.TestCase):
    def test_bundle_holds_the_firmware_main_and_one_board_file(self):

        dest, made = built("rp2040", ROOT + "/build/test_bundle")
        paths = [p for p, _size in made]
        self.assertIn("main.py", paths)
        self.assertIn("app.mpy", paths)
        self.assertIn("boards/rp2040/board.mpy", paths)
        self.assertNotIn("boards/esp32/board.mpy", paths)
        self.assertTrue(all(size > 0 for _p, size in made))
        with open(dest + "/bms/ticks.mpy", "rb") as f:
            head = f.read(4)
        self.assertEqual(head[0], ord("M"))  # an .mpy, with native code for armv6m

    def test_each_mpy_is_named_by_its_path_on_the_board(self):
        import bench_rp2040

        dest, _made = built("rp2040", ROOT + "/build/test_bundle")
        # the name tracebacks show is the one the import interns for __file__: no
        # second name per module on the board, nor this machine's path
        for rel in ("bms/ticks.mpy", "app.mpy", "boards/rp2040/board.mpy"):
            names = bench_rp2040.mpy_names(dest + "/" + rel)
            self.assertIn(rel, names)
            self.assertNotIn(rel[:-4] + ".py", names)
            self.assertFalse([n for n in names if ROOT in n or n.endswith(".py")], rel)

    def test_flash_copies_only_what_changed_then_resets(self):
        import flash

        dest, _made = built("esp32")
        local = flash.local_files(dest)
        device = dict(local)
        device["app.mpy"] = "0" * 64  # changed on the board
        del device["protocols/pylon_can.mpy"]  # not there yet
        calls = []

        def runner(cmd):
            calls.append(cmd)
            if "exec" in cmd and "import hashlib" in cmd[-1]:
                return "\n".join("H %s %s" % (p, h) for p, h in device.items())
            return ""

        report = []
        copied = flash.flash("esp32", "/dev/ttyUSB0", runner, report.append)
        self.assertEqual(copied, ["app.mpy", "protocols/pylon_can.mpy"])
        self.assertEqual(report[:2], ["copied    app.mpy", "copied    protocols/pylon_can.mpy"])
        self.assertTrue(report[2].startswith("2 copied, "))
        cmd = calls[-1]
        self.assertEqual(cmd[1:3], ["connect", "/dev/ttyUSB0"])
        self.assertEqual(cmd[-1], "reset")
        cps = [cmd[k + 2] for k in range(len(cmd)) if cmd[k] == "cp"]
        self.assertEqual(cps, [":app.mpy", ":protocols/pylon_can.mpy"])
        self.assertIn("protocols", cmd[cmd.index("exec") + 1])  # the folder made first
        # the firmware's watchdog, still running after mpremote stopped main.py, is fed
        # by the hash query, before the folders and before every file
        self.assertTrue(calls[0][-1].startswith(flash.KEEPALIVE))
        self.assertTrue(cmd[cmd.index("exec") + 1].startswith(flash.KEEPALIVE))
        for k in range(len(cmd)):
            if cmd[k] == "cp":
                self.assertEqual(cmd[k - 3 : k - 1], ["exec", flash.KEEPALIVE])

    def test_flash_removes_what_would_run_instead_and_refuses_the_other_chip(self):
        # a .py twin (mpremote mip install's source: imported before the .mpy) and an
        # image staged over the service link (main.py runs its folder first): flashed,
        # the old firmware went on running
        import flash

        dest, _made = built("rp2040")
        local = flash.local_files(dest)
        device = dict(local)
        device["app.py"] = "1" * 64
        device["data/image.json"] = "2" * 64
        calls = []

        def runner(cmd):
            calls.append(cmd)
            if "exec" in cmd and "import hashlib" in cmd[-1]:
                lines = ["P " + platform] + ["H %s %s" % kv for kv in device.items()]
                return "\n".join(lines)
            return ""

        platform = "rp2"
        report = []
        self.assertEqual(flash.flash("rp2040", "auto", runner, report.append), [])
        self.assertEqual(report[:2], ["removed   app.py", "removed   data/image.json"])
        cmd = calls[-1]
        rm = cmd[cmd.index("exec") + 1]
        self.assertIn("os.remove", rm)
        self.assertIn("'app.py', 'data/image.json'", rm)
        self.assertEqual(cmd[-1], "reset")
        for other in ("esp32", "linux"):
            platform = other
            with self.assertRaises(SystemExit) as e:
                flash.flash("rp2040", "auto", runner, report.append)
            self.assertIn("the bundle is for rp2040", str(e.exception))

    def test_nothing_changed_still_resets(self):
        import flash

        dest, _made = built("rp2040")
        local = flash.local_files(dest)
        calls = []

        def runner(cmd):
            calls.append(cmd)
            return "\n".join("H %s %s" % (p, h) for p, h in local.items())

        report = []
        self.assertEqual(flash.flash("rp2040", "auto", runner, report.append), [])
        self.assertEqual(report, ["0 copied, %d unchanged; board reset (auto)" % len(local)])
        self.assertEqual(calls[-1][-1], "reset")

    def test_package_json_lists_what_the_bundle_holds(self):
        import bundle
        from support import read

        self.assertEqual(read("package.json"), bundle.package_json())


def frozen(manifest):
    """The board paths of the .py files a manifest freezes, read the way MicroPython's
    makemanifest reads it: paths relative to the manifest's folder, a package taken whole
    (or its `files`), include() followed; the port's own manifest ($(PORT_DIR)) left out."""
    import os

    out = []

    def run(path):
        here = os.path.dirname(path)

        def include(p):
            if not p.startswith("$(PORT_DIR)"):
                run(os.path.normpath(os.path.join(here, p)))

        def package(name, files=None, base_path="."):
            base = os.path.normpath(os.path.join(here, base_path))
            if files is None:
                files = []
                for top, _, names in os.walk(os.path.join(base, name)):
                    rel = os.path.relpath(top, os.path.join(base, name))
                    files += [os.path.normpath(os.path.join(rel, n)) for n in names]
            out.extend(name + "/" + f for f in files if f.endswith(".py"))

        def module(name, base_path="."):
            out.append(name)

        with open(path) as f:
            code = f.read()
        exec(code, {"include": include, "package": package, "module": module})

    run(manifest)
    return sorted(out)


@cpython_only("walks the folders (os.walk) and executes the manifests")
class ManifestTest(unittest.TestCase):
    def test_each_board_image_freezes_every_file_the_bundle_holds(self):
        # a module the bundle has and the image lacks is an ImportError on a frozen board
        import bundle

        for board in sorted(bundle.MARCH):
            want = sorted(
                rel[:-4] + ".py" for _, rel in bundle.sources(board) if rel[-4:] == ".mpy"
            )
            got = frozen(ROOT + "/boards/" + board + "/manifest.py")
            self.assertEqual(got, want, board)

    def test_a_module_left_out_of_the_manifest_is_seen(self):
        import os
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(tmp + "/firmware/bms")
            for name in ("firmware/bms/a.py", "firmware/app.py"):
                open(tmp + "/" + name, "w").close()
            with open(tmp + "/manifest.py", "w") as f:
                f.write('package("bms", base_path="firmware")\n')
            self.assertEqual(frozen(tmp + "/manifest.py"), ["bms/a.py"])
