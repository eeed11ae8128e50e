"""Bench monitor for the inverter links: the pack's CAN set and the Pylon RS485 V3.3 protocol.

Owns the human-readable decoding of both links, written from ../shared/spec/protocols.md
alone (never from firmware/protocols/): it is the cross-check of the firmware's encoders.
CAN frames decode through tools/bms_id0.dbc (cantools); RS485 frames are parsed here.

    tools/monitor.py FILE.log                  a candump -L log
    tools/monitor.py --can CHANNEL             a live python-can bus
    tools/monitor.py --rs485 FILE              a raw RS485 byte capture
    tools/monitor.py --rs485-pty PATH          a live serial port (pyserial)

CPython only (cantools, python-can, pyserial, rich are imported when needed).
"""

import os
import sys
import time

HELP = """usage: tools/monitor.py FILE.log [--table]
       tools/monitor.py --can CHANNEL [--interface socketcan] [--duration S] [--table]
       tools/monitor.py --rs485 FILE [--table]
       tools/monitor.py --rs485-pty PATH [--baud N] [--poll [ADR]] [--duration S] [--table]

Decodes the pack's inverter links, one line per frame: time, id, name, fields with units.

sources (exactly one):
  FILE.log           a candump -L log: (SECONDS.MICROS) can0 ID#HEXDATA
  --can CHANNEL      a live CAN bus through python-can (e.g. can0, or vcan0)
  --rs485 FILE       a raw byte capture of the Pylon RS485 V3.3 link (both directions)
  --rs485-pty PATH   a live serial port or pseudo-terminal (pyserial)
options:
  --interface NAME   python-can interface for --can (default socketcan)
  --baud N           serial speed for --rs485-pty (default 9600: DIP 1 OFF)
  --poll [ADR]       with --rs485-pty: act as the inverter and send the Pylon requests
                     (4F 51 47 42 44 92 93 96) to ADR (default 2), one a second
  --duration S       stop a live source after S seconds (default: until Ctrl-C)
  --table            a compact table, the latest values of every frame, updated in place
  -h, --help         this text

Times: candump logs print the log's own time; live sources print seconds since start;
a raw RS485 capture has no times, so its lines start with the byte offset (@N).
RS485 lines flag a bad LCHKSUM, a LENID that does not match the INFO, a bad CHKSUM,
non-hex characters and bytes outside frames with "!". Replies are paired with the
request before them; a reply seen alone is identified by its INFO length (marked "?").
Exit status: 0, or 2 with a one-line message on bad arguments.
"""

DBC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bms_id0.dbc")

# ---------------------------------------------------------------------------------------
# CAN


class CanFrame:
    """One decoded CAN frame: `fields` are (label, text) pairs, `signals` the DBC values."""

    def __init__(self, t, can_id, extended, data):
        self.t = t
        self.can_id = can_id
        self.extended = extended
        self.data = data
        self.name = "?"
        self.fields = []
        self.signals = {}
        self.problems = []

    @property
    def id_text(self):
        return "0x%08X" % self.can_id if self.extended else "0x%03X" % self.can_id

    def text(self):
        parts = ["%.3f" % self.t, self.id_text, self.name]
        parts += ["%s %s" % f for f in self.fields]
        parts += ["! " + p for p in self.problems]
        return " ".join(parts)

    def key(self):
        return ("CAN", self.extended, self.can_id)


_db = None


def database():
    """The pack's DBC, loaded once (strict: overlapping signals would be an error)."""
    global _db
    if _db is None:
        import cantools

        _db = cantools.database.load_file(DBC_PATH, strict=True)
    return _db


