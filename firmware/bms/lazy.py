"""Modules a board needs once in a while (at boot, when a chip restarts): imported when
needed and dropped after, so that their code does not stay in the heap.
"""

import gc
import sys


def drop(name):
    """Forget module `name` (dotted): the registry's entry and its package's attribute.
    The module's code is then freed with the caller's last reference."""
    sys.modules.pop(name, None)
    k = name.rfind(".")
    parent = sys.modules.get(name[:k]) if k > 0 else None
    if parent is not None and hasattr(parent, name[k + 1 :]):
        delattr(parent, name[k + 1 :])


def run(name, fn, *args):
    """Call function `fn` of module `name` (dotted), imported for the call and dropped
    after it, even when it raises. A heap too fragmented to load it is collected once
    and tried again (the code needs a block of its size: in service the largest free
    one is a few KB)."""
    try:
        __import__(name)
    except MemoryError:
        drop(name)
        gc.collect()
        __import__(name)
    try:
        return getattr(sys.modules[name], fn)(*args)
    finally:
        drop(name)
