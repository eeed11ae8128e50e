"""The simulated CAN bus: frames between nodes, each taking its exact bit time on the wire.

It owns arbitration, the length of every frame (CRC-15 and bit stuffing, table-driven so a
frame costs a few microseconds of host time), bus time and load, acknowledgement, error
frames (injected ones, and frames nobody acknowledged), and the candump log writer.

A frame is a tuple (can_id, ext, rtr, data): data is a bytes object of 0-8 bytes and ext is
True for a 29-bit id. A remote frame carries no data on the wire; len(data) is its DLC
(pass bytes(dlc), usually b"").

A node is any object with (methods marked * are optional; the bus looks them up at attach):
- can_offer() -> the frame it wants to send next, or None. Asked only at bus idle.
- can_sent(frame, t_us): its frame went through (called on the winner).
- can_receive(frame, t_us): a frame went through (called on every other node).
- can_error(t_us, tx) *: an error frame ended; tx is True on the node whose attempt failed
  (its frame stays offered and competes again). During the call `bus.ack_error` says
  whether the failure was an ACK error (nobody acknowledged the frame).
- can_lost(t_us) *: its offer lost arbitration (the winner's start time).
- can_acks() *: whether it acknowledges frames now (default True). A frame that no other
  node acknowledges ends in an ACK error, as on a wire with only one active node.
- can_attached(bus) *: called by attach(), so a controller can read the bus's clock.
- can_quiet() *: True when can_offer() would return None and will go on doing so until
  the node itself sets `bus.quiet = False` (a controller whose TX buffers are all
  empty, a queue that is empty). While every node says so, the bus at idle does not ask
  for offers at all; a node without this method is asked every time.
- can_tells_changes *: True (an attribute) when the node sets `bus.retry_checked = None`
  whenever its answers to can_offer() or can_retry_stable() may have changed other than
  through the bus's own calls; while every node does, the bus asks them once per run of
  retries instead of at every call.
- can_retry_stable(tx) *: whether one more failed attempt with nobody acknowledging
  would leave this node exactly as it is (tx: it is the sender). A lone sender that
  keeps retrying (an error-passive controller with no one else on the bus) is then
  fast-forwarded over whole retry cycles instead of one error frame at a time. A node
  with can_error but without this method is never skipped over.

`stop`: set it (from a node or a pin watcher) to make run_until() return at the end of
the frame being delivered, so the engine can wake a firmware at that instant.

Time is in integer microseconds. run_until(t) processes the bus up to t; a frame starts
at the bus's current time when it is idle and some node offers one. So bring the bus to
the present (run_until(now)) before a node's offers change (before each firmware step),
then next_event_us() says when the frame in progress ends. Frames are delivered once,
at the end of their 3-bit intermission, when the bus is free again.
"""

import micropython
from micropython import const

# -- frame length ------------------------------------------------------------------
# The stuffed part of a frame (SOF to the end of the CRC) is processed 8 bits at a time:
# one table for CRC-15 (polynomial 0x4599, register starting at 0) and one for the bit
# stuffing state. A stuffing state is (value of the current run, its length 1..4): a run
# reaching 5 inserts a complementary stuff bit, which starts a new run of length 1.

_POLY = const(0x4599)


def _crc_table():
    table = []
    for i in range(256):
        c = i << 7
        for _ in range(8):
            c <<= 1
            if c & 0x8000:
                c ^= 0x8000 | _POLY
        table.append(c)
    return table


def _stuff_table(nbits):
    # index (state << nbits) | chunk -> (stuff bits << 3) | new state; state = value << 2 | len-1
    table = bytearray(8 << nbits)
    for state in range(8):
        for chunk in range(1 << nbits):
            v = state >> 2
            run = (state & 3) + 1
            stuffed = 0
            for j in range(nbits - 1, -1, -1):
                b = (chunk >> j) & 1
                if b == v:
                    run += 1
                    if run == 5:
                        stuffed += 1
                        v ^= 1
                        run = 1
                else:
                    v = b
                    run = 1
            table[(state << nbits) | chunk] = (stuffed << 3) | (v << 2) | (run - 1)
    return table


