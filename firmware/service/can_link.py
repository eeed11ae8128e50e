"""The service link on CAN, the pack's side: requests put together from the bus (the
segments of service/can.py), answered by the RS485 port's Server, the reply sent back in
segments, paced; and on the master, the relay of RS485 port 1's requests for the other
packs (their replies go back out of port 1).

Made by the inverter link at the first frame of the service range (or the first request
to relay), so a pack that is never serviced over CAN holds none of it. A request counts
when its id names this pack's chain address (the master is 1; no address yet: nothing is
ours) or ALL; the requests for other packs are passed over without a look, and so are
the other packs' replies unless the relay waits for one.

Pacing: a segment goes out only while no frame of ours waits in the controller and at
least SEG_GAP_MS after the one before, so two of the three TX buffers stay free for the
inverter's frames and the pack link's (whose ids win arbitration over the service range
anyway), and a pack reading its two receive buffers keeps up: while segments come in
(a request begun, a relayed reply awaited) busy() holds and the loop reads every ms,
so only a tick (a few ms on the RP2040) lies between two reads. A frame that
cannot go out for _STALE_MS (nobody acknowledges, bus-off) is dropped and counted, as is
one overtaken by a new one. A request whose next segment comes _GAP_MS late is dropped
and counted (the sender gave up on it; its retry starts again at index 0).

The relay (master only, address 1): a valid request on port 1 for pack 2..32 goes out on
CAN as it came; the reply from that pack within _RELAY_MS goes out of port 1 as it came
(its CRC is the pack's). One request at a time, as a half-duplex client asks. A request
to ALL is done here and relayed too. UNLOCK_RELAY is relayed only while this pack's own
unlock holds, with what is left of it; a slave takes it only while this pack's pack-link
announcement says so too (packlink.py), and its unlock ends with ours.
"""

from micropython import const

from bms import ticks
from service import can as sc
from service import frame as fr

SEG_GAP_MS = const(4)
_GAP_MS = const(200)
_STALE_MS = const(500)
_RELAY_MS = const(800)
_COUNT_MASK = const(0x3FFFFFFF)


