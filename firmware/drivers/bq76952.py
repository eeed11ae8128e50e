"""TI BQ76952 analog front end over I2C: configuration, measurements, FETs, balancing.

Takes a machine.I2C (or anything with readfrom_mem_into/writeto_mem), the 7-bit
address and the board's current-sense resistor. Register numbers, encodings and the
CRC rules are TI's: datasheet SLUSE13, technical reference SLUUBY2 (and its family
manuals), software guide SLUAA11 (see ../shared/spec/hardware.md section 1).

- Transfers: direct commands are little-endian and read as blocks (the chip
  auto-increments the register), into preallocated buffers, so a measurement tick
  allocates nothing. Subcommands go through 0x3E/0x3F with the response in 0x40..,
  data-memory writes end with the checksum (~sum of address and data) and the length
  (data + 4) written together to 0x60/0x61.
- CRC mode (Comm Type 0x12): every byte on the wire is followed by a CRC-8 (poly 0x07,
  init 0); the first covers the address bytes too. probe() finds the chip's mode with
  reads and the device number (a write framed for the wrong mode could start an
  arbitrary subcommand, and a chip in CRC mode NACKs a write without its CRCs).
- configure() writes our data memory in CONFIG_UPDATE on every boot and reads every
  value back: 16 cells, 10 mA / 10 mV units (CC2 covers +-327 A), the thermistor pins,
  the CFETOFF/DFETOFF pins as FET-off inputs, and the chip's own protections set beyond
  the firmware's thresholds as a hardware backstop (short circuit included). It ends in
  CRC mode.
- Readings come only from a configured chip in CRC mode. Once the chip has answered in
  CRC mode, no error path takes the driver out of it: a noisy bus reads as failed CRCs
  (invalid readings), never as a chip without CRC. The driver leaves CRC mode only for a
  chip that shows it was reset (Battery Status POR, which EXIT_CFGUPDATE clears), and
  such a chip gives no reading until configure() has run again. Every measurement read
  carries Battery Status, so a reset (or CONFIG_UPDATE) is seen at the next tick.
- Errors: every transfer is retried _RETRIES times; after that the reading is marked
  invalid and the core decides (3 s of invalid readings is a sensor failure).
"""

import micropython
from micropython import const

from bms import lazy

ptr8 = int  # viper's pointer type, named for CPython (annotations are evaluated)

ADDRESS = const(0x08)
DEVICE_NUMBER_ID = const(0x7695)
_ADDR_W = const(0x10)  # the 7-bit address on the wire, write and read: CRC inputs
_ADDR_R = const(0x11)
_COUNT_MASK = const(0x3FFFFFFF)  # error counters wrap: a dead chip counts every tick

# direct commands
_CMD_SAFETY_ALERT_A = const(0x02)  # alert/status A, B, C at 0x02..0x07, then up to CC2
_CMD_BATTERY_STATUS = const(0x12)  # read with the measurements: 0x02..0x3B in one block
_CMD_CELL1 = const(0x14)  # cells 1..16 at 0x14..0x32, stack 0x34, PACK 0x36, LD 0x38, CC2 0x3A
_CMD_SUBCMD = const(0x3E)
_CMD_BUFFER = const(0x40)
_CMD_CHECKSUM = const(0x60)
# 0x68..0x7A: internal, CFETOFF, DFETOFF, ALERT, TS1-3, HDQ, DCHG, DDSG
_CMD_INT_TEMP = const(0x68)
_CMD_FET_STATUS = const(0x7F)

# subcommands
SUB_DEVICE_NUMBER = const(0x0001)
_SUB_RESET = const(0x0012)
SUB_FET_ENABLE = const(0x0022)
SUB_MANUFACTURING_STATUS = const(0x0057)
_SUB_CB_ACTIVE_CELLS = const(0x0083)
SUB_SLEEP_DISABLE = const(0x009A)
SUB_SET_CFGUPDATE = const(0x0090)
SUB_EXIT_CFGUPDATE = const(0x0092)
_SUB_ALL_FETS_OFF = const(0x0095)
_SUB_FET_CONTROL = const(0x0097)
SUB_SWAP_COMM_MODE = const(0x29BC)

# Battery Status bits
BS_POR = const(0x08)  # the chip was reset since our last EXIT_CFGUPDATE
BS_UNCONFIGURED = const(0x0D)  # POR, CFGUPDATE or SLEEP_EN: measurements are not ours

# FET_CONTROL bits: 1 forces that driver off; 0 lets the chip turn it on
_FC_DSG_OFF = const(0x01)
_FC_PDSG_OFF = const(0x02)
_FC_CHG_OFF = const(0x04)
_FC_PCHG_OFF = const(0x08)

# FET Status (0x7F) bits
FET_CHG = const(0x01)
FET_DSG = const(0x04)

# Safety Status A (0x03) bits
_SAFETY_A_CUV = const(0x04)
_SAFETY_A_COV = const(0x08)
_SAFETY_A_OCC = const(0x10)
_SAFETY_A_OCD1 = const(0x20)
_SAFETY_A_OCD2 = const(0x40)
_SAFETY_A_SCD = const(0x80)

