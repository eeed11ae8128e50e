"""tools/bmsctl.py, the host tool: its commands in-process on the simulator's wire (fast),
and once end to end against `tools/sim.py --rs485-pty` in real time over pyserial.
CPython-only: argparse, rich, pyserial and a pseudo-terminal."""

import io
import json
import unittest

from support import ROOT, cpython_only, long_run, make_sim, press_unlock

SIM = ROOT + "/tools/sim.py"


def cli(sim, *argv, transport=None):
    import contextlib

    import bmsctl
    from bmsctl_client import SimTransport

    out = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = bmsctl.main(list(argv), transport=transport or SimTransport(sim), out=out)
    return rc, out.getvalue(), err.getvalue()


def real_time_sim(test, *options, said):
    """tools/sim.py in real time for 30 s (killed at the test's end); what it printed
    after `said` (its port), once it has."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, SIM, "--duration", "30"] + list(options),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        text=True,
    )
    test.addCleanup(proc.wait, 5)
    test.addCleanup(proc.kill)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(said):
            return line[len(said) :].strip()
    test.fail("sim.py never said %r" % said)


@cpython_only("argparse, rich")
class CommandsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = make_sim(inverter="none")
        cls.sim.run(5000)

    def test_status_table_and_json(self):
        rc, out, _e = cli(self.sim, "status")
        self.assertEqual(rc, 0)
        self.assertIn("pack 1 status", out)
        self.assertIn("standby", out)
        rc, out, _e = cli(self.sim, "--json", "status")
        self.assertEqual(json.loads(out)["mode"], "standby")

    def test_cells_events_config(self):
        rc, out, _e = cli(self.sim, "--json", "cells")
        self.assertEqual(len(json.loads(out)["cells_mv"]), 16)
        rc, out, _e = cli(self.sim, "--json", "events", "--since", "1")
        rows = json.loads(out)
        self.assertEqual(rows[0]["seq"], 1)
        rc, out, _e = cli(self.sim, "events")
        self.assertIn("BOOT", out)
        rc, out, _e = cli(self.sim, "--json", "config", "get", "covp_trip_mv")
        self.assertEqual(json.loads(out)[0]["max"], 3600)
        rc, out, _e = cli(self.sim, "config", "get")
        self.assertIn("covp_trip_mv", out)
        self.assertIn("0.1C", out)

    def test_a_cell_below_0_v_shows_as_it_reads(self):
        # an open sense wire reads below 0 V, still a reading: it showed as 65 236 mV
        sim = make_sim(inverter="none")
        sim.run(5000)
        sim.apply({"cell_mv": {"2": -300}})
        sim.run(5200)
        self.assertEqual(sim.packs[0].app.sample.cells_mv[1], -300)
        rc, out, _e = cli(sim, "--json", "cells")
        self.assertEqual(json.loads(out)["cells_mv"][1], -300)

    def test_event_times_across_the_ticks_wrap_and_the_boots(self):
        import calendar

        import bmsctl

        from bms import events as ev

        def when(stamps):
            return [time.strftime("%m-%d %H:%M:%S", time.gmtime(t)) for t in stamps]

        import time

        set_at = calendar.timegm((2026, 12, 7, 14, 48, 0))
        wrap = 1 << 30
        day = 86400000
        clock = (set_at, 100000)  # the anchor 100 s after the ticks wrapped
        boot = (5, wrap - 300000, ev.BOOT, 1, 2, 0)
        trip = (6, wrap - 60000, ev.TRIP, 3, 3650, 4)  # 160 s before the anchor
        later = (7, 160000, ev.MODE, 2, 1, 0)
        records = [boot, trip, later]
        stamps = bmsctl.event_times(records, clock, bmsctl.last_boot(records))
        self.assertEqual(when(stamps), ["12-07 14:41:20", "12-07 14:45:20", "12-07 14:49:00"])
        self.assertEqual(bmsctl.event_row(trip, stamps[1])["time"], "2026-12-07 14:45:20")
        # records 7, 9 and 13 days before the anchor, each gap under 12.4 days: dated
        old = [
            (1, (100000 - 13 * day) % wrap, ev.BOOT, 1, 1, 0),
            (2, (100000 - 9 * day) % wrap, ev.TRIP, 3, 3650, 4),
            (3, (100000 - 7 * day) % wrap, ev.TRIP, 3, 3650, 4),
        ]
        stamps = bmsctl.event_times(old, clock, 1)
        self.assertEqual(when(stamps), ["11-24 14:48:00", "11-28 14:48:00", "11-30 14:48:00"])
        # a record of the life before the last BOOT: its ticks, never a date
        earlier = (3, 7000, ev.TRIP, 3, 3650, 4)
        self.assertEqual(bmsctl.event_times([earlier, boot], clock, 5)[0], None)
        self.assertEqual(bmsctl.event_row(earlier, None, 5)["time"], "7.000 (earlier boot)")
        self.assertEqual(bmsctl.last_boot([earlier]), -1)
        self.assertEqual(bmsctl.event_times(records, (0, 0), 5), [None] * 3)  # no clock

    def test_clear_errors(self):
        rc, _o, err = cli(self.sim, "config", "set", "covp_trip_mv", "3590")
        self.assertEqual(rc, 1)
        self.assertIn("no unlock: press RESET twice within 2 s", err)
        rc, _o, err = cli(self.sim, "config", "get", "nope")
        self.assertEqual((rc, err), (1, "bmsctl: unknown config key 'nope'\n"))
        rc, _o, err = cli(self.sim, "--pack", "7", "--timeout", "0.2", "cells")
        self.assertEqual((rc, err), (1, "bmsctl: pack 7 did not answer\n"))
        rc, out, _e = cli(self.sim, "--all", "--timeout", "0.2", "--json", "version")
        self.assertEqual(list(json.loads(out)), ["1"])

    def test_set_after_unlock(self):
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        press_unlock(sim, pack)
        rc, out, _e = cli(sim, "config", "set", "covp_trip_mv", "3601")
        self.assertEqual(rc, 1)
        rc, out, err = cli(sim, "config", "set", "covp_trip_mv", "x")
        self.assertIn("VALUE must be an integer", err)
        rc, out, _e = cli(sim, "config", "set", "covp_trip_mv", "3590")
        self.assertEqual(rc, 0)
        self.assertIn("revision 1", out)
        self.assertEqual(cli(sim, "restart")[0], 0)
        sim.run(sim.t_ms + 4000)
        self.assertEqual(sim.packs[0].app.cfg.covp_trip_mv, 3590)


REFUSED = (
    "a protection is pending or tripped and a restart would release it; retry once it "
    "has released (bmsctl --pack %d status: protections)"
)


def tripped(sim, pack=None):
    """CHTP tripped (the cells at 52 C) on one pack, or every pack; held at 48 C, inside
    its release band."""
    for t in (52, 48):
        e = {"temp_c": {"cells": t}}
        if pack is not None:
            e["pack"] = pack
        sim.apply(e)
        sim.run(sim.t_ms + 3000)


@cpython_only("argparse, rich")
class RefusedTest(unittest.TestCase):
    def test_a_value_beyond_32_bits_is_refused_here(self):
        # (the client sent it modulo 2**32: 4294970596 was stored as 3300, and bmsctl
        # reported 4294970596 stored)
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        press_unlock(sim, pack)
        for value in ("4294970596", "-4294964096", "2147483648", "-2147483649"):
            rc, out, err = cli(sim, "config", "set", "covp_release_mv", value)
            self.assertEqual(
                (rc, out, err),
                (
                    1,
                    "",
                    "bmsctl: config refused: covp_release_mv: %s is not a 32-bit value "
                    "(-2147483648..2147483647)\n" % value,
                ),
            )
        self.assertEqual(pack.app.store.load_config(), {})
        # the ends of 32 bits go to the pack, which refuses them by the key's range
        for value in ("2147483647", "-2147483648"):
            rc, _o, err = cli(sim, "config", "set", "covp_release_mv", value)
            self.assertEqual(rc, 1)
            self.assertIn("covp_release_mv = %s is outside the allowed range" % value, err)
        self.assertEqual(pack.app.store.load_config(), {})

    def test_restart_and_update_refused_while_a_protection_is_tripped(self):
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update_held", seed=15, sizes=(100,))
        sim = make_sim(inverter="none")
        sim.run(5000)
        pack = sim.packs[0]
        press_unlock(sim, pack)
        tripped(sim)
        rc, _o, err = cli(sim, "restart")
        self.assertEqual((rc, err), (1, "bmsctl: pack 1 refused the restart: %s\n" % REFUSED % 1))
        rc, _o, err = cli(sim, "--json", "update", new)
        self.assertEqual((rc, err), (1, "bmsctl: pack 1 refused the update: %s\n" % REFUSED % 1))
        self.assertEqual((pack.reboots, pack.image), (0, ""))
        # released (below 45 C): the update sent before goes on from where it stands
        sim.apply({"temp_c": {"cells": 25}})
        sim.run(sim.t_ms + 3000)
        rc, out, err = cli(sim, "--json", "update", new)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["build"], m["build"])
        self.assertEqual((pack.reboots, pack.image), (1, "img_a"))

    @long_run
    def test_restart_all_names_the_pack_that_refused(self):
        sim = make_sim(inverter="can", packs=3, config={"boot_settle_ms": 8000})
        sim.run(12000)
        press_unlock(sim, sim.packs[0])
        tripped(sim, 3)
        w = _Watch(sim)
        rc, out, err = cli(sim, "--all", "--timeout", "0.6", "restart", transport=w)
        self.assertEqual(
            (rc, err),
            (
                1,
                "bmsctl: pack 3 refused the restart: %s; restarted: 2; not restarted: 1\n"
                % REFUSED
                % 3,
            ),
        )
        self.assertIn("pack 2 restarted\n", out)
        self.assertEqual([p.reboots for p in sim.packs], [0, 1, 0])

    def test_update_all_names_the_pack_that_refused(self):
        from test_update import make_bundle

        new, _m = make_bundle("bmsctl_update_all_held", seed=16, sizes=(100,))
        sim = make_sim(inverter="none", packs=2)
        sim.run(5000)
        press_unlock(sim, sim.packs[0])
        tripped(sim, 2)
        rc, _o, err = cli(sim, "--all", "--timeout", "0.6", "--json", "update", new)
        self.assertEqual(
            (rc, err),
            (
                1,
                "bmsctl: pack 2 refused the update: %s; updated: none; not updated: 1\n"
                % REFUSED
                % 2,
            ),
        )
        self.assertEqual([p.image for p in sim.packs], ["", ""])
        self.assertEqual([p.reboots for p in sim.packs], [0, 0])


@cpython_only("argparse, rich")
class UpdateCommandTest(unittest.TestCase):
    def test_update_with_progress_and_clear_errors(self):
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update", seed=7, sizes=(400, 100))
        other, _m = make_bundle("bmsctl_update_esp32", board="esp32", seed=8, sizes=(10,))
        sim = make_sim(inverter="none")
        sim.run(5000)
        rc, _o, err = cli(sim, "update", new)
        self.assertEqual(
            (rc, err),
            (1, "bmsctl: no unlock: press RESET twice within 2 s at the pack, then retry\n"),
        )
        rc, _o, err = cli(sim, "update", other)
        self.assertEqual(
            (rc, err), (1, "bmsctl: wrong board: pack 1 is host, the bundle is for esp32\n")
        )
        rc, _o, err = cli(sim, "update", ROOT + "/nowhere")
        self.assertIn("no manifest.json", err)
        pack = sim.packs[0]
        press_unlock(sim, pack)
        rc, out, err = cli(sim, "update", new)
        self.assertEqual(rc, 0, err)
        self.assertIn("running 0.12.0 (build %s) on trial" % m["build"], out)
        self.assertEqual(pack.image, "img_a")
        rc, out, _e = cli(sim, "--json", "version")
        self.assertEqual(json.loads(out)["build"], m["build"])


@cpython_only("argparse, rich")
class CanCommandsTest(unittest.TestCase):
    """The same commands on the simulated CAN bus (in-process, in simulated time)."""

    def test_reads_writes_and_update_over_can(self):
        from bmsctl_client import SimCanTransport
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update_can", seed=9, sizes=(300, 50))
        sim = make_sim(inverter="can")
        sim.run(3000)
        t = SimCanTransport(sim)
        rc, out, _e = cli(sim, "--json", "status", transport=t)
        self.assertEqual((rc, json.loads(out)["mode"]), (0, "standby"))
        rc, out, _e = cli(sim, "--json", "config", "get", "covp_trip_mv", transport=t)
        self.assertEqual(json.loads(out)[0]["max"], 3600)
        rc, out, _e = cli(sim, "--all", "--timeout", "0.2", "--json", "version", transport=t)
        self.assertEqual(list(json.loads(out)), ["1"])
        rc, _o, err = cli(sim, "update", new, transport=t)
        self.assertIn("no unlock", err)
        pack = sim.packs[0]
        press_unlock(sim, pack)
        rc, out, err = cli(sim, "update", new, transport=t)
        self.assertEqual(rc, 0, err)
        self.assertIn("(build %s) on trial" % m["build"], out)
        self.assertEqual(sim.inverter.received.get(0x351, 0) > 0, True)


class _CutAfterArm:
    """The master's port 1, where pack `cut` loses its power as its last ARM goes out."""

    def __init__(self, sim, cut):
        from bmsctl_client import SimTransport

        self.t = SimTransport(sim)
        self.sim = sim
        self.cut = cut

    def write(self, data):
        self.t.write(data)
        if data[1] == self.cut and data[2] == 0x23:  # UPDATE_ARM
            self.sim.run(self.sim.t_ms + 300)
            self.sim.packs[self.cut - 1].power_off()

    def read(self, timeout_s):
        return self.t.read(timeout_s)


