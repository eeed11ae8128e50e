"""tools/bms_id0.dbc, tools/monitor*.py and tools/victron_check.py: the protocol cross-check.

Every expected value here comes from ../shared/spec/protocols.md (worked examples, real
frames, test vectors) or from a third-party decoder (the public Pylon DBC, the
python-pylontech client), never from firmware/protocols/. CPython only: cantools,
hypothesis, python-can, pyserial and rich do not exist under MicroPython.
"""

import io
import unittest

from support import BUILD, ROOT, cpython_only, ensure_build

DBC = ROOT + "/tools/bms_id0.dbc"
PLEWKA_DBC = ROOT + "/../shared/ref/pylontech-plewka.dbc"

# the signals both DBCs carry: (id, ours, theirs)
SHARED_SIGNALS = (
    (0x351, "Charge_Voltage_Limit", "Battery_Charge_Voltage"),
    (0x351, "Charge_Current_Limit", "Charge_Current_Limitation"),
    (0x351, "Discharge_Current_Limit", "Discharge_Current_Limitation"),
    (0x355, "SOC", "SOC"),
    (0x355, "SOH", "SOH"),
    (0x356, "Battery_Voltage", "Battery_Voltage"),
    (0x356, "Battery_Current", "Battery_Current"),
    (0x356, "Battery_Temperature", "Battery_Temperature"),
    (0x359, "Protection_Over_Voltage", "Alarm_Over_Voltage"),
    (0x359, "Protection_Under_Voltage", "Alarm_Under_Voltage"),
    (0x359, "Protection_Over_Temp", "Alarm_Over_Temperature"),
    (0x359, "Protection_Under_Temp", "Alarm_Under_Temperature"),
    (0x359, "Protection_Discharge_Over_Current", "Alarm_Over_Current_Discharge"),
    (0x359, "Protection_Charge_Over_Current", "Alarm_Over_Current_Charge"),
    (0x359, "Protection_System_Error", "Alarm_Internal"),
    (0x359, "Warning_High_Voltage", "Warn_High_Voltage"),
    (0x359, "Warning_Low_Voltage", "Warn_Low_Voltage"),
    (0x359, "Warning_High_Temp", "Warn_High_Temperature"),
    (0x359, "Warning_Low_Temp", "Warn_Low_Temperature"),
    (0x359, "Warning_Discharge_High_Current", "Warn_High_Current_Discharge"),
    (0x359, "Warning_Charge_High_Current", "Warn_High_Current_Charge"),
    (0x359, "Warning_Internal_Comm_Fail", "Warn_Internal"),
    (0x359, "Module_Count", "Pack_Nr"),
    (0x35C, "Charge_Enable", "Charge_Enable"),
    (0x35C, "Discharge_Enable", "Discharge_Enable"),
    (0x35C, "Force_Charge_I", "Charge_Immediately"),
)

# python-pylontech's 0x92 test vector (protocols.md 4.4)
PYLIB_92_REPLY = b"~20024600B014026EF05AA0022BFDD5C0F915\r"


def load_dbc(path):
    import cantools

    return cantools.database.load_file(path, strict=True)


def write(name, data):
    ensure_build()
    path = BUILD + "/" + name
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def run_main(module, *argv):
    out = io.StringIO()
    rc = module.main(list(argv), out)
    return rc, out.getvalue()


def frame_line(t, can_id, data):
    return "(%.6f) can0 %03X#%s" % (t, can_id, data.hex().upper())


ID0_FRAMES = {
    0x351: bytes.fromhex("3802E803E803C001"),
    0x355: bytes.fromhex("51006400A51F0000"),
    0x356: bytes.fromhex("C01483FFFA000000"),
    0x359: bytes.fromhex("00000000 01504E00".replace(" ", "")),
    0x35A: bytes.fromhex("AAAAAAAAAAAAAAAA"),
    0x35C: bytes.fromhex("C000000000000000"),
    0x35E: b"PYLON   ",
    0x35F: bytes.fromhex("4C49010064000100"),
    0x372: bytes.fromhex("0100000000000000"),
    0x373: bytes.fromhex("E50CF10C2A012C01"),
    0x379: bytes.fromhex("6400000000000000"),
}


def good_log(seconds=10, drop=(), change=None):
    """The ID0 set once a second, 20 ms between frames, the inverter's 0x305 each second."""
    lines = []
    for s in range(seconds):
        t = 100.0 + s
        lines.append(frame_line(t, 0x305, bytes(8)))
        for i, (can_id, data) in enumerate(sorted(ID0_FRAMES.items())):
            if (s, can_id) in drop or can_id in drop:
                continue
            if change is not None:
                data = change(s, can_id, data)
            lines.append(frame_line(t + 0.02 * (i + 1), can_id, data))
    return lines


