"""Runs ON an (emulated) RP2040: the firmware's cost per tick, per LED beat and per
comms poll, and its heap, with the real App and drivers on fake buses.

Compiled by tools/bench_rp2040.py to an armv6m .mpy (bench_chip.mpy, imported by a
one-line script), uploaded with the firmware as armv6m .mpy files and `bench_replies.py`
(what the simulated chips answered on the host). The buses:
- I2C: the BQ76952's recorded replies for the measurement reads (CRC-framed, as the chip
  sends them): at rest while the FETs are open, charging at 20 A once the charge FET is
  closed;
  writes are taken. The front end's boot-time configuration is not timed: the driver
  starts configured, in CRC mode;
- SPI: a small register-level MCP2515 (instructions, CANSTAT mode, TX at once, an
  inverter heartbeat received every second);
- UART: the RS485 port 1 with a Pylon request every second, mid-way between ticks (an
  inverter's start, 0x4F, 0x51 and 0x47, then 0x42);
- the LEDs, FET pins and relays are real GPIO pins; the inputs (DIP switch, buttons,
  the reverse-polarity detector) are real input pins read through an inverting
  machine.Signal (C, as a Pin): high, as pulled up on a board at rest (the emulator
  does not model the pads' pull-ups).
Prints `key value` lines; cycles from the 125 MHz cycle counter at 0x4005800C.

Last, a CAN burst while the loop runs (burst_phase(), issue 16 item 3): 31 slaves' pack
link frames and the inverter's two, arriving on the wire at 500 kbit/s whatever the CPU
does, across whole ticks (the front-end read included) and RS485 replies, with the INT
handler wired as each board wires it; the frames sent, received and lost. The frames
arrive by the chip's clock (see CLK), never waiting for the handler.

The fakes are Python, a board's buses are C: the cycles spent in a fake, from its call
to its return (calibrated at start: FAKE_CALL_CYCLES, the Python call's own cost), are
taken out of every figure and each bus call is counted as BUS_CALL_CYCLES instead (the C
call and its setup; the transfer's own bus time is aside, as in DESIGN.md's budget).
"""

import gc

gc.collect()
_FREE_BEFORE = gc.mem_free()

import micropython  # noqa: E402

# the names this script interned (compiled before it runs), for tools/bench_rp2040.py:
# those no firmware module has are the bench's own, which a board never interns
micropython.qstr_info(1)

from array import array  # noqa: E402

import bench_replies as rec  # noqa: E402
from machine import Pin, Signal, disable_irq, enable_irq, mem32  # noqa: E402
from micropython import const  # noqa: E402

_CYC = 0x4005800C
_MASK = 0x3FFFFFFF
BUS_CALL_CYCLES = 2000
# cycles spent inside the fakes, and how many bus calls they took
FAKE = array("i", (0, 0))
# a fake's Python call and return around what it counts itself (set by _calibrate())
FAKE_CALL = array("i", (0,))
# the same for the fakes on the chip's clock (the MCP2515's SPI and INT pin), whose end is
# _faked_chip() with interrupts off (set by _calibrate())
FAKE_CHIP_CALL = array("i", (0,))
# a real GPIO's value() (set by _calibrate()): what the fake INT pin's read is counted as
PIN_CALL = array("i", (0,))


def _faked(c0):
    FAKE[0] += ((mem32[_CYC] - c0) & _MASK) + FAKE_CALL[0]
    FAKE[1] += 1


ptr8 = int  # viper's pointer types (names for the linter)
ptr32 = int
_CYCLES = const(0x4005800C)
_M30 = const(0x3FFFFFFF)
# The chip's clock, for the burst: the cycle counter less CLK[0], the cycles a board would
# not spend: the fakes' Python beyond what their C call costs (BUS_CALL_CYCLES, and an SPI
# transfer's bytes on the wire), and the frame clock's interrupts (see FrameClock) but the
# INT handler they run. Frames arrive, and the I2C transfers last, by this clock: so the
# handler meets the bus at its pace on a board's CPU, the fakes' cost taken out. The fakes
# keep interrupts off while they run, so that no arrival is judged at a time the clock
# takes back at their end.
CLK = array("i", (0,))
_SPI_BYTE_CYCLES = const(100)  # 8 bits at 10 MHz (boards/rp2040 SPI_HZ), 125 MHz


@micropython.viper
def _raw() -> int:
    return ptr32(_CYCLES)[0] & _M30


@micropython.viper
def _chip(clk: ptr32) -> int:
    return (ptr32(_CYCLES)[0] - clk[0]) & _M30


@micropython.viper
def _skew_add(clk: ptr32, c: int):
    clk[0] = (clk[0] + c) & _M30


def _faked_chip(c0, modeled):
    """_faked() for a fake whose time runs on the chip's clock (the MCP2515's SPI, its INT
    pin), called as it ends with interrupts still off: the fake's whole call, from its
    first statement and with its call and tail (FAKE_CHIP_CALL), is counted as _faked()
    counts it, and the same cycles are taken off the chip's clock, which is given
    modeled (the board's cost) instead. (_skew() took off only the part from its k0 to
    its own call: the fake's bookkeeping after it, interrupts enabled again and _faked()
    stayed on the clock, about 6 000 cycles a transfer that the drain's figure leaves
    out and a board does not spend.)"""
    c = ((mem32[_CYC] - c0) & _MASK) + FAKE_CHIP_CALL[0]
    FAKE[0] += c
    FAKE[1] += 1
    _skew_add(CLK, c - modeled)


def _skew(k0, modeled):
    """A fake that began at chip time k0 ends: what it took beyond modeled (the board's
    cost) is taken off the chip's clock."""
    _skew_add(CLK, ((_chip(CLK) - k0) & _M30) + FAKE_CALL[0] - modeled)


class _Probe:
    def call(self, addr, reg, buf):
        _faked(mem32[_CYC])

    def chip(self, w, rd):
        # a fake on the chip's clock, as FakeMcp2515Spi.write_readinto ends
        c0 = mem32[_CYC]
        irq = disable_irq()
        _faked_chip(c0, 0)
        enable_irq(irq)


