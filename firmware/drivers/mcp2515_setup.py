"""The MCP2515's start: RESET, bit timing, filters, interrupts, read back, mode.

What MCP2515.init() does (see drivers/mcp2515.py for why each step): needed at boot and
when the link restarts a failed controller, so the driver imports this module for it and
drops it again, and its code does not stay in a board's heap. Functions of the driver
object (`self`), as the methods they were.
"""

from micropython import const

from drivers import mcp2515
from drivers.mcp2515 import (
    FAULT_CONFIG,
    FAULT_CRYSTAL,
    FAULT_NO_MODE,
    FAULT_NO_RESET,
    FAULT_NONE,
    FAULT_TIMING,
    MODE_CONFIG,
)

# the registers and bits of drivers/mcp2515.py that only the start uses (or both: a
# const is the module's own, so the shared ones are repeated here)
_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_RXF0 = const(0x00)
_RXF2 = const(0x08)
_CANSTAT = const(0x0E)
_CANCTRL = const(0x0F)
_RXM0 = const(0x20)
_RXM1 = const(0x24)
_CNF3 = const(0x28)
_CNF2 = const(0x29)
_CNF1 = const(0x2A)
_CANINTE = const(0x2B)
_RXB0CTRL = const(0x60)
_RXB1CTRL = const(0x70)
_MODE_MASK = const(0xE0)
_CANCTRL_LOW_SET = const(0x07)  # CLKEN, CLKPRE 11: the clock output as RESET leaves it
# what init() writes and reads back: the bits of RXBnCTRL it sets (RXM; BUKT in RXB0),
# the others being read-only (BUKT1, RXRTR, FILHIT)
_RXM_ANY = const(0x60)  # RXM 11: masks and filters off
_RXB0CTRL_SET = const(0x64)
_RXB1CTRL_SET = const(0x60)
_CANINTE_SET = const(0x23)  # RX0IE, RX1IE, ERRIE
# CANSTAT after RESET: polled this often, this far apart (the Linux mcp251x driver gives
# the oscillator 5 ms)
_RESET_POLLS = const(10)
_RESET_POLL_US = const(500)
_EXIDE = const(0x08)
_BUKT = const(0x04)


def init(self, filters, mode):
    """Reset and configure for 500 kbit/s. filters: (mask0, [f0, f1], mask1, [f2..f5])
    as (can_id, ext) pairs, or None to accept every frame. The caller lets the
    crystal start (a few ms after power-up) before calling this."""
    self.ok = False
    cnf = mcp2515.BIT_TIMING_500K.get(self.osc_hz)
    if cnf is None:
        self.fault = FAULT_CRYSTAL
        return False
    _reset(self)
    sleep = self.sleep_us
    for _ in range(_RESET_POLLS):
        if self.read_reg(_CANSTAT) & _MODE_MASK == MODE_CONFIG:
            break
        if sleep is not None:
            sleep(_RESET_POLL_US)
    else:
        self.fault = FAULT_NO_RESET
        return False
    cfg = self._cfg
    cfg[_CNF3] = cnf[2]
    cfg[_CNF2] = cnf[1]
    cfg[_CNF1] = cnf[0]
    cfg[_CANINTE] = _CANINTE_SET  # RX0, RX1 and errors on INT
    _write_regs(self, _CNF3, cnf[2], cnf[1], cnf[0], _CANINTE_SET)  # adjacent: one WRITE
    if filters is None:
        first = _CNF3  # masks and filters unused: nothing to read back there
        rxb0 = _RXM_ANY | _BUKT  # everything, rollover
        rxb1 = _RXM_ANY
    else:
        first = _RXF0
        mask0, f01, mask1, f25 = filters
        _put_id(self, _RXM0, mask0[0], mask0[1], False)
        _put_id(self, _RXM1, mask1[0], mask1[1], False)
        for k in range(2):
            can_id, ext = f01[k if k < len(f01) else 0]
            _put_id(self, _RXF0 + 4 * k, can_id, ext, True)
        for k in range(4):
            can_id, ext = f25[k if k < len(f25) else 0]
            addr = (_RXF2, 0x10, 0x14, 0x18)[k]  # RXF3-5 sit after a gap
            _put_id(self, addr, can_id, ext, True)
        rxb0 = _BUKT  # RXM 00: through the filters, rollover
        rxb1 = 0x00
    _write_regs(self, _RXB0CTRL, rxb0)
    _write_regs(self, _RXB1CTRL, rxb1)
    fault = _read_back(self, first, rxb0, rxb1)
    if fault != FAULT_NONE:
        self.fault = fault
        return False
    self._eflg = 0  # RESET cleared the error state
    self.ok = _set_mode(self, mode)
    self.fault = FAULT_NONE if self.ok else FAULT_NO_MODE
    return self.ok


