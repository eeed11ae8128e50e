"""Every input decoder fuzzed (issue 14, item 1), CI-sized; what the fuzzer found, pinned.

tools/fuzz.py holds one seeded generator and one checker per decoder; here each runs
10 000 inputs under CPython and the first 2 500 of them under MicroPython (make fuzz runs
1 000 000), then hypothesis feeds the same checkers its own inputs (CPython only). The
findings fixed at their source each have a test below that reproduces them.
"""

import json
import sys
import unittest

import fuzz
from support import MICROPYTHON, cpython_only, ensure_build, logged, long_run, make_sim

from bms import events as ev
from boards.host import machine
from boards.host.world.scenario import ScenarioError, load, parse
from inverter_link import InverterLink

COUNT = 2500 if MICROPYTHON else 10000  # (the same seed: MicroPython's are CPython's first)
SEED = 14


class SeededFuzzTest(unittest.TestCase):
    """COUNT inputs per decoder: no finding."""

    def fuzz(self, cls):
        result = fuzz.run(cls, COUNT, SEED)
        self.assertEqual(result.ran, COUNT)
        self.assertEqual(result.findings, [])

    def test_rs485_server(self):
        self.fuzz(fuzz.RsServer)

    def test_rs485_stream(self):
        self.fuzz(fuzz.RsStream)

    @long_run
    def test_can_rx(self):
        self.fuzz(fuzz.CanRx)

    def test_mcp2515_chip(self):
        self.fuzz(fuzz.Mcp2515Chip)

    @long_run
    def test_bq76952_chip(self):
        self.fuzz(fuzz.Bq76952Chip)

    @long_run
    def test_store(self):
        self.fuzz(fuzz.StoreLoad)

    @long_run
    def test_config(self):
        self.fuzz(fuzz.ConfigLoad)

    @long_run
    def test_scenario(self):
        self.fuzz(fuzz.ScenarioParse)

    def test_a_broken_property_is_a_finding_with_its_reproduction(self):
        class Broken(fuzz.RsServer):
            name = "broken"

            def check(self, inp):
                if inp[0][:1] == b"2":
                    raise ValueError("boom")

        result = fuzz.run(Broken, 200, SEED, max_findings=2)
        self.assertEqual(len(result.findings), 2)
        case, what, text = result.findings[0]
        self.assertTrue(what.startswith("raised ValueError('boom'"), what)
        again = fuzz.run(Broken, 1, SEED, case=case)
        self.assertEqual(len(again.findings), 1)  # the case alone reproduces it
        self.assertEqual(again.findings[0][2], text)


class Leaky(fuzz.ConfigLoad):
    """The config decoder with a leak: every `every`-th input keeps a small object (in a
    list the decoder keeps), or `once` objects kept at input `at` alone."""

    name = "leaky"
    every = 0
    at = -1
    once = 0

    def __init__(self, seed):
        fuzz.ConfigLoad.__init__(self, seed)
        self.kept = []
        self.k = 0

    def check(self, inp):
        fuzz.ConfigLoad.check(self, inp)
        if self.every and self.k % self.every == 0:
            self.kept.append(bytearray(8))
        if self.k == self.at:
            self.kept.extend(bytearray(8) for _ in range(self.once))
        self.k += 1


