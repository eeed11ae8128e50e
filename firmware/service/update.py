"""Firmware update, the pack's side: a bundle staged into the spare image folder, checked,
armed by the pointer file (service/image.py).

A transfer is numbered files: 0 is the bundle's manifest.json (its SHA-256 and length
come with BEGIN), 1..n the files it lists, in its order. Chunks are appended where the
file stands on flash (a chunk at offset 0 starts the file afresh), so after a break the
host asks STATE and goes on from there; each frame's CRC guards its chunk. A file that
reaches its manifest size is hashed at once: a mismatch empties it (ERR_HASH, sent
again). The manifest is checked before any of its files is opened: each named inside
the slot (no part empty or only dots, not main.py), else ERR_FORMAT and the stage
dropped. Progress is `stage.json` (manifest hash, slot, files done), rewritten (tmp and
rename) once per file, after the next file was emptied, so a power cut anywhere leaves a
state that resumes. ARM re-reads every file from flash against the manifest, one file a
request so that the loop is never held long, and after the last writes the pointer: the
next start boots the new image on trial. Nothing of the running image is touched.
"""

import json
from binascii import hexlify

from service import frame as fr
from service import image

_STAGE = "stage.json"
_STAGE_TMP = "stage.tmp"
_MANIFEST = "manifest.json"


class UpdateError(Exception):
    def __init__(self, status, text=""):
        super().__init__(text)
        self.status = status


def sha256_file(fs, path):
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(512)
    with fs.open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf if n == len(buf) else buf[:n])
    return hexlify(h.digest()).decode()


def _size(fs, path):
    try:
        return fs.stat(path)[6]
    except OSError:
        return 0


