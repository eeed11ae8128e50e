"""A `machine`-compatible layer for the host board.

Pin, I2C, SPI, UART and WDT keep MicroPython's method names and semantics, so drivers
run unchanged; behind them are simulated devices instead of silicon (boards/host/world/
supplies them). The extra constructor arguments (`devices`, `clock`, `port`) and the
`sim_*` methods are the world's side of the wire and are never called by firmware.

Device protocols (what a simulated chip implements):
- I2C: i2c_read(reg, buf) fills buf; i2c_write(reg, data). Raise OSError to NACK.
- SPI: spi_transfer(wbuf, rbuf) for one transfer while its chip-select pin is low
  (rbuf may be None), spi_end() when chip-select goes high again.
"""

import errno

import micropython

# reset causes, as machine.reset_cause() returns them on rp2 and esp32
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = self.IN
        self.pull = None
        self.level = 0  # what firmware drives (no property: see MCP2515Sim.is_bus_off)
        self._driven = None  # level forced from outside (inputs), None = floating
        self._listeners = []
        self._watchers = []
        self._irq = None
        self._irq_trigger = 0
        self._irq_hard = False
        self._queued = False  # a soft handler waits in _scheduled
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self.value(value)

    @micropython.native
    def value(self, x=None):
        if x is None:
            if self.mode == 1:  # OUT
                return self.level
            if self._driven is not None:
                return self._driven
            return 1 if self.pull == 1 else 0  # PULL_UP
        level = 1 if x else 0
        if level != self.level:
            self.level = level
            listeners = self._listeners
            for i in range(len(listeners)):  # (native code: an index loop allocates nothing)
                listeners[i](self, level)
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=False):
        """hard: the handler runs at the edge, inside whatever the firmware is doing (a
        transfer on another bus too, when the world drives the pin from there: a device
        that moves the world on by its transfer's time); otherwise (MicroPython's
        default, a soft interrupt) at the VM's next opportunity, which here is the
        firmware's next bus transaction (see sim_run_scheduled())."""
        self._irq = handler
        self._irq_trigger = trigger
        self._irq_hard = hard

    # -- the simulator's side ------------------------------------------------------
    @micropython.native
    def sim_drive(self, level):
        """Drive an input from outside (None lets it float to its pull)."""
        before = self.value()
        self._driven = level
        after = self.value()
        if before != after:
            if self._irq is not None:
                edge = self.IRQ_RISING if after else self.IRQ_FALLING
                if self._irq_trigger & edge:
                    if self._irq_hard:
                        self._irq(self)
                    elif not self._queued:
                        self._queued = True
                        _scheduled.append(self)
            watchers = self._watchers
            for i in range(len(watchers)):
                watchers[i](self, after)

    def sim_watch(self, callback):
        """Call callback(pin, level) whenever the outside world changes this input."""
        self._watchers.append(callback)

    def sim_listen(self, callback):
        """Call callback(pin, level) whenever firmware changes this output."""
        self._listeners.append(callback)


def _value_cpython(self, x=None):
    """Pin.value as CPython runs it fastest (the same behaviour: the native method's index
    loop is there for MicroPython, where a for-in loop would allocate)."""
    if x is None:
        if self.mode == 1:  # OUT
            return self.level
        driven = self._driven
        if driven is not None:
            return driven
        return 1 if self.pull == 1 else 0  # PULL_UP
    level = 1 if x else 0
    if level != self.level:
        self.level = level
        for listener in self._listeners:
            listener(self, level)
    return None


if hasattr(bytes, "translate"):  # CPython: a chip select toggles twice per SPI transfer
    Pin.value = Pin.__call__ = _value_cpython


# Soft interrupts waiting to run, as MicroPython's scheduler queue: the pins whose
# handler is due. On a board the VM runs them between bytecodes, but never inside a C
# call (an I2C or SPI transfer); here they run at the start of the firmware's next bus
# transaction, the point where the firmware next gives the VM an opportunity that
# matters to a driver on a bus (and where a real handler may find that bus busy).
_scheduled = []


