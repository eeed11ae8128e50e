"""The simulated RS485 wire: half-duplex ports with real character times.

A character takes (start + data + parity + stop) bits at the port's baud rate: 8N1 at
9600 baud is 1.0417 ms. A port's write() queues its bytes behind whatever it is still
sending (all of them, or with a finite `txbuf` as a board's UART has, only what fits);
each byte reaches the other ports when its stop bit ends. A port with a driver-enable
pin puts bytes on the wire only while DE is high: bytes written with DE low never
arrive, and dropping DE while bytes are still going cuts them (counted).
A port's receiver is off while its own DE is high (/RE tied to DE, the usual wiring):
a byte whose reception overlaps that time is dropped (counted in `rx_dropped_de`), so
a peer that starts talking before we have released the bus loses its first bytes.
Ports whose baud rates differ receive garbage (0xFF, as a framing error reads).
Two ports driving at once collide; the wire counts it (what arrives is undefined on a
real bus; here both streams arrive, so a test can see what a collision would hide).

The engine asks each port for `wake_us`: when the line has been idle for
RX_IDLE_BITS after the last byte of the latest burst (the receive timeout that raises
the UART's interrupt: 32 bit periods on the RP2040's PL011), and wakes that port's
firmware then.
"""

import micropython
from micropython import const

_GARBLED = const(0xFF)
# CPython copies a slice faster than a loop; MicroPython would allocate the slice (the
# firmware's reads are checked with the heap locked)
_SLICES = hasattr(bytes, "translate")
_FOREVER = 1 << 62
RX_IDLE_BITS = const(32)
RX_RING = const(1024)
_GARBLED_RUN = bytes([_GARBLED]) * RX_RING
# how many times a port's wake_us was set by another port's bytes (an arrival, or a cut
# that dropped some), on every wire: while it holds, the engine keeps each pack's next
# wake from the last time it asked (engine.py, many packs)
CHANGES = [0]


class Rs485Wire:
    def __init__(self, clock):
        self.clock = clock
        self.ports = []
        self.collisions = 0
        self.cut = 0  # bytes lost to DE dropping too early
        self.lost = 0  # bytes written with DE low

    def port(self, de_pin=None, baud=9600):
        p = Port(self, de_pin, baud)
        self.ports.append(p)
        return p


