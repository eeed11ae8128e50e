"""The system of parallel packs, on the master: every pack's summary in, the system's
values for the inverter out.

Packs is the table of the summaries heard on the pack link (protocols/packlink_can.py,
the master's own included), by chain address, as raw frames: take() checks a frame's
values against what a pack can send (plausible(): a frame outside that is dropped, and
PackLink counts it in bad_frames) and copies its 8 bytes; a pack counts once all four of its
summary frames have come (the other six, its cells and temperatures, are for PackView).
check() finds the packs silent for STALE_MS, which then count in no current limit
(whatever their last frames said of their FETs: a pack that lost its power or restarted
says nothing more, and the others would take its share meanwhile), and those silent for
LOST_MS (PACK_LOST, an event naming the pack; cleared and logged again when it returns).

SystemView looks to the protocol encoders like the core (bms.core.Bms: sample, soc,
limits, engine, cfg, reported_ma...), with the system's values, filled by aggregate()
on the link's beat and whenever a pack's FETs change or a pack is lost, never per tick:
- CVL: the lowest of the packs' that take the charge (their charge FET on, or silent);
  with none, the lowest of all;
- CCL: (packs whose charge FET is on and that ask for a charge) x (the lowest CCL among
  them), DCL likewise with the discharge FETs, less the packs silent for STALE_MS; and
  no more than the current at which the pack with the most current for its limit takes
  that limit, as the packs share it (_shared: they never share alike, and a pack that
  joins is judged before the limit rises), nor than n - 1 of them carry under their
  protection's fast step when one leaves before the inverter follows. With no charge
  FET on, one pack's CCL (at the CVL of those asking) when packs asleep after CUVP ask
  for the charge that wakes them. This is how the limits keep cascades short: a pack
  that opens (COVP, CUVP, DOCP, a sensor failure) or asks for nothing with its FET still
  on (it protects itself) says so at once (its LIMITS frame), one that goes silent
  counts no more after STALE_MS, and a fall goes to the inverter at once (packlink.py),
  so the others carry its share only until the inverter follows; a pack tapering near
  full brings the whole system's current down instead of being pushed into COVP by its
  neighbours' share;
- CCL and DCL no more than an RS485 inverter's 0x94 currents while they stand (the
  master's pack holds them with their expiry, and their voltages, as one alone): the
  system's bounded, not the master's pack's alone (its CCL n times over);
- SOC weighted by each pack's full capacity; SOH the mean; cycles the highest;
- protections and warnings OR-ed (plus PACK_LOST while a pack is lost);
- cell min/max over the system, with the pack they are in (min_pack, max_pack);
- pack voltage the mean, current the sum, temperatures min/max; force and full charge
  requested if any pack asks; `modules` the packs counted, `online` those of them heard
  within STALE_MS, `offline` the others and the packs lost; `allow_chg` and `relay_dsg`
  the packs whose charge and discharge FETs are on (the core's bools, as counts);
- capacities in mAh (soc.full_mah(), soc.q_mah(), as the core's Soc has them), since
  the system's in mAs would outgrow a small int from 3 packs.

PackView is one pack's own values, shaped as the core likewise, for the Pylon RS485
server's answer at that pack's address; fill() decodes them from the table when a request
asks (never per tick). Its sample is invalid until all six cell and temperature frames
have come since the pack was (re)counted: the server then says so (RTN 91), never zeros;
its serial number (uid) is None until its IDENT frame has come (no reply to 0x93 then).
"""

from array import array

import micropython
from micropython import const

from bms import events as ev
from bms import ticks
from bms.limits import Limits
from bms.protections import PACK_LOST
from bms.sample import Sample
from protocols import packlink_can as pl
from protocols.fields import s16le, u16le_at, u32le_at

