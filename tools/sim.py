"""The BMS simulator: the real firmware against a simulated board and pack.

Runs under CPython (with a live terminal view) and under MicroPython (--fast, or a
plain status line in real time). The interface is the contract in
../shared/spec/sim.md; `tools/sim.py --help` lists it with our choices and extensions.
"""

import hostpath  # noqa: F401 - puts firmware/ and boards/ on sys.path

import json
import sys
import time

from boards.host.world.engine import Simulator
from boards.host.world.scenario import INVERTERS, ScenarioError, check_dip, load, validate

HELP = """usage: tools/sim.py [options]

Runs the BMS firmware against a simulated pack (see ../shared/spec/sim.md).

options:
  --packs N        packs in parallel, 1 to 32 (default 1, or the scenario's packs;
                   see "Parallel packs" below)
  --dip BITS       the master's DIP switch, 7 characters 0/1, position 1 first
                   (0000000 = 9600 baud, protocol ID0; slaves keep 0000000 but
                   the master's position 1, the baud rate: pack.md, all packs alike)
  --inverter KIND  can (default), rs485, none, growatt or sma (the simulated inverter on
                   the master's Link IN; see "The simulated inverter" below)
  --scenario FILE  a scenario file (JSON); without one the pack idles
  --duration S     simulated seconds to run (default: the scenario's duration_s,
                   else until Ctrl-C; --fast needs one of the two)
  --fast           as fast as the host allows, no live view
  --trace FILE     write the trace as JSON Lines, one object per pack per period
  --trace-ms MS    trace period in simulated ms (default: the firmware tick, 100)
  --can-log FILE   write every CAN frame in candump -L format
  --rs485-pty      real time only (CPython): serve the master's RS485 port 1 on a
                   pseudo-terminal and print "RS485 port: /dev/pts/N"; it replaces the
                   simulated RS485 inverter (a CAN inverter stays on the bus)
  --can-udp GROUP  real time only (CPython, python-can with msgpack): the CAN bus on
                   python-can's udp_multicast interface, channel GROUP (an IPv4 or
                   IPv6 multicast group on loopback, e.g. 239.74.163.2): every frame of
                   the simulated bus goes to it, what others send to it comes onto the
                   bus (bmsctl --interface udp_multicast --channel GROUP)
  --seed N         seed for the pack model's random choices (default 1)
  -h, --help       this text

Scenario extensions beyond sim.md (they change no existing key):
  "seed": N                     the same as --seed (the option wins)
  "config": {"key": value}      firmware config overrides, validated by the firmware
                                (firmware/bms/config.py lists the keys and ranges)
  event "ambient_c": C          the air temperature around the pack (the model's),
                                where temp_c overrides what a sensor reports
  event "dip": "BITS"           flip a pack's DIP switch while it runs (the firmware
                                logs the change and applies it at the next restart)
  event "cable_mohm": MOHM      with "pack": that pack's cable (both conductors) to the
                                inverter's busbar, 0..1000 mOhm; without "pack": every
                                pack's. Default: 1 mOhm per pack along the chain (pack k
                                has k mOhm), so the end of a long chain takes the least
                                current. With one pack it changes nothing (in series)
Parallel packs (--packs N, N > 1):
  - wiring: one CAN bus for every pack and the inverter; RS485 daisy chain, pack k's
    port 2 (Link OUT) to pack k+1's port 1 (Link IN); the inverter (rs485) or nothing
    (can, none) on pack 1's Link IN; the last pack's Link OUT goes nowhere
  - every pack is its own firmware instance with its own flash, and its own crystal:
    a seeded drift of -50..+50 ppm (--seed picks them), so packs powered at the same
    instant drift apart; its events' t_ms are its own clock's. One pack alone runs on
    the engine's clock exactly
  - the DC bus: each pack is its open-circuit voltage behind its cells', FETs' and
    cable's resistance; the packs share one bus voltage and the currents sum to what
    the inverter (capped by the limits it receives) or the forced current_a drives.
    A FET that is off passes current one way only, through its body diode (0.7 V); a
    pack that opens throws its share onto the others at that instant; the split is
    redone on every FET change and every second. current_a with "pack" forces that
    pack's own current off the bus (a bench supply on it) for the rest of the run
  - power-up orders: a "power": "off" event at 0 s keeps its packs unpowered from the
    start (they do not boot for an instant); "power": "on" later starts them
  - trace: one line per pack per period; "role" is what the pack's firmware reports
    (app.role: "master" or "slave"), null while it is off or reports nothing (the
    simulator never guesses it); a lone pack is always "master". Extra key "address":
    the firmware's app.address (null while it has none); present with several packs.
    A pack switched off has null cells_mv, pack_mv, current_ma, temps_dc, soc_pct,
    soh_pct and limits. "limits" also carries dvl_mv, charge_enable,
    discharge_enable, force_charge and full_charge_request; extra keys "inputs"
    (passive, rsd), "can_rx" (the CAN controller's receive counters) and, on the
    master of packs in parallel, "own_limits" (its own pack's beside the system's)
  - the trace's events go on across a restart: a record the last boot logged after the
    last line and wrote before it restarted (a RESET restart's) is in the next line
  - the run ends at --duration with no line of its own (the last line is the last
    period's)
Choices where sim.md is silent:
  - a trace line is written at t=0 and then every period, after the firmware has run
    at that instant; `events` holds the log entries since the previous line
  - current_ma is what the firmware reports: 0 below the 0.5 A threshold
  - true_soc_pct is the string's usable SOC: the charge that can still be discharged
    before the first cell is empty, over that plus the charge that can still go in
    before the first cell is full (the cells' mean when they are balanced)
  - initial.cell_spread_mv spreads the cells' open-circuit voltages over that many mV
    around the OCV at soc_pct (seeded order); on the flat part of the LiFePO4 curve a
    few mV are several % of SOC
  - ntc_open:N / ntc_short:N number the sensors 1-4 cells, 5 ambient, 6 MOS; an open
    NTC reads -50.0 C, a shorted one 150.0 C
  - cell_open:N: cell N reads 0 mV and cell N+1 reads both (the shared sense wire)
  - extension: fault "current_gain:X" makes the current sensor read X * 0.1 % high
    (negative: low), as current_offset:MA adds an offset
  - afe_crc flips a bit in every byte the front end sends: every CRC fails, readings
    are invalid (the FETs open after 300 ms blind, SENSOR_FAIL latches after 3 s)
  - extension: fault "afe_reset" resets the front end once (a brown-out): it comes
    back with its defaults, without CRC, and the firmware configures it again
  - button hold_s defaults to 0.5 s (README: 150 ms-3 s RESET, 3-5 s sleep/wake, 5 s restart)
  - pack_mv overrides the stack (battery) voltage the front end reports; a value more
    than 2 V from the sum of the cells is itself a sensor failure after 3 s (pack.md)
  - the BMS closes its FETs 3 s after power-up (its boot checks), the discharge FET
    after a pre-charge of about a second: current flows from about 4 s
  - trace extras: "current_raw_ma" (before the 0.5 A reporting threshold), "inputs"
    (the dry-contact inputs) and "valid" (false while the front end gives no good
    reading: the measured fields then hold the last good one); "protections" also
    shows RSD while rapid shutdown holds; "can_rx", the CAN controller's receive
    counters since the firmware started: "received" frames, "rx_overflows" (episodes
    of frames lost in the MCP2515, both receive buffers full), "rx_ring_dropped"
    (frames dropped by the driver's full receive ring), "irq_errors" (errors met by
    its INT handler), "rx_garbled" (reads dropped as no chip's); bmsctl counters
    shows the same under "can"
The simulated inverter:
  - can: with the DIP's protocol ID0 or ID1 it sends 0x305 (8 x 00) every second and
    reads 0x351, 0x356 and 0x35C; with ID2 it is a Schneider gateway (29-bit 0x310
    heartbeat; reads 0x321, 0x322, 0x323, 0x325). growatt (extension): Growatt's 0x301
    request every second; it reads the 0x311-0x319 answer (protocol ID1). sma
    (extension): an SMA Sunny Island (protocols.md 2a): its 0x305 every second carries
    its readings (voltage, current, 25.0 C, SOC), and of 0x351 it takes only the values
    within its ranges (CVL 41-63 V, CCL and DCL 0-120 A, DVL 41-48 V), keeping the
    last one taken of any other (before any: 54 V, 0 A, 0 A, 41 V)
  - rs485: the Pylon RS485 master: each second 0x42 then 0x92 to address 2, each after
    the previous reply or 500 ms, at the DIP's baud rate (position 1 ON: 115200).
  - what it does with current_a (the site's demand): caps charging at CCL and
    discharging at DCL, needs the enable flags, stops discharging at DVL (until 2 V
    above it), charges at 10 A on a force-charge request, and holds CVL as a charger
    in constant voltage (a source at CVL behind the pack's resistance). It re-decides
    once a second, and stops using the battery after 10 s without limits from it.
  - event "inverter": "silent" stops its heartbeat or polls; over CAN it keeps
    listening and obeying, over RS485 it gets no limits and stops after 10 s.
    "no_source" (extension): nothing to charge from (a night off-grid), so it charges
    not at all, whatever it is asked; "source": it can again.
  - a CAN frame nobody else acknowledges is retried, as on a real bus: with
    --inverter none the pack's controller goes error-passive and the log stays empty
    (the log is a listen-only tap: it acknowledges nothing)
  - --can-log timestamps are wall-clock seconds of the run's start plus simulated time
  - with --fast the firmware is woken for its 50 ms LED beat only where a trace line
    samples the LEDs (their state there is the same as with every beat); a trace
    period of 50 ms resolves the waveforms as in real time
  - the simulated UART wakes the firmware 32 bit times after a request's last byte
    (the RP2040 UART's receive timeout), so a reply starts about 3.3 ms after the
    request at 9600 baud; firmware CPU time is not simulated
Exit status: 0 on a completed run, 2 on bad options or a bad scenario.
"""


