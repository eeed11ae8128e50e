"""The Pylon LV RS485 V3.3 server (protocols.pylon_rs485.Server): exact replies to
python-pylontech's requests, every error path with its counter, and 0x94's 10 s limits.

Frames are built and checked with a small reference codec written here from
../shared/spec/protocols.md section 4, never with the server's helpers: CHKSUM is the
two's complement of the ASCII sum mod 65536, LCHKSUM = (-(sum of LENID's nibbles)) & 0xF.
The expected values come from the core state the rig builds and the config defaults.
"""

import unittest

import fwconst
from core_rig import Rig
from support import cpython_only

from bms import protections as pt
from protocols import pylon_rs485
from protocols.pylon_rs485 import SET_EXPIRY_MS, Server

# warnings show at the tick that sees them: these tests are about the encoding
# (test_protections pins their delay)
NO_LEAK = {"soc_self_discharge_ma": 0, "warn_delay_ms": 0}
HEX_UPPER = b"0123456789ABCDEF"
COUNTERS = (
    "replies",
    "not_frames",
    "not_ours",
    "bad_chksum",
    "bad_lchksum",
    "bad_cid",
    "bad_format",
    "bad_data",
    "bad_adr",
    "extra_info",
    "blind",
)
# commands whose INFO starts with the command byte naming the pack (protocols.md 4.1)
WITH_CMD = (0x42, 0x44, 0x92, 0x93, 0x94, 0x96)
# the CID2 of a reply (its RTN): a frame with one is dropped, never answered
REPLIES = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x90, 0x91)
# reply INFO length (bytes) of every command the server knows (protocols.md 4.3)
INFO_BYTES = {0x42: 65, 0x44: 34, 0x47: 25, 0x4F: 0, 0x51: 32, 0x92: 10, 0x93: 17, 0x96: 6}


# -- the reference codec ---------------------------------------------------------------------


def checksum(chars):
    return (-sum(chars)) & 0xFFFF


def lchksum(lenid):
    return (-((lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF))) & 0xF


def to_hex(data):
    return "".join("%02X" % v for v in data)


def body(ver, adr, cid1, cid2, info=b"", lenid=None, lchk=None, chk=None, extra="", lower=False):
    """The characters between `~` and CR, as bytes. lenid/lchk/chk: override the computed
    field (to build a bad frame); extra: characters after the INFO, not counted in LENID."""
    if lenid is None:
        lenid = 2 * len(info)
    if lchk is None:
        lchk = lchksum(lenid)
    text = "%02X%02X%02X%02X%X%03X" % (ver, adr, cid1, cid2, lchk, lenid) + to_hex(info) + extra
    if lower:
        text = text.lower()
    chars = text.encode()
    if chk is None:
        chk = checksum(chars)
    tail = "%04X" % chk
    return chars + (tail.lower() if lower else tail).encode()


def wire(ver, adr, cid1, rtn, info=b""):
    """A whole frame as it travels: `~`, the fields, CR."""
    return b"~" + body(ver, adr, cid1, rtn, info) + b"\r"


def hx(text):
    return bytes.fromhex(text)


def be16(d, k):
    return d[k] << 8 | d[k + 1]


def s16(v):
    return v - 0x10000 if v & 0x8000 else v


def be24(d, k):
    return d[k] << 16 | d[k + 1] << 8 | d[k + 2]


def pack16(*values):
    out = bytearray()
    for v in values:
        out.append((v >> 8) & 0xFF)
        out.append(v & 0xFF)
    return bytes(out)


def shown_mah(soc):
    """0x42's remaining capacity: the full one at the SOC shown (not the count)."""
    return soc.full_mas // 360000 * soc.shown_cpct // 100


class Reply:
    def __init__(self, ver, adr, cid1, rtn, info):
        self.ver = ver
        self.adr = adr
        self.cid1 = cid1
        self.rtn = rtn
        self.info = info


def decode(test, raw):
    """Check a reply on the wire (upper-case hex, CR only, CHKSUM, LENGTH) and split it."""
    test.assertTrue(len(raw) >= 18, raw)
    test.assertEqual(raw[0], 0x7E, raw)
    test.assertEqual(raw[len(raw) - 1], 0x0D, raw)
    chars = raw[1 : len(raw) - 1]
    for c in chars:
        test.assertIn(c, HEX_UPPER, raw)  # no lower case, no CR/LF inside
    test.assertEqual(len(chars) % 2, 0, raw)
    test.assertEqual(int(chars[-4:].decode(), 16), checksum(chars[:-4]), raw)
    length = int(chars[8:12].decode(), 16)
    lenid = length & 0xFFF
    test.assertEqual(length >> 12, lchksum(lenid), raw)
    test.assertEqual(lenid, len(chars) - 16, raw)
    head = bytes.fromhex(chars[:8].decode())
    return Reply(head[0], head[1], head[2], head[3], bytes.fromhex(chars[12:-4].decode()))


def make(cells=None, temps=None, current=0):
    r = Rig(NO_LEAK).settle()
    if cells is not None:
        r.cells(cells)
    if temps is not None:
        for slot in range(6):
            r.temps(temps[slot], slot)
    r.current(current)
    r.tick()
    return r


def set_soc(r, cpct, cycles=0):
    r.bms.soc._set_cpct(cpct, r.now, 0)
    r.bms.soc.cycles = cycles


class ServerCase(unittest.TestCase):
    def setUp(self):
        self.r = make()
        self.server = Server()

    def ask(self, chars, server=None, n=None):
        """The reply (bytes) to the characters between `~` and CR, or None."""
        server = server or self.server
        got = server.handle(chars, len(chars) if n is None else n, self.r.bms, self.r.now)
        return bytes(server.out[:got]) if got else None

    def counts(self, server=None, **expected):
        server = server or self.server
        want = {}
        for name in COUNTERS:
            want[name] = expected.get(name, 0)
        got = {}
        for name in COUNTERS:
            got[name] = getattr(server, name)
        self.assertEqual(got, want)


# -- the reference codec against the spec's own examples -----------------------------------


