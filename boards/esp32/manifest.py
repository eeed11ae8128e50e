"""The frozen image for the esp32 board: the port's own modules, the firmware, this board."""
# ruff: noqa: F821 - include/package are the manifest language's own functions

# Build from a MicroPython checkout (README, "Frozen firmware"); main.py stays a file on
# the board, so config.json and a new main.py need no new image.
include("$(PORT_DIR)/boards/manifest.py")
include("../../manifest.py")
package("boards", files=("chip.py", "chip_build.py", "esp32/board.py"), base_path="../..")