def parse_candump_line(line):
    """(t, can_id, extended, data) from `(SECONDS.MICROS) IFACE ID#HEXDATA`.

    None for a blank or comment line; ValueError for anything else that does not parse.
    Accepts RTR (`ID#R`) and CAN FD (`ID##FDATA`) as candump writes them.
    """
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    words = line.split()
    if len(words) != 3 or not (words[0].startswith("(") and words[0].endswith(")")):
        raise ValueError("not a candump -L line: %r" % line)
    t = float(words[0][1:-1])
    ident, sep, payload = words[2].partition("#")
    if not sep or not ident:
        raise ValueError("no ID#DATA in %r" % line)
    can_id = int(ident, 16)
    # candump writes 3 hex digits for standard ids and 8 for extended ones
    extended = len(ident) > 3 or can_id > 0x7FF
    if payload.startswith("#"):  # CAN FD: a flags nibble, then the data
        payload = payload[2:]
    if payload.upper().startswith("R"):
        payload = ""
    payload = payload.replace(".", "")
    if len(payload) % 2:
        raise ValueError("odd number of hex digits in %r" % line)
    return t, can_id, extended, bytes.fromhex(payload)


def _unit(unit):
    return {"degC": "C"}.get(unit, unit)


def _decimals(scale):
    n = 0
    while scale < 1 and n < 6:
        scale *= 10
        n += 1
    return n


def _num(message, signals, name, label=None):
    """(label, "value unit") for one scaled signal, "?" if the frame was too short."""
    label = label or name
    if name not in signals:
        return (label, "?")
    sig = message.get_signal_by_name(name)
    text = "%.*f" % (_decimals(sig.scale), signals[name])
    unit = _unit(sig.unit or "")
    return (label, text + (" " + unit if unit else ""))


def _flag_words(signals, prefix):
    words = [
        n[len(prefix) :].lower().replace("_", "-")
        for n, v in signals.items()
        if n.startswith(prefix) and v
    ]
    return " ".join(words) or "none"


# 0x35A pair values (protocols.md 2a): lower bit = active, upper bit = OK/cleared
PAIR_NOT_SET, PAIR_ACTIVE, PAIR_OK, PAIR_INVALID = 0, 1, 2, 3


def _pairs(signals, prefix):
    active, invalid, ok, unset = [], [], 0, 0
    for name, value in signals.items():
        if not name.startswith(prefix):
            continue
        short = name[len(prefix) :].lower().replace("_", "-")
        if value == PAIR_ACTIVE:
            active.append(short)
        elif value == PAIR_INVALID:
            invalid.append(short)
        elif value == PAIR_OK:
            ok += 1
        else:
            unset += 1
    text = " ".join(active) or "none"
    notes = []
    if ok:
        notes.append("%d ok" % ok)
    if unset:
        notes.append("%d not set" % unset)
    if invalid:
        notes.append("both bits: " + ",".join(invalid))
    return text + " (" + ", ".join(notes) + ")"


def _ascii(data):
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data)


def _fmt_limits(m, s):
    return [_num(m, s, n, lab) for n, lab in _LIMITS]


_LIMITS = (
    ("Charge_Voltage_Limit", "CVL"),
    ("Charge_Current_Limit", "CCL"),
    ("Discharge_Current_Limit", "DCL"),
    ("Discharge_Voltage_Limit", "DVL"),
)


def _fmt_soc(m, s):
    out = [_num(m, s, "SOC"), _num(m, s, "SOH")]
    if "SOC_High_Res" in s:
        out.append(_num(m, s, "SOC_High_Res", "SOC.01"))
    return out


def _fmt_battery(m, s):
    return [
        _num(m, s, "Battery_Voltage", "U"),
        _num(m, s, "Battery_Current", "I"),
        _num(m, s, "Battery_Temperature", "T"),
    ]


def _fmt_alarms(m, s):
    out = [
        ("protection", _flag_words(s, "Protection_")),
        ("warning", _flag_words(s, "Warning_")),
        ("modules", str(s.get("Module_Count", "?"))),
    ]
    if "Marker_P" in s:
        out.append(("marker", _ascii(bytes((s["Marker_P"], s["Marker_N"])))))
    return out


def _fmt_sma(m, s):
    return [("alarm", _pairs(s, "Alarm_")), ("warning", _pairs(s, "Warning_"))]


