"""TI BQ76952 analog front end over I2C: cell, stack, current and temperature readings.

Takes a machine.I2C (or anything with readfrom_mem_into/writeto_mem) and the 7-bit
address. Register numbers are from TI's BQ76952 datasheet SLUSE13 and technical
reference SLUUBY2 (see ../shared/spec/hardware.md section 1).

The measurement reads are three block transfers into preallocated buffers (cells to
CC2 current, the temperature pins, the safety status), so reading does not allocate.
A failed transfer is retried a limited number of times; after that the reading is
marked invalid and the caller decides (a long run of invalid readings is a sensor
failure in the core).
"""

from micropython import const

ADDRESS = const(0x08)
DEVICE_NUMBER_ID = const(0x7695)

# direct commands
_CMD_SAFETY_ALERT_A = const(0x02)
_CMD_CELL1 = const(
    0x14
)  # cells 1..16 at 0x14..0x32, then stack 0x34, PACK 0x36, LD 0x38, CC2 0x3A
_CMD_SUBCMD = const(0x3E)
_CMD_BUFFER = const(0x40)
_CMD_CHECKSUM = const(0x60)
_CMD_INT_TEMP = const(
    0x68
)  # 0x68..0x7A: internal, CFETOFF, DFETOFF, ALERT, TS1-3, HDQ, DCHG, DDSG
_CMD_FET_STATUS = const(0x7F)

# subcommands
_SUB_DEVICE_NUMBER = const(0x0001)
_SUB_RESET = const(0x0012)
_SUB_FET_ENABLE = const(0x0022)
_SUB_MANUFACTURING_STATUS = const(0x0057)
_MFG_FET_EN = const(0x10)
_SUB_ALL_FETS_OFF = const(0x0095)
_SUB_FET_CONTROL = const(0x0097)

# FET_CONTROL bits: 1 forces that driver off; 0 lets the chip turn it on
_FC_DSG_OFF = const(0x01)
_FC_PDSG_OFF = const(0x02)
_FC_CHG_OFF = const(0x04)
_FC_PCHG_OFF = const(0x08)

# FET Status (0x7F) bits
FET_CHG = const(0x01)
FET_DSG = const(0x04)

# Safety Status A (0x03) bits
SAFETY_A_CUV = const(0x04)
SAFETY_A_COV = const(0x08)
SAFETY_A_OCC = const(0x10)
SAFETY_A_OCD1 = const(0x20)
SAFETY_A_OCD2 = const(0x40)
SAFETY_A_SCD = const(0x80)

# Units: DA Configuration gives stack/PACK/LD in 10 mV and current in 10 mA, so that
# the signed 16-bit CC2 covers +-327 A; temperatures are in 0.1 K.
_USER_V_MV = const(10)
_USER_A_MA = const(10)
_KELVIN_DC = const(2732)

# which temperature pin feeds which Sample.temps_dc slot: TS1, TS2, TS3, HDQ on the
# cells, DCHG on the BMS board (ambient), DDSG on the MOSFET heatsink. Offsets are
# into the 20-byte block read from 0x68.
_TEMP_OFFSETS = (8, 10, 12, 14, 16, 18)

_RETRIES = const(2)


