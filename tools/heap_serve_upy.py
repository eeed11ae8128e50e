"""Boot and serve inside a chip-sized heap (run by host_tests/test_heap.py).

    MICROPYPATH=tools:.frozen micropython -X heapsize=N -m heap_serve_upy MPYDIR REPLIES_DIR
    MICROPYPATH=tools:.frozen micropython -X heapsize=N -m heap_serve_upy IMAGE.romfs REPLIES_DIR

The firmware from MPYDIR (.mpy files for the unix port, loaded into the heap as `make
flash` copies them to a board), or executed in place from a ROMFS image of those files
(mounted with vfs.VfsRom, as frozen modules run: bytecode and constants stay where the
image is; the image sits in this heap here, in flash on a board), and the App with its
real drivers on small fakes of its buses (as tools/bench_rp2040_chip.py does on the
emulated Pico): the BQ76952's measurement replies recorded from the simulated pack
(REPLIES_DIR/bench_replies.py, written by tools/bench_rp2040.py's record_replies), a
register-level MCP2515 that sends at once and receives the inverter's 0x305 each
second, the RS485 port with an inverter's requests (0x4F, 0x51 and 0x47 at its start,
then 0x42 each second). No simulated world
shares the heap, so a MemoryError here is the firmware's. Prints the heap held after
boot and in service, and exits 1 on a MemoryError. The same script runs unchanged on
the emulated RP2040 (a Pico's heap, 32-bit), which is how test_heap.py's 64-bit
heap sizes are calibrated.
"""

import sys

import vfs

_FIRMWARE = sys.argv[1]
if _FIRMWARE.endswith(".romfs"):
    import os

    # read into one buffer of its size: a growing read would leave holes in the heap
    _IMAGE = bytearray(os.stat(_FIRMWARE)[6])
    with open(_FIRMWARE, "rb") as _f:
        _f.readinto(_IMAGE)
    vfs.mount(vfs.VfsRom(_IMAGE), "/rom")
    _FIRMWARE = "/rom"
else:
    # Each module's __file__ is an interned name in the heap: under the checkout's own
    # path the figures grew with its length (CI's deeper checkout held 800 B more).
    # Mounted at /lib they are named as on a board, wherever the tree is (the mount
    # keeps its root's absolute path: about 150 B between a short and a deep tree).
    vfs.mount(vfs.VfsPosix(_FIRMWARE), "/lib")
    _FIRMWARE = "/lib"
vfs.mount(vfs.VfsPosix(sys.argv[2]), "/rec")
sys.path[:0] = [_FIRMWARE, "/rec"]

import gc  # noqa: E402

gc.collect()
_BASE = gc.mem_alloc()

import bench_replies as rec  # noqa: E402

_CANINTF = 0x2C


class Pin:
    def __init__(self, level=1):
        self.level = level

    def value(self, x=None):
        if x is None:
            return self.level
        self.level = 1 if x else 0


class I2C:
    def __init__(self, replies):
        self.replies = replies

    def readfrom_mem_into(self, addr, reg, buf):
        reply = self.replies.get(reg << 8 | len(buf))
        if reply is None:
            raise OSError(5)
        for i in range(len(buf)):
            buf[i] = reply[i]

    def writeto_mem(self, addr, reg, buf):
        pass


class Mcp2515Spi:
    """The MCP2515's instructions on a register file (modes, TX at once, one RX)."""

    def __init__(self):
        self.r = bytearray(128)
        self.r[0x0E] = 0x80
        self.r[0x0F] = 0x87
        self.sent = 0

    def deliver(self, std_id):
        r = self.r
        r[0x61] = std_id >> 3
        r[0x62] = (std_id & 7) << 5
        r[0x65] = 8
        r[_CANINTF] |= 0x01

    def write_readinto(self, w, rd):
        r = self.r
        op = w[0]
        n = len(w)
        if op == 0xC0:
            for i in range(128):
                r[i] = 0
            r[0x0E] = 0x80
            r[0x0F] = 0x87
        elif op == 0x03:
            for i in range(2, n):
                x = (w[1] + i - 2) & 0x7F
                rd[i] = r[0x0E | (x & 1)] if x & 0x0E == 0x0E else r[x]
        elif op == 0x02 or op == 0x05:
            a = w[1]
            if op == 0x02:
                for i in range(2, n):
                    r[(a + i - 2) & 0x7F] = w[i]
            else:
                r[a] = (r[a] & ~w[2]) | (w[3] & w[2])
            r[0x0E] = (r[0x0E] & 0x1F) | (r[0x0F] & 0xE0)
        elif op == 0xA0:
            for i in range(1, n):
                rd[i] = r[_CANINTF] & 0x03
        elif op & 0xF8 == 0x80:
            self.sent += 1
        elif op & 0xF9 == 0x90:
            a = 0x61 if op & 4 == 0 else 0x71
            for i in range(1, n):
                rd[i] = r[a + i - 1]
            r[_CANINTF] &= ~(1 if op & 4 == 0 else 2)