class UsageError(Exception):
    pass


_VALUED = (
    "--packs",
    "--dip",
    "--inverter",
    "--scenario",
    "--duration",
    "--trace",
    "--trace-ms",
    "--can-log",
    "--can-udp",
    "--seed",
)
_FLAGS = ("--fast", "--rs485-pty", "--help", "-h")


def _int(opt, text, lo, hi):
    try:
        v = int(text)
    except ValueError:
        raise UsageError("%s needs an integer, not %r" % (opt, text)) from None
    if not lo <= v <= hi:
        raise UsageError("%s must be %d..%d" % (opt, lo, hi))
    return v


def parse_args(argv):
    opts = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        if arg in _FLAGS:
            if value is not None:
                raise UsageError("%s takes no value" % arg)
            opts[arg] = True
        elif arg in _VALUED:
            if value is None:
                i += 1
                if i >= len(argv):
                    raise UsageError("%s needs a value" % arg)
                value = argv[i]
            opts[arg] = value
        else:
            raise UsageError("unknown option %s (see --help)" % arg)
        i += 1
    if "--packs" in opts:
        opts["--packs"] = _int("--packs", opts["--packs"], 1, 32)
    if "--seed" in opts:
        opts["--seed"] = _int("--seed", opts["--seed"], 0, 2**31 - 1)
    if "--trace-ms" in opts:
        opts["--trace-ms"] = _int("--trace-ms", opts["--trace-ms"], 1, 86400000)
    if "--duration" in opts:
        try:
            opts["--duration"] = float(opts["--duration"])
        except ValueError:
            raise UsageError("--duration needs a number of seconds") from None
        if not 0 < opts["--duration"] <= 1e9:  # (not inf or nan: a run has an end)
            raise UsageError("--duration must be positive, at most 1e9 s")
    if "--dip" in opts:
        try:
            check_dip("--dip", opts["--dip"])
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
    if "--inverter" in opts and opts["--inverter"] not in INVERTERS:
        raise UsageError("--inverter must be can, rs485, none, growatt or sma")
    if "--rs485-pty" in opts:
        if "--fast" in opts:
            raise UsageError("--rs485-pty runs in real time only (a client needs real time)")
        if hostpath.MICROPYTHON:
            raise UsageError("--rs485-pty needs CPython (os.openpty)")
    if "--can-udp" in opts:
        if "--fast" in opts:
            raise UsageError("--can-udp runs in real time only (a client needs real time)")
        if hostpath.MICROPYTHON:
            raise UsageError("--can-udp needs CPython (python-can)")
    return opts


