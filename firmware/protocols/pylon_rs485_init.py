"""The Pylon RS485 server's constructor (protocols/pylon_rs485.py's Server), loaded by
bms.lazy for the one a boot builds and dropped after, so that its code does not stay in a
board's heap. Every attribute of a Server is made here.
"""

from micropython import const

_MAX_INFO = const(96)  # protocols.pylon_rs485's: bytes of INFO in a reply


def init(self, address):
    self.address = address
    self.peers = None  # packlink.PackLink on a pack of a parallel system
    self.at = address  # the ADR the request being answered was for
    self.info = bytearray(_MAX_INFO)  # the reply's INFO, binary
    self.out = bytearray(18 + 2 * _MAX_INFO)  # the reply on the wire
    self._views = {}
    self.rare = None  # protocols.pylon_rs485_rare, imported at the first request it answers
    self.big = None  # the system answer (pylon_rs485_system.Answer), made at the first
    self.big_out = False  # the last reply is in self.big
    self.req = bytearray(64)  # the request's INFO, binary
    # counters
    self.replies = 0
    self.not_frames = 0  # garbage, no `~`, non-hex, too short
    self.not_ours = 0  # another address (a whole frame)
    self.bad_chksum = 0  # ours (answered RTN 02) or not
    self.bad_lchksum = 0
    self.bad_cid = 0
    self.bad_format = 0
    self.bad_data = 0  # 0x94 values out of range
    self.bad_adr = 0  # at our address, but the command byte names another pack
    self.blind = 0  # 0x42 refused (RTN 91) while the readings are lost
    self.no_room = 0  # a system answer refused (RTN 91): no room for a part of it
    self.extra_info = 0
