"""RS485 port: a UART plus the transceiver's driver-enable pin, and frame assembly.

Half duplex: the driver-enable (DE) pin is raised for a reply and released only once the
UART reports its shift register empty (`txdone()`), never on a timer: released early,
the last byte is cut; released late, the master's next request is lost (with /RE tied
to DE, the usual wiring, our receiver is off while DE is high). So `send` records when
the last stop bit is due (10 bits a byte at the baud rate, rounded up to whole ms) and
`tx_left_ms` tells the main loop how long to sleep before it polls again to release DE.
Received bytes are assembled into frames that start with SOI (`~`) and end with EOI
(`\\r`), kept without SOI and EOI. Binary frames share the port, each picked by its
first byte, kept whole (start byte in frame[0]); `kind` is the start byte of the frame
poll() returned (SOI for a text frame, whose first character can be any byte) and
`binary` whether it is one:
- the service link's (SERVICE_START, 0xC5): `start, address, command, length, length
  bytes, CRC-16`, its end known from its 4th byte (its CRC is its decoder's business).
  Its second byte is an address (0..32, or 0xFF for all): a start byte followed by
  anything else was line noise (counted as garbage, the byte after it taken as any byte
  outside a frame), so noise is less likely to swallow the Pylon request after it;
- fixed-length ones registered with binary_frames() (the pack chain's 0xA5 beacon).
All in a bounded buffer; a frame left unfinished for `gap_ms` (inter-byte timeout), one
longer than the buffer, an empty one (SOI EOI) and bytes outside any frame are dropped
and counted.

The board makes the UART with `timeout=0`, so reads never block the protection tick, and
with `txbuf` of at least FRAME_MAX bytes (a whole reply: the Pylon server's longest is
210; the system answer of 32 packs, 4054 in 1 KB parts, is fed as the buffer drains, see
send()), so `write` queues a reply at once instead of blocking until it has fitted
through the hardware FIFO (on ESP32 a 150-byte reply takes 20 ms at 9600 baud) or taking
only part of it. A short write is a failed reply: DE drops at once and it is counted in
`tx_errors`, as is a UART still not done _TX_STUCK_MS after the due end. Counters wrap
at 2**30 (as SNMP counters do): past that a 32-bit port's small int would become a
heap-allocated long.
"""

from micropython import const

from bms import lazy, ticks

_SOI = const(0x7E)
_EOI = const(0x0D)
_LF = const(0x0A)
FRAME_MAX = const(256)  # a Pylon 0x42 request is 18 characters, its reply 150
_CHUNK = const(64)
_BIN_HEAD = const(4)  # a binary frame's start, two header bytes and its length
_BIN_EXTRA = const(6)  # the header and the CRC-16 around the payload
_ADDRESS_MAX = const(32)  # a binary frame's second byte: 0..32 or _ALL
_ALL = const(0xFF)
SERVICE_START = const(0xC5)  # the service link (firmware/service/frame.py)
_CHAR_BITS = const(10)  # 8N1: start, 8 data, stop
_COUNT_MASK = const(0x3FFFFFFF)
_TX_STUCK_MS = const(100)  # past the due end: the UART will not say done, DE is dropped