class _Watch:
    """The master's port 1, noting when each pack restarts and how many packs were ever
    out of the bank's current at once (restarting, on notice, or back with its discharge
    FET still open)."""

    def __init__(self, sim):
        from bmsctl_client import SimTransport

        self.t = SimTransport(sim)
        self.sim = sim
        self.boots = [p.reboots for p in sim.packs]
        self.restarted = []  # (pack, t_ms), in order
        self.most_down = 0

    def write(self, data):
        self.t.write(data)

    def read(self, timeout_s):
        sim = self.sim
        end = sim.t_ms + int(timeout_s * 1000)
        got = b""
        while True:
            got += self.t.read(0.05)
            down = 0
            for k, p in enumerate(sim.packs):
                if p.reboots != self.boots[k]:
                    self.boots[k] = p.reboots
                    self.restarted.append((k + 1, sim.t_ms))
                if p.app is None or p.app.link.notice is not None or not p.app.bms.dsg:
                    down += 1
            self.most_down = max(self.most_down, down)
            if got or sim.t_ms >= end:
                return got


@cpython_only("argparse, rich")
class SystemRestartTest(unittest.TestCase):
    @long_run
    def test_restart_all_one_pack_at_a_time(self):
        # (bmsctl --all restart sent every pack its RESTART without waiting: the bank's
        # packs restarted within 350 ms of each other, every FET open together; then the
        # next pack's restart came as soon as the last answered, before its boot settled)
        sim = make_sim(
            inverter="can",
            packs=3,
            events=[{"at_s": 0, "current_a": -60}],
            config={"boot_settle_ms": 8000},
        )
        sim.run(12000)
        press_unlock(sim, sim.packs[0])
        w = _Watch(sim)
        rc, out, err = cli(sim, "--all", "--timeout", "0.6", "restart", transport=w)
        self.assertEqual(rc, 0, err)
        self.assertIn("unlock confirmed by packs 1, 2, 3\n", out)
        self.assertIn("pack 2 restarted\npack 3 restarted\npack 1 restarted\n", out)
        self.assertEqual([k for k, _t in w.restarted], [2, 3, 1])
        self.assertEqual([p.reboots for p in sim.packs], [1, 1, 1])
        self.assertEqual(w.most_down, 1)


