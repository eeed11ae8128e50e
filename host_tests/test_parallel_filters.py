"""A slave's CAN filters (inverter_link.slave_filters, set by packlink.py on a change of
role): of the pack link only the master's frames and the service frames for it, the
inverter's heartbeats as before. The other slaves' frames (31 x 10 a second on a full
system) are refused by the MCP2515, so they cost a slave no SPI transfer at all.

Each case through the register-level chip model and the real driver (both sides of each
filter: the id that passes and its neighbours that do not), then on the chain rig.
"""

import unittest

from chain_rig import Chain
from support import logged
from test_mcp2515_driver import node
from test_parallel import chain_of

from bms import events as ev
from boards.host.world.bus.canbus import CanBus
from drivers.mcp2515 import FAULT_SPI, CanFrame
from inverter_link import FILTERS_EXT, FILTERS_STD, slave_filters


def passes(filters, frames):
    """Which of frames (can_id, ext) the chip, started with filters, takes in."""
    drv, chip = node(CanBus())
    assert drv.init(filters)
    out = []
    f = CanFrame()
    for can_id, ext in frames:
        chip.can_receive((can_id, ext, False, bytes(8)), 0)
        got = drv.recv(f)
        out.append(got and f.can_id == can_id)
    return out


PACK = 0x1BA00000
SERVICE = 0x1BB00000


class SlaveFilterTest(unittest.TestCase):
    def test_standard_set(self):
        frames = [
            (PACK | 0x0301, True),  # the master's LIMITS
            (PACK | 0x0A01, True),  # its TEMPS_2
            (PACK | 0x0302, True),  # another slave's: refused
            (PACK | 0x0304, True),
            (PACK | 0x0303, True),  # our own address from another pack: re-addressing
            (PACK | 0x0300, True),  # a pack not addressed yet: refused
            (SERVICE | 0x0103, True),  # a service request to us
            (SERVICE | 0x01FF, True),  # to every pack
            (0x305, False),  # the inverter's heartbeats
            (0x307, False),
            (0x301, False),
            (0x351, False),  # the master's inverter frames: refused
            (0x1BC00101, True),  # beside the ranges: refused
            (0x1BA & 0x7FF, False),  # an 11-bit id: refused
        ]
        want = [1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0]
        self.assertEqual(passes(slave_filters(False, 3), frames), [bool(w) for w in want])
        # the master (and a pack alone) take the whole pack link, and another BMS's 0x351
        # (a second master alone sends nothing else: packlink.other_bms)
        got = passes(FILTERS_STD, frames[:6] + frames[8:13])
        self.assertEqual(got, [True] * 10 + [False])

    def test_extended_set(self):
        frames = [
            (PACK | 0x0101, True),
            (PACK | 0x0102, True),
            (SERVICE | 0x0107, True),
            (SERVICE | 0x01FF, True),
            (SERVICE | 0x0105, True),  # a request to another pack: refused here
            (0x310, True),  # Schneider's heartbeat
            (0x311, True),
            (0x305, False),
        ]
        want = [1, 0, 1, 1, 0, 1, 0, 0]
        self.assertEqual(passes(slave_filters(True, 7), frames), [bool(w) for w in want])
        # a master's: the pack link, the heartbeat, and another BMS's limits (0x321, and a
        # Pylon master's 0x351, with its 0x355, in RXB0)
        others = [(0x321, True), (0x321, False), (0x351, False), (0x355, False), (0x356, False)]
        got = passes(FILTERS_EXT, frames[:2] + frames[5:] + others)
        self.assertEqual(got, [True, True, True, False, False, True, False, True, True, False])


class ChainFilterTest(unittest.TestCase):
    def test_slaves_hear_only_the_master(self):
        c = chain_of(4, inverter="can")
        c.run(3000)
        self.assertEqual(c.addresses(), [(k, k == 1) for k in range(1, 5)])
        self.assertEqual([c.app(k).link.slave_address for k in range(1, 5)], [0, 2, 3, 4])
        heard = [c.link(k).peer_frames for k in range(1, 5)]
        c.run(10000)
        heard = [c.link(k).peer_frames - heard[k - 1] for k in range(1, 5)]
        # the master hears the three slaves' eleven frames a second; a slave the master's
        self.assertGreaterEqual(heard[0], 320)
        for k in (2, 3, 4):
            self.assertTrue(105 <= heard[k - 1] <= 115, heard)
        self.assertEqual(c.link(1).packs.count, 4)
        # the master lost: each slave raises its own PACK_LOST, as before
        c.power(1, False)
        c.run(4000)
        for k in (2, 3, 4):
            self.assertTrue(c.link(k).pack_lost, k)

    def test_a_failed_restart_on_a_change_of_role_is_a_can_fault_not_an_exception(self):
        # the setup module loads at each start: no RAM for it at the change of role puts
        # the controller down (counted, started again by the app), never the FETs safe
        c = Chain(2, inverter="can")
        c.power(1)
        c.run(3000)
        c.power(2)
        app = c.app(2)
        can = app.board.can
        real = can.init
        fails = []

        def init(filters=None, mode=None):
            if filters is not None and not fails and app.link.slave_address:
                fails.append(1)
                raise MemoryError
            return real(filters) if mode is None else real(filters, mode)

        can.init = init
        c.run(3000)
        self.assertEqual(fails, [1])
        self.assertEqual(app.exceptions, 0)
        self.assertEqual((app.link.slave_address, app.link.can_ok), (2, True))
        self.assertEqual(logged(app.events, ev.EXCEPTION), [])
        downs = [r[4:6] for r in logged(app.events, ev.COMM, ev.COMM_CAN)]
        self.assertIn((0, FAULT_SPI), downs)
        self.assertEqual(downs[-1][0], 1)