def _calibrate():
    """FAKE_CALL: what a call of a fake costs beyond what it counts inside (its Python
    call and return), from a fake that does nothing else, less an empty loop's turn."""
    p = _Probe()
    buf = bytearray(4)
    n = 50
    c0 = mem32[_CYC]
    for _ in range(n):
        pass
    loop = (mem32[_CYC] - c0) & _MASK
    f0 = FAKE[0]
    c0 = mem32[_CYC]
    for _ in range(n):
        p.call(1, 2, buf)
    outside = ((mem32[_CYC] - c0) & _MASK) - loop
    FAKE_CALL[0] = (outside - (FAKE[0] - f0)) // n
    # FAKE_CHIP_CALL: the same for a fake that ends by _faked_chip() with interrupts off
    # (its tail: the chip's clock skewed, interrupts enabled again); the chip's clock it
    # skews here is not in use yet
    f0 = FAKE[0]
    c0 = mem32[_CYC]
    for _ in range(n):
        p.chip(buf, buf)
    outside = ((mem32[_CYC] - c0) & _MASK) - loop
    FAKE_CHIP_CALL[0] = (outside - (FAKE[0] - f0)) // n
    FAKE[0] = 0
    FAKE[1] = 0
    pin = Pin(28, Pin.IN)  # (a pin no fake or board pin uses)
    c0 = mem32[_CYC]
    for _ in range(n):
        pin.value()
    PIN_CALL[0] = (((mem32[_CYC] - c0) & _MASK) - loop) // n


def cycles():
    return mem32[_CYC]


@micropython.viper
def _copy(dst: ptr8, src: ptr8, n: int):
    i = 0
    while i < n:
        dst[i] = src[i]
        i += 1


# WIRE[0] 1: a bus transfer also takes its time on the wire, as the C call does (the
# burst phase; the cycle figures leave the transfer's own bus time aside)
WIRE = array("i", (0,))


@micropython.viper
def _wait(clk: ptr32, us: int):
    """Wait us microseconds of the chip's clock in machine code: like a C call (an I2C
    transfer), it gives MicroPython's scheduler no opportunity (a soft interrupt waits for
    its end); a hard interrupt still comes, and the INT handler's time runs on the wire's
    (the controller's FIFO keeps the transfer going)."""
    t = ptr32(_CYCLES)
    c = us * 125
    start = t[0] - clk[0]
    while ((t[0] - clk[0] - start) & _M30) < c:
        pass


def _i2c_us(n):
    """An I2C transfer of n bytes after the address and register bytes (a read's
    repeated start and address included) at 400 kHz: 9 bits a byte, 2.5 us a bit."""
    return ((n + 3) * 9 + 3) * 5 // 2


class FakeI2C:
    def __init__(self, replies):
        self.replies = replies

    def readfrom_mem_into(self, addr, reg, buf):
        c0 = mem32[_CYC]
        irq = disable_irq()
        k0 = _chip(CLK)
        reply = self.replies.get(reg << 8 | len(buf))
        if reply is None:
            _skew(k0, BUS_CALL_CYCLES)
            enable_irq(irq)
            _faked(c0)
            raise OSError(5)
        _copy(buf, reply, len(reply))  # (a slice would allocate: a real bus does not)
        _skew(k0, BUS_CALL_CYCLES)
        enable_irq(irq)
        if WIRE[0]:
            _wait(CLK, _i2c_us(len(buf)))
        _faked(c0)

    def writeto_mem(self, addr, reg, buf):
        c0 = mem32[_CYC]
        if WIRE[0]:
            _wait(CLK, _i2c_us(len(buf)) - 22)  # no repeated start, no second address
        _faked(c0)


_CANSTAT = 0x0E
_CANCTRL = 0x0F
_CANINTF = 0x2C
_TXB_CTRL = (0x30, 0x40, 0x50)
_TX_LOAD = (0x31, 0x36, 0x41, 0x46, 0x51, 0x56)
_RX_READ = (0x61, 0x66, 0x71, 0x76)


# BURST_STATE: the burst under way (see FrameClock)
_NEXT = const(0)  # the next frame of the burst (BURST: none running)
_WIRING = const(1)
_QUEUED = const(2)  # a soft handler waits in the scheduler
_LOST = const(3)  # frames the chip found no buffer for
_T0 = const(4)  # the chip's time the first frame is complete (CLK)
_EDGE = const(5)  # INT fell since the handler was last run for it (a pin's latched edge)
_BURSTS = const(6)
_DRAIN_CYCLES = const(7)  # the hard handler's cycles (the fakes' Python replaced)
_BURST = const(33)  # BURST below
# every frame as short as the burst's shortest (0x305: 11-bit id, 8 data bytes, 108 bits
# and 3 of intermission, no stuff bits) at 500 kbit/s: the pack link's 29-bit frames
# take 131 bits and more, so the bench's burst comes faster than a bus can bring it
FRAME_US = 222
_FRAME_CYCLES = const(27750)  # FRAME_US at 125 MHz


@micropython.viper
def _catch_up(r: ptr8, img: ptr8, rxb1: ptr8, st: ptr32, now: int):
    """The frames of the burst complete by the chip's time now (frame k at st[_T0] + k
    frame times), each received into the register file r as the chip stores it
    (DS20001801 4.2, 4.5): a frame RXB0's filters take (rxb1[k] 0; 13 bytes at img[13 * k]:
    SIDH, SIDL, EID8, EID0, DLC, 8 data bytes) goes to RXB0, else (rollover, BUKT) to RXB1;
    one of RXB1's filters (rxb1[k] 1) to RXB1 only; with its buffer(s) full it is lost
    (st[_LOST]; RX1OVR, and ERRIF, which holds INT low). An INT that falls (no enabled
    flag was set before) latches st[_EDGE], as the pin's edge detector does."""
    k = st[_NEXT]
    while k < _BURST:
        if ((now - st[_T0] - k * _FRAME_CYCLES) & _M30) >= 0x20000000:
            break  # not yet complete
        intf = r[0x2C]
        inte = r[0x2B]
        before = intf & inte
        a = 0
        if rxb1[k] == 0 and (intf & 1) == 0:
            a = 0x61
            intf |= 1
        elif (intf & 2) == 0:
            a = 0x71
            intf |= 2
        else:
            r[0x2D] = r[0x2D] | 0x80
            intf |= 0x20
            st[_LOST] = st[_LOST] + 1
        if a:
            o = 13 * k
            i = 0
            while i < 13:
                r[a + i] = img[o + i]
                i += 1
        r[0x2C] = intf
        if before == 0 and (intf & inte) != 0:
            st[_EDGE] = 1
        k += 1
    st[_NEXT] = k


