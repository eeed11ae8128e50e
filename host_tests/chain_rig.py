"""A parallel system for the tests: N packs on one CAN bus, their RS485 ports chained
Link OUT of pack k -> Link IN of pack k+1 (each link its own simulated wire), every pack
its own firmware instance, flash and board: the simulator's own parallel system
(support.make_sim with packs=n), with helpers to switch packs and read their roles.

Packs start switched off; power(k) switches pack k (1-based) on or off at the present
simulated time, run_to(ms) moves time on.
"""

from support import make_sim


class Chain:
    def __init__(self, n, inverter="none", start_ticks=0, **keys):
        self.sim = sim = make_sim(start_ticks=start_ticks, packs=n, inverter=inverter, **keys)
        self.packs = sim.packs
        for pack in self.packs:
            pack.power_off()

    @property
    def t_ms(self):
        return self.sim.t_ms

    def power(self, k, on=True):
        pack = self.packs[k - 1]
        if on and not pack.powered:
            pack.power_on()
        elif not on and pack.powered:
            pack.power_off()

    def run_to(self, t_ms):
        self.sim.run(t_ms)

    def run(self, ms):
        self.sim.run(self.sim.t_ms + ms)

    def app(self, k):
        return self.packs[k - 1].app

    def link(self, k):
        return self.packs[k - 1].app.packlink

    def addresses(self):
        """Each pack's (address, master), None for a pack switched off."""
        out = []
        for pack in self.packs:
            if pack.app is None:
                out.append(None)
            else:
                a = pack.app.packlink.addr
                out.append((a.address, a.master))
        return out

    def ms_leds(self):
        """The M/S LED's level on each pack (0 for one switched off)."""
        return [p.board.led_levels()[6] if p.app is not None else 0 for p in self.packs]

    def warnings(self, k):
        return self.packs[k - 1].app.bms.warning_names()
