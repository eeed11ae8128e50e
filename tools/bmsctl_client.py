"""The host's side of the service link (firmware/service/): requests and decoded replies.

Transport-free: a transport has write(bytes) and read(timeout_s) -> bytes (what arrived
by then, b"" if nothing). tools/bmsctl.py gives it a serial port (pyserial); the tests
and tools/sim.py's pty give it the simulator's RS485 port 1. Runs under CPython and
MicroPython (the tests use it under both).
"""

import json

from service import frame as fr


class ServiceError(Exception):
    """A reply with an error status, or none at all."""

    def __init__(self, message, status=None, payload=b""):
        super().__init__(message)
        self.status = status
        self.payload = payload


STATUS_TEXT = {
    fr.ERR_COMMAND: "unknown command",
    fr.ERR_FORMAT: "malformed request",
    fr.ERR_LOCKED: "no unlock: press RESET twice within 2 s at the pack, then retry",
    fr.ERR_CONFIG: "config refused",
    fr.ERR_RANGE: "beyond the end",
    fr.ERR_STORE: "the pack's flash could not be written",
    fr.ERR_BOARD: "wrong board: the bundle is",
    fr.ERR_HASH: "hash mismatch",
    fr.ERR_OFFSET: "the transfer stands elsewhere",
    fr.ERR_BUSY: "not now",
    fr.ERR_INTERNAL: "the pack failed on the request",
}
CHUNK = 224  # data bytes in one UPDATE_CHUNK (its frame: 236 of MAX_PAYLOAD)


def _s32(b, k):
    return fr.get32(b, k)


