"""Scenario files (../shared/spec/sim.md): parsing and validation with one-line errors.

parse(text) returns the scenario as a plain dict with every default filled in and the
events sorted by time, or raises ScenarioError naming the first problem ("events[3]:
unknown key 'curent_a'"). Keys beyond sim.md are extensions; they are documented in
tools/sim.py --help and never change what an existing key means.
"""

import json

from bms.config import Config, ConfigError

MAX_PACKS = 32
FAULTS = (
    "short_circuit",
    "reverse_polarity",
    "afe_lost",
    "afe_crc",
    "afe_reset",  # an extension: the front end resets once (a brown-out)
    "precharge_fail",
    "clear",
)
FAULTS_WITH_ARG = (
    "ntc_open",
    "ntc_short",
    "cell_open",
    "current_offset",
    "current_gain",
    "fet_stuck",
)
TEMP_SENSORS = ("cells", "cell1", "cell2", "cell3", "cell4", "ambient", "mos")
# growatt, sma: extensions (Growatt's 0x301 requests; a Sunny Island's 0x305 and ranges)
INVERTERS = ("can", "rs485", "none", "growatt", "sma")
# no_source, source: extensions (nothing to charge from, a night off-grid; and back)
INVERTER_EVENTS = ("silent", "talking", "no_source", "source")

TOP_KEYS = (
    "name",
    "packs",
    "dip",
    "inverter",
    "duration_s",
    "initial",
    "events",
    "seed",
    "config",
)
INITIAL_KEYS = ("soc_pct", "temp_c", "cell_spread_mv")
EVENT_KEYS = (
    "at_s",
    "pack",
    "current_a",
    "cell_mv",
    "pack_mv",
    "temp_c",
    "ambient_c",
    "fault",
    "button",
    "hold_s",
    "input",
    "power",
    "inverter",
    "dip",
    "cable_mohm",  # an extension: a pack's cable to the inverter's busbar (parallel packs)
)


class ScenarioError(ValueError):
    pass


def _number(v):
    return type(v) is int or type(v) is float


def _check_number(where, v, lo, hi):
    if not _number(v):
        raise ScenarioError("%s must be a number, not %s" % (where, json.dumps(v)))
    if not lo <= v <= hi:
        raise ScenarioError("%s = %s is outside %s..%s" % (where, v, lo, hi))
    return v


def _check_int(where, v, lo, hi):
    if type(v) is not int:
        raise ScenarioError("%s must be an integer, not %s" % (where, json.dumps(v)))
    return _check_number(where, v, lo, hi)


def _check_keys(where, obj, allowed):
    if type(obj) is not dict:
        raise ScenarioError("%s must be an object" % where)
    for key in obj:
        if key not in allowed:
            raise ScenarioError("%s: unknown key %s" % (where, json.dumps(key)))


def check_dip(where, v):
    if type(v) is not str or len(v) != 7 or any(c not in "01" for c in v):
        raise ScenarioError("%s must be 7 characters 0/1, position 1 first (e.g. 0000010)" % where)
    return v


def parse_fault(where, v):
    """A fault string -> (name, argument or None)."""
    if type(v) is not str:
        raise ScenarioError("%s must be a string" % where)
    if v in FAULTS:
        return v, None
    name, _sep, arg = v.partition(":")
    if name not in FAULTS_WITH_ARG or not arg:
        raise ScenarioError("%s: unknown fault %s" % (where, json.dumps(v)))
    if name == "fet_stuck":
        if arg not in ("charge", "discharge"):
            raise ScenarioError("%s: fet_stuck takes charge or discharge" % where)
        return name, arg
    try:
        n = int(arg)
    except ValueError:
        raise ScenarioError("%s: %s needs a number after the colon" % (where, name)) from None
    if name == "current_offset":
        return name, _check_int(where, n, -100000, 100000)
    if name == "current_gain":  # 0.1 % units: current_gain:5 reads 0.5 % high
        return name, _check_int(where, n, -500, 500)
    if name == "cell_open":
        return name, _check_int(where, n, 1, 16)
    return name, _check_int(
        where, n, 1, 6
    )  # ntc_open/ntc_short: sensors 1-4 cells, 5 ambient, 6 mos