def sim_run_scheduled():
    """Run the soft interrupt handlers that are due (a test calls it for the VM's
    opportunities between transactions); returns how many ran."""
    n = 0
    while _scheduled:
        pin = _scheduled.pop(0)
        pin._queued = False
        if pin._irq is not None:
            pin._irq(pin)
            n += 1
    return n


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000, devices=None):
        self.id = id
        self.freq = freq
        self.devices = devices if devices is not None else {}

    def _device(self, addr):
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV)
        return dev

    def scan(self):
        return sorted(self.devices)

    @micropython.native
    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        if _scheduled:
            sim_run_scheduled()
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(errno.ENODEV)
        dev.i2c_read(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self._device(addr).i2c_read(memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        if _scheduled:
            sim_run_scheduled()
        self._device(addr).i2c_write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        dev = self._device(addr)
        if len(buf):
            dev.i2c_write(buf[0], buf[1:])
        return len(buf)


class SPI:
    MSB = 0
    LSB = 1

    def __init__(
        self,
        id=0,
        baudrate=1000000,
        *,
        polarity=0,
        phase=0,
        bits=8,
        firstbit=0,
        sck=None,
        mosi=None,
        miso=None,
        devices=(),
    ):
        self.id = id
        self.baudrate = baudrate
        self._devices = []
        self._sel = None  # the device whose chip select is low (the first one), or None
        for cs, dev in devices:
            self.attach(cs, dev)

    def attach(self, cs_pin, device):
        """Wire a simulated device whose chip select is cs_pin (active low)."""
        devices = self._devices
        devices.append((cs_pin, device))
        cs_pin.sim_listen(_ChipSelect(self, device).edge)
        for cs, dev in devices:  # its chip select may be low already
            if not cs.level:
                self._sel = dev
                break

    def write(self, buf):
        if _scheduled:
            sim_run_scheduled()
        dev = self._sel
        if dev is not None:
            dev.spi_transfer(buf, None)

    def readinto(self, buf, write=0):
        wbuf = bytes([write]) * len(buf)
        self.write_readinto(wbuf, buf)

    def read(self, nbytes, write=0):
        buf = bytearray(nbytes)
        self.readinto(buf, write)
        return bytes(buf)

    @micropython.native
    def write_readinto(self, write_buf, read_buf):
        if _scheduled:
            sim_run_scheduled()
        dev = self._sel
        if dev is None:
            for i in range(len(read_buf)):
                read_buf[i] = 0xFF  # nobody drives MISO: it floats high
            return
        dev.spi_transfer(write_buf, read_buf)


class _ChipSelect:
    """One device's chip select on an SPI bus: its edges end the device's transaction and
    keep the bus's selected device (a bound method rather than a closure: under MicroPython
    a closure over more than three names copies its arguments to the heap at every call)."""

    def __init__(self, spi, device):
        self.spi = spi
        self.device = device
        self.devices = spi._devices
        # bound once: a method lookup on the chip first misses in its nearly full
        # attribute table (MicroPython), at every chip-select edge
        self.spi_end = device.spi_end

    @micropython.native
    def edge(self, pin, level):
        # _sel: the first device in the list whose chip select is low
        spi = self.spi
        device = self.device
        if level:
            self.spi_end()
            if spi._sel is not device:
                return  # it was not the selected one: nothing changes
            if len(self.devices) == 1:
                spi._sel = None
                return
        elif spi._sel is None:
            spi._sel = device  # the only one low
            return
        devices = self.devices
        sel = None
        for i in range(len(devices)):
            if not devices[i][0].level:
                sel = devices[i][1]
                break
        spi._sel = sel


class WDT:
    def __init__(self, id=0, timeout=5000, *, clock=None):
        self.timeout = timeout
        self.clock = clock
        self.fed_ms = clock.t_ms if clock is not None else 0

    def feed(self):
        if self.clock is not None:
            self.fed_ms = self.clock.t_ms

    @micropython.native
    def sim_expired(self):
        return self.clock is not None and self.clock.t_ms - self.fed_ms > self.timeout


class UART:
    """machine.UART over a simulated port (boards/host/world/bus/uart.py): the port owns the
    wire timing; this class keeps MicroPython's method names and return values."""

    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, *, port=None, **kw):
        self.id = id
        self.port = port
        self.init(baudrate, bits, parity, stop, **kw)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, *, timeout=0, txbuf=None, **kw):
        self.baudrate = baudrate
        self.timeout = timeout
        self.port.set_format(baudrate, bits, parity, stop)
        if txbuf is not None:  # the transmit buffer's size (unlimited unless given)
            self.port.txbuf = txbuf

    @micropython.native
    def any(self):
        return self.port.available()

    @micropython.native
    def readinto(self, buf, nbytes=-1):
        """Up to len(buf) (or nbytes) bytes that have arrived; None when there are none
        (the non-blocking read of a UART made with timeout=0)."""
        n = self.port.read_into(buf, len(buf) if nbytes < 0 else nbytes)
        return n if n else None

    def read(self, nbytes=-1):
        n = self.port.available() if nbytes < 0 else nbytes
        if not n:
            return None
        buf = bytearray(n)
        got = self.port.read_into(buf, n)
        return bytes(buf[:got]) if got else None

    def write(self, buf):
        return self.port.write(buf)

    def txdone(self):
        return self.port.txdone()

    def flush(self):
        """Blocks on a board until sent; time does not move here, so it cannot wait."""
        if not self.port.txdone():
            raise OSError(errno.ETIMEDOUT)
