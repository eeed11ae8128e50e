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
    return keys, nums, rules


KEYS, _NUMS, _RULE_INDEX = _pack()


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


def _holds(a, relation, b):
    if relation == "<":
        return a < b
    if relation == "<=":
        return a <= b
    if relation == ">":
        return a > b
    return a >= b


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
        """Apply a dict of new values, all or nothing; raises ConfigError naming the key."""
        merged = self.as_dict()
        for key in values:
            value = values[key]
            if key not in merged:
                raise ConfigError("unknown config key %r" % key)
            lo, hi = _range(key)
            if type(value) is not int:
                raise ConfigError("%s must be an integer in %d..%d, not %r" % (key, lo, hi, value))
            if not lo <= value <= hi:
                raise ConfigError(
                    "%s = %d is outside the allowed range %d..%d" % (key, value, lo, hi)
                )
            merged[key] = value
        for a, relation, b in RULES:
            if not _holds(merged[a], relation, merged[b]):
                raise ConfigError(
                    "%s = %d must be %s %s = %d" % (a, merged[a], relation, b, merged[b])
                )
        for key in values:
            setattr(self, key, values[key])


def _range(key):
    if key not in KEYS:
        raise ConfigError("unknown config key %r" % key)
    k = 3 * KEYS.index(key)
    return _NUMS[k + 1], _NUMS[k + 2]