class CanService:
    def __init__(self, link):
        """link: the InverterLink (its controller, its lazily made Server, the app)."""
        self.link = link
        self.asm = sc.Assembler()
        self.tx = None  # the frame being sent (allocated at the first one)
        self.seg = bytearray(8)
        self.tx_id = 0  # its CAN id
        self.n = 0  # its length
        self.at = 0  # the next byte to send (n: all sent)
        self.index = 0  # its segment's index
        self.restart = False  # RESTART answered: the pack restarts once the reply is out
        self._last_rx = 0
        self._last_tx = 0
        # the relay (master): the pack whose reply goes back out of port 1, until when
        self.relay_asm = None
        self.relay_port = None
        self.relay_from = 0
        self.relay_until = 0
        # counters
        self.segments_in = 0
        self.requests = 0  # whole requests handed to the server
        self.replies = 0  # frames sent whole (replies and relayed requests)
        self.dropped = 0  # frames dropped (stale, or overtaken by a new one)
        self.relayed = 0  # replies relayed back out of port 1
        self.relay_lost = 0  # relayed requests without a reply in time

    def busy(self):
        """Whether poll() has something to do: a frame to send, a restart, or segments
        coming in (a request being put together, a relayed reply awaited: the loop then
        reads the controller every ms, so its two receive buffers keep up)."""
        return self.at < self.n or self.restart or self.asm.next or self.relay_from

    def take(self, f, now):
        """A CAN frame of the service range."""
        kind = (f.can_id >> 8) & 0xFF
        to = f.can_id & 0xFF
        if kind == sc.REPLY:
            if self.relay_from and to == self.relay_from:
                self._relay_reply(f, now)
            return
        me = self.link.service_app.address
        if kind != sc.REQUEST or me is None or (to != me and to != fr.ALL):
            return
        self.segments_in = (self.segments_in + 1) & _COUNT_MASK
        self._expire(now)
        self._last_rx = now
        asm = self.asm
        n = asm.feed(f.data, f.dlc)
        if not n:
            return
        self.requests = (self.requests + 1) & _COUNT_MASK
        svc = self.link.server_for_service()
        length = svc.handle(asm.buf, n, now, me)
        if svc.restart_due:
            svc.restart_due = False
            self.restart = True
        if length:
            self._queue(sc.can_id(sc.REPLY, me), svc.out, length, now)

    def _queue(self, can_id, data, n, now):
        if self.at < self.n:
            self.dropped = (self.dropped + 1) & _COUNT_MASK
        if self.tx is None:
            self.tx = bytearray(fr.MAX_PAYLOAD + fr.OVERHEAD)
        self.tx[:n] = memoryview(data)[:n]
        self.tx_id = can_id
        self.n = n
        self.at = 0
        self.index = 0
        self._last_tx = now

    def _expire(self, now):
        asm = self.asm
        if asm.next and ticks.diff(now, self._last_rx) >= _GAP_MS:
            asm.next = 0  # the rest never came
            asm.broken = (asm.broken + 1) & _COUNT_MASK
        if self.relay_from and ticks.diff(now, self.relay_until) >= 0:
            self.relay_from = 0  # the pack never answered: the client has given up
            self.relay_lost = (self.relay_lost + 1) & _COUNT_MASK

    def poll(self, now):
        """Send the next segment when its time has come and the controller has no frame
        of ours waiting; returns ms until poll() should run again."""
        self._expire(now)
        if self.at < self.n:
            since = ticks.diff(now, self._last_tx)
            if since < SEG_GAP_MS and self.at:  # (the first segment goes at once)
                return SEG_GAP_MS - since
            can = self.link.can
            if not can.tx_pending() and self._send(can):
                self._last_tx = now
            elif since >= _STALE_MS:
                self.n = self.at = 0
                self.dropped = (self.dropped + 1) & _COUNT_MASK
            return 1
        if self.restart:
            self.restart = False
            self.link.server_for_service().restart(now)  # the reply has gone out
        return 1 if self.asm.next or self.relay_from else 1000

    def _send(self, can):
        end = self.at + 7
        if end > self.n:
            end = self.n
        seg = self.seg
        seg[0] = self.index | (sc.LAST if end == self.n else 0)
        k = 1
        tx = self.tx
        for i in range(self.at, end):
            seg[k] = tx[i]
            k += 1
        if not can.send(self.tx_id, seg, k, True):
            return False
        self.at = end
        self.index += 1
        if end == self.n:
            self.replies = (self.replies + 1) & _COUNT_MASK
        return True

    # -- the relay (the master) ----------------------------------------------------------
    def relay(self, port, buf, n, now):
        """A frame from RS485 port 1; True when it was for another pack and is relayed
        (or refused here), False when this pack answers it (ALL: relayed too)."""
        if not fr.valid(buf, n):
            return False  # the server counts it
        to = buf[1]
        if self.link.service_app.address != 1 or to == 1 or not (2 <= to <= 32 or to == fr.ALL):
            return False
        if buf[2] == fr.UNLOCK_RELAY:
            buf, n = self._unlock(buf, now)
            if not n:
                port.send(buf, now)  # refused here: this pack is not unlocked
                return True
        self._queue(sc.can_id(sc.REQUEST, to), buf, n, now)
        if to == fr.ALL:
            return False
        if self.relay_asm is None:
            self.relay_asm = sc.Assembler()
        if self.relay_from:
            self.relay_lost = (self.relay_lost + 1) & _COUNT_MASK  # the last never came
        self.relay_asm.next = 0
        self.relay_port = port
        self.relay_from = to
        self.relay_until = ticks.add(now, _RELAY_MS)
        return True

    def _unlock(self, buf, now):
        """UNLOCK_RELAY with what is left of this pack's unlock, or (the refusal, 0)."""
        app = self.link.service_app
        b = app.bms
        to = buf[1]
        if not b.unlock_valid(now):
            svc = self.link.server_for_service()
            svc.out[fr.HEAD] = fr.ERR_LOCKED
            k = fr.seal(svc.out, to, fr.UNLOCK_RELAY | fr.REPLY, 1)
            return memoryview(svc.out)[:k], 0
        left = app.cfg.unlock_valid_ms - ticks.diff(now, b.unlock_at)
        out = bytearray(fr.OVERHEAD + 4)
        fr.put32(out, fr.HEAD, left)
        return out, fr.seal(out, to, fr.UNLOCK_RELAY, 4)

    def _relay_reply(self, f, now):
        self._expire(now)
        if not self.relay_from:
            return
        a = self.relay_asm
        n = a.feed(f.data, f.dlc)
        if n:
            self.relay_from = 0
            self.relayed = (self.relayed + 1) & _COUNT_MASK
            port = self.relay_port
            if not port.sending:  # (the client waits for it: the port is idle)
                port.send(memoryview(a.buf)[:n], now)

    def counters(self):
        out = {
            "segments": self.segments_in,
            "requests": self.requests,
            "broken": self.asm.broken,
            "replies": self.replies,
            "dropped": self.dropped,
        }
        if self.relay_asm is not None:
            out["relayed"] = self.relayed
            out["relay_lost"] = self.relay_lost
            out["relay_broken"] = self.relay_asm.broken
        return out
