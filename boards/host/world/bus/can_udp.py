"""The simulated CAN bus across processes: python-can's `udp_multicast` interface on
loopback (CPython only; python-can with msgpack, pinned in requirements.txt).

`tools/sim.py --can-udp GROUP` attaches one of these to the simulator's bus: every frame
on the simulated bus is sent to the multicast group, and every frame another process
sends to the group (`bmsctl --interface udp_multicast --channel GROUP`, candump-like
tools of python-can) is put on the simulated bus when the real-time loop calls pump(),
as a USB adapter in normal mode would (it acknowledges frames). Frames sent to the group
by this process come back to it only if python-can is asked to, which it is not.
"""

from boards.host.world.bus.can_port import CanPort

DEFAULT_GROUP = "239.74.163.2"  # python-can's UdpMulticastBus.DEFAULT_GROUP_IPv4


class UdpGateway(CanPort):
    def __init__(self, channel=DEFAULT_GROUP):
        import can

        super().__init__()
        self._can = can
        self.channel = channel
        self.pc = can.Bus(interface="udp_multicast", channel=channel)
        self.frames_in = 0
        self.frames_out = 0

    def pump(self):
        """Put what other processes sent on the simulated bus (from its next idle)."""
        while True:
            m = self.pc.recv(0)
            if m is None:
                return
            if m.is_error_frame or m.is_remote_frame:
                continue  # the service link and the firmware use neither
            self.frames_in += 1
            self.send(m.arbitration_id, bytes(m.data), m.is_extended_id)

    def can_receive(self, frame, t_us):
        can_id, ext, rtr, data = frame
        msg = self._can.Message(
            arbitration_id=can_id, is_extended_id=ext, is_remote_frame=rtr, data=data
        )
        try:
            self.pc.send(msg)
            self.frames_out += 1
        except self._can.CanError:
            pass  # the group is best effort, as a bus without listeners

    def close(self):
        self.pc.shutdown()