class ReferenceCodecTest(unittest.TestCase):
    def test_python_pylontech_requests(self):
        # protocols.md 4.4, the exact bytes python-pylontech sends
        self.assertEqual(wire(0x20, 0, 0x46, 0x4F), b"~2000464F0000FD9A\r")
        self.assertEqual(wire(0x20, 0, 0x46, 0x51), b"~200046510000FDAE\r")
        self.assertEqual(wire(0x20, 2, 0x46, 0x47), b"~200246470000FDA7\r")
        self.assertEqual(wire(0x20, 2, 0x46, 0x42, b"\xff"), b"~20024642E002FFFD09\r")
        self.assertEqual(wire(0x20, 2, 0x46, 0x42, b"\x02"), b"~20024642E00202FD33\r")
        self.assertEqual(wire(0x20, 2, 0x46, 0x92, b"\x02"), b"~20024692E00202FD2E\r")
        self.assertEqual(wire(0x20, 2, 0x46, 0x93, b"\x02"), b"~20024693E00202FD2D\r")

    def test_length_and_checksum_rules(self):
        self.assertEqual(lchksum(0x012), 0xD)  # D012
        self.assertEqual(lchksum(0), 0)
        self.assertEqual(lchksum(2), 0xE)
        self.assertEqual(lchksum(0x088), 0)  # nibble sum 16: 0, never 0x10
        # the spec's example frame prints FC72; the rule gives FC71 (the sum is 0x38F)
        self.assertEqual(checksum(b"1203400456ABCEFE"), 0xFC71)

    def test_python_pylontech_management_vector(self):
        reply = decode(self, b"~20024600B014026EF05AA0022BFDD5C0F915\r")
        self.assertEqual((reply.ver, reply.adr, reply.cid1, reply.rtn), (0x20, 2, 0x46, 0))
        d = reply.info
        # 28.4 V / 23.2 V / 55.5 A / -55.5 A, status C0
        self.assertEqual(
            (d[0], be16(d, 1), be16(d, 3), s16(be16(d, 5)), s16(be16(d, 7)), d[9]),
            (2, 28400, 23200, 555, -555, 0xC0),
        )


# -- python-pylontech's requests -----------------------------------------------------------


class PylibRequestTest(ServerCase):
    def setUp(self):
        self.cells = [3300 + i for i in range(16)]
        # cell sensors -12.4 C (2607), 25.0, 26.0, 27.0 C; board 25.5 C (2986); MOS 35.0 C
        self.r = make(self.cells, [-124, 250, 260, 270, 255, 350], -4000)
        set_soc(self.r, 8123, cycles=16)
        self.server = Server()

    def block(self):
        """The 16S 100 Ah pack block of 0x42 (protocols.md 4.3), from the state above."""
        out = bytes([16]) + pack16(*self.cells) + bytes([6])
        out += pack16(2986, 2607, 2981, 2991, 3001, 3081)  # T1 board, T2-T5 cells, T6 MOS
        out += pack16(0xFFD8, 52920, 0xFFFF) + bytes([4]) + pack16(0xFFFF, 16)  # -4.0 A
        return out + bytes([0x01, 0x3D, 0x4E, 0x01, 0x86, 0xA0])  # 81230 / 100000 mAh

    def test_analog_values_single(self):
        raw = self.ask(b"20024642E00202FD33")
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, bytes([0x11, 0x02]) + self.block()))
        self.assertTrue(raw.startswith(b"~2002460060821102100CE4"))  # the header of 4.4
        self.counts(replies=1)
        # the fields against the core
        d = decode(self, raw).info
        b = self.r.bms
        s = b.sample
        self.assertEqual((d[0], d[1], d[2]), (0x11, 2, 16))
        self.assertEqual([be16(d, 3 + 2 * i) for i in range(16)], list(s.cells_mv))
        self.assertEqual(d[35], 6)
        temps = [be16(d, 36 + 2 * i) - 2731 for i in range(6)]
        self.assertEqual(temps, [s.temps_dc[k] for k in (4, 0, 1, 2, 3, 5)])
        self.assertEqual(s16(be16(d, 48)) * 100, b.reported_ma)
        self.assertEqual(be16(d, 50), s.stack_mv)
        self.assertEqual((be16(d, 52), d[54], be16(d, 55)), (0xFFFF, 4, 0xFFFF))
        self.assertEqual(be16(d, 57), b.soc.cycles)
        self.assertEqual(be24(d, 59), shown_mah(b.soc))
        self.assertEqual(be24(d, 62), b.soc.full_mas // 3600)
        self.assertEqual(len(d), 65)

    def test_remaining_capacity_is_the_soc_shown_held_at_99_until_a_full_calibration(self):
        # counted full, not yet calibrated full: 0x355 says 99 %, and 0x42 said 100 000 mAh
        # of 100 000 (an RS485 inverter's SOC of 100 %, and it may end the absorption
        # that the full calibration waits for)
        soc = self.r.bms.soc
        set_soc(self.r, 10000)
        self.assertEqual((soc.q_mas // 3600, soc.full_seen, soc.shown_cpct), (100000, False, 9900))
        d = decode(self, self.ask(b"20024642E00202FD33")).info
        self.assertEqual((be24(d, 59), be24(d, 62)), (99000, 100000))

    def test_a_system_current_past_its_field_is_held_at_the_fields_end(self):
        # the master's 0x42 carries the system's current: 32 packs at -110 A wrapped to
        # +3033.6 A, charging; held at -3276.7 A (0x8001, protocols.fields.deciamps)
        for ma, field in ((-3520000, 0x8001), (-3276649, 0x8002), (3520000, 0x7FFF)):
            self.r.bms.reported_ma = ma
            d = decode(self, self.ask(b"20024642E00202FD33")).info
            self.assertEqual(be16(d, 48), field, ma)

    def test_a_cell_or_stack_past_its_field_is_held_at_the_fields_end(self):
        # a cell read below 0 V (an open sense wire) wrapped to 65.2 V; a stack above
        # 65.5 V (a runaway charge, still a reading up to 88 V) to a few volts
        s = self.r.bms.sample
        s.cells_mv[5] = -300
        s.cells_mv[6] = 70000
        s.stack_mv = 66000
        d = decode(self, self.ask(b"20024642E00202FD33")).info
        self.assertEqual((be16(d, 3 + 10), be16(d, 3 + 12)), (0, 0xFFFF))
        self.assertEqual(be16(d, 50), 0xFFFF)
        s.stack_mv = 65534
        self.assertEqual(be16(decode(self, self.ask(b"20024642E00202FD33")).info, 50), 65534)

    def test_analog_values_all_packs(self):
        raw = self.ask(b"20024642E002FFFD09")
        # one module: the byte after INFOFLAG is the module count
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, bytes([0x11, 0x01]) + self.block()))
        self.counts(replies=1)

    def test_protocol_version_at_address_0(self):
        raw = self.ask(b"2000464F0000FD9A")
        self.assertEqual(raw, wire(0x33, 2, 0x46, 0))  # V3.3 in the VER field
        self.assertEqual(raw, b"~330246000000FDAE\r")
        self.counts(replies=1)

    def test_manufacturer_info_at_address_0(self):
        raw = self.ask(b"200046510000FDAE")
        reply = decode(self, raw)
        self.assertEqual((reply.ver, reply.adr, reply.cid1, reply.rtn), (0x20, 2, 0x46, 0))
        d = reply.info
        self.assertEqual(len(d), 32)  # LENID 0x40
        self.assertEqual(d[0:10], pylon_rs485.BATTERY_NAME)
        self.assertEqual(d[10:12], pylon_rs485.SW_VERSION)
        self.assertEqual(d[12:32], pylon_rs485.MANUFACTURER_NAME)
        for c in d[0:10] + d[12:32]:
            self.assertTrue(0x20 <= c < 0x7F, d)  # printable ASCII
        self.assertTrue(raw.startswith(b"~20024600C040"))
        self.counts(replies=1)

    def test_system_parameters(self):
        raw = self.ask(b"200246470000FDA7")
        info = bytes([0x11]) + pack16(
            3550,  # cell high-V limit (warning)
            3000,  # cell low-V (alarm)
            2800,  # cell under-V (protect)
            500 + 2731,  # charge high-T 50.0 C
            -50 + 2731,  # charge low-T -5.0 C
            500,  # charge I limit 50.0 A
            56800,  # module high V
            48000,  # module low V
            44800,  # module under V
            550 + 2731,  # discharge high T 55.0 C
            -100 + 2731,  # discharge low T -10.0 C
            0x10000 - 500,  # discharge I limit -50.0 A
        )
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, info))
        self.counts(replies=1)

    def test_management_info(self):
        raw = self.ask(b"20024692E00202FD2E")
        # CV 56.0 V, DV 48.0 V; the -12.4 C cell sensor derates CCL to 10 % (5.0 A) and
        # DCL to 20 % (-10.0 A); charge and discharge enabled
        info = bytes([2]) + pack16(56000, 48000, 50, 0x10000 - 100) + bytes([0xC0])
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, info))
        d = decode(self, raw).info
        lim = self.r.bms.limits
        self.assertEqual((be16(d, 1), be16(d, 3)), (lim.cvl_mv, lim.dvl_mv))
        self.assertEqual((s16(be16(d, 5)) * 100, -s16(be16(d, 7)) * 100), (lim.ccl_ma, lim.dcl_ma))
        self.counts(replies=1)

    def test_management_info_nominal(self):
        self.r = make()
        # CV 56.0 V, DV 48.0 V, CCL 50.0 A, DCL -50.0 A, charge and discharge enabled
        info = bytes([2]) + pack16(56000, 48000, 500, 0x10000 - 500) + bytes([0xC0])
        raw = self.ask(b"20024692E00202FD2E")
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, info))
        self.assertEqual(raw, b"~20024600B01402DAC0BB8001F4FE0CC0F909\r")

    def test_management_flags(self):
        lim = self.r.bms.limits
        for field, flag in (
            ("charge_enable", 0x80),
            ("discharge_enable", 0x40),
            ("force_charge", 0x30),  # charge immediately 1 and 2
            ("full_request", 0x08),
        ):
            for on in (False, True):
                for f in ("charge_enable", "discharge_enable", "force_charge", "full_request"):
                    setattr(lim, f, False)
                setattr(lim, field, on)
                d = decode(self, self.ask(b"20024692E00202FD2E")).info
                self.assertEqual(d[9], flag if on else 0, field)
        # the core's own: COVP stops charging (CCL 0, CVL at the pack, flag b7 clear);
        # DCL 10 A through the open charge FET's body diodes until a discharge flows
        r = make()
        r.cell(3, 3650)
        r.run_ms(1100)
        self.r = r
        d = decode(self, self.ask(b"20024692E00202FD2E")).info
        self.assertEqual(d[1:], pack16(53150, 48000, 0, 0x10000 - 100) + bytes([0x40]))

    def test_serial_number(self):
        # the board's unique id in hex (app_boot.py: right-aligned, an ESP32's MAC is 6)
        self.r.bms.uid[:] = bytes.fromhex("0000E6614104032B")
        raw = self.ask(b"20024693E00202FD2D")
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, b"\x020000E6614104032B"))
        self.counts(replies=1)

    def test_software_version(self):
        raw = self.ask(body(0x20, 2, 0x46, 0x96, b"\x02"))
        info = b"\x02" + pylon_rs485.SW_VERSION + pylon_rs485.MAIN_VERSION
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0, info))
        self.assertEqual((len(pylon_rs485.SW_VERSION), len(pylon_rs485.MAIN_VERSION)), (2, 3))


