"""bmsctl: read and configure a pack over its service link (RS485 port 1 or CAN).

    bmsctl.py --port /dev/ttyUSB0 status            (the simulator: tools/sim.py --rs485-pty)
    bmsctl.py --interface socketcan --channel can0 status
    bmsctl.py --interface udp_multicast --channel 239.74.163.2 status  (sim.py --can-udp)
    bmsctl.py --port PORT cells | version | counters
    bmsctl.py --port PORT events [--since SEQ] [--follow]
    bmsctl.py --port PORT config get [KEY]
    bmsctl.py --port PORT config set KEY VALUE      (press RESET twice within 2 s first)
    bmsctl.py --port PORT clock | restart | lock    (--all restart: one pack at a time)
    bmsctl.py --port PORT update BUNDLE             (make bundle's folder; unlock first)
    --pack N (1..32, default 1) or --all (every pack that answers); --json for scripts.

Tables by default (rich), JSON with --json. Errors are one line and exit status 1: no
unlock, a refused value (with the key's range), a pack that does not answer, a bundle
for another board, a hash mismatch, a pack that did not come back after an update, a
restart or an update a pack refuses while a protection is pending or tripped.
"""

import hostpath  # noqa: F401 - firmware/ on the path (the frame codec, event names)

import argparse
import json
import sys
import time

from bmsctl_client import Client, ServiceError
from service import frame as fr
from service import image

from bms import events as ev
from bms import ticks

# beyond a new image's trial (image.TRIAL_S): the restart and a reading's first seconds
CONFIRM_SLACK_S = 20


class SerialTransport:
    def __init__(self, port, baud):
        import serial

        self.s = serial.Serial(port, baud, timeout=0)

    def write(self, data):
        self.s.reset_input_buffer()
        self.s.write(data)

    def read(self, timeout_s):
        end = time.monotonic() + timeout_s
        out = bytearray()
        while True:
            out.extend(self.s.read(4096))
            if time.monotonic() >= end:
                return bytes(out)
            time.sleep(0.005)


class CanTransport:
    """A python-can bus (a USB adapter: --interface socketcan --channel can0, ...; the
    simulator: --interface udp_multicast --channel GROUP). A request's segments go out
    gap_ms apart: a pack reads its controller's two receive buffers between its ticks
    (its loop sleeps up to 5 ms until a request has begun), so a burst would overrun
    them (a lost segment costs the request: it is sent again)."""

    def __init__(self, interface, channel, bitrate=500000, gap_ms=5.0):
        import can
        from bmsctl_client import CanFraming

        self._can = can
        kw = {} if interface == "udp_multicast" else {"bitrate": bitrate}
        self.bus = can.Bus(interface=interface, channel=channel, **kw)
        self.gap_s = gap_ms / 1000
        self.framing = CanFraming()

    def write(self, data):
        while self.bus.recv(0) is not None:
            pass  # what came before the request is not its reply
        for ident, seg in self.framing.request(data):
            self.bus.send(self._can.Message(arbitration_id=ident, data=seg, is_extended_id=True))
            time.sleep(self.gap_s)

    def read(self, timeout_s):
        end = time.monotonic() + timeout_s
        out = bytearray()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return bytes(out)
            m = self.bus.recv(left)
            if m is not None and m.is_extended_id and not m.is_remote_frame:
                out.extend(self.framing.reply(m.arbitration_id, bytes(m.data)))
                if out:
                    return bytes(out)

    def close(self):
        self.bus.shutdown()


_TICKS_PERIOD = 1 << 30  # a board's ticks_ms wraps here
# the pack moves its clock's anchor on every hour (app.py): a record read now is at most
# about that after it, so one further ahead was logged more than 6.2 days before it
_AHEAD_MS = 2 * 3600 * 1000


def event_times(records, clock, boot_seq=-1):
    """The epoch seconds of each record (in seq order), or None where there is no date:
    the clock (epoch s at the pack's ticks_ms, `bmsctl clock`) not set, or a record from
    before this life's BOOT (numbered boot_seq: a chip's ticks start at 0 again at every
    reset, and one dated from this life's clock came out an hour after the boot that
    followed it). The ticks wrap every 12.4 days: the newest record is placed against the
    clock's anchor, each older one by its ticks' distance from the one after it (a
    record logged before a wrap was dated 12.4 days ahead; one more than 6.2 days from
    the anchor, 12.4 days early), so any gap under 12.4 days between records dates
    right."""
    out = [None] * len(records)
    if not clock[0]:
        return out
    d = 0
    after = None  # the ticks of the record after this one
    for k in range(len(records) - 1, -1, -1):
        seq, t_ms = records[k][0], records[k][1]
        if seq < boot_seq:
            break
        if after is None:
            d = ticks.diff(t_ms, clock[1])
            if d > _AHEAD_MS:
                d -= _TICKS_PERIOD
        else:
            d -= (after - t_ms) % _TICKS_PERIOD
        after = t_ms
        out[k] = clock[0] + d // 1000
    return out


