"""ChipBoard.build() (boards/chip.py): the buses and the pack's drivers of a chip board,
loaded by bms.lazy for it and dropped after, so that its code does not stay in a board's
heap: a board is built once, at boot. NoWatchdog is here too: a board built with its
watchdog never makes one.
"""

from machine import I2C, SPI, UART, WDT, Pin

from boards.chip import LittleFs
from drivers.bq76952 import BQ76952
from drivers.drycontact import DryContact
from drivers.fets import Fets
from drivers.mcp23s17 import IN, OUT, Mcp23s17
from drivers.mcp2515 import MCP2515, RING_FRAMES
from drivers.panel import Panel
from drivers.rs485 import Rs485
from drivers.store import Store


class NoWatchdog:
    """In the watchdog's place when a tool (tools/selftest.py) drives the board: a
    started machine.WDT cannot be stopped, and a self-test does not feed it."""

    def feed(self):
        pass


# the MCP23S17 expander's pins by name, as its datasheet prints them
_PORTS = ("GPA", "GPB")


def expander_bit(name):
    """'GPA0'..'GPB7' -> 0..15 (drivers.mcp23s17's pin numbers)."""
    return _PORTS.index(name[:3]) * 8 + int(name[3])


def build(self, c, watchdog, sleep_us):
    """ChipBoard.build(c, watchdog): the buses and the pack's drivers from c, a
    board.py's constants (PINS, I2C_ID, SPI_ID, UART_LINK_IN, UART_LINK_OUT and the
    rest); watchdog: start it; sleep_us: the MCP2515's reset polls."""
    p = c["PINS"]
    pull = self.input_pull_up
    out = Pin.OUT
    # the FET pins first, at their safe level, before anything else can take time
    cfetoff = Pin(p["AFE_CFETOFF"], out, value=1)
    dfetoff = Pin(p["AFE_DFETOFF"], out, value=1)
    pre = Pin(p["FET_PRECHARGE"], out, value=0)
    self.reverse_in = _input(p, pull, "IN_REVERSE")
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
    self.can = MCP2515(self.spi, can_cs, c["CAN_OSC_HZ"], self.can_int, sleep_us, RING_FRAMES)
    if self.can_irq_hard:
        self.can_int.irq(self.can.irq_handler, Pin.IRQ_FALLING, hard=True)
    else:  # (the ESP32 port's Pin.irq takes no `hard` argument)
        self.can_int.irq(self.can.irq_handler, Pin.IRQ_FALLING)
    self.expander = x = Mcp23s17(self.spi, exp_cs, self.can)
    relay_chg = x.pin(expander_bit(p["RELAY_CHG"]), OUT)
    relay_dsg = x.pin(expander_bit(p["RELAY_DSG"]), OUT)
    leds = [x.pin(expander_bit(p[n]), OUT) for n in c["LEDS"]]
    dip = [x.pin(expander_bit(p[n]), IN, True) for n in c["DIPS"]]
    self.panel = Panel(leds, dip, _input(p, pull, "BTN_RESET"))
    passive = _input(p, pull, "IN_PASSIVE")
    rsd = _input(p, pull, "IN_RSD")
    self.dry = DryContact(relay_chg, relay_dsg, passive, rsd)
    self.rs485 = _port(p, c["UART_LINK_IN"], "RS485_1_", c["UART_BUF"])
    self.rs485_out = _port(p, c["UART_LINK_OUT"], "RS485_2_", c["UART_BUF"])
    self.store = Store(LittleFs())
    self.wdt = WDT(timeout=c["WDT_TIMEOUT_MS"]) if watchdog else NoWatchdog()


def _input(p, pull_up, name):
    """An input pin, with the chip's pull-up when the board uses them."""
    if pull_up:
        return Pin(p[name], Pin.IN, Pin.PULL_UP)
    return Pin(p[name], Pin.IN)


def _port(p, uart_id, prefix, buf):
    """An RS485 port: its UART (buf: the UART's buffers and the driver's) and DE pin."""
    de = Pin(p[prefix + "DE"], Pin.OUT, value=0)
    uart = UART(
        uart_id,
        baudrate=9600,
        tx=Pin(p[prefix + "TX"]),
        rx=Pin(p[prefix + "RX"]),
        txbuf=buf,
        rxbuf=buf,
        timeout=0,
    )
    return Rs485(uart, de, txbuf=buf)
