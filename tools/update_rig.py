"""A firmware update against a bare flash, for the tests and the power-cut harness: a
bundle folder made up of pseudo-random files, a flash with the old image installed, and
bmsctl's client talking straight into a service Server (no simulator) whose app is the
least the server reaches."""

import hashlib
import json
import os

from bmsctl_client import Client
from service import image
from service.server import Server

from bms import events as ev
from bms.config import Config
from boards.host.flash import MemFS
from drivers.store import Store


def make_bundle(dest, board="host", sizes=(700, 300, 0, 1000), seed=1):
    """A small bundle folder at dest (files of pseudo-random bytes) with its manifest."""
    for d in (dest, dest + "/bms"):
        try:
            os.mkdir(d)
        except OSError:
            pass
    rows = []
    x = seed
    for i in range(len(sizes)):
        data = bytearray(sizes[i])
        for k in range(sizes[i]):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            data[k] = x >> 16 & 0xFF
        rel = ("bms/f%d.mpy" if i % 2 else "f%d.mpy") % i
        with open(dest + "/" + rel, "wb") as f:
            f.write(data)
        rows.append([rel, len(data), hashlib_hex(data)])
    build = hashlib_hex(json.dumps([board, rows, seed]).encode())[:16]
    manifest = {"version": "0.12.0", "board": board, "build": build, "files": rows}
    with open(dest + "/manifest.json", "w") as f:
        f.write(json.dumps(manifest))
    return dest, manifest


def hashlib_hex(data):
    return "".join("%02x" % b for b in hashlib.sha256(data).digest())


def staged_ok(fs, folder, manifest):
    """Every file of manifest whole in folder on fs."""
    for path, size, sha in manifest["files"]:
        data = fs.files.get(folder + "/" + path)
        if data is None or len(data) != size or hashlib_hex(bytes(data)) != sha:
            return False
    return True


class _Engine:
    """No protection row (RESTART and UPDATE_ARM look for one pending or tripped)."""

    n = 0
    state = b""


class _Bms:
    uid = bytes(range(1, 9))  # (the version document gives it)
    engine = _Engine()
    vals = ()  # (what the rows read: none)

    def unlock_valid(self, now):
        return True


class _Board:
    name = "host"
    restarts = 0

    def restart(self):
        self.restarts += 1


class _Fets:
    def off(self):
        pass


class FakeApp:
    """What the service server reaches of the app, on a bare flash (no simulator)."""

    def __init__(self, fs):
        self.bms = _Bms()
        self.cfg = Config()  # the running config (a config write is checked over it)
        self.board = _Board()
        self.fets = _Fets()
        self.store = Store(fs)
        self.events = ev.EventLog()
        self.trial = None  # App.trial: no new image on trial

    def _save_state(self, now, unlatch=False, restart=False):
        return True


class Direct:
    """A transport straight into a Server (a new one is a pack after a restart)."""

    def __init__(self, server, fail_after=-1):
        self.server = server
        self.reply = b""
        self.fail_after = fail_after  # writes until the line breaks (-1: never)

    def write(self, data):
        if self.fail_after == 0:
            self.reply = b""
            return
        self.fail_after -= 1
        buf = bytearray(data)
        n = self.server.handle(buf, len(buf), 0)
        self.reply = bytes(self.server.out[:n])

    def read(self, timeout_s):
        r = self.reply
        self.reply = b""
        return r


def client_for(fs, fail_after=-1):
    server = Server(FakeApp(fs), 1)
    return Client(Direct(server, fail_after), timeout_s=0.1, retries=0), server


def installed(old, old_manifest):
    """A flash with img_a running (confirmed), from the `old` bundle."""
    fs = MemFS()
    for path, _size, _sha in old_manifest["files"]:
        with open(old + "/" + path, "rb") as f:
            fs.files["img_a/" + path] = bytearray(f.read())
    image.write(fs, {"image": "img_a", "build": old_manifest["build"], "trial": 0})
    return fs
