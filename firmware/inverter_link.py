"""The master's link to the inverter: which frames go out when, and who is listening.

Chooses the protocol set from the DIP switch (protocols.md "Our choices"):
- ID0: the Pylon set plus the SMA/Victron frames on CAN, and the Pylon RS485 server on
  port 1 at the same time;
- ID1: the Pylon set as the ID1 inverters read it, plus Growatt's set whenever a 0x301
  request arrives;
- ID2: the Schneider set (29-bit ids, each frame on its own period).
The periodic set is spread over its period on the tick's 100 ms grid (never more than
two frames in a slot, the controller has three TX buffers), so every id goes out once
per period and never twice within 200 ms; frames are encoded into one preallocated
buffer at the moment they are queued, so they carry the newest values.

Supervision: the inverter is present while its heartbeat (0x305/0x307, Growatt's 0x301,
Schneider's 0x310) or its RS485 polls keep coming; a heartbeat is a data frame, never a
remote frame, and 0x305/0x307/0x301 carry 8 bytes (a frame that fails this is counted
in rx_other, no sign of life); a poll is a whole frame (one that fails its CHKSUM is
counted by the server, no sign of life either). `age_ms()` is the time since it last
spoke (since boot if it never did; it stops at about 6.2 days and stays there), which
the core turns into INVERTER_LOST. Nothing here blocks: the app calls poll() outside
the protection tick and as often as it can.

A CAN controller that fails while running (the SPI raises OSError, the chip was reset or
browned out, nothing drives MISO, or it went bus-off three times within a minute) is put
down here: can_ok False, can_fault says why. The pack and the RS485 port carry on; the app
starts the controller again (start_can()).
"""

import micropython
from micropython import const

from bms import lazy, ticks
from drivers.mcp2515 import FAULT_SPI

_SET_PERIOD_MS = const(1000)
# frames go out on the tick's grid, right after the tick that computed their values
# (and with no wake-up of their own)
_GRID_MS = const(100)
_STALE_MS = const(150)  # a frame unsent this long has no listener (no ACK): drop it
_CHECK_MS = const(1000)  # the CAN controller's error state
_TEC_WARNING = const(96)
# the longest tick difference: the age stops here (and stays, see age_ms())
_AGE_CAP_MS = const(0x1FFFFFFF)
_NEVER = const(-1)
_SOI = const(0x7E)  # a Pylon RS485 frame's first byte (drivers.rs485)
_RX_PER_POLL = const(16)  # a busy bus cannot keep the loop reading
_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates
_TICKS_MASK = const(0x3FFFFFFF)  # bms.ticks' arithmetic, for the viper scans
_HALF = const(0x20000000)
ptr32 = int  # viper's pointer type, named for CPython (annotations are evaluated)
# One bus-off is the bus's business (interference, a node restarting): the chip recovers
# by itself after 128 x 11 recessive bits. Three within a minute is a pattern recovery
# does not cure, most likely our own node (a bit timing that a glitch or a brown-out
# changed makes every frame an error): the controller is put down and the app restarts
# it (RESET, configuration written and read back). A bus that fails for other reasons
# gets at most one restart per three episodes (each start begins the count again):
# inverter_link_init.bus_off().

