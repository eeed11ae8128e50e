"""The RP2040 board: a Raspberry Pi Pico's pin map, its buses and the pack's drivers.

What boards/host/board.py builds on simulated buses, built here on the Pico's: the
BQ76952 on I2C1 at 400 kHz, the MCP2515 (8 MHz crystal) and the MCP23S17 panel expander
on SPI0, RS485 port 1 (Link IN) on UART0 and port 2 (Link OUT) on UART1, each with its
transceiver's DE (/RE tied to it), and the GPIOs. Every pin is in PINS, once; each one
is a pin the RP2040's GPIO function table gives that function (datasheet 2.19.2: UART0
TX/RX on GP0/1, 12/13, 16/17, 28/29; UART1 on GP4/5, 8/9, 20/21, 24/25; I2C1 SDA/SCL on
GP2/3, 6/7, 10/11...; SPI0 RX/SCK/TX on GP0/2/3, 4/6/7, 16/18/19, 20/22/23). The
Pico's own GP23-25 and GP29 (power supply, VBUS, LED, VSYS) are not on its header.
The README's "Hardware" section is the wiring table for people.
"""

from boards.chip import ChipBoard

# signal -> Pico GPIO (an int) or MCP23S17 expander pin (a str); every pin once
PINS = {
    "RS485_1_TX": 0,  # UART0 TX -> transceiver 1 DI (Link IN, the inverter's side)
    "RS485_1_RX": 1,  # UART0 RX <- transceiver 1 RO
    "RS485_1_DE": 2,  # -> transceiver 1 DE and /RE (high drives the bus)
    "RS485_2_DE": 3,  # -> transceiver 2 DE and /RE
    "RS485_2_TX": 4,  # UART1 TX -> transceiver 2 DI (Link OUT, the next pack)
    "RS485_2_RX": 5,  # UART1 RX <- transceiver 2 RO
    "I2C_SDA": 6,  # I2C1 SDA <-> BQ76952 SDA (pull-up on the BQ76952 board)
    "I2C_SCL": 7,  # I2C1 SCL -> BQ76952 SCL
    "AFE_CFETOFF": 8,  # -> BQ76952 CFETOFF (high = charge FET off; pulled up)
    "AFE_DFETOFF": 9,  # -> BQ76952 DFETOFF (high = discharge FET off; pulled up)
    "FET_PRECHARGE": 10,  # -> pre-charge FET driver (high = on)
    "BTN_RESET": 11,  # <- RESET button to GND
    "IN_PASSIVE": 12,  # <- dry contact pin 5 opto-coupler (low = asserted)
    "IN_RSD": 13,  # <- dry contact pin 6 opto-coupler, rapid shutdown (low = asserted)
    "IN_REVERSE": 14,  # <- reverse-polarity comparator (low = reversed)
    "AFE_ALERT": 15,  # <- BQ76952 ALERT (open drain, active low)
    "SPI_MISO": 16,  # SPI0 RX <- MCP2515 SO, MCP23S17 SO
    "CAN_CS": 17,  # -> MCP2515 /CS
    "SPI_SCK": 18,  # SPI0 SCK -> MCP2515 SCK, MCP23S17 SCK
    "SPI_MOSI": 19,  # SPI0 TX -> MCP2515 SI, MCP23S17 SI
    "CAN_INT": 20,  # <- MCP2515 /INT
    "EXP_CS": 21,  # -> MCP23S17 /CS (its A2-A0 and /RESET tied: see README)
    "LED_RUN": "GPA0",
    "LED_ALM": "GPA1",
    "LED_SOC1": "GPA2",
    "LED_SOC2": "GPA3",
    "LED_SOC3": "GPA4",
    "LED_SOC4": "GPA5",
    "LED_MS": "GPA6",
    "RELAY_CHG": "GPA7",  # -> dry contact output 1 relay driver (pulled down)
    "DIP1": "GPB0",
    "DIP2": "GPB1",
    "DIP3": "GPB2",
    "DIP4": "GPB3",
    "DIP5": "GPB4",
    "DIP6": "GPB5",
    "DIP7": "GPB6",
    "RELAY_DSG": "GPB7",  # -> dry contact output 2 relay driver (pulled down)
}
I2C_ID = 1
SPI_ID = 0
UART_LINK_IN = 0
UART_LINK_OUT = 1
I2C_HZ = 400000
SPI_HZ = 10000000  # the MCP2515's and the MCP23S17's most
UART_BUF = 256  # >= drivers.rs485.FRAME_MAX: a whole reply is queued at once
WDT_TIMEOUT_MS = 4000  # the RP2040 allows up to 8388
R_SENSE_UOHM = 250  # the current shunt: 0.25 mOhm (400 A = 100 mV)
CAN_OSC_HZ = 8000000  # the MCP2515 module's crystal
LEDS = ("LED_RUN", "LED_ALM", "LED_SOC1", "LED_SOC2", "LED_SOC3", "LED_SOC4", "LED_MS")
DIPS = ("DIP1", "DIP2", "DIP3", "DIP4", "DIP5", "DIP6", "DIP7")


class Board(ChipBoard):
    name = "rp2040"
    # the CAN INT handler as a hard interrupt: it drains the MCP2515 inside the front
    # end's I2C reads too (tools/bench_rp2040_chip.py: rp2040_can_burst_lost)
    can_irq_hard = True

    def __init__(self, watchdog=True):
        """watchdog: start the watchdog (it cannot be stopped again); tools/selftest.py
        builds the board without it."""
        self.build(globals(), watchdog)