@cpython_only("cantools")
class DbcTest(unittest.TestCase):
    def test_loads_strictly_without_warnings(self):
        import logging
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with self.assertNoLogs(level=logging.WARNING):
                db = load_dbc(DBC)
        ids = sorted(m.frame_id for m in db.messages)
        self.assertEqual(
            ids,
            [0x305, 0x351, 0x355, 0x356, 0x359, 0x35A, 0x35C, 0x35E, 0x35F, 0x372, 0x373, 0x379],
        )
        for m in db.messages:
            self.assertEqual(m.length, 8, m.name)
            self.assertFalse(m.is_extended_frame, m.name)
            self.assertIn("protocols.md", m.comment, m.name)
            for s in m.signals:
                self.assertEqual(s.byte_order, "little_endian", s.name)
        self.assertIn("[UNCERTAIN]", db.get_message_by_frame_id(0x35F).comment)

    def test_sfl_real_frames(self):
        db = load_dbc(DBC)
        limits = db.decode_message(0x351, bytes.fromhex("1402C012C012C201"))
        self.assertEqual(
            limits,
            {
                "Charge_Voltage_Limit": 53.2,
                "Charge_Current_Limit": 480.0,
                "Discharge_Current_Limit": 480.0,
                "Discharge_Voltage_Limit": 45.0,
            },
        )
        battery = db.decode_message(0x356, bytes.fromhex("7A13F2FE6B010000"))
        self.assertAlmostEqual(battery["Battery_Voltage"], 49.86)
        self.assertAlmostEqual(battery["Battery_Current"], -27.0)
        self.assertAlmostEqual(battery["Battery_Temperature"], 36.3)
        soc = db.decode_message(0x355, bytes.fromhex("58005E0000000000"))
        self.assertEqual((soc["SOC"], soc["SOH"]), (88, 94))
        alarms = db.decode_message(0x359, bytes.fromhex("0000000006504E00"))
        self.assertEqual(alarms["Module_Count"], 6)
        self.assertEqual((alarms["Marker_P"], alarms["Marker_N"]), (ord("P"), ord("N")))
        self.assertFalse(any(v for k, v in alarms.items() if "_" in k and k[0] in "PW"))
        request = db.decode_message(0x35C, bytes.fromhex("C000000000000000"))
        self.assertEqual((request["Charge_Enable"], request["Discharge_Enable"]), (1, 1))

    def test_derived_worked_examples_both_ways(self):
        db = load_dbc(DBC)
        limits = {
            "Charge_Voltage_Limit": 56.8,
            "Charge_Current_Limit": 100.0,
            "Discharge_Current_Limit": 100.0,
            "Discharge_Voltage_Limit": 44.8,
        }
        frame = bytes.fromhex("3802E803E803C001")
        self.assertEqual(db.encode_message(0x351, limits), frame)
        for name, value in db.decode_message(0x351, frame).items():
            self.assertAlmostEqual(value, limits[name], places=6, msg=name)
        battery = {"Battery_Voltage": 53.12, "Battery_Current": -12.5, "Battery_Temperature": 25.0}
        frame = bytes.fromhex("C01483FFFA000000")
        self.assertEqual(db.encode_message(0x356, battery), frame)
        for name, value in db.decode_message(0x356, frame).items():
            self.assertAlmostEqual(value, battery[name], places=6, msg=name)

    def test_bit_layouts(self):
        db = load_dbc(DBC)

        def one_bit(can_id, name):
            values = {s.name: 0 for s in db.get_message_by_frame_id(can_id).signals}
            values[name] = 1
            return db.encode_message(can_id, values)

        # protocols.md 1, tables 1-5: byte, bit
        for name, byte, bit in (
            ("Protection_Over_Voltage", 0, 1),
            ("Protection_Discharge_Over_Current", 0, 7),
            ("Protection_Charge_Over_Current", 1, 0),
            ("Protection_System_Error", 1, 3),
            ("Warning_Low_Temp", 2, 4),
            ("Warning_Internal_Comm_Fail", 3, 3),
        ):
            expected = bytearray(8)
            expected[byte] = 1 << bit
            self.assertEqual(one_bit(0x359, name), bytes(expected), name)
        for name, bit in (
            ("Charge_Enable", 7),
            ("Discharge_Enable", 6),
            ("Force_Charge_I", 5),
            ("Force_Charge_II", 4),
            ("Full_Charge_Request", 3),
        ):
            self.assertEqual(one_bit(0x35C, name), bytes([1 << bit]) + bytes(7), name)
        name = db.encode_message(
            0x35E, {"Manufacturer_%d" % i: b for i, b in enumerate(b"PYLON   ")}
        )
        self.assertEqual(name, bytes.fromhex("50594C4F4E202020"))

    def test_sma_pairs(self):
        db = load_dbc(DBC)
        # protocols.md 2a: 0xAA in a byte = every pair OK; lower bit of a pair = active
        values = db.decode_message(0x35A, bytes.fromhex("AAAAAAAAAAAAAAAA"), decode_choices=False)
        self.assertEqual(set(values.values()), {2})
        self.assertEqual(len(values), 32)
        values = db.decode_message(0x35A, bytes.fromhex("0700000000000040"), decode_choices=True)
        self.assertEqual(str(values["Alarm_General"]), "invalid")
        self.assertEqual(str(values["Alarm_High_Voltage"]), "active")
        self.assertEqual(str(values["Warning_Generator"]), "active")
        self.assertEqual(str(values["Alarm_Low_Voltage"]), "not set")
        values = {s.name: 2 for s in db.get_message_by_frame_id(0x35A).signals}
        values["Warning_High_Temp"] = "active"
        frame = db.encode_message(0x35A, values)
        self.assertEqual(frame, bytes.fromhex("AAAAAAAA6AAAAAAA"))

    def test_victron_frames(self):
        db = load_dbc(DBC)
        cells = db.decode_message(0x373, bytes.fromhex("E50CF10C2A012C01"))
        self.assertEqual(
            cells,
            {
                "Min_Cell_Voltage": 3301,
                "Max_Cell_Voltage": 3313,
                "Min_Cell_Temperature": 298,
                "Max_Cell_Temperature": 300,
            },
        )
        self.assertEqual(
            db.decode_message(0x379, bytes.fromhex("6400") + bytes(6)), {"Installed_Capacity": 100}
        )
        overview = db.decode_message(0x35F, bytes.fromhex("4C4901033C02AA00"))
        self.assertEqual(overview["Capacity"], 572)
        self.assertEqual(overview["Battery_Type"].to_bytes(2, "little"), b"LI")
        modules = db.decode_message(0x372, bytes.fromhex("0200010000000100"))
        self.assertEqual(
            modules,
            {
                "Modules_OK": 2,
                "Modules_Blocking_Charge": 1,
                "Modules_Blocking_Discharge": 0,
                "Modules_Offline": 1,
            },
        )
        soc = db.decode_message(0x355, bytes.fromhex("51006400A51F0000"))
        self.assertAlmostEqual(soc["SOC_High_Res"], 81.01)