class AlarmInfoTest(ServerCase):
    def alarms(self):
        return decode(self, self.ask(body(0x20, 2, 0x46, 0x44, b"\x02"))).info

    def test_nominal(self):
        # DATAFLAG, command, 16 cells normal, 6 temps normal, 3 states normal, status 1-5
        d = self.alarms()
        self.assertEqual(
            d, bytes([0, 2, 16]) + bytes(16) + bytes([6]) + bytes(6) + bytes(3) + hx("0006000000")
        )

    def test_states(self):
        cells = [3300] * 16
        cells[0] = 3550  # at the high-voltage warning: above upper limit
        cells[1] = 3000  # at the low-voltage warning: below lower limit
        cells[15] = 4300  # > 4.2 V: error, status 5 bit 7
        # board 45.0 C high, cell sensor 0.0 C low, MOS 80.0 C high
        r = make(cells, [0, 250, 250, 250, 450, 800], 61000)  # high charge current
        self.r = r
        d = self.alarms()
        states = bytes([2, 1] + [0] * 13 + [0xF0])
        temps = bytes([2, 1, 0, 0, 0, 2])
        # charge current high, module voltage high, discharge current normal
        self.assertEqual(d[0:3], bytes([0, 2, 16]))
        self.assertEqual(d[3:], states + bytes([6]) + temps + bytes([2, 2, 0]) + hx("0006800080"))
        # discharging: b3 of status 2 (using pack power), b6 of status 3, discharge state
        r.cells([3300] * 16)
        r.temps(250)
        r.current(-96000)
        r.tick()
        d = self.alarms()
        self.assertEqual(d[26:], bytes([0, 0, 2]) + hx("000E400000"))
        # the pre-charge FET; full (SOC 100 %)
        r.current(0)
        r.tick()
        r.bms.pre = True
        r.bms.soc.calibrate_full(r.now)
        self.assertEqual(self.alarms()[26:], bytes(3) + hx("0007080000"))

    def test_status1_of_every_protection(self):
        b = self.r.bms
        # protocols.md 4.3 status 1: b7 module UV, b6 charge OT, b5 discharge OT, b4
        # discharge OC, b2 charge OC, b1 cell UV, b0 module OV (cell OV shares it)
        for name, flag in (
            ("PUVP", 0x80),
            ("CHTP", 0x40),
            ("DHTP", 0x20),
            ("DOCP", 0x10),
            ("COCP", 0x04),
            ("CUVP", 0x02),
            ("POVP", 0x01),
            ("COVP", 0x01),
            ("CLTP", 0),
            ("SCP", 0x10),  # (discharge over-current, as in CAN 0x359)
        ):
            for on in (True, False):
                b.engine.names = 1 << pt.NAMES.index(name) if on else 0
                self.assertEqual(self.alarms()[29], flag if on else 0, name)

    def test_a_pack_in_fault_mode_never_reads_all_clear(self):
        # audit: SCP had no status-1 bit and the pack's own failures no state at all, so
        # a pack in fault mode (FETs open) read all clear. SCP is status 1's discharge
        # over-current (as in CAN 0x359), each failure (CAN's system error) the module
        # voltage's "other error" F0, over its warnings; every name of the core's fault
        # mode is one of them
        b = self.r.bms
        failures = 1 << pt.REVERSE | 1 << pt.SENSOR_FAIL | 1 << pt.MOS_FAIL
        failures |= 1 << pt.PRECHARGE_FAIL
        fault_mode = fwconst.of("bms.core").FAILURES
        self.assertEqual(fault_mode, failures | 1 << pt.SCP)
        for n in range(1, len(pt.NAMES)):
            b.engine.names = 1 << n
            d = self.alarms()
            if failures >> n & 1:
                self.assertEqual((d[27], d[29]), (0xF0, 0), pt.NAMES[n])
            else:
                self.assertNotEqual(d[27], 0xF0, pt.NAMES[n])
            if fault_mode >> n & 1:  # (states and status 1)
                self.assertNotEqual(d[3:19] + d[20:30], bytes(26), pt.NAMES[n])
        for warning, state in ((pt.HIGH_VOLTAGE, 0x02), (pt.LOW_VOLTAGE, 0x01)):
            b.engine.names = 1 << warning
            self.assertEqual(self.alarms()[26:30], bytes([0, state, 0, 0]))
            b.engine.names |= 1 << pt.MOS_FAIL
            self.assertEqual(self.alarms()[26:30], bytes([0, 0xF0, 0, 0]))
        b.engine.names = 0
        self.assertEqual(self.alarms()[26:30], bytes(4))
        mine = fwconst.of("protocols.pylon_rs485")
        self.assertEqual((mine.FAILURES, mine.SCP_BIT), (failures, 1 << pt.SCP))

    def test_a_short_circuit_trip_reads_as_a_discharge_over_current(self):
        # the audit's case on the core: a real SCP trip, the pack in fault mode
        r = self.r = make(current=-30000)
        r.inp.scd = True
        r.tick(2)
        r.inp.scd = False
        r.current(0)
        r.tick(10)
        self.assertEqual(r.bms.protection_names(), ["SCP"])
        self.assertEqual((r.mode(), r.fets()), ("fault", (False, False)))
        d = self.alarms()
        self.assertEqual(d[26:34], bytes(3) + hx("1000000000"))

    def test_system_query_answers_with_the_module_count(self):
        # a pack alone: one module, its block (test_system_rs485: packs in parallel)
        d = decode(self, self.ask(body(0x20, 2, 0x46, 0x44, b"\xff"))).info
        self.assertEqual(d[1], 1)
        self.assertEqual(
            d[2:], decode(self, self.ask(body(0x20, 2, 0x46, 0x44, b"\x02"))).info[2:]
        )


