"""Reading what drivers/store.py keeps on flash: the event files (a torn record cut off),
the state and the service link's config, each checked; and the Store's constructor.
Needed at boot (and when a read that failed there is tried again), so Store loads this
module for it and drops it again: its code does not stay in a board's heap in service.
"""

import json
import struct

from bms.events import NAMES as ev_names
from bms.events import SKIPPED as ev_skipped
from drivers.store import (
    _CONFIG,
    _FILES,
    _FMT,
    _HEAD,
    _SIZE,
    _STATE,
    _TAIL,
    SEQ_BLOCK,
    SEQ_LIMIT,
    _crc,
    _read,
)


def init(self, fs, per_file):
    """Store(fs, per_file): every attribute of the store."""
    self.fs = fs
    self.per_file = per_file
    self.active = 0
    self.in_active = 0  # records in the active file
    self.flushed_seq = 0  # every record below this sequence number is on flash
    self.errors = 0
    self.loaded = True  # False after a load that failed: appending waits for one
    self.torn = -1  # a file whose torn record could not be cut off: appends would misalign
    self.seq_mark = 0  # the log's numbers below this are reserved on flash
    self.skipped = 0  # numbers skipped at the last load (used, maybe, by the last life)
    self.dropped = 0  # records on flash no firmware wrote (a flipped bit), at the last load


def read_file(store, i):
    """The records of event file i a firmware could have written, in order."""
    return records_in(store, i)[0]


def records_in(store, i):
    """(the records of event file i a firmware could have written, how many the file
    holds): appends go on after all of them."""
    data = _read(store.fs, _FILES[i])
    if data is None:
        return [], 0
    whole = len(data) // _SIZE
    if whole * _SIZE != len(data):
        # a record torn by a power cut: cut off so appends stay aligned; the whole
        # ones load even if that fails (it is tried again before the next append)
        try:
            store._cut(i, data)
        except OSError:
            store.errors += 1
            store.torn = i
    out = []
    for k in range(whole):
        r = struct.unpack_from(_FMT, data, k * _SIZE)
        if 0 <= r[0] < SEQ_LIMIT and r[2] < len(ev_names):
            out.append(r)
    kept = in_line(out)
    store.dropped += whole - len(kept)
    return kept, whole


def in_line(records):
    """The records as a firmware wrote them into one file: numbers rising (an append goes
    on from the last, a boot skips ahead). No CRC guards a record, so a flipped bit shows
    as a number out of line: the longest rising run is kept (patience sorting, the
    smallest numbers on ties) and the rest dropped."""
    tails = []  # tails[k]: the index of the lowest last number of a run of k + 1
    prev = []
    for i in range(len(records)):
        seq = records[i][0]
        lo = 0
        hi = len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if records[tails[mid]][0] < seq:
                lo = mid + 1
            else:
                hi = mid
        prev.append(tails[lo - 1] if lo else -1)
        if lo == len(tails):
            tails.append(i)
        else:
            tails[lo] = i
    out = []
    i = tails[-1] if tails else -1
    while i >= 0:
        out.append(records[i])
        i = prev[i]
    out.reverse()
    return out


def load_events(store, log):
    """Refill `log` with the newest records on flash; returns how many. Records the
    log already holds (logged after a load failed) follow them with the next sequence
    numbers, to be written by the next append. Raises OSError if a file cannot be
    read: `log` is left as it was and append_events loads first."""
    store.loaded = False
    store.dropped = 0
    try:
        (files0, whole0), (files1, whole1) = records_in(store, 0), records_in(store, 1)
    except OSError:
        store.errors += 1
        raise
    held = [log.get(seq) for seq in range(log.oldest_seq(), log.next_seq)]
    mark = store._read_mark()
    records = files0 + files1
    records.sort(key=lambda r: r[0])
    # the files never share a number (one is emptied before it takes over): a second
    # record with one is a flipped bit
    for k in range(len(records) - 1, 0, -1):
        if records[k][0] == records[k - 1][0]:
            records.pop(k)
            store.dropped += 1
    records = records[-log.size :]
    log.next_seq = 0
    # a log cleared over the service link starts later than 0
    log.floor = records[0][0] if records else 0
    for seq, t_ms, code, what, value, extra in records:
        _skip_to(log, seq)  # a boot's skipped numbers between records
        log.log(t_ms, code, what, value, extra)
    if mark < 0:  # not a mark: as far as one runs ahead of the last record, and more
        mark = log.next_seq + 2 * SEQ_BLOCK
    store.skipped = mark - log.next_seq if mark > log.next_seq else 0
    _skip_to(log, mark)
    store.seq_mark = log.next_seq
    store.flushed_seq = log.next_seq
    for r in held:
        if r[2] != ev_skipped:
            log.log(r[1], r[2], r[3], r[4], r[5])
    # the active file: the one whose last record is the newer
    newer = (files1[-1][0] if files1 else -1) > (files0[-1][0] if files0 else -1)
    store.active = 1 if newer else 0
    store.in_active = whole1 if newer else whole0
    store.loaded = True
    try:
        store.reserve(log)  # before this boot's records take numbers
    except OSError:
        pass  # counted; the next append writes the mark first
    return len(records)


def _json(text):
    """json.loads, with nesting too deep to parse (CPython's RecursionError) a ValueError
    like any other text that is not the file's: bad content, not a read that failed."""
    try:
        return json.loads(text)
    except RuntimeError:
        raise ValueError("nesting") from None


def load_state(fs):
    """The state dict, {} if none was ever saved. Raises OSError if the file cannot be
    read and ValueError if what it holds is not a state: never taken for "none"."""
    data = _read(fs, _STATE)
    if data is None:
        return {}
    text = data.decode()
    bare = not text.startswith(_HEAD)
    if not bare:
        end = text.rfind(_TAIL)
        body = text[len(_HEAD) : end]
        if end < 0 or text[end + len(_TAIL) :] != "%d}" % _crc(body):
            raise ValueError("state CRC")
        text = body
    state = _json(text)
    if type(state) is not dict or "v" in state:
        raise ValueError("state")  # not one, or of a version this firmware does not know
    if bare and ("state" in state or "crc" in state):
        # a file with a CRC whose header no longer reads as one: one flipped bit ('"w": 1')
        # had it taken for a state from before the CRC (which has neither key), its CRC
        # never checked, and a fresh state saved over it
        raise ValueError("state")
    return state


def load_config(fs):
    """{"rev": N, "values": {key: value}} as last saved, {} if never; raises as
    load_state does (the values are the config table's to judge)."""
    data = _read(fs, _CONFIG)
    if data is None:
        return {}
    text = data.decode()
    end = text.rfind(_TAIL)
    body = text[len(_HEAD) : end]
    if not text.startswith(_HEAD) or end < 0 or text[end + len(_TAIL) :] != "%d}" % _crc(body):
        raise ValueError("config CRC")
    saved = _json(body)
    if type(saved) is not dict or type(saved.get("values")) is not dict:
        raise ValueError("config")
    return saved


def _skip_to(log, seq):
    """The log goes on from sequence number seq (above next_seq): the numbers between are
    SKIPPED (slots zeroed, so no older record shows through them). Only a boot's load
    does it, so the code is here and not in bms/events.py's EventLog."""
    n = seq - log.next_seq
    if n > log.size:
        n = log.size
    for k in range(n):
        i = (log.next_seq + k) % log.size
        log.t_ms[i] = 0
        log.code[i] = ev_skipped
        log.what[i] = 0
        log.value[i] = 0
        log.extra[i] = 0
    if seq > log.next_seq:
        log.next_seq = seq
