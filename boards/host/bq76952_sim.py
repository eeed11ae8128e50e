"""A register-level simulation of the TI BQ76952 on the simulated I2C bus.

It answers the firmware exactly as the chip does on the wire: little-endian direct
commands (with auto-increment block reads), subcommands through 0x3E/0x3F with the
response in 0x40.. and its checksum and length in 0x60/0x61, and FET control. Behind
the registers is the pack model: refresh() copies the model's state into the register
image the way the chip's measurement loop does, with measurement noise and the
simulator's sensor overrides and faults applied. Reads only copy bytes, so a firmware
tick against this chip allocates nothing.
"""

import errno
import struct

from boards.host.pack_model import N_CELLS

DEVICE_NUMBER = 0x7695
FW_VERSION = 0x0100
KELVIN_DC = 2732

# FET Status bits
_CHG_FET = 0x01
_PCHG_FET = 0x02
_DSG_FET = 0x04
_PDSG_FET = 0x08

# FET_CONTROL bits (1 = forced off)
_FC_DSG_OFF = 0x01
_FC_CHG_OFF = 0x04

_MFG_FET_EN = 0x10

# temperature registers and which model quantity feeds them
_T_INT, _T_TS1, _T_TS2, _T_TS3, _T_HDQ, _T_DCHG, _T_DDSG = 0x68, 0x70, 0x72, 0x74, 0x76, 0x78, 0x7A
# Sample slot -> register: four cell zones, ambient (board), MOS
TEMP_REGS = (_T_TS1, _T_TS2, _T_TS3, _T_HDQ, _T_DCHG, _T_DDSG)


