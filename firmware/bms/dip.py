"""The DIP switch, as the manual defines it (section 3.3.3.3), read once at boot.

Bit 0 is position 1. Position 1: RS485 baud rate (ON 115200, OFF 9600). Positions
2-5: reserved (multi-cluster and future use). Positions 6-7: protocol ID (6 OFF 7 OFF
= ID0, 6 ON = ID1, 7 ON = ID2, both ON = reserved, which we run as ID0 and log).
"""

from micropython import const

RESERVED_ID = const(3)


def baud(bits):
    return 115200 if bits & 0x01 else 9600


def protocol_id(bits):
    """0, 1, 2, or RESERVED_ID."""
    return (bits >> 5) & 0x03


def effective_protocol(bits):
    pid = protocol_id(bits)
    return 0 if pid == RESERVED_ID else pid


def reserved_bits(bits):
    """Positions 2-5 as a 4-bit number (position 2 in bit 0)."""
    return (bits >> 1) & 0x0F
