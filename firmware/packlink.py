"""Parallel packs: the chain addressing on RS485 and the pack link on CAN, for one pack.

- Addressing (bms/addressing.py): the beacons heard on Link IN (port 1, handed over by
  the inverter link, which reads that port) and those sent out of Link OUT (port 2).
- The pack link (protocols/packlink_can.py): every addressed slave, and the master once
  it has heard another pack, sends its eleven frames in ten slots of _SLOT_MS (IDENT in
  the second half of TEMPS_2's), and its LIMITS frame at once when its FET flags change
  (checked every _FLAGS_MS), so the master can take a pack that opens out of the limits
  within a few tens of ms rather than a second. A pack alone sends nothing on the pack
  link (unless it has heard another BMS since its boot: below): a single pack's bus
  carries the inverter set only.
- On the master, once another pack is heard: the table of packs and the system's values
  (packsystem.py, made only then, so a single pack holds no table). report(b)
  gives the inverter link what to encode: the system, or the pack itself while it is
  alone. The system is computed on the link's beat (_BEAT_MS) and at once when a pack's
  FETs change, is lost or returns, never per tick.
- The master's Pylon RS485 server answers for the other packs at their own addresses
  (view(): pack a's values, decoded from its frames only when a request asks for them).
- Loss: a pack silent for LOST_MS (3 s) is lost on the master (PACK_LOST, an event with
  its address, out of the limits at once); on a slave, the master silent that long
  raises its own PACK_LOST (event with address 1); each pack keeps protecting itself.
  A slave's communication follows the master's (comm_age_ms()): an RS485 inverter is
  heard by the master alone.
- The M/S LED (ms_led): on the master while at least one other pack is counted.
- The master's service unlock, carried down the chain (protocols/packchain.py): the
  master's beacons say what is left of its own unlock, each slave's what its Link IN's
  last said, less the time since (or no word, when none came within UNLOCK_HEARD_MS).
  A slave takes an UNLOCK_RELAY (service/server.py) only while that, heard within
  UNLOCK_HEARD_MS, says unlocked, for no longer than it has left; the relayed unlock
  ends when it says less (locked), or when it stops and the master's frames have
  stopped too (_QUIET_MS). The unlock is a person's RESET presses at the master, and
  only the pack upstream reaches a slave's Link IN: the master's TEMPS_2 frame announces
  it too, but anything on the CAN bus (the inverter's) can send that, and a forged one
  unlocked a slave with nobody at any pack.
- A second master (no CAN controller hears its own frames, so a pack-link frame at a
  master's own address 1 is another master's): a pack that restarted while the pack
  upstream of it was off, or one at another baud rate (DIP 1) from its upstream, found
  its Link IN silent and took the master's role; both then told the inverter their own
  limits, each second the other's. Each such frame is dropped and counted (bad_frames);
  an episode (none in the LOST_MS before) is logged, COMM role with value 1 and extra 2,
  and raises PACK_LOST on the master that speaks until LOST_MS after the last (judged
  on the system's beat). One steps down, by a rule both reach alike: a master with an
  inverter's requests on its Link IN (link.polls: the inverter's cable marks the head
  of the chain) never; one without does when the other's TEMPS_2 says it has them, or
  says its DIP sets the protocol (ID1, ID2: only the master's DIP carries it, the
  slaves' stay at the default) and its own does not, or, both DIPs alike (the other's
  last TEMPS_2 says), when the other's IDENT (its uid) is the lower. Stepping down is
  holding back: muted, silent on the pack link, its table dropped, its beacons saying
  held so the slaves behind it keep silent too (a slave behind it has an address the
  other master's chain may also have), until no other master has been heard for
  _RIVAL_MS. A new master holds back the same way from its start while another master
  is heard (_MASTER_HOLD_MS, then pushed on): a pack does not become the speaking master
  by listening alone while the bus carries another master's frames, yet its held beacon
  still demotes a master downstream that was powered before it (its frames stop, and it
  speaks _RIVAL_MS later). A held master whose hold is pushed on raises PACK_LOST
  too (it is out of the system).
- Two masters each alone (a black start of three packs with the middle one off, two packs
  at different baud rates) send no pack-link frame, and both spoke to the inverter, each
  with one pack's values. Each hears the other's limits to the inverter (0x351, or
  Schneider's 0x321, in a master's CAN filters: other_bms()): a master alone that has
  heard them for LOST_MS logs it (COMM role, value 1, extra 3) and speaks on the pack
  link from then on, so the rule above holds one back; so does a master that hears a
  rival's IDENT and speaks on (a Schneider master takes a Pylon one's 0x351 in, in RXB0's
  second filter, but not the other way round). Not sooner: in a staggered power-up of 32
  packs the masters of the moment would hear each other and drop their tables (a pack
  alone always sending its frames made the system settle in 2.2 s, not 1.1).
Nothing here blocks or allocates on the quiet path; the app calls poll() between ticks.
"""

