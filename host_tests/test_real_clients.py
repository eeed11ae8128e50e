"""Real third-party clients against tools/sim.py, as the inverter-link issue requires.

- python-pylontech (the PyPI RS485 client, protocols.md 4.4) polls the master through
  `tools/sim.py --rs485-pty` while a CAN inverter shares the link, in real time;
- python-can reads the `--can-log` candump -L file and cantools decodes it with our DBC
  (tools/bms_id0.dbc, loaded strictly), with tools/victron_check.py and tools/monitor.py
  run on the same log;
- protocol ID1 with the Growatt inverter (0x301 -> 0x311-0x319, big endian, protocols.md
  2c), protocol ID2 (the 29-bit Schneider set of section 3) and the RS485 inverter at
  115200 baud (DIP 1 ON).

Expected values come from the simulator's trace (what the firmware measured and asked
for) and protocols.md; only the identity strings and configured thresholds that the
RS485 server reports are taken from firmware constants (protocols.pylon_rs485,
bms.config), never from an encoder. CPython only: the client libraries, pyserial and
pseudo-terminals do not exist under MicroPython, so every third-party import is inside a
test.
"""

import io
import json
import unittest

import fwconst
from support import ROOT, cpython_only, ensure_build

from boards.host.world.inverters import s16be, s32be, u16be, u32be

LISTEN_MS = fwconst.of("bms.addressing").LISTEN_MS

DBC = ROOT + "/tools/bms_id0.dbc"
SIM = ROOT + "/tools/sim.py"

# protocols.md "Our choices": the ID0 set (Pylon V1.2 plus the SMA/Victron frames) and the
# ID1 set (Pylon V1.2 with 0x379); each once a second, never two of one id within 200 ms
ID0_SET = (0x351, 0x355, 0x356, 0x359, 0x35A, 0x35C, 0x35E, 0x35F, 0x372, 0x373, 0x379)
ID1_SET = (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x379)
GROWATT_SET = tuple(range(0x311, 0x31A))
MIN_GAP_US = 200000
CAPACITY_AH = 100  # the pack's rated capacity (firmware/bms/config.py capacity_mah default)
# protocols.md section 3: the Schneider ids (29-bit) and their periods in ms
SCHNEIDER_PERIODS = {
    0x320: 2000,
    0x321: 500,
    0x322: 500,
    0x323: 500,
    0x324: 500,
    0x325: 500,
    0x326: 2000,
    0x327: 2000,
    0x328: 10000,
    0x330: 10000,
    0x331: 10000,
    0x332: 10000,
    0x333: 10000,
}
PERIOD_TOLERANCE_US = 50000
# the fast runs trace every firmware tick, so each frame is compared with the very sample
# it was encoded from (a 1 s trace misses transients such as the pre-charge current)
TRACE_MS = 100

# the pty run (real time): the client's six calls block ~2 s each (python-pylontech reads
# up to '\n', our frames end in '\r' by design, so every read ends on its 2 s timeout)
PTY_TALKING_S = 18  # the CAN inverter resumes its 0x305 heartbeat here
PTY_DURATION_S = 19.5
PTY_LOST_MS = 5000  # inverter_lost_ms for that run (the firmware's lowest allowed)
PORT_LINE_TIMEOUT_S = 10.0
# how far the simulation may run behind the wall clock measured from the port line (it
# starts its real-time loop after importing the live view)
SIM_LAG_S = 2.0


def write_scenario(name, scenario):
    path = ensure_build() + "/" + name
    with open(path, "w") as f:
        json.dump(scenario, f)
    return path


def read_trace(path):
    """The master's trace lines."""
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [r for r in lines if r["pack"] == 1]


def events(trace, code, what=None):
    return [
        e
        for r in trace
        for e in r["events"]
        if e["code"] == code and (what is None or e["what"] == what)
    ]


def run_sim_fast(*argv):
    """sim.main in-process; returns (epoch_s, output). epoch_s is the wall-clock second the
    --can-log timestamps count from (sim.py takes int(time.time()) as it starts)."""
    import time

    import sim

    frac = time.time() % 1
    if frac > 0.8:  # keep the start well inside one wall-clock second
        time.sleep(1.05 - frac)
    epoch = int(time.time())
    out = io.StringIO()
    rc = sim.main(list(argv), out)
    if rc != 0:
        raise AssertionError("sim.py %s exited %d: %s" % (" ".join(argv), rc, out.getvalue()))
    return epoch, out.getvalue()


def read_can_log(path, epoch):
    """The log through python-can's candump reader: [(t_s, t_us, id, extended, data)] with
    t the simulated time; and the raw lines."""
    import can

    frames = []
    for msg in can.CanutilsLogReader(path):
        t = msg.timestamp - epoch
        frames.append((t, round(t * 1000000), msg.arbitration_id, msg.is_extended_id, msg.data))
    with open(path) as f:
        lines = f.read().splitlines()
    return frames, lines


