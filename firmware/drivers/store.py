"""Persistence on the board's flash: the event log and a small state record.

Takes a filesystem object with open/remove/rename (littlefs on RP2040 and ESP32,
behind a thin adapter in the board file; an in-memory one on the host).

- Events are 20-byte binary records appended to two files in turn, each holding at
  most one log's worth; when the active file is full the other is truncated and takes
  over, so the flash always holds the newest records and no file grows without bound.
  Appending needs to know what the files hold: after a read error (not a missing file)
  it waits, counted, for a load that succeeds, rather than reuse sequence numbers or
  truncate the file with the newest records.
  A record torn by a power cut mid-write is cut off at the next boot (the whole records
  written to a temporary file renamed over it); if that fails the whole records still
  load, and the cut is tried again before the next append.
- Sequence numbers are never used twice, even for records a power cut or a reset took
  before they reached flash: seqmark.bin holds a mark the log's numbers stay below,
  written (atomically, renamed over) ahead of use in blocks of SEQ_BLOCK, so it costs a
  small write every SEQ_BLOCK // 2 records. A boot goes on from that mark, skipping the
  numbers between the last record on flash and it (events.SKIPPED in the log) and
  reserving the next block at once. Only a log running more than half a block ahead of
  the housekeeping beat that renews the mark, or a flash that refuses the mark's
  writes, can get past it; records still go to flash then (a boot goes on past the
  last of them), only numbers of records lost with RAM may come again.
- The state (boot count, SOC, learned capacity, cycles) is JSON written to a temporary
  file and renamed over the old one: littlefs renames atomically, so a power cut leaves
  the old state or the new one, never a mix. The file carries a version and a CRC of
  the state's JSON, {"v": 1, "state": {...}, "crc": N}, so corrupt data is refused
  rather than used; a file written before them (the bare state: neither a "state" nor a
  "crc" key) still loads.
- A file that does not exist is empty; any other error raises OSError (and bad state
  content ValueError), so the caller can tell "nothing stored" from "not readable now"
  and does not write over what it could not read.
"""

import errno
import struct

from micropython import const

from bms import lazy

_FMT = "<iiBBxxii"  # seq, t_ms, code, what, (pad), value, extra
_SIZE = 20
_FILES = ("events0.bin", "events1.bin")
_CHUNK = const(32)  # records written at a time (640 B)
_EVENTS_TMP = "events.tmp"
_STATE = "state.json"
_STATE_TMP = "state.tmp"
_STATE_BAD = "state.bad"
_HEAD = '{"v": 1, "state": '
_SEQ = "seqmark.bin"  # the mark: seq and seq ^ _CRC_MASK, little-endian int32
_SEQ_TMP = "seqmark.tmp"
SEQ_BLOCK = const(32)
_CONFIG = "config.json"  # the service link's config writes (service/server.py)
_CONFIG_TMP = "config.tmp"
_TAIL = ', "crc": '
_CRC_MASK = const(0x3FFFFFFF)  # 30 bits: a small int on every port
# no firmware numbers this many records (17 years at one a second): a record or mark at or
# past it is a flipped bit, and one taken would soon leave the small ints (2**30)
SEQ_LIMIT = const(1 << 29)


def _crc32(data, crc=0):
    """binascii.crc32, for a port built without it (only a save or a load runs it)."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = crc >> 1 ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


try:
    from binascii import crc32
except ImportError:
    crc32 = _crc32


def _crc(text):
    return crc32(text.encode()) & _CRC_MASK


def _read(fs, name):
    """The file's bytes; None if it does not exist (any other OSError is raised)."""
    try:
        with fs.open(name, "rb") as f:
            return f.read()
    except OSError as e:
        if e.args and e.args[0] == errno.ENOENT:
            return None
        raise


