"""The Pylontech LV RS485 protocol V3.3: the battery's side, for protocol ID0.

Source: ../shared/spec/protocols.md section 4 (Pylon RS485 V3.3 and python-pylontech's
exact behaviour). A frame is `~ VER ADR CID1 CID2 LENGTH INFO CHKSUM \\r`, every field
hex ASCII. LENGTH is LCHKSUM (top nibble) and LENID (the INFO's character count);
CHKSUM is the two's complement of the sum of the characters between `~` and CHKSUM.

Lenient in what it takes: lower-case hex, INFO longer than LENID (the rest is ignored),
ADR 0 (or any) for 0x4F and 0x51, any VER. Exact in what it sends: upper case, `\\r`
only (python-pylontech reads up to `\\n` and asserts the checksum of what it got).
Replies carry an RTN: 00 normal, 02 CHKSUM error, 03 LCHKSUM error, 04 CID2 invalid, 05
command format error, 06 invalid data, 90 ADR error, 91 internal communication error
(0x42 while the front end's readings are lost: stale cells are not reported). A frame
for another address gets no reply (another battery may answer it), nor does a reply (a
CID2 that is an RTN); a frame at our address whose INFO command byte names another pack
(not our address, not 0xFF) gets RTN 90, never our data labelled as theirs; a line that
is not a frame at all is dropped.
Each case is counted; counters wrap at 2**30 (as SNMP counters do) so they stay small
ints. Replies are built in preallocated buffers.

Parallel packs: on the master, peers (packlink.PackLink) gives the other packs' values,
and ADR = address + k answers for chain address k + 1 (address + 0: this pack, with what
it is handed, the system's values as today), every reply labelled with that ADR; an ADR
of no pack counted gets no reply, as a frame for another battery. 0x94 at another pack's
ADR is refused (RTN 90): the inverter's limits apply to the master only. The system
answer (0x42 and 0x44 with INFO FF at the master's ADR, protocols.md 4.1) holds the
module count and one block per pack counted, in chain order (pylon_rs485_system.py):
4054 characters on the wire for 32 packs, written in parts of 1 KB (a heap in service
has no 4 KB piece to spare) made at the first such request, never at boot, and sent one
after the other (drivers.rs485 feeds them to the UART as its buffer drains). 32 blocks
fit one frame:
LENID's 12 bits hold 4095 characters of INFO, the 32-pack 0x42 needs 4036, so the
answer is never split or capped. A pack alone answers INFO FF with a count of 1.

0x94 (set charge/discharge management) is taken only inside our own envelope (the
config's DVL <= DV <= its re-start voltage (52.0 V: SMA takes no DVL above 48 V, and a DVL
over the pack would stop it), DV + 1000 mV <= CV <= the config's CVL; otherwise RTN 06); its
currents are clamped to our configured CCL/DCL (times the packs, on a master speaking for a
system: they bound the system's CCL/DCL, packsystem.py, and lapse as a pack's do).

Only what the every-second polls need is here (0x42, 0x44, 0x92, and 0x4F, which a
Voltronic asks with them). The rest, 0x47, 0x51, 0x93 and 0x96 (an inverter's or a
client's start, a bus scan) and 0x94, is in pylon_rs485_rare.py, and the system answer
in pylon_rs485_system.py, each imported at the first request it answers and kept (so that
a reply never allocates): a pack never asked them never holds that code.
"""

import micropython
from micropython import const

from bms import lazy
from bms import protections as pt
from protocols.fields import deciamps
from protocols.pylon_can import request_flags

_CID1_BATTERY = const(0x46)
_PROTOCOL_VERSION = const(0x33)  # V3.3, reported in the VER field of the 0x4F reply

_RTN_OK = const(0x00)
_RTN_VER = const(0x01)
_RTN_CHKSUM = const(0x02)
_RTN_LCHKSUM = const(0x03)
_RTN_CID2 = const(0x04)
_RTN_FORMAT = const(0x05)
_RTN_DATA = const(0x06)
_RTN_ADR = const(0x90)
_RTN_INTERNAL = const(0x91)  # internal error: the readings lost, no room for the system answer