class BQ76952Sim:
    def __init__(self, model, rng):
        self.model = model
        self.regs = bytearray(256)
        self._mv = memoryview(self.regs)
        self._views = {}
        self.manufacturing_status = 0  # FET_EN clear after reset: FETs in test mode
        self.fet_control = 0x0F  # all drivers forced off
        self.lost = False  # afe_lost: stops answering
        self.cell_override = [None] * N_CELLS  # mV the chip reports instead of the model
        self.stack_override = None
        self.temp_override = [None] * len(TEMP_REGS)
        self.current_offset_ma = 0
        self.open_cells = 0  # bit mask of cells whose sense wire is off
        self.ntc_fault = [None] * len(TEMP_REGS)  # 0.1 degC an open/shorted NTC reads as
        self.crc_corrupt = False
        self.scd = False  # the hardware short-circuit detector has fired
        self.scd_since_ms = 0
        self.scd_recovery_ms = 5000  # SCD Recovery Time
        self.reads = 0
        self.writes = 0
        noise = []
        for _ in range(1021):
            noise.append(rng.next() % 3 - 1)
        self._noise = noise
        self._noise_at = 0
        self._cell_vals = [0] * N_CELLS
        self._apply_fets()

    # -- the chip's measurement loop --------------------------------------------------
    def refresh(self):
        """Copy the model's present state into the register image."""
        model = self.model
        if self.scd and not model.short and model.t_ms - self.scd_since_ms >= self.scd_recovery_ms:
            self.scd = False  # SCD recovers after its recovery time with the short gone
            self._apply_fets()
        cells = model.cells_mv()
        noise = self._noise
        k = self._noise_at
        self._noise_at = (k + 17) % 1021
        vals = self._cell_vals
        true_sum = 0.0
        for i in range(N_CELLS):
            v = cells[i]
            true_sum += v
            vals[i] = int(v + 0.5) + noise[(k + 37 * i) % 1021]
        if self.open_cells:
            # an open sense wire between cells n and n+1: n reads nothing, n+1 spans both
            for i in range(N_CELLS):
                if self.open_cells & (1 << i):
                    if i + 1 < N_CELLS:
                        vals[i + 1] += vals[i]
                    vals[i] = 0
        for i in range(N_CELLS):
            over = self.cell_override[i]
            if over is not None:
                vals[i] = over
        struct.pack_into("<16H", self.regs, 0x14, *[min(max(v, 0), 65535) for v in vals])
        stack_mv = self.stack_override if self.stack_override is not None else true_sum
        link_mv = model.link_v() * 1000.0
        if link_mv < 0:
            link_mv = 0.0  # the PACK and LD pins cannot measure below ground
        current_ma = model.current_a * 1000.0 + self.current_offset_ma + 10 * noise[(k + 5) % 1021]
        cc2 = int(current_ma / 10.0)
        cc2 = min(max(cc2, -32768), 32767)
        struct.pack_into(
            "<HHHh",
            self.regs,
            0x34,
            int(stack_mv / 10 + 0.5),
            int(link_mv / 10 + 0.5),
            int(link_mv / 10 + 0.5),
            cc2,
        )
        zones = model.zone_temps_c()
        temps = (zones[0], zones[1], zones[2], zones[3], model.ambient_c, model.t_mos_c)
        for slot in range(len(TEMP_REGS)):
            over = self.ntc_fault[slot]
            if over is None:
                over = self.temp_override[slot]
            dc = over if over is not None else int(temps[slot] * 10 + 0.5)
            struct.pack_into("<H", self.regs, TEMP_REGS[slot], dc + KELVIN_DC)
        struct.pack_into("<H", self.regs, _T_INT, int(model.ambient_c * 10 + 0.5) + KELVIN_DC + 30)

    def attach_fet_pins(self, cfetoff, dfetoff):
        """The CFETOFF/DFETOFF inputs (high forces that FET off), from a new board."""
        self.cfetoff = cfetoff
        self.dfetoff = dfetoff
        cfetoff.sim_listen(self._pin_changed)
        dfetoff.sim_listen(self._pin_changed)
        self._apply_fets()

    def _pin_changed(self, pin, level):
        self._apply_fets()

    def power_on_reset(self):
        """The chip loses power with the BMS (the power switch): registers to defaults."""
        self.manufacturing_status = 0
        self.fet_control = 0x0F
        self.scd = False
        self._apply_fets()

    cfetoff = None
    dfetoff = None

    def sync_faults(self):
        """Re-evaluate the FETs after the simulator changed a fault."""
        self._apply_fets()

    def _apply_fets(self):
        enabled = self.manufacturing_status & _MFG_FET_EN
        chg = bool(enabled) and not self.fet_control & _FC_CHG_OFF
        dsg = bool(enabled) and not self.fet_control & _FC_DSG_OFF
        if self.cfetoff is None or self.cfetoff.level:
            chg = False
        if self.dfetoff is None or self.dfetoff.level:
            dsg = False
        model = self.model
        if dsg and model.short and not model.stuck_dsg:
            # the comparator fires within its 250 us delay: both drivers off at once
            self.scd = True
            self.scd_since_ms = model.t_ms
        if self.scd:
            chg = dsg = False
        model.set_fets(chg, dsg, model.pre_on)
        real_chg, real_dsg, _ = model.fet_states()
        self.regs[0x7F] = (_CHG_FET if real_chg else 0) | (_DSG_FET if real_dsg else 0)
        self.regs[0x03] = 0x80 if self.scd else 0  # Safety Status A: SCD
        self.regs[0x02] = self.regs[0x03]  # Safety Alert A

    # -- I2C ----------------------------------------------------------------------------
    def i2c_read(self, reg, buf):
        if self.lost:
            raise OSError(errno.ETIMEDOUT)
        self.reads += 1
        n = len(buf)
        key = reg << 8 | n
        view = self._views.get(key)
        if view is None:
            view = self._mv[reg : reg + n]
            self._views[key] = view
        buf[:] = view

    def i2c_write(self, reg, data):
        if self.lost:
            raise OSError(errno.ETIMEDOUT)
        self.writes += 1
        n = len(data)
        self.regs[reg : reg + n] = data
        if reg == 0x3E and n == 2:
            self._subcommand(self.regs[0x3E] | self.regs[0x3F] << 8, None)
        elif reg == 0x60 and n == 2:
            total_len = self.regs[0x61]
            payload = bytes(self.regs[0x40 : 0x40 + total_len - 4])
            head = self.regs[0x3E] + self.regs[0x3F]
            if (~(head + sum(payload))) & 0xFF == self.regs[0x60]:
                self._subcommand(self.regs[0x3E] | self.regs[0x3F] << 8, payload)

    def _respond(self, data):
        n = len(data)
        self.regs[0x40 : 0x40 + n] = data
        self.regs[0x60] = ~(self.regs[0x3E] + self.regs[0x3F] + sum(data)) & 0xFF
        self.regs[0x61] = n + 4

    def _subcommand(self, sub, payload):
        if sub == 0x0001:
            self._respond(struct.pack("<H", DEVICE_NUMBER))
        elif sub == 0x0002:
            self._respond(struct.pack("<HHH", DEVICE_NUMBER, FW_VERSION, 0))
        elif sub == 0x0057:
            self._respond(struct.pack("<H", self.manufacturing_status))
        elif sub == 0x0022:  # FET_ENABLE toggles FET_EN
            self.manufacturing_status ^= _MFG_FET_EN
            self._apply_fets()
        elif sub == 0x0095:  # ALL_FETS_OFF
            self.fet_control = 0x0F
            self._apply_fets()
        elif sub == 0x0096:  # ALL_FETS_ON
            self.fet_control = 0x00
            self._apply_fets()
        elif sub == 0x0097 and payload:  # FET_CONTROL
            self.fet_control = payload[0] & 0x0F
            self._apply_fets()
        elif sub == 0x0012:  # RESET
            self.manufacturing_status = 0
            self.fet_control = 0x0F
            self._apply_fets()
