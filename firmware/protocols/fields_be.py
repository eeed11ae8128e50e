"""Putting integers into frame buffers big endian, 16 and 32 bits: the Growatt and
Schneider sets' (protocols/growatt_can.py, protocols/schneider_can.py).

As protocols/fields.py's little-endian writers, and apart from them so that a board
speaking another set does not hold their code: values are masked to their width (a
signed value goes in as two's complement), the buffers are the caller's (no
allocation), and they are viper (every frame calls them a few times).
"""

import micropython

ptr8 = int  # viper's pointer type, named for CPython (annotations are evaluated)


@micropython.viper
def u16be(buf: ptr8, off: int, v: int):
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF


@micropython.viper
def u32be(buf: ptr8, off: int, v: int):
    buf[off] = (v >> 24) & 0xFF
    buf[off + 1] = (v >> 16) & 0xFF
    buf[off + 2] = (v >> 8) & 0xFF
    buf[off + 3] = v & 0xFF