def _check_event(where, e, packs):
    _check_keys(where, e, EVENT_KEYS)
    if "at_s" not in e:
        raise ScenarioError("%s: needs at_s" % where)
    _check_number(where + ".at_s", e["at_s"], 0, 1e9)
    if "pack" in e:
        _check_int(where + ".pack", e["pack"], 1, packs)
    if "current_a" in e:
        _check_number(where + ".current_a", e["current_a"], -1000, 1000)
    if "cell_mv" in e:
        cells = e["cell_mv"]
        _check_keys(where + ".cell_mv", cells, [str(i) for i in range(1, 17)])
        for k in cells:
            if cells[k] is not None:
                _check_int("%s.cell_mv.%s" % (where, k), cells[k], 0, 6553)
    if "pack_mv" in e and e["pack_mv"] is not None:
        _check_int(where + ".pack_mv", e["pack_mv"], 0, 655350)
    if "temp_c" in e:
        temps = e["temp_c"]
        _check_keys(where + ".temp_c", temps, TEMP_SENSORS)
        for k in temps:
            if temps[k] is not None:
                _check_number("%s.temp_c.%s" % (where, k), temps[k], -60, 200)
    if "ambient_c" in e:
        _check_number(where + ".ambient_c", e["ambient_c"], -40, 80)
    if "cable_mohm" in e:
        _check_number(where + ".cable_mohm", e["cable_mohm"], 0, 1000)
    if "fault" in e:
        parse_fault(where + ".fault", e["fault"])
    if "button" in e:
        if e["button"] != "reset":
            raise ScenarioError("%s.button: the only button is reset" % where)
        _check_number(where + ".hold_s", e.get("hold_s", 0.5), 0.05, 60)
    elif "hold_s" in e:
        raise ScenarioError("%s: hold_s goes with button" % where)
    if "input" in e:
        _check_keys(where + ".input", e["input"], ("passive", "rsd"))
        for k in e["input"]:
            if type(e["input"][k]) is not bool:
                raise ScenarioError("%s.input.%s must be true or false" % (where, k))
    if "power" in e and e["power"] not in ("on", "off"):
        raise ScenarioError("%s.power must be on or off" % where)
    if "dip" in e:
        check_dip(where + ".dip", e["dip"])
    if "inverter" in e and e["inverter"] not in INVERTER_EVENTS:
        raise ScenarioError("%s.inverter must be silent, talking, no_source or source" % where)
    if len(e) == 1 + ("pack" in e):
        raise ScenarioError("%s: does nothing (no action besides at_s)" % where)


def validate(s):
    """Check a scenario dict and fill in defaults; returns the same dict."""
    _check_keys("scenario", s, TOP_KEYS)
    if "name" in s and type(s["name"]) is not str:
        raise ScenarioError("name must be a string")
    packs = _check_int("packs", s.setdefault("packs", 1), 1, MAX_PACKS)
    check_dip("dip", s.setdefault("dip", "0000000"))
    if "inverter" in s and s["inverter"] not in INVERTERS:  # the default is the simulator's
        raise ScenarioError("inverter must be one of %s" % ", ".join(INVERTERS))
    if "duration_s" in s:
        _check_number("duration_s", s["duration_s"], 0.001, 1e9)
    if "seed" in s:
        _check_int("seed", s["seed"], 0, 2**31 - 1)
    initial = s.setdefault("initial", {})
    _check_keys("initial", initial, INITIAL_KEYS)
    _check_number("initial.soc_pct", initial.setdefault("soc_pct", 50), 0, 100)
    _check_number("initial.temp_c", initial.setdefault("temp_c", 25), -40, 80)
    _check_number("initial.cell_spread_mv", initial.setdefault("cell_spread_mv", 0), 0, 1000)
    config = s.setdefault("config", {})
    if type(config) is not dict:
        raise ScenarioError("config must be an object of firmware config keys")
    try:
        Config(config)  # the firmware's own validation, so the message is the firmware's
    except ConfigError as exc:
        raise ScenarioError("config: %s" % exc) from None
    events = s.setdefault("events", [])
    if type(events) is not list:
        raise ScenarioError("events must be a list")
    for i in range(len(events)):
        _check_event("events[%d]" % i, events[i], packs)
    # stable sort by time: events at the same second keep their file order
    order = sorted(range(len(events)), key=lambda i: (events[i]["at_s"], i))
    s["events"] = [events[i] for i in order]
    return s


def parse(text, packs=None):
    """A scenario from its JSON text; packs: the command line's count, over the file's
    (before the check: its events may name packs beyond the file's count)."""
    try:
        s = json.loads(text)
    except ValueError as exc:
        raise ScenarioError("malformed JSON: %s" % exc) from None
    except RuntimeError:  # CPython's RecursionError: nested deeper than its decoder goes
        raise ScenarioError("malformed JSON: nested too deep") from None
    if type(s) is not dict:
        raise ScenarioError("a scenario is a JSON object")
    if packs is not None:
        s["packs"] = packs
    return validate(s)


def load(path, packs=None):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ScenarioError("cannot read scenario file %s" % path) from None
    except ValueError:  # UnicodeError: not text
        raise ScenarioError("scenario file %s is not UTF-8 text" % path) from None
    return parse(text, packs)