# units set by DA Configuration = 0x06: stack/PACK/LD in 10 mV, current in 10 mA
_USER_V_MV = const(10)
_USER_A_MA = const(10)
_KELVIN_DC = const(2732)

# Sample.temps_dc slot -> offset of its low data byte in the CRC-framed block from 0x68:
# TS1, TS2, TS3, HDQ on the cells, DCHG on the BMS board (ambient), DDSG on the MOSFETs
_TEMP_OFFSETS = b"\x10\x14\x18\x1c\x20\x24"

_RETRIES = const(2)
POLLS = const(20)  # subcommand completion polls (each an I2C read, ~100 us)
COMM_TYPE_I2C_FAST_CRC = const(0x12)  # (bq76952_dm writes it; the tests read it here)


def _crc_table():
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return bytes(table)


CRC_TABLE = _crc_table()
del _crc_table  # run once: its code goes


def crc8(data, crc=0):
    """CRC-8 (poly 0x07, init 0) as the BQ76952 computes it."""
    for b in data:
        crc = CRC_TABLE[crc ^ b]
    return crc


# The per-tick work is in viper (machine code, byte pointers): a Python loop over the
# 136 bytes of a measurement costs more than the whole tick's budget on an RP2040.
@micropython.viper
def _crc_good(t: ptr8, buf: ptr8, n: int, reg: int) -> bool:
    """Every data byte of buf[0:n] (data, CRC pairs) carries its CRC; the first CRC
    covers the address and register bytes too."""
    if buf[1] != t[t[t[t[_ADDR_W] ^ reg] ^ _ADDR_R] ^ buf[0]]:
        return False
    k = 2
    while k < n:
        if buf[k + 1] != t[buf[k]]:
            return False
        k += 2
    return True


@micropython.viper
def _decode(m: ptr8, t: ptr8, offsets: ptr8, sample):
    """A CRC-mode measurement (registers 0x02 to 0x3B in m, the temperatures from 0x68 in
    t) into sample: signed fields (TRM: I2), data bytes at even offsets (register r at
    2 * (r - 0x02))."""
    cells = sample.cells_mv
    i = 0
    while i < 16:
        k = 4 * i + 36  # 0x14 + 2 i
        cells[i] = ((m[k] | m[k + 2] << 8) ^ 0x8000) - 0x8000
        i += 1
    sample.stack_mv = (((m[100] | m[102] << 8) ^ 0x8000) - 0x8000) * _USER_V_MV  # 0x34
    sample.pack_mv = (((m[104] | m[106] << 8) ^ 0x8000) - 0x8000) * _USER_V_MV
    sample.ld_mv = (((m[108] | m[110] << 8) ^ 0x8000) - 0x8000) * _USER_V_MV
    sample.current_ma = (((m[112] | m[114] << 8) ^ 0x8000) - 0x8000) * _USER_A_MA  # 0x3A
    temps = sample.temps_dc
    i = 0
    while i < 6:
        k = offsets[i]
        temps[i] = (t[k] | t[k + 2] << 8) - _KELVIN_DC
        i += 1


def data_memory(cfg, r_sense_uohm):
    """Our data-memory settings for config cfg: [(address, bytes), ...] (TRM SLUUBY2).
    The table's code is in drivers/bq76952_dm.py, loaded for a configuration only (at
    boot, after a chip reset) and dropped again: it would hold 3 KB of a board's heap."""
    return lazy.run("drivers.bq76952_dm", "table", cfg, r_sense_uohm)