@long_run
@cpython_only("argparse, rich")
class SystemUpdateTest(unittest.TestCase):
    """update --all through the master's RS485 port 1: four packs, one at a time."""

    def test_four_packs_one_at_a_time(self):
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update_all", seed=11, sizes=(300, 50))
        sim = make_sim(inverter="can", packs=4)
        sim.run(5000)
        argv = ("--all", "--timeout", "0.6", "update", new)
        rc, _o, err = cli(sim, *argv)
        self.assertEqual(
            (rc, err),
            (1, "bmsctl: no unlock: press RESET twice within 2 s at the master, then retry\n"),
        )
        press_unlock(sim, sim.packs[0])
        rc, out, err = cli(sim, *argv)
        self.assertEqual(rc, 0, err)
        self.assertIn("unlock confirmed by packs 1, 2, 3, 4\n", out)
        lines = [ln for ln in out.splitlines() if "on trial" in ln or ln.endswith(": confirmed")]
        # each pack past its trial before the next is sent anything
        self.assertEqual(
            [ln.split(":")[0] for ln in lines],
            ["pack 2", "pack 2", "pack 3", "pack 3", "pack 4", "pack 4", "pack 1", "pack 1"],
        )
        self.assertEqual([ln.endswith("confirmed") for ln in lines], [False, True] * 4)
        self.assertEqual([p.image for p in sim.packs], ["img_a"] * 4)
        for k in range(4):
            self.assertEqual(
                cli(sim, "--json", "--pack", str(k + 1), "version")[1].count(m["build"]), 1
            )

    def test_three_packs_over_can(self):
        """The same round with the laptop on CAN: each slave takes the unlock straight from
        the laptop because the master announces its own on the pack link."""
        from bmsctl_client import SimCanTransport
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update_all_can", seed=14, sizes=(200,))
        sim = make_sim(inverter="none", packs=3)
        sim.run(5000)
        t = SimCanTransport(sim)
        argv = ("--all", "--timeout", "0.6", "update", new)
        rc, _o, err = cli(sim, *argv, transport=t)
        self.assertEqual(
            (rc, err),
            (1, "bmsctl: no unlock: press RESET twice within 2 s at the master, then retry\n"),
        )
        press_unlock(sim, sim.packs[0])
        rc, out, err = cli(sim, *argv, transport=t)
        self.assertEqual(rc, 0, err)
        self.assertIn("unlock confirmed by packs 1, 2, 3\n", out)
        lines = [ln for ln in out.splitlines() if ln.endswith(": confirmed")]
        self.assertEqual(lines, ["pack 2: confirmed", "pack 3: confirmed", "pack 1: confirmed"])
        self.assertEqual([p.image for p in sim.packs], ["img_a"] * 3)
        for k in range(3):
            v = cli(sim, "--json", "--pack", str(k + 1), "version", transport=t)[1]
            self.assertEqual(v.count(m["build"]), 1)

    def test_a_pack_that_did_not_come_back(self):
        from test_update import make_bundle

        new, _m = make_bundle("bmsctl_update_all_cut", seed=12, sizes=(200,))
        sim = make_sim(inverter="none", packs=3)
        sim.run(5000)
        press_unlock(sim, sim.packs[0])
        rc, _o, err = cli(
            sim,
            "--all",
            "--timeout",
            "0.6",
            "--json",
            "update",
            new,
            transport=_CutAfterArm(sim, 2),
        )
        self.assertEqual(rc, 1)
        self.assertIn("bmsctl: pack 2 did not come back with build", err)
        self.assertIn("; updated: none; not updated: 1, 3\n", err)
        self.assertEqual([p.image for p in sim.packs[::2]], ["", ""])

    def test_a_pack_that_does_not_confirm_stops_the_round(self):
        from test_update import make_bundle

        new, m = make_bundle("bmsctl_update_all_trial", seed=13, sizes=(200,))
        sim = make_sim(inverter="none", packs=3)
        sim.run(5000)
        press_unlock(sim, sim.packs[0])
        t = _LostAfterArm(sim, 2)
        rc, _o, err = cli(sim, "--all", "--timeout", "0.6", "--json", "update", new, transport=t)
        self.assertEqual(rc, 1)
        self.assertIn("bmsctl: pack 2 did not confirm build %s" % m["build"], err)
        self.assertIn("; updated: none; not updated: 1, 3\n", err)
        self.assertIsNotNone(sim.packs[1].app.trial)  # still on trial: a reset rolls it back
        self.assertEqual([p.image for p in sim.packs[::2]], ["", ""])


