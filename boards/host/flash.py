"""A flash filesystem in memory for the host board, surviving power cycles.

The firmware's store driver takes any object with open/remove/rename/stat; on a board
that is the real littlefs (through a thin adapter in the board file). Files here are
bytes in a dict owned by the simulated pack, so a reboot or a power cycle keeps them,
as flash does. Writes are counted (`syncs`) to judge wear.

Tests make it fail as a worn or disturbed flash does, to reach the firmware's error
paths: fs.fail("read", "state.json") makes the next read of that file raise
OSError(EIO), fs.fail("write", "events", times=-1) every open for writing of a path
starting with "events" until fs.fail("write", "events", 0) (see MemFS.fail).

Like littlefs, a file opened for writing keeps its old content until it is closed: what
was written lands whole at close or not at all, and a rename replaces its destination
atomically. fs.cut_at(k) makes the k-th of these commits (a close after writing, a
rename, a remove) the moment the power goes: it does not happen, PowerCut (not an
Exception: nothing in the firmware catches it, as nothing runs on) is raised, and every
operation raises it until fs.power_on(). fs.commits counts them.
"""

import errno


class PowerCut(BaseException):
    """The power went: nothing more runs (see MemFS.cut_at)."""


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.pos = 0
        fs.check("write" if "w" in mode or "a" in mode else "read", path)
        self.data = None  # what a write open will commit at close
        if "w" in mode:
            self.data = bytearray()
        elif "a" in mode:
            self.data = bytearray(fs.files.get(path, b""))
        elif path not in fs.files:
            raise OSError(errno.ENOENT)
        self.binary = "b" in mode

    def read(self, n=-1):
        self.fs.powered()
        data = self.fs.files[self.path]
        end = len(data) if n < 0 else min(len(data), self.pos + n)
        chunk = bytes(data[self.pos : end])
        self.pos = end
        return chunk if self.binary else chunk.decode()

    def readinto(self, buf):
        self.fs.powered()
        data = self.fs.files[self.path]
        n = min(len(buf), len(data) - self.pos)
        buf[0:n] = data[self.pos : self.pos + n]
        self.pos += n
        return n

    def write(self, data):
        self.fs.powered()
        if not self.binary:
            data = data.encode()
        self.data.extend(data)
        return len(data)

    def close(self):
        if self.data is not None:
            data = self.data
            self.data = None
            self.fs.commit()
            self.fs.files[self.path] = data
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
        self.commits = 0
        self.cut = 0  # the commit the power goes at (0: none)
        self.down = False

    def cut_at(self, k):
        """The power goes at the k-th commit from now (see the module's docstring)."""
        self.cut = self.commits + k

    def power_on(self):
        self.cut = 0
        self.down = False

    def powered(self):
        if self.down:
            raise PowerCut()

    def commit(self):
        """A change about to land: counted, or the power goes here."""
        self.powered()
        self.commits += 1
        if self.commits == self.cut:
            self.down = True
            raise PowerCut()

    def fail(self, op, path="", times=1, after=0):
        """Make `op` raise OSError(EIO) on paths starting with `path` ("": any): the next
        `after` such calls pass, then `times` fail (-1: all, until fail(op, path, 0)).
        op: "read" or "write" (opening a file for it; the file is left as it was),
        "rename" or "remove"."""
        self.faults[(op, path)] = [after, times]

    def check(self, op, path):
        self.powered()
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
        self.commit()
        del self.files[path]

    def rename(self, old, new):
        self.check("rename", old)
        if old not in self.files:
            raise OSError(errno.ENOENT)
        self.commit()
        self.files[new] = self.files.pop(old)

    def mkdir(self, path):
        pass  # folders are implicit in the names here; littlefs makes them

    def stat(self, path):
        self.powered()
        if path not in self.files:
            raise OSError(errno.ENOENT)
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