class FakeMcp2515Spi:
    """The MCP2515's SPI instructions on a register file; a frame in a TX buffer leaves
    at once (RTS), one waits in RXB0 when `deliver()` put it there."""

    def __init__(self):
        self.regs = bytearray(128)
        self.sent = 0
        self.delivered = 0  # frames deliver() put in RXB0
        self.clock = None  # the burst's FrameClock while one runs
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(128):
            r[i] = 0
        r[_CANSTAT] = 0x80
        r[_CANCTRL] = 0x87

    def _written(self, addr):
        if addr == _CANCTRL:
            r = self.regs
            r[_CANSTAT] = (r[_CANSTAT] & 0x1F) | (r[_CANCTRL] & 0xE0)

    def deliver(self, std_id, data):
        self.delivered += 1
        r = self.regs
        if r[_CANINTF] & 0x01:  # RXB0 still full: the frame is lost, EFLG says RX0OVR
            r[0x2D] |= 0x40
            return
        r[0x61] = std_id >> 3
        r[0x62] = (std_id & 7) << 5
        r[0x65] = len(data)
        for i in range(len(data)):
            r[0x66 + i] = data[i]
        r[_CANINTF] |= 0x01

    def deliver_ext(self, ident, data):
        """A 29-bit frame into RXB0 (the pack link's); False, delivering nothing, while
        RXB0 is still full."""
        r = self.regs
        if r[_CANINTF] & 0x01:
            return False
        self.delivered += 1
        r[0x61] = ident >> 21
        r[0x62] = ((ident >> 13) & 0xE0) | 0x08 | ((ident >> 16) & 0x03)
        r[0x63] = (ident >> 8) & 0xFF
        r[0x64] = ident & 0xFF
        r[0x65] = len(data)
        for i in range(len(data)):
            r[0x66 + i] = data[i]
        r[_CANINTF] |= 0x01
        return True

    def write_readinto(self, w, rd):
        c0 = mem32[_CYC]
        irq = disable_irq()
        if self.clock is not None:
            self.clock.catch_up()  # the chip as it is by now
            self.clock.transfer(w[0])
        self._transfer(w, rd)
        _faked_chip(c0, BUS_CALL_CYCLES + len(w) * _SPI_BYTE_CYCLES)
        enable_irq(irq)

    def _transfer(self, w, rd):
        r = self.regs
        op = w[0]
        n = len(w)
        if op == 0xC0:
            self._reset()
        elif op == 0x03:
            a = w[1]
            for i in range(2, n):
                x = (a + i - 2) & 0x7F
                if x & 0x0E == 0x0E:  # CANSTAT and CANCTRL answer at every xE and xF
                    x = 0x0E | (x & 1)
                rd[i] = r[x]
        elif op == 0x02:
            a = w[1]
            for i in range(2, n):
                r[(a + i - 2) & 0x7F] = w[i]
                self._written((a + i - 2) & 0x7F)
        elif op == 0x05:
            a = w[1]
            r[a] = (r[a] & ~w[2]) | (w[3] & w[2])
            self._written(a)
        elif op == 0xA0:
            f = r[_CANINTF]
            s = (f & 0x03) | (f & 0x04) << 1 | (f & 0x08) << 2 | (f & 0x10) << 3
            for k in range(3):
                if r[_TXB_CTRL[k]] & 0x08:
                    s |= 0x04 << (2 * k)
            for i in range(1, n):
                rd[i] = s
        elif op == 0xB0:
            f = r[_CANINTF]
            s = (f & 0x03) << 6
            for i in range(1, n):
                rd[i] = s
        elif op & 0xF8 == 0x80:
            for k in range(3):
                if op & (1 << k):
                    r[_TXB_CTRL[k]] &= ~0x08
                    r[_CANINTF] |= 0x04 << k
                    self.sent += 1
        elif op & 0xF8 == 0x40:
            a = _TX_LOAD[op & 7]
            for i in range(1, n):
                r[a + i - 1] = w[i]
        elif op & 0xF9 == 0x90:
            k = (op >> 1) & 3
            a = _RX_READ[k]
            for i in range(1, n):
                rd[i] = r[a + i - 1]
            r[_CANINTF] &= ~(1 << (k >> 1))


class FakeInt:
    """The MCP2515's INT pin: low while an enabled interrupt flag is set. On a board a GPIO:
    its read is counted as a real pin's value() (PIN_CALL), not as a bus call."""

    def __init__(self, spi):
        self.regs = spi.regs
        self.spi = spi

    def value(self):
        c0 = mem32[_CYC]
        irq = disable_irq()
        if self.spi.clock is not None:
            self.spi.clock.catch_up()
        r = self.regs
        v = 0 if r[_CANINTF] & r[0x2B] else 1
        FAKE[0] += BUS_CALL_CYCLES - PIN_CALL[0]  # counted as a pin read, not a bus call
        _faked_chip(c0, PIN_CALL[0])
        enable_irq(irq)
        return v

    __call__ = value  # as a Pin: called, its value


class FakeUart:
    """RS485 port 1: takes what the firmware writes at once, gives what `inject()` put."""

    def __init__(self):
        self.rx = bytearray(256)
        self.n = 0
        self.at = 0
        self.replies = 0
        self.tx_bytes = 0

    def init(self, **kw):
        pass

    def inject(self, data):
        for i in range(len(data)):
            self.rx[i] = data[i]
        self.n = len(data)
        self.at = 0

    def any(self):
        _faked(mem32[_CYC])
        return self.n - self.at

    def readinto(self, buf):
        c0 = mem32[_CYC]
        irq = disable_irq()
        k0 = _chip(CLK)
        k = 0
        while k < len(buf) and self.at < self.n:
            buf[k] = self.rx[self.at]
            self.at += 1
            k += 1
        _skew(k0, BUS_CALL_CYCLES)
        enable_irq(irq)
        _faked(c0)
        return k if k else None

    def write(self, data):
        self.replies += 1
        self.tx_bytes += len(data)
        _faked(mem32[_CYC])
        return len(data)

    def txdone(self):
        _faked(mem32[_CYC])
        return True


def pulled_up(n):
    """An input pin at rest: high (the emulator's pads read low without a pull-up
    model, so through an inverting Signal: C, as the Pin a board reads)."""
    return Signal(Pin(n, Pin.IN), invert=True)


class FakeWdt:
    def feed(self):
        pass


class _File:
    def __init__(self, fs, name, mode):
        self.fs = fs
        self.name = name
        self.data = bytearray(fs.files.get(name, b"")) if "a" in mode or "r" in mode else None
        if self.data is None:
            self.data = bytearray()
        self.pos = 0

    def read(self):
        return bytes(self.data)

    def write(self, b):
        self.data += b
        return len(b)

    def close(self):
        self.fs.files[self.name] = bytes(self.data)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class RamFs:
    def __init__(self):
        self.files = {}

    def open(self, name, mode="r"):
        if "r" in mode and name not in self.files:
            raise OSError(2)
        return _File(self, name, mode)

    def remove(self, name):
        self.files.pop(name, None)

    def rename(self, a, b):
        self.files[b] = self.files.pop(a)


# what the bench's own definitions above took in the heap (their function and class
# objects, the recorded replies' module): never on a board, so tools/bench_rp2040.py
# gives it back (rp2040_heap_bench_defs_bytes; the script's compiled code and names,
# taken before _FREE_BEFORE, are given back as rp2040_heap_bench_code_bytes)
gc.collect()
_FREE_BENCH = gc.mem_free()

