"""A register-level MCP2515 CAN controller behind the host board's SPI, a node of CanBus.

It answers the firmware as the chip does on the wire (Microchip DS20001801J; the facts are
collected in ../shared/spec/hardware.md section 2 and the MCP2515 fact sheet):
- the SPI instructions: RESET, READ (auto-increment), READ RX BUFFER (clears RXnIF when CS
  rises), WRITE, LOAD TX BUFFER, RTS, READ STATUS, RX STATUS, BIT MODIFY (a plain write on
  the registers that are not bit-modifiable). A transaction may be split over several
  transfers while CS stays low;
- the register map with its reset values, CANSTAT/CANCTRL at every xE/xF address, the
  modes (REQOP -> OPMOD), configuration-only registers (CNF1-3, TXRTSCTRL, filters, masks;
  filters and masks read 0 outside configuration mode);
- bit timing: in normal mode the chip talks only if CNF1-3 give the bus's bit rate from
  its crystal (osc_hz) with a valid segment split; otherwise it sends nothing, does not
  acknowledge, and counts a receive error for every frame it cannot decode;
- three TX buffers (TXREQ, TXP priority with ties to the higher buffer, TXnIF, ABTF, MLOA,
  TXERR, ABAT, one-shot), two RX buffers with masks RXM0/1 and filters RXF0-5, rollover
  (BUKT), RXnOVR, FILHIT, the standard and extended id layouts, remote frames;
- CANINTE/CANINTF, CANSTAT ICOD and the INT pin (low while an enabled flag is set);
- TEC/REC and EFLG (warning >= 96, passive >= 128, bus-off when TEC exceeds 255) with the
  ISO 11898-1 steps, and the automatic recovery after 128 x 11 recessive bits;
- loopback (frames go to the chip's own RX buffers, not to the bus), listen-only (no ACK,
  no sending, counters frozen) and sleep (woken into listen-only by bus activity when
  WAKIE is set);
- the oscillator start-up after a reset, when reset_hold_us is set: the chip is held in
  reset that long, ignoring SPI (SO is not driven, so every byte reads 0xFF). It is 0 by
  default: the chip answers at once.

Two one-shot SPI faults for tests (a glitch on a wire, not chip state: armed until it
strikes, a RESET does not clear it):
- glitch_write(addr, xor): the next byte a WRITE or a BIT MODIFY stores at register addr
  is stored with the bits of xor flipped (MOSI corrupted on the way in);
- glitch_read(command, index, xor): the next transfer that begins with the instruction
  byte command answers byte index with the bits of xor flipped (MISO corrupted on the
  way out; the chip itself is unchanged).

Reads and writes only move bytes through a preallocated register file, so a firmware tick
that talks to this chip allocates nothing.
"""

import micropython
from micropython import const

# SPI instructions
_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_READ_STATUS = const(0xA0)
_RX_STATUS = const(0xB0)
_BIT_MODIFY = const(0x05)

# registers
BFPCTRL = const(0x0C)
TXRTSCTRL = const(0x0D)
CANSTAT = const(0x0E)
CANCTRL = const(0x0F)
TEC = const(0x1C)
REC = const(0x1D)
CNF3 = const(0x28)
CNF2 = const(0x29)
CNF1 = const(0x2A)
CANINTE = const(0x2B)
CANINTF = const(0x2C)
EFLG = const(0x2D)
TXB0CTRL = const(0x30)
TXB1CTRL = const(0x40)
TXB2CTRL = const(0x50)
RXB0CTRL = const(0x60)
RXB1CTRL = const(0x70)

# operation modes (REQOP / OPMOD, bits 7:5)
MODE_NORMAL = const(0)
MODE_SLEEP = const(1)
MODE_LOOPBACK = const(2)
MODE_LISTEN = const(3)
MODE_CONFIG = const(4)

# CANCTRL
_ABAT = const(0x10)
_OSM = const(0x08)
# CANINTE / CANINTF
_RX0IF = const(0x01)
_RX1IF = const(0x02)
_TX0IF = const(0x04)
_ERRIF = const(0x20)
_WAKIF = const(0x40)
_MERRF = const(0x80)
# TXBnCTRL
_ABTF = const(0x40)
_MLOA = const(0x20)
_TXERR = const(0x10)
_TXREQ = const(0x08)
# EFLG
_RX1OVR = const(0x80)
_RX0OVR = const(0x40)
_TXBO = const(0x20)
_TXEP = const(0x10)
_RXEP = const(0x08)
_TXWAR = const(0x04)
_RXWAR = const(0x02)
_EWARN = const(0x01)
# RXBnCTRL
_BUKT = const(0x04)
_RXRTR = const(0x08)

_FILTERS = (0x00, 0x04, 0x08, 0x10, 0x14, 0x18)  # RXF0-5 (0x0C-0x0F are not a filter)
_MASKS = (0x20, 0x24)

# SPI states
_ST_CMD = const(0)
_ST_ADDR_READ = const(1)
_ST_READ = const(2)
_ST_ADDR_WRITE = const(3)
_ST_WRITE = const(4)
_ST_BM_ADDR = const(5)
_ST_BM_MASK = const(6)
_ST_BM_DATA = const(7)
_ST_REPEAT = const(8)
_ST_IGNORE = const(9)


def _flags(addrs):
    table = bytearray(128)
    for a in addrs:
        table[a] = 1
    return table


