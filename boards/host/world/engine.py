"""The world's engine (the simulator): packs (model + simulated chips + host board + the
real firmware), the buses between them, the inverter, the site's current, scenario events,
and the trace.

It owns time: one SimClock (boards/host/clock.py) that only this engine advances. Time is
discrete-event: each step jumps to the earliest of the firmware's next deadline,
the next scenario event and the next trace line; the pack models integrate across the
jump. Everything here runs under CPython and MicroPython (benchmarks run firmware and
model in one MicroPython process); tools/sim.py is the front end for people.
"""

import micropython
from micropython import const
from service import image

from app import STAGE_STORE, App
from bms import core_status
from bms import events as ev
from bms import protections as pt
from boards.host import machine
from boards.host.board import CAN_OSC_HZ, HostBoard
from boards.host.clock import PackClock, SimClock
from boards.host.flash import MemFS
from boards.host.world.bus import uart as _uart
from boards.host.world.bus.canbus import CanBus, CandumpLog
from boards.host.world.bus.uart import Rs485Wire
from boards.host.world.chips.bq76952 import BQ76952Sim
from boards.host.world.chips.mcp2515 import REFUSED_MAX, REFUSED_PER_PACK, MCP2515Sim
from boards.host.world.dc_bus import DcBus
from boards.host.world.inverters import CONTROL_US, CanInverter, Rs485Inverter
from boards.host.world.pack_model import PackModel, Rng
from boards.host.world.scenario import parse_fault

MODES = ("off", "standby", "charge", "discharge", "fault", "sleep")
TEMP_SLOTS = {"cell1": 0, "cell2": 1, "cell3": 2, "cell4": 3, "ambient": 4, "mos": 5}
NTC_OPEN_DC = const(-500)  # what an open thermistor reads as (below the chip's range)
NTC_SHORT_DC = const(1500)
_FOREVER = const(1 << 60)

# a pack whose BMS is not powered: nothing measured, everything dark and open
OFF_STATE = {
    "cells_mv": None,
    "pack_mv": None,
    "current_ma": None,
    "current_raw_ma": None,
    "valid": False,
    "temps_dc": None,
    "soc_pct": None,
    "soh_pct": None,
    "mode": "off",
    "relays": {"charge": False, "discharge": False},
    "leds": {"run": 0, "alm": 0, "soc": [0, 0, 0, 0], "ms": 0},
    "protections": [],
    "warnings": [],
    "balancing": [],
    "limits": None,
    "inputs": None,
}


def dip_bits(text):
    """'0000010' (position 1 first) -> bit mask with bit 0 = position 1."""
    bits = 0
    for i in range(len(text)):
        if text[i] == "1":
            bits |= 1 << i
    return bits


