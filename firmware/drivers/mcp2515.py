"""Microchip MCP2515 CAN controller over SPI: 500 kbit/s, three TX and two RX buffers.

Takes a machine.SPI, its chip-select Pin and the board's crystal (8 or 16 MHz).
Register numbers, instructions and encodings are from Microchip DS20001801
(../shared/spec/hardware.md section 2). Frames are sent and received through
preallocated buffers: no allocation per frame.

- init(): RESET, CANSTAT polled until configuration mode (the oscillator may still be
  starting: up to ~5 ms), bit timing for 500 kbit/s, both RX buffers filtered
  (filters()), rollover from RXB0 to RXB1, RX interrupts on the INT pin; then every
  register written is read back (two block READs, still in configuration mode: masks
  and filters read 0 in any other) and only if all hold what was written, normal mode
  (confirmed by CANSTAT, the request by CANCTRL). An SPI error that corrupted one write
  would otherwise leave a node at the wrong bit rate (error frames, bus-off), open or
  shut filters, or an INT pin that never falls: it is a failed start instead
  (FAULT_TIMING, FAULT_CONFIG), tried again by the caller. Writes to the bit timing and
  filters only take in configuration mode.
- send(): the first TX buffer whose TXREQ is clear (READ STATUS tells), LOAD TX BUFFER,
  RTS. Returns False when all three are busy (the caller retries at its next poll); a
  failed send also reads the error state, so a bus-off is seen at once.
- recv(): READ STATUS, then for a full buffer RX STATUS, then READ RX BUFFER of a buffer
  both say is full; its RXnIF clears when chip select rises, freeing it. A buffer keeps
  its last frame after that: one glitched status bit would read the old frame again as
  new, so the second status must agree (a buffer fills by itself but never empties: a
  buffer only READ STATUS calls full is a glitch, counted in rx_garbled). A header no
  chip gives (an unimplemented bit set) is dropped and counted the same way. rx_more
  says whether RX STATUS saw the other buffer full too: a caller reading every frame
  stops when it did not, instead of paying a READ STATUS to hear that nothing waits.
- check(): the error state. The chip counts its own errors (TEC/REC) and recovers from
  bus-off by itself after 128 x 11 recessive bits; the driver counts error-passive and
  bus-off episodes and RX overflows, and drops frames queued while bus-off so that stale
  values are not sent late.
- ok and fault: whether the chip runs as init() left it. check(), send() and recv() also
  see a chip that was reset or browned out (back in configuration mode) and reads that
  no chip gives (MISO floating or stuck: bits the chip does not implement read 1); then
  ok goes False, fault (FAULT_*) says why, and the caller starts it again with init().
  An OSError from the SPI is the caller's to catch (FAULT_SPI names it).

Receiving while the loop is busy (ring_frames > 0, what the boards build): at 500 kbit/s
a frame of 8 data bytes lasts about 0.25 ms on the wire, so the chip's two RX buffers
hold 0.5 ms of a burst (31 slaves' pack-link frames, the inverter's heartbeats), far less
than a tick (~2.5 ms on an RP2040) or an RS485 reply (~4 ms). So:
- drain() moves every frame waiting in the chip into a receive ring: ring_frames slots
  of 13 bytes in one bytearray (the READ RX BUFFER answer, read into one buffer and
  copied into the head slot by _put(), in viper: one transfer per frame, no
  allocation). recv() then reads from the ring, in arrival order, draining the chip
  first only when the ring is empty. 48 frames hold a whole 32-pack burst plus the
  inverter's frames with room to spare; the cost is 48 x 13 B of ring (a memoryview
  per slot to read into, as before, cost 1 KB more).
- The drain is paid once a frame at the bus's pace (~0.22 ms a frame at 500 kbit/s,
  27 750 cycles at 125 MHz), so it is one flat body (irq()): a pass is one RX STATUS
  (its byte clocked out again, the first two compared) and a READ RX BUFFER of each buffer
  it calls full: three transfers a frame when frames come one by one.
- irq(pin) is the INT pin's handler (the boards wire Pin.irq(trigger=IRQ_FALLING) with
  irq_handler, a bound method made once). As a soft interrupt (Pin.irq's default, the
  only kind the ESP32 port has for pins) the port runs it through MicroPython's
  scheduler at the next opportunity of the VM (between bytecodes, never inside a C call
  such as an I2C transfer, nor inside native or viper code). As a hard one (hard=True,
  what boards/rp2040 wires) it runs at the edge, inside whatever the loop is doing, C
  calls included, with the heap locked: drain() allocates nothing (its buffers and
  counters are made here, small ints stay below 2**30), and the rp2 port's SPI
  transfers under 32 bytes (all of the drain's) are the SDK's blocking loop, no DMA to
  claim, no lock. Either way the handler may come inside one of our SPI transactions
  (chip select low) or the expander's on the same bus: every transaction sets busy (the
  expander takes this driver as its lock), and a handler that finds it set only leaves
  irq_pending, which the transaction's end (release()) services.
- A full ring drops the newest frame (read from the chip to free its buffer, then
  discarded), as the chip itself does when both of its buffers are full: the consumer
  only ever moves the tail and the drain only the head, so a drain that interrupts
  recv() never disturbs it. Frames lost in the ring count in rx_ring_dropped; those
  the chip lost (EFLG RX0OVR/RX1OVR) in rx_overflows, an episode between two check()s.
- After a chip overflow INT stays low (ERRIF) and an edge-triggered handler would get
  no edge again until check() cleared it, up to a second later: so a drain that finds
  both buffers empty and INT still low clears the overflow itself (_overflow()).
- The limit of a soft interrupt: it waits for the VM, and the VM takes no opportunity
  inside a C call (the front end's measurement read, 116 bytes with their CRCs, is
  ~2.7 ms at 400 kHz) nor inside native code, and more than two frames' time (~0.45 ms)
  without one loses frames in the chip (counted in rx_overflows). host_tests/
  test_can_burst shows both sides, tools/bench_rp2040_chip.py measures it on the
  emulated RP2040 (rp2040_can_burst_*). So the RP2040 board wires the handler hard. The
  ESP32 port cannot: its soft handler loses a burst that meets a long C call or native
  stretch (reading the front end in short transfers was tried, and on the emulated
  RP2040's CPU the soft handler still lost most of a burst, for 100 000 more cycles a
  tick: the rest of the tick gives it too few opportunities).
- A garbled read (the two status bytes disagree, an impossible header) is counted in
  rx_garbled and not stored; an error in the handler (an OSError from the SPI) is
  counted in irq_errors and left for the loop (the frame stays in the chip, INT low: the
  loop's recv() drains and meets the error itself).
"""

