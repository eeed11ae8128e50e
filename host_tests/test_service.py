"""The service link on RS485 port 1 (firmware/service/): every request and its reply to
the byte, malformed frames, writes without and with the physical unlock, config refused
and applied at the next start, the event log paged and cleared; through the host tool's
client (tools/bmsctl_client.py) on the simulator's wire, in simulated time."""

import unittest

import fwconst
from bmsctl_client import Client, ServiceError, SimTransport
from service import frame as fr
from support import cpython_only, logged, long_run, make_sim

from bms import button as btn
from bms import events as ev
from bms import panel as pnl
from bms import protect as pr
from bms.config import KEYS, Config

button_consts = fwconst.of("bms.button")


def crc_ok(raw):
    return fr.valid(bytearray(raw), len(raw))


class Rig:
    """A pack in the simulator with a client on its RS485 port 1."""

    def __init__(self, **keys):
        keys.setdefault("inverter", "none")
        self.sim = make_sim(**keys)
        self.sim.run(5000)
        self.t = SimTransport(self.sim)
        self.client = Client(self.t, timeout_s=0.5, retries=0)
        self.pack = self.sim.packs[0]

    @property
    def app(self):
        return self.pack.app

    def raw(self, frame, wait_ms=300):
        """Send raw bytes; what came back within wait_ms."""
        self.t.write(frame)
        return self.t.read(wait_ms / 1000)

    def press(self, ms=200):
        self.pack.press_button(True)
        self.sim.run(self.sim.t_ms + ms)
        self.pack.press_button(False)
        self.sim.run(self.sim.t_ms + 200)

    def unlock(self):
        self.press()
        self.press()


class FrameTest(unittest.TestCase):
    def test_crc_and_layout(self):
        # CRC-16/CCITT-FALSE check value: "123456789" -> 0x29B1
        self.assertEqual(fr.crc16(b"123456789", 0, 9), 0x29B1)
        self.assertEqual(fr.encode(1, fr.CELLS), b"\xc5\x01\x03\x00\xe9\x42")
        raw = fr.encode(0xFF, fr.VERSION, b"\x00\x00")
        self.assertEqual(raw[:6], b"\xc5\xff\x01\x02\x00\x00")
        self.assertTrue(crc_ok(raw))
        self.assertFalse(crc_ok(raw[:-1] + bytes((raw[-1] ^ 1,))))
        self.assertFalse(crc_ok(raw + b"\x00"))  # the length says otherwise
        self.assertEqual(fr.get32(b"\xff\xff\xff\xfe", 0), -2)


class ReadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rig = Rig()

    def test_cells_reply_exact(self):
        rig = self.rig
        # every cell held at its own value (the front end's readings, without their noise)
        over = rig.pack.chip.cell_override
        want = [3281 + 3 * k for k in range(16)]
        try:
            for k in range(16):
                over[k] = want[k]
            rig.sim.run(rig.sim.t_ms + 300)
            raw = rig.raw(fr.encode(1, fr.CELLS))
            got = rig.client.cells(1)
        finally:
            for k in range(16):
                over[k] = None
        # OK, valid, 16 cells big-endian, exact; the CRC over it all
        body = bytes([0x00, 0x01]) + b"".join(bytes((c >> 8, c & 0xFF)) for c in want)
        self.assertEqual(raw, fr.encode(1, fr.CELLS | fr.REPLY, body))
        self.assertEqual(raw[:6], b"\xc5\x01\x83\x22\x00\x01")
        self.assertTrue(crc_ok(raw))
        self.assertEqual((got["cells_mv"], got["valid"]), (want, True))

    def test_version_page_exact(self):
        raw = self.rig.raw(fr.encode(1, fr.VERSION, b"\x00\x00"))
        doc = (
            b'{"version": "0.11.0", "build": "dev", "board": "host", "address": 1,'
            b' "serial": "E6614104032B1A01", "trial": 0}'
        )
        body = b"\x00" + bytes((0, len(doc), 0, 0)) + doc
        # the key order of a JSON object is the runtime's: compare it decoded
        self.assertEqual(raw[:9], fr.encode(1, 0x81, body)[:9])
        self.assertEqual(len(raw), len(doc) + 11)
        self.assertTrue(crc_ok(raw))
        v = self.rig.client.version(1)
        self.assertEqual(
            (v["version"], v["build"], v["board"], v["trial"]), ("0.11.0", "dev", "host", 0)
        )
        self.assertEqual(v["serial"], "E6614104032B1A01")  # Pylon 0x93's, the board's id

    def test_status_paged_has_the_trace_keys(self):
        st = self.rig.client.status(1)
        for key in ("mode", "cells_mv", "pack_mv", "current_ma", "temps_dc", "fets", "relays"):
            self.assertIn(key, st)
        for key in ("leds", "protections", "warnings", "limits", "inputs", "balancing"):
            self.assertIn(key, st)
        self.assertEqual(st["mode"], "standby")
        self.assertEqual(len(st["cells_mv"]), 16)
        self.assertFalse(st["unlocked"])
        raw = self.rig.raw(fr.encode(1, fr.STATUS, b"\x00\x00"))
        self.assertEqual(raw[3], fr.MAX_PAYLOAD)  # more than one page
        total = raw[5] << 8 | raw[6]
        self.assertGreater(total, fr.MAX_PAYLOAD - 5)
        # a page beyond the end
        far = fr.encode(1, fr.STATUS, bytes(((total + 1) >> 8, (total + 1) & 0xFF)))
        self.assertEqual(self.rig.raw(far), fr.encode(1, fr.STATUS | fr.REPLY, b"\x05"))

    def test_config_rows(self):
        rows = self.rig.client.config(1)
        self.assertEqual([r["key"] for r in rows], list(KEYS))
        row = rows[KEYS.index("covp_trip_mv")]
        want = {"value": 3600, "unit": "mV", "default": 3600, "min": 3300, "max": 3600}
        self.assertEqual({k: row[k] for k in want}, want)
        self.assertEqual(rows[KEYS.index("chtp_trip_dc")]["unit"], "0.1C")
        self.assertEqual(rows[KEYS.index("tick_ms")]["unit"], "ms")
        raw = self.rig.raw(fr.encode(1, fr.CONFIG, bytes((len(KEYS),))))
        self.assertEqual(raw, fr.encode(1, fr.CONFIG | fr.REPLY, b"\x05"))

    def test_config_first_row_exact(self):
        raw = self.rig.raw(fr.encode(1, fr.CONFIG, b"\x00"))
        head = bytes((0, len(KEYS), 0))
        row = b"\x0ccapacity_mah" + bytes.fromhex("000186a0000186a0000027100003d090") + b"\x03mAh"
        self.assertEqual(raw[4:7], head)
        self.assertEqual(raw[8 : 8 + len(row)], row)
        # the page's row count: the rows that follow, each name, four values and unit
        k = 8
        rows = 0
        while k < len(raw) - 2:
            k += 1 + raw[k] + 16
            k += 1 + raw[k]
            rows += 1
        self.assertEqual(k, len(raw) - 2)
        self.assertEqual(raw[7], rows)
        self.assertGreater(rows, 1)

    def test_events_paged_from_a_sequence_number(self):
        rig = self.rig
        log = rig.app.events
        records, nxt, clock = rig.client.all_events(1)
        self.assertEqual(nxt, log.next_seq)
        self.assertEqual(clock, (0, 0))
        self.assertEqual([r[0] for r in records], list(range(log.oldest_seq(), log.next_seq)))
        self.assertEqual(records[0], log.get(records[0][0]))
        got, nxt2, _c = rig.client.events(1, since=nxt - 1)
        self.assertEqual(got, [log.get(nxt - 1)])
        raw = rig.raw(fr.encode(1, fr.EVENTS, bytes((0, 0, 0, 0))))
        self.assertEqual(raw[3], 17 + 18 * min(12, log.next_seq) + 1)
        self.assertEqual(raw[4:9], b"\x00\x00\x00\x00\x00")  # OK, oldest 0

    def test_counters(self):
        self.rig.app.link.server.bad_chksum = 7  # broken RS485 frames, ours or not
        self.rig.app.dip_changes = 9  # (app_chips.dip_changed: the first four logged)
        c = self.rig.client.counters(1)
        self.assertEqual(c["pylon"]["bad_chksum"], 7)
        self.assertEqual(c["dip_changes"], 9)
        self.assertEqual(c["exceptions"], 0)
        self.assertGreater(c["service"]["requests"], 0)
        self.assertIn("rs485", c)
        # the heap's refusals (1 KB parts of the system answer; the system's table)
        self.assertEqual(c["pylon"]["no_room"], self.rig.app.link.server.no_room)
        pk = self.rig.app.link.packlink  # (every pack has its pack link)
        self.assertEqual(c["packlink"], {"bad_frames": pk.bad_frames, "no_room": 0})

    def test_the_can_receive_counters_in_counters_and_the_trace(self):
        can = self.rig.app.board.can
        keys = ("rx_overflows", "rx_ring_dropped", "irq_errors", "rx_garbled")
        saved = [getattr(can, k) for k in keys]
        try:
            for i, k in enumerate(keys):
                setattr(can, k, 3 + i)
            want = {"rx_overflows": 3, "rx_ring_dropped": 4, "irq_errors": 5, "rx_garbled": 6}
            c = self.rig.client.counters(1)["can"]
            self.assertEqual({k: c[k] for k in want}, want)
            self.assertEqual(c["received"], can.received)
            self.assertEqual((c["bus_off"], c["tec"]), (can.bus_off, can.tec))  # as before
            rec = self.rig.sim.record(self.rig.pack)
            want["received"] = can.received
            self.assertEqual(rec["can_rx"], want)
        finally:
            for k, v in zip(keys, saved):
                setattr(can, k, v)


