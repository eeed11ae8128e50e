"""A long soak (issue 14, item 5): seeded random days of a pack's life, judged from its trace.

    python tools/soak.py [--days N] [--jobs J] [--seed S] [--runtime micropython|cpython]
    micropython tools/soak.py --worker --days N --seed S [--first-day D] [--day-s S]

The firmware runs at its default 100 ms tick on the simulated board with a CAN inverter.
Each day (seeded, so a day reproduces from its seed) brings:
- the sun, a charge from 7:00 to 18:00 that clouds cut now and then, and the house's
  loads, heavier in the evening: the site's current changes every 15 minutes;
- faults that must trip: a cell at 3650 mV or 2700 mV for 5 s, the cells at 60 C for
  10 s, a short circuit (released by a RESET press a minute later);
- glitches that must not: a cell at 3700 mV or an NTC at 70 C for 300 ms, corrupted
  front-end replies for a second;
- an inverter that goes silent for 5 to 30 minutes; RESET presses (1 s, and now and then
  held 7 s, a restart); a watchdog reset at a random instant.
An independent checker reads the trace (one line a second) with the thresholds of
../shared/spec/pack.md written out here, not the firmware's tables:
- a missed trip: a cell >= 3600 mV or <= 2800 mV held 1 s, a temperature > 50 C or
  > 55 C held 2 s, a reading outside physics held 3 s, and the current it stops (charge,
  discharge, both) still flowing after the delay, a tick and a trace period;
- a false trip: COVP, CUVP, CHTP, DHTP or SENSOR_FAIL coming on with no trace line in
  its delay (and two seconds) showing its cause;
- events lost across resets: records the store had written before a reset (the
  watchdog's, a restart) that the next boot does not hold; beside it, the routine
  records logged since the last flush (they reach flash within a minute by design) that
  a reset took with it;
- exceptions: EXCEPTION events and anything escaping the firmware;
- the firmware's heap (MicroPython): read 24 times a day (firmware_heap(): the heap in
  use after a collection, less the world's parts that change with the day: the CAN
  bus's memo of frame lengths, a saw-tooth of up to ~60 KB that was all the scatter of
  the first soak, emptied; the simulated flash's bytes taken off), from each life's
  second day (the first loads what the firmware imports lazily). Its trend is fitted by
  least squares against both the time and the running firmware's age (heap_trend()):
  the soak's daily watchdog reset frees what a firmware's life keeps, so a heap read
  at each day's end would never see that kind of leak. The growth over a 30-day month
  at that trend (the worst life's): flat, < 4096 B (a leak of 200 B a day is 6000).
  `--leak-app B` / `--leak-module B` make the firmware leak B bytes a day (kept by its
  App / by its module) to show that the figure sees it. The heap at each day's end is
  given beside it;
- the SOC error: the firmware's SOC against the model's truth, the largest (any trace
  line) and at the end of each day, goal <= 5 %, from a life's first calibration on
  (before it, the first boot's guess from the OCV, given apart as in make bench-long:
  on the LiFePO4 plateau a mV is a %). The soak's false readings (a cell at
  3650 or 2700 mV for 5 s...) trip COVP and CUVP, and the manual calibrates the SOC on
  them where they end a charge (a discharge): the error a calibration made during a
  false reading causes, until the next calibration on true readings, is given apart
  (soc_error_false_reading, a figure: it is the false reading's, not the count's).
Each day's randomness comes from the seed and the day's number alone (day_rng), so the
N days are the same days however they are split. `--jobs J` runs J lives side by side,
the days split among them in order: a 30-day soak on 2 cores is two 15-day lives (days
0-14 and 15-29). A life carries its state from day to day (the flash, the SOC, the heap),
which the heap and SOC figures and the events across resets judge; more jobs than cores
buys nothing, and more lives make each shorter (a day alone, `--jobs N`, still judges
trips, exceptions and a reset, but no longer the drift across days). The workers run
under MicroPython (the board's runtime) unless `--runtime cpython`; the parent prints
each figure beside its goal and merges them into bench/results.json (its other keys
kept). Exit status 1 if a goal is
missed.
"""

