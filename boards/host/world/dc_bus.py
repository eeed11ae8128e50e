"""The DC bus of packs in parallel: how the site's current splits between them.

Every pack is a source behind a resistance: its open-circuit voltage (the cells' OCV
plus their polarisation) behind its cells' resistance, its two FETs' and its cable's to
the inverter's busbar (`cable_ohm`; by default CABLE_HOP_OHM per pack along the chain, so
the pack at the end of a long chain has the longest path and takes the smallest share).
All packs see one bus voltage V, and the currents sum to what the inverter or the
charger drives (+ charging). A pack's FETs decide which way it conducts:

- both on: I = (V - E) / R, either way;
- charge FET on, discharge FET off: only charge, through the discharge FET's body diode,
  I = max(0, (V - E - DIODE_V) / R);
- discharge FET on, charge FET off: only discharge, I = min(0, (V - E + DIODE_V) / R);
- both off, an unpowered BMS, a short or reversed pack, or a pack whose current a
  scenario forces on its own: no share.

The sum of those is continuous, non-decreasing and piecewise linear in V, so V is found
exactly: the segment between two knees (the diode paths' thresholds) that holds the
total, then one division. When no pack can take the asked direction at all, nothing
flows (the inverter's bus voltage rises or falls away from the packs). An inverter that
would charge (`charger`) while nothing flows (no pack can take it, or those that can
are at its CVL) shows a charger's open voltage (pack_model.CHARGER_OPEN_V, not the bus
voltage) at every pack whose FETs keep the charge out, as a lone pack's model does.

The split is re-done when the total changes, when any pack's FETs change (a pack that
opens throws its share onto the others at that instant) and once a second as the packs'
OCVs move (the engine's control period). Between those the currents are held, which is
what keeps 32 packs cheap: a split costs 16 OCV look-ups per pack.
"""

from boards.host.world.pack_model import DIODE_V

BOTH = 0
CHARGE_ONLY = 1  # the discharge FET is off: charge passes its body diode
DISCHARGE_ONLY = 2
BLOCKED = 3
CABLE_HOP_OHM = 0.001  # the default cable per pack along the chain: pack k has k mOhm
CHARGER_WAIT_A = 1e-6  # the demand of a charger that a pack's open FETs keep out


def _current(v, e, r, path):
    if path == BOTH:
        return (v - e) / r
    if path == CHARGE_ONLY:
        knee = e + DIODE_V  # the same number share() bisects on: 0 exactly at the knee
        return (v - knee) / r if v > knee else 0.0
    if path == DISCHARGE_ONLY:
        knee = e - DIODE_V
        return (v - knee) / r if v < knee else 0.0
    return 0.0


def _sum(v, emf_v, r_ohm, paths):
    total = 0.0
    for i in range(len(paths)):
        total += _current(v, emf_v[i], r_ohm[i], paths[i])
    return total


def _slope(v, emf_v, r_ohm, paths, above):
    """dI/dV just above (or below) v: the conductances of the packs conducting there."""
    g = 0.0
    for i in range(len(paths)):
        path = paths[i]
        e = emf_v[i]
        if path == BOTH:
            g += 1.0 / r_ohm[i]
        elif path == CHARGE_ONLY:
            knee = e + DIODE_V
            if v > knee or (above and v == knee):
                g += 1.0 / r_ohm[i]
        elif path == DISCHARGE_ONLY:
            knee = e - DIODE_V
            if v < knee or (not above and v == knee):
                g += 1.0 / r_ohm[i]
    return g


