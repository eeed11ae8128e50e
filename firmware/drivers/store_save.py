"""drivers/store.py's writes that happen now and then: the state and the service link's
config (each as JSON with the format's version and a CRC), and both event files removed
when the service clears the log. None runs each tick or second, so Store loads this
module through bms/lazy.py for each and drops it after.
"""

import errno
import json

from drivers.store import _FILES, _HEAD, _TAIL, _crc


def save(fs, name, tmp, value):
    """value as JSON with the format's version and a CRC, written to tmp and renamed over
    name: a power cut leaves the old file or the new one."""
    body = json.dumps(value)
    with fs.open(tmp, "w") as f:
        f.write("%s%s%s%d}" % (_HEAD, body, _TAIL, _crc(body)))
    fs.rename(tmp, name)


def clear_events(store):
    """Store.clear_events()."""
    for name in _FILES:
        try:
            store.fs.remove(name)
        except OSError as e:
            if not e.args or e.args[0] != errno.ENOENT:
                raise
    store.active = 0
    store.in_active = 0