class Port:
    """One end of the wire. What it receives waits in a preallocated ring of RX_RING
    bytes (each with its arrival time and sender), as in a UART's receive buffer: reading
    and writing allocate nothing, and bytes beyond the ring are lost (`overruns`)."""

    def __init__(self, wire, de_pin, baud):
        self.wire = wire
        self.clock = wire.clock
        self.de = de_pin
        self.baud = baud
        self.char_bits = 10
        self._end = [0] * RX_RING  # arrival time (end of the stop bit) of each byte
        self._byte = bytearray(RX_RING)
        self._from = [None] * RX_RING  # the sending port
        self._rd = 0  # ring indices: read, write (count modulo nothing: ever growing)
        self._wr = 0
        self._known = 0  # see available()
        self._known_us = 0
        self.overruns = 0
        self.tx_start_us = -1  # first byte of the latest write that reached the wire
        self.tx_end_us = 0  # when the last queued byte has left
        self.wake_us = None
        self.burst_start_us = 0  # the first start bit of the latest burst received
        self.bytes_out = 0
        self.rx_dropped_de = 0  # bytes that arrived while our own DE was high
        self.rx_last_us = 0  # when the last byte read had arrived (end of its stop bit)
        # the transmit buffer in bytes (machine.UART's txbuf; None: unlimited): a write
        # takes only what fits, the writes cut so are counted in tx_overflows
        self.txbuf = None
        self.tx_overflows = 0
        self._burst_us = 0  # when the UART last started from empty
        self._burst_n = 0  # bytes written since
        self._de_rise_us = 0
        self.attach_de(de_pin)

    def attach_de(self, pin):
        """The transceiver's driver-enable pin (None: this end drives while it sends)."""
        self.de = pin
        self.de_high = False  # the pin's level, kept by its listener
        if pin is not None:
            self.de_high = bool(pin.level)
            self._de_rise_us = self.clock.t_us
            pin.sim_listen(self._de_changed)

    # -- the machine.UART side --------------------------------------------------------
    def set_format(self, baud, bits=8, parity=None, stop=1):
        self.baud = baud
        self.char_bits = 1 + bits + (0 if parity is None else 1) + stop

    def char_us(self, k=1):
        """Microseconds for k characters (rounded up)."""
        return -((-k * self.char_bits * 1000000) // self.baud)

    def idle_us(self):
        return -((-RX_IDLE_BITS * 1000000) // self.baud)

    def write(self, buf):
        now = self.clock.t_us
        n = len(buf)
        if self.txbuf is not None:
            room = self.txbuf - self.queued()
            if n > room:
                # what does not fit is refused, as an RP2040 does once its FIFO stops
                # draining (an ESP32 would block the loop instead): counted
                self.tx_overflows += 1
                n = room if room > 0 else 0
                if not n:
                    return None  # EAGAIN: nothing taken
                buf = memoryview(buf)[:n]
        if self.tx_end_us > now:
            start = self.tx_end_us
        else:
            start = now
            self._burst_us = now
            self._burst_n = 0
        self._burst_n += n
        self.tx_end_us = start + self.char_us(n)
        if self.de is not None and not self.de.level:
            self.wire.lost += n
            return n
        wire = self.wire
        self.tx_start_us = start
        self.bytes_out += n
        for other in wire.ports:
            if other is self:
                continue
            if other.tx_end_us > start and other._driving():
                wire.collisions += 1
            other._arrive(self, start, buf)
        return n

    def txdone(self):
        return self.clock.t_us >= self.tx_end_us

    def queued(self):
        """Bytes written and not yet fully sent (the one being shifted out included)."""
        now = self.clock.t_us
        if self.tx_end_us <= now:
            return 0
        # counted from the burst's start: per-write rounding of tx_end_us does not add up
        sent = (now - self._burst_us) * self.baud // (self.char_bits * 1000000)
        return self._burst_n - sent if sent < self._burst_n else 1

    @micropython.native
    def available(self):
        now = self.clock.t_us
        if self.de_high and self._de_rise_us < now:
            now = self._de_rise_us  # the receiver is off: later bytes will be dropped
        # the bytes before _known had arrived by _known_us (time only moves on, and the
        # ring below _known is rewritten only by _drop_from, which resets it)
        k = self._rd
        if self._known > k and now >= self._known_us:
            k = self._known
        end = self._end
        wr = self._wr
        while k < wr and end[k % RX_RING] <= now:
            k += 1
        self._known = k
        self._known_us = now
        return k - self._rd

    @micropython.native
    def read_into(self, buf, n):
        if self._rd >= self._wr:
            return 0
        k = self.available()
        if k > n:
            k = n
        rd = self._rd
        data = self._byte
        at = rd % RX_RING
        if _SLICES and at + k <= RX_RING:
            buf[0:k] = data[at : at + k]
        else:  # a slice would allocate (MicroPython), or the ring wraps
            for i in range(k):
                buf[i] = data[(rd + i) % RX_RING]
        if k:
            self.rx_last_us = self._end[(rd + k - 1) % RX_RING]
        self._rd = rd + k
        return k

    def pending(self):
        """How many received bytes are not read yet (arrived or still arriving)."""
        return self._wr - self._rd

    def clear(self):
        self._rd = self._wr
        self.wake_us = None

    # -- the wire's side ------------------------------------------------------------------
    def _driving(self):
        return self.de is None or bool(self.de.level)

    def _arrive(self, sender, start, buf):
        same = sender.baud == self.baud and sender.char_bits == self.char_bits
        self.burst_start_us = start
        wr = self._wr
        n = len(buf)
        room = RX_RING - (wr - self._rd)
        if n > room:
            self.overruns += n - room
            n = room
        # byte i ends sender.char_us(i + 1) after the start, rounded up
        num = sender.char_bits * 1000000
        baud = sender.baud
        end = self._end
        data = self._byte
        came = self._from
        if _SLICES and wr % RX_RING + n <= RX_RING:
            self._arrive_slices(sender, start, buf, wr, n, same)
        else:  # MicroPython: the loop, in a frame no bigger than before (test_inverter_link
            # found the heap-locked link allocating with the slices' locals in this frame)
            for i in range(n):
                k = (wr + i) % RX_RING
                end[k] = start - ((-(i + 1) * num) // baud)
                data[k] = buf[i] if same else _GARBLED
                came[k] = sender
        self._wr = wr + n
        self.wake_us = start + sender.char_us(len(buf)) + self.idle_us()
        CHANGES[0] += 1

    def _arrive_slices(self, sender, start, buf, wr, n, same):
        """_arrive()'s loop by CPython's C loops (a reply is a hundred bytes and more),
        where the ring does not wrap: the same values."""
        num = sender.char_bits * 1000000
        baud = sender.baud
        at = wr % RX_RING
        self._end[at : at + n] = [start - ((-i * num) // baud) for i in range(1, n + 1)]
        self._byte[at : at + n] = buf[0:n] if same else _GARBLED_RUN[0:n]
        self._from[at : at + n] = [sender] * n

    def _de_changed(self, pin, level):
        self.de_high = bool(level)
        now = self.clock.t_us
        if level:
            self._de_rise_us = now
            return
        # what arrived while our receiver was off
        self.rx_dropped_de += self._drop_from(None, self._de_rise_us, now)
        if self.tx_end_us <= now:
            return
        cut = 0
        for other in self.wire.ports:  # the rest of our bytes never make it
            if other is not self:
                n = other._drop_from(self, now, _FOREVER)
                if n > cut:
                    cut = n
        self.wire.cut += cut
        self.tx_end_us = now

    def _drop_from(self, sender, lo, hi):
        """Remove the bytes (from sender; None: anyone) whose reception overlaps the
        time from lo to hi; returns how many."""
        rd = self._rd
        wr = rd
        dropped = 0
        last = 0
        for k in range(rd, self._wr):
            i = k % RX_RING
            end = self._end[i]
            source = self._from[i]
            if (sender is None or source is sender) and end > lo and end - source.char_us() < hi:
                dropped += 1
                continue
            j = wr % RX_RING
            self._end[j] = self._end[i]
            self._byte[j] = self._byte[i]
            self._from[j] = self._from[i]
            if self._end[j] > last:
                last = self._end[j]
            wr += 1
        self._wr = wr
        self._known = 0  # the ring was rewritten: count again
        if dropped and self.wake_us is not None:  # idle after the last byte that made it
            self.wake_us = last + self.idle_us() if wr > rd else None
            CHANGES[0] += 1
        return dropped

    def take_wake(self, now_us):
        """True once when the latest burst has fully arrived by now_us."""
        if self.wake_us is not None and self.wake_us <= now_us:
            self.wake_us = None
            return True
        return False