import micropython
from micropython import const

from bms import lazy

_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_BIT_MODIFY = const(0x05)
_READ_STATUS = const(0xA0)
_RX_STATUS = const(0xB0)
_LOAD_TX = (0x40, 0x42, 0x44)  # TXB0/1/2 from SIDH
_RTS = (0x81, 0x82, 0x84)
_READ_RX = const(0x90)  # RXB0 from SIDH; RXB1 at 0x94

_CANSTAT = const(0x0E)
_CANCTRL = const(0x0F)
_TEC = const(0x1C)
_CANINTE = const(0x2B)
_CANINTF = const(0x2C)
_EFLG = const(0x2D)

_MODE_MASK = const(0xE0)
MODE_NORMAL = const(0x00)
MODE_LOOPBACK = const(0x40)
MODE_CONFIG = const(0x80)
# what a chip reads in the bits this driver never changes: CANSTAT bits 4 and 0 are
# unimplemented (0); CANCTRL keeps ABAT and OSM clear and CLKEN/CLKPRE as RESET sets them
_CANSTAT_UNIMPLEMENTED = const(0x11)
_CANCTRL_LOW = const(0x1F)
_CANCTRL_LOW_SET = const(0x07)
_SIDL_UNIMPLEMENTED = const(0x04)  # RXBnSIDL bit 2
# RXBnDLC bit 7 is unimplemented (0); bits 5:4 are reserved, unknown ("x") in the data
# sheet, so not judged
_DLC_UNIMPLEMENTED = const(0x80)
# the driver's buffers: the longest transfer is send()'s LOAD TX BUFFER of 8 data bytes
# (init()'s read-back, longer, has buffers of its own: drivers/mcp2515_setup.py)
_BUF_LEN = const(14)
_COUNT_MASK = const(0x3FFFFFFF)  # counters wrap here: past it a 32-bit port allocates
# a READ RX BUFFER answer: byte 0 clocked in with the instruction, then SIDH, SIDL,
# EID8, EID0, DLC and 8 data bytes; a ring slot holds all but byte 0
_ANSWER = const(14)
_SLOT = const(13)
_BOTH_FULL = const(0x100)  # _full(): RX STATUS says both buffers hold a frame
RING_FRAMES = const(48)  # what the boards give: see the docstring
# _put()'s answers
_STORED = const(1)
_RING_FULL = const(2)  # dropped: no free slot
_GARBLED = const(0)  # a header no chip gives: not stored
_LOOP = const(-1)  # irq()'s pin when drain() calls it: errors are raised