def by_id(frames):
    out = {}
    for f in frames:
        out.setdefault((f[2], f[3]), []).append(f)
    return out


def recent(trace_by_ms, t):
    """The trace lines a frame sent at simulated time t can report: the last one written
    at or before t and the one before it (a frame is encoded when it is queued, a few
    hundred microseconds before the log sees it complete)."""
    k = int(t * 1000) // TRACE_MS * TRACE_MS
    return [trace_by_ms[m] for m in (k, k - TRACE_MS) if m in trace_by_ms]


def by_ms(trace):
    return {r["t_ms"]: r for r in trace}


class Mismatches:
    """Collects value mismatches so a failure lists them all, not just the first."""

    def __init__(self):
        self.items = []
        self.checked = 0

    def near(self, what, t, lines, getter, value, tol):
        """value must be within tol of getter(line) for one of the lines."""
        self.checked += 1
        if not lines:
            self.items.append("%s at %.3f s: no trace line" % (what, t))
            return
        expected = [getter(r) for r in lines]
        if not any(abs(value - e) <= tol for e in expected):
            self.items.append(
                "%s at %.3f s: %r, trace %r (+-%r)" % (what, t, value, expected, tol)
            )

    def same(self, what, t, lines, getter, value):
        self.checked += 1
        expected = [getter(r) for r in lines]
        if value not in expected:
            self.items.append("%s at %.3f s: %r, trace %r" % (what, t, value, expected))

    def report(self):
        return "%d of %d checks failed:\n%s" % (
            len(self.items),
            self.checked,
            "\n".join(self.items[:30]),
        )


def mean_cell_c(r):
    cells = r["temps_dc"]["cells"]
    return sum(cells) / len(cells) / 10


def lim(key):
    return lambda r: r["limits"][key]


def check_pylon_frames(test, db, frames, trace_by_ms, ids):
    """Decode every frame of `ids` with the DBC (strictly) and compare it to the trace."""
    bad = Mismatches()
    for t, _us, can_id, ext, data in frames:
        if ext or can_id not in ids:
            continue
        try:
            v = db.decode_message(can_id, bytes(data), decode_choices=False)
        except Exception as exc:  # noqa: BLE001 - any decode error is the finding
            bad.items.append("0x%03X at %.3f s does not decode: %s" % (can_id, t, exc))
            continue
        lines = recent(trace_by_ms, t)
        if can_id == 0x351:
            bad.near("CVL mV", t, lines, lim("cvl_mv"), v["Charge_Voltage_Limit"] * 1000, 50.1)
            bad.near("CCL mA", t, lines, lim("ccl_ma"), v["Charge_Current_Limit"] * 1000, 100.1)
            bad.near("DCL mA", t, lines, lim("dcl_ma"), v["Discharge_Current_Limit"] * 1000, 100.1)
            bad.near("DVL mV", t, lines, lim("dvl_mv"), v["Discharge_Voltage_Limit"] * 1000, 50.1)
        elif can_id == 0x355:
            bad.near("SOC %", t, lines, lambda r: r["soc_pct"], v["SOC"], 1.0)
            bad.near("SOH %", t, lines, lambda r: r["soh_pct"], v["SOH"], 1.0)
            bad.near("SOC 0.01 %", t, lines, lambda r: r["soc_pct"], v["SOC_High_Res"], 0.0051)
        elif can_id == 0x356:
            bad.near("U mV", t, lines, lambda r: r["pack_mv"], v["Battery_Voltage"] * 1000, 10.1)
            bad.near(
                "I mA", t, lines, lambda r: r["current_ma"], v["Battery_Current"] * 1000, 100.1
            )
            bad.near("T C", t, lines, mean_cell_c, v["Battery_Temperature"], 0.1)
        elif can_id == 0x359:
            bad.same("0x359 modules", t, lines, lambda r: 1, v["Module_Count"])
            flags = [k for k, x in v.items() if k.startswith(("Protection_", "Warning_")) and x]
            quiet = [r for r in lines if not r["protections"] and not r["warnings"]]
            if flags and len(quiet) == len(lines):
                bad.items.append("0x359 at %.3f s: %s set, trace quiet" % (t, flags))
        elif can_id == 0x35C:
            bad.same("charge enable", t, lines, lim("charge_enable"), bool(v["Charge_Enable"]))
            bad.same(
                "discharge enable", t, lines, lim("discharge_enable"), bool(v["Discharge_Enable"])
            )
            bad.same("force charge", t, lines, lim("force_charge"), bool(v["Force_Charge_I"]))
            bad.same(
                "full charge", t, lines, lim("full_charge_request"), bool(v["Full_Charge_Request"])
            )
        elif can_id == 0x35E:
            name = bytes(v["Manufacturer_%d" % i] for i in range(8))
            test.assertTrue(name.startswith(b"PYLON"), name)
        elif can_id == 0x35F:
            bad.same("0x35F capacity Ah", t, lines, lambda r: CAPACITY_AH, v["Capacity"])
        elif can_id == 0x372:
            got = (v["Modules_OK"], v["Modules_Offline"])
            bad.same("0x372 modules ok, offline", t, lines, lambda r: (1, 0), got)
        elif can_id == 0x373:
            for name, pick in (("Min", min), ("Max", max)):
                bad.near(
                    name + " cell mV",
                    t,
                    lines,
                    lambda r, pick=pick: pick(r["cells_mv"]),
                    v[name + "_Cell_Voltage"],
                    0,
                )
                bad.near(
                    name + " cell K",
                    t,
                    lines,
                    lambda r, pick=pick: pick(r["temps_dc"]["cells"]) / 10 + 273,
                    v[name + "_Cell_Temperature"],
                    0.5,
                )
        elif can_id == 0x379:
            bad.same("0x379 capacity Ah", t, lines, lambda r: CAPACITY_AH, v["Installed_Capacity"])
    test.assertGreater(bad.checked, 0)
    test.assertEqual(bad.items, [], bad.report())


