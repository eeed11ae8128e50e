"""Checks a candump -L log against Victron's and SMA's rules for a CAN-bus BMS.

Owns the timing and presence rules of ../shared/spec/protocols.md section 2b (Victron:
mandatory ids with their minimum DLC, 0x351 at least every 3 s, CVL never 0) and 2a
(SMA: no id faster than every 200 ms), plus our own "whole set once a second" (Our
choices, row 0). Independent of firmware/protocols/: it is a cross-check.

    tools/victron_check.py FILE.log     prints OK or the problems; exit 0 / 1 (2: bad use)
"""

import sys

from monitor_decode_can import parse_candump_line

# protocols.md 2b (GIST): the ids Venus OS needs, with their minimum DLC
MANDATORY_DLC = {0x351: 8, 0x355: 4, 0x356: 6, 0x35A: 8, 0x35E: 2, 0x35F: 6}
# 2b (SAF, DIY): without 0x351 for longer than this, Victron stops charging/discharging
MAX_351_GAP_S = 3.0
# 2a: the SMA inhibit time between two frames of one id
MIN_SAME_ID_GAP_S = 0.2
# Our choices row 0: the set the master sends, the whole set once a second
ID0_SET = (0x351, 0x355, 0x356, 0x359, 0x35A, 0x35C, 0x35E, 0x35F, 0x372, 0x373, 0x379)
SET_PERIOD_S = 1.0
# the first second of the log is grace: the set need not be complete yet
SET_GRACE_S = 1.0
# scheduling jitter allowed on top of the 1 s period (a 100 ms tick on a real board)
PERIOD_TOLERANCE_S = 0.05
# the BMS-to-inverter id range the 200 ms rule applies to (0x351-0x382 in 2a/2b); the
# inverter's own frames (0x305-0x307) and other traffic are not ours to judge
BMS_ID_RANGE = (0x350, 0x38F)


# times are whole microseconds (candump's resolution): float seconds would put two frames
# logged exactly 200 ms apart a hair under 200 ms
US = 1000000


def _us(seconds):
    return round(seconds * US)


def _fmt(t_us):
    return "%.3f s" % (t_us / US)


def check(lines):
    """Problems found in a candump -L log (an iterable of lines); empty when it passes."""
    problems = []
    frames = []  # (t, id, data) of standard frames
    for n, line in enumerate(lines, 1):
        try:
            parsed = parse_candump_line(line)
        except ValueError as exc:
            problems.append("line %d: %s" % (n, exc))
            continue
        if parsed is None:
            continue
        t, can_id, extended, data = parsed
        if not extended:
            frames.append((_us(t), can_id, data))
    if not frames:
        return problems + ["no CAN frames in the log"]
    t_start = min(f[0] for f in frames)
    t_end = max(f[0] for f in frames)
    by_id = {}
    for t, can_id, data in frames:
        by_id.setdefault(can_id, []).append((t, data))
    for times in by_id.values():
        times.sort(key=lambda f: f[0])

    # mandatory ids, each frame long enough
    for can_id, dlc in sorted(MANDATORY_DLC.items()):
        seen = by_id.get(can_id)
        if not seen:
            problems.append("0x%03X missing (Victron needs it)" % can_id)
            continue
        short = [(t, d) for t, d in seen if len(d) < dlc]
        if short:
            problems.append(
                "0x%03X: %d frame(s) shorter than %d bytes (first at %s, DLC %d)"
                % (can_id, len(short), dlc, _fmt(short[0][0]), len(short[0][1]))
            )

    # 0x351 at least every 3 s, counted from the log's start and up to its end
    times_351 = [t for t, _ in by_id.get(0x351, [])]
    if times_351:
        edges = [t_start] + times_351 + [t_end]
        for a, b in zip(edges, edges[1:]):
            if b - a > _us(MAX_351_GAP_S):
                problems.append(
                    "0x351 gap of %.3f s from %s to %s (max %.1f s)"
                    % ((b - a) / US, _fmt(a), _fmt(b), MAX_351_GAP_S)
                )

    # CVL never 0 (Victron reads it as over-voltage)
    zero = [t for t, d in by_id.get(0x351, []) if len(d) >= 2 and d[0] == 0 and d[1] == 0]
    if zero:
        problems.append(
            "0x351 with CVL = 0: %d frame(s), first at %s" % (len(zero), _fmt(zero[0]))
        )

    # SMA: no two frames of one id closer than 200 ms
    for can_id in sorted(by_id):
        if not BMS_ID_RANGE[0] <= can_id <= BMS_ID_RANGE[1]:
            continue
        times = [t for t, _ in by_id[can_id]]
        close = [(a, b) for a, b in zip(times, times[1:]) if b - a < _us(MIN_SAME_ID_GAP_S)]
        if close:
            a, b = close[0]
            problems.append(
                "0x%03X: %d pair(s) closer than %d ms (first %.0f ms apart at %s)"
                % (can_id, len(close), MIN_SAME_ID_GAP_S * 1000, (b - a) / 1000, _fmt(b))
            )

    # every id of the set that the log carries comes at least once a second, after the
    # first second; an id never sent is the mandatory check's business
    limit = _us(SET_PERIOD_S + PERIOD_TOLERANCE_S)
    grace_end = t_start + _us(SET_GRACE_S)
    for can_id in ID0_SET:
        if can_id not in by_id:
            continue
        times = [t for t, _ in by_id[can_id]]
        edges = [grace_end] + [t for t in times if t > grace_end]
        edges.append(t_end)
        gaps = [(a, b) for a, b in zip(edges, edges[1:]) if b - a > limit]
        if gaps:
            a, b = max(gaps, key=lambda g: g[1] - g[0])
            problems.append(
                "0x%03X: %d gap(s) over %.0f ms (longest %.3f s, from %s to %s)"
                % (can_id, len(gaps), SET_PERIOD_S * 1000, (b - a) / US, _fmt(a), _fmt(b))
            )
    return problems


def main(argv, out=None):
    """Check one log; returns 0 (OK), 1 (problems) or 2 (bad arguments)."""
    out = out or sys.stdout
    if len(argv) == 1 and argv[0] in ("-h", "--help"):
        out.write(__doc__.split("\n\n")[-1].strip() + "\n")
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        out.write("victron_check.py: error: usage: tools/victron_check.py FILE.log\n")
        return 2
    try:
        with open(argv[0]) as f:
            problems = check(f)
    except OSError as exc:
        out.write("victron_check.py: error: cannot read %s: %s\n" % (argv[0], exc.strerror))
        return 2
    if not problems:
        out.write("OK\n")
        return 0
    for p in problems:
        out.write(p + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