# why ok is False
FAULT_NONE = const(0)
FAULT_CRYSTAL = const(1)  # no bit timing for this crystal
FAULT_NO_RESET = const(2)  # no configuration mode after RESET: absent, unpowered, no clock
FAULT_TIMING = const(3)  # the bit timing (CNF1-3) did not read back
FAULT_NO_MODE = const(4)  # the requested mode was not confirmed, or CANCTRL not as written
_FAULT_MODE_LOST = const(5)  # left its mode by itself: reset or browned out
_FAULT_GARBLED = const(6)  # reads no chip gives: MISO floating or stuck
FAULT_SPI = const(7)  # the SPI raised OSError (set by the caller that caught it)
FAULT_CONFIG = const(8)  # a mask, filter, RXBnCTRL or CANINTE did not read back
# bus-off again and again: the link puts the controller down for a restart (set by
# inverter_link, which has the clock)
FAULT_BUS_OFF = const(9)

# READ STATUS bits
_ST_RX0IF = const(0x01)
_ST_RX1IF = const(0x02)
_ST_TXREQ = (0x04, 0x10, 0x40)

# EFLG bits
_RX1OVR = const(0x80)
_RX0OVR = const(0x40)
_TXBO = const(0x20)
_TXREQ = const(0x08)  # TXBnCTRL
_TXB_CTRL = (0x30, 0x40, 0x50)
_TXEP = const(0x10)
_RXEP = const(0x08)
_MERRF = const(0x80)
_ERRIF = const(0x20)

_EXIDE = const(0x08)
_RTR = const(0x40)

# CNF1, CNF2, CNF3 for 500 kbit/s (Microchip's tables; both decode to exactly 500 kbit/s)
BIT_TIMING_500K = {8000000: (0x00, 0x90, 0x82), 16000000: (0x00, 0xF0, 0x86)}


class CanFrame:
    """One frame, preallocated by its user and refilled by recv()."""

    def __init__(self):
        self.can_id = 0
        self.ext = False
        self.rtr = False
        self.dlc = 0
        self.data = bytearray(8)


def _decode(r, frame, o):
    """A READ RX BUFFER answer at r[o] (r[o + 1] = SIDH ... r[o + 13] = D7) into frame (a
    CanFrame)."""
    sidh = r[o + 1]
    sidl = r[o + 2]
    std = sidh << 3 | sidl >> 5
    if sidl & _EXIDE:  # IDE
        frame.can_id = std << 18 | (sidl & 0x03) << 16 | r[o + 3] << 8 | r[o + 4]
        frame.ext = True
        frame.rtr = bool(r[o + 5] & _RTR)
    else:
        frame.can_id = std
        frame.ext = False
        frame.rtr = bool(sidl & 0x10)  # SRR: a standard remote frame
    n = r[o + 5] & 0x0F
    if n > 8:
        n = 8
    frame.dlc = n
    data = frame.data
    o += 6
    for i in range(n):
        data[i] = r[o + i]


ptr8 = int  # viper's pointer types, named for CPython (annotations are evaluated)
ptr32 = int


@micropython.viper
def _put(ring: ptr8, ht: ptr32, src: ptr8) -> int:
    """A READ RX BUFFER answer (src) but its byte 0 into the ring's head slot. ht: head and
    tail (byte offsets over 0..2 * size - 1, so that a full ring and an empty one differ)
    and size (the ring's bytes). _STORED; _RING_FULL when no slot is free: the newest
    frame is dropped, as the chip drops one when both its buffers are full (the consumer
    only ever moves the tail and this only the head, so a drain that interrupts recv()
    never disturbs it); _GARBLED for a header no chip gives. In viper: the copy is the
    drain's inner loop (a memoryview per slot to read into costs ~1 KB of heap)."""
    if (src[2] & _SIDL_UNIMPLEMENTED) or (src[5] & _DLC_UNIMPLEMENTED):
        return _GARBLED
    head = ht[0]
    size = ht[2]
    used = head - ht[1]
    if used < 0:
        used += 2 * size
    if used >= size:
        return _RING_FULL
    o = head
    if o >= size:
        o -= size
    i = 0
    while i < _SLOT:
        ring[o + i] = src[i + 1]
        i += 1
    head += _SLOT
    if head == 2 * size:
        head = 0
    ht[0] = head
    return _STORED