def check_periodic(test, per_id, ids, duration_s, ext=False):
    """Each id about once a second (count within 1 of the duration), never two closer
    than 200 ms."""
    for can_id in ids:
        got = per_id.get((can_id, ext), [])
        test.assertLessEqual(
            abs(len(got) - duration_s), 1, "0x%03X: %d frames" % (can_id, len(got))
        )
        gaps = [b[1] - a[1] for a, b in zip(got, got[1:])]
        test.assertGreaterEqual(min(gaps), MIN_GAP_US, "0x%03X" % can_id)


@cpython_only("python-pylontech, pyserial and a pseudo-terminal")
class PylontechClientTest(unittest.TestCase):
    """python-pylontech against `tools/sim.py --rs485-pty`, in real time, while the CAN
    link runs too. The CAN inverter is silent (it listens and obeys, sends no 0x305) until
    PTY_TALKING_S, so while the client polls, its RS485 requests are the only sign of an
    inverter: the polls must keep INVERTER_LOST away, its absence must raise it, and the
    CAN heartbeat must clear it again."""

    def setUp(self):
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def start_sim(self, argv, out_path):
        import subprocess
        import sys
        import time

        out = open(out_path, "w")
        self.addCleanup(out.close)
        self.proc = subprocess.Popen(
            [sys.executable, SIM] + argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
        deadline = time.monotonic() + PORT_LINE_TIMEOUT_S
        while True:
            with open(out_path) as f:
                text = f.read()
            for line in text.splitlines(True):
                if line.startswith("RS485 port: ") and line.endswith("\n"):
                    return line[len("RS485 port: ") :].strip(), time.monotonic()
            if self.proc.poll() is not None:
                self.fail(
                    "sim.py exited %d before its port line: %s" % (self.proc.returncode, text)
                )
            if time.monotonic() > deadline:
                self.fail(
                    "no 'RS485 port: ' line within %.0f s: %r" % (PORT_LINE_TIMEOUT_S, text[-500:])
                )
            time.sleep(0.01)

    def test_python_pylontech_reads_the_master_while_can_runs(self):
        import contextlib
        import time

        from pylontech import Pylontech

        from bms.config import Config
        from protocols import pylon_rs485

        build = ensure_build()
        scenario = write_scenario(
            "real_clients_pty.json",
            {
                "name": "python-pylontech on the pty, CAN inverter silent, 20 A discharge",
                "inverter": "can",
                "config": {"inverter_lost_ms": PTY_LOST_MS},
                "initial": {"soc_pct": 60, "temp_c": 25},
                "events": [
                    {"at_s": 0, "current_a": -20},
                    {"at_s": 0, "inverter": "silent"},
                    {"at_s": PTY_TALKING_S, "inverter": "talking"},
                ],
            },
        )
        trace_path = build + "/real_clients_pty.jsonl"
        log_path = build + "/real_clients_pty.log"
        port, t0 = self.start_sim(
            [
                "--rs485-pty",
                "--scenario",
                scenario,
                "--duration",
                str(PTY_DURATION_S),
                "--trace",
                trace_path,
                "--trace-ms",
                "1000",
                "--can-log",
                log_path,
            ],
            build + "/real_clients_pty.out",
        )
        client = Pylontech(serial_port=port, baudrate=9600)
        self.addCleanup(client.s.close)
        calls = {}

        def call(name, fn):
            sent = time.monotonic() - t0  # wall seconds since the port line
            with contextlib.redirect_stdout(io.StringIO()):  # get_management_info prints
                calls[name] = (sent, fn())

        # the identity calls first, the measurement calls once current flows (from ~4 s)
        call("version", client.get_protocol_version)
        call("manufacturer", client.get_manufacturer_info)
        call("parameters", client.get_system_parameters)
        call("values", client.get_values)
        call("management", lambda: client.get_management_info(2))
        call("serial", lambda: client.get_module_serial_number(2))
        client.s.close()
        last_sent = calls["serial"][0]
        # the warning must have time to show before the CAN inverter talks again
        self.assertLess(last_sent, PTY_TALKING_S - PTY_LOST_MS / 1000 - 1.5, "the client was slow")
        self.assertEqual(self.proc.wait(PTY_DURATION_S + 10), 0)
        trace = read_trace(trace_path)
        trace_by_s = {r["t_ms"] // 1000: r for r in trace}
        self.assertEqual(sorted(trace_by_s), list(range(int(PTY_DURATION_S) + 1)))

        def candidates(name):
            """The trace lines around a call's request (the simulation lags the wall clock
            by up to SIM_LAG_S)."""
            sent = calls[name][0]
            return [r for r in trace if sent - SIM_LAG_S <= r["t_ms"] / 1000 <= sent + 0.5]

        # 0x4F (ADR 0), 0x51 (ADR 0), 0x47, 0x93: identity and configuration
        version = calls["version"][1]
        self.assertEqual(
            (version.ver, version.adr, version.cid1, version.cid2, version.info),
            (b"\x33", b"\x02", b"\x46", b"\x00", b""),
        )
        maker = calls["manufacturer"][1]
        self.assertEqual(maker.DeviceName, pylon_rs485.BATTERY_NAME)
        self.assertEqual(bytes(maker.SoftwareVersion), pylon_rs485.SW_VERSION)
        self.assertEqual(maker.ManufacturerName, pylon_rs485.MANUFACTURER_NAME)
        cfg = Config()
        p = calls["parameters"][1]
        self.assertEqual(
            (p.CellHighVoltageLimit, p.CellLowVoltageLimit, p.CellUnderVoltageLimit),
            (cfg.covp_warn_mv / 1000, cfg.cuvp_warn_mv / 1000, cfg.cuvp_trip_mv / 1000),
        )
        self.assertEqual(
            (p.ModuleHighVoltageLimit, p.ModuleLowVoltageLimit, p.ModuleUnderVoltageLimit),
            (cfg.povp_warn_mv / 1000, cfg.puvp_warn_mv / 1000, cfg.puvp_trip_mv / 1000),
        )
        self.assertEqual(
            (p.ChargeHighTemperatureLimit, p.ChargeLowTemperatureLimit),
            (cfg.chtp_trip_dc / 10, cfg.cltp_trip_dc / 10),
        )
        self.assertEqual(
            (p.DischargeHighTemperatureLimit, p.DischargeLowTemperatureLimit),
            (cfg.dhtp_trip_dc / 10, cfg.dltp_trip_dc / 10),
        )
        self.assertEqual(p.ChargeCurrentLimit, cfg.ccl_ma // 100 / 10)
        self.assertEqual(p.DischargeCurrentLimit, -(cfg.dcl_ma // 100) / 10)  # negative
        serial = calls["serial"][1]
        self.assertEqual(serial.CommandValue, 2)
        self.assertEqual(serial.ModuleSerialNumber, b"E6614104032B1A01")  # the sim's pack 1

        # 0x42: the measurements against the trace line nearest the request
        values = calls["values"][1]
        self.assertEqual(values.NumberOfModules, 1)
        m = values.Module[0]
        self.assertEqual((m.NumberOfCells, m.NumberOfTemperatures), (16, 6))
        cells = [round(v * 1000) for v in m.CellVoltages]
        lines = candidates("values")
        self.assertTrue(lines)

        def worst_cell(r):
            return max(abs(a - b) for a, b in zip(cells, r["cells_mv"]))

        best = min(lines, key=worst_cell)
        self.assertLessEqual(
            worst_cell(best), 2, "cells %s, trace %s" % (cells, [r["cells_mv"] for r in lines])
        )
        self.assertLessEqual(abs(round(m.Voltage * 1000) - best["pack_mv"]), 10)
        self.assertLessEqual(abs(m.Current * 1000 - best["current_ma"]), 100)
        self.assertLess(m.Current, -19.0)  # the 20 A discharge flows
        soc = 100 * m.RemainingCapacity / m.TotalCapacity
        self.assertAlmostEqual(soc, best["soc_pct"], delta=1.0)
        self.assertAlmostEqual(values.StateOfCharge * 100, best["soc_pct"], delta=1.0)
        self.assertEqual(m.TotalCapacity, cfg.capacity_mah / 1000)
        temps = [m.AverageBMSTemperature] + list(m.GroupedCellsTemperatures)
        want = (
            [best["temps_dc"]["ambient"]] + best["temps_dc"]["cells"] + [best["temps_dc"]["mos"]]
        )
        for got, dc in zip(temps, want):
            self.assertAlmostEqual(got, dc / 10, delta=0.2, msg="temps %s vs %s" % (temps, want))

        # 0x92: the limits and requests, exactly as the trace has them
        mi = calls["management"][1]
        got = (
            round(mi.ChargeVoltageLimit * 1000),
            round(mi.DischargeVoltageLimit * 1000),
            round(mi.ChargeCurrentLimit * 10),
            round(mi.DischargeCurrentLimit * 10),
            mi.status.ChargeEnable,
            mi.status.DischargeEnable,
            mi.status.ChargeImmediately1 or mi.status.ChargeImmediately2,
            mi.status.FullChargeRequest,
        )
        expected = [
            (
                r["limits"]["cvl_mv"],
                r["limits"]["dvl_mv"],
                r["limits"]["ccl_ma"] // 100,
                -(r["limits"]["dcl_ma"] // 100),  # sent negative, as python-pylontech reads it
                r["limits"]["charge_enable"],
                r["limits"]["discharge_enable"],
                r["limits"]["force_charge"],
                r["limits"]["full_charge_request"],
            )
            for r in candidates("management")
        ]
        self.assertIn(got, expected)
        self.assertTrue(mi.status.ChargeEnable and mi.status.DischargeEnable)
        self.assertGreater(mi.ChargeCurrentLimit, 0)
        self.assertLess(mi.DischargeCurrentLimit, 0)

        # INVERTER_LOST: the client's polls were the only sign of an inverter; the warning
        # came PTY_LOST_MS after the last one and went when the CAN heartbeat resumed
        lost = events(trace, "WARN", "INVERTER_LOST")
        self.assertEqual(len(lost), 1, lost)
        heard_s = (lost[0]["t_ms"] - lost[0]["value"]) / 1000  # when it last spoke
        self.assertGreaterEqual(lost[0]["value"], PTY_LOST_MS)
        self.assertGreater(heard_s, last_sent - SIM_LAG_S)  # the last request was the last word
        self.assertLess(heard_s, last_sent + 0.5)
        # so no trace line showed it while the client polled, and every line from the
        # warning until the heartbeat resumed does
        showing = []
        for r in trace:
            if r["t_ms"] < lost[0]["t_ms"]:
                self.assertNotIn("INVERTER_LOST", r["warnings"], r["t_ms"])
            elif r["t_ms"] < PTY_TALKING_S * 1000:
                self.assertIn("INVERTER_LOST", r["warnings"], r["t_ms"])
                showing.append(r["t_ms"])
        self.assertTrue(showing)
        cleared = events(trace, "WARN_CLEAR", "INVERTER_LOST")
        self.assertEqual(len(cleared), 1, cleared)
        self.assertAlmostEqual(cleared[0]["t_ms"], PTY_TALKING_S * 1000, delta=200)
        self.assertNotIn("INVERTER_LOST", trace[-1]["warnings"])
        # the silent CAN inverter obeyed the limits all along: the discharge never stopped
        for r in trace[5:]:
            self.assertAlmostEqual(r["current_ma"], -20000, delta=200, msg=r["t_ms"])

        # CAN at the same time: the ID0 set once a second throughout, 0x305 only once the
        # inverter talks again
        import cantools

        frames, _lines = read_can_log(log_path, 0)
        start = frames[0][0]
        frames = [(t - start, round((t - start) * 1e6), i, x, d) for t, _u, i, x, d in frames]
        per_id = by_id(frames)
        for can_id in ID0_SET:
            n = len(per_id.get((can_id, False), []))
            self.assertLessEqual(abs(n - PTY_DURATION_S), 1.5, "0x%03X: %d frames" % (can_id, n))
        keepalives = [f[0] for f in per_id.get((0x305, False), [])]
        self.assertTrue(keepalives)
        self.assertGreater(min(keepalives), PTY_TALKING_S - 0.5)
        db = cantools.database.load_file(DBC, strict=True)
        during = [f for f in per_id[(0x356, False)] if 6 <= f[0] <= last_sent + 1]
        self.assertTrue(during)
        for f in during:
            current = db.decode_message(0x356, bytes(f[4]))["Battery_Current"]
            self.assertAlmostEqual(current, -20.0, delta=0.2)


@cpython_only("cantools and python-can")
class CanLogDecodeTest(unittest.TestCase):
    """`--can-log` (ID0, CAN inverter): python-can reads it, cantools decodes it with our
    DBC, victron_check and the monitor pass it, the values match the trace."""

    DURATION_S = 120

    def test_id0_log_decodes_and_matches_the_trace(self):
        import cantools
        import monitor
        import victron_check

        build = ensure_build()
        scenario = write_scenario(
            "real_clients_id0.json",
            {
                "name": "charge 30 A, then discharge 40 A",
                "inverter": "can",
                "initial": {"soc_pct": 50, "temp_c": 25},
                "events": [{"at_s": 0, "current_a": 30}, {"at_s": 60, "current_a": -40}],
            },
        )
        log_path = build + "/real_clients_id0.log"
        trace_path = build + "/real_clients_id0.jsonl"
        epoch, _out = run_sim_fast(
            "--scenario",
            scenario,
            "--fast",
            "--duration",
            str(self.DURATION_S),
            "--can-log",
            log_path,
            "--trace",
            trace_path,
            "--trace-ms",
            str(TRACE_MS),
        )
        trace = read_trace(trace_path)
        trace_by_ms = by_ms(trace)
        frames, lines = read_can_log(log_path, epoch)
        self.assertEqual(len(frames), len(lines))
        self.assertGreaterEqual(min(f[0] for f in frames), 0)
        self.assertLessEqual(max(f[0] for f in frames), self.DURATION_S)
        self.assertTrue(all(not f[3] and len(f[4]) == 8 for f in frames))  # 11-bit, 8 bytes
        per_id = by_id(frames)
        self.assertEqual(sorted(i for i, _x in per_id), sorted(ID0_SET + (0x305,)))
        check_periodic(self, per_id, ID0_SET + (0x305,), self.DURATION_S)

        # the scenario happened: charging, then discharging, as the inverter was told
        self.assertAlmostEqual(trace_by_ms[30000]["current_ma"], 30000, delta=300)
        self.assertAlmostEqual(trace_by_ms[90000]["current_ma"], -40000, delta=300)

        db = cantools.database.load_file(DBC, strict=True)
        check_pylon_frames(self, db, frames, trace_by_ms, ID0_SET)

        self.assertEqual(victron_check.check(lines), [])
        out = io.StringIO()
        self.assertEqual(monitor.main([log_path], out), 0)
        text = out.getvalue()
        self.assertEqual(len(text.splitlines()), len(lines))
        self.assertNotIn("!", text)


@cpython_only("cantools and python-can")
class OtherProtocolsTest(unittest.TestCase):
    """DIP protocol ID1 with Growatt's inverter, ID2 (Schneider), RS485 at 115200 baud."""

    DURATION_S = 30

    def run_logged(self, name, scenario, *argv):
        build = ensure_build()
        path = write_scenario("real_clients_%s.json" % name, scenario)
        log_path = build + "/real_clients_%s.log" % name
        trace_path = build + "/real_clients_%s.jsonl" % name
        epoch, _out = run_sim_fast(
            "--scenario",
            path,
            "--fast",
            "--duration",
            str(self.DURATION_S),
            "--can-log",
            log_path,
            "--trace",
            trace_path,
            "--trace-ms",
            str(TRACE_MS),
            *argv,
        )
        trace = read_trace(trace_path)
        frames, lines = read_can_log(log_path, epoch)
        return trace, by_ms(trace), frames, lines

    def test_id1_growatt(self):
        import cantools

        trace, trace_by_ms, frames, log_lines = self.run_logged(
            "growatt",
            {
                "name": "Growatt: charge 30 A, then discharge 20 A",
                "initial": {"soc_pct": 60, "temp_c": 25},
                "events": [{"at_s": 0, "current_a": 30}, {"at_s": 15, "current_a": -20}],
            },
            "--dip",
            "0000010",
            "--inverter",
            "growatt",
        )
        dip = events(trace, "DIP")[0]
        self.assertEqual((dip["what"], dip["value"]), ("0000010", 1))  # position 6: ID1
        self.assertTrue(all(not f[3] and len(f[4]) == 8 for f in frames))
        per_id = by_id(frames)
        ids = sorted(i for i, _x in per_id)
        self.assertEqual(ids, sorted((0x301,) + ID1_SET + GROWATT_SET))  # no 0x35A/0x35F/0x37x
        check_periodic(self, per_id, ID1_SET + (0x301,), self.DURATION_S)
        # the requests once the pack knows it is the master (it listens LISTEN_MS for a
        # pack upstream first, and a slave never answers: bms/addressing.py)
        requests = [f[0] for f in per_id[(0x301, False)] if f[0] >= LISTEN_MS / 1000]
        for can_id in GROWATT_SET:
            self.assertEqual(len(per_id[(can_id, False)]), len(requests), "0x%03X" % can_id)
        # after each 0x301, the whole Growatt set once, at once
        for k, t in enumerate(requests):
            end = requests[k + 1] if k + 1 < len(requests) else self.DURATION_S
            answer = [f for f in frames if t < f[0] < end and f[2] in GROWATT_SET]
            self.assertEqual(sorted(f[2] for f in answer), list(GROWATT_SET), "after %.3f s" % t)
            self.assertLess(max(f[0] for f in answer) - t, 0.1)
        # the Pylon ID1 set through the DBC
        db = cantools.database.load_file(DBC, strict=True)
        check_pylon_frames(self, db, frames, trace_by_ms, ID1_SET)
        # protocols.md 2c, big endian
        bad = Mismatches()
        for t, _us, can_id, _x, d in frames:
            lines = recent(trace_by_ms, t)
            if can_id == 0x311:
                bad.near("CVL mV", t, lines, lim("cvl_mv"), u16be(d, 0) * 100, 50)
                bad.near("CCL mA", t, lines, lim("ccl_ma"), u16be(d, 2) * 100, 100)
                bad.near("DCL mA", t, lines, lim("dcl_ma"), u16be(d, 4) * 100, 100)

                def status(r):
                    i = r["current_ma"]
                    return 2 if i > 0 else (3 if i < 0 else 1)

                bad.same("status", t, lines, status, u16be(d, 6) & 3)
            elif can_id == 0x313:
                bad.near("U mV", t, lines, lambda r: r["pack_mv"], u16be(d, 0) * 10, 10)
                bad.near("I mA", t, lines, lambda r: r["current_ma"], s16be(d, 2) * 100, 100)
                bad.near("SOC %", t, lines, lambda r: r["soc_pct"], d[6], 1.0)
                bad.near("SOH %", t, lines, lambda r: r["soh_pct"], d[7] & 0x7F, 1.0)
            elif 0x315 <= can_id <= 0x318:
                first = (can_id - 0x315) * 4
                for k in range(4):
                    bad.near(
                        "cell %d mV" % (first + k + 1),
                        t,
                        lines,
                        lambda r, i=first + k: r["cells_mv"][i],
                        u16be(d, 2 * k),
                        2,
                    )
            elif can_id == 0x319:
                bad.same("charge enable", t, lines, lim("charge_enable"), bool(d[0] & 0x80))
                bad.same("discharge enable", t, lines, lim("discharge_enable"), bool(d[0] & 0x40))
                bad.near("max cell mV", t, lines, lambda r: max(r["cells_mv"]), u16be(d, 1), 2)
                bad.near("min cell mV", t, lines, lambda r: min(r["cells_mv"]), u16be(d, 3), 2)
        self.assertEqual(bad.items, [], bad.report())
        # the Growatt inverter got its limits: it charged, then discharged, never lost
        self.assertAlmostEqual(trace_by_ms[10000]["current_ma"], 30000, delta=300)
        self.assertAlmostEqual(trace_by_ms[25000]["current_ma"], -20000, delta=300)
        self.assertFalse([r["t_ms"] for r in trace if "INVERTER_LOST" in r["warnings"]])

    def test_id2_schneider(self):
        trace, trace_by_ms, frames, log_lines = self.run_logged(
            "schneider",
            {
                "name": "Schneider gateway: discharge 20 A",
                "initial": {"soc_pct": 60, "temp_c": 25},
                "events": [{"at_s": 0, "current_a": -20}],
            },
            "--dip",
            "0000001",
        )
        dip = events(trace, "DIP")[0]
        self.assertEqual((dip["what"], dip["value"]), ("0000001", 2))  # position 7: ID2
        # every frame 29-bit, written with 8 hex digits
        self.assertTrue(all(f[3] for f in frames))
        for line in log_lines:
            ident = line.split()[2].split("#")[0]
            self.assertEqual(len(ident), 8, line)
        per_id = by_id(frames)
        self.assertEqual(sorted(i for i, _x in per_id), sorted(list(SCHNEIDER_PERIODS) + [0x310]))
        heartbeats = per_id[(0x310, True)]
        self.assertLessEqual(abs(len(heartbeats) - self.DURATION_S), 1)
        for can_id, period_ms in sorted(SCHNEIDER_PERIODS.items()):
            got = per_id[(can_id, True)]
            # every period from the first, which comes in the first period after the
            # pack speaks (LISTEN_MS and the new master's hold: packlink_init.py)
            first_ms = got[0][1] // 1000
            self.assertLess(first_ms, 800 + period_ms, "0x%03X" % can_id)
            self.assertLessEqual(
                abs(len(got) - (self.DURATION_S * 1000 - first_ms) / period_ms),
                1,
                "0x%03X" % can_id,
            )
            for a, b in zip(got, got[1:]):
                self.assertLessEqual(
                    abs(b[1] - a[1] - period_ms * 1000),
                    PERIOD_TOLERANCE_US,
                    "0x%03X at %.3f s" % (can_id, b[0]),
                )
        self.assertEqual(len(per_id[(0x324, True)][0][4]), 4)  # protocols.md 3: DLC 4
        self.assertEqual(len(per_id[(0x325, True)][0][4]), 6)  # DLC 6
        bad = Mismatches()
        for t, _us, can_id, _x, d in frames:
            lines = recent(trace_by_ms, t)
            if can_id == 0x321:
                bad.near("CVL mV", t, lines, lim("cvl_mv"), u32be(d, 0) * 10, 10)
                bad.near("DVL mV", t, lines, lim("dvl_mv"), u32be(d, 4) * 10, 10)
            elif can_id == 0x322:
                bad.near("CCL mA", t, lines, lim("ccl_ma"), s32be(d, 0) * 10, 10)
                bad.near("DCL mA", t, lines, lim("dcl_ma"), s32be(d, 4) * 10, 10)
            elif can_id == 0x323:
                bad.near("U mV", t, lines, lambda r: r["pack_mv"], u32be(d, 0) * 10, 10)
                bad.near("I mA", t, lines, lambda r: r["current_ma"], s32be(d, 4) * 10, 10)
            elif can_id == 0x324:
                bad.near("SOC %", t, lines, lambda r: r["soc_pct"], u16be(d, 2) / 10, 0.1)
            elif can_id == 0x325:
                cmd = u16be(d, 0)
                bad.same("force charge", t, lines, lim("force_charge"), bool(cmd & 1))
                bad.same("charge permitted", t, lines, lim("charge_enable"), bool(cmd & 2))
                bad.same("discharge permitted", t, lines, lim("discharge_enable"), bool(cmd & 4))
        self.assertEqual(bad.items, [], bad.report())
        # the gateway obeyed: the discharge flows, the heartbeat keeps the link
        self.assertAlmostEqual(trace_by_ms[20000]["current_ma"], -20000, delta=300)
        self.assertFalse([r["t_ms"] for r in trace if "INVERTER_LOST" in r["warnings"]])

    def test_rs485_inverter_at_115200_baud(self):
        build = ensure_build()
        scenario = write_scenario(
            "real_clients_115200.json",
            {
                "name": "RS485 inverter at 115200: discharge 20 A, then charge 30 A",
                "initial": {"soc_pct": 60, "temp_c": 25},
                "events": [{"at_s": 0, "current_a": -20}, {"at_s": 15, "current_a": 30}],
            },
        )
        trace_path = build + "/real_clients_115200.jsonl"
        run_sim_fast(
            "--scenario",
            scenario,
            "--dip",
            "1000000",
            "--inverter",
            "rs485",
            "--fast",
            "--duration",
            str(self.DURATION_S),
            "--trace",
            trace_path,
            "--trace-ms",
            "1000",
        )
        trace = read_trace(trace_path)
        trace_by_s = {r["t_ms"] // 1000: r for r in trace}
        dip = events(trace, "DIP")[0]
        # position 1 ON: 115200 baud (the event's extra is the baud rate / 100), ID0
        self.assertEqual((dip["what"], dip["value"], dip["extra"]), ("1000000", 0, 1152))
        # the RS485 inverter read its limits (0x92) and obeyed them, both ways
        for s in range(6, 15):
            self.assertAlmostEqual(trace_by_s[s]["current_ma"], -20000, delta=300, msg=s)
        for s in range(17, self.DURATION_S + 1):
            self.assertAlmostEqual(trace_by_s[s]["current_ma"], 30000, delta=300, msg=s)
        self.assertTrue(trace_by_s[10]["limits"]["discharge_enable"])
        self.assertFalse([r["t_ms"] for r in trace if "INVERTER_LOST" in r["warnings"]])


@cpython_only("with the real-client link tests (one runtime is enough for a finding)")
class LinkEventTest(unittest.TestCase):
    # the grace time after boot (INVERTER_LOST counts from boot) is not a sign of life
    def test_no_inverter_heard_event_without_an_inverter(self):
        trace_path = ensure_build() + "/real_clients_no_inverter.jsonl"
        run_sim_fast("--inverter", "none", "--fast", "--duration", "10", "--trace", trace_path)
        heard = events(read_trace(trace_path), "COMM", "inverter")
        self.assertEqual(heard, [], "an inverter 'heard' with none on the link")
