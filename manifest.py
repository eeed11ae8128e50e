"""manifest.py for MicroPython's build: the firmware's modules, frozen into an image."""
# ruff: noqa: F821 - include/package/module are the manifest language's own functions

# Included by each board's manifest (boards/rp2040/manifest.py, boards/esp32/manifest.py),
# which adds the port's own frozen modules and its board file; README ("Frozen
# firmware") says how to build and flash the image. Frozen modules run from flash: their
# bytecode, constant tables and names take no heap (the ESP32's RAM is the reason).
# host_tests/test_deploy.py checks that the image holds every file the bundle does.
package("bms", base_path="firmware")
package("drivers", base_path="firmware")
package("protocols", base_path="firmware")
package("service", base_path="firmware")
module("app.py", base_path="firmware")
module("app_boot.py", base_path="firmware")
module("app_chips.py", base_path="firmware")
module("app_init.py", base_path="firmware")
module("app_save.py", base_path="firmware")
module("app_trial.py", base_path="firmware")
module("inverter_link.py", base_path="firmware")
module("inverter_link_init.py", base_path="firmware")
module("nocurrent.py", base_path="firmware")
module("packlink.py", base_path="firmware")
module("packlink_init.py", base_path="firmware")
module("packsystem.py", base_path="firmware")
module("statusline.py", base_path="firmware")
