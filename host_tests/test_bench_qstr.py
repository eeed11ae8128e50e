"""tools/bench_rp2040.py's count of the interned names (qstrs) as a board holds them.

The RP2040 bench gives back what its own script took, the qstr pools and text of every
name the script started with included, so it charged the firmware only the pools above
those; board_names() counts every pool a board's own names need, from the first, and
leaves out the names only the bench has.
"""

import unittest

from support import BUILD, cpython_only, ensure_build


def _line(n_qstr, text_bytes):
    """A micropython.qstr_info() summary line for n_qstr names as the pools hold them."""
    import bench_rp2040

    pools = bench_rp2040.qstr_pool_bytes(n_qstr)
    n_pool = 0
    while bench_rp2040.qstr_pool_bytes(sum(20 << k for k in range(n_pool))) < pools:
        n_pool += 1
    return "qstr pool: n_pool=%d, n_qstr=%d, n_str_data_bytes=%d, n_total_bytes=%d" % (
        n_pool,
        n_qstr,
        text_bytes,
        pools + text_bytes,
    )


@cpython_only("runs mpy-cross (subprocess)")
class QstrPoolTest(unittest.TestCase):
    def test_pools_as_measured_on_the_emulated_pico(self):
        import bench_rp2040

        # micropython.qstr_info() on the emulated RPI_PICO 1.24.1: 4 pools for 228 names
        # (3612 B, of which 1692 B text), 7 pools for 1612 (31859 B, 16403 B text)
        self.assertEqual(bench_rp2040.qstr_pool_bytes(228), 3612 - 1692)
        self.assertEqual(bench_rp2040.qstr_pool_bytes(1612), 31859 - 16403)
        self.assertEqual(bench_rp2040.qstr_pool_bytes(0), 0)
        self.assertEqual(bench_rp2040.qstr_pool_bytes(20), 144)
        self.assertEqual(bench_rp2040.qstr_pool_bytes(21), 144 + 272)
        # the seventh pool (1280 names, 7712 B) comes with the 1261st name
        self.assertEqual(
            bench_rp2040.qstr_pool_bytes(1261) - bench_rp2040.qstr_pool_bytes(1260), 7712
        )

    def _mpy(self, folder, name, source):
        import os
        import subprocess

        import bench_rp2040

        src = folder + "/" + name + ".py"
        with open(src, "w") as f:
            f.write(source)
        out = folder + "/" + name + ".mpy"
        cmd = [bench_rp2040.MPY_CROSS, "-march=armv6m", "-s", name + ".py", "-o", out, src]
        subprocess.run(cmd, check=True)
        os.remove(src)
        return out

    def _folder(self):
        import os

        ensure_build()
        folder = BUILD + "/qstr_test"
        os.makedirs(folder, exist_ok=True)
        return folder

    def test_a_modules_names_are_its_dynamic_qstrs(self):
        import bench_rp2040

        path = self._mpy(
            self._folder(), "qmod", "class Pack:\n    cell_mv = 3\n\nprint(len('x'))\n"
        )
        names = bench_rp2040.mpy_names(path)
        self.assertIn("Pack", names)
        self.assertIn("cell_mv", names)
        self.assertIn("qmod.py", names)
        self.assertNotIn("print", names)  # in the firmware image's own table
        self.assertNotIn("len", names)

    def test_the_bench_names_are_left_out_and_every_pool_counted(self):
        import bench_rp2040

        fw = self._folder()
        self._mpy(fw, "fwmod", "def shared_name():\n    return fw_only_name\n")
        own = ["bench_only_name", "shared_name"]  # what the chip script started with
        later = ["fwmod.mpy", "fwmod.py", "fw_only_name"]
        held = own + later
        text = sum(len(n) + 1 for n in held)
        lines = [_line(len(own), sum(len(n) + 1 for n in own)), _line(len(held), text)]
        got = bench_rp2040.board_names(lines, own + held, fw)
        kept = ["shared_name"] + later
        self.assertEqual(got["rp2040_qstr_names_service"], 5)
        self.assertEqual(got["rp2040_qstr_names_bench_only"], 1)
        self.assertEqual(got["rp2040_qstr_names_board"], 4)
        # a board: the first pool (144 B) and its 4 names' text
        self.assertEqual(got["rp2040_heap_qstr_board_bytes"], 144 + sum(len(n) + 1 for n in kept))
        # the bench charged only what came after its start: the same pool, the later text
        self.assertEqual(got["rp2040_heap_qstr_charged_bytes"], sum(len(n) + 1 for n in later))

    def test_a_board_past_a_pools_edge_holds_the_whole_pool(self):
        import bench_rp2040

        fw = self._folder()
        self._mpy(fw, "fwmod", "def shared_name():\n    return 1\n")
        own = ["b%d" % i for i in range(15)] + ["shared_name"]
        later = ["fwmod.mpy", "fwmod.py"] + ["f%d" % i for i in range(4)]
        held = own + later  # 22 names: two pools; without the bench's 15, one
        lines = [
            _line(len(own), sum(len(n) + 1 for n in own)),
            _line(len(held), sum(len(n) + 1 for n in held)),
        ]
        got = bench_rp2040.board_names(lines, own + held, fw)
        self.assertEqual(got["rp2040_qstr_names_board"], 7)
        self.assertEqual(
            got["rp2040_heap_qstr_board_bytes"],
            144 + sum(len(n) + 1 for n in ["shared_name"] + later),
        )
        self.assertEqual(
            got["rp2040_heap_qstr_charged_bytes"], 272 + sum(len(n) + 1 for n in later)
        )

    def test_the_names_a_module_loaded_on_demand_would_add(self):
        import os

        import bench_rp2040

        fw = self._folder() + "/on_demand"
        os.makedirs(fw + "/pkg", exist_ok=True)
        self._mpy(fw, "held", "def kept_name():\n    return 1\n")
        self._mpy(fw + "/pkg", "rare", "def kept_name():\n    return rare_only\n")
        self._mpy(fw, bench_rp2040.CHIP_MPY[:-4], "bench_name = 1\n")  # the bench's own
        interned = ["held", "held.mpy", "kept_name", "held.py"]
        got = bench_rp2040.on_demand_names(fw, interned)
        # rare's names (its source's name, rare.py here, among them), its module's and its
        # file's, less those interned already
        self.assertEqual(got, ["pkg.rare", "pkg/rare.mpy", "rare", "rare.py", "rare_only"])
        self.assertEqual(bench_rp2040.on_demand_names(fw, interned + got), [])

    def test_a_listing_that_does_not_add_up_is_refused(self):
        import bench_rp2040

        lines = [_line(2, 10), _line(3, 12)]
        with self.assertRaises(SystemExit):
            bench_rp2040.board_names(lines, ["a", "b", "a"], self._folder())


