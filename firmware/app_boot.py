"""What the app does once: its boot (the log and state restored, the stored config, the
core and the links built), and the reading of a state that could not be read at boot.

App.start() and app_save.save_state() load this module through bms/lazy.py and drop it
again, so its code does not stay in a board's heap in service.
"""

from micropython import const
from packlink import PackLink

from app import (
    PWRON_RESET,
    STAGE_STORE,
    STORE_EVENTS,
    STORE_SET_ASIDE,
    STORE_STATE,
)
from bms import config, lazy
from bms import events as ev
from bms.core import Bms
from bms.protect import BY_VALUE, LATCHED
from bms.protections import SENSOR_FAIL, V_AFE_BAD
from inverter_link import InverterLink

_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates
_BAD_READS = const(5)  # reads in a row of a state that is not one before it is set aside

# what a persisted state may hold: key -> the range of its int (of each int in the list,
# for latched: [row, state, ...]); anything else is dropped at load, never used (a float
# cycles made a protocol encoder raise at every poll, a string boots the boot itself).
# Below 2**30: a small int on every port.
_STATE_RANGES = {
    "boots": (0, _COUNT_MASK),
    "soc_q": (0, _COUNT_MASK),
    "soc_full": (1, _COUNT_MASK),
    "cycles": (0, _COUNT_MASK),
    "dsg_mas": (0, _COUNT_MASK),
    "no_full_s": (0, _COUNT_MASK),
    "latched": (0, 255),
    # the lockout series open (bms/protect.py): each group's trips so far, and how long
    # ago (ms) its last release was (app_save.save_state)
    "lock_n": (0, 255),
    "lock_rel": (0, _COUNT_MASK),
    # the wall clock (epoch s) at a service restart: read once at the next boot (beyond
    # 2**30, but never on the tick's path)
    "clock_s": (0, 0x7FFFFFFF),
}


def _in_range(v, r):
    return type(v) is int and r[0] <= v <= r[1]


def checked_state(raw):
    """The keys of a persisted state whose values have the right type and range, and
    how many others were dropped."""
    st = {}
    for key in raw:
        v = raw[key]
        r = _STATE_RANGES.get(key)
        if r is None:
            continue
        if key == "latched" or key == "lock_n" or key == "lock_rel":
            ok = type(v) is list and all(_in_range(x, r) for x in v)
        else:
            ok = _in_range(v, r)
        if ok:
            st[key] = v
    return st, len(raw) - len(st)


