"""The inverter link's constructor (inverter_link.py's InverterLink) and the frame sets,
loaded by bms.lazy for the one link a boot builds and dropped after, so that their code
does not stay in a board's heap. Every attribute of an InverterLink is made here. Also
its rare paths: the CAN controller's start, a bus-off episode.
"""

from array import array

from micropython import const

from bms import ticks
from drivers.mcp2515 import FAULT_BUS_OFF, FAULT_NONE, FAULT_SPI, CanFrame
from inverter_link import FILTERS_EXT, FILTERS_STD, slave_filters

_SET_PERIOD_MS = const(1000)  # inverter_link's
_PYLON_LIMITS = const(0x351)  # the frames with CCL and DCL
_SCHNEIDER_LIMITS = const(0x322)
_GRID_MS = const(100)  # inverter_link's: frames go out on the tick's grid
_NEVER = const(-1)
_BUS_OFF_LIMIT = const(3)
_BUS_OFF_WINDOW_MS = const(60000)
_CHECK_MS = const(1000)  # inverter_link's: the CAN controller's error state
_COUNT_MASK = const(0x3FFFFFFF)  # inverter_link's: its counters wrap here


def init(self, can, rs485, protocol, address):
    self.can = can
    self.rs485 = rs485
    self.server = None
    self.service = None  # service.server.Server, made at the first service frame
    self.service_can = None  # service.can_link.CanService, at the first on CAN
    self.service_app = None  # what it serves (App sets it)
    self.restart_pending = False  # the service asked for a restart once its reply is out
    self.notice = None  # service.restart.Notice: a restart announced (App.comms)
    if rs485 is not None and protocol == 0:
        from protocols import pylon_rs485

        self.server = pylon_rs485.Server(address)
    self.growatt = None  # Growatt's codec, answering its 0x301 (ID1 only)
    if protocol == 1:
        from protocols import growatt_can

        self.growatt = growatt_can
    self.buf = bytearray(8)
    self.rx = CanFrame()
    # parallel packs (packlink.py's PackLink): a slave is muted (it never speaks to the
    # inverter); the pack link's CAN frames go to packlink.take(frame, now), the RS485
    # frames that are not Pylon's to packlink.frame_in(buf, n, kind, now)
    self.muted = False
    self.packlink = None
    self.protocol = protocol  # the DIP's (a master's that sets one outranks another's)
    self.ext = protocol == 2
    self.slave_address = 0  # a slave of packs in parallel: its filters (packlink.py)
    # the frame set in sending order: frame k is ids[k], encoded by codecs[k] (two flat
    # tuples: a pair per frame would hold eleven more objects)
    frames = load(protocol)
    self.ids = tuple(can_id for can_id, _c in frames)
    self.codecs = tuple(codec for _i, codec in frames)
    n = len(frames)
    if protocol == 2:
        table = self.codecs[0].FRAMES
        self.periods = tuple(period for _id, period, _o in table)
        self.offsets = tuple(offset for _id, _p, offset in table)
    else:
        self.periods = tuple(_SET_PERIOD_MS for _f in frames)
        # frame k of n k/n of the way into the second, on the grid (ID0: 11 frames
        # in the 10 ticks of a second)
        self.offsets = tuple(_SET_PERIOD_MS * k // n // _GRID_MS * _GRID_MS for k in range(n))
    self.next_ms = array("i", bytes(4 * n))  # when each frame is next due (ticks ms)
    # the frame with CCL and DCL (-1: none) and when it last went out: a fall of the
    # system's limits sends it early, 200 ms after that at the soonest (packsystem.py)
    self.lim_k = -1
    for k in range(n):
        if self.ids[k] == _PYLON_LIMITS or self.ids[k] == _SCHNEIDER_LIMITS:
            self.lim_k = k
            break
    self.lim_sent = 0
    # ID0: 1 once a Sunny Island is heard (its 0x305 is not zeros), whose ranges 0x351
    # then keeps (pylon_can.sma_range); 0 until then; -1 on ID1 and ID2 (not looked for)
    self.sma = 0 if protocol == 0 else -1
    self.can_ok = False
    self.can_fault = FAULT_NONE  # why can_ok is False: drivers.mcp2515's FAULT_*
    self.heard = _NEVER  # when the inverter last spoke
    self._since = 0  # boot: the age counts from here until it first speaks
    self._growatt = 0  # Growatt frames still to send for the last 0x301 (count down)
    self._growatt_at = 0  # when that request came
    self._pending_since = _NEVER
    self._next_check = 0
    self._due = 0  # the earliest of next_ms
    self._quiet_until = 0  # the earliest of _due and _next_check: poll()'s fast path
    # counters
    self.heartbeats = 0
    self.polls = 0
    # frames that are not a heartbeat: another node's, a remote frame, a heartbeat id
    # with another length
    self.rx_other = 0
    self.tx_skipped = 0  # no free TX buffer when a frame was due
    self.stale_dropped = 0
    self.can_faults = 0  # times the running controller failed
    self._bus_off_seen = 0  # the driver's bus-off count when last looked at
    self._bus_off_at = [0] * _BUS_OFF_LIMIT  # when the last episodes were seen (ring)
    self._bus_off_k = 0  # the ring's oldest entry, where the next goes
    self._bus_off_n = 0  # episodes in the ring since the controller was started


def load(protocol):
    """The CAN frame set of protocol id 0, 1 or 2, as (id, codec) in sending order, its
    codecs imported now. ID1: the Pylon V1.2 set with 0x379 (and Growatt's on request);
    ID0: the same plus the SMA/Victron frames; ID2: the Schneider set."""
    if protocol == 2:
        from protocols import schneider_can

        return tuple((can_id, schneider_can) for can_id, _p, _o in schneider_can.FRAMES)
    from protocols import pylon_can

    ids = (
        pylon_can.LIMITS,
        pylon_can.SOC,
        pylon_can.MEASURE,
        pylon_can.ALARMS,
        pylon_can.REQUESTS,
        pylon_can.NAME,
        pylon_can.CAPACITY,
    )
    frames = tuple((can_id, pylon_can) for can_id in ids)
    if protocol == 1:
        return frames
    from protocols import victron_can

    ids = (
        victron_can.ALARMS_PAIRS,
        victron_can.OVERVIEW,
        victron_can.MODULES,
        victron_can.EXTREMES,
    )
    return frames + tuple((can_id, victron_can) for can_id in ids)


def start_can(link, now):
    """InverterLink.start_can()."""
    can = link.can
    if can is None:
        link.can_ok = False
        return False
    try:
        if link.slave_address:
            filters = slave_filters(link.ext, link.slave_address)
        else:
            filters = FILTERS_EXT if link.ext else FILTERS_STD
        link.can_ok = can.init(filters)
        link.can_fault = can.fault
    except Exception:  # noqa: BLE001 - an SPI error, or no RAM for the setup module:
        # the controller is down and the app starts it again; never the FETs' business
        link.can_ok = False
        link.can_fault = FAULT_SPI
    if link.can_ok:
        # the missed frames are skipped by whole periods: each id keeps its slot in
        # the schedule (never two of one id within 200 ms, no burst of the missed)
        nxt = link.next_ms
        for k in range(len(nxt)):
            period = link.periods[k]
            ahead = ticks.diff(nxt[k], now)
            if ahead < 0:
                nxt[k] = ticks.add(nxt[k], (period - 1 - ahead) // period * period)
            elif ahead > period:  # down for days: the tick difference wrapped
                nxt[k] = ticks.add(now, link.offsets[k])
        link._due = now
        link._quiet_until = now
        link._next_check = ticks.add(now, _CHECK_MS)
        link._growatt = 0
        link._pending_since = _NEVER
        link._bus_off_seen = can.bus_off  # a fresh start: the episodes count afresh
        link._bus_off_n = 0
    return link.can_ok


def start(self, now):
    """InverterLink.start(): the schedule from now."""
    self._since = now
    self._next_check = now
    for k in range(len(self.ids)):
        self.next_ms[k] = ticks.add(now, self.offsets[k])
    self._due = now


def bus_off(link, now):
    """InverterLink._bus_off(): note the new bus-off episodes at now; the
    _BUS_OFF_LIMIT-th since the start within _BUS_OFF_WINDOW_MS puts the controller down
    for a restart."""
    count = link.can.bus_off
    new = (count - link._bus_off_seen) & _COUNT_MASK
    link._bus_off_seen = count
    at = link._bus_off_at
    k = link._bus_off_k
    for _ in range(new if new < _BUS_OFF_LIMIT else _BUS_OFF_LIMIT):
        at[k] = now
        k = k + 1 if k + 1 < _BUS_OFF_LIMIT else 0
        if link._bus_off_n < _BUS_OFF_LIMIT:
            link._bus_off_n += 1
    link._bus_off_k = k
    # at[k] is now the oldest of the last _BUS_OFF_LIMIT
    if link._bus_off_n >= _BUS_OFF_LIMIT and ticks.diff(now, at[k]) < _BUS_OFF_WINDOW_MS:
        link.can_down(FAULT_BUS_OFF)
