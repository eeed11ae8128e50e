"""What each firmware module costs in RAM on an RP2040, and which ones the app holds in
service: the table to start from when the heap runs short.

On the emulated Pico (tools/bench_rp2040.py says what it needs and how it runs), with
the firmware as armv6m .mpy files as a board loads them:
- every module under firmware/ is imported alone, its own imports first (leaves first,
  from the top-level imports of the sources), and costs what gc.mem_free() lost over its
  import after a gc.collect(): its bytecode, constants and qstrs, its module, function
  and class objects, and whatever it builds at import;
- then tools/bench_rp2040_chip.py runs the app into service as `make bench` does, and the
  modules left in sys.modules there are the ones it holds.
A module whose code goes back after its use (bms/lazy.py) shows as not held; its names
stay interned (the qstr pools: the last line, from micropython.qstr_info() in service).
A module's figure includes a new qstr pool when its names needed one (the pools grow by
doubling), so a small module can show a few KB: the sum is exact, single rows are not.

    .venv/bin/python tools/rp2040_heap.py      # the table, largest first, and the totals
"""

import hostpath

import ast
import contextlib
import io
import os
import subprocess
import sys

import bench_rp2040

ROOT = hostpath.ROOT
FIRMWARE = ROOT + "/firmware"


def modules():
    """{dotted name: set of firmware modules it imports at its top level}."""
    found = {}
    for top, _dirs, files in os.walk(FIRMWARE):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(top + "/" + name, FIRMWARE)[:-3].replace("/", ".")
                found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = None
    for mod in found:
        path = FIRMWARE + "/" + mod.replace(".", "/")
        path = path + "/__init__.py" if os.path.isdir(path) else path + ".py"
        with open(path) as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in tree.body:
            names = ()
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [node.module + "." + a.name for a in node.names]
            for n in names:
                if n in found and n != mod:
                    deps.add(n)
            if "." in mod:
                deps.add(mod.rsplit(".", 1)[0])  # its package first
        found[mod] = deps
    return found


def leaves_first(graph):
    order = []

    def visit(m, path):
        if m in order or m in path:
            return
        for d in sorted(graph[m]):
            visit(d, path + (m,))
        order.append(m)

    for m in sorted(graph):
        visit(m, ())
    return order


CHIP = """import gc, sys
for name in %r:
    gc.collect()
    f0 = gc.mem_free()
    try:
        __import__(name)
        gc.collect()
        print('import_bytes', name, f0 - gc.mem_free())
    except Exception as e:
        print('import_failed', name, repr(e))
"""


def measure():
    emu, why = bench_rp2040.emulator_dir()
    if emu is None:
        return None, why
    order = leaves_first(modules())
    fw = bench_rp2040.BUILD + "/fw"
    script = bench_rp2040.BUILD + "/heap_modules.py"
    bench_rp2040.compile_firmware(fw)
    with open(script, "w") as f:
        f.write(CHIP % (tuple(order),))
    node = emu + "/run_on_rp2040.mjs"
    out = subprocess.run(
        ["node", node, "--max-s", "120", script, fw], cwd=emu, capture_output=True, text=True
    )
    if out.returncode != 0:
        return None, "the emulator run failed:\n" + out.stdout + out.stderr
    cost = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["import_bytes"]:
            cost[parts[1]] = int(parts[2])
        elif parts[:1] == ["import_failed"]:
            print(line)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        figures, why = bench_rp2040.measure()
    if figures is None:
        return None, why
    held = set()
    qstr = ""
    for line in text.getvalue().splitlines():
        if line.startswith("service_modules "):
            held = set(line.split()[1:])
        elif line.startswith("qstr pool"):
            qstr = line
    return (cost, held, qstr, figures), None


def main():
    got, why = measure()
    if got is None:
        print("rp2040_heap: skipped: " + why)
        return 0
    cost, held, qstr, figures = got
    print("%-28s %8s  %s" % ("module", "bytes", "in service"))
    for name in sorted(cost, key=lambda n: -cost[n]):
        print("%-28s %8d  %s" % (name, cost[name], "held" if name in held else "-"))
    print("%-28s %8d" % ("held in service", sum(cost[n] for n in cost if n in held)))
    print("%-28s %8d" % ("not held", sum(cost[n] for n in cost if n not in held)))
    for key in ("rp2040_heap_imports_bytes", "rp2040_heap_objects_bytes"):
        print("%-28s %8d" % (key, figures.get(key, 0)))
    print("%-28s %8d" % ("rp2040_heap_free_service", figures["rp2040_heap_free_service_bytes"]))
    print("in service, " + qstr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