class MalformedTest(unittest.TestCase):
    def test_bad_frames_dropped_and_counted(self):
        rig = Rig()
        good = fr.encode(1, fr.CELLS)
        cases = (
            good[:-1] + bytes((good[-1] ^ 0xFF,)),  # CRC
            b"\xc5\x01\x03",  # cut short: the gap ends it
            b"\xc5\x01\x03\xfb" + bytes(10),  # a length beyond the buffer
            fr.encode(2, fr.CELLS),  # another pack: relayed on CAN (nobody answers there)
            fr.encode(fr.ALL, fr.CELLS),  # everyone: done, not answered
        )
        for raw in cases:
            self.assertEqual(rig.raw(raw, 400), b"")
        svc = rig.app.link.service
        port = rig.app.board.rs485
        self.assertEqual((svc.bad_frames, svc.not_ours, port.overlong), (1, 0, 1))
        self.assertEqual(rig.app.link.service_can.relay_from, 2)
        self.assertGreaterEqual(port.timeouts, 1)
        self.assertEqual(rig.app.exceptions, 0)
        # the pack answers as before
        self.assertEqual(rig.raw(good)[:5], b"\xc5\x01\x83\x22\x00")

    def test_error_replies(self):
        rig = Rig()
        cases = (
            (fr.encode(1, 0x7F), b"\x01"),  # unknown command
            (fr.encode(1, fr.CELLS, b"\x00"), b"\x02"),  # payload where none goes
            (fr.encode(1, fr.EVENTS, b"\x00"), b"\x02"),
            (fr.encode(1, fr.STATUS), b"\x02"),
            (fr.encode(1, fr.CONFIG, b""), b"\x02"),
        )
        for raw, status in cases:
            self.assertEqual(rig.raw(raw), fr.encode(1, raw[2] | fr.REPLY, status))
        self.assertEqual(rig.app.link.service.errors, len(cases))

    def test_a_request_that_raises_is_answered_not_a_fault(self):
        rig = Rig()
        rig.client.version(1)  # the service is loaded
        svc = rig.app.link.service

        def broken():
            raise KeyError("x")

        svc._cells = broken
        raw = rig.raw(fr.encode(1, fr.CELLS))
        self.assertEqual(
            raw, fr.encode(1, fr.CELLS | fr.REPLY, b"\x0bKeyError('x',)"[:1] + raw[5:-2])
        )
        self.assertIn(b"KeyError", raw)
        self.assertEqual((svc.failures, rig.app.exceptions), (1, 0))
        rig.sim.run(rig.sim.t_ms + 1000)
        self.assertTrue(rig.app.bms.dsg)  # the pack carries on

    def test_a_config_key_that_is_not_text_is_malformed(self):
        # (its name's bytes ff fe raised UnicodeDecodeError: ERR_INTERNAL, a failure)
        rig = Rig()
        rig.unlock()
        for name in (b"\xff\xfe", b"covp_trip_m\xc3"):
            payload = bytes((len(name),)) + name + b"\x00\x00\x0e\x10"
            raw = rig.raw(fr.encode(1, fr.SET_CONFIG, payload))
            self.assertEqual(raw, fr.encode(1, fr.SET_CONFIG | fr.REPLY, b"\x02"))
        svc = rig.app.link.service
        self.assertEqual((svc.failures, svc.errors), (0, 2))
        self.assertEqual(rig.pack.flash.files.get("config.json"), None)

    def test_pylon_still_answers_beside_the_service(self):
        rig = Rig(inverter="none")
        ask = b"~20024642E00202FD33\r"
        reply = rig.raw(ask)
        self.assertEqual(reply[:9], b"~20024600")
        self.assertEqual(rig.client.cells(1)["valid"], True)
        self.assertEqual(rig.raw(ask)[:9], b"~20024600")


