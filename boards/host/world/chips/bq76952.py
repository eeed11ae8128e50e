"""A register-level simulation of the TI BQ76952 on the host board's I2C bus.

It answers the firmware as the chip does on the wire (TI SLUSE13 / SLUUBY2; the facts we
rely on are listed in ../shared/spec/hardware.md section 1):
- direct commands, little-endian, with auto-increment block reads;
- subcommands through 0x3E/0x3F, the response in 0x40.. with its checksum and length in
  0x60/0x61; writes with data are executed when 0x60/0x61 arrive with a good checksum;
- data memory (0x9180-0x93FF): reads return a 32-byte block; writes are taken only in
  CONFIG_UPDATE (Battery Status bit 0), which stops the chip's measurements and
  protections and turns the FETs off, as the chip does;
- the I2C CRC mode (Comm Type 0x11/0x12, taken at SWAP_COMM_MODE, or at reset when
  `otp_crc` says the OTP holds it): every byte followed by a CRC-8; a bad CRC in a write
  is NACKed (OSError);
- Battery Status POR, set by a reset (power_on_reset(), the RESET subcommand, the
  simulator's `afe_reset` fault) and cleared by EXIT_CFGUPDATE; SLEEP_EN, from Power
  Config at reset and the SLEEP_ENABLE/SLEEP_DISABLE subcommands;
- the FETs: FET_EN (FET_ENABLE toggles it), FET_CONTROL, the CFETOFF/DFETOFF pins, and
  the chip's own protections (COV, CUV, OCC, OCD1/2, SCD, OTC/OTD/OTF, UTC/UTD) with the
  thresholds and FET actions in its data memory;
- host balancing (CB_ACTIVE_CELLS): the bleed current on the model's cells, ended by the
  chip itself after Cell Balance Interval without a new command, refused for adjacent
  cells, more cells than Cell Balance Max Cells, or outside its temperature limits;
- the current through the CC Gain written to it (a wrong gain reads wrong, as on a board).

refresh() copies the pack model into the register image the way the chip's measurement
loop does, with measurement noise and the simulator's overrides and faults applied.
Reads only copy bytes, so a firmware tick against this chip allocates nothing.
"""

import errno
import math
import struct

import micropython
from micropython import const

from boards.host.world.pack_model import N_CELLS

try:
    from operator import add
except ImportError:  # MicroPython: refresh() takes its index loop
    add = None

DEVICE_NUMBER = const(0x7695)
FW_VERSION = const(0x0100)
KELVIN_DC = const(2732)
# SCD thresholds, mV across the shunt (TRM SLUUBY2, Protections:SCD:Threshold)
_SCD_MV = (10, 20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500)
R_SENSE_UOHM = const(250)  # the shunt on the simulated board (boards/host/board.py says the same)
BLEED_OHM = 56.0  # external balancing resistors

# FET Status bits
_CHG_FET = const(0x01)
_DSG_FET = const(0x04)
_MFG_FET_EN = const(0x10)
_FC_DSG_OFF = const(0x01)
_FC_CHG_OFF = const(0x04)

# temperature registers, by Sample slot: TS1, TS2, TS3, HDQ (cells), DCHG (ambient), DDSG (MOS)
TEMP_REGS = (0x70, 0x72, 0x74, 0x76, 0x78, 0x7A)
_T_INT = const(0x68)