# -- errors and leniency ---------------------------------------------------------------------


class ErrorTest(ServerCase):
    def test_bad_chksum(self):
        raw = self.ask(b"20024642E00202FD34")
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x02))  # RTN 02, no INFO
        self.counts(replies=1, bad_chksum=1)
        # the spec's printed example (FC72) at its address 3: a CHKSUM error; with the
        # correct FC71 its LENGTH 56AB passes LCHKSUM but wants 1707 INFO characters: 05
        server = Server(address=3)
        self.assertEqual(self.ask(b"1203400456ABCEFEFC72", server), wire(0x12, 3, 0x46, 0x02))
        self.assertEqual(self.ask(b"1203400456ABCEFEFC71", server), wire(0x12, 3, 0x46, 0x05))
        self.counts(server, replies=2, bad_chksum=1, bad_format=1)

    def test_bad_lchksum(self):
        raw = self.ask(body(0x20, 2, 0x46, 0x42, b"\x02", lchk=0xD))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x03))
        self.counts(replies=1, bad_lchksum=1)

    def test_unknown_cid2(self):
        for cid2 in (0x99, 0x95, 0x61, 0x07, 0x8F, 0x97):
            self.assertEqual(self.ask(body(0x20, 2, 0x46, cid2)), wire(0x20, 2, 0x46, 0x04))
        self.counts(replies=6, bad_cid=6)

    def test_a_reply_gets_no_reply(self):
        # a CID2 that is an RTN is a reply: answered with RTN 04, a reply of ours echoed
        # back (a transceiver whose receiver hears its own sending) went round for ever
        for rtn in REPLIES:
            self.assertIsNone(self.ask(body(0x20, 2, 0x46, rtn)))
        self.counts(not_ours=9)
        reply = self.ask(body(0x20, 2, 0x46, 0x99))
        self.assertEqual(reply, wire(0x20, 2, 0x46, 0x04))
        self.assertIsNone(self.ask(reply[1:-1]))  # fed back: dropped
        self.counts(replies=1, bad_cid=1, not_ours=10)
        # whatever its INFO: a 0x42 reply's 65 bytes, more than a request holds, were
        # answered RTN 05 (command format) before the RTN was looked at
        reply = self.ask(body(0x20, 2, 0x46, 0x42, b"\x02"))
        self.assertEqual(decode(self, reply).rtn, 0)
        self.assertIsNone(self.ask(reply[1:-1]))
        self.counts(replies=2, bad_cid=1, not_ours=11)

    def test_cid1_not_battery(self):
        # answered as a CID error (RTN 04), under our own CID1 0x46
        raw = self.ask(body(0x20, 2, 0x40, 0x42, b"\x02"))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x04))
        self.counts(replies=1, bad_cid=1)

    def test_other_addresses_get_no_reply(self):
        for adr in (3, 0, 1, 0x12, 0xFF):
            self.assertIsNone(self.ask(body(0x20, adr, 0x46, 0x42, bytes([adr]))))
        # with a bad checksum: no reply either, but counted as broken, not as another's
        # (the broken byte may be its ADR)
        self.assertIsNone(self.ask(body(0x20, 3, 0x46, 0x92, b"\x03", chk=0)))
        self.counts(not_ours=5, bad_chksum=1)
        server = Server(address=3)  # the same frame answered by the pack at 3
        raw = self.ask(body(0x20, 3, 0x46, 0x42, b"\x03"), server)
        self.assertEqual(decode(self, raw).adr, 3)
        self.counts(server, replies=1)

    def test_version_and_manufacturer_at_any_address(self):
        for adr in (0, 2, 3, 0x7F):
            self.assertEqual(self.ask(body(0x20, adr, 0x46, 0x4F)), wire(0x33, 2, 0x46, 0))
            self.assertEqual(decode(self, self.ask(body(0x20, adr, 0x46, 0x51))).rtn, 0)
        self.counts(replies=8)

    def test_any_ver_is_echoed(self):
        raw = self.ask(body(0x21, 2, 0x46, 0x92, b"\x02"))
        self.assertEqual(decode(self, raw).ver, 0x21)
        self.counts(replies=1)

    def test_lower_case_accepted(self):
        lower = body(0x20, 2, 0x46, 0x92, b"\x02", lower=True)
        self.assertEqual(lower[:14], b"20024692e00202")
        self.assertEqual(lower, lower.lower())  # the CHKSUM too, over the lower-case sum
        self.assertEqual(self.ask(lower), self.ask(b"20024692E00202FD2E"))
        # 0x94 with letters in its values: CV 55.0 V = d6d8, DV 49.0 V = bf68
        lower = set_request(55000, 49000, 300, 400, lower=True)
        self.assertIn(b"d6d8bf68", lower)
        self.assertEqual(self.ask(lower), wire(0x20, 2, 0x46, 0))  # upper case out
        lim = self.r.bms.limits
        self.assertEqual((lim.ext_cv_mv, lim.ext_dv_mv), (55000, 49000))
        self.counts(replies=3)

    def test_extra_info_accepted(self):
        plain = self.ask(b"20024642E00202FD33")
        self.assertEqual(self.ask(body(0x20, 2, 0x46, 0x42, b"\x02", extra="99")), plain)
        self.assertEqual(
            self.ask(body(0x20, 2, 0x46, 0x47, extra="0102")), self.ask(b"200246470000FDA7")
        )
        self.assertEqual(self.ask(body(0x20, 2, 0x46, 0x42, b"\x02", extra="7")), plain)  # odd
        self.counts(replies=5, extra_info=3)

    def test_lenid_beyond_the_info(self):
        raw = self.ask(body(0x20, 2, 0x46, 0x42, b"\x02", lenid=4))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x05))
        self.assertEqual(self.ask(body(0x20, 2, 0x46, 0x42, lenid=2)), wire(0x20, 2, 0x46, 0x05))
        self.counts(replies=2, bad_format=2)

    def test_odd_or_oversized_lenid(self):
        # an odd character count
        raw = self.ask(body(0x20, 2, 0x46, 0x42, b"\x02", lenid=1))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x05))
        # more INFO than the server keeps (64 bytes)
        raw = self.ask(body(0x20, 2, 0x46, 0x42, bytes(65)))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x05))
        info = b"\x02" + bytes(63)
        self.assertEqual(decode(self, self.ask(body(0x20, 2, 0x46, 0x42, info))).rtn, 0)
        self.counts(replies=3, bad_format=2)

    def test_not_frames(self):
        for junk in (
            b"hello, this is not a frame",
            b"20024642E00202FD3G",
            b"2002 4642E00202FD33",
            b"~20024642E00202FD33",
            b"20024642E00202FD33\r",
            b"20024642E00202FD33\n",
            bytes([0xB0]) + b"2024642E00202FD33",
        ):
            self.assertIsNone(self.ask(junk), junk)
        self.counts(not_frames=7)

    def test_too_short(self):
        for short in (b"", b"2", b"2000464F0000FD9", b"2000464F"):
            self.assertIsNone(self.ask(short), short)
        self.counts(not_frames=4)

    def test_only_n_characters_are_read(self):
        line = bytearray(b"20024642E00202FD33" + b"\x00GARBAGE~~~" * 4)
        self.assertEqual(self.ask(line, n=18), self.ask(b"20024642E00202FD33"))
        self.counts(replies=2)

    def test_command_byte_of_another_pack_is_an_adr_error(self):
        # protocols.md 4.1: the INFO command byte equals ADR. At our ADR nobody else
        # answers, so a command byte naming another pack gets RTN 90, never our data
        for cid2 in WITH_CMD:
            for cmd in (0, 1, 3, 7, 0x12, 0xFE):
                raw = self.ask(body(0x20, 2, 0x46, cid2, bytes([cmd]) + bytes(8)))
                self.assertEqual(raw, wire(0x20, 2, 0x46, 0x90), (cid2, cmd))
        self.assertFalse(self.r.bms.limits.ext_active)  # the 0x94s set nothing
        self.counts(replies=36, bad_adr=36)

    def test_command_byte_of_ours_or_all_is_answered(self):
        for cid2 in WITH_CMD:
            for cmd in (2, 0xFF):
                info = bytes([cmd]) + (pack16(55000, 49000, 300, 400) if cid2 == 0x94 else b"")
                reply = decode(self, self.ask(body(0x20, 2, 0x46, cid2, info)))
                self.assertEqual((reply.adr, reply.rtn), (2, 0), (cid2, cmd))
            # no INFO at all: the command byte is taken as ours (0x94 needs its values)
            reply = decode(self, self.ask(body(0x20, 2, 0x46, cid2)))
            self.assertEqual(reply.rtn, 0x05 if cid2 == 0x94 else 0, cid2)
        self.counts(replies=18, bad_format=1)

    def test_analog_values_refused_while_the_readings_are_lost(self):
        # RTN 91: the front end's cells are stale; the alarms and the (zero) limits still
        # answer, so the inverter learns why and asks for no current
        self.r.cell(0, 3560)
        self.r.tick()
        self.r.s.valid = False
        self.r.tick()
        raw = self.ask(body(0x20, 2, 0x46, 0x42, b"\x02"))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x91))
        reply = decode(self, self.ask(body(0x20, 2, 0x46, 0x92, b"\x02")))
        self.assertEqual(reply.rtn, 0)
        self.assertEqual(reply.info[5:9], bytes(4))  # CCL 0, DCL 0
        # the alarms: every cell and sensor in error (F0), not the states of the last
        # values (a cell at its warning read before the loss was still "above")
        d = decode(self, self.ask(body(0x20, 2, 0x46, 0x44, b"\x02"))).info
        self.assertEqual(
            d[2:26], bytes([16]) + bytes([0xF0] * 16) + bytes([6]) + bytes([0xF0] * 6)
        )
        self.assertEqual(d[-2:], b"\xff\xff")  # status 4 and 5: every cell
        self.counts(replies=3, blind=1)
        self.r.s.valid = True
        self.r.tick()
        self.assertEqual(decode(self, self.ask(body(0x20, 2, 0x46, 0x42, b"\x02"))).rtn, 0)

    def test_command_byte_follows_the_address(self):
        server = Server(address=3)
        ok = decode(self, self.ask(body(0x20, 3, 0x46, 0x92, b"\x03"), server))
        self.assertEqual((ok.adr, ok.rtn, ok.info[0]), (3, 0, 3))
        raw = self.ask(body(0x20, 3, 0x46, 0x92, b"\x02"), server)
        self.assertEqual(raw, wire(0x20, 3, 0x46, 0x90))
        self.counts(server, replies=2, bad_adr=1)

    def test_commands_without_a_command_byte_ignore_it(self):
        # 0x47, 0x4F and 0x51 take no INFO (protocols.md 4.3): one sent is not an address
        for cid2 in (0x47, 0x4F, 0x51):
            reply = decode(self, self.ask(body(0x20, 2, 0x46, cid2, b"\x07")))
            self.assertEqual(reply.rtn, 0, cid2)
        self.counts(replies=3)

    def test_counters_wrap_below_2_30(self):
        # a 32-bit port's small ints end at 2**30 - 1: past it each increment allocates
        server = self.server
        names = ("replies", "not_ours", "bad_adr", "bad_chksum", "not_frames", "bad_data")
        for name in names:
            setattr(server, name, 0x3FFFFFFF)
        self.ask(body(0x20, 2, 0x46, 0x92, b"\x03"))  # bad_adr and replies
        self.ask(body(0x20, 3, 0x46, 0x92, b"\x03"))  # not_ours
        self.ask(b"20024642E00202FD34")  # bad_chksum (and replies again)
        self.ask(b"junk")  # not_frames
        self.ask(set_request(57000, 49000, 300, 400))  # bad_data (and replies)
        self.assertEqual([getattr(server, name) for name in names], [2, 0, 0, 0, 0, 0])


