"""A physical model of one 16S LiFePO4 pack, its FETs and what is connected to it.

What it models, per pack:
- 16 cells, each with its own capacity (seeded spread around the rating), charge,
  series resistance, polarisation (one RC branch, 60 s) and self-discharge leak;
  terminal voltage = OCV(SOC) + I*R0(T) + polarisation, with a LiFePO4 OCV curve that
  is flat in the middle and steep at both knees, extended past 0 % and 100 % so that
  over-charge and over-discharge show up as they do on real cells;
- heat: the cells as one thermal mass heated by I^2*R and cooled toward the ambient,
  four zone sensors on it; the MOSFET heatsink heated by I^2*Rds(on), or by the body
  diode's drop when current flows through a FET that is off;
- charge and discharge FETs in series with body diodes: with the charge FET off no
  charge current flows but discharge still does (through its diode), and the reverse;
  a pre-charge FET with a resistor into the inverter's input capacitance;
- the outside: a current demanded by the site (+ charges the pack), which flows only
  when the FETs allow it, a charger's open-circuit voltage seen at the terminals while
  the FETs block it, and faults (short circuit, a pre-charge that cannot finish).

Floats are fine here: this is the host's model, not firmware. advance() integrates up
to a time with everything held constant since the last call, so the engine calls it
before changing anything (FETs, demand, faults).
"""

import math

import micropython

N_CELLS = 16

# LiFePO4 open-circuit voltage (mV) at 25 C by SOC (%), mid-hysteresis. 100 % is the
# state reached by a 3.50 V/cell (56.0 V) absorption; beyond it the cell is over-charged.
OCV_POINTS = (
    (-6.0, 1800),
    (-3.0, 2200),
    (0.0, 2500),
    (1.0, 2700),
    (2.0, 2850),
    (3.0, 2950),
    (5.0, 3050),
    (7.0, 3120),
    (10.0, 3180),
    (15.0, 3215),
    (20.0, 3245),
    (25.0, 3260),
    (30.0, 3275),
    (40.0, 3290),
    (50.0, 3298),
    (60.0, 3305),
    (65.0, 3311),
    (70.0, 3320),
    (75.0, 3327),
    (80.0, 3330),
    (85.0, 3333),
    (90.0, 3338),
    (95.0, 3350),
    (97.0, 3368),
    (98.0, 3395),
    (99.0, 3440),
    (100.0, 3500),
    (101.0, 3620),
    (102.0, 3800),
    (103.0, 4000),
    (106.0, 4500),
)
_LUT_STEP = 0.25  # % per table entry
_LUT_LO = OCV_POINTS[0][0]
_LUT_HI = OCV_POINTS[-1][0]


def _build_lut():
    lut = []
    n = int((_LUT_HI - _LUT_LO) / _LUT_STEP) + 1
    j = 0
    for k in range(n):
        soc = _LUT_LO + k * _LUT_STEP
        while j < len(OCV_POINTS) - 2 and soc > OCV_POINTS[j + 1][0]:
            j += 1
        (s0, v0), (s1, v1) = OCV_POINTS[j], OCV_POINTS[j + 1]
        lut.append(v0 + (v1 - v0) * (soc - s0) / (s1 - s0))
    return lut


_LUT = _build_lut()


def ocv_mv(soc_pct):
    """Open-circuit voltage of a cell at this SOC (%), linear between table points."""
    x = (soc_pct - _LUT_LO) / _LUT_STEP
    if x <= 0:
        return _LUT[0]
    k = int(x)
    if k >= len(_LUT) - 1:
        return _LUT[-1]
    v0 = _LUT[k]
    return v0 + (_LUT[k + 1] - v0) * (x - k)


def soc_at_ocv(mv):
    """Inverse of ocv_mv (the OCV curve rises strictly), by bisection."""
    lo, hi = _LUT_LO, _LUT_HI
    for _ in range(40):
        mid = (lo + hi) / 2
        if ocv_mv(mid) < mv:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class Rng:
    """xorshift32: the same sequence on CPython and MicroPython for the same seed."""

    def __init__(self, seed):
        self.state = ((seed * 2654435761) ^ 0x5DEECE66) & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def uniform(self, lo, hi):
        return lo + (hi - lo) * (self.next() / 4294967296.0)


# electrical and thermal constants of the model (per pack)
R0_CELL_OHM = 0.00045  # cell + its share of busbars
R1_CELL_OHM = 0.00035  # polarisation resistance
TAU_RC_S = 60.0
RDS_ON_OHM = 0.0005  # each FET bank
DIODE_V = 0.7
R_PRECHARGE_OHM = 50.0
C_LINK_F = 0.005  # the inverter's input capacitance
R_LINK_BLEED_OHM = 10000.0  # its discharge resistor
R_PRECHARGE_FAULT_OHM = 20.0  # a DC link that pre-charge cannot lift (fault)
CHARGER_OPEN_V = 58.0  # a charger's terminal voltage while the pack blocks it
C_CELLS_J_K = 40000.0
G_CELLS_W_K = 8.0
C_MOS_J_K = 300.0
G_MOS_W_K = 1.0
SHORT_CIRCUIT_A = 2000.0

