"""A flash filesystem in memory for the host board, surviving power cycles.

The firmware's store driver takes any object with open/remove/rename/stat; on a board
that is the real littlefs (through a thin adapter in the board file). Files here are
bytes in a dict owned by the simulated pack, so a reboot or a power cycle keeps them,
as flash does. Writes are counted (`syncs`) to judge wear.

Tests make it fail as a worn or disturbed flash does, to reach the firmware's error
paths: fs.fail("read", "state.json") makes the next read of that file raise
OSError(EIO), fs.fail("write", "events", times=-1) every open for writing of a path
starting with "events" until fs.fail("write", "events", 0) (see MemFS.fail).

It keeps littlefs's guarantees, which the store relies on: a file opened for writing
keeps what it held (or, created, is empty) until close commits the new content at once,
so an append is all there or not there; a rename replaces its target atomically.
Two ways to cut the power, for the power-cut harnesses: fs.cut_after(n) after n more
steps (each filesystem call, and each byte written, is one step; see MemFS.cut_after),
fs.cut_at(k) at the k-th commit from now (a close after writing, a rename, a remove;
fs.commits counts them). The call in progress raises PowerCut (not an Exception:
nothing in the firmware catches it, as nothing runs on), what was not committed is
lost, and every call raises it until fs.power_on() (the next boot).
"""

import errno


class PowerCut(BaseException):
    """The power went: nothing in the firmware may catch it (a BaseException)."""


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.pos = 0
        self.writing = "w" in mode or "a" in mode
        fs.check("write" if self.writing else "read", path)
        if self.writing:
            old = fs.files.setdefault(path, bytearray())  # created: there, empty
            # what this handle writes, committed at close (littlefs's sync)
            self.new = bytearray(old) if "a" in mode else bytearray()
        elif path not in fs.files:
            raise OSError(errno.ENOENT)
        self.binary = "b" in mode
        fs.step()

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
        self.fs.step_bytes(self.new, data)
        self.fs.step()
        return len(data)

    def close(self):
        if self.fs.off:
            raise PowerCut()  # a `with` closing after the cut: nothing reaches flash
        if self.writing:
            self.fs.commit()
            self.writing = False
            self.fs.files[self.path] = self.new
            self.fs.syncs += 1
        self.fs.step()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MemFS:
    def __init__(self):
        self.files = {}
        self.syncs = 0
        self.faults = {}  # (op, path prefix) -> [calls to let pass, calls to fail]
        self.steps = 0  # filesystem calls and bytes written, for a power-cut harness
        self._cut_step = -1  # the step at which the power goes (-1: never)
        self.commits = 0
        self._cut_commit = 0  # the commit at which the power goes (0: never)
        self.off = False  # the power went: nothing more is written until power_on()

    def cut_after(self, n):
        """Cut the power at the n-th step from now (n >= 1; -1: never): it raises
        PowerCut once it took effect. A step is every open, write, close, rename, remove
        and stat, and every byte written."""
        self._cut_step = -1 if n < 0 else self.steps + n
        self.off = False

    def cut_at(self, k):
        """Cut the power at the k-th commit from now (a close after writing, a rename, a
        remove): that one does not happen."""
        self._cut_commit = self.commits + k

    def power_on(self):
        self._cut_step = -1
        self._cut_commit = 0
        self.off = False

    def powered(self):
        if self.off:
            raise PowerCut()

    def commit(self):
        """A change about to land: counted, or the power goes here."""
        self.powered()
        self.commits += 1
        if self.commits == self._cut_commit:
            self.off = True
            raise PowerCut()

    def step(self):
        self.steps += 1
        if self.steps == self._cut_step or self.off:
            self._cut_step = -1
            self.off = True
            raise PowerCut()

    def step_bytes(self, buf, data):
        """Append data to buf, a step per byte (a cut may come at any byte)."""
        if self._cut_step <= self.steps or self._cut_step > self.steps + len(data):
            buf.extend(data)
            self.steps += len(data)
            return
        for b in data:
            buf.append(b)
            self.step()

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
        self.step()

    def rename(self, old, new):
        self.check("rename", old)
        if old not in self.files:
            raise OSError(errno.ENOENT)
        self.commit()
        self.files[new] = self.files.pop(old)
        self.step()

    def mkdir(self, path):
        pass  # folders are implicit in the names here; littlefs makes them

    def stat(self, path):
        self.powered()
        if path not in self.files:
            raise OSError(errno.ENOENT)
        self.step()
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