_CRC = _crc_table()
_STUFF8 = _stuff_table(8)
_STUFF7 = _stuff_table(7)  # the CRC's last 7 bits


def crc15(data):
    """CRC-15/CAN of whole bytes (the check value of b"123456789" is 0x059E)."""
    c = 0
    for b in data:
        c = ((c << 8) & 0x7FFF) ^ _CRC[(c >> 7) ^ b]
    return c


def frame_bits(can_id, ext, rtr, data):
    """Bits the frame occupies on the bus: SOF to EOF with its stuff bits, plus 3 of intermission.

    The header is right-aligned in whole bytes: the CRC sees leading zeros (which leave a
    zero register unchanged); the stuffing sees a leading 1010..1 pad, which never makes a
    run of 5 and ends recessive, so the dominant SOF starts a fresh run as after bus idle.
    """
    dlc = len(data)
    if dlc > 8:
        raise ValueError("CAN data is 0-8 bytes")
    crc = _CRC
    stuff = _STUFF8
    if ext:
        if can_id >> 29:
            raise ValueError("extended id beyond 29 bits")
        # SOF, ID28..18, SRR=1, IDE=1, ID17..0, RTR, r1, r0, DLC: 39 bits
        h = ((can_id >> 18) << 27) | 0x6000000 | ((can_id & 0x3FFFF) << 7) | dlc
        if rtr:
            h |= 0x40
        c = crc[h >> 32]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ ((h >> 24) & 0xFF)]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ ((h >> 16) & 0xFF)]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ ((h >> 8) & 0xFF)]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ (h & 0xFF)]
        e = stuff[0x80 | (h >> 32)]  # one pad bit: 1
        k = e >> 3
        e = stuff[((e & 7) << 8) | ((h >> 24) & 0xFF)]
        k += e >> 3
        e = stuff[((e & 7) << 8) | ((h >> 16) & 0xFF)]
        k += e >> 3
        e = stuff[((e & 7) << 8) | ((h >> 8) & 0xFF)]
        k += e >> 3
        e = stuff[((e & 7) << 8) | (h & 0xFF)]
        k += e >> 3
        bits = 67  # 54 stuffed + CRC delimiter, ACK slot and delimiter, EOF, intermission
    else:
        if can_id >> 11:
            raise ValueError("standard id beyond 11 bits")
        # SOF, ID10..0, RTR, IDE=0, r0, DLC: 19 bits
        h = (can_id << 7) | dlc
        if rtr:
            h |= 0x40
        c = crc[h >> 16]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ ((h >> 8) & 0xFF)]
        c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ (h & 0xFF)]
        e = stuff[0xA8 | (h >> 16)]  # five pad bits: 10101
        k = e >> 3
        e = stuff[((e & 7) << 8) | ((h >> 8) & 0xFF)]
        k += e >> 3
        e = stuff[((e & 7) << 8) | (h & 0xFF)]
        k += e >> 3
        bits = 47
    if not rtr:
        for b in data:
            c = ((c << 8) & 0x7FFF) ^ crc[(c >> 7) ^ b]
            e = stuff[((e & 7) << 8) | b]
            k += e >> 3
        bits += dlc << 3
    e = stuff[((e & 7) << 8) | (c >> 7)]
    k += e >> 3
    k += _STUFF7[((e & 7) << 7) | (c & 0x7F)] >> 3
    return bits + k


# An error attempt is the frame up to its ACK slot (the error is flagged from the next
# bit), then an error flag of 6 bits, its delimiter of 8 and the intermission: in place
# of the 11 bits of ACK delimiter, EOF and intermission that is 6 bits more.
ERROR_EXTRA_BITS = const(6)


def arbitration_key(frame):
    """The arbitration field as a number: the lower key wins the bus (CAN 2.0B).

    Bits from the top: ID28..18 (the 11-bit id of a standard frame), RTR or SRR, IDE, then
    ID17..0 and RTR of an extended frame. A standard frame beats an extended one with the
    same 11 base bits (its RTR or IDE bit is dominant where the extended frame's is not).
    """
    can_id, ext, rtr = frame[0], frame[1], frame[2]
    if ext:
        k = ((can_id >> 18) << 21) | 0x180000 | ((can_id & 0x3FFFF) << 1)
        return k | 1 if rtr else k
    k = can_id << 21
    return k | 0x100000 if rtr else k