def build(opts):
    """The scenario (file or defaults) with the command-line options applied."""
    packs = opts.get("--packs")
    if "--scenario" in opts:
        scenario = load(opts["--scenario"], packs)  # (its events may name packs up to it)
    else:
        scenario = validate({} if packs is None else {"packs": packs})
    if "--dip" in opts:
        scenario["dip"] = opts["--dip"]
    if "--inverter" in opts:
        scenario["inverter"] = opts["--inverter"]
    scenario.setdefault("inverter", "can")
    duration = opts.get("--duration", scenario.get("duration_s"))
    if "--fast" in opts and duration is None:
        raise UsageError("--fast needs --duration or a scenario with duration_s")
    return scenario, duration


class TraceWriter:
    def __init__(self, path):
        try:
            self.f = open(path, "w")
        except OSError:
            raise UsageError("cannot write trace file %s" % path) from None
        self.lines = 0

    def __call__(self, records):
        f = self.f
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")))
            f.write("\n")
            self.lines += 1

    def close(self):
        self.f.close()


def _clock():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms() / 1000
    return time.monotonic()


def run_fast(sim, end_ms):
    sim.every_led_beat = False  # no live view: the LEDs are sampled by the trace only
    sim.run(end_ms)


def run_realtime(sim, end_ms, view, pty=None):
    """Keep simulated time with the wall clock; with a pty, poll it every 5 ms so a
    client's request is answered within a few ms of real time."""
    start = _clock()
    t0 = sim.t_ms
    pause = 0.005 if pty is not None else 0.05
    last_view = -1.0
    try:
        while end_ms is None or sim.t_ms < end_ms:
            if pty is not None:
                pty.pump()
            target = t0 + int((_clock() - start) * 1000)
            if end_ms is not None and target > end_ms:
                target = end_ms
            sim.run(target)
            now = _clock()
            if now - last_view >= 0.05:
                view(sim)
                last_view = now
            time.sleep(pause)
        view(sim)  # the final state
    except KeyboardInterrupt:
        pass


