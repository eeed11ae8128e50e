"""The monitor's sources: a candump file, a live python-can bus, an RS485 capture or port.

Each run_* function reads its source to the end (or until its duration), decodes every
frame and hands it to a sink (monitor_table). Live sources stamp frames with seconds
since their start. python-can and pyserial are imported only by the live sources.
"""

import time

from monitor_decode_can import decode_can_frame, decode_can_line
from monitor_decode_rs485 import (
    POLL_COMMANDS,
    Rs485Decoder,
    decode_rs485_bytes,
    encode_rs485_request,
)


class SourceError(Exception):
    """A bus or port that cannot be opened: reported like a bad argument."""


def run_can_log(path, sink, out):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                frame = decode_can_line(line)
            except ValueError as exc:
                out.write("line %d: %s\n" % (n, exc))
                continue
            if frame is not None:
                sink.add(frame)


def _deadline(duration):
    return None if duration is None else time.monotonic() + duration


def _expired(deadline):
    return deadline is not None and time.monotonic() >= deadline


def run_can_live(channel, interface, duration, sink):
    import can

    start = time.monotonic()
    deadline = _deadline(duration)
    try:
        bus = can.Bus(channel=channel, interface=interface)
    except (can.CanError, ImportError, ValueError, OSError) as exc:
        raise SourceError("cannot open CAN %s on %s: %s" % (channel, interface, exc)) from None
    with bus:
        while not _expired(deadline):
            msg = bus.recv(timeout=0.2)
            if msg is None or msg.is_error_frame:
                continue
            # seconds since start: interfaces stamp frames on different clocks
            data = b"" if msg.is_remote_frame else bytes(msg.data)
            frame = decode_can_frame(
                time.monotonic() - start, msg.arbitration_id, msg.is_extended_id, data
            )
            sink.add(frame)


def run_rs485_file(path, sink):
    with open(path, "rb") as f:
        data = f.read()
    for frame in decode_rs485_bytes(data):
        sink.add(frame)


def run_rs485_live(path, baud, poll_adr, duration, sink):
    import serial

    start = time.monotonic()
    deadline = _deadline(duration)
    dec = Rs485Decoder()
    next_poll, i = start, 0
    with serial.Serial(path, baud, timeout=0.05) as port:
        while not _expired(deadline):
            now = time.monotonic()
            if poll_adr is not None and now >= next_poll:
                cmd = POLL_COMMANDS[i % len(POLL_COMMANDS)]
                i += 1
                # 0x4F and 0x51 go to ADR 0, as python-pylontech sends them (4.4)
                adr = 0 if cmd in (0x4F, 0x51) else poll_adr
                req = encode_rs485_request(adr, cmd)
                port.write(req)
                for frame in dec.feed(req, now - start):
                    sink.add(frame)
                next_poll = now + 1.0
            chunk = port.read(256)
            if chunk:
                for frame in dec.feed(chunk, time.monotonic() - start):
                    sink.add(frame)
        for frame in dec.flush(time.monotonic() - start):
            sink.add(frame)