def event_row(rec, stamp, boot_seq=-1):
    """One record as a row: dated (stamp, epoch s, from event_times()) or, without a
    date, its ticks ("(earlier boot)" for a record from before this life's BOOT)."""
    seq, t_ms, code, what, value, extra = rec
    name = ev.NAMES[code] if 0 < code < len(ev.NAMES) else str(code)
    if stamp is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))
    else:
        when = "%d.%03d" % (t_ms // 1000, t_ms % 1000)
        if seq < boot_seq:
            when += " (earlier boot)"
    return {"seq": seq, "time": when, "code": name, "what": what, "value": value, "extra": extra}


def last_boot(records, seq=-1):
    """The number of the last BOOT record among records (else seq): where this life of
    the pack began."""
    for r in records:
        if r[2] == ev.BOOT and r[0] > seq:
            seq = r[0]
    return seq


def _table(title, columns, rows, out):
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(r.get(c, "")) for c in columns])
    Console(file=out, width=120).print(t)


def _flat(doc, prefix=""):
    rows = []
    for key in doc:
        v = doc[key]
        if type(v) is dict:
            rows.extend(_flat(v, prefix + key + "."))
        else:
            rows.append({"key": prefix + key, "value": v})
    return rows


def run(args, client, out):
    if args.all and args.command == "update":
        return update_all(args, client, out)
    if args.all and args.command == "restart":
        return restart_all(args, client, out)
    packs = list(range(1, 33)) if args.all else [args.pack]
    results = {}
    for pack in packs:
        try:
            results[pack] = one(args, client, pack, out)
        except ServiceError as e:
            if args.all and "did not answer" in str(e):
                continue  # --all: the packs that answer
            raise
    if args.all and not results:
        raise ServiceError("no pack answered")
    if args.json:
        doc = results if args.all else results[args.pack]
        out.write(json.dumps(doc) + "\n")
    return 0


def one(args, c, pack, out):
    cmd = args.command
    title = "pack %d" % pack
    if cmd in ("status", "version", "counters"):
        doc = getattr(c, cmd)(pack)
        if not args.json:
            _table(title + " " + cmd, ("key", "value"), _flat(doc), out)
        return doc
    if cmd == "cells":
        doc = c.cells(pack)
        if not args.json:
            rows = [{"cell": k + 1, "mV": v} for k, v in enumerate(doc["cells_mv"])]
            _table(
                title + " cells" + ("" if doc["valid"] else " (not valid)"),
                ("cell", "mV"),
                rows,
                out,
            )
        return doc
    if cmd == "events":
        since = args.since
        shown = []
        boot = -1
        while True:
            records, since, clock = c.all_events(pack, since)
            boot = last_boot(records, boot)
            stamps = event_times(records, clock, boot)
            rows = [event_row(r, stamps[k], boot) for k, r in enumerate(records)]
            shown.extend(rows)
            if not args.json and rows:
                _table(
                    title + " events", ("seq", "time", "code", "what", "value", "extra"), rows, out
                )
            if not args.follow:
                return shown
            time.sleep(args.interval)
    if cmd == "config":
        if args.action == "set":
            try:
                value = int(args.value)
            except ValueError:
                raise ServiceError(
                    "%s: VALUE must be an integer, not %r" % (args.key, args.value)
                ) from None
            rev = c.set_config(pack, args.key, value)
            if not args.json:
                out.write(
                    "pack %d: %s = %d stored (revision %d), applied at the next start "
                    "(bmsctl restart)\n" % (pack, args.key, value, rev)
                )
            return {"key": args.key, "value": value, "revision": rev}
        rows = c.config(pack)
        if args.key:
            rows = [r for r in rows if r["key"] == args.key]
            if not rows:
                raise ServiceError("unknown config key %r" % args.key)
        if not args.json:
            _table(title + " config", ("key", "value", "unit", "default", "min", "max"), rows, out)
        return rows
    if cmd == "update":
        return update(args, c, pack, out)
    if cmd == "clock":
        now = int(time.time())
        c.set_clock(pack, now)
        return {"clock": now}
    try:
        getattr(c, cmd)(pack)  # restart, lock
    except ServiceError as e:
        raise _refused(e, pack, cmd) from None
    return {cmd: True}