def _plain_view(out):
    state = {"last": -1}

    def view(sim):
        second = sim.t_ms // 1000
        if second == state["last"]:
            return
        state["last"] = second
        app = sim.packs[0].app
        if app is None:
            out.write("t=%ds pack off\n" % second)
            return
        s = app.sample
        out.write(
            "t=%ds %d mV %d mA cells %d..%d mV\n"
            % (second, s.stack_mv, s.current_ma, s.min_mv, s.max_mv)
        )

    return view


def main(argv, out=None):
    """Run the simulator; returns the exit status. Messages go to `out` (stdout)."""
    out = out or sys.stdout
    try:
        opts = parse_args(argv)
        if opts.get("--help") or opts.get("-h"):
            out.write(HELP)
            return 0
        scenario, duration = build(opts)
        can_log = _open_log(opts["--can-log"]) if "--can-log" in opts else None
        pty = None
        if "--rs485-pty" in opts:
            from boards.host.world.bus.pty import PtyPort

            pty = PtyPort()
        sim = Simulator(
            scenario,
            seed=opts.get("--seed"),
            can_log=can_log,
            rs485_port=pty,
            epoch_s=int(time.time()),
        )
        udp = _can_udp(sim, opts["--can-udp"]) if "--can-udp" in opts else None
        trace = TraceWriter(opts["--trace"]) if "--trace" in opts else None
    except (UsageError, ScenarioError) as exc:
        out.write("sim.py: error: %s\n" % exc)
        return 2
    if pty is not None:
        out.write("RS485 port: %s\n" % pty.name)
        out.flush()
    if udp is not None:
        out.write("CAN: udp_multicast %s\n" % udp.channel)
        out.flush()
    pumps = [p for p in (pty, udp) if p is not None]
    pump = _Pumps(pumps) if pumps else None
    if trace is not None:
        sim.set_trace(trace, opts.get("--trace-ms"))
    end_ms = None if duration is None else int(round(duration * 1000))
    _stop_on_sigterm()
    try:
        if "--fast" in opts:
            try:
                run_fast(sim, end_ms)
            except KeyboardInterrupt:
                pass
        else:
            view = None
            if not hostpath.MICROPYTHON:
                try:
                    from live_view import LiveView
                except ImportError:
                    LiveView = None
                if LiveView is not None:
                    with LiveView(sim) as live:
                        run_realtime(sim, end_ms, live.update, pump)
                    view = True
            if view is None:
                run_realtime(sim, end_ms, _plain_view(out), pump)
    finally:
        if trace is not None:
            trace.close()
        if can_log is not None:
            can_log.close()
        for p in pumps:
            p.close()
    out.write(_results_line(opts, trace, sim))
    return 0