class SimPack:
    """One pack: the physical model, its simulated chips and board, and the firmware."""

    def __init__(
        self,
        index,
        clock,
        seed,
        initial,
        dip,
        config,
        bus=None,
        link_port=None,
        link_out_port=None,
        ticks=None,
    ):
        """bus: the CAN bus its controller sits on; link_port, link_out_port: the ends of
        the RS485 wires on its port 1 (Link IN) and port 2 (Link OUT), or None; ticks: the
        board's own clock (a PackClock on the engine's), default the engine's clock."""
        self.index = index
        self.clock = clock
        self.ticks = clock if ticks is None else ticks
        self.config = config
        self.dip = dip
        self.can_chip = None
        if bus is not None:
            self.can_chip = bus.attach(MCP2515Sim(osc_hz=CAN_OSC_HZ))
        self.link_port = link_port
        self.link_out_port = link_out_port
        self.ports = tuple(p for p in (link_port, link_out_port) if p is not None)
        self.wake = False  # the firmware has something to handle now (CAN INT)
        self.next_us = 0  # when the firmware is next due by its own schedule
        # the engine's copy of next_wake_us() (-1: to be asked again) and whether a
        # transmission of ours has ended with DE still high (due at every step)
        self.wake_next = -1
        self.stuck = False
        self.model = PackModel(
            seed=seed * 100 + index,
            soc_pct=initial["soc_pct"],
            temp_c=initial["temp_c"],
            cell_spread_mv=initial["cell_spread_mv"],
        )
        self.chip = BQ76952Sim(self.model, Rng(seed * 100 + index + 50))
        self.flash = MemFS()
        self.board = None
        self.app = None
        self.powered = False
        self.events_seen = None  # the next record the trace shows (None: never booted)
        self.reboots = 0

    def power_on(self, cause=machine.PWRON_RESET):
        self.wake_next = -1  # (the engine asks its next wake again)
        if cause == machine.PWRON_RESET:
            self.chip.power_on_reset()
            if self.can_chip is not None:
                self.can_chip.reset()
        self.board = HostBoard(
            self.ticks,
            self.chip,
            self.model,
            self.flash,
            self.dip,
            cause,
            can_chip=self.can_chip,
            link_port=self.link_port,
            link_out_port=self.link_out_port,
            unique_id=b"\xe6\x61\x41\x04\x03\x2b\x1a" + bytes((self.index,)),
        )
        if self.can_chip is not None:
            self.board.can_int.sim_watch(self._can_int)
        self._apply_inputs()
        # what boards/main.py does first: the image to run (the host runs its sources
        # whatever the pointer says; the pointer's trial and rollback are the same)
        self.image = self.board.image = image.choose(self.flash)[0]
        self.app = App(self.board, self.config)
        self.powered = True
        self.app.start(self.ticks.ticks_ms())
        # the trace shows the records it has not shown: what this boot logs, and what the
        # last one logged after the last trace line and wrote before its restart (a RESET
        # restart's record), not the records loaded from flash again
        if self.events_seen is None:
            self.events_seen = self.app.store.flushed_seq
        self.next_us = self.clock.t_us

    def power_off(self):
        self.wake_next = -1
        self.powered = False
        self.app = None
        self.board = None
        self.model.set_fets(False, False, False)
        if self.can_chip is not None:
            self.can_chip.reset()  # unpowered: it neither sends nor acknowledges
        for port in self.ports:
            port.attach_de(None)
            port.clear()

    def _can_int(self, pin, level):
        if not level:
            self.wake = True
            self.bus_stop()

    bus_stop = None  # set by the simulator: make the bus return at this frame

    @micropython.native
    def next_wake_us(self, t_us):
        """When this pack's firmware must run next: its own schedule, a burst that ends
        on its RS485 port, or the end of its own reply (to release the bus)."""
        if self.app is None:
            return _FOREVER
        t = self.next_us
        for port in self.ports:
            w = port.wake_us
            if w is not None and w < t:
                t = w
            if port.de_high and t_us < port.tx_end_us < t:
                t = port.tx_end_us
        return t

    @micropython.native
    def due(self, t_us):
        woke = self.wake or t_us >= self.next_us
        for port in self.ports:
            if port.wake_us is not None and port.take_wake(t_us):
                woke = True
            elif port.de_high and port.tx_end_us <= t_us:
                woke = True
        return woke

    # inputs are physical: they survive a reboot of the firmware
    inputs = None

    def set_input(self, name, asserted):
        if self.inputs is None:
            self.inputs = {}
        self.inputs[name] = asserted
        self._apply_inputs()

    def _apply_inputs(self):
        if self.board is None:
            return
        pins = self.board.pins
        for name, pin_name in (("passive", "IN_PASSIVE"), ("rsd", "IN_RSD")):
            asserted = (self.inputs or {}).get(name, False)
            pins[pin_name].sim_drive(0 if asserted else None)
        pins["IN_REVERSE"].sim_drive(0 if self.model.reverse else None)

    def set_dip(self, bits):
        """Flip the DIP switch (the firmware reads it at boot; a change waits for one)."""
        self.dip = bits
        if self.board is not None:
            self.board.set_dip(bits)

    def press_button(self, pressed):
        if self.board is not None:
            self.board.pins["BTN_RESET"].sim_drive(0 if pressed else None)

    def apply_fault(self, fault):
        name, arg = parse_fault("fault", fault)
        m = self.model
        chip = self.chip
        if name == "clear":
            m.short = m.reverse = m.precharge_fault = m.stuck_chg = m.stuck_dsg = False
            chip.lost = False
            chip.open_cells = 0
            chip.current_offset_ma = 0
            chip.current_gain_permille = 0
            chip.ntc_fault = [None] * 6
            chip.crc_corrupt = False
        elif name == "short_circuit":
            m.short = True
        elif name == "reverse_polarity":
            m.reverse = True
        elif name == "afe_lost":
            chip.lost = True
        elif name == "afe_crc":
            chip.crc_corrupt = True
        elif name == "afe_reset":
            chip.power_on_reset()
        elif name == "precharge_fail":
            m.precharge_fault = True
        elif name == "fet_stuck":
            if arg == "charge":
                m.stuck_chg = True
            else:
                m.stuck_dsg = True
        elif name == "current_offset":
            chip.current_offset_ma = arg
        elif name == "current_gain":
            chip.current_gain_permille = arg
        elif name == "cell_open":
            chip.open_cells |= 1 << (arg - 1)
        elif name in ("ntc_open", "ntc_short"):
            chip.ntc_fault[arg - 1] = NTC_OPEN_DC if name == "ntc_open" else NTC_SHORT_DC
        chip.sync_faults()
        self._apply_inputs()
        m.dirty = True

    def set_temp_override(self, sensor, value_c):
        dc = None if value_c is None else int(round(value_c * 10))
        slots = range(4) if sensor == "cells" else (TEMP_SLOTS[sensor],)
        for slot in slots:
            self.chip.temp_override[slot] = dc

    @micropython.native
    def step_to(self, t_ms):
        self.model.advance(t_ms)

    @micropython.native
    def poll(self, t_ms, now_ticks):
        self.wake = False
        app = self.app
        if app is None:
            self.model.advance(t_ms)
            return _FOREVER
        if app.works_at(now_ticks):
            # the firmware will read the chip or may change the FETs: bring the pack up
            # to now first (a wake for the LEDs alone leaves the model where it is)
            self.model.advance(t_ms)
            if app.tick_due(now_ticks):
                self.chip.refresh()
        wait = app.poll(now_ticks)
        cause = 0
        if self.board.wdt.sim_expired():
            cause = machine.WDT_RESET
        elif self.board.restart_requested:
            cause = machine.SOFT_RESET
        if cause:
            self.reboot(cause, t_ms)
            return 0
        return wait

    def reboot(self, cause, t_ms):
        """The firmware starts again at t_ms (the watchdog, a restart): the pack's
        physics carry on up to then."""
        self.wake_next = -1
        self.reboots += 1
        self.model.advance(t_ms)
        self.power_on(cause)


