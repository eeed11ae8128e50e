"""A flash filesystem in memory for the host board, surviving power cycles.

The firmware's store driver takes any object with open/remove/rename/stat; on a board
that is the real littlefs (through a thin adapter in the board file). Files here are
bytes in a dict owned by the simulated pack, so a reboot or a power cycle keeps them,
as flash does. Writes are counted (`syncs`) to judge wear.
"""

import errno


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.pos = 0
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

    def open(self, path, mode="r"):
        return _File(self, path, mode)

    def remove(self, path):
        if path not in self.files:
            raise OSError(errno.ENOENT)
        del self.files[path]

    def rename(self, old, new):
        if old not in self.files:
            raise OSError(errno.ENOENT)
        self.files[new] = self.files.pop(old)

    def stat(self, path):
        if path not in self.files:
            raise OSError(errno.ENOENT)
        return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