class Client:
    def __init__(self, transport, timeout_s=1.0, retries=2):
        self.t = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self._rx = bytearray()

    # -- frames ---------------------------------------------------------------------
    def request(self, address, command, payload=b""):
        """The reply's payload after its OK status; raises ServiceError otherwise."""
        frame = fr.encode(address, command, payload)
        for _ in range(self.retries + 1):
            self._rx = bytearray()
            self.t.write(frame)
            reply = self._reply(address, command | fr.REPLY)
            if reply is not None:
                break
        else:
            raise ServiceError("pack %d did not answer" % address)
        status = reply[0]
        if status != fr.OK:
            text = STATUS_TEXT.get(status, "error %d" % status)
            if status == fr.ERR_OFFSET:
                raise ServiceError(text, status, bytes(reply[1:]))
            detail = bytes(reply[1:]).decode()
            raise ServiceError(text + (": " + detail if detail else ""), status)
        return bytes(reply[1:])

    def _reply(self, address, command):
        """The payload of the first good reply from `address` with `command`, or None."""
        waited = 0.0
        step = self.timeout_s / 10
        while waited < self.timeout_s:
            self._rx.extend(self.t.read(step))
            waited += step
            rx = self._rx
            while rx:
                if rx[0] != fr.START:
                    del rx[0]
                    continue
                if len(rx) < fr.HEAD or len(rx) < rx[3] + fr.OVERHEAD:
                    break
                n = rx[3] + fr.OVERHEAD
                if fr.valid(rx, n) and rx[1] == address and rx[2] == command:
                    return rx[fr.HEAD : n - 2]
                del rx[0]  # not it: look for the next start byte
        return None

    def _document(self, address, command):
        data = bytearray()
        total = None
        while total is None or len(data) < total:
            p = self.request(address, command, bytes((len(data) >> 8, len(data) & 0xFF)))
            total = fr.get16(p, 0)
            if fr.get16(p, 2) != len(data) or len(p) == 4 and len(data) < total:
                raise ServiceError("pack %d sent a page out of order" % address)
            data.extend(p[4:])
        return json.loads(bytes(data))

    # -- reads ----------------------------------------------------------------------
    def version(self, address):
        return self._document(address, fr.VERSION)

    def status(self, address):
        return self._document(address, fr.STATUS)

    def counters(self, address):
        return self._document(address, fr.COUNTERS)

    def cells(self, address):
        p = self.request(address, fr.CELLS)
        # signed: a cell read below 0 V (an open sense wire, still a reading) showed as
        # 65 236 mV, just when the installer looks for it (no cell reads 32.767 V)
        cells = [fr.get16(p, k) for k in range(1, len(p), 2)]
        return {"valid": bool(p[0]), "cells_mv": [v - 0x10000 if v & 0x8000 else v for v in cells]}

    def events(self, address, since=0):
        """(records, next seq, (clock epoch s, ticks ms)): the records from `since` (or the
        oldest kept), each (seq, t_ms, code, what, value, extra), as many as one reply
        holds; ask again from `next` for more."""
        p = self.request(address, fr.EVENTS, _be32(since))
        count = p[16]
        out = []
        for i in range(count):
            k = 17 + 18 * i
            out.append(
                (_s32(p, k), _s32(p, k + 4), p[k + 8], p[k + 9], _s32(p, k + 10), _s32(p, k + 14))
            )
        nxt = out[-1][0] + 1 if out else _s32(p, 4)
        return out, nxt, (_s32(p, 8), _s32(p, 12))

    def all_events(self, address, since=0):
        records = []
        while True:
            got, since, clock = self.events(address, since)
            if not got:
                return records, since, clock
            records.extend(got)

    def config(self, address):
        """Every key: [{"key", "value", "unit", "default", "min", "max"}] in table order."""
        rows = []
        total = 1
        while len(rows) < total:
            p = self.request(address, fr.CONFIG, bytes((len(rows),)))
            total = p[0]
            k = 3
            for _ in range(p[2]):
                n = p[k]
                key = bytes(p[k + 1 : k + 1 + n]).decode()
                k += 1 + n
                nums = [_s32(p, k + 4 * i) for i in range(4)]
                k += 16
                u = bytes(p[k + 1 : k + 1 + p[k]]).decode()
                k += 1 + p[k]
                rows.append(
                    {
                        "key": key,
                        "value": nums[0],
                        "unit": u,
                        "default": nums[1],
                        "min": nums[2],
                        "max": nums[3],
                    }
                )
            if not p[2]:
                raise ServiceError("pack %d sent an empty config page" % address)
        return rows

    # -- writes ---------------------------------------------------------------------
    def set_config(self, address, key, value):
        """Stored on the pack (applied at its next start); returns the config revision.
        A value beyond 32 bits is refused here: the frame's 4 bytes took it modulo 2**32
        (4294970596 was stored as 3300, and reported stored as typed)."""
        if not -(1 << 31) <= value < 1 << 31:
            raise ServiceError(
                "config refused: %s: %d is not a 32-bit value (-2147483648..2147483647)"
                % (key, value)
            )
        name = key.encode()
        p = self.request(address, fr.SET_CONFIG, bytes((len(name),)) + name + _be32(value))
        return _s32(p, 0)

    def clear_events(self, address):
        self.request(address, fr.CLEAR_EVENTS)

    def set_clock(self, address, epoch_s):
        self.request(address, fr.SET_CLOCK, _be32(epoch_s))

    def restart(self, address):
        self.request(address, fr.RESTART)

    def restart_and_wait(self, address, tries=240, pause_s=0.5):
        """RESTART, then until the pack answers again with one boot more and every FET
        that was on before on again: it carries its share of the current again (its
        restart waits a notice to the inverter, service/restart.py; its boot settles,
        boot_settle_ms, and pre-charges first); raises if it does not within tries."""
        boots = self.counters(address)["boots"]
        was = self.status(address)["fets"]
        self.restart(address)
        back = False
        for _ in range(tries):
            self.t.read(pause_s)  # (what comes meanwhile is no reply to anything)
            try:
                back = back or self.counters(address)["boots"] != boots
                if back:
                    fets = self.status(address)["fets"]
                    if all(fets[k] for k in ("charge", "discharge") if was[k]):
                        return
            except (ServiceError, ValueError):
                continue  # restarting (a document's pages from both sides of it: not JSON)
        raise ServiceError("pack %d did not come back after its restart" % address)

    def lock(self, address):
        self.request(address, fr.LOCK)

    def unlock_relay(self, address, tries=3, pause_s=0.6):
        """The master's unlock relayed to slave `address`: through the master (which adds
        what is left of its own unlock) or on CAN straight to the slave; refused unless
        the slave hears the master's unlock down the chain (each pack's beacons on its
        RS485 Link OUT, 200 ms apart): a slave that has not heard it yet is asked again
        (pause_s later, `tries` times in all)."""
        for _ in range(tries - 1):
            try:
                return self.request(address, fr.UNLOCK_RELAY)
            except ServiceError as e:
                if "the master is not unlocked" not in str(e):
                    raise
            self.t.read(pause_s)  # (what comes meanwhile is no reply to anything)
        return self.request(address, fr.UNLOCK_RELAY)

    # -- firmware update ---------------------------------------------------------------
    def update_state(self, address):
        return _state(self.request(address, fr.UPDATE_STATE))

    def update(self, address, bundle, progress=None, hash_retries=3):
        """Send the bundle folder (tools/bundle.py's output) and arm it; returns its
        manifest. Resumes where the pack's staging stands. progress(done, total) is
        called as bytes go out. The pack restarts into it after (see wait_back)."""
        import hashlib

        with open(bundle + "/manifest.json", "rb") as f:
            raw = f.read()
        manifest = json.loads(raw)
        blobs = [raw]
        for path, _size, _sha in manifest["files"]:
            with open(bundle + "/" + path, "rb") as f:
                blobs.append(f.read())
        total = sum(len(b) for b in blobs)
        st = _state(
            self.request(address, fr.UPDATE_BEGIN, hashlib.sha256(raw).digest() + _be32(len(raw)))
        )
        fails = 0
        while st["done"] < len(blobs):
            k = st["done"]
            at = st["size"]
            if progress is not None:
                progress(sum(len(b) for b in blobs[:k]) + at, total)
            data = blobs[k][at : at + CHUNK]
            try:
                st = _state(
                    self.request(
                        address, fr.UPDATE_CHUNK, bytes((k >> 8, k & 0xFF)) + _be32(at) + data
                    )
                )
            except ServiceError as e:
                if e.status == fr.ERR_OFFSET:
                    st = _state(e.payload)
                    continue
                if e.status == fr.ERR_HASH and fails < hash_retries:
                    fails += 1
                    st = self.update_state(address)
                    continue
                raise
        if progress is not None:
            progress(total, total)
        for k in range(1, len(blobs)):
            p = self.request(address, fr.UPDATE_ARM, bytes((k >> 8, k & 0xFF)))
        if not p[0]:
            raise ServiceError("pack %d did not arm the image" % address)
        return manifest

    def wait_back(self, address, build, tries=20, pause_s=0.5):
        """After an update: the pack answers again running `build`; raises if not. A
        pack still on the old build is announcing its restart to the inverter (a few
        seconds): asked again pause_s later."""
        for _ in range(tries):
            try:
                v = self.version(address)
            except ServiceError:
                continue
            if v.get("build") == build:
                return v
            self.t.read(pause_s)  # (what comes meanwhile is no reply to anything)
        raise ServiceError("pack %d did not come back with build %s" % (address, build))

    def wait_confirmed(self, address, build, timeout_s, pause_s=1.0):
        """After wait_back: the pack confirms its new image (its trial's healthy seconds,
        service/image.py); raises if it rolled back to another build, or is still on
        trial after timeout_s."""
        waited = 0.0
        while True:
            try:
                v = self.version(address)
            except ServiceError:
                v = None  # (restarting: a rollback is a restart)
            if v is not None:
                if v.get("build") != build:
                    raise ServiceError(
                        "pack %d rolled back from build %s to %s" % (address, build, v["build"])
                    )
                if not v.get("trial"):
                    return v
            if waited >= timeout_s:
                raise ServiceError("pack %d did not confirm build %s" % (address, build))
            self.t.read(pause_s)
            waited += pause_s