# The codecs are imported by _load() for the protocol the DIP selects, so a set that is
# not spoken never takes a board's RAM. The heartbeat ids the receive path compares are
# the codecs' own, repeated here so that no codec is needed to recognise them
# (test_inverter_link checks that they agree).
_SERVICE_START = const(0xC5)  # service.frame.START: a service frame on RS485 port 1
_SERVICE_ADDRESS = const(1)  # the service link's address of this pack on RS485 port 1
_SERVICE_BASE = const(0x1BB00000)  # service.can.BASE_ID: the service range on CAN
_RANGE_MASK = const(0x1FFF0000)
_PYLON_KEEPALIVE = const(0x305)  # pylon_can.KEEPALIVE
_GROWATT_REQUEST = const(0x301)  # growatt_can.REQUEST
_SCHNEIDER_HEARTBEAT = const(0x310)  # schneider_can.HEARTBEAT, 29-bit
_VICTRON_KEEPALIVE = const(0x307)  # a Victron GX's "VIC" frame, beside its 0x305
_HEARTBEATS_STD = const((_PYLON_KEEPALIVE, _VICTRON_KEEPALIVE, _GROWATT_REQUEST))
# their length: 0x305 is 8 bytes (zeros from Pylon's inverters, a Sunny Island's
# readings), Victron's 0x307 "VIC" 8 bytes, Growatt's 0x301 `11 22 .. 88`
# (../shared/spec/protocols.md); Schneider's 0x310 has no documented length: any is taken
_HEARTBEAT_DLC = const(8)
# A Sunny Island's 0x305 carries its battery readings (protocols.md 2a: voltage, current,
# temperature, SOC), the others' are zeros. The SI silently rejects a 0x351 value outside
# its ranges, so once one is heard (ID0) the limits are kept within them (pylon_can).
_ZEROS = const(b"\x00\x00\x00\x00\x00\x00\x00\x00")
# receive filters: (mask, [filters]) for each RX buffer, as (id, extended) pairs. RXB0
# (two deep with its rollover into RXB1) takes the busier pack link and service ranges
# (protocols/packlink_can.py: one mask passes both), RXB1 the inverter's heartbeats and
# another BMS's limits to the inverter (a second master alone sends nothing else: packlink.
# other_bms; a slave's take a service REQUEST to every pack there instead; a Schneider
# master takes a Pylon one's in RXB0)
PACK_RANGE = const(0x1BA00000)  # packlink_can.FILTER
PACK_MASK = const(0x1FEF0000)  # packlink_can.MASK
_PACKS = ((PACK_MASK, True), [(PACK_RANGE, True)])
_STD_EXACT = const((0x7FF, False))
_PYLON_LIMITS = const(0x351)  # pylon_can.LIMITS
_SCHNEIDER_LIMITS = const(0x321)  # schneider_can's limits frame
FILTERS_STD = (
    _PACKS[0],
    _PACKS[1],
    _STD_EXACT,
    [
        (_PYLON_KEEPALIVE, False),
        (_VICTRON_KEEPALIVE, False),
        (_GROWATT_REQUEST, False),
        (_PYLON_LIMITS, False),
    ],
)
_EXT_EXACT = const((0x1FFFFFFF, True))
FILTERS_EXT = (
    _PACKS[0],
    # (an 11-bit filter under RXB0's mask compares the id under 0x7FB and no data: 0x351
    # and 0x355 of a Pylon master come in, about two frames a second, none at a site
    # without one)
    [(PACK_RANGE, True), (_PYLON_LIMITS, False)],
    _EXT_EXACT,
    [(_SCHNEIDER_HEARTBEAT, True), (_SCHNEIDER_LIMITS, True)],
)


_SERVICE_ALL = const(0x1BB001FF)  # service/can.py: a REQUEST to every pack


def slave_filters(ext, address):
    """A slave's filters: of the pack link, only the master's frames (address 1, the
    only ones a slave reads) and, under the same mask, the service frames to this
    address; every service REQUEST to all packs and the inverter's heartbeats in RXB1
    (under RXB1's 11-bit mask the extended filter takes the whole service range). The
    other slaves' frames, 31 x 11 a second on a full system, never reach the SPI bus."""
    own = ((PACK_MASK | 0xFF, True), [(PACK_RANGE | 1, True), (PACK_RANGE | address, True)])
    if ext:
        return (own[0], own[1], _EXT_EXACT, [(_SCHNEIDER_HEARTBEAT, True), (_SERVICE_ALL, True)])
    return (own[0], own[1], _STD_EXACT, FILTERS_STD[3][:3] + [(_SERVICE_ALL, True)])


def _load(protocol):
    """The CAN frame set of protocol id 0, 1 or 2, as (id, codec) in sending order, its
    codecs imported now (inverter_link_init.py)."""
    return lazy.run("inverter_link_init", "load", protocol)


# The schedule's scans in viper: a quiet poll finds nothing due without a Python loop
# over the eleven frames (ticks arithmetic inline, as bms.ticks does it).
@micropython.viper
def _next_due(nxt: ptr32, n: int, now: int, k: int) -> int:
    """The first frame from k on that is due at now, or -1."""
    while k < n:
        if ((now - nxt[k] + _HALF) & _TICKS_MASK) - _HALF >= 0:
            return k
        k += 1
    return -1