class _Pumps:
    """The real-time loop's outside ports (the RS485 pty, the CAN gateway), pumped as one."""

    def __init__(self, ports):
        self.ports = ports

    def pump(self):
        for p in self.ports:
            p.pump()


def _can_udp(sim, channel):
    """The simulated bus on python-can's udp_multicast (boards/host/world/bus/can_udp.py)."""
    try:
        from boards.host.world.bus.can_udp import UdpGateway

        return sim.bus.attach(UdpGateway(channel))
    except Exception as exc:  # noqa: BLE001 - python-can's errors (no msgpack, a bad group)
        raise UsageError("--can-udp %s: %s" % (channel, exc)) from None


def _results_line(opts, trace, sim):
    """Where the run's results went, as its last line (a --fast run that wrote no file
    prints nothing: its exit status is its result)."""
    written = []
    if trace is not None:
        written.append("trace in %s (%d lines)" % (opts["--trace"], trace.lines))
    if "--can-log" in opts:
        written.append("CAN log in %s" % opts["--can-log"])
    if written:
        return "sim.py: %d s simulated; %s\n" % (sim.t_ms // 1000, ", ".join(written))
    if "--fast" in opts:
        return ""
    return (
        "sim.py: %d s simulated; nothing written (--trace FILE keeps a trace, --can-log FILE"
        " the CAN frames)\n" % (sim.t_ms // 1000)
    )


def _stop_on_sigterm():
    """A SIGTERM (a test or a service manager stopping us) ends the run as Ctrl-C does:
    the trace and the CAN log are flushed and closed."""
    try:
        import signal
    except ImportError:
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except (AttributeError, ValueError, OSError):
        pass  # not the main thread, or a port without signals


def _open_log(path):
    try:
        return open(path, "w")
    except OSError:
        raise UsageError("cannot write CAN log file %s" % path) from None


if __name__ == "__main__":
    if sys.implementation.name == "cpython":
        from boards.host import twins

        twins.install()  # the viper kernels' CPython twins (boards/host/twins.py says why)
    sys.exit(main(sys.argv[1:]))