def share(total_a, emf_v, r_ohm, paths):
    """The bus voltage and each pack's current (A, + charging) when total_a flows into
    packs with these open-circuit voltages (V), resistances (Ohm) and paths (BOTH...)."""
    knees = []
    for i in range(len(paths)):
        if paths[i] == CHARGE_ONLY:
            knees.append(emf_v[i] + DIODE_V)
        elif paths[i] == DISCHARGE_ONLY:
            knees.append(emf_v[i] - DIODE_V)
    knees.sort()
    if not knees:
        g = _slope(0.0, emf_v, r_ohm, paths, True)
        if g == 0.0:
            return None, [0.0] * len(paths)
        gv = 0.0
        for i in range(len(paths)):
            if paths[i] == BOTH:
                gv += emf_v[i] / r_ohm[i]
        v = (total_a + gv) / g
    else:
        # the last knee at or below the answer (bisection: the sum only rises with V)
        lo, hi = 0, len(knees)
        while lo < hi:
            mid = (lo + hi) // 2
            if _sum(knees[mid], emf_v, r_ohm, paths) <= total_a:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            anchor = knees[0]
            g = _slope(anchor, emf_v, r_ohm, paths, False)
        else:
            anchor = knees[lo - 1]
            g = _slope(anchor, emf_v, r_ohm, paths, True)
        v = anchor
        if g > 0.0:
            v = anchor + (total_a - _sum(anchor, emf_v, r_ohm, paths)) / g
    return v, [_current(v, emf_v[i], r_ohm[i], paths[i]) for i in range(len(paths))]


def path_of(model):
    """Which way a pack's FETs let current through now (an unpowered BMS holds both off)."""
    if model.short or model.reverse:
        return BLOCKED
    chg, dsg, _pre = model.fet_states()
    if chg and dsg:
        return BOTH
    if chg:
        return CHARGE_ONLY
    if dsg:
        return DISCHARGE_ONLY
    return BLOCKED


class DcBus:
    """The packs' models on one bus. The engine brings every model up to now before it
    calls split() (the currents change at that instant)."""

    def __init__(self, models, cable_ohm=None):
        self.models = models
        n = len(models)
        if cable_ohm is None:
            cable_ohm = [CABLE_HOP_OHM * (k + 1) for k in range(n)]
        self.cable_ohm = list(cable_ohm)
        self.forced = [False] * n  # a scenario event set this pack's own current
        self.total_a = 0.0
        self.v_bus = None
        self.dirty = False  # a pack's FETs changed since the last split
        self.charger = False  # the inverter would charge (its bus rises where none takes it)
        self.splits = 0
        for m in models:
            m.on_fets = self._changed

    def _changed(self):
        self.dirty = True

    def _inputs(self):
        emf_v = []
        r_ohm = []
        paths = []
        models = self.models
        for k in range(len(models)):
            m = models[k]
            path = BLOCKED if self.forced[k] else path_of(m)
            if path == BLOCKED:
                e, r = 0.0, 1.0  # not used: a blocked pack takes no share
            else:
                e, r = m.thevenin()
            emf_v.append(e)
            r_ohm.append(r + self.cable_ohm[k])
            paths.append(path)
        return emf_v, r_ohm, paths

    def current_at(self, v_bus):
        """The total current (A, + charging) the packs take with the busbar at v_bus: what a
        charger holding v_bus drives (the inverter's constant-voltage phase)."""
        emf_v, r_ohm, paths = self._inputs()
        return _sum(v_bus, emf_v, r_ohm, paths)

    def split(self, total_a):
        """Share total_a (A, + charging) between the packs now and set their currents."""
        self.total_a = total_a
        emf_v, r_ohm, paths = self._inputs()
        self.v_bus, amps = share(total_a, emf_v, r_ohm, paths)
        models = self.models
        waiting = self.charger and total_a <= 0.0  # nothing flows: the charger's voltage
        for k in range(len(models)):
            if not self.forced[k]:
                m = models[k]
                a = amps[k]
                if waiting and paths[k] != BOTH and paths[k] != CHARGE_ONLY:
                    a = CHARGER_WAIT_A  # (a charge its FETs block: the model shows the charger)
                if m.demand_a != a:
                    m.set_demand(a)
        self.dirty = False
        self.splits += 1
        return amps