@micropython.viper
def _ahead(nxt: ptr32, n: int, now: int) -> int:
    """ms until the next frame is due (at most a second)."""
    wait = 1000
    k = 0
    while k < n:
        due = ((nxt[k] - now + _HALF) & _TICKS_MASK) - _HALF
        if due < wait:
            wait = due
        k += 1
    return wait


class InverterLink:
    def __init__(self, can, rs485, protocol, address=2):
        """can: drivers.mcp2515.MCP2515 or None; rs485: drivers.rs485.Rs485 (port 1,
        Link IN) or None; protocol: the DIP's effective protocol id (0, 1, 2). The body
        (every attribute, commented) is in inverter_link_init.py, loaded for it and
        dropped after: the link is built once, at boot."""
        lazy.run("inverter_link_init", "init", self, can, rs485, protocol, address)

    def start(self, now):
        """The schedule from now; the CAN controller is started by start_can(). (At boot:
        the code is in inverter_link_init.py, loaded for it.)"""
        lazy.run("inverter_link_init", "start", self, now)

    def start_can(self, now):
        """Reset and configure the CAN controller; True when it runs, else can_fault
        says why. (Its code is in inverter_link_init.py, loaded for it and dropped after:
        at boot, a role change and a restart after a fault only.)"""
        try:
            return lazy.run("inverter_link_init", "start_can", self, now)
        except Exception:  # noqa: BLE001 - no RAM for the module: down, started again later
            self.can_ok = False
            self.can_fault = FAULT_SPI
            return False

    def age_ms(self, now):
        """ms since the inverter last spoke (since start() if it never did), at most
        _AGE_CAP_MS. A tick difference turns negative past half the tick period (6.2
        days), so once the cap is reached the reference is moved along to stay the cap
        behind now: the age stays there until the inverter speaks. Called every tick."""
        heard = self.heard  # (read once: an attribute read costs a board ~400 cycles)
        age = ticks.diff(now, self._since if heard == _NEVER else heard)
        if 0 <= age < _AGE_CAP_MS:
            return age
        ref = ticks.add(now, -_AGE_CAP_MS)
        if heard == _NEVER:
            self._since = ref
        else:
            self.heard = ref
        return _AGE_CAP_MS

    def heard_ever(self):
        return self.heard != _NEVER

    def _spoke(self, now):
        self.heard = now

    def poll(self, b, now):
        """Receive, answer, send what is due; returns ms until a frame is next due (or,
        while an RS485 reply goes out, until its last stop bit is).
        b: the core (bms.core.Bms), whose state the frames report; it must have stepped
        at least once (b.sample set)."""
        rs = self.rs485
        can_ok = self.can_ok
        # the common case, in a few statements (the loop polls every few ms): no byte
        # in, no reply going out, no CAN interrupt, no frame and no error check due; the
        # slow path below would do nothing and return the same
        if (rs is None or rs.quiet() and not self.restart_pending) and (
            not can_ok or ticks.diff(self._quiet_until, now) > 0 and not self.can.attention()
        ):
            return ticks.diff(self._due, now) if can_ok else 1000
        wait = 1000
        # while our reply goes out, wake when its last stop bit is due, to release DE
        rs_wait = self._rs485(b, now) if rs is not None else 1000
        if self.can is not None and can_ok:
            try:
                wait = self._can(b, now)
            except OSError:  # the SPI failed: CAN stops, the pack and RS485 carry on
                self.can_down()
            due = self._due
            if self._growatt or ticks.diff(self._next_check, due) < 0:
                due = self._next_check if not self._growatt else now
            sc = self.service_can
            if sc is not None and sc.busy():
                due = now  # the next poll sends the reply's next segment
            self._quiet_until = due
        return wait if wait < rs_wait else rs_wait

    def _rs485(self, b, now):
        """Answer every request waiting; returns ms until the port next needs a poll."""
        port = self.rs485
        server = self.server
        while True:
            n = port.poll(now)
            if not n:
                if port.sending:
                    # the UART's end can lag its due time by up to 1 ms: then retry in 1
                    left = port.tx_left_ms(now)
                    return left if left > 0 else 1
                if self.restart_pending:
                    self.restart_pending = False
                    self.service.restart(now)  # its reply has gone out
                return 1000
            if port.binary:  # its first byte picks its decoder
                if port.kind == _SERVICE_START:
                    self._service(port, n, now)
                elif self.packlink is not None:
                    self.packlink.frame_in(port.frame, n, port.kind, now)
                continue
            if self.muted and self.packlink is not None and server is not None:
                # an inverter on our Link IN: we are the master (a whole frame only, and
                # only where the DIP speaks RS485: noise on a dangling cable made a slave
                # of a CAN system a second master)
                if server.valid(port.frame, n):
                    self.packlink.pylon_in(now)
            if server is None or self.muted:
                continue
            garbage = server.not_frames
            broken = server.bad_chksum
            length = server.handle(port.frame, n, b, now)
            if server.not_frames == garbage and server.bad_chksum == broken:
                # a whole frame, for us (whatever its other errors) or another battery:
                # the inverter is there. Garbage, or a frame that fails its checksum
                # (answered if ours), is counted but proves no one there
                self.polls = (self.polls + 1) & _COUNT_MASK
                self._spoke(now)
            if length:
                port.send(server.reply(length), now)

    def server_for_service(self):
        """The service link's Server (RS485 and CAN share it), loaded at first use."""
        svc = self.service
        if svc is None:
            from service.server import Server

            svc = self.service = Server(self.service_app, _SERVICE_ADDRESS)
        return svc

    def _service(self, port, n, now):
        """A service frame (its first byte): the service modules load at the first one."""
        svc = self.server_for_service()
        relay = self.can_ok and port.frame[1] != _SERVICE_ADDRESS
        if relay and self._can_service().relay(port, port.frame, n, now):
            return  # for another pack: its reply comes back over CAN
        length = svc.handle(port.frame, n, now)
        if length:
            port.send(memoryview(svc.out)[:length], now)
        if svc.restart_due:
            svc.restart_due = False
            self.restart_pending = True

    def _can(self, b, now):
        """Receive, read the error state when due, send what is due; returns ms until a
        frame is next due. A controller that stopped answering as configured is put
        down here: the app starts it again (app_chips.can_setup)."""
        can = self.can
        if can.attention() and not self._receive(now) and can.int_pin is not None:
            self._next_check = now  # INT without a frame: an error flag to read
        if ticks.diff(now, self._next_check) >= 0:
            self._next_check = ticks.add(now, _CHECK_MS)
            can.check()
        wait = self._send(b, now) if can.ok else 1000
        sc = self.service_can
        if sc is not None and sc.busy() and can.ok:
            w = sc.poll(now)  # a reply's next segment (paced), or the restart after it
            if w < wait:
                wait = w
        if not can.ok:  # reset, browned out, or nothing drives MISO
            self.can_down(can.fault)
        elif can.bus_off != self._bus_off_seen:  # check() or a failed send saw one begin
            self._bus_off(now)
        return wait

    def _bus_off(self, now):
        """New bus-off episodes seen at now (rare: the code is in inverter_link_init.py,
        loaded for it and dropped after)."""
        try:
            lazy.run("inverter_link_init", "bus_off", self, now)
        except MemoryError:  # no room to load it: not the safe state's business; the
            pass  # episodes are still new at the next poll

    def can_down(self, fault=FAULT_SPI):
        self.can_ok = False
        self.can_fault = fault
        self.can_faults = (self.can_faults + 1) & _COUNT_MASK

    def _receive(self, now):
        """Read every waiting frame; returns how many. A heartbeat is a data frame (every
        protocol gives its bytes); a remote frame of its id is another node's request."""
        can = self.can
        f = self.rx
        n = 0
        while n < _RX_PER_POLL and can.recv(f):
            n += 1
            if f.rtr:
                self.rx_other = (self.rx_other + 1) & _COUNT_MASK
            elif f.ext:
                # (a link without an app, a rig or a tool's, has no one to serve: other)
                if f.can_id & _RANGE_MASK == _SERVICE_BASE and self.service_app is not None:
                    self._can_service().take(f, now)  # (the CAN service loads at the first)
                elif self.packlink is not None and self.packlink.take(f, now):
                    pass
                elif f.can_id == _SCHNEIDER_HEARTBEAT and self.ext:
                    self.heartbeats = (self.heartbeats + 1) & _COUNT_MASK
                    self._spoke(now)
                else:
                    self.rx_other = (self.rx_other + 1) & _COUNT_MASK
                    if f.can_id == _SCHNEIDER_LIMITS and self.packlink is not None:
                        self.packlink.other_bms(now)
            elif f.can_id in _HEARTBEATS_STD and f.dlc == _HEARTBEAT_DLC and not self.ext:
                self.heartbeats = (self.heartbeats + 1) & _COUNT_MASK
                self._spoke(now)
                if self.sma == 0 and f.can_id == _PYLON_KEEPALIVE and f.data != _ZEROS:
                    self.sma = 1  # readings, not a keep-alive's zeros: a Sunny Island
                gw = self.growatt
                if f.can_id == _GROWATT_REQUEST and gw is not None and not self.muted:
                    self._growatt = gw.LAST - gw.FIRST + 1
                    self._growatt_at = now
            else:
                self.rx_other = (self.rx_other + 1) & _COUNT_MASK
                if f.can_id == _PYLON_LIMITS and self.packlink is not None:
                    self.packlink.other_bms(now)
            if not can.rx_more:  # the other buffer was empty: no READ STATUS to learn it
                break
        return n

    def _can_service(self):
        sc = self.service_can
        if sc is None:
            from service.can_link import CanService

            sc = self.service_can = CanService(self)
        return sc

    def _send(self, b, now):
        can = self.can
        buf = self.buf
        if self._growatt:
            # an answer nobody takes (the inverter unplugged as it asked) is given up
            # after _STALE_MS, its frames dropped as the set's are: it stopped the set for
            # as long, and went out 10 s stale when the inverter came back
            self._drop_stale(now)
            if ticks.diff(now, self._growatt_at) >= _STALE_MS:
                self._growatt = 0  # (the next request asks again)
        while self._growatt:
            gw = self.growatt
            can_id = gw.LAST + 1 - self._growatt
            n = gw.encode(can_id, buf, b)
            if not can.send(can_id, buf, n):
                return 1  # the rest as TX buffers free up
            self._growatt -= 1
        wait = ticks.diff(self._due, now)
        if wait > 0:
            return wait
        nxt = self.next_ms
        count = len(nxt)
        k = _next_due(nxt, count, now, 0)
        while k >= 0:
            self._drop_stale(now)
            can_id = self.ids[k]
            if not self.muted:  # (a slave: the schedule runs on, nothing is sent)
                codec = self.codecs[k]
                n = codec.encode(can_id, buf, b)
                if k == self.lim_k and self.sma > 0:
                    codec.sma_range(buf)
                if not can.send(can_id, buf, n, self.ext):
                    # skipped, not delayed: the next one is fresh
                    self.tx_skipped = (self.tx_skipped + 1) & _COUNT_MASK
                elif k == self.lim_k:
                    self.lim_sent = now  # (packsystem.limits_fell() keeps 200 ms from it)
            period = self.periods[k]
            nxt[k] = ticks.add(nxt[k], period)
            if ticks.diff(nxt[k], now) <= 0:  # fell behind: keep the spacing
                nxt[k] = ticks.add(now, period)
            k = _next_due(nxt, count, now, k + 1)
        wait = _ahead(nxt, count, now)
        self._due = ticks.add(now, wait)
        return wait

    def _drop_stale(self, now):
        """Frames nobody acknowledges would go out late and in a burst once a listener
        appears (two of one id within 200 ms): drop those waiting longer than _STALE_MS.
        Nobody acknowledging raises the error count (read each second) within 16 frames:
        below the warning level every frame is being taken, and there is nothing to ask."""
        can = self.can
        if can.tec < _TEC_WARNING:
            self._pending_since = _NEVER
            return
        if not can.tx_pending():
            self._pending_since = _NEVER
        elif self._pending_since == _NEVER:
            self._pending_since = now
        elif ticks.diff(now, self._pending_since) >= _STALE_MS:
            self.stale_dropped = (self.stale_dropped + can.abort()) & _COUNT_MASK
            self._pending_since = _NEVER
