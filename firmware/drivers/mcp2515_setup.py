"""The MCP2515's construction and start: every attribute of the driver; RESET, bit
timing, filters, interrupts, read back, mode.

What MCP2515() and MCP2515.init() do (see drivers/mcp2515.py for why each step): needed
at boot and when the link restarts a failed controller, so the driver imports this module
for each and drops it again, and its code does not stay in a board's heap. Functions of
the driver object (`self`), as the methods they were.
"""

from array import array

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
    MODE_NORMAL,
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
# drivers/mcp2515.py's buffers: see there
_BUF_LEN = const(14)
_ANSWER = const(14)
_SLOT = const(13)


def build(self, spi, cs, osc_hz, int_pin, sleep_us, ring_frames):
    """MCP2515(spi, cs, osc_hz, int_pin, sleep_us, ring_frames): every attribute of the
    driver (drivers/mcp2515.py says what each argument is)."""
    self.spi = spi
    self.cs = cs
    self.osc_hz = osc_hz
    self.int_pin = int_pin
    self.sleep_us = sleep_us
    self._w = bytearray(_BUF_LEN)  # outgoing bytes
    self._r = bytearray(_BUF_LEN)  # incoming bytes
    self._views = {}  # n -> (write view, read view) of the first n bytes
    # recv()'s READ RX BUFFER: the instruction (its RXB0 or RXB1 set per read), 13 bytes
    # clocked in
    self._rx_cmd = bytearray(_ANSWER)
    self.ok = False
    self.fault = FAULT_NONE
    self.rx_more = False  # recv(): the other RX buffer was full too
    self._mode = MODE_NORMAL  # the mode mcp2515_setup confirmed last
    # counters
    self.sent = 0
    self.received = 0
    self.tx_busy = 0  # send() found no free buffer
    self.rx_overflows = 0
    # frames dropped because their header no chip would send, and reads the two
    # status instructions disagreed on
    self.rx_garbled = 0
    self.bus_off = 0  # bus-off episodes
    self.passive = 0  # error-passive episodes
    self.dropped_stale = 0  # frames dropped while bus-off
    self.tec = 0
    self.rec = 0
    self._eflg = 0
    self._ovr_counted = False  # the drain counted an overflow since check() last did
    # the receive ring (see drivers/mcp2515.py's docstring and _put())
    self.busy = False  # inside an SPI transaction on the shared bus
    self.irq_pending = False  # the INT handler came while busy
    self._draining = False
    self.rx_ring_dropped = 0  # frames dropped because the ring was full
    self.irq_errors = 0  # errors met by the INT handler
    self._ring = bytearray(ring_frames * _SLOT)
    self._ht = array("i", (0, 0, ring_frames * _SLOT))  # head, tail, size (bytes)
    # the receiving's own buffers (never _w/_r: the handler may come between any two
    # bytecodes, e.g. after the loop filled _w for a command and before it clocked it
    # out, and at a transaction's end before the loop reads that answer from _r): a
    # READ RX BUFFER answer, and the status reads (RX STATUS with its byte clocked out
    # three times), _overflow()'s and _full()'s, into its start
    self._buf = bytearray(_ANSWER)
    self._sw = bytearray(4)
    self._sr = memoryview(self._buf)[:4]
    self._drain_with = (
        ring_frames + 2,  # the passes of a drain: see irq()
        cs,
        self._buf,
        self._sw,
        self._sr,
        self._rx_cmd,
        self._ht,
        self._ring,
    )
    self.irq_handler = self.irq  # bound once: a bound method made per call allocates
    cs.value(1)


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
    cfg = bytearray(_CANINTE + 1)  # what is written to RXF0..CANINTE, for the read-back
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
        _put_id(self, cfg, _RXM0, mask0[0], mask0[1], False)
        _put_id(self, cfg, _RXM1, mask1[0], mask1[1], False)
        for k in range(2):
            can_id, ext = f01[k if k < len(f01) else 0]
            _put_id(self, cfg, _RXF0 + 4 * k, can_id, ext, True)
        for k in range(4):
            can_id, ext = f25[k if k < len(f25) else 0]
            addr = (_RXF2, 0x10, 0x14, 0x18)[k]  # RXF3-5 sit after a gap
            _put_id(self, cfg, addr, can_id, ext, True)
        rxb0 = _BUKT  # RXM 00: through the filters, rollover
        rxb1 = 0x00
    _write_regs(self, _RXB0CTRL, rxb0)
    _write_regs(self, _RXB1CTRL, rxb1)
    fault = _read_back(self, cfg, first, rxb0, rxb1)
    if fault != FAULT_NONE:
        self.fault = fault
        return False
    self._eflg = 0  # RESET cleared the error state
    self.ok = _set_mode(self, mode)
    self.fault = FAULT_NONE if self.ok else FAULT_NO_MODE
    return self.ok


def _put_id(self, cfg, addr, can_id, ext, is_filter):
    """An id in the SIDH/SIDL/EID8/EID0 layout (filters carry EXIDE, masks do not),
    written and noted in cfg for the read-back."""
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
    cfg[addr] = sidh
    cfg[addr + 1] = sidl
    cfg[addr + 2] = eid8
    cfg[addr + 3] = eid0
    _write_regs(self, addr, sidh, sidl, eid8, eid0)


def _read_block(self, addr, n):
    """READ n registers from addr (auto-increment) in one transfer; returns the answer,
    the registers at [2:2 + n] (in buffers of its own: the driver's are as long as
    send() needs)."""
    w = bytearray(2 + n)
    w[0] = _READ
    w[1] = addr
    r = bytearray(2 + n)
    self._xfer_into(w, r)
    return r


def _read_back(self, cfg, first, rxb0, rxb1):
    """FAULT_NONE when every register init() wrote reads back what it wrote (from first,
    RXF0 or CNF3, to CANINTE, and RXB0CTRL/RXB1CTRL), else FAULT_TIMING for CNF1-3 and
    FAULT_CONFIG for the others. Called in configuration mode: masks and filters read 0
    in any other. Every bit written to RXF0..CANINTE is one the chip implements (the
    unimplemented SIDL bits are written 0), so those bytes must read back exactly; of
    RXBnCTRL only the bits init() sets are compared, the others being read-only."""
    r = _read_block(self, first, _CANINTE + 1 - first)
    base = 2 - first
    for a in range(_CNF3, _CANINTE):
        if r[base + a] != cfg[a]:
            return FAULT_TIMING
    for a in range(first, _CANINTE + 1):
        # xC-xF between the filter blocks are not the driver's: BFPCTRL, TXRTSCTRL,
        # TEC, REC, CANSTAT, CANCTRL
        if a & 0x0C != 0x0C and r[base + a] != cfg[a]:
            return FAULT_CONFIG
    r = _read_block(self, _RXB0CTRL, _RXB1CTRL + 1 - _RXB0CTRL)
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