@cpython_only("cantools and hypothesis")
class AgreesWithPublicDbcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ours = load_dbc(DBC)
        cls.theirs = load_dbc(PLEWKA_DBC)

    def assert_agree(self, can_id, data):
        ours = self.ours.decode_message(can_id, data, decode_choices=False)
        theirs = self.theirs.decode_message(can_id, data, decode_choices=False)
        for cid, our_name, their_name in SHARED_SIGNALS:
            if cid == can_id:
                self.assertAlmostEqual(
                    ours[our_name],
                    theirs[their_name],
                    places=9,
                    msg="%s %s" % (our_name, data.hex()),
                )

    def test_every_shared_signal_is_listed(self):
        for cid in (0x351, 0x355, 0x356, 0x359, 0x35C):
            theirs = {s.name for s in self.theirs.get_message_by_frame_id(cid).signals}
            listed = {t for c, _, t in SHARED_SIGNALS if c == cid}
            self.assertEqual(theirs, listed, hex(cid))

    def test_examples(self):
        for can_id, text in (
            (0x351, "1402C012C012C201"),
            (0x351, "3802E803E803C001"),
            (0x356, "7A13F2FE6B010000"),
            (0x356, "C01483FFFA000000"),
            (0x355, "58005E0000000000"),
            (0x359, "0000000006504E00"),
            (0x359, "9A09DE0901504E00"),
            (0x35C, "F800000000000000"),
        ):
            self.assert_agree(can_id, bytes.fromhex(text))

    def test_random_frames(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        @settings(max_examples=300, deadline=None)
        @given(
            st.sampled_from((0x351, 0x355, 0x356, 0x359, 0x35C)), st.binary(min_size=8, max_size=8)
        )
        def agree(can_id, data):
            self.assert_agree(can_id, data)

        agree()


@cpython_only("cantools")
class CanDecodeTest(unittest.TestCase):
    def setUp(self):
        import monitor_decode_can

        self.m = monitor_decode_can

    def test_parse_candump(self):
        p = self.m.parse_candump_line
        self.assertEqual(
            p("(12.345000) can0 351#1402C012"), (12.345, 0x351, False, bytes.fromhex("1402C012"))
        )
        self.assertEqual(p("(1.5) can0 00000310#0102")[1:3], (0x310, True))
        self.assertEqual(p("(1.5) vcan0 305#")[3], b"")
        self.assertEqual(p("(1.5) can0 351#R")[3], b"")
        self.assertIsNone(p("   "))
        for bad in ("351#00", "(x) can0 351#00", "(1.0) can0 351#0", "(1.0) can0 nothing"):
            with self.assertRaises(ValueError, msg=bad):
                p(bad)

    def test_line_format(self):
        line = self.m.decode_can_line("(12.345000) can0 351#3802E803E803C001").text()
        self.assertEqual(line, "12.345 0x351 limits CVL 56.8 V CCL 100.0 A DCL 100.0 A DVL 44.8 V")
        line = self.m.decode_can_line("(0.5) can0 356#C01483FFFA000000").text()
        self.assertEqual(line, "0.500 0x356 battery U 53.12 V I -12.5 A T 25.0 C")

    def test_every_id0_frame(self):
        expect = {
            0x355: "SOC 81 % SOH 100 % SOC.01 81.01 %",
            0x359: "protection none warning none modules 1 marker PN",
            0x35A: "alarm none (16 ok) warning none (16 ok)",
            0x35C: "charge on discharge on request none",
            0x35E: 'name "PYLON   "',
            0x35F: 'type 0x494C "LI" hw 0x0001 sw 0x0001 capacity 100 Ah',
            0x372: "ok 1 blocking-charge 0 blocking-discharge 0 offline 0",
            0x373: "Vmin 3301 mV Vmax 3313 mV Tmin 298 K (25 C) Tmax 300 K (27 C)",
            0x379: "installed 100 Ah",
        }
        for can_id, text in expect.items():
            frame = self.m.decode_can_frame(1.0, can_id, False, ID0_FRAMES[can_id])
            self.assertTrue(frame.text().endswith(" " + text), frame.text())
            self.assertEqual(frame.problems, [])

    def test_flags_and_pairs(self):
        line = self.m.decode_can_line("(1.0) can0 359#8209990801504E00").text()
        self.assertIn(
            "protection over-voltage discharge-over-current charge-over-current system-error", line
        )
        self.assertIn("warning high-temp low-temp discharge-high-current internal-comm-fail", line)
        line = self.m.decode_can_line("(1.0) can0 35C#3800000000000000").text()
        self.assertIn(
            "charge OFF discharge OFF request force-charge-I force-charge-II full-charge", line
        )
        line = self.m.decode_can_line("(1.0) can0 35A#A6AAAAAAAAAAAAAB").text()
        self.assertIn("alarm high-voltage (15 ok)", line)
        self.assertIn("warning none (15 ok, both bits: cell-imbalance)", line)

    def test_short_unknown_extended_and_inverter_frames(self):
        frame = self.m.decode_can_line("(1.0) can0 355#58005E00")
        self.assertIn("SOC 88 % SOH 94 %", frame.text())
        self.assertIn("! DLC 4 (we send 8)", frame.text())
        self.assertEqual(
            self.m.decode_can_line("(2.0) can0 123#DEAD").text(), "2.000 0x123 ? data DE AD"
        )
        frame = self.m.decode_can_line("(2.0) can0 00000351#3802E803E803C001")
        self.assertEqual(frame.name, "?")  # a 29-bit id is not our 0x351
        self.assertIn("0x00000351", frame.text())
        line = self.m.decode_can_line("(2.0) can0 305#0000000000000000").text()
        self.assertEqual(line, "2.000 0x305 keepalive data all zero")
        line = self.m.decode_can_line("(2.0) can0 305#08029CFFFA00F401").text()
        self.assertIn("U 52.0 V I -10.0 A T 25.0 C SOC 50.0 %", line)


def pack_block():
    """A 16S 100 Ah 0x42 pack block as protocols.md 4.3/4.4 describe it."""
    import struct

    cells = [3300 + i for i in range(16)]
    temps_dk = [2986, 2981, 2980, 2982, 2979, 2607]  # 25.5 C ... -12.4 C (4.3 examples)
    out = bytes([16]) + b"".join(struct.pack(">H", c) for c in cells)
    out += bytes([6]) + b"".join(struct.pack(">H", t) for t in temps_dk)
    out += struct.pack(">hHHBHH", -40, 53120, 0xFFFF, 4, 0xFFFF, 0x10)
    return out + (81230).to_bytes(3, "big") + (100000).to_bytes(3, "big")


@cpython_only("python-pylontech")
class Rs485Test(unittest.TestCase):
    def setUp(self):
        import monitor_decode_rs485

        self.m = monitor_decode_rs485

    def test_pylib_management_vector(self):
        frame = self.m.decode_rs485_frame(PYLIB_92_REPLY)
        self.assertEqual(frame.problems, [])
        self.assertTrue(frame.checksum_ok)
        self.assertEqual((frame.command, frame.guessed), (0x92, True))
        v = frame.values
        self.assertEqual((v["cv_v"], v["dv_v"], v["ccl_a"], v["dcl_a"]), (28.4, 23.2, 55.5, -55.5))
        self.assertEqual(v["status"], 0xC0)
        self.assertIn("CV 28.400 V DV 23.200 V CCL 55.5 A DCL -55.5 A status 0xC0", frame.text())
        self.assertIn("charge-enable discharge-enable", frame.text())

    def test_checksum_and_length_rules(self):
        # the spec's example frame: the rule gives FC71; the vendor document printed FC72
        # (its character sum is 0x38F, not 0x38E), so that frame fails its own check
        self.assertEqual(self.m.rs485_checksum(b"1203400456ABCEFE"), 0xFC71)
        frame = self.m.decode_rs485_frame(b"~1203400456ABCEFEFC72\r")
        self.assertEqual((frame.checksum, frame.checksum_expected), (0xFC72, 0xFC71))
        self.assertIn("bad CHKSUM FC72 (expected FC71)", frame.problems)
        self.assertTrue(self.m.decode_rs485_frame(b"~1203400456ABCEFEFC71\r").checksum_ok)
        # LENGTH examples of 4.2
        self.assertEqual(self.m.rs485_lchksum(0x012), 0xD)
        self.assertEqual(self.m.rs485_lchksum(0), 0)
        self.assertEqual(self.m.rs485_lchksum(2), 0xE)
        self.assertEqual(self.m.rs485_lchksum(0x088), 0)  # nibble sum 16: 0, never 0x10

    def test_requests_as_python_pylontech_sends_them(self):
        from pylontech import Pylontech

        e = self.m.encode_rs485_request
        self.assertEqual(e(0, 0x4F), b"~2000464F0000FD9A\r")
        self.assertEqual(e(0, 0x51), b"~200046510000FDAE\r")
        self.assertEqual(e(2, 0x47), b"~200246470000FDA7\r")
        self.assertEqual(e(2, 0x42, b"\xff"), b"~20024642E002FFFD09\r")
        self.assertEqual(e(2, 0x42), b"~20024642E00202FD33\r")
        self.assertEqual(e(2, 0x92), b"~20024692E00202FD2E\r")
        self.assertEqual(e(2, 0x93), b"~20024693E00202FD2D\r")
        self.assertEqual(e(2, 0x93), Pylontech._encode_cmd(None, 2, 0x93, b"02"))
        frame = self.m.decode_rs485_frame(b"~20024642E002FFFD09\r")
        self.assertEqual((frame.is_reply, frame.command, frame.problems), (False, 0x42, []))
        self.assertIn("request 0x42 analog cmd 0xFF (all packs)", frame.text())

    def test_bad_checksum_and_bad_lchksum_are_flagged(self):
        bad = PYLIB_92_REPLY.replace(b"F915", b"F916")
        frame = self.m.decode_rs485_frame(bad)
        self.assertEqual(frame.problems, ["bad CHKSUM F916 (expected F915)"])
        self.assertIn("! bad CHKSUM F916", frame.text())
        # LCHKSUM C instead of B, with a CHKSUM recomputed so only the LENGTH is wrong
        body = b"20024600C014026EF05AA0022BFDD5C0"
        frame = self.m.decode_rs485_frame(b"~%s%04X\r" % (body, self.m.rs485_checksum(body)))
        self.assertEqual(frame.problems, ["bad LCHKSUM C in LENGTH C014 (expected B)"])
        body = b"20024600B012026EF05AA0022BFDD5C0"  # LENID 18 for 20 characters
        frame = self.m.decode_rs485_frame(b"~%s%04X\r" % (body, self.m.rs485_checksum(body)))
        self.assertIn("LENID 18 but INFO has 20 characters", " ".join(frame.problems))
        frame = self.m.decode_rs485_frame(b"~20024600B014026EF05AA0022BFDD5C0XYZW\r")
        self.assertIn("CHKSUM is not hex", " ".join(frame.problems))

    def test_lenient_lower_case(self):
        body = b"20024600b014026ef05aa0022bfdd5c0"
        frame = self.m.decode_rs485_frame(b"~%s%04x\r" % (body, self.m.rs485_checksum(body)))
        self.assertEqual(frame.problems, [])
        self.assertEqual(frame.values["dcl_a"], -55.5)
        self.assertIn("(lower-case hex)", frame.text())

    def test_analog_values_16s_100ah_agree_with_python_pylontech(self):
        from pylontech import Pylontech

        info = bytes([0x11, 0x02]) + pack_block()
        raw = self.m.encode_rs485(0x20, 0x02, 0x46, 0x00, info)
        self.assertTrue(raw.startswith(b"~2002460060821102100CE4"))  # the header of 4.4
        frame = self.m.decode_rs485_frame(raw, answers=0x42, request_info=0x02)
        self.assertEqual(frame.problems, [])
        v = frame.values
        self.assertEqual(v["cells_mv"], [3300 + i for i in range(16)])
        self.assertEqual(v["temps_c"][0], 25.5)
        self.assertEqual(v["temps_c"][-1], -12.4)
        self.assertEqual((v["current_a"], v["voltage_v"]), (-4.0, 53.12))
        self.assertEqual((v["items"], v["remaining_mah"], v["total_mah"]), (4, 81230, 100000))
        self.assertEqual(v["cycles"], 16)
        self.assertIn("SOC 81.2 %", frame.text())
        theirs = Pylontech.get_values_single_fmt.parse(
            Pylontech._decode_frame(None, Pylontech._decode_hw_frame(None, raw)).info[1:]
        )
        self.assertEqual([round(c * 1000) for c in theirs.CellVoltages], v["cells_mv"])
        self.assertEqual(
            [theirs.AverageBMSTemperature] + list(theirs.GroupedCellsTemperatures), v["temps_c"]
        )
        self.assertEqual((theirs.Current, theirs.Voltage), (v["current_a"], v["voltage_v"]))
        self.assertAlmostEqual(theirs.StateOfCharge, 0.8123)
        # the same reply alone is recognised by its layout
        self.assertEqual(self.m.decode_rs485_frame(raw).command, 0x42)

    def test_all_packs_analog_values(self):
        info = bytes([0x11, 0x02]) + pack_block() + pack_block()
        raw = self.m.encode_rs485(0x20, 0x02, 0x46, 0x00, info)
        frame = self.m.decode_rs485_frame(raw, answers=0x42, request_info=0xFF)
        self.assertEqual(frame.problems, [])
        self.assertEqual(frame.values["modules"], 2)
        self.assertEqual(len(frame.values["blocks"]), 2)
        self.assertIn("m2.SOC 81.2 %", frame.text())

    def test_two_byte_capacities(self):
        import struct

        block = pack_block()[: -6 - 7] + struct.pack(">HBHH", 40000, 2, 50000, 3)
        raw = self.m.encode_rs485(0x20, 0x02, 0x46, 0x00, bytes([0x11, 0x02]) + block)
        frame = self.m.decode_rs485_frame(raw, answers=0x42, request_info=0x02)
        self.assertEqual(frame.problems, [])
        v = frame.values
        self.assertEqual(
            (v["items"], v["remaining_mah"], v["total_mah"], v["cycles"]), (2, 40000, 50000, 3)
        )

    def test_alarms(self):
        info = bytes([0x00, 0x02, 16]) + bytes(2) + bytes([0x02]) + bytes(13) + bytes([6])
        info += (
            bytes([0, 0xF0, 0, 0, 0, 0])
            + bytes([0, 0x01, 0])
            + bytes([0x83, 0x06, 0x88, 0x04, 0x01])
        )
        frame = self.m.decode_rs485_frame(self.m.encode_rs485(0x20, 2, 0x46, 0, info), 0x44, 2)
        self.assertEqual(frame.problems, [])
        text = frame.text()
        for part in (
            "cells 16: c3 high",
            "temps 6: t2 error",
            "charge-I normal module-V low discharge-I normal",
            "status1 0x83 module-under-V cell-under-V module-over-V",
            "status2 0x06 discharge-FET charge-FET",
            "status3 0x88 charging full",
            "cell-errors 3 9",
        ):
            self.assertIn(part, text)

    def test_parameters_manufacturer_serial_software_protocol(self):
        import struct

        enc = self.m.encode_rs485
        info = bytes([0x11]) + struct.pack(
            ">HHHHHhHHHHHh",
            3650,
            3100,
            2700,
            2731 + 500,
            2731,
            1000,
            58400,
            49600,
            43200,
            2731 + 550,
            2731 - 200,
            -1000,
        )
        frame = self.m.decode_rs485_frame(enc(0x20, 2, 0x46, 0, info), 0x47)
        self.assertEqual(frame.problems, [])
        self.assertEqual(frame.values["cell-high"], 3.65)
        self.assertEqual(frame.values["charge-high-T"], 50.0)
        self.assertEqual(frame.values["discharge-low-T"], -20.0)
        self.assertEqual(frame.values["discharge-I"], -100.0)
        info = b"BMS-16S   " + bytes([1, 4]) + b"OPEN BMS".ljust(20, b"\x00")
        frame = self.m.decode_rs485_frame(enc(0x20, 2, 0x46, 0, info), 0x51)
        self.assertIn('battery "BMS-16S" software 1.4 manufacturer "OPEN BMS"', frame.text())
        frame = self.m.decode_rs485_frame(
            enc(0x20, 2, 0x46, 0, b"\x02" + b"SN00000000000042"), 0x93
        )
        self.assertEqual(frame.values["serial"], "SN00000000000042")
        frame = self.m.decode_rs485_frame(enc(0x20, 2, 0x46, 0, bytes([2, 1, 0, 2, 3, 4])), 0x96)
        self.assertIn("manufacturer-version 1.0 mainline-version 2.3.4", frame.text())
        frame = self.m.decode_rs485_frame(enc(0x33, 2, 0x46, 0), 0x4F)
        self.assertIn("version 3.3", frame.text())
        frame = self.m.decode_rs485_frame(enc(0x20, 2, 0x46, 0x02))
        self.assertIn("RTN 02 CHKSUM error", frame.problems)

    def test_set_management_request(self):
        import struct

        info = bytes([2]) + struct.pack(">HHhh", 56800, 44800, 1000, 1000)
        frame = self.m.decode_rs485_frame(self.m.encode_rs485(0x20, 2, 0x46, 0x94, info))
        self.assertEqual(frame.lenid, 0x12)
        self.assertIn("request 0x94 set-management cmd 0x02 CV 56.800 V DV 44.800 V", frame.text())

    def test_stream_pairs_replies_and_reports_junk(self):
        reply_42 = self.m.encode_rs485(0x20, 0x02, 0x46, 0x00, bytes([0x11, 0x02]) + pack_block())
        stream = (
            b"\x00"
            + self.m.encode_rs485_request(2, 0x92)
            + PYLIB_92_REPLY
            + self.m.encode_rs485_request(2, 0x42)
            + reply_42
            + b"\n"
            + self.m.encode_rs485_request(0, 0x4F)
            + self.m.encode_rs485(0x33, 0x02, 0x46, 0x00)
            + b"~2002"
        )
        frames = self.m.decode_rs485_bytes(stream)
        texts = [f.text() for f in frames]
        self.assertEqual(len(frames), 9, texts)
        self.assertIn("1 byte(s) outside frames: 00", texts[0])
        self.assertEqual((frames[2].command, frames[2].guessed), (0x92, False))
        self.assertEqual(frames[4].values["cycles"], 16)
        self.assertIn("outside frames: 0A", texts[5])
        self.assertEqual(frames[6].adr, 0)
        self.assertIn("reply 0x4F protocol version 3.3", texts[7])
        self.assertTrue(texts[8].startswith("@%d " % (len(stream) - 5)), texts[8])
        self.assertIn("no CR at the end", texts[8])


@cpython_only("cantools")
class VictronCheckTest(unittest.TestCase):
    def setUp(self):
        import victron_check

        self.v = victron_check

    def test_good_log_passes(self):
        self.assertEqual(self.v.check(good_log()), [])

    def test_missing_id(self):
        problems = self.v.check(good_log(drop=(0x35F,)))
        self.assertEqual(problems, ["0x35F missing (Victron needs it)"])

    def test_short_351(self):
        problems = self.v.check(
            good_log(change=lambda s, i, d: d[:6] if i == 0x351 and s == 4 else d)
        )
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("0x351: 1 frame(s) shorter than 8 bytes", problems[0])

    def test_short_other_mandatory(self):
        problems = self.v.check(good_log(change=lambda s, i, d: d[:5] if i == 0x356 else d))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("0x356: 10 frame(s) shorter than 6 bytes", problems[0])

    def test_351_gap(self):
        lines = good_log(drop=((3, 0x351), (4, 0x351), (5, 0x351)))
        lines.append(frame_line(105.52, 0x351, ID0_FRAMES[0x351]))  # 3.5 s after 102.02
        problems = self.v.check(sorted(lines))
        self.assertTrue(any(p.startswith("0x351 gap of 3.500 s") for p in problems), problems)

    def test_351_late_from_the_start(self):
        lines = [line for line in good_log() if "351#" not in line or line > "(103.0"]
        problems = self.v.check(lines)
        self.assertTrue(any(p.startswith("0x351 gap of 3.020 s from 100.000 s") for p in problems))

    def test_cvl_zero(self):
        problems = self.v.check(
            good_log(change=lambda s, i, d: bytes(2) + d[2:] if i == 0x351 and s == 7 else d)
        )
        self.assertEqual(problems, ["0x351 with CVL = 0: 1 frame(s), first at 107.020 s"])

    def test_two_frames_100_ms_apart(self):
        lines = good_log()
        lines.append(frame_line(105.16, 0x356, ID0_FRAMES[0x356]))  # 100 ms after
        problems = self.v.check(sorted(lines))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("0x356: 1 pair(s) closer than 200 ms", problems[0])

    def test_limits_themselves_pass(self):
        # exactly 200 ms apart (not a float hair under), exactly 3 s without 0x351
        lines = good_log() + [frame_line(105.26, 0x356, ID0_FRAMES[0x356])]
        self.assertEqual(self.v.check(sorted(lines)), [])
        lines = [frame_line(100.0 + 0.2 * n, 0x356, ID0_FRAMES[0x356]) for n in range(30)]
        self.assertNotIn("closer", " ".join(self.v.check(lines)))
        lines = [frame_line(t, 0x351, ID0_FRAMES[0x351]) for t in (100.0, 103.0, 106.0)]
        self.assertNotIn("0x351 gap", " ".join(self.v.check(lines)))

    def test_a_frame_of_the_set_missing_for_a_second(self):
        problems = self.v.check(good_log(drop=((5, 0x373),)))
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("0x373: 1 gap(s) over 1000 ms", problems[0])
        # the first second is grace: a set that starts late is not a problem
        self.assertEqual(self.v.check(good_log(drop=((0, 0x373), (0, 0x379)))), [])

    def test_the_inverter_may_be_fast(self):
        lines = good_log() + [
            frame_line(100.5, 0x305, bytes(8)),
            frame_line(100.55, 0x305, bytes(8)),
        ]
        self.assertEqual(self.v.check(sorted(lines)), [])

    def test_empty_and_bad_lines(self):
        self.assertEqual(self.v.check([]), ["no CAN frames in the log"])
        problems = self.v.check(good_log() + ["garbage"])
        self.assertEqual(len(problems), 1)
        self.assertTrue(problems[0].startswith("line %d:" % (len(good_log()) + 1)))

    def test_command_line(self):
        import subprocess
        import sys

        good = write("victron_good.log", "\n".join(good_log()) + "\n")
        bad = write("victron_bad.log", "\n".join(good_log(drop=(0x35A,))) + "\n")
        self.assertEqual(run_main(self.v, good), (0, "OK\n"))
        self.assertEqual(run_main(self.v, bad), (1, "0x35A missing (Victron needs it)\n"))
        rc, text = run_main(self.v)
        self.assertEqual((rc, text.count("\n")), (2, 1))
        rc, text = run_main(self.v, BUILD + "/no_such.log")
        self.assertEqual((rc, text.count("\n")), (2, 1))
        proc = subprocess.run(
            [sys.executable, ROOT + "/tools/victron_check.py", bad], capture_output=True, text=True
        )
        self.assertEqual((proc.returncode, proc.stdout), (1, "0x35A missing (Victron needs it)\n"))


@cpython_only("cantools and rich")
class MonitorCliTest(unittest.TestCase):
    def setUp(self):
        import monitor
        import monitor_decode_rs485

        self.m = monitor
        self.rs485 = monitor_decode_rs485

    def test_log_file(self):
        path = write("monitor.log", "\n".join(good_log(2)) + "\nnot a frame\n")
        rc, text = run_main(self.m, path)
        self.assertEqual(rc, 0)
        lines = text.splitlines()
        self.assertEqual(len(lines), 2 * 12 + 1)
        self.assertEqual(lines[0], "100.000 0x305 keepalive data all zero")
        self.assertEqual(
            lines[1], "100.020 0x351 limits CVL 56.8 V CCL 100.0 A DCL 100.0 A DVL 44.8 V"
        )
        self.assertTrue(lines[-1].startswith("line 25: not a candump -L line"))

    def test_table(self):
        path = write("monitor_table.log", "\n".join(good_log(3)) + "\n")
        rc, text = run_main(self.m, "--table", path)
        self.assertEqual(rc, 0)
        self.assertEqual(text.count("0x351"), 1)  # one row per frame, the latest values
        self.assertIn("102.020", text)
        self.assertIn("CVL 56.8 V", text)
        self.assertIn("PYLON", text)

    def test_rs485_file(self):
        request = self.rs485.encode_rs485_request(2, 0x92)
        stream = request + PYLIB_92_REPLY + PYLIB_92_REPLY[:-3] + b"00\r"
        path = write("monitor.rs485", stream)
        rc, text = run_main(self.m, "--rs485", path)
        self.assertEqual(rc, 0)
        lines = text.splitlines()
        self.assertEqual(len(lines), 3, text)
        self.assertEqual(lines[0], "@0 RS485 ADR 02 request 0x92 management cmd 0x02 (pack 2)")
        self.assertTrue(lines[1].startswith("@20 RS485 ADR 02 reply 0x92 management CV 28.400 V"))
        self.assertIn("! bad CHKSUM F900 (expected F915)", lines[2])

    def test_bad_arguments_exit_2_with_one_line(self):
        log = write("monitor_args.log", "")
        for argv in (
            [],
            ["--bogus"],
            ["--can"],
            [log, "--rs485", log],
            [log, log],
            ["--rs485-pty", "/dev/null", "--baud", "fast"],
            ["--rs485", log, "--poll"],
            [BUILD + "/no_such.log"],
            ["--can", "vcan0", "--duration", "-1"],
        ):
            rc, text = run_main(self.m, *argv)
            self.assertEqual(rc, 2, argv)
            self.assertTrue(text.startswith("monitor.py: error: "), text)
            self.assertEqual(text.count("\n"), 1, text)
        rc, text = run_main(self.m, "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--rs485-pty", text)

    def test_subprocess(self):
        import subprocess
        import sys

        path = write("monitor_sub.log", "(1.000000) can0 356#C01483FFFA000000\n")
        proc = subprocess.run(
            [sys.executable, ROOT + "/tools/monitor.py", path], capture_output=True, text=True
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "1.000 0x356 battery U 53.12 V I -12.5 A T 25.0 C\n")
        proc = subprocess.run(
            [sys.executable, ROOT + "/tools/monitor.py", "--nope"], capture_output=True, text=True
        )
        self.assertEqual(proc.returncode, 2)

    def test_live_can_on_a_virtual_bus(self):
        import threading
        import time

        import can

        out = io.StringIO()
        channel = "monitor-test-%d" % id(self)
        worker = threading.Thread(
            target=self.m.main,
            args=(["--can", channel, "--interface", "virtual", "--duration", "1.0"], out),
        )
        worker.start()
        with can.Bus(channel=channel, interface="virtual") as bus:
            while worker.is_alive():
                bus.send(
                    can.Message(arbitration_id=0x351, data=ID0_FRAMES[0x351], is_extended_id=False)
                )
                time.sleep(0.05)
        worker.join()
        self.assertIn("0x351 limits CVL 56.8 V CCL 100.0 A DCL 100.0 A DVL 44.8 V", out.getvalue())

    def test_live_rs485_polls_like_python_pylontech(self):
        import os
        import select
        import threading

        master, slave = os.openpty()
        try:
            out = io.StringIO()
            worker = threading.Thread(
                target=self.m.main,
                args=(["--rs485-pty", os.ttyname(slave), "--poll", "--duration", "0.6"], out),
            )
            worker.start()
            request = b""
            while not request.endswith(b"\r"):
                ready, _, _ = select.select([master], [], [], 5)
                self.assertTrue(ready, "the monitor sent no request")
                request += os.read(master, 64)
            os.write(master, self.rs485.encode_rs485(0x33, 0x02, 0x46, 0x00))
            worker.join()
        finally:
            os.close(master)
            os.close(slave)
        self.assertEqual(request, b"~2000464F0000FD9A\r")
        lines = out.getvalue().splitlines()
        self.assertIn("RS485 ADR 00 request 0x4F protocol", lines[0])
        self.assertIn("RS485 ADR 02 reply 0x4F protocol version 3.3", lines[1])