from micropython import const

from bms import events as ev
from bms import lazy, ticks
from protocols import packchain
from protocols import packlink_can as pl

LOST_MS = const(3000)  # a pack silent this long is lost (the master, on a slave, too)
# bms.protections.INVERTER_LOST (23): byte 2, bit 7 of a STATUS frame's protection bits
_INVERTER_LOST_B2 = const(0x80)
# the master's unlock as Link IN carries it (each beacon, 200 ms apart) is trusted so long
_UNLOCK_HEARD_MS = const(2500)
# packchain's beacon flags (byte 3)
_B_HELD = const(0x02)
_B_UNLOCK = const(0x04)
_B_NO_WORD = const(0x08)
_INVERTER_IN = const(0x01)  # TEMPS_2 byte 6: an inverter's requests on our Link IN
_DIP_SET = const(0x02)  # TEMPS_2 byte 6: our DIP sets a protocol (ID1, ID2)
_MASTER_HOLD_MS = const(300)  # packlink_init's: a new master's hold
_RIVAL_MS = const(1000)  # held back until no other master has been heard so long
# a master that has heard other packs is silent to the inverter after its hold until its
# table counts them, this long at the most (_speak)
_COUNT_WAIT_MS = const(1500)
# the master silent on CAN so long is gone (restarting, off), not a pack upstream of this
# one restarting (the chain's word of its unlock stops then, the master's frames do not)
_QUIET_MS = const(1000)
_SLOT_MS = const(100)  # a frame per slot (IDENT halfway through TEMPS_2's): eleven a second
_FLAGS_MS = const(100)  # the FET flags are compared this often (the tick's period)
_BEAT_MS = const(1000)