def _fmt_request(m, s):
    forced = [
        label
        for name, label in (
            ("Force_Charge_I", "force-charge-I"),
            ("Force_Charge_II", "force-charge-II"),
            ("Full_Charge_Request", "full-charge"),
        )
        if s.get(name)
    ]
    return [
        ("charge", "on" if s.get("Charge_Enable") else "OFF"),
        ("discharge", "on" if s.get("Discharge_Enable") else "OFF"),
        ("request", " ".join(forced) or "none"),
    ]


def _fmt_name(m, s):
    raw = bytes(s.get("Manufacturer_%d" % i, 0) for i in range(8))
    return [("name", '"%s"' % _ascii(raw))]


def _fmt_overview(m, s):
    out = []
    if "Battery_Type" in s:
        bt = int(s["Battery_Type"])
        out.append(("type", '0x%04X "%s"' % (bt, _ascii(bt.to_bytes(2, "little")))))
    for name, label in (("Hardware_Version", "hw"), ("Software_Version", "sw")):
        if name in s:
            out.append((label, "0x%04X" % int(s[name])))
    out.append(_num(m, s, "Capacity", "capacity"))
    return out


def _fmt_modules(m, s):
    return [
        (label, str(s.get(name, "?")))
        for name, label in (
            ("Modules_OK", "ok"),
            ("Modules_Blocking_Charge", "blocking-charge"),
            ("Modules_Blocking_Discharge", "blocking-discharge"),
            ("Modules_Offline", "offline"),
        )
    ]


def _kelvin(s, name):
    if name not in s:
        return "?"
    # protocols.md 2b: K = degC + 273 (DIY); shown in both so a 0.1 degC sender stands out
    return "%d K (%d C)" % (s[name], s[name] - 273)


def _fmt_cells(m, s):
    return [
        _num(m, s, "Min_Cell_Voltage", "Vmin"),
        _num(m, s, "Max_Cell_Voltage", "Vmax"),
        ("Tmin", _kelvin(s, "Min_Cell_Temperature")),
        ("Tmax", _kelvin(s, "Max_Cell_Temperature")),
    ]


def _fmt_capacity(m, s):
    return [_num(m, s, "Installed_Capacity", "installed")]


def _fmt_keepalive(m, s):
    if not any(s.values()):
        return [("data", "all zero")]
    # a non-zero 0x305 is SMA's: the inverter's view of the battery (protocols.md 2a)
    return [
        _num(m, s, "Inv_Battery_Voltage", "U"),
        _num(m, s, "Inv_Battery_Current", "I"),
        _num(m, s, "Inv_Battery_Temperature", "T"),
        _num(m, s, "Inv_SOC", "SOC"),
    ]


# id -> (short name, formatter(message, signals) -> fields)
CAN_FRAMES = {
    0x305: ("keepalive", _fmt_keepalive),
    0x351: ("limits", _fmt_limits),
    0x355: ("soc", _fmt_soc),
    0x356: ("battery", _fmt_battery),
    0x359: ("alarms", _fmt_alarms),
    0x35A: ("sma-alarms", _fmt_sma),
    0x35C: ("request", _fmt_request),
    0x35E: ("manufacturer", _fmt_name),
    0x35F: ("overview", _fmt_overview),
    0x372: ("modules", _fmt_modules),
    0x373: ("cells", _fmt_cells),
    0x379: ("capacity", _fmt_capacity),
}

# inverter-side frames the DBC does not carry: named, shown as hex (protocols.md 1-3)
OTHER_FRAMES = {
    (False, 0x00F): "sma-quick-stop",
    (False, 0x301): "growatt-request",
    (False, 0x306): "sma-si-status",
    (False, 0x307): "inverter-id",
    (True, 0x310): "schneider-heartbeat",
}

# every frame our pack sends under ID0 is 8 bytes, zero-padded (protocols.md Our choices)
PACK_DLC = 8


def decode_can_frame(t, can_id, extended, data):
    """A CanFrame from its parts; unknown ids keep their data as hex."""
    frame = CanFrame(t, can_id, extended, bytes(data))
    known = CAN_FRAMES.get(can_id) if not extended else None
    if known is None:
        frame.name = OTHER_FRAMES.get((extended, can_id), "?")
        frame.fields = [("data", data.hex(" ").upper() or "-")]
        return frame
    frame.name, formatter = known
    message = database().get_message_by_frame_id(can_id)
    frame.signals = message.decode(
        frame.data, decode_choices=False, scaling=True, allow_truncated=True
    )
    frame.fields = formatter(message, frame.signals)
    if len(data) != PACK_DLC:
        frame.problems.append("DLC %d (we send %d)" % (len(data), PACK_DLC))
    return frame


