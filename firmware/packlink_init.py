"""The pack link's constructor (packlink.py's PackLink), loaded by bms.lazy for the one a
boot builds and dropped after, so that its code does not stay in a board's heap. Every
attribute of a PackLink is made here. Also a rare path of it: a new role.
"""

from micropython import const

from bms import events as ev
from bms import ticks
from bms.addressing import Addressing
from protocols import packchain
from protocols import packlink_can as pl

_MASTER_HOLD_MS = const(300)  # a beacon period and a half: the pack upstream's is due
_LOST_MS = const(3000)  # packlink.LOST_MS


def init(self, link, port_out, events, now):
    self.link = link
    self.out = port_out
    self.events = events
    self.addr = Addressing(now)
    if port_out is not None:
        port_out.binary_frames(packchain.START, packchain.LENGTH)
    if link.rs485 is not None:
        link.rs485.binary_frames(packchain.START, packchain.LENGTH)
    link.packlink = self  # its frames on Link IN and on CAN come here
    link.muted = True  # until this pack knows it is the master
    # held (not None): this pack speaks to no one, on the pack link or to the inverter. A
    # new master: until then (role_changed; pushed on while another master is heard); a
    # slave: while its upstream's beacon says held (then the time it first did)
    self._unmute_at = None
    self._count_wait = 0  # when the master's hold ended (packlink._speak); -1: a new one's
    self._packs_heard = False  # a frame of a pack not a master's, since the boot
    if link.server is not None:
        link.server.peers = self  # the other packs' answers come from view()
    self.beacon = bytearray(2 * packchain.LENGTH)  # the beacon, and the UNLOCK frame after it
    self.frame = memoryview(self.beacon)[: packchain.LENGTH]  # the beacon alone
    self.buf = bytearray(8)
    self.packs = None  # packsystem.Packs, on a master that has heard another pack
    self.view = None  # packsystem.SystemView, with it
    self.pack_view = None  # packsystem.PackView, made with the view
    self.pack_lost = False
    self.ms_led = False
    self._msg = pl.CELLS  # the next summary frame
    self._next_slot = now
    self._next_flags = now
    self._next_beat = now
    self._wake = now  # poll()'s fast path holds until then
    # the last LIMITS sent: its FET flags << 21 | CCL << 11 | DCL (0.1 A); -1: none yet
    self._sent_lim = -1
    self._limits_now = False  # LIMITS goes out at the next chance
    self._changes = 0
    # a slave: when the master was last heard; a master: when another master was last
    # heard at its own address, or its limits to the inverter while this one was alone
    # (LOST_MS before its role began: none yet)
    self._master_seen = now
    self._heard_at = now  # a slave: when the master last said it hears the inverter
    self._master_lost = False
    # a master alone: since when another BMS's limits to the inverter have been heard
    # without a gap of LOST_MS (packlink.other_bms); -1: for that long, it speaks on the
    # pack link from then on
    self._since = now
    self._dip_seen = 0  # another master's last TEMPS_2 said its DIP sets the protocol
    self._unlock_ms = 0  # a slave: the master's unlock as its Link IN last carried it
    self._unlock_heard = None  # when (None: never)
    self.relay_at = None  # the core's unlock_at the relayed unlock set (None: none)
    self._no_room_at = None  # the system's table or views last found no room (None: made)
    self._stopped = None  # nocurrent.Stopped: the core as report() gives it meanwhile
    # counters
    self.beacons_in = 0
    # chain frames that failed their check, pack-link frames dropped (another master's at
    # this master's own address among them)
    self.bad_frames = 0
    self.peer_frames = 0
    self.no_room = 0  # the system's table or a view not made: no room in the heap


def role_changed(pk, now):
    """PackLink._role_changed(); also a master held back by another master (its role the
    same: nothing logged here, packlink.py logs the episode)."""
    adr = pk.addr
    new = pk._changes != adr.changes
    if new:
        pk._changes = adr.changes
        pk.events.log(now, ev.COMM, ev.COMM_ROLE, adr.address, 1 if adr.master else 0)
    # a pack that took the master's role for want of a beacon speaks to the inverter
    # only when no pack upstream has demoted it within _MASTER_HOLD_MS: packs powered
    # together all end their listening at once, and the first frames went out from each
    # (32 of one ID within 8 ms, each of one pack's capacity)
    # (made master by an inverter's request on Link IN: pylon_in() lets it speak at once;
    # a slave's hold is its upstream's, set by its beacon: frame_in())
    pk.link.muted = True
    if adr.master:
        pk._unmute_at = ticks.add(now, _MASTER_HOLD_MS)
        if new:
            pk._count_wait = -1  # (a new master's hold, not another master's: _speak)
    elif not adr.address:
        pk._unmute_at = None
    if pk.packs is not None:
        pk.packs.forget()
    pk.view = None
    pk.pack_view = None
    pk.packs = None
    pk._no_room_at = None
    pk._stopped = None
    pk.pack_lost = False
    pk.ms_led = False
    # (the master's unlock as Link IN carries it holds whatever our address: kept)
    if adr.master and pk.relay_at is not None:
        pk._relayed_cap(0, now)  # an unlock relayed to a slave is a slave's only
    # (a master: no other master heard yet)
    pk._master_seen = ticks.add(now, -_LOST_MS) if adr.master else now
    pk._master_lost = False
    pk._limits_now = adr.address != 0 and not adr.master
    slave = adr.address if not adr.master else 0
    link = pk.link
    if slave != link.slave_address:
        # the CAN filters follow the role: a slave reads only the master's frames
        link.slave_address = slave
        if link.can_ok:
            link.start_can(now)  # (a failure: the app logs it and starts it again)
