"""Putting integers into frame buffers: little endian, 16 and 32 bits (the big-endian
writers, of the Growatt and Schneider sets only, are in protocols/fields_be.py).

Values are masked to their width, so a signed value goes in as two's complement. No
allocation: the buffers are the caller's. The writers are viper: every frame calls them
a few times, and a viper call costs an RP2040 a quarter of a Python one.
"""

import micropython
from micropython import const

_HEX = const(b"0123456789ABCDEF")

ptr8 = int  # viper's pointer type, named for CPython (annotations are evaluated)


@micropython.viper
def u16le(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF


def clear(buf):
    for i in range(len(buf)):
        buf[i] = 0


def s16le(buf, off):
    """Read back a signed little-endian 16-bit value (for the peers' frames)."""
    v = buf[off] | buf[off + 1] << 8
    return v - 0x10000 if v & 0x8000 else v


def u16le_at(buf, off):
    return buf[off] | buf[off + 1] << 8


@micropython.viper
def div_round(a: int, b: int) -> int:
    """a / b rounded half away from zero, in integers (b > 0; only non-negative
    quotients are divided, where C's and Python's division agree)."""
    if a >= 0:
        return (a + (b >> 1)) // b
    return 0 - ((0 - a + (b >> 1)) // b)


def deciamps(current_ma):
    """current_ma in 0.1 A, rounded as div_round(), held within a signed 16-bit field:
    the sum of 32 packs' currents can pass 3276.7 A, and a wrapped value reads as the
    other direction. -32768 (0x8000) is SMA's "invalid", so the floor is -32767.
    (Bytecode: a frame a second calls it, and as viper it took 311 B of a board's heap.)"""
    d = div_round(current_ma, 100)
    if d > 32767:
        return 32767
    return d if d > -32767 else -32767


def put_hex(buf, k, src, first, n):
    """src[first:first + n] as upper-case hex characters into buf[k:] (a pack's serial
    number, its chip's unique id: protocols/pylon_rs485_rare.py, schneider_can.py);
    returns the end. (Indices, not a slice, and a range, not an iterator: no allocation.)"""
    for i in range(first, first + n):
        v = src[i]
        buf[k] = _HEX[v >> 4]
        buf[k + 1] = _HEX[v & 0xF]
        k += 2
    return k


@micropython.viper
def u32le(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


def u32le_at(buf, off):
    return buf[off] | buf[off + 1] << 8 | buf[off + 2] << 16 | buf[off + 3] << 24