class MCP2515:
    def __init__(self, spi, cs, osc_hz=8000000, int_pin=None, sleep_us=None, ring_frames=0):
        """int_pin: the chip's INT output (active low), if the board wires it: then a
        poll with nothing received costs one pin read instead of an SPI transfer.
        sleep_us: time.sleep_us, the wait between CANSTAT polls after RESET; without it
        the polls follow each other at once. ring_frames: the receive ring's size (0:
        none, recv() reads the chip directly). The body (every attribute, commented) is
        in drivers/mcp2515_setup.py, loaded for it and dropped after: the driver is built
        once, at boot."""
        lazy.run(
            "drivers.mcp2515_setup", "build", self, spi, cs, osc_hz, int_pin, sleep_us, ring_frames
        )

    # -- SPI -------------------------------------------------------------------------
    def _xfer(self, n):
        """Exchange the first n bytes of _w, the answer into _r."""
        v = self._views.get(n)
        if v is None:  # a length's first transfer: its views, made once
            v = (memoryview(self._w)[:n], memoryview(self._r)[:n])
            self._views[n] = v
        w, r = v
        self.busy = True
        self.cs.value(0)
        try:
            self.spi.write_readinto(w, r)
        finally:
            self.cs.value(1)
            # release(), inlined: a call more on every transfer costs the tick
            self.busy = False
            if self.irq_pending and not self._draining:
                self.drain()

    def release(self):
        """The end of a transaction on the shared SPI bus (ours or the expander's): a
        drain the INT handler could not do meanwhile is done now."""
        self.busy = False
        if self.irq_pending and not self._draining:
            self.drain()

    def read_reg(self, addr):
        w = self._w
        w[0] = _READ
        w[1] = addr
        w[2] = 0
        self._xfer(3)
        return self._r[2]

    def modify(self, addr, mask, value):
        w = self._w
        w[0] = _BIT_MODIFY
        w[1] = addr
        w[2] = mask
        w[3] = value
        self._xfer(4)

    def status(self):
        w = self._w
        w[0] = _READ_STATUS
        w[1] = 0
        self._xfer(2)
        return self._r[1]

    # -- setup -------------------------------------------------------------------------
    def init(self, filters=None, mode=MODE_NORMAL):
        """Reset and configure for 500 kbit/s. filters: (mask0, [f0, f1], mask1, [f2..f5])
        as (can_id, ext) pairs, or None to accept every frame. The caller lets the
        crystal start (a few ms after power-up) before calling this. (The work is in
        drivers/mcp2515_setup.py, loaded for this and dropped after: a start is rare.)"""
        return lazy.run("drivers.mcp2515_setup", "init", self, filters, mode)

    # -- frames ----------------------------------------------------------------------
    def send(self, can_id, data, n, ext=False, rtr=False):
        """Queue a frame in a free TX buffer and request its transmission."""
        if self._eflg & _TXBO:
            self._state()  # recovered since?
            if self._eflg & _TXBO or not self.ok:
                self.dropped_stale = (self.dropped_stale + 1) & _COUNT_MASK
                return False
        st = self.status()
        for b in range(3):
            if not st & _ST_TXREQ[b]:
                break
        else:
            self.tx_busy = (self.tx_busy + 1) & _COUNT_MASK
            self._state()  # nothing leaves: perhaps bus-off, gone before check() looks
            return False
        w = self._w
        w[0] = _LOAD_TX[b]
        if ext:
            w[1] = (can_id >> 21) & 0xFF
            w[2] = ((can_id >> 13) & 0xE0) | _EXIDE | ((can_id >> 16) & 0x03)
            w[3] = (can_id >> 8) & 0xFF
            w[4] = can_id & 0xFF
        else:
            w[1] = (can_id >> 3) & 0xFF
            w[2] = (can_id << 5) & 0xE0
            w[3] = 0
            w[4] = 0
        w[5] = (n & 0x0F) | (_RTR if rtr else 0)
        if rtr:
            n = 0  # a remote frame carries its DLC but no data
        for i in range(n):
            w[6 + i] = data[i]
        self._xfer(6 + n)
        w[0] = _RTS[b]
        self._xfer(1)
        self.sent = (self.sent + 1) & _COUNT_MASK
        return True

    def attention(self):
        """Whether the chip may have something to say (a frame, an error change)."""
        ht = self._ht
        return ht[0] != ht[1] or self.int_pin is None or not self.int_pin.value()

    def recv(self, frame):
        """Read one received frame into frame (a CanFrame); False when none waits, and
        when the two status reads disagree or the header is one no chip gives (both
        counted in rx_garbled). rx_more: after a frame, whether RX STATUS said the other
        buffer was full too; when it did not, the caller need not ask again at once (one
        READ STATUS saved per poll): a frame that came in since waits for its next poll,
        holding INT low. With a ring: the oldest frame of the ring (the chip is drained
        first when the ring is empty); rx_more says whether another one waits there."""
        if self._ring:  # (empty: no ring)
            return self._pop(frame)
        st = self._full()
        if not st:
            return False
        self.rx_more = st & _BOTH_FULL != 0
        # READ RX BUFFER from a command of its own (zeros after the instruction: nothing
        # to clear per frame); the buffer's RXnIF clears as chip select rises
        buf = self._buf
        cmd = self._rx_cmd
        cmd[0] = _READ_RX if st & _ST_RX0IF else _READ_RX | 4
        self._xfer_into(cmd, buf)
        # a header no chip gives (not a chip's answer: a floating MISO reads 0xFF) is
        # dropped and counted; one glitch is not a dead chip, so check() (soon: the
        # caller asks for it) judges
        if buf[2] & _SIDL_UNIMPLEMENTED or buf[5] & _DLC_UNIMPLEMENTED:
            self.rx_garbled = (self.rx_garbled + 1) & _COUNT_MASK
            return False
        _decode(buf, frame, 0)
        self.received = (self.received + 1) & _COUNT_MASK
        return True

    def _full(self):
        """The RX buffers READ STATUS calls full (_ST_RX0IF, _ST_RX1IF), or-ed with
        _BOTH_FULL when RX STATUS says both are; 0 for none, and for a disagreement
        (counted in rx_garbled). RX STATUS bits 7:6 confirm before a buffer that still
        holds the frame read last is read again (a new frame may fill one in between:
        only a buffer READ STATUS calls full and RX STATUS does not is a disagreement)."""
        w = self._sw
        r = self._sr
        w[0] = _READ_STATUS
        self._xfer_into(w, r)
        st = r[1] & (_ST_RX0IF | _ST_RX1IF)
        if not st:
            return 0
        w[0] = _RX_STATUS
        self._xfer_into(w, r)
        full = r[1] >> 6
        if st & ~full:
            self.rx_garbled = (self.rx_garbled + 1) & _COUNT_MASK
            return 0
        return st | _BOTH_FULL if full == _ST_RX0IF | _ST_RX1IF else st

    def _xfer_into(self, w, r):
        """A transaction on buffers of the caller's (the status reads, READ RX BUFFER)."""
        self.busy = True
        self.cs.value(0)
        try:
            self.spi.write_readinto(w, r)
        finally:
            self.cs.value(1)
            self.release()

    # -- the receive ring ------------------------------------------------------------
    def irq(self, pin=None):
        """The INT pin's handler, and the drain: every frame waiting in the chip into the
        ring, now, or at the end of the transaction under way (busy: irq_pending). Returns
        the frames read (those dropped included). One flat body: at the bus's pace it runs
        once a frame, and every Python call or status read more is paid per frame. A pass
        is one RX STATUS, its byte clocked out twice (a buffer never empties by itself: a
        first byte calling full one the second does not is a glitch, counted in
        rx_garbled, and ends the drain), then a READ RX BUFFER of each buffer it calls
        full, RXB0 first (with the rollover, RXB1 takes a frame only while RXB0 is full),
        each stored by _put(). Errors are counted in irq_errors, never raised (one
        escaping a hard interrupt disables the handler for good), unless pin is _LOOP:
        drain(), the loop's call, meets them itself (an OSError: FAULT_SPI)."""
        if self.busy or self._draining:
            self.irq_pending = True
            return 0
        if not self._ring:
            return 0
        got = 0
        n, cs, buf, sw, sr, cmd, ht, ring = self._drain_with  # (one attribute load)
        spi = self.spi  # (not in it: a test swaps the SPI for a broken one)
        p = self.int_pin
        # the INT pin tells the handler (not the loop's drain, bounded by the status reads
        # alone) that nothing more waits: one pin read instead of a status transfer
        edge = p if pin != _LOOP else None
        sw[0] = _RX_STATUS  # (_full() and _overflow() use it too)
        try:
            # bounded, over the whole drain: a chip (or a stuck MISO) that always reads
            # full cannot keep the loop here; what is left holds INT low for the loop's poll
            passes = n
            while True:
                self._draining = True
                while passes:
                    passes -= 1
                    self.irq_pending = False
                    # (a Pin called: its value() without the method's lookup, paid 4 times
                    # a frame)
                    cs(0)
                    spi.write_readinto(sw, sr)
                    cs(1)
                    full = buf[1] >> 6
                    if full & ~(buf[2] >> 6):
                        self.rx_garbled = (self.rx_garbled + 1) & _COUNT_MASK
                        passes = 0  # (the drain ends)
                        break
                    if not full:
                        if self.irq_pending:
                            continue
                        # both buffers empty, INT still low: an error flag holds it (an
                        # overflow?), and no edge comes again until it is cleared
                        if p is None or p.value() or not self._overflow():
                            break
                        continue
                    # RXB0 first (with the rollover, RXB1 takes a frame only while RXB0 is
                    # full), then RXB1 if it is full too: b, the READ RX BUFFER of one (no
                    # loop over the bits: its turns were paid once a frame)
                    b = _READ_RX if full & _ST_RX0IF else _READ_RX | 4
                    k = got  # got before this pass: frames read (stored or dropped)
                    while True:
                        cmd[0] = b
                        cs(0)
                        spi.write_readinto(cmd, buf)  # RXnIF clears as CS rises
                        cs(1)
                        stored = _put(ring, ht, buf)
                        if stored == _STORED:
                            self.received = (self.received + 1) & _COUNT_MASK
                            got += 1
                        elif stored == _RING_FULL:
                            self.rx_ring_dropped = (self.rx_ring_dropped + 1) & _COUNT_MASK
                            got += 1
                        else:  # a header no chip gives: dropped, counted, not stored
                            self.rx_garbled = (self.rx_garbled + 1) & _COUNT_MASK
                        if full != _ST_RX0IF | _ST_RX1IF or b != _READ_RX:
                            break
                        b = _READ_RX | 4
                    if self.irq_pending:
                        continue
                    if got == k:
                        break  # garbled reads only: a drain that reads only these stops
                    if edge is not None and edge():
                        break  # INT high: both buffers empty, no error flag
                self._draining = False
                # a handler that came after the last pass looked found _draining and left
                # irq_pending: INT stays low then, and no new edge would bring it back
                # before the chip overflows: so the drain goes on, however often that
                # happens (it stopped after a second time: the frames left waited for the
                # loop's next transaction or poll)
                if not self.irq_pending or not passes:
                    break
        except Exception:  # noqa: BLE001 - any (see above)
            cs.value(1)  # a transfer that raised must not hold the shared bus
            self._draining = False
            if pin == _LOOP:
                raise
            self.irq_errors = (self.irq_errors + 1) & _COUNT_MASK
        return got

    def drain(self):
        """Move every frame waiting in the chip into the ring (recv() with an empty ring,
        release() with irq_pending): irq()'s body, its errors raised; returns how many
        were read (those dropped included)."""
        return self.irq(_LOOP)

    def _overflow(self):
        """Both RX buffers empty and INT still low: is it an overflow? The chip sets
        ERRIF with EFLG RX0OVR/RX1OVR, and INT stays low until both are cleared, so an
        edge-triggered handler would see no edge again (the frames after it would wait
        for the loop's poll and overflow again) until check() cleared them. So the drain
        clears them, counting the episode in rx_overflows as check() does: once between
        two check()s (an episode of a burst the loop could not follow is one). True when
        it cleared them; any other error flag holding INT is check()'s to read."""
        w = self._sw
        r = self._sr
        w[0] = _READ
        w[1] = _CANINTF
        w[2] = 0
        w[3] = 0
        self._xfer_into(w, r)  # CANINTF, EFLG
        w[0] = _RX_STATUS  # (the drain's, as it was)
        if not r[3] & (_RX0OVR | _RX1OVR):
            return False
        if not self._ovr_counted:
            self._ovr_counted = True
            self.rx_overflows = (self.rx_overflows + 1) & _COUNT_MASK
        w[0] = _BIT_MODIFY
        w[1] = _EFLG
        w[2] = _RX0OVR | _RX1OVR
        self._xfer_into(w, r)
        w[1] = _CANINTF
        w[2] = _ERRIF
        self._xfer_into(w, r)
        w[0] = _RX_STATUS
        return True

    def _pop(self, frame):
        ht = self._ht
        tail = ht[1]
        if tail == ht[0]:
            self.drain()
            if tail == ht[0]:
                self.rx_more = False
                return False
        size = ht[2]
        # (a slot holds the answer from its byte 1: _decode() reads from r[o + 1])
        _decode(self._ring, frame, (tail if tail < size else tail - size) - 1)
        tail += _SLOT
        if tail == 2 * size:
            tail = 0
        ht[1] = tail
        self.rx_more = tail != ht[0]
        return True

    def pending(self):
        """How many frames wait in the ring."""
        ht = self._ht
        used = ht[0] - ht[1]
        return (used + 2 * ht[2] if used < 0 else used) // _SLOT

    def check(self):
        """Read the error state and the error counters; count episodes; recover what
        the driver must. Call it about once a second and when the INT pin says ERRIF.
        Returns EFLG, or -1 when the chip no longer runs as init() left it (ok False)."""
        eflg = self._state()
        if eflg >= 0:
            w = self._w
            w[0] = _READ
            w[1] = _TEC
            w[2] = 0
            w[3] = 0
            self._xfer(4)
            self.tec = self._r[2]
            self.rec = self._r[3]
        return eflg

    def _state(self):
        """CANINTF, EFLG, and CANSTAT and CANCTRL (mirrored at 0x2E and 0x2F) in one
        READ: EFLG with its episodes counted as they begin, or -1 when the chip no longer
        runs as init() left it."""
        w = self._w
        w[0] = _READ
        w[1] = _CANINTF
        r = self._r
        fault = FAULT_NONE
        for _ in range(2):  # read again before judging: one SPI glitch is not a dead chip
            for i in range(2, 6):
                w[i] = 0
            self._xfer(6)
            stat = r[4]
            if stat & _CANSTAT_UNIMPLEMENTED or r[5] & _CANCTRL_LOW != _CANCTRL_LOW_SET:
                fault = _FAULT_GARBLED
            elif stat & _MODE_MASK != self._mode:
                fault = _FAULT_MODE_LOST
            else:
                fault = FAULT_NONE
                break
        if fault != FAULT_NONE:
            self.ok = False
            self.fault = fault
            return -1
        intf = r[2]
        eflg = r[3]
        rose = eflg & ~self._eflg
        if rose & _TXBO:
            self.bus_off = (self.bus_off + 1) & _COUNT_MASK
            # stale by the time the bus is back
            self.dropped_stale = (self.dropped_stale + self.abort()) & _COUNT_MASK
        if rose & (_TXEP | _RXEP):
            self.passive = (self.passive + 1) & _COUNT_MASK
        if eflg & (_RX0OVR | _RX1OVR):
            if not self._ovr_counted:  # (else the drain counted this episode)
                self.rx_overflows = (self.rx_overflows + 1) & _COUNT_MASK
            self.modify(_EFLG, _RX0OVR | _RX1OVR, 0)
        self._ovr_counted = False
        if intf & (_MERRF | _ERRIF):
            self.modify(_CANINTF, _MERRF | _ERRIF, 0)
        self._eflg = eflg & ~(_RX0OVR | _RX1OVR)
        return eflg

    def tx_pending(self):
        """Whether a frame still waits in a TX buffer (not yet acknowledged on the bus)."""
        return bool(self.status() & (_ST_TXREQ[0] | _ST_TXREQ[1] | _ST_TXREQ[2]))

    def abort(self):
        """Drop every frame still waiting to go out; returns how many there were. Clearing
        each TXREQ also stops the retries of the frame on the wire (ABAT alone would not:
        it lets that frame run on, DS20001801 3.4)."""
        st = self.status()
        n = 0
        for b in range(3):
            if st & _ST_TXREQ[b]:
                n += 1
                self.modify(_TXB_CTRL[b], _TXREQ, 0)
        return n