# what the inverter side of the FETs is doing
LINK_CONNECTED = 0  # joined to the stack through the FETs
LINK_CHARGER = 1  # a charger waits behind an open FET and shows its voltage
LINK_FLOATING = 2  # the inverter's input capacitor, alone or being pre-charged
LINK_SHORT = 3
LINK_REVERSED = 4


class PackModel:
    def __init__(self, seed=1, soc_pct=50.0, temp_c=25.0, cell_spread_mv=0, capacity_ah=100.0):
        rng = Rng(seed)
        self.rng = rng
        self.t_ms = 0
        self.cap_as = []
        self.q_as = []
        self.r0 = []
        self.r1 = []
        self.leak_a = []
        self.bleed_a = [0.0] * N_CELLS  # balancing bleed current per cell, set by the AFE
        self.balancing = False
        order = list(range(N_CELLS))
        for i in range(N_CELLS - 1, 0, -1):  # seeded shuffle: which cell is high or low
            j = rng.next() % (i + 1)
            order[i], order[j] = order[j], order[i]
        base_mv = ocv_mv(soc_pct)
        for i in range(N_CELLS):
            cap = capacity_ah * 3600.0 * rng.uniform(0.985, 1.015)
            self.cap_as.append(cap)
            if cell_spread_mv and N_CELLS > 1:
                offset = cell_spread_mv * (order[i] / (N_CELLS - 1) - 0.5)
                soc = soc_at_ocv(base_mv + offset)
            else:
                soc = soc_pct
            self.q_as.append(cap * soc / 100.0)
            self.r0.append(R0_CELL_OHM * rng.uniform(0.95, 1.05))
            self.r1.append(R1_CELL_OHM * rng.uniform(0.95, 1.05))
            self.leak_a.append(rng.uniform(0.0023, 0.0033))  # 2-3 % a month of 100 Ah
        self.zone_offset_c = [rng.uniform(-0.3, 0.3) for _ in range(4)]
        self.zone_gain = (0.9, 1.1, 1.1, 0.9)  # middle of the pack runs warmer
        self.ambient_c = float(temp_c)
        self.t_cells_c = float(temp_c)
        self.t_mos_c = float(temp_c)
        self.polar_a = 0.0  # current through the polarisation branch (shared)
        self.current_a = 0.0  # into the pack, + charging
        self.link = LINK_FLOATING
        self.v_link = 0.0  # the inverter's input capacitor while floating
        self.leak_s = 0.0  # self-discharge time not yet applied
        self.chg_on = False
        self.dsg_on = False
        self.pre_on = False
        self.demand_a = 0.0
        self.charger_v = CHARGER_OPEN_V
        self.short = False
        self.reverse = False
        self.precharge_fault = False
        self.stuck_chg = False
        self.stuck_dsg = False
        self.dirty = True  # cell voltages need recomputing
        self._cells_mv = [0.0] * N_CELLS
        self.sum_mv = 0.0  # their sum, as cells_mv() last computed them
        # what repeats at rest, kept rather than computed again (the same numbers)
        self._rf_t = None  # _r_factor() at this cell temperature
        self._rf = 1.0
        self._zt_cells_c = self._zt_ambient_c = None  # zone_temps_c() at these
        self._zones = None
        self._rest_dt = None  # a step of _heat() without current that changed nothing
        self._rest_cells_c = self._rest_ambient_c = self._rest_mos_c = None
        self.cells_version = 0  # counts the times cells_mv() computed them

    # -- conditions (call advance() first) -------------------------------------------
    on_fets = None  # called after the FETs change (the DC bus of parallel packs re-splits)

    @micropython.native
    def set_fets(self, chg, dsg, pre):
        self.chg_on = chg
        self.dsg_on = dsg
        self.pre_on = pre
        self.settle()
        if self.on_fets is not None:
            self.on_fets()

    @micropython.native
    def fet_states(self):
        """What the FETs really do, stuck ones included."""
        return self.chg_on or self.stuck_chg, self.dsg_on or self.stuck_dsg, self.pre_on

    def set_bleed(self, mask, amps):
        """Balancing: bleed `amps` from every cell whose bit is set in mask."""
        for i in range(N_CELLS):
            self.bleed_a[i] = amps if mask & (1 << i) else 0.0
        self.balancing = bool(mask)

    # -- physics ---------------------------------------------------------------------
    def stack_v(self):
        self.cells_mv()
        return self.sum_mv / 1000.0

    def link_v(self):
        """Voltage on the inverter side of the FETs (what the PACK and LD pins see)."""
        link = self.link
        if link == LINK_CONNECTED:
            return self.stack_v() + self.current_a * 2 * RDS_ON_OHM  # + charging
        if link == LINK_CHARGER:
            return self.charger_v
        if link == LINK_FLOATING:
            return self.v_link
        if link == LINK_REVERSED:
            return -self.charger_v
        return 0.0

    @micropython.native
    def settle(self):
        """Recompute what flows now from the present conditions (FETs, demand, faults);
        runs after every change of them and at the end of every advance()."""
        # fet_states(), inlined: under MicroPython its tuple is a heap allocation, and the
        # method lookup first misses in this instance's nearly full attribute table
        chg = self.chg_on or self.stuck_chg
        dsg = self.dsg_on or self.stuck_dsg
        pre = self.pre_on
        current = 0.0
        link = LINK_FLOATING
        demand = self.demand_a
        if self.reverse:
            link = LINK_REVERSED
        elif self.short:
            link = LINK_SHORT
            if dsg:
                current = -SHORT_CIRCUIT_A
        elif demand > 0:
            if chg:  # through the discharge FET's body diode if that one is off
                current = demand
                link = LINK_CONNECTED
            else:
                link = LINK_CHARGER
        elif dsg:  # discharging, or idle and holding the inverter's input up
            current = demand
            link = LINK_CONNECTED
        if link == LINK_FLOATING:
            if self.link == LINK_CONNECTED:
                self.v_link = self.stack_v()  # the capacitor starts where the pack left it
            if pre:
                current = -(self.stack_v() - self.v_link) / R_PRECHARGE_OHM
        self.link = link
        if current != self.current_a:
            self.dirty = True
        self.current_a = current

    # (a method, not a property setter: under MicroPython one property on a class makes
    # every attribute store on its instances look the class up first, 3x slower)
    def set_demand(self, amps):
        """What the site asks: + charge, - discharge (A); demand_a holds it."""
        self.demand_a = amps
        self.settle()

    @micropython.native
    def advance(self, t_ms):
        """Integrate up to t_ms with the flow settled at the last change, then settle."""
        dt_ms = t_ms - self.t_ms
        if dt_ms > 0:
            self.t_ms = t_ms
            self._integrate(dt_ms / 1000.0)
        self.settle()

    @micropython.native
    def _integrate(self, dt):
        chg = self.chg_on or self.stuck_chg  # fet_states(), inlined (see settle())
        dsg = self.dsg_on or self.stuck_dsg
        pre = self.pre_on
        current = self.current_a
        if self.link == LINK_FLOATING:
            current = self._link_step(dt, pre)
        if current or self.polar_a:
            k = math.exp(-dt / TAU_RC_S)
            self.polar_a = current + (self.polar_a - current) * k
            if not current and abs(self.polar_a) < 1e-4:
                self.polar_a = 0.0
            self.dirty = True
        q = self.q_as
        if self.balancing:
            bleed = self.bleed_a
            for i in range(N_CELLS):
                q[i] += (current - bleed[i]) * dt
        elif current:
            # (current - 0.0) * dt, the same number for every cell
            dq = current * dt
            for i in range(N_CELLS):
                q[i] += dq
        self.leak_s += dt
        if self.leak_s >= 60.0:  # self-discharge in one-minute batches: it is slow
            for i in range(N_CELLS):
                q[i] -= self.leak_a[i] * self.leak_s
            self.leak_s = 0.0
            self.dirty = True
        if current or self.balancing:
            self.dirty = True
        self._heat(dt, current, chg, dsg)

    @micropython.native
    def _link_step(self, dt, pre):
        """The inverter's input capacitor while the discharge FET is open; returns the
        pre-charge current it draws from the pack (A, negative)."""
        r_load = R_PRECHARGE_FAULT_OHM if self.precharge_fault else R_LINK_BLEED_OHM
        v0 = self.v_link
        if pre:
            stack = self.stack_v()
            v_end = stack * r_load / (r_load + R_PRECHARGE_OHM)
            tau = C_LINK_F * R_PRECHARGE_OHM * r_load / (R_PRECHARGE_OHM + r_load)
        else:
            stack = v_end = 0.0
            tau = C_LINK_F * r_load
        v1 = v_end + (v0 - v_end) * math.exp(-dt / tau)
        self.v_link = v1
        if not pre:
            return 0.0
        return -(stack - (v0 + v1) / 2) / R_PRECHARGE_OHM

    @micropython.native
    def _heat(self, dt, current, chg, dsg):
        if (
            not current
            and dt == self._rest_dt
            and self.t_cells_c == self._rest_cells_c
            and self.ambient_c == self._rest_ambient_c
            and self.t_mos_c == self._rest_mos_c
        ):
            return  # at rest, and this same step changed nothing last time
        if current:
            f = self._r_factor()
            p_cells = current * current * N_CELLS * R0_CELL_OHM * f
        else:
            p_cells = 0.0  # what the product above is without current
        t_cells0 = self.t_cells_c
        t_mos0 = self.t_mos_c
        self.t_cells_c += (
            dt * (p_cells - G_CELLS_W_K * (self.t_cells_c - self.ambient_c)) / C_CELLS_J_K
        )
        p_mos = current * current * 2 * RDS_ON_OHM
        # current against an open FET goes through its body diode
        if (current > 0 and not dsg) or (current < 0 and not chg):
            p_mos += abs(current) * DIODE_V
        self.t_mos_c += dt * (p_mos - G_MOS_W_K * (self.t_mos_c - self.t_cells_c)) / C_MOS_J_K
        if not current and self.t_cells_c == t_cells0 and self.t_mos_c == t_mos0:
            # settled to the last bit: the same step will change nothing again
            self._rest_dt = dt
            self._rest_cells_c = t_cells0
            self._rest_ambient_c = self.ambient_c
            self._rest_mos_c = t_mos0

    def current_at(self, v_link):
        """The current (A, + charging) that puts the pack's terminals at v_link now: what a
        charger in constant voltage at v_link drives into it (through both FETs)."""
        emf, r = self.thevenin()
        return (v_link - emf) / r

    def thevenin(self):
        """The pack seen from its terminals through both FETs, now: (its open-circuit
        voltage with the polarisation, V; its series resistance, Ohm)."""
        f = self._r_factor()
        emf = 0.0
        r = 2 * RDS_ON_OHM
        for i in range(N_CELLS):
            emf += ocv_mv(100.0 * self.q_as[i] / self.cap_as[i]) / 1000.0
            emf += self.polar_a * self.r1[i]
            r += self.r0[i] * f
        return emf, r

    @micropython.native
    def _r_factor(self):
        """Cell resistance rises in the cold: about x2 at 0 C, x3 at -10 C."""
        t = self.t_cells_c
        if t != self._rf_t:
            self._rf_t = t
            self._rf = math.exp(0.03 * (25.0 - t))
        return self._rf

    # -- what the sensors see -----------------------------------------------------------
    def cell_soc(self, i):
        return 100.0 * self.q_as[i] / self.cap_as[i]

    def true_soc_pct(self):
        """The string's usable SOC: what can still be discharged before the first cell is
        empty, over that plus what can still be charged before the first cell is full (0 %
        and 100 % of each cell's own curve). Equal to the cells' mean when they are
        balanced; the right yardstick for a BMS, whose full and empty are those of the
        string."""
        out_as = in_as = 1e30
        for i in range(N_CELLS):
            q = self.q_as[i]
            if q < out_as:
                out_as = q
            room = self.cap_as[i] - q
            if room < in_as:
                in_as = room
        if out_as <= 0:
            return 0.0
        if in_as <= 0:
            return 100.0
        return 100.0 * out_as / (out_as + in_as)

    @micropython.native
    def cells_mv(self):
        """Terminal voltage of each cell (mV, floats), recomputed only when something moved."""
        if self.dirty:
            f = self._r_factor()
            i_now = self.current_a * f * 1000.0
            polar = self.polar_a * 1000.0
            out = self._cells_mv
            q = self.q_as
            cap = self.cap_as
            r0 = self.r0
            r1 = self.r1
            lut = _LUT
            top = len(_LUT) - 1
            for i in range(N_CELLS):
                # ocv_mv(), inlined: this runs for every cell at every reading
                x = (100.0 * q[i] / cap[i] - _LUT_LO) / _LUT_STEP
                if x <= 0:
                    v = lut[0]
                else:
                    k = int(x)
                    if k >= top:
                        v = lut[top]
                    else:
                        v = lut[k] + (lut[k + 1] - lut[k]) * (x - k)
                out[i] = v + i_now * r0[i] + polar * r1[i]
            self.dirty = False
            self.sum_mv = sum(out)
            self.cells_version += 1
        return self._cells_mv

    @micropython.native
    def zone_temps_c(self):
        """The four zone sensors' true temperatures (C): one list, kept while the cells' and
        the ambient temperature stay where they are (read it, do not change it)."""
        if self.t_cells_c != self._zt_cells_c or self.ambient_c != self._zt_ambient_c:
            self._zt_cells_c = self.t_cells_c
            self._zt_ambient_c = self.ambient_c
            rise = self.t_cells_c - self.ambient_c
            self._zones = [
                self.ambient_c + rise * self.zone_gain[z] + self.zone_offset_c[z] for z in range(4)
            ]
        return self._zones