# The names the firmware's armv6m .mpy files and the RP2040's board files intern
# (tools/rp2040_heap.py names): 1 878 in all at main 7979794 (1 658 on a board in service,
# the RP2040 bench), 161 of them the Pylon RS485 server's; 1 836 and 122 since its rare
# commands went to a module of their own and the constants no other module reads became
# const(); 1 828 since more constants did (heapD26); 1 814 since the balancer, the button
# and the pre-charge read their thresholds from the config and the core imports no other
# module's numbers (heapF27); 1 816 at stop 28 for the panel's patterns_key() (the tick
# asks the panel's logic only when it changed) and the system answer's no_room count
# (RTN 91 without room for its buffer); 1 827 at stop 29 for the system answer in 1 KB
# parts, in a module and a class of its own (pylon_rs485_system.Answer: build, views,
# parts, ends, used), and the RS485 driver's reply in parts (_total, _part, _off); 1 828
# for the pack link's _no_room; 1 833 for its no-current fallback without room for the
# system's table (_waits, _stopped, COMM_SYSTEM, and the no-current view in a module of
# its own, nocurrent.py: NoCurrent, Stopped, shared with a service restart); 1 836 for the
# worst tick's (worst29): limits.requests() and its _force_start() (the once-a-second
# tick without the whole Limits.step()), balance._choose() and its _mv (the balancing
# decision in viper). The Pylon
# server's: 128 at stop 29 (its system answer made in a module of its own; without room
# for it, RTN 91); 1 846 at stop 31: the front end's over-current trips as rows
# (V_AFE_OCC, V_AFE_OCD), the force-charge hold (_low_ms), a silent pack out of the
# system's limits and their fall sent at once (STALE_MS, stale, _walk, limits_fell,
# lim_k, lim_sent), a stored config's out-of-range key dropped alone (usable, and
# _refusal, the one check of a key that update() and usable() share); 1 850 at stop 32:
# the protection rows as named tuples (collections, namedtuple, _Row), each one block
# instead of an instance whose dict grew and left holes in the boot's heap; 1 851: the
# current's 0.1 A field held at its ends (deciamps: 32 packs' sum wrapped to a charge);
# 1 852: the no-current view's CVL down to the pack's voltage (property, in nocurrent.py,
# loaded only for a restart's notice or a master without room); 1 856 at stop 33: the
# latched rows' moves counted (latch_moves: housekeeping built a list a second to compare),
# capacities in mAh (full_mah, q_mah: the system's in mAs outgrew a small int, and its
# protocols sent the master's own) and Victron's 0x372 counts (online, offline); 1 860:
# each pack's serial number from its chip's unique id (unique_id, uid, put_hex, IDENT on
# the pack link: every pack said OPENBMS000000001); 1 862: the service link's version
# document says it too (serial, _serial: in service/server.py, loaded on demand); 1 864:
# the capacities in mAh as methods, not properties (the views' _q_mah, _full_mah): a
# property on Soc cost every tick 34 000 cycles; 1 865: the discharge current warning
# follows a hot start's lower DOCP limit (_docp_warn_row: it stayed at 95 A over 50 A);
# 1 867 at stop 34: a Sunny Island's ranges kept in 0x351 (sma, sma_range: the SI rejects
# a value outside them silently, and three packs ask for more than its 120 A); 1 869:
# a pack asleep after CUVP asks for the charge that wakes it (sleep_cuvp: it asked for
# CCL 0 and slept until a person came) and a slave's communication is its master
# (comm_age_ms: a slave of an RS485 system showed INVERTER_LOST and slept after 48 h);
# 1 870: a slave's communication follows the master's word on the inverter (_heard_at:
# following the master's frames alone kept a slave of a system with no inverter awake).
# 1 809 at stop 35 (the Pylon server's: 123): the constants no other firmware module
# reads became private, 61 of them (the tests and tools read them with tools/fwconst.py);
# 1 812: a master checks its peers' frames (plausible, _temps_ok, took: a garbage SOC
# crashed a Growatt master into a reset loop, and a garbage CVL of 0 reached the inverter);
# 1 816: a new image's trial bounded and its pointer's write retried (_trial_age_s,
# TRIAL_LIMIT_S: an image failing more than 3 s apart ran on for ever), the image before a
# trial booted on a flash that takes no write (choose: main.py stopped before the
# watchdog), a restart's unwritten records written first (restart, in app_save); 1 818:
# the build a pack reports is the one its board runs (running, before: after that
# fallback it reported the new build, confirmed), a pointer read strictly to confirm it.
# 1 831 at stop 36 (review: +1, -1): a front end failing again and again fails (afe_spell_count,
# afe_spell_window_ms, _spells, _spell_ms, afe_failing: a chip resetting every 3 s
# switched the FETs under load 1200 times an hour), a discharge paused under 1 s keeps
# its DOCP limit (_dsg_end: 100 ms halved it), a CAN bus failing at every restart fails
# quietly (_can_down_at, _can_silent, can_down: 3 events a second pushed every trip off
# the log), a new master waits for a beacon from upstream before it speaks (_unmute_at:
# packs powered together all spoke), a Growatt answer nobody takes is given up
# (_growatt_at: it stopped the Pylon set), the float voltage held half an hour is full
# (float_cell_mv, learn: the manual's float calibration, no end point for the capacity),
# the count held at an end is not capacity (_pinned: a week of float learned 90 %);
# RESET's answer (_button) moved to a module loaded for it; 1 833: a master holds the
# system's CCL and DCL to what the packs take as they share the current (_shared: 8
# packs at the sum tripped DOCP one after another) and a slave's falling limit goes out
# at once (_sent_lim); 1 835: a rare path's module, refused for want of room, is tried
# again after a collection (gc, collect: the safety net opened the FETs for it); 1 836:
# the sharing last judged under a load, kept for a step of load from rest (_spread).
# 1 838 at stop 37: the safe state after an exception counts as a front end's spell
# (_spell: a failure every 4 s opened the FETs under load every 4 s for ever), and the
# charge through the open discharge FET's body diodes is held to diode_ma (50 A
# put 40 W in them for as long as a DOCP lockout stood); 1 839: a pre-charge try cut
# short ends as a timed-out one does (_end: uncounted, chatter kept the resistor on);
# 1 840: the passive and RSD inputs let go 1 s after they read released (_in_raw, _in_at,
# _in_on for _rsd, _passive: chatter switched the FETs five times a second); 1 843: the
# current's mode changes closer than a minute are counted (_mode_at, _mode_quiet: 43 200
# records a day pushed every trip off the log), the idle sleep is left when the inverter
# speaks again (_sleep_idle: a fixed cable needed a person at every pack); diode_ma for
# diode_charge_ma, and the app's _saved_mode gone; 1 844: what a restart would lose is
# the engine's question (restart_loses, in its lazily loaded module), not the service
# server's reading of the engine's arrays; 1 845: the balancer's rebase (the app asks it
# once a second: a decision stamp kept through 6.2 days without balancing read as the
# future, and no cell bled for as long again); 1 846: packsystem's _held, the judged
# sharing for the packs counted now (the limit's and the N - 1 cap's, once, not twice).
# 1 849 at stop 40: the DIP's changes logged four times a boot (dip_changed, counted in
# dip_changes: a flapping contact pushed a COVP trip off the log), and a restarted
# master silent until its table counts the packs it hears (_speak, _count_wait: it told
# the inverter 0 A for a second while the others carried the load); the link's
# can_down, named for the pack link's use too, in place of _can_down; 1 850: a new
# master waits only for packs heard that are not masters (_packs_heard: a restarted
# master whose slaves had gone quiet at its held beacon told the inverter 0 A); 1 851:
# the balancing window in one place (Balancer.in_window), which the core asks at every
# tick while cells bleed and step() at each decision, rather than written twice.
# Move these down when names go, up only with a reason.
FIRMWARE_NAMES = 1851
PYLON_RS485_NAMES = 123


