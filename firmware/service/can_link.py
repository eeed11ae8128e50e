"""The service link on CAN, the pack's side: requests put together from the bus (the
segments of service/can.py), answered by the RS485 port's Server, the reply sent back in
segments, paced.

Made by the inverter link at the first frame of the service range, so a pack that is
never serviced over CAN holds none of it. A request counts when its id names this pack's
chain address (the master is 1; no address yet: nothing is ours) or ALL; the requests
for other packs and the other packs' replies are passed over without a look.

Pacing: a reply segment goes out only while no frame of ours waits in the controller,
one per poll, so two of the three TX buffers stay free for the inverter's frames and
the pack link's (whose ids win arbitration over the service range anyway). A reply
that cannot go out for _STALE_MS (nobody acknowledges, bus-off) is dropped and counted,
as is one overtaken by a new request. A request whose next segment comes _GAP_MS late is
dropped and counted (the sender gave up on it; its retry starts again at index 0).
"""

from micropython import const

from bms import ticks
from service import can as sc
from service import frame as fr

_GAP_MS = const(200)
_STALE_MS = const(500)
_COUNT_MASK = const(0x3FFFFFFF)


class CanService:
    def __init__(self, link):
        """link: the InverterLink (its controller, its lazily made Server, the app)."""
        self.link = link
        self.asm = sc.Assembler()
        self.reply = None  # the reply being sent (allocated at the first one)
        self.seg = bytearray(8)
        self.n = 0  # the reply's length
        self.at = 0  # the next reply byte to send (n: all sent)
        self.index = 0  # its segment's index
        self.source = 0  # the address the reply goes out from
        self.restart = False  # RESTART answered: the pack restarts once the reply is out
        self._last_rx = 0
        self._last_tx = 0
        # counters
        self.segments_in = 0
        self.requests = 0  # whole requests handed to the server
        self.replies = 0  # replies sent whole
        self.dropped = 0  # replies dropped (stale, or overtaken by a new request)

    def busy(self):
        """Whether poll() has something to do (a reply or a restart waits)."""
        return self.at < self.n or self.restart

    def take(self, f, now):
        """A CAN frame of the service range."""
        kind = (f.can_id >> 8) & 0xFF
        to = f.can_id & 0xFF
        me = self.link.service_app.address
        if kind != sc.REQUEST or me is None or (to != me and to != fr.ALL):
            return
        self.segments_in = (self.segments_in + 1) & _COUNT_MASK
        asm = self.asm
        if asm.next and ticks.diff(now, self._last_rx) >= _GAP_MS:
            asm.next = 0  # the rest never came
            asm.broken = (asm.broken + 1) & _COUNT_MASK
        self._last_rx = now
        n = asm.feed(f.data, f.dlc)
        if not n:
            return
        self.requests = (self.requests + 1) & _COUNT_MASK
        svc = self.link.server_for_service()
        length = svc.handle(asm.buf, n, now, me)
        if svc.restart_due:
            svc.restart_due = False
            self.restart = True
        if not length:
            return
        if self.at < self.n:
            self.dropped = (self.dropped + 1) & _COUNT_MASK
        if self.reply is None:
            self.reply = bytearray(fr.MAX_PAYLOAD + fr.OVERHEAD)
        self.reply[:length] = memoryview(svc.out)[:length]
        self.n = length
        self.at = 0
        self.index = 0
        self.source = me
        self._last_tx = now

    def poll(self, now):
        """Send the next segment when the controller has no frame of ours waiting;
        returns ms until poll() should run again."""
        can = self.link.can
        if can.tx_pending():
            if self.at < self.n and ticks.diff(now, self._last_tx) >= _STALE_MS:
                self.n = self.at = 0
                self.dropped = (self.dropped + 1) & _COUNT_MASK
            return 1
        if self.at < self.n:
            end = self.at + 7
            if end > self.n:
                end = self.n
            seg = self.seg
            seg[0] = self.index | (sc.LAST if end == self.n else 0)
            k = 1
            for i in range(self.at, end):
                seg[k] = self.reply[i]
                k += 1
            if can.send(sc.can_id(sc.REPLY, self.source), seg, k, True):
                self.at = end
                self.index += 1
                self._last_tx = now
                if end == self.n:
                    self.replies = (self.replies + 1) & _COUNT_MASK
            elif ticks.diff(now, self._last_tx) >= _STALE_MS:
                self.n = self.at = 0
                self.dropped = (self.dropped + 1) & _COUNT_MASK
            return 1
        if self.restart:
            self.restart = False
            self.link.server_for_service().restart(now)  # the reply has gone out
        return 1000

    def counters(self):
        return {
            "segments": self.segments_in,
            "requests": self.requests,
            "broken": self.asm.broken,
            "replies": self.replies,
            "dropped": self.dropped,
        }
