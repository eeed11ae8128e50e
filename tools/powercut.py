"""Power loss at every write (issue 14, item 4): the power goes at every step of a write.

    python tools/powercut.py [--only CASE[,CASE]] [--stride N] [-v]
    micropython tools/powercut.py [...]
    python tools/powercut.py --runtimes cpython,micropython [--mpy DIR] [...]   (make powercut)

The real firmware runs on the simulated board; its flash (boards/host/flash.py) keeps
littlefs's guarantees. Each case is a stretch of the pack's life that writes to flash:
- boot: a boot after a first life (the event files read, the state and the boot's
  events written);
- rotation: the same with the active event file two records short of full, so the boot's
  events truncate the other file and move on to it;
- torn: the same with a record torn at the end of the active file (as a filesystem
  without littlefs's guarantees leaves it), which the boot cuts off and rewrites;
- trip: a trip that latches while charging, REVERSE (the urgent events and the state, at
  once; a COVP trip saved the state only for its mode change, which no longer saves it,
  and a short's SCP holds on in the front end after a power cycle);
- restart: the RESET button held 5 s (the state saved without latches, then the restart);
- set_aside: a state.json that is not one, kept as state.bad after five reads;
- config: config.json rewritten by a person (open, write, close), then the boot (the
  person's file in the flash's root, the store's files in their folder: RootFolder);
- and the service link's: update, config_link, clear (tools/powercut_service.py).
The case runs once uncut, counting the flash's steps (every filesystem call and every
byte written), then once per step with the power cut after it (every `--stride`-th
byte, and every call). After each cut the pack boots again and:
- the state restored is a state the firmware saved, the last committed before the cut
  (the old one or the new one), read without error, and the boot count continues;
- no flushed event is lost (every record the firmware's store had written, among the
  newest the log holds); the new life's numbers are past every number the old one
  used (flushed or not) and the numbers on flash only go up;
- the pack protects from its first tick: a cell at 3700 mV from the boot trips COVP
  within its delay plus one tick, the charge FET never closes, and once the cell reads
  normal again the pack serves; no exception, no store error, no config refused.
For config: the configuration in effect is the old or the new one, never the defaults.

Prints one line per case, `cases passed: P of N`, and each failure with its reproduction
(case and step); exit status 1 on a failure. With --runtimes each runtime runs it in a
process of its own, side by side, and the figures (cuts run and passed, the boots that
found the old state and the new one, flushed events lost) go into bench/results.json;
--mpy DIR gives MicroPython's the firmware as .mpy files (make mpy's build/mpy/host, as a
board loads it: tools/hostpath.py), without which it compiles each module that a boot
loads and drops again at every boot.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import json
import sys

from fault_matrix import outputs
from powercut_service import CASES as SERVICE_CASES
from powercut_service import ServiceRun, mark_calls
from powercut_service import flash_records as _flash

from bms import events as ev
from bms.config import Config
from boards.host import machine
from boards.host.flash import MemFS, PowerCut
from boards.host.world.engine import Simulator
from boards.host.world.scenario import validate
from boards.main import config_overrides
from drivers.store import Store

CFG = Config()
LIFE_MS = 15000  # the first life, before the case
AFTER_MS = 6000  # the case's own stretch after it starts
OVER_MV = 3700  # a cell over COVP from the reboot on
SIM_CASES = ("boot", "rotation", "torn", "trip", "restart", "set_aside", "config")
CASES = SIM_CASES + SERVICE_CASES
CONFIG_OLD = {"covp_delay_ms": 1500}
CONFIG_NEW = {"covp_delay_ms": 2000, "console_status_ms": 0}


class RootFolder:
    """The flash's root folder, where a person puts config.json (boards/main.py reads it
    there), for config_overrides(): on a chip the store's files sit in a folder of their
    own (boards/chip.py's DATA_DIR), which the host flash's bare names stand for. One
    filesystem, so one cut for both. (The person's file written under the store's name
    was the service link's config to the store, refused for its CRC at every boot.)"""

    def __init__(self, fs):
        self.fs = fs

    def open(self, name, mode="r"):
        return self.fs.open("/" + name, mode)


class SimRun:
    """One run of a case: uncut (cut < 0) or with the power cut at step `cut` (>= 1)."""

    def __init__(self, name, cut=-1):
        self.name = name
        self.cut = cut
        self.errors = []
        self.flushed = 0  # the store's flushed_seq when the power went
        self.used = 0  # the log's next_seq then: every number below it was used
        self.outcome = None  # "old" or "new": what the boot after the cut restored
        self.lost = 0  # flushed records not on flash after the cut
        self.calls = set()  # uncut: the steps that end a filesystem call (not a byte)
        self.steps = 0  # (set by run(); 0 when the case failed before its end)

    def fail(self, what, *args):
        self.errors.append(what % args if args else what)

    # -- the pack ---------------------------------------------------------------------------
    def build(self):
        events = [{"at_s": 0, "current_a": 20 if self.name == "trip" else -20}]
        if self.name == "restart":
            events.append({"at_s": 10, "fault": "short_circuit"})  # SCP latches
            events.append({"at_s": 11, "fault": "clear"})
        self.sim = Simulator(
            validate({"inverter": "can", "initial": {"soc_pct": 60}, "events": events})
        )
        self.pack = self.sim.packs[0]
        self.fs = self.pack.flash
        self.sim.run(LIFE_MS)

    def prepare(self):
        """Up to the case's first write; returns what starts it (None: the run goes on)."""
        pack = self.pack
        fs = self.fs
        if self.name in ("trip", "restart"):
            return None
        pack.power_off()
        if self.name == "rotation":
            store = Store(fs)
            log = ev.EventLog()
            store.load_events(log)
            while store.in_active + (log.next_seq - store.flushed_seq) < store.per_file - 2:
                log.log(self.sim.t_ms, ev.COMM, ev.COMM_INVERTER, 1, 0)
            store.append_events(log)
        elif self.name == "torn":
            last = "events0.bin" if len(fs.files.get("events0.bin", b"")) else "events1.bin"
            fs.files[last].extend(b"\x07\x07\x07")
        elif self.name == "set_aside":
            fs.files["state.json"] = bytearray(b'{"v": 1, "state": {"boots": 1}, "crc": 0}')
        elif self.name == "config":
            with RootFolder(fs).open("config.json", "w") as f:
                f.write(json.dumps(CONFIG_OLD))
        return self.power_on

    def power_on(self):
        if self.name == "config":
            root = RootFolder(self.fs)
            with root.open("config.json", "w") as f:  # a person's rewrite, then the boot
                f.write(json.dumps(CONFIG_NEW))
            self.pack.config = config_overrides(root)
        self.pack.power_on(machine.PWRON_RESET)
        self.pack.next_us = self.sim.clock.t_us

    def case(self):
        """The case's stretch: every write in it is under the cut."""
        start = self.prepare()
        t0 = self.sim.t_ms
        data = self.fs.files.get("state.json")
        self.state0 = None if data is None else bytes(data)  # the old state
        self.fs.cut_after(self.cut)
        self.step0 = self.fs.steps
        if self.cut < 0:  # an uncut run appends whole writes: its bytes are not noted
            mark_calls(self.fs, self.calls, self.step0)
        if start is not None:
            start()
        if self.name == "trip":
            self.sim.apply({"fault": "reverse_polarity"})
        elif self.name == "restart":
            self.sim.apply({"button": "reset", "hold_s": 7})
        self.sim.run(t0 + AFTER_MS + (3000 if self.name == "restart" else 0))

    # -- after the cut ----------------------------------------------------------------------
    def reboot(self):
        """The power comes back (a power-on reset), with a cell over COVP from the boot."""
        pack = self.pack
        pack.power_off()
        pack.model.advance(self.sim.t_ms)
        if self.name == "config":
            pack.config = config_overrides(RootFolder(self.fs))
        elif self.name == "trip":
            self.sim.apply({"fault": "clear"})  # put right while the power is off
        self.sim.apply({"current_a": 20})
        pack.power_on(machine.PWRON_RESET)
        pack.next_us = self.sim.clock.t_us
        self.sim.apply({"cell_mv": {"3": OVER_MV}})

    def check_state(self, version):
        """version: the state.json the cut left (bytes or None)."""
        app = self.pack.app
        if version is None:
            if self.name != "set_aside" or "state.bad" not in self.fs.files:
                self.fail("no state on flash")
            return
        try:
            st = _load(version)
        except ValueError:
            if self.name == "set_aside":
                return  # the bad state not yet set aside: it still is at this boot
            self.fail("the state left is not one: %r", version)
            return
        if app.state.get("boots") != st.get("boots", 0) + 1:
            self.fail("boots %r after %r", app.state.get("boots"), st.get("boots"))
        stored = app.bms.stored_soc
        if "soc_q" in st and (stored is None or stored[0] != st["soc_q"]):
            self.fail("SOC restored %r, saved %r", stored, st.get("soc_q"))

    def check_flash(self, old):
        """Right after the cut: every record the store had written (flushed), among the
        newest one file holds, is on flash as it was logged. old: the firmware cut off."""
        if old is None:
            return  # cut before the firmware booted (the config's rewrite)
        on_flash = {}
        for r in _flash(self.fs):
            on_flash[r[0]] = r
        flushed = old.store.flushed_seq
        lost = []
        for seq in range(max(flushed - old.store.per_file, old.events.oldest_seq()), flushed):
            r = old.events.get(seq)
            if r[2] != ev.SKIPPED and on_flash.get(seq) != r:
                lost.append(seq)
        self.lost = len(lost)
        if lost:
            self.fail("flushed events lost: %r", lost[:5])
        self.flushed = flushed
        self.used = old.events.next_seq

    def check_events(self):
        """After the reboot: the log holds what flash held, and numbers on past every
        number used before the cut."""
        log = self.pack.app.events
        for r in _flash(self.fs):
            if r[0] >= log.oldest_seq() and log.get(r[0]) != r:
                self.fail("event %d on flash not loaded", r[0])
                return
        boots = [r[0] for r in _logged(log, ev.BOOT)]
        if not boots or boots[-1] < self.used:
            self.fail("boot event seq %r: numbers up to %d were used", boots[-1:], self.used)

    def check_after(self):
        """The rebooted pack protects from its first tick, serves, and writes in order."""
        sim = self.sim
        pack = self.pack
        t0 = sim.t_ms
        deadline = t0 + CFG.covp_delay_ms + 2 * CFG.tick_ms
        if self.name == "config":
            deadline += 1000  # the longer delay of either configuration
        closed = False
        while sim.t_ms < deadline:
            sim.run(sim.t_ms + CFG.tick_ms)
            closed = closed or outputs(pack.board.pins)[0]
        if closed:
            self.fail("the charge FET closed with a cell at %d mV", OVER_MV)
        if "COVP" not in self.sim.state(pack)["protections"]:
            self.fail("no COVP by %d ms after the boot", sim.t_ms - t0)
        sim.apply({"cell_mv": {"3": None}})
        sim.run(t0 + 9000)
        app = pack.app
        if not outputs(pack.board.pins)[1]:
            self.fail("not serving 9 s after the boot")
        # a state that is not one is counted a store error at each of its reads
        if app.exceptions or (app.store_errors and self.name != "set_aside"):
            self.fail("exceptions %d, store errors %d", app.exceptions, app.store_errors)
        # a config refused (CONFIG what 1), of this boot or logged before the cut: the
        # defaults, or a part of what was meant, in effect
        refused = [r for r in _logged(app.events, ev.CONFIG) if r[3] == 1]
        if refused:
            self.fail("config refused: %r", refused[:3])
        seqs = [r[0] for r in Store(self.fs).load_events(ev.EventLog()) and _flash(self.fs)]
        if seqs != sorted(set(seqs)):
            self.fail("sequence numbers on flash not increasing: %s", _unordered(seqs))
        if self.name == "config":
            delay = app.cfg.covp_delay_ms
            if delay not in (CONFIG_OLD["covp_delay_ms"], CONFIG_NEW["covp_delay_ms"]):
                self.fail("configuration in effect: covp_delay_ms %d", delay)
            self.outcome = "old" if delay == CONFIG_OLD["covp_delay_ms"] else "new"

    def run(self):
        try:
            self.build()
            try:
                self.case()
                if self.cut > 0:
                    self.fail("no cut: the run took fewer steps than the uncut one")
                    return self
            except PowerCut:
                pass
            self.fs.cut_after(-1)
            self.steps = self.fs.steps - self.step0
            if self.cut < 0:
                return self
            data = self.fs.files.get("state.json")
            version = None if data is None else bytes(data)
            self.outcome = "old" if version == self.state0 else "new"
            self.check_flash(self.pack.app)
            self.reboot()
            self.check_state(version)
            self.check_events()
            self.check_after()
        except Exception as exc:  # noqa: BLE001 - the property: nothing escapes
            self.fail("escaped: %r", exc)
        return self


def _load(data):
    fs = MemFS()
    fs.files["state.json"] = bytearray(data)
    return Store(fs).load_state()


def _unordered(seqs):
    return [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a][:5]


def _logged(log, code):
    return [log.get(s) for s in range(log.oldest_seq(), log.next_seq) if log.get(s)[2] == code]


def run_case(name, stride=1, verbose=False, tally=None):
    """Every cut of one case: (steps, runs with a failure, runs). tally: a dict that
    counts the outcomes ("old", "new": what the boot after a cut restored) and "lost"
    (flushed records missing)."""
    Run = SimRun if name in SIM_CASES else ServiceRun
    whole = Run(name).run()
    if whole.errors:
        return whole.steps, [whole], 1
    runs = 0
    failed = []
    for cut in range(1, whole.steps + 1):
        if stride > 1 and cut % stride and cut - 1 not in whole.calls:
            continue
        r = Run(name, cut).run()
        runs += 1
        if tally is not None:
            tally[r.outcome] = tally.get(r.outcome, 0) + 1
            tally["lost"] = tally.get("lost", 0) + r.lost
        if r.errors:
            failed.append(r)
            if verbose:
                print("  %s cut %d: %s" % (name, cut, "; ".join(r.errors)))
    return whole.steps, failed, runs


def run(names, stride=1, verbose=False):
    """Every cut of each case, a line per case; the figures and the failures."""
    tally = {"old": 0, "new": 0, "lost": 0}
    total = passed = 0
    failures = []
    for name in names:
        steps, failed, runs = run_case(name, stride, verbose, tally)
        total += runs
        passed += runs - len(failed)
        print("%-11s steps %4d  cuts %4d  passed %4d" % (name, steps, runs, runs - len(failed)))
        failures.extend(failed)
    print("cases passed: %d of %d" % (passed, total))
    for r in failures[:20]:
        print(
            "FAIL %s cut %d: %s (reproduce: tools/powercut.py --only %s -v)"
            % (r.name, r.cut, "; ".join(r.errors), r.name)
        )
    figures = {
        "cuts_run": total,
        "cuts_passed": passed,
        "states_old": tally["old"],
        "states_new": tally["new"],
        "events_lost": tally["lost"],
    }
    return figures, failures


def both(argv):
    """--runtimes cpython,micropython: each runs every cut side by side (a process each);
    their figures go into bench/results.json as powercut_<figure>_<runtime>."""
    import subprocess
    import time

    import results

    start = time.time()
    rest = [a for a in argv if a != "--runtimes"]
    runtimes = rest.pop(rest.index(argv[argv.index("--runtimes") + 1])).split(",")
    mpy = []  # --mpy DIR: MicroPython's firmware as .mpy files (tools/hostpath.py)
    if "--mpy" in rest:
        i = rest.index("--mpy")
        mpy, rest = rest[i : i + 2], rest[:i] + rest[i + 2 :]
    procs = []
    for rt in runtimes:
        exe = hostpath.ROOT + "/.venv/bin/" + ("micropython" if rt == "micropython" else "python")
        own = mpy if rt == "micropython" else []
        cmd = [exe, hostpath.TOOLS + "/powercut.py", "--figures"] + own + rest
        procs.append((rt, subprocess.Popen(cmd, stdout=subprocess.PIPE), time.time()))
    figures = {}
    status = 0
    for rt, p, t0 in procs:
        out = p.communicate()[0].decode()
        for line in out.splitlines():
            if line.startswith("POWERCUT "):
                for key, value in json.loads(line[9:]).items():
                    figures["powercut_%s_%s" % (key, rt)] = value
            else:
                print("%s: %s" % (rt, line))
        figures["powercut_s_%s" % rt] = round(time.time() - t0)
        status = status or p.returncode
    stride = int(rest[rest.index("--stride") + 1]) if "--stride" in rest else 1
    context = {"date": time.strftime("%Y-%m-%d %H:%M"), "stride": stride, "cases": list(CASES)}
    results.merge(figures, context, "powercut_", "_context_powercut")
    wall = round(time.time() - start)
    print("make powercut: %d s; results written to bench/results.json" % wall)
    return status


def main(argv):
    if "--runtimes" in argv:
        return both(argv)
    names = CASES
    stride = 1
    verbose = "-v" in argv
    if "--only" in argv:
        names = argv[argv.index("--only") + 1].split(",")
    if "--stride" in argv:
        stride = int(argv[argv.index("--stride") + 1])
    figures, failures = run(names, stride, verbose)
    if "--figures" in argv:
        print("POWERCUT " + json.dumps(figures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