class GrowthTest(unittest.TestCase):
    """Memory growth is judged at its trend over the run (fuzz.trend_growth): a leak per
    input is a finding however small, what is allocated once early in the run is not."""

    def leak(self, every=0, at=-1, once=0):
        Leaky.every, Leaky.at, Leaky.once = every, at, once
        # fuzz.run does not judge growth under a line tracer (coverage.py's, in make test:
        # its records of the lines reached grow CPython's blocks): the run goes without it
        tracer = sys.gettrace() if hasattr(sys, "gettrace") else None
        if tracer is not None:
            sys.settrace(None)
        try:
            return fuzz.run(Leaky, 2000, SEED)
        finally:
            if tracer is not None:
                sys.settrace(tracer)
            Leaky.every, Leaky.at, Leaky.once = 0, -1, 0

    def growth_findings(self, result):
        return [f for f in result.findings if f[1].startswith("memory grew by")]

    def test_a_small_leak_per_input_is_a_finding(self):
        result = self.leak(every=8)  # one small object every 8th input: 225 over the run
        self.assertEqual(result.ran, 2000)
        self.assertEqual(len(self.growth_findings(result)), 1, result.findings)
        self.assertGreater(result.growth, fuzz.GROWTH_LIMIT)
        marks = result.marks()
        self.assertEqual(len(marks), fuzz.MARKS + 1)
        self.assertEqual((marks[0][0], marks[-1][0]), (200, 2000))  # after the warm-up

    def test_no_leak_is_no_finding(self):
        result = self.leak()
        self.assertEqual(result.findings, [])
        self.assertLess(abs(result.growth), fuzz.GROWTH_LIMIT)

    def test_an_allocation_once_early_in_the_run_is_not_growth(self):
        # 600 objects kept at the run's 350th input (of 2000): a path met for the first time
        result = self.leak(at=350, once=600)
        self.assertEqual(result.findings, [])
        marks = result.marks()
        self.assertGreater(marks[-1][1] - marks[0][1], fuzz.GROWTH_LIMIT)  # the difference
        self.assertLess(abs(result.growth), fuzz.GROWTH_LIMIT)  # the trend

    @cpython_only("CPython's type attribute cache")
    def test_names_the_type_cache_keeps_are_not_growth(self):
        # each of its 4096 entries keeps the last name looked up in it: names made at run
        # time (bms.lazy.drop() slices one) lived on there and grew the scenario decoder's
        # blocks over a long run
        before = fuzz.mem()
        names = ["name%d" % k for k in range(3000)]  # (an entry is picked by the address)
        for name in names:
            hasattr(self, name)
        del names
        self.assertLess(fuzz.mem() - before, 20)  # (without emptying it: about 500)

    def test_the_trend_of_readings(self):
        line = [(k, 1000 + k // 4) for k in range(500, 10001, 500)]
        self.assertEqual(fuzz.trend_growth(line), 2375)  # a leak: what it grew by
        early = [(k, 1000 + (k > 2000) * 900) for k in range(500, 10001, 500)]
        self.assertEqual(fuzz.trend_growth(early), 0)  # once, before a quarter of the run
        late = [(k, 1000 + (k > 8000) * 900) for k in range(500, 10001, 500)]
        self.assertEqual(fuzz.trend_growth(late), 1344)  # once, late: most of it counts
        self.assertEqual(fuzz.trend_growth([(500, 10), (501, 40)]), 30)
        self.assertEqual(fuzz.trend_growth([(500, 10), (900, 10), (1300, 12)]), 4)


# -- what the fuzzer found, fixed at the source ------------------------------------------------


class FoundTest(unittest.TestCase):
    def test_a_remote_frame_of_a_heartbeat_id_is_not_a_heartbeat(self):
        # inverter_link: a remote frame 0x305 (another node asking for it) marked the
        # inverter present, and a remote 0x301 started the Growatt set
        for protocol, can_id, ext in ((0, 0x305, False), (1, 0x301, False), (2, 0x310, True)):
            chip, drv = fuzz.can_chip_node()
            b, now = fuzz.settled_core()
            link = InverterLink(drv, None, protocol)
            link.start(now)
            self.assertTrue(link.start_can(now))
            chip.can_receive((can_id, ext, True, b""), 1000)
            link.poll(b, now + 10)
            self.assertEqual((link.heartbeats, link.rx_other), (0, 1))
            self.assertFalse(link.heard_ever())
            self.assertEqual(link._growatt, 0)
            chip.can_receive((can_id, ext, False, bytes(8)), 2000)
            link.poll(b, now + 20)
            self.assertEqual((link.heartbeats, link.rx_other), (1, 1))
            self.assertEqual(link.heard, now + 20)

    def test_a_service_request_to_a_link_without_an_app_is_another_frame(self):
        # inverter_link: a link built without an app (a rig's, a tool's) handed a service
        # request to the CAN service, which asked the missing app for its address
        from service import can as sc

        chip, drv = fuzz.can_chip_node()
        b, now = fuzz.settled_core()
        link = InverterLink(drv, None, 0)
        link.start(now)
        self.assertTrue(link.start_can(now))
        chip.can_receive((sc.can_id(sc.REQUEST, 1), True, False, bytes(8)), 1000)
        link.poll(b, now + 10)
        self.assertEqual((link.rx_other, link.service_can), (1, None))

    def test_an_empty_rs485_frame_does_not_hold_up_the_request_behind_it(self):
        # drivers/rs485: `~\r` returned 0 ("no frame"), so the link stopped reading and
        # the request after it in the same read waited for another poll
        from drivers.rs485 import Rs485

        uart = fuzz.FakeUart()
        port = Rs485(uart, fuzz.FakePin())
        uart.rx = b"~\r~20024642E00202FD33\r"
        self.assertEqual(port.poll(0), 18)
        self.assertEqual(bytes(port.frame[:18]), b"20024642E00202FD33")
        self.assertEqual((port.frames, port.garbage), (1, 1))
        self.assertEqual(port.poll(0), 0)

    def test_an_empty_rs485_frame_in_the_simulator(self):
        sim = make_sim(inverter="none")
        sim.run(5000)
        peer = sim.wire.port()
        app = sim.packs[0].app
        port = app.board.rs485
        garbage = port.garbage
        peer.write(b"~\r~20024642E00202FD33\r")
        sim.run(5500)
        n = peer.available()
        buf = bytearray(n)
        peer.read_into(buf, n)
        self.assertEqual(bytes(buf[:9]), b"~20024600")  # the 0x42 reply
        self.assertEqual((port.frames, port.garbage - garbage), (1, 1))
        self.assertEqual(app.link.server.not_frames, 0)

    def boot_on(self, state_text):
        sim = make_sim(inverter="none")
        pack = sim.packs[0]
        pack.power_off()
        pack.flash.files["state.json"] = bytearray(state_text)
        pack.power_on(machine.WDT_RESET)
        sim.run(sim.t_ms + 5000)
        return pack.app

    def test_a_state_file_with_values_of_the_wrong_type_is_dropped_key_by_key(self):
        # app: a state.json that parses but holds a float SOC, a null or a string stopped
        # every tick (a reset loop) or the boot itself
        text = b'{"boots": "7", "soc_q": 1.5, "soc_full": 360000000, "cycles": [1],'
        text += b' "no_full_s": null, "latched": 5}'
        app = self.boot_on(text)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.state["boots"], 1)  # counted anew
        self.assertTrue(app.sample.valid)
        self.assertEqual(app.bms.soc.cycles, 0)
        self.assertLess(app.bms.limits.no_full_s, 10)  # counted from this boot
        self.assertEqual(app.bms.engine.latched(), [])
        starts = [r[3] for r in logged(app.events, ev.SOC)]
        self.assertEqual(starts, [1])  # from the open-circuit voltage, not the stored count

    def test_a_state_file_with_numbers_out_of_range_is_dropped_too(self):
        text = b'{"boots": 18446744073709551616, "soc_q": -5, "soc_full": 360000000,'
        text += b' "cycles": 3}'
        app = self.boot_on(text)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.state["boots"], 1)
        self.assertEqual(app.bms.soc.cycles, 0)  # no stored count without soc_q

    def test_a_good_state_file_is_kept(self):
        text = b'{"boots": 7, "soc_q": 180000000, "soc_full": 360000000, "cycles": 12,'
        text += b' "no_full_s": 99, "latched": [15, 3]}'
        app = self.boot_on(text)
        self.assertEqual(app.exceptions, 0)
        self.assertEqual(app.state["boots"], 8)
        self.assertEqual(app.bms.soc.cycles, 12)
        self.assertEqual(app.bms.engine.latched(), [15, 3])

    def test_scenarios_nested_too_deep_or_not_text_are_refused_with_a_message(self):
        # boards/host/world/scenario: CPython's RecursionError and a UnicodeError on
        # reading escaped parse() and load() (tools/sim.py printed a traceback)
        depth = 100000
        with self.assertRaises(ScenarioError):
            parse("[" * depth + "]" * depth)
        path = ensure_build() + "/not_text.json"
        with open(path, "wb") as f:
            f.write(b'{"name": "\xff\xfe"}')
        with self.assertRaises(ScenarioError) as caught:
            load(path)
        self.assertIn("not UTF-8", str(caught.exception))

    def test_the_schneider_set_allocates_nothing(self):
        # protocols/schneider_can: 0x330-0x332 sliced the serial number at every send
        # (every 10 s); under MicroPython with the heap locked that raised MemoryError
        decoder = fuzz.CanRx(SEED)
        _p, chip, _drv, link = decoder.nodes[2]
        heartbeat = (2, [(0x310, True, False, bytes(8))], 400)
        for _ in range(30):  # warm-up: every frame of the set sent once (12 s)
            decoder.check(heartbeat)
        sent = link.can.sent
        fuzz._locking[0] = True
        try:
            for _ in range(30):  # and again, with the heap locked under MicroPython
                decoder.check(heartbeat)
        finally:
            fuzz._locking[0] = False
        self.assertGreater(link.can.sent - sent, 60)
        self.assertEqual(link.heartbeats, 60)


