"""Persistence on the board's flash: the event log and a small state record.

Takes a filesystem object with open/remove/rename (littlefs on RP2040 and ESP32,
behind a thin adapter in the board file; an in-memory one on the host).

- Events are 20-byte binary records appended to two files in turn, each holding at
  most one log's worth; when the active file is full the other is truncated and takes
  over, so the flash always holds the newest records and no file grows without bound.
  A record torn by a power cut mid-write is ignored at the next boot.
- The state (boot count, SOC, learned capacity, cycles) is JSON written to a temporary
  file and renamed over the old one: littlefs renames atomically, so a power cut leaves
  the old state or the new one, never a mix.
"""

import json
import struct

_FMT = "<iiBBxxii"  # seq, t_ms, code, what, (pad), value, extra
_SIZE = 20
_FILES = ("events0.bin", "events1.bin")
_STATE = "state.json"
_STATE_TMP = "state.tmp"


class Store:
    def __init__(self, fs, per_file=256):
        self.fs = fs
        self.per_file = per_file
        self.active = 0
        self.in_active = 0  # records in the active file
        self.flushed_seq = 0  # every record below this sequence number is on flash
        self.errors = 0

    # -- events --------------------------------------------------------------------
    def _read_file(self, name):
        try:
            with self.fs.open(name, "rb") as f:
                data = f.read()
        except OSError:
            return []
        whole = len(data) // _SIZE
        if whole * _SIZE != len(data):
            # a record torn by a power cut: keep the whole ones so appends stay aligned
            with self.fs.open(name, "wb") as f:
                f.write(data[: whole * _SIZE])
        out = []
        for k in range(whole):
            out.append(struct.unpack_from(_FMT, data, k * _SIZE))
        return out

    def load_events(self, log):
        """Refill `log` with the newest records on flash; returns how many."""
        files = [self._read_file(name) for name in _FILES]
        records = files[0] + files[1]
        records.sort(key=lambda r: r[0])
        records = records[-log.size :]
        for seq, t_ms, code, what, value, extra in records:
            log.next_seq = seq
            log.log(t_ms, code, what, value, extra)
        last = [f[-1][0] if f else -1 for f in files]
        self.active = 0 if last[0] >= last[1] else 1
        self.in_active = len(files[self.active])
        self.flushed_seq = log.next_seq
        return len(records)

    def append_events(self, log):
        """Write the records logged since the last call; returns how many."""
        start = self.flushed_seq
        if start < log.oldest_seq():
            start = log.oldest_seq()  # overwritten before they could be written
        written = 0
        seq = start
        while seq < log.next_seq:
            if self.in_active >= self.per_file:
                self.active ^= 1
                self.fs.open(_FILES[self.active], "wb").close()
                self.in_active = 0
            n = min(log.next_seq - seq, self.per_file - self.in_active)
            buf = bytearray(n * _SIZE)
            for k in range(n):
                _seq, t_ms, code, what, value, extra = log.get(seq + k)
                struct.pack_into(_FMT, buf, k * _SIZE, seq + k, t_ms, code, what, value, extra)
            with self.fs.open(_FILES[self.active], "ab") as f:
                f.write(buf)
            self.in_active += n
            seq += n
            written += n
        self.flushed_seq = seq
        return written

    # -- state ---------------------------------------------------------------------
    def load_state(self):
        try:
            with self.fs.open(_STATE, "r") as f:
                state = json.loads(f.read())
        except (OSError, ValueError):
            return {}
        return state if type(state) is dict else {}

    def save_state(self, state):
        with self.fs.open(_STATE_TMP, "w") as f:
            f.write(json.dumps(state))
        self.fs.rename(_STATE_TMP, _STATE)
