"""The monitor's CAN decoding: candump -L lines and frames of the pack's CAN set.

Owns the parsing of candump -L lines and the human-readable fields of every frame of
tools/bms_id0.dbc (decoded through cantools, imported when first needed), written from
../shared/spec/protocols.md alone (never from firmware/protocols/), and of the pack link
between parallel packs through tools/bms_packlink.dbc (29-bit ids, the sender's address
in the low byte). tools/monitor.py is the command line; tools/victron_check.py reads
logs with parse_candump_line.
"""

import os

DBC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bms_id0.dbc")
PACKLINK_DBC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bms_packlink.dbc")
PACKLINK_RANGE = 0x1BA00000  # id & PACKLINK_RANGE_MASK; the low byte is the sender
PACKLINK_RANGE_MASK = 0x1FFF0000
PACKLINK_MSG_MASK = 0x1FFFFF00


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


_dbs = {}


def database(path=DBC_PATH):
    """A DBC, loaded once (strict: overlapping signals would be an error)."""
    if path not in _dbs:
        import cantools

        _dbs[path] = cantools.database.load_file(path, strict=True)
    return _dbs[path]


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


def _fmt_pack_cells(m, s):
    return [
        _num(m, s, "Min_Cell_Voltage", "Vmin"),
        ("at", "cell %s" % s.get("Min_Cell_Number", "?")),
        _num(m, s, "Max_Cell_Voltage", "Vmax"),
        ("at", "cell %s" % s.get("Max_Cell_Number", "?")),
        _num(m, s, "SOC"),
    ]


def _fmt_pack_measure(m, s):
    return [
        _num(m, s, "Pack_Voltage", "U"),
        _num(m, s, "Pack_Current", "I"),
        _num(m, s, "Min_Cell_Temperature", "Tmin"),
        _num(m, s, "Max_Cell_Temperature", "Tmax"),
    ]


def _fmt_pack_limits(m, s):
    out = [_num(m, s, n, lab) for n, lab in _LIMITS[:3]]
    out.append(_num(m, s, "SOH"))
    fets = [
        w
        for n, w in (("Charge_FET", "chg"), ("Discharge_FET", "dsg"), ("Precharge_FET", "pre"))
        if s.get(n)
    ]
    out.append(("fets", " ".join(fets) or "open"))
    flags = [
        w
        for n, w in (
            ("Charge_Enable", "charge"),
            ("Discharge_Enable", "discharge"),
            ("Force_Charge", "force-charge"),
            ("Full_Charge_Request", "full-charge"),
            ("Master", "master"),
        )
        if s.get(n)
    ]
    out.append(("flags", " ".join(flags) or "none"))
    return out


def _fmt_pack_status(m, s):
    bits = int(s.get("Protection_Warning_Bits", 0))
    return [
        ("bits", "0x%08X" % bits),
        _num(m, s, "Full_Capacity", "capacity"),
        ("cycles", str(s.get("Cycles", "?"))),
    ]


def _fmt_pack_ident(m, s):
    return [("serial", "%016X" % int(s.get("Unique_Id", 0)))]


def _short(name):
    """Cell_05_Voltage -> V5, Cell_Temperature_2 -> T2, Board_Temperature -> Tboard."""
    parts = name.split("_")
    if parts[-1] == "Voltage":
        return "V%d" % int(parts[1])
    if parts[0] == "Cell":
        return "T" + parts[-1]
    return "T" + parts[0].lower()


def _fmt_pack_signals(m, s):
    """Every signal of the message, in its order (the cells, the temperatures)."""
    return [_num(m, s, sig.name, _short(sig.name)) for sig in m.signals]


# pack-link message (id bits 8-15) -> (short name, formatter)
PACKLINK_FRAMES = {
    0x01: ("cells", _fmt_pack_cells),
    0x02: ("measure", _fmt_pack_measure),
    0x03: ("limits", _fmt_pack_limits),
    0x04: ("status", _fmt_pack_status),
    0x05: ("cells1-4", _fmt_pack_signals),
    0x06: ("cells5-8", _fmt_pack_signals),
    0x07: ("cells9-12", _fmt_pack_signals),
    0x08: ("cells13-16", _fmt_pack_signals),
    0x09: ("temps1", _fmt_pack_signals),
    0x0A: ("temps2", _fmt_pack_signals),
    0x0B: ("ident", _fmt_pack_ident),
}


def _decode_packlink(frame):
    """A pack-link frame: named pack<address>-<message>, decoded through its DBC."""
    msg = (frame.can_id >> 8) & 0xFF
    src = frame.can_id & 0xFF
    known = PACKLINK_FRAMES.get(msg)
    if known is None:
        frame.name = "pack%d-msg%02X" % (src, msg)
        frame.fields = [("data", frame.data.hex(" ").upper() or "-")]
        return frame
    frame.name = "pack%d-%s" % (src, known[0])
    message = database(PACKLINK_DBC_PATH).get_message_by_frame_id(frame.can_id & PACKLINK_MSG_MASK)
    frame.signals = message.decode(
        frame.data, decode_choices=False, scaling=True, allow_truncated=True
    )
    frame.fields = known[1](message, frame.signals)
    if len(frame.data) != PACK_DLC:
        frame.problems.append("DLC %d (we send %d)" % (len(frame.data), PACK_DLC))
    return frame


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
    if extended and can_id & PACKLINK_RANGE_MASK == PACKLINK_RANGE:
        return _decode_packlink(frame)
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