import hostpath

import json
import sys
import time
from array import array

DAY_S = 86400
TRACE_MS = 1000
TICK_MS = 100  # the firmware's default tick (a trip may come one tick after its delay)
FLOW_MA = 500  # below this the manual reports 0 A
HEAP_SAMPLES = 24  # the firmware's heap is read 24 times a day (each hour of a real day)
HEAP_WARM_DAYS = 1  # a life's first day loads what the firmware imports lazily: not read
MONTH_DAYS = 30  # the heap's growth is judged over a month at its trend
LIE_MARGIN_MS = 4000  # a false reading's effects: the longest trip delay (3 s) and a line
# the checker's rules, from pack.md: name, delay ms, the FETs it stops ("c", "d", "cd")
RULES = (
    ("COVP", 1000, "c"),
    ("CUVP", 1000, "d"),
    ("CHTP", 2000, "c"),
    ("DHTP", 2000, "d"),
    ("SENSOR_FAIL", 3000, "cd"),
)


def cause(name, rec):
    """Whether the trace line shows the condition of the rule `name` (pack.md)."""
    cells = rec.get("cells_mv")
    if not cells:
        return False
    t = rec["temps_dc"]
    temps = t["cells"] + [t["ambient"]]
    if name == "COVP":
        return max(cells) >= 3600
    if name == "CUVP":
        return min(cells) <= 2800
    if name == "CHTP":
        return max(temps) > 500
    if name == "DHTP":
        return max(temps) > 550
    # SENSOR_FAIL: a reading outside physics
    return min(cells) < 1000 or max(cells) > 4500 or min(temps) < -400 or max(temps) > 1250


class Checker:
    """Judges the firmware from its trace alone."""

    def __init__(self, lies=()):
        """lies: the (from, to) ms during which the soak falsified the readings (a cell
        or NTC set, the front end's replies corrupted): the SOC calibrations they cause
        are the manual's rule obeyed on a false reading, judged apart."""
        self.lies = lies
        self.soc_lied = False  # the SOC comes from a calibration on a false reading
        self.soc_calibrated = False  # since a calibration on true readings (a start from
        # an unknown charge guesses it from the OCV: on the plateau, within a few %)
        self.soc_first_max = 0.0  # the largest error before it
        self.soc_lied_max = 0.0  # the largest error while it does
        self.lied_cals = 0
        self.recent = []  # the last few lines (a window of the longest delay)
        self.held = {}  # rule -> t_ms its cause was first seen (in an unbroken run)
        self.missed = []
        self.false = []
        self.judged = 0
        self.soc_max = 0.0
        self.exceptions = []

    def feed(self, rec):
        t = rec["t_ms"]
        self.recent.append(rec)
        if len(self.recent) > 8:
            self.recent.pop(0)
        prev = self.recent[-2] if len(self.recent) > 1 else None
        for name, delay, stops in RULES:
            if cause(name, rec):
                since = self.held.setdefault(name, t)
                if t - since >= delay + TICK_MS + TRACE_MS and since >= 0:
                    # stopped: no current in the direction the protection stops (a
                    # FET may stay on for the other one, sparing its body diode)
                    ma = rec["current_ma"]
                    if ("c" in stops and ma > FLOW_MA) or ("d" in stops and ma < -FLOW_MA):
                        self.missed.append((t, name))
                    self.judged += 1
                    self.held[name] = -1  # this episode is judged
            else:
                self.held.pop(name, None)
            active = name in rec["protections"]
            came = active and prev is not None and name not in prev["protections"]
            if came and not any(
                cause(name, r) for r in self.recent if t - r["t_ms"] <= delay + 2000
            ):
                self.false.append((t, name))
        for e in rec["events"]:
            if e["code"] == "EXCEPTION":
                self.exceptions.append((t, e))
            elif e["code"] == "SOC" and e["what"] not in ("start_stored", "learned_capacity"):
                # a new reference for the count (a start from the stored value carries
                # the old one on)
                self.soc_lied = self.lying(e["t_ms"])
                self.lied_cals += self.soc_lied
                if not self.soc_lied and e["what"] in ("full", "empty", "rest_ocv"):
                    self.soc_calibrated = True
        soc = rec.get("soc_pct")
        if soc is not None:
            err = abs(soc - rec["true_soc_pct"])
            if self.soc_lied:
                self.soc_lied_max = max(self.soc_lied_max, err)
            elif not self.soc_calibrated:
                self.soc_first_max = max(self.soc_first_max, err)
            elif err > self.soc_max:
                self.soc_max = err

    def lying(self, t_ms):
        for start, end in self.lies:
            if start <= t_ms <= end:
                return True
        return False