class Store:
    def __init__(self, fs, per_file=256):
        """fs: the filesystem (see above); per_file: records an event file holds. The body
        (every attribute, commented) is in drivers/store_load.py, loaded for it and
        dropped after: the store is built once, at boot, and loads the log then."""
        lazy.run("drivers.store_load", "init", self, fs, per_file)

    # -- events --------------------------------------------------------------------
    def _cut(self, i, data):
        """File i without the torn record at its end: the whole records go to a temporary
        file renamed over it, so a failure or a power cut leaves the old file, never less."""
        with self.fs.open(_EVENTS_TMP, "wb") as f:
            f.write(data[: len(data) // _SIZE * _SIZE])
        self.fs.rename(_EVENTS_TMP, _FILES[i])

    def load_events(self, log):
        """Refill `log` with the newest records on flash; returns how many. Records the
        log already holds (logged after a load failed) follow them with the next sequence
        numbers, to be written by the next append. Raises OSError if a file cannot be
        read: `log` is left as it was and append_events loads first."""
        return lazy.run("drivers.store_load", "load_events", self, log)

    def _read_mark(self):
        """The mark on flash: 0 if none was written, -1 if what is there is not one."""
        data = _read(self.fs, _SEQ)
        if data is None:
            return 0
        if len(data) != 8:
            return -1
        seq, check = struct.unpack("<ii", data)
        return seq if check == seq ^ _CRC_MASK and 0 <= seq < SEQ_LIMIT else -1

    def reserve_due(self, log):
        """The log's numbers near the mark: the next append must move it first."""
        return log.next_seq + SEQ_BLOCK // 2 > self.seq_mark

    def reserve(self, log):
        """Move the mark a block past the log's next number if it is near; raises
        OSError (counted) if the mark could not be written."""
        if not self.reserve_due(log):
            return
        mark = log.next_seq + SEQ_BLOCK
        try:
            with self.fs.open(_SEQ_TMP, "wb") as f:
                f.write(struct.pack("<ii", mark, mark ^ _CRC_MASK))
            self.fs.rename(_SEQ_TMP, _SEQ)
        except OSError:
            self.errors += 1
            raise
        self.seq_mark = mark

    def append_events(self, log):
        """Write the records logged since the last call; returns how many. Raises OSError
        (what did not reach flash goes with the next call)."""
        if not self.loaded:
            self.load_events(log)
        if self.torn >= 0:
            i = self.torn
            data = _read(self.fs, _FILES[i]) or b""
            if len(data) % _SIZE:
                self._cut(i, data)
            if i == self.active:
                self.in_active = len(data) // _SIZE
            self.torn = -1
        # the mark first, so a reset cannot hand these numbers out again; if it cannot be
        # written the records still go (a TRIP on flash is worth more than numbers that
        # only records lost with RAM could repeat: a boot continues past the last record
        # on flash anyway), and the failure is raised after them
        failed = None
        try:
            self.reserve(log)
        except OSError as e:
            failed = e
        start = self.flushed_seq
        if start < log.oldest_seq():
            start = log.oldest_seq()  # overwritten before they could be written
        written = 0
        seq = start
        while seq < log.next_seq:
            if self.in_active >= self.per_file:
                # the other file takes over once truncated: if that fails, a retry must
                # not find it active and truncate this one, which holds the newest records
                other = self.active ^ 1
                self.fs.open(_FILES[other], "wb").close()
                self.active = other
                self.in_active = 0
            n = min(log.next_seq - seq, self.per_file - self.in_active)
            if n > _CHUNK:
                # (a flush after flash failures holds up to the log's 256 records: 5 KB
                # in one piece, which a heap in service may not have free in one piece)
                n = _CHUNK
            buf = bytearray(n * _SIZE)
            for k in range(n):
                _seq, t_ms, code, what, value, extra = log.get(seq + k)
                struct.pack_into(_FMT, buf, k * _SIZE, seq + k, t_ms, code, what, value, extra)
            try:
                with self.fs.open(_FILES[self.active], "ab") as f:
                    f.write(buf)
            except OSError:
                self.torn = self.active  # a part may have landed: cut and counted first
                raise
            self.in_active += n
            seq += n
            written += n
            self.flushed_seq = seq
        if failed is not None:
            raise failed
        return written

    def clear_events(self):
        """Both event files removed (the log was cleared): what follows starts a file. (A
        service request: the code is in drivers/store_save.py, loaded for it.)"""
        lazy.run("drivers.store_save", "clear_events", self)

    # -- state ---------------------------------------------------------------------
    def load_state(self):
        """The state dict, {} if none was ever saved. Raises OSError if the file cannot be
        read and ValueError if what it holds is not a state: never taken for "none"."""
        return lazy.run("drivers.store_load", "load_state", self.fs)

    def set_aside(self):
        """Keep a state that stays unreadable as state.bad; the next save starts afresh."""
        self.fs.rename(_STATE, _STATE_BAD)

    def save_state(self, state):
        """state as JSON with a CRC, written to a temporary file and renamed over the old
        one (drivers/store_save.py, loaded for it: a state changes now and then)."""
        lazy.run("drivers.store_save", "save", self.fs, _STATE, _STATE_TMP, state)

    # -- config written over the service link ----------------------------------------
    def load_config(self):
        """{"rev": N, "values": {key: value}} as last saved, {} if never; raises as
        load_state does (the values are the config table's to judge)."""
        return lazy.run("drivers.store_load", "load_config", self.fs)

    def save_config(self, saved):
        """As save_state(), for the service link's config writes."""
        lazy.run("drivers.store_save", "save", self.fs, _CONFIG, _CONFIG_TMP, saved)