def decode_can_line(line):
    """A CanFrame from one candump -L line; None for a blank or comment line.

    Raises ValueError when the line is not candump -L.
    """
    parsed = parse_candump_line(line)
    if parsed is None:
        return None
    return decode_can_frame(*parsed)


# ---------------------------------------------------------------------------------------
# RS485: Pylon LV RS485 V3.3 (protocols.md section 4)

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


# ---------------------------------------------------------------------------------------
# output


class LineSink:
    """One line per frame."""

    def __init__(self, out):
        self.out = out

    def add(self, frame):
        self.out.write(frame.text() + "\n")
        self.out.flush()

    def close(self):
        pass


class TableSink:
    """The latest decoded values of every frame (CAN id, RS485 ADR and command), in place."""

    def __init__(self, out, live):
        from rich.console import Console

        self.rows = {}
        # a terminal sets its own width; a file or a test's buffer gets a fixed one
        self.console = Console(file=out, width=None if out is sys.stdout else 160)
        self.live = None
        if live:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=4)
            self.live.start()

    def _table(self):
        from rich.table import Table

        table = Table(show_lines=False, expand=False)
        for col in ("time", "id", "frame", "values", "!"):
            table.add_column(col, overflow="fold")
        for key in sorted(self.rows, key=repr):
            table.add_row(*self.rows[key])
        return table

    def add(self, frame):
        head = frame.text().split(" ")[0]
        if isinstance(frame, CanFrame):
            ident, name = frame.id_text, frame.name
        else:
            ident = "RS485 %s" % ("?" if frame.adr is None else "%02X" % frame.adr)
            name = "%s %s" % ("reply" if frame.is_reply else "request", frame.name)
        values = " ".join("%s %s" % f for f in frame.fields)
        self.rows[frame.key()] = (head, ident, name, values, " ".join(frame.problems))
        if self.live is not None:
            self.live.update(self._table())

    def close(self):
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
        else:
            self.console.print(self._table())


# ---------------------------------------------------------------------------------------
# sources


def run_can_log(path, sink, out):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                frame = decode_can_line(line)
            except ValueError as exc:
                out.write("line %d: %s\n" % (n, exc))
                continue
            if frame is not None:
                sink.add(frame)


def _deadline(duration):
    return None if duration is None else time.monotonic() + duration


def _expired(deadline):
    return deadline is not None and time.monotonic() >= deadline


def run_can_live(channel, interface, duration, sink):
    import can

    start = time.monotonic()
    deadline = _deadline(duration)
    try:
        bus = can.Bus(channel=channel, interface=interface)
    except (can.CanError, ImportError, ValueError, OSError) as exc:
        raise SourceError("cannot open CAN %s on %s: %s" % (channel, interface, exc)) from None
    with bus:
        while not _expired(deadline):
            msg = bus.recv(timeout=0.2)
            if msg is None or msg.is_error_frame:
                continue
            # seconds since start: interfaces stamp frames on different clocks
            data = b"" if msg.is_remote_frame else bytes(msg.data)
            frame = decode_can_frame(
                time.monotonic() - start, msg.arbitration_id, msg.is_extended_id, data
            )
            sink.add(frame)


def run_rs485_file(path, sink):
    with open(path, "rb") as f:
        data = f.read()
    for frame in decode_rs485_bytes(data):
        sink.add(frame)


