"""The pack-chain frames on RS485: Link OUT of pack k to Link IN of pack k+1.

Our own protocol. A frame is binary, fixed length, and starts with START (0xA5), which
no Pylon frame (ASCII between '~' and CR) and no service frame (0xC5) starts with, so a
port's first byte picks the decoder (drivers/rs485.py):
    A5 | msg | a | b | check        check = (-(sum of the first four)) & 0xFF
BEACON (msg 0x01): "I am `a`" (1..32), sent downstream; b, its flags: b0 the sender is
the master; b1 held: the sender speaks to no one (a master held back, packlink_init.py,
or a slave behind one), so the packs downstream keep silent on the pack link too; b2 the
master's service unlock holds, and an UNLOCK frame follows; b3 no word of it: the sender
has heard none on its own Link IN within the last 2.5 s (it has just started, or the
pack upstream of it is restarting), which is not a word that it is locked (b2 and b3
clear). The pack downstream takes a + 1 (bms/addressing.py). The other bits are 0.
UNLOCK (msg 0x02), right after a beacon with b2: what is left of the master's unlock,
u16 a | b << 8 in 0.1 s (rounded down), as the master announced it and each pack passed
it on: Link IN is the one port a slave takes an unlock from (packlink.py), since nothing
but the pack upstream reaches it (anything on the CAN bus could send a pack-link frame).
Firmware from before b1 and b2 reads every beacon alike and counts an UNLOCK frame as a
bad one (it never sees one unless the master is unlocked).
"""

from micropython import const

START = const(0xA5)
LENGTH = const(5)
_BEACON = const(0x01)
_UNLOCK = const(0x02)
_FLAG_MASTER = const(0x01)
_FLAG_HELD = const(0x02)
_FLAG_UNLOCK = const(0x04)
_FLAG_NO_WORD = const(0x08)
_UNIT_MS = const(100)
_MOST = const(0xFFFF)


def encode_beacon(buf, address, master, held=False, left=0):
    """The beacon into buf[0:LENGTH] and, when left (ms of the master's unlock) is a
    0.1 s or more, the UNLOCK frame after it (buf holds 2 * LENGTH then); left < 0: no
    word of it. Returns the length to send."""
    b = _FLAG_MASTER if master else 0
    if held:
        b |= _FLAG_HELD
    if left < 0:
        b |= _FLAG_NO_WORD
    left //= _UNIT_MS
    if left > _MOST:
        left = _MOST
    if left > 0:
        b |= _FLAG_UNLOCK
    msg = _BEACON
    a = address
    i = 0
    while True:
        buf[i] = START
        buf[i + 1] = msg
        buf[i + 2] = a
        buf[i + 3] = b
        buf[i + 4] = (-(START + msg + a + b)) & 0xFF
        i += LENGTH
        if left <= 0 or i > LENGTH:
            return i
        msg = _UNLOCK
        a = left & 0xFF
        b = left >> 8


def valid(frame, n, msg):
    """Whether frame[0:n] is a whole chain frame of message msg with a good check."""
    if n != LENGTH or frame[0] != START or frame[1] != msg:
        return False
    return not (frame[0] + frame[1] + frame[2] + frame[3] + frame[4]) & 0xFF


def beacon_address(frame, n):
    """The address a valid beacon in frame[0:n] carries, else 0 (another frame, or a bad
    one). Its flags are frame[3]."""
    if not valid(frame, n, _BEACON):
        return 0
    a = frame[2]
    return a if 1 <= a <= 32 else 0


def unlock_ms(frame, n):
    """The master's unlock a valid UNLOCK frame in frame[0:n] carries, in ms; -1 for any
    other frame."""
    if not valid(frame, n, _UNLOCK):
        return -1
    return (frame[2] | frame[3] << 8) * _UNIT_MS