class CanBus:
    """The wire: arbitration at idle, one frame at a time, error frames, load figures.

    bitrate: bits per second; it must divide 1 MHz so a bit is a whole number of
    microseconds (500 kbit/s: 2 us). history: how many recent frames load_pct() keeps to
    answer for an arbitrary `since_us`.
    """

    def __init__(self, bitrate=500000, history=4096):
        if type(bitrate) is not int or bitrate <= 0 or 1000000 % bitrate:
            raise ValueError("bitrate must divide 1000000 (whole microseconds per bit)")
        self.bitrate = bitrate
        self.bit_us = 1000000 // bitrate
        self.now_us = 0
        self.busy_us = 0  # completed frames and error frames
        self.frames = 0  # frames delivered
        self.errors = 0  # error frames
        self.in_frame = False
        self.frame_start_us = 0  # of the frame in progress, or being delivered
        self.ack_error = False
        self.stop = False
        self.quiet = False  # every node said can_quiet() at the last idle arbitration
        # the frame whose retries _skip_retries() last found it may skip, while no node's
        # state has moved since (nodes with can_tells_changes clear it when theirs does)
        self.retry_checked = None
        self._all_tell = True  # every node has can_tells_changes
        self.skipped = 0  # retries fast-forwarded
        self.nodes = []
        self._offer = []
        self._sent = []
        self._recv = []
        self._err = []
        self._lost = []
        self._acks = []
        self._stable = []
        self._quiet = []  # can_quiet of every node, or None where a node has none
        self._bits = {}  # frame -> frame_bits(frame)
        self._inject = {}
        self._losers = []
        self._cur = -1  # index of the sending node, -1 at idle
        self._cur_frame = None
        self._cur_end = 0
        self._cur_kind = 0  # 0 frame, 1 injected error, 2 ACK error
        self._hist = history
        self._h_start = [0] * history
        self._h_end = [0] * history
        self._h_cum = [0] * history  # busy_us at the end of that frame
        self._h_count = 0

    def attach(self, node):
        """Connect a node (see the module docstring for what it must have); returns it."""
        self.nodes.append(node)
        self._offer.append(node.can_offer)
        self._sent.append(node.can_sent)
        self._recv.append(node.can_receive)
        self._err.append(getattr(node, "can_error", None))
        self._lost.append(getattr(node, "can_lost", None))
        self._acks.append(getattr(node, "can_acks", None))
        stable = getattr(node, "can_retry_stable", None)
        if stable is None and getattr(node, "can_error", None) is None:
            stable = _always_stable
        self._stable.append(stable)
        self._quiet.append(getattr(node, "can_quiet", None))
        self.quiet = False
        self._all_tell = self._all_tell and getattr(node, "can_tells_changes", False)
        self.retry_checked = None
        hook = getattr(node, "can_attached", None)
        if hook is not None:
            hook(self)
        return node

    def inject_errors(self, node, n):
        """The next n transmission attempts of node end in an error frame."""
        self.retry_checked = None
        i = self.nodes.index(node)
        self._inject[i] = self._inject.get(i, 0) + n

    def next_event_us(self):
        """When the frame in progress ends (a pending frame starts now), or None at idle."""
        if self._cur < 0 and not self.quiet:
            self._arbitrate()
        return self._cur_end if self._cur >= 0 else None

    @micropython.native
    def run_until(self, t_us):
        """Process the bus up to t_us: frames end and are delivered, waiting frames start."""
        while True:
            if self._cur < 0 and (self.quiet or not self._arbitrate()):
                # idle until t_us; an offer that appears meanwhile (a bus-off recovery)
                # starts at the next call, from t_us
                if t_us > self.now_us:
                    self.now_us = t_us
                return
            end = self._cur_end
            if end > t_us:
                if t_us > self.now_us:
                    self.now_us = t_us
                return
            if self._cur_kind == 2 and self._skip_retries(t_us):
                return
            self.now_us = end
            self._complete()
            if self.stop:
                return

    def _skip_retries(self, t_us):
        """The frame on the wire is a retry nobody will acknowledge, and its failure would
        change nothing (every node says so, and no other frame waits): jump over the
        retries that end by t_us, leaving the one then in progress on the wire."""
        if self.retry_checked is not self._cur_frame:
            sender = self._cur
            offer = self._offer
            for j in range(len(offer)):
                f = offer[j]()
                if (f is not None) != (j == sender) or (f is not None and f != self._cur_frame):
                    return False
            stable = self._stable
            for j in range(len(stable)):
                if stable[j] is None or not stable[j](j == sender):
                    return False
            if self._all_tell:
                # the same answers until a node's state moves (it clears retry_checked)
                self.retry_checked = self._cur_frame
        start = self.frame_start_us
        cycle = self._cur_end - start
        k = (t_us - start) // cycle  # whole retries by t_us (at least the present one)
        span = k * cycle
        self.busy_us += span
        self.errors += k
        self.skipped += k
        h = self._h_count % self._hist  # one record for the run, fully busy
        self._h_start[h] = start
        self._h_end[h] = start + span
        self._h_cum[h] = self.busy_us
        self._h_count += 1
        self.frame_start_us = start + span
        self._cur_end = start + span + cycle
        self.now_us = t_us
        return True

    @micropython.native
    def _arbitrate(self):
        offer = self._offer
        losers = self._losers
        best = -1
        best_key = -1  # computed once a second offer needs comparing
        frame = None
        for i in range(len(offer)):
            f = offer[i]()
            if f is None:
                continue
            if best < 0:
                best, frame = i, f
                continue
            if best_key < 0:
                best_key = arbitration_key(frame)
            key = arbitration_key(f)
            # equal keys: two nodes sending the same id, which a CAN design must not do;
            # the first attached keeps the bus
            if key < best_key:
                losers.append(best)
                best, best_key, frame = i, key, f
            else:
                losers.append(i)
        if best < 0:
            quiet = True
            qs = self._quiet
            for i in range(len(qs)):  # (native code: an index loop allocates nothing)
                q = qs[i]
                if q is None or not q():
                    quiet = False
                    break
            self.quiet = quiet
            return False
        start = self.now_us
        self.retry_checked = None
        bits = self._bits.get(frame)
        if bits is None:
            # most frames repeat their content (names, capacities, steady values)
            if len(self._bits) >= 512:
                self._bits.clear()
            bits = frame_bits(frame[0], frame[1], frame[2], frame[3])
            self._bits[frame] = bits
        kind = 0
        if self._inject:
            left = self._inject.get(best, 0)
            if left:
                kind = 1
                if left == 1:
                    del self._inject[best]
                else:
                    self._inject[best] = left - 1
        if kind == 0 and not self._acknowledged(best):
            kind = 2
        if kind:
            bits += ERROR_EXTRA_BITS
        self._cur = best
        self._cur_frame = frame
        self._cur_kind = kind
        self._cur_end = start + bits * self.bit_us
        self.frame_start_us = start
        self.in_frame = True
        if losers:
            lost = self._lost
            for j in range(len(losers)):
                i = losers[j]
                if lost[i] is not None:
                    lost[i](start)
            losers.clear()
        return True

    @micropython.native
    def _acknowledged(self, sender):
        acks = self._acks
        for j in range(len(acks)):
            if j != sender and (acks[j] is None or acks[j]()):
                return True
        return False

    @micropython.native
    def _complete(self):
        self.retry_checked = None
        i = self._cur
        frame = self._cur_frame
        t = self._cur_end
        start = self.frame_start_us
        kind = self._cur_kind
        self._cur = -1
        self._cur_frame = None
        self.in_frame = False
        self.busy_us += t - start
        k = self._h_count % self._hist
        self._h_start[k] = start
        self._h_end[k] = t
        self._h_cum[k] = self.busy_us
        self._h_count += 1
        if kind == 0:
            self.frames += 1
            self._sent[i](frame, t)
            recv = self._recv
            for j in range(len(recv)):
                if j != i:
                    recv[j](frame, t)
            return
        self.errors += 1
        self.ack_error = kind == 2
        err = self._err
        if err[i] is not None:
            err[i](t, True)
        for j in range(len(err)):
            if j != i and err[j] is not None:
                err[j](t, False)
        self.ack_error = False

    # -- load ----------------------------------------------------------------------
    def busy_at(self, t_us):
        """Bus time used (frames and error frames) from time 0 up to t_us."""
        if t_us <= 0:
            return 0
        if self.in_frame and t_us >= self.frame_start_us:
            return self.busy_us + min(t_us, self._cur_end) - self.frame_start_us
        n = self._h_count
        if n == 0:
            return 0
        hist = self._hist
        last = (n - 1) % hist
        if t_us >= self._h_end[last]:
            return self.busy_us
        lo = n - hist if n > hist else 0
        starts = self._h_start
        if t_us < starts[lo % hist]:
            if lo == 0:
                return 0
            raise ValueError("since_us is older than the bus's frame history")
        hi = n - 1
        while lo < hi:  # the last frame that started at or before t_us
            mid = (lo + hi + 1) >> 1
            if starts[mid % hist] <= t_us:
                lo = mid
            else:
                hi = mid - 1
        p = lo % hist
        end = self._h_end[p]
        return self._h_cum[p] - (end - starts[p]) + min(t_us, end) - starts[p]

    def load_pct(self, since_us=None):
        """Percentage of bus time used from since_us (default: time 0) to now."""
        since = 0 if since_us is None else since_us
        now = self.now_us
        if now <= since:
            return 0.0
        return 100.0 * (self.busy_at(now) - self.busy_at(since)) / (now - since)


