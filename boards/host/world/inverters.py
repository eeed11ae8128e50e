"""The simulated inverter on the master's Link IN: it talks as real ones do and obeys.

Kinds (sim.md `--inverter`):
- CanInverter: on the CAN bus. With the Pylon/Victron sets (DIP protocol ID0 and ID1) it
  sends the 0x305 keep-alive every second (8 x 00, as Victron and Deye do) and reads
  0x351 (limits), 0x356 (voltage) and 0x35C (requests); variant "growatt" sends Growatt's
  0x301 request every second instead and reads 0x311/0x313/0x319; with protocol ID2 it
  is a Schneider gateway: 29-bit 0x310 heartbeat, reading 0x321/0x322/0x323/0x325;
  variant "sma" is a Sunny Island (protocols.md 2a): its 0x305 carries its readings, and
  it silently rejects a 0x351 value outside its range, keeping the last one it took.
- Rs485Inverter: the Pylon RS485 master: every second it asks 0x42 (analog values) and
  0x92 (charge/discharge management) of address 2, each a turnaround (4 ms) after the
  previous reply's last byte (or after a 500 ms timeout); its frames are built here,
  independently of the firmware's codec.
Both decode with their own code (not the firmware's), so a wrong byte in the firmware
shows up as a wrong current in the simulation.

What it does with the pack (sim.md): `current_a` is what the site asks of it. It caps
charging at CCL and discharging at DCL, charges only with charge enable and discharges
only with discharge enable, stops discharging at DVL (until the pack is 2 V above it),
charges at FORCE_CHARGE_A on a force-charge request, and holds the pack at CVL as a
charger in constant voltage does (a source at CVL behind the pack's resistance); with
no source (event "inverter": "no_source", a night off-grid) it charges not at all.
Without fresh limits from the BMS for BMS_TIMEOUT_US it stops using the battery.
"""

import micropython
from micropython import const

CONTROL_US = const(1000000)  # how often it re-decides its current
BMS_TIMEOUT_US = const(10000000)
FORCE_CHARGE_A = 10.0
DVL_RESUME_MV = const(2000)
HEARTBEAT_US = const(1000000)
_KEEPALIVE = (0x305, False, False, bytes(8))
_GROWATT_REQUEST = (0x301, False, False, bytes((0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88)))
_SCHNEIDER_HEARTBEAT = (0x310, True, False, bytes(8))
# a Sunny Island's 0x351 ranges (0.1 V, 0.1 A) by byte offset, and its defaults
SMA_RANGES = ((0, 410, 630), (2, 0, 1200), (4, 0, 1200), (6, 410, 480))
SMA_DEFAULTS = (54000, 0, 0, 41000)
SMA_TEMP_DC = 250  # the battery temperature it reports (its own sensor's)


def u16le(d, k):
    return d[k] | d[k + 1] << 8


def s16le(d, k):
    v = u16le(d, k)
    return v - 0x10000 if v & 0x8000 else v


def u16be(d, k):
    return d[k] << 8 | d[k + 1]


def s16be(d, k):
    v = u16be(d, k)
    return v - 0x10000 if v & 0x8000 else v


def u32be(d, k):
    return d[k] << 24 | d[k + 1] << 16 | d[k + 2] << 8 | d[k + 3]


def s32be(d, k):
    v = u32be(d, k)
    return v - 0x100000000 if v & 0x80000000 else v


class Inverter:
    """What every kind shares: the BMS's last requests and the current they allow."""

    def __init__(self, clock):
        self.clock = clock
        self.silent = False
        self.cvl_mv = 0
        self.ccl_ma = 0
        self.dcl_ma = 0
        self.dvl_mv = 0
        self.pack_mv = 0
        self.charge_enable = False
        self.discharge_enable = False
        self.force_charge = False
        self.limits_us = None  # when the limits last came
        self.low_cut = False
        self.current_a = 0.0
        self.source = True  # something to charge from (False: a night off-grid)
        self.pushing = False  # it charges now, or would if a pack's FETs let it

    @micropython.native
    def fresh(self, now_us):
        return self.limits_us is not None and now_us - self.limits_us <= BMS_TIMEOUT_US

    @micropython.native
    def decide(self, demand_a, model, now_us):
        """The current (A, + charging) it drives into the pack now."""
        self.pushing = False
        if not self.fresh(now_us):
            self.current_a = 0.0
            return 0.0
        if self.pack_mv and self.pack_mv <= self.dvl_mv:
            self.low_cut = True
        elif self.pack_mv >= self.dvl_mv + DVL_RESUME_MV:
            self.low_cut = False
        amps = demand_a
        if self.force_charge and amps < FORCE_CHARGE_A:
            amps = FORCE_CHARGE_A
        if amps > 0:
            if not (self.charge_enable and self.source):
                amps = 0.0
            else:
                self.pushing = True
                ccl = self.ccl_ma / 1000.0
                if amps > ccl:
                    amps = ccl
                cv = model.current_at(self.cvl_mv / 1000.0)
                if amps > cv:
                    amps = cv if cv > 0 else 0.0
        elif amps < 0:
            if not self.discharge_enable or self.low_cut:
                amps = 0.0
            elif amps < -self.dcl_ma / 1000.0:
                amps = -self.dcl_ma / 1000.0
        self.current_a = amps
        return amps

    def limits_dict(self):
        return {
            "cvl_mv": self.cvl_mv,
            "ccl_ma": self.ccl_ma,
            "dcl_ma": self.dcl_ma,
            "dvl_mv": self.dvl_mv,
        }