class Updater:
    def __init__(self, fs, board):
        self.fs = fs
        self.board = board
        self.stage = self._load()
        self.manifest = None  # the staged manifest, parsed (when its file is done)
        self.verified = 0  # files checked by ARM since this start

    def _load(self):
        try:
            with self.fs.open(_STAGE) as f:
                st = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return st if type(st) is dict and "sha" in st else None

    def _save(self, st):
        with self.fs.open(_STAGE_TMP, "w") as f:
            f.write(json.dumps(st))
        self.fs.rename(_STAGE_TMP, _STAGE)
        self.stage = st

    def _files(self):
        if self.manifest is None and self.stage and self.stage["done"] >= 1:
            self.manifest = self.read()
        return self.manifest["files"] if self.manifest else None

    def read(self):
        """The staged manifest, parsed and checked: files, each [name, size, sha] named
        inside the slot. Anything else drops the stage (it raised ERR_INTERNAL at every
        request until another bundle came) and is ERR_FORMAT."""
        try:
            with self.fs.open(self._path(0)) as f:
                m = json.loads(f.read())
            files = m["files"]
            if type(files) is not list or not files:
                raise ValueError
            for name, size, sha in files:
                if type(name) is not str or type(sha) is not str or type(size) is not int:
                    raise ValueError
                # littlefs resolves "..": ../../main.py from a slot wrote the boot loader
                if size < 0 or name == "main.py":
                    raise ValueError
                for part in name.split("/"):
                    if not part.strip("."):  # "", "." or ".." (only dots: no file's name)
                        raise ValueError
        except (ValueError, KeyError, TypeError):
            self.drop()
            raise UpdateError(fr.ERR_FORMAT, "not a manifest") from None
        return m

    def drop(self):
        """No stage: nothing of it is any use."""
        self.fs.remove(_STAGE)
        self.stage = None
        self.manifest = None

    def _path(self, k):
        slot = self.stage["slot"]
        if k == 0:
            return slot + "/" + _MANIFEST
        return slot + "/" + self._files()[k - 1][0]

    def _expected(self, k):
        return self.stage["length"] if k == 0 else self._files()[k - 1][1]

    def count(self):
        files = self._files()
        return len(files) + 1 if files is not None else 0

    def current(self):
        """The path of the file the transfer stands at, None if none (or all done)."""
        st = self.stage
        if st is None:
            return None
        done = st["done"]
        return self._path(done) if done == 0 or done < self.count() else None

    def state(self, out, k):
        """sha(32) done(2) size(4) count(2) into out[k:]; returns the length."""
        st = self.stage
        out[k : k + 32] = bytes(32) if st is None else bytes.fromhex(st["sha"])
        fr.put16(out, k + 32, st["done"] if st else 0)
        path = self.current()
        fr.put32(out, k + 34, _size(self.fs, path) if path else 0)
        fr.put16(out, k + 38, self.count())
        return 40

    # -- requests ----------------------------------------------------------------------
    def begin(self, sha, length):
        pointer = image.read(self.fs)
        if pointer.get("trial"):
            raise UpdateError(fr.ERR_BUSY, "a new image is on trial")
        slot = image.spare(pointer)
        sha = hexlify(sha).decode()
        st = self.stage
        if st and st["sha"] == sha and st["slot"] == slot:
            return False  # the same bundle: resumed where it stands
        self.manifest = None
        self.verified = 0
        self.stage = {"sha": sha, "length": length, "slot": slot, "done": 0}
        self._truncate(0)
        self._save(self.stage)
        return True

    def chunk(self, k, offset, data):
        st = self.stage
        if st is None:
            raise UpdateError(fr.ERR_BUSY, "no update begun")
        path = self.current()
        size = _size(self.fs, path) if path else 0
        if k != st["done"] or path is None or offset != size:
            raise UpdateError(fr.ERR_OFFSET)
        want = self._expected(k)
        if size + len(data) > want:
            raise UpdateError(fr.ERR_FORMAT, "beyond the file's size")
        if data:
            with self.fs.open(path, "wb" if offset == 0 else "ab") as f:
                f.write(data)
        if size + len(data) == want:
            self._complete(k, path)

    def _complete(self, k, path):
        st = self.stage
        digest = sha256_file(self.fs, path)
        if k == 0:
            if digest != st["sha"]:
                self._truncate(0)
                raise UpdateError(fr.ERR_HASH, "manifest")
            m = self.read()  # (before any of its files is opened)
            if m.get("board") != self.board:
                self.drop()
                raise UpdateError(
                    fr.ERR_BOARD, "for %s, this is %s" % (m.get("board"), self.board)
                )
            self.manifest = m
        elif digest != self._files()[k - 1][2]:
            self._truncate(k)
            raise UpdateError(fr.ERR_HASH, self._files()[k - 1][0])
        if k + 1 < self.count():
            self._truncate(k + 1)
        st = dict(st)
        st["done"] = k + 1
        self._save(st)

    def _truncate(self, k):
        path = self._path(k)
        parts = path.split("/")
        for i in range(1, len(parts)):
            try:
                self.fs.mkdir("/".join(parts[:i]))
            except OSError:
                pass  # there already
        self.fs.open(path, "wb").close()

    def arm(self, k):
        """Check file k (1..n) on flash against the manifest; after the last, write the
        pointer. Returns True when armed."""
        st = self.stage
        n = self.count()
        if st is None or n == 0 or st["done"] < n:
            raise UpdateError(fr.ERR_BUSY, "the transfer is not complete")
        if k != self.verified + 1 or k >= n:
            raise UpdateError(fr.ERR_OFFSET)
        name, _size_b, sha = self._files()[k - 1]
        if sha256_file(self.fs, self._path(k)) != sha:
            # changed on flash since it was written: sent again
            self._truncate(k)
            self._save({"sha": st["sha"], "length": st["length"], "slot": st["slot"], "done": k})
            self.verified = 0
            raise UpdateError(fr.ERR_HASH, name)
        self.verified = k
        if k < n - 1:
            return False
        pointer = image.read(self.fs)
        m = self.manifest
        image.write(
            self.fs,
            {
                "image": st["slot"],
                "build": m.get("build", ""),
                "version": m.get("version", ""),
                "previous": pointer.get("image", ""),
                "previous_build": pointer.get("build", ""),
                "trial": 1,
                "tries": 0,
            },
        )
        self.fs.remove(_STAGE)
        self.stage = None
        self.manifest = None
        self.verified = 0
        return True