LOST_MS = const(3000)  # (packlink.LOST_MS: the same, tested)
# a pack sends a frame every 100 ms: five missed, it counts in no current limit
STALE_MS = const(500)
_SLOTS = const(33)  # addresses 1..32 (0 unused)
_FRAME = const(8)
_ROW = const(88)  # eleven frames a pack
_PIECE = const(8)  # packs in each piece of the table (704 B)
_ALL = const(0x0F)  # the four summary frames
_ALL_MORE = const(0x3F)  # the six cell and temperature frames
_IDENT_BIT = const(0x40)  # (in more, beside them)
_UNKNOWN = const(0)
_PRESENT = const(1)
_LOST = const(2)
_PACK_LOST_BIT = 1 << PACK_LOST
_OFF_CELLS = const(0)
_OFF_MEASURE = const(8)
_OFF_LIMITS = const(16)
_OFF_STATUS = const(24)
_OFF_CELLS_1 = const(32)
_OFF_TEMPS_1 = const(64)
_OFF_TEMPS_2 = const(72)
_OFF_IDENT = const(80)
_BIG = const(0x3FFFFFFF)  # above any value compared (a small int on every port)
# What a pack's frames can say, in their encodings (a pack sends its own checked values:
# bms.sample's physics, bms.limits' CVL floor, the config's ceilings, a capacity learned
# up to 110 % of the rated): a frame outside them is garbage (another firmware, a broken
# node), dropped and counted (PackLink.bad_frames), never a value the inverter is told
_CELL_MV_MAX = const(5500)  # bms.sample's CELL_MV_MAX (a cell below 0 V is sent as garbage)
_TEMP_DC_MIN = const(-2732)  # bms.sample's
_TEMP_DC_MAX = const(3000)
_CELLS = const(16)
_SOC_MAX = const(10000)
_CVL_MIN_MV = const(41000)  # bms.limits' CVL floor
_CVL_MAX_MV = const(57600)  # the config's cvl_mv ceiling
_CCL_MAX_DA = const(700)  # ccl_ma's ceiling, 70 A
_DCL_MAX_DA = const(1000)  # dcl_ma's, 100 A
_SOH_MAX = const(110)
_CAPACITY_MAX_DAH = const(2750)  # capacity_mah's ceiling, 250 Ah, learned 10 % above
_MSG_TEMPS_1 = const(0x09)  # packlink_can's TEMPS_1
_TICKS_MASK = const(0x3FFFFFFF)  # bms.ticks' arithmetic, for the viper walk
_HALF = const(0x20000000)
_GAP_MS = const(200)  # the least time between two frames of one id (protocols.md)
_LATE_MS = const(200)  # check() called this long after the last: the loop was held up
# a new limit reaches the inverter within a second or so and every pack's MEASURE frame
# comes every 1.1 s: judged on frames from after the last judgment
_SETTLE_MS = const(3000)

ptr8 = ptr32 = int  # viper's pointer types, named for CPython (annotations are evaluated)


@micropython.viper
def _walk(seen: ptr32, state: ptr8, stale: ptr8, now: int) -> int:
    """One pass over the packs present (Packs.check()): marks those silent for STALE_MS;
    returns the ms until the next is due to go silent or to be lost, times 4, plus 1 when
    one was marked now and 2 when one is due to be lost now (check() does that part).
    (Viper: on a master of 32 packs this runs every few ticks.)"""
    wait = LOST_MS
    out = 0
    a = 1
    while a < _SLOTS:
        if state[a] == _PRESENT:
            age = ((now - seen[a] + _HALF) & _TICKS_MASK) - _HALF
            if age >= LOST_MS:
                out |= 2
            else:
                if age >= STALE_MS:
                    if stale[a] == 0:
                        stale[a] = 1
                        out |= 1
                    left = LOST_MS - age
                else:
                    left = STALE_MS - age
                if left < wait:
                    wait = left
        a += 1
    return (wait << 2) | out


def limits_fell(link, now):
    """The system's CCL or DCL fell (a pack opened or went silent, and the others take
    its share until the inverter follows): the inverter link's (inverter_link.py) frame
    that carries them goes out now instead of at its period, still no sooner than
    _GAP_MS after it last went out. (Here, not in the link: a pack alone never holds
    this code.)"""
    k = link.lim_k
    if k < 0:
        return
    nxt = link.next_ms
    soonest = ticks.add(link.lim_sent, _GAP_MS)
    if ticks.diff(soonest, now) < 0:
        soonest = now
    if ticks.diff(soonest, nxt[k]) < 0:
        nxt[k] = soonest
        if ticks.diff(soonest, link._due) < 0:
            link._due = soonest
        link._quiet_until = now  # (the link's poll would not look before)