# -- hypothesis: its own inputs through the same checkers (CPython only) ----------------------


@cpython_only("hypothesis")
class HypothesisFuzzTest(unittest.TestCase):
    EXAMPLES = 150

    def prop(self, cls, strategy):
        from hypothesis import given, settings

        decoder = cls(SEED)

        @settings(max_examples=self.EXAMPLES, deadline=None, derandomize=True)
        @given(strategy)
        def check(inp):
            decoder.check(inp)

        check()

    def requests(self):
        from hypothesis import strategies as st

        body = st.builds(
            fuzz.pylon_body,
            st.sampled_from((0x20, 0x25, 0)) | st.integers(0, 255),
            st.sampled_from((2, 0, 3, 0xFF)) | st.integers(0, 255),
            st.just(0x46) | st.integers(0, 255),
            st.sampled_from(fuzz.KNOWN + (0x95,)) | st.integers(0, 255),
            st.binary(max_size=12),
            st.booleans(),
        )
        hexes = st.text(alphabet="0123456789ABCDEFabcdef", max_size=120).map(str.encode)
        refixed = st.tuples(body, st.integers(0, 40), st.binary(max_size=3)).map(
            lambda t: fuzz.refix(t[0][: t[1]] + t[2] + t[0][t[1] :])
        )
        return st.one_of(st.binary(max_size=120), hexes, body, refixed)

    def test_rs485_server(self):
        from hypothesis import strategies as st

        self.prop(fuzz.RsServer, st.tuples(self.requests(), st.booleans()))

    def test_rs485_stream(self):
        from hypothesis import strategies as st

        piece = st.one_of(
            self.requests().map(lambda r: b"~" + r + b"\r"),
            st.binary(max_size=30),
            st.sampled_from((b"~", b"\r", b"\r\n", b"~\r")),
        )
        stream = st.lists(piece, max_size=5).map(b"".join)
        gaps = st.sampled_from((0, 1, 50, 100, 101, 500))
        chunks = st.tuples(stream, st.lists(st.tuples(gaps, st.integers(1, 60)), min_size=1))

        def split(t):
            data, cuts = t
            out = []
            k = 0
            i = 0
            while k < len(data):
                gap, size = cuts[i % len(cuts)]
                out.append((gap, data[k : k + size]))
                k += size
                i += 1
            return out

        self.prop(fuzz.RsStream, st.tuples(chunks.map(split), st.booleans()))

    def test_can_rx(self):
        from hypothesis import strategies as st

        ids = st.sampled_from((0x305, 0x307, 0x301, 0x310, 0x321, 0x351)) | st.integers(0, 0x7FF)
        frame = st.tuples(ids, st.booleans(), st.booleans(), st.binary(max_size=8))
        self.prop(
            fuzz.CanRx,
            st.tuples(
                st.integers(0, 2), st.lists(frame, min_size=1, max_size=3), st.integers(1, 300)
            ),
        )

    def test_mcp2515_chip(self):
        from hypothesis import strategies as st

        self.prop(
            fuzz.Mcp2515Chip,
            st.tuples(
                st.sampled_from(("rx", "random", "glitch", "zeros", "ones", "oserror")),
                st.sampled_from(fuzz._OPS_CAN),
                st.binary(min_size=64, max_size=64),
                st.binary(min_size=13, max_size=13),
                st.integers(0, 3),
                st.integers(0, 1),
            ),
        )

    def test_bq76952_chip(self):
        from hypothesis import strategies as st

        self.prop(
            fuzz.Bq76952Chip,
            st.tuples(
                st.sampled_from(("random", "flip", "valid", "status", "once", "lost", "none")),
                st.sampled_from(fuzz.Bq76952Chip.OPS[11:]),
                st.binary(min_size=128, max_size=128),
                st.integers(0, 0xFFFF),
            ),
        )

    def test_store(self):
        from hypothesis import strategies as st

        names = st.sampled_from(("events0.bin", "events1.bin", "state.json"))
        state = st.dictionaries(
            st.sampled_from(("boots", "soc_q", "soc_full", "cycles", "no_full_s", "latched")),
            st.none() | st.integers() | st.floats() | st.text() | st.lists(st.integers()),
        ).map(lambda d: json.dumps(d).encode())
        content = st.binary(max_size=200) | state
        files = st.dictionaries(names, content)
        decoder = fuzz.StoreLoad(SEED)
        from hypothesis import given, settings

        @settings(max_examples=self.EXAMPLES, deadline=None, derandomize=True)
        @given(files, st.integers(0, 15))
        def check(files, boot):
            decoder.check((files, boot == 0))

        check()

    def test_config(self):
        from hypothesis import strategies as st

        from bms.config import KEYS

        keys = st.sampled_from(KEYS) | st.text(max_size=12)
        values = st.integers(-(10**7), 10**7) | st.none() | st.booleans() | st.floats() | st.text()
        self.prop(fuzz.ConfigLoad, st.dictionaries(keys, values, max_size=6))

    @long_run
    def test_scenario(self):
        from hypothesis import strategies as st

        from boards.host.world.scenario import EVENT_KEYS

        scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
        node = st.recursive(
            scalar,
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner)
            ),
            max_leaves=8,
        )
        event = st.fixed_dictionaries(
            {"at_s": st.floats(0, 100) | st.integers(-1, 10)},
            optional={key: node for key in EVENT_KEYS[1:] + ("bogus",)},
        )
        top = st.fixed_dictionaries(
            {},
            optional={
                "packs": st.integers(0, 40),
                "dip": st.text(alphabet="01x", max_size=8),
                "inverter": st.sampled_from(("can", "none", "rs485", "x")),
                "duration_s": node,
                "initial": st.dictionaries(st.sampled_from(("soc_pct", "temp_c", "x")), node),
                "events": st.lists(event, max_size=3),
                "config": st.dictionaries(st.sampled_from(("covp_trip_mv", "tick_ms")), node),
            },
        )
        text = top.map(json.dumps) | st.text(max_size=60)
        self.prop(fuzz.ScenarioParse, st.tuples(text, st.booleans()))


if __name__ == "__main__":
    unittest.main()