class _LostAfterArm(_CutAfterArm):
    """The master's port 1, where pack `cut`'s front end goes silent as its last ARM goes
    out: the new image boots but never has the valid readings that confirm it."""

    def write(self, data):
        self.t.write(data)
        if data[1] == self.cut and data[2] == 0x23:  # UPDATE_ARM
            self.sim.packs[self.cut - 1].apply_fault("afe_lost")


@cpython_only("python-can, msgpack and multicast on loopback")
class UdpMulticastTest(unittest.TestCase):
    def test_status_over_udp_multicast_in_real_time(self):
        import os
        import subprocess
        import sys
        import time

        group = "239.74.%d.%d" % (os.getpid() >> 8 & 0xFF, os.getpid() & 0xFF)  # no crosstalk
        self.assertEqual(
            real_time_sim(self, "--can-udp", group, said="CAN: "), "udp_multicast " + group
        )
        time.sleep(1.0)
        done = subprocess.run(
            [sys.executable, ROOT + "/tools/bmsctl.py", "--interface", "udp_multicast"]
            + ["--channel", group, "--json", "cells"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(json.loads(done.stdout)["cells_mv"]), 16)


@cpython_only("pyserial and a pseudo-terminal")
class PtyTest(unittest.TestCase):
    def test_status_over_the_pty_in_real_time(self):
        import subprocess
        import sys
        import time

        port = real_time_sim(self, "--rs485-pty", said="RS485 port: ")
        time.sleep(1.0)
        done = subprocess.run(
            [sys.executable, ROOT + "/tools/bmsctl.py", "--port", port, "--json", "cells"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(json.loads(done.stdout)["cells_mv"]), 16)


if __name__ == "__main__":
    unittest.main()