class CanInverter(Inverter):
    """A CAN bus node (boards/host/world/bus/canbus.py)."""

    def __init__(self, clock, variant="pylon"):
        Inverter.__init__(self, clock)
        self.variant = variant  # pylon, growatt or schneider
        self.queue = []
        self.next_hb_us = 0
        self.received = {}  # id -> count
        if variant == "growatt":
            self.heartbeat = _GROWATT_REQUEST
        elif variant == "schneider":
            self.heartbeat = _SCHNEIDER_HEARTBEAT
        else:
            self.heartbeat = _KEEPALIVE
        self._req = 0  # Schneider's 0x325 commands, Growatt's 0x319 byte 0
        self.rejected = 0  # a Sunny Island's: 0x351 values outside its ranges
        self.soc_pct = 0
        if variant == "sma":
            self.cvl_mv, self.ccl_ma, self.dcl_ma, self.dvl_mv = SMA_DEFAULTS

    @micropython.native
    def next_event_us(self):
        return None if self.silent else self.next_hb_us

    @micropython.native
    def step(self, now_us):
        if not self.silent and now_us >= self.next_hb_us:
            if self.variant == "sma":
                self.heartbeat = self._sma_readings()
            self.queue.append(self.heartbeat)
            if self.bus is not None:
                self.bus.quiet = False
                self.bus.retry_checked = None
            self.next_hb_us += HEARTBEAT_US
            if self.next_hb_us <= now_us:
                self.next_hb_us = now_us + HEARTBEAT_US

    def _sma_readings(self):
        """A Sunny Island's 0x305: battery voltage (0.1 V), current (0.1 A, negative while
        charging), temperature (0.1 C), SOC (0.1 %)."""
        d = bytearray(8)
        values = (self.pack_mv // 100, round(-self.current_a * 10), SMA_TEMP_DC, self.soc_pct * 10)
        for i, v in enumerate(values):
            d[2 * i] = v & 0xFF
            d[2 * i + 1] = (v >> 8) & 0xFF
        return (0x305, False, False, bytes(d))

    def set_silent(self, silent, now_us):
        self.silent = silent
        if not silent and self.next_hb_us <= now_us:
            self.next_hb_us = now_us

    # -- CAN node -------------------------------------------------------------------------
    bus = None

    def can_attached(self, bus):
        self.bus = bus

    @micropython.native
    def can_quiet(self):
        return not self.queue

    can_tells_changes = True  # its offer changes in step() (which tells) and can_sent()

    @micropython.native
    def can_offer(self):
        return self.queue[0] if self.queue else None

    def can_sent(self, frame, t_us):
        self.queue.pop(0)

    @micropython.native
    def can_receive(self, frame, t_us):
        can_id, ext, rtr, d = frame
        self.received[can_id] = self.received.get(can_id, 0) + 1
        if rtr:
            return
        v = self.variant
        if v == "schneider":
            if not ext:
                return
            self._schneider(can_id, d, t_us)
        elif ext:
            return
        elif v == "growatt":
            self._growatt(can_id, d, t_us)
        elif v == "sma" and can_id == 0x351 and len(d) >= 8:
            self._sma_limits(d, t_us)
        else:
            self._pylon(can_id, d, t_us)

    @micropython.native
    def _pylon(self, can_id, d, t_us):
        if can_id == 0x351 and len(d) >= 8:
            self.cvl_mv = u16le(d, 0) * 100
            self.ccl_ma = s16le(d, 2) * 100
            self.dcl_ma = s16le(d, 4) * 100
            self.dvl_mv = u16le(d, 6) * 100
            self.limits_us = t_us
        elif can_id == 0x356 and len(d) >= 2:
            self.pack_mv = s16le(d, 0) * 10
        elif can_id == 0x355 and len(d) >= 2:
            self.soc_pct = u16le(d, 0)
        elif can_id == 0x35C and len(d) >= 1:
            self.charge_enable = bool(d[0] & 0x80)
            self.discharge_enable = bool(d[0] & 0x40)
            self.force_charge = bool(d[0] & 0x30)

    def _sma_limits(self, d, t_us):
        """0x351 as a Sunny Island takes it: each value within its range, or the last
        one it took (SMA: "values outside the allowed range are silently rejected")."""
        now = [self.cvl_mv // 100, self.ccl_ma // 100, self.dcl_ma // 100, self.dvl_mv // 100]
        for i, (k, lo, hi) in enumerate(SMA_RANGES):
            v = s16le(d, k) if k in (2, 4) else u16le(d, k)
            if lo <= v <= hi:
                now[i] = v
            else:
                self.rejected += 1
        self.cvl_mv, self.dvl_mv = now[0] * 100, now[3] * 100
        self.ccl_ma, self.dcl_ma = now[1] * 100, now[2] * 100
        self.limits_us = t_us

    def _growatt(self, can_id, d, t_us):
        if can_id == 0x311 and len(d) >= 6:
            self.cvl_mv = u16be(d, 0) * 100
            self.ccl_ma = u16be(d, 2) * 100
            self.dcl_ma = u16be(d, 4) * 100
            self.dvl_mv = 48000  # Growatt's set carries no discharge voltage: its own cut-off
            self.limits_us = t_us
        elif can_id == 0x313 and len(d) >= 2:
            self.pack_mv = u16be(d, 0) * 10
        elif can_id == 0x319 and len(d) >= 1:
            self.charge_enable = bool(d[0] & 0x80)
            self.discharge_enable = bool(d[0] & 0x40)
            self.force_charge = bool(d[0] & 0x30)

    def _schneider(self, can_id, d, t_us):
        if can_id == 0x321 and len(d) >= 8:
            self.cvl_mv = u32be(d, 0) * 10
            self.dvl_mv = u32be(d, 4) * 10
        elif can_id == 0x322 and len(d) >= 8:
            self.ccl_ma = s32be(d, 0) * 10
            self.dcl_ma = s32be(d, 4) * 10
            self.limits_us = t_us
        elif can_id == 0x323 and len(d) >= 4:
            self.pack_mv = u32be(d, 0) * 10
        elif can_id == 0x325 and len(d) >= 2:
            cmd = u16be(d, 0)
            self.force_charge = bool(cmd & 1)
            self.charge_enable = bool(cmd & 2)
            self.discharge_enable = bool(cmd & 4)


# -- the Pylon RS485 master ----------------------------------------------------------------


def rs485_request(adr, cid2, info=b""):
    """A Pylon V3.3 request frame (VER 0x20, CID1 0x46) with binary INFO."""
    lenid = 2 * len(info)
    lchk = (-((lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF))) & 0xF
    body = "%02X%02X%02X%02X%04X" % (0x20, adr, 0x46, cid2, lchk << 12 | lenid)
    body += "".join(["%02X" % v for v in info])
    total = 0
    for c in body:
        total += ord(c)
    return ("~%s%04X\r" % (body, (-total) & 0xFFFF)).encode()


def rs485_parse(raw):
    """(ver, adr, rtn, info bytes) of a reply frame, or None if it is not a valid one."""
    if len(raw) < 18 or raw[0] != 0x7E or raw[-1] != 0x0D:
        return None
    body = raw[1:-5]
    total = 0
    for c in body:
        total += c
    try:
        check = int(raw[-5:-1].decode(), 16)
        text = body.decode()
        if len(text) & 1:
            return None
        fields = bytes([int(text[i : i + 2], 16) for i in range(0, len(text), 2)])
    except (ValueError, UnicodeError):
        return None
    if check != (-total) & 0xFFFF or len(fields) < 6:
        return None
    lenid = (fields[4] << 8 | fields[5]) & 0xFFF
    info = fields[6:]
    if lenid != 2 * len(info):
        return None
    return fields[0], fields[1], fields[3], info


class Rs485Inverter(Inverter):
    """The master on the RS485 wire (boards/host/world/bus/uart.py Port).

    turnaround_us: how long after a reply's last byte it sends its next request. A
    master turns its own line around and parses the reply first; 4 ms is about the
    Modbus RTU 3.5-character silence at 9600 baud. With 0 it sends as soon as it has
    read the reply (in the simulator possibly the microsecond the reply ends), which a
    battery that has not yet released DE (its receiver off, /RE tied to DE) loses."""

    POLLS = (0x42, 0x92)
    REPLY_TIMEOUT_US = 500000
    TURNAROUND_US = 4000

    def __init__(self, clock, port, address=2, turnaround_us=TURNAROUND_US):
        Inverter.__init__(self, clock)
        self.port = port
        self.address = address
        self.turnaround_us = turnaround_us
        self.next_cycle_us = 0
        self.step_i = -1  # index into POLLS of the request in flight, -1 idle
        self.send_at_us = None  # the next request of this cycle waits for the turnaround
        self.sent_end_us = 0
        self.deadline_us = 0
        self.rx = bytearray()
        self.replies = 0
        self.timeouts = 0
        self.bad = 0
        self.reply_us = []  # last request byte -> first reply byte, per reply
        self._first_us = None
        self._buf = bytearray(64)
        self._frames = {}  # address << 8 | cid2 -> request frame

    @micropython.native
    def next_event_us(self):
        if self.send_at_us is not None:
            return self.send_at_us
        if self.step_i >= 0:
            return self.deadline_us
        return None if self.silent else self.next_cycle_us

    def set_silent(self, silent, now_us):
        self.silent = silent
        if not silent and self.next_cycle_us <= now_us:
            self.next_cycle_us = now_us

    def _send(self, now_us):
        cid2 = self.POLLS[self.step_i]
        key = self.address << 8 | cid2
        frame = self._frames.get(key)
        if frame is None:  # the same request every time: built once
            frame = rs485_request(self.address, cid2, bytes((self.address,)))
            self._frames[key] = frame
        self.port.write(frame)
        self.sent_end_us = self.port.tx_end_us
        self.deadline_us = self.sent_end_us + self.REPLY_TIMEOUT_US
        self.rx = bytearray()
        self._first_us = None

    def step(self, now_us):
        port = self.port
        port.take_wake(now_us)
        while True:
            n = port.read_into(self._buf, len(self._buf))
            if not n:
                break
            if self._first_us is None and self.step_i >= 0:
                self._first_us = port.burst_start_us  # the reply's first start bit
            self.rx += self._buf[:n]
        if self.send_at_us is not None:
            if now_us >= self.send_at_us:
                self.send_at_us = None
                if self.silent:
                    self.step_i = -1
                else:
                    self._send(now_us)
        elif self.step_i >= 0:
            rx = bytes(self.rx)
            soi = rx.find(b"~")
            if soi >= 0 and rx[-1:] == b"\r":
                self._reply(rx[soi:], now_us)
                self._advance(now_us, port.rx_last_us + self.turnaround_us)
            elif now_us >= self.deadline_us:
                self.timeouts += 1
                self._advance(now_us, now_us)
        elif not self.silent and now_us >= self.next_cycle_us:
            self.next_cycle_us += 1000000
            if self.next_cycle_us <= now_us:
                self.next_cycle_us = now_us + 1000000
            self.step_i = 0
            self._send(now_us)

    def _advance(self, now_us, send_at_us):
        self.step_i += 1
        if self.step_i >= len(self.POLLS) or self.silent:
            self.step_i = -1
        elif send_at_us > now_us:
            self.send_at_us = send_at_us
        else:
            self._send(now_us)

    def _reply(self, raw, now_us):
        got = rs485_parse(raw)
        if got is None or got[2] != 0:
            self.bad += 1
            return
        self.replies += 1
        if self._first_us is not None:
            self.reply_us.append(self._first_us - self.sent_end_us)
        info = got[3]
        cid2 = self.POLLS[self.step_i]
        if cid2 == 0x92 and len(info) >= 10:
            self.cvl_mv = u16be(info, 1)
            self.dvl_mv = u16be(info, 3)
            self.ccl_ma = s16be(info, 5) * 100
            self.dcl_ma = -s16be(info, 7) * 100  # sent negative
            flags = info[9]
            self.charge_enable = bool(flags & 0x80)
            self.discharge_enable = bool(flags & 0x40)
            self.force_charge = bool(flags & 0x30)
            self.limits_us = now_us
        elif cid2 == 0x42 and len(info) >= 3:
            cells = info[2]
            k = 3 + 2 * cells
            if len(info) > k:
                k += 1 + 2 * info[k]  # temperatures
                if len(info) >= k + 4:
                    self.pack_mv = u16be(info, k + 2)
