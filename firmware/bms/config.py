"""The configuration table: every threshold, delay and release as a named integer.

Each key carries its unit in its name (_mv, _ma, _dc = 0.1 degC, _ms, _mah, _pct).
Defaults are the product manual's values where it gives one, otherwise our derived
defaults (../shared/spec/pack.md, "Derived defaults"): those are engineering choices,
not the manufacturer's. A value is accepted only if it is an int inside its range and
the whole set stays consistent (a release beyond its trip is refused); an update is all
or nothing, and a refusal names the key and the allowed range.

The table itself is in bms/config_table.py, written for people. At import its keys are
taken (as interned names, KEYS) and its numbers packed: an array of (default, lowest,
highest) per key and the rules as index triples; the table module is then dropped. The
keys stay. The numbers are needed only to build a Config and to check a change (at boot;
later on a service request, or when a parallel system's master builds its view): they
are let go when the boot is over (release(), from app_boot.py), and packed from the
table again (bms/config_pack.py) at their next use, then held until the next boot's
end. So are the keys (KEYS, a module attribute served by __getattr__ below: 0.5 KB): a
board in service reads the values only, as a Config's attributes. SPEC and RULES iterate
the packed rows.
"""

from bms import lazy

_RELATIONS = ("<", "<=", ">", ">=")


def _interned(keys):
    """The keys as the interpreter's interned names. A board loads the table's strings as
    objects of their own (about 40 B each, 4.7 KB for the table) where a name is not
    interned yet, and every key is interned anyway, as a Config attribute: the names
    dir() returns are the interned ones, which take no heap of their own."""

    class Names:  # a scratch object: its attributes intern the keys
        pass

    o = Names()
    for k in keys:
        setattr(o, k, 0)
    names = {}
    for name in dir(o):
        names[name] = name
    return tuple(names[k] for k in keys)


_held_keys, _held_nums, _held_rules = lazy.run("bms.config_pack", "pack", _RELATIONS)
_held_keys = _interned(_held_keys)
del _interned  # run once: its code goes


def _pack():
    """The keys, numbers and rules packed from the table again, after a release()."""
    global _held_keys, _held_nums, _held_rules
    # (the keys are interned names by now: the table's strings load as those names)
    _held_keys, _held_nums, _held_rules = lazy.run("bms.config_pack", "pack", _RELATIONS)


def keys():
    """KEYS: the keys as a tuple, in the table's order (the numbers' and the rules'
    index); packed from the table again if release() let them go."""
    if _held_keys is None:
        _pack()
    return _held_keys


def numbers():
    """(nums, rules): the defaults and ranges, (default, lowest, highest) per key in an
    array, and the rules as (a, relation, b) index triples in bytes; packed from the
    table again if release() let them go."""
    if _held_nums is None:
        _pack()
    return _held_nums, _held_rules


def release():
    """The boot is over: the keys and numbers are let go (2.1 KB of a board's heap in
    service, until a service request or a parallel system's view needs them again)."""
    global _held_keys, _held_nums, _held_rules
    _held_keys = _held_nums = _held_rules = None


def __getattr__(name):
    """bms.config.KEYS (and `from bms.config import KEYS`): keys(), not held in service."""
    if name == "KEYS":
        return keys()
    raise AttributeError(name)


class _Rows:
    """SPEC's rows as (key, default, lowest, highest), or RULES' as (a, relation, b)."""

    def __init__(self, rules):
        self.rules = rules

    def __iter__(self):
        nums, r = numbers()
        names = keys()
        if self.rules:
            for k in range(0, len(r), 3):
                yield names[r[k]], _RELATIONS[r[k + 1]], names[r[k + 2]]
        else:
            for k in range(len(names)):
                yield names[k], nums[3 * k], nums[3 * k + 1], nums[3 * k + 2]


SPEC = _Rows(False)
RULES = _Rows(True)


class ConfigError(ValueError):
    pass


class Config:
    """The active configuration; read the values as attributes (cfg.covp_trip_mv)."""

    def __init__(self, overrides=None):
        """The defaults, with overrides (a dict) applied and checked."""
        nums = numbers()[0]
        names = keys()
        for k in range(len(names)):
            setattr(self, names[k], nums[3 * k])
        if overrides:
            self.update(overrides)

    def as_dict(self):
        return {key: getattr(self, key) for key in keys()}

    def update(self, values):
        """Apply a dict of new values, all or nothing; raises ConfigError naming the key.
        (Its code is in bms/config_update.py, loaded for it and dropped after: the config
        changes at boot and on a service write, never in service otherwise.)"""
        lazy.run("bms.config_update", "update", self, values)
