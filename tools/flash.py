"""`make flash BOARD=rp2040|esp32 [PORT=...]`: the bundle onto a board with mpremote.

Copies build/bundle/BOARD/ (`make bundle`) to the board's filesystem, only the files
whose SHA-256 differs from the board's copy, then resets the board so main.py starts
the new firmware, and prints what it copied. It refuses a board of the other chip
(sys.platform), and removes what would run instead of the bundle: a `.py` twin of a
copied `.mpy` (left by `mpremote mip install`: MicroPython imports x.py before x.mpy)
and the pointer of an image staged over the service link (data/image.json: main.py
runs that image's folder first), so the firmware flashed is the firmware that runs.
PORT is what `mpremote connect` takes (/dev/ttyACM0, COM3, a shortcut such as a0 or
u0); the default is mpremote's `auto`, the first USB serial port. MicroPython must
already be on the board (its UF2 or bin file).

The firmware's watchdog (4 s) keeps running when mpremote stops main.py (a soft reset
does not stop it on either chip), and nobody feeds it during a copy: every mpremote run
here therefore starts with KEEPALIVE and feeds it again after each file, with the longest
timeout the RP2040 takes. On a board where no watchdog ran it starts one; the reset at
the end clears it, and a copy that fails half-way ends in that watchdog's reset into
main.py instead of a board left in the raw REPL.

    python tools/flash.py BOARD [PORT]
"""

import hostpath

import hashlib
import os
import subprocess
import sys

MPREMOTE = hostpath.ROOT + "/.venv/bin/mpremote"
# run on the board before and between copies (see above)
KEEPALIVE = (
    "from machine import WDT\ntry:\n    WDT(timeout=8000).feed()\nexcept Exception:\n    pass"
)

# run on the board: each path and its SHA-256, or "-" when it is not there
_HASH_SCRIPT = (
    KEEPALIVE
    + """
import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return '-'
    d = hashlib.sha256()
    b = bytearray(512)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(b[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
import sys
print('P', sys.platform)
for _p in %r:
    print('H', _p, _h(_p))
"""
)
POINTER = "data/image.json"  # boards/chip.py's DATA_DIR, service/image.py's POINTER
PLATFORMS = {"rp2040": "rp2", "esp32": "esp32"}


def local_files(bundle):
    """{path on the board: SHA-256 hex} for every file of the bundle."""
    out = {}
    for top, _dirs, files in os.walk(bundle):
        for name in files:
            path = top + "/" + name
            with open(path, "rb") as f:
                out[os.path.relpath(path, bundle)] = hashlib.sha256(f.read()).hexdigest()
    return out


def parse_hashes(text):
    """{path: SHA-256 hex or "-"} from the hash query's lines, and "P": its platform."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "H":
            out[parts[1]] = parts[2]
        elif len(parts) == 2 and parts[0] == "P":
            out["P"] = parts[1]
    return out


def twins(local):
    """The .py twin of each .mpy of the bundle (main.py and the like have none)."""
    return sorted(p[:-4] + ".py" for p in local if p.endswith(".mpy"))


def plan(local, device):
    """The paths to copy (new or changed on the board), sorted."""
    return sorted(p for p, digest in local.items() if device.get(p) != digest)


def copy_command(port, bundle, paths, stale=()):
    """One mpremote run: the stale files removed, the folders made, each changed file
    copied (the watchdog fed before each), then a reset."""
    cmd = [MPREMOTE, "connect", port]
    if stale:
        rm = "import os\nfor p in %r:\n    try:\n        os.remove(p)\n    except OSError:\n" % (
            list(stale),
        )
        cmd += ["exec", KEEPALIVE + "\n" + rm + "        pass", "+"]
    folders = sorted(set(os.path.dirname(p) for p in paths if os.path.dirname(p)))
    if folders:
        # every parent folder, shortest first; one that exists is fine
        wanted = set()
        for folder in folders:
            parts = folder.split("/")
            for k in range(1, len(parts) + 1):
                wanted.add("/".join(parts[:k]))
        mk = "import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n" % (
            sorted(wanted, key=len),
        )
        cmd += ["exec", KEEPALIVE + "\n" + mk + "        pass", "+"]
    for p in paths:
        cmd += ["exec", KEEPALIVE, "+", "cp", bundle + "/" + p, ":" + p, "+"]
    return cmd + ["reset"]


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit("flash: %s\n%s%s" % (" ".join(cmd[:4]), done.stdout, done.stderr))
    return done.stdout


def flash(board, port="auto", runner=run, out=print):
    bundle = hostpath.ROOT + "/build/bundle/" + board
    if not os.path.isdir(bundle):
        raise SystemExit("flash: no bundle for %s: run make bundle BOARD=%s" % (board, board))
    local = local_files(bundle)
    extra = twins(local) + [POINTER]
    script = _HASH_SCRIPT % (sorted(local) + extra,)
    device = parse_hashes(runner([MPREMOTE, "connect", port, "exec", script]))
    platform = device.pop("P", None)
    if platform is not None and platform != PLATFORMS.get(board, board):
        raise SystemExit(
            "flash: the board on %s runs sys.platform %r: the bundle is for %s"
            % (port, platform, board)
        )
    stale = [p for p in extra if device.pop(p, "-") != "-"]
    paths = plan(local, device)
    if paths or stale:
        runner(copy_command(port, bundle, paths, stale))
    else:
        runner([MPREMOTE, "connect", port, "reset"])
    for p in stale:
        out("removed   " + p)
    for p in paths:
        out("copied    " + p)
    out("%d copied, %d unchanged; board reset (%s)" % (len(paths), len(local) - len(paths), port))
    return paths


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    flash(argv[0], argv[1] if len(argv) > 1 and argv[1] else "auto")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