class BQ76952:
    def __init__(self, i2c, addr=ADDRESS, r_sense_uohm=250):
        """i2c: a machine.I2C (or its stand-in); r_sense_uohm: the sense resistor. The
        body (every attribute, commented) is in drivers/bq76952_init.py, loaded for it
        and dropped after: the driver is built once, at boot."""
        lazy.run("drivers.bq76952_init", "init", self, i2c, addr, r_sense_uohm)

    # -- framing -------------------------------------------------------------------
    @micropython.native
    def _raw_read(self, reg, views):
        """Read into views[crc] (data bytes only, or data/CRC pairs); checks the CRCs."""
        crc = self.crc  # (read once: a local costs nothing in native code, an attribute ~250)
        buf = views[1] if crc else views[0]
        for _ in range(_RETRIES + 1):
            try:
                self._readfrom_mem_into(self.addr, reg, buf)
            except OSError:
                self.errors = (self.errors + 1) & _COUNT_MASK
                continue
            if not crc or _crc_good(CRC_TABLE, buf, len(buf), reg):
                return True
            self.crc_errors = (self.crc_errors + 1) & _COUNT_MASK
            self.errors = (self.errors + 1) & _COUNT_MASK
        return False

    def _wview(self, n):
        view = self._wviews.get(n)
        if view is None:
            view = memoryview(self._wbuf)[:n]
            self._wviews[n] = view
        return view

    def _raw_write(self, reg, data, n):
        """Write data[0:n] to reg, framed with CRCs in CRC mode."""
        w = self._wbuf
        if self.crc:
            t = CRC_TABLE
            w[0] = data[0]
            w[1] = t[t[t[_ADDR_W] ^ reg] ^ data[0]]
            for k in range(1, n):
                b = data[k]
                w[2 * k] = b
                w[2 * k + 1] = t[b]
            view = self._wview(2 * n)
        else:
            for k in range(n):
                w[k] = data[k]
            view = self._wview(n)
        for _ in range(_RETRIES + 1):
            try:
                self._writeto_mem(self.addr, reg, view)
                return True
            except OSError:
                self.errors = (self.errors + 1) & _COUNT_MASK
        return False

    def _value(self, buf, k):
        """The k-th data byte of a buffer read in the current mode."""
        return buf[2 * k] if self.crc else buf[k]

    # -- subcommands and data memory ----------------------------------------------------
    def subcommand(self, sub, data=None, n=0):
        """A subcommand, with data[0:n] if given (then checksum and length follow)."""
        s = self._scratch
        s[0] = sub & 0xFF
        s[1] = sub >> 8
        for k in range(n):
            s[2 + k] = data[k]
        if not self._raw_write(_CMD_SUBCMD, s, 2 + n):
            return False
        if data is None:
            return True
        total = 0
        for k in range(2 + n):
            total += s[k]
        s[0] = ~total & 0xFF
        s[1] = n + 4
        return self._raw_write(_CMD_CHECKSUM, s, 2)

    def dm_write(self, address, data):
        return self.subcommand(address, data, len(data))

    # -- identity and setup ----------------------------------------------------------
    def probe(self):
        """Find the chip, in the mode we speak, then in the other (see
        drivers/bq76952_setup.py, loaded for it and dropped after): whether it answered."""
        return lazy.run("drivers.bq76952_setup", "probe", self)

    def device_number(self):
        """The chip's device number (0x7695), or None (drivers/bq76952_setup.py)."""
        return lazy.run("drivers.bq76952_setup", "device_number", self)

    def battery_status(self):
        if not self._raw_read(_CMD_BATTERY_STATUS, self._two_v):
            return None
        return self._value(self._two, 0) | self._value(self._two, 1) << 8

    def configure(self, cfg):
        """Our data memory written and read back, SLEEP off, CRC mode on
        (drivers/bq76952_setup.py): True only if all of it worked."""
        return lazy.run("drivers.bq76952_setup", "configure", self, cfg)

    def enable_fet_control(self):
        """The FETs under the chip's own logic (drivers/bq76952_setup.py)."""
        return lazy.run("drivers.bq76952_setup", "enable_fet_control", self)

    # -- measurements --------------------------------------------------------------
    @micropython.native
    def read(self, sample):
        """Fill sample's raw fields and the safety status; returns and records whether
        the reading is ours: a configured chip, in CRC mode, every transfer good, and no
        reset or CONFIG_UPDATE since configure()."""
        ok = (
            self.configured
            and self._raw_read(_CMD_SAFETY_ALERT_A, self._meas_v)
            and self._raw_read(_CMD_INT_TEMP, self._temps_v)
        )
        m = self._meas
        if ok and (m[32] & BS_UNCONFIGURED):  # Battery Status (0x12), low byte
            self.configured = False  # reset, or CONFIG_UPDATE: needs configure() again
            self.resets = (self.resets + 1) & _COUNT_MASK
            ok = False
        sample.valid = ok
        if not ok:
            return False
        a = m[2]
        self.safety_a = a
        self.scd = a & _SAFETY_A_SCD != 0
        self.safety_b = m[6]
        self.safety_c = m[10]
        _decode(m, self._temps, _TEMP_OFFSETS, sample)
        return True

    def read_fet_status(self):
        """FET Status byte (FET_CHG, FET_DSG...), or None if the bus failed."""
        if not self._raw_read(_CMD_FET_STATUS, self._one_v):
            return None
        return self._one[0]

    # -- outputs -------------------------------------------------------------------
    def set_fets(self, chg, dsg):
        """Allow (True) or force off (False) the charge and discharge FETs over I2C."""
        bits = _FC_PCHG_OFF | _FC_PDSG_OFF
        if not chg:
            bits |= _FC_CHG_OFF
        if not dsg:
            bits |= _FC_DSG_OFF
        self._one[0] = bits
        return self.subcommand(_SUB_FET_CONTROL, self._one, 1)

    def all_fets_off(self):
        return self.subcommand(_SUB_ALL_FETS_OFF)

    def set_balancing(self, mask):
        """Bleed the cells in mask (bit 0 = cell 1) through CB_ACTIVE_CELLS; 0 stops. The
        chip ends host balancing by itself unless the command is repeated, so the caller
        re-issues it (every few seconds) for as long as it should last."""
        b = self._two
        b[0] = mask & 0xFF
        b[1] = mask >> 8
        ok = self.subcommand(_SUB_CB_ACTIVE_CELLS, b, 2)
        if ok:
            self.balancing = mask
        return ok
