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

The objects held in service (no emulator needed, seconds): what the App reaches after a
minute of service (tools/heap_serve_upy.py's run on the unix port, its MCP2515 with the
boards' receive ring), per owner, the module of each instance's class: per class its
instances, their attributes, the bytes the instances take (object and attribute table)
and those held beside them (buffers, arrays, lists, tuples, dicts, bound methods: each
counted to the instance whose attribute reaches it first, the largest named). Anything
the imports reach (module globals, class tables, constants) is left out: it is in
rp2040_heap_imports_bytes. Sized as a 32-bit port allocates (whole 16-byte blocks; an
attribute table grows to MicroPython's sizes, 8 B a slot), from type and length: an
estimate, within a block or two an object (a str of up to 10 characters is taken as a
name, closures as 32 B, their cells unseen; a machine.Pin, 16 B here, is in ROM on the
rp2 port). The last lines list what rp2040_heap_objects_bytes holds besides: the
modules loaded after the imports and held (a protocol, the rare commands) and the names
interned after them.

    .venv/bin/python tools/rp2040_heap.py objects
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


# -- the objects held in service (`objects`) ---------------------------------------------
# Appended to tools/heap_serve_upy.py's definitions (its last line, the run, replaced) and
# run on the unix port: the firmware's modules imported as its Board and App import them,
# everything they reach marked as the imports' (bytecode, constants, class tables), then
# its minute of service, then the walk from the App. Sizes as a 32-bit port allocates
# them (MicroPython 1.24: whole 16-byte GC blocks), from each object's type and length.
OBJECTS = r'''
import app as _app_module

# the MCP2515 with the receive ring and INT pin, as the boards build it
_ServeBoard = Board


class Board(_ServeBoard):
    def __init__(self):
        from drivers.mcp2515 import MCP2515, RING_FRAMES

        _ServeBoard.__init__(self)
        self.can = MCP2515(self.spi, Pin(), 8000000, Pin(), None, RING_FRAMES)


for _name in ("bq76952", "drycontact", "fets", "mcp2515", "panel", "rs485", "store"):
    __import__("drivers." + _name)

_APPS = []
_app_init = _app_module.App.__init__


def _kept(self, *args):
    _APPS.append(self)
    _app_init(self, *args)


_app_module.App.__init__ = _kept

_SLOTS = MAP_SLOTS
_ITEM = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 4, "L": 4, "f": 4, "q": 8}
_SEEN = {}


def _blocks(n):
    return (n + 15) // 16 * 16


def _slots(n):
    for a in _SLOTS:
        if a >= n:
            return a
    return n + n // 2


def _fields(o):
    """An instance's attributes (a dict), or None for anything else."""
    if isinstance(o, type) or type(o).__name__ == "module":
        return None
    try:
        return o.__dict__
    except AttributeError:
        return None


def _own(o):
    """(32-bit bytes, kind, what it holds) of a non-instance object by itself. A str of
    up to 10 characters is taken as interned (a name in the code: no heap)."""
    t = type(o)
    if t is int:
        return (0 if -0x40000000 <= o < 0x40000000 else 32), "int", ()
    if t is str:
        return (0 if len(o) <= 10 else 16 + _blocks(len(o) + 1)), "str", ()
    if t is bytes:
        return 16 + _blocks(len(o) + 1), "bytes", ()
    if t is float:
        return 16, "float", ()
    if t is tuple:
        return _blocks(8 + 4 * len(o)), "tuple", o
    if t is list:
        return 16 + _blocks(4 * max(len(o), 1)), "list", o
    if t is dict:
        return 16 + _blocks(8 * _slots(len(o))), "dict", list(o.items())
    if t is set or t is frozenset:
        return 16 + _blocks(4 * _slots(len(o))), "set", list(o)
    if t is bytearray:
        return 16 + _blocks(len(o)), "bytearray", ()
    if t is memoryview:
        return 16, "memoryview", ()
    name = t.__name__
    if name == "array":
        return 16 + _blocks(len(o) * _ITEM.get(repr(o)[7], 4)), "array", ()
    if name in ("function", "closure", "generator", "bound_method"):
        return {"bound_method": 16, "function": 32}.get(name, 48), name, ()
    return 16, name, ()  # a C object (a machine.Pin is in ROM on the rp2 port: 0)


def _heap(o):
    return not (o is None or type(o) is bool or type(o) is type or type(o).__name__ == "module")


def _mark(roots):
    """Everything roots reach, as the imports': not counted in the map."""
    stack = list(roots)
    while stack:
        o = stack.pop()
        if not _heap(o) and type(o) is not type:
            continue
        i = id(o)
        if i in _SEEN:
            continue
        _SEEN[i] = 1
        d = _fields(o)
        if type(o) is type:
            try:
                d = o.__dict__
            except AttributeError:
                continue
        if d is not None:
            stack.extend(d.values())
        else:
            stack.extend(_own(o)[2])


def _walk(root):
    """{id: [class module, class, attributes, instance bytes, held bytes, {attr: bytes}]}
    for every instance root reaches that the imports do not; what is not an instance
    (lists, buffers, tuples, bound methods...) counts to the instance whose attribute
    reaches it first."""
    found = {}
    stack = [(root, None, None)]
    while stack:
        o, owner, attr = stack.pop()
        if not _heap(o) or id(o) in _SEEN:
            continue
        _SEEN[id(o)] = 1
        d = _fields(o)
        if d is not None:
            t = type(o)
            try:
                mod = t.__module__
            except AttributeError:
                mod = "?"
            e = [mod, t.__name__, len(d), 16 + _blocks(8 * _slots(len(d))), 0, {}]
            found[id(o)] = e
            for k in d:
                stack.append((d[k], e, k))
            continue
        n, kind, kids = _own(o)
        if owner is not None:
            owner[4] += n
            owner[5][attr] = owner[5].get(attr, 0) + n
        for k in kids:
            stack.append((k, owner, attr))
    return found


_mark(list(sys.modules.values()) + [Board, _ServeBoard])
_before = set(sys.modules)
import micropython  # noqa: E402

micropython.qstr_info()
main()
micropython.qstr_info(1)
for _e in _walk(_APPS[0]).values():
    _top = sorted(_e[5].items(), key=lambda kv: -kv[1])[:3]
    print("obj", _e[0], _e[1], _e[2], _e[3], _e[4], " ".join("%s=%d" % kv for kv in _top if kv[1]))
for _m in sorted(set(sys.modules) - _before):
    print("module_after_imports", _m)
'''


# an attribute table (a map) grows from empty to these sizes, each time it is full
# (MicroPython 1.24, py/map.c hash_allocation_sizes)
MAP_SLOTS = (0, 2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223, 293, 389)


def instance_bytes(attrs):
    """An instance with attrs attributes on a 32-bit port: its object (16 B) and its
    attribute table (8 B a slot, whole 16-byte blocks)."""
    slots = next(a for a in MAP_SLOTS + (attrs + attrs // 2,) if a >= attrs)
    return 16 + (8 * slots + 15) // 16 * 16


def objects():
    """The objects the App holds after a minute of service, by owner (tools/heap_serve_upy.py's
    run on the unix port, sized for a 32-bit port): printed as a table."""
    import bench

    mpy = bench.compile_bytecode()
    replies = bench_rp2040.BUILD + "/objects"
    os.makedirs(replies, exist_ok=True)
    bench_rp2040.record_replies(replies + "/bench_replies.py")
    with open(ROOT + "/tools/heap_serve_upy.py") as f:
        serve = f.read().rstrip()
    if not serve.endswith("\nsys.exit(main())"):
        raise SystemExit("rp2040_heap objects: tools/heap_serve_upy.py no longer ends in its run")
    script = replies + "/heap_objects_upy.py"
    with open(script, "w") as f:
        f.write(serve[: -len("sys.exit(main())")] + OBJECTS.replace("MAP_SLOTS", repr(MAP_SLOTS)))
    out = subprocess.run(
        [bench.UPY, "-X", "heapsize=64M", script, mpy, replies],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    rows = []
    later = []
    qstr = [line for line in out.stdout.splitlines() if line.startswith("qstr pool:")]
    first = bench_rp2040.qstr_totals(qstr[0])["n_qstr"] if qstr else 0
    names = [line[2:-1] for line in out.stdout.splitlines() if line.startswith("Q(")][first:]
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["obj"]:
            rows.append(
                (parts[1], parts[2], int(parts[3]), int(parts[4]), int(parts[5]), parts[6:])
            )
        elif parts[:1] == ["module_after_imports"]:
            later.append(parts[1])
    if out.returncode != 0 or not rows:
        raise SystemExit("rp2040_heap objects: the run failed:\n" + out.stdout + out.stderr)
    return rows, later, names


def objects_table(rows, later, names=()):
    """The table: per owner (the module of the class, __main__ being the bench's fake
    board), per class its instances, their attributes, the bytes the instances take
    (object and attribute table) and those their attributes hold beside (buffers,
    lists, tuples, bound methods: the largest named)."""
    owners = {}
    for mod, cls, attrs, inst, held, top in rows:
        c = owners.setdefault(mod, {}).setdefault(cls, [0, 0, 0, 0, {}])
        c[0] += 1
        c[1] += attrs
        c[2] += inst
        c[3] += held
        for kv in top:
            k, v = kv.rsplit("=", 1)
            c[4][k] = c[4].get(k, 0) + int(v)
    lines = [
        "%-22s %-20s %4s %6s %6s %6s %6s  %s"
        % ("owner", "class", "n", "attrs", "inst B", "held B", "total", "largest held")
    ]
    total = 0

    def bytes_of(mod):
        return sum(c[2] + c[3] for c in owners[mod].values())

    for mod in sorted(owners, key=lambda m: -bytes_of(m)):
        name = "board (bench fake)" if mod == "__main__" else mod
        for cls in sorted(owners[mod], key=lambda k: -(owners[mod][k][2] + owners[mod][k][3])):
            n, attrs, inst, held, top = owners[mod][cls]
            big = sorted(top.items(), key=lambda kv: -kv[1])[:3]
            lines.append(
                "%-22s %-20s %4d %6d %6d %6d %6d  %s"
                % (
                    name,
                    cls,
                    n,
                    attrs,
                    inst,
                    held,
                    inst + held,
                    " ".join("%s %d" % kv for kv in big),
                )
            )
            name = ""
        total += bytes_of(mod)
    lines.append(
        "%-22s %-20s %4d %6d %6s %6s %6d"
        % ("all", "", len(rows), sum(r[2] for r in rows), "", "", total)
    )
    if later:
        lines.append(
            "modules loaded after the imports and held (their code is in "
            "rp2040_heap_objects_bytes too): " + " ".join(later)
        )
    if names:
        # a name's text and its pool entry (6 B), the pools aside: see bench_rp2040
        text = sum(len(n.encode()) + 1 for n in names)
        lines.append(
            "names interned after the imports (the boot's modules loaded and "
            "dropped, and those held): %d, %d B of text and entries"
            % (len(names), text + 6 * len(names))
        )
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["names"]:
        return names(sys.argv[2:])
    if sys.argv[1:2] == ["objects"]:
        print(objects_table(*objects()))
        return 0
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
