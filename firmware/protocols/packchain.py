"""The pack-chain frames on RS485: Link OUT of pack k to Link IN of pack k+1.

Our own protocol. A frame is binary, fixed length, and starts with START (0xA5), which
no Pylon frame (ASCII between '~' and CR) and no service frame (0xC5) starts with, so a
port's first byte picks the decoder (drivers/rs485.py):
    A5 | msg | address | flags | check        check = (-(sum of the first four)) & 0xFF
BEACON (msg 0x01): "I am `address`" (1..32), sent downstream; flags b0: the sender is
the master. The pack downstream takes address + 1 (bms/addressing.py).
"""

from micropython import const

START = const(0xA5)
LENGTH = const(5)
_BEACON = const(0x01)
_FLAG_MASTER = const(0x01)


def encode_beacon(buf, address, master):
    """The beacon into buf[0:LENGTH]; returns LENGTH."""
    buf[0] = START
    buf[1] = _BEACON
    buf[2] = address
    buf[3] = _FLAG_MASTER if master else 0
    buf[4] = (-(START + _BEACON + address + buf[3])) & 0xFF
    return LENGTH


def beacon_address(frame, n):
    """The address a valid beacon in frame[0:n] carries, else 0 (a bad frame)."""
    if n != LENGTH or frame[0] != START or frame[1] != _BEACON:
        return 0
    if (frame[0] + frame[1] + frame[2] + frame[3] + frame[4]) & 0xFF:
        return 0
    a = frame[2]
    return a if 1 <= a <= 32 else 0
