"""Strict fake `machine` modules, one per chip, for building the chip boards on the host.

Each refuses what its chip cannot do and records what was built, so a board file with a
wrong pin, bus or argument fails its test (host_tests/test_boards.py) before it meets
silicon. The rules are the chips' documented facts:

RP2040 (datasheet 2.19.2, the GPIO function table; MicroPython's ports/rp2 checks the
same): UARTn TX on pins with pin % 4 == 0 and RX on pin % 4 == 1, UART0 on GP0-3,
12-19, 28-29 and UART1 on GP4-11, 20-27; I2Cn SDA on even and SCL on odd pins, I2C0 on
GP0-1, 4-5, 8-9... and I2C1 on GP2-3, 6-7...; SPI0 on GP0-7 and 16-23, SPI1 on GP8-15
and 24-29, with RX (MISO) at pin % 4 == 0, SCK at 2 and TX (MOSI) at 3. A Pico brings
GP0-22 and GP26-28 to its header (GP23-25 and 29 run its power supply, VBUS sense and
LED). WDT up to 8388 ms. UART buffers 32-32766 bytes.

ESP32 (ESP32-WROOM-32 datasheet, ESP32 technical reference: IO_MUX and GPIO matrix):
every output-capable GPIO can carry I2C, SPI and UART through the matrix, except GPIO6-11
(the module's SPI flash) and GPIO1/3 (UART0, the USB console; UART id 0 is refused too).
GPIO34-39 are inputs only and have no pull resistors. Strapping pins GPIO0, 2, 5, 12
and 15 are sampled at reset: refused for every Pin (its circuit is unknown here: a
switch, a pull, a load) and every input or bidirectional function; only UART TX and
SPI SCK/MOSI may use them (logic outputs of the ESP32 that nothing else drives). The
module has no GPIO20, 24, 28-31, 37 or 38. SPI ids 1 (HSPI) and 2 (VSPI), I2C 0 and 1,
UART 1 and 2; UART buffers 0 or more than the 128-byte FIFO.
"""


class Refused(ValueError):
    """The chip cannot do what a board asked."""


RP2040 = "rp2040"
ESP32 = "esp32"
_PICO_HEADER = tuple(range(23)) + (26, 27, 28)
_ESP32_GPIOS = tuple(range(20)) + (21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 39)
_ESP32_FLASH = (6, 7, 8, 9, 10, 11)
_ESP32_CONSOLE = (1, 3)
_ESP32_INPUT_ONLY = (34, 35, 36, 39)
_ESP32_STRAPPING = (0, 2, 5, 12, 15)
# functions that drive the line (an input-only pin cannot), and those a strapping pin may
# carry
_OUTPUTS = ("out", "uart_tx", "spi_sck", "spi_mosi", "i2c_scl", "i2c_sda")
_STRAP_OK = ("uart_tx", "spi_sck", "spi_mosi")


def _rp2040_function_ok(function, bus_id, n):
    """Whether RP2040 GPIO n has this peripheral function on this bus (the table)."""
    if function in ("uart_tx", "uart_rx"):
        return ((n + 4) & 8) >> 3 == bus_id and n & 3 == (0 if function == "uart_tx" else 1)
    if function in ("i2c_sda", "i2c_scl"):
        return (n & 2) >> 1 == bus_id and n & 1 == (0 if function == "i2c_sda" else 1)
    if function in ("spi_miso", "spi_sck", "spi_mosi"):
        want = {"spi_miso": 0, "spi_sck": 2, "spi_mosi": 3}[function]
        return (n & 8) >> 3 == bus_id and n & 3 == want
    return True


def make(chip):
    """A fresh fake `machine` module for chip (RP2040 or ESP32)."""
    return _Machine(chip)