_ANALOG = const(0x42)
_ALARMS = const(0x44)
_PARAMETERS = const(0x47)
_VERSION = const(0x4F)
_MANUFACTURER = const(0x51)
_MANAGEMENT = const(0x92)
_SERIAL = const(0x93)
_SET_MANAGEMENT = const(0x94)
_SOFTWARE = const(0x96)

SET_EXPIRY_MS = const(10000)  # 0x94 limits lapse unless re-sent within 10 s
_KELVIN_OFFSET = const(2731)  # temperatures: 0.1 K with this offset (25.5 C = 2986)

BATTERY_NAME = b"OB-LFP-16S"  # 10 characters
MANUFACTURER_NAME = b"OPEN BMS FIRMWARE   "  # 20 characters
SW_VERSION = b"\x01\x00"
MAIN_VERSION = b"\x01\x00\x00"

_HEX = const(b"0123456789ABCDEF")
# constant tuples: a literal tuple in a loop is built (allocated) each time it runs, a
# const() one is made once, when the module is loaded, and takes no global name
_NIBBLES = const((12, 8, 4, 0))  # shifts of a 16-bit value's hex digits, first to last
# T1 the BMS board, T2-T5 the cell groups, T6 the MOSFETs
_TEMP_ORDER = const((4, 0, 1, 2, 3, 5))
# bms.protections' SCP (11): a discharge over-current in 0x44's status 1, as in CAN 0x359
# (it had no bit: a pack in fault mode read all clear)
_SCP_BIT = const(0x800)
# 0x44 status 1: (bit, protections that set it)
_STATUS1 = (
    (7, 1 << pt.PUVP),
    (6, 1 << pt.CHTP),
    (5, 1 << pt.DHTP),
    (4, 1 << pt.DOCP | _SCP_BIT),
    (2, 1 << pt.COCP),
    (1, 1 << pt.CUVP),
    (0, 1 << pt.POVP | 1 << pt.COVP),
)
# The pack's own failures (bms.protections' REVERSE, SENSOR_FAIL, MOS_FAIL and
# PRECHARGE_FAIL, bits 12-15: CAN 0x359's system error) have no bit in 0x44's status 1:
# they set its module-voltage state to F0, the protocol's "other error", and nothing else
# does (without it a pack in fault mode, its FETs open, read all clear)
_FAILURES = const(0xF000)
_MAX_INFO = const(96)  # bytes of INFO in a reply (0x42 needs 66)
_HEAD = const(13)  # `~` and the 12 header characters: where INFO starts
# the system answer (0x42 or 0x44 with INFO FF on a master with others): at most
# SYSTEM_PACKS blocks (packlink_can.MAX_ADDRESS) of at most BLOCK_42 bytes (0x44's are
# 32) after INFOFLAG and the count: 2 + 32 x 63 = 2018 bytes, 4036 characters, within
# LENID's 12 bits (4095)
SYSTEM_PACKS = const(32)
_BLOCK_42 = const(63)
_SYSTEM_OUT = const(18 + 2 * (2 + SYSTEM_PACKS * _BLOCK_42))
_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates
# commands whose INFO starts with a command byte that names the pack (protocols.md 4.1)
_WITH_CMD = const((_ANALOG, _ALARMS, _MANAGEMENT, _SERIAL, _SET_MANAGEMENT, _SOFTWARE))
# asked when an inverter or a client starts or scans the bus, not in the polls that come
# every second (0x42, 0x44, 0x92; a Voltronic asks 0x4F too, answered here): their code is
# in protocols/pylon_rs485_rare.py
_RARE = const((_PARAMETERS, _MANUFACTURER, _SERIAL, _SOFTWARE))


ptr8 = int  # viper's pointer type, named for CPython (annotations are evaluated)