def run_rs485_live(path, baud, poll_adr, duration, sink):
    import serial

    start = time.monotonic()
    deadline = _deadline(duration)
    dec = Rs485Decoder()
    next_poll, i = start, 0
    with serial.Serial(path, baud, timeout=0.05) as port:
        while not _expired(deadline):
            now = time.monotonic()
            if poll_adr is not None and now >= next_poll:
                cmd = POLL_COMMANDS[i % len(POLL_COMMANDS)]
                i += 1
                # 0x4F and 0x51 go to ADR 0, as python-pylontech sends them (4.4)
                adr = 0 if cmd in (0x4F, 0x51) else poll_adr
                req = encode_rs485_request(adr, cmd)
                port.write(req)
                for frame in dec.feed(req, now - start):
                    sink.add(frame)
                next_poll = now + 1.0
            chunk = port.read(256)
            if chunk:
                for frame in dec.feed(chunk, time.monotonic() - start):
                    sink.add(frame)
        for frame in dec.flush(time.monotonic() - start):
            sink.add(frame)


# ---------------------------------------------------------------------------------------
# command line


class UsageError(Exception):
    pass


class SourceError(Exception):
    """A bus or port that cannot be opened: reported like a bad argument."""


def parse_args(argv):
    opts = {"--interface": "socketcan", "--baud": "9600"}
    files = []
    i = 0
    takes_value = ("--can", "--interface", "--rs485", "--rs485-pty", "--baud", "--duration")
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help", "--table"):
            opts[arg] = True
        elif arg in takes_value:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value" % arg)
            i += 1
            opts[arg] = argv[i]
        elif arg == "--poll":
            opts[arg] = 2
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                opts[arg] = _number(arg, argv[i], int, 0, 255, base=0)
        elif arg.startswith("-"):
            raise UsageError("unknown option %s" % arg)
        else:
            files.append(arg)
        i += 1
    if opts.get("-h") or opts.get("--help"):
        return opts
    sources = [s for s in ("--can", "--rs485", "--rs485-pty") if s in opts]
    if files:
        if len(files) > 1:
            raise UsageError("one log file at a time, got %d" % len(files))
        sources.append("log")
        opts["log"] = files[0]
    if not sources:
        raise UsageError("give a candump log, --can CHANNEL, --rs485 FILE or --rs485-pty PATH")
    if len(sources) > 1:
        raise UsageError("one source at a time, got %s" % " and ".join(sources))
    opts["source"] = sources[0]
    opts["--baud"] = _number("--baud", opts["--baud"], int, 300, 4000000)
    if "--duration" in opts:
        opts["--duration"] = _number("--duration", opts["--duration"], float, 0, 1e9)
    if "--poll" in opts and opts["source"] != "--rs485-pty":
        raise UsageError("--poll goes with --rs485-pty")
    for src in ("log", "--rs485"):
        if opts["source"] == src and not os.path.isfile(opts[src]):
            raise UsageError("no such file: %s" % opts[src])
    return opts


def _number(name, text, kind, lo, hi, base=10):
    try:
        value = kind(text, base) if kind is int else kind(text)
    except (TypeError, ValueError):
        raise UsageError("%s takes a number, not %r" % (name, text)) from None
    if not lo <= value <= hi:
        raise UsageError("%s must be %s to %s, not %s" % (name, lo, hi, text))
    return value


def main(argv, out=None):
    """Run the monitor; returns the exit status. Output goes to `out` (stdout)."""
    out = out or sys.stdout
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        out.write("monitor.py: error: %s\n" % exc)
        return 2
    if opts.get("-h") or opts.get("--help"):
        out.write(HELP)
        return 0
    source = opts["source"]
    live = source in ("--can", "--rs485-pty")
    sink = TableSink(out, live) if opts.get("--table") else LineSink(out)
    try:
        if source == "log":
            run_can_log(opts["log"], sink, out)
        elif source == "--rs485":
            run_rs485_file(opts["--rs485"], sink)
        elif source == "--can":
            run_can_live(opts["--can"], opts["--interface"], opts.get("--duration"), sink)
        else:
            run_rs485_live(
                opts["--rs485-pty"],
                opts["--baud"],
                opts.get("--poll"),
                opts.get("--duration"),
                sink,
            )
    except KeyboardInterrupt:
        pass
    except (OSError, SourceError) as exc:  # a bus or port that will not open
        sink.close()
        out.write("monitor.py: error: %s\n" % exc)
        return 2
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