from app import App  # noqa: E402
from drivers.bq76952 import BQ76952  # noqa: E402
from drivers.drycontact import DryContact  # noqa: E402
from drivers.fets import Fets  # noqa: E402
from drivers.mcp2515 import MCP2515, RING_FRAMES  # noqa: E402
from drivers.panel import Panel  # noqa: E402
from drivers.rs485 import Rs485  # noqa: E402
from drivers.store import Store  # noqa: E402


def _as_a_board():
    """What a board loads besides what this bench builds, so that its code and names
    count as on a board: main.py and the board files (held while the loop runs), and
    what main.py and the boot load and drop: the image selection (service/image.py), the
    board's build (boards/chip_build.py, which leaves drivers/mcp23s17.py held) and the
    front end's configuration (the bench starts the driver configured)."""
    import main  # noqa: F401 - boards/main.py (a file on the board: compiled there)

    from boards.rp2040 import board  # noqa: F401 - and boards/chip.py

    for name in (
        "service.image",
        "boards.chip_build",
        "drivers.bq76952_setup",
        "drivers.bq76952_dm",
    ):
        __import__(name)
        lazy.drop(name)
    lazy.drop("service")
    return main, board


from bms import lazy  # noqa: E402

_BOARD_MODULES = _as_a_board()
gc.collect()
_FREE_IMPORTED = gc.mem_free()


class BenchBoard:
    def __init__(self):
        out = Pin.OUT
        leds = [Pin(n, out, value=0) for n in (2, 3, 4, 5, 6, 7, 8)]
        dip = [pulled_up(n) for n in (9, 10, 11, 12, 13, 14, 15)]
        button = pulled_up(16)
        cfetoff = Pin(17, out, value=1)
        dfetoff = Pin(18, out, value=1)
        pre = Pin(19, out, value=0)
        reverse = pulled_up(20)
        relay_chg = Pin(21, out, value=0)
        relay_dsg = Pin(22, out, value=0)
        passive = pulled_up(26)
        rsd = pulled_up(27)
        self.i2c = FakeI2C(rec.I2C_BOOT)
        self.afe = BQ76952(self.i2c, r_sense_uohm=rec.R_SENSE_UOHM)
        self.fets = Fets(cfetoff, dfetoff, pre, reverse)
        self.panel = Panel(leds, dip, button)
        self.dry = DryContact(relay_chg, relay_dsg, passive, rsd)
        self.wdt = FakeWdt()
        self.store = Store(RamFs())
        self.spi = FakeMcp2515Spi()
        # with the receive ring, as the boards build it (no INT handler here: the link's
        # poll drains it)
        self.can = MCP2515(
            self.spi, Pin(1, out, value=1), 8000000, FakeInt(self.spi), None, RING_FRAMES
        )
        self.uart = FakeUart()
        self.rs485 = Rs485(self.uart, Pin(0, out, value=0))
        self.rs485_out = None  # Link OUT: no next pack on this bench

    def reset_cause(self):
        return 1

    def unique_id(self):
        return b"\xe6\x61\x41\x04\x03\x2b\x1a\x01"

    def restart(self):
        pass


class Meter:
    """Cycles spent in one method of one object (wrapped: fixed arity, counters in an
    array, so the wrapper allocates nothing)."""

    def __init__(self, obj, name, arity=1):
        acc = array("i", (0, 0, 0))  # cycles, calls, worst
        self.acc = acc
        self.obj = obj
        self.name = name
        f = getattr(obj, name)

        def done(c0, f0, n0):
            c = (mem32[_CYC] - c0) & _MASK
            c -= FAKE[0] - f0  # the fakes' Python, replaced by a C call's cost
            c += (FAKE[1] - n0) * BUS_CALL_CYCLES
            acc[0] += c
            acc[1] += 1
            if c > acc[2]:
                acc[2] = c

        if arity == 0:

            def timed():
                f0 = FAKE[0]
                n0 = FAKE[1]
                c0 = mem32[_CYC]
                r = f()
                done(c0, f0, n0)
                return r

        elif arity == 1:

            def timed(a):
                f0 = FAKE[0]
                n0 = FAKE[1]
                c0 = mem32[_CYC]
                r = f(a)
                done(c0, f0, n0)
                return r

        else:

            def timed(a, b, c, d):
                f0 = FAKE[0]
                n0 = FAKE[1]
                c0 = mem32[_CYC]
                r = f(a, b, c, d)
                done(c0, f0, n0)
                return r

        setattr(obj, name, timed)

    def remove(self):
        delattr(self.obj, self.name)  # the class's method again

    def avg(self):
        return self.acc[0] // self.acc[1] if self.acc[1] else 0

    def worst(self):
        return self.acc[2]

    def total(self):
        return self.acc[0]


class CommsMeter:
    """The link's polls by what they did: idle, CAN frames sent, an RS485 reply."""

    def __init__(self, app, board):
        acc = array("i", (0,) * 9)  # idle cycles, calls; frames cycles, frames; rs485...
        self.acc = acc
        f = app.comms
        spi = board.spi
        uart = board.uart

        def timed(now):
            sent = spi.sent
            replies = uart.replies
            f0 = FAKE[0]
            n0 = FAKE[1]
            c0 = mem32[_CYC]
            r = f(now)
            c = (mem32[_CYC] - c0) & _MASK
            c += (FAKE[1] - n0) * BUS_CALL_CYCLES - (FAKE[0] - f0)
            if uart.replies != replies:
                acc[4] += c
                acc[5] += 1
                if c > acc[6]:
                    acc[6] = c
            elif spi.sent != sent:
                acc[2] += c
                acc[3] += spi.sent - sent
                if c > acc[7]:
                    acc[7] = c
            else:
                acc[0] += c
                acc[1] += 1
                if c > acc[8]:
                    acc[8] = c
            return r

        app.comms = timed
        self.app = app

    def remove(self):
        del self.app.comms

    def total(self):
        return self.acc[0] + self.acc[2] + self.acc[4]


class Heap:
    """Heap allocated in one method (gc.mem_alloc() walks the heap: never nest it in a
    cycle measurement)."""

    def __init__(self, obj, name):
        acc = array("i", (0, 0))
        self.acc = acc
        f = getattr(obj, name)
        alloc = gc.mem_alloc

        def counted(a):
            m0 = alloc()
            r = f(a)
            acc[0] += alloc() - m0
            acc[1] += 1
            return r

        setattr(obj, name, counted)

    def per_call(self):
        return self.acc[0] // self.acc[1] if self.acc[1] else 0