_FILTER_ADDRS = [f + i for f in _FILTERS + _MASKS for i in range(4)]
# written only in configuration mode; filters and masks also read 0 outside it
_CONFIG_ONLY = _flags(_FILTER_ADDRS + [CNF3, CNF2, CNF1, TXRTSCTRL])
_HIDDEN = _flags(_FILTER_ADDRS)


def _next_hidden():
    # for each address, the first hidden one at or after it (0x80: none)
    table = bytearray(129)
    nxt = 0x80
    for a in range(127, -1, -1):
        if _HIDDEN[a]:
            nxt = a
        table[a] = nxt
    table[128] = 0x80
    return table


_NEXT_HIDDEN = _next_hidden()
_FF = [b"\xff" * n for n in range(17)]  # what SO reads where the chip does not drive it
# CPython copies a slice of the driver's buffer faster than a loop; MicroPython would
# allocate the slice (the tests run the SPI path with the heap locked)
_SLICES = hasattr(bytes, "translate")
_BIT_MODIFIABLE = _flags(
    [BFPCTRL, TXRTSCTRL, CNF3, CNF2, CNF1, CANINTE, CANINTF, EFLG]
    + [TXB0CTRL, TXB1CTRL, TXB2CTRL, RXB0CTRL, RXB1CTRL]
    + [0x0F + 16 * i for i in range(8)]
)


def _icod_table():
    # highest-priority enabled flag: ERR, WAK, TXB0, TXB1, TXB2, RXB0, RXB1
    table = bytearray(256)
    order = ((0x20, 1), (0x40, 2), (0x04, 3), (0x08, 4), (0x10, 5), (0x01, 6), (0x02, 7))
    for f in range(256):
        for bit, code in order:
            if f & bit:
                table[f] = code
                break
    return table


_ICOD = _icod_table()


_LOAD_FROM_SIDH = (0x40, 0x42, 0x44)
_RTS_ONE = {0x81: TXB0CTRL, 0x82: TXB1CTRL, 0x84: TXB2CTRL}  # RTS of one buffer: its TXBnCTRL
_READ_RX_FROM_SIDH = (0x90, 0x94)


# identifiers remembered as refused (the first ones seen: on a bus of packs, the
# inverter set and the other packs' frames; a bounded memory whatever comes); a
# system of packs sets refused_max to hold its ids (REFUSED_PER_PACK a pack: the pack
# link's eleven frames, with room), as a slave refuses the other slaves' 31 x 11
REFUSED_MAX = const(64)
REFUSED_PER_PACK = const(16)


