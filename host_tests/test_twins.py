"""The CPython twins of the viper kernels (boards/host/twins.py) against the kernels: the
same results and side effects for any input, and the same traces from whole runs."""

import unittest
from array import array

from support import ROOT, cpython_only, long_run, run_trace

from boards.host.world.engine import Simulator
from boards.host.world.scenario import load, validate

FOLD = 0x3FFFFFFF


def twins():
    from boards.host import twins as mod

    return mod


@cpython_only("the twins replace CPython's runs of the viper kernels")
class TwinsTest(unittest.TestCase):
    def tearDown(self):
        twins().uninstall()

    def test_install_swaps_every_twin_and_uninstall_restores(self):
        from bms import protect, sample
        from drivers import bq76952

        tw = twins()
        self.assertEqual(tw.install(), ("_scan", "_crc_good", "_decode", "reduce"))
        self.assertIs(protect._scan, tw.scan)
        self.assertIs(bq76952._crc_good, tw.crc_good)
        self.assertIs(bq76952._decode, tw.decode)
        self.assertIs(sample.Sample.reduce, tw.reduce)
        tw.uninstall()
        self.assertIs(protect._scan, tw.KERNELS["_scan"])
        self.assertIs(sample.Sample.reduce, tw.KERNELS["reduce"])

    def test_a_kernel_with_other_arguments_keeps_its_own_code(self):
        tw = twins()
        saved = tw.ARGS["_decode"]
        tw.ARGS["_decode"] = ("m", "t")
        try:
            self.assertNotIn("_decode", tw.install())
        finally:
            tw.ARGS["_decode"] = saved

    # -- protect._scan -----------------------------------------------------------------
    def scan_both(self, vals, src, over, trip, state, flags, valid):
        tw = twins()
        n = len(src)
        out = []
        for f in (tw.KERNELS["_scan"], tw.scan):
            todo = bytearray(n)
            k = f(array("i", vals), bytearray(src), bytearray(over), array("i", trip),
                  bytearray(state), bytearray(flags), todo, n, valid)  # fmt: skip
            out.append(list(todo[:k]))
        self.assertEqual(out[0], out[1])
        return out[1]

    def test_scan_at_rest_and_at_each_side_of_a_trip(self):
        src = [0, 1, 0, 1]
        over = [1, 1, 0, 0]
        trip = [3600, 50, -2800, -10]  # rows 2 and 3: below 2800 and 10
        idle = [0] * 4
        flags = [0] * 4
        self.assertEqual(self.scan_both([3599, 49], src, over, trip, idle, flags, 1), [])
        self.assertEqual(self.scan_both([3600, 49], src, over, trip, idle, flags, 1), [0])
        self.assertEqual(self.scan_both([2800, 11], src, over, trip, idle, flags, 1), [2])
        self.assertEqual(self.scan_both([3000, 10], src, over, trip, idle, flags, 1), [3])
        self.assertEqual(self.scan_both([3000, 20], src, over, trip, [0, 2, 0, 0], flags, 1), [1])
        # an invalid reading: only the rows that read any sample, and the tripped ones
        self.assertEqual(
            self.scan_both([3600, 60], src, over, trip, [0, 2, 0, 0], [0, 0, 0x20, 0], 0), [1]
        )

    def test_scan_values_the_kernel_folds(self):
        src = [0, 1, 0, 1]
        over = [1, 1, 0, 0]
        flags = [0] * 4
        idle = [0] * 4
        for vals, trip in (
            ([FOLD + 1, 0], [3600, 50, -2800, -10]),  # above: due unfolded, not folded
            ([100, FOLD + 1], [3600, 50, -2800, -10]),  # below: folded, far below
            ([100, 0], [FOLD + 1, 50, -2800, -10]),  # a folded trip
            ([FOLD, 0], [3600, 50, -FOLD, -10]),
        ):
            self.scan_both(vals, src, over, trip, idle, flags, 1)
        # a slot only the rows below their trip read, above the fold: the kernel's turn
        self.assertEqual(
            self.scan_both([100, FOLD + 1], [0, 0, 1, 1], over, [3600, 500, -2800, -10], idle,
                           flags, 1), [2, 3])  # fmt: skip

    @long_run
    def test_scan_any_rows(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        value = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-5000, 5000))

        @st.composite
        def rows(draw):
            n = draw(st.integers(1, 40))
            slots = draw(st.integers(1, 20))
            vals = draw(st.lists(value, min_size=slots, max_size=slots))
            src = draw(st.lists(st.integers(0, slots - 1), min_size=n, max_size=n))
            over = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
            trip = draw(st.lists(value, min_size=n, max_size=n))
            state = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 3]), min_size=n, max_size=n))
            flags = draw(st.lists(st.sampled_from([0, 0x20, 0x22]), min_size=n, max_size=n))
            return vals, src, over, trip, state, flags, draw(st.integers(0, 1))

        @settings(max_examples=150, deadline=None)
        @given(rows())
        def prop(r):
            self.scan_both(*r)

        prop()

    # -- drivers/bq76952: _crc_good and _decode ----------------------------------------------
    def framed(self, data, reg):
        from drivers import bq76952

        t = bq76952.CRC_TABLE
        out = bytearray()
        crc = bq76952.crc8(bytes([bq76952._ADDR_W, reg, bq76952._ADDR_R, data[0]]))
        out += bytes([data[0], crc])
        for b in data[1:]:
            out += bytes([b, t[b]])
        return out

    def crc_both(self, buf, n, reg):
        from drivers import bq76952

        tw = twins()
        a = tw.KERNELS["_crc_good"](bq76952.CRC_TABLE, buf, n, reg)
        b = tw.crc_good(bq76952.CRC_TABLE, buf, n, reg)
        self.assertEqual(a, b)
        return b

    def test_crc_good_and_each_byte_broken(self):
        buf = self.framed(bytes(range(7, 65)), 0x12)
        self.assertTrue(self.crc_both(memoryview(buf), len(buf), 0x12))
        self.assertFalse(self.crc_both(buf, len(buf), 0x13))  # another register's CRC
        for i in range(len(buf)):
            bad = bytearray(buf)
            bad[i] ^= 0x10
            self.assertFalse(self.crc_both(bad, len(bad), 0x12), i)
        self.crc_both(buf + b"\x00\x00", len(buf) + 1, 0x12)  # odd: the kernel's own reading
        self.assertTrue(self.crc_both(buf[:2], 2, 0x12))

    def test_crc_any_bytes(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        @settings(max_examples=150, deadline=None)
        @given(st.binary(min_size=1, max_size=70), st.integers(0, 255), st.integers(-1, 140))
        def prop(data, reg, flip):
            buf = self.framed(data, reg)
            if 0 <= flip < len(buf):
                buf[flip] ^= 1 + flip % 200
            self.crc_both(buf, len(buf), reg)

        prop()

    def test_decode_any_measurement(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        from bms.sample import Sample
        from drivers import bq76952

        tw = twins()

        def fields(s):
            return (list(s.cells_mv), s.stack_mv, s.pack_mv, s.ld_mv, s.current_ma,
                    list(s.temps_dc))  # fmt: skip

        @settings(max_examples=150, deadline=None)
        @given(st.binary(min_size=116, max_size=116), st.binary(min_size=40, max_size=40))
        def prop(m, t):
            a = Sample()
            b = Sample()
            tw.KERNELS["_decode"](memoryview(m), t, bq76952._TEMP_OFFSETS, a)
            tw.decode(memoryview(m), t, bq76952._TEMP_OFFSETS, b)
            self.assertEqual(fields(a), fields(b))

        prop()

    # -- bms.sample.Sample.reduce ----------------------------------------------------------
    def test_reduce_any_sample(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        from bms.sample import Sample

        tw = twins()
        names = ("max_mv", "min_mv", "max_cell", "min_cell", "sum_mv", "tmax_dc", "tmin_dc",
                 "tmax_slot", "tmin_slot", "cell_tmax_dc", "cell_tmin_dc",
                 "cell_tavg_dc")  # fmt: skip

        @settings(max_examples=150, deadline=None)
        @given(
            st.lists(st.sampled_from([-600, -500, 0, 3300, 3301, 5500, 5501]), min_size=16,
                     max_size=16),
            st.lists(st.integers(-2800, 3100), min_size=6, max_size=6),
            st.lists(st.sampled_from([-88001, -88000, -1, 0, 52000, 88000, 88001]), min_size=3,
                     max_size=3),
        )  # fmt: skip
        def prop(cells, temps, links):
            out = []
            for f in (tw.KERNELS["reduce"], tw.reduce):
                s = Sample()
                s.cells_mv[:] = cells
                s.temps_dc[:] = temps
                s.stack_mv, s.pack_mv, s.ld_mv = links
                ok = f(s)
                out.append((ok, [getattr(s, k) for k in names]))
            self.assertEqual(out[0], out[1])

        prop()

    # -- whole runs --------------------------------------------------------------------------
    def traces(self, make, seconds):
        out = []
        for on in (False, True):
            if on:
                twins().install()
            out.append(run_trace(make(), seconds))
            twins().uninstall()
        return out

    def test_the_same_trace_with_and_without_the_twins(self):
        for name in ("afe_crc", "covp_override"):
            sc = load(ROOT + "/host_tests/scenarios/%s.json" % name)
            plain, twinned = self.traces(lambda sc=sc: Simulator(sc), sc["duration_s"])
            self.assertEqual(plain, twinned, name)
        sc = validate({"inverter": "can", "events": [{"at_s": 0, "current_a": -20}]})
        plain, twinned = self.traces(lambda: Simulator(sc), 20)
        self.assertEqual(plain, twinned)


if __name__ == "__main__":
    unittest.main()
