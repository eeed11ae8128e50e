"""The status line a board prints on its USB console (config console_status_ms, 1000: each
second).

One compact line of integers, then one line per event logged since the last call, so a
bench tester's tools/console.py draws the simulator's live view of a real pack:

    BMS t=12345 m=3 ok=1 soc=6012 i=-20000 v=52800 c=3300,...(16) T=250,...(6) F=110
        R=10 L=5 N=0 K=0 S=0 lim=56000,50000,50000 B=0
    EV seq t_ms code what value extra

t: ticks ms; m: mode (bms.core); ok: the reading is valid; soc: 0.01 %; i: mA as
reported; v: stack mV; c: cells mV; T: cell 1-4, ambient, MOS in 0.1 C; F: charge,
discharge, pre-charge FET (1 on); R: the two dry-contact relays; L: the LED mask
(drivers.panel); N: active protections and warnings (bit n = bms.protections.NAMES[n]);
K: locked ones; S: rapid shutdown holds; lim: CVL mV, CCL mA, DCL mA; B: cells bled
(bit 0 = cell 1). Runs in housekeeping, outside the tick, and may allocate.
"""

from bms import ticks

_seen = [0, None]  # the next event sequence number to print; when the last line went
_FORMAT = (
    "BMS t=%d m=%d ok=%d soc=%d i=%d v=%d c=%s T=%s F=%d%d%d R=%d%d L=%d N=%d K=%d S=%d"
    " lim=%d,%d,%d B=%d"
)


def _ints(values):
    return ",".join([str(v) for v in values])


def line(app, now):
    b = app.bms
    s = app.sample
    f = app.fets
    d = app.dry
    lim = b.limits
    return _FORMAT % (
        now,
        b.mode,
        1 if s.valid else 0,
        b.soc.shown_cpct,
        b.reported_ma,
        s.stack_mv,
        _ints(s.cells_mv),
        _ints(s.temps_dc),
        f.chg,
        f.dsg,
        f.pre,
        d.charge,
        d.discharge,
        app.panel.shown,
        b.engine.names,
        b.engine.locked,
        b._in_on & 1,  # RSD (bms.core's _IN_RSD)
        lim.cvl_mv,
        lim.ccl_ma,
        lim.dcl_ma,
        b.balancer.mask,
    )


def emit(app, now, period_ms=1000, out=print):
    """Print the status line (at most every period_ms; the caller runs once a second)
    and the events logged since the last call."""
    last = _seen[1]
    # (ticks.diff: `now - last` read -2**30 past the ticks' wrap, and no line came again)
    if last is not None and ticks.diff(now, last) < period_ms - 500:
        return
    _seen[1] = now
    out(line(app, now))
    log = app.events
    seq = _seen[0]
    if seq < log.oldest_seq():
        seq = log.oldest_seq()
    while seq < log.next_seq:
        r = log.get(seq)
        if r[2]:  # not a number skipped at a boot (events.SKIPPED)
            out("EV %d %d %d %d %d %d" % r)
        seq += 1
    _seen[0] = seq
