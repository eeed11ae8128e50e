"""Power loss at every write of the service link's sequences (issue 14, item 4), run by
tools/powercut.py beside its own: a firmware update, a config key written, the event log
cleared.

Each case starts from a flash as a pack leaves it (boards/host/flash.py, with littlefs's
guarantees) and sends its requests straight into the service server (tools/update_rig.py:
no simulator, the flash is what matters here). It runs once uncut, counting the flash's
steps (every filesystem call and every byte written), then once per step with the power
cut after it; after each cut, what the next boot reads is checked:
- update: the bundle staged, armed, booted on trial and confirmed. The boot selects the
  old image or the new one, whole, and the update resumed from what flash holds ends on
  the new image, whole;
- config: a key written over the link (the stored config read, checked, rewritten). The
  stored config is the old one or the new one, read without error;
- clear: the event log cleared over the link and the clear's record flushed. The event
  files load without error and hold the old records (all of them, in order) or none,
  then maybe the clear's record; the next boot numbers on past every number used.
"""

import hostpath

import update_rig
from service import image

from bms import events as ev
from boards.host.flash import MemFS, PowerCut
from drivers.store import Store

CASES = ("update", "config_link", "clear")
BUILD = hostpath.SCRATCH
_bundles = {}


def _bundles_made():
    """The old and the new bundle (small: every byte of them is a cut), made once."""
    if not _bundles:
        hostpath.scratch()
        _bundles["old"] = update_rig.make_bundle(BUILD + "/pc_old", sizes=(160, 90, 0, 120))
        _bundles["new"] = update_rig.make_bundle(
            BUILD + "/pc_new", sizes=(190, 70, 0, 150), seed=2
        )
    return _bundles["old"], _bundles["new"]


class Case:
    """One case's flash, sequence and checks; errors collects what a cut broke."""

    def __init__(self, name):
        self.name = name
        self.errors = []
        self.app = None  # the server's app while the sequence runs (what it had used)
        self.outcome = None  # "old" or "new": what the boot after the cut found

    def fail(self, what, *args):
        self.errors.append(what % args if args else what)

    def setup(self):
        if self.name == "update":
            old, old_m = _bundles_made()[0]
            return update_rig.installed(old, old_m)
        fs = MemFS()
        store = Store(fs)
        if self.name == "config_link":
            store.save_config({"rev": 1, "values": {"covp_delay_ms": 1500}})
        else:
            log = ev.EventLog()
            store.load_events(log)
            for i in range(20):
                log.log(i * 100, ev.COMM, ev.COMM_INVERTER, 1, i)
            store.append_events(log)
            self.old = [r for r in flash_records(fs)]
        return fs

    def sequence(self, fs):
        c, server = update_rig.client_for(fs)
        self.app = server.app
        if self.name == "update":
            new, new_m = _bundles_made()[1]
            p = image.read(fs)
            if not (p.get("image") == "img_b" and p.get("build") == new_m["build"]):
                c.update(1, new)
            image.select(fs)  # the boot into it, on trial
            image.confirm(fs)
        elif self.name == "config_link":
            c.set_config(1, "covp_delay_ms", 2000)
        else:
            app = self.app
            app.store.load_events(app.events)  # the boot
            c.clear_events(1)
            app.store.append_events(app.events)  # the clear's record, flushed

    def check(self, fs):
        if self.name == "update":
            self._check_update(fs)
        elif self.name == "config_link":
            try:
                values = Store(fs).load_config().get("values")
            except (OSError, ValueError) as e:
                self.fail("the stored config is not readable: %r", e)
                return
            if values not in ({"covp_delay_ms": 1500}, {"covp_delay_ms": 2000}):
                self.fail("the stored config is neither the old nor the new: %r", values)
            self.outcome = "old" if values == {"covp_delay_ms": 1500} else "new"
        else:
            self._check_clear(fs)

    def _check_update(self, fs):
        old_m = _bundles_made()[0][1]
        new_m = _bundles_made()[1][1]
        folder, _p = image.select(fs)  # the boot after the cut
        if folder not in ("img_a", "img_b"):
            self.fail("booted %r", folder)
            return
        self.outcome = "old" if folder == "img_a" else "new"
        if not update_rig.staged_ok(fs, folder, old_m if folder == "img_a" else new_m):
            self.fail("booted %s, not whole", folder)
            return
        # what was left is done: the pack ends on the new image
        if image.read(fs).get("trial"):
            image.confirm(fs)
        if folder == "img_a":
            self.sequence(fs)
        if image.select(fs)[0] != "img_b" or not update_rig.staged_ok(fs, "img_b", new_m):
            self.fail("the resumed update did not end on the new image, whole")
        elif image.read(fs).get("build") != new_m["build"]:
            self.fail("the pointer names build %r", image.read(fs).get("build"))

    def _check_clear(self, fs):
        used = self.app.events.next_seq if self.app is not None else 0
        log = ev.EventLog()
        try:
            Store(fs).load_events(log)
        except OSError as e:
            self.fail("the event files are not readable: %r", e)
            return
        held = flash_records(fs)
        if held and held[-1][2] == ev.CONFIG and held[-1][3] == ev.CONFIG_CLEARED:
            held = held[:-1]  # the clear's record, flushed
        if held and held != self.old:
            self.fail("the event files hold %d records, not the old ones", len(held))
        self.outcome = "old" if held else "new"
        if log.next_seq < used:
            self.fail(
                "the boot numbers on from %d: numbers up to %d were used", log.next_seq, used
            )


def flash_records(fs):
    """Every record on flash, by sequence number."""
    from drivers.store_load import read_file

    store = Store(fs)
    out = read_file(store, 0) + read_file(store, 1)
    out.sort(key=lambda r: r[0])
    return out


class ServiceRun:
    """The case once: uncut (cut < 0) or with the power cut at step `cut`."""

    def __init__(self, name, cut=-1):
        self.name = name
        self.cut = cut
        self.calls = set()
        self.case = Case(name)
        self.errors = self.case.errors
        self.lost = 0  # no event log kept through these (clear empties it on purpose)
        self.steps = 0  # (set by run(); 0 when the case failed before its end)

    @property
    def outcome(self):
        return self.case.outcome

    def run(self):
        case = self.case
        try:
            fs = case.setup()
            fs.cut_after(self.cut)
            step0 = fs.steps
            if self.cut < 0:
                mark_calls(fs, self.calls, step0)
            try:
                case.sequence(fs)
                if self.cut > 0:
                    case.fail("no cut: the run took fewer steps than the uncut one")
            except PowerCut:
                pass
            self.steps = fs.steps - step0
            fs.power_on()
            if self.cut > 0:
                case.check(fs)
        except Exception as exc:  # noqa: BLE001 - the property: nothing escapes
            case.fail("escaped: %r", exc)
        return self


def mark_calls(fs, calls, step0):
    """Note which steps end a filesystem call: a strided run still cuts at each."""
    real_step = fs.step

    def step():
        real_step()
        calls.add(fs.steps - step0)

    fs.step = step