def run(app, board, t0, t1, step, live=None):
    """Drive app.poll as a board's loop does (sleeping at most COMM_POLL_MS), with the
    inverter's heartbeat and RS485 request each second; live: readings to give in turn,
    one each 100 ms (else the same one in service)."""
    now = t0
    while now < t1:
        if now % 1000 == 0:
            board.spi.deliver(0x305, bytes(8))
        if now % 1000 == 550:
            board.uart.inject(rec.PYLON_POLLS[min(now // 1000, 3)])
        if live is not None:
            board.i2c.replies = live[(now // 100) % len(live)]
        elif app.bms.chg:
            board.i2c.replies = rec.I2C_SERVICE
        wait = app.poll(now)
        now += wait if 0 < wait < step else step


# -- a CAN burst while the loop runs -------------------------------------------------
# Frames arrive on the wire whatever the CPU does: frame k of a burst is complete k frame
# times after the first, by the chip's clock (CLK), and it is put into the fake MCP2515 as
# the chip would (_catch_up()) whenever the firmware next looks at the chip (an SPI
# transfer, an INT pin read) or the frame clock ticks, whichever comes first: so an
# arrival never waits for the handler, and the chip overflows when both buffers are full
# at the frame's time, as the silicon does. The frame clock is hardware: two DMA channels,
# each moving one word paced by the DMA's TIMER0 and chained to the other, so a transfer
# ends TICKS times a frame time, each end raising a hard DMA interrupt (rp2.DMA.irq,
# hard=True) that brings the chip up to date and, when INT fell, fires the INT handler
# as the board wires it: called there and then (a hard Pin.irq runs at the edge, inside
# whatever the loop does: boards/rp2040; the tick's own cost is off the chip's clock) or
# through micropython.schedule (a soft Pin.irq: boards/esp32). A hard handler running
# holds the ticks back, not the arrivals; an edge while it runs (INT rose at a read and
# fell again) runs it again after, as a pin's latched edge does. machine.Timer cannot be
# the clock: the rp2 port of v1.24.1 schedules its callbacks (ports/rp2/machine_timer.c),
# so none would come inside a C call. rp2040js (1.4.1) reads TIMER0 as a period of
# X / Y * 1e6 / clk_sys us (the silicon as a rate, clk_sys * X / Y): set for the emulator.
_DMA_TIMER0 = const(0x50000420)
_DMA_MULTI_TRIGGER = const(0x50000430)
_DMA_ABORT = const(0x50000444)
_TREQ_TIMER0 = const(0x3B)
SLAVES = 31
BURST = SLAVES + 2  # and the inverter's 0x305 and 0x307
TICKS = 4  # the frame clock's ticks a frame time: an edge waits at most a quarter frame
HARD = 1  # BURST_STATE[_WIRING]: the INT handler hard (boards/rp2040)
SOFT = 2  # soft (boards/esp32)
BURST_STATE = array("i", (BURST, 0, 0, 0, 0, 0, 0, 0))

# What the burst measures besides its counts (issue 16 item 3: where a frame is lost).
# PROBE: the hard handler's deferrals (it found the bus held: busy, or a drain of the
# loop's under way), how long each waited, by the chip's clock, for the drain that served
# it, and which of the loop's operations held it; LOSS: each frame the chip lost, by what
# the drain was doing then (_S_*) and what the loop was doing (_PH_*).
_P_DEFERRALS = const(0)
_P_DEFER_BUSY = const(1)  # of which the bus held by a transaction (busy)
_P_DEFER_DRAIN = const(2)  # of which a drain of the loop's under way (_draining)
_P_DEFER_AT = const(3)  # the chip's time of the deferral not served yet, -1: none
_P_HOLD_WORST = const(4)  # the longest wait from a deferral to its drain (cycles)
_P_HOLD_SUM = const(5)
_P_HOLD_N = const(6)
_P_PHASE = const(7)  # the loop's operation now (_PH_*)
_P_OP = const(8)  # the first byte of the loop's last SPI transfer
_P_DEFER_PHASE = const(9)  # the loop's operation at the outstanding deferral
_P_DEFER_OP = const(10)
_P_WORST_PHASE = const(11)  # ...at the longest one
_P_WORST_OP = const(12)
_P_IN_HANDLER = const(13)  # the frame clock is running the hard handler
_P_LOSS_N = const(14)  # loss records kept (LOSSES)
_P_HANDLER_CHIP = const(15)  # the chip's time the hard handler's calls took (cycles)
# (made by burst_phase(), after the heap in service is measured: the bench's, not a
# board's)
PROBE = None
# the loop's operations (app.poll's parts), and the drain's state when a frame is lost
PHASES = ("other", "tick", "led_beat", "housekeeping", "comms")
STATES = ("handler_running", "deferred", "loop_drain", "edge_waiting", "no_edge")
_S_HANDLER = const(0)  # the hard handler is draining: it did not keep up
_S_DEFERRED = const(1)  # the handler deferred (bus held), its drain not begun yet
_S_LOOP_DRAIN = const(2)  # a drain of the loop's is running (release(), recv())
_S_EDGE = const(3)  # INT fell, the frame clock has not run the handler yet
_S_NO_EDGE = const(4)  # INT low and nothing pending: no edge will bring the handler
LOSS = None
_LOSS_KEEP = const(24)
LOSSES = None  # frame, chip cycles into the burst, state, phase, op (_LOSS_KEEP)


def burst_frames(app):
    """The burst as the chip's RX buffer images (13 bytes a frame) and which go to RXB1:
    31 pack-link frames (each a different message of a pack's ten, the bench pack's
    values) to RXB0, the inverter's heartbeats to RXB1. Their source is the bench pack's
    own address: the link takes them as a chain being re-addressed (consumed at once),
    where 31 slaves' would build the master's system, which does not fit in the heap
    beside the bench's own code (MemoryError in the link); the driver receives them the
    same way."""
    from protocols import packlink_can as pl

    img = bytearray(13 * BURST)
    rxb1 = bytearray(BURST)
    data = bytearray(8)
    for k in range(BURST):
        o = 13 * k
        if k < SLAVES:
            msg = k % pl.N_MSGS + 1
            pl.encode(msg, data, app.bms, False)
            i = pl.can_id(msg, app.address or 1)
            img[o] = (i >> 21) & 0xFF
            img[o + 1] = ((i >> 13) & 0xE0) | 0x08 | ((i >> 16) & 0x03)
            img[o + 2] = (i >> 8) & 0xFF
            img[o + 3] = i & 0xFF
        else:
            i = 0x305 if k == SLAVES else 0x307
            for j in range(8):
                data[j] = 0
            if i == 0x307:
                data[0:3] = b"VIC"
            img[o] = i >> 3
            img[o + 1] = (i & 7) << 5
            rxb1[k] = 1
        img[o + 4] = 8
        img[o + 5 : o + 13] = data
    return img, rxb1


class FrameClock:
    """The frame clock (see above). Its handlers are bound methods: a closure over more
    than a few names allocates its arguments at every call (py/objclosure.c), which a
    hard interrupt cannot (MemoryError, and the port disables the handler)."""

    def __init__(self, board, img, rxb1):
        import rp2

        self.regs = board.spi.regs
        self.pin = board.can.int_pin
        self.handler = board.can.irq_handler
        self.can = board.can
        self.img = img
        self.rxb1 = rxb1
        self.soft_handler = self.soft  # bound once, as the driver's irq_handler
        self.words = bytearray(8)
        self.dma = (rp2.DMA(), rp2.DMA())
        a, b = self.dma
        self.mask = 1 << a.channel | 1 << b.channel
        self.first = 1 << a.channel
        tick = self.tick
        for d, nxt in ((a, b), (b, a)):
            ctrl = d.pack_ctrl(
                size=2,
                inc_read=False,
                inc_write=False,
                treq_sel=_TREQ_TIMER0,
                chain_to=nxt.channel,
                irq_quiet=False,  # (pack_ctrl's default is quiet: no interrupt)
            )
            d.config(read=self.words, write=memoryview(self.words)[4:], count=1, ctrl=ctrl)
            d.irq(tick, hard=True)
        # see above: the emulator's reading
        mem32[_DMA_TIMER0] = (_FRAME_CYCLES // TICKS) << 16 | 1
        board.spi.clock = self

    def soft(self, pin):
        BURST_STATE[_QUEUED] = 0
        PROBE[_P_IN_HANDLER] = 1
        self.handler(pin)
        PROBE[_P_IN_HANDLER] = 0

    def catch_up(self):
        st = BURST_STATE
        lost = st[_LOST]
        _catch_up(self.regs, self.img, self.rxb1, st, _chip(CLK))
        if st[_LOST] != lost:
            self.lost(st[_LOST] - lost)

    def transfer(self, op):
        """An SPI transfer beginning (op: its instruction): the loop's last one noted; a
        drain's RX STATUS serves the deferral outstanding (its wait measured)."""
        p = PROBE
        if self.can._draining:
            at = p[_P_DEFER_AT]
            if op == 0xB0 and at >= 0:
                hold = (_chip(CLK) - at) & _M30
                p[_P_DEFER_AT] = -1
                p[_P_HOLD_SUM] += hold
                p[_P_HOLD_N] += 1
                if hold > p[_P_HOLD_WORST]:
                    p[_P_HOLD_WORST] = hold
                    p[_P_WORST_PHASE] = p[_P_DEFER_PHASE]
                    p[_P_WORST_OP] = p[_P_DEFER_OP]
        elif not p[_P_IN_HANDLER]:
            p[_P_OP] = op

    def lost(self, n):
        """n frames the chip just lost: noted by what the drain and the loop were doing
        (runs with interrupts off, or in the frame clock's: nothing allocated)."""
        can = self.can
        p = PROBE
        if p[_P_IN_HANDLER]:
            s = _S_HANDLER
        elif can._draining:
            s = _S_LOOP_DRAIN
        elif p[_P_DEFER_AT] >= 0:
            s = _S_DEFERRED
        elif BURST_STATE[_EDGE]:
            s = _S_EDGE
        else:
            s = _S_NO_EDGE
        LOSS[s * 5 + p[_P_PHASE]] += n
        k = p[_P_LOSS_N]
        if k < _LOSS_KEEP:
            p[_P_LOSS_N] = k + 1
            o = k * 5
            LOSSES[o] = BURST_STATE[_NEXT] - 1
            LOSSES[o + 1] = (_chip(CLK) - BURST_STATE[_T0] + _FRAME_CYCLES) & _M30
            LOSSES[o + 2] = s
            LOSSES[o + 3] = p[_P_PHASE]
            LOSSES[o + 4] = p[_P_OP]

    def tick(self, dma, st=BURST_STATE, clk=CLK):
        """A transfer's end (a hard interrupt): the chip up to date, and the INT handler
        for an edge. Its own cycles, all but the handler's, are taken off the chip's
        clock; the handler's (the fakes' Python replaced) are summed in _DRAIN_CYCLES."""
        e0 = _raw()
        if st[_NEXT] < _BURST:
            lost = st[_LOST]
            _catch_up(self.regs, self.img, self.rxb1, st, _chip(clk))
            if st[_LOST] != lost:
                self.lost(st[_LOST] - lost)
        if st[_NEXT] >= _BURST:
            # the last frame is in (perhaps at a fake's transfer): the clock stops after
            # this tick, which still runs the handler for an edge left
            mem32[_DMA_ABORT] = self.mask
        if st[_EDGE]:
            if st[_WIRING] == HARD:
                n = 0
                while st[_EDGE] and n < 8:  # (bounded: a tick must end)
                    n += 1
                    st[_EDGE] = 0
                    can = self.can
                    p = PROBE
                    if can.busy or can._draining:  # the handler will only note it
                        p[_P_DEFERRALS] += 1
                        p[_P_DEFER_BUSY if can.busy else _P_DEFER_DRAIN] += 1
                        if p[_P_DEFER_AT] < 0:
                            p[_P_DEFER_AT] = _chip(clk)
                            p[_P_DEFER_PHASE] = p[_P_PHASE]
                            p[_P_DEFER_OP] = p[_P_OP]
                    f0 = FAKE[0]
                    n0 = FAKE[1]
                    p[_P_IN_HANDLER] = 1
                    # the tick's own cycles off the chip's clock up to the handler's call,
                    # and again from its return (the counter is mod 2**30, a small int:
                    # nothing allocated here)
                    _skew_add(clk, (_raw() - e0) & _M30)
                    k0 = _chip(clk)
                    c0 = _raw()
                    self.handler(self.pin)
                    e0 = _raw()
                    p[_P_HANDLER_CHIP] += (_chip(clk) - k0) & _M30
                    p[_P_IN_HANDLER] = 0
                    c = ((e0 - c0) & _M30) - (FAKE[0] - f0)
                    st[_DRAIN_CYCLES] += c + (FAKE[1] - n0) * BUS_CALL_CYCLES
            else:
                st[_EDGE] = 0
                if st[_WIRING] == SOFT and not st[_QUEUED]:
                    st[_QUEUED] = 1
                    micropython.schedule(self.soft_handler, self.pin)
        _skew_add(clk, (_raw() - e0) & _M30)

    def start(self):
        st = BURST_STATE
        st[_EDGE] = 0
        st[_T0] = (_chip(CLK) + _FRAME_CYCLES) & _M30
        st[_NEXT] = 0
        st[_BURSTS] += 1
        mem32[_DMA_MULTI_TRIGGER] = self.first

    def running(self):
        return BURST_STATE[_NEXT] < BURST

    def close(self):
        mem32[_DMA_ABORT] = self.mask
        for d in self.dma:
            d.irq(None)
            d.close()
        self.regs = None


def run_burst(app, board, clock, t0, t1, step):
    """run() with a burst started at every tick (the front-end read comes first in it)
    and at every RS485 request (its reply), one at a time."""
    now = t0
    while now < t1:
        if now % 1000 == 550:
            board.uart.inject(rec.PYLON_42)
        # at 500 the RS485 request's burst follows at 550 instead (a burst outlasts the
        # loop's few ms between them)
        if (now % 100 == 0 and now % 1000 != 500 or now % 1000 == 550) and not clock.running():
            clock.start()
        wait = app.poll(now)
        now += wait if 0 < wait < step else step
    for _ in range(1000):  # (bounded: a clock that stopped must not hang the bench)
        if not clock.running():
            break
        app.poll(now)


def _phased(obj, name, phase):
    """obj.name (one argument) marks the loop's operation in PROBE while it runs."""
    f = getattr(obj, name)

    def marked(now):
        PROBE[_P_PHASE] = phase
        r = f(now)
        PROBE[_P_PHASE] = 0
        return r

    setattr(obj, name, marked)


def burst_probe(key):
    """The burst's measurement (PROBE, LOSS, LOSSES) as printed lines; cleared after."""
    p = PROBE
    print(key + "deferrals", p[_P_DEFERRALS])
    print(key + "deferrals_busy", p[_P_DEFER_BUSY])
    print(key + "deferrals_drain", p[_P_DEFER_DRAIN])
    print(key + "busy_hold_worst_cycles", p[_P_HOLD_WORST])
    print(key + "busy_hold_avg_cycles", p[_P_HOLD_SUM] // max(1, p[_P_HOLD_N]))
    if p[_P_HOLD_N]:
        print("burst hold worst in", PHASES[p[_P_WORST_PHASE]], "after op 0x%02x" % p[_P_WORST_OP])
    n = len(PHASES)
    for i in range(len(LOSS)):
        if LOSS[i]:
            print("burst lost", LOSS[i], "drain", STATES[i // n], "loop", PHASES[i % n])
    for k in range(p[_P_LOSS_N]):
        o = k * 5
        print(
            "burst loss frame %d at %d cycles: drain %s, loop %s, op 0x%02x"
            % (
                LOSSES[o],
                LOSSES[o + 1],
                STATES[LOSSES[o + 2]],
                PHASES[LOSSES[o + 3]],
                LOSSES[o + 4],
            )
        )
    for i in range(len(p)):
        p[i] = 0
    p[_P_DEFER_AT] = -1
    for i in range(len(LOSS)):
        LOSS[i] = 0


def burst_phase(app, board, t):
    """The two wirings, each over 3 s of the loop (about 30 bursts): soft (the ESP32's,
    the boards before) and hard (boards/rp2040)."""
    global PROBE, LOSS, LOSSES
    PROBE = array("i", (0,) * 16)
    LOSS = array("i", (0,) * (len(STATES) * len(PHASES)))
    LOSSES = array("i", (0,) * (_LOSS_KEEP * 5))
    can = board.can
    img, rxb1 = burst_frames(app)
    clock = FrameClock(board, img, rxb1)
    for i, name in enumerate(PHASES):
        if i:
            _phased(app, name, i)
    PROBE[_P_DEFER_AT] = -1
    WIRE[0] = 1
    for name, wiring in (("soft", SOFT), ("", HARD)):
        BURST_STATE[_WIRING] = wiring
        BURST_STATE[_BURSTS] = 0
        BURST_STATE[_LOST] = 0
        BURST_STATE[_DRAIN_CYCLES] = 0
        got0 = can.received
        dropped0 = can.rx_ring_dropped
        errors0 = can.irq_errors
        exc0 = app.exceptions
        run_burst(app, board, clock, t, t + 3000, 5)
        t += 3000
        key = "rp2040_can_burst_" + (name + "_" if name else "")
        print(key + "frames", BURST_STATE[_BURSTS] * BURST)
        print(key + "received", can.received - got0)
        print(key + "lost", BURST_STATE[_LOST] + can.rx_ring_dropped - dropped0)
        # the pace the frames arrived at, by the chip's clock (they never wait for the
        # handler); and the hard handler's cycles per frame received, which must stay
        # below a frame time (27 750) for a long burst
        print(key + "frame_us", _FRAME_CYCLES // 125)
        if wiring == HARD:
            got = max(1, can.received - got0)
            print("rp2040_can_drain_cycles_per_frame", BURST_STATE[_DRAIN_CYCLES] // got)
            # the same calls by the chip's clock, the SPI bytes' wire time included: the
            # time the frames arrive by
            print("rp2040_can_drain_chip_cycles_per_frame", PROBE[_P_HANDLER_CHIP] // got)
        burst_probe(key)
        # errors the handler met (a hard one that allocates meets MemoryError): 0
        print(key + "irq_errors", can.irq_errors - errors0)
        if app.exceptions != exc0:
            print("burst exceptions", app.exceptions - exc0, getattr(app, "last_exception", None))
    WIRE[0] = 0
    for name in PHASES[1:]:
        delattr(app, name)
    clock.close()
    board.spi.clock = None


def live_ticks(app, board, t):
    """The tick over 2 s of readings that move from one tick to the next (I2C_LIVE, the
    simulated chip's noise), as a real front end's do: with the same reading at every
    tick (I2C_SERVICE, the figures above) the core's work that runs only when a reading
    moved (the limits, up to 40 000 cycles) runs once a second instead. Returns the
    meter (its average: rp2040_tick_live_cycles)."""
    meter = Meter(app, "tick")
    run(app, board, t, t + 2000, 5, rec.I2C_LIVE)
    meter.remove()
    board.i2c.replies = rec.I2C_SERVICE
    return meter


def master_phase(app, board, t):
    """The master of a full system (32 packs): the 31 others' pack-link frames, each
    pack's eleven in turn (about 341 frames a second, as 31 packs send them), while the loop
    runs; then the master's tick, and its heap once the bench's burst objects are gone:
    rp2040_heap_free_master_bytes (tools/bench_rp2040.py gives the bench's code back as
    for the service figure). A lone pack (the service figure) never loads the system's
    module (packsystem.py) nor builds its table."""
    global PROBE, LOSS, LOSSES
    PROBE = LOSS = LOSSES = None
    from protocols import packlink_can as pl

    spi = board.spi
    data = bytearray(8)
    frames = SLAVES * pl.N_MSGS
    k = 0
    exc0 = app.exceptions
    uart = board.uart
    for t1, metered in ((t + 4000, False), (t + 6000, True)):
        if metered:
            # the bench's own feeding allocates (about 30 KB in these 4 s): collected here,
            # its garbage no longer brings a collection into a metered tick, which
            # counted 3 M cycles to one tick in some runs and none in others
            gc.collect()
            tick = Meter(app, "tick")
            tx0 = uart.tx_bytes
        now = t
        beat = t  # the inverter's heartbeat, each second
        ask = t + 550  # the RS485 inverter's request for the system, each second
        while now < t1:
            if now >= beat:
                spi.deliver(0x305, bytes(8))
                beat += 1000
            if metered and now >= ask:
                uart.inject(rec.PYLON_SYSTEM)
                ask += 1000
            if app.bms.chg:
                board.i2c.replies = rec.I2C_SERVICE
            src = 2 + k % SLAVES
            msg = 1 + (k // SLAVES) % pl.N_MSGS
            pl.encode(msg, data, app.bms, False)  # the bench pack's values, for every pack
            if spi.deliver_ext(pl.can_id(msg, src), data):
                k = (k + 1) % frames
            wait = app.poll(now)
            now += wait if 0 < wait < 3 else 3
        t = t1
    tick.remove()
    packs = app.link.packlink.packs
    print("master packs", packs.count if packs is not None else 0, "lost", packs and packs.lost)
    if app.exceptions != exc0:
        print("master exceptions", app.exceptions - exc0, getattr(app, "last_exception", None))
    print("rp2040_tick_master_cycles", tick.avg())
    # the system's answer (0x42, INFO FF: a block for each pack, about 4 KB), each second
    print("rp2040_master_system_reply_bytes", (uart.tx_bytes - tx0) // 2)
    # the answers refused for want of a piece of heap that large (RTN 91)
    print("rp2040_master_system_no_room", app.link.server.no_room)
    gc.collect()
    print("rp2040_heap_free_master_bytes", gc.mem_free())
    import sys

    print("master_modules", " ".join(sorted(m for m in sys.modules if m[:5] != "bench")))
    print("largest_free master")
    micropython.mem_info()


def main():
    _calibrate()
    board = BenchBoard()
    app = App(board)
    afe = board.afe
    afe.crc = afe.crc_seen = afe.configured = True
    app._afe_setup = lambda now, reprobe=False: True  # the boot configuration: not timed
    app.start(0)
    gc.collect()
    free_boot = gc.mem_free()
    print("largest_free boot")
    micropython.mem_info()
    run(app, board, 0, 6000, 5)  # past boot settle and pre-charge, into service
    b = app.bms
    print("mode", b.mode, "valid", app.sample.valid, "fets", b.chg, b.dsg, b.protection_names())
    print("exceptions", app.exceptions, getattr(app, "last_exception", None))
    # the tick's parts first, in a pass of their own (their meters would count in it)
    read = Meter(afe, "read")
    core = Meter(app.bms, "step", 4)
    run(app, board, 6000, 8000, 5)
    read.remove()
    core.remove()
    tick = Meter(app, "tick")
    led = Meter(app, "led_beat")
    comms = CommsMeter(app, board)
    house = Meter(app, "housekeeping")
    sent0 = board.spi.sent
    replies0 = board.uart.replies
    seconds = 5
    t = 8000 + seconds * 1000
    run(app, board, 8000, t, 5)
    frames = board.spi.sent - sent0
    replies = board.uart.replies - replies0
    total = tick.total() + led.total() + comms.total() + house.total()
    per_100ms = total // (seconds * 10)
    for m in (tick, led, comms, house):
        m.remove()
    live = live_ticks(app, board, t)  # (before the Heap meters: their walks cost cycles)
    heaps = (Heap(app, "tick"), Heap(app, "led_beat"), Heap(app, "comms"))
    run(app, board, t + 2000, t + 4000, 5)
    gc.collect()
    free_service = gc.mem_free()
    print("rp2040_tick_cycles", tick.avg())
    print("rp2040_tick_worst_cycles", tick.worst())
    print("rp2040_tick_read_cycles", read.avg())
    print("rp2040_tick_core_cycles", core.avg())
    print("rp2040_tick_rest_cycles", tick.avg() - read.avg() - core.avg())
    print("rp2040_tick_live_cycles", live.avg())
    print("rp2040_tick_live_worst_cycles", live.worst())
    print("rp2040_led_beat_cycles", led.avg())
    c = comms.acc
    print("rp2040_idle_poll_cycles", c[0] // max(1, c[1]))
    print("rp2040_idle_poll_worst_cycles", c[8])
    print("rp2040_can_frame_cycles", c[2] // max(1, c[3]))
    print("rp2040_can_poll_worst_cycles", c[7])
    print("rp2040_rs485_reply_cycles", c[4] // max(1, c[5]))
    print("rp2040_rs485_reply_worst_cycles", c[6])
    print("rp2040_housekeeping_cycles", house.avg())
    print("rp2040_cycles_per_100ms", per_100ms)
    print("rp2040_can_frames_per_s", frames // seconds)
    print("rp2040_rs485_replies_per_s", replies // seconds)
    print("rp2040_fake_call_cycles", FAKE_CALL[0])
    print("rp2040_fake_chip_call_cycles", FAKE_CHIP_CALL[0])
    print("rp2040_pin_read_cycles", PIN_CALL[0])
    print("rp2040_heap_total_bytes", gc.mem_free() + gc.mem_alloc())
    print("rp2040_heap_imports_bytes", _FREE_BENCH - _FREE_IMPORTED)
    print("rp2040_heap_bench_defs_bytes", _FREE_BEFORE - _FREE_BENCH)
    print("rp2040_heap_free_start_bytes", _FREE_BEFORE)
    print("rp2040_heap_free_boot_bytes", free_boot)
    print("rp2040_heap_free_service_bytes", free_service)
    # the heap's largest free piece (tools/bench_rp2040.py reads mem_info's max free sz)
    print("largest_free service")
    micropython.mem_info()
    # the store's files, here in the heap (RamFs), on a board in flash: each a bytes
    # object (16 B) and its data (GC blocks of 16 B)
    files = board.store.fs.files.values()
    print("rp2040_heap_ramfs_bytes", sum(16 + (len(b) + 16) // 16 * 16 for b in files))
    print("rp2040_alloc_bytes_per_tick", heaps[0].per_call())
    print("rp2040_alloc_bytes_per_led_beat", heaps[1].per_call())
    print("rp2040_alloc_bytes_per_comms_poll", heaps[2].per_call())
    # 0 when each heartbeat the fake delivered was read as one (READ STATUS, RX STATUS,
    # READ RX BUFFER answered as the chip does); else the CAN figures leave the receiving out
    print("rp2040_can_heartbeats_missed", board.spi.delivered - app.link.heartbeats)
    # the driver's count of receive overruns (EFLG RX0OVR/RX1OVR, read by its check())
    print("rp2040_can_rx_overflows", board.can.rx_overflows)
    # the firmware modules held in service (tools/rp2040_heap.py sets them beside their cost)
    import sys

    print("service_modules", " ".join(sorted(m for m in sys.modules if m[:5] != "bench")))
    # the interned names: every module's, kept after it is dropped (each is listed for
    # tools/bench_rp2040.py, which takes out the bench's own)
    micropython.qstr_info(1)
    # last: they load more (the DMA frame clock, the master's system)
    burst_phase(app, board, t + 4000)
    master_phase(app, board, t + 10000)


main()