class MCP2515Sim:
    """One MCP2515. osc_hz: the board's crystal, 8 or 16 MHz. int_pin: an optional
    machine.Pin-like object with sim_drive(level), driven like the chip's INT output.

    Wire it to the SPI stub as a device (SPI(devices=[(cs_pin, chip)])) and attach it to a
    CanBus with bus.attach(chip); the bus gives it its clock (t_us).
    """

    def __init__(self, osc_hz=8000000, int_pin=None):
        if osc_hz not in (8000000, 16000000):
            raise ValueError("osc_hz: the simulated board has an 8 or 16 MHz crystal")
        self.osc_hz = osc_hz
        self.int_pin = int_pin
        self.refused_max = REFUSED_MAX
        self.bus = None
        self.t_us = 0
        self.regs = bytearray(128)
        self._views = {}  # (address << 8 | length) -> memoryview of regs
        self._int_level = -1
        self._fx = [0] * 6  # filter EXIDE
        self._fv = [0] * 6  # filter SID << 18 | EID
        self._mv = [0, 0]  # mask SID << 18 | EID
        self._txcache = [None, None, None]
        self.reset_hold_us = 0  # after a reset the chip ignores SPI this long
        self._held_until = -1
        self._glitch_addr = -1  # glitch_write(): the register, the bits
        self._glitch_wxor = 0
        self._glitch_cmd = -1  # glitch_read(): the instruction, the byte, the bits
        self._glitch_index = 0
        self._glitch_rxor = 0
        self.reset()

    # -- the simulator's side -----------------------------------------------------------
    def reset(self):
        """Power-on or RESET: every register to its default, configuration mode; held in
        reset for reset_hold_us (the oscillator start-up)."""
        if self.bus is not None:
            self.bus.retry_checked = None
        if self.reset_hold_us:
            self._held_until = self._now() + self.reset_hold_us
        r = self.regs
        for i in range(128):
            r[i] = 0
        self.mode = MODE_CONFIG
        self.tec = 0
        self.rec = 0
        self._boff = False
        self._boff_occ = 0  # occurrences of 11 recessive bits counted while bus-off
        self._boff_run = 0  # where the current recessive run began
        self._wire = -1  # the TX buffer whose frame is on the bus
        self._timing_ok = False
        self._canctrl(0x87)
        self._filters_dirty = True
        self._rx1_rolled = False
        for n in range(3):
            self._txcache[n] = None
        self._st = _ST_CMD
        self._ptr = 0
        self._mask = 0
        self._repeat = 0
        self._rxclr = 0
        self._irq_update()

    # mode, tec and rec are plain attributes, bus-off and the bit rate methods: under
    # MicroPython one property on a class makes every attribute store on its instances
    # (a dozen per SPI transfer here) look the class up first, 3x slower
    def is_bus_off(self):
        self._check_bus_off()
        return self._boff

    def bitrate_bps(self):
        """The bit rate CNF1-3 give from the crystal, 0 if the segments are not valid."""
        r = self.regs
        cnf1, cnf2, cnf3 = r[CNF1], r[CNF2], r[CNF3]
        brp = cnf1 & 0x3F
        sjw = (cnf1 >> 6) + 1
        prop = (cnf2 & 7) + 1
        ps1 = ((cnf2 >> 3) & 7) + 1
        if cnf2 & 0x80:
            ps2 = (cnf3 & 7) + 1
        else:
            ps2 = ps1 if ps1 > 2 else 2  # BTLMODE 0: PS2 = max(PS1, IPT)
        # DS 5.3: PS2 >= 2 TQ (IPT), Prop + PS1 >= PS2, PS2 > SJW
        if ps2 < 2 or prop + ps1 < ps2 or sjw >= ps2:
            return 0
        return self.osc_hz // (2 * (brp + 1) * (1 + prop + ps1 + ps2))

    def glitch_write(self, addr, xor):
        """The next byte a WRITE or BIT MODIFY stores at addr arrives with xor's bits
        flipped (once)."""
        self._glitch_addr = addr
        self._glitch_wxor = xor

    def glitch_read(self, command, index, xor):
        """The next transfer beginning with the instruction byte command reads byte index
        with xor's bits flipped (once)."""
        self._glitch_cmd = command
        self._glitch_index = index
        self._glitch_rxor = xor

    def _bus_bitrate(self):
        return self.bus.bitrate if self.bus is not None else 500000

    def _bit_us(self):
        return self.bus.bit_us if self.bus is not None else 2

    @micropython.native
    def _now(self):
        if self.bus is not None:
            self.t_us = self.bus.now_us
        return self.t_us

    # -- SPI ---------------------------------------------------------------------------------
    @micropython.native
    def spi_transfer(self, wbuf, rbuf):
        if self._glitch_cmd >= 0 and wbuf[0] == self._glitch_cmd and self._st == _ST_CMD:
            self._glitch_cmd = -1
            MCP2515Sim.spi_transfer(self, wbuf, rbuf)
            if rbuf is not None and self._glitch_index < len(rbuf):
                rbuf[self._glitch_index] ^= self._glitch_rxor
            return
        regs = self.regs
        n = len(wbuf)
        if self._held_until >= 0:
            if self._now() < self._held_until:
                if rbuf is not None:
                    for i in range(n):
                        rbuf[i] = 0xFF  # held in reset: SO is not driven
                self._st = _ST_IGNORE  # until chip select rises
                return
            self._held_until = -1
        if self._st == _ST_CMD and self._glitch_addr < 0:
            # whole transfers the driver makes again and again, without a loop over their
            # bytes: the same effect as the byte-by-byte machine below (what _command()
            # does first, bringing the chip to the bus's time, is repeated inline); an armed
            # glitch_write() takes the byte-by-byte machine, which knows where it lands
            b = wbuf[0]
            if b == _READ_STATUS and n > 1:  # every poll and every frame sent asks this
                bus = self.bus
                if bus is not None:
                    self.t_us = bus.now_us
                if self._boff:
                    self._check_bus_off()
                v = self._read_status()
                self._repeat = v
                self._st = _ST_REPEAT
                if rbuf is not None:
                    rbuf[0] = 0xFF
                    for i in range(1, n):
                        rbuf[i] = v
                return
            if b in _LOAD_FROM_SIDH and n <= 14:
                # _command(b), inlined: every frame sent loads a buffer so
                bus = self.bus
                if bus is not None:
                    self.t_us = bus.now_us
                if self._boff:
                    self._check_bus_off()
                a = 0x31 + ((b & 6) << 3)  # TXBnSIDH
                if _SLICES:
                    regs[a : a + n - 1] = wbuf[1:n]
                else:  # a slice of wbuf would allocate
                    for i in range(1, n):
                        regs[a + i - 1] = wbuf[i]
                if n > 2:
                    regs[a + 1] &= 0xEB  # TXBnSIDL bits 4 and 2 are unimplemented
                    if n > 5:
                        regs[a + 4] &= 0x4F  # TXBnDLC: RTR and DLC3:0
                self._txcache[(a >> 4) - 3] = None
                self._ptr = (a + n - 1) & 0x7F
                self._st = _ST_WRITE
                if rbuf is None:
                    pass
                elif _SLICES:
                    rbuf[0:n] = _FF[n]
                else:  # MicroPython: native code, where a slice would allocate
                    for i in range(n):
                        rbuf[i] = 0xFF
                return
            if n == 1:  # RTS, RESET: the instruction alone
                if b in _RTS_ONE:
                    # _command(b) for an RTS of one buffer, inlined: every frame sent
                    bus = self.bus
                    if bus is not None:
                        self.t_us = bus.now_us
                    if self._boff:
                        self._check_bus_off()
                    ctrl = _RTS_ONE[b]
                    self._txctrl(ctrl, regs[ctrl] | _TXREQ)
                    self._st = _ST_IGNORE
                else:
                    self._command(b)
                if rbuf is not None:
                    rbuf[0] = 0xFF
                return
            if b in _READ_RX_FROM_SIDH and n <= 14:
                self._command(b)
                a = self._ptr
                if rbuf is not None:
                    rbuf[0] = 0xFF
                    self._copy_out(rbuf, 1, a, n - 1)
                self._ptr = (a + n - 1) & 0x7F
                self._st = _ST_READ
                return
            if b == _READ and n > 2:
                a = wbuf[1] & 0x7F
                k = n - 2
                if a + k <= (0x80 if self.mode == MODE_CONFIG else _NEXT_HIDDEN[a]):
                    self._command(b)
                    if rbuf is not None:
                        rbuf[0] = 0xFF
                        rbuf[1] = 0xFF
                        self._copy_out(rbuf, 2, a, k)
                    self._ptr = (a + k) & 0x7F
                    self._st = _ST_READ
                    return
            elif b == _BIT_MODIFY and n == 4:
                self._command(b)
                a = self._ptr = wbuf[1] & 0x7F
                m = self._mask = wbuf[2] if _BIT_MODIFIABLE[a] else 0xFF
                self._write(a, (regs[a] & ~m) | (wbuf[3] & m))
                self._st = _ST_IGNORE
                if rbuf is not None:
                    rbuf[0] = rbuf[1] = rbuf[2] = rbuf[3] = 0xFF
                return
        for i in range(n):
            b = wbuf[i]
            out = 0xFF  # SO is high-impedance outside read phases; the board pulls it up
            st = self._st
            if st == _ST_READ:
                a = self._ptr
                out = regs[a]
                if _HIDDEN[a] and self.mode != MODE_CONFIG:
                    out = 0
                self._ptr = (a + 1) & 0x7F
            elif st == _ST_WRITE:
                if self._ptr == self._glitch_addr:
                    self._glitch_addr = -1
                    b ^= self._glitch_wxor
                self._write(self._ptr, b)
                self._ptr = (self._ptr + 1) & 0x7F
            elif st == _ST_CMD:
                self._command(b)
            elif st == _ST_ADDR_READ:
                self._ptr = b & 0x7F
                self._st = _ST_READ
            elif st == _ST_ADDR_WRITE:
                self._ptr = b & 0x7F
                self._st = _ST_WRITE
            elif st == _ST_REPEAT:
                out = self._repeat
            elif st == _ST_BM_ADDR:
                self._ptr = b & 0x7F
                self._st = _ST_BM_MASK
            elif st == _ST_BM_MASK:
                self._mask = b if _BIT_MODIFIABLE[self._ptr] else 0xFF
                self._st = _ST_BM_DATA
            elif st == _ST_BM_DATA:
                a = self._ptr
                m = self._mask
                v = (regs[a] & ~m) | (b & m)
                if a == self._glitch_addr:
                    self._glitch_addr = -1
                    v ^= self._glitch_wxor
                self._write(a, v)
                self._st = _ST_IGNORE
            if rbuf is not None:
                rbuf[i] = out

    @micropython.native
    def _copy_out(self, rbuf, at, a, k):
        """rbuf[at:at+k] = regs[a:a+k] through a memoryview made once per range (a fresh
        slice would allocate); byte by byte where none can be made (the heap is locked), and
        under MicroPython (native code: the loop is quicker than a slice, which allocates)."""
        if not _SLICES:
            regs = self.regs
            for i in range(k):
                rbuf[at + i] = regs[a + i]
            return
        key = a << 8 | k
        v = self._views.get(key)
        if v is None:
            try:
                v = self._views[key] = memoryview(self.regs)[a : a + k]
            except MemoryError:
                regs = self.regs
                for i in range(k):
                    rbuf[at + i] = regs[a + i]
                return
        rbuf[at : at + k] = v

    can_tells_changes = True  # (CanBus) every SPI transaction and reset() tells the bus

    @micropython.native
    def spi_end(self):
        bus = self.bus
        if bus is not None:
            bus.retry_checked = None  # the transaction may have changed what it offers
        r = self.regs
        if self._rxclr:
            r[CANINTF] &= ~self._rxclr
            self._rxclr = 0
        self._st = _ST_CMD
        # _irq_update(), when CANSTAT or the INT pin would change
        f = r[CANINTF] & r[CANINTE]
        if (0 if f else 1) != self._int_level or r[CANSTAT] != (self.mode << 5) | (_ICOD[f] << 1):
            self._irq_update()

    @micropython.native
    def _command(self, b):
        self._now()
        if self._boff:
            self._check_bus_off()
        if b == _READ:
            self._st = _ST_ADDR_READ
        elif b == _WRITE:
            self._st = _ST_ADDR_WRITE
        elif b == _BIT_MODIFY:
            self._st = _ST_BM_ADDR
        elif (b & 0xF9) == 0x90:  # READ RX BUFFER 1001 0nm0
            nm = (b >> 1) & 3
            self._ptr = (0x61, 0x66, 0x71, 0x76)[nm]
            self._rxclr = _RX0IF if nm < 2 else _RX1IF
            self._st = _ST_READ
        elif (b & 0xF8) == 0x40 and (b & 7) < 6:  # LOAD TX BUFFER 0100 0abc
            self._ptr = 0x31 + (((b >> 1) & 3) << 4) + (5 if b & 1 else 0)  # SIDH or D0
            self._st = _ST_WRITE
        elif (b & 0xF8) == 0x80:  # RTS 1000 0nnn
            r = self.regs
            for n in range(3):
                if b & (1 << n):
                    ctrl = TXB0CTRL + 16 * n
                    self._txctrl(ctrl, r[ctrl] | _TXREQ)
            self._st = _ST_IGNORE
        elif b == _READ_STATUS:
            self._repeat = self._read_status()
            self._st = _ST_REPEAT
        elif b == _RX_STATUS:
            self._repeat = self._rx_status()
            self._st = _ST_REPEAT
        elif b == _RESET:
            self.reset()
            self._st = _ST_IGNORE
        else:
            self._st = _ST_IGNORE

    @micropython.native
    def _read_status(self):
        r = self.regs
        f = r[CANINTF]
        return (
            (f & 0x03)
            | ((r[TXB0CTRL] & _TXREQ) >> 1)
            | ((f & 0x04) << 1)
            | ((r[TXB1CTRL] & _TXREQ) << 1)
            | ((f & 0x08) << 2)
            | ((r[TXB2CTRL] & _TXREQ) << 3)
            | ((f & 0x10) << 3)
        )

    def _rx_status(self):
        r = self.regs
        f = r[CANINTF] & 3
        if f == 0:
            return 0
        # the message described is RXB0's when both buffers are full
        if f & _RX0IF:
            base, hit = 0x61, r[RXB0CTRL] & 1
        else:
            base, hit = 0x71, r[RXB1CTRL] & 7
            if self._rx1_rolled:
                hit += 6  # 110/111: RXF0/RXF1 rolled over into RXB1
        sidl = r[base + 1]
        ide = sidl & 0x08
        if ide:
            rtr = r[base + 4] & 0x40
        else:
            rtr = sidl & 0x10  # SRR marks a standard remote frame
        return (f << 6) | (0x10 if ide else 0) | (0x08 if rtr else 0) | hit

    # -- registers ---------------------------------------------------------------------------
    @micropython.native
    def _write(self, a, v):
        r = self.regs
        low = a & 0x0F
        if low == 0x0F:
            self._canctrl(v)
        elif low == 0x0E or a == TEC or a == REC:
            pass  # CANSTAT, TEC and REC are read-only
        elif _CONFIG_ONLY[a]:
            if self.mode == MODE_CONFIG:
                if a == TXRTSCTRL:
                    r[a] = (r[a] & 0x38) | (v & 0x07)  # bits 5:3 are the pin levels
                else:
                    r[a] = v
                    self._filters_dirty = True
        elif a < 0x30:
            if a == BFPCTRL:
                r[a] = v & 0x3F
            elif a == CANINTE:
                r[a] = v
            elif a == CANINTF:
                woken = v & _WAKIF and not r[a] & _WAKIF
                r[a] = v
                # the MCU may set WAKIF to make a wake-up attempt (DS 10.2)
                if woken and self.mode == MODE_SLEEP and r[CANINTE] & _WAKIF:
                    self._enter(MODE_LISTEN)
            elif a == EFLG:
                r[a] = (r[a] & 0x3F) | (v & 0xC0)  # only RX1OVR and RX0OVR are writable
        elif low == 0:
            if a < RXB0CTRL:
                self._txctrl(a, v)
            elif a == RXB0CTRL:
                r[a] = (r[a] & 0x09) | (v & 0x64) | ((v & _BUKT) >> 1)  # BUKT1 copies BUKT
            else:
                r[a] = (r[a] & 0x0F) | (v & 0x60)
        elif a < RXB0CTRL:  # TX buffer bytes SIDH..D7
            if low == 2:
                v &= 0xEB  # TXBnSIDL bits 4 and 2 are unimplemented
            elif low == 5:
                v &= 0x4F  # TXBnDLC: RTR and DLC3:0
            r[a] = v
            self._txcache[(a >> 4) - 3] = None
        # the RX buffers are read-only

    def _canctrl(self, v):
        r = self.regs
        old = r[CANCTRL]
        for i in range(8):
            r[0x0F + 16 * i] = v
        if v & _ABAT and not old & _ABAT:
            # abort what waits; a frame on the wire finishes (and is aborted if it fails)
            for n in range(3):
                ctrl = TXB0CTRL + 16 * n
                if r[ctrl] & _TXREQ and n != self._wire:
                    r[ctrl] = (r[ctrl] & ~_TXREQ) | _ABTF
        reqop = v >> 5
        if reqop <= MODE_CONFIG:
            self._enter(reqop)

    def _enter(self, mode):
        # The DS says a mode change waits for pending transmissions; simulated time does
        # not move during a firmware step, so the change is immediate and a frame already
        # on the wire still completes.
        r = self.regs
        if (r[CANCTRL] >> 5) != mode:
            v = (r[CANCTRL] & 0x1F) | (mode << 5)
            for i in range(8):
                r[0x0F + 16 * i] = v
        old = self.mode
        if mode == old:
            return
        self.mode = mode
        if mode == MODE_CONFIG:
            # entering configuration mode clears the error counters (DS 10.1)
            self.tec = 0
            self.rec = 0
            self._boff = False
            self._error_state(False)
        elif old == MODE_CONFIG:
            self._timing_ok = self.bitrate_bps() == self._bus_bitrate()
        self._irq_update()
        if mode == MODE_LOOPBACK:
            self._loopback()

    @micropython.native
    def _txctrl(self, a, v):
        r = self.regs
        old = r[a]
        n = (a >> 4) - 3
        if v & _TXREQ and not old & _TXREQ:
            r[a] = v & 0x0B  # setting TXREQ clears ABTF, MLOA and TXERR
            if self.bus is not None:
                self.bus.quiet = False  # a frame to offer
            if self.mode == MODE_LOOPBACK:
                self._loopback()
        elif old & _TXREQ and not v & _TXREQ:
            r[a] = (old & 0x70) | (v & 0x03)
            if n != self._wire:
                r[a] |= _ABTF
        else:
            r[a] = (old & 0x78) | (v & 0x03)

    @micropython.native
    def _irq_update(self):
        r = self.regs
        f = r[CANINTF] & r[CANINTE]
        stat = (self.mode << 5) | (_ICOD[f] << 1)
        if r[CANSTAT] != stat:
            for i in range(8):
                r[0x0E + 16 * i] = stat
        level = 0 if f else 1
        if level != self._int_level:
            self._int_level = level
            if self.int_pin is not None:
                self.int_pin.sim_drive(level)

    # -- transmit ------------------------------------------------------------------------------
    @micropython.native
    def _next_tx(self):
        # highest TXP first; on a tie the higher buffer number (DS 3.2)
        r = self.regs
        best = -1
        best_p = -1
        for n in range(2, -1, -1):
            c = r[TXB0CTRL + 16 * n]
            if c & _TXREQ and (c & 3) > best_p:
                best = n
                best_p = c & 3
        return best

    @micropython.native
    def _tx_frame(self, n):
        f = self._txcache[n]
        if f is None:
            r = self.regs
            base = 0x31 + 16 * n
            # (one register at a time: under MicroPython a tuple of five is a heap object)
            sidh = r[base]
            sidl = r[base + 1]
            dlc = r[base + 4]
            can_id = (sidh << 3) | (sidl >> 5)
            ext = (sidl & 0x08) != 0
            if ext:
                can_id = (can_id << 18) | ((sidl & 3) << 16) | (r[base + 2] << 8) | r[base + 3]
            rtr = (dlc & 0x40) != 0
            length = dlc & 0x0F
            if length > 8:
                length = 8  # DLC 9-15 sends 8 bytes (DS 3.1); the wire keeps only 8 here
            if rtr:
                data = bytes(length)
            else:
                data = bytes(r[base + 5 : base + 5 + length])
            f = (can_id, ext, rtr, data)
            self._txcache[n] = f
        return f

    def _loopback(self):
        r = self.regs
        while not r[CANCTRL] & _ABAT:
            n = self._next_tx()
            if n < 0:
                break
            r[TXB0CTRL + 16 * n] &= ~_TXREQ
            r[CANINTF] |= _TX0IF << n
            f = self._tx_frame(n)
            self._accept(f[0], f[1], f[2], f[3])
        self._irq_update()

    # -- CanBus node ---------------------------------------------------------------------------
    def can_attached(self, bus):
        self.bus = bus
        self.t_us = bus.now_us
        if self.mode != MODE_CONFIG:
            self._timing_ok = self.bitrate_bps() == bus.bitrate

    @micropython.native
    def can_offer(self):
        r = self.regs
        if not (r[TXB0CTRL] | r[TXB1CTRL] | r[TXB2CTRL]) & _TXREQ:
            return None
        if self.mode != MODE_NORMAL or not self._timing_ok or r[CANCTRL] & _ABAT:
            return None
        if self._boff:
            self._check_bus_off()
            if self._boff:
                return None
        n = self._next_tx()
        self._wire = n
        return self._tx_frame(n)

    @micropython.native
    def can_quiet(self):
        """No TX buffer waits: nothing to offer until TXREQ is set (which tells the bus)."""
        r = self.regs
        return not (r[TXB0CTRL] | r[TXB1CTRL] | r[TXB2CTRL]) & _TXREQ

    @micropython.native
    def can_acks(self):
        if self.mode != MODE_NORMAL or not self._timing_ok:
            return False
        if self._boff:
            self._check_bus_off()
        return not self._boff

    def can_retry_stable(self, tx):
        """Another unacknowledged attempt changes nothing once error-passive (the ACK
        exception) with its error flags already up; nor does it for a chip that neither
        receives nor sleeps."""
        r = self.regs
        if not tx:
            return self.mode != MODE_NORMAL and self.mode != MODE_SLEEP
        return (
            self.tec >= 128
            and not self._boff
            and not r[CANCTRL] & (_OSM | _ABAT)
            and r[CANINTF] & _MERRF
            and self._wire >= 0
            and r[TXB0CTRL + 16 * self._wire] & _TXERR
        )

    def attach_int(self, pin):
        """A new INT pin (the board was rebuilt after a reboot); drive it at once."""
        self.int_pin = pin
        self._int_level = -1
        self._irq_update()

    def can_lost(self, t_us):
        self.t_us = t_us
        n = self._wire
        self._wire = -1
        if n < 0:
            return
        ctrl = TXB0CTRL + 16 * n
        r = self.regs
        r[ctrl] |= _MLOA
        if r[CANCTRL] & _OSM:
            r[ctrl] &= ~_TXREQ  # one-shot: attempted once

    @micropython.native
    def can_sent(self, frame, t_us):
        self.t_us = t_us
        n = self._wire
        self._wire = -1
        if n < 0:
            return  # reset while the frame was on the wire
        r = self.regs
        r[TXB0CTRL + 16 * n] &= ~_TXREQ
        r[CANINTF] |= _TX0IF << n
        if self.tec > 0:
            self.tec -= 1
            self._error_state(True)
        self._irq_update()

    @micropython.native
    def can_receive(self, frame, t_us):
        self.t_us = t_us
        mode = self.mode
        if (
            mode == MODE_NORMAL
            and not self.rec
            and not self._boff
            and self._timing_ok
            and not self._filters_dirty
            and (frame[1] or self._data_free)
        ):
            # someone else's frame, refused before: nothing here changes (on a bus of
            # many packs, the common case); the key is _refused_key()'s, inlined
            r = self.regs
            key = frame[0] | (r[RXB0CTRL] & 0x60) << 25 | (r[RXB1CTRL] & 0x60) << 27
            if frame[1]:
                key |= 0x20000000
            if key in self._refused:
                return
        if self._boff and self._bus_off_event(t_us):
            return
        if mode == MODE_NORMAL:
            if not self._timing_ok:
                self._rx_error()
            else:
                if self.rec:
                    self.rec = 127 if self.rec > 127 else self.rec - 1
                    self._error_state(True)
                self._accept(frame[0], frame[1], frame[2], frame[3])
        elif mode == MODE_LISTEN:
            if self._timing_ok:
                self._accept(frame[0], frame[1], frame[2], frame[3])
        elif mode == MODE_SLEEP:
            self._wake()
        self._irq_update()

    def can_error(self, t_us, tx):
        self.t_us = t_us
        r = self.regs
        if tx:
            n = self._wire
            self._wire = -1
            if n < 0:
                return  # reset while the frame was on the wire
            ctrl = TXB0CTRL + 16 * n
            c = r[ctrl] | _TXERR
            if not c & _TXREQ or r[CANCTRL] & _ABAT:
                c = (c & ~_TXREQ) | _ABTF  # aborted while on the wire: no retry
            elif r[CANCTRL] & _OSM:
                c &= ~_TXREQ  # one-shot: attempted once
            r[ctrl] = c
            r[CANINTF] |= _MERRF
            passive = self.tec >= 128 or self.rec >= 128
            bus = self.bus
            # ISO 11898-1: an error-passive transmitter does not count an ACK error
            if not (passive and bus is not None and bus.ack_error):
                self.tec += 8
                if self.tec > 255 and not self._boff:
                    self._boff = True
                    self._boff_occ = 0
                    # the error delimiter and intermission are the first 11 recessive bits
                    self._boff_run = t_us - 11 * self._bit_us()
            self._error_state(True)
        elif self._boff:
            if not self._bus_off_event(t_us) and self.mode == MODE_NORMAL:
                self._rx_error()
        elif self.mode == MODE_NORMAL:
            self._rx_error()
        elif self.mode == MODE_SLEEP:
            self._wake()
        self._irq_update()

    def _wake(self):
        if self.regs[CANINTE] & _WAKIF:
            self.regs[CANINTF] |= _WAKIF
            self._enter(MODE_LISTEN)  # the chip wakes into listen-only (DS 10.2)

    # -- errors --------------------------------------------------------------------------------
    def _rx_error(self):
        if self.rec < 255:
            self.rec += 1
        self.regs[CANINTF] |= _MERRF
        self._error_state(True)

    def _error_state(self, flag):
        r = self.regs
        tec, rec = self.tec, self.rec
        e = 0
        if self._boff:
            e |= _TXBO
        if tec >= 128:
            e |= _TXEP
        if rec >= 128:
            e |= _RXEP
        if tec >= 96:
            e |= _TXWAR | _EWARN
        if rec >= 96:
            e |= _RXWAR | _EWARN
        r[TEC] = tec if tec < 255 else 255
        r[REC] = rec if rec < 255 else 255
        old = r[EFLG]
        new = (old & 0xC0) | e
        if new != old:
            r[EFLG] = new
            if flag:
                r[CANINTF] |= _ERRIF  # ERRIE: interrupt on an EFLG condition change

    def _bus_off_event(self, t_us):
        """Count the recessive run that ended with the frame now delivered; still bus-off?"""
        bus = self.bus
        span = 11 * self._bit_us()
        gap = bus.frame_start_us - self._boff_run
        if gap > 0:
            self._boff_occ += gap // span
        if self._boff_occ >= 128:
            self._recover()
            return False
        # ACK delimiter + EOF + intermission (or error delimiter + intermission): 11 bits
        self._boff_run = t_us - span
        return True

    def _check_bus_off(self):
        bus = self.bus
        if not self._boff or bus is None:
            return
        end = bus.frame_start_us if bus.in_frame else bus.now_us
        gap = end - self._boff_run
        if gap > 0 and self._boff_occ + gap // (11 * self._bit_us()) >= 128:
            self._recover()

    def _recover(self):
        self._boff = False
        self.tec = 0
        self.rec = 0
        self._error_state(True)
        self._irq_update()

    # -- receive -------------------------------------------------------------------------------
    def _load_filters(self):
        r = self.regs
        for n in range(6):
            a = _FILTERS[n]
            sidl = r[a + 1]
            self._fx[n] = sidl & 0x08
            self._fv[n] = (
                (((r[a] << 3) | (sidl >> 5)) << 18)
                | ((sidl & 3) << 16)
                | (r[a + 2] << 8)
                | r[a + 3]
            )
        for m in range(2):
            a = _MASKS[m]
            sidl = r[a + 1]
            self._mv[m] = (
                (((r[a] << 3) | (sidl >> 5)) << 18)
                | ((sidl & 3) << 16)
                | (r[a + 2] << 8)
                | r[a + 3]
            )
        self._filters_dirty = False
        # identifiers these filters refuse whatever the frame's data (see _accept); on a
        # bus of 32 packs most frames are someone else's, and refused again and again
        self._refused = {}
        self._data_free = not (self._mv[0] & 0xFFFF or self._mv[1] & 0xFFFF)

    def _match(self, n, m, can_id, ext, rtr, data):
        # mask bit 0: don't care; 1: the message bit must equal the filter bit (DS 4.5)
        fv = self._fv[n]
        mv = self._mv[m]
        if ext:
            return self._fx[n] and not (fv ^ can_id) & mv
        if self._fx[n] or ((fv >> 18) ^ can_id) & (mv >> 18):
            return False
        # standard frames: EID15:0 of filter and mask apply to data bytes 0 and 1
        md = mv & 0xFFFF
        if not md:
            return True
        nd = 0 if rtr else len(data)
        if (md & 0xFF00 and nd < 1) or (md & 0xFF and nd < 2):
            return False  # masked bits of a byte the frame does not have
        d = (data[0] << 8 if nd else 0) | (data[1] if nd > 1 else 0)
        return not (fv ^ d) & md

    def _refused_key(self, can_id, ext):
        """The key of _refused for this identifier under the present receive modes, or -1
        where the data bytes take part in filtering (standard frames, data masks set)."""
        if not ext and not self._data_free:
            return -1
        r = self.regs
        rxm = (r[RXB0CTRL] & 0x60) << 25 | (r[RXB1CTRL] & 0x60) << 27
        return can_id | (0x20000000 if ext else 0) | rxm

    @micropython.native
    def _accept(self, can_id, ext, rtr, data):
        r = self.regs
        if self._filters_dirty:
            self._load_filters()
        key = self._refused_key(can_id, ext)
        if key >= 0 and key in self._refused:
            return
        rxm = (r[RXB0CTRL] >> 5) & 3
        hit = -1
        if rxm == 0 or rxm == 3:  # 1 and 2 are reserved: nothing passes them
            if self._match(0, 0, can_id, ext, rtr, data):
                hit = 0
            elif self._match(1, 0, can_id, ext, rtr, data):
                hit = 1
            elif rxm == 3:
                hit = 0  # masks and filters off: FILHIT shows RXF0
        if hit >= 0:
            if not r[CANINTF] & _RX0IF:
                self._load_rx(0x61, can_id, ext, rtr, data)
                r[RXB0CTRL] = (r[RXB0CTRL] & 0x66) | (_RXRTR if rtr else 0) | hit
                r[CANINTF] |= _RX0IF
            elif r[RXB0CTRL] & _BUKT:
                self._to_rxb1(hit, True, can_id, ext, rtr, data)
            else:
                self._overflow(_RX0OVR)
            return
        rxm = (r[RXB1CTRL] >> 5) & 3
        if rxm == 0 or rxm == 3:
            for n in range(2, 6):
                if self._match(n, 1, can_id, ext, rtr, data):
                    hit = n
                    break
            if hit < 0 and rxm == 3:
                hit = 2  # masks and filters off: FILHIT shows RXF2
        if hit >= 0:
            self._to_rxb1(hit, False, can_id, ext, rtr, data)
        elif key >= 0 and len(self._refused) < self.refused_max:
            self._refused[key] = True

    def _to_rxb1(self, hit, rolled, can_id, ext, rtr, data):
        r = self.regs
        if r[CANINTF] & _RX1IF:
            self._overflow(_RX1OVR)  # also for a rolled-over message (DS figure 4-3)
            return
        self._load_rx(0x71, can_id, ext, rtr, data)
        r[RXB1CTRL] = (r[RXB1CTRL] & 0x60) | (_RXRTR if rtr else 0) | hit
        r[CANINTF] |= _RX1IF
        self._rx1_rolled = rolled

    def _overflow(self, bit):
        r = self.regs
        if not r[EFLG] & bit:
            r[EFLG] |= bit
            r[CANINTF] |= _ERRIF

    def _load_rx(self, base, can_id, ext, rtr, data):
        r = self.regs
        n = len(data)
        if ext:
            sid = can_id >> 18
            r[base] = sid >> 3
            r[base + 1] = ((sid & 7) << 5) | 0x08 | ((can_id >> 16) & 3)
            r[base + 2] = (can_id >> 8) & 0xFF
            r[base + 3] = can_id & 0xFF
            r[base + 4] = (0x40 if rtr else 0) | n  # RXBnDLC.RTR: extended frames only
        else:
            r[base] = can_id >> 3
            r[base + 1] = ((can_id & 7) << 5) | (0x10 if rtr else 0)  # SRR: standard remote
            r[base + 2] = 0
            r[base + 3] = 0
            r[base + 4] = n
        if not rtr and n:
            r[base + 5 : base + 5 + n] = data
