"""The service link's pack side: answers service frames (service/frame.py) from the app.

Reads need nothing; writes need the physical unlock (two short RESET presses, see
bms/button.py) and are refused with ERR_LOCKED without it. Runs between ticks, from the
RS485 receive path (inverter_link.py), so it may allocate; it never changes what the
tick is doing: a config write is validated by the firmware's own table, stored with a
revision and a CRC, and applied at the next start (RESTART, a safe point: between
ticks, the state saved, the FETs off across it). RESTART and UPDATE_ARM are refused
(ERR_BUSY) while a protection row is pending or tripped: the restart would forget it.

Paged reads (VERSION, STATUS, COUNTERS) are JSON documents read in slices: the request
holds the offset (2 bytes); offset 0 takes a new snapshot, later offsets read the same
one, so a document is consistent across its pages. A reply's payload is
`status total(2) offset(2) bytes`.

Malformed frames (a bad CRC or length: the address cannot be trusted) are dropped and
counted; a request for another pack is ignored (counted); a request to ALL is done but
not answered. Everything else gets a reply, an error one if it cannot be done.
"""

import json

from micropython import const

from bms import events as ev
from bms import lazy, ticks
from bms.config import KEYS, SPEC, Config, ConfigError
from protocols.fields import put_hex
from service import frame as fr
from service.update import UpdateError

VERSION = "0.11.0"
_EVENT_SIZE = const(18)  # seq(4) t_ms(4) code(1) what(1) value(4) extra(4)
_EVENTS_MAX = const(12)  # records in one reply (12 x 18 + 10 <= MAX_PAYLOAD)
_COUNT_MASK = const(0x3FFFFFFF)
_UNLOCK = const(4)  # bms.button.UNLOCK: the event's `what`
_UNITS = (("_mv", "mV"), ("_ma", "mA"), ("_dc", "0.1C"), ("_ms", "ms"), ("_mah", "mAh"))
MODES = ("off", "standby", "charge", "discharge", "fault", "sleep")


def unit(key):
    """The unit a config key's name carries (its suffix), "" for a plain number."""
    for suffix, name in _UNITS:
        if key.endswith(suffix):
            return name
    if key.endswith("_pct"):
        return "%"
    return ""