class _Machine:
    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3
    DEEPSLEEP_RESET = 4
    SOFT_RESET = 5

    def __init__(self, chip):
        if chip not in (RP2040, ESP32):
            raise ValueError(chip)
        self.chip = chip
        self.claims = {}  # GPIO -> (function, who)
        self.built = []  # (kind, id, {argument: value}) in the order made
        self.resets = 0
        m = self
        self.Pin = _pin_class(m)
        self.I2C = _i2c_class(m)
        self.SPI = _spi_class(m)
        self.UART = _uart_class(m)
        self.WDT = _wdt_class(m)

    def reset_cause(self):
        return self.PWRON_RESET

    def unique_id(self):
        return bytes(range(1, 9)) if self.chip == RP2040 else bytes(range(1, 7))  # MAC: 6

    def reset(self):
        self.resets += 1

    # -- the rules -------------------------------------------------------------------
    def check_gpio(self, n):
        if type(n) is not int:
            raise Refused("a GPIO is a number, not %r" % (n,))
        if self.chip == RP2040:
            if n not in _PICO_HEADER:
                raise Refused("GP%d is not on the Pico's header" % n)
            return
        if n in _ESP32_FLASH:
            raise Refused("GPIO%d belongs to the ESP32 module's SPI flash" % n)
        if n in _ESP32_CONSOLE:
            raise Refused("GPIO%d is UART0, the USB console" % n)
        if n not in _ESP32_GPIOS:
            raise Refused("the ESP32-WROOM-32 has no GPIO%d" % n)

    def claim(self, n, function, who, bus_id=0):
        """Give GPIO n one function; a pin is claimed once."""
        self.check_gpio(n)
        if n in self.claims:
            raise Refused(
                "GPIO%d already used as %s by %s" % (n, self.claims[n][0], self.claims[n][1])
            )
        if self.chip == RP2040:
            if not _rp2040_function_ok(function, bus_id, n):
                raise Refused("GP%d cannot be %s of bus %d on an RP2040" % (n, function, bus_id))
        else:
            if n in _ESP32_INPUT_ONLY and function in _OUTPUTS:
                raise Refused("GPIO%d is input-only: it cannot be %s" % (n, function))
            if n in _ESP32_STRAPPING and function not in _STRAP_OK:
                raise Refused("GPIO%d is a strapping pin: not for %s" % (n, function))
        self.claims[n] = (function, who)

    def gpio_of(self, pin):
        if pin is None:
            return None
        return pin.id if isinstance(pin, self.Pin) else pin


def _pin_class(m):
    class Pin:
        IN = 0
        OUT = 1
        OPEN_DRAIN = 2
        PULL_UP = 1
        PULL_DOWN = 2
        IRQ_FALLING = 4
        IRQ_RISING = 8

        def __init__(self, id, mode=-1, pull=-1, *, value=None):
            m.check_gpio(id)
            self.id = id
            self.mode = None
            self.level = 0
            self.writes = 0
            if mode != -1:
                function = "in" if mode == self.IN else "out"
                if mode not in (self.IN, self.OUT, self.OPEN_DRAIN):
                    raise Refused("unknown pin mode %r" % (mode,))
                if pull not in (-1, None, self.PULL_UP, self.PULL_DOWN):
                    raise Refused("unknown pull %r" % (pull,))
                if m.chip == ESP32 and id in _ESP32_INPUT_ONLY and pull in (1, 2):
                    raise Refused("GPIO%d has no pull resistors (GPIO34-39)" % id)
                m.claim(id, function, "Pin")
                self.mode = mode
                m.built.append(("Pin", id, {"mode": mode, "pull": pull, "value": value}))
            if value is not None:
                self.level = 1 if value else 0

        def value(self, x=None):
            if x is None:
                return self.level
            self.level = 1 if x else 0
            self.writes += 1
            return None

        __call__ = value

        def on(self):
            self.value(1)

        def off(self):
            self.value(0)

        def irq(self, handler=None, trigger=12, hard=False):
            # only an input can interrupt, with a handler and an edge this Pin knows
            if self.mode != self.IN:
                raise Refused("GPIO%d: an interrupt on a pin that is not an input" % self.id)
            if handler is not None and not callable(handler):
                raise Refused("GPIO%d: the interrupt handler is not callable" % self.id)
            if trigger & ~(self.IRQ_FALLING | self.IRQ_RISING) or not trigger:
                raise Refused("GPIO%d: unknown trigger %r" % (self.id, trigger))
            if hard and m.chip == ESP32:
                raise Refused("GPIO%d: the ESP32 port has no hard pin interrupts" % self.id)
            m.built.append(
                ("irq", self.id, {"handler": handler, "trigger": trigger, "hard": hard})
            )
            return None

    return Pin