def _temps_ok(d, start, end):
    for off in range(start, end, 2):
        t = s16le(d, off)
        if t < _TEMP_DC_MIN or t > _TEMP_DC_MAX:
            return False
    return True


def plausible(msg, d):
    """Whether a pack-link frame (message msg, bytes d) says what a pack can."""
    if msg == pl.CELLS:
        lo = u16le_at(d, 0)
        return (
            lo <= u16le_at(d, 2) <= _CELL_MV_MAX
            and 1 <= d[4] <= _CELLS
            and 1 <= d[5] <= _CELLS
            and u16le_at(d, 6) <= _SOC_MAX
        )
    if msg == pl.MEASURE:
        return _temps_ok(d, 4, 8) and s16le(d, 4) <= s16le(d, 6)
    if msg == pl.LIMITS:
        return (
            _CVL_MIN_MV <= u16le_at(d, 0) <= _CVL_MAX_MV
            and u16le_at(d, 2) <= _CCL_MAX_DA
            and u16le_at(d, 4) <= _DCL_MAX_DA
            and d[6] <= _SOH_MAX
        )
    if msg == pl.STATUS:
        # its protection bits: bms.protections' names, 1..PACK_LOST (the last) alone. One
        # outside them is no pack's, and OR-ed into the system's names it made them a long
        # int (a heap block) at every aggregate() of a board
        return (
            0 < u16le_at(d, 4) <= _CAPACITY_MAX_DAH
            and not d[0] & 1
            and not u16le_at(d, 2) >> (PACK_LOST - 15)
        )
    if msg < _MSG_TEMPS_1:  # CELLS_1..CELLS_4
        for off in range(0, _FRAME, 2):
            if u16le_at(d, off) > _CELL_MV_MAX:
                return False
        return True
    if msg == _MSG_TEMPS_1:
        return _temps_ok(d, 0, _FRAME)
    if msg == pl.TEMPS_2:  # the board's and the MOSFETs' sensors, then the unlock
        return _temps_ok(d, 0, 4)
    return True  # IDENT: any serial number