def _put_id(self, addr, can_id, ext, is_filter):
    """An id in the SIDH/SIDL/EID8/EID0 layout (filters carry EXIDE, masks do not),
    written and noted in _cfg for the read-back."""
    if ext:
        sidh = (can_id >> 21) & 0xFF
        sidl = ((can_id >> 13) & 0xE0) | ((can_id >> 16) & 0x03)
        if is_filter:
            sidl |= _EXIDE
        eid8 = (can_id >> 8) & 0xFF
        eid0 = can_id & 0xFF
    else:
        sidh = (can_id >> 3) & 0xFF
        sidl = (can_id << 5) & 0xE0
        eid8 = 0
        eid0 = 0
    cfg = self._cfg
    cfg[addr] = sidh
    cfg[addr + 1] = sidl
    cfg[addr + 2] = eid8
    cfg[addr + 3] = eid0
    _write_regs(self, addr, sidh, sidl, eid8, eid0)


def _read_block(self, addr, n):
    """READ n registers from addr (auto-increment) in one transfer, into _r[2:2 + n]."""
    w = self._w
    w[0] = _READ
    w[1] = addr
    for i in range(2, 2 + n):
        w[i] = 0
    self._xfer(2 + n)


def _read_back(self, first, rxb0, rxb1):
    """FAULT_NONE when every register init() wrote reads back what it wrote (from first,
    RXF0 or CNF3, to CANINTE, and RXB0CTRL/RXB1CTRL), else FAULT_TIMING for CNF1-3 and
    FAULT_CONFIG for the others. Called in configuration mode: masks and filters read 0
    in any other. Every bit written to RXF0..CANINTE is one the chip implements (the
    unimplemented SIDL bits are written 0), so those bytes must read back exactly; of
    RXBnCTRL only the bits init() sets are compared, the others being read-only."""
    _read_block(self, first, _CANINTE + 1 - first)
    r = self._r
    cfg = self._cfg
    base = 2 - first
    for a in range(_CNF3, _CANINTE):
        if r[base + a] != cfg[a]:
            return FAULT_TIMING
    for a in range(first, _CANINTE + 1):
        # xC-xF between the filter blocks are not the driver's: BFPCTRL, TXRTSCTRL,
        # TEC, REC, CANSTAT, CANCTRL
        if a & 0x0C != 0x0C and r[base + a] != cfg[a]:
            return FAULT_CONFIG
    _read_block(self, _RXB0CTRL, _RXB1CTRL + 1 - _RXB0CTRL)
    if r[2] & _RXB0CTRL_SET != rxb0 or r[2 + _RXB1CTRL - _RXB0CTRL] & _RXB1CTRL_SET != rxb1:
        return FAULT_CONFIG
    return FAULT_NONE


def _reset(self):
    self._w[0] = _RESET
    self._xfer(1)


def _write_regs(self, addr, *values):
    w = self._w
    w[0] = _WRITE
    w[1] = addr
    for i in range(len(values)):
        w[2 + i] = values[i]
    self._xfer(2 + len(values))


def _set_mode(self, mode):
    """Request a mode and confirm it from CANSTAT (pending frames finish first), and the
    request from CANCTRL (nothing else in it changed: ABAT and OSM clear, the clock
    output as RESET left it); MCP2515.check() expects the chip to stay in the mode
    confirmed last."""
    self.modify(_CANCTRL, _MODE_MASK, mode)
    w = self._w
    r = self._r
    w[0] = _READ
    w[1] = _CANSTAT
    for _ in range(50):
        w[2] = 0
        w[3] = 0
        self._xfer(4)  # CANSTAT, CANCTRL
        if r[2] & _MODE_MASK == mode:
            if r[3] != mode | _CANCTRL_LOW_SET:
                return False
            self._mode = mode
            return True
    return False