# -- 0x94 set charge/discharge management ----------------------------------------------------


def set_request(cv, dv, ccl_da, dcl_da, adr=2, cmd=2, lower=False):
    info = bytes([cmd]) + pack16(cv, dv, ccl_da, dcl_da)
    return body(0x20, adr, 0x46, 0x94, info, lower=lower)


class SetManagementTest(ServerCase):
    def limits(self):
        lim = self.r.bms.limits
        return (lim.cvl_mv, lim.dvl_mv, lim.ccl_ma, lim.dcl_ma)

    def test_request_frame(self):
        req = set_request(55000, 49000, 300, 400)
        self.assertEqual(req[8:12], b"D012")  # LENID 0x12 (protocols.md 4.2/4.3)

    def test_narrows_the_limits_for_10_s(self):
        self.assertEqual(SET_EXPIRY_MS, 10000)
        r = self.r
        start = r.now
        raw = self.ask(set_request(55000, 49000, 300, 400))  # 55.0 V 49.0 V 30.0 A 40.0 A
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0))  # RTN 00, no INFO
        self.counts(replies=1)
        lim = r.bms.limits
        self.assertEqual(
            (lim.ext_active, lim.ext_cv_mv, lim.ext_dv_mv, lim.ext_ccl_ma, lim.ext_dcl_ma),
            (True, 55000, 49000, 30000, 40000),
        )
        self.assertEqual(lim.ext_until, start + 10000)
        r.tick()
        self.assertEqual(self.limits(), (55000, 49000, 30000, 40000))
        # reported back by 0x92
        d = decode(self, self.ask(b"20024692E00202FD2E")).info
        self.assertEqual(d[1:9], pack16(55000, 49000, 300, 0x10000 - 400))
        r.run_ms(SET_EXPIRY_MS - 200)
        self.assertEqual(r.now - start, 9900)
        self.assertEqual(self.limits(), (55000, 49000, 30000, 40000))
        r.tick()
        self.assertEqual(self.limits(), (56000, 48000, 50000, 50000))
        self.assertFalse(lim.ext_active)

    def test_re_sent_in_time_it_holds(self):
        r = self.r
        start = r.now
        self.ask(set_request(55000, 49000, 300, 400))
        r.run_ms(5000)
        self.ask(set_request(54000, 49000, 300, 400))
        r.run_ms(9900)
        self.assertEqual(r.now - start, 14900)
        self.assertEqual(self.limits(), (54000, 49000, 30000, 40000))
        r.tick()
        self.assertEqual(self.limits(), (56000, 48000, 50000, 50000))
        self.counts(replies=2)

    def test_only_ever_stricter(self):
        # our own envelope's edges, currents above ours: taken, and nothing widens
        raw = self.ask(set_request(56000, 48000, 1000, 2000))
        self.assertEqual(decode(self, raw).rtn, 0)
        self.r.tick()
        self.assertEqual(self.limits(), (56000, 48000, 50000, 50000))

    def refused(self, cv, dv, ccl=300, dcl=400):
        self.r.bms.limits.ext_active = False
        raw = self.ask(set_request(cv, dv, ccl, dcl))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x06), (cv, dv))
        self.assertFalse(self.r.bms.limits.ext_active, (cv, dv))

    def taken(self, cv, dv, ccl=300, dcl=400):
        lim = self.r.bms.limits
        lim.ext_active = False
        raw = self.ask(set_request(cv, dv, ccl, dcl))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0), (cv, dv))
        got = (lim.ext_active, lim.ext_cv_mv, lim.ext_dv_mv)
        self.assertEqual(got, (True, cv, dv), (cv, dv))
        return lim.ext_ccl_ma, lim.ext_dcl_ma

    def test_voltages_outside_our_envelope_refused(self):
        # review S1-1/T-2: DV from the config's DVL (48.0 V) to its re-start voltage
        # (52.0 V), CV up to its CVL (56.0 V), CV at least 1.0 V above DV; else RTN 06
        cfg = self.r.bms.cfg
        self.assertEqual((cfg.dvl_mv, cfg.cvl_mv), (48000, 56000))
        self.refused(56001, 48000)  # CV above our CVL
        self.taken(56000, 48000)
        self.refused(55000, 47999)  # DV below our DVL
        self.taken(55000, 48000)
        self.refused(56000, 52001)  # DV above the re-start voltage (52.0 V)
        self.taken(56000, 52000)
        self.refused(52000, 51001)  # CV less than 1.0 V above DV
        self.taken(52000, 51000)
        self.refused(49000, 49000)  # DV not below CV
        self.refused(48000, 49000)
        self.refused(60000, 59000)  # the review's case: CV 60.0 V, DV 59.0 V
        self.refused(0xFFFF, 0)
        self.counts(replies=12, bad_data=8)

    def test_envelope_follows_the_config(self):
        self.r = Rig(dict(NO_LEAK, cvl_mv=55000, dvl_mv=47000)).settle()
        self.r.tick()
        self.refused(55001, 47000)
        self.taken(55000, 47000)
        self.refused(54000, 46999)
        self.taken(54000, 47000)
        self.counts(replies=4, bad_data=2)

    def test_currents_clamped_to_ours(self):
        # a maximum above ours means "no narrower than ours": clamped, not refused
        self.assertEqual(self.taken(55000, 49000, 501, 501), (50000, 50000))
        self.assertEqual(self.taken(55000, 49000, 500, 500), (50000, 50000))
        self.assertEqual(self.taken(55000, 49000, 499, 0x10000 - 499), (49900, 49900))
        self.assertEqual(self.taken(55000, 49000, 0xFFFF, 0x8000), (50000, 50000))
        self.assertEqual(self.taken(55000, 49000, 0, 0), (0, 0))
        self.r = Rig(dict(NO_LEAK, ccl_ma=30000, dcl_ma=40000)).settle()
        self.r.tick()
        self.assertEqual(self.taken(55000, 49000, 301, 401), (30000, 40000))
        self.assertEqual(self.taken(55000, 49000, 300, 400), (30000, 40000))
        self.assertEqual(self.taken(55000, 49000, 299, 399), (29900, 39900))
        self.counts(replies=8)

    def test_negative_dcl_is_taken_as_its_size(self):
        # 0x92 sends DCL negative; an inverter may send 0x94's the same way
        raw = self.ask(set_request(55000, 49000, 300, 0x10000 - 400))
        self.assertEqual(decode(self, raw).rtn, 0)
        self.r.tick()
        self.assertEqual(self.limits(), (55000, 49000, 30000, 40000))

    def test_short_info(self):
        raw = self.ask(body(0x20, 2, 0x46, 0x94, bytes([2]) + pack16(55000, 49000, 300) + b"\x01"))
        self.assertEqual(raw, wire(0x20, 2, 0x46, 0x05))
        self.assertEqual(self.ask(body(0x20, 2, 0x46, 0x94)), wire(0x20, 2, 0x46, 0x05))
        self.assertFalse(self.r.bms.limits.ext_active)
        self.counts(replies=2, bad_format=2)

    def test_other_address_sets_nothing(self):
        self.assertIsNone(self.ask(set_request(55000, 49000, 300, 400, adr=3)))
        self.assertFalse(self.r.bms.limits.ext_active)
        self.counts(not_ours=1)