def _state(p):
    """An update state reply: the staged manifest's hash, files done, the size of the
    file in progress, the file count (0 until the manifest is staged)."""
    return {
        "sha": bytes(p[:32]),
        "done": fr.get16(p, 32),
        "size": fr.get32(p, 34),
        "count": fr.get16(p, 38),
    }


def _be32(v):
    v &= 0xFFFFFFFF
    return bytes((v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF))


class SimTransport:
    """The simulator's RS485 port 1 as a transport, in simulated time (for the tests: a
    request and its reply take simulated milliseconds, not real ones)."""

    def __init__(self, sim, port=None):
        self.sim = sim
        self.port = port if port is not None else sim.wire.port()

    def write(self, data):
        self.port.write(data)

    def read(self, timeout_s):
        sim = self.sim
        sim.run(sim.t_ms + int(timeout_s * 1000))
        n = self.port.available()
        buf = bytearray(n)
        self.port.read_into(buf, n)
        return bytes(buf)


class CanFraming:
    """The service frames of a transport on CAN (firmware/service/can.py): a request cut
    into segments under the id of the pack it is for, the packs' reply segments put
    together again (one assembly per replying pack), the whole frames handed on as the
    byte stream the Client reads."""

    def __init__(self):
        self.asm = {}  # replying address -> service.can.Assembler

    def request(self, data):
        """[(can_id, payload)] for one whole service frame (its address byte picks the id)."""
        from service import can

        ident = can.can_id(can.REQUEST, data[1])
        return [(ident, seg) for seg in can.segments(data, len(data))]

    def reply(self, can_id, data):
        """A received CAN frame; the service frame it completes, else b""."""
        from service import can

        kind_address = can.parse_id(can_id)
        if kind_address is None or kind_address[0] != can.REPLY:
            return b""
        a = self.asm.get(kind_address[1])
        if a is None:
            a = self.asm[kind_address[1]] = can.Assembler()
        n = a.feed(data, len(data))
        return bytes(a.buf[:n]) if n else b""


class SimCanTransport:
    """The simulator's CAN bus as a transport, in simulated time: a port node
    (boards/host/world/bus/can_port.py) attached to its bus, as a USB adapter would be."""

    def __init__(self, sim, port=None):
        from boards.host.world.bus.can_port import CanPort

        self.sim = sim
        self.port = port if port is not None else sim.bus.attach(CanPort())
        self.framing = CanFraming()

    def write(self, data):
        self.port.take()  # what came before the request is not its reply
        for ident, seg in self.framing.request(data):
            self.port.send(ident, seg)

    def read(self, timeout_s):
        sim = self.sim
        sim.run(sim.t_ms + int(timeout_s * 1000))
        out = bytearray()
        for f in self.port.take():
            if f[1]:
                out.extend(self.framing.reply(f[0], f[3]))
        return bytes(out)