class Packs:
    def __init__(self, events):
        self.events = events
        # the frames, by address: packs 8 k .. 8 k + 7 in raw[k] (the last: 32 alone). A
        # pack becomes a master in service, where the heap has no 2.9 KB piece to spare
        raw = self.raw = []
        for a in range(0, _SLOTS, _PIECE):
            n = _SLOTS - a
            raw.append(bytearray((_PIECE if n > _PIECE else n) * _ROW))
        self.seen = array("i", bytes(4 * _SLOTS))
        self.got = bytearray(_SLOTS)  # bit (msg - 1) of each summary frame since known
        self.more = bytearray(_SLOTS)  # bit (msg - 5) of each cell/temperature frame, IDENT
        self.state = bytearray(_SLOTS)
        self.stale = bytearray(_SLOTS)  # 1: present, but silent for STALE_MS
        self.lost = 0  # packs lost now
        self.count = 0  # packs present now
        # the earliest a present pack can fall silent or be lost (check()'s fast path); a
        # pack that comes (or is heard again) makes it now, so that the next check()
        # walks the table and sets it: a fixed start would look ahead of the ticks for
        # half their period (6.2 days) and hold every loss back
        self._due = 0
        self._last = 0  # when check() was last called

    def take(self, src, msg, data, now):
        """A pack's frame; returns True when the pack's FET flags changed, a limit of its
        fell or the pack came (back): the system is then computed again at once; None
        when the frame fails its checks (an address or message no pack has, a value no
        pack sends), dropped."""
        if not (1 <= src <= pl.MAX_ADDRESS and 1 <= msg <= pl.N_MSGS and plausible(msg, data)):
            return None
        raw = self.raw[src // _PIECE]
        off = src % _PIECE * _ROW + (msg - 1) * _FRAME
        # (LIMITS: its FET flags changed, or a limit fell: the others take its share
        # until the inverter follows)
        changed = msg == pl.LIMITS and (
            raw[off + 7] != data[7]
            or u16le_at(data, 2) < u16le_at(raw, off + 2)
            or u16le_at(data, 4) < u16le_at(raw, off + 4)
        )
        for k in range(_FRAME):
            raw[off + k] = data[k]
        self.seen[src] = now
        back = self.stale[src]
        if back:  # heard again: it counts in the limits again, now
            self.stale[src] = 0
            self._due = now  # (its next silence may come before the walk's due time)
            changed = True
        if msg > pl.N_SUMMARY:
            self.more[src] |= 1 << (msg - pl.N_SUMMARY - 1)
            return back != 0  # (only a pack present is marked silent)
        self.got[src] |= 1 << (msg - 1)
        st = self.state[src]
        if st != _PRESENT and self.got[src] == _ALL:
            self.state[src] = _PRESENT
            self.count += 1
            self._due = now
            if st == _LOST:
                self.lost -= 1
                self.events.log(now, ev.COMM, ev.COMM_PACK, 1, src)
            return True
        return changed and st == _PRESENT

    def check(self, now):
        """Mark the packs silent for STALE_MS (out of the limits) and those silent for
        LOST_MS lost; returns whether any was. Cheap to call often: the table is walked
        only once the earliest of those is due."""
        last = self._last
        self._last = now
        if ticks.diff(now, self._due) < 0:
            return False
        if ticks.diff(now, last) > _LATE_MS:
            # the loop was held up (a flash write...): the frames heard meanwhile still
            # wait in the receive buffer, read after this; judge at the next call
            return False
        r = _walk(self.seen, self.state, self.stale, now)
        if r & 2:  # (rare: a loss, logged)
            for a in range(1, _SLOTS):
                if self.state[a] == _PRESENT and ticks.diff(now, self.seen[a]) >= LOST_MS:
                    self.state[a] = _LOST
                    self.got[a] = 0
                    self.more[a] = 0
                    self.stale[a] = 0
                    self.count -= 1
                    self.lost += 1
                    self.events.log(now, ev.COMM, ev.COMM_PACK, 0, a)
        self._due = ticks.add(now, r >> 2)
        return r & 3 != 0

    def forget(self):
        """Every pack unknown (this pack's role changed)."""
        for a in range(_SLOTS):
            self.state[a] = _UNKNOWN
            self.got[a] = 0
            self.more[a] = 0
            self.stale[a] = 0
        self.lost = 0
        self.count = 0

    def present(self, a):
        return self.state[a] == _PRESENT

    def lost_list(self):
        return [a for a in range(1, _SLOTS) if self.state[a] == _LOST]


class _NoLimits:
    """A pack other than the master: the inverter's 0x94 limits never reach it."""

    cvl_mv = 0
    dvl_mv = 0
    ext_active = False

    def set_external(self, *args):
        return None


class _Soc:
    def __init__(self):
        self.shown_cpct = 0
        self.cycles = 0
        self._full_mah = 1
        self._q_mah = 0
        self.soh = 100

    def soh_pct(self):
        return self.soh

    def q_mah(self):
        return self._q_mah

    def full_mah(self):
        return self._full_mah


class _Limits:
    def __init__(self, own):
        self.own = own
        self.cvl_mv = own.cvl_mv
        self.ccl_ma = 0
        self.dcl_ma = 0
        self.dvl_mv = own.dvl_mv
        self.charge_enable = False
        self.discharge_enable = False
        self.force_charge = False
        self.full_request = False

    def set_external(self, *args):
        # an inverter's own limits (Pylon 0x94: CV, DV, CCL, DCL, now, expiry) go to the
        # master's pack, which keeps them and their expiry as one alone: its CVL and DVL
        # are the system's (aggregate()), and its currents bound the system's (_hold()),
        # not its own alone (n packs then asked n times them: CCL 30 A read 90 A on three)
        r = self.own.set_external(*args)
        self._hold(args[4])  # (at once, as a pack alone takes them at its next tick)
        return r

    def _hold(self, now):
        """The system's CCL and DCL held to the inverter's 0x94 currents while they stand
        (bms.limits' expiry), and the enables and requests that follow them."""
        o = self.own
        if o.ext_active and ticks.diff(now, o.ext_until) < 0:
            if o.ext_ccl_ma < self.ccl_ma:
                self.ccl_ma = o.ext_ccl_ma
            if o.ext_dcl_ma < self.dcl_ma:
                self.dcl_ma = o.ext_dcl_ma
        self.charge_enable = self.ccl_ma > 0
        self.discharge_enable = self.dcl_ma > 0
        self.force_charge = self.force_charge and self.charge_enable
        self.full_request = self.full_request and self.charge_enable

    as_dict = Limits.as_dict  # the trace's and the service link's view (allocates)


class _Cfg:
    """The master's config as the system's: its values, with the capacity of the packs
    counted (a copy of the whole config would hold 1 KB more of a board's heap)."""

    def __init__(self, own):
        self.own = own
        self.capacity_mah = own.capacity_mah

    def __getattr__(self, name):
        # (called only for a name not found here: every key but capacity_mah)
        return getattr(self.own, name)


class _Engine:
    def __init__(self):
        self.names = 0
        self.locked = 0


class SystemView:
    """The system, shaped as the core for the protocol encoders (see the docstring)."""

    def __init__(self, own):
        self.own = own
        self.sample = Sample()
        self.soc = _Soc()
        self.limits = _Limits(own.limits)
        self.engine = _Engine()
        self.cfg = _Cfg(own.cfg)
        self.uid = own.uid  # (the master's: the system speaks as it)
        self.rated_mah = own.cfg.capacity_mah
        self.modules = 1
        self.online = 1
        self.offline = 0
        self.min_pack = 1
        self.max_pack = 1
        self.reported_ma = 0
        self.chg = self.dsg = self.pre = False
        self.allow_chg = self.relay_dsg = False
        self.mode = own.mode
        self.started = False
        # how the packs share the current, CCL's (k 0) and DCL's (k 1) (_shared): at k how
        # far from alike, per mille, as last judged (0: never, taken as alike); at 2 + k the
        # packs counted; at 4 + k when it was judged, or a pack joined or left; at 6 + k
        # the packs counted when it was judged; at 8 + k, the largest current's share then,
        # as far from alike (a pack derated, cold or tapering, is never the nearest); at 10
        # + k the largest current now, each way (aggregate())
        self._spread = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]

    def aggregate(self, packs, now):
        """The system's values from the packs present (the master's own among them)."""
        own = self.own
        pieces = packs.raw
        n = n_chg = n_dsg = n_stale = n_ccl = n_dcl = 0
        cvl = cvl_open = _BIG
        ccl_min = dcl_min = wake_ccl = wake_cvl = _BIG
        # the pack with the most current for its limit, each way (its limit, its current,
        # in 0.1 A; 0: none yet), and the net current of the packs counted, each way (in
        # their direction: a pack taken against it, charged by the others, adds to what
        # they carry, and the nearest pack's share of the net is its share of a load)
        chg_v = chg_i = dsg_v = dsg_i = i_chg = i_dsg = big_c = big_d = 0
        cap = soc_w = soh = cycles = names = 0
        mv_sum = i_sum = t_mid = 0
        lo = _BIG
        hi = -1
        tlo = 0x7FFF
        thi = -0x7FFF
        force = full = False
        s = self.sample
        stale = packs.stale
        for a in range(1, _SLOTS):
            if not packs.present(a):
                continue
            raw = pieces[a // _PIECE]
            o = a % _PIECE * _ROW
            n += 1
            # a silent pack's FETs are taken as open: it takes no share of the current
            f = 0 if stale[a] else raw[o + _OFF_LIMITS + 7]
            n_stale += stale[a]
            v = u16le_at(raw, o + _OFF_LIMITS)
            # the CVL of the packs that take the charge (and of the silent, whose FETs are
            # not known): a pack whose charge FET is open (a trip, a lockout: its CVL is
            # its own voltage) held the inverter there, and the others never charged
            if f & pl.F_CHG_FET or stale[a]:
                if v < cvl:
                    cvl = v
            elif v < cvl_open:
                cvl_open = v
            cur = s16le(raw, o + _OFF_MEASURE + 2)  # (0.1 A, + charging)
            i_sum += cur
            # a pack whose FET is on but which asks for no current (readings lost for a
            # tick, a derating down to 0 before its trip) is leaving: it protects itself,
            # and the others' limits count (its CCL or DCL of 0 held the whole bank)
            if f & pl.F_CHG_FET:
                n_chg += 1
                if f & pl.F_CHG_OK:
                    n_ccl += 1
                    v = u16le_at(raw, o + _OFF_LIMITS + 2)
                    if v < ccl_min:
                        ccl_min = v
                    i_chg += cur
                    if cur > big_c:
                        big_c = cur
                    if cur > 0:
                        if not chg_i or v * chg_i < chg_v * cur:
                            chg_v = v
                            chg_i = cur
            elif f & pl.F_CHG_OK:  # its FET open, asking for a charge: asleep after CUVP
                v = u16le_at(raw, o + _OFF_LIMITS + 2)
                if v < wake_ccl:
                    wake_ccl = v
                v = u16le_at(raw, o + _OFF_LIMITS)
                if v < wake_cvl:
                    wake_cvl = v
            if f & pl.F_DSG_FET:
                n_dsg += 1
                if f & pl.F_DSG_OK:
                    n_dcl += 1
                    v = u16le_at(raw, o + _OFF_LIMITS + 4)
                    if v < dcl_min:
                        dcl_min = v
                    i_dsg -= cur
                    if -cur > big_d:
                        big_d = -cur
                    if cur < 0:
                        if not dsg_i or v * dsg_i < dsg_v * -cur:
                            dsg_v = v
                            dsg_i = -cur
            force = force or f & pl.F_FORCE
            full = full or f & pl.F_FULL
            soh += raw[o + _OFF_LIMITS + 6]
            c = u16le_at(raw, o + _OFF_STATUS + 4)
            cap += c
            soc_w += c * u16le_at(raw, o + _OFF_CELLS + 6)
            v = u16le_at(raw, o + _OFF_STATUS + 6)
            if v > cycles:
                cycles = v
            names |= u32le_at(raw, o + _OFF_STATUS)
            v = u16le_at(raw, o + _OFF_CELLS)
            if v < lo:
                lo = v
                s.min_cell = raw[o + _OFF_CELLS + 4] - 1
                self.min_pack = a
            v = u16le_at(raw, o + _OFF_CELLS + 2)
            if v > hi:
                hi = v
                s.max_cell = raw[o + _OFF_CELLS + 5] - 1
                self.max_pack = a
            mv_sum += u16le_at(raw, o + _OFF_MEASURE)
            v = s16le(raw, o + _OFF_MEASURE + 4)
            w = s16le(raw, o + _OFF_MEASURE + 6)
            tlo = v if v < tlo else tlo
            thi = w if w > thi else thi
            t_mid += (v + w) // 2
        self.modules = n
        self.online = n - n_stale
        self.offline = n_stale + packs.lost
        lim = self.limits
        lim.dvl_mv = own.limits.dvl_mv
        if n == 0:  # nothing counted yet (not even our own frames): the pack alone
            lim.cvl_mv = own.limits.cvl_mv
            lim.ccl_ma = lim.dcl_ma = 0
            lim.charge_enable = lim.discharge_enable = False
            lim.force_charge = lim.full_request = False
            self.allow_chg = self.relay_dsg = 0
            return
        lim.cvl_mv = cvl if cvl < _BIG else cvl_open
        sp = self._spread
        sp[10] = big_c
        sp[11] = big_d
        lim.ccl_ma = self._shared(0, n_ccl, ccl_min, chg_v, chg_i, i_chg, now)
        if not n_chg and wake_ccl < _BIG:
            # no pack takes a charge, and some sleep after CUVP asking for one: one pack's
            # worth, so that the inverter raises its voltage, which wakes them (bms/core.py),
            # to their CVL (a pack that forbids a charge asks for its own voltage, which
            # would hold the inverter below theirs: its open charge FET keeps it out)
            lim.ccl_ma = wake_ccl * 100
            lim.cvl_mv = wake_cvl
        lim.dcl_ma = self._shared(1, n_dcl, dcl_min, dsg_v, dsg_i, i_dsg, now)
        lim.force_charge = bool(force)
        lim.full_request = bool(full)
        lim._hold(now)
        soc = self.soc
        soc.shown_cpct = soc_w // cap if cap else own.soc.shown_cpct
        soc.soh = soh // n
        soc.cycles = cycles
        soc._full_mah = cap * 100  # (cap in 0.1 Ah, soc_w in 0.1 Ah x 0.01 %)
        soc._q_mah = soc_w // 100
        self.engine.names = names | (_PACK_LOST_BIT if packs.lost else 0) | own.engine.names
        self.engine.locked = own.engine.locked
        self.cfg.capacity_mah = self.rated_mah * n
        s.min_mv = lo
        s.max_mv = hi
        s.stack_mv = mv_sum // n
        s.cell_tmin_dc = tlo
        s.cell_tmax_dc = thi
        s.cell_tavg_dc = t_mid // n
        own_s = own.sample
        s.cells_mv = own_s.cells_mv
        s.temps_dc = own_s.temps_dc
        s.valid = own_s.valid
        self.reported_ma = i_sum * 100
        self.chg = n_chg > 0
        self.dsg = n_dsg > 0
        # (counts, where the core has bools: Victron's 0x372 counts the packs blocking)
        self.allow_chg = n_chg
        self.relay_dsg = n_dsg
        self.mode = own.mode
        self.started = own.started

    def _shared(self, k, n, lo, v, i, m, now):
        """The system's CCL (k 0) or DCL (k 1), in mA, of n packs taking the current, the
        lowest limit of theirs lo (0.1 A): n times it where they share it alike, but
        packs never do (their voltages and their cables differ: 8 packs at 800 A carried
        133 A down to 76 A, and the first tripped DOCP, then the next, until four were
        out). So no more than the current at which the pack with the most current for
        its limit (v, at i, of the m the counted packs carry now, net, in 0.1 A) takes
        that limit, as last judged:
        - judged while the packs carry a tenth of the limit or more (at a few amps the
          cells' voltages decide the sharing, and packs charging each other say nothing
          of a load); a fall is taken at once, a rise of the sharing only _SETTLE_MS
          after the last judgment or change in the packs counted, when every pack's
          frames tell of it (frames from before a joiner took its current, mixed with
          those after, made the sharing alike and the limit 150 A, the joiner's all);
        - never judged (a fresh master): as alike;
        - packs that joined since the judgment carry nothing until judged: the limit
          stays where it stood (one pack's, safer for a charge, would black a house
          out on a discharge); packs that left leave the others as they shared, and
          those back share as they did (a pack dropping out every 2 s drove the limit
          down to one pack's); with none counted, the sharing judged is kept.
        And no more than what the others carry under the fast step of their
        over-current protection (the master's COCP 90 A for 1 s, DOCP 200 A for 0.5 s)
        with a tenth to spare, when one leaves (a trip, its power off, a cable) before
        the inverter follows, a second or two: the nearest, with s of the whole, then
        takes up to s / (1 - s) of it, if the one that left took as much (2 packs
        charging at 96 A: the one left carried 96 A for 1.06 s and tripped COCP).
        (Never less than one pack's limit: a pack's own stands under 90 % of that step.)
        s is the largest current's share, not the nearest pack's: one pack derated (cold,
        tapering) is the nearest with little current, and its share let 96 A through."""
        f = self._spread
        if not n:
            return 0
        if n != f[2 + k]:
            f[2 + k] = n
            f[4 + k] = now
        g = _held(f[k], n, f[6 + k])
        p = _held(f[8 + k], n, f[6 + k])  # (the largest current's share: the N - 1 cap)
        one = lo
        lo *= n  # (alike)
        a = lo * 1000 // g
        if i and m > 0 and m * 10 >= a:
            s = f[10 + k] * n * 1000 // m
            m = v * m // i  # (the current at which the nearest pack takes its limit)
            m = lo if m > lo else one if m < one else m
            if m < a or m > a and ticks.age(now, f[4 + k]) >= _SETTLE_MS:
                f[4 + k] = now
                f[6 + k] = n
                a = m
                f[k] = g = lo * 1000 // m
                f[8 + k] = p = _held(s, n, n)
        if n > 1:
            c = self.own.cfg
            m = (c.docp3_trip_ma if k else c.cocp2_trip_ma) // 100  # (0.1 A)
            m -= m // 10
            if p * 2 < n * 1000:  # ((n - s) / s more than one pack's)
                m = m * (n * 1000 - p) // p
            if m < a:
                a = m
        return a * 100


def _held(x, n, j):
    """A sharing judged of j packs, x as far from alike (per mille; 0: never judged, as
    alike), for the n counted now: those joined since carry nothing, and none takes
    more than all of it."""
    if not x:
        return 1000
    if n > j:
        x = x * n // j
    return x if x < n * 1000 else n * 1000


class PackView:
    """One pack's own values from its frames, shaped as the core (see the docstring)."""

    def __init__(self):
        self.sample = Sample()
        self.soc = _Soc()
        self.limits = _Limits(_NoLimits())
        self.engine = _Engine()
        self.cfg = None
        self.reported_ma = 0
        self.chg = self.dsg = self.pre = False
        self._uid = bytearray(8)
        self.uid = None

    def fill(self, packs, a, own):
        """Pack a's values (a counted pack); own: the master's core or its SystemView,
        for what every pack shares (the config: slaves keep the defaults)."""
        raw = packs.raw[a // _PIECE]
        o = a % _PIECE * _ROW
        self.cfg = own.cfg
        s = self.sample
        more = packs.more[a]
        s.valid = more & _ALL_MORE == _ALL_MORE
        # its serial number once its IDENT has come (else None: no reply to 0x93)
        if more & _IDENT_BIT:
            self.uid = self._uid
            for i in range(8):
                self._uid[i] = raw[o + _OFF_IDENT + i]
        else:
            self.uid = None
        cells = s.cells_mv
        for i in range(16):
            cells[i] = u16le_at(raw, o + _OFF_CELLS_1 + 2 * i)
        t = s.temps_dc
        for i in range(4):
            t[i] = s16le(raw, o + _OFF_TEMPS_1 + 2 * i)
        t[4] = s16le(raw, o + _OFF_TEMPS_2)
        t[5] = s16le(raw, o + _OFF_TEMPS_2 + 2)
        s.min_mv = u16le_at(raw, o + _OFF_CELLS)
        s.max_mv = u16le_at(raw, o + _OFF_CELLS + 2)
        s.min_cell = raw[o + _OFF_CELLS + 4] - 1
        s.max_cell = raw[o + _OFF_CELLS + 5] - 1
        s.stack_mv = u16le_at(raw, o + _OFF_MEASURE)
        s.cell_tmin_dc = s16le(raw, o + _OFF_MEASURE + 4)
        s.cell_tmax_dc = s16le(raw, o + _OFF_MEASURE + 6)
        self.reported_ma = s16le(raw, o + _OFF_MEASURE + 2) * 100
        f = raw[o + _OFF_LIMITS + 7]
        self.chg = f & pl.F_CHG_FET != 0
        self.dsg = f & (pl.F_DSG_FET | pl.F_PRE_FET) != 0
        self.pre = f & pl.F_PRE_FET != 0
        lim = self.limits
        lim.cvl_mv = u16le_at(raw, o + _OFF_LIMITS)
        lim.dvl_mv = own.limits.dvl_mv
        lim.ccl_ma = u16le_at(raw, o + _OFF_LIMITS + 2) * 100
        lim.dcl_ma = u16le_at(raw, o + _OFF_LIMITS + 4) * 100
        lim.charge_enable = f & pl.F_CHG_OK != 0
        lim.discharge_enable = f & pl.F_DSG_OK != 0
        lim.force_charge = f & pl.F_FORCE != 0
        lim.full_request = f & pl.F_FULL != 0
        soc = self.soc
        soc.shown_cpct = u16le_at(raw, o + _OFF_CELLS + 6)
        soc.soh = raw[o + _OFF_LIMITS + 6]
        soc.cycles = u16le_at(raw, o + _OFF_STATUS + 6)
        c = u16le_at(raw, o + _OFF_STATUS + 4)  # 0.1 Ah
        soc._full_mah = c * 100
        soc._q_mah = c * soc.shown_cpct // 100
        self.engine.names = u32le_at(raw, o + _OFF_STATUS)
