"""Putting integers into frame buffers: little and big endian, 16 and 32 bits.

Values are masked to their width, so a signed value goes in as two's complement. No
allocation: the buffers are the caller's.
"""


def u16le(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF


def u16be(buf, off, v):
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF


def u32be(buf, off, v):
    buf[off] = (v >> 24) & 0xFF
    buf[off + 1] = (v >> 16) & 0xFF
    buf[off + 2] = (v >> 8) & 0xFF
    buf[off + 3] = v & 0xFF


def clear(buf):
    for i in range(len(buf)):
        buf[i] = 0


def s16le(buf, off):
    """Read back a signed little-endian 16-bit value (for the peers' frames)."""
    v = buf[off] | buf[off + 1] << 8
    return v - 0x10000 if v & 0x8000 else v


def u16le_at(buf, off):
    return buf[off] | buf[off + 1] << 8


def div_round(a, b):
    """a / b rounded half away from zero, in integers (b > 0)."""
    return (a + b // 2) // b if a >= 0 else -((-a + b // 2) // b)