@cpython_only("hypothesis")
class MalformedPropertyTest(unittest.TestCase):
    def test_any_bytes_never_crash(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st
        from service.server import Server

        rig = Rig()
        server = Server(rig.app, 1)

        @settings(max_examples=300, deadline=None)
        @given(st.binary(min_size=0, max_size=260), st.booleans())
        def check(data, fix):
            buf = bytearray(data)
            if fix and len(buf) >= fr.OVERHEAD:
                buf[0] = fr.START
                buf[1] = 1
                buf[2] &= 0x1F  # a known command more often
                buf[3] = len(buf) - fr.OVERHEAD if len(buf) - fr.OVERHEAD < 256 else 0
                n = buf[3] + fr.OVERHEAD
                buf = buf[:n]
                fr.seal(buf, 1, buf[2], buf[3])
            n = server.handle(buf, len(buf), rig.sim.clock.ticks_ms())
            if n:
                out = server.out
                self.assertTrue(fr.valid(out, n))
                self.assertEqual(out[2], buf[2] | fr.REPLY)
                if buf[2] >= fr.SET_CONFIG and buf[2] <= fr.RESTART:
                    self.assertEqual(out[4], fr.ERR_LOCKED)  # never unlocked here

        check()
        self.assertEqual(rig.app.exceptions, 0)


class UnlockTest(unittest.TestCase):
    def test_button_gesture(self):
        cfg = Config()  # RESET from 150 ms, sleep from 3 s, the pair within 2 s
        self.assertEqual(
            (cfg.button_min_ms, cfg.button_sleep_ms, cfg.button_unlock_ms), (150, 3000, 2000)
        )
        b = btn.Button(cfg)
        b.step(False, 0)  # up when first sampled (a press down then counts for nothing)

        def press(t0, t1):
            """Pressed at t0 and at the next tick's sample, released at t1 (and at the next
            tick's sample: the press ends there)."""
            got = [b.step(True, t0), b.step(True, t0 + 100), b.step(False, t1)]
            return [got[0], b.step(False, t1 + 100)]

        # two presses, the second released 2000 ms after the first began: UNLOCK
        self.assertEqual(press(0, 200), [btn.NONE, btn.RESET])
        self.assertEqual(press(1500, 2000), [btn.NONE, btn.UNLOCK])
        # a third press is a RESET again, and starts a new pair
        self.assertEqual(press(2100, 2300), [btn.NONE, btn.RESET])
        # released 2001 ms after the first began: too late, a RESET that starts a pair
        self.assertEqual(press(3000, 4101), [btn.NONE, btn.RESET])
        self.assertEqual(press(4300, 4500), [btn.NONE, btn.UNLOCK])
        # a sleep press between ends the pair
        self.assertEqual(press(10300, 13300)[1], button_consts.SLEEP_WAKE)
        self.assertEqual(press(13400, 13600)[1], btn.RESET)
        # a bounce (one sample, however long) does not count as a press
        b = btn.Button(cfg)
        b.step(False, 0)
        b.step(True, 0)
        self.assertEqual(b.step(False, 200), btn.NONE)
        self.assertEqual(press(300, 500)[1], btn.RESET)
        b.step(False, 2400)  # idle ticks: the pair's window passes
        self.assertEqual(press(2350, 2550)[1], btn.RESET)

    @long_run
    def test_writes_need_the_unlock_which_lasts_10_minutes(self):
        rig = Rig()
        c = rig.client
        with self.assertRaises(ServiceError) as e:
            c.set_config(1, "covp_trip_mv", 3590)
        self.assertEqual(e.exception.status, fr.ERR_LOCKED)
        for cmd in (fr.SET_CONFIG, fr.CLEAR_EVENTS, fr.SET_CLOCK, fr.RESTART):
            raw = rig.raw(fr.encode(1, cmd))
            self.assertEqual(raw, fr.encode(1, cmd | fr.REPLY, b"\x03"))
        self.assertEqual(rig.app.link.service.refused, 5)
        # one press: a RESET, still locked
        rig.press()
        self.assertFalse(rig.app.bms.unlocked)
        self.assertEqual(logged(rig.app.events, ev.RESET)[-1][3], btn.RESET)
        rig.press()
        b = rig.app.bms
        self.assertTrue(b.unlocked)
        self.assertEqual(logged(rig.app.events, ev.RESET)[-1][3], btn.UNLOCK)
        self.assertEqual(b.panel.pattern[pnl.MS], pnl.FLASH2)
        self.assertTrue(c.status(1)["unlocked"])
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3590), 1)
        # valid for unlock_valid_ms from the gesture, then locked again
        at = b.unlock_at
        rig.sim.run(rig.sim.t_ms + 600000 - (rig.sim.t_ms - at) - 500)
        self.assertTrue(b.unlock_valid(rig.sim.clock.ticks_ms()))
        rig.sim.run(rig.sim.t_ms + 600)
        self.assertFalse(b.unlocked)
        self.assertEqual(b.panel.pattern[pnl.MS], pnl.OFF)
        with self.assertRaises(ServiceError):
            c.set_config(1, "covp_trip_mv", 3595)

    def test_lock_ends_the_unlock(self):
        rig = Rig()
        rig.unlock()
        rig.client.lock(1)
        self.assertFalse(rig.app.bms.unlocked)
        rig.sim.run(rig.sim.t_ms + 200)
        self.assertEqual(rig.app.bms.panel.pattern[pnl.MS], pnl.OFF)


