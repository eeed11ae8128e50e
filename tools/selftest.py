"""Bench self-test of a chip board's wiring: `mpremote run tools/selftest.py`.

Runs on the board (after `make flash`), builds it through main.make_board() and checks:
the BQ76952's device number, 16 plausible cells, temperatures and current (the chip
configured as the firmware does); the MCP2515 in loopback mode (a frame sent comes back;
nothing reaches the CAN bus); RS485 port 1 to port 2 over a loop cable (A-A, B-B); an
LED walk; the DIP switch and the inputs read; each relay clicked once; the chip's unique
id, which is the pack's serial number (write it on the pack's label). Prints a
PASS/FAIL table. It never closes a FET: CFETOFF and DFETOFF stay high and the
pre-charge output low throughout. On the host, run(board) takes a board.

The watchdog: mpremote stops main.py with a soft reset, which does not stop the 4 s
watchdog the firmware started (on either chip), so the board is built with its
watchdog and the self-test feeds it between checks. After the table nobody feeds it:
the board restarts into the firmware about 4 s later.
"""

import time

_RESULTS = []


def check(name, ok, detail=""):
    _RESULTS.append((name, bool(ok), detail))


def _sleep(ms):
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)


def run(board, sleep_ms=_sleep, out=print):
    del _RESULTS[:]
    board.fets.off()  # and never anything else: no FET closes in a self-test
    wdt = board.wdt

    def pause(ms):
        wdt.feed()
        sleep_ms(ms)

    afe = board.afe
    ok = afe.probe()
    check("BQ76952 device number 0x7695", ok, "errors %d" % afe.errors)
    if ok:
        from bms.config import Config
        from bms.sample import Sample

        wdt.feed()
        configured = afe.configure(Config())
        check("BQ76952 configured (read back)", configured)
        pause(300)  # a full measurement set takes three of its 63 ms loops
        s = Sample()
        got = afe.read(s) and s.reduce()
        cells = list(s.cells_mv)
        check("16 cells 2500-3650 mV", got and all(2500 <= v <= 3650 for v in cells), cells)
        temps = list(s.temps_dc)
        check("temperatures -20..60 C", got and all(-200 <= t <= 600 for t in temps), temps)
        check("current read", got, "%d mA" % s.current_ma)
    can = board.can
    if can is None:
        check("MCP2515 loopback", False, "no CAN controller")
    else:
        from drivers.mcp2515 import MODE_LOOPBACK, CanFrame

        up = can.init(None, MODE_LOOPBACK)
        if up:
            can.send(0x123, b"\x11\x22\x33\x44\x55\x66\x77\x88", 8)
        f = CanFrame()
        back = False
        for _ in range(20):
            if can.recv(f):
                back = f.can_id == 0x123 and bytes(f.data) == b"\x11\x22\x33\x44\x55\x66\x77\x88"
                break
            pause(1)
        check("MCP2515 loopback", back, "fault %d" % can.fault)
    p1 = board.rs485
    p2 = getattr(board, "rs485_out", None)
    if p1 is None or p2 is None:
        check("RS485 port 1 -> port 2", False, "the board has no port 2")
    else:
        msg = b"~SELFTEST\r"
        p1.send(msg, 0)
        got = 0
        for t in range(50):
            pause(5)
            p1.service()
            got = p2.poll(t * 5)
            if got:
                break
        check("RS485 port 1 -> port 2", got == len(msg) - 2, "%d bytes" % got)
    panel = board.panel
    for k in range(7):
        panel.show(1 << k)
        pause(150)
    panel.show(0)
    check("LED walk (watch: RUN ALM SOC1-4 M/S)", True, "visual")
    check("DIP switch read", True, "positions ON: %s" % bin(panel.read_dip()))
    dry = board.dry
    check(
        "inputs read",
        True,
        "RESET %d passive %d RSD %d reverse %d"
        % (panel.pressed(), dry.passive(), dry.rapid_shutdown(), board.fets.reversed()),
    )
    for charge, discharge in ((1, 0), (0, 1)):
        dry.write(charge, discharge)
        pause(300)
        dry.open_all()
        pause(300)
    check("relays clicked once each (listen)", True, "output 1, then output 2")
    # the serial number the firmware reports (Pylon 0x93): the chip's unique id, right-
    # aligned in 8 bytes as app_boot.py does; all zeros or all ones is no id
    from protocols.fields import put_hex

    ident = (bytes(8) + bytes(board.unique_id()))[-8:]
    serial = bytearray(16)
    put_hex(serial, 0, ident, 0, 8)
    check("unique id (the serial number)", ident not in (bytes(8), b"\xff" * 8), serial.decode())
    board.fets.off()
    wdt.feed()
    width = max(len(n) for n, _ok, _d in _RESULTS)
    for name, ok, detail in _RESULTS:
        out("%-4s %s  %s" % ("PASS" if ok else "FAIL", name + " " * (width - len(name)), detail))
    failed = sum(1 for _n, ok, _d in _RESULTS if not ok)
    out("selftest: %d checks, %d failed" % (len(_RESULTS), failed))
    return failed


if __name__ == "__main__":
    import main

    run(main.make_board())
