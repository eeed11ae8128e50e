"""The monitor's RS485 decoding: the Pylon LV RS485 V3.3 protocol (protocols.md section 4).

Owns the frame format (encoding, LCHKSUM and CHKSUM), the field-by-field decoding of
requests and replies, the pairing of a reply with the request before it, and the stream
decoder that cuts frames out of raw bytes. Written from ../shared/spec/protocols.md alone
(never from firmware/protocols/). Plain Python, no third-party library.
"""

CID1_BATTERY = 0x46
# a request's "all packs" INFO byte (protocols.md 4.1: 0x42 and 0x44 only)
ALL_PACKS = 0xFF

COMMANDS = {
    0x42: "analog",
    0x44: "alarms",
    0x47: "parameters",
    0x4F: "protocol",
    0x51: "manufacturer",
    0x61: "system-analog",
    0x62: "system-alarms",
    0x63: "system-limits",
    0x92: "management",
    0x93: "serial",
    0x94: "set-management",
    0x95: "turn-off",
    0x96: "software",
}
RTN = {
    0x00: "normal",
    0x01: "VER error",
    0x02: "CHKSUM error",
    0x03: "LCHKSUM error",
    0x04: "CID2 invalid",
    0x05: "command format error",
    0x06: "invalid data",
    0x90: "ADR error",
    0x91: "internal communication error",
}
# reply INFO sizes (bytes) that name their command when no request was seen (section 4.3)
REPLY_SIZES = {10: 0x92, 25: 0x47, 32: 0x51, 17: 0x93, 6: 0x96}
# the request cycle --poll sends, as python-pylontech and the inverters of 4.3 ask
POLL_COMMANDS = (0x4F, 0x51, 0x47, 0x42, 0x44, 0x92, 0x93, 0x96)
# temperatures are 0.1 K with this offset: value = degC * 10 + 2731 (section 4.3)
KELVIN_OFFSET_DK = 2731
# the user-defined item count that adds the two 3-byte capacities (section 4.3)
ITEMS_WITH_24BIT_CAPACITY = 4
NO_VALUE_U16 = 0xFFFF


def rs485_checksum(body):
    """CHKSUM: two's complement of the sum of the ASCII bytes between SOI and CHKSUM."""
    return -sum(body) & 0xFFFF


def rs485_lchksum(lenid):
    """LCHKSUM: the nibble that makes LENID's three nibbles plus it sum to 0 mod 16."""
    return -((lenid & 0xF) + ((lenid >> 4) & 0xF) + ((lenid >> 8) & 0xF)) & 0xF


def encode_rs485(ver, adr, cid1, cid2, info=b""):
    """A whole frame, upper-case hex and CR only, as the spec's examples are sent."""
    info_hex = info.hex().upper().encode()
    lenid = len(info_hex)
    length = (rs485_lchksum(lenid) << 12) | lenid
    body = b"%02X%02X%02X%02X%04X" % (ver, adr, cid1, cid2, length) + info_hex
    return b"~" + body + b"%04X" % rs485_checksum(body) + b"\r"


def encode_rs485_request(adr, cid2, info=None, ver=0x20):
    """A request as python-pylontech sends them (VER 0x20; INFO = the ADR byte or none)."""
    if info is None:
        info = b"" if cid2 in (0x47, 0x4F, 0x51) else bytes((adr,))
    return encode_rs485(ver, adr, CID1_BATTERY, cid2, info)


class Rs485Frame:
    """One RS485 frame: header, checks (`problems`), decoded `fields` and `values`."""

    def __init__(self, raw, t=None, offset=None):
        self.raw = raw
        self.t = t
        self.offset = offset
        self.ver = self.adr = self.cid1 = self.cid2 = None
        self.lenid = None
        self.is_reply = False
        self.command = None  # the command this frame is or answers
        self.guessed = False
        self.info = b""
        self.checksum = None
        self.checksum_expected = None
        self.problems = []
        self.notes = []
        self.fields = []
        self.values = {}

    @property
    def name(self):
        if self.command is None:
            return "?"
        return COMMANDS.get(self.command, "0x%02X" % self.command)

    @property
    def checksum_ok(self):
        return self.checksum is not None and self.checksum == self.checksum_expected

    def text(self):
        if self.t is not None:
            parts = ["%.3f" % self.t]
        else:
            parts = ["@%d" % (self.offset or 0)]
        if self.adr is None:
            parts.append("RS485 ?")
        else:
            kind = "reply" if self.is_reply else "request"
            if self.command is None:  # a reply nobody asked for, of no known layout
                parts.append("RS485 ADR %02X %s ?" % (self.adr, kind))
            else:
                guess = "?" if self.guessed else ""
                parts.append(
                    "RS485 ADR %02X %s 0x%02X%s %s"
                    % (self.adr, kind, self.command, guess, self.name)
                )
        parts += ["%s %s" % f for f in self.fields]
        parts += ["(%s)" % n for n in self.notes]
        parts += ["! " + p for p in self.problems]
        return " ".join(parts)

    def key(self):
        return ("RS485", self.adr, self.is_reply, self.command)