def _refused(e, pack, what):
    """A pack's "not now" (ERR_BUSY) to a restart or an update as one line that names the
    pack (e otherwise): above all a protection pending or tripped, which the restart
    would release (only latched and locked ones are kept across it)."""
    if e.status != fr.ERR_BUSY:
        return e
    text = str(e)
    if "protection" in text:
        text = (
            "a protection is pending or tripped and a restart would release it; retry once "
            "it has released (bmsctl --pack %d status: protections)" % pack
        )
    return ServiceError("pack %d refused the %s: %s" % (pack, what, text), e.status)


def update(args, c, pack, out, confirm=True):
    """Send, arm, and wait for the pack to come back running the bundle's build (and, with
    confirm, for its trial to confirm it)."""
    import os

    if not os.path.isfile(args.bundle + "/manifest.json"):
        raise ServiceError("%s: no manifest.json (make bundle BOARD=...)" % args.bundle)
    board = c.version(pack)["board"]
    with open(args.bundle + "/manifest.json") as f:
        want = json.load(f)
    if want.get("board") != board:
        raise ServiceError(
            "wrong board: pack %d is %s, the bundle is for %s" % (pack, board, want.get("board"))
        )
    try:
        if args.json:
            manifest = c.update(pack, args.bundle)
        else:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            columns = ("pack %d" % pack, BarColumn(), DownloadColumn(), TimeRemainingColumn())
            with Progress(*columns, console=Console(file=out)) as bar:
                task = bar.add_task("update", total=None)

                def progress(done, total):
                    bar.update(task, completed=done, total=total)

                manifest = c.update(pack, args.bundle, progress)
    except ServiceError as e:
        raise _refused(e, pack, "update") from None
    v = c.wait_back(pack, manifest["build"])
    if not args.json:
        out.write(
            "pack %d: running %s (build %s) on trial; it confirms after %d s of valid readings\n"
            % (pack, manifest.get("version"), v["build"], image.TRIAL_S)
        )
    if confirm:
        c.wait_confirmed(pack, v["build"], image.TRIAL_S + CONFIRM_SLACK_S)
        if not args.json:
            out.write("pack %d: confirmed\n" % pack)
    return {"version": manifest.get("version"), "build": v["build"]}


def update_all(args, c, out):
    """Every pack of a parallel system, one at a time, the others protecting and the
    system up: the packs that answer (through the master on RS485 port 1, or each on
    CAN), each checked for the bundle's board; the master's unlock relayed to every
    slave, each confirming it, before anything is sent (the master's unlock covers the
    system only when every pack confirms); then the slaves in address order and the
    master last, each sent, armed, back on the new build and past its trial (confirmed)
    before the next. A pack that does not come back, or rolls back, stops the round: the
    packs after it keep their image."""
    import os

    if not os.path.isfile(args.bundle + "/manifest.json"):
        raise ServiceError("%s: no manifest.json (make bundle BOARD=...)" % args.bundle)
    packs = _system(c)
    with open(args.bundle + "/manifest.json") as f:
        want = json.load(f)
    for pack, v in packs:
        if v["board"] != want.get("board"):
            raise ServiceError(
                "wrong board: pack %d is %s, the bundle is for %s"
                % (pack, v["board"], want.get("board"))
            )
    _relay_unlock(args, c, packs, out)
    done = {}
    for pack, _v in packs[1:] + packs[:1]:
        try:
            done[pack] = update(args, c, pack, out, confirm=True)
        except ServiceError as e:
            left = [p for p, _v in packs if p not in done and p != pack]
            raise ServiceError(
                "%s; updated: %s; not updated: %s"
                % (e, _list(done), _list(left) if left else "none")
            ) from None
    if args.json:
        out.write(json.dumps(done) + "\n")
    return 0


def _system(c):
    """The packs that answer, as (pack, version), the master (pack 1) first."""
    packs = []
    for pack in range(1, 33):
        try:
            packs.append((pack, c.version(pack)))
        except ServiceError as e:
            if "did not answer" not in str(e):
                raise
    c.retries = 2  # (the search asked each address once)
    if not packs:
        raise ServiceError("no pack answered")
    if packs[0][0] != 1:
        raise ServiceError("no master (pack 1) answered")
    return packs