class WriteTest(unittest.TestCase):
    def test_config_refused_with_key_and_range(self):
        rig = Rig()
        rig.unlock()
        c = rig.client
        for key, value, text in (
            ("covp_trip_mv", 3601, "covp_trip_mv = 3601 is outside the allowed range 3300..3600"),
            ("covp_trip_mv", 3299, "covp_trip_mv = 3299 is outside the allowed range 3300..3600"),
            ("no_such_key", 1, "unknown config key 'no_such_key'"),
            ("covp_release_mv", 3600, "covp_release_mv = 3600 must be < covp_trip_mv = 3600"),
        ):
            with self.assertRaises(ServiceError) as e:
                c.set_config(1, key, value)
            self.assertEqual(e.exception.status, fr.ERR_CONFIG)
            self.assertIn(text, str(e.exception))
        self.assertEqual(rig.pack.flash.files.get("config.json"), None)
        # the top of the range is taken, and one inside the rules
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3600), 1)
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3590), 2)

    def test_a_value_beyond_32_bits_is_refused_by_the_client(self):
        # (the frame's 4 bytes took it modulo 2**32: 4294970596 stored as 3300)
        rig = Rig()
        rig.unlock()
        c = rig.client
        rig.client.version(1)  # (the service modules load at the first frame)
        asked = rig.app.link.service.requests
        for value in ((1 << 32) + 3300, 1 << 31, -(1 << 31) - 1):
            with self.assertRaises(ServiceError) as e:
                c.set_config(1, "covp_release_mv", value)
            self.assertEqual(
                str(e.exception),
                "config refused: covp_release_mv: %d is not a 32-bit value "
                "(-2147483648..2147483647)" % value,
            )
            self.assertIsNone(e.exception.status)
        self.assertEqual(rig.app.link.service.requests, asked)  # nothing sent
        for value in ((1 << 31) - 1, -(1 << 31)):  # sent: the key's range refuses them
            with self.assertRaises(ServiceError) as e:
                c.set_config(1, "covp_release_mv", value)
            self.assertEqual(e.exception.status, fr.ERR_CONFIG)
        self.assertEqual(rig.app.link.service.requests, asked + 2)
        self.assertEqual(rig.pack.flash.files.get("config.json"), None)

    def test_config_stored_then_applied_at_restart(self):
        rig = Rig()
        rig.unlock()
        c = rig.client
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3590), 1)
        self.assertEqual(c.set_config(1, "cocp_warn_ma", 50000), 2)
        stored = rig.app.store.load_config()
        self.assertEqual(
            stored, {"rev": 2, "values": {"covp_trip_mv": 3590, "cocp_warn_ma": 50000}}
        )
        # not applied mid-run
        self.assertEqual(rig.app.cfg.covp_trip_mv, 3600)
        self.assertEqual(logged(rig.app.events, ev.CONFIG, ev.CONFIG_SERVICE)[-1][4], 50000)
        old = rig.app
        c.restart(1)
        rig.sim.run(rig.sim.t_ms + 2500)  # the inverter told first (service/restart.py)
        self.assertIs(rig.app, old)
        rig.sim.run(rig.sim.t_ms + 1000)
        self.assertIsNot(rig.app, old)
        self.assertEqual(rig.pack.reboots, 1)
        self.assertEqual(rig.app.cfg.covp_trip_mv, 3590)
        self.assertEqual(rig.app.cfg.cocp_warn_ma, 50000)
        rows = {r["key"]: r for r in c.config(1)}
        self.assertEqual(rows["covp_trip_mv"]["value"], 3590)
        self.assertEqual(rows["covp_trip_mv"]["default"], 3600)
        # a corrupt stored config is left out (logged): the defaults protect
        data = rig.pack.flash.files["config.json"]
        data[-3] ^= 0x01
        rig.pack.power_off()
        rig.pack.power_on()
        self.assertEqual(rig.app.cfg.covp_trip_mv, 3600)
        self.assertEqual(logged(rig.app.events, ev.CONFIG, 1)[-1][4], -1)

    def test_config_checked_over_the_boards_own(self):
        # the board's config.json (its overrides) is part of the next start's config: a
        # write is checked over it, not over the defaults alone (checked so, 2900 was
        # taken, and at the start the set broke a rule: every override and value lost)
        board = {"cuvp_trip_mv": 3000, "cuvp_warn_mv": 3100, "cuvp_release_mv": 3200}
        rig = Rig(config=board)
        rig.unlock()
        c = rig.client
        with self.assertRaises(ServiceError) as e:
            c.set_config(1, "cuvp_warn_mv", 3000)
        self.assertEqual(e.exception.status, fr.ERR_CONFIG)
        self.assertIn("cuvp_warn_mv = 3000 must be > cuvp_trip_mv = 3000", str(e.exception))
        self.assertEqual(c.set_config(1, "cuvp_warn_mv", 3001), 1)
        c.restart(1)
        rig.sim.run(rig.sim.t_ms + 4000)
        self.assertEqual(rig.pack.reboots, 1)
        cfg = rig.app.cfg
        self.assertEqual(
            (cfg.cuvp_trip_mv, cfg.cuvp_warn_mv, cfg.cuvp_release_mv), (3000, 3001, 3200)
        )

    def test_values_stored_that_no_longer_agree_with_the_board(self):
        # the board's config.json changed since the values were written: the start takes
        # the board's overrides alone (and says so), not the defaults
        rig = Rig()
        rig.unlock()
        self.assertEqual(rig.client.set_config(1, "cuvp_warn_mv", 2900), 1)
        rig.pack.power_off()
        board = {"cuvp_trip_mv": 3000, "cuvp_warn_mv": 3100, "cuvp_release_mv": 3200}
        rig.pack.config = board
        rig.pack.power_on()
        cfg = rig.app.cfg
        self.assertEqual(
            (cfg.cuvp_trip_mv, cfg.cuvp_warn_mv, cfg.cuvp_release_mv), (3000, 3100, 3200)
        )
        # refused: the merged three (the stored 2900 over the board's 3100; each key
        # taken alone, none to drop); taken: the board's three
        told = [r[3:5] for r in logged(rig.app.events, ev.CONFIG) if r[3] in (0, 1)]
        self.assertEqual(told[-2:], [(1, 3), (0, 3)])

    def test_a_stored_config_that_cannot_be_read_is_written_anew(self):
        rig = Rig()
        rig.unlock()
        c = rig.client
        self.assertEqual(c.set_config(1, "covp_trip_mv", 3590), 1)
        rig.pack.flash.files["config.json"][-3] ^= 0x01
        # the boot leaves it out; a write no longer fails on it (every write did, with
        # the pack's internal error: no config could be written again)
        self.assertEqual(c.set_config(1, "cocp_warn_ma", 50000), 1)
        self.assertEqual(
            rig.app.store.load_config(), {"rev": 1, "values": {"cocp_warn_ma": 50000}}
        )
        c.restart(1)
        rig.sim.run(rig.sim.t_ms + 4000)
        self.assertEqual((rig.app.cfg.cocp_warn_ma, rig.app.cfg.covp_trip_mv), (50000, 3600))

    def test_a_restart_writes_the_records_not_yet_on_flash(self):
        # a routine record (a mode) waits up to a minute for its write; a clean restart
        # (over the link, or RESET held 5 s) writes it first: it was lost, its number
        # skipped at the next boot
        from drivers.store import Store
        from drivers.store_load import read_file

        for how in ("link", "button"):
            rig = Rig()
            rig.unlock()
            rig.sim.run(rig.sim.t_ms + 3000)  # the unlock's record is written (urgent)
            app = rig.app
            rig.sim.apply({"current_a": -20})
            rig.sim.run(rig.sim.t_ms + 5000)
            mode = logged(app.events, ev.MODE)[-1]
            self.assertGreaterEqual(mode[0], app.store.flushed_seq, how)  # not yet written
            if how == "link":
                rig.client.restart(1)
                rig.sim.run(rig.sim.t_ms + 4000)
            else:
                rig.press(6500)
            self.assertIsNot(rig.app, app, how)
            store = Store(rig.pack.flash)
            on_flash = read_file(store, 0) + read_file(store, 1)
            self.assertIn(mode, [tuple(r) for r in on_flash], how)
            self.assertEqual(rig.app.events.get(mode[0]), mode, how)

    def test_no_restart_or_arm_to_every_pack_at_once(self):
        # every pack of a bank restarting together is all of its current gone at once:
        # refused (counted; a request to every pack has no reply), one pack at a time is
        # bmsctl --all's way
        rig = Rig()
        rig.unlock()
        rig.client.version(1)  # (the service modules load at the first frame)
        for cmd, payload in ((fr.RESTART, b""), (fr.UPDATE_ARM, b"\x00\x01")):
            before = rig.app.link.service.refused
            self.assertEqual(rig.raw(fr.encode(fr.ALL, cmd, payload)), b"")
            self.assertEqual(rig.app.link.service.refused, before + 1)
        rig.sim.run(rig.sim.t_ms + 5000)
        self.assertEqual(rig.pack.reboots, 0)
        self.assertEqual(rig.client.counters(1)["service"]["refused"], 2)
        rig.client.restart(1)  # to the pack itself: taken
        rig.sim.run(rig.sim.t_ms + 4000)
        self.assertEqual(rig.pack.reboots, 1)

    def test_no_restart_or_arm_while_a_protection_is_pending_or_tripped(self):
        # a restart keeps only the LATCHED and LOCKED rows: it released a CHTP trip at
        # 48 C and a DOCP trip before its 60 s, so a row on its way to a trip or not
        # released yet refuses RESTART and UPDATE_ARM; a warning (no FET action) does not
        rig = Rig()
        rig.unlock()
        rig.client.version(1)  # (the service modules load at the first frame)
        app = rig.app
        svc = app.link.service
        eng = app.bms.engine
        now = rig.pack.ticks.ticks_ms()
        row = [i for i in range(eng.n) if eng.action[i]][0]
        warning = [i for i in range(eng.n) if not eng.action[i]][0]
        kept = bytes(eng.state)
        self.assertEqual(kept, bytes(eng.n))  # (every row idle)
        refusal = b"\x0aa protection is pending or tripped"
        for i, st, refused in (
            (row, pr.IDLE, False),
            (row, pr.PENDING, True),
            (row, pr.TRIPPED, True),
            (row, pr.LATCHED, False),
            (row, pr.LOCKED, False),
            (warning, pr.PENDING, False),
            (warning, pr.TRIPPED, False),
        ):
            eng.state[i] = st
            for cmd, payload in ((fr.RESTART, b""), (fr.UPDATE_ARM, b"\x00\x01")):
                before = svc.refused
                f = bytearray(fr.encode(1, cmd, payload))
                n = svc.handle(f, len(f), now)
                reply = bytes(svc.out[fr.HEAD : n - 2])
                self.assertEqual(reply == refusal, refused, (i, st, cmd, reply))
                self.assertEqual(svc.refused, before + (1 if refused else 0))
                # taken: a restart follows; ARM: nothing staged, its own "not now"
                self.assertEqual(svc.restart_due, cmd == fr.RESTART and not refused)
                if cmd == fr.UPDATE_ARM and not refused:
                    self.assertEqual(reply, b"\x0athe transfer is not complete")
                svc.restart_due = False
            eng.state[i] = kept[i]
        self.assertIsNone(app.link.notice)
        self.assertEqual(rig.pack.reboots, 0)

    def test_clear_events_and_clock(self):
        rig = Rig()
        rig.unlock()
        c = rig.client
        log = rig.app.events
        before = log.next_seq
        c.set_clock(1, 1767225600)
        c.clear_events(1)
        records, nxt, clock = c.all_events(1)
        self.assertEqual(clock[0], 1767225600)
        self.assertEqual([r[2:5] for r in records], [(ev.CONFIG, ev.CONFIG_CLEARED, before - 1)])
        self.assertEqual(records[0][0], before)
        # and on flash: a reboot does not bring them back
        rig.sim.run(rig.sim.t_ms + 2000)
        rig.pack.power_off()
        rig.pack.power_on()
        seqs = [log2[0] for log2 in c.all_events(1)[0]]
        self.assertEqual(seqs[0], before)


if __name__ == "__main__":
    unittest.main()
