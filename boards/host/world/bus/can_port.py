"""A CAN port into the simulated bus for something outside the firmware: a test's
service client, or python-can in another process (bus/can_udp.py).

A node of bus/canbus.py that sends what it is given, in order, as soon as it wins the
bus, acknowledges every frame (as a USB adapter in normal mode does) and keeps what it
receives until taken. send() marks the bus not quiet, so the frame starts at its next
idle; the controllers that receive it wake their firmware (their INT pin).
"""


class CanPort:
    def __init__(self):
        self.bus = None
        self.tx = []  # frames (can_id, ext, rtr, data) to send, oldest first
        self.rx = []  # frames received, oldest first
        self.sent = 0

    def send(self, can_id, data, ext=True):
        self.tx.append((can_id, ext, False, bytes(data)))
        if self.bus is not None:
            self.bus.quiet = False

    def take(self):
        """Every frame received since the last call."""
        out = self.rx
        self.rx = []
        return out

    # -- CanBus node ------------------------------------------------------------------
    def can_attached(self, bus):
        self.bus = bus

    def can_offer(self):
        return self.tx[0] if self.tx else None

    def can_quiet(self):
        return not self.tx

    def can_sent(self, frame, t_us):
        self.tx.pop(0)
        self.sent += 1

    def can_receive(self, frame, t_us):
        self.rx.append(frame)

    def can_error(self, t_us, tx):
        pass  # the frame stays offered: it competes again

    def can_retry_stable(self, tx):
        return True