_DM_BASE = const(0x9180)
_DM_SIZE = const(0x280)
# data-memory defaults after reset that the chip's behaviour reads (TRM)
_DM_DEFAULTS = (
    (0x91A8, struct.pack("<f", 7.4768)),  # CC Gain
    (0x91AC, struct.pack("<f", 2230042.46)),  # Capacity Gain
    (0x9239, b"\x00"),  # Comm Type: default (fast I2C, no CRC)
    (0x9234, struct.pack("<H", 0x2982)),  # Power Config: SLEEP allowed
    (0x92FD, b"\x07"),  # TS1 thermistor
    (0x9303, b"\x05"),  # DA Configuration: 1 mA, 10 mV
    (0x9308, b"\x0d"),  # FET Options
    (0x9261, b"\x88"),  # Enabled Protections A: COV SCD
    (0x9265, b"\x98"),  # CHG FET Protections A
    (0x9266, b"\xd5"),  # CHG FET Protections B
    (0x9269, b"\xe4"),  # DSG FET Protections A
    (0x926A, b"\xe6"),  # DSG FET Protections B
    (0x9275, bytes((50,))),  # CUV 2530 mV
    (0x9276, struct.pack("<H", 74)),
    (0x9278, bytes((86,))),  # COV 4352 mV
    (0x9279, struct.pack("<H", 74)),
    (0x9280, bytes((2,))),  # OCC 4 mV
    (0x9281, bytes((4,))),
    (0x9282, bytes((4,))),  # OCD1 8 mV
    (0x9283, bytes((1,))),
    (0x9284, bytes((3,))),  # OCD2 6 mV
    (0x9285, bytes((7,))),
    (0x9286, bytes((0,))),  # SCD 10 mV
    (0x9287, bytes((2,))),
    (0x9294, bytes((5,))),
    (0x929A, bytes((55,))),  # OTC
    (0x929D, bytes((60,))),  # OTD
    (0x92A0, bytes((80,))),  # OTF
    (0x92A6, bytes((0,))),  # UTC
    (0x92A9, bytes((0,))),  # UTD
    (0x9336, bytes((0xEC,))),  # balancing min cell temp -20 C
    (0x9337, bytes((60,))),
    (0x9338, bytes((70,))),
    (0x9339, bytes((20,))),  # Cell Balance Interval, s
    (0x933A, bytes((1,))),  # Cell Balance Max Cells
)
SCD_MV = (10, 20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500)
# what each of the chip's protections compares (indexes into refresh's measurements;
# under-limits are negated so every check is value >= threshold)
_MAX_CELL, _MIN_CELL, _CHARGE_MA, _DISCHARGE_MA, _CELL_T, _FET_T, _COLD_T = range(7)


