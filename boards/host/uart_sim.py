"""The simulated RS485 wire: half-duplex ports with real character times.

A character takes (start + data + parity + stop) bits at the port's baud rate: 8N1 at
9600 baud is 1.0417 ms. A port's write() queues its bytes behind whatever it is still
sending; each byte reaches the other ports when its stop bit ends. A port with a
driver-enable pin puts bytes on the wire only while DE is high: bytes written with DE
low never arrive, and dropping DE while bytes are still going cuts them (counted).
Ports whose baud rates differ receive garbage (0xFF, as a framing error reads).
Two ports driving at once collide; the wire counts it (what arrives is undefined on a
real bus; here both streams arrive, so a test can see what a collision would hide).

The simulator asks each port for `wake_us`: when the line has been idle for
RX_IDLE_BITS after the last byte of the latest burst (the receive timeout that raises
the UART's interrupt: 32 bit periods on the RP2040's PL011), and wakes that port's
firmware then.
"""

_GARBLED = 0xFF
RX_IDLE_BITS = 32


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
    def __init__(self, wire, de_pin, baud):
        self.wire = wire
        self.clock = wire.clock
        self.de = de_pin
        self.baud = baud
        self.char_bits = 10
        self.rx = []  # (end_us, byte, sender) in arrival order, read from rx[_rd]
        self._rd = 0
        self.tx_start_us = -1  # first byte of the latest write that reached the wire
        self.tx_end_us = 0  # when the last queued byte has left
        self.wake_us = None
        self.burst_start_us = 0  # the first start bit of the latest burst received
        self.bytes_out = 0
        self.attach_de(de_pin)

    def attach_de(self, pin):
        """The transceiver's driver-enable pin (None: this end drives while it sends)."""
        self.de = pin
        if pin is not None:
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
        start = self.tx_end_us if self.tx_end_us > now else now
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

    def available(self):
        now = self.clock.t_us
        rx = self.rx
        k = self._rd
        while k < len(rx) and rx[k][0] <= now:
            k += 1
        return k - self._rd

    def read_into(self, buf, n):
        """Like a UART's read: no allocation (a read index, compacted on arrival)."""
        k = self.available()
        if k > n:
            k = n
        rx = self.rx
        rd = self._rd
        for i in range(k):
            buf[i] = rx[rd + i][1]
        self._rd = rd + k
        return k

    def clear(self):
        self.rx = []
        self._rd = 0
        self.wake_us = None

    # -- the wire's side ------------------------------------------------------------------
    def _driving(self):
        return self.de is None or bool(self.de.level)

    def _arrive(self, sender, start, buf):
        same = sender.baud == self.baud and sender.char_bits == self.char_bits
        if self._rd:
            del self.rx[: self._rd]
            self._rd = 0
        rx = self.rx
        self.burst_start_us = start
        for i in range(len(buf)):
            end = start + sender.char_us(i + 1)
            rx.append((end, buf[i] if same else _GARBLED, sender))
        self.wake_us = start + sender.char_us(len(buf)) + self.idle_us()

    def _de_changed(self, pin, level):
        if level:
            return
        now = self.clock.t_us
        if self.tx_end_us <= now:
            return
        cut = 0
        for other in self.wire.ports:  # the rest of our bytes never make it
            if other is not self:
                rx = other.rx[other._rd :]
                keep = [r for r in rx if r[2] is not self or r[0] <= now]
                if len(rx) - len(keep) > cut:
                    cut = len(rx) - len(keep)
                other.rx = keep
                other._rd = 0
                if other.wake_us is not None:  # the line went idle after the last byte
                    last = 0
                    for r in keep:
                        if r[0] > last:
                            last = r[0]
                    other.wake_us = last + other.idle_us() if last else None
        self.wire.cut += cut
        self.tx_end_us = now

    def take_wake(self, now_us):
        """True once when the latest burst has fully arrived by now_us."""
        if self.wake_us is not None and self.wake_us <= now_us:
            self.wake_us = None
            return True
        return False