# The per-character work is viper (machine code): a 0x42 reply is 130 characters, and a
# Python loop over them costs milliseconds on an RP2040.
@micropython.viper
def _hex_only(frame: ptr8, n: int) -> bool:
    """frame[0:n] holds only hex digits (either case)."""
    k = 0
    while k < n:
        c = frame[k]
        if not (48 <= c and c <= 57):
            c |= 0x20
            if not (97 <= c and c <= 102):
                return False
        k += 1
    return True


@micropython.viper
def _sum(buf: ptr8, lo: int, hi: int) -> int:
    """The sum of buf[lo:hi]."""
    total = 0
    k = lo
    while k < hi:
        total += buf[k]
        k += 1
    return total


@micropython.viper
def _unhex(frame: ptr8, k: int, dst: ptr8, m: int):
    """m bytes from the 2 m hex digits at frame[k:] (checked by _hex_only) into dst."""
    i = 0
    while i < m:
        hi = frame[k]
        lo = frame[k + 1]
        hi = hi - 48 if hi <= 57 else (hi | 0x20) - 87
        lo = lo - 48 if lo <= 57 else (lo | 0x20) - 87
        dst[i] = hi << 4 | lo
        k += 2
        i += 1


@micropython.viper
def _hex(out: ptr8, k: int, src: ptr8, n: int, digits: ptr8) -> int:
    """src[0:n] as 2 n upper-case hex digits into out[k:]; returns the index after."""
    i = 0
    while i < n:
        v = src[i]
        out[k] = digits[v >> 4]
        out[k + 1] = digits[v & 0xF]
        k += 2
        i += 1
    return k


@micropython.viper
def _put16s(info: ptr8, k: int, values, n: int) -> int:
    """n values of a list as big-endian unsigned 16-bit words into info[k:], held at 0
    and 65 535 (a cell read at -0.3 V, an open sense wire, wrapped to 65.2 V); returns
    the index after."""
    i = 0
    while i < n:
        v = int(values[i])
        if v < 0:
            v = 0
        elif v > 0xFFFF:
            v = 0xFFFF
        info[k] = (v >> 8) & 0xFF
        info[k + 1] = v & 0xFF
        k += 2
        i += 1
    return k


def lchksum(lenid):
    return (-((lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF))) & 0xF