class PackLink:
    def __init__(self, link, port_out, events, now):
        """link: the InverterLink (its CAN controller and RS485 port 1 reader); port_out:
        drivers.rs485.Rs485 on Link OUT, or None; events: the event log. The body (every
        attribute, commented) is in packlink_init.py, loaded for it and dropped after:
        the pack link is built once, at boot."""
        lazy.run("packlink_init", "init", self, link, port_out, events, now)

    # -- what the inverter link hands over ----------------------------------------------
    def frame_in(self, buf, n, kind, now):
        """A frame on Link IN that is not a Pylon one."""
        if kind != packchain.START:
            return  # another protocol's (the service link's 0xC5)
        adr = self.addr
        a = packchain.beacon_address(buf, n)
        if a:
            self.beacons_in = (self.beacons_in + 1) & 0x3FFFFFFF
            adr.heard(a, now)
            flags = buf[3]
            held = now if flags & _B_HELD else None  # (a slave's hold: see packlink_init)
            if (held is None) != (self._unmute_at is None):
                adr.send_now = True  # the packs behind it hold, or speak, at once
            self._unmute_at = held
            if not flags & (_B_UNLOCK | _B_NO_WORD):
                self._master_unlock(0, now)  # locked (its UNLOCK frame follows if not)
            return
        left = packchain.unlock_ms(buf, n)
        if left < 0:
            self.bad_frames = (self.bad_frames + 1) & 0x3FFFFFFF
        else:  # (its beacon came first: we are a slave; a master's use for it is none)
            self._master_unlock(left, now)

    def pylon_in(self, now):
        """A Pylon frame on Link IN while muted: an inverter there, we are the master (at
        once: the request wants its answer), unless a beacon came there within LOST_MS."""
        self.addr.inverter(now)
        if self.addr.changes != self._changes:
            self._role_changed(now)
        if self._unmute_at is not None and self.addr.master:  # (held: role_changed)
            # (a new master that heard packs waits for its table. One asked at its boot,
            # before any pack's frame, answers at once with its own limits: waiting then
            # would leave a pack alone's first request at every boot unanswered)
            self._speak(now, self._count_wait < 0 and self._packs_heard)

    def take(self, f, now):
        """A 29-bit CAN frame; True when it is a pack-link frame (consumed)."""
        ident = f.can_id
        if ident & pl.RANGE_MASK != pl.BASE:
            return False
        msg = (ident >> 8) & 0xFF  # (no tuple from pl.split: this runs per frame)
        src = ident & 0xFF
        self.peer_frames = (self.peer_frames + 1) & 0x3FFFFFFF
        if src > 1:
            self._packs_heard = True  # (not a master's: a pack a new master would count)
        if f.dlc != 8:  # (every pack-link frame is 8 bytes: dropped, no sign of life)
            self.bad_frames = (self.bad_frames + 1) & 0x3FFFFFFF
            return True
        adr = self.addr
        if not adr.master:
            if src == 1 and adr.address > 1:
                self._master_seen = now
                # (its TEMPS_2's unlock is not taken: anyone on the bus can send that)
                if msg == pl.STATUS and not f.data[2] & _INVERTER_LOST_B2:
                    self._heard_at = now  # the master hears the inverter (comm_age_ms)
            return True
        if src == adr.address:
            # another master's (see the module's docstring): dropped and counted, an
            # episode logged. (Here, not in a module loaded for it: a master held back
            # hears eleven a second, for as long as the other speaks.)
            self.bad_frames = (self.bad_frames + 1) & 0x3FFFFFFF
            if ticks.age(now, self._master_seen) >= LOST_MS:
                self.events.log(now, ev.COMM, ev.COMM_ROLE, src, 2)
            self._master_seen = now
            if msg == pl.TEMPS_2:
                self._dip_seen = f.data[6] & _DIP_SET  # (its IDENT follows: the uid rule)
            if self._unmute_at is None:
                # speaking: it holds back if the other has an inverter on its Link IN
                # and it has none, or a DIP that sets the protocol and its own does not
                # (only the master's DIP carries it: the slaves' stay at the default),
                # or else (both DIPs alike) the other's uid is the lower
                link = self.link
                dip = link.protocol
                if link.polls or not (
                    msg == pl.TEMPS_2
                    and f.data[6] & (_INVERTER_IN if dip else _INVERTER_IN | _DIP_SET)
                    or msg == pl.IDENT
                    and (not dip or self._dip_seen)
                    and f.data < link.service_app.bms.uid
                ):
                    if msg == pl.IDENT:
                        # it speaks on: a master alone too, on the pack link from now on,
                        # so that the other can judge (it may not take our limits to the
                        # inverter in: a Schneider set against a Pylon one)
                        self._since = -1
                    return True
                self._role_changed(now)  # (the same role: muted, its table dropped)
                self._master_seen = now
                adr.send_now = True  # held, its beacon says at once: the packs behind hold
            elif (
                self._count_wait < 0
                and self.link.protocol
                and not (msg == pl.TEMPS_2 and f.data[6] & (_INVERTER_IN | _DIP_SET))
            ):
                # a new master whose DIP sets the protocol holds only for a rival that
                # says it has an inverter or such a DIP: one at the default steps down at
                # its TEMPS_2 (held on by it, a Schneider site's head started second was
                # held for as long as the other spoke the Pylon set)
                return True
            self._unmute_at = ticks.add(now, _RIVAL_MS)
            return True
        if self.packs is None:
            # a single pack never loads the system's module (its code and tables)
            if self._waits(now):
                return True
            try:
                import packsystem

                self.packs = packsystem.Packs(self.events)
            except MemoryError:
                self._no_room(now)
                return True
            self._limits_now = True  # our own summary from now on (the slaves' master)
            self._next_slot = now  # (its own summary at once: counted the sooner)
        took = self.packs.take(src, msg, f.data, now)
        if took:
            self._beat_now = True
        elif took is None:
            self.bad_frames = (self.bad_frames + 1) & 0x3FFFFFFF
        return True

    _beat_now = False

    def other_bms(self, now):
        """Another BMS's limits frame to the inverter (0x351, Schneider's 0x321), which the
        inverter link hands over. A master alone that hears them for LOST_MS (not the
        masters of the moment of a staggered power-up) speaks on the pack link from then
        on, so that the other master's rival rule and its own find one to hold back."""
        since = self._since
        if since < 0 or self.packs is not None or self.link.muted or not self.addr.master:
            return  # (muted: this pack is not the second to speak to the inverter)
        if ticks.age(now, self._master_seen) >= LOST_MS:
            since = self._since = now  # (an episode: none heard in the LOST_MS before)
        self._master_seen = now  # (another master, of the inverter's bus)
        if ticks.age(now, since) >= LOST_MS:
            self._since = -1
            self.events.log(now, ev.COMM, ev.COMM_ROLE, self.addr.address, 3)

    # -- the master's unlock, on a slave ---------------------------------------------------
    def master_unlock_left(self, now):
        """What is left of the master's unlock (ms) as its latest announcement says, 0
        on a master or a pack without an address, or when that is older than
        UNLOCK_HEARD_MS or says locked."""
        heard = self._unlock_heard
        if heard is None or self.addr.master or self.addr.address < 2:
            return 0
        # (a stamp from more than 6.2 days ago can read as ahead of now: as old as can be)
        age = ticks.age(now, heard)
        if age >= _UNLOCK_HEARD_MS or age >= self._unlock_ms:
            return 0
        return self._unlock_ms - age

    def _master_unlock(self, left, now):
        if (left > 0) != (self.master_unlock_left(now) > 0):
            # unlocked or locked: the packs behind it learn it at once (each beacon after
            # the next would add a beacon period a pack down the chain)
            self.addr.send_now = True
        self._unlock_ms = left
        self._unlock_heard = now
        if self.relay_at is not None:
            self._relayed_cap(left, now)

    def _relayed_cap(self, left, now):
        """The relayed unlock no longer than the master's (left ms from now): ended when
        that is 0. Forgotten once the core's unlock is no longer the relayed one (ended, or
        given again by this pack's own RESET)."""
        b = self.link.service_app.bms
        valid_ms = b.cfg.unlock_valid_ms
        if not b.unlocked or b.unlock_at != self.relay_at:
            self.relay_at = None
        elif left <= 0:
            b.unlocked = False
            self.relay_at = None
        elif ticks.diff(ticks.add(now, left - valid_ms), b.unlock_at) < 0:
            b.unlock_at = self.relay_at = ticks.add(now, left - valid_ms)

    # -- the loop's part -------------------------------------------------------------------
    def report(self, b):
        """What the inverter link encodes: the system on a master with others, else b
        (no current asked while the system's table or views found no room)."""
        v = self.view
        if v is not None and (self.packs.count > 1 or self.packs.lost):
            return v
        if self._no_room_at is None:
            return b
        s = self._stopped
        if s is None:
            from nocurrent import Stopped  # (a few bytes: past this, the safety net's)

            s = self._stopped = Stopped(b)
        return s

    def peer(self, a, own):
        """Pack a's values, shaped as the core, for the RS485 server; None unless this is
        the master and pack a (not this one) is counted now. own: the core."""
        packs = self.packs
        if packs is None or a == self.addr.address or not (1 <= a <= pl.MAX_ADDRESS):
            return None
        if not packs.present(a):
            return None
        v = self.pack_view
        if v is None:
            return None  # (made with the system's view: a reply must not allocate)
        v.fill(packs, a, own)
        return v

    def system(self, b):
        """Whether b (what report() gave) is the system's values: the RS485 server's
        system answer (INFO FF) then holds a block for each pack (member())."""
        return b is self.view and b is not None

    def member(self, a, b):
        """Pack a's own values for the system answer, shaped as the core: the master's
        own core at its own address, else peer(); None when pack a is not counted.
        b: the system's values (system(b) holds)."""
        if a == self.addr.address:
            return b.own
        return self.peer(a, b)

    def poll(self, b, now):
        """Beacons, summaries, loss and the system; returns ms until something is due.
        Called as often as the loop turns: between wakes (at most _FLAGS_MS apart) it
        returns at once unless a beacon, a LIMITS frame or the system is due now, or a
        byte waits on Link OUT."""
        out = self.out
        adr = self.addr
        if (
            ticks.diff(now, self._wake) < 0
            and not (self._limits_now or self._beat_now or adr.send_now)
            and (out is None or out.quiet())
        ):
            return ticks.diff(self._wake, now)
        send = adr.step(now)
        if adr.changes != self._changes:
            self._role_changed(now)
        if out is not None:
            if out.sending:
                out.service()
            while out.poll(now):  # nothing comes back up the chain: noise, counted
                self.bad_frames = (self.bad_frames + 1) & 0x3FFFFFFF
            if send and not out.sending:
                held = self._unmute_at is not None
                if not adr.master:
                    # (0 while held: none came; -1, no word, if nothing came of late)
                    h = self._unlock_heard
                    if h is None or ticks.age(now, h) >= _UNLOCK_HEARD_MS:
                        # no word: a stamp left 12.4 days read as fresh again, its
                        # unlock with it
                        self._unlock_heard = None
                        left = -1
                    else:
                        left = self.master_unlock_left(now)
                elif not held and b.unlock_valid(now):
                    left = b.cfg.unlock_valid_ms - ticks.diff(now, b.unlock_at)
                else:
                    left = 0
                n = packchain.encode_beacon(self.beacon, adr.address, adr.master, held, left)
                out.send(self.frame if n == packchain.LENGTH else self.beacon, now)
        flags_due = ticks.diff(now, self._next_flags) >= 0
        if flags_due:
            self._next_flags = ticks.add(now, _FLAGS_MS)
        speaks = adr.address and (self.packs is not None or not adr.master or self._since < 0)
        if self._unmute_at is not None:
            speaks = False  # held back: its frames would be another master's, or a twin's
        if speaks:
            if flags_due and not self._limits_now:
                # LIMITS at once when the FETs change, or a limit falls (a derating: the
                # others take its share until the inverter follows; it waited for its slot)
                lim = b.limits
                sent = self._sent_lim
                if (
                    pl.flags(b, adr.master) != sent >> 21
                    or lim.ccl_ma // 100 < (sent >> 11) & 0x3FF
                    or lim.dcl_ma // 100 < sent & 0x7FF
                ):
                    self._limits_now = True
            if self._limits_now or ticks.diff(now, self._next_slot) >= 0:
                self._summary(b, now)
        else:
            # silent (alone, held back, no address yet): its stamps follow the clock, due
            # when it speaks. Left, they read as the future 6.2 days on: a pack joining a
            # master alone for a week was never counted, nor was a pack after a week's
            # hold, and a pack lost then was not judged lost
            self._next_slot = self._next_beat = now
            if self.packs is not None:
                self.packs._due = now
        if adr.address:
            if adr.master:
                held = self._unmute_at
                if held is None:
                    if self.packs is not None:  # (another master's frames come with a
                        self._system(b, now)  # slave's, which make the table)
                    if self.link.muted:
                        age = ticks.age(now, self._count_wait)
                        if (
                            self.view is not None
                            and (self.packs.count > 1 or self.packs.lost)
                            or age >= _COUNT_WAIT_MS
                        ):
                            self.link.muted = False  # the system counted (or long enough)
                elif ticks.diff(now, held) >= 0:
                    # no pack upstream demoted it (role_changed), no other master heard
                    # (a new master's hold: it waits for the others heard, since its boot:
                    # their frames stop while its beacon says held; after another
                    # master's, it speaks at once, as it spoke before it held back)
                    self._speak(now, self._count_wait < 0 and self._packs_heard)
                    self._master_seen = ticks.add(now, -LOST_MS)
                    adr.send_now = True  # the packs behind it speak at once
                else:
                    # held back by another master that goes on (not a new master's hold)
                    self.pack_lost = ticks.diff(held, now) > _MASTER_HOLD_MS
            else:
                lost = ticks.diff(now, self._master_seen) >= LOST_MS
                if lost:  # (held there: a tick difference turns negative after 6.2 days)
                    self._master_seen = ticks.add(now, -LOST_MS)
                if lost != self._master_lost:
                    self._master_lost = lost
                    self.events.log(now, ev.COMM, ev.COMM_PACK, 0 if lost else 1, 1)
                self.pack_lost = lost
                if (
                    self.relay_at is not None
                    and not self.master_unlock_left(now)
                    and ticks.diff(now, self._master_seen) >= _QUIET_MS
                ):
                    # the master's word stopped, and the master with it (a pack upstream
                    # restarting stops the word alone: `bmsctl --all` restarts the slaves
                    # one after the other, each behind the one before)
                    self._relayed_cap(0, now)
        wake = self._next_flags
        if speaks and ticks.diff(self._next_slot, wake) < 0:
            wake = self._next_slot
        self._wake = wake
        wait = ticks.diff(wake, now)
        if out is not None and out.sending:  # wake to release DE after the last stop bit
            left = out.tx_left_ms(now)
            wait = left if 0 < left < wait else (1 if left <= 0 else wait)
        return wait if wait > 0 else 1

    def comm_age_ms(self, age, now):
        """A slave's communication, for its INVERTER_LOST and its idle sleep: age, the
        inverter's (ms), or if less, the time since its master last said it hears the
        inverter (its STATUS without INVERTER_LOST, each second): an RS485 inverter is
        heard by the master alone (a slave there showed INVERTER_LOST and slept after
        48 h idle while the system ran), and with the master silent or without an
        inverter, the slave's age grows as the master's. (The reference is held at most
        age behind: a tick difference turns negative after 6.2 days.)"""
        m = ticks.diff(now, self._heard_at)
        if 0 <= m < age:
            return m
        self._heard_at = ticks.add(now, -age)
        return age

    def _no_room(self, now):
        """No room in the heap for the system's table or views: a MemoryError here would
        reach the app's safety net (FETs off, then a reset). Without them this master
        knows nothing of the other packs' limits, and its own could be more than a
        derated pack's share: until they are made, the inverter is asked for no current
        (report(); the FETs stay as each pack has them), each try counted and the first
        logged (COMM_SYSTEM 0; 1 when made), and tried again no sooner than _BEAT_MS on."""
        self.no_room = (self.no_room + 1) & 0x3FFFFFFF
        if self._no_room_at is None:
            self.events.log(now, ev.COMM, ev.COMM_SYSTEM, 0, self.no_room)
        self._no_room_at = now

    def _waits(self, now):
        """A try for room less than _BEAT_MS ago failed (a stamp from long ago can look
        ahead of now once the ticks wrapped: then it is tried)."""
        at = self._no_room_at
        return at is not None and ticks.age(now, at) < _BEAT_MS

    def _speak(self, now, wait):
        """The master's hold is over: it speaks on the pack link, and to the inverter at
        once, or with wait (a new master that heard other packs) once its table counts
        them (poll(), _COUNT_WAIT_MS at the most). (A restarted master told the inverter
        its own limits while its table filled, its FETs open at boot: 0 A, discharge
        disabled, and the inverter stopped the load for a second while the others were
        carrying it.)"""
        self._unmute_at = None
        self._count_wait = now
        self.link.muted = wait

    def _role_changed(self, now):
        """The chain gave this pack a new address or role. (Its code is in
        packlink_init.py, loaded for it and dropped after: roles change at boot and when
        the chain changes, never in steady service.)"""
        lazy.run("packlink_init", "role_changed", self, now)

    def _summary(self, b, now):
        """The next summary frame (LIMITS first when the flags changed)."""
        adr = self.addr
        msg = pl.LIMITS if self._limits_now else self._msg
        buf = self.buf
        pl.encode(msg, buf, b, adr.master)
        if msg == pl.TEMPS_2:
            pl.put_unlock(buf, b, now)  # (for the monitor: no pack takes it)
            buf[6] = (_INVERTER_IN if self.link.polls else 0) | (
                _DIP_SET if self.link.protocol else 0
            )
        if self.packs is not None:  # the master's own line in its table
            if self.packs.take(adr.address, msg, buf, now):
                self._beat_now = True
        if self.link.can_ok:
            try:
                if not self.link.can.send(pl.can_id(msg, adr.address), buf, 8, True):
                    return  # no free TX buffer: tried again at the next poll
            except OSError:  # the SPI failed: CAN stops, as in the link's own poll; the
                # pack and RS485 carry on (raised, it opened the FETs of every pack of
                # a system at each try, and the watchdog reset the pack)
                self.link.can_down()
                return
        if msg == pl.LIMITS:
            # (config_table: CCL < 2**10, DCL < 2**11; the flags a byte: < 2**29)
            self._sent_lim = buf[7] << 21 | (buf[2] | buf[3] << 8) << 11 | buf[4] | buf[5] << 8
            self._limits_now = False
        if msg == self._msg:
            self._msg = msg + 1 if msg < pl.N_MSGS else pl.CELLS
            # IDENT halfway through TEMPS_2's slot: still ten slots a second, and never two
            # frames of one pack back to back (a master's MCP2515 holds two)
            half = msg == pl.TEMPS_2 or msg == pl.IDENT
            self._next_slot = ticks.add(now, _SLOT_MS // 2 if half else _SLOT_MS)

    def _system(self, b, now):
        packs = self.packs
        if packs.check(now):  # (fast unless a loss is due)
            self._beat_now = True
        beat = ticks.diff(now, self._next_beat) >= 0
        if beat:
            self._next_beat = ticks.add(now, _BEAT_MS)
        if not (beat or self._beat_now):
            return
        self._beat_now = False
        if self.view is None:
            if self._waits(now):
                return
            try:
                import packsystem

                self.view = packsystem.SystemView(b)
                # (a pack's own values for the RS485 server: made now, not at a request)
                self.pack_view = packsystem.PackView()
            except MemoryError:
                self.view = None
                self._no_room(now)
                return
            if self._no_room_at is not None:  # the system again: the inverter told so
                self._no_room_at = None
                self._stopped = None
                self.events.log(now, ev.COMM, ev.COMM_SYSTEM, 1, self.no_room)
        view = self.view
        lim = view.limits
        ccl = lim.ccl_ma
        dcl = lim.dcl_ma
        view.aggregate(packs, now)
        if lim.ccl_ma < ccl or lim.dcl_ma < dcl:
            # fewer packs take the current: the inverter must know before its next second
            import packsystem  # (loaded: the view is its)

            packsystem.limits_fell(self.link, now)
        rival = ticks.age(now, self._master_seen) < LOST_MS  # another master of late
        if not rival:  # (held there: a stamp a whole tick period, 12.4 days, old reads new)
            self._master_seen = ticks.add(now, -LOST_MS)
        self.pack_lost = packs.lost > 0 or rival
        self.ms_led = packs.count > 1
