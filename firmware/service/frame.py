"""The service link's frame: `0xC5 address command length payload CRC-16`.

One layout for requests and replies, on RS485 port 1 (beside the Pylon server, whose
frames start with `~`) and, later, in CAN frames of the service id range. `address` is
the pack (1..32) a request is for, ALL (0xFF) for every pack (no reply: on a shared bus
the replies would collide), and in a reply the pack that answers. A reply's command is
the request's with REPLY set and its payload starts with a status byte (OK or an ERR_*).
The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over everything before it,
big-endian. The payload is at most MAX_PAYLOAD bytes, so a frame fits the RS485 driver's
buffer.
"""

from micropython import const

START = const(0xC5)
ALL = const(0xFF)
REPLY = const(0x80)
HEAD = const(4)
OVERHEAD = const(6)
MAX_PAYLOAD = const(240)

# commands: reads (no unlock)
VERSION = const(0x01)  # JSON, paged
STATUS = const(0x02)  # JSON, paged
CELLS = const(0x03)  # binary
EVENTS = const(0x04)  # binary, from a sequence number
CONFIG = const(0x05)  # binary rows, from a key index
COUNTERS = const(0x06)  # JSON, paged
# writes (the physical unlock first)
SET_CONFIG = const(0x10)
CLEAR_EVENTS = const(0x11)
SET_CLOCK = const(0x12)
RESTART = const(0x13)
LOCK = const(0x14)  # ends the unlock now (needs none)
# the master's unlock, relayed to a slave (service/can_link.py): what is left of it (4)
UNLOCK_RELAY = const(0x15)
# firmware update (service/update.py): the state is a read, the rest writes
UPDATE_STATE = const(0x20)
UPDATE_BEGIN = const(0x21)
UPDATE_CHUNK = const(0x22)
UPDATE_ARM = const(0x23)

# a reply's status
OK = const(0)
ERR_COMMAND = const(1)  # unknown command
ERR_FORMAT = const(2)  # a payload of the wrong length or content
ERR_LOCKED = const(3)  # a write without the physical unlock
ERR_CONFIG = const(4)  # a config value refused: the payload says which key and range
ERR_RANGE = const(5)  # a page or index beyond the end
ERR_STORE = const(6)  # the flash could not be written
ERR_BOARD = const(7)  # an update for another board
ERR_HASH = const(8)  # a staged file's SHA-256 is not the manifest's (it is sent again)
ERR_OFFSET = const(9)  # a chunk not where the transfer stands (the payload says where)
# not now: a new image is on trial, nothing is staged, or (RESTART, UPDATE_ARM) a
# protection is pending or tripped
ERR_BUSY = const(10)
ERR_INTERNAL = const(11)  # the request raised in the pack (counted; the pack protects on)


def crc16(buf, start, end):
    crc = 0xFFFF
    for k in range(start, end):
        crc ^= buf[k] << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def valid(buf, n):
    """Whether buf[:n] is a whole service frame with a good CRC."""
    if n < OVERHEAD or buf[0] != START or buf[3] + OVERHEAD != n:
        return False
    return crc16(buf, 0, n - 2) == (buf[n - 2] << 8 | buf[n - 1])


def seal(buf, address, command, length):
    """Write the header and CRC around the `length` payload bytes already in
    buf[HEAD:]; returns the frame's length."""
    buf[0] = START
    buf[1] = address
    buf[2] = command
    buf[3] = length
    end = HEAD + length
    crc = crc16(buf, 0, end)
    buf[end] = crc >> 8
    buf[end + 1] = crc & 0xFF
    return end + 2


def encode(address, command, payload=b""):
    """A whole frame as bytes (the host tool's side; allocates)."""
    buf = bytearray(len(payload) + OVERHEAD)
    buf[HEAD : HEAD + len(payload)] = payload
    seal(buf, address, command, len(payload))
    return bytes(buf)


def put32(buf, k, v):
    buf[k] = (v >> 24) & 0xFF
    buf[k + 1] = (v >> 16) & 0xFF
    buf[k + 2] = (v >> 8) & 0xFF
    buf[k + 3] = v & 0xFF


def get32(buf, k):
    """A signed 32-bit big-endian integer."""
    v = buf[k] << 24 | buf[k + 1] << 16 | buf[k + 2] << 8 | buf[k + 3]
    return v - (1 << 32) if v & 0x80000000 else v


def put16(buf, k, v):
    buf[k] = (v >> 8) & 0xFF
    buf[k + 1] = v & 0xFF


def get16(buf, k):
    return buf[k] << 8 | buf[k + 1]
