"""RS485 port: a UART plus the transceiver's driver-enable pin, and frame assembly.

Half duplex: the driver-enable (DE) pin is raised for a reply and released only once the
UART reports its shift register empty (`txdone()`), never on a timer: released early,
the last byte is cut; released late, the master's next request is lost. Received bytes
are assembled into frames that start with SOI (`~`) and end with EOI (`\\r`), in a
bounded buffer; a frame left unfinished for `gap_ms` (inter-byte timeout), one longer
than the buffer, and bytes outside any frame are dropped and counted. The UART is made
with `timeout=0` by the board, so reads never block the protection tick.
"""

from micropython import const

from bms import ticks

_SOI = const(0x7E)
_EOI = const(0x0D)
_LF = const(0x0A)
FRAME_MAX = const(256)  # a Pylon 0x42 request is 18 characters, its reply 150
_CHUNK = const(64)


class Rs485:
    def __init__(self, uart, de, gap_ms=100, echo=False):
        """uart: a machine.UART made with timeout=0; de: the transceiver's DE pin (output,
        high drives the bus); gap_ms: the inter-byte timeout within a frame; echo: the
        transceiver's receiver stays on while driving (RE not tied to DE), so our own
        bytes come back and are skipped."""
        self.uart = uart
        self.de = de
        self.gap_ms = gap_ms
        self.echo = echo
        self._ahead = 0  # bytes that came before our echo: parsed, not skipped
        self._skip = 0  # our own echo still to come
        de.value(0)
        self.frame = bytearray(FRAME_MAX)  # the characters between SOI and EOI
        self.n = 0
        self._in = False
        self._last = 0
        self._chunk = bytearray(_CHUNK)
        self._pos = 0
        self._len = 0
        self.sending = False
        # counters
        self.frames = 0
        self.garbage = 0  # bytes outside a frame
        self.overlong = 0
        self.timeouts = 0
        self.restarts = 0  # SOI inside a frame: the partial one is dropped
        self.sent = 0

    def set_baud(self, baud):
        self.uart.init(baudrate=baud, bits=8, parity=None, stop=1, timeout=0)

    def poll(self, now):
        """Returns the length of a complete frame now in self.frame (0: none yet). Call
        again until it returns 0: a read can hold several frames."""
        if self.sending:
            self.service()
            if self.sending:
                return 0  # our own transmission: the transceiver's receiver is off
        while True:
            if self._pos >= self._len:
                got = self.uart.readinto(self._chunk)
                if not got:
                    # nothing more: a frame unfinished for gap_ms will not be finished
                    if self._in and ticks.diff(now, self._last) > self.gap_ms:
                        self._in = False
                        self.timeouts += 1
                    return 0
                self._pos = 0
                self._len = got
                self._last = now
            chunk = self._chunk
            while self._pos < self._len:
                c = chunk[self._pos]
                self._pos += 1
                if self._ahead:
                    self._ahead -= 1
                elif self._skip:
                    self._skip -= 1
                    continue
                if c == _SOI:
                    if self._in:
                        self.restarts += 1
                    self._in = True
                    self.n = 0
                elif not self._in:
                    if c != _LF:  # a CR LF ending is tolerated, not counted
                        self.garbage += 1
                elif c == _EOI:
                    self._in = False
                    self.frames += 1
                    return self.n
                elif self.n >= FRAME_MAX:
                    self._in = False
                    self.overlong += 1
                else:
                    self.frame[self.n] = c
                    self.n += 1

    def send(self, data):
        """Start sending data (a buffer that stays unchanged until the send is done)."""
        self.de.value(1)
        self.sending = True
        if self.echo:
            # what already waits (read or in the UART) came first; then our echo
            self._ahead = self._len - self._pos + self.uart.any()
            self._skip += len(data)
        self.uart.write(data)
        self.sent += 1

    def service(self):
        """Release the bus once the last stop bit has left the UART."""
        if self.sending and self.uart.txdone():
            self.de.value(0)
            self.sending = False