@cpython_only("runs mpy-cross (subprocess)")
class FirmwareNamesTest(unittest.TestCase):
    def test_the_firmware_interns_no_more_names_than_it_did(self):
        import rp2040_heap

        found = rp2040_heap.module_names(BUILD + "/qstr_names")
        names = set()
        for mod in found:
            names |= found[mod][0]
        self.assertLessEqual(len(names), FIRMWARE_NAMES)
        # what the RS485 server's every-second polls need (0x42, 0x44, 0x92, 0x4F): its
        # rare commands, 0x94 and the system answer are in a module of their own
        self.assertLessEqual(len(found["protocols.pylon_rs485"][0]), PYLON_RS485_NAMES)
        self.assertIn("protocols.pylon_rs485_rare", found)


if __name__ == "__main__":
    unittest.main()


@cpython_only("imports tools/bench_rp2040.py (subprocess, ast)")
class HeapRoomTest(unittest.TestCase):
    """What a board can still take in service without a new piece of heap: the names
    before the next qstr pool, and the heap's largest free piece."""

    def test_the_room_left_in_the_pools_and_the_next_pools_size(self):
        import bench_rp2040

        self.assertEqual(bench_rp2040.qstr_room(0), (0, 144))  # the first pool: 20 names
        self.assertEqual(bench_rp2040.qstr_room(1), (19, 272))
        self.assertEqual(bench_rp2040.qstr_room(20), (0, 272))
        self.assertEqual(bench_rp2040.qstr_room(21), (39, 512))
        # past the seventh pool's start (the 1261st name), 1280 names to its end; the
        # eighth would be 2560 names, 15 392 B in one piece
        self.assertEqual(bench_rp2040.qstr_room(1260), (0, 7712))
        self.assertEqual(bench_rp2040.qstr_room(1261), (1279, 15392))
        self.assertEqual(bench_rp2040.qstr_room(2540), (0, 15392))
        # the room and the pools the bytes count agree
        for n in (1, 19, 20, 21, 300, 1261, 2540, 2541):
            room, _next = bench_rp2040.qstr_room(n)
            self.assertEqual(
                bench_rp2040.qstr_pool_bytes(n + room), bench_rp2040.qstr_pool_bytes(n)
            )
            self.assertGreater(
                bench_rp2040.qstr_pool_bytes(n + room + 1), bench_rp2040.qstr_pool_bytes(n)
            )

    def test_the_largest_free_piece_read_from_mem_info(self):
        import bench_rp2040

        lines = [
            "largest_free service",
            "stack: 532 out of 7936",
            "GC: total: 233664, used: 131920, free: 101744",
            " No. of 1-blocks: 1234, 2-blocks: 234, max blk sz: 264, max free sz: 2113",
            "rp2040_heap_free_master_bytes 91447",
            "largest_free master",
            "GC: total: 233664, used: 142000, free: 91664",
            " No. of 1-blocks: 1300, 2-blocks: 240, max blk sz: 264, max free sz: 97",
            # a mem_info() the bench did not ask for is no figure
            " No. of 1-blocks: 1, 2-blocks: 2, max blk sz: 3, max free sz: 4",
        ]
        self.assertEqual(
            bench_rp2040.largest_free(lines),
            {
                "rp2040_heap_largest_free_service_bytes": 2113 * 16,
                "rp2040_heap_largest_free_master_bytes": 97 * 16,
            },
        )
        self.assertEqual(bench_rp2040.largest_free(["max free sz: 5"]), {})
