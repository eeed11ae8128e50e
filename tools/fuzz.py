"""Fuzzing every input decoder of the firmware (issue 14, item 1).

    python tools/fuzz.py [--count N] [--seed S] [--only NAME[,NAME]] [--case K] [--jobs J]
                         [--results]
    micropython tools/fuzz.py [--count N] [--seed S] [--only NAME] [--case K]

Each decoder is one class below: a seeded generator (random bytes, and valid inputs
mutated so that the fuzzer reaches deep code: bit flips, truncation, insertion, deleted
and duplicated fields, out-of-range numbers, checksums fixed up again) and a checker
that judges every input against the properties of the issue:
- no exception escapes (except those the decoder's contract names);
- invalid input changes no state but a counter (each checker snapshots the state);
- every reply follows the protocol (checked with codecs written here from the specs,
  never with the firmware's own helpers);
- no allocation growth over the run: memory (gc.mem_alloc() under MicroPython, allocated
  blocks under CPython, after a collection) read 16 times over the run after the
  warm-up (the first inputs, then each decoder's rare() inputs: the paths random inputs
  meet seldom, whose first use allocates once), its growth taken at its trend (the
  least-squares slope from a quarter of the run on, times the inputs run): a per-input
  leak counts in full, what a first use or an interpreter cache adds once early does
  not. A run of 100 000 inputs or more prints each reading (stderr) as it goes. Under
  MicroPython the calls the firmware makes on its per-tick path (the RS485 server, the
  CAN receive path, the drivers' reads) also run with the heap locked, so a single
  allocation is a finding.

The decoders: the Pylon RS485 server (rs485_server) and the RS485 port's frame assembly
with the server behind it, as the link runs them (rs485_stream); every CAN frame the
firmware receives, through the simulated MCP2515's filters and the link (can_rx); the
MCP2515 driver fed garbage by its simulated chip (mcp2515_chip); the BQ76952 driver fed
garbage by its simulated chip (bq76952_chip); the store's loaders on corrupted files,
and the app's boot on them (store); the config loader (config); the scenario parser
(scenario).

Prints one line per decoder with its count, findings, seconds and allocation growth,
then every finding with its input and the command that reproduces it (the case alone,
on a fresh fixture). Exit status 1 when anything was found. `make fuzz` runs 1 000 000
inputs per decoder; the test suite (host_tests/test_fuzz.py) 10 000 under both runtimes.
--results (CPython) puts the figures into bench/results.json: fuzz_inputs_min (the fewest
inputs a decoder ran), fuzz_findings, fuzz_growth_max and fuzz_by_decoder
({decoder: [inputs, findings, seconds, growth]}).
"""

import hostpath

import gc
import json
import sys
from array import array

import micropython

from boards.host.world.pack_model import Rng

MICROPYTHON = hostpath.MICROPYTHON
_COUNT_LIMIT = 0x3FFFFFFF  # the firmware's counters wrap below this


class Bad(Exception):
    """A property failed (the message says which)."""


def expect(cond, what, *args):
    if not cond:
        raise Bad(what % args if args else what)


def mem():
    """A measure of live memory: bytes under MicroPython, allocated blocks under CPython.
    CPython's type attribute cache (4096 entries) holds a reference to the last name
    looked up in each entry: names made at run time (bms.lazy's drop() slices one, every
    class of a module imported again takes new entries) live on in it, up to 4096 blocks
    that fill the entries slowly over a run. It is emptied before counting: what it
    holds is the interpreter's, and no object the firmware keeps is freed by it."""
    if not MICROPYTHON:
        sys._clear_type_cache()
    gc.collect()
    if MICROPYTHON:
        return gc.mem_alloc()
    return sys.getallocatedblocks()


def scratch(name):
    """A scratch file of this runtime (make test runs both suites at once)."""
    return hostpath.scratch() + "/" + name


_locking = [False]  # after the warm-up (buffers and views made once, on first use)


def lock():
    """Under MicroPython after the warm-up: lock the heap (an allocation raises
    MemoryError) until unlock(); a no-op under CPython. (A `with` block would allocate
    its exit arguments.)"""
    if MICROPYTHON and _locking[0]:
        micropython.heap_lock()


def unlock():
    if MICROPYTHON and _locking[0]:
        micropython.heap_unlock()


# -- generators --------------------------------------------------------------------------------

INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x7E, 0x0D, 0x0A, 0x30, 0x39, 0x41, 0x46, 0x61, 0x7A)
HEX_FIELDS = (b"FF", b"00", b"7F", b"80", b"FFFF", b"0000", b"7FFF", b"8000", b"ff", b"G0")


def pick(rng, seq):
    return seq[rng.next() % len(seq)]


def rbytes(rng, n, alphabet=None):
    out = bytearray(n)
    for i in range(n):
        r = rng.next()
        out[i] = (r >> 8) & 0xFF if alphabet is None else alphabet[r % len(alphabet)]
    return bytes(out)


def mutate(rng, data, rounds=0):
    """1 to 3 (or `rounds`) edits: a bit flipped, a byte replaced (random or interesting),
    truncated, bytes inserted or deleted, a slice duplicated (a repeated field), two
    bytes swapped, a 2- or 4-character field replaced by an out-of-range number."""
    b = bytearray(data)
    for _ in range(rounds or 1 + rng.next() % 3):
        n = len(b)
        op = rng.next() % 10
        k = rng.next() % n if n else 0
        if op == 0 and n:
            b[k] ^= 1 << (rng.next() & 7)
        elif op == 1 and n:
            b[k] = rng.next() & 0xFF
        elif op == 2 and n:
            b[k] = pick(rng, INTERESTING)
        elif op == 3 and n:
            b = b[:k]
        elif op == 4:
            b[k:k] = rbytes(rng, 1 + rng.next() % 4)
        elif op == 5 and n:
            end = k + 1 + rng.next() % 8
            b[k:end] = b""
        elif op == 6 and n:
            end = k + 1 + rng.next() % 12
            b[k:k] = b[k:end]
        elif op == 7 and n > 1:
            j = rng.next() % n
            b[k], b[j] = b[j], b[k]
        elif op == 8 and n > 4:
            field = pick(rng, HEX_FIELDS)
            k &= ~1
            b[k : k + len(field)] = field
        else:
            b.append(pick(rng, INTERESTING))
    return bytes(b)


# -- the Pylon RS485 codec, from ../shared/spec/protocols.md section 4 --------------------------

