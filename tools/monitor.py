"""Bench monitor for the inverter links: the pack's CAN set and the Pylon RS485 V3.3 protocol.

This file is the command line: the options, which source and which output, the exit
status. The pieces sit beside it in tools/:
- monitor_decode_can.py: candump -L lines and the CAN set, through tools/bms_id0.dbc;
- monitor_decode_rs485.py: Pylon RS485 frames, parsed field by field;
- monitor_sources.py: a candump file, a live python-can bus, an RS485 capture or port;
- monitor_table.py: one line per frame, or the rich table of the latest values.
The decoding is written from ../shared/spec/protocols.md alone (never from
firmware/protocols/): it is the cross-check of the firmware's encoders.

    tools/monitor.py FILE.log                  a candump -L log
    tools/monitor.py --can CHANNEL             a live python-can bus
    tools/monitor.py --rs485 FILE              a raw RS485 byte capture
    tools/monitor.py --rs485-pty PATH          a live serial port (pyserial)

CPython only (cantools, python-can, pyserial, rich are imported when needed).
"""

import os
import sys

from monitor_sources import (
    SourceError,
    run_can_live,
    run_can_log,
    run_rs485_file,
    run_rs485_live,
)
from monitor_table import LineSink, TableSink

HELP = """usage: tools/monitor.py FILE.log [--table]
       tools/monitor.py --can CHANNEL [--interface socketcan] [--duration S] [--table]
       tools/monitor.py --rs485 FILE [--table]
       tools/monitor.py --rs485-pty PATH [--baud N] [--poll [ADR]] [--duration S] [--table]

Decodes the pack's inverter links, one line per frame: time, id, name, fields with units.

sources (exactly one):
  FILE.log           a candump -L log: (SECONDS.MICROS) can0 ID#HEXDATA
  --can CHANNEL      a live CAN bus through python-can (e.g. can0, or vcan0)
  --rs485 FILE       a raw byte capture of the Pylon RS485 V3.3 link (both directions)
  --rs485-pty PATH   a live serial port or pseudo-terminal (pyserial)
options:
  --interface NAME   python-can interface for --can (default socketcan)
  --baud N           serial speed for --rs485-pty (default 9600: DIP 1 OFF)
  --poll [ADR]       with --rs485-pty: act as the inverter and send the Pylon requests
                     (4F 51 47 42 44 92 93 96) to ADR (default 2), one a second
  --duration S       stop a live source after S seconds (default: until Ctrl-C)
  --table            a compact table, the latest values of every frame, updated in place
  -h, --help         this text

Times: candump logs print the log's own time; live sources print seconds since start;
a raw RS485 capture has no times, so its lines start with the byte offset (@N).
RS485 lines flag a bad LCHKSUM, a LENID that does not match the INFO, a bad CHKSUM,
non-hex characters and bytes outside frames with "!". Replies are paired with the
request before them; a reply seen alone is identified by its INFO length (marked "?").
Exit status: 0, or 2 with a one-line message on bad arguments.
"""


class UsageError(Exception):
    pass


def parse_args(argv):
    opts = {"--interface": "socketcan", "--baud": "9600"}
    files = []
    i = 0
    takes_value = ("--can", "--interface", "--rs485", "--rs485-pty", "--baud", "--duration")
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help", "--table"):
            opts[arg] = True
        elif arg in takes_value:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value" % arg)
            i += 1
            opts[arg] = argv[i]
        elif arg == "--poll":
            opts[arg] = 2
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                opts[arg] = _number(arg, argv[i], int, 0, 255, base=0)
        elif arg.startswith("-"):
            raise UsageError("unknown option %s" % arg)
        else:
            files.append(arg)
        i += 1
    if opts.get("-h") or opts.get("--help"):
        return opts
    sources = [s for s in ("--can", "--rs485", "--rs485-pty") if s in opts]
    if files:
        if len(files) > 1:
            raise UsageError("one log file at a time, got %d" % len(files))
        sources.append("log")
        opts["log"] = files[0]
    if not sources:
        raise UsageError("give a candump log, --can CHANNEL, --rs485 FILE or --rs485-pty PATH")
    if len(sources) > 1:
        raise UsageError("one source at a time, got %s" % " and ".join(sources))
    opts["source"] = sources[0]
    opts["--baud"] = _number("--baud", opts["--baud"], int, 300, 4000000)
    if "--duration" in opts:
        opts["--duration"] = _number("--duration", opts["--duration"], float, 0, 1e9)
    if "--poll" in opts and opts["source"] != "--rs485-pty":
        raise UsageError("--poll goes with --rs485-pty")
    for src in ("log", "--rs485"):
        if opts["source"] == src and not os.path.isfile(opts[src]):
            raise UsageError("no such file: %s" % opts[src])
    return opts


def _number(name, text, kind, lo, hi, base=10):
    try:
        value = kind(text, base) if kind is int else kind(text)
    except (TypeError, ValueError):
        raise UsageError("%s takes a number, not %r" % (name, text)) from None
    if not lo <= value <= hi:
        raise UsageError("%s must be %s to %s, not %s" % (name, lo, hi, text))
    return value


def main(argv, out=None):
    """Run the monitor; returns the exit status. Output goes to `out` (stdout)."""
    out = out or sys.stdout
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        out.write("monitor.py: error: %s\n" % exc)
        return 2
    if opts.get("-h") or opts.get("--help"):
        out.write(HELP)
        return 0
    source = opts["source"]
    live = source in ("--can", "--rs485-pty")
    sink = TableSink(out, live) if opts.get("--table") else LineSink(out)
    try:
        if source == "log":
            run_can_log(opts["log"], sink, out)
        elif source == "--rs485":
            run_rs485_file(opts["--rs485"], sink)
        elif source == "--can":
            run_can_live(opts["--can"], opts["--interface"], opts.get("--duration"), sink)
        else:
            run_rs485_live(
                opts["--rs485-pty"],
                opts["--baud"],
                opts.get("--poll"),
                opts.get("--duration"),
                sink,
            )
    except KeyboardInterrupt:
        pass
    except (OSError, SourceError) as exc:  # a bus or port that will not open
        sink.close()
        out.write("monitor.py: error: %s\n" % exc)
        return 2
    sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