class Server:
    def __init__(self, address=2):
        """address: this pack's ADR. The body (every attribute, commented) is in
        protocols/pylon_rs485_init.py, loaded for it and dropped after: built once."""
        lazy.run("protocols.pylon_rs485_init", "init", self, address)

    # -- reading a frame -----------------------------------------------------------
    def valid(self, frame, n):
        """Whether frame[0:n] is a sender's whole frame (hex, its CHKSUM right), whoever
        it is for: what a muted pack takes for an inverter on its Link IN."""
        if n < 16 or not _hex_only(frame, n):
            return False
        req = self.req
        _unhex(frame, n - 4, req, 2)
        return req[0] << 8 | req[1] == (-_sum(frame, 0, n - 4)) & 0xFFFF

    def handle(self, frame, n, b, now):
        """frame[0:n]: the characters between `~` and `\\r`. Returns the reply's length
        in self.out (0: no reply). b: the core (bms.core.Bms)."""
        if n < 16:
            self.not_frames = (self.not_frames + 1) & _COUNT_MASK
            return 0
        if not _hex_only(frame, n):
            self.not_frames = (self.not_frames + 1) & _COUNT_MASK
            return 0
        req = self.req
        _unhex(frame, 0, req, 6)  # the header's bytes, through LENGTH
        ver = req[0]
        adr = req[1]
        cid1 = req[2]
        cid2 = req[3]
        length = req[4] << 8 | req[5]
        # CHKSUM covers every character: a frame that passes it is a sender's whole
        # frame (whatever else is wrong with it); one that fails is noise or broken on
        # the wire, counted bad_chksum whatever address it seems to name (that may be
        # the broken byte), and no sign of the inverter (inverter_link's poll)
        whole = self.valid(frame, n)
        # (a broken frame's CID2 is no more to be trusted than its ADR)
        anyone = whole and (cid2 == _VERSION or cid2 == _MANUFACTURER)
        self.at = self.address
        if adr != self.address and not anyone:
            peer = None
            if self.peers is not None and adr > self.address:
                peer = self.peers.peer(adr - self.address + 1, b)
            if peer is None:
                if whole:
                    self.not_ours = (self.not_ours + 1) & _COUNT_MASK
                else:
                    self.bad_chksum = (self.bad_chksum + 1) & _COUNT_MASK
                return 0
            self.at = adr
            b = peer
        if not whole:
            self.bad_chksum = (self.bad_chksum + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_CHKSUM, 0)
        if cid1 == _CID1_BATTERY and (
            cid2 <= _RTN_DATA or cid2 == _RTN_ADR or cid2 == _RTN_INTERNAL
        ):
            # a reply (its CID2 an RTN), not a request, whatever its INFO: answered, a
            # reply of ours echoed back or another battery's at our ADR went round the
            # bus for ever (a 0x42 reply's 65 bytes of INFO, answered RTN 05, once more)
            self.not_ours = (self.not_ours + 1) & _COUNT_MASK
            return 0
        lenid = length & 0xFFF
        if length >> 12 != lchksum(lenid):
            self.bad_lchksum = (self.bad_lchksum + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_LCHKSUM, 0)
        have = n - 16
        if have < lenid or lenid & 1:
            self.bad_format = (self.bad_format + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_FORMAT, 0)
        if have > lenid:
            # lenient: the extra characters are ignored
            self.extra_info = (self.extra_info + 1) & _COUNT_MASK
        m = lenid // 2
        if m > len(req):
            self.bad_format = (self.bad_format + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_FORMAT, 0)
        _unhex(frame, 12, req, m)
        if cid1 != _CID1_BATTERY:
            self.bad_cid = (self.bad_cid + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_CID2, 0)
        return self._dispatch(ver, cid2, m, b, now)

    # -- commands ------------------------------------------------------------------
    def _dispatch(self, ver, cid2, m, b, now):
        req = self.req
        cmd = req[0] if m else self.at
        if cmd != self.at and cmd != 0xFF and cid2 in _WITH_CMD:
            # the frame's ADR is ours, so no other pack answers: say why, not silence
            self.bad_adr = (self.bad_adr + 1) & _COUNT_MASK
            return self._reply(ver, _RTN_ADR, 0)
        if (
            cmd == 0xFF
            and (cid2 == _ANALOG or cid2 == _ALARMS)
            and self.peers is not None
            and self.peers.system(b)
        ):
            return self._system(ver, cid2, b)
        info = self.info
        if cid2 == _ANALOG:
            if not b.sample.valid:  # the last cells read are stale: say so, not them
                self.blind = (self.blind + 1) & _COUNT_MASK
                return self._reply(ver, _RTN_INTERNAL, 0)
            info[0] = 0x11  # INFOFLAG
            info[1] = 1 if cmd == 0xFF else cmd  # module count (system query) or the address
            return self._reply(ver, _RTN_OK, self._analog_block(b, 2))
        if cid2 == _ALARMS:
            info[0] = 0x00  # DATAFLAG
            info[1] = 1 if cmd == 0xFF else cmd  # module count (system query), as 0x42's
            return self._reply(ver, _RTN_OK, self._alarms_block(b, 2))
        if cid2 == _MANAGEMENT:
            lim = b.limits
            info[0] = self.at if cmd == 0xFF else cmd
            k = self._put16(1, lim.cvl_mv)
            k = self._put16(k, lim.dvl_mv)
            k = self._put16(k, lim.ccl_ma // 100)
            k = self._put16(k, -(lim.dcl_ma // 100))  # negative, as python-pylontech expects
            info[k] = request_flags(lim)
            return self._reply(ver, _RTN_OK, k + 1)
        if cid2 == _VERSION:
            return self._reply(_PROTOCOL_VERSION, _RTN_OK, 0)
        if cid2 in _RARE:
            return self._rare().answer(self, ver, cid2, b)
        if cid2 == _SET_MANAGEMENT:
            if self.at != self.address:
                self.bad_adr = (self.bad_adr + 1) & _COUNT_MASK
                return self._reply(ver, _RTN_ADR, 0)
            return self._reply(ver, self._rare().set_management(self, b, m, now), 0)
        self.bad_cid = (self.bad_cid + 1) & _COUNT_MASK
        return self._reply(ver, _RTN_CID2, 0)

    def _put16(self, k, v):
        self.info[k] = (v >> 8) & 0xFF
        self.info[k + 1] = v & 0xFF
        return k + 2

    def _put24(self, k, v):
        info = self.info
        info[k] = (v >> 16) & 0xFF
        info[k + 1] = (v >> 8) & 0xFF
        info[k + 2] = v & 0xFF
        return k + 3

    def _analog_block(self, b, k):
        """Pack b's 0x42 block (cell count to total capacity 2) into info[k:]."""
        s = b.sample
        soc = b.soc
        info = self.info
        info[k] = 16
        k = _put16s(info, k + 1, s.cells_mv, 16)
        t = s.temps_dc
        info[k] = 6
        k += 1
        for slot in _TEMP_ORDER:
            k = self._put16(k, t[slot] + _KELVIN_OFFSET)
        k = self._put16(k, deciamps(b.reported_ma))
        v = s.stack_mv
        k = self._put16(k, v if v < 0xFFFF else 0xFFFF)  # (held: up to 88 V is a reading)
        k = self._put16(k, 0xFFFF)  # remaining capacity 1: unused above 65 Ah
        info[k] = 4  # user-defined items: 4 for a pack over 65 Ah
        k += 1
        k = self._put16(k, 0xFFFF)  # total capacity 1
        k = self._put16(k, soc.cycles)
        # remaining: the SOC shown (held at 99 % until a full calibration), as CAN's
        # 0x355 says, not the count (it read 100 % here while 0x355 said 99 %)
        k = self._put24(k, soc.full_mah() // 100 * soc.shown_cpct // 100)
        return self._put24(k, soc.full_mah())  # full

    def _alarms_block(self, b, k):
        """Pack b's 0x44 block (cell count to status 5) into info[k:]. Readings not valid
        (the front end lost, or a pack just joined whose cells are not heard yet) are
        every cell and sensor in error (F0), not the states of the last values: the
        protection status bytes still tell the inverter why."""
        s = b.sample
        stale = not s.valid
        cfg = b.cfg
        names = b.engine.names
        info = self.info
        info[k] = 16
        k += 1
        errors = 0
        # the thresholds read once (on the master, b.cfg reads through to its own config)
        high = cfg.covp_warn_mv
        low = cfg.cuvp_warn_mv
        cells = s.cells_mv
        for i in range(16):
            v = cells[i]
            if stale or v > 4200 or v < 1000:
                state = 0xF0
                errors |= 1 << i
            elif v >= high:
                state = 0x02
            elif v <= low:
                state = 0x01
            else:
                state = 0
            info[k] = state
            k += 1
        info[k] = 6
        k += 1
        hot = cfg.chtp_warn_dc
        cold = cfg.cltp_warn_dc
        temps = s.temps_dc
        for slot in _TEMP_ORDER:
            v = temps[slot]
            high = cfg.mos_otp_warn_dc if slot == 5 else hot
            if stale:
                info[k] = 0xF0
            else:
                info[k] = 0x02 if v >= high else (0x01 if v <= cold else 0)
            k += 1
        high_current = names & (1 << pt.HIGH_CURRENT)
        info[k] = 0x02 if high_current and b.reported_ma > 0 else 0  # charge current
        info[k + 1] = (
            0xF0
            if names & _FAILURES
            else 0x02
            if names & (1 << pt.HIGH_VOLTAGE)
            else 0x01
            if names & (1 << pt.LOW_VOLTAGE)
            else 0
        )
        info[k + 2] = 0x02 if high_current and b.reported_ma < 0 else 0  # discharge current
        k += 3
        st1 = 0
        for bit, mask in _STATUS1:
            if names & mask:
                st1 |= 1 << bit
        st2 = (8 if b.reported_ma < 0 else 0) | (4 if b.dsg else 0) | (2 if b.chg else 0)
        st2 |= 1 if b.pre else 0
        st3 = (0x80 if b.reported_ma > 0 else 0) | (0x40 if b.reported_ma < 0 else 0)
        if b.soc.shown_cpct >= 10000:
            st3 |= 0x08
        info[k] = st1
        info[k + 1] = st2
        info[k + 2] = st3
        info[k + 3] = errors & 0xFF
        info[k + 4] = errors >> 8
        return k + 5

    def _rare(self):
        """protocols/pylon_rs485_rare.py, imported at the first request it answers and kept
        (an import allocates, even of a module already loaded)."""
        rare = self.rare
        if rare is None:
            from protocols import pylon_rs485_rare as rare

            self.rare = rare
        return rare

    def _system(self, ver, cid2, b):
        """The system answer (protocols/pylon_rs485_system.py), its code and its Answer
        made at the first request and kept; without room for them or for a part of the
        answer, RTN 91, counted, and the next request tries again."""
        big = self.big
        if big is None:
            try:
                from protocols.pylon_rs485_system import Answer

                big = self.big = Answer()
            except MemoryError:
                big = None
        n = big.build(self, ver, cid2, b) if big is not None else 0
        if n:
            return n
        self.no_room = (self.no_room + 1) & _COUNT_MASK
        return self._reply(ver, _RTN_INTERNAL, 0)

    # -- writing a reply -----------------------------------------------------------
    def _reply(self, ver, rtn, info_len):
        out = self.out
        self.big_out = False
        k = _hex(out, self._head(out, ver, rtn, 2 * info_len), self.info, info_len, _HEX)
        return self._tail(out, k)

    def _head(self, out, ver, rtn, lenid):
        """`~`, VER, ADR, CID1, RTN and LENGTH for lenid characters of INFO; returns
        where the INFO starts (_HEAD)."""
        out[0] = 0x7E  # ~
        # (no tuple of the four: built at run time, it would allocate on every reply)
        k = _hex2(out, 1, ver)
        k = _hex2(out, k, self.at)
        k = _hex2(out, k, _CID1_BATTERY)
        k = _hex2(out, k, rtn)
        length = lchksum(lenid) << 12 | lenid
        for shift in _NIBBLES:
            out[k] = _HEX[(length >> shift) & 0xF]
            k += 1
        return k

    def _tail(self, out, k, lo=1, before=0):
        """CHKSUM and CR after the INFO ending at out[k]; returns the reply's length (in
        out). The checksum covers out[lo:k] and the characters before it whose sum is
        before (the system answer's parts before out)."""
        check = (-(before + _sum(out, lo, k))) & 0xFFFF
        for shift in _NIBBLES:
            out[k] = _HEX[(check >> shift) & 0xF]
            k += 1
        out[k] = 0x0D  # \r only: python-pylontech's readline would break on \r\n
        self.replies = (self.replies + 1) & _COUNT_MASK
        return k + 1

    def reply(self, n):
        """The last reply, n bytes: a memoryview of them, made once per length; the
        system answer's, a list of views of its parts (for drivers.rs485's send)."""
        if self.big_out:
            return self.big.views()
        view = self._views.get(n)
        if view is None:
            view = memoryview(self.out)[:n]
            self._views[n] = view
        return view


def _hex2(out, k, v):
    out[k] = _HEX[v >> 4]
    out[k + 1] = _HEX[v & 0xF]
    return k + 2