CID1 = 0x46
KNOWN = (0x42, 0x44, 0x47, 0x4F, 0x51, 0x92, 0x93, 0x94, 0x96)
REPLIES = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x90, 0x91)  # a reply's CID2: its RTN
WITH_CMD = (0x42, 0x44, 0x92, 0x93, 0x94, 0x96)  # INFO starts with the command byte
INFO_BYTES = {0x42: 65, 0x44: 34, 0x47: 25, 0x4F: 0, 0x51: 32, 0x92: 10, 0x93: 17, 0x96: 6}
REQ_MAX = 64  # the longest request INFO the server takes (its buffer); longer: RTN 05
HEXU = b"0123456789ABCDEF"
ADDRESS = 2
SERVER_COUNTERS = (
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
RTN_OF = {
    "replies": 0x00,
    "bad_chksum": 0x02,
    "bad_lchksum": 0x03,
    "bad_cid": 0x04,
    "bad_format": 0x05,
    "bad_data": 0x06,
    "bad_adr": 0x90,
    "blind": 0x91,
}


def lchk(lenid):
    return (-((lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF))) & 0xF


def chk(chars):
    total = 0
    for c in chars:
        total += c
    return (-total) & 0xFFFF


def hexed(data):
    out = bytearray()
    for v in data:
        out.append(HEXU[v >> 4])
        out.append(HEXU[v & 0xF])
    return bytes(out)


def pylon_body(ver, adr, cid1, cid2, info, lower=False):
    """The characters between `~` and CR of a request."""
    lenid = 2 * len(info)
    head = hexed(bytes((ver, adr, cid1, cid2)))
    text = head + ("%X%03X" % (lchk(lenid), lenid & 0xFFF)).encode() + hexed(info)
    if lower:
        text = text.lower()
    return text + ("%04X" % chk(text)).encode()


def refix(body, length=True):
    """A mutated body made whole again: LENGTH from its INFO (unless length is False),
    CHKSUM from its characters (so that the server looks further in)."""
    if len(body) < 16:
        return body
    b = bytearray(body[:-4])
    if length:
        lenid = (len(b) - 12) & 0xFFF
        b[8:12] = ("%X%03X" % (lchk(lenid), lenid)).encode()
    return bytes(b) + ("%04X" % chk(b)).encode()


HEX_DIGITS = b"0123456789ABCDEF"


def hex_mutate(rng, body):
    """Edits that keep a body hex: a digit changed, a byte field set to an out-of-range
    value, bytes duplicated, deleted or inserted, the LENGTH nibble changed, cut short."""
    b = bytearray(body)
    for _ in range(1 + rng.next() % 2):
        n = len(b)
        op = rng.next() % 7
        k = (rng.next() % n) & ~1 if n else 0
        if op == 0 and n:
            b[k + (rng.next() & 1) if k + 1 < n else k] = pick(rng, HEX_DIGITS)
        elif op == 1 and n > 2:
            b[k : k + 2] = pick(rng, (b"FF", b"00", b"7F", b"80", b"02", b"46", b"FE"))
        elif op == 2 and n:
            b[k:k] = b[k : k + 2 * (1 + rng.next() % 4)]
        elif op == 3 and n:
            b[k : k + 2 * (1 + rng.next() % 3)] = b""
        elif op == 4:
            b[k:k] = rbytes(rng, 2 * (1 + rng.next() % 3), HEX_DIGITS)
        elif op == 5 and n > 9:
            b[8] = pick(rng, HEX_DIGITS)
        elif n:
            b = b[: rng.next() % n]
    return bytes(b)


def is_hex(c):
    return 48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102


def unhex(chars, k, n):
    """n bytes from the hex digits at chars[k:]."""
    return bytes(int(chars[k + 2 * i : k + 2 * i + 2].decode(), 16) for i in range(n))


def classify(chars, blind, cfg):
    """What the server must do with a request (README "Talking to the inverter" and
    protocols.md 4.2): (the counter that moves, the reply's RTN or None for no reply,
    whether INFO ran past LENID, the request's VER and CID2, the 0x94 values or None)."""
    n = len(chars)
    if n < 16:
        return "not_frames", None, False, 0, 0, None
    for c in chars:
        if not is_hex(c):
            return "not_frames", None, False, 0, 0, None
    head = unhex(chars, 0, 4)
    ver, adr, cid1, cid2 = head[0], head[1], head[2], head[3]
    if int(chars[n - 4 :].decode(), 16) != chk(chars[: n - 4]):
        # broken: answered only at our address (its CID2 may be the broken byte too)
        return "bad_chksum", 0x02 if adr == ADDRESS else None, False, ver, cid2, None
    if adr != ADDRESS and cid2 not in (0x4F, 0x51):
        return "not_ours", None, False, ver, cid2, None
    if cid1 == CID1 and cid2 in REPLIES:  # a reply, not a request: never answered
        return "not_ours", None, False, ver, cid2, None
    length = int(chars[8:12].decode(), 16)
    lenid = length & 0xFFF
    if length >> 12 != lchk(lenid):
        return "bad_lchksum", 0x03, False, ver, cid2, None
    have = n - 16
    if have < lenid or lenid & 1:
        return "bad_format", 0x05, False, ver, cid2, None
    extra = have > lenid
    m = lenid // 2
    if m > REQ_MAX:
        return "bad_format", 0x05, extra, ver, cid2, None
    if cid1 != CID1:
        return "bad_cid", 0x04, extra, ver, cid2, None
    info = unhex(chars, 12, m)
    cmd = info[0] if m else ADDRESS
    if cmd != ADDRESS and cmd != 0xFF and cid2 in WITH_CMD:
        return "bad_adr", 0x90, extra, ver, cid2, None
    if cid2 == 0x42 and blind:
        return "blind", 0x91, extra, ver, cid2, None
    if cid2 == 0x94:
        if m < 9:
            return "bad_format", 0x05, extra, ver, cid2, None
        cv = info[1] << 8 | info[2]
        dv = info[3] << 8 | info[4]
        # our envelope (pylon_rs485's docstring): DVL <= DV <= re-start, DV + 1 V <= CV <= CVL
        if dv < cfg.dvl_mv or dv > cfg.float_exit_mv or cv > cfg.cvl_mv or cv < dv + 1000:
            return "bad_data", 0x06, extra, ver, cid2, None
        return "replies", 0x00, extra, ver, cid2, (cv, dv)
    if cid2 in KNOWN:
        return "replies", 0x00, extra, ver, cid2, None
    return "bad_cid", 0x04, extra, ver, cid2, None


def check_reply(raw, ver, rtn, info_len):
    """A reply on the wire: `~`, upper-case hex, CR only, CHKSUM, LENGTH with LCHKSUM, our
    address, CID1 0x46, the expected VER, RTN and INFO length."""
    expect(len(raw) >= 18, "reply too short: %r", raw)
    expect(raw[0] == 0x7E and raw[len(raw) - 1] == 0x0D, "reply framing: %r", raw)
    chars = raw[1 : len(raw) - 1]
    for c in chars:
        expect(c in HEXU, "reply not upper-case hex: %r", raw)
    expect(len(chars) % 2 == 0, "reply of odd length: %r", raw)
    expect(int(chars[-4:].decode(), 16) == chk(chars[:-4]), "reply CHKSUM: %r", raw)
    length = int(chars[8:12].decode(), 16)
    lenid = length & 0xFFF
    expect(length >> 12 == lchk(lenid), "reply LCHKSUM: %r", raw)
    expect(lenid == len(chars) - 16, "reply LENID: %r", raw)
    head = unhex(chars, 0, 4)
    expect(head[1] == ADDRESS and head[2] == CID1, "reply ADR/CID1: %r", raw)
    expect(head[0] == ver, "reply VER %02X, not %02X: %r", head[0], ver, raw)
    expect(head[3] == rtn, "reply RTN %02X, not %02X: %r", head[3], rtn, raw)
    expect(lenid == 2 * info_len, "reply INFO of %d bytes, not %d: %r", lenid // 2, info_len, raw)


def settled_core(overrides=None, ticks=40):
    """A core (bms.core.Bms) past its boot settle time, FETs closed, a nominal pack."""
    from bms import events as ev
    from bms.config import Config
    from bms.core import Bms, Inputs
    from bms.sample import Sample

    b = Bms(Config(overrides or {}), ev.EventLog())
    s = Sample()
    for i in range(16):
        s.cells_mv[i] = 3300
    for i in range(6):
        s.temps_dc[i] = 250
    s.stack_mv = s.pack_mv = s.ld_mv = 52800
    s.valid = True
    inp = Inputs()
    now = 1000
    for _ in range(ticks):
        now += 100
        s.reduce()
        b.step(s, inp, now, 100)
    return b, now


def limit_state(b):
    lim = b.limits
    return (
        lim.ext_active,
        lim.ext_cv_mv,
        lim.ext_dv_mv,
        lim.ext_ccl_ma,
        lim.ext_dcl_ma,
        lim.ext_until,
    )


class Decoder:
    """One decoder: a fixture, a generator and a checker."""

    name = ""

    def __init__(self, seed):
        self.seed = seed

    def generate(self, rng):
        raise NotImplementedError

    def check(self, inp):
        raise NotImplementedError

    def rare(self):
        """Inputs that reach the paths the random ones meet seldom, run once at the end of
        the warm-up: what they allocate the first time is not growth over the run."""
        return ()

    def show(self, inp):
        """The input as people read it in a finding."""
        text = repr(inp)
        return text if len(text) < 600 else text[:600] + "..."


def pylon_request(rng, cfg):
    """A request as an inverter sends it, with odd fields now and then."""
    ver = pick(rng, (0x20, 0x20, 0x20, 0x25, 0x00, rng.next() & 0xFF))
    adr = pick(rng, (2, 2, 2, 2, 2, 2, 2, 0, 3, rng.next() & 0xFF))
    cid1 = CID1 if rng.next() % 16 else rng.next() & 0xFF
    cid2 = pick(rng, KNOWN + (0x94, 0x94, 0x94, 0x42, 0x95, 0x61, rng.next() & 0xFF))
    info = bytearray()
    if cid2 in WITH_CMD or rng.next() % 4 == 0:
        info.append(pick(rng, (2, 2, 2, 0xFF, 3, 0, rng.next() & 0xFF)))
    if cid2 == 0x94 and rng.next() % 8:
        if rng.next() & 1:  # inside our envelope
            dv = cfg.dvl_mv + rng.next() % (cfg.float_exit_mv - cfg.dvl_mv + 1)
            cv = dv + 1000 + rng.next() % (cfg.cvl_mv - dv - 999)
        else:
            edges = (cfg.cvl_mv, cfg.dvl_mv, cfg.float_exit_mv, cfg.cvl_mv + 1, cfg.dvl_mv - 1)
            cv = pick(rng, edges + (cfg.float_exit_mv + 999, 0, 0xFFFF, rng.next() & 0xFFFF))
            dv = pick(rng, edges + (cfg.float_exit_mv + 1, 0, 0xFFFF, rng.next() & 0xFFFF))
        for v in (cv, dv, rng.next() & 0xFFFF, pick(rng, (0, 500, 0x8000, 0xFFD8, 0xFFFF))):
            info.append(v >> 8 & 0xFF)
            info.append(v & 0xFF)
    for _ in range(pick(rng, (0, 0, 0, 0, 1, 2, 7, 40))):
        info.append(rng.next() & 0xFF)
    return pylon_body(ver, adr, cid1, cid2, bytes(info), lower=rng.next() % 8 == 0)


def pylon_input(rng, cfg):
    """Random bytes, random hex, or a request: as sent, edited as hex and made whole again
    (or not), or mangled in any way."""
    kind = rng.next() % 10
    if kind == 0:
        return rbytes(rng, rng.next() % 80)
    if kind == 1:
        return rbytes(rng, rng.next() % 140, b"0123456789ABCDEFabcdef")
    body = pylon_request(rng, cfg)
    if kind < 5:
        return body
    if kind < 8:
        body = hex_mutate(rng, body)
        r = rng.next() % 4
        return refix(body, r != 0) if r < 3 else body
    body = mutate(rng, body)
    return refix(body) if rng.next() & 1 else body


class RsServer(Decoder):
    """protocols.pylon_rs485.Server.handle: the characters between `~` and CR."""

    name = "rs485_server"

    def __init__(self, seed):
        from protocols.pylon_rs485 import Server

        self.b, self.now = settled_core()
        self.cfg = self.b.cfg
        self.server = Server(ADDRESS)
        self.before = [0] * len(SERVER_COUNTERS)

    def generate(self, rng):
        return pylon_input(rng, self.cfg), rng.next() % 16 == 0

    def check(self, inp):
        chars, blind = inp
        server = self.server
        b = self.b
        now = self.now

        def call():
            b.sample.valid = not blind
            lock()
            try:
                n = server.handle(chars, len(chars), b, now)
            finally:
                unlock()
                b.sample.valid = True
            return n, bytes(server.out[:n]) if n else None

        check_handle(server, b, chars, blind, self.before, call)

    def rare(self):
        """A request of each command whose code the server imports at its first
        (protocols/pylon_rs485_rare.py: 0x47, 0x51, 0x93, 0x96, and 0x94, refused for its
        values): that import is its one allocation."""
        out = []
        for cid2 in (0x47, 0x51, 0x93, 0x96, 0x94):
            info = bytes((ADDRESS,)) + (bytes(8) if cid2 == 0x94 else b"")
            out.append((pylon_body(0x20, ADDRESS, CID1, cid2, info), False))
        return out


def check_handle(server, b, chars, blind, before, call):
    """call() hands chars to the server and returns (reply length, reply); the counters,
    the reply and the state are judged against classify()."""
    for k in range(len(SERVER_COUNTERS)):
        before[k] = getattr(server, SERVER_COUNTERS[k])
    state = limit_state(b)
    n, raw = call()
    counter, rtn, extra, ver, cid2, setting = classify(chars, blind, b.cfg)
    want = {counter: 1}
    if rtn is not None:
        want["replies"] = 1
    if extra:
        want["extra_info"] = 1
    moved = {}
    for k in range(len(SERVER_COUNTERS)):
        d = getattr(server, SERVER_COUNTERS[k]) - before[k]
        if d:
            moved[SERVER_COUNTERS[k]] = d
    expect(moved == want, "counters moved %r, not %r", moved, want)
    if rtn is None:
        expect(not n, "a reply to a frame that gets none")
    else:
        expect(n, "no reply (RTN %02X expected)", rtn)
        reply_ver = 0x33 if (cid2 == 0x4F and rtn == 0) else ver
        info_len = INFO_BYTES.get(cid2, 0) if rtn == 0 else 0
        check_reply(raw, reply_ver, rtn, info_len)
    if setting is None:
        expect(limit_state(b) == state, "state changed by a request that sets nothing")
    else:
        cfg = b.cfg
        lim = b.limits
        expect(lim.ext_active, "0x94 taken but not active")
        expect(lim.ext_cv_mv <= cfg.cvl_mv and lim.ext_dv_mv >= cfg.dvl_mv, "0x94 outside CV/DV")
        expect(lim.ext_ccl_ma <= cfg.ccl_ma and lim.ext_dcl_ma <= cfg.dcl_ma, "0x94 currents")
        lim.ext_active = False  # the next input starts from our own limits again
    return n


# -- the RS485 port and the link, as the firmware runs them ---------------------------------


class FakeUart:
    """A machine.UART made with timeout=0: bytes handed in by the fuzzer, replies kept."""

    def __init__(self):
        self.rx = b""
        self.pos = 0
        self.tx = []

    def init(self, *args, **kw):
        pass

    def any(self):
        return len(self.rx) - self.pos

    def readinto(self, buf, nbytes=-1):
        n = len(self.rx) - self.pos
        if nbytes >= 0 and nbytes < n:
            n = nbytes
        if n > len(buf):
            n = len(buf)
        rx = self.rx
        p = self.pos
        for i in range(n):
            buf[i] = rx[p + i]
        self.pos = p + n
        return n if n else None

    def write(self, buf):
        self.tx.append(bytes(buf))
        return len(buf)

    def txdone(self):
        return True


class FakePin:
    def __init__(self):
        self.level = 0

    def value(self, x=None):
        if x is None:
            return self.level
        self.level = 1 if x else 0
        return None


RS_COUNTERS = ("frames", "garbage", "overlong", "timeouts", "restarts")


def frame_reference(chunks, gap_ms, frame_max):
    """The RS485 port's framing, from its docstring: frames start with SOI and end with
    EOI; SOI inside a frame restarts it; a frame unfinished for gap_ms, one longer than
    the buffer, an empty one and bytes outside any frame (a LF aside) are dropped and
    counted. Binary frames (the service link's start byte SERVICE_START, an address, a
    byte, a length, the payload, a CRC-16) are counted as frames and not the Pylon
    server's. Each
    input ends with an idle gap longer than gap_ms. Returns (frames, counts)."""
    from drivers.rs485 import SERVICE_START

    counts = {"frames": 0, "garbage": 0, "overlong": 0, "timeouts": 0, "restarts": 0}
    frames = []
    inside = False
    binary = None  # the binary frame being read
    cur = bytearray()
    for gap, data in chunks + [(gap_ms + 1, b"")]:
        if (inside or binary is not None) and gap > gap_ms:
            inside = False
            binary = None
            counts["timeouts"] += 1
        for c in data:
            if binary is not None and len(binary) == 1 and c > 32 and c != 0xFF:
                binary = None
                counts["garbage"] += 1
            if binary is not None:
                binary.append(c)
                if len(binary) == 4 and c + 6 > frame_max:
                    binary = None
                    counts["overlong"] += 1
                elif len(binary) >= 4 and len(binary) == binary[3] + 6:
                    binary = None
                    counts["frames"] += 1
            elif not inside and c == SERVICE_START:
                binary = bytearray((c,))
            elif c == 0x7E:
                if inside:
                    counts["restarts"] += 1
                inside = True
                cur = bytearray()
            elif not inside:
                if c != 0x0A:
                    counts["garbage"] += 1
            elif c == 0x0D:
                inside = False
                if cur:
                    counts["frames"] += 1
                    frames.append(bytes(cur))
                else:
                    counts["garbage"] += 1  # an empty frame is line noise
            elif len(cur) >= frame_max:
                inside = False
                counts["overlong"] += 1
            else:
                cur.append(c)
    return frames, counts


class RsStream(Decoder):
    """Bytes on the wire, in chunks with gaps between them, through drivers.rs485 and the
    link's RS485 path to the server; the replies go out through the port. Each frame the
    server gets is judged as rs485_server judges one, as it is handled."""

    name = "rs485_stream"
    GAP_MS = 100

    def __init__(self, seed):
        from drivers.rs485 import FRAME_MAX, Rs485
        from inverter_link import InverterLink

        self.frame_max = FRAME_MAX
        self.b, self.now = settled_core()
        self.cfg = self.b.cfg
        self.uart = FakeUart()
        self.port = Rs485(self.uart, FakePin(), gap_ms=self.GAP_MS)
        self.link = InverterLink(None, self.port, 0)
        self.link.start(self.now)
        # the service decoder, loaded as at the first service frame, at an address no
        # frame has: it judges every binary frame's CRC and answers none (a frame to all
        # that passes is handled and, with no app here, fails inside it, caught)
        from service.server import Server

        self.link.service = Server(None, -1)
        server = self.link.server
        self.seen = []
        self.blind = False
        real = server.handle
        before = [0] * len(SERVER_COUNTERS)

        def judged(frame, n, b, now):
            chars = bytes(frame[:n])
            got = []

            def call():
                got.append(real(frame, n, b, now))
                return got[0], bytes(server.out[: got[0]]) if got[0] else None

            check_handle(server, b, chars, self.blind, before, call)
            self.seen.append((chars, got[0], bytes(server.out[: got[0]])))
            return got[0]

        server.handle = judged

    def generate(self, rng):
        stream = bytearray()
        for _ in range(1 + rng.next() % 4):
            kind = rng.next() % 12
            if kind == 0:
                stream += rbytes(rng, rng.next() % 40)
            elif kind == 1:
                stream += b"~" + rbytes(rng, 250 + rng.next() % 20, b"0123456789ABCDEF") + b"\r"
            elif kind == 2:
                stream += b"~" + pylon_input(rng, self.cfg)[: rng.next() % 20]  # cut short
            else:
                stream += b"~" + pylon_input(rng, self.cfg) + pick(rng, (b"\r", b"\r", b"\r\n"))
        if rng.next() % 4 == 0:
            stream = bytearray(mutate(rng, stream))
        chunks = []
        k = 0
        while k < len(stream):
            size = 1 + rng.next() % pick(rng, (8, 40, 200))
            gap = pick(rng, (0, 0, 1, 5, 50, 100, 101, 300))
            chunks.append((gap, bytes(stream[k : k + size])))
            k += size
        return chunks, rng.next() % 16 == 0

    def check(self, inp):
        chunks, blind = inp
        port = self.port
        link = self.link
        b = self.b
        before = [getattr(port, k) for k in RS_COUNTERS]
        self.seen = []
        self.uart.tx = []
        self.blind = blind
        b.sample.valid = not blind
        try:
            for gap, data in chunks + [(self.GAP_MS + 1, b"")]:
                self.now += gap
                link.poll(b, self.now)  # idle: a frame left unfinished times out
                if data:
                    self.uart.rx = data
                    self.uart.pos = 0
                    link.poll(b, self.now)
                    expect(self.uart.any() == 0, "bytes left unread")
        finally:
            b.sample.valid = True
        frames, counts = frame_reference(chunks, self.GAP_MS, self.frame_max)
        got = [f for f, _n, _r in self.seen]
        expect(got == frames, "frames %r, not %r", got, frames)
        for k in range(len(RS_COUNTERS)):
            d = getattr(port, RS_COUNTERS[k]) - before[k]
            want = counts[RS_COUNTERS[k]]
            expect(d == want, "port.%s moved %d, not %d", RS_COUNTERS[k], d, want)
        replies = [raw for _f, n, raw in self.seen if n]
        expect(self.uart.tx == replies, "replies on the wire differ from the server's")


# -- CAN frames the firmware receives -------------------------------------------------------

HEARTBEATS = {  # protocol id: the frames that say the inverter is there (protocols.md)
    0: ((0x305, False), (0x307, False), (0x301, False)),
    1: ((0x305, False), (0x307, False), (0x301, False)),
    2: ((0x310, True),),
}
# another BMS's limits to the inverter, which a master's RXB1 takes in too (counted as
# another node's: inverter_link.py hands them to the pack link)
OTHER_BMS = {0: (0x351, False), 1: (0x351, False), 2: (0x321, True)}
# the pack link's and service link's 29-bit range: one mask, RXB0 (protocols/packlink_can.py)
PACK_ID = (0x1BA00101, True)
PACK_RANGE = 0x1BA00000
PACK_MASK = 0x1FEF0000
_TX_CTRL = (0x30, 0x40, 0x50)
_CANINTF = 0x2C


def can_chip_node():
    """A simulated MCP2515 on the host SPI with its INT pin, and the firmware's driver."""
    from boards.host import machine
    from boards.host.world.chips.mcp2515 import MCP2515Sim
    from drivers.mcp2515 import MCP2515

    pin = machine.Pin("INT", machine.Pin.IN, machine.Pin.PULL_UP)
    chip = MCP2515Sim(8000000, pin)
    cs = machine.Pin("CS", machine.Pin.OUT, value=1)
    spi = machine.SPI(0)
    spi.attach(cs, chip)
    return chip, MCP2515(spi, cs, 8000000, pin)


def free_tx(chip):
    """The frames queued went out (there is no bus here): TX buffers free again."""
    for ctrl in _TX_CTRL:
        chip.regs[ctrl] &= ~0x08


def can_frame(rng, protocol):
    """A frame on the inverter's bus: a heartbeat of this protocol or another's, with its
    id, format, RTR, DLC or data changed now and then, or anything at all."""
    kind = rng.next() % 8
    if kind == 0:
        ext = bool(rng.next() & 1)
        can_id = rng.next() & (0x1FFFFFFF if ext else 0x7FF)
    else:
        can_id, ext = pick(
            rng, HEARTBEATS[0] + HEARTBEATS[2] + (OTHER_BMS[0], OTHER_BMS[2], PACK_ID)
        )
        if kind == 1:
            can_id ^= 1 << (rng.next() % (29 if ext else 11))
        elif kind == 2:
            ext = not ext
    rtr = rng.next() % 6 == 0
    n = pick(rng, (8, 8, 8, 0, 1, 2, 7, rng.next() % 9))
    data = rbytes(rng, n) if rng.next() & 1 else bytes(n)
    return can_id, ext, rtr, data


class _Unaddressed:
    address = None  # the app's chain address: not decided


class CanRx(Decoder):
    """Frames delivered to the simulated MCP2515 (its filters, its two RX buffers), read
    by the driver and judged by the link, for each DIP protocol."""

    name = "can_rx"

    def __init__(self, seed):
        from inverter_link import InverterLink

        self.b, self.now = settled_core()
        self.nodes = []
        for protocol in (0, 1, 2):
            chip, drv = can_chip_node()
            link = InverterLink(drv, None, protocol)
            link.service_app = _Unaddressed()  # the service range: nothing is for it
            link._can_service()  # (loaded at its first frame: that one allocates)
            link.start(self.now)
            expect(link.start_can(self.now), "the CAN controller did not start")
            self.nodes.append((protocol, chip, drv, link))
        self.t_us = 0

    def generate(self, rng):
        protocol = rng.next() % 3
        frames = [can_frame(rng, protocol) for _ in range(pick(rng, (1, 1, 1, 2, 3)))]
        return protocol, frames, 1 + rng.next() % 300

    def check(self, inp):
        protocol, frames, dt = inp
        _p, chip, drv, link = self.nodes[protocol]
        beats = HEARTBEATS[protocol]
        # which reach the driver: the link's filters, RXB0 for the pack links' 29-bit
        # range (one mask) rolling over into RXB1, RXB1 for the inverter's heartbeats
        # and another BMS's limits (exact ids; DS20001801 4.2); the rest overflow. A bare
        # link (no pack link on it) counts the pack frames as another node's
        full0 = full1 = False
        delivered = []
        for can_id, ext, rtr, data in frames:
            key = (can_id, ext)
            packs = ext and can_id & PACK_MASK == PACK_RANGE
            # (a Schneider master's RXB0 takes a Pylon master's 0x351 in too: its 11-bit
            # filter under the pack mask compares the id under 0x7FB, so 0x355 with it)
            packs = packs or protocol == 2 and not ext and can_id & 0x7FB == 0x351
            if packs:
                if not full0:
                    full0 = True
                    delivered.insert(0, (can_id, ext, rtr, len(data)))
                    continue
            if packs or key in beats or key == OTHER_BMS[protocol]:
                if not full1:
                    full1 = True
                    delivered.append((can_id, ext, rtr, len(data)))
        valid = 0
        growatt = False
        for can_id, ext, rtr, n in delivered:
            # a remote frame asks for data: it is not the heartbeat itself; the 11-bit
            # heartbeats are 8-byte frames (Schneider's 0x310: any length)
            if not rtr and (ext or n == 8) and (can_id, ext) in beats:
                valid += 1
                growatt = growatt or (protocol == 1 and can_id == 0x301)
        heard = link.heard
        pending = link._growatt
        sent = drv.sent
        hb = link.heartbeats
        other = link.rx_other
        self.now += dt
        self.t_us += dt * 1000
        for frame in frames:
            chip.can_receive(frame, self.t_us)
        lock()
        try:
            link.poll(self.b, self.now)
        finally:
            unlock()
        free_tx(chip)
        expect(link.can_ok and drv.ok, "the controller went down on frames")
        expect(
            link.heartbeats - hb == valid, "heartbeats +%d, not +%d", link.heartbeats - hb, valid
        )
        # the service link's range is the service's (service/can_link.py), not another
        # node's: no request is for a pack without an address, no reply is awaited
        served = [d for d in delivered if d[1] and not d[2] and d[0] & 0x1FFF0000 == 0x1BB00000]
        extra = len(delivered) - valid - len(served)
        expect(
            link.rx_other - other == extra, "rx_other +%d, not +%d", link.rx_other - other, extra
        )
        if valid:
            expect(link.heard == self.now, "a heartbeat not heard")
        else:
            expect(link.heard == heard, "no heartbeat, but the link heard one")
            expect(link._growatt <= pending, "Growatt set started without its request")
        if growatt:
            expect(link._growatt or drv.sent - sent >= 9, "Growatt request not answered")
        # drain what is left (an overflow flag is read at the next check)
        link._next_check = self.now


# -- the MCP2515 driver fed garbage ---------------------------------------------------------

_OPS_CAN = ("recv", "recv", "recv", "check", "send", "tx_pending", "abort", "poll", "init")


def rx_reference(regs):
    """A receive buffer's 13 bytes (SIDH..D7) as the datasheet reads them: None when
    SIDL bit 2 or DLC bit 7 (unimplemented, read 0 on a chip) is set, else
    (id, ext, rtr, dlc, data)."""
    sidh, sidl, eid8, eid0, dlc = regs[0], regs[1], regs[2], regs[3], regs[4]
    if sidl & 0x04 or dlc & 0x80:
        return None
    std = sidh << 3 | sidl >> 5
    if sidl & 0x08:
        can_id = std << 18 | (sidl & 3) << 16 | eid8 << 8 | eid0
        ext, rtr = True, bool(dlc & 0x40)
    else:
        can_id, ext, rtr = std, False, bool(sidl & 0x10)
    n = dlc & 0x0F
    if n > 8:
        n = 8  # a DLC of 9-15 means 8 bytes (ISO 11898-1)
    return can_id, ext, rtr, n, bytes(regs[5 : 5 + n])


class Mcp2515Chip(Decoder):
    """The driver's reads answered with garbage by its simulated chip: random receive
    buffers (any SIDL, DLC 0-15, RTR bits), MISO random, glitched once, stuck at 0 or 1,
    or an SPI that raises; then each of the driver's operations, and the link's poll."""

    name = "mcp2515_chip"

    def __init__(self, seed):
        from drivers.mcp2515 import CanFrame
        from inverter_link import FILTERS_STD, InverterLink

        self.filters = FILTERS_STD
        self.chip, self.drv = can_chip_node()
        self.link = InverterLink(self.drv, None, 0)
        self.b, self.now = settled_core()
        self.link.start(self.now)
        expect(self.link.start_can(self.now), "the CAN controller did not start")
        self.frame = CanFrame()
        self.pool = bytearray(64)
        self.k = 0
        self.only = 0
        real = self.chip.spi_transfer
        self.real = real

        def garbage(wbuf, rbuf):
            real(wbuf, rbuf)
            self.k += 1
            if rbuf is None or (self.only and self.k != self.only):
                return
            pool = self.pool
            j = self.k
            for i in range(len(rbuf)):
                rbuf[i] = pool[(j + i) & 63]

        def spi_error(wbuf, rbuf):
            raise OSError(5)

        self.garbage = garbage
        self.spi_error = spi_error

    def generate(self, rng):
        mode = pick(rng, ("rx", "rx", "rx", "random", "glitch", "zeros", "ones", "oserror"))
        regs = rbytes(rng, 13)
        if rng.next() & 1:
            regs = bytes((regs[0], regs[1] & ~0x04)) + regs[2:]  # a header a chip could send
        return mode, pick(rng, _OPS_CAN), rbytes(rng, 64), regs, rng.next() % 4, rng.next() & 1

    def check(self, inp):
        from drivers import mcp2515

        mode, op, pool, regs, skip, second = inp
        chip = self.chip
        drv = self.drv
        f = self.frame
        f.can_id, f.ext, f.rtr, f.dlc = 0x123, False, False, 3
        ref = None
        if mode == "rx":
            base = 0x71 if second else 0x61
            for i in range(13):
                chip.regs[base + i] = regs[i]
            chip.regs[_CANINTF] |= 2 if second else 1
            chip._irq_update()
            ref = rx_reference(regs)
        else:
            self.pool[:] = (
                pool if mode in ("random", "glitch") else bytes(((mode == "ones") * 255,)) * 64
            )
            self.k = 0
            self.only = skip + 1 if mode == "glitch" else 0
            chip.spi_transfer = self.spi_error if mode == "oserror" else self.garbage
        garbled = drv.rx_garbled
        received = drv.received
        raised = None
        ok = None
        try:
            if op == "init":
                ok = drv.init(self.filters)
            else:
                lock()
                try:
                    if op == "poll":
                        self.link.poll(self.b, self.now)
                    elif op == "recv":
                        ok = drv.recv(f)
                    elif op == "check":
                        ok = drv.check()
                    elif op == "send":
                        ok = drv.send(0x351, pool, 8)
                    elif op == "tx_pending":
                        ok = drv.tx_pending()
                    else:
                        ok = drv.abort()
                finally:
                    unlock()
        except OSError as exc:
            raised = exc
        finally:
            if mode != "rx":
                del chip.spi_transfer
        if raised is not None:
            # the driver's contract: an OSError from the SPI is the caller's to catch
            expect(mode == "oserror" and op != "poll", "OSError escaped: %r", raised)
        if op == "poll":
            expect(self.link.can_ok == drv.ok or not self.link.can_ok, "link and driver disagree")
        if raised is None:  # (after an OSError the caller names the fault: FAULT_SPI)
            expect(drv.ok or drv.fault != mcp2515.FAULT_NONE, "down without a fault code")
        for name in ("sent", "received", "tx_busy", "rx_overflows", "rx_garbled", "bus_off"):
            v = getattr(drv, name)
            expect(0 <= v <= _COUNT_LIMIT, "counter %s = %r", name, v)
        if mode == "rx" and op == "recv":
            if ref is None:
                expect(not ok and drv.rx_garbled == garbled + 1, "a garbled header taken")
                expect(
                    (f.can_id, f.ext, f.rtr, f.dlc) == (0x123, False, False, 3), "frame touched"
                )
            else:
                expect(ok and drv.received == received + 1, "a frame not taken")
                got = (f.can_id, f.ext, f.rtr, f.dlc, bytes(f.data[: f.dlc]))
                expect(got == ref, "frame %r, not %r", got, ref)
        if op == "recv" and ok:
            expect(0 <= f.dlc <= 8, "DLC %d", f.dlc)
            expect(0 <= f.can_id < (1 << 29 if f.ext else 1 << 11), "id %x", f.can_id)
        # the chip as the app leaves it: a controller that went down is started again
        chip.regs[_CANINTF] &= ~3
        chip._irq_update()
        free_tx(chip)
        if not drv.ok or not self.link.can_ok:
            expect(self.link.start_can(self.now), "the controller did not start again")


# -- the BQ76952 driver fed garbage ----------------------------------------------------------


def crc8_ref(data, crc=0):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC_T = bytes(crc8_ref(bytes((i,))) for i in range(256))
_ADDR_W, _ADDR_R = 0x10, 0x11


def crc_pairs_good(reg, buf):
    """Every data byte of a CRC-mode read carries its CRC (TRM: the first CRC covers the
    address, the register and the read address too)."""
    if len(buf) < 2 or buf[1] != crc8_ref(bytes((_ADDR_W, reg, _ADDR_R, buf[0]))):
        return False
    for k in range(2, len(buf), 2):
        if buf[k + 1] != _CRC_T[buf[k]]:
            return False
    return True


def s16(lo, hi):
    v = lo | hi << 8
    return v - 0x10000 if v & 0x8000 else v


def bq_reference(meas, temps):
    """The measurement as TI's registers give it (SLUUBY2), data bytes at even offsets:
    (Battery Status low byte, cells, stack, PACK, LD, current, temperatures)."""

    def word(buf, reg, base):
        k = 2 * (reg - base)
        return buf[k], buf[k + 2]

    cells = [s16(*word(meas, 0x14 + 2 * i, 0x02)) for i in range(16)]
    stack = s16(*word(meas, 0x34, 0x02)) * 10
    pack = s16(*word(meas, 0x36, 0x02)) * 10
    ld = s16(*word(meas, 0x38, 0x02)) * 10
    current = s16(*word(meas, 0x3A, 0x02)) * 10
    t = []
    for reg in (0x70, 0x72, 0x74, 0x76, 0x78, 0x7A):  # TS1-3, HDQ, DCHG, DDSG
        lo, hi = word(temps, reg, 0x68)
        t.append((lo | hi << 8) - 2732)
    return meas[2 * (0x12 - 0x02)], cells, stack, pack, ld, current, t


_PLAUSIBLE = (-500, 5500, 88000, 88000, -2732, 3000)  # bms.sample: what a front end can read


def sample_state(s):
    return (
        list(s.cells_mv),
        s.stack_mv,
        s.pack_mv,
        s.ld_mv,
        s.current_ma,
        list(s.temps_dc),
        s.valid,
    )


class Bq76952Chip(Decoder):
    """The driver's transfers answered with garbage by the simulated BQ76952: random
    bytes, bit flips, garbage with valid CRCs, a Battery Status saying reset or
    CONFIG_UPDATE, the first try corrupted and the retry clean, or no answer at all."""

    name = "bq76952_chip"
    OPS = ("read",) * 12 + ("probe", "fet_status", "balancing", "status", "enable", "configure")

    def __init__(self, seed):
        self.seed = seed
        self.build(seed)
        self.n = 0
        self.buf_rec = [bytearray(116) for _ in range(6)]
        self.reg_rec = bytearray(6)
        self.len_rec = bytearray(6)
        self.pool = bytearray(128)
        self.mode = ""
        self.calls = 0

        def corrupt(buf):
            k = self.calls
            self.calls = k + 1
            self.damage(buf, k)
            if k < 6:
                rec = self.buf_rec[k]
                for i in range(len(buf)):
                    rec[i] = buf[i]
                self.len_rec[k] = len(buf)

        self.corrupt = corrupt
        self.reg = 0
        self.n_regs = 0

        def tap_read(reg, buf):
            # (no allocation: the driver's read runs with the heap locked)
            self.reg = reg
            k = self.n_regs
            if k < 6:
                self.reg_rec[k] = reg
                self.n_regs = k + 1
            self.chip_read(reg, buf)

        self.tap_read = tap_read

    def chip_read(self, reg, buf):
        self.sim_read(self.chip, reg, buf)

    def build(self, seed):
        from bms.config import Config
        from bms.sample import Sample
        from boards.host import machine
        from boards.host.world.chips.bq76952 import BQ76952Sim
        from boards.host.world.pack_model import PackModel
        from drivers.bq76952 import BQ76952

        self.sim_read = BQ76952Sim.i2c_read  # the chip's own answer, behind the tap
        self.model = PackModel(seed=seed, soc_pct=60)
        self.chip = BQ76952Sim(self.model, Rng(seed + 7))
        cfet = machine.Pin("CFETOFF", machine.Pin.OUT, value=1)
        dfet = machine.Pin("DFETOFF", machine.Pin.OUT, value=1)
        self.chip.attach_fet_pins(cfet, dfet)
        i2c = machine.I2C(0, devices={0x08: self.chip})
        self.afe = BQ76952(i2c, r_sense_uohm=250)
        self.cfg = Config()
        afe = self.afe
        expect(afe.probe() and afe.configure(self.cfg), "the front end did not configure")
        expect(afe.enable_fet_control(), "no FET control")
        self.chip.refresh()
        self.sample = Sample()
        expect(afe.read(self.sample), "no clean reading")
        self.clean = (afe.crc, afe.crc_seen, afe.configured)

    def damage(self, buf, k):
        """Corrupt reply number k of this input (in place, no allocation)."""
        mode = self.mode
        pool = self.pool
        n = len(buf)
        if mode == "once" and k > 0:
            return
        if mode == "random" or mode == "once":
            for i in range(n):
                buf[i] = pool[(i + k) & 127]
        elif mode == "flip":
            for j in range(1 + pool[k & 127] % 3):
                i = pool[(k + j + 1) & 127] % n
                buf[i] ^= 1 << (pool[(k + j + 2) & 127] & 7)
        elif mode == "valid" or mode == "status":
            # data bytes replaced, each with a correct CRC: a chip that says nonsense
            t = _CRC_T
            for j in range(1 + pool[k & 127] % 8):
                i = (pool[(k + j + 1) & 127] % (n // 2)) * 2
                buf[i] = pool[(k + j + 9) & 127]
            if mode == "status" and n == 116:
                buf[32] |= pool[k & 127] & 0x0D | 0x01
            buf[1] = t[t[t[t[_ADDR_W] ^ self.reg] ^ _ADDR_R] ^ buf[0]]
            for i in range(2, n, 2):
                buf[i + 1] = t[buf[i]]

    MODES = ("random", "flip", "valid", "valid", "status", "once", "lost", "none")

    def generate(self, rng):
        mode = pick(rng, self.MODES)
        return mode, pick(rng, self.OPS), rbytes(rng, 128), rng.next() & 0xFFFF

    def rare(self):
        """Every operation under every kind of garbage, from three pools."""
        pools = (bytes(range(128)), bytes(128), bytes((0xFF,)) * 128)
        return [
            (mode, op, pool, 0x5A5A)
            for pool in pools
            for mode in sorted(set(self.MODES))
            for op in self.OPS[11:]
        ]

    def check(self, inp):
        mode, op, pool, mask = inp
        afe = self.afe
        chip = self.chip
        s = self.sample
        self.mode = mode
        self.pool[:] = pool
        self.calls = 0
        for k in range(6):
            self.len_rec[k] = 0
        before = sample_state(s)
        errors = afe.errors
        self.n_regs = 0
        chip.i2c_read = self.tap_read
        chip.corrupt = self.corrupt
        chip.lost = mode == "lost"
        ok = None
        try:
            if op == "read":
                lock()
                try:
                    ok = afe.read(s)
                finally:
                    unlock()
            elif op == "probe":
                ok = afe.probe()
            elif op == "fet_status":
                ok = afe.read_fet_status()
            elif op == "balancing":
                ok = afe.set_balancing(mask)
            elif op == "status":
                ok = afe.battery_status()
            elif op == "enable":
                ok = afe.enable_fet_control()
            else:
                ok = afe.configure(self.cfg)
        finally:
            del chip.i2c_read
            chip.corrupt = None
            chip.lost = False
        expect(0 <= afe.errors <= _COUNT_LIMIT, "error counter %r", afe.errors)
        if op == "read":
            self.judge_read(ok, before, bytes(self.reg_rec[: self.n_regs]), errors, mode)
        elif op in ("fet_status", "status"):
            expect(ok is None or (type(ok) is int and 0 <= ok <= 0xFFFF), "value %r", ok)
        else:
            expect(ok is True or ok is False, "returned %r", ok)
        self.restore(op, mode)

    def judge_read(self, ok, before, reg_seen, errors, mode):
        s = self.sample
        # the driver's rule: two blocks, each tried up to 3 times, each taken only with
        # every CRC right, and a Battery Status without POR, CONFIG_UPDATE or SLEEP_EN
        blocks = []
        k = 0
        good = True
        for reg in (0x02, 0x68):
            got = None
            for _ in range(3):
                if k >= len(reg_seen) or reg_seen[k] != reg:
                    break
                buf = bytes(self.buf_rec[k][: self.len_rec[k]]) if self.len_rec[k] else None
                k += 1
                if buf is not None and crc_pairs_good(reg, buf):
                    got = buf
                    break
            if got is None:
                good = False
                break
            blocks.append(got)
        if mode == "lost":
            good = False
        elif mode == "none" and len(blocks) < 2:
            good = False
        if good and len(blocks) == 2:
            status = bq_reference(blocks[0], blocks[1])[0]
            if status & 0x0D:
                good = False
        expect(bool(ok) == good, "read() %r, the rule says %r", ok, good)
        if not ok:
            expect(not s.valid, "an invalid reading marked valid")
            after = sample_state(s)
            expect(after[:6] == before[:6], "a refused reading changed the sample")
            return
        expect(s.valid, "a good reading marked invalid")
        _st, cells, stack, pack, ld, current, temps = bq_reference(blocks[0], blocks[1])
        got = (list(s.cells_mv), s.stack_mv, s.pack_mv, s.ld_mv, s.current_ma, list(s.temps_dc))
        expect(got == (cells, stack, pack, ld, current, temps), "decoded %r", got)
        # what the app then takes as a measurement: only a physically possible one
        if s.reduce():
            lo, hi, stack_max, link, tlo, thi = _PLAUSIBLE
            expect(lo <= min(cells) and max(cells) <= hi, "implausible cells taken")
            expect(0 <= stack <= stack_max and -link <= pack <= link, "implausible stack")
            expect(-link <= ld <= link and tlo <= min(temps) and max(temps) <= thi, "implausible")

    def restore(self, op, mode):
        """The chip itself took no harm from a corrupted reply (only the wire lied): the
        driver goes back to what it knew; a garbled configuration rebuilds everything."""
        afe = self.afe
        if op == "configure" and mode != "none":
            self.build(self.seed + 1)
            return
        afe.crc, afe.crc_seen, afe.configured = self.clean
        if self.chip.cfgupdate or not self.chip.crc:
            self.build(self.seed + 1)


# -- the store's loaders on corrupted files ---------------------------------------------------


def golden_store(rng, n_events):
    """A flash written by the firmware: n_events records in the rotating files and a state
    as the app saves it."""
    from bms import events as ev
    from boards.host.flash import MemFS
    from drivers.store import Store

    fs = MemFS()
    store = Store(fs)
    log = ev.EventLog()
    for k in range(n_events):
        log.log(1000 * k, 1 + rng.next() % 19, rng.next() & 0xFF, rng.next() - 0x80000000, k)
        if rng.next() % 16 == 0:
            store.append_events(log)
    store.append_events(log)
    state = {
        "boots": 1 + rng.next() % 100,
        "soc_q": rng.next() % 360000000,
        "soc_full": 360000000,
        "cycles": rng.next() % 5000,
        "no_full_s": rng.next() % 3000000,
        "latched": pick(rng, ([], [16, 3], [9, 4, 13, 3])),
    }
    store.save_state(state)
    return fs.files


STATE_TYPES = ("string", 1.5, None, True, [], {}, -1, 2**31, 2**64, [1, "x"], [[16, 3]])


def corrupt_state(rng, text):
    """state.json: a value of the wrong type or range, a key lost, deep nesting, or the
    bytes mutated."""
    kind = rng.next() % 5
    if kind == 0:
        return mutate(rng, text)
    try:
        state = json.loads(text)
    except ValueError:
        return text
    if type(state) is not dict or not state:
        return text
    keys = sorted(state)
    key = pick(rng, keys)
    if kind == 1:
        state[key] = pick(rng, STATE_TYPES)
    elif kind == 2:
        del state[key]
    elif kind == 3:
        state["latched"] = [rng.next() % 40 - 5 for _ in range(rng.next() % 6)]
    else:
        depth = pick(rng, (10, 100, 2000))
        return ("[" * depth + "1" + "]" * depth).encode()
    return json.dumps(state).encode()


class StoreLoad(Decoder):
    """drivers.store.Store's loaders on corrupted flash files, then one event written and
    read back; every 128th input also boots the app (after a watchdog reset, so latched
    faults are restored) on the same flash and runs it for a second and a half."""

    name = "store"

    def __init__(self, seed):
        self.rng = Rng(seed + 99)
        # mostly small flashes (each input is loaded three times); two files full and
        # rotated (300 records) one time in 32
        sizes = (0, 3, 12, 40, 300)
        self.golden = [golden_store(self.rng, n) for n in sizes]

    def generate(self, rng):
        files = {}
        golden = self.golden[-1] if rng.next() % 32 == 0 else pick(rng, self.golden[:-1])
        for name, data in golden.items():
            kind = rng.next() % 8
            if kind == 0:
                continue  # the file is gone
            if kind == 1:
                data = rbytes(rng, rng.next() % 200)
            elif kind in (2, 3):
                data = mutate(rng, data, 1 + rng.next() % 6)
            elif kind == 4 and name == "state.json":
                data = corrupt_state(rng, data)
            elif kind == 4:
                data = data[: rng.next() % (len(data) + 1)]
            files[name] = bytes(data)
        return files, rng.next() % 128 == 0

    def rare(self):
        """The app booted on each flash, on one with its files garbled, on an empty one
        and on one whose state is not a state."""
        out = [(files, True) for files in self.golden]
        garbled = {}
        for name, data in self.golden[2].items():
            garbled[name] = bytes(data[:7]) + bytes(max(0, len(data) - 7))
        out.append((garbled, True))
        out.append(({}, True))
        out.append(({"state.json": b"[" * 2000 + b"]" * 2000}, True))
        return out

    def check(self, inp):
        files, boot = inp
        try:
            self.loaders(files)
        finally:
            if boot:  # the app on the same flash, whatever the loaders made of it
                self.boot(files)

    def loaders(self, files):
        from bms import events as ev
        from boards.host.flash import MemFS
        from drivers.store import Store

        fs = MemFS()
        for name in files:
            fs.files[name] = bytearray(files[name])
        store = Store(fs)
        log = ev.EventLog()
        try:
            n = store.load_events(log)
        except Exception as exc:  # noqa: BLE001 - the property: nothing escapes
            raise Bad("load_events raised %r" % exc) from None
        expect(0 <= n <= log.size, "loaded %r records", n)
        seqs = [log.get(s)[0] for s in range(log.oldest_seq(), log.next_seq)]
        expect(seqs == sorted(seqs), "records out of order")
        expect(store.flushed_seq == log.next_seq, "flushed_seq %r", store.flushed_seq)
        try:
            state = store.load_state()
        except ValueError:
            state = {}  # not a state: the documented answer (the boot sets it aside)
        except Exception as exc:  # noqa: BLE001
            raise Bad("load_state raised %r" % exc) from None
        expect(type(state) is dict, "state %r", state)
        # the firmware goes on writing: the next record follows the loaded ones, and a
        # reload finds it and every loaded record under the same numbers (the mark may
        # skip numbers after them: a reload starts past it)
        held = [log.get(s) for s in range(log.oldest_seq(), log.next_seq)]
        log.log(123, ev.BOOT, 3, 99)
        seq = log.next_seq - 1
        try:
            store.append_events(log)
        except Exception as exc:  # noqa: BLE001
            raise Bad("append_events after the load raised %r" % exc) from None
        expect(log.next_seq < 1 << 30, "sequence number %r past the small ints", seq)
        again = ev.EventLog()
        Store(fs).load_events(again)
        expect(again.get(seq) == log.get(seq), "the new record is lost")
        for r in held:  # those the reloaded ring still holds (its skips count)
            if r[2] != ev.SKIPPED and r[0] >= again.oldest_seq():
                expect(again.get(r[0]) == r, "record %r changed on reload", r)
        expect(again.next_seq > seq, "sequence numbers went back on reload")

    def boot(self, files):
        from boards.host import machine
        from boards.host.world.engine import Simulator
        from boards.host.world.scenario import validate

        # a new world each time (a bus keeps a history, bounded but long)
        sim = Simulator(validate({"inverter": "none"}))
        pack = sim.packs[0]
        pack.power_off()
        pack.flash.files = {}
        for name in files:
            pack.flash.files[name] = bytearray(files[name])
        try:
            pack.power_on(machine.WDT_RESET)
            sim.run(sim.t_ms + 1500)
        except Exception as exc:  # noqa: BLE001
            raise Bad("the app's boot on this flash raised %r" % exc) from None
        app = pack.app
        expect(pack.reboots == 0 or app.exceptions == 0, "the app keeps failing")
        expect(app.exceptions == 0, "%d exceptions after a boot on this flash", app.exceptions)
        expect(app.sample.valid, "no reading after a boot on this flash")


# -- the config loader ---------------------------------------------------------------------------


def config_values(rng, key, default, lo, hi):
    v = pick(rng, (lo, hi, lo - 1, hi + 1, default, default, default + 1, default - 1))
    kind = rng.next() % 16
    if kind == 0:
        return lo + rng.next() % (hi - lo + 1)
    if kind == 1:
        return pick(rng, (None, True, False, "12", 1.0, [], {}, 2**40, -(2**40), float(default)))
    return v


class ConfigLoad(Decoder):
    """bms.config.Config.update: all or nothing, judged against the table's ranges and
    rules; an accepted configuration must then run: every protection row built, the core
    stepped past its boot settle time, the front end's data memory encoded (the boot
    writes it): every 16th accepted one."""

    name = "config"

    def __init__(self, seed):
        from bms.config import RULES, SPEC, Config

        self.spec = [row for row in SPEC]
        self.rules = [r for r in RULES]
        self.cfg = Config()
        self.defaults = self.cfg.as_dict()
        self.ranges = {}
        for key, _default, lo, hi in self.spec:
            self.ranges[key] = (lo, hi)
        self.keys = sorted(self.ranges)
        self.accepted = 0
        self.n = 0

    def generate(self, rng):
        d = {}
        for _ in range(pick(rng, (1, 1, 2, 3, 5, 12))):
            key, default, lo, hi = pick(rng, self.spec)
            d[key] = config_values(rng, key, default, lo, hi)
        if rng.next() % 16 == 0:
            d[pick(rng, ("covp_trip", "COVP_TRIP_MV", "", "tick_ms ", 5, None))] = 1
        return d

    def reference(self, d):
        """Accept or refuse, from the table: every key known, every value an int in range,
        every rule true of the merged set."""
        merged = dict(self.defaults)
        ranges = self.ranges
        for key in d:
            if key not in ranges:
                return None
            v = d[key]
            if type(v) is not int or not ranges[key][0] <= v <= ranges[key][1]:
                return None
            merged[key] = v
        for a, rel, b in self.rules:
            x, y = merged[a], merged[b]
            holds = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[rel]
            if not holds:
                return None
        return merged

    def check(self, d):
        from bms.config import ConfigError

        cfg = self.cfg
        want = self.reference(d)
        try:
            cfg.update(d)
            took = True
        except ConfigError as exc:
            took = False
            expect(len(str(exc)) > 0, "a refusal without a message")
        self.n += 1
        # the keys given are the ones an update sets; all of them every 64th input
        keys = self.keys if self.n % 64 == 0 else [k for k in d if k in self.ranges]
        if want is None:
            expect(not took, "accepted: %r", d)
            for key in keys:
                expect(getattr(cfg, key) == self.defaults[key], "a refused update set %s", key)
            return
        expect(took, "refused a valid set: %r", d)
        for key in keys:
            expect(
                getattr(cfg, key) == want[key],
                "%s = %r, not %r",
                key,
                getattr(cfg, key),
                want[key],
            )
        self.accepted += 1
        if self.accepted % 16 == 1:
            self.runs(cfg)
        for key in d:
            setattr(cfg, key, self.defaults[key])  # back to the defaults for the next input

    def runs(self, cfg):
        from bms import protections as pt
        from drivers.bq76952 import data_memory

        try:
            pt.build(cfg)
            data_memory(cfg, 250)
            settled_core(cfg.as_dict(), ticks=min(cfg.boot_settle_ms // cfg.tick_ms + 5, 60))
        except Exception as exc:  # noqa: BLE001
            raise Bad("an accepted configuration does not run: %r" % exc) from None


# -- the scenario parser ------------------------------------------------------------------------

JSON_ODD = (
    None,
    True,
    -1,
    0,
    1e9,
    1e400,
    -1e400,
    2**64,
    -0.0,
    "",
    "x",
    "1",
    [],
    {},
    [None],
    {"at_s": 1},
)


def scenario_event(rng):
    from boards.host.world.scenario import EVENT_KEYS, FAULTS, FAULTS_WITH_ARG

    e = {"at_s": pick(rng, (0, 1, 2.5, -1, 1e9, 1e10, "3"))}
    key = pick(rng, EVENT_KEYS + ("bogus",))
    if key == "fault":
        name = pick(rng, FAULTS + FAULTS_WITH_ARG)
        arg = pick(rng, ("", ":1", ":6", ":7", ":0", ":16", ":17", ":-5", ":charge", ":x", ":1e3"))
        e[key] = name + (arg if name in FAULTS_WITH_ARG or rng.next() % 8 == 0 else "")
    elif key == "cell_mv":
        e[key] = {pick(rng, ("1", "16", "0", "17", "x")): pick(rng, (3300, None, -1, 7000, 1.5))}
    elif key == "temp_c":
        e[key] = {pick(rng, ("cells", "mos", "cell5", "ambient")): pick(rng, (25, None, 300, -70))}
    elif key == "input":
        e[key] = {pick(rng, ("rsd", "passive", "x")): pick(rng, (True, False, 1, None))}
    elif key == "button":
        e[key] = pick(rng, ("reset", "other", 1))
        if rng.next() & 1:
            e["hold_s"] = pick(rng, (0.5, 0, 0.05, 60, 61, "1"))
    else:
        e[key] = pick(rng, JSON_ODD + ("on", "off", "silent", "talking", "0000010", 3.3, 2))
    return e


def random_node(rng, depth=0):
    kind = rng.next() % 6
    if kind == 0 and depth < 3:
        return [random_node(rng, depth + 1) for _ in range(rng.next() % 3)]
    if kind == 1 and depth < 3:
        return {pick(rng, ("a", "at_s", "soc_pct", "")): random_node(rng, depth + 1)}
    return pick(rng, JSON_ODD)


class ScenarioParse(Decoder):
    """boards.host.world.scenario: parse() of JSON text (the scenario files and generated
    ones, mutated as text and as structure) and load() of the same bytes as a file. Only
    ScenarioError may escape; an accepted scenario validates to itself again, and every
    64th one runs in the simulator for a few seconds."""

    name = "scenario"

    def __init__(self, seed):
        import os

        # a parallel run loads the system's module when its master hears another pack:
        # once, before the memory baseline (a module loaded is not memory that grows)
        import packsystem  # noqa: F401

        self.base = []
        folder = hostpath.ROOT + "/host_tests/scenarios/"
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                with open(folder + name) as f:
                    self.base.append(f.read())
        self.base.append('{"initial": {"soc_pct": 10}, "config": {"covp_trip_mv": 3590}}')
        self.base.append('{"packs": 2, "dip": "1000010", "events": [{"at_s": 0, "pack": 2}]}')
        self.accepted = 0
        self.path = None

    def generate(self, rng):
        text = pick(rng, self.base)
        kind = rng.next() % 5
        if kind == 0:
            raw = mutate(rng, text.encode(), 1 + rng.next() % 4)
            chars = bytearray(raw)
            for i in range(len(chars)):
                if chars[i] > 0x7E:
                    chars[i] = 0x3F
            return bytes(chars).decode(), rng.next() % 50 == 0
        s = json.loads(text)
        if kind == 1:
            s.setdefault("events", [])
            if type(s["events"]) is list:
                s["events"].append(scenario_event(rng))
        elif kind == 2:
            key = pick(rng, ("packs", "dip", "inverter", "duration_s", "seed", "name", "zz"))
            s[key] = pick(rng, JSON_ODD + ("can", "rs485", "growatt", "0000000", 33, 2**31))
        elif kind == 3:
            initial = s.setdefault("initial", {})
            initial[pick(rng, ("soc_pct", "temp_c", "cell_spread_mv", "x"))] = pick(rng, JSON_ODD)
            s["config"] = {pick(rng, ("covp_trip_mv", "tick_ms", "x")): random_node(rng)}
        else:
            path = pick(rng, ("initial", "events", "config", "inverter"))
            s[path] = random_node(rng)
            if rng.next() % 8 == 0:
                depth = pick(rng, (50, 500, 5000))
                return "[" * depth + json.dumps(s) + "]" * depth, False
        return json.dumps(s), rng.next() % 50 == 0

    def rare(self):
        """Every base scenario as text and as a file, refusals of each kind (not JSON, too
        deep, not a scenario, a file not UTF-8), and a run of one pack and of two."""
        for text in self.base:
            yield text, True
        for text in ("{", "[" * 5000 + "]" * 5000, '{"packs": "x"}'):
            yield text, True
        for text in self.base[-2:]:
            self.accepted = 0  # (a generator: set as each comes) the next one accepted runs
            yield text, False

    def check(self, inp):
        from boards.host.world.scenario import ScenarioError, load, parse, validate

        text, as_file = inp
        try:
            s = parse(text)
        except ScenarioError as exc:
            expect("\n" not in str(exc), "a message of more than one line")
            s = None
        except Exception as exc:  # noqa: BLE001
            raise Bad("parse raised %r" % exc) from None
        if as_file:
            self.check_file(text, s, load, ScenarioError)
        if s is None:
            return
        again = json.loads(json.dumps(s))
        try:
            expect(validate(again) == s, "a valid scenario does not validate to itself")
        except ScenarioError as exc:
            raise Bad("an accepted scenario refused when validated again: %s" % exc) from None
        self.accepted += 1
        if self.accepted % 64 == 1:
            self.runs(s)

    def check_file(self, text, s, load, error):
        path = scratch("fuzz_scenario.json")
        with open(path, "wb") as f:
            f.write(text.encode() + b"\xff\xfe" if s is None else text.encode())
        try:
            load(path)
        except error:
            pass
        except Exception as exc:  # noqa: BLE001
            raise Bad("load of a file raised %r" % exc) from None

    def runs(self, s):
        from boards.host.world.engine import Simulator

        try:
            sim = Simulator(s)
            sim.run(3000)
        except Exception as exc:  # noqa: BLE001
            raise Bad("an accepted scenario does not run: %r" % exc) from None


DECODERS = (
    RsServer,
    RsStream,
    CanRx,
    Mcp2515Chip,
    Bq76952Chip,
    StoreLoad,
    ConfigLoad,
    ScenarioParse,
)


# -- running ----------------------------------------------------------------------------------


def case_rng(seed, case):
    rng = Rng(seed * 1000003 + case * 7919 + 1)
    rng.next()
    rng.next()
    return rng


class Result:
    def __init__(self, name, count):
        self.name = name
        self.count = count
        self.ran = 0
        self.findings = []  # (case, what, input as text)
        self.growth = 0
        # the memory readings after the warm-up: inputs run, memory (arrays made before
        # the first reading, so that the readings themselves add nothing to the memory)
        self.at_k = array("i", [0] * (MARKS + 1))
        self.at_mem = array("i", [0] * (MARKS + 1))
        self.n_marks = 0
        self.ms = 0

    def marks(self):
        """The readings: [(inputs run, memory)]."""
        return [(self.at_k[i], self.at_mem[i]) for i in range(self.n_marks)]


def _clock_ms():
    import time

    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


# MicroPython bytes; CPython allocated blocks (interpreter caches move a little)
GROWTH_LIMIT = 2048 if MICROPYTHON else 200
MARKS = 16  # memory readings over the run after the warm-up (and one at its end)


def trend_growth(marks):
    """The memory growth over a run at its trend: the least-squares slope of the readings
    [(inputs run, memory)] from a quarter of the run on, times the inputs run after the
    warm-up. A per-input leak grows alike between every two readings, so its figure is
    what it grew by; what grows once (a path met for the first time, an interpreter
    cache filled) settles early, and the late readings' slope is flat."""
    first, last = marks[0][0], marks[-1][0]
    late = [m for m in marks if 4 * (m[0] - first) >= last - first]
    n = len(late)
    if n < 2:
        return marks[-1][1] - marks[0][1]
    mk = sum(m[0] for m in late) / n
    my = sum(m[1] for m in late) / n
    sxx = sxy = 0.0
    for k, y in late:
        sxx += (k - mk) * (k - mk)
        sxy += (k - mk) * (y - my)
    return round(sxy / sxx * (last - first))


def judge(dec, inp):
    """What is wrong with the decoder's handling of one input (None: nothing)."""
    try:
        dec.check(inp)
    except Bad as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the property: nothing escapes
        return "raised %r" % (exc,)
    return None


def read_memory(result, ran):
    n = result.n_marks
    result.at_k[n] = ran
    result.at_mem[n] = mem()
    result.n_marks = n + 1
    if result.count >= 100000:  # a long run (make fuzz) says how far it got
        grown = result.at_mem[n] - result.at_mem[0]
        line = "fuzz %s: %d of %d inputs, %d findings, memory %+d since the warm-up\n"
        sys.stderr.write(line % (result.name, ran, result.count, len(result.findings), grown))


def run(cls, count, seed=1, case=None, max_findings=5):
    """Run `count` inputs (or the one input `case`) of decoder class cls. After the
    warm-up (the first inputs, then the decoder's rare() inputs) memory is read MARKS
    times and at the end, and its growth judged at its trend (trend_growth())."""
    result = Result(cls.name, count)
    start = _clock_ms()
    dec = cls(seed)
    cases = range(count) if case is None else (case,)
    span = min(count // 10, 500)
    warm = span if case is None else -1  # the heap locked (MicroPython) and memory read from here
    at = ()  # the inputs before which memory is read
    _locking[0] = case is not None
    ran = 0
    for k in cases:
        if k == warm:
            for inp in dec.rare():  # paths the random inputs meet seldom: first use allocates
                what = judge(dec, inp)
                if what is not None:
                    result.findings.append((-1, "warm-up input: " + what, dec.show(inp)))
            at = [warm + (count - warm) * j // MARKS for j in range(1, MARKS)]
            result.n_marks = 0
            read_memory(result, k)
            _locking[0] = True
        elif k in at:
            read_memory(result, k)
        inp = dec.generate(case_rng(seed, k))
        what = judge(dec, inp)
        ran = k + 1
        result.ran += 1
        if what is None:
            continue
        result.findings.append((k, what, dec.show(inp)))
        if len(result.findings) >= max_findings:
            break
        dec = cls(seed)  # a fresh fixture after a finding, warmed up again
        result.n_marks = 0
        at = ()
        _locking[0] = False
        warm = k + 1 + span
    # (under a line tracer, coverage.py's in make test, the tracer's own records of lines
    # reached for the first time grow CPython's blocks: MicroPython's run judges growth)
    if result.n_marks and (MICROPYTHON or sys.gettrace() is None):
        read_memory(result, ran)
        result.growth = trend_growth(result.marks())
        if result.growth > GROWTH_LIMIT:
            what = "memory grew by %d %s over the run at its trend (readings %r)" % (
                result.growth,
                "bytes" if MICROPYTHON else "blocks",
                result.marks(),
            )
            result.findings.append((-1, what, ""))
    result.ms = _clock_ms() - start
    return result


def report(results, seed, out=None):
    out = out or sys.stdout
    runtime = sys.implementation.name
    out.write("fuzz (%s, seed %d)\n" % (runtime, seed))
    head = ("decoder", "inputs", "findings", "seconds", "growth")
    out.write("%-14s %9s %9s %8s %7s\n" % head)
    for r in results:
        row = (r.name, r.ran, len(r.findings), r.ms / 1000, r.growth)
        out.write("%-14s %9d %9d %8.1f %7d\n" % row)
    for r in results:
        for case, what, text in r.findings:
            out.write("FINDING %s case %d: %s\n" % (r.name, case, what))
            if text:
                out.write("  input: %s\n" % text)
            if case >= 0:
                out.write(
                    "  reproduce: python tools/fuzz.py --only %s --seed %d --case %d\n"
                    % (r.name, seed, case)
                )


def by_decoder(results):
    """{decoder: [inputs, findings, seconds, growth]} of a run's Results."""
    by = {}
    for r in results:
        by[r.name] = [r.ran, len(r.findings), round(r.ms / 1000), r.growth]
    return by


def figures(by):
    """The bench/results.json keys of a run (--results), from by_decoder()'s table."""
    return {
        "fuzz_inputs_min": min(v[0] for v in by.values()),
        "fuzz_findings": sum(v[1] for v in by.values()),
        "fuzz_growth_max": max(v[3] for v in by.values()),
        "fuzz_by_decoder": by,
    }


def _parallel(names, count, seed, jobs):
    """CPython: one process per decoder, `jobs` at a time; their reports in order, and
    their figures."""
    import subprocess

    procs = []
    outputs = {}
    pending = list(names)
    failed = False
    while pending or procs:
        while pending and len(procs) < jobs:
            name = pending.pop(0)
            cmd = [sys.executable, __file__, "--only", name, "--count", str(count)]
            cmd += ["--seed", str(seed), "--figures"]
            procs.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))
        name, proc = procs.pop(0)
        text, _ = proc.communicate()
        outputs[name] = text
        failed = failed or proc.returncode != 0
    by = {}
    for name in names:
        for line in outputs[name].splitlines(True):
            if line.startswith("FUZZ "):
                by.update(json.loads(line[5:]))
            else:
                sys.stdout.write(line)
    return (1 if failed else 0), by


def main(argv):
    count, seed, only, case, jobs = 10000, 1, None, None, 1
    flags = [a for a in argv if a in ("--results", "--figures")]
    argv = [a for a in argv if a not in flags]
    i = 0
    while i < len(argv):
        arg = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else ""
        if arg == "--count":
            count = int(val)
        elif arg == "--seed":
            seed = int(val)
        elif arg == "--only":
            only = val.split(",")
        elif arg == "--case":
            case = int(val)
        elif arg == "--jobs":
            jobs = int(val)
        else:
            print(__doc__)
            return 2
        i += 2
    names = [cls.name for cls in DECODERS]
    for name in only or ():
        if name not in names:
            print("no such decoder: %s (%s)" % (name, ", ".join(names)))
            return 2
    chosen = [cls for cls in DECODERS if only is None or cls.name in only]
    start = _clock_ms()
    if jobs > 1 and not MICROPYTHON and case is None and len(chosen) > 1:
        status, by = _parallel([cls.name for cls in chosen], count, seed, jobs)
    else:
        results = [run(cls, count, seed, case) for cls in chosen]
        report(results, seed)
        status = 1 if any(r.findings for r in results) else 0
        by = by_decoder(results)
    if "--figures" in flags:  # a child's, for its parent
        print("FUZZ " + json.dumps(by))
    if "--results" in flags:
        _write(figures(by), count, seed, jobs, _clock_ms() - start)
    return status


def _write(figs, count, seed, jobs, ms):
    import time

    import results

    context = {"date": time.strftime("%Y-%m-%d %H:%M"), "runtime": sys.implementation.name}
    context.update({"count": count, "seed": seed, "jobs": jobs, "wall_s": ms // 1000})
    results.merge(figs, context, "fuzz_", "_context_fuzz")
    print("make fuzz: fuzz figures written to bench/results.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
