"""The test runners themselves: pytest on one file, tools/test.py's --mpy (the MicroPython
suite on .mpy files) refusing a tree that is not firmware/ as it is, and the coverage
check's list of what only the long runs reach (tools/coverage_check.py)."""

import hostpath

import os
import sys
import unittest

from support import ROOT, cpython_only, ensure_build

UPY = ROOT + "/.venv/bin/micropython"


def _run(cmd):
    import subprocess

    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@cpython_only("runs pytest, mpy-cross and micropython (subprocess)")
class RunnerTest(unittest.TestCase):
    def test_pytest_runs_one_file_alone(self):
        # the file imports the firmware before support (which sets the paths)
        out = _run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            + ["host_tests/test_ticks.py"]
        )
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(" passed", out.stdout)

    def test_a_pattern_that_matches_no_test_fails(self):
        for python in (sys.executable, UPY):
            out = _run([python, "tools/test.py", "-k", "no_such_test", "test_ticks"])
            self.assertEqual(out.returncode, 1, python)
            self.assertIn("no test matches -k no_such_test", out.stdout)
            ran = _run([python, "tools/test.py", "-k", "wrap", "test_ticks"])
            self.assertEqual(ran.returncode, 0, ran.stdout)

    def test_mpy_runs_the_suite_from_a_tree_that_matches_and_refuses_any_other(self):
        import bundle

        tree = bundle.compile_firmware(ensure_build() + "/runner_mpy", "host")
        suite = [UPY, "tools/test.py", "--mpy", tree, "test_ticks"]
        ran = _run(suite)
        self.assertEqual(ran.returncode, 0, ran.stdout)
        self.assertIn("0 failed", ran.stdout)
        ticks_mpy = tree + "/bms/ticks.mpy"
        os.utime(ticks_mpy, (0, 0))  # older than its source
        os.remove(tree + "/drivers/fets.mpy")
        os.makedirs(tree + "/gone")
        open(tree + "/gone/old.mpy", "wb").close()  # a module removed from firmware/
        open(tree + "/gone/new.py", "wb").close()  # not in firmware/ either
        open(tree + "/app.py", "wb").close()  # a source among the .mpy files
        refused = _run(suite)
        self.assertEqual(refused.returncode, 2)
        self.assertEqual(
            refused.stdout.splitlines()[1:],
            [
                "  %s/app.py is a source among the .mpy files" % tree,
                "  %s is older than its source" % ticks_mpy,
                "  %s/drivers/fets.py is not compiled" % hostpath.FIRMWARE,
                "  %s/gone/new.py is a source among the .mpy files" % tree,
                "  %s/gone/old.mpy has no source" % tree,
            ],
        )
        wrong = _run([sys.executable, "tools/test.py", "--mpy", tree, "test_ticks"])
        self.assertEqual(wrong.returncode, 2)  # CPython runs firmware/ itself


@cpython_only("coverage.py's data")
class LongRunsTest(unittest.TestCase):
    def test_lists_only_what_no_traced_test_reaches(self):
        import contextlib
        import io

        import coverage_check
        from coverage import CoverageData

        data = CoverageData(no_disk=True)
        f = ROOT + "/firmware/bms/soc.py"
        for ctx, arcs in (
            ("t.py::A::test_fast|run", [(1, 2), (2, 3)]),
            ("t.py::Long::test_slow|setup", [(5, 6)]),  # traced in make test
            ("t.py::Long::test_slow|run", [(1, 2), (2, 4), (5, 6)]),
            ("t.py::Long::test_other|run", [(2, 4), (7, 8)]),
        ):
            data.set_context(ctx)
            data.add_arcs({f: arcs})
        long_runs = ensure_build() + "/long_runs_test.txt"
        with open(long_runs, "w") as out:
            out.write("t.py::Long::test_slow\nt.py::Long::test_other\n")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            self.assertFalse(coverage_check.only_long_runs(data, long_runs))
        self.assertEqual(
            printed.getvalue().splitlines(),
            [
                "only a long run reaches firmware/bms/soc.py 2->4 (t.py::Long::test_other)",
                "only a long run reaches firmware/bms/soc.py 7->8 (t.py::Long::test_other)",
                "coverage: 2 long-run tests (0 reach no firmware line); 2 arcs only they"
                " reach (goal 0: MISSED)",
            ],
        )
        with contextlib.redirect_stdout(io.StringIO()):  # no list: nothing is judged
            self.assertFalse(coverage_check.only_long_runs(data, long_runs + ".none"))
        other_names = ensure_build() + "/long_runs_other.txt"
        with open(other_names, "w") as out:
            out.write("t.py::Long::test_slow[1]\n")  # named apart from every context
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertFalse(coverage_check.only_long_runs(data, other_names))
        data.set_context("t.py::B::test_focused|run")
        data.add_arcs({f: [(2, 4), (7, 8)]})
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertTrue(coverage_check.only_long_runs(data, long_runs))
