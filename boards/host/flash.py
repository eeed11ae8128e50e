"""A flash filesystem in memory for the host board, surviving power cycles.

The firmware's store driver takes any object with open/remove/rename/stat; on a board
that is the real littlefs (through a thin adapter in the board file). Files here are
bytes in a dict owned by the simulated pack, so a reboot or a power cycle keeps them,
as flash does. Writes are counted (`syncs`) to judge wear.

Tests make it fail as a worn or disturbed flash does, to reach the firmware's error
paths: fs.fail("read", "state.json") makes the next read of that file raise
OSError(EIO), fs.fail("write", "events", times=-1) every open for writing of a path
starting with "events" until fs.fail("write", "events", 0) (see MemFS.fail).
"""

import errno


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.pos = 0
        fs.check("write" if "w" in mode or "a" in mode else "read", path)
        if "w" in mode:
            fs.files[path] = bytearray()
        elif "a" in mode:
            fs.files.setdefault(path, bytearray())
        elif path not in fs.files:
            raise OSError(errno.ENOENT)
        self.binary = "b" in mode

    def read(self, n=-1):
        data = self.fs.files[self.path]
        end = len(data) if n < 0 else min(len(data), self.pos + n)
        chunk = bytes(data[self.pos : end])
        self.pos = end
        return chunk if self.binary else chunk.decode()

    def readinto(self, buf):
        data = self.fs.files[self.path]
        n = min(len(buf), len(data) - self.pos)
        buf[0:n] = data[self.pos : self.pos + n]
        self.pos += n
        return n

    def write(self, data):
        if not self.binary:
            data = data.encode()
        self.fs.files[self.path].extend(data)
        return len(data)

    def close(self):
        if "w" in self.mode or "a" in self.mode:
            self.fs.syncs += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MemFS:
    def __init__(self):
        self.files = {}
        self.syncs = 0
        self.faults = {}  # (op, path prefix) -> [calls to let pass, calls to fail]

    def fail(self, op, path="", times=1, after=0):
        """Make `op` raise OSError(EIO) on paths starting with `path` ("": any): the next
        `after` such calls pass, then `times` fail (-1: all, until fail(op, path, 0)).
        op: "read" or "write" (opening a file for it; the file is left as it was),
        "rename" or "remove"."""
        self.faults[(op, path)] = [after, times]

    def check(self, op, path):
        for key in self.faults:
            rule = self.faults[key]
            if key[0] == op and path.startswith(key[1]) and rule[1] != 0:
                if rule[0] > 0:
                    rule[0] -= 1
                    continue
                if rule[1] > 0:
                    rule[1] -= 1
                raise OSError(errno.EIO)

    def open(self, path, mode="r"):
        return _File(self, path, mode)

    def remove(self, path):
        self.check("remove", path)
        if path not in self.files:
            raise OSError(errno.ENOENT)
        del self.files[path]

    def rename(self, old, new):
        self.check("rename", old)
        if old not in self.files:
            raise OSError(errno.ENOENT)
        self.files[new] = self.files.pop(old)

    def stat(self, path):
        if path not in self.files:
            raise OSError(errno.ENOENT)
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
