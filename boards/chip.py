"""What the two chip boards (boards/rp2040, boards/esp32) share beyond their pin maps.

- LittleFs: the store's filesystem (drivers/store.py takes open/remove/rename/stat): a
  folder on the flash filesystem MicroPython mounts at boot (littlefs v2 on both ports),
  so the event log and the state sit apart from the code.
- ChipBoard: the buses and drivers built from a board's pin map and bus numbers (the
  constants of its board.py), the clock, the sleep between polls, the reset cause and
  the restart, from MicroPython's time and machine modules, and expander pin names to
  bit numbers.
"""

import os
import time

import machine
from machine import I2C, SPI, UART, WDT, Pin

from drivers.bq76952 import BQ76952
from drivers.drycontact import DryContact
from drivers.fets import Fets
from drivers.mcp23s17 import IN, OUT, Mcp23s17
from drivers.mcp2515 import MCP2515, RING_FRAMES
from drivers.panel import Panel
from drivers.rs485 import Rs485
from drivers.store import Store

DATA_DIR = "/data"
# the MCP23S17 expander's pins by name, as its datasheet prints them
_PORTS = ("GPA", "GPB")


def expander_bit(name):
    """'GPA0'..'GPB7' -> 0..15 (drivers.mcp23s17's pin numbers)."""
    return _PORTS.index(name[:3]) * 8 + int(name[3])


class LittleFs:
    def __init__(self, root=None):
        """root: the folder (DATA_DIR unless given); made if it is not there."""
        if root is None:
            root = DATA_DIR
        self.root = root
        try:
            os.mkdir(root)
        except OSError:
            pass  # there already (or the store's opens will say what is wrong)

    def _path(self, name):
        return self.root + "/" + name

    def open(self, name, mode="r"):
        return open(self._path(name), mode)

    def mkdir(self, name):
        os.mkdir(self._path(name))

    def remove(self, name):
        os.remove(self._path(name))

    def rename(self, old, new):
        # littlefs replaces an existing destination atomically (what the store relies on)
        os.rename(self._path(old), self._path(new))

    def stat(self, name):
        return os.stat(self._path(name))


class NoWatchdog:
    """In the watchdog's place when a tool (tools/selftest.py) drives the board: a
    started machine.WDT cannot be stopped, and a self-test does not feed it."""

    def feed(self):
        pass


class ChipBoard:
    """The part of a chip board that is not its pin map (see board.py beside each)."""

    restart_requested = False
    input_pull_up = True  # the GPIO inputs use the chip's pull-ups (else the board's)
    # the MCP2515's INT handler as a hard interrupt, which keeps up with a CAN burst
    # inside any C call (the RP2040), or a soft one (the ESP32 has no hard pin
    # interrupts): see drivers/mcp2515.py
    can_irq_hard = False

    def build(self, c, watchdog):
        """The buses and the pack's drivers from c, a board.py's constants (PINS, I2C_ID,
        SPI_ID, UART_LINK_IN, UART_LINK_OUT and the rest); watchdog: start it."""
        p = c["PINS"]
        self._pins = p
        self._uart_buf = c["UART_BUF"]
        out = Pin.OUT
        # the FET pins first, at their safe level, before anything else can take time
        cfetoff = Pin(p["AFE_CFETOFF"], out, value=1)
        dfetoff = Pin(p["AFE_DFETOFF"], out, value=1)
        pre = Pin(p["FET_PRECHARGE"], out, value=0)
        self.reverse_in = self._input("IN_REVERSE")
        self.alert = Pin(p["AFE_ALERT"], Pin.IN, Pin.PULL_UP)
        self.i2c = I2C(c["I2C_ID"], scl=Pin(p["I2C_SCL"]), sda=Pin(p["I2C_SDA"]), freq=c["I2C_HZ"])
        self.afe = BQ76952(self.i2c, r_sense_uohm=c["R_SENSE_UOHM"])
        self.fets = Fets(cfetoff, dfetoff, pre, self.reverse_in)
        can_cs = Pin(p["CAN_CS"], out, value=1)
        exp_cs = Pin(p["EXP_CS"], out, value=1)
        self.spi = SPI(
            c["SPI_ID"],
            baudrate=c["SPI_HZ"],
            polarity=0,
            phase=0,
            sck=Pin(p["SPI_SCK"]),
            mosi=Pin(p["SPI_MOSI"]),
            miso=Pin(p["SPI_MISO"]),
        )
        # the CAN controller first: the expander on the same bus takes it as its lock
        self.can_int = Pin(p["CAN_INT"], Pin.IN, Pin.PULL_UP)
        self.can = MCP2515(
            self.spi, can_cs, c["CAN_OSC_HZ"], self.can_int, time.sleep_us, RING_FRAMES
        )
        if self.can_irq_hard:
            self.can_int.irq(self.can.irq_handler, Pin.IRQ_FALLING, hard=True)
        else:  # (the ESP32 port's Pin.irq takes no `hard` argument)
            self.can_int.irq(self.can.irq_handler, Pin.IRQ_FALLING)
        self.expander = x = Mcp23s17(self.spi, exp_cs, self.can)
        relay_chg = x.pin(expander_bit(p["RELAY_CHG"]), OUT)
        relay_dsg = x.pin(expander_bit(p["RELAY_DSG"]), OUT)
        leds = [x.pin(expander_bit(p[n]), OUT) for n in c["LEDS"]]
        dip = [x.pin(expander_bit(p[n]), IN, True) for n in c["DIPS"]]
        self.panel = Panel(leds, dip, self._input("BTN_RESET"))
        passive = self._input("IN_PASSIVE")
        rsd = self._input("IN_RSD")
        self.dry = DryContact(relay_chg, relay_dsg, passive, rsd)
        self.rs485 = self._port(c["UART_LINK_IN"], "RS485_1_")
        self.rs485_out = self._port(c["UART_LINK_OUT"], "RS485_2_")
        self.store = Store(LittleFs())
        self.wdt = WDT(timeout=c["WDT_TIMEOUT_MS"]) if watchdog else NoWatchdog()

    def _input(self, name):
        if self.input_pull_up:
            return Pin(self._pins[name], Pin.IN, Pin.PULL_UP)
        return Pin(self._pins[name], Pin.IN)

    def _port(self, uart_id, prefix):
        p = self._pins
        de = Pin(p[prefix + "DE"], Pin.OUT, value=0)
        uart = UART(
            uart_id,
            baudrate=9600,
            tx=Pin(p[prefix + "TX"]),
            rx=Pin(p[prefix + "RX"]),
            txbuf=self._uart_buf,
            rxbuf=self._uart_buf,
            timeout=0,
        )
        return Rs485(uart, de, txbuf=self._uart_buf)

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def reset_cause(self):
        """machine.reset_cause(): PWRON_RESET 1, HARD_RESET 2, WDT_RESET 3,
        DEEPSLEEP_RESET 4, SOFT_RESET 5 on both ports, as the app logs it."""
        return machine.reset_cause()

    def restart(self):
        self.restart_requested = True
        machine.reset()