def crc8(data, crc=0):
    """CRC-8, poly 0x07, init 0, bit by bit (written apart from the driver's table)."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC1 = bytes(crc8((i,)) for i in range(256))  # the CRC of one byte, for speed
_FAST_FRAME = hasattr(bytes, "translate")  # CPython: framing by slices
ptr8 = int  # viper's pointer type, named for CPython (annotations are evaluated)


@micropython.viper
def _frame_bytes(regs: ptr8, framed: ptr8, t: ptr8, lo: int, hi: int):
    """framed[2 r], framed[2 r + 1] = regs[r], its CRC, for r in lo..hi-1 (MicroPython:
    machine code, where a loop of subscripts costs more than the rest of a reading)."""
    r = lo
    while r < hi:
        d = regs[r]
        framed[2 * r] = d
        framed[2 * r + 1] = t[d]
        r += 1


@micropython.viper
def _put_cells(regs: ptr8, vals) -> int:
    """struct.pack_into("<16h", regs, 0x14, *vals) for MicroPython, where the star-args
    call allocates its arguments on the heap; 0 at a value that does not fit 16 bits, for
    struct itself to refuse it as it would have (a scenario's values always fit)."""
    i = 0
    while i < 16:
        v = int(vals[i])
        if v < -32768 or v > 32767:
            return 0
        regs[0x14 + 2 * i] = v
        regs[0x15 + 2 * i] = v >> 8
        i += 1
    return 1


_FOREVER_C = 1e9
_SLACK_MARGIN_C = 1e-9  # far above the float error of a zone's few operations (1e-14)


def _step_room(temp_c):
    """How far temp_c may move (C) without int(temp_c * 10 + 0.5) changing, or 0."""
    y = temp_c * 10 + 0.5
    d = y - math.floor(y)
    if 1 - d < d:
        d = 1 - d
    return d / 10


class BQ76952Sim:
    def __init__(self, model, rng):
        self.model = model
        self.regs = bytearray(256)
        self._mv = memoryview(self.regs)
        self._views = {}
        self.framed = bytearray(512)  # the registers as CRC mode sends them: data, CRC
        self._framed_mv = memoryview(self.framed)
        self._unframed = bytearray(64)
        self._unframed_mv = memoryview(self._unframed)
        self.lost = False  # afe_lost: stops answering
        self.crc_corrupt = False  # afe_crc: every reply byte arrives with a bit flipped
        self.corrupt = None  # a test's noise: called with each reply buffer, may flip bits
        self.otp_crc = False  # Comm Type programmed in OTP: the chip powers up in CRC mode
        self.cell_override = [None] * N_CELLS  # mV the chip reports instead of the model
        self.stack_override = None
        self.temp_override = [None] * len(TEMP_REGS)
        self.ntc_fault = [None] * len(TEMP_REGS)  # 0.1 degC an open/shorted NTC reads as
        self.current_offset_ma = 0
        self.current_gain_permille = 0  # sensor gain error, 0.1 %
        self.open_cells = 0  # bit mask of cells whose sense wire is off
        self.cfetoff = None
        self.dfetoff = None
        self.reads = 0
        self.writes = 0
        self.t_ms = 0
        noise = []
        for _ in range(1021):
            noise.append(rng.next() % 3 - 1)
        # 1021 values in a ring, its start repeated after its end so that the cells'
        # indices (up to 37 * 15 past the start) need no modulo
        self._noise = noise + noise[: 37 * (N_CELLS - 1) + 1]
        self._noise_at = 0
        self._cell_vals = [0] * N_CELLS
        self._rounded = [0] * N_CELLS  # the model's cells rounded to mV
        self._cells_seen = -1  # the model's cells_version they were rounded from
        self._t_seen = (None, None, None)
        self._ntc_seen = None
        self._over_seen = None
        self._die = -1  # the die temperature register, as last written (-1: never)
        self._dm_seq = 0  # counts the changes of data memory
        self._pw_cells = -1  # what _pack_words() last computed from (-1: nothing yet)
        self.temps_dc = [250] * len(TEMP_REGS)  # what the sensors read now (0.1 C)
        self.power_on_reset()

    # -- state -------------------------------------------------------------------------
    def power_on_reset(self):
        """The chip powers up (with the BMS): registers and data memory to defaults."""
        self.dm = bytearray(_DM_SIZE)
        for address, data in _DM_DEFAULTS:
            self._dm_put(address, data)
        self.crc = self.otp_crc
        self.cfgupdate = False
        self.por = True  # Battery Status POR: set at reset, cleared by EXIT_CFGUPDATE
        # Battery Status SLEEP_EN: Power Config[SLEEP] at power-up, then the SLEEP_ENABLE
        # and SLEEP_DISABLE subcommands (SLEEP itself, the slow measurement loop of a
        # chip at rest, is not simulated: the firmware keeps it disabled)
        self.sleep_en = bool(self.dm_u2(0x9234) & 0x0100)
        self.manufacturing_status = 0
        self.fet_control = 0x0F
        self.trips = 0  # own protections active: bits of Safety Status A (low byte), B (high)
        self._pending = {}  # protection bit -> ms its condition has held
        self.cb_mask = 0
        self.cb_since_ms = 0
        # (a reset ends host balancing: the model bled on for ever, as the firmware never
        # writes a mask of 0 again that it already holds)
        self.model.set_bleed(0, 0.0)
        self._load_protections()
        self._apply_fets()

    def _dm_put(self, address, data):
        i = address - _DM_BASE
        self.dm[i : i + len(data)] = data
        self._dm_changed()

    def dm_u1(self, address):
        return self.dm[address - _DM_BASE]

    def dm_i1(self, address):
        v = self.dm_u1(address)
        return v - 256 if v > 127 else v

    def dm_u2(self, address):
        i = address - _DM_BASE
        return self.dm[i] | self.dm[i + 1] << 8

    def dm_f4(self, address):
        i = address - _DM_BASE
        return struct.unpack("<f", bytes(self.dm[i : i + 4]))[0]

    # -- the chip's measurement loop ----------------------------------------------------
    @micropython.native
    def refresh(self):
        """Copy the model's present state into the register image, then run the chip's
        own protections and balancing timer."""
        model = self.model
        self.t_ms = model.t_ms
        if self.cfgupdate:
            return  # measurements and protections stop in CONFIG_UPDATE
        cells = model.cells_mv()
        if model.cells_version != self._cells_seen:
            # the model's cells moved: round them again (they stay put at rest)
            self._cells_seen = model.cells_version
            rounded = self._rounded
            for i in range(N_CELLS):  # (native code: an index loop allocates nothing)
                rounded[i] = int(cells[i] + 0.5)
        else:
            rounded = self._rounded
        noise = self._noise
        k = self._noise_at
        self._noise_at = (k + 17) % 1021
        vals = self._cell_vals
        # noise[(k + 37 * i) % 1021] for cell i: _noise repeats its start, so no modulo
        if (
            add is not None and _FAST_FRAME
        ):  # CPython: by a C loop (MicroPython would allocate the slice)
            vals[0:N_CELLS] = map(add, rounded, noise[k : k + 37 * N_CELLS : 37])
        else:
            j = k
            for i in range(N_CELLS):
                vals[i] = rounded[i] + noise[j]
                j += 37
        if self.open_cells:
            # an open sense wire between cells n and n+1: n reads nothing, n+1 spans both
            for i in range(N_CELLS):
                if self.open_cells & (1 << i):
                    if i + 1 < N_CELLS:
                        vals[i + 1] += vals[i]
                    vals[i] = 0
        overrides = self.cell_override
        if overrides.count(None) != N_CELLS:
            for i in range(N_CELLS):
                if overrides[i] is not None:
                    vals[i] = overrides[i]
        regs = self.regs
        if _FAST_FRAME or not _put_cells(regs, vals):
            struct.pack_into("<16h", regs, 0x14, *vals)  # TRM: I2
        if not (
            model.cells_version == self._pw_cells
            and model.current_a == self._pw_current
            and model.link == self._pw_link
            and model.v_link == self._pw_v_link
            and model.charger_v == self._pw_charger_v
            and self.stack_override == self._pw_stack_override
            and self.current_gain_permille == self._pw_gain
            and self.current_offset_ma == self._pw_offset
            and self._dm_seq == self._pw_dm_seq
        ):
            self._pack_words(model)
        # CC2: the true current through the gain the firmware wrote, plus the
        # simulator's sensor faults, plus the noise of this reading
        ma = self._pw_ma + 10 * noise[k + 5]
        self.current_ma = ma
        cc2 = int(ma / self._user_amps)
        cc2 = min(max(cc2, -32768), 32767)
        link = self._pw_link_word
        struct.pack_into("<HHHh", regs, 0x34, self._pw_stack_word, link, link, cc2)
        self._temperatures(model)
        self._protections(vals)
        if self.cb_mask:
            self._balancing()
        self._status_regs()
        self._frame(0x14, 0x3C)

    @micropython.native
    def _pack_words(self, model):
        """Stack, PACK and LD voltage words, and the current before its noise, from what
        the model shows now (kept while none of it moves: refresh() checks)."""
        self._pw_cells = model.cells_version
        self._pw_current = model.current_a
        self._pw_link = model.link
        self._pw_v_link = model.v_link
        self._pw_charger_v = model.charger_v
        self._pw_stack_override = self.stack_override
        self._pw_gain = self.current_gain_permille
        self._pw_offset = self.current_offset_ma
        self._pw_dm_seq = self._dm_seq
        true_sum = model.sum_mv  # sum(cells), as cells_mv() left it
        stack_mv = self.stack_override if self.stack_override is not None else true_sum
        link_mv = model.link_v() * 1000.0
        if link_mv < 0:
            link_mv = 0.0  # the PACK and LD pins cannot measure below ground
        volts = self._volts
        self._pw_stack_word = int(stack_mv / volts + 0.5)
        self._pw_link_word = int(link_mv / volts + 0.5)
        ma = model.current_a * 1000.0 * self._gain_ratio
        ma = ma * (1 + self.current_gain_permille / 1000.0)
        self._pw_ma = ma + self.current_offset_ma

    @micropython.native
    def _temperatures(self, model):
        """The six sensors and the die, from the model's temperatures, the overrides and
        the NTC faults; registers written only when one of those moved."""
        tc = model.t_cells_c
        amb = model.ambient_c
        tm = model.t_mos_c
        seen = self._t_seen
        if (
            amb == seen[1]
            and self.ntc_fault == self._ntc_seen
            and self.temp_override == self._over_seen
        ):
            if tc == seen[0] and tm == seen[2]:
                return
            # at rest the temperatures creep towards the ambient for hours in their last
            # digits: while they stay closer to where the readings were made than any
            # reading is to its rounding step, no reading can change (the bounds below;
            # kept as bounds, not as differences, so that no float is made per reading,
            # which MicroPython allocates)
            if self._tc_lo < tc < self._tc_hi and self._tm_lo < tm < self._tm_hi:
                return
        self._t_seen = (tc, amb, tm)
        self._ntc_seen = list(self.ntc_fault)
        self._over_seen = list(self.temp_override)
        zones = model.zone_temps_c()
        temps = (zones[0], zones[1], zones[2], zones[3], amb, tm)
        # how far the cells' and the MOS temperature may move before a reading could
        # change: each reading's distance to its rounding step (0.1 C), through the gain
        # from the cells' temperature to its zone; less a margin for the float arithmetic
        gains = model.zone_gain
        slack = _FOREVER_C
        for z in range(4):
            g = gains[z] if gains[z] > 0 else -gains[z]
            if g:
                room = _step_room(temps[z]) / g
                if room < slack:
                    slack = room
        slack -= _SLACK_MARGIN_C
        self._tc_lo = tc - slack
        self._tc_hi = tc + slack
        slack = _step_room(tm) - _SLACK_MARGIN_C
        self._tm_lo = tm - slack
        self._tm_hi = tm + slack
        dcs = self.temps_dc
        changed = False
        for slot in range(6):
            over = self.ntc_fault[slot]
            if over is None:
                over = self.temp_override[slot]
            dc = over if over is not None else int(temps[slot] * 10 + 0.5)
            if dc != dcs[slot]:
                dcs[slot] = dc
                changed = True
        die = int(amb * 10 + 0.5) + KELVIN_DC + 30
        if not changed and die == self._die:
            return  # the same readings: the registers hold them
        self._die = die
        # TEMP_REGS: six words in a row from 0x70
        k = KELVIN_DC
        regs = self.regs
        struct.pack_into(
            "<6H",
            regs,
            0x70,
            dcs[0] + k,
            dcs[1] + k,
            dcs[2] + k,
            dcs[3] + k,
            dcs[4] + k,
            dcs[5] + k,
        )
        struct.pack_into("<H", regs, _T_INT, die)
        self._frame(0x68, 0x7C)

    def _dm_changed(self):
        """Data memory was written: the values the measurement loop reads from it."""
        da = self.dm_u1(0x9303)
        self._volts = 10.0 if da & 0x04 else 1.0  # USER_VOLTS_CV
        self._user_amps = (0.1, 1.0, 10.0, 100.0)[da & 0x03]
        self._gain_ratio = self.dm_f4(0x91A8) / (7568.4 / R_SENSE_UOHM)
        self._t_seen = (None, None, None)  # the temperatures' registers: write them again
        self._dm_seq += 1  # and the pack's words

    # -- the chip's own protections ----------------------------------------------------
    def _load_protections(self):
        """The enabled protections as (bit, kind, threshold, delay ms, hysteresis), in
        the units refresh() compares: mV, mA, 0.1 degC. Rebuilt when data memory changes."""
        en_a = self.dm_u1(0x9261)
        en_b = self.dm_u1(0x9262)
        ma_per_2mv = 2 * 1000000 // R_SENSE_UOHM  # mA that put 2 mV across the shunt
        rows = (
            (
                0x08,
                en_a & 0x08,
                _MAX_CELL,
                self.dm_u1(0x9278) * 506 // 10,
                3.3 * (2 + self.dm_u2(0x9279)),
                101,
            ),
            (
                0x04,
                en_a & 0x04,
                _MIN_CELL,
                -(self.dm_u1(0x9275) * 506 // 10),
                3.3 * (2 + self.dm_u2(0x9276)),
                101,
            ),
            (
                0x10,
                en_a & 0x10,
                _CHARGE_MA,
                self.dm_u1(0x9280) * ma_per_2mv,
                3.3 * (2 + self.dm_u1(0x9281)),
                None,
            ),
            (
                0x20,
                en_a & 0x20,
                _DISCHARGE_MA,
                self.dm_u1(0x9282) * ma_per_2mv,
                3.3 * (2 + self.dm_u1(0x9283)),
                None,
            ),
            (
                0x40,
                en_a & 0x40,
                _DISCHARGE_MA,
                self.dm_u1(0x9284) * ma_per_2mv,
                3.3 * (2 + self.dm_u1(0x9285)),
                None,
            ),
            (0x1000, en_b & 0x10, _CELL_T, self.dm_i1(0x929A) * 10 + 1, 2000, 50),
            (0x2000, en_b & 0x20, _CELL_T, self.dm_i1(0x929D) * 10 + 1, 2000, 50),
            (0x8000, en_b & 0x80, _FET_T, self.dm_u1(0x92A0) * 10 + 1, 2000, 150),
            (0x0100, en_b & 0x01, _COLD_T, -(self.dm_i1(0x92A6) * 10 - 1), 2000, 50),
            (0x0200, en_b & 0x02, _COLD_T, -(self.dm_i1(0x92A9) * 10 - 1), 2000, 50),
        )
        self._checks = [r for r in rows if r[1]]
        # SCD's comparator, at its step's current (the model's short trips it too)
        step_mv = _SCD_MV[self.dm_u1(0x9286) & 0x0F]
        self._scd_ma = step_mv * 1000000 // R_SENSE_UOHM if en_a & 0x80 else 1 << 60
        # per kind of measurement, the lowest threshold of its enabled rows
        lowest = [1 << 60] * 7
        for r in self._checks:
            if r[3] < lowest[r[2]]:
                lowest[r[2]] = r[3]
        self._lowest = lowest
        self._quiet = False  # judge every row at the next reading

    @micropython.native
    def _protections(self, cells):
        """The hardware backstop: each enabled protection trips when its condition holds
        for its delay; its FETs open (as its FET-protection bits say)."""
        dt = 100
        i_ma = self.current_ma
        t = self.temps_dc
        before = self.trips
        scd_before = self.scd
        lim = self._lowest
        if not (
            self._quiet
            and max(cells) < lim[_MAX_CELL]
            and -min(cells) < lim[_MIN_CELL]
            and i_ma < lim[_CHARGE_MA]
            and -i_ma < lim[_DISCHARGE_MA]
            and max(t[0], t[1], t[2], t[3]) < lim[_CELL_T]
            and t[5] < lim[_FET_T]
            and -min(t[0], t[1], t[2], t[3]) < lim[_COLD_T]
        ):
            # (quiet, nothing tripped or pending, and every value below the lowest
            # threshold of its kind: the rows below would change nothing)
            self._check_rows(cells, i_ma, t, dt)
        if not self.scd and -i_ma >= self._scd_ma and self.model.dsg_on:
            self.scd = True  # (within its delay: microseconds)
            self.scd_since_ms = self.t_ms
        elif (
            self.scd
            and not self.model.short
            and self.t_ms - self.scd_since_ms >= 1000 * self.dm_u1(0x9294)
        ):
            self.scd = False  # SCD recovers after its recovery time with the short gone
        if self.trips != before or self.scd != scd_before:
            self._apply_fets()

    def _check_rows(self, cells, i_ma, t, dt):
        measured = (
            max(cells),
            -min(cells),
            i_ma,
            -i_ma,
            max(t[0], t[1], t[2], t[3]),
            t[5],
            -min(t[0], t[1], t[2], t[3]),
        )
        pending = self._pending
        quiet = True
        for bit, _en, kind, threshold, delay, hyst in self._checks:
            v = measured[kind]
            if self.trips & bit:
                # over-current recovers when the current stops; the rest with hysteresis
                if (v <= 0) if hyst is None else (v < threshold - hyst):
                    self.trips &= ~bit
                continue
            if v >= threshold:
                held = pending.get(bit, -dt) + dt  # the first sample that sees it: 0
                pending[bit] = held
                quiet = False
                if held >= delay:
                    self.trips |= bit
            else:
                pending[bit] = -dt
        if quiet and not self.trips:
            for row in self._checks:
                if pending.get(row[0], -dt) >= 0:
                    quiet = False  # released from a trip, its count not yet reset
                    break
        self._quiet = quiet and not self.trips

    # -- balancing ---------------------------------------------------------------------
    def _balancing(self):
        mask = self.cb_mask
        if not mask:
            return
        cell_t = self.temps_dc[:4]
        if self.t_ms - self.cb_since_ms >= 1000 * self.dm_u1(0x9339):
            mask = 0  # not re-commanded within the interval: the chip stops
        elif min(cell_t) < self.dm_i1(0x9336) * 10 or max(cell_t) > self.dm_i1(0x9337) * 10:
            mask = 0  # outside the balancing temperature window (resumes when back)
        self.model.set_bleed(mask, 3.4 / BLEED_OHM)
        if not mask and self.t_ms - self.cb_since_ms >= 1000 * self.dm_u1(0x9339):
            self.cb_mask = 0

    def _set_balancing(self, mask):
        adjacent = mask & (mask >> 1)
        count = 0
        for i in range(N_CELLS):
            count += (mask >> i) & 1
        if adjacent or count > self.dm_u1(0x933A):
            mask = 0  # the chip will not bleed two neighbours, or more than its limit
        self.cb_mask = mask
        self.cb_since_ms = self.t_ms
        self.model.set_bleed(mask, 3.4 / BLEED_OHM)

    scd = False
    scd_since_ms = 0
    _tc_lo = _tc_hi = 0.0  # see _temperatures()
    _tm_lo = _tm_hi = 0.0
    current_ma = 0.0

    # -- FETs --------------------------------------------------------------------------
    def attach_fet_pins(self, cfetoff, dfetoff):
        """The CFETOFF/DFETOFF inputs (high forces that FET off), from a new board."""
        self.cfetoff = cfetoff
        self.dfetoff = dfetoff
        cfetoff.sim_listen(self._pin_changed)
        dfetoff.sim_listen(self._pin_changed)
        self._apply_fets()

    def _pin_changed(self, pin, level):
        self._apply_fets()

    def sync_faults(self):
        """Re-evaluate the FETs after the simulator changed a fault."""
        self._apply_fets()

    def _apply_fets(self):
        enabled = self.manufacturing_status & _MFG_FET_EN and not self.cfgupdate
        chg = bool(enabled) and not self.fet_control & _FC_CHG_OFF
        dsg = bool(enabled) and not self.fet_control & _FC_DSG_OFF
        if self.cfetoff is None or self.cfetoff.level:
            chg = False
        if self.dfetoff is None or self.dfetoff.level:
            dsg = False
        model = self.model
        if dsg and model.short and not model.stuck_dsg and self.dm_u1(0x9261) & 0x80:
            # the comparator fires within its delay (microseconds): at once
            self.scd = True
            self.scd_since_ms = model.t_ms
        own = self.trips | (0x80 if self.scd else 0)
        if own & (self.dm_u1(0x9265) | self.dm_u1(0x9266) << 8):  # CHG FET Protections A, B
            chg = False
        if own & (self.dm_u1(0x9269) | self.dm_u1(0x926A) << 8):  # DSG FET Protections A, B
            dsg = False
        model.set_fets(chg, dsg, model.pre_on)
        self._status_regs()

    @micropython.native
    def _status_regs(self):
        model = self.model
        # model.fet_states() without its tuple (a heap allocation under MicroPython)
        real_chg = model.chg_on or model.stuck_chg
        real_dsg = model.dsg_on or model.stuck_dsg
        regs = self.regs
        fet = (_CHG_FET if real_chg else 0) | (_DSG_FET if real_dsg else 0)
        if regs[0x7F] != fet:
            regs[0x7F] = fet
            self._frame(0x7F, 0x80)
        a = (self.trips & 0xFF) | (0x80 if self.scd else 0)
        b = self.trips >> 8
        status = (0x0001 if self.cfgupdate else 0) | (0x0008 if self.por else 0)
        if self.sleep_en:
            status |= 0x0004
        if self.trips or self.scd:
            status |= 0x0800  # SS: a safety fault
        lo = status & 0xFF
        hi = status >> 8
        if (
            regs[0x02] != a
            or regs[0x03] != a
            or regs[0x04] != b
            or regs[0x05] != b
            or regs[0x12] != lo
            or regs[0x13] != hi
        ):
            regs[0x02] = regs[0x03] = a  # Safety Alert / Status A
            regs[0x04] = regs[0x05] = b  # B
            regs[0x12] = lo
            regs[0x13] = hi
            self._frame(0x00, 0x14)

    # -- I2C -----------------------------------------------------------------------------
    # (bytecode, not native: MicroPython's bytecode keeps the slice of `buf[:] = view` on
    # the stack, native code would allocate it; the driver's reads run with the heap locked)
    def i2c_read(self, reg, buf):
        if self.lost:
            raise OSError(errno.ETIMEDOUT)
        self.reads += 1
        n = len(buf)
        if self.crc:
            # data bytes each followed by its CRC; the first CRC covers the address bytes
            view = self._views.get(0x10000 | reg << 8 | n)
            if view is None:
                view = self._framed_mv[2 * reg : 2 * reg + n]
                self._views[0x10000 | reg << 8 | n] = view
            buf[:] = view
            t = _CRC1
            buf[1] = t[t[t[t[0x10] ^ reg] ^ 0x11] ^ buf[0]]  # CRC of 0x10, reg, 0x11, d0
            if self.crc_corrupt:
                for k in range(0, n, 2):
                    buf[k] ^= 0x10
        else:
            key = reg << 8 | n
            view = self._views.get(key)
            if view is None:
                view = self._mv[reg : reg + n]
                self._views[key] = view
            buf[:] = view
            if self.crc_corrupt:
                buf[0] ^= 0x10  # undetectable without CRC
        if self.corrupt is not None:
            self.corrupt(buf)

    @micropython.native
    def _frame(self, lo, hi):
        """Bring the CRC-framed image of registers lo..hi-1 up to date."""
        if _FAST_FRAME:
            data = bytes(self.regs[lo:hi])
            self.framed[2 * lo : 2 * hi : 2] = data
            self.framed[2 * lo + 1 : 2 * hi : 2] = data.translate(_CRC1)
            return
        _frame_bytes(self.regs, self.framed, _CRC1, lo, hi)

    def i2c_write(self, reg, data):
        if self.lost:
            raise OSError(errno.ETIMEDOUT)
        self.writes += 1
        if self.crc:
            data = self._crc_unframe(reg, data)
        n = len(data)
        self.regs[reg : reg + n] = data
        self._frame(reg, reg + n)
        if reg == 0x3E and n == 2:
            self._subcommand(self.regs[0x3E] | self.regs[0x3F] << 8, None)
        elif reg == 0x60 and n == 2:
            total_len = self.regs[0x61]
            payload = bytes(self.regs[0x40 : 0x40 + total_len - 4])
            head = self.regs[0x3E] + self.regs[0x3F]
            if (~(head + sum(payload))) & 0xFF == self.regs[0x60]:
                self._subcommand(self.regs[0x3E] | self.regs[0x3F] << 8, payload)

    def _crc_unframe(self, reg, data):
        """Check and strip the CRCs of a write; a bad one is NACKed."""
        n = len(data) // 2
        if len(data) % 2 or n > len(self._unframed):
            raise OSError(errno.EIO)
        t = _CRC1
        out = self._unframed
        for k in range(n):
            d = data[2 * k]
            want = t[t[t[0x10] ^ reg] ^ d] if k == 0 else t[d]
            if data[2 * k + 1] != want:
                raise OSError(errno.EIO)
            out[k] = d
        key = 0x20000 | n
        view = self._views.get(key)
        if view is None:
            view = self._unframed_mv[:n]
            self._views[key] = view
        return view

    def _respond(self, data):
        n = len(data)
        self.regs[0x40 : 0x40 + n] = data
        self.regs[0x60] = ~(self.regs[0x3E] + self.regs[0x3F] + sum(data)) & 0xFF
        self.regs[0x61] = n + 4
        self._frame(0x3E, 0x62)

    def _subcommand(self, sub, payload):
        if _DM_BASE <= sub < _DM_BASE + _DM_SIZE:
            i = sub - _DM_BASE
            if payload is None:
                self._respond(bytes(self.dm[i : i + 32]))
            elif self.cfgupdate:
                self.dm[i : i + len(payload)] = payload
                self._dm_changed()
            return
        if sub == 0x0001:
            self._respond(struct.pack("<H", DEVICE_NUMBER))
        elif sub == 0x0002:
            self._respond(struct.pack(">HHH", DEVICE_NUMBER, FW_VERSION, 0))
        elif sub == 0x0057:
            self._respond(struct.pack("<H", self.manufacturing_status))
        elif sub == 0x0022:  # FET_ENABLE toggles FET_EN
            self.manufacturing_status ^= _MFG_FET_EN
        elif sub == 0x0095:  # ALL_FETS_OFF
            self.fet_control = 0x0F
        elif sub == 0x0096:  # ALL_FETS_ON
            self.fet_control = 0x00
        elif sub == 0x0097 and payload:  # FET_CONTROL
            self.fet_control = payload[0] & 0x0F
        elif sub == 0x0083:  # CB_ACTIVE_CELLS
            if payload is None:
                self._respond(struct.pack("<H", self.cb_mask))
            else:
                self._set_balancing(payload[0] | payload[1] << 8)
        elif sub == 0x0090:  # SET_CFGUPDATE: measurements, protections and FETs stop
            self.cfgupdate = True
        elif sub == 0x0092:  # EXIT_CFGUPDATE (clears POR)
            self.cfgupdate = False
            self.por = False
            self._load_protections()
            self.manufacturing_status = self.dm_u2(0x9343) or self.manufacturing_status
        elif sub == 0x29BC:  # SWAP_COMM_MODE: take the Comm Type from data memory
            self.crc = self.dm_u1(0x9239) in (0x11, 0x12)
        elif sub == 0x0012:  # RESET
            self.power_on_reset()
            return
        elif sub == 0x0099:  # SLEEP_ENABLE
            self.sleep_en = True
        elif sub == 0x009A:  # SLEEP_DISABLE
            self.sleep_en = False
        else:
            return
        self._apply_fets()