class Simulator:
    def __init__(
        self, scenario, seed=None, start_ticks=0, can_log=None, rs485_port=None, epoch_s=0
    ):
        """scenario: a validated scenario dict (boards.host.world.scenario); can_log: a file to
        write every CAN frame to (candump -L); rs485_port: a port object to use as the
        master's RS485 port 1 instead of the simulated wire (tools/sim.py --rs485-pty);
        epoch_s: the wall-clock second the log's time 0 stands for."""
        self.scenario = scenario
        self.seed = seed if seed is not None else scenario.get("seed", 1)
        self.clock = SimClock(start_ticks)
        self.demand_a = 0.0
        dip = dip_bits(scenario["dip"])
        self.bus = CanBus()
        self.can_log = None
        if can_log is not None:
            self.can_log = self.bus.attach(CandumpLog(can_log, epoch_s))
        self.wire = Rs485Wire(self.clock)  # the master's Link IN
        if rs485_port is not None:
            rs485_port.clock = self.clock
            master_port = rs485_port
        else:
            master_port = self.wire.port()
        n = scenario["packs"]
        # the daisy chain: pack k's Link OUT and pack k+1's Link IN share chain[k - 1]; the
        # last pack's Link OUT is a wire with nothing at its other end
        self.chain = [Rs485Wire(self.clock) for _ in range(n)]
        jitter = Rng(self.seed * 7919 + 12345)
        self.packs = []
        for i in range(n):
            # the protocol DIP positions are set on the master only; slaves keep default
            bits = dip if i == 0 else dip & 0x01
            ticks = None
            if n > 1:  # each board its own crystal: +-50 ppm from the engine's time
                ppm = int(jitter.next() % 101) - 50
                ticks = PackClock(self.clock, start_ticks, ppm)
            pack = SimPack(
                i + 1,
                self.clock,
                self.seed,
                scenario["initial"],
                bits,
                scenario["config"],
                bus=self.bus,
                link_port=master_port if i == 0 else self.chain[i - 1].port(),
                link_out_port=self.chain[i].port(),
                ticks=ticks,
            )
            pack.bus_stop = self._bus_stop
            if n > 1:  # each controller remembers every id a pack of them refuses
                pack.can_chip.refused_max = REFUSED_MAX + REFUSED_PER_PACK * n
            self.packs.append(pack)
        # packs in parallel share the DC bus (world/dc_bus.py); one pack takes it all
        self.dc = None
        if n > 1:
            self.dc = DcBus([pack.model for pack in self.packs])
        kind = scenario.get("inverter", "can")
        self.inverter = None
        if kind == "rs485" and rs485_port is None:
            self.inverter = Rs485Inverter(self.clock, self.wire.port(), address=2)
            self.inverter.port.set_format(115200 if dip & 0x01 else 9600)
        elif kind in ("can", "growatt", "sma"):
            pid = (dip >> 5) & 0x03
            variant = kind if kind != "can" else ("schneider" if pid == 2 else "pylon")
            self.inverter = self.bus.attach(CanInverter(self.clock, variant))
        self._inv_port = getattr(self.inverter, "port", None)
        # False: wake the firmware for its LED beat only where a trace line samples the
        # LEDs (their state then is exactly what every beat would have left); a run
        # nobody watches between trace lines goes faster (tools/sim.py --fast)
        self.every_led_beat = True
        self._next_control_us = 0
        self._events = scenario["events"]
        self._next_event = 0
        self._button_releases = []  # (t_ms, pack)
        off = self._off_at_start()
        for pack in self.packs:
            if pack.index not in off:
                pack.power_on()

    def _off_at_start(self):
        """The packs a `power: off` event at 0 s names: they start unpowered (a power-up
        order begins with them off) rather than booting for an instant."""
        off = set()
        for e in self._events:
            if e["at_s"] > 0:
                break
            if "power" in e:
                for pack in self._targets(e):
                    if e["power"] == "off":
                        off.add(pack.index)
                    else:
                        off.discard(pack.index)
        return off

    def _bus_stop(self):
        self.bus.stop = True

    @property
    def t_ms(self):
        return self.clock.t_ms

    # -- scenario events ----------------------------------------------------------------
    def _targets(self, e):
        if "pack" in e:
            return [self.packs[e["pack"] - 1]]
        return self.packs

    def apply(self, e):
        """Apply one scenario event now."""
        t = self.clock.t_ms
        for pack in self.packs:
            pack.step_to(t)  # conditions change now: integrate up to here first
        targets = self._targets(e)
        if "current_a" in e:
            if self.dc is not None and "pack" in e:
                # one pack's own supply, off the DC bus (the bus keeps the site's current)
                self.dc.forced[e["pack"] - 1] = True
                targets[0].model.set_demand(float(e["current_a"]))
            elif self.inverter is not None:
                self.demand_a = float(e["current_a"])
                self._control(self.clock.t_us)
            elif self.dc is not None:
                self.demand_a = float(e["current_a"])
                self.dc.split(self.demand_a)
            else:
                self.demand_a = float(e["current_a"])
                share = self.demand_a / len(targets)
                for pack in targets:
                    pack.model.set_demand(share)
        if "cable_mohm" in e and self.dc is not None:  # one pack: in series, no effect
            for pack in targets:
                self.dc.cable_ohm[pack.index - 1] = e["cable_mohm"] / 1000.0
            self.dc.dirty = True
        if "inverter" in e and self.inverter is not None:
            what = e["inverter"]
            if what in ("no_source", "source"):
                self.inverter.source = what == "source"
            else:
                self.inverter.set_silent(what == "silent", self.clock.t_us)
        if "ambient_c" in e:
            for pack in targets:
                pack.model.ambient_c = float(e["ambient_c"])
        if "cell_mv" in e:
            for k, v in e["cell_mv"].items():
                for pack in targets:
                    pack.chip.cell_override[int(k) - 1] = v
        if "pack_mv" in e:
            for pack in targets:
                pack.chip.stack_override = e["pack_mv"]
        if "temp_c" in e:
            for sensor, v in e["temp_c"].items():
                for pack in targets:
                    pack.set_temp_override(sensor, v)
        if "fault" in e:
            for pack in targets:
                pack.apply_fault(e["fault"])
        if "input" in e:
            for name, v in e["input"].items():
                for pack in targets:
                    pack.set_input(name, v)
        if "button" in e:
            release = self.clock.t_ms + _ms(e.get("hold_s", 0.5))
            for pack in targets:
                pack.press_button(True)
                self._button_releases.append((release, pack))
                if release < self._event_ms:
                    self._event_ms = release
        if "dip" in e:
            for pack in targets:
                pack.set_dip(dip_bits(e["dip"]))
        if "power" in e:
            for pack in targets:
                if e["power"] == "off" and pack.powered:
                    pack.power_off()
                elif e["power"] == "on" and not pack.powered:
                    pack.power_on()
        if self.dc is not None:
            self.dc.dirty = True  # faults, power and FETs may have changed the paths

    def _due_events(self, t_ms):
        while self._next_event < len(self._events):
            e = self._events[self._next_event]
            if _ms(e["at_s"]) > t_ms:
                break
            self.apply(e)
            self._next_event += 1
        if self._button_releases:
            keep = []
            for release, pack in self._button_releases:
                if release <= t_ms:
                    pack.press_button(False)
                else:
                    keep.append((release, pack))
            self._button_releases = keep
        self._event_ms = self._next_event_ms()

    def _next_event_ms(self):
        t = _FOREVER
        if self._next_event < len(self._events):
            t = _ms(self._events[self._next_event]["at_s"])
        for release, _pack in self._button_releases:
            if release < t:
                t = release
        return t

    _event_ms = 0  # when _due_events has something to do (cached _next_event_ms())
    _wakes_seen = -1  # uart.CHANGES when the packs' wake_next were asked (-1: ask all)

    # -- running ------------------------------------------------------------------------
    def set_trace(self, callback, trace_ms=None):
        """Call callback(records) every trace_ms (default: the firmware tick) with one
        record per pack, from the current time on."""
        if trace_ms is None:
            app = self.packs[0].app
            trace_ms = app.tick_ms if app is not None else 100
        self._trace = callback
        self._trace_ms = trace_ms
        self._next_trace = self.clock.t_ms

    _trace = None
    _next_trace = _FOREVER
    _done_us = -1  # the last time fully processed

    @micropython.native
    def _control(self, t_us):
        """The inverter re-decides its current (one pack carries it; several share it on
        the DC bus); without an inverter the bus re-splits the same current."""
        if self.dc is not None:
            t = t_us // 1000
            for pack in self.packs:
                pack.step_to(t)
            amps = self.demand_a
            if self.inverter is not None:
                amps = self.inverter.decide(self.demand_a, self.dc, t_us)
                self.dc.charger = self.inverter.pushing
            self.dc.split(amps)
            self._next_control_us = t_us + CONTROL_US
            return
        pack = self.packs[0]
        pack.step_to(t_us // 1000)
        amps = self.inverter.decide(self.demand_a, pack.model, t_us)
        if amps != pack.model.demand_a:
            pack.model.set_demand(amps)
        self._next_control_us = t_us + CONTROL_US

    @micropython.native
    def run(self, end_ms):
        """Advance the world to end_ms (absolute simulated ms); can be called again."""
        clock = self.clock
        end_us = end_ms * 1000
        self._wakes_seen = -1  # packs may have been switched or rebooted from outside
        while True:
            t_us = clock.t_us
            if t_us != self._done_us:
                self._step(t_us)
                self._done_us = t_us
            if t_us >= end_us:
                return
            clock.set_us(self._next_us(t_us, end_us))

    @micropython.native
    def _step(self, t_us):
        t = t_us // 1000
        if t >= self._event_ms:
            self._due_events(t)
            self._wakes_seen = -1
        bus = self.bus
        while bus.now_us < t_us:
            bus.stop = False
            bus.run_until(t_us)
        inv = self.inverter
        if inv is not None:
            inv.step(t_us)
        if t_us >= self._next_control_us and (inv is not None or self.dc is not None):
            self._control(t_us)
        sample = t >= self._next_trace
        changes = _uart.CHANGES
        for pack in self.packs:
            if (
                t_us < pack.wake_next
                and changes[0] == self._wakes_seen
                and not (sample or pack.wake or pack.stuck)
                and pack.app is not None  # (switched off: its ports' wakes still count)
            ):
                continue  # what next_wake_us() said still holds: due() would say no
            if pack.due(t_us) or sample:
                ticks = pack.ticks
                w = pack.poll(t, ticks.ticks_ms())
                if not self.every_led_beat and pack.app is not None:
                    w = pack.app.work_wait_ms
                # the firmware counts its own ms
                pack.next_us = ticks.sim_us_at(ticks.t_ms + (w if w > 0 else 1))
                pack.wake_next = -1
        dc = self.dc
        if dc is not None and dc.dirty:  # a pack's FETs changed: its share moves now
            for pack in self.packs:
                pack.step_to(t)
            dc.split(dc.total_a)
        if sample:
            for pack in self.packs:
                pack.step_to(t)
            self._trace([self.record(pack) for pack in self.packs])
            self._next_trace += self._trace_ms
            self._wakes_seen = -1  # (a trace callback may reboot or move a pack)

    @micropython.native
    def _next_us(self, t_us, end_us):
        nxt = end_us
        # each pack's next wake, asked again only of the packs polled since, unless bytes
        # reached a port (a pack's next wake cannot move otherwise): with many packs, most
        # steps poll one of them
        changes = _uart.CHANGES[0]
        every = changes != self._wakes_seen
        self._wakes_seen = changes
        for pack in self.packs:
            w = pack.wake_next
            if every or w < 0:
                w = pack.wake_next = pack.next_wake_us(t_us)
                stuck = False
                for port in pack.ports:
                    if port.de_high and port.tx_end_us <= t_us:
                        stuck = True
                pack.stuck = stuck
            if w < nxt:
                nxt = w
        # (_FOREVER, nothing due, stays in ms: in us it would be a big int, which
        # MicroPython allocates on the heap at every step)
        event_ms = self._event_ms
        if event_ms < _FOREVER and event_ms * 1000 < nxt:
            nxt = event_ms * 1000
        trace_ms = self._next_trace
        if trace_ms < _FOREVER and trace_ms * 1000 < nxt:
            nxt = trace_ms * 1000
        inv = self.inverter
        if (inv is not None or self.dc is not None) and self._next_control_us < nxt:
            nxt = self._next_control_us
        if inv is not None:
            w = inv.next_event_us()
            if w is not None and w < nxt:
                nxt = w
            port = self._inv_port
            if port is not None and port.wake_us is not None and port.wake_us < nxt:
                nxt = port.wake_us
        if nxt <= t_us:
            nxt = t_us + 1
        # the bus runs ahead to there, unless a frame wakes a firmware first
        bus = self.bus
        bus.stop = False
        bus.run_until(nxt)
        if bus.stop and t_us < bus.now_us < nxt:
            nxt = bus.now_us
        return nxt

    # -- the trace ----------------------------------------------------------------------
    def record(self, pack):
        """One trace line for this pack (../shared/spec/sim.md), as a dict; its `events`
        are the log entries since the previous record of this pack."""
        rec = self.state(pack)
        rec["events"] = self._new_events(pack) if pack.app is not None else []
        return rec

    def state(self, pack):
        """What the trace shows of this pack now, without `events`."""
        m = pack.model
        app = pack.app
        chg, dsg, pre = m.fet_states()
        rec = {
            "t_ms": self.clock.t_ms,
            "pack": pack.index,
            "role": self.role(pack),
            "true_soc_pct": round(m.true_soc_pct(), 2),
            "fets": {"charge": chg, "discharge": dsg, "precharge": pre},
        }
        if len(self.packs) > 1:
            rec["address"] = None  # the firmware's own (below), null while it has none
        if app is None or app.bms is None:
            rec.update(OFF_STATE)
            return rec
        s = app.sample
        t = s.temps_dc
        b = app.bms
        leds = pack.board.led_levels()
        pins = pack.board.pins
        rec["cells_mv"] = list(s.cells_mv)
        rec["pack_mv"] = s.stack_mv
        rec["current_ma"] = b.reported_ma
        rec["current_raw_ma"] = s.current_ma
        rec["valid"] = s.valid
        rec["temps_dc"] = {"cells": [t[0], t[1], t[2], t[3]], "ambient": t[4], "mos": t[5]}
        rec["soc_pct"] = b.soc.shown_cpct / 100 if b.started else None
        rec["soh_pct"] = b.soc.soh_pct() if b.started else None
        rec["mode"] = MODES[b.mode]
        rec["relays"] = {
            "charge": bool(pins["RELAY_CHG"].level),
            "discharge": bool(pins["RELAY_DSG"].level),
        }
        rec["leds"] = {"run": leds[0], "alm": leds[1], "soc": leds[2:6], "ms": leds[6]}
        # bms/core_status.py called here, held by the host: through the core it is loaded
        # and dropped per call (a board's service request), which every trace sample
        # would pay
        rec["protections"] = core_status.protections(b)
        rec["warnings"] = core_status.warnings(b)
        rec["balancing"] = b.balancer.cells()
        told = app.told
        rec["limits"] = core_status.limits(told.limits)  # on the master: the system's (sim.md)
        if told is not b:  # (a trace key of ours: the master's own pack beside them)
            rec["own_limits"] = core_status.limits(b.limits)
        rec["inputs"] = {"passive": app.inputs.passive, "rsd": app.inputs.rsd}
        can = pack.board.can
        if can is not None:  # (a trace key of ours: the CAN receive counters)
            rec["can_rx"] = can_rx(can)
        address = getattr(app, "address", None)
        if address is not None:
            rec["address"] = address
        return rec

    def role(self, pack):
        """`master` or `slave` as the pack's firmware says (`app.role`, a string, or a
        method giving one); a lone pack is its own master; None for a pack that is off or
        whose firmware does not say (the simulator never guesses a role for it)."""
        if len(self.packs) == 1:
            return "master"
        app = pack.app
        role = getattr(app, "role", None) if app is not None else None
        if callable(role):
            role = role()
        if role == "single":
            role = "master"
        return role if role in ("master", "slave") else None

    def _new_events(self, pack):
        log = pack.app.events
        out = []
        seq = pack.events_seen
        if seq < log.oldest_seq():
            seq = log.oldest_seq()
        while seq < log.next_seq:
            r = log.get(seq)
            if r[2] != ev.SKIPPED:  # a number a boot skipped: no event
                out.append(event_dict(r))
            seq += 1
        pack.events_seen = seq
        return out


def can_rx(can):
    """The CAN controller's receive counters (drivers/mcp2515.py), as the service link's
    COUNTERS document names them: frames received, chip overflow episodes (frames lost
    while both RX buffers were full), frames the full ring dropped, the INT handler's
    errors, garbled reads."""
    return {
        "received": can.received,
        "rx_overflows": can.rx_overflows,
        "rx_ring_dropped": can.rx_ring_dropped,
        "irq_errors": can.irq_errors,
        "rx_garbled": can.rx_garbled,
    }


# names for the event log's integers (the firmware keeps integers; people read these)
_RESET_CAUSES = (None, "power_on", "hard", "watchdog", "deep_sleep", "soft")
_BUTTON = (None, "reset", "sleep_wake", "restart", "unlock")
_RELEASE_PATHS = (None, "value", "time", "current", "charger", "reset")
_PRECHARGE = (None, "started", "done", "timed_out")
_SOC = (
    None,
    "start_ocv",
    "start_stored",
    "full",
    "empty",
    "rest_ocv",
    "learned_capacity",
    "float_full",
)
_STAGES = (None, "read", "core", "write", "led", "boot", "store", "comms")
# an EXCEPTION at the store stage: the failing operation (app.STORE_*) as extra
_STORE_OPS = (
    None,
    "events_load",
    "state_load",
    "state_save",
    "events_append",
    "set_aside",
    "image_pointer",
)
_INPUTS = (None, "passive", "rsd")
_SENSOR = ("probe_failed", "configured", "readings_lost", "readings_back", "failing")
_COMM = ("can", "inverter", "bus_off", "pack", "role", "system")
_CONFIG = ("accepted", "refused", "state_dropped", "service_write", "cleared", "events_dropped")
_UPDATE = ("armed", "trial", "confirmed", "rolled_back")
# by the bit of bms.limits' LIM_* flags
_LIMITS = (None, "force_charge", "full_charge_request", None, "float")


# the event codes whose `what` is an index into a table of names
_WHAT_NAMES = {
    ev.BOOT: _RESET_CAUSES,
    ev.RESET: _BUTTON,
    ev.PRECHARGE: _PRECHARGE,
    ev.SOC: _SOC,
    ev.EXCEPTION: _STAGES,
    ev.INPUT: _INPUTS,
    ev.SENSOR: _SENSOR,
    ev.COMM: _COMM,
    ev.LIMIT: _LIMITS,
    ev.UPDATE: _UPDATE,
}


def _ms(seconds):
    """A scenario's seconds in ms, to the nearest (1.001 * 1000 is 1000.99...: truncated,
    an event came 1 ms early)."""
    return int(round(seconds * 1000))


def _name(table, i):
    return table[i] if 0 <= i < len(table) and table[i] is not None else i


def _bits(bits):
    return "".join("1" if bits & (1 << i) else "0" for i in range(7))


def event_dict(record):
    """One event-log record as the trace shows it: names where the firmware has codes."""
    seq, t_ms, code, what, value, extra = record
    name = ev.NAMES[code]
    out = {"seq": seq, "t_ms": t_ms, "code": name, "what": what, "value": value, "extra": extra}
    if code in (ev.TRIP, ev.RELEASE, ev.LOCK, ev.LATCH, ev.WARN, ev.WARN_CLEAR):
        out["what"] = _name(pt.NAMES, what)
        if code == ev.RELEASE or code == ev.WARN_CLEAR:
            out["extra"] = _name(_RELEASE_PATHS, extra)
    elif code == ev.MODE:
        out["what"] = _name(MODES, what)
        out["value"] = _name(MODES, value)
    elif code in _WHAT_NAMES:
        out["what"] = _name(_WHAT_NAMES[code], what)
        if code == ev.EXCEPTION and what == STAGE_STORE:  # negative: it works again
            op = _name(_STORE_OPS, -extra if extra < 0 else extra)
            out["extra"] = "%s_ok" % op if extra < 0 else op
    elif code == ev.AFE_SAFETY:
        out["what"] = "chip"
    elif code == ev.DIP:
        out["what"] = _bits(what)
    elif code == ev.CONFIG:
        out["what"] = _name(_CONFIG, what)
    return out


def event_text(record):
    """One event as a line for people."""
    d = event_dict(record)
    return "#%d %8.1f s %-10s %s %s %s" % (
        d["seq"],
        d["t_ms"] / 1000,
        d["code"],
        d["what"],
        d["value"],
        d["extra"],
    )