def _rand_s(rng, lo, hi):
    return int(rng.uniform(lo, hi))


# a cell or sensor held at a value for a while, then released: (event key, its name
# (None: the day's random cell), value, seconds held)
_SET_AND_CLEAR = {
    "covp": ("cell_mv", None, 3650, 5),
    "cuvp": ("cell_mv", None, 2700, 5),
    "hot": ("temp_c", "cells", 60, 10),
    "glitch_cell": ("cell_mv", None, 3700, 0.3),
    "glitch_ntc": ("temp_c", "cell1", 70, 0.3),
}


def day_events(rng, day, day_s):
    """The scenario events of one day and the second of its watchdog reset."""
    base = day * day_s
    scale = day_s / DAY_S
    ev = []
    quarter = max(1, int(900 * scale))
    for k in range(0, day_s, quarter):
        hour = k / (3600 * scale)
        sun = 0.0
        if 7 <= hour < 18:
            sun = 50.0 * (1 - abs(hour - 12.5) / 5.5)
            if rng.uniform(0, 1) < 0.3:
                sun *= rng.uniform(0.2, 0.8)  # a cloud
        load = rng.uniform(3, 15) + (rng.uniform(15, 45) if 18 <= hour < 23 else 0)
        ev.append({"at_s": base + k, "current_a": round(sun - load, 1)})
    # one episode of each kind per day, each in a slot of its own (no two overlap)
    kinds = ["covp", "cuvp", "hot", "glitch_cell", "glitch_ntc", "afe_crc", "scp"]
    kinds += ["silence", "press", "restart" if rng.uniform(0, 1) < 0.3 else "press"]
    slots = len(kinds) + 1
    slot = day_s // slots
    order = []
    for kind in kinds:
        order.insert(_rand_s(rng, 0, len(order) + 1), kind)
    for i in range(len(order)):
        kind = order[i]
        at = base + i * slot + _rand_s(rng, 0, slot // 2)
        cell = str(_rand_s(rng, 1, 17))
        if kind in _SET_AND_CLEAR:
            key, name, value, hold_s = _SET_AND_CLEAR[kind]
            name = cell if name is None else name
            ev.append({"at_s": at, key: {name: value}})
            ev.append({"at_s": at + hold_s, key: {name: None}})
        elif kind == "afe_crc":
            ev.append({"at_s": at, "fault": "afe_crc"})
            ev.append({"at_s": at + 1, "fault": "clear"})
        elif kind == "scp":
            ev.append({"at_s": at, "fault": "short_circuit"})
            ev.append({"at_s": at + 1, "fault": "clear"})
            ev.append({"at_s": at + 60, "button": "reset", "hold_s": 1})
        elif kind == "silence":
            ev.append({"at_s": at, "inverter": "silent"})
            ev.append({"at_s": at + _rand_s(rng, 300, 1800) * scale, "inverter": "talking"})
        elif kind == "press":
            ev.append({"at_s": at, "button": "reset", "hold_s": 1})
        else:
            ev.append({"at_s": at, "button": "reset", "hold_s": 7})
    wdt_s = base + len(order) * slot + _rand_s(rng, 0, slot // 2)
    return ev, wdt_s


def lies(events):
    """The (from, to) ms of the events' false readings (a cell or a sensor set, the front
    end's replies corrupted), each to its release plus a trip's delay and a trace line."""
    out = []
    since = {}
    for e in events:
        t = int(e["at_s"] * 1000)
        for key in ("cell_mv", "temp_c"):
            for name, value in e.get(key, {}).items():
                if value is not None:
                    since[key + name] = t
                elif key + name in since:
                    out.append((since.pop(key + name), t + LIE_MARGIN_MS))
        if e.get("fault") == "afe_crc":
            since["afe"] = t
        elif e.get("fault") == "clear" and "afe" in since:
            out.append((since.pop("afe"), t + LIE_MARGIN_MS))
    return out


def day_rng(seed, day):
    """The randomness of the soak's day `day`: its own, whatever life runs it, so the
    days of a soak are the same however they are split among jobs."""
    from boards.host.world.pack_model import Rng

    return Rng((seed * 7919 + day * 104729) & 0x3FFFFFFF)


def firmware_heap(sim):
    """The heap the firmware holds, as well as one process can tell (MicroPython; None
    under CPython): the heap in use after a collection, with the world's parts that
    change with the day taken out. The CAN bus's memo of frame lengths (up to 512 frames
    kept, then cleared: a saw-tooth of up to ~60 KB, the scatter of the first soak) is
    emptied first (it refills as frames come: the run does not change), and the
    simulated flash's bytes (the files grow and rotate; each is copied to its size
    first, as an appended bytearray keeps room to grow) are taken off. The rest is the
    firmware, its modules and the constant parts of the world and harness."""
    import gc

    if not hasattr(gc, "mem_alloc"):
        return None
    memo = getattr(sim.bus, "_bits", None)
    if memo is not None:
        memo.clear()
    flash = 0
    for pack in sim.packs:
        files = pack.flash.files
        for name in files:
            # a copy of its size: an appended file keeps up to its size again spare
            files[name] = bytearray(files[name])
            flash += len(files[name])
    gc.collect()
    return gc.mem_alloc() - flash


def heap_trend(samples):
    """Bytes a day the firmware's heap grows, by least squares over samples (t days,
    age days, bytes): bytes = a + g_t * t + g_age * age. g_t is what stays across
    resets (modules, the world the firmware fills), g_age what a firmware's life keeps
    (a reset frees it: a pack reset daily would hide it from a heap read at each day's
    end); a pack that never resets grows by both. None with fewer than two days."""
    n = len(samples)
    if n < 2 or samples[-1][0] - samples[0][0] < 1:
        return None
    mt = sum(s[0] for s in samples) / n
    ma = sum(s[1] for s in samples) / n
    my = sum(s[2] for s in samples) / n
    stt = sta = saa = sty = say = 0.0
    for t, a, y in samples:
        t -= mt
        a -= ma
        y -= my
        stt += t * t
        sta += t * a
        saa += a * a
        sty += t * y
        say += a * y
    det = stt * saa - sta * sta
    if det <= 1e-9 * stt * saa:  # no reset: the age is the time
        return sty / stt
    g_t = (sty * saa - say * sta) / det
    g_age = (say * stt - sty * sta) / det
    return g_t + g_age


def lost_across(old, new):
    """How many records the old firmware's store had written (among the newest a file
    holds) the new firmware's log does not hold as they were."""
    log = new.events
    flushed = old.store.flushed_seq
    lost = 0
    for seq in range(max(flushed - old.store.per_file, old.events.oldest_seq()), flushed):
        if seq >= log.oldest_seq() and log.get(seq) != old.events.get(seq):
            lost += 1
        elif seq < log.oldest_seq() and seq >= flushed - log.size + 8 + new.store.skipped:
            # fell out of a log that should still hold it (the boot's records and the
            # numbers it skipped, see drivers/store.py, take the rest)
            lost += 1
    return lost


def unflushed(old):
    """The records the old firmware had logged but not flushed when it was reset (their
    code names), and how many of them are of the codes it flushes at its next beat
    rather than within a minute (app._URGENT: trips, boots, exceptions...)."""
    import app as app_mod
    from bms import events as ev

    log = old.events
    names = []
    urgent = 0
    for seq in range(max(old.store.flushed_seq, log.oldest_seq()), log.next_seq):
        code = log.get(seq)[2]
        names.append(ev.NAMES[code])
        urgent += code in app_mod._URGENT
    return names, urgent


class Soak:
    def __init__(self, days, seed, day_s=DAY_S, first_day=0, leak_b=0, leak_module=False):
        """leak_b: a leak of this many bytes a day made in the firmware, to show that the
        heap figure sees it: kept by its App (lost at each reset), or with leak_module
        by its module `app` (kept across resets, as the host does not reload modules)."""
        from boards.host.world.engine import Simulator
        from boards.host.world.scenario import validate

        self.days = days
        self.day_s = day_s
        self.first_day = first_day
        events = []
        self.wdt_s = []
        for k in range(days):  # the life's k-th day is the soak's day first_day + k
            ev, wdt = day_events(day_rng(seed, first_day + k), k, day_s)
            events.extend(ev)
            self.wdt_s.append(wdt)
        scenario = {"inverter": "can", "initial": {"soc_pct": 50}, "events": events}
        self.sim = Simulator(validate(scenario), seed=seed)
        self.pack = self.sim.packs[0]
        self.checker = Checker(lies(events))
        self.app = self.pack.app
        self.lost = 0
        self.unflushed = 0
        self.unflushed_urgent = 0  # of them, records the firmware flushes at once
        self.unflushed_what = []
        self.resets = 0
        self.escaped = []
        # (the harness's own records are made before the run, of their final size, so
        # that they do not grow the heap the figure reads)
        self.heap = [None] * days  # the firmware's heap at each day's end (MicroPython)
        self.samples = array("d", [0.0] * (3 * days * HEAP_SAMPLES))  # t, age, bytes...
        self.n_samples = 0
        self.born_ms = 0  # when the running firmware booted
        self.leak_b = leak_b
        self.leak_module = leak_module
        self.soc_end = [None] * days  # the SOC error at each day's end, 0.01 %
        self.sim.set_trace(self.trace, TRACE_MS)

    def trace(self, records):
        rec = records[0]
        app = self.pack.app
        if app is not self.app:
            self.after_reset(self.app, app)
            self.app = app
            self.born_ms = rec["t_ms"]  # (a restart's: this line's second)
        self.checker.feed(rec)

    def after_reset(self, old, new):
        self.resets += 1
        if old is not None and new is not None:
            self.lost += lost_across(old, new)
            # routine records reach flash within a minute: those logged since are gone
            names, urgent = unflushed(old)
            self.unflushed += len(names)
            self.unflushed_urgent += urgent
            day = self.first_day + self.sim.t_ms // 1000 // self.day_s
            for name in names[: 10 - len(self.unflushed_what)]:  # (a few are enough)
                self.unflushed_what.append("day %d: %s" % (day, name))

    def watchdog_reset(self):
        """What the engine does when the watchdog expires (SimPack.poll)."""
        from boards.host import machine

        self.pack.reboot(machine.WDT_RESET, self.sim.t_ms)
        self.pack.next_us = self.sim.clock.t_us
        self.born_ms = self.sim.t_ms

    def run(self):
        for d in range(self.days):
            base = d * self.day_s
            wdt = self.wdt_s[d]
            try:
                # the day in HEAP_SAMPLES parts, the heap sampled after each (the last at
                # the day's end), the watchdog reset where it falls
                for k in range(1, HEAP_SAMPLES + 1):
                    end_s = base + k * self.day_s // HEAP_SAMPLES
                    if 0 <= wdt <= end_s:
                        self.sim.run(wdt * 1000)
                        self.watchdog_reset()
                        wdt = -1
                    self.sim.run(end_s * 1000)
                    used = self.sample_heap(d)
            except Exception as exc:  # noqa: BLE001 - the figure: nothing escapes
                self.escaped.append("day %d: %r" % (d, exc))
                return
            self.heap[d] = used
            rec = self.sim.state(self.pack)
            soc = rec.get("soc_pct")
            c = self.checker
            if soc is not None and c.soc_calibrated and not c.soc_lied:
                self.soc_end[d] = int(abs(soc - rec["true_soc_pct"]) * 100 + 0.5)

    def sample_heap(self, day):
        """The firmware's heap (None under CPython), kept as a sample (day of the life,
        age of the firmware in days, bytes) after HEAP_WARM_DAYS; first the leak asked
        for (--leak-app, --leak-module)."""
        day_ms = self.day_s * 1000
        if self.leak_b:
            # what it holds grows by leak_b a day: since the start, or since its boot
            since = 0 if self.leak_module else self.born_ms
            chunk = bytearray(self.leak_b * (self.sim.t_ms - since) // day_ms)
            if self.leak_module:
                import app as app_mod

                app_mod.SOAK_LEAK = chunk
            else:
                self.pack.app.soak_leak = chunk
        used = firmware_heap(self.sim)
        if used is not None and day >= HEAP_WARM_DAYS:
            t_ms = self.sim.t_ms
            age_ms = t_ms - self.born_ms
            k = 3 * self.n_samples
            self.samples[k] = t_ms / day_ms
            self.samples[k + 1] = age_ms / day_ms
            self.samples[k + 2] = used
            self.n_samples += 1
        return used

    def heap_samples(self):
        """The samples taken: (t, age, bytes) each."""
        s = self.samples
        return [(s[k], s[k + 1], s[k + 2]) for k in range(0, 3 * self.n_samples, 3)]

    def figures(self):
        c = self.checker
        return {
            "days": self.days,
            "first_day": self.first_day,
            "exceptions": len(c.exceptions) + len(self.escaped),
            "missed": c.missed,
            "false": c.false,
            "judged": c.judged,
            "lost": self.lost,
            "unflushed": self.unflushed,
            "unflushed_urgent": self.unflushed_urgent,
            "unflushed_what": self.unflushed_what[:10],
            "resets": self.resets,
            "heap": [h for h in self.heap if h is not None],
            "heap_trend": heap_trend(self.heap_samples()),
            "soc_max": round(c.soc_max, 2),
            "soc_lied_max": round(c.soc_lied_max, 2),
            "soc_first_max": round(c.soc_first_max, 2),
            "lied_cals": c.lied_cals,
            "soc_end": [e / 100 for e in self.soc_end if e is not None],
            "detail": [str(e) for e in c.exceptions[:5]] + self.escaped,
        }


def worker(argv):
    days = int(_opt(argv, "--days", 1))
    seed = int(_opt(argv, "--seed", 1))
    day_s = int(_opt(argv, "--day-s", DAY_S))
    leak = int(_opt(argv, "--leak-app", 0)) or int(_opt(argv, "--leak-module", 0))
    first = int(_opt(argv, "--first-day", 0))
    soak = Soak(days, seed, day_s, first, leak, "--leak-module" in argv)
    soak.run()
    print("SOAK " + json.dumps(soak.figures()))


def _opt(argv, name, default):
    return argv[argv.index(name) + 1] if name in argv else default


def combine(parts):
    """The workers' figures as bench/results.json keys."""
    trends = [p["heap_trend"] for p in parts if p.get("heap_trend") is not None]
    trend = round(max(trends)) if trends else None
    soc_end = [x for p in parts for x in p["soc_end"]]
    return {
        "soak_days": sum(p["days"] for p in parts),
        "soak_exceptions": sum(p["exceptions"] for p in parts),
        "soak_missed_trips": sum(len(p["missed"]) for p in parts),
        "soak_false_trips": sum(len(p["false"]) for p in parts),
        "soak_events_lost": sum(p["lost"] for p in parts),
        "soak_events_unflushed_at_reset": sum(p["unflushed"] for p in parts),
        "soak_events_unflushed_urgent": sum(p["unflushed_urgent"] for p in parts),
        "soak_events_unflushed_what": [w for p in parts for w in p["unflushed_what"]],
        "soak_heap_trend_bytes_per_day": trend,
        "soak_heap_growth_bytes": None if trend is None else trend * MONTH_DAYS,
        "soak_heap_after_day_bytes": [p["heap"] for p in parts],
        "soak_soc_error_max_pct": max(p["soc_max"] for p in parts),
        "soak_soc_error_end_of_day_pct": max(soc_end) if soc_end else None,
        "soak_soc_error_before_calibration_pct": max(p["soc_first_max"] for p in parts),
        "soak_soc_error_false_reading_pct": max(p["soc_lied_max"] for p in parts),
        "soak_soc_false_reading_calibrations": sum(p["lied_cals"] for p in parts),
        "soak_trips_judged": sum(p["judged"] for p in parts),
        "soak_resets": sum(p["resets"] for p in parts),
    }


GOALS = (
    ("soak_exceptions", "0", lambda v: v == 0),
    ("soak_missed_trips", "0", lambda v: v == 0),
    ("soak_false_trips", "0", lambda v: v == 0),
    ("soak_events_lost", "0", lambda v: v == 0),
    ("soak_events_unflushed_at_reset", "(figure)", None),
    ("soak_events_unflushed_urgent", "0", lambda v: v == 0),
    ("soak_heap_trend_bytes_per_day", "(figure)", None),
    ("soak_heap_growth_bytes", "flat (< 4096)", lambda v: v is not None and v < 4096),
    ("soak_soc_error_max_pct", "<= 5", lambda v: v <= 5),
    ("soak_soc_error_end_of_day_pct", "<= 5", lambda v: v is None or v <= 5),
    ("soak_soc_error_before_calibration_pct", "(figure)", None),
    ("soak_soc_error_false_reading_pct", "(figure)", None),
    ("soak_soc_false_reading_calibrations", "(figure)", None),
    ("soak_trips_judged", "> 0", lambda v: v > 0),
    ("soak_resets", "(figure)", None),
)


def main(argv):
    import subprocess

    start = time.time()
    days = int(_opt(argv, "--days", 30))
    jobs = int(_opt(argv, "--jobs", 2))
    seed = int(_opt(argv, "--seed", 1))
    runtime = _opt(argv, "--runtime", "micropython")
    python = (
        hostpath.ROOT + "/.venv/bin/" + ("micropython" if runtime == "micropython" else "python")
    )
    procs = []
    first = 0
    for j in range(min(jobs, days)):
        share = days // jobs + (1 if j < days % jobs else 0)
        cmd = [python, hostpath.TOOLS + "/soak.py", "--worker", "--days", str(share)]
        cmd += ["--seed", str(seed), "--first-day", str(first)]
        for name in ("--leak-app", "--leak-module"):
            if name in argv:
                cmd += [name, _opt(argv, name, 0)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE))
        first += share
    parts = []
    for p in procs:
        out = p.communicate()[0].decode()
        for line in out.splitlines():
            if line.startswith("SOAK "):
                parts.append(json.loads(line[5:]))
        if p.returncode:
            print(out)
            raise SystemExit("soak: a worker failed (status %d)" % p.returncode)
    figures = combine(parts)
    ok = True
    print("%-32s %-24s %-14s" % ("figure", "value", "goal"))
    for key, goal, check in GOALS:
        value = figures[key]
        verdict = "" if check is None else ("ok" if check(value) else "MISSED")
        ok = ok and verdict != "MISSED"
        print("%-32s %-24s %-14s %s" % (key, value, goal, verdict))
    print("firmware heap after each day (bytes): %s" % figures["soak_heap_after_day_bytes"])
    for p in parts:
        for what in p["missed"][:5] + p["false"][:5] + p["detail"]:
            print(
                "finding: %s (reproduce: tools/soak.py --worker --seed %d --first-day %d"
                " --days %d; t_ms counts from its first day)"
                % (what, seed, p["first_day"], p["days"])
            )
    import results  # CPython: the parent alone writes

    wall = round(time.time() - start)
    results.merge(
        figures,
        {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "runtime": runtime,
            "jobs": jobs,
            "seed": seed,
            "wall_s": wall,
        },
        "soak_",
        "_context_soak",
    )
    print("make soak: %d s; results written to bench/results.json" % wall)
    return 0 if ok else 1


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
    else:
        sys.exit(main(sys.argv[1:]))