class Uart:
    def __init__(self):
        self.rx = bytearray(64)
        self.n = 0
        self.at = 0
        self.replies = 0

    def init(self, **kw):
        pass

    def inject(self, data):
        for i in range(len(data)):
            self.rx[i] = data[i]
        self.n = len(data)
        self.at = 0

    def any(self):
        return self.n - self.at

    def readinto(self, buf):
        k = 0
        while k < len(buf) and self.at < self.n:
            buf[k] = self.rx[self.at]
            self.at += 1
            k += 1
        return k if k else None

    def write(self, data):
        self.replies += 1
        return len(data)

    def txdone(self):
        return True


class RamFs:
    def __init__(self):
        self.files = {}

    def open(self, name, mode="r"):
        from io import BytesIO, StringIO

        if "r" in mode:
            if name not in self.files:
                raise OSError(2)
            data = self.files[name]
            return BytesIO(data) if "b" in mode else StringIO(data.decode())
        fs = self

        class _W:
            def __init__(self):
                self.data = bytearray(fs.files.get(name, b"")) if "a" in mode else bytearray()

            def write(self, b):
                self.data += b if type(b) is not str else b.encode()
                return len(b)

            def close(self):
                fs.files[name] = bytes(self.data)

            def __enter__(self):
                return self

            def __exit__(self, *a):
                self.close()

        return _W()

    def remove(self, name):
        self.files.pop(name, None)

    def rename(self, a, b):
        self.files[b] = self.files.pop(a)


class Wdt:
    def feed(self):
        pass


class Board:
    def __init__(self):
        from drivers.bq76952 import BQ76952
        from drivers.drycontact import DryContact
        from drivers.fets import Fets
        from drivers.mcp2515 import MCP2515
        from drivers.panel import Panel
        from drivers.rs485 import Rs485
        from drivers.store import Store

        self.i2c = I2C(rec.I2C_BOOT)
        self.afe = BQ76952(self.i2c, r_sense_uohm=rec.R_SENSE_UOHM)
        self.fets = Fets(Pin(), Pin(), Pin(0), Pin())
        self.panel = Panel([Pin(0) for _ in range(7)], [Pin() for _ in range(7)], Pin())
        self.dry = DryContact(Pin(0), Pin(0), Pin(), Pin())
        self.wdt = Wdt()
        self.store = Store(RamFs())
        self.spi = Mcp2515Spi()
        self.can = MCP2515(self.spi, Pin(), 8000000, None)
        self.uart = Uart()
        self.rs485 = Rs485(self.uart, Pin(0))
        self.rs485_out = None  # Link OUT: no next pack on this bench

    def reset_cause(self):
        return 1

    def unique_id(self):
        return b"\xe6\x61\x41\x04\x03\x2b\x1a\x01"

    def restart(self):
        pass


def main():
    try:
        from app import App

        board = Board()
        app = App(board)
        afe = board.afe
        afe.crc = afe.crc_seen = afe.configured = True
        app._afe_setup = lambda now, reprobe=False: True  # the chip's boot configuration
        app.start(0)
        gc.collect()
        boot = gc.mem_alloc() - _BASE
        now = 0
        while now < 60000:
            if now % 1000 == 0:
                board.spi.deliver(0x305)
            if now % 1000 == 550:
                board.uart.inject(rec.PYLON_POLLS[min(now // 1000, 3)])
            if app.bms.chg:
                board.i2c.replies = rec.I2C_SERVICE
            wait = app.poll(now)
            now += wait if 0 < wait < 5 else 5
        gc.collect()
        service = gc.mem_alloc() - _BASE
    except MemoryError as exc:
        sys.print_exception(exc)
        print("MemoryError:", exc)
        return 1
    print(
        "boot %d service %d heap %d mode %d replies %d frames %d exceptions %d"
        % (
            boot,
            service,
            gc.mem_alloc() + gc.mem_free(),
            app.bms.mode,
            board.uart.replies,
            board.spi.sent,
            app.exceptions,
        )
    )
    return 0


sys.exit(main())
