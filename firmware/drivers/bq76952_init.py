"""The constructor of drivers/bq76952.py's BQ76952, loaded by bms.lazy for it and dropped
after, so that its code does not stay in a board's heap: the driver is built once, when
the board is. Every attribute of the driver is made here.
"""


def init(self, i2c, addr, r_sense_uohm):
    """BQ76952(i2c, addr, r_sense_uohm): every attribute of the driver."""
    self.i2c = i2c
    self.addr = addr
    self.r_sense_uohm = r_sense_uohm
    self.crc = False  # the I2C CRC mode we speak: the chip's, found by probe()
    self.crc_seen = False  # the chip has answered in CRC mode: only a reset leaves it
    self.errors = 0  # failed transfers, for diagnostics
    self.crc_errors = 0
    self.resets = 0  # readings refused because the chip showed POR or CFGUPDATE
    # bound once: a bound method made per call would allocate on MicroPython
    self._readfrom_mem_into = i2c.readfrom_mem_into
    self._writeto_mem = i2c.writeto_mem
    # measurement blocks, twice the size for CRC mode (data, CRC, data, CRC...)
    # one block 0x02..0x3B: Safety Alert/Status A-C, Battery Status, the cells, stack,
    # PACK, LD, CC2 (two transfers a tick with the temperatures: each costs CPU)
    self._meas = bytearray(116)
    self._temps = bytearray(40)  # 0x68..0x7B
    self._meas_v = (memoryview(self._meas)[:58], memoryview(self._meas))
    self._temps_v = (memoryview(self._temps)[:20], memoryview(self._temps))
    self._one = bytearray(2)
    self._one_v = (memoryview(self._one)[:1], memoryview(self._one))
    self._two = bytearray(4)
    self._two_v = (memoryview(self._two)[:2], memoryview(self._two))
    self._wbuf = bytearray(72)  # outgoing bytes (with CRCs in CRC mode)
    self._wviews = {}  # length -> memoryview of _wbuf, made once per length
    self._scratch = bytearray(36)  # subcommand and data-memory payloads
    self.safety_a = 0  # Safety Status A, B, C from the last read()
    self.safety_b = 0
    self.safety_c = 0
    self.scd = False  # the SCD bit of Safety Status A as of the last read()
    self.balancing = 0  # the mask last written to CB_ACTIVE_CELLS
    self.configured = False
