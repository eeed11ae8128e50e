"""Which firmware image runs: the pointer file, the trial of a new image, the rollback.

The images live on the data filesystem (the store's, /data on a board): the factory
image is the board's root (no folder), an update is staged into the folder SLOTS names
that is not running. `image.json` says which runs:
{"image": folder, "build": hash, "version": v, "previous": folder, "trial": 1, "tries": n,
"note": why}. It is only ever replaced by writing image.tmp and renaming it over (atomic
on littlefs): a power cut leaves the old pointer or the new one.

At boot (boards/main.py; on the host, the host board) choose() picks the folder. A
pointer in trial was armed by an update: its first boot counts a try; booting again
before the firmware confirmed the trial (a watchdog reset, an exception at boot, a power
cut) rolls back to the previous image and says why in `note`. The running firmware
confirms after TRIAL_S seconds of valid readings without an exception (App).
"""

import json

POINTER = "image.json"
_TMP = "image.tmp"
SLOTS = ("img_a", "img_b")
# the UPDATE event's what
ARMED = 0  # value: files in the image
TRIAL = 1  # the new image's first boot
CONFIRMED = 2
ROLLED_BACK = 3
TRIAL_S = 30  # healthy seconds (a valid reading, no exception) that confirm a new image
TRIAL_LIMIT_S = 600  # without them by then, the trial rolls the image back (app_trial.py)


def read(fs, strict=False):
    """The pointer as a dict, {} for the factory image (none, or unreadable; strict: a
    flash that fails the read raises OSError)."""
    try:
        with fs.open(POINTER) as f:
            p = json.loads(f.read())
    except ValueError:
        return {}
    except OSError:
        if strict:
            raise
        return {}
    ok = type(p) is dict and (p.get("image", "") in SLOTS or p.get("image", "") == "")
    return p if ok else {}


def write(fs, pointer):
    with fs.open(_TMP, "w") as f:
        f.write(json.dumps(pointer))
    fs.rename(_TMP, POINTER)


def rollback(fs, pointer, why):
    """Back to the image before `pointer`'s (the factory one if none); logged in the note."""
    back = pointer.get("previous", "")
    new = {"image": back, "trial": 0, "note": why, "failed": pointer.get("build", "")}
    if back:
        new["build"] = pointer.get("previous_build", "")
    write(fs, new)
    return new


def select(fs):
    """At boot: the folder to run ("" the factory image) and the pointer in force."""
    p = read(fs)
    if not p:
        return "", {}
    if p.get("trial"):
        if p.get("tries", 0) >= 1:
            p = rollback(fs, p, "trial not confirmed: reset before %d s healthy" % TRIAL_S)
        else:
            p["tries"] = 1
            write(fs, p)
    return p.get("image", ""), p


def choose(fs):
    """select(), on a flash that may take no write (full, failing): a new image whose try
    cannot be counted does not run, the image before it does (the pointer left as it
    was: the next boot tries again); the folder to run and the pointer."""
    try:
        return select(fs)
    except OSError:
        p = read(fs)
        return p.get("previous", "") if p.get("trial") else p.get("image", ""), p


def confirm(fs):
    """The running image has proved itself: no rollback from now on. (A pointer the
    flash fails to read raises OSError: the caller tries again.)"""
    p = read(fs, True)
    if p.get("trial"):
        p["trial"] = 0
        p["note"] = "confirmed"
        p["noted"] = 1  # the firmware logs it as it confirms
        write(fs, p)
        return True
    return False


def spare(pointer):
    """The folder an update is staged into: the slot not running."""
    return SLOTS[1] if pointer.get("image") == SLOTS[0] else SLOTS[0]