def start(app, now):
    """App.start(): the FETs and dry contacts safe, the event log and state restored,
    the config (stored, then the board's overrides) taken, the core built with the
    state, the DIP read, the links, the CAN controller and the front end started, and
    the state saved."""
    app.fets.off()
    app.dry.open_all()
    app.state = restore(app, now)
    clock_s = app.state.pop("clock_s", None)  # a service restart's (service/restart.py)
    if clock_s is not None:
        app.service_clock = (clock_s, now)
    boots = (app.state.get("boots", 0) + 1) & _COUNT_MASK
    app.state["boots"] = boots
    app.events.log(now, ev.BOOT, app.board.reset_cause(), boots)
    image_boot(app, now)
    board = app._overrides
    if board is False:  # the board's config.json, there but not readable (boards/main.py)
        app.events.log(now, ev.CONFIG, 1, -2)
        board = None
    overrides = stored_config(app, now, board)
    del app._overrides  # read here only: the app keeps no copy
    if overrides:
        try:
            app.cfg.update(overrides)
            app.events.log(now, ev.CONFIG, 0, len(overrides))
        except config.ConfigError:
            kept, dropped = lazy.run("bms.config_update", "usable", overrides)
            app.events.log(now, ev.CONFIG, 1, dropped if dropped else len(overrides))
            # then what holds, in turn (update() is all or nothing): without the keys this
            # firmware does not take (a range narrowed since they were stored), else the
            # board's config.json alone (values stored that no longer agree with it: it
            # changed since), else without the keys of the rules they break (a rule added
            # since), else the defaults
            ruled = lazy.run("bms.config_update", "usable", overrides, True)
            ruled = ruled[0] if ruled[1] > dropped else None
            for alt in (
                kept if dropped else None,
                board if overrides is not board else None,
                ruled,
            ):
                if alt:
                    try:
                        app.cfg.update(alt)
                        app.events.log(now, ev.CONFIG, 0, len(alt))
                        break
                    except config.ConfigError:
                        app.events.log(now, ev.CONFIG, 1, len(alt))
    app.bms = Bms(app.cfg, app.events)
    # 8 bytes on an RP2040, the MAC's 6 on an ESP32: right-aligned in the 8 sent
    app.bms.uid[:] = (bytes(8) + bytes(app.board.unique_id()))[-8:]
    take_state(app, now)
    app._saved_latch_moves = app.bms.engine.latch_moves
    app.dip = app.panel.read_dip()
    # (bms/dip.py is loaded for each and dropped after: read at boot, and at a change)
    app.protocol = lazy.run("bms.dip", "effective_protocol", app.dip)
    app.baud = lazy.run("bms.dip", "baud", app.dip)
    app.events.log(now, ev.DIP, app.dip, app.protocol, app.baud // 100)
    app._dip_seen = app.dip
    # the config is built and the core with it: its defaults and ranges go
    # (bms/config.py), before the links are built (the boot's peak, in a Pico's heap)
    config.release()
    board = app.board
    if board.rs485 is not None:
        board.rs485.set_baud(app.baud)
    app.link = InverterLink(board.can, board.rs485, app.protocol)
    app.link.service_app = app
    app.link.start(now)
    out = board.rs485_out  # Link OUT: the next pack of a parallel system
    if out is not None:
        out.set_baud(app.baud)
    app.packlink = PackLink(app.link, out, app.events, now)
    lazy.run("app_chips", "can_setup", app, now)
    app.afe_ok = app._afe_setup(now)
    app.tick_ms = app.cfg.tick_ms
    app._next_tick = now
    app._next_led = now
    app._last_tick = now
    app._next_house = now
    app._last_flush = now
    app._last_save = now
    app._save_state(now)
    # the boot is done: the watchdog, started with the board, counts its 4 s from here.
    # (A board boots in about 1.3 s: a front end that gives no reading feeds it only once
    # SENSOR_FAIL has latched, 3 s after the first tick, and the watchdog reset the board
    # before that, at every boot, writing the flash each time.)
    app.wdt.feed()


def image_boot(app, now):
    """After an update (a pointer on flash): log what the boot chose, and watch a new
    image's trial. Without one the service modules stay unloaded."""
    fs = app.store.fs
    try:
        fs.stat("image.json")
    except Exception:  # noqa: BLE001 - none (or unreadable): the factory image runs
        return
    from service import image

    p = image.read(fs)
    if p.get("trial") and p.get("image") != getattr(app.board, "image", p.get("image")):
        return  # the image before it runs (the flash took no write): its trial is not ours
    if p.get("trial"):
        app.trial = p
        app._trial_s = 0  # healthy seconds in a row (app_trial.py)
        app._trial_exc = 0  # the exception count at the last second
        app._trial_age_s = 0  # seconds of the trial so far
        app.events.log(now, ev.UPDATE, image.TRIAL, p.get("tries", 0))
    elif p.get("note") and not p.get("noted"):
        what = image.CONFIRMED if p.get("note") == "confirmed" else image.ROLLED_BACK
        app.events.log(now, ev.UPDATE, what)
        p["noted"] = 1
        try:
            image.write(fs, p)
        except Exception:  # noqa: BLE001 - logged again at the next boot, no harm
            pass


def stored_config(app, now, overrides):
    """The board's overrides with the config written over the service link (on flash,
    with a CRC) over them; one that cannot be read is logged and left out."""
    try:
        saved = app.store.load_config()
    except Exception:  # noqa: BLE001 - never stops a boot: the defaults protect
        app.events.log(now, ev.CONFIG, 1, -1)
        return overrides
    if saved:
        merged = dict(overrides or {})
        merged.update(saved["values"])
        return merged
    return overrides


def restore(app, now):
    """The persisted event log and state, each on its own: storage trouble never stops
    a boot, and a state that could not be read is not saved over (see App._save_state)."""
    try:
        app.store.load_events(app.events)
    except Exception:  # noqa: BLE001 - a corrupt flash must not keep the pack off
        lazy.run("app_save", "store_fail", app, now, STORE_EVENTS)
    if app.store.dropped:  # records no firmware wrote: counted and told, never shown
        app.store_errors = (app.store_errors + 1) & _COUNT_MASK
        app.events.log(now, ev.CONFIG, ev.CONFIG_EVENTS, app.store.dropped)
    st = load_state(app, now)
    return {} if st is None else st


def load_state(app, now):
    """The persisted state, its values checked, or None if it cannot be read now
    (housekeeping tries again; until then nothing is saved over it)."""
    try:
        st = app.store.load_state()
    except ValueError:  # read, but not a state
        st = set_aside(app, now)
    except Exception:  # noqa: BLE001
        st = None
    if st is None:
        lazy.run("app_save", "store_fail", app, now, STORE_STATE)
        return None
    st, dropped = checked_state(st)
    if dropped:
        app.store_errors = (app.store_errors + 1) & _COUNT_MASK
        app.events.log(now, ev.CONFIG, ev.CONFIG_STATE, dropped)
    app._state_read = True
    if app.store_degraded:
        lazy.run("app_save", "store_ok", app, now, STORE_STATE)
    return st


def set_aside(app, now):
    """A misread passes, bad content stays: after _BAD_READS reads in a row it is kept
    as state.bad, and {} returned so that the state is saved again (a pack without
    one forgets its latched faults at a watchdog reset; what this one held latched
    stays unknown: after a reset that is not a power-on, the stand-in for it, see
    take_state, is saved as latched). None until then."""
    # (made at the first bad read: an app whose state reads well never holds it)
    app._bad_reads = getattr(app, "_bad_reads", 0) + 1
    if app._bad_reads < _BAD_READS:
        return None
    try:
        app.store.set_aside()
    except Exception:  # noqa: BLE001
        return None
    app.events.log(now, ev.EXCEPTION, STAGE_STORE, app.store_errors, STORE_SET_ASIDE)
    return {}


def adopt_state(app, now):
    """Read the state that could not be read at boot, and take it as the boot would
    have (latched faults and lockout series after a watchdog reset, learned capacity,
    cycles, time without a full charge) in place of the stand-in that held the pack for
    its latches (take_state); returns whether it was read."""
    st = load_state(app, now)
    if st is None:
        return False
    st["boots"] = (st.get("boots", 0) + 1) & _COUNT_MASK
    eng = app.bms.engine
    # the stand-in latched at boot, [row, LATCHED] (take_state leaves it in the state it
    # had), or [] after a power-on
    stand = app.state.get("latched") or [-1]
    i = stand[0]
    app.state = st
    if i >= 0 and eng.state[i] != LATCHED:
        # gone: RESET, a person's, cleared what it stood for, these latches and lockout
        # counts among them
        st["latched"] = []
        st.pop("lock_n", None)
        st.pop("lock_rel", None)
    take_state(app, now)
    if (
        i >= 0
        and eng.state[i] == LATCHED
        and "latched" in st  # (one set aside, or its latches dropped: still unknown)
        and i not in st["latched"][::2]
        and app.bms.vals[eng.src[i]] < eng.trip[i]  # (else a failure of its own now)
    ):
        # the latches are known again: the stand-in goes (logged RELEASE, BY_VALUE)
        eng._release(i, now, app.bms.vals, BY_VALUE)
    return True


def take_state(app, now):
    """Hand the persisted state to the core, at boot or later (see adopt_state): a
    core that has started keeps the charge it counted and takes the rest."""
    st = app.state
    b = app.bms
    stored = stored_soc(app)
    if not b.started:
        b.stored_soc = stored
        b.warm_start = app.board.reset_cause() != PWRON_RESET
    elif stored is not None:
        b.soc.restore(stored[1], stored[2], stored[3])
    b.limits.no_full_s += st.get("no_full_s", 0)
    # faults that need a person survive a watchdog reset; a power cycle is that person
    if app.board.reset_cause() == PWRON_RESET:
        st["latched"] = []
        st.pop("lock_n", None)  # (and the lockout series: the boot's save keeps st)
        st.pop("lock_rel", None)
        return
    eng = b.engine
    if not app._state_read:
        # Latches unknown: after a reset that is not a power-on, a state that cannot be
        # read held latches no one can see (a short circuit's, a sensor failure's, a
        # lockout): forgotten, the FETs closed 3.4 s after the reset. A latched sensor
        # failure (its row of the front end's readings) stands for them until the state
        # reads (adopt_state) or a person presses RESET or holds it 5 s
        # (app_save.save_state): the FETs held open, a fault the panel and the inverter
        # see; saved as a latch if the state is set aside. Logged LATCH SENSOR_FAIL -1
        # with extra STORE_STATE.
        i = 0
        while not (eng.name[i] == SENSOR_FAIL and eng.src[i] == V_AFE_BAD):
            i += 1
        st["latched"] = pairs = [i, LATCHED]  # (where adopt_state finds it)
        lazy.run("bms.protect_init", "restore_latched", eng, pairs, now, STORE_STATE)
        return
    # the latched rows, and the lockout series a reset interrupted (it goes on)
    latched = st.get("latched", [])
    lock_n = st.get("lock_n", [])
    lock_rel = st.get("lock_rel", [])
    lazy.run("bms.protect_init", "restore_latched", eng, latched, now, 0, lock_n, lock_rel)


def stored_soc(app):
    st = app.state
    if "soc_q" in st and "soc_full" in st:
        return (st["soc_q"], st["soc_full"], st.get("cycles", 0), st.get("dsg_mas", 0))
    return None
