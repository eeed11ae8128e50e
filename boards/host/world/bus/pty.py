"""A pseudo-terminal as the master's RS485 port 1, for real clients (CPython only).

`tools/sim.py --rs485-pty` puts this where a port of the simulated wire (bus/uart.py)
would be: bytes the firmware writes go to the terminal at once (a pty has no baud rate),
and bytes a client writes arrive when the real-time loop calls pump(). The slave side is
put in raw mode so that the line discipline neither echoes nor turns the protocol's CR
into LF.
"""

import os
import tty


class PtyPort:
    def __init__(self, clock=None):
        """clock: the simulation's (the simulator sets it when it takes the port)."""
        self.clock = clock
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self.slave)
        self.rx = bytearray()
        self.de = None
        self.de_high = False
        self.wake_us = None
        self.tx_end_us = 0
        self.burst_start_us = 0
        self.bytes_in = 0
        self.bytes_out = 0

    # -- the machine.UART side ------------------------------------------------------------
    def set_format(self, baud, bits=8, parity=None, stop=1):
        pass

    def attach_de(self, pin):
        pass  # nothing to gate: the terminal is a point-to-point line

    def write(self, buf):
        data = bytes(buf)
        try:
            os.write(self.master, data)
        except OSError:
            pass  # nobody reading: the bytes are gone, as on an open bus
        self.bytes_out += len(data)
        return len(data)

    def txdone(self):
        return True

    def available(self):
        return len(self.rx)

    def read_into(self, buf, n):
        k = min(n, len(self.rx))
        buf[:k] = self.rx[:k]
        del self.rx[:k]
        return k

    def clear(self):
        self.rx = bytearray()
        self.wake_us = None

    def take_wake(self, now_us):
        if self.wake_us is not None and self.wake_us <= now_us:
            self.wake_us = None
            return True
        return False

    # -- the real-time loop's side ------------------------------------------------------------
    def pump(self):
        """Take what the client wrote; the firmware is woken to read it now."""
        while True:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.rx += data
            self.bytes_in += len(data)
            self.wake_us = self.clock.t_us

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
