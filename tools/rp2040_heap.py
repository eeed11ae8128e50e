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

The names (no emulator needed): names() counts, per module, the names its .mpy interns
when it is loaded and those no other module (firmware or board file) has, which are the
ones it alone costs; for the modules named, each function's own .mpy bytes and names.
A name is never freed, so a module loaded and dropped still costs its names.

    .venv/bin/python tools/rp2040_heap.py names [module ...]
"""

import hostpath

import ast
import contextlib
import io
import os
import subprocess
import sys
import textwrap

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


def _compile(src, rel, out):
    cmd = [bench_rp2040.MPY_CROSS, "-march=armv6m", "-s", rel, "-o", out, src]
    subprocess.run(cmd, check=True)
    return os.path.getsize(out)


def module_names(folder):
    """{module: (names its .mpy interns, its .mpy bytes)} for every firmware module and
    the board files bench_rp2040 loads, compiled into folder."""
    bench_rp2040.compile_firmware(folder)
    found = {}
    for top, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(".mpy"):
                path = top + "/" + name
                mod = os.path.relpath(path, folder)[:-4].replace("/", ".")
                found[mod] = (bench_rp2040.mpy_names(path), os.path.getsize(path))
    return found


def function_costs(mod, folder):
    """[(function, .mpy bytes, names only it adds)] of module mod's top-level functions
    and methods: each compiled alone after the module's imports and constants, less
    what those take alone."""
    path = FIRMWARE + "/" + mod.replace(".", "/") + ".py"
    with open(path) as f:
        text = f.read()
    tree = ast.parse(text)
    lines = text.splitlines()
    head = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            head.append(ast.get_source_segment(text, node))
        elif isinstance(node, ast.Assign) and "const(" in ast.get_source_segment(text, node):
            head.append(ast.get_source_segment(text, node))
    head = "\n".join(head) + "\n"
    base_src = folder + "/fn_base.py"
    with open(base_src, "w") as f:
        f.write(head)
    base = _compile(base_src, "fn.py", folder + "/fn_base.mpy")
    base_names = bench_rp2040.mpy_names(folder + "/fn_base.mpy")
    out = []
    for node in tree.body:
        defs = [(node.name, node, "")] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            defs = [
                (node.name + "." + d.name, d, "class _C:\n")
                for d in node.body
                if isinstance(d, ast.FunctionDef)
            ]
        for name, d, wrap in defs:
            first = d.decorator_list[0].lineno if d.decorator_list else d.lineno
            body = "\n".join(lines[first - 1 : d.end_lineno])
            src = folder + "/fn.py"
            with open(src, "w") as f:
                f.write(head + wrap + (body if wrap else textwrap.dedent(body)) + "\n")
            size = _compile(src, "fn.py", folder + "/fn.mpy") - base
            own = bench_rp2040.mpy_names(folder + "/fn.mpy") - base_names - {"_C"}
            out.append((name, size, own))
    return out


def names(wanted):
    folder = bench_rp2040.BUILD + "/names"
    found = module_names(folder)
    seen = {}
    for mod in found:
        for n in found[mod][0]:
            seen[n] = seen.get(n, 0) + 1
    print("%-28s %6s %6s %7s" % ("module", "names", "only", "mpy B"))
    for mod in sorted(found, key=lambda m: -len(found[m][0])):
        own = sorted(n for n in found[mod][0] if seen[n] == 1)
        print("%-28s %6d %6d %7d" % (mod, len(found[mod][0]), len(own), found[mod][1]))
        if mod in wanted:
            print("    only here: " + " ".join(own))
    print("%-28s %6d" % ("names in all", len(seen)))
    for mod in wanted:
        print("\n%s: function, .mpy bytes, names only it adds to the module's head" % mod)
        for name, size, own in function_costs(mod, folder):
            print("  %-34s %6d  %s" % (name, size, " ".join(sorted(own))))
    return 0


def main():
    if sys.argv[1:2] == ["names"]:
        return names(sys.argv[2:])
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