def _relay_unlock(args, c, packs, out):
    """The master's unlock relayed to every slave, each confirming it."""
    if not c.status(1).get("unlocked"):
        raise ServiceError("no unlock: press RESET twice within 2 s at the master, then retry")
    for pack, _v in packs[1:]:
        try:
            c.unlock_relay(pack)
        except ServiceError as e:
            raise ServiceError("pack %d did not confirm the unlock: %s" % (pack, e)) from None
    if not args.json:
        out.write(
            "unlock confirmed by pack%s %s\n"
            % ("s" if len(packs) > 1 else "", ", ".join(str(p) for p, _v in packs))
        )


def restart_all(args, c, out):
    """Every pack that answers restarted one at a time (the master's unlock relayed to
    the slaves first, as for update --all), the slaves in address order and the master
    last, each back (one boot more) before the next: the bank never loses every pack's
    current at once (a pack refuses a RESTART addressed to every pack)."""
    packs = _system(c)
    _relay_unlock(args, c, packs, out)
    done = {}
    for pack, _v in packs[1:] + packs[:1]:
        try:
            c.restart_and_wait(pack)
        except ServiceError as e:
            left = [p for p, _v in packs if p not in done and p != pack]
            raise ServiceError(
                "%s; restarted: %s; not restarted: %s"
                % (_refused(e, pack, "restart"), _list(done), _list(left))
            ) from None
        done[pack] = {"restart": True}
        if not args.json:
            out.write("pack %d restarted\n" % pack)
    if args.json:
        out.write(json.dumps(done) + "\n")
    return 0


def _list(packs):
    return ", ".join(str(p) for p in packs) or "none"


def parser():
    p = argparse.ArgumentParser(prog="bmsctl", description=__doc__.split("\n")[0])
    p.add_argument("--port", help="the serial port of the RS485 adapter (or the simulator's pty)")
    p.add_argument("--baud", type=int, default=9600, help="9600, or 115200 with DIP 1 ON")
    p.add_argument(
        "--interface",
        help="CAN instead of RS485: a python-can interface (socketcan, pcan, slcan, ...; "
        "the simulator's: udp_multicast)",
    )
    p.add_argument("--channel", help="the python-can channel (can0; udp_multicast: the group)")
    p.add_argument("--bitrate", type=int, default=500000, help="the CAN bitrate")
    p.add_argument("--gap-ms", type=float, default=5.0, help="ms between a request's CAN frames")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--pack", type=int, default=1, help="the pack's address, 1..32")
    who.add_argument("--all", action="store_true", help="every pack that answers")
    p.add_argument("--json", action="store_true", help="JSON instead of tables")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a reply")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("status", "cells", "version", "counters", "clock", "restart", "lock"):
        sub.add_parser(name)
    u = sub.add_parser("update")
    u.add_argument("bundle", help="the folder make bundle BOARD=... wrote (build/bundle/BOARD)")
    e = sub.add_parser("events")
    e.add_argument("--since", type=int, default=0)
    e.add_argument("--follow", action="store_true")
    e.add_argument("--interval", type=float, default=1.0)
    cfg = sub.add_parser("config")
    csub = cfg.add_subparsers(dest="action", required=True)
    g = csub.add_parser("get")
    g.add_argument("key", nargs="?")
    s = csub.add_parser("set")
    s.add_argument("key")
    s.add_argument("value")
    return p


def main(argv=None, transport=None, out=None):
    args = parser().parse_args(argv)
    out = out or sys.stdout
    if not 1 <= args.pack <= 32:
        sys.stderr.write("bmsctl: --pack must be 1..32\n")
        return 2
    own = transport is None
    if own:
        if args.interface:
            try:
                transport = CanTransport(args.interface, args.channel, args.bitrate, args.gap_ms)
            except Exception as e:  # noqa: BLE001 - python-can's, for the interface named
                sys.stderr.write("bmsctl: CAN %s %s: %s\n" % (args.interface, args.channel, e))
                return 2
        elif not args.port:
            sys.stderr.write(
                "bmsctl: --port or --interface is needed (the RS485 adapter or the "
                "simulator's pty; a python-can interface)\n"
            )
            return 2
        else:
            transport = SerialTransport(args.port, args.baud)
    client = Client(transport, timeout_s=args.timeout, retries=0 if args.all else 2)
    try:
        return run(args, client, out)
    except ServiceError as e:
        sys.stderr.write("bmsctl: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if own and hasattr(transport, "close"):
            transport.close()


if __name__ == "__main__":
    sys.exit(main())
