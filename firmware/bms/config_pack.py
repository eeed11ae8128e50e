"""Packs bms/config_table.py for bms/config.py: the keys, the numbers and the rules in the
few objects a board holds. Loaded by bms.lazy for it (at import of bms.config, and for a
use of the numbers after the boot: see config.numbers()) and dropped after, with the
table, so that neither one's code stays in a board's heap.
"""

from array import array

from bms.lazy import drop


def pack(relations):
    """The table's keys, an array of (default, lowest, highest) per key, and the rules as
    index triples (relations: the relation strings, by index), from bms.config_table,
    which is then dropped (tuples of tuples cost a board 15 KB of heap; these, 2 KB)."""
    from bms import config_table as t

    keys = tuple(row[0] for row in t.SPEC)
    nums = array("i", [n for row in t.SPEC for n in row[1:]])
    rules = bytes(
        n
        for a, relation, b in t.RULES
        for n in (keys.index(a), relations.index(relation), keys.index(b))
    )
    drop("bms.config_table")  # its code goes too (kept, it holds 9 KB)
    return keys, nums, rules
