"""The ESP32 board: an ESP32-DevKitC (ESP32-WROOM-32, no PSRAM): pin map, buses, drivers.

What boards/host/board.py builds on simulated buses, built here on the ESP32's: the
BQ76952 on I2C0 at 400 kHz, the MCP2515 (8 MHz crystal) and the MCP23S17 panel expander
on SPI 2 (VSPI), RS485 port 1 (Link IN) on UART1 and port 2 (Link OUT) on UART2, each
with its transceiver's DE (/RE tied to it), and the GPIOs. Every pin is in PINS, once.
The GPIO matrix routes I2C, SPI and UART to any pin, within these limits:
- GPIO6-11 belong to the module's SPI flash and GPIO1/3 to UART0, the USB console;
- GPIO34-39 are inputs only, with no internal pull-up: each input there has its pull-up
  on the board;
- the strapping pins GPIO0, 2, 5, 12 and 15 are read at reset (GPIO12 picks the flash
  voltage): nothing that drives or pulls a line may sit on one. Only outputs of the
  ESP32 into logic inputs that nothing else drives do: the two RS485 TX lines (into the
  transceivers' DI, ignored while DE is low) and SPI MOSI (into the SI inputs);
- the module has no GPIO20, 24, 28-31, 37 or 38 on its pins.
The README's "Hardware" section is the wiring table for people.
"""

from boards.chip import ChipBoard

# signal -> Pico GPIO (an int) or MCP23S17 expander pin (a str); every pin once
PINS = {
    "RS485_1_TX": 2,  # UART1 TX -> transceiver 1 DI (Link IN; strapping pin: see above)
    "RS485_1_RX": 16,  # UART1 RX <- transceiver 1 RO
    "RS485_1_DE": 13,  # -> transceiver 1 DE and /RE (high drives the bus; pulled down)
    "RS485_2_TX": 15,  # UART2 TX -> transceiver 2 DI (Link OUT; strapping pin: see above)
    "RS485_2_RX": 17,  # UART2 RX <- transceiver 2 RO
    "RS485_2_DE": 4,  # -> transceiver 2 DE and /RE (pulled down)
    "I2C_SDA": 21,  # I2C0 SDA <-> BQ76952 SDA (pull-up on the BQ76952 board)
    "I2C_SCL": 22,  # I2C0 SCL -> BQ76952 SCL
    "AFE_ALERT": 23,  # <- BQ76952 ALERT (open drain, active low)
    "AFE_CFETOFF": 25,  # -> BQ76952 CFETOFF (high = charge FET off; pulled up)
    "AFE_DFETOFF": 26,  # -> BQ76952 DFETOFF (high = discharge FET off; pulled up)
    "FET_PRECHARGE": 33,  # -> pre-charge FET driver (high = on; pulled down)
    "SPI_SCK": 18,  # VSPI SCK -> MCP2515 SCK, MCP23S17 SCK
    "SPI_MOSI": 12,  # VSPI MOSI -> MCP2515 SI, MCP23S17 SI (strapping pin: see above)
    "SPI_MISO": 19,  # VSPI MISO <- MCP2515 SO, MCP23S17 SO
    "CAN_CS": 27,  # -> MCP2515 /CS (10 kOhm pull-up: deselected while the ESP32 boots)
    "CAN_INT": 32,  # <- MCP2515 /INT
    "EXP_CS": 14,  # -> MCP23S17 /CS (10 kOhm pull-up)
    "IN_REVERSE": 34,  # <- reverse-polarity comparator (low = reversed; pull-up on board)
    "IN_RSD": 35,  # <- dry contact pin 6 opto-coupler (low = asserted; pull-up on board)
    "BTN_RESET": 36,  # <- RESET button to GND (10 kOhm pull-up on the board)
    "IN_PASSIVE": 39,  # <- dry contact pin 5 opto-coupler (low = asserted; pull-up on board)
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
I2C_ID = 0
SPI_ID = 2  # VSPI (1 is HSPI); pins through the GPIO matrix
UART_LINK_IN = 1
UART_LINK_OUT = 2  # UART0 is the USB console
I2C_HZ = 400000
SPI_HZ = 10000000  # the MCP2515's and the MCP23S17's most
UART_BUF = 256  # >= drivers.rs485.FRAME_MAX: a whole reply is queued at once
WDT_TIMEOUT_MS = 4000
R_SENSE_UOHM = 250  # the current shunt: 0.25 mOhm (400 A = 100 mV)
CAN_OSC_HZ = 8000000  # the MCP2515 module's crystal
LEDS = ("LED_RUN", "LED_ALM", "LED_SOC1", "LED_SOC2", "LED_SOC3", "LED_SOC4", "LED_MS")
DIPS = ("DIP1", "DIP2", "DIP3", "DIP4", "DIP5", "DIP6", "DIP7")


class Board(ChipBoard):
    name = "esp32"
    input_pull_up = False  # GPIO34-39 have no pull-ups: those inputs are pulled up on the board
    # no hard pin interrupts on this port: the CAN INT handler is soft (can_irq_hard
    # False), and a burst that comes while the loop is in a C call or in native code for
    # longer than two frames (~0.45 ms) overflows the chip (counted: drivers/mcp2515.py)

    def __init__(self, watchdog=True):
        """watchdog: start the watchdog (it cannot be stopped again); tools/selftest.py
        builds the board without it."""
        self.build(globals(), watchdog)