def _i2c_class(m):
    class I2C:
        def __init__(self, id, *, scl, sda, freq=400000, timeout=50000):
            if id not in (0, 1):
                raise Refused("no I2C%r" % (id,))
            if not 0 < freq <= 1000000:
                raise Refused("I2C at %r Hz" % (freq,))
            m.claim(m.gpio_of(scl), "i2c_scl", "I2C%d" % id, id)
            m.claim(m.gpio_of(sda), "i2c_sda", "I2C%d" % id, id)
            self.args = {"scl": m.gpio_of(scl), "sda": m.gpio_of(sda), "freq": freq}
            m.built.append(("I2C", id, self.args))

        def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
            raise OSError(19)  # nobody on the bus: the board's test builds, never talks

        def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
            raise OSError(19)

        def scan(self):
            return []

    return I2C


def _spi_class(m):
    class SPI:
        MSB = 0
        LSB = 1

        def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, bits=8, sck, mosi, miso):
            ids = (0, 1) if m.chip == RP2040 else (1, 2)
            if id not in ids:
                raise Refused("no SPI %r on the %s" % (id, m.chip))
            if polarity not in (0, 1) or phase not in (0, 1) or bits != 8:
                raise Refused("SPI mode %r/%r, %r bits" % (polarity, phase, bits))
            if not 0 < baudrate <= 80000000:
                raise Refused("SPI at %r Hz" % (baudrate,))
            for pin, function in ((sck, "spi_sck"), (mosi, "spi_mosi"), (miso, "spi_miso")):
                m.claim(m.gpio_of(pin), function, "SPI%d" % id, id)
            self.args = {
                "sck": m.gpio_of(sck),
                "mosi": m.gpio_of(mosi),
                "miso": m.gpio_of(miso),
                "baudrate": baudrate,
                "polarity": polarity,
                "phase": phase,
            }
            self.transfers = []
            m.built.append(("SPI", id, self.args))

        def write(self, buf):
            self.transfers.append(bytes(buf))

        def write_readinto(self, wbuf, rbuf):
            self.transfers.append(bytes(wbuf))
            for i in range(len(rbuf)):
                rbuf[i] = 0

        def readinto(self, buf, write=0):
            for i in range(len(buf)):
                buf[i] = 0

    return SPI


def _uart_class(m):
    class UART:
        def __init__(
            self,
            id,
            baudrate=115200,
            bits=8,
            parity=None,
            stop=1,
            *,
            tx,
            rx,
            txbuf=256,
            rxbuf=256,
            timeout=0,
            timeout_char=0,
        ):
            if m.chip == RP2040:
                if id not in (0, 1):
                    raise Refused("no UART%r on the RP2040" % (id,))
                for size in (txbuf, rxbuf):
                    if not 32 <= size <= 32766:
                        raise Refused("UART buffer of %r bytes" % (size,))
            else:
                if id == 0:
                    raise Refused("UART0 is the ESP32's USB console")
                if id not in (1, 2):
                    raise Refused("no UART%r on the ESP32" % (id,))
                for size in (txbuf, rxbuf):
                    if size and size <= 128:
                        raise Refused("an ESP32 UART buffer is 0 or over 128 bytes")
            m.claim(m.gpio_of(tx), "uart_tx", "UART%d" % id, id)
            m.claim(m.gpio_of(rx), "uart_rx", "UART%d" % id, id)
            self.args = {
                "tx": m.gpio_of(tx),
                "rx": m.gpio_of(rx),
                "baudrate": baudrate,
                "txbuf": txbuf,
                "rxbuf": rxbuf,
                "timeout": timeout,
            }
            m.built.append(("UART", id, self.args))

        def init(self, baudrate=9600, bits=8, parity=None, stop=1, *, timeout=0, **kw):
            self.args["baudrate"] = baudrate

        def any(self):
            return 0

        def readinto(self, buf, nbytes=-1):
            return None

        def write(self, buf):
            return len(buf)

        def txdone(self):
            return True

    return UART


def _wdt_class(m):
    class WDT:
        def __init__(self, id=0, timeout=5000):
            if id != 0:
                raise Refused("WDT id %r" % (id,))
            if m.chip == RP2040 and not 0 < timeout <= 8388:
                raise Refused("the RP2040's watchdog takes at most 8388 ms, not %r" % timeout)
            if timeout <= 0:
                raise Refused("WDT timeout %r" % (timeout,))
            self.timeout = timeout
            self.fed = 0
            m.built.append(("WDT", id, {"timeout": timeout}))

        def feed(self):
            self.fed += 1

    return WDT
