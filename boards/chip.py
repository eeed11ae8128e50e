"""What the two chip boards (boards/rp2040, boards/esp32) share beyond their pin maps.

- LittleFs: the store's filesystem (drivers/store.py takes open/remove/rename/stat): a
  folder on the flash filesystem MicroPython mounts at boot (littlefs v2 on both ports),
  so the event log and the state sit apart from the code.
- ChipBoard: the buses and drivers built from a board's pin map and bus numbers (the
  constants of its board.py; the building itself is in chip_build.py, loaded for it and
  dropped after), the clock, the sleep between polls, the reset cause and the restart,
  from MicroPython's time and machine modules.
What only the building needs (NoWatchdog, the pin-name decoding) is in chip_build.py, so
that a board in service does not hold it.
"""

import os
import time

import machine

DATA_DIR = "/data"


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
        SPI_ID, UART_LINK_IN, UART_LINK_OUT and the rest); watchdog: start it. The body
        is in boards/chip_build.py, loaded for it and dropped after: a board is built
        once, at boot. (Imported here, not at the top: main.py imports this module
        before it puts the chosen image's folder on sys.path.)"""
        from bms import lazy

        # (this module's time: a test's stand-in replaces it)
        lazy.run("boards.chip_build", "build", self, c, watchdog, time.sleep_us)

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def reset_cause(self):
        """machine.reset_cause(): PWRON_RESET 1, HARD_RESET 2, WDT_RESET 3,
        DEEPSLEEP_RESET 4, SOFT_RESET 5 on both ports, as the app logs it."""
        return machine.reset_cause()

    def unique_id(self):
        """machine.unique_id(): the RP2040's flash id (8 bytes), the ESP32's MAC (6): the
        pack's serial number."""
        return machine.unique_id()

    def restart(self):
        self.restart_requested = True
        machine.reset()
