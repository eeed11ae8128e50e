"""Dynamic addressing over the RS485 daisy chain: this pack's address and role.

Every addressed pack sends a beacon "I am k" out of its Link OUT every BEACON_MS, and
at once when its address changes (so an address runs down a chain of 32 in a few frame
times); the pack on the other end takes k + 1. The rules:
- a pack that has heard no beacon on its Link IN for LISTEN_MS since it started is the
  master, address 1: its Link IN is empty or goes to the inverter (a Pylon '~' frame is
  never a beacon, see protocols/packchain.py). An inverter's Pylon request on Link IN
  makes it the master at once, so that the request gets its answer;
- a beacon makes a pack a slave, address = the beacon's + 1 (past 32: none, 0). A master
  that hears one steps down: it was powered before the packs upstream of it;
- a slave whose upstream falls silent keeps its address and role until it restarts or
  hears another beacon: a silent upstream is a lost master or a pack switched off, and
  its loss is the pack link's business (PACK_LOST, packlink.py). But an inverter's Pylon
  request on its Link IN once no beacon has come there for _LOST_MS (the pack link's
  loss time) makes it the master, as at boot: the head of the chain was taken out and
  the inverter's cable moved to this pack (it stayed a muted slave, the inverter
  unanswered, until someone restarted a pack). A request while beacons come is not
  taken for an inverter's: a slave's Link IN is a pack's.
(Whether a master speaks, held back while another master is heard, is the pack link's
business: packlink.py.)
Pure: the app hands it the beacons heard and the time.
"""

from micropython import const

from bms import ticks

_LISTEN_MS = const(500)  # two and a half beacon periods
_BEACON_MS = const(200)
_LOST_MS = const(3000)  # packlink.LOST_MS
MAX_PACKS = const(32)


class Addressing:
    def __init__(self, now):
        self.address = 0  # 0: not decided yet
        self.master = False
        self.changes = 0  # role or address changes since start (for the event log)
        self._start = now
        self._heard = None  # when a beacon was last heard (None: none since start)
        self._next_beacon = now
        self.send_now = False  # a beacon is due at once (the address changed)

    def heard(self, upstream, now):
        """A valid beacon from the pack upstream with its address."""
        self._heard = now
        mine = upstream + 1 if upstream < MAX_PACKS else 0
        self._set(mine, False)

    def inverter(self, now):
        """An inverter's request on Link IN: nothing upstream but the inverter, unless a
        beacon came there within _LOST_MS."""
        h = self._heard
        if h is None or ticks.age(now, h) >= _LOST_MS:
            self._set(1, True)

    def step(self, now):
        """Decide the role once the listening time is over; returns whether a beacon is
        due now (then the caller sends one and it is due again BEACON_MS later)."""
        h = self._heard
        if h is None:
            if self.address == 0 and ticks.diff(now, self._start) >= _LISTEN_MS:
                self._set(1, True)
        elif ticks.age(now, h) > _LOST_MS:
            # held there: a stamp a whole tick period (12.4 days) old would read as new
            self._heard = ticks.add(now, -_LOST_MS)
        if self.address == 0:
            return False
        if self.send_now or ticks.diff(now, self._next_beacon) >= 0:
            self.send_now = False
            self._next_beacon = ticks.add(now, _BEACON_MS)
            return True
        return False

    def _set(self, address, master):
        if address != self.address or master != self.master:
            self.address = address
            self.master = master
            self.changes = (self.changes + 1) & 0x3FFFFFFF
            self.send_now = address != 0
