"""`make test-long`: the hour of 32 packs in parallel with a CAN inverter
(host_tests/scenarios/parallel_32packs_1h.json), judged from its trace: one master,
32 addresses, and the limits the master tells the inverter following the system rule.

    python tools/parallel_hour.py [--seconds S] [--scenario PATH]

SystemJudge takes the trace's lines of one period at a time (Simulator.set_trace) and
keeps only counts, so an hour of 32 packs needs no trace file. From READY_S on, every
period must show:
- exactly one master, pack 1, and the other 31 slaves, each at its own address
  (address = pack: the chain's order), with nothing lost (no PACK_LOST);
- on the master (its `limits` the system's, `own_limits` its own pack's), CVL the
  lowest of the packs' own whose charge FET is on (of all, when none is); CCL no more
  than (packs whose charge FET is on) x (the lowest CCL among them), and no less than
  that lowest (the master holds it to what the packs take as they share the current:
  firmware/packsystem.py), DCL likewise with the discharge FETs, whenever those inputs
  have held for the last SETTLE_S of periods (the master aggregates once a second, from
  frames up to a second old).
It also counts the periods with a pack's charge FET open, to show the rule at work.
Exit status 0 when the judge found nothing. CPython (an hour of 32 firmware instances
takes minutes); host_tests/test_parallel_hour.py runs the first minutes in make test.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import sys
import time

SCENARIO = hostpath.ROOT + "/host_tests/scenarios/parallel_32packs_1h.json"
READY_S = 10  # from the start: 32 packs switched on together are addressed well before
SETTLE_S = 3  # periods of unchanged inputs before the master's limits must be exact


class SystemJudge:
    def __init__(self, packs, ready_ms=READY_S * 1000, settle=SETTLE_S):
        self.packs = packs
        self.ready_ms = ready_ms
        self.settle = settle
        self.periods = 0  # judged
        self.exact = 0  # periods whose limits were checked for equality
        self.open_periods = 0  # periods with a pack's charge FET open (COVP)
        self.min_chg = packs
        self.failures = []
        self._inputs = []  # the last periods' (fets, own limits) of every pack

    def fail(self, t_ms, why):
        if len(self.failures) < 20:
            self.failures.append((t_ms, why))

    def take(self, records):
        t = records[0]["t_ms"]
        if t < self.ready_ms:
            return
        self.periods += 1
        if len(records) != self.packs:
            self.fail(t, "%d lines" % len(records))
            return
        master = None
        inputs = []
        for r in records:
            if r["address"] != r["pack"]:
                self.fail(t, "pack %d at address %r" % (r["pack"], r["address"]))
            if r["role"] == "master":
                if master is not None:
                    self.fail(t, "two masters: %d and %d" % (master["pack"], r["pack"]))
                master = r
            elif r["role"] != "slave":
                self.fail(t, "pack %d role %r" % (r["pack"], r["role"]))
            if "PACK_LOST" in r["warnings"]:
                self.fail(t, "PACK_LOST on pack %d" % r["pack"])
            lim = r.get("own_limits", r["limits"])  # the master's own pack's
            inputs.append(
                (r["fets"]["charge"], r["fets"]["discharge"], lim["cvl_mv"], lim["ccl_ma"])
                + (lim["dcl_ma"],)
            )
        if master is None or master["pack"] != 1:
            self.fail(t, "no master at pack 1")
            return
        chg = [x[3] for x in inputs if x[0]]
        dsg = [x[4] for x in inputs if x[1]]
        if len(chg) < self.packs:
            self.open_periods += 1
        self.min_chg = min(self.min_chg, len(chg))
        # CVL: the lowest of the packs that take the charge (all of them when none does;
        # no pack is silent in this run)
        cvls = [x[2] for x in inputs if x[0]] or [x[2] for x in inputs]
        lim = master["limits"]
        got = (lim["cvl_mv"], lim["ccl_ma"], lim["dcl_ma"])
        # (CCL and DCL within their bounds: the most the rule allows where the packs share
        # the current alike, at least the lowest pack's; exact when outside them)
        want = (
            min(cvls),
            _within(got[1], chg),
            _within(got[2], dsg),
        )
        self._inputs.append(inputs)
        if len(self._inputs) > self.settle:
            self._inputs.pop(0)
        steady = len(self._inputs) == self.settle and all(x == inputs for x in self._inputs)
        if steady:
            self.exact += 1
            if got != want:
                self.fail(t, "limits %r, the rule gives %r" % (got, want))

    def summary(self):
        return "%d periods judged (%d exact), %d with a charge FET open (%d of %d on)" % (
            self.periods,
            self.exact,
            self.open_periods,
            self.min_chg,
            self.packs,
        )


def _within(got, limits):
    """got when it lies between the lowest of the limits and their count times it (0
    when there are none), else the bound it passed."""
    if not limits:
        return 0
    lo = min(limits)
    return min(max(got, lo), len(limits) * lo)


def run(path=SCENARIO, seconds=None, period_ms=1000):
    """Run the scenario (its first `seconds`, or all); returns the judge."""
    from boards.host.world.engine import Simulator
    from boards.host.world.scenario import load

    scenario = load(path)
    sim = Simulator(scenario)
    sim.every_led_beat = False  # no live view: the LEDs are sampled by the trace only
    judge = SystemJudge(scenario["packs"])
    sim.set_trace(judge.take, period_ms)
    end_ms = int((seconds if seconds is not None else scenario["duration_s"]) * 1000)
    while sim.t_ms < end_ms:
        sim.run(min(end_ms, sim.t_ms + 60000))
    return judge


def main(argv):
    seconds = None
    path = SCENARIO
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--seconds":
            seconds = float(args.pop(0))
        elif a == "--scenario":
            path = args.pop(0)
        else:
            print(__doc__)
            return 2
    start = time.perf_counter()
    judge = run(path, seconds)
    wall = time.perf_counter() - start
    for t_ms, why in judge.failures:
        print("FAIL at %.1f s: %s" % (t_ms / 1000, why))
    print("parallel_hour: %s; %.0f s wall" % (judge.summary(), wall))
    return 1 if judge.failures or not judge.exact else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