class _Reader:
    """Big-endian fields out of INFO; raises IndexError when INFO runs out."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise IndexError("INFO ends at byte %d, wanted %d more" % (len(self.data), n))
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u(self, n=1):
        return int.from_bytes(self.take(n), "big")

    def s16(self):
        v = self.u(2)
        return v - 0x10000 if v & 0x8000 else v


def _celsius(dk):
    return (dk - KELVIN_OFFSET_DK) / 10


def _flags(value, names):
    """The names of the set bits, b7 first; names is {bit: name}."""
    return " ".join(names[b] for b in sorted(names, reverse=True) if value & (1 << b)) or "none"


def _block_count(info, first_block, request_info, parse_block):
    """How many pack blocks follow: the module count for an all-packs query, else 1."""
    if request_info is not None:
        return info[1] if request_info == ALL_PACKS else 1
    # no request seen: take the count if that many blocks fill INFO exactly
    count = info[1]
    if count > 1:
        try:
            r = _Reader(info)
            r.pos = first_block
            for _ in range(count):
                parse_block(r, Rs485Frame(b""), "")
            if r.left() == 0:
                return count
        except IndexError:
            pass
    return 1


def _analog_block(r, frame, prefix):
    values, fields = frame.values, frame.fields
    m = r.u()
    cells = [r.u(2) for _ in range(m)]
    n = r.u()
    temps = [_celsius(r.u(2)) for _ in range(n)]
    current = r.s16() / 10
    voltage = r.u(2) / 1000
    remaining1 = r.u(2)
    items = r.u()
    total1 = r.u(2)
    cycles = r.u(2)
    remaining, total = remaining1, total1
    if items >= ITEMS_WITH_24BIT_CAPACITY:
        remaining, total = r.u(3), r.u(3)
        if remaining1 != NO_VALUE_U16 or total1 != NO_VALUE_U16:
            frame.problems.append(
                "%scapacity 1 %04X/%04X, FFFF with 4 items (4.3)" % (prefix, remaining1, total1)
            )
    values.setdefault("blocks", []).append(
        {
            "cells_mv": cells,
            "temps_c": temps,
            "current_a": current,
            "voltage_v": voltage,
            "items": items,
            "remaining_mah": remaining,
            "total_mah": total,
            "cycles": cycles,
        }
    )
    if not prefix:  # single block: its values at the top level too
        values.update(values["blocks"][-1])
    cell_text = "%d: %s mV" % (m, " ".join(str(c) for c in cells))
    if cells:
        cell_text += " [%d..%d]" % (min(cells), max(cells))
    fields += [
        (prefix + "cells", cell_text),
        (prefix + "temps", "%d: %s C" % (n, " ".join("%.1f" % t for t in temps))),
        (prefix + "I", "%.1f A" % current),
        (prefix + "U", "%.3f V" % voltage),
        (prefix + "remaining", "%.3f Ah" % (remaining / 1000)),
        (prefix + "total", "%.3f Ah" % (total / 1000)),
        (prefix + "items", str(items)),
        (prefix + "cycles", str(cycles)),
    ]
    if total:
        fields.append((prefix + "SOC", "%.1f %%" % (100 * remaining / total)))


STATES = {0x00: "normal", 0x01: "low", 0x02: "high", 0xF0: "error"}
STATUS1 = {
    7: "module-under-V",
    6: "charge-over-T",
    5: "discharge-over-T",
    4: "discharge-over-I",
    2: "charge-over-I",
    1: "cell-under-V",
    0: "module-over-V",
}
STATUS2 = {3: "pack-power", 2: "discharge-FET", 1: "charge-FET", 0: "precharge-FET"}
STATUS3 = {7: "charging", 6: "discharging", 5: "heater", 3: "full", 0: "buzzer"}


def _state(v):
    return STATES.get(v, "0x%02X" % v)


def _states(kind, states):
    odd = ["%s%d %s" % (kind, i + 1, _state(v)) for i, v in enumerate(states) if v]
    return "%d: %s" % (len(states), " ".join(odd) if odd else "all normal")


def _alarm_block(r, frame, prefix):
    values, fields = frame.values, frame.fields
    m = r.u()
    cells = list(r.take(m))
    n = r.u()
    temps = list(r.take(n))
    charge_i, module_v, discharge_i = r.u(), r.u(), r.u()
    status = list(r.take(5))
    values.setdefault("blocks", []).append(
        {
            "cell_states": cells,
            "temp_states": temps,
            "charge_current_state": charge_i,
            "module_voltage_state": module_v,
            "discharge_current_state": discharge_i,
            "status": status,
        }
    )
    if not prefix:
        values.update(values["blocks"][-1])
    bad_cells = [i + 1 for i in range(16) if (status[3] | status[4] << 8) & (1 << i)]
    fields += [
        (prefix + "cells", _states("c", cells)),
        (prefix + "temps", _states("t", temps)),
        (prefix + "charge-I", _state(charge_i)),
        (prefix + "module-V", _state(module_v)),
        (prefix + "discharge-I", _state(discharge_i)),
        (prefix + "status1", "0x%02X %s" % (status[0], _flags(status[0], STATUS1))),
        (prefix + "status2", "0x%02X %s" % (status[1], _flags(status[1], STATUS2))),
        (prefix + "status3", "0x%02X %s" % (status[2], _flags(status[2], STATUS3))),
        (prefix + "cell-errors", " ".join(str(c) for c in bad_cells) or "none"),
    ]


def _decode_blocks(frame, parse_block, request_info):
    info = frame.info
    r = _Reader(info)
    flag = r.u()
    second = r.u()
    frame.values["infoflag"] = flag
    count = _block_count(info, 2, request_info, parse_block)
    frame.values["modules"] = count
    if count > 1 or request_info == ALL_PACKS:
        frame.fields.append(("flag", "0x%02X" % flag))
        frame.fields.append(("modules", str(second)))
        for i in range(count):
            parse_block(r, frame, "m%d." % (i + 1))
    else:
        frame.fields.append(("flag", "0x%02X" % flag))
        frame.fields.append(("cmd", "0x%02X" % second))
        parse_block(r, frame, "")
    return r


PARAMETERS = (
    ("cell-high", "mv"),
    ("cell-low", "mv"),
    ("cell-under", "mv"),
    ("charge-high-T", "dk"),
    ("charge-low-T", "dk"),
    ("charge-I", "da"),
    ("module-high", "mv"),
    ("module-low", "mv"),
    ("module-under", "mv"),
    ("discharge-high-T", "dk"),
    ("discharge-low-T", "dk"),
    ("discharge-I", "da"),
)


def _decode_parameters(frame, request_info):
    r = _Reader(frame.info)
    frame.values["infoflag"] = r.u()
    for label, kind in PARAMETERS:
        if kind == "mv":
            v = r.u(2) / 1000
            text = "%.3f V" % v
        elif kind == "dk":
            v = _celsius(r.u(2))
            text = "%.1f C" % v
        else:
            v = r.s16() / 10
            text = "%.1f A" % v
        frame.values[label] = v
        frame.fields.append((label, text))
    return r


MANAGEMENT_STATUS = {
    7: "charge-enable",
    6: "discharge-enable",
    5: "charge-immediately-1",
    4: "charge-immediately-2",
    3: "full-charge-request",
}


def _decode_management(frame, request_info):
    r = _Reader(frame.info)
    frame.values["cmd"] = r.u()
    cv, dv = r.u(2) / 1000, r.u(2) / 1000
    ccl, dcl = r.s16() / 10, r.s16() / 10
    status = r.u()
    frame.values.update(cv_v=cv, dv_v=dv, ccl_a=ccl, dcl_a=dcl, status=status)
    frame.fields += [
        ("CV", "%.3f V" % cv),
        ("DV", "%.3f V" % dv),
        ("CCL", "%.1f A" % ccl),
        ("DCL", "%.1f A" % dcl),
        ("status", "0x%02X %s" % (status, _flags(status, MANAGEMENT_STATUS))),
    ]
    return r


def _text(raw):
    return raw.rstrip(b"\x00 ").decode("ascii", "replace")


def _decode_manufacturer(frame, request_info):
    r = _Reader(frame.info)
    name = _text(r.take(10))
    sw = r.take(2)
    maker = _text(r.take(r.left()))
    frame.values.update(battery=name, software=sw, manufacturer=maker)
    frame.fields += [
        ("battery", '"%s"' % name),
        ("software", ".".join(str(b) for b in sw)),
        ("manufacturer", '"%s"' % maker),
    ]
    return r


def _decode_serial(frame, request_info):
    r = _Reader(frame.info)
    frame.values["cmd"] = r.u()
    serial = _text(r.take(16))
    frame.values["serial"] = serial
    frame.fields += [("cmd", "0x%02X" % frame.values["cmd"]), ("serial", '"%s"' % serial)]
    return r


def _decode_software(frame, request_info):
    r = _Reader(frame.info)
    frame.values["cmd"] = r.u()
    maker, main = r.take(2), r.take(3)
    frame.values.update(manufacturer_version=maker, mainline_version=main)
    frame.fields += [
        ("cmd", "0x%02X" % frame.values["cmd"]),
        ("manufacturer-version", ".".join(str(b) for b in maker)),
        ("mainline-version", ".".join(str(b) for b in main)),
    ]
    return r


def _decode_protocol(frame, request_info):
    # the reply's VER field carries the protocol version (spec: V2.1 -> 0x21)
    frame.values["version"] = frame.ver
    frame.fields.append(("version", "%d.%d" % (frame.ver >> 4, frame.ver & 0xF)))
    return _Reader(frame.info)


def _decode_empty(frame, request_info):
    return _Reader(frame.info)


REPLY_DECODERS = {
    0x42: lambda f, ri: _decode_blocks(f, _analog_block, ri),
    0x44: lambda f, ri: _decode_blocks(f, _alarm_block, ri),
    0x47: _decode_parameters,
    0x4F: _decode_protocol,
    0x51: _decode_manufacturer,
    0x92: _decode_management,
    0x93: _decode_serial,
    0x94: _decode_empty,
    0x95: _decode_empty,
    0x96: _decode_software,
}


def _decode_request(frame):
    info = frame.info
    if frame.command == 0x94 and len(info) >= 9:
        # our reading: the same units as the 0x92 reply (mV, mV, 0.1 A, 0.1 A)
        r = _Reader(info)
        frame.values["cmd"] = r.u()
        cv, dv = r.u(2) / 1000, r.u(2) / 1000
        ccl, dcl = r.s16() / 10, r.s16() / 10
        frame.values.update(cv_v=cv, dv_v=dv, ccl_a=ccl, dcl_a=dcl)
        frame.fields += [
            ("cmd", "0x%02X" % frame.values["cmd"]),
            ("CV", "%.3f V" % cv),
            ("DV", "%.3f V" % dv),
            ("CCL", "%.1f A" % ccl),
            ("DCL", "%.1f A" % dcl),
        ]
        if r.left():
            frame.notes.append("%d extra INFO bytes" % r.left())
        return
    if not info:
        return
    frame.values["cmd"] = info[0]
    target = "all packs" if info[0] == ALL_PACKS else "pack %d" % info[0]
    frame.fields.append(("cmd", "0x%02X (%s)" % (info[0], target)))
    if len(info) > 1:
        frame.fields.append(("extra", info[1:].hex().upper()))


def _guess_command(info):
    """The command of a reply seen without its request, from what its INFO holds."""
    if len(info) in REPLY_SIZES:
        return REPLY_SIZES[len(info)]
    for cmd, block in ((0x44, _alarm_block), (0x42, _analog_block)):
        if len(info) < 3:
            break
        try:
            count = _block_count(info, 2, None, block)
            r = _Reader(info)
            r.pos = 2
            for _ in range(count):
                block(r, Rs485Frame(b""), "")
            if r.left() == 0:
                return cmd
        except IndexError:
            continue
    return None


def _hex_bytes(text, what, frame):
    try:
        return bytes.fromhex(text.decode("ascii"))
    except ValueError:
        frame.problems.append("%s is not hex: %r" % (what, text.decode("ascii", "replace")))
        return None


def decode_rs485_frame(raw, answers=None, request_info=None, t=None, offset=None):
    """An Rs485Frame from one frame's bytes, `~` to CR.

    answers: the command of the request this reply follows (None: identify it by its
    INFO); request_info: that request's INFO byte (0xFF = all packs).
    """
    frame = Rs485Frame(bytes(raw), t, offset)
    data = frame.raw
    if data.endswith(b"\r"):
        data = data[:-1]
    else:
        frame.problems.append("no CR at the end")
    if not data.startswith(b"~"):
        frame.problems.append("no ~ at the start")
    else:
        data = data[1:]
    if len(data) < 16:
        frame.problems.append("too short (%d characters)" % len(data))
        return frame
    if data != data.upper():
        frame.notes.append("lower-case hex")  # accepted; the spec's examples are upper case
    body, chk_text = data[:-4], data[-4:]
    header = _hex_bytes(body[:12], "header", frame)
    chk = _hex_bytes(chk_text, "CHKSUM", frame)
    if header is None:
        return frame
    frame.ver, frame.adr, frame.cid1, frame.cid2 = header[0], header[1], header[2], header[3]
    length = header[4] << 8 | header[5]
    frame.lenid = length & 0xFFF
    if chk is not None:
        frame.checksum = chk[0] << 8 | chk[1]
    frame.checksum_expected = rs485_checksum(body)
    if frame.checksum is not None and not frame.checksum_ok:
        frame.problems.append(
            "bad CHKSUM %04X (expected %04X)" % (frame.checksum, frame.checksum_expected)
        )
    lchk = length >> 12
    if lchk != rs485_lchksum(frame.lenid):
        frame.problems.append(
            "bad LCHKSUM %X in LENGTH %04X (expected %X)"
            % (lchk, length, rs485_lchksum(frame.lenid))
        )
    info_text = body[12:]
    if frame.lenid != len(info_text):
        frame.problems.append(
            "LENID %d but INFO has %d characters" % (frame.lenid, len(info_text))
        )
    if len(info_text) % 2:
        frame.problems.append("INFO has an odd number of characters")
        info_text = info_text[:-1]
    info = _hex_bytes(info_text, "INFO", frame)
    frame.info = info or b""
    if frame.cid1 != CID1_BATTERY:
        frame.notes.append("CID1 %02X, not 46" % frame.cid1)
    frame.is_reply = frame.cid2 in RTN
    if not frame.is_reply:
        frame.command = frame.cid2
        _decode_request(frame)
        return frame
    rtn = frame.cid2
    if rtn:
        frame.problems.append("RTN %02X %s" % (rtn, RTN[rtn]))
        frame.command = answers
        return frame
    frame.command = answers
    if answers is None:
        frame.command = _guess_command(frame.info)
        frame.guessed = True
    decoder = REPLY_DECODERS.get(frame.command)
    if decoder is None:
        if frame.info:
            frame.fields.append(("info", frame.info.hex().upper()))
        return frame
    try:
        r = decoder(frame, request_info)
    except IndexError as exc:
        frame.problems.append("INFO too short: %s" % exc)
        return frame
    if r.left():
        frame.notes.append("%d extra INFO bytes" % r.left())
    return frame


class Rs485Decoder:
    """Cuts a byte stream into frames and pairs each reply with the request before it."""

    def __init__(self):
        self.buf = b""
        self.offset = 0  # stream offset of buf[0]
        self.request = None  # (command, INFO byte) of the last request

    def feed(self, data, t=None):
        """Decoded frames (and junk reports) completed by these bytes."""
        self.buf += data
        out = []
        while self.buf:
            start = self.buf.find(b"~")
            if start < 0:
                out += self._junk(self.buf, t)
                self.offset += len(self.buf)
                self.buf = b""
                break
            if start:
                out += self._junk(self.buf[:start], t)
                self.offset += start
                self.buf = self.buf[start:]
            end = self.buf.find(b"\r")
            nxt = self.buf.find(b"~", 1)
            if 0 <= nxt and (end < 0 or nxt < end):
                # a new frame starts before this one ended: report the torn one
                out.append(self._frame(self.buf[:nxt], t))
                self.offset += nxt
                self.buf = self.buf[nxt:]
                continue
            if end < 0:
                break
            out.append(self._frame(self.buf[: end + 1], t))
            self.offset += end + 1
            self.buf = self.buf[end + 1 :]
        return out

    def flush(self, t=None):
        """What is left at the end of the stream (a frame without its CR)."""
        out = []
        if self.buf:
            out.append(self._frame(self.buf, t))
            self.offset += len(self.buf)
            self.buf = b""
        return out

    def _junk(self, data, t):
        frame = Rs485Frame(data, t, self.offset)
        frame.problems.append(
            "%d byte(s) outside frames: %s" % (len(data), data[:16].hex(" ").upper())
        )
        if data.startswith(b"\n"):
            # protocols.md 4.4: python-pylontech's checksum slice breaks on a CR LF ending
            frame.notes.append("a frame ended CR LF: CR alone is the rule")
        return [frame]

    def _frame(self, raw, t):
        # peek at CID2 to tell a request from a reply before decoding
        frame = decode_rs485_frame(raw, t=t, offset=self.offset)
        if frame.is_reply and self.request is not None:
            answers, request_info = self.request
            self.request = None
            frame = decode_rs485_frame(raw, answers, request_info, t=t, offset=self.offset)
        elif not frame.is_reply and frame.cid2 is not None:
            self.request = (frame.cid2, frame.info[0] if frame.info else None)
        return frame


def decode_rs485_bytes(data):
    """Every frame in a raw capture, decoded in order."""
    dec = Rs485Decoder()
    return dec.feed(data) + dec.flush()