class Server:
    def __init__(self, app, address=1):
        """app: the running App (its core, config, event log, store, board)."""
        self.app = app
        self.address = address
        self.me = address  # the address of the request being answered
        self.out = bytearray(fr.MAX_PAYLOAD + fr.OVERHEAD)
        self.docs = {}  # command -> the snapshot being paged
        self.restart_due = False  # RESTART answered: the link restarts once it has gone out
        self.updater = None  # service.update.Updater, made at the first update request
        # counters
        self.requests = 0
        self.bad_frames = 0  # CRC or length
        self.not_ours = 0
        self.errors = 0  # error replies
        # writes without the unlock, a restart or an arm to every pack or while a
        # protection is pending or tripped
        self.refused = 0
        self.failures = 0  # requests that raised (ERR_INTERNAL)

    # -- the frame ---------------------------------------------------------------------
    def handle(self, buf, n, now, me=0):
        """A received frame in buf[:n]; returns the reply's length in self.out (0: none).
        me: the address this link knows the pack by (CAN: its chain address), else
        self.address (RS485 port 1)."""
        if not fr.valid(buf, n):
            self.bad_frames = (self.bad_frames + 1) & _COUNT_MASK
            return 0
        me = self.me = me or self.address
        address = buf[1]
        if address != me and address != fr.ALL:
            self.not_ours = (self.not_ours + 1) & _COUNT_MASK
            return 0
        self.requests = (self.requests + 1) & _COUNT_MASK
        cmd = buf[2]
        if address == fr.ALL and (cmd == fr.RESTART or cmd == fr.UPDATE_ARM):
            # a parallel system's packs all restarting at once is the whole bank's
            # current gone together: one pack at a time (bmsctl --all does so)
            self.refused = (self.refused + 1) & _COUNT_MASK
            return 0
        payload = bytes(buf[fr.HEAD : n - 2])
        try:
            length = self._dispatch(cmd, payload, now)
        except ConfigError as e:
            length = self._error(fr.ERR_CONFIG, str(e))
        except UpdateError as e:
            length = self._error(e.status, str(e))
            if e.status == fr.ERR_OFFSET:  # where the transfer stands, to go on from
                length = 1 + self._update().state(self.out, fr.HEAD + 1)
        except OSError:
            length = self._error(fr.ERR_STORE)
        except Exception as e:  # noqa: BLE001 - a service request never reaches the safety
            # net: the FETs must not open for a read that went wrong
            self.failures = (self.failures + 1) & _COUNT_MASK
            length = self._error(fr.ERR_INTERNAL, repr(e))
        if address == fr.ALL:
            return 0
        return fr.seal(self.out, me, cmd | fr.REPLY, length)

    def _dispatch(self, cmd, p, now):
        if cmd == fr.VERSION or cmd == fr.STATUS or cmd == fr.COUNTERS:
            if len(p) != 2:
                return self._error(fr.ERR_FORMAT)
            return self._page(cmd, fr.get16(p, 0), now)
        if cmd == fr.CELLS:
            return self._cells() if not p else self._error(fr.ERR_FORMAT)
        if cmd == fr.EVENTS:
            return self._events(fr.get32(p, 0)) if len(p) == 4 else self._error(fr.ERR_FORMAT)
        if cmd == fr.CONFIG:
            return self._config(p[0]) if len(p) == 1 else self._error(fr.ERR_FORMAT)
        if cmd == fr.UPDATE_STATE:
            return self._ok(self._update().state(self.out, fr.HEAD + 1))
        if cmd == fr.LOCK:
            self.app.bms.unlocked = False
            return self._ok(0)
        if cmd == fr.UNLOCK_RELAY:
            return self._unlock_relay(p, now)
        if not (fr.SET_CONFIG <= cmd <= fr.RESTART or fr.UPDATE_BEGIN <= cmd <= fr.UPDATE_ARM):
            return self._error(fr.ERR_COMMAND)
        if not self.app.bms.unlock_valid(now):
            self.refused = (self.refused + 1) & _COUNT_MASK
            return self._error(fr.ERR_LOCKED)
        if cmd == fr.RESTART or cmd == fr.UPDATE_ARM:
            # (a restart released a CHTP trip at 48 C and cut DOCP's 60 s short)
            b = self.app.bms
            if lazy.run("bms.protect_init", "restart_loses", b.engine, b.vals):
                self.refused = (self.refused + 1) & _COUNT_MASK
                if self.updater is not None:
                    self.updater.verified = 0  # (the next ARM checks from file 1)
                return self._error(fr.ERR_BUSY, "a protection is pending or tripped")
        if cmd == fr.SET_CONFIG:
            return self._set_config(p, now)
        if cmd == fr.CLEAR_EVENTS:
            return self._clear_events(p, now)
        if cmd == fr.SET_CLOCK:
            if len(p) != 4:
                return self._error(fr.ERR_FORMAT)
            self.app.service_clock = (fr.get32(p, 0), now)  # (kept across a restart)
            return self._ok(0)
        if cmd == fr.RESTART:
            if p:
                return self._error(fr.ERR_FORMAT)
            self.restart_due = True
            return self._ok(0)
        return self._updating(cmd, p, now)

    def _update(self):
        if self.updater is None:
            from service.update import Updater

            self.updater = Updater(self.app.store.fs, getattr(self.app.board, "name", "host"))
        return self.updater

    def _updating(self, cmd, p, now):
        """BEGIN sha(32) length(4); CHUNK file(2) offset(4) data; ARM file(2). Each
        replies the transfer's state (ARM: armed(1), and a restart follows the last)."""
        up = self._update()
        k = fr.HEAD + 1
        if cmd == fr.UPDATE_BEGIN:
            if len(p) != 36:
                return self._error(fr.ERR_FORMAT)
            up.begin(p[:32], fr.get32(p, 32))
        elif cmd == fr.UPDATE_CHUNK:
            if len(p) < 6:
                return self._error(fr.ERR_FORMAT)
            up.chunk(fr.get16(p, 0), fr.get32(p, 2), p[6:])
        else:
            if len(p) != 2:
                return self._error(fr.ERR_FORMAT)
            count = up.count()
            armed = up.arm(fr.get16(p, 0))
            self.out[k] = 1 if armed else 0
            if armed:
                self.app.events.log(now, ev.UPDATE, 0, count - 1)
                self.restart_due = True
            return self._ok(1)
        return self._ok(up.state(self.out, k))

    def _ok(self, length):
        """The OK status before `length` payload bytes already at out[HEAD + 1:]."""
        self.out[fr.HEAD] = fr.OK
        return length + 1

    def _error(self, status, text=""):
        self.errors = (self.errors + 1) & _COUNT_MASK
        out = self.out
        out[fr.HEAD] = status
        data = text.encode()[: fr.MAX_PAYLOAD - 1]
        out[fr.HEAD + 1 : fr.HEAD + 1 + len(data)] = data
        return 1 + len(data)

    # -- reads -------------------------------------------------------------------------
    def _page(self, cmd, offset, now):
        if offset == 0 or cmd not in self.docs:
            self.docs[cmd] = json.dumps(self._document(cmd, now)).encode()
        doc = self.docs[cmd]
        if offset > len(doc):
            return self._error(fr.ERR_RANGE)
        chunk = doc[offset : offset + fr.MAX_PAYLOAD - 5]
        out = self.out
        k = fr.HEAD + 1
        fr.put16(out, k, len(doc))
        fr.put16(out, k + 2, offset)
        out[k + 4 : k + 4 + len(chunk)] = chunk
        return self._ok(4 + len(chunk))

    def _document(self, cmd, now):
        app = self.app
        if cmd == fr.VERSION:
            return {
                "version": VERSION,
                "build": build_hash(app.store.fs, getattr(app.board, "image", None)),
                "board": getattr(app.board, "name", "host"),
                "address": self.me,
                "serial": _serial(app.bms.uid),
                # a new image still on trial (not confirmed): bmsctl waits it out
                "trial": 0 if app.trial is None else 1,
            }
        if cmd == fr.COUNTERS:
            return self._counters()
        return self._status(now)

    def _status(self, now):
        """What the trace shows (../shared/spec/sim.md), from the firmware's side; the
        names and limits from bms/core_status.py, loaded once for the reply (the core's
        protection_names(), warning_names() and Limits.as_dict() would load it each)."""
        from bms import core_status

        try:
            return self._status_with(core_status, now)
        finally:
            lazy.drop("bms.core_status")

    def _status_with(self, cs, now):
        app = self.app
        b = app.bms
        s = app.sample
        t = s.temps_dc
        logic = b.panel
        leds = logic.leds(ticks.diff(now, logic.origin))
        return {
            "t_ms": now,
            "mode": MODES[b.mode],
            "valid": s.valid,
            "cells_mv": list(s.cells_mv),
            "pack_mv": s.stack_mv,
            "current_ma": b.reported_ma,
            "temps_dc": {"cells": [t[0], t[1], t[2], t[3]], "ambient": t[4], "mos": t[5]},
            "soc_cpct": b.soc.shown_cpct if b.started else None,
            "fets": {"charge": b.chg, "discharge": b.dsg, "precharge": b.pre},
            "relays": {"charge": b.relay_chg, "discharge": b.relay_dsg},
            "leds": leds,
            "protections": cs.protections(b),
            "warnings": cs.warnings(b),
            "balancing": b.balancer.cells(),
            "limits": cs.limits(b.limits),
            "inputs": {"passive": app.inputs.passive, "rsd": app.inputs.rsd},
            "unlocked": b.unlock_valid(now),
        }

    def _counters(self):
        app = self.app
        out = {
            "boots": app.state.get("boots", 0),
            "ticks": app.ticks,
            "exceptions": app.exceptions,
            "store_errors": app.store_errors,
            "implausible": app.implausible,
            "afe_errors": app.afe.errors,
            "dip_changes": app.dip_changes,  # since the boot (the first four logged)
            "service": {
                "requests": self.requests,
                "bad_frames": self.bad_frames,
                "not_ours": self.not_ours,
                "errors": self.errors,
                "refused": self.refused,
                "failures": self.failures,
            },
        }
        port = app.board.rs485
        if port is not None:
            out["rs485"] = {
                "frames": port.frames,
                "garbage": port.garbage,
                "overlong": port.overlong,
                "timeouts": port.timeouts,
                "tx_errors": port.tx_errors,
            }
        link = app.link
        out["link"] = {
            "polls": link.polls,
            "heartbeats": link.heartbeats,
            "rx_other": link.rx_other,
            "sma": link.sma,  # 1: a Sunny Island heard, 0x351 kept within its ranges
        }
        server = link.server
        if server is not None:
            out["pylon"] = {
                "not_frames": server.not_frames,
                "not_ours": server.not_ours,
                "bad_chksum": server.bad_chksum,  # broken frames, ours or not
                "no_room": server.no_room,  # system answers refused (RTN 91): no heap
            }
        pk = link.packlink
        if pk is not None:
            # the system's table or views not made for want of heap: the master asked the
            # inverter for no current meanwhile
            out["packlink"] = {"bad_frames": pk.bad_frames, "no_room": pk.no_room}
        can = app.board.can
        if can is not None:
            out["can"] = {
                "bus_off": can.bus_off,
                "tec": can.tec,
                # receiving (drivers/mcp2515.py): frames taken, lost in the chip (overflow
                # episodes), dropped by the full ring, the INT handler's errors, garbled
                "received": can.received,
                "rx_overflows": can.rx_overflows,
                "rx_ring_dropped": can.rx_ring_dropped,
                "irq_errors": can.irq_errors,
                "rx_garbled": can.rx_garbled,
            }
        if link.service_can is not None:
            out["service_can"] = link.service_can.counters()
        return out

    def _cells(self):
        """valid(1), 16 x cell mV (2 each)."""
        s = self.app.sample
        out = self.out
        k = fr.HEAD + 1
        out[k] = 1 if s.valid else 0
        cells = s.cells_mv
        for i in range(len(cells)):
            fr.put16(out, k + 1 + 2 * i, cells[i])
        return self._ok(1 + 2 * len(cells))

    def _events(self, since):
        """oldest(4) next(4) clock_epoch_s(4) clock_ticks_ms(4) count(1), then count
        records from `since` (or the oldest kept): seq t_ms code what value extra."""
        log = self.app.events
        out = self.out
        k = fr.HEAD + 1
        oldest = log.oldest_seq()
        fr.put32(out, k, oldest)
        fr.put32(out, k + 4, log.next_seq)
        clock = self.app.service_clock or (0, 0)
        fr.put32(out, k + 8, clock[0])
        fr.put32(out, k + 12, clock[1])
        seq = since if since > oldest else oldest
        count = 0
        p = k + 17
        while seq < log.next_seq and count < _EVENTS_MAX:
            rec = log.get(seq)
            seq += 1
            if rec[2] == ev.SKIPPED:
                continue  # a number skipped at a boot: no record
            fr.put32(out, p, rec[0])
            fr.put32(out, p + 4, rec[1])
            out[p + 8] = rec[2]
            out[p + 9] = rec[3]
            fr.put32(out, p + 10, rec[4])
            fr.put32(out, p + 14, rec[5])
            p += _EVENT_SIZE
            count += 1
        out[k + 16] = count
        return self._ok(17 + count * _EVENT_SIZE)

    def _config(self, first):
        """count(1) first(1) rows(1), then rows from key index `first` while they fit:
        name_len name value default lowest highest (4 each) unit_len unit."""
        if first >= len(KEYS):
            return self._error(fr.ERR_RANGE)
        cfg = self.app.cfg
        out = self.out
        k = fr.HEAD + 1
        out[k] = len(KEYS)
        out[k + 1] = first
        p = k + 3
        rows = 0
        index = 0
        for key, default, lo, hi in SPEC:
            if index >= first:
                u = unit(key)
                size = 2 + len(key) + 16 + len(u)
                if p + size > fr.HEAD + fr.MAX_PAYLOAD:
                    break
                out[p] = len(key)
                out[p + 1 : p + 1 + len(key)] = key.encode()
                p += 1 + len(key)
                for v in (getattr(cfg, key), default, lo, hi):
                    fr.put32(out, p, v)
                    p += 4
                out[p] = len(u)
                out[p + 1 : p + 1 + len(u)] = u.encode()
                p += 1 + len(u)
                rows += 1
            index += 1
        out[k + 2] = rows
        return self._ok(p - k)

    # -- writes ------------------------------------------------------------------------
    def restart(self, now):
        """RESTART, once its reply has gone out: announced to the inverter first
        (service/restart.py: NOTICE_MS asking for no current), then between ticks the
        FETs off, the state saved and the restart, as the RESET button's 5 s restart; the
        stored config applies at start."""
        from service.restart import Notice

        link = self.app.link
        if link.notice is None:
            link.notice = Notice(self.app, now)

    def _set_config(self, p, now):
        """name_len name value(4): checked against the whole table with the values stored
        so far over the running config (the board's config.json in it), stored, applied
        at the next start. Replies the stored revision (4). A stored config that cannot
        be read (the boot left it out) is written anew."""
        if len(p) < 6 or len(p) != p[0] + 5:
            return self._error(fr.ERR_FORMAT)
        try:
            key = p[1 : 1 + p[0]].decode()
        except ValueError:  # not UTF-8, no key's name (it raised: ERR_INTERNAL)
            return self._error(fr.ERR_FORMAT)
        value = fr.get32(p, 1 + p[0])
        store = self.app.store
        try:
            saved = store.load_config()
        except ValueError:  # its CRC or its form: nothing in it applies at a start
            saved = {}
        values = saved.get("values", {})
        values[key] = value
        # (the next start's config: the defaults, the board's overrides, the values stored)
        check = self.app.cfg.as_dict()
        check.update(values)
        Config(check)  # raises ConfigError naming the key and its range
        rev = saved.get("rev", 0) + 1
        store.save_config({"rev": rev, "values": values})
        self.app.events.log(now, ev.CONFIG, ev.CONFIG_SERVICE, value, KEYS.index(key))
        fr.put32(self.out, fr.HEAD + 1, rev)
        return self._ok(4)

    def _unlock_relay(self, p, now):
        """The master's unlock, relayed: a slave takes it only while the master's unlock,
        as the chain's beacons on its Link IN last carried it, holds (packlink.py: never
        a CAN frame's word, which anyone on the bus can send), whoever sent the
        request (the master's RS485 relay, or anyone on CAN), for no longer than the
        master has left (nor than the ms the master's relay adds, 4, when given); shows it
        as its own and logs it (RESET unlock, value -1: relayed). A master, or a pack
        without an address, is unlocked at the pack only."""
        app = self.app
        valid_ms = app.cfg.unlock_valid_ms
        if len(p) == 4:
            asked = fr.get32(p, 0)
            if not 0 < asked <= valid_ms:
                return self._error(fr.ERR_FORMAT)
        elif p:
            return self._error(fr.ERR_FORMAT)
        else:
            asked = valid_ms
        a = app.address
        if a is None or a < 2:
            self.refused = (self.refused + 1) & _COUNT_MASK
            return self._error(fr.ERR_LOCKED, "a master is unlocked at the pack only")
        pk = app.packlink
        left = pk.master_unlock_left(now)
        if not left:
            self.refused = (self.refused + 1) & _COUNT_MASK
            return self._error(fr.ERR_LOCKED, "the master is not unlocked")
        if asked < left:
            left = asked
        b = app.bms
        b.unlocked = True
        b.unlock_at = pk.relay_at = ticks.add(now, left - valid_ms)
        app.events.log(now, ev.RESET, _UNLOCK, -1, 1)
        return self._ok(0)

    def _clear_events(self, p, now):
        if p:
            return self._error(fr.ERR_FORMAT)
        log = self.app.events
        self.app.store.clear_events()
        # the sequence numbers go on: a reader's "since" stays meaningful
        log.clear()
        log.log(now, ev.CONFIG, ev.CONFIG_CLEARED, log.next_seq - 1)
        return self._ok(0)


def build_hash(fs, running=None):
    """The running image's bundle hash (its manifest's), "dev" for a source tree. An
    image armed but not booted yet (a trial without a try), or one the board does not
    run (running: the board's image folder, when it says; the image before a trial
    runs on a flash that took no write at boot), is not the one running."""
    try:
        with fs.open("image.json") as f:
            p = json.loads(f.read())
    except (OSError, ValueError):
        return "dev"
    if type(p) is not dict:
        return "dev"
    before = p.get("trial") and not p.get("tries")
    if before or (running is not None and running != p.get("image")):
        return p.get("previous_build") or "dev"
    return p.get("build") or "dev"


def _serial(uid):
    """The pack's serial number as the inverter protocols give it (16 hex digits)."""
    text = bytearray(16)
    put_hex(text, 0, uid, 0, 8)
    return text.decode()
