"""The RS485 port's constructor (drivers/rs485.py's Rs485), loaded by bms.lazy for each
port a board builds and dropped after, so that its code does not stay in the heap.
Every attribute of an Rs485 is made here.
"""

from micropython import const

from drivers.rs485 import FRAME_MAX

_SOI = const(0x7E)  # drivers.rs485's
_CHUNK = const(64)  # drivers.rs485's: bytes read from the UART at a time


def init(self, uart, de, gap_ms, echo, baud, txbuf):
    self.uart = uart
    self.txbuf = txbuf
    self._rest = None  # a long reply: the list of its parts, still being fed to the UART
    self._total = 0  # its bytes
    self._fed = 0  # bytes of it written so far
    self._part = 0  # the part being written
    self._off = 0  # bytes of that part written
    self._tx_start = 0  # when the UART last started from empty (ticks ms)
    self._fed0 = 0  # bytes of it written before then (all sent by then)
    self.de = de
    self.gap_ms = gap_ms
    self.baud = baud
    self.echo = echo
    self._ahead = 0  # bytes that came before our echo: parsed, not skipped
    self._skip = 0  # our own echo still to come
    de.value(0)
    self.frame = bytearray(FRAME_MAX)  # the characters between SOI and EOI
    self.n = 0
    self.kind = _SOI  # the last frame's start byte (SOI: a text frame)
    self.binary = False  # the frame poll() returned is a binary one
    # fixed-length binary frames: start byte -> length (binary_frames(); None: none,
    # no dict); the service link's header-framed ones are known to every port
    self._lens = None
    self._need = 0  # inside a binary frame: its length so far known (0: not in one)
    self._hdr = False  # that frame is a header-framed one
    self._in = False  # inside a text frame
    self._last = 0
    self._chunk = bytearray(_CHUNK)
    self._pos = 0
    self._len = 0
    self.sending = False
    self._tx_end = 0  # when the last stop bit of our transmission is due (ticks ms)
    # counters
    self.frames = 0
    self.garbage = 0  # bytes outside a frame
    self.overlong = 0
    self.timeouts = 0
    self.restarts = 0  # SOI inside a frame: the partial one is dropped
    self.sent = 0
    self.tx_errors = 0  # short writes: the UART took less than the whole reply
