"""The configuration table: every threshold, delay and release as a named integer.

Each key carries its unit in its name (_mv, _ma, _dc = 0.1 degC, _ms, _mah, _pct).
Defaults are the product manual's values where it gives one, otherwise our derived
defaults (../shared/spec/pack.md, "Derived defaults"): those are engineering choices,
not the manufacturer's. A value is accepted only if it is an int inside its range and
the whole set stays consistent (a release beyond its trip is refused); an update is all
or nothing, and a refusal names the key and the allowed range.

The table itself is in bms/config_table.py, written for people; at import it is packed
into a tuple of keys, an array of numbers and a string of rule indices, and the table
module is dropped. SPEC and RULES iterate the packed rows.
"""

from array import array

from bms import lazy
from bms.lazy import drop

_RELATIONS = ("<", "<=", ">", ">=")


def _pack():
    """The keys, an array of (default, lowest, highest) per key, and the rules as index
    triples, from bms.config_table, which is then dropped (tuples of tuples cost a board
    15 KB of heap; these, 2 KB)."""
    from bms import config_table as t

    keys = tuple(row[0] for row in t.SPEC)
    nums = array("i", [n for row in t.SPEC for n in row[1:]])
    rules = bytes(
        n
        for a, relation, b in t.RULES
        for n in (keys.index(a), _RELATIONS.index(relation), keys.index(b))
    )
    drop("bms.config_table")  # its code goes too (kept, it holds 9 KB)

    # The keys as the interpreter's interned names. A board loads the table's strings as
    # objects of their own (about 40 B each, 4.7 KB for the table) where a name is not
    # interned yet, and every key is interned anyway, as a Config attribute: the names
    # dir() returns are the interned ones, which take no heap of their own.
    class Names:  # a scratch object: its attributes intern the keys
        pass

    o = Names()
    for k in keys:
        setattr(o, k, 0)
    names = {}
    for name in dir(o):
        names[name] = name
    return tuple(names[k] for k in keys), nums, rules


KEYS, _NUMS, _RULE_INDEX = _pack()
del _pack  # run once: its code goes


class _Spec:
    """The rows as (key, default, lowest, highest)."""

    def __iter__(self):
        nums = _NUMS
        for k in range(len(KEYS)):
            yield KEYS[k], nums[3 * k], nums[3 * k + 1], nums[3 * k + 2]


class _Rules:
    """The rules as (a, relation, b)."""

    def __iter__(self):
        r = _RULE_INDEX
        for k in range(0, len(r), 3):
            yield KEYS[r[k]], _RELATIONS[r[k + 1]], KEYS[r[k + 2]]


SPEC = _Spec()
RULES = _Rules()


class ConfigError(ValueError):
    pass


class Config:
    """The active configuration; read the values as attributes (cfg.covp_trip_mv)."""

    def __init__(self, overrides=None):
        for k in range(len(KEYS)):
            setattr(self, KEYS[k], _NUMS[3 * k])
        if overrides:
            self.update(overrides)

    def as_dict(self):
        return {key: getattr(self, key) for key in KEYS}

    def update(self, values):
        """Apply a dict of new values, all or nothing; raises ConfigError naming the key.
        (Its code is in bms/config_update.py, loaded for it and dropped after: the config
        changes at boot and on a service write, never in service otherwise.)"""
        lazy.run("bms.config_update", "update", self, values)