class BQ76952:
    def __init__(self, i2c, addr=ADDRESS):
        self.i2c = i2c
        self.addr = addr
        # bound once: a bound method made per call would allocate on MicroPython
        self._readfrom_mem_into = i2c.readfrom_mem_into
        self._writeto_mem = i2c.writeto_mem
        self.errors = 0  # failed transfers, for diagnostics
        self._meas = bytearray(40)  # 0x14..0x3B
        self._temps = bytearray(20)  # 0x68..0x7B
        self._status = bytearray(6)  # 0x02..0x07 safety alert/status A, B, C
        self.safety_a = 0  # Safety Status A, B, C from the last read()
        self.safety_b = 0
        self.safety_c = 0
        self._one = bytearray(1)
        self._two = bytearray(2)
        self._sub = bytearray(3)

    # -- bus helpers ---------------------------------------------------------------
    def _transfer(self, op, reg, buf):
        for _ in range(_RETRIES + 1):
            try:
                op(self.addr, reg, buf)
                return True
            except OSError:
                self.errors += 1
        return False

    def _read(self, reg, buf):
        return self._transfer(self._readfrom_mem_into, reg, buf)

    def _write(self, reg, data):
        return self._transfer(self._writeto_mem, reg, data)

    def subcommand(self, sub, data=None):
        """Issue a subcommand, with an optional data payload (1-32 bytes)."""
        if data is None:
            buf = self._two
            buf[0] = sub & 0xFF
            buf[1] = sub >> 8
            return self._write(_CMD_SUBCMD, buf)
        if len(data) == 1:
            buf = self._sub
            buf[0] = sub & 0xFF
            buf[1] = sub >> 8
            buf[2] = data[0]
        else:
            buf = bytes((sub & 0xFF, sub >> 8)) + bytes(data)
        if not self._write(_CMD_SUBCMD, buf):
            return False
        total = 0
        for b in buf:
            total += b
        trailer = self._two
        trailer[0] = ~total & 0xFF
        trailer[1] = len(buf) + 2
        return self._write(_CMD_CHECKSUM, trailer)

    def subcommand_read(self, sub, buf):
        """Issue a read subcommand and copy its response into buf; False on failure."""
        if not self.subcommand(sub):
            return False
        echo = self._two
        if not self._read(_CMD_SUBCMD, echo) or echo[0] | echo[1] << 8 != sub:
            return False
        return self._read(_CMD_BUFFER, buf)

    # -- identity ------------------------------------------------------------------
    def device_number(self):
        buf = self._two
        if not self.subcommand_read(_SUB_DEVICE_NUMBER, buf):
            return None
        return buf[0] | buf[1] << 8

    def probe(self):
        return self.device_number() == DEVICE_NUMBER_ID

    def enable_fet_control(self):
        """Put the FETs under the chip's own logic (FET_EN) with no host override over
        I2C: from then on the CFETOFF/DFETOFF pins and the chip's protections decide."""
        buf = self._two
        if not self.subcommand_read(_SUB_MANUFACTURING_STATUS, buf):
            return False
        enabled = buf[0] & _MFG_FET_EN  # read now: set_fets() reuses the scratch buffer
        if not self.set_fets(True, True):
            return False
        return bool(enabled) or self.subcommand(_SUB_FET_ENABLE)  # FET_ENABLE toggles FET_EN

    # -- measurements --------------------------------------------------------------
    def read(self, sample):
        """Fill sample's raw fields and the safety status; returns and records whether
        every transfer worked."""
        ok = (
            self._read(_CMD_CELL1, self._meas)
            and self._read(_CMD_INT_TEMP, self._temps)
            and self._read(_CMD_SAFETY_ALERT_A, self._status)
        )
        sample.valid = ok
        if not ok:
            return False
        st = self._status
        self.safety_a = st[1]
        self.safety_b = st[3]
        self.safety_c = st[5]
        m = self._meas
        cells = sample.cells_mv
        for i in range(16):
            cells[i] = m[2 * i] | m[2 * i + 1] << 8
        sample.stack_mv = (m[32] | m[33] << 8) * _USER_V_MV
        sample.pack_mv = (m[34] | m[35] << 8) * _USER_V_MV
        sample.ld_mv = (m[36] | m[37] << 8) * _USER_V_MV
        raw = m[38] | m[39] << 8
        if raw & 0x8000:
            raw -= 0x10000
        sample.current_ma = raw * _USER_A_MA
        t = self._temps
        temps = sample.temps_dc
        for slot in range(6):
            k = _TEMP_OFFSETS[slot]
            temps[slot] = (t[k] | t[k + 1] << 8) - _KELVIN_DC
        return True

    def short_circuit(self):
        """The chip's short-circuit detector fired (Safety Status A, SCD)."""
        return bool(self.safety_a & SAFETY_A_SCD)

    def read_fet_status(self):
        """FET Status byte (FET_CHG, FET_DSG...), or None if the bus failed."""
        if not self._read(_CMD_FET_STATUS, self._one):
            return None
        return self._one[0]

    # -- outputs -------------------------------------------------------------------
    def set_fets(self, chg, dsg):
        """Allow (True) or force off (False) the charge and discharge FETs."""
        bits = _FC_PCHG_OFF | _FC_PDSG_OFF
        if not chg:
            bits |= _FC_CHG_OFF
        if not dsg:
            bits |= _FC_DSG_OFF
        self._one[0] = bits
        return self.subcommand(_SUB_FET_CONTROL, self._one)

    def all_fets_off(self):
        return self.subcommand(_SUB_ALL_FETS_OFF)
