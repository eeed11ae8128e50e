"""Config.update (bms/config.py), loaded by bms.lazy for a change of the config (at boot,
on a service write) and dropped after, so that its code does not stay in a board's heap.
"""

from bms.config import _RELATIONS, ConfigError, keys, numbers


def _holds(a, relation, b):
    if relation == "<":
        return a < b
    if relation == "<=":
        return a <= b
    if relation == ">":
        return a > b
    return a >= b


def update(cfg, values):
    """Apply a dict of new values, all or nothing; raises ConfigError naming the key."""
    nums, rules = numbers()
    merged = cfg.as_dict()
    for key in values:
        value = values[key]
        why = _refusal(nums, key, value)
        if why is not None:
            raise ConfigError(why)
        merged[key] = value
    bad = check(merged, rules)
    if bad is not None:
        a, relation, b = bad
        raise ConfigError("%s = %d must be %s %s = %d" % (a, merged[a], relation, b, merged[b]))
    for key in values:
        setattr(cfg, key, values[key])


def usable(values, rules=False):
    """values less the keys this firmware does not take alone (unknown, not an integer,
    out of range: a stored config from a firmware whose ranges were wider), and how many
    those were. rules: less the keys of the rules between keys that the rest breaks too
    (a rule added since, as cvl_mv < povp_trip_mv for a stored 57.6 V CVL, dropped the
    whole config, a 30 A DCL with it): each rule broken costs the keys stored of its
    two, back to their defaults (which keep every rule), until none is."""
    nums, table = numbers()
    kept = {}
    for key in values:
        if _refusal(nums, key, values[key]) is None:
            kept[key] = values[key]
    if rules:
        names = keys()
        merged = {}
        for i in range(len(names)):
            merged[names[i]] = nums[3 * i]  # (the defaults keep every rule)
        merged.update(kept)
        bad = check(merged, table)
        while bad is not None and (bad[0] in kept or bad[2] in kept):
            for key in (bad[0], bad[2]):
                if key in kept:
                    del kept[key]
                    merged[key] = nums[3 * names.index(key)]
            bad = check(merged, table)
    return kept, len(values) - len(kept)


def check(values, rules):
    """The first rule between keys (the table's, as numbers() gives it) that values, a
    value for every key, break: (a, relation, b), or None."""
    names = keys()
    for k in range(0, len(rules), 3):
        a, relation, b = names[rules[k]], _RELATIONS[rules[k + 1]], names[rules[k + 2]]
        if not _holds(values[a], relation, values[b]):
            return a, relation, b
    return None


def _refusal(nums, key, value):
    """Why key = value is refused on its own (unknown, not an integer, out of range),
    or None."""
    names = keys()
    if key not in names:
        return "unknown config key %r" % key
    k = 3 * names.index(key)
    lo = nums[k + 1]
    hi = nums[k + 2]
    if type(value) is not int:
        return "%s must be an integer in %d..%d, not %r" % (key, lo, hi, value)
    if not lo <= value <= hi:
        return "%s = %d is outside the allowed range %d..%d" % (key, value, lo, hi)
    return None