class Rs485:
    def __init__(self, uart, de, gap_ms=100, echo=False, baud=9600, txbuf=FRAME_MAX):
        """uart: a machine.UART made with timeout=0 and txbuf >= FRAME_MAX; de: the
        transceiver's DE pin (output, high drives the bus); gap_ms: the inter-byte
        timeout within a frame; echo: the transceiver's receiver stays on while driving
        (RE not tied to DE), so our own bytes come back and are skipped; baud: the
        UART's rate until set_baud (it times our transmissions); txbuf: the UART's
        transmit buffer (a longer reply is fed to it as it drains).
        The body (every attribute, commented) is in drivers/rs485_init.py, loaded for
        it and dropped after: a board builds its ports once."""
        lazy.run("drivers.rs485_init", "init", self, uart, de, gap_ms, echo, baud, txbuf)

    def binary_frames(self, start, length):
        """Frames starting with byte `start` are binary, `length` bytes long (start
        included, 2..255): another protocol sharing the port, picked by its first byte."""
        if self._lens is None:
            self._lens = {}  # (a table of 256 would hold 256 B for one or two starts)
        self._lens[start] = length

    def set_baud(self, baud):
        self.baud = baud
        self.uart.init(baudrate=baud, bits=8, parity=None, stop=1, timeout=0)

    def quiet(self):
        """Nothing for poll() to do: no byte waiting or held, no frame half read (its gap
        timer runs in poll()), no reply going out."""
        return not (
            self.sending or self._in or self._need or self._pos < self._len or self.uart.any()
        )

    def poll(self, now):
        """Returns the length of a complete frame now in self.frame (0: none yet). Call
        again until it returns 0: a read can hold several frames."""
        if self.sending:
            if ticks.diff(now, self._tx_end) < _TX_STUCK_MS or self.uart.txdone():
                self.service(now)
                if self.sending:
                    return 0  # our own transmission: the transceiver's receiver is off
            else:
                # a UART that never reports done must not hold the bus for good (nor be
                # fed the rest of a long reply: DE is low from here)
                self._drop()
        while True:
            if self._pos >= self._len:
                got = self.uart.readinto(self._chunk)
                if not got:
                    # nothing more: a frame unfinished for gap_ms will not be finished
                    if (self._in or self._need) and ticks.diff(now, self._last) > self.gap_ms:
                        self._in = False
                        self._need = 0
                        self.timeouts = (self.timeouts + 1) & _COUNT_MASK
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
                if self._need:  # inside a binary frame
                    n = self.n
                    if self._hdr and n == 1 and c > _ADDRESS_MAX and c != _ALL:
                        # not an address: the start byte was noise; this byte is judged
                        # as any byte outside a frame, below
                        self._need = 0
                        self.garbage = (self.garbage + 1) & _COUNT_MASK
                    else:
                        self.frame[n] = c
                        n += 1
                        self.n = n
                        if self._hdr and n == _BIN_HEAD:
                            self._need = c + _BIN_EXTRA
                            if self._need > FRAME_MAX:
                                self._need = 0
                                self.overlong = (self.overlong + 1) & _COUNT_MASK
                        elif n >= self._need:
                            self._need = 0
                            self.frames = (self.frames + 1) & _COUNT_MASK
                            self.binary = True
                            return n
                        continue
                if c == _SOI:
                    self.kind = _SOI
                    if self._in:
                        self.restarts = (self.restarts + 1) & _COUNT_MASK
                    self._in = True
                    self.n = 0
                elif not self._in:
                    lens = self._lens
                    length = lens.get(c, 0) if lens is not None else 0
                    if c == SERVICE_START or length:  # a binary frame: kept from frame[0]
                        self.kind = c
                        self.frame[0] = c
                        self.n = 1
                        self._hdr = not length
                        self._need = length if length else _BIN_HEAD
                    elif c != _LF:  # a CR LF ending is tolerated, not counted
                        self.garbage = (self.garbage + 1) & _COUNT_MASK
                elif c == _EOI:
                    self._in = False
                    if self.n:
                        self.frames = (self.frames + 1) & _COUNT_MASK
                        self.binary = False
                        return self.n
                    # SOI EOI holds nothing: line noise (a 0 would end the caller's loop)
                    self.garbage = (self.garbage + 1) & _COUNT_MASK
                elif self.n >= FRAME_MAX:
                    self._in = False
                    self.overlong = (self.overlong + 1) & _COUNT_MASK
                else:
                    self.frame[self.n] = c
                    self.n += 1

    def send(self, data, now):
        """Start sending data at now (ticks ms): a buffer, or a list of buffers that go
        out one after the other as one reply (the Pylon system answer, written in 1 KB
        parts so that it never needs a 4 KB piece of heap). Each stays unchanged until
        the send is done."""
        many = type(data) is list
        if many:
            n = 0
            for part in data:
                n += len(part)
        else:
            n = len(data)
        self.de.value(1)
        self.sending = True
        if self.echo:
            # what already waits (read or in the UART) came first; then our echo
            self._ahead = self._len - self._pos + self.uart.any()
            self._skip += n
        self._tx_end = ticks.add(now, self._char_ms(n))
        if many or n > self.txbuf:
            # more than the UART holds: a write would block until the rest fitted (4 s
            # for the 4 KB system answer at 9600 baud); fed in as it drains instead
            # (a list of one for a buffer: a few bytes, as the caller's view of it)
            self._rest = data if many else [data]
            self._total = n
            self._fed = 0
            self._fed0 = 0
            self._part = 0
            self._off = 0
            self._tx_start = now  # (also when a UART never says done, see _feed)
            self._feed(now)
            return
        self._write(data, n, n)

    def _char_ms(self, n):
        """ms for n characters, rounded up; now is whole ms, so the real end can still be
        up to 1 ms later, which the caller's 1 ms retry while `sending` covers."""
        return -((-n * _CHAR_BITS * 1000) // self.baud)

    def _write(self, data, n, unsent):
        """Write data (n bytes); unsent: the bytes of the reply not yet written before."""
        got = self.uart.write(data)
        if got is None or got < n:
            # a cut reply is no reply; holding DE for the rest would only block the bus
            self._drop(unsent)
            return
        if self._rest is None:
            self.sent = (self.sent + 1) & _COUNT_MASK

    def _drop(self, unsent=0):
        """Give the reply up: DE low, the part of a long reply not yet written with it
        (unsent: of a cut write), counted as an error."""
        self.de.value(0)
        self.sending = False
        if self._rest is not None:
            if not unsent:
                unsent = self._total - self._fed
            self._rest = None
        if self.echo:
            self._skip -= unsent  # what did go out is judged as received bytes
        self.tx_errors = (self.tx_errors + 1) & _COUNT_MASK

    def _feed(self, now):
        """Write as much of the long reply as the UART's buffer surely has room for:
        txbuf, less what was written since the UART last started from empty and cannot
        have been sent yet (1 ms short: our times are whole ms). The estimate restarts
        whenever the UART is found empty: held up (flash write, GC) past the drain, the
        loop would otherwise count time the UART stood idle as bytes sent, and write
        more than fits (cut on an RP2040, blocking the loop on an ESP32). On a board the
        hardware FIFO behind the buffer (32 bytes on RP2040, 128 on ESP32) is spare."""
        fed = self._fed
        total = self._total
        if self.uart.txdone():
            self._tx_start = now
            self._fed0 = fed
            self._tx_end = ticks.add(now, self._char_ms(total - fed))
        queued = fed - self._fed0
        ms = ticks.diff(now, self._tx_start) - 1
        if ms >= self._char_ms(queued):
            queued = 0  # (and ms x baud stays a small int however long the hold-up)
        elif ms > 0:
            queued -= ms * self.baud // (_CHAR_BITS * 1000)
        n = total - fed
        room = self.txbuf - queued
        if room < n:
            n = room
        parts = self._rest
        while n > 0:
            part = parts[self._part]
            off = self._off
            m = len(part) - off
            if m > n:
                m = n
            if m:  # (an empty part is only passed over)
                self._fed = fed + m
                # (a slice of the caller's buffer: an allocation per write, never per tick)
                self._write(part[off : off + m], m, total - fed)
                if self._rest is None:
                    return  # a short write: given up
                fed += m
                n -= m
                off += m
            if off >= len(part):
                self._part += 1
                off = 0
            self._off = off
        if fed >= total:
            self._rest = None
            self.sent = (self.sent + 1) & _COUNT_MASK

    def tx_left_ms(self, now):
        """ms until our transmission's last stop bit is due (0: not sending, or due), or
        while a long reply is fed, until half the UART's buffer has drained."""
        if not self.sending:
            return 0
        left = ticks.diff(self._tx_end, now)
        if self._rest is not None:
            half = self._fed - self._fed0 - self.txbuf // 2
            due = self._char_ms(half) + 1
            feed = ticks.diff(ticks.add(self._tx_start, due), now)
            left = feed if feed < left else left
        return left if left > 0 else 0

    def service(self, now=None):
        """Feed a long reply on (given now), and release the bus once the last stop bit
        has left the UART."""
        if self._rest is not None:
            if now is not None:
                self._feed(now)
            if self._rest is not None:
                return  # the UART may be empty between two parts: DE stays
        if self.sending and self.uart.txdone():
            self.de.value(0)
            self.sending = False