def _always_stable(tx):
    return True


# -- candump -L log ------------------------------------------------------------------------

_HEX = ["%02X" % i for i in range(256)]


def candump_line(frame, t_us, start_epoch_s=0, channel="can0"):
    """One candump -L line: `(SECONDS.MICROS) can0 ID#HEXDATA` with its newline.

    Standard ids print as 3 hex digits, extended ones as 8; a remote frame prints `ID#R`,
    followed by its DLC when that is not 0 (as can-utils prints it).
    """
    can_id, ext, rtr, data = frame
    t = _epoch_us(start_epoch_s) + t_us
    ident = ("%08X" if ext else "%03X") % can_id
    if rtr:
        payload = "R%d" % len(data) if len(data) else "R"
    else:
        payload = "".join([_HEX[b] for b in data])
    return "(%d.%06d) %s %s#%s\n" % (t // 1000000, t % 1000000, channel, ident, payload)


def _epoch_us(start_epoch_s):
    if type(start_epoch_s) is int:
        return start_epoch_s * 1000000
    return int(round(start_epoch_s * 1000000))


class CandumpLog:
    """A listener writing every delivered frame to file_obj as a candump -L log.

    start_epoch_s: the wall-clock time (seconds since 1970) of bus time 0. By default it is
    a passive tap, like a sniffer in listen-only mode: it never sends and does not
    acknowledge, so a frame only it hears still ends in an ACK error. acks=True makes it
    behave as candump on an interface in normal mode, which acknowledges every frame.
    """

    def __init__(self, file_obj, start_epoch_s=0, channel="can0", acks=False):
        self.file = file_obj
        self.start_epoch_s = start_epoch_s
        self.channel = channel
        self.acks = acks
        self.lines = 0

    def can_offer(self):
        return None

    def can_sent(self, frame, t_us):
        pass

    def can_receive(self, frame, t_us):
        self.file.write(candump_line(frame, t_us, self.start_epoch_s, self.channel))
        self.lines += 1

    def can_error(self, t_us, tx):
        pass

    def can_retry_stable(self, tx):
        return True

    def can_quiet(self):
        return True

    can_tells_changes = True  # nothing about it changes

    def can_acks(self):
        return self.acks