# -- properties (CPython: hypothesis) --------------------------------------------------------


@cpython_only("hypothesis")
class ServerPropertyTest(ServerCase):
    def check_call(self, chars):
        """One call: no exception; exactly one counter moves (extra_info aside); a reply
        is a well-formed frame."""
        server = self.server
        before = [getattr(server, k) for k in COUNTERS]
        n = server.handle(chars, len(chars), self.r.bms, self.r.now)
        after = [getattr(server, k) for k in COUNTERS]
        moved = {}
        for k, a, z in zip(COUNTERS, before, after):
            if z != a:
                moved[k] = z - a
        moved.pop("extra_info", None)
        if "bad_chksum" in moved:  # broken: answered at our ADR only, whatever its CID2
            self.assertEqual(n > 0, int(bytes(chars[2:4]).decode(), 16) == 2, chars)
        if n == 0:
            self.assertEqual(len(moved), 1, moved)
            silent = ("not_frames", "not_ours", "bad_chksum")
            self.assertEqual(sum(moved.get(k, 0) for k in silent), 1, moved)
            return None
        self.assertEqual(moved.get("replies"), 1, moved)
        self.assertLessEqual(len(moved), 2, moved)
        reply = decode(self, bytes(server.out[:n]))
        self.assertEqual((reply.adr, reply.cid1), (2, 0x46))
        return reply

    def test_arbitrary_bytes(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        valid = st.builds(
            lambda adr, cid2, info: body(0x20, adr, 0x46, cid2, info),
            st.sampled_from((0, 2, 3)),
            st.sampled_from((0x42, 0x44, 0x47, 0x4F, 0x51, 0x92, 0x93, 0x94, 0x96, 0x99)),
            st.binary(max_size=20),
        )

        def mutate(frame, k, v):
            frame = bytearray(frame)
            if frame:
                frame[k % len(frame)] = v
            return bytes(frame)

        mutated = st.builds(
            mutate, valid, st.integers(0, 300), st.sampled_from(b"0123456789ABCDEFaz~")
        )
        hexes = st.text(alphabet="0123456789ABCDEFabcdef", max_size=300).map(str.encode)

        @settings(max_examples=200, deadline=None)
        @given(st.one_of(st.binary(max_size=300), hexes, valid, mutated))
        def prop(chars):
            self.check_call(chars)

        prop()

    def test_random_valid_requests_round_trip(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        known = (0x42, 0x44, 0x47, 0x4F, 0x51, 0x92, 0x93, 0x94, 0x96)
        reached = set()  # the commands whose payload the property checked
        # mostly our address, a known command and a command byte (2 or FF) first: the
        # payload checks below are the property's point, any byte the rest
        cmd_first = st.builds(
            lambda c, rest: bytes((c,)) + rest, st.sampled_from((2, 0xFF)), st.binary(max_size=11)
        )

        @settings(max_examples=200, deadline=None, derandomize=True)
        @given(
            st.integers(0, 255),
            st.one_of(st.just(2), st.just(2), st.integers(0, 255)),
            st.one_of(st.sampled_from(known), st.sampled_from(known), st.integers(0, 255)),
            st.one_of(cmd_first, st.binary(max_size=12)),
            st.booleans(),
        )
        def prop(ver, adr, cid2, info, lower):
            reply = self.check_call(body(ver, adr, 0x46, cid2, info, lower=lower))
            if adr != 2 and cid2 not in (0x4F, 0x51) or cid2 in REPLIES:
                self.assertIsNone(reply)
                return
            self.assertIsNotNone(reply)
            self.assertEqual(reply.ver, 0x33 if cid2 == 0x4F else ver)
            if cid2 in WITH_CMD and info and info[0] not in (2, 0xFF):
                self.assertEqual((reply.rtn, reply.info), (0x90, b""))
                return
            if cid2 == 0x94:
                self.assertEqual(len(reply.info), 0)
                self.assertIn(reply.rtn, (0x00, 0x06) if len(info) >= 9 else (0x05,))
                return
            if cid2 not in known:
                self.assertEqual((reply.rtn, reply.info), (0x04, b""))
                return
            self.assertEqual(reply.rtn, 0)
            d = reply.info
            self.assertEqual(len(d), INFO_BYTES[cid2])
            cmd = info[0] if info else 2
            if cid2 == 0x42:
                self.assertEqual(d[1], 1 if cmd == 0xFF else cmd)
                cells = [be16(d, 3 + 2 * i) for i in range(16)]
                self.assertEqual(cells, list(self.r.bms.sample.cells_mv))
            elif cid2 == 0x44:
                # INFO FF: the module count, as 0x42's (protocols.md 4.1: the system query)
                self.assertEqual(d[1], 1 if cmd == 0xFF else cmd)
            elif cid2 == 0x92:
                self.assertEqual(d[0], 2 if cmd == 0xFF else cmd)
            elif cid2 in (0x93, 0x96):
                self.assertEqual(d[0], 2)
            reached.add(cid2)

        prop()
        self.assertEqual(reached & {0x42, 0x44, 0x92, 0x93, 0x96}, {0x42, 0x44, 0x92, 0x93, 0x96})

    def test_random_core_states(self):
        from hypothesis import given, settings
        from hypothesis import strategies as st

        r = self.r

        @settings(max_examples=200, deadline=None)
        @given(
            st.lists(st.integers(900, 4300), min_size=16, max_size=16),  # with cell errors
            st.lists(st.integers(-300, 900), min_size=6, max_size=6),
            st.integers(-250000, 150000),
            st.integers(0, 10000),
            st.integers(0, 65535),
        )
        def prop(cells, temps, current, cpct, cycles):
            r.cells(cells)
            for slot in range(6):
                r.temps(temps[slot], slot)
            r.current(current)
            r.tick()
            set_soc(r, cpct, cycles)
            b = r.bms
            d = self.check_call(b"20024642E00202FD33").info
            self.assertEqual([be16(d, 3 + 2 * i) for i in range(16)], cells)
            self.assertEqual(
                [be16(d, 36 + 2 * i) - 2731 for i in range(6)],
                [temps[k] for k in (4, 0, 1, 2, 3, 5)],
            )
            self.assertLessEqual(abs(s16(be16(d, 48)) * 100 - b.reported_ma) * 2, 100)
            self.assertEqual((be16(d, 50), be16(d, 57)), (sum(cells), cycles))
            self.assertEqual(be24(d, 59), shown_mah(b.soc))
            self.assertEqual(be24(d, 62), b.soc.full_mas // 3600)
            d = self.check_call(b"20024692E00202FD2E").info
            lim = b.limits
            self.assertEqual((be16(d, 1), be16(d, 3)), (lim.cvl_mv, lim.dvl_mv))
            self.assertEqual(s16(be16(d, 5)), lim.ccl_ma // 100)
            self.assertEqual(s16(be16(d, 7)), -(lim.dcl_ma // 100))
            d = self.check_call(b"20024644E00202FD31").info
            errors = 0
            for i, v in enumerate(cells):
                if v > 4200 or v < 1000:
                    errors |= 1 << i
            self.assertEqual((d[32], d[33]), (errors & 0xFF, errors >> 8))

        prop()


@cpython_only("python-pylontech")
class PythonPylontechTest(ServerCase):
    """The real client (PyPI python-pylontech) against the server, over a fake port."""

    def client(self):
        from pylontech import Pylontech

        test = self

        class Port:
            def __init__(self):
                self.reply = b""

            def write(self, frame):
                test.assertTrue(frame.startswith(b"~") and frame.endswith(b"\r"))
                self.reply = test.ask(frame[1:-1]) or b""

            def readline(self):
                return self.reply  # pyserial's readline returns at the 2 s timeout on CR

        p = Pylontech.__new__(Pylontech)
        p.s = Port()
        return p

    def test_every_call(self):
        import contextlib
        import io

        self.r = make([3300 + i for i in range(16)], [-124, 250, 260, 270, 255, 350], -4000)
        set_soc(self.r, 8123, cycles=16)
        p = self.client()
        v = p.get_values_single(2)
        self.assertEqual([round(c * 1000) for c in v.CellVoltages], [3300 + i for i in range(16)])
        self.assertEqual(v.AverageBMSTemperature, 25.5)  # really the board sensor
        self.assertEqual(list(v.GroupedCellsTemperatures), [-12.4, 25.0, 26.0, 27.0, 35.0])
        self.assertEqual((v.Current, v.Voltage, v.CycleNumber), (-4.0, 52.92, 16))
        self.assertAlmostEqual(v.StateOfCharge, 0.8123)
        v = p.get_values()
        self.assertEqual(v.NumberOfModules, 1)
        self.assertAlmostEqual(v.StateOfCharge, 0.8123)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its debug
            m = p.get_management_info(2)
        self.assertEqual(
            (m.ChargeVoltageLimit, m.DischargeVoltageLimit, m.ChargeCurrentLimit),
            (56.0, 48.0, 5.0),  # derated by the -12.4 C cell sensor
        )
        self.assertEqual(m.DischargeCurrentLimit, -10.0)
        self.assertTrue(m.status.ChargeEnable and m.status.DischargeEnable)
        self.assertFalse(m.status.ShouldCharge)
        s = p.get_system_parameters()
        self.assertEqual((s.CellHighVoltageLimit, s.ChargeHighTemperatureLimit), (3.55, 50.0))
        self.assertEqual(s.DischargeCurrentLimit, -50.0)
        self.r.bms.uid[:] = bytes.fromhex("E6614104032B1A07")
        sn = p.get_module_serial_number(2)
        self.assertEqual(sn.ModuleSerialNumber, b"E6614104032B1A07")
        info = p.get_manufacturer_info()
        self.assertEqual(info.DeviceName, pylon_rs485.BATTERY_NAME)
        self.assertEqual(p.get_protocol_version().ver, b"\x33")
        self.assertEqual(p.scan_for_batteries(1, 4), {2: "E6614104032B1A07"})
        self.counts(replies=9, not_ours=2)  # a found battery is asked twice
