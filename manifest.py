"""manifest.py for MicroPython's build: freezes the firmware into a custom image."""
# ruff: noqa: F821 - include/package/module are the manifest language's own functions

# Freezes the firmware into a custom MicroPython image (the ESP32's RAM is the reason):
# frozen modules run from flash, so their bytecode, constant tables and names take no
# heap. Build it from a MicroPython checkout (ports/esp32, or ports/rp2 for a Pico):
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/this/repo/manifest.py
# then flash the image and copy only boards/main.py as :main.py (make flash copies the
# .mpy files too; frozen modules are found first only where no file of the same name
# shadows them, so remove the copied ones: mpremote rm -r :bms :drivers ...).
include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules
package("bms", base_path="firmware")
package("drivers", base_path="firmware")
package("protocols", base_path="firmware")
module("app.py", base_path="firmware")
module("inverter_link.py", base_path="firmware")
module("statusline.py", base_path="firmware")
# the chip boards only (boards/host is the simulator's); main.py stays a file on the board
package("boards", files=("chip.py", "rp2040/board.py", "esp32/board.py"))
