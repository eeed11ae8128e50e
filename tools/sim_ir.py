"""The simulator's cost in machine instructions, which a shared machine does not change
(bench/profile.md): for comparing two versions of the simulator or the firmware.

    python tools/sim_ir.py [--runtime cpython|micropython] [--inverter can|rs485|none]
                           [--packs N] [--scenario FILE] [--trace-ms MS]
                           [--short S] [--long S]

It runs tools/sim.py --fast twice under valgrind's cachegrind (no cache simulation),
for --short and --long simulated seconds (defaults 60 and 360), and prints the
instructions per simulated second and per 100 ms tick: the difference of the two runs,
so the start-up (the interpreter, the imports, the boot) cancels. CPU time, which
tools/bench.py measures, moves by up to a fifth between two runs of the same code while
other jobs load the machine; two runs of the same code execute the same number of
instructions, to the last one (PYTHONHASHSEED is fixed). It does not see stalls (cache
misses, memory), so it judges a change of the work done, not of its memory traffic.
Needs valgrind; the MicroPython run takes about 4 minutes with the defaults, the CPython
one 2.
"""

import hostpath

import sys

USAGE = (
    "usage: tools/sim_ir.py [--runtime cpython|micropython] [--inverter can|rs485|none]"
    " [--packs N] [--scenario FILE] [--trace-ms MS] [--short S] [--long S]"
)
OPTS = ("--runtime", "--inverter", "--packs", "--scenario", "--trace-ms", "--short", "--long")


def parse(argv):
    opts = {"--runtime": "cpython", "--short": "60", "--long": "360"}
    if len(argv) % 2:
        raise SystemExit(USAGE)
    for i in range(0, len(argv), 2):
        if argv[i] not in OPTS:
            raise SystemExit(USAGE)
        opts[argv[i]] = argv[i + 1]
    if opts["--runtime"] not in ("cpython", "micropython"):
        raise SystemExit(USAGE)
    if int(opts["--short"]) >= int(opts["--long"]):
        raise SystemExit("sim_ir: --short must be less than --long")
    return opts


def command(opts, seconds):
    """The cachegrind run of tools/sim.py for `seconds` simulated seconds."""
    venv = hostpath.ROOT + "/.venv/bin/"
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    cmd += [venv + "python"]
    if opts["--runtime"] == "micropython":
        cmd += [venv + "micropython"]  # (a script run by the venv's CPython)
    cmd += ["tools/sim.py", "--fast", "--duration", str(seconds)]
    for key in ("--inverter", "--packs", "--scenario", "--trace-ms"):
        if key in opts:
            cmd += [key, opts[key]]
    if "--trace-ms" in opts:
        cmd += ["--trace", "/dev/null"]  # (the trace is built and written, as a user's)
    return cmd


def parse_refs(report):
    """The instruction count from cachegrind's report (its `I refs:` line), or None."""
    for line in report.splitlines():
        i = line.find("I refs:")
        if i < 0:
            i = line.find("I   refs:")
        if i >= 0:
            digits = line[line.index(":", i) + 1 :].strip().replace(",", "")
            return int(digits) if digits.isdigit() else None
    return None


def instructions(opts, seconds):
    """Instructions of one run of tools/sim.py for `seconds` simulated seconds."""
    import os
    import subprocess

    cmd = command(opts, seconds)
    env = dict(os.environ, PYTHONHASHSEED="0")
    try:
        out = subprocess.run(cmd, cwd=hostpath.ROOT, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise SystemExit("sim_ir: needs valgrind (apt-get install valgrind)") from None
    n = parse_refs(out.stderr)
    if out.returncode != 0 or n is None:
        raise SystemExit("sim_ir: %s failed:\n%s" % (" ".join(cmd), out.stderr[-2000:]))
    return n


def main(argv):
    opts = parse(argv)
    short = int(opts["--short"])
    long = int(opts["--long"])
    a = instructions(opts, short)
    b = instructions(opts, long)
    per_s = (b - a) / (long - short)
    print(
        "%s: %.0f instructions per simulated second, %.0f per 100 ms tick"
        " (runs of %d and %d s: %d and %d)"
        % (opts["--runtime"], per_s, per_s / 10, short, long, a, b)
    )
    print("sim_ir: printed above, nothing written")


if __name__ == "__main__":
    main(sys.argv[1:])
